//! The two Base64 flavours of RP API v3, strict, with errors naming the field.
//!
//! SK uses standard Base64 with padding for what the RP sends
//! (`sessionSecret`, `rpChallenge`, `digest`, `interactions`, the names in
//! ACSP_V2) and URL-safe Base64 without padding for what travels in URLs
//! (`authCode`, `sessionSecretDigest`, `userChallenge`). Mixing them up is the
//! classic integration bug, so each decoder accepts exactly one flavour, in
//! canonical form only (correct padding, no stray trailing bits): one value
//! has one encoding, which matters because these strings are hashed and
//! MACed as text.

use std::ops::RangeInclusive;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::error::{RpError, RpErrorKind};

/// Standard Base64 with padding (RFC 4648 §4).
pub fn encode_std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// URL-safe Base64 without padding (RFC 4648 §5).
pub fn encode_url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes standard padded Base64 in `field` to between `len.start()` and
/// `len.end()` bytes. The text length is checked before decoding, so an
/// oversize input costs no allocation.
pub fn decode_std(
    field: &'static str,
    text: &str,
    len: RangeInclusive<usize>,
) -> Result<Vec<u8>, RpError> {
    let max_text = len.end().div_ceil(3).saturating_mul(4);
    decode_with(field, text, len, max_text, || {
        STANDARD
            .decode(text)
            .map_err(|_| RpError::new(field, RpErrorKind::InvalidBase64))
    })
}

/// Decodes unpadded URL-safe Base64 in `field` to between `len.start()` and
/// `len.end()` bytes, checking the text length first.
pub fn decode_url(
    field: &'static str,
    text: &str,
    len: RangeInclusive<usize>,
) -> Result<Vec<u8>, RpError> {
    let max_text = len.end().saturating_mul(4).div_ceil(3);
    decode_with(field, text, len, max_text, || {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| RpError::new(field, RpErrorKind::InvalidBase64Url))
    })
}

/// The length checks both flavours share, around `decode`.
fn decode_with(
    field: &'static str,
    text: &str,
    len: RangeInclusive<usize>,
    max_text: usize,
    decode: impl FnOnce() -> Result<Vec<u8>, RpError>,
) -> Result<Vec<u8>, RpError> {
    let (min, max) = (*len.start(), *len.end());
    if text.is_empty() && min > 0 {
        return Err(RpError::new(field, RpErrorKind::Empty));
    }
    if text.len() > max_text {
        return Err(RpError::new(
            field,
            RpErrorKind::TooLong {
                max: max_text,
                unit: "bytes",
            },
        ));
    }
    let bytes = decode()?;
    if !len.contains(&bytes.len()) {
        return Err(RpError::new(
            field,
            RpErrorKind::WrongLength {
                min,
                max,
                actual: bytes.len(),
            },
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rp::field;

    #[test]
    fn standard_decoder_refuses_the_url_alphabet() {
        let err = decode_std(field::DIGEST, "-_-_", 0..=64).unwrap_err();
        assert_eq!(err.kind(), &RpErrorKind::InvalidBase64);
        assert_eq!(err.field(), field::DIGEST);
    }

    #[test]
    fn standard_decoder_requires_padding() {
        assert!(decode_std(field::DIGEST, "G7s", 0..=64).is_err());
        assert_eq!(
            decode_std(field::DIGEST, "G7s=", 0..=64).unwrap(),
            [0x1b, 0xbb]
        );
    }

    #[test]
    fn standard_decoder_refuses_non_canonical_trailing_bits() {
        // "G7t=" decodes to the same two bytes as "G7s=" in lax decoders.
        assert!(decode_std(field::DIGEST, "G7t=", 0..=64).is_err());
    }

    #[test]
    fn url_decoder_refuses_padding_and_the_standard_alphabet() {
        assert!(decode_url(field::AUTH_CODE, "G7s=", 0..=64).is_err());
        assert!(decode_url(field::AUTH_CODE, "+/+/", 0..=64).is_err());
        assert_eq!(
            decode_url(field::AUTH_CODE, "G7s", 0..=64).unwrap(),
            [0x1b, 0xbb]
        );
    }

    #[test]
    fn empty_text_is_reported_as_empty_when_bytes_are_required() {
        let err = decode_std(field::SESSION_SECRET, "", 16..=64).unwrap_err();
        assert_eq!(err.kind(), &RpErrorKind::Empty);
    }

    #[test]
    fn decoded_length_outside_the_range_is_rejected() {
        let err = decode_std(field::RP_CHALLENGE, "G7s=", 32..=64).unwrap_err();
        assert_eq!(
            err.kind(),
            &RpErrorKind::WrongLength {
                min: 32,
                max: 64,
                actual: 2
            }
        );
    }

    #[test]
    fn oversize_text_is_rejected_before_decoding() {
        let err = decode_std(field::INTERACTIONS, &"A".repeat(10_000), 1..=4096).unwrap_err();
        assert!(matches!(err.kind(), RpErrorKind::TooLong { .. }));
    }

    #[test]
    fn max_length_values_fit_the_text_bound() {
        for n in 0..70usize {
            let bytes = vec![0xa5; n];
            assert_eq!(
                decode_std(field::DIGEST, &encode_std(&bytes), n..=n).unwrap(),
                bytes
            );
            assert_eq!(
                decode_url(field::DIGEST, &encode_url(&bytes), n..=n).unwrap(),
                bytes
            );
        }
    }
}
