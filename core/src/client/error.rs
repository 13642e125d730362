//! The one error type of the device client: the cases a UI acts on.
//!
//! Internal failures (a store, a primitive, a parser) are folded into the
//! few variants a person can do something about: retry later, enter the
//! PIN again, wait out a lock, register again, update the app. The
//! server's [`ErrorCode`]s map one to one ([`ClientError::from_api`]).
//!
//! No variant carries a secret: messages name what failed, never a value.
//! Where a lower layer's message could quote its input (serde_json on a
//! decrypted body), only its category and position are kept.

use std::error::Error as _;

use thiserror::Error;

use crate::crypto::cosign::CosignError;
use crate::device_key::DeviceKeyError;
use crate::protocol::api::{ApiError, ErrorCode, KeyInfo, KeyState};
use crate::protocol::request_auth::RequestAuthError;
use crate::store::StoreError;

/// Longest server-supplied message kept in an error. A hostile server or
/// proxy must not be able to make errors (and the logs they reach)
/// arbitrarily large.
const MAX_SERVER_MESSAGE_CHARS: usize = 200;

/// Why a device-client call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// The server could not be reached, the connection broke, or a request
    /// timed out. Reads were already retried; try again later.
    #[error("network error: {0}")]
    Network(String),
    /// The TLS handshake failed for a reason other than the pin.
    #[error("TLS error: {0}")]
    Tls(String),
    /// The server's TLS key is not the pinned one: someone may be
    /// intercepting the connection. Nothing was sent.
    #[error("the server's TLS key does not match the pinned key")]
    PinMismatch,
    /// The server refused for a reason the app can only report
    /// (`code` is the device API's code, e.g. `CONFLICT`, or `HTTP_<n>`
    /// when the body was not a device-API error).
    #[error("server error {code}: {message}")]
    Server {
        /// Machine-readable code.
        code: String,
        /// The server's explanation, shortened.
        message: String,
    },
    /// The enrolment code is unknown, used or expired, or the
    /// registration expired before it was confirmed: ask for a new code.
    #[error("enrolment refused: {message}")]
    EnrolmentInvalid {
        /// The server's explanation, shortened.
        message: String,
    },
    /// The PIN was wrong; the server counted the attempt.
    #[error("wrong PIN: {attempts_left} attempts left before the key locks")]
    WrongPin {
        /// Attempts left before the next lock (or, after the sixth wrong
        /// PIN, before the key is disabled).
        attempts_left: u32,
    },
    /// Too many wrong PINs: the key is locked until `until`.
    #[error("the key is locked until {until} (Unix time)")]
    Locked {
        /// End of the lock, Unix seconds.
        until: i64,
    },
    /// The key is disabled for good (nine wrong PINs, or a protocol
    /// failure): the person must register again.
    #[error("the key is disabled; register again")]
    KeyDisabled,
    /// The account is frozen: a copy of this device was detected.
    #[error("the account is frozen: a copy of this device was detected")]
    CloneDetected,
    /// The transaction expired or was already answered.
    #[error("the transaction expired or was already answered")]
    TransactionExpired,
    /// The server no longer accepts this app version: update the app.
    #[error("this app version is no longer accepted; update the app")]
    ClientTooOld,
    /// The code picked in a code choice is not the one the RP shows: the
    /// request was refused (the RP sees WRONG_VC) and nothing was signed.
    #[error("the code picked is not the one the service shows; nothing was signed")]
    WrongVerificationCode,
    /// The device link (QR code, Web2App or App2App link) is not valid
    /// here: tampered, for another server, or a stale QR code. Scan the
    /// code again.
    #[error("the link is not valid: {reason}")]
    LinkInvalid {
        /// Which rule it broke.
        reason: String,
    },
    /// None of the interactions the RP allows is one this app can show
    /// (the RP sees REQUIRED_INTERACTION_NOT_SUPPORTED_BY_APP).
    #[error("this app cannot show what the service asks for")]
    InteractionNotSupported,
    /// The co-signing protocol failed a check (DKLs23's ban rule): the key
    /// is unusable and the person must register again.
    #[error("the co-signing protocol failed a check; register again")]
    ProtocolFailure,
    /// The caller's input breaks a rule (a PIN rule, an id's form, a call
    /// out of order); nothing was sent.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// Which rule, never the value.
        reason: String,
    },
    /// This account home holds no registered account.
    #[error("no account is registered here")]
    NotRegistered,
    /// The platform store failed, or holds something unreadable.
    #[error("storage error: {0}")]
    Storage(String),
    /// The device key (platform keystore) failed.
    #[error("device key error: {0}")]
    DeviceKey(String),
    /// The server's answer is malformed or inconsistent (a bad envelope, a
    /// field out of its rules, a co-signing message that does not fit).
    #[error("invalid response from the server: {0}")]
    InvalidResponse(String),
    /// Something that cannot happen with valid inputs did (a primitive
    /// refused fixed-size parameters, a worker thread died).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ClientError {
    /// The error for a device-API error body received with `status`.
    /// Every [`ErrorCode`] has exactly one variant.
    pub fn from_api(status: u16, body: ApiError) -> Self {
        let message = shorten(&body.message);
        match body.code {
            ErrorCode::EnrolmentInvalid => Self::EnrolmentInvalid { message },
            ErrorCode::Locked => match body.locked_until {
                Some(until) => Self::Locked { until },
                // The contract says a lock carries its end; a body without
                // it is the server's mistake, reported as such.
                None => Self::Server {
                    code: code_name(body.code),
                    message: format!("HTTP {status}: lock without locked_until: {message}"),
                },
            },
            ErrorCode::KeyDisabled => Self::KeyDisabled,
            ErrorCode::CloneDetected => Self::CloneDetected,
            ErrorCode::TransactionExpired => Self::TransactionExpired,
            ErrorCode::ProtocolFailure => Self::ProtocolFailure,
            ErrorCode::ClientTooOld => Self::ClientTooOld,
            ErrorCode::WrongVerificationCode => Self::WrongVerificationCode,
            ErrorCode::LinkInvalid => Self::LinkInvalid { reason: message },
            ErrorCode::BadRequest
            | ErrorCode::Unauthorized
            | ErrorCode::NotFound
            | ErrorCode::Conflict
            | ErrorCode::ServerError => Self::Server {
                code: code_name(body.code),
                message,
            },
        }
    }

    /// The error for a key the server reports after a wrong PIN: a lock,
    /// a disabled key, or the attempts left.
    pub(crate) fn after_wrong_pin(key: &KeyInfo) -> Self {
        match key.state {
            KeyState::Active => Self::WrongPin {
                attempts_left: attempts_left(key.failed_attempts),
            },
            KeyState::Timelocked => match key.locked_until {
                Some(until) => Self::Locked { until },
                None => Self::InvalidResponse("a time-locked key without locked_until".into()),
            },
            KeyState::Disabled => Self::KeyDisabled,
        }
    }

    /// An input rule broken by the caller.
    pub(crate) fn invalid_input(reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            reason: reason.into(),
        }
    }

    /// A malformed or inconsistent answer.
    pub(crate) fn invalid_response(reason: impl Into<String>) -> Self {
        Self::InvalidResponse(reason.into())
    }

    /// A co-signing failure: the ban rule is a protocol failure, anything
    /// else a message that does not fit (CosignError never carries secret
    /// material).
    pub(crate) fn from_cosign(error: CosignError) -> Self {
        if error.is_protocol_failure() {
            Self::ProtocolFailure
        } else {
            Self::InvalidResponse(error.to_string())
        }
    }

    /// A JSON body that does not parse. serde_json's message can quote the
    /// input, and a decrypted body holds secrets, so only the category and
    /// position are kept.
    pub(crate) fn from_json(what: &str, error: &serde_json::Error) -> Self {
        Self::InvalidResponse(format!(
            "{what}: {:?} JSON error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        ))
    }

    /// A failure of reqwest: the pin, another TLS failure, or the network.
    pub(crate) fn from_reqwest(error: &reqwest::Error) -> Self {
        if let Some(tls) = find_rustls_error(error) {
            return match tls {
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ) => Self::PinMismatch,
                other => Self::Tls(other.to_string()),
            };
        }
        if error.is_timeout() {
            return Self::Network("the request timed out".into());
        }
        Self::Network(chain(error))
    }
}

