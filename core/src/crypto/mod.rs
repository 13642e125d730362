//! Cryptography of the device and the server: one module per primitive.
//!
//! Every primitive comes from a well-kept crate; these modules only fix the
//! parameters, the encodings and the error types Kaksik uses.

pub mod channel;
pub mod cosign;
pub mod framing;
pub mod oprf;
pub mod secret;
pub mod vault;
