//! Field rules shared by ACSP_V2, device links and callbacks.
//!
//! Most fields here end up between `|` separators in a string that is then
//! hashed or MACed. The rules make that concatenation unambiguous (no field
//! can contain `|` unless it is Base64-encoded first) and keep values to
//! what SK documents: `relyingPartyName` at most 32 bytes of UTF-8,
//! `initialCallbackUrl` matching `^https://[^|]+$`, `rpChallenge` 32–64
//! random bytes. Where SK documents no limit, the limits here are guards
//! against oversize input, chosen well above anything a real RP sends.

use std::ops::RangeInclusive;

use super::encoding;
use super::error::{RpError, RpErrorKind, field};

/// SK: `relyingPartyName` is "limited to 32 bytes in UTF-8 encoding". The
/// same limit is applied to `brokeredRpName`, which the app shows in the
/// same place.
pub(crate) const MAX_NAME_BYTES: usize = 32;

/// Guard for URLs (`initialCallbackUrl`, `deviceLinkBase`); SK documents no
/// limit. 2 KiB is the traditional safe URL length.
pub(crate) const MAX_URL_BYTES: usize = 2048;

/// Guard for the scheme name (`smart-id`, `kaksik`).
const MAX_SCHEME_BYTES: usize = 32;

/// Guard for `serverRandom`; ours and SK's are 24 characters.
const MAX_SERVER_RANDOM_BYTES: usize = 128;

/// Decoded length of an `rpChallenge` (32–64 random bytes) or of a signing
/// digest (SHA-256 to SHA-512): the authCode field that holds either has
/// the same bounds.
pub const CHALLENGE_OR_DIGEST_LEN: RangeInclusive<usize> = 32..=64;

/// `userChallenge` is a SHA-256 output; `userChallengeVerifier` and
/// `sessionSecretDigest` are 32 bytes too.
pub(crate) const CHALLENGE_32_LEN: RangeInclusive<usize> = 32..=32;

/// The scheme name: 1–32 of `[A-Za-z0-9._-]`, so it can never contain the
/// `|` separator it precedes.
pub(crate) fn scheme(value: &str) -> Result<(), RpError> {
    non_empty_bounded(field::SCHEME, value, MAX_SCHEME_BYTES)?;
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(malformed(
            field::SCHEME,
            "only letters, digits, '.', '_' and '-'",
        ));
    }
    Ok(())
}

/// `relyingPartyName` (required) or `brokeredRpName` (may be empty): at
/// most 32 bytes of UTF-8. Both are Base64-encoded before they meet a `|`,
/// so any text is unambiguous.
pub(crate) fn rp_name(
    name_field: &'static str,
    value: &str,
    required: bool,
) -> Result<(), RpError> {
    if required && value.is_empty() {
        return Err(RpError::new(name_field, RpErrorKind::Empty));
    }
    bounded(name_field, value, MAX_NAME_BYTES)
}

/// `initialCallbackUrl` for a flow: required (SK's `^https://[^|]+$`) in
/// the same-device flows that return through it, empty in QR and
/// notification flows, which have no way back.
pub(crate) fn callback_for_flow(value: &str, uses_callback: bool) -> Result<(), RpError> {
    if uses_callback {
        callback_url(value)
    } else if value.is_empty() {
        Ok(())
    } else {
        Err(RpError::new(
            field::INITIAL_CALLBACK_URL,
            RpErrorKind::NotAllowed {
                reason: "only Web2App and App2App flows return through a callback URL",
            },
        ))
    }
}

/// A non-empty `initialCallbackUrl`: SK's `^https://[^|]+$`, restricted to
/// printable ASCII (real RPs percent-encode), and without a `#` fragment,
/// which would swallow the `sessionSecretDigest` the app appends.
pub fn callback_url(value: &str) -> Result<(), RpError> {
    let f = field::INITIAL_CALLBACK_URL;
    url_text(f, value)?;
    if !value.starts_with("https://") || value.len() == "https://".len() {
        return Err(malformed(f, "must be an https:// URL"));
    }
    if value.contains('#') {
        return Err(malformed(f, "must not have a #fragment"));
    }
    Ok(())
}

/// Text of any URL field: 1–2048 bytes of printable ASCII (no spaces or
/// control characters) and no `|`, the separator of the strings it is
/// concatenated into.
pub(crate) fn url_text(url_field: &'static str, value: &str) -> Result<(), RpError> {
    non_empty_bounded(url_field, value, MAX_URL_BYTES)?;
    if !value.bytes().all(|b| b.is_ascii_graphic() && b != b'|') {
        return Err(malformed(
            url_field,
            "only printable ASCII without spaces or '|' (percent-encode the rest)",
        ));
    }
    Ok(())
}

