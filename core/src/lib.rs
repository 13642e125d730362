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
//!
//! The server links this crate too, so every rule has one implementation.

pub mod crypto;
pub mod pin;
pub mod role;
pub mod rp;
pub mod vc;
