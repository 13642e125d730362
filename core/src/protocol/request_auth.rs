//! Signed device requests (PROTOCOL.md §5): every device-API request
//! carries a signature by the device key over what the server acts on.
//!
//! # What is signed
//!
//! ```text
//! message = "kaksik/device-request/v1" ‖ method ‖ path_and_query
//!           ‖ SHA-256(body) ‖ timestamp ‖ nonce ‖ device_id ‖ client_version
//! ```
//!
//! Each `‖` is the length-prefixed framing of [`crate::crypto::vault`]:
//! every field is written as `I2OSP(len(field), 2) ‖ field`, so no two
//! different requests share a message. `timestamp` is the Unix time in
//! seconds, 8 bytes big-endian; `nonce` is 16 random bytes. The client
//! version is signed too, because the server acts on it (it refuses old
//! clients). The device signs this message with [`DeviceKey::sign`]
//! (ECDSA P-256, SHA-256, DER).
//!
//! # Headers
//!
//! | header | value |
//! |---|---|
//! | [`HEADER_DEVICE`] | the [`device_id`] (43 characters) |
//! | [`HEADER_TIMESTAMP`] | decimal Unix seconds, no sign, no leading zero |
//! | [`HEADER_NONCE`] | base64url without padding (22 characters) |
//! | [`HEADER_SIGNATURE`] | the DER signature, base64url without padding |
//! | [`HEADER_CLIENT_VERSION`] | `[0-9A-Za-z.+-]{1,32}` |
//!
//! Parsing is strict: one canonical spelling per value, no whitespace, no
//! padding, so a header cannot be rewritten into another form that still
//! verifies.
//!
//! # What the server checks, and what it must do itself
//!
//! [`SignedHeaders::verify`] checks that the device id is the key's,
//! that the timestamp is within `max_skew_secs` of the server's clock
//! (±[`DEFAULT_MAX_SKEW_SECS`], boundaries included), and the signature.
//! Two checks need state and are the caller's:
//!
//! - **Unknown devices**: the caller looks the public key up by
//!   [`SignedHeaders::device_id`] and refuses an id it does not know.
//! - **Replayed nonces**: the caller records `(device_id, nonce)` and
//!   refuses a pair it has seen, keeping each pair until
//!   [`VerifiedRequest::remember_nonce_until`]; after that the timestamp
//!   check refuses the request anyway. Replay protection rests on the
//!   nonce, not on the signature bytes (ECDSA signatures are malleable,
//!   [`crate::device_key`]).
//!
//! The path is signed byte for byte as sent (origin form, query
//! included): the server must verify against the raw request target, not
//! a decoded or normalized path.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::device_key::{
    DEVICE_ID_LEN, DeviceKey, DeviceKeyError, device_id, verify_device_signature,
};

/// Header carrying the [`device_id`].
pub const HEADER_DEVICE: &str = "Kaksik-Device";
/// Header carrying the timestamp, decimal Unix seconds.
pub const HEADER_TIMESTAMP: &str = "Kaksik-Timestamp";
/// Header carrying the nonce, base64url without padding.
pub const HEADER_NONCE: &str = "Kaksik-Nonce";
/// Header carrying the DER signature, base64url without padding.
pub const HEADER_SIGNATURE: &str = "Kaksik-Signature";
/// Header carrying the client's version.
pub const HEADER_CLIENT_VERSION: &str = "Kaksik-Client-Version";

/// First field of every signed message.
pub const REQUEST_LABEL: &[u8] = b"kaksik/device-request/v1";
/// First field of every [`channel_context`].
pub const CHANNEL_CONTEXT_LABEL: &[u8] = b"kaksik/device-request/e2e-context/v1";

/// How far a request's timestamp may be from the server's clock: 5
/// minutes either way (PROTOCOL.md §5).
pub const DEFAULT_MAX_SKEW_SECS: i64 = 300;

/// Length of the nonce in bytes.
pub const NONCE_LEN: usize = 16;
/// The longest method: `[A-Z]{1,16}`.
pub const MAX_METHOD_LEN: usize = 16;
/// The longest path and query, in bytes.
pub const MAX_PATH_LEN: usize = 8 * 1024;
/// The longest client version.
pub const MAX_CLIENT_VERSION_LEN: usize = 32;