/// `rpChallenge`, or the digest in its place: standard Base64 of 32–64
/// bytes.
pub(crate) fn challenge_or_digest(value_field: &'static str, value: &str) -> Result<(), RpError> {
    encoding::decode_std(value_field, value, CHALLENGE_OR_DIGEST_LEN).map(drop)
}

/// A 32-byte value as unpadded Base64URL (`userChallenge`,
/// `userChallengeVerifier`, `sessionSecretDigest`).
pub(crate) fn base64url_32(value_field: &'static str, value: &str) -> Result<(), RpError> {
    encoding::decode_url(value_field, value, CHALLENGE_32_LEN).map(drop)
}

/// `serverRandom`: 1–128 characters of the Base64 or Base64URL alphabets.
/// It is ours, but the phone checks it before signing over it.
pub(crate) fn server_random(value: &str) -> Result<(), RpError> {
    let f = field::SERVER_RANDOM;
    non_empty_bounded(f, value, MAX_SERVER_RANDOM_BYTES)?;
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
    {
        return Err(malformed(f, "only Base64 or Base64URL characters"));
    }
    Ok(())
}

/// Empty is an error; longer than `max` bytes is an error.
pub(crate) fn non_empty_bounded(f: &'static str, value: &str, max: usize) -> Result<(), RpError> {
    if value.is_empty() {
        return Err(RpError::new(f, RpErrorKind::Empty));
    }
    bounded(f, value, max)
}

/// Longer than `max` bytes is an error.
fn bounded(f: &'static str, value: &str, max: usize) -> Result<(), RpError> {
    if value.len() > max {
        return Err(RpError::new(f, RpErrorKind::TooLong { max, unit: "bytes" }));
    }
    Ok(())
}

/// Shorthand for a [`RpErrorKind::Malformed`] error.
pub(crate) fn malformed(f: &'static str, reason: &'static str) -> RpError {
    RpError::new(f, RpErrorKind::Malformed { reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_with_a_separator_is_rejected() {
        assert!(scheme("smart-id").is_ok());
        assert!(scheme("smart|id").is_err());
        assert!(scheme("").is_err());
    }

    #[test]
    fn relying_party_name_longer_than_32_utf8_bytes_is_rejected() {
        // 16 two-byte characters are 32 bytes: allowed; one more is not.
        let name = "ä".repeat(16);
        assert!(rp_name(field::RP_NAME, &name, true).is_ok());
        let err = rp_name(field::RP_NAME, &format!("{name}a"), true).unwrap_err();
        assert_eq!(
            err.kind(),
            &RpErrorKind::TooLong {
                max: 32,
                unit: "bytes"
            }
        );
    }

    #[test]
    fn empty_relying_party_name_is_rejected_but_empty_broker_is_not() {
        assert!(rp_name(field::RP_NAME, "", true).is_err());
        assert!(rp_name(field::BROKERED_RP_NAME, "", false).is_ok());
    }

    #[test]
    fn callback_url_must_be_https() {
        assert!(callback_url("https://rp.example/cb?x=1").is_ok());
        assert!(callback_url("http://rp.example/cb").is_err());
        assert!(callback_url("https://").is_err());
    }

    #[test]
    fn callback_url_with_a_pipe_is_rejected() {
        assert!(callback_url("https://rp.example/a|b").is_err());
    }

    #[test]
    fn callback_url_with_a_fragment_is_rejected() {
        assert!(callback_url("https://rp.example/cb#top").is_err());
    }

    #[test]
    fn callback_url_with_spaces_or_non_ascii_is_rejected() {
        assert!(callback_url("https://rp.example/a b").is_err());
        assert!(callback_url("https://rp.example/ä").is_err());
    }

    #[test]
    fn callback_url_is_required_in_same_device_flows_and_forbidden_otherwise() {
        assert!(callback_for_flow("", true).is_err());
        assert!(callback_for_flow("https://rp.example/cb", false).is_err());
        assert!(callback_for_flow("", false).is_ok());
    }

    #[test]
    fn challenge_shorter_than_32_bytes_is_rejected() {
        let short = encoding::encode_std(&[7; 31]);
        assert!(challenge_or_digest(field::RP_CHALLENGE, &short).is_err());
        let ok = encoding::encode_std(&[7; 32]);
        assert!(challenge_or_digest(field::RP_CHALLENGE, &ok).is_ok());
    }

    #[test]
    fn server_random_with_a_separator_is_rejected() {
        assert!(server_random("MTlop6EXCrQ6FOErcKjxUhbV").is_ok());
        assert!(server_random("a|b").is_err());
    }
}
