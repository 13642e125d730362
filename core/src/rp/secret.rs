//! The per-session `sessionSecret`: the HMAC key of the authCode and the
//! preimage of the callback's `sessionSecretDigest`.
//!
//! The server hands it to the RP once, as standard Base64, and never to the
//! phone; whoever holds it can mint device links for the session. So it
//! lives in a zeroizing buffer, prints as `[REDACTED]`, and has no
//! `Display`.

use std::fmt;
use std::ops::RangeInclusive;

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::encoding;
use super::error::{RpError, field};

/// Accepted secret lengths. SK's secrets (and ours) are 32 bytes; below 16
/// bytes an authCode key would be guessable, above 64 is not a real secret.
const SESSION_SECRET_LEN: RangeInclusive<usize> = 16..=64;

/// Length of a freshly generated secret.
const NEW_SECRET_BYTES: usize = 32;

/// A session's `sessionSecret`, 16–64 bytes, wiped on drop.
#[derive(Clone)]
pub struct SessionSecret(Zeroizing<Vec<u8>>);

impl SessionSecret {
    /// Decodes the `sessionSecret` value as the RP API carries it (standard
    /// Base64 with padding).
    pub fn from_base64(text: &str) -> Result<Self, RpError> {
        encoding::decode_std(field::SESSION_SECRET, text, SESSION_SECRET_LEN)
            .map(|bytes| Self(Zeroizing::new(bytes)))
    }

    /// Takes raw secret bytes (16–64 of them).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, RpError> {
        let bytes = Zeroizing::new(bytes);
        if SESSION_SECRET_LEN.contains(&bytes.len()) {
            Ok(Self(bytes))
        } else {
            Err(RpError::new(
                field::SESSION_SECRET,
                super::RpErrorKind::WrongLength {
                    min: *SESSION_SECRET_LEN.start(),
                    max: *SESSION_SECRET_LEN.end(),
                    actual: bytes.len(),
                },
            ))
        }
    }

    /// A new 32-byte secret from the thread-local CSPRNG.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rng())
    }

    /// A new 32-byte secret from `rng`.
    pub fn generate_with<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; NEW_SECRET_BYTES]);
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The secret as the RP API carries it: standard Base64 with padding.
    /// The returned string is not zeroized; send it and drop it.
    pub fn to_base64(&self) -> String {
        encoding::encode_std(&self.0)
    }

    /// The secret bytes. Keep the borrow short.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rp::RpErrorKind;

    #[test]
    fn debug_output_hides_the_secret() {
        let secret = SessionSecret::from_bytes(vec![0x41; 32]).unwrap();
        assert_eq!(format!("{secret:?}"), "SessionSecret([REDACTED])");
    }

    #[test]
    fn session_secret_shorter_than_16_bytes_is_rejected() {
        let err = SessionSecret::from_base64(&encoding::encode_std(&[1; 15])).unwrap_err();
        assert_eq!(err.field(), field::SESSION_SECRET);
        assert!(matches!(
            err.kind(),
            RpErrorKind::WrongLength { actual: 15, .. }
        ));
        assert!(SessionSecret::from_bytes(vec![1; 15]).is_err());
    }

    #[test]
    fn session_secret_must_be_standard_base64() {
        let err =
            SessionSecret::from_base64("B98ODiVCebRedSwdTk51zFSaGYyHtY1H2A0ocAi3_Ps=").unwrap_err();
        assert_eq!(err.kind(), &RpErrorKind::InvalidBase64);
    }

    #[test]
    fn generated_secrets_are_32_bytes_and_round_trip_through_base64() {
        let secret = SessionSecret::generate();
        assert_eq!(secret.expose().len(), 32);
        let again = SessionSecret::from_base64(&secret.to_base64()).unwrap();
        assert_eq!(again.expose(), secret.expose());
    }
}