/// A DER P-256 signature is at most 72 bytes; 96 characters of base64.
const MAX_SIGNATURE_HEADER_LEN: usize = 96;
/// `i64::MAX` has 19 digits.
const MAX_TIMESTAMP_HEADER_LEN: usize = 19;
/// 16 bytes in base64url without padding.
const NONCE_HEADER_LEN: usize = 22;

/// Why a request could not be signed or was refused. No variant carries
/// key material or a header's value.
#[derive(Debug, Error)]
pub enum RequestAuthError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but not in its one strict form.
    #[error("malformed header {0}")]
    BadEncoding(&'static str),
    /// The method is not `[A-Z]{1,16}`.
    #[error("invalid request method")]
    InvalidMethod,
    /// The path is empty, does not start with `/`, is longer than
    /// [`MAX_PATH_LEN`], or has a byte outside visible ASCII.
    #[error("invalid request path")]
    InvalidPath,
    /// The timestamp to sign is negative.
    #[error("invalid request timestamp")]
    InvalidTimestamp,
    /// The device id to sign is not 32 bytes in base64url without padding.
    #[error("invalid device id")]
    InvalidDeviceId,
    /// The client version to sign is not `[0-9A-Za-z.+-]{1,32}`.
    #[error("invalid client version")]
    InvalidClientVersion,
    /// The timestamp is further from the server's clock than allowed.
    #[error("request timestamp {timestamp} is outside the allowed window around {now}")]
    TimestampOutOfWindow {
        /// The request's timestamp.
        timestamp: i64,
        /// The server's clock.
        now: i64,
    },
    /// The device id is not the id of the key (server: the header names
    /// another device; client: the request names another key).
    #[error("device id does not match the device key")]
    DeviceMismatch,
    /// The signature is malformed or does not verify.
    #[error("bad request signature")]
    BadSignature,
    /// The device key failed, or the server's stored key is invalid.
    #[error(transparent)]
    DeviceKey(#[from] DeviceKeyError),
    /// A field does not fit its 2-byte length prefix (unreachable after
    /// validation; a variant rather than a panic).
    #[error("field of {len} bytes is too long to sign")]
    FieldTooLong {
        /// Its length.
        len: usize,
    },
}

/// One request, as the device signs it.
#[derive(Clone, Copy)]
pub struct RequestToSign<'a> {
    /// The HTTP method, `[A-Z]{1,16}`.
    pub method: &'a str,
    /// The request target in origin form, exactly as sent:
    /// `/v1/…?query`.
    pub path_and_query: &'a str,
    /// The body exactly as sent (an end-to-end envelope); only its
    /// SHA-256 is signed.
    pub body: &'a [u8],
    /// Unix time in seconds, not negative.
    pub timestamp: i64,
    /// 16 random bytes, fresh per request ([`fresh_nonce`]).
    pub nonce: [u8; NONCE_LEN],
    /// The [`device_id`] of the signing key.
    pub device_id: &'a str,
    /// The client's version, `[0-9A-Za-z.+-]{1,32}`.
    pub client_version: &'a str,
}

impl RequestToSign<'_> {
    /// The message the device key signs (module doc).
    ///
    /// # Errors
    ///
    /// The `Invalid*` variant of the first field that breaks its rule.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, RequestAuthError> {
        validate_method(self.method)?;
        validate_path(self.path_and_query)?;
        if self.timestamp < 0 {
            return Err(RequestAuthError::InvalidTimestamp);
        }
        validate_device_id(self.device_id)?;
        validate_client_version(self.client_version)?;
        encode_fields(&[
            REQUEST_LABEL,
            self.method.as_bytes(),
            self.path_and_query.as_bytes(),
            &Sha256::digest(self.body),
            &self.timestamp.to_be_bytes(),
            &self.nonce,
            self.device_id.as_bytes(),
            self.client_version.as_bytes(),
        ])
    }

    /// The `context` this request's body is encrypted under
    /// ([`channel_context`]).
    ///
    /// # Errors
    ///
    /// As [`channel_context`].
    pub fn channel_context(&self) -> Result<Vec<u8>, RequestAuthError> {
        channel_context(
            self.method,
            self.path_and_query,
            self.timestamp,
            &self.nonce,
            self.device_id,
        )
    }
}

