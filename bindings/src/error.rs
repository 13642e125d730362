//! The two errors that cross the boundary.
//!
//! - [`KaksikError`]: what every [`crate::Authenticator`] call throws, the
//!   cases an app's UI acts on. It is [`ClientError`] mapped once, here;
//!   the transport details a person cannot act on (TLS versus a plain
//!   network failure, a malformed answer versus a refusal) are folded into
//!   the variant whose action is the same.
//! - [`PlatformError`]: what the app's own implementations of the foreign
//!   traits ([`crate::platform`], [`crate::logging`]) throw. Anything else
//!   they throw reaches Rust as UniFFI's
//!   [`UnexpectedUniFFICallbackError`], which becomes
//!   [`PlatformError::Unexpected`]: a foreign failure is always a typed
//!   error, never a panic.
//!
//! Every explanation is a field named `reason` (`message` would clash with
//! the `message` of Kotlin's and Swift's own exceptions).
//!
//! Neither carries a secret: the core's messages name what failed, never
//! a value (`kaksik_core::client` error module), and the app is asked to
//! describe its own failures the same way.

use kaksik_core::client::ClientError;
use uniffi::UnexpectedUniFFICallbackError;

/// Why a Kaksik call failed. Every variant is something the app shows or
/// does differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KaksikError {
    /// The server could not be reached, the connection broke, TLS failed
    /// or a request timed out (reads were already retried): try again
    /// later.
    #[error("network error: {reason}")]
    Network {
        /// What failed, for logs.
        reason: String,
    },
    /// The server's TLS key is not the pinned one: the connection may be
    /// intercepted. Nothing was sent. Warn the person; do not retry
    /// blindly.
    #[error("the server's TLS key does not match the pinned key")]
    PinMismatch,
    /// The server refused, or answered something malformed, for a reason
    /// the app can only report. `code` is the device API's code (e.g.
    /// `CONFLICT`), `HTTP_<n>`, or `INVALID_RESPONSE` for an answer that
    /// broke the protocol's rules.
    #[error("server error {code}: {reason}")]
    Server {
        /// Machine-readable code.
        code: String,
        /// The explanation, shortened by the core.
        reason: String,
    },
    /// The enrolment code is unknown, used or expired, or the
    /// registration expired before it was confirmed: ask the operator
    /// for a new code.
    #[error("enrolment refused: {reason}")]
    EnrolmentInvalid {
        /// The server's explanation.
        reason: String,
    },
    /// The PIN was wrong; the server counted the attempt. Ask again and
    /// show how many attempts are left.
    #[error("wrong PIN: {attempts_left} attempts left before the key locks")]
    WrongPin {
        /// Attempts left before the next lock (or, after the sixth wrong
        /// PIN, before the key is disabled).
        attempts_left: u32,
    },
    /// Too many wrong PINs: the key is locked until `locked_until`.
    #[error("the key is locked until {locked_until} (Unix time)")]
    Locked {
        /// End of the lock, Unix seconds.
        locked_until: i64,
    },
    /// The key is disabled for good (nine wrong PINs): register again.
    #[error("the key is disabled; register again")]
    KeyDisabled,
    /// The co-signing protocol failed a check: the key is unusable,
    /// register again.
    #[error("the co-signing protocol failed a check; register again")]
    ProtocolFailure,
    /// The account is frozen: a copy of this device was detected. The
    /// person must contact the operator.
    #[error("the account is frozen: a copy of this device was detected")]
    CloneDetected,
    /// The transaction expired or was already answered: drop it from the
    /// screen.
    #[error("the transaction expired or was already answered")]
    TransactionExpired,
    /// The server no longer accepts this app version: update the app.
    #[error("this app version is no longer accepted; update the app")]
    ClientTooOld,
    /// The code picked in a code choice is not the one the RP shows: the
    /// request was refused (`WRONG_VC`) and nothing was signed.
    #[error("the code picked is not the one the service shows; nothing was signed")]
    WrongVerificationCode,
    /// The device link (QR code, Web2App or App2App link) is not valid:
    /// tampered, for another server, or a stale QR code. Scan again.
    #[error("the link is not valid: {reason}")]
    LinkInvalid {
        /// Which rule it broke.
        reason: String,
    },
    /// None of the interactions the RP allows is one this app shows; the
    /// transaction was declined (REQUIRED_INTERACTION_NOT_SUPPORTED_BY_APP).
    #[error("this app cannot show what the service asks for")]
    InteractionNotSupported,
    /// The caller's input breaks a rule (a PIN rule, an id's form, a call
    /// out of order); nothing was sent and no attempt counted.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Which rule, never the value.
        reason: String,
    },
    /// This account home holds no registered account.
    #[error("no account is registered here")]
    NotRegistered,
    /// The app's `SecureStore` failed, or holds something unreadable.
    #[error("storage error: {reason}")]
    Storage {
        /// What failed.
        reason: String,
    },
    /// The app's `DeviceKey` (the platform keystore) failed, or its key
    /// or signature is not in the agreed encoding.
    #[error("device key error: {reason}")]
    DeviceKey {
        /// What failed.
        reason: String,
    },
    /// Something that cannot happen with valid inputs did. Report it.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl From<ClientError> for KaksikError {
    fn from(error: ClientError) -> Self {
        // Exhaustive on purpose: a variant added to the core must be
        // placed here before the bindings build again.
        match error {
            ClientError::Network(reason) => Self::Network { reason },
            ClientError::Tls(reason) => Self::Network {
                reason: format!("TLS: {reason}"),
            },
            ClientError::PinMismatch => Self::PinMismatch,
            ClientError::Server { code, message } => Self::Server {
                code,
                reason: message,
            },
            ClientError::InvalidResponse(reason) => Self::Server {
                code: "INVALID_RESPONSE".into(),
                reason,
            },
            ClientError::EnrolmentInvalid { message } => Self::EnrolmentInvalid { reason: message },
            ClientError::WrongPin { attempts_left } => Self::WrongPin { attempts_left },
            ClientError::Locked { until } => Self::Locked {
                locked_until: until,
            },
            ClientError::KeyDisabled => Self::KeyDisabled,
            ClientError::ProtocolFailure => Self::ProtocolFailure,
            ClientError::CloneDetected => Self::CloneDetected,
            ClientError::TransactionExpired => Self::TransactionExpired,
            ClientError::ClientTooOld => Self::ClientTooOld,
            ClientError::WrongVerificationCode => Self::WrongVerificationCode,
            ClientError::LinkInvalid { reason } => Self::LinkInvalid { reason },
            ClientError::InteractionNotSupported => Self::InteractionNotSupported,
            ClientError::InvalidInput { reason } => Self::InvalidInput { reason },
            ClientError::NotRegistered => Self::NotRegistered,
            ClientError::Storage(reason) => Self::Storage { reason },
            ClientError::DeviceKey(reason) => Self::DeviceKey { reason },
            ClientError::Internal(reason) => Self::Internal { reason },
        }
    }
}

