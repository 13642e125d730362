//! Reading a device link and checking its authCode (the phone's side).
//!
//! Strict where it protects the user, tolerant only where honest RPs may
//! differ:
//!
//! - strict: the whole link is at most 2 KiB of printable ASCII; `authCode`
//!   is the last parameter and decodes to exactly 32 bytes; every other
//!   parameter is one SK defines, appears once, and has a valid value
//!   (known `deviceLinkType`/`sessionType`, `version=1.0`, canonical
//!   decimal `elapsedSeconds` present exactly for QR);
//! - tolerant: the order of the parameters before `authCode`. SK's links
//!   use one order, but the MAC is checked over the bytes as received, so
//!   another order cannot change what is verified, and an RP library that
//!   builds the query differently still works.
//!
//! Verifying recomputes the HMAC over the received unprotected link and
//! compares in constant time.

use hmac::Mac as _;

use super::device_link::{self, AuthCodeBinding, DEVICE_LINK_VERSION, DeviceLink, auth_code_mac};
use super::encoding;
use super::enums::{DeviceLinkType, SessionType};
use super::error::{RpError, RpErrorKind, field};
use super::rules;
use super::secret::SessionSecret;

/// Longest device link accepted, in bytes. SK's links are about 200 bytes;
/// QR codes hold under 3 KB in any case.
pub const MAX_DEVICE_LINK_BYTES: usize = 2048;

/// The separator and name of the last parameter.
const AUTH_CODE_PARAM: &str = "&authCode=";

/// An HMAC-SHA256 tag is 32 bytes.
const AUTH_CODE_LEN: usize = 32;

/// A device link that parsed cleanly but is not verified yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedDeviceLink {
    link: DeviceLink,
    unprotected: String,
    auth_code: String,
}

/// Query values collected before they are checked together.
#[derive(Default)]
struct Params<'a> {
    link_type: Option<&'a str>,
    elapsed_seconds: Option<&'a str>,
    session_token: Option<&'a str>,
    session_type: Option<&'a str>,
    version: Option<&'a str>,
    lang: Option<&'a str>,
}