impl fmt::Debug for RequestToSign<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body may be large, and is only ever an envelope; its length
        // says enough.
        f.debug_struct("RequestToSign")
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .field("body_len", &self.body.len())
            .field("timestamp", &self.timestamp)
            .field("nonce", &URL_SAFE_NO_PAD.encode(self.nonce))
            .field("device_id", &self.device_id)
            .field("client_version", &self.client_version)
            .finish()
    }
}

/// 16 fresh bytes from the operating system's CSPRNG, for
/// [`RequestToSign::nonce`].
pub fn fresh_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce);
    nonce
}

/// The `context` of [`crate::crypto::channel`] for one request:
///
/// ```text
/// "kaksik/device-request/e2e-context/v1" ‖ method ‖ path_and_query
///     ‖ timestamp ‖ nonce ‖ device_id
/// ```
///
/// length-prefixed like the signed message. These are the values the
/// signature covers, minus the body (the body *is* the envelope, whose
/// hash the signature covers), so the ciphertext is bound to one signed
/// request and cannot be moved to another.
///
/// # Errors
///
/// The `Invalid*` variant of the first field that breaks its rule.
pub fn channel_context(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &[u8; NONCE_LEN],
    device_id: &str,
) -> Result<Vec<u8>, RequestAuthError> {
    validate_method(method)?;
    validate_path(path_and_query)?;
    if timestamp < 0 {
        return Err(RequestAuthError::InvalidTimestamp);
    }
    validate_device_id(device_id)?;
    encode_fields(&[
        CHANNEL_CONTEXT_LABEL,
        method.as_bytes(),
        path_and_query.as_bytes(),
        &timestamp.to_be_bytes(),
        nonce,
        device_id.as_bytes(),
    ])
}

/// Device: signs `request` with `key` and returns the headers to send.
///
/// # Errors
///
/// [`RequestAuthError::DeviceMismatch`] if `request.device_id` is not the
/// id of `key` (caught here rather than as a refusal by the server); an
/// `Invalid*` variant for a field that breaks its rule;
/// [`RequestAuthError::DeviceKey`] if the key fails.
pub fn sign_request(
    key: &dyn DeviceKey,
    request: &RequestToSign<'_>,
) -> Result<SignedHeaders, RequestAuthError> {
    let message = request.canonical_bytes()?;
    if device_id(&key.public_key()?)? != request.device_id {
        return Err(RequestAuthError::DeviceMismatch);
    }
    let signature = key.sign(&message)?;
    Ok(SignedHeaders {
        device_id: request.device_id.to_owned(),
        timestamp: request.timestamp,
        nonce: request.nonce,
        signature,
        client_version: request.client_version.to_owned(),
    })
}

/// The authentication headers of one request: produced by
/// [`sign_request`], or parsed strictly by [`SignedHeaders::parse`].
#[derive(Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    device_id: String,
    timestamp: i64,
    nonce: [u8; NONCE_LEN],
    signature: Vec<u8>,
    client_version: String,
}