/// What the app's implementation of a foreign trait throws.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The platform refused or failed (a Keystore or Keychain error, a
    /// full disk, a key invalidated by a changed screen lock). `reason`
    /// describes it without any stored value or key material.
    #[error("{reason}")]
    Failed {
        /// What failed.
        reason: String,
    },
    /// The implementation threw something other than a `PlatformError`
    /// (UniFFI's unexpected-callback error, with the exception's text).
    #[error("unexpected error in the app's implementation: {reason}")]
    Unexpected {
        /// The foreign exception, as text.
        reason: String,
    },
}

impl From<UnexpectedUniFFICallbackError> for PlatformError {
    fn from(error: UnexpectedUniFFICallbackError) -> Self {
        Self::Unexpected {
            reason: error.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ui_cases_keep_their_numbers() {
        assert_eq!(
            KaksikError::from(ClientError::WrongPin { attempts_left: 2 }),
            KaksikError::WrongPin { attempts_left: 2 }
        );
        assert_eq!(
            KaksikError::from(ClientError::Locked {
                until: 1_900_000_000
            }),
            KaksikError::Locked {
                locked_until: 1_900_000_000
            }
        );
    }

    #[test]
    fn transport_details_fold_into_the_variant_with_the_same_action() {
        assert!(matches!(
            KaksikError::from(ClientError::Tls("handshake".into())),
            KaksikError::Network { .. }
        ));
        assert_eq!(
            KaksikError::from(ClientError::InvalidResponse("bad envelope".into())),
            KaksikError::Server {
                code: "INVALID_RESPONSE".into(),
                reason: "bad envelope".into()
            }
        );
    }

    #[test]
    fn an_unexpected_foreign_exception_becomes_a_typed_error() {
        let error = PlatformError::from(UnexpectedUniFFICallbackError::new("IOException: disk"));
        assert_eq!(
            error,
            PlatformError::Unexpected {
                reason: "IOException: disk".into()
            }
        );
    }
}