impl ParsedDeviceLink {
    /// Parses a complete device link (see the module rules).
    pub fn parse(text: &str) -> Result<Self, RpError> {
        let f = field::DEVICE_LINK;
        if text.is_empty() {
            return Err(RpError::new(f, RpErrorKind::Empty));
        }
        if text.len() > MAX_DEVICE_LINK_BYTES {
            return Err(RpError::new(
                f,
                RpErrorKind::TooLong {
                    max: MAX_DEVICE_LINK_BYTES,
                    unit: "bytes",
                },
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(rules::malformed(f, "only printable ASCII without spaces"));
        }
        let (unprotected, auth_code) = text
            .rsplit_once(AUTH_CODE_PARAM)
            .ok_or(RpError::new(field::AUTH_CODE, RpErrorKind::Missing))?;
        encoding::decode_url(field::AUTH_CODE, auth_code, AUTH_CODE_LEN..=AUTH_CODE_LEN)?;
        let (base, query) = unprotected
            .split_once('?')
            .ok_or_else(|| rules::malformed(f, "no query string"))?;
        device_link::link_base(base)?;

        let params = collect_params(query)?;
        let link = DeviceLink {
            base: base.to_owned(),
            link_type: required(field::DEVICE_LINK_TYPE, params.link_type)?
                .parse::<DeviceLinkType>()?,
            elapsed_seconds: params.elapsed_seconds.map(elapsed_seconds).transpose()?,
            session_token: required(field::SESSION_TOKEN, params.session_token)?.to_owned(),
            session_type: required(field::SESSION_TYPE, params.session_type)?
                .parse::<SessionType>()?,
            lang: required(field::LANG, params.lang)?.to_owned(),
        };
        let version = required(field::VERSION, params.version)?;
        if version != DEVICE_LINK_VERSION {
            return Err(RpError::new(
                field::VERSION,
                RpErrorKind::unknown_value(version),
            ));
        }
        link.validate()?;
        Ok(Self {
            link,
            unprotected: unprotected.to_owned(),
            auth_code: auth_code.to_owned(),
        })
    }

    /// The link's fields.
    pub fn link(&self) -> &DeviceLink {
        &self.link
    }

    /// The link up to (not including) `&authCode=`, byte-for-byte as
    /// received: the text the authCode MACs.
    pub fn unprotected(&self) -> &str {
        &self.unprotected
    }

    /// The authCode as received (unpadded Base64URL of 32 bytes).
    pub fn auth_code(&self) -> &str {
        &self.auth_code
    }

    /// Checks that `binding` fits this link and that the authCode is the
    /// HMAC of the binding and the received link under `secret`. The tag
    /// comparison is constant-time.
    pub fn verify(&self, secret: &SessionSecret, binding: &AuthCodeBinding) -> Result<(), RpError> {
        binding.validate_for(&self.link)?;
        let tag = encoding::decode_url(
            field::AUTH_CODE,
            &self.auth_code,
            AUTH_CODE_LEN..=AUTH_CODE_LEN,
        )?;
        auth_code_mac(secret, binding, &self.unprotected)?
            .verify_slice(&tag)
            .map_err(|_| RpError::new(field::AUTH_CODE, RpErrorKind::Mismatch))
    }
}

/// Splits the query into SK's parameters, refusing unknown, repeated,
/// empty-named or value-less ones, and `authCode` anywhere but last.
fn collect_params(query: &str) -> Result<Params<'_>, RpError> {
    let mut params = Params::default();
    for pair in query.split('&') {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| rules::malformed(field::DEVICE_LINK, "every parameter is name=value"))?;
        let (slot, name) = match key {
            "deviceLinkType" => (&mut params.link_type, field::DEVICE_LINK_TYPE),
            "elapsedSeconds" => (&mut params.elapsed_seconds, field::ELAPSED_SECONDS),
            "sessionToken" => (&mut params.session_token, field::SESSION_TOKEN),
            "sessionType" => (&mut params.session_type, field::SESSION_TYPE),
            "version" => (&mut params.version, field::VERSION),
            "lang" => (&mut params.lang, field::LANG),
            "authCode" => {
                return Err(rules::malformed(
                    field::AUTH_CODE,
                    "must be the last parameter",
                ));
            }
            other => {
                return Err(RpError::new(
                    field::DEVICE_LINK,
                    RpErrorKind::unknown_parameter(other),
                ));
            }
        };
        if slot.replace(value).is_some() {
            return Err(RpError::new(name, RpErrorKind::Duplicate));
        }
    }
    Ok(params)
}

/// A parameter that must be present.
fn required<'a>(name: &'static str, value: Option<&'a str>) -> Result<&'a str, RpError> {
    value.ok_or(RpError::new(name, RpErrorKind::Missing))
}

