//! kaksik-core: everything the phone needs, and nothing platform-specific.
//!
//! - [`crypto`]: the 2-of-2 co-signing engine ([`crypto::cosign`]), the
//!   RFC 9497 OPRF ([`crypto::oprf`]) and the PIN-locked share vault
//!   ([`crypto::vault`]), with the zeroizing secret types they share.
//! - [`role`]: which key (auth, PIN1 / sign, PIN2) a value belongs to.
//! - [`pin`]: the PIN rules (PIN1 4–12 digits, PIN2 5–12, no weak PINs).
//! - [`vc`]: verification codes, as Smart-ID computes them.
//! - [`rp`]: the relying-party formats of RP API v3: ACSP_V2, device links
//!   and their authCode, callback values, interactions.
//! - [`store`]: the [`store::SecureStore`] trait the platform implements to
//!   persist opaque blobs, and an atomic file store for the CLI and tests.
//! - [`device_key`]: the [`device_key::DeviceKey`] trait the platform
//!   keystore implements to sign device-API requests, a software key, and
//!   the server's check of those signatures.
//! - [`protocol`]: the device API shared with the server: signed request
//!   headers ([`protocol::request_auth`]).
//! - [`client`]: the async device client, [`client::Authenticator`]:
//!   registration, the transaction inbox, approval with the PIN, over
//!   HTTPS with the server's key pinned.
//!
//! The server links this crate too, so every rule has one implementation.

pub mod client;
pub mod crypto;
pub mod device_key;
pub mod pin;
pub mod protocol;
pub mod role;
pub mod rp;
pub mod store;
pub mod vc;
