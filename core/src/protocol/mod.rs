//! The device API (PROTOCOL.md §5): what the phone and the server say to
//! each other, shared by both sides so each rule has one implementation.
//!
//! - [`api`]: paths and JSON bodies of every endpoint, and the flows.
//! - [`lockout`]: the PIN attempt thresholds (3 → 3 h, 6 → 24 h, 9 → gone).
//! - [`request_auth`]: how every device request is signed with the device
//!   key, and how the server checks it.
//!
//! The end-to-end encryption of request and response bodies is a
//! primitive and lives in [`crate::crypto::channel`]; its `context` is
//! built here ([`request_auth::channel_context`]) so that the ciphertext is
//! bound to the signed request.
//!
//! This module owns wire formats only: no HTTP client, no server routes,
//! no state.

pub mod api;
pub mod lockout;
pub mod request_auth;