impl From<StoreError> for ClientError {
    fn from(error: StoreError) -> Self {
        // StoreError never carries a stored value (store.rs).
        Self::Storage(error.to_string())
    }
}

impl From<DeviceKeyError> for ClientError {
    fn from(error: DeviceKeyError) -> Self {
        Self::DeviceKey(error.to_string())
    }
}

impl From<RequestAuthError> for ClientError {
    fn from(error: RequestAuthError) -> Self {
        match error {
            RequestAuthError::DeviceKey(inner) => inner.into(),
            // Every other case is a request this client built wrongly.
            other => Self::Internal(format!("could not sign the request: {other}")),
        }
    }
}

/// Attempts left before the next lock threshold after `failed_attempts`
/// unproven attempts: 3, 2, 1, then 3, 2, 1 to the 24-hour lock, then 3,
/// 2, 1 to the disabling, then 0.
pub(crate) fn attempts_left(failed_attempts: u32) -> u32 {
    crate::protocol::lockout::attempts_before_next_lock(failed_attempts)
}

/// The code's wire spelling (`CONFLICT`), from its serde form so the two
/// can never disagree.
fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{code:?}"))
}

fn shorten(message: &str) -> String {
    let mut chars = message.chars();
    let mut short: String = chars.by_ref().take(MAX_SERVER_MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        short.push('…');
    }
    short
}

