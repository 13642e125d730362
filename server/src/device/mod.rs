//! The server's side of the device API (PROTOCOL.md §3–§5): registration,
//! the transaction inbox, PIN attempts, co-signing, refresh and clone
//! detection. Handlers here take typed, already authenticated and
//! decrypted requests; HTTP, signatures and the end-to-end envelope are in
//! [`crate::api::device`].

use kaksik_core::crypto::cosign::CosignError;
use kaksik_core::protocol::api::{ApiError, ErrorCode};

use crate::at_rest::AtRestError;
use crate::store::StoreError;

pub mod device_link;
pub mod keys;
pub mod pin_change;
pub mod registration;
pub mod transactions;

/// A refusal the device acts on: a code, a message without secrets, and
/// for locks the time the lock ends.
#[derive(Debug, Clone)]
pub struct DeviceError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable reason.
    pub message: String,
    /// End of a time lock, Unix seconds.
    pub locked_until: Option<i64>,
}

impl DeviceError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        DeviceError {
            code,
            message: message.into(),
            locked_until: None,
        }
    }

    /// Malformed input.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// Not found.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    /// A step not allowed now.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self.code {
            ErrorCode::BadRequest | ErrorCode::LinkInvalid => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::EnrolmentInvalid | ErrorCode::CloneDetected => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::WrongVerificationCode => 409,
            ErrorCode::KeyDisabled | ErrorCode::TransactionExpired => 410,
            ErrorCode::ProtocolFailure => 422,
            ErrorCode::Locked => 423,
            ErrorCode::ClientTooOld => kaksik_core::protocol::api::STATUS_CLIENT_TOO_OLD,
            ErrorCode::ServerError => 500,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ApiError {
        ApiError {
            code: self.code,
            message: self.message.clone(),
            locked_until: self.locked_until,
        }
    }
}

impl From<StoreError> for DeviceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => {
                DeviceError::conflict(format!("{what} was already used; start the step again"))
            }
            other => {
                tracing::error!(error = %other, "store failure");
                DeviceError::new(ErrorCode::ServerError, "storage failure")
            }
        }
    }
}

impl From<AtRestError> for DeviceError {
    fn from(error: AtRestError) -> Self {
        tracing::error!(error = %error, "at-rest decryption failure");
        DeviceError::new(ErrorCode::ServerError, "stored secret unreadable")
    }
}

impl From<CosignError> for DeviceError {
    fn from(error: CosignError) -> Self {
        if error.is_protocol_failure() {
            DeviceError::new(ErrorCode::ProtocolFailure, error.to_string())
        } else {
            DeviceError::bad_request(error.to_string())
        }
    }
}

/// Runs CPU-heavy cryptography off the async workers.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DeviceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| DeviceError::new(ErrorCode::ServerError, "worker failed"))
}
