//! The relying-party formats of Smart-ID RP API v3, byte-exact
//! (PROTOCOL.md §6), shared by the server, the phone and the `kaksik rp`
//! toolkit so each rule has one implementation.
//!
//! - [`enums`]: SK's fixed vocabularies (`ACSP_V2`, `SHA3-256`, `Web2App`,
//!   `displayTextAndPIN`, …).
//! - [`acsp`]: the ACSP_V2 message an authentication signs.
//! - [`device_link`] / [`link_parser`]: building device links with their
//!   authCode (RP side) and reading and verifying them (phone side).
//! - [`callback`]: `sessionSecretDigest`, `userChallenge` and the callback
//!   URL of same-device flows.
//! - [`interactions`]: the `interactions` list and its rules.
//! - [`secret`]: the `sessionSecret` key.
//! - [`encoding`]: the two strict Base64 flavours.
//!
//! Every failure is an [`RpError`] naming the field in SK's spelling.
//! Session state, HTTP and signing are elsewhere; the verification code
//! formula is in [`crate::vc`].

pub mod acsp;
pub mod callback;
pub mod device_link;
pub mod encoding;
pub mod enums;
mod error;
pub mod interactions;
pub mod link_parser;
mod rules;
pub mod secret;

pub use acsp::AcspV2;
pub use callback::{
    CallbackValues, callback_url, callback_url_from_digest, new_user_challenge_verifier,
    new_user_challenge_verifier_with, session_secret_digest, user_challenge,
};
pub use device_link::{AuthCodeBinding, DEVICE_LINK_VERSION, DeviceLink};
pub use enums::{
    DeviceLinkType, FlowType, HashAlgorithm, InteractionType, SessionType, SignatureProtocol,
};
pub use error::{RpError, RpErrorKind, field};
pub use interactions::{Interaction, InteractionFlow, Interactions};
pub use link_parser::ParsedDeviceLink;
pub use rules::{CHALLENGE_OR_DIGEST_LEN, callback_url as validate_initial_callback_url};
pub use secret::SessionSecret;