/// The rustls error behind a reqwest failure, if any. `io::Error` hides
/// its payload from `source()` (it returns the payload's own source, and
/// the connector nests one `io::Error` in another), so the walk steps
/// into an `io::Error` through `get_ref` instead.
fn find_rustls_error(error: &reqwest::Error) -> Option<&rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(link) = current {
        if let Some(tls) = link.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match link.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => link.source(),
        };
    }
    None
}

/// The error and its causes, without the URL (which is no secret, but
/// adds nothing the caller does not know).
fn chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    let mut current = error.source();
    while let Some(link) = current {
        text.push_str(": ");
        text.push_str(&link.to_string());
        current = link.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::KeyRole;

    fn body(code: ErrorCode, locked_until: Option<i64>) -> ApiError {
        ApiError {
            code,
            message: "because".into(),
            locked_until,
        }
    }

    #[test]
    fn every_error_code_maps_to_its_variant() {
        let cases = [
            (
                ErrorCode::BadRequest,
                ClientError::Server {
                    code: "BAD_REQUEST".into(),
                    message: "because".into(),
                },
            ),
            (
                ErrorCode::Unauthorized,
                ClientError::Server {
                    code: "UNAUTHORIZED".into(),
                    message: "because".into(),
                },
            ),
            (
                ErrorCode::NotFound,
                ClientError::Server {
                    code: "NOT_FOUND".into(),
                    message: "because".into(),
                },
            ),
            (
                ErrorCode::EnrolmentInvalid,
                ClientError::EnrolmentInvalid {
                    message: "because".into(),
                },
            ),
            (
                ErrorCode::Conflict,
                ClientError::Server {
                    code: "CONFLICT".into(),
                    message: "because".into(),
                },
            ),
            (ErrorCode::Locked, ClientError::Locked { until: 1234 }),
            (ErrorCode::KeyDisabled, ClientError::KeyDisabled),
            (ErrorCode::CloneDetected, ClientError::CloneDetected),
            (
                ErrorCode::TransactionExpired,
                ClientError::TransactionExpired,
            ),
            (ErrorCode::ProtocolFailure, ClientError::ProtocolFailure),
            (ErrorCode::ClientTooOld, ClientError::ClientTooOld),
            (
                ErrorCode::WrongVerificationCode,
                ClientError::WrongVerificationCode,
            ),
            (
                ErrorCode::LinkInvalid,
                ClientError::LinkInvalid {
                    reason: "because".into(),
                },
            ),
            (
                ErrorCode::ServerError,
                ClientError::Server {
                    code: "SERVER_ERROR".into(),
                    message: "because".into(),
                },
            ),
        ];
        for (code, expected) in cases {
            assert_eq!(
                ClientError::from_api(400, body(code, Some(1234))),
                expected,
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_lock_without_its_end_is_reported_as_a_server_error() {
        let error = ClientError::from_api(423, body(ErrorCode::Locked, None));
        assert!(matches!(error, ClientError::Server { code, .. } if code == "LOCKED"));
    }

    #[test]
    fn a_long_server_message_is_shortened() {
        let mut long = body(ErrorCode::Conflict, None);
        long.message = "x".repeat(10_000);
        let ClientError::Server { message, .. } = ClientError::from_api(409, long) else {
            panic!("not a server error");
        };
        assert_eq!(message.chars().count(), MAX_SERVER_MESSAGE_CHARS + 1);
    }

    #[test]
    fn attempts_left_count_down_to_each_threshold() {
        let left: Vec<u32> = (0..11).map(attempts_left).collect();
        assert_eq!(left, [3, 2, 1, 3, 2, 1, 3, 2, 1, 0, 0]);
    }

    fn key(state: KeyState, failed_attempts: u32, locked_until: Option<i64>) -> KeyInfo {
        KeyInfo {
            role: KeyRole::Auth,
            state,
            failed_attempts,
            locked_until,
            certificate_pem: None,
        }
    }

    #[test]
    fn a_wrong_pin_reports_what_the_server_says_about_the_key() {
        assert_eq!(
            ClientError::after_wrong_pin(&key(KeyState::Active, 1, None)),
            ClientError::WrongPin { attempts_left: 2 }
        );
        assert_eq!(
            ClientError::after_wrong_pin(&key(KeyState::Timelocked, 3, Some(99))),
            ClientError::Locked { until: 99 }
        );
        assert_eq!(
            ClientError::after_wrong_pin(&key(KeyState::Disabled, 9, None)),
            ClientError::KeyDisabled
        );
    }

    #[test]
    fn a_json_error_does_not_quote_the_body() {
        let secret = "\"s3cr3t-share-bytes\"";
        let error = serde_json::from_str::<u32>(secret).unwrap_err();
        let message = ClientError::from_json("response", &error).to_string();
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}
