//! kaksik-ffi: the UniFFI surface over `kaksik-core`.
//!
//! It will own small wrappers only: an `Authenticator` object that mirrors
//! `kaksik_core::client::Authenticator` one to one, records and enums for
//! transactions and account state, foreign traits for the platform's
//! `SecureStore` and `DeviceKey`, and the one error enum a UI acts on. All
//! protocol logic stays in `kaksik-core`.

/// The version of the core these bindings wrap, for an app's about screen.
pub fn core_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