impl SignedHeaders {
    /// Server: reads the five headers through `lookup` (header name →
    /// value; HTTP names are case-insensitive, so look them up that way).
    ///
    /// A header sent more than once should reach `lookup` as the values
    /// joined with `", "`, as RFC 9110 §5.3 combines them: no strict form
    /// contains a comma, so the request is refused.
    ///
    /// Parsing checks form only; [`SignedHeaders::verify`] checks the
    /// signature.
    ///
    /// # Errors
    ///
    /// [`RequestAuthError::MissingHeader`] or
    /// [`RequestAuthError::BadEncoding`], naming the first header in the
    /// table's order that is absent or malformed.
    pub fn parse(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, RequestAuthError> {
        let value = |name: &'static str| lookup(name).ok_or(RequestAuthError::MissingHeader(name));

        let device_id = value(HEADER_DEVICE)?;
        validate_device_id(&device_id).map_err(|_| RequestAuthError::BadEncoding(HEADER_DEVICE))?;

        let timestamp = parse_timestamp(&value(HEADER_TIMESTAMP)?)
            .ok_or(RequestAuthError::BadEncoding(HEADER_TIMESTAMP))?;

        let nonce = value(HEADER_NONCE)?;
        let nonce = decode_b64url(&nonce, NONCE_HEADER_LEN)
            .and_then(|bytes| <[u8; NONCE_LEN]>::try_from(bytes).ok())
            .ok_or(RequestAuthError::BadEncoding(HEADER_NONCE))?;

        let signature = value(HEADER_SIGNATURE)?;
        let signature = decode_b64url(&signature, MAX_SIGNATURE_HEADER_LEN)
            .filter(|bytes| !bytes.is_empty())
            .ok_or(RequestAuthError::BadEncoding(HEADER_SIGNATURE))?;

        let client_version = value(HEADER_CLIENT_VERSION)?;
        validate_client_version(&client_version)
            .map_err(|_| RequestAuthError::BadEncoding(HEADER_CLIENT_VERSION))?;

        Ok(Self {
            device_id,
            timestamp,
            nonce,
            signature,
            client_version,
        })
    }

    /// Device: the `(name, value)` pairs to send, in the table's order.
    pub fn to_header_values(&self) -> [(&'static str, String); 5] {
        [
            (HEADER_DEVICE, self.device_id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_NONCE, URL_SAFE_NO_PAD.encode(self.nonce)),
            (HEADER_SIGNATURE, URL_SAFE_NO_PAD.encode(&self.signature)),
            (HEADER_CLIENT_VERSION, self.client_version.clone()),
        ]
    }

    /// The device id the request claims: look its public key up by this,
    /// then [`SignedHeaders::verify`].
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The claimed timestamp (unverified until [`SignedHeaders::verify`]).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The claimed nonce (unverified until [`SignedHeaders::verify`]).
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// The claimed client version (unverified until
    /// [`SignedHeaders::verify`]); the server compares it with its
    /// minimum.
    pub fn client_version(&self) -> &str {
        &self.client_version
    }

    /// Server: checks these headers for the request the server received.
    ///
    /// `public_key_sec1` is the key the server has on record for
    /// [`SignedHeaders::device_id`]; `method` and `path_and_query` are the
    /// raw request line's; `body` is the body exactly as received; `now`
    /// is the server's Unix time in seconds. A negative `max_skew_secs`
    /// counts as zero. Cheap checks come first, so a stale or misdirected
    /// request costs no signature verification.
    ///
    /// The caller still checks the nonce for replay (module doc).
    ///
    /// # Errors
    ///
    /// [`RequestAuthError::InvalidMethod`] or
    /// [`RequestAuthError::InvalidPath`] for a request line outside the
    /// rules; [`RequestAuthError::DeviceKey`] if the stored key is not a
    /// valid key; [`RequestAuthError::DeviceMismatch`] if the header's
    /// device id is not that key's;
    /// [`RequestAuthError::TimestampOutOfWindow`];
    /// [`RequestAuthError::BadSignature`].
    pub fn verify(
        &self,
        public_key_sec1: &[u8],
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: i64,
        max_skew_secs: i64,
    ) -> Result<VerifiedRequest, RequestAuthError> {
        let request = RequestToSign {
            method,
            path_and_query,
            body,
            timestamp: self.timestamp,
            nonce: self.nonce,
            device_id: &self.device_id,
            client_version: &self.client_version,
        };
        let message = request.canonical_bytes()?;
        if device_id(public_key_sec1)? != self.device_id {
            return Err(RequestAuthError::DeviceMismatch);
        }
        let allowed = u64::try_from(max_skew_secs).unwrap_or(0);
        if now.abs_diff(self.timestamp) > allowed {
            return Err(RequestAuthError::TimestampOutOfWindow {
                timestamp: self.timestamp,
                now,
            });
        }
        verify_device_signature(public_key_sec1, &message, &self.signature).map_err(|error| {
            match error {
                DeviceKeyError::MalformedSignature | DeviceKeyError::BadSignature => {
                    RequestAuthError::BadSignature
                }
                other => RequestAuthError::DeviceKey(other),
            }
        })?;
        Ok(VerifiedRequest {
            device_id: self.device_id.clone(),
            nonce: self.nonce,
            timestamp: self.timestamp,
            method: method.to_owned(),
            path_and_query: path_and_query.to_owned(),
        })
    }
}

impl fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedHeaders")
            .field("device_id", &self.device_id)
            .field("timestamp", &self.timestamp)
            .field("nonce", &URL_SAFE_NO_PAD.encode(self.nonce))
            .field("signature_len", &self.signature.len())
            .field("client_version", &self.client_version)
            .finish()
    }
}