/// `elapsedSeconds`: a canonical decimal `u32` (digits only, no sign, no
/// leading zero), as any RP's integer formatting writes it.
fn elapsed_seconds(value: &str) -> Result<u32, RpError> {
    let f = field::ELAPSED_SECONDS;
    let canonical = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && (value == "0" || !value.starts_with('0'));
    if !canonical {
        return Err(rules::malformed(
            f,
            "a decimal number without sign or leading zeros",
        ));
    }
    value
        .parse()
        .map_err(|_| rules::malformed(f, "at most 4294967295"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rp::{Interaction, Interactions, SignatureProtocol};

    const BASE: &str = "https://kaksik.example/device-link";

    fn secret() -> SessionSecret {
        SessionSecret::from_bytes(vec![9; 32]).unwrap()
    }

    fn qr_link() -> DeviceLink {
        DeviceLink {
            base: BASE.into(),
            link_type: DeviceLinkType::Qr,
            elapsed_seconds: Some(12),
            session_token: "tok".into(),
            session_type: SessionType::Auth,
            lang: "eng".into(),
        }
    }

    fn qr_binding() -> AuthCodeBinding {
        AuthCodeBinding {
            scheme: "kaksik".into(),
            signature_protocol: Some(SignatureProtocol::AcspV2),
            rp_challenge_or_digest: encoding::encode_std(&[5; 64]),
            rp_name: "DEMO".into(),
            brokered_rp_name: String::new(),
            interactions: Interactions::new(vec![Interaction::DisplayTextAndPin {
                display_text60: "Log in".into(),
            }])
            .unwrap()
            .base64()
            .into(),
            initial_callback_url: String::new(),
        }
    }

    fn built() -> String {
        qr_link().build(&secret(), &qr_binding()).unwrap()
    }

    fn code_of(link: &str) -> &str {
        link.rsplit_once("&authCode=").unwrap().1
    }

    fn parse_err(link: &str) -> RpError {
        ParsedDeviceLink::parse(link).unwrap_err()
    }

    #[test]
    fn built_link_parses_back_to_its_fields_and_verifies() {
        let parsed = ParsedDeviceLink::parse(&built()).unwrap();
        assert_eq!(parsed.link(), &qr_link());
        assert_eq!(parsed.unprotected(), qr_link().unprotected().unwrap());
        assert!(parsed.verify(&secret(), &qr_binding()).is_ok());
    }

    #[test]
    fn wrong_session_secret_is_refused() {
        let parsed = ParsedDeviceLink::parse(&built()).unwrap();
        let other = SessionSecret::from_bytes(vec![8; 32]).unwrap();
        let err = parsed.verify(&other, &qr_binding()).unwrap_err();
        assert_eq!(
            (err.field(), err.kind()),
            (field::AUTH_CODE, &RpErrorKind::Mismatch)
        );
    }

    #[test]
    fn different_binding_is_refused() {
        let parsed = ParsedDeviceLink::parse(&built()).unwrap();
        let phished = AuthCodeBinding {
            rp_name: "EVIL".into(),
            ..qr_binding()
        };
        assert_eq!(
            parsed.verify(&secret(), &phished).unwrap_err().kind(),
            &RpErrorKind::Mismatch
        );
    }

    #[test]
    fn changed_link_parameter_is_refused() {
        let tampered = built().replace("elapsedSeconds=12", "elapsedSeconds=13");
        let parsed = ParsedDeviceLink::parse(&tampered).unwrap();
        assert_eq!(
            parsed.verify(&secret(), &qr_binding()).unwrap_err().field(),
            field::AUTH_CODE
        );
    }

    #[test]
    fn reordered_parameters_parse_and_verify_only_under_their_own_mac() {
        // An RP that orders the query differently MACs its own order.
        let link = built();
        let (unprotected, _) = link.rsplit_once("&authCode=").unwrap();
        let reordered_unprotected = unprotected.replace(
            "?deviceLinkType=QR&elapsedSeconds=12",
            "?elapsedSeconds=12&deviceLinkType=QR",
        );
        let mac = auth_code_mac(&secret(), &qr_binding(), &reordered_unprotected).unwrap();
        let code = encoding::encode_url(&mac.finalize().into_bytes());
        let reordered = format!("{reordered_unprotected}&authCode={code}");
        let parsed = ParsedDeviceLink::parse(&reordered).unwrap();
        assert_eq!(parsed.link(), &qr_link());
        assert!(parsed.verify(&secret(), &qr_binding()).is_ok());
        // The original code does not cover the reordered text.
        let swapped = format!("{reordered_unprotected}&authCode={}", code_of(&link));
        assert!(
            ParsedDeviceLink::parse(&swapped)
                .unwrap()
                .verify(&secret(), &qr_binding())
                .is_err()
        );
    }

    #[test]
    fn link_without_auth_code_is_rejected() {
        let link = qr_link().unprotected().unwrap();
        let err = parse_err(&link);
        assert_eq!(
            (err.field(), err.kind()),
            (field::AUTH_CODE, &RpErrorKind::Missing)
        );
    }

    #[test]
    fn auth_code_not_last_is_rejected() {
        let link = built();
        let code = code_of(&link);
        let moved = format!(
            "{BASE}?authCode={code}&deviceLinkType=QR&elapsedSeconds=12&sessionToken=tok&sessionType=auth&version=1.0&lang=eng&authCode={code}"
        );
        assert_eq!(parse_err(&moved).field(), field::AUTH_CODE);
    }

    #[test]
    fn auth_code_of_the_wrong_length_is_rejected() {
        let link = built();
        let short = &link[..link.len() - 1];
        assert_eq!(parse_err(short).field(), field::AUTH_CODE);
    }

    #[test]
    fn unknown_parameter_is_rejected() {
        let link = built().replace("&lang=eng", "&lang=eng&extra=1");
        let err = parse_err(&link);
        assert_eq!(err.kind(), &RpErrorKind::unknown_parameter("extra"));
    }

    #[test]
    fn repeated_parameter_is_rejected() {
        let link = built().replace("&lang=eng", "&lang=eng&lang=est");
        let err = parse_err(&link);
        assert_eq!(
            (err.field(), err.kind()),
            (field::LANG, &RpErrorKind::Duplicate)
        );
    }

    #[test]
    fn missing_required_parameter_is_rejected() {
        for (param, name) in [
            ("&sessionToken=tok", field::SESSION_TOKEN),
            ("&sessionType=auth", field::SESSION_TYPE),
            ("&version=1.0", field::VERSION),
            ("&lang=eng", field::LANG),
        ] {
            let err = parse_err(&built().replace(param, ""));
            assert_eq!(
                (err.field(), err.kind()),
                (name, &RpErrorKind::Missing),
                "{param}"
            );
        }
    }

    #[test]
    fn unknown_device_link_type_is_rejected() {
        let err = parse_err(&built().replace("deviceLinkType=QR", "deviceLinkType=Notification"));
        assert_eq!(err.field(), field::DEVICE_LINK_TYPE);
        assert_eq!(err.kind(), &RpErrorKind::unknown_value("Notification"));
    }

    #[test]
    fn unknown_session_type_is_rejected() {
        let err = parse_err(&built().replace("sessionType=auth", "sessionType=login"));
        assert_eq!(err.field(), field::SESSION_TYPE);
    }

    #[test]
    fn version_other_than_1_0_is_rejected() {
        let err = parse_err(&built().replace("version=1.0", "version=1.1"));
        assert_eq!(
            (err.field(), err.kind()),
            (field::VERSION, &RpErrorKind::unknown_value("1.1"))
        );
    }

    #[test]
    fn non_numeric_elapsed_seconds_is_rejected() {
        for bad in ["1a", "-1", "+1", "", "012", "4294967296"] {
            let err =
                parse_err(&built().replace("elapsedSeconds=12", &format!("elapsedSeconds={bad}")));
            assert_eq!(err.field(), field::ELAPSED_SECONDS, "{bad}");
        }
    }

    #[test]
    fn elapsed_seconds_on_a_web2app_link_is_rejected() {
        let link = built().replace("deviceLinkType=QR", "deviceLinkType=Web2App");
        assert_eq!(parse_err(&link).field(), field::ELAPSED_SECONDS);
    }

    #[test]
    fn qr_link_without_elapsed_seconds_is_rejected() {
        let link = built().replace("&elapsedSeconds=12", "");
        let err = parse_err(&link);
        assert_eq!(
            (err.field(), err.kind()),
            (field::ELAPSED_SECONDS, &RpErrorKind::Missing)
        );
    }

    #[test]
    fn oversize_link_is_rejected_before_parsing() {
        let link = format!("{BASE}?{}", "a".repeat(MAX_DEVICE_LINK_BYTES));
        assert!(matches!(
            parse_err(&link).kind(),
            RpErrorKind::TooLong { .. }
        ));
    }

    #[test]
    fn link_with_whitespace_or_non_ascii_is_rejected() {
        assert_eq!(
            parse_err(&built().replace("sessionToken=tok", "sessionToken=t k")).field(),
            field::DEVICE_LINK
        );
        assert_eq!(
            parse_err(&built().replace("sessionToken=tok", "sessionToken=tök")).field(),
            field::DEVICE_LINK
        );
    }

    #[test]
    fn parameter_without_a_value_separator_is_rejected() {
        assert_eq!(
            parse_err(&built().replace("&lang=eng", "&lang")).field(),
            field::DEVICE_LINK
        );
    }

    #[test]
    fn link_without_a_query_is_rejected() {
        let err = parse_err(&format!("{BASE}&authCode={}", code_of(&built())));
        assert_eq!(err.field(), field::DEVICE_LINK);
    }
}
