//! kaksik-ffi: the UniFFI surface over `kaksik-core`, for Android
//! (Kotlin), iOS (Swift) and Python.
//!
//! Small wrappers only; all protocol logic stays in the core:
//!
//! - [`authenticator`]: the [`Authenticator`] object, the core's
//!   `client::Authenticator` one to one, its flows async on tokio;
//! - [`platform`]: what the app provides, as foreign traits
//!   ([`SecureStore`], [`DeviceKey`]), adapted to the core's traits;
//! - [`logging`]: the app's [`LogSink`] for the core's `tracing` events;
//! - [`types`]: records and enums (transactions, interactions, account
//!   and key states, lock information);
//! - [`error`]: [`KaksikError`], the one error a UI acts on, and
//!   [`PlatformError`], what the app's trait implementations throw.
//!
//! The UniFFI namespace is `kaksik`; `bindings/generate.sh` builds the
//! library and generates the Kotlin, Swift and Python bindings from it
//! (library mode, with this workspace's pinned `uniffi-bindgen`).

uniffi::setup_scaffolding!("kaksik");

pub mod authenticator;
pub mod error;
pub mod logging;
pub mod platform;
pub mod types;

pub use authenticator::Authenticator;
pub use error::{KaksikError, PlatformError};
pub use logging::{LogLevel, LogSink, set_log_sink};
pub use platform::{DeviceKey, SecureStore};

/// The version of the library, for an app's about screen and bug reports.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