/// A request whose signature verified. Only [`SignedHeaders::verify`]
/// makes one, so holding one is proof of the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRequest {
    device_id: String,
    nonce: [u8; NONCE_LEN],
    timestamp: i64,
    method: String,
    path_and_query: String,
}

impl VerifiedRequest {
    /// The device that signed.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The signed nonce: record `(device_id, nonce)` and refuse a repeat.
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// The signed timestamp.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Until when (Unix seconds) the server must remember this request's
    /// nonce: after that, the timestamp check refuses a replay by itself.
    pub fn remember_nonce_until(&self, max_skew_secs: i64) -> i64 {
        self.timestamp.saturating_add(max_skew_secs.max(0))
    }

    /// The `context` to open this request's envelope with
    /// ([`channel_context`]).
    ///
    /// # Errors
    ///
    /// None in practice: every field was validated by
    /// [`SignedHeaders::verify`]; the `Result` is [`channel_context`]'s.
    pub fn channel_context(&self) -> Result<Vec<u8>, RequestAuthError> {
        channel_context(
            &self.method,
            &self.path_and_query,
            self.timestamp,
            &self.nonce,
            &self.device_id,
        )
    }
}

fn validate_method(method: &str) -> Result<(), RequestAuthError> {
    let ok = (1..=MAX_METHOD_LEN).contains(&method.len())
        && method.bytes().all(|b| b.is_ascii_uppercase());
    ok.then_some(()).ok_or(RequestAuthError::InvalidMethod)
}

fn validate_path(path: &str) -> Result<(), RequestAuthError> {
    let ok = path.starts_with('/')
        && path.len() <= MAX_PATH_LEN
        && path.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(()).ok_or(RequestAuthError::InvalidPath)
}

fn validate_device_id(id: &str) -> Result<(), RequestAuthError> {
    decode_b64url(id, DEVICE_ID_LEN)
        .filter(|bytes| bytes.len() == 32)
        .map(|_| ())
        .ok_or(RequestAuthError::InvalidDeviceId)
}

fn validate_client_version(version: &str) -> Result<(), RequestAuthError> {
    let ok = (1..=MAX_CLIENT_VERSION_LEN).contains(&version.len())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
    ok.then_some(())
        .ok_or(RequestAuthError::InvalidClientVersion)
}

/// Decimal digits only, no sign, no leading zero (but `"0"`), within
/// `i64`.
fn parse_timestamp(value: &str) -> Option<i64> {
    let canonical = !value.is_empty()
        && value.len() <= MAX_TIMESTAMP_HEADER_LEN
        && value.bytes().all(|b| b.is_ascii_digit())
        && (value == "0" || !value.starts_with('0'));
    canonical.then(|| value.parse().ok()).flatten()
}

/// Strict base64url without padding (no whitespace, zero trailing bits),
/// refusing input longer than `max_chars` before decoding.
fn decode_b64url(value: &str, max_chars: usize) -> Option<Vec<u8>> {
    if value.len() > max_chars {
        return None;
    }
    URL_SAFE_NO_PAD.decode(value).ok()
}

/// The shared framing (crate::crypto::framing), with this module's error.
fn encode_fields(fields: &[&[u8]]) -> Result<Vec<u8>, RequestAuthError> {
    crate::crypto::framing::encode_fields(fields).map_err(
        |crate::crypto::framing::FieldTooLong { len }| RequestAuthError::FieldTooLong { len },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_one_spelling() {
        assert_eq!(parse_timestamp("0"), Some(0));
        assert_eq!(parse_timestamp("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1.0",
            "9223372036854775808",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_signed_message_frames_every_field() {
        let request = RequestToSign {
            method: "POST",
            path_and_query: "/v1/x",
            body: b"",
            timestamp: 1,
            nonce: [0; NONCE_LEN],
            device_id: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            client_version: "1",
        };
        let bytes = request.canonical_bytes().unwrap();
        let mut expected = Vec::new();
        for field in [
            REQUEST_LABEL,
            b"POST",
            b"/v1/x",
            &Sha256::digest(b"")[..],
            &1i64.to_be_bytes(),
            &[0; NONCE_LEN],
            request.device_id.as_bytes(),
            b"1",
        ] {
            expected.extend_from_slice(&(field.len() as u16).to_be_bytes());
            expected.extend_from_slice(field);
        }
        assert_eq!(bytes, expected);
    }
}
