//! Building device links and their authCode (the RP's side).
//!
//! A device link is `deviceLinkBase?deviceLinkType=…[&elapsedSeconds=N]
//! &sessionToken=…&sessionType=…&version=1.0&lang=…&authCode=…`, byte-exact
//! as SK specifies. The authCode is `BASE64URL(HMAC-SHA256(sessionSecret,
//! scheme|signatureProtocol|rpChallenge-or-digest|B64(rpName)|
//! B64(brokeredRpName)|interactions|initialCallbackUrl|unprotectedLink))`:
//! it ties the link the phone opens to what the RP asked for, so a phisher
//! who relays a session cannot change the flow type, the callback or the
//! displayed names. Parsing and verifying a received link live in
//! [`super::link_parser`]; both sides share one MAC function.

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use super::encoding;
use super::enums::{DeviceLinkType, SessionType, SignatureProtocol};
use super::error::{RpError, RpErrorKind, field};
use super::interactions::{InteractionFlow, Interactions};
use super::rules;
use super::secret::SessionSecret;

/// The only link format version SK defines.
pub const DEVICE_LINK_VERSION: &str = "1.0";

/// Most bytes of a `sessionToken`; SK's and ours are 24 characters.
const MAX_SESSION_TOKEN_BYTES: usize = 64;

/// HMAC-SHA256, the authCode MAC.
pub(crate) type AuthCodeMac = Hmac<Sha256>;

/// The query part of a device link: everything in the URL except the
/// authCode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceLink {
    /// `deviceLinkBase`, e.g. `https://smart-id.com/device-link`; no `?`,
    /// `&` or `#`.
    pub base: String,
    /// QR, Web2App or App2App.
    pub link_type: DeviceLinkType,
    /// Seconds since the session started: present for QR (the code is
    /// redrawn every second), absent otherwise.
    pub elapsed_seconds: Option<u32>,
    /// `sessionToken` from the session creation response.
    pub session_token: String,
    /// auth, sign or cert.
    pub session_type: SessionType,
    /// The app's language, three lowercase letters (ISO 639-2, e.g. `eng`).
    pub lang: String,
}

/// The session values an authCode binds besides the link itself, as the
/// RP sent them at session creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthCodeBinding {
    /// Scheme name (`kaksik`, `smart-id`).
    pub scheme: String,
    /// ACSP_V2 for auth, RAW_DIGEST_SIGNATURE for sign, `None` for
    /// certificate choice (an empty field in the payload).
    pub signature_protocol: Option<SignatureProtocol>,
    /// `rpChallenge` (auth) or `digest` (sign), standard Base64 as sent;
    /// empty for certificate choice.
    pub rp_challenge_or_digest: String,
    /// `relyingPartyName`, plain text.
    pub rp_name: String,
    /// `brokeredRpName`, plain text; may be empty.
    pub brokered_rp_name: String,
    /// `interactions`, the RP's Base64 string as sent; empty for
    /// certificate choice.
    pub interactions: String,
    /// `initialCallbackUrl`: required for Web2App/App2App, empty for QR.
    pub initial_callback_url: String,
}

impl DeviceLink {
    /// Checks the link's own fields: the base URL, the token, the
    /// language, and `elapsedSeconds` present exactly for QR.
    pub fn validate(&self) -> Result<(), RpError> {
        link_base(&self.base)?;
        session_token(&self.session_token)?;
        lang(&self.lang)?;
        match (self.link_type, self.elapsed_seconds) {
            (DeviceLinkType::Qr, Some(_))
            | (DeviceLinkType::Web2App | DeviceLinkType::App2App, None) => Ok(()),
            (DeviceLinkType::Qr, None) => {
                Err(RpError::new(field::ELAPSED_SECONDS, RpErrorKind::Missing))
            }
            (_, Some(_)) => Err(RpError::new(
                field::ELAPSED_SECONDS,
                RpErrorKind::NotAllowed {
                    reason: "only QR links carry elapsedSeconds",
                },
            )),
        }
    }

    /// The link without its authCode, after [`DeviceLink::validate`]: the
    /// last field of the authCode payload.
    pub fn unprotected(&self) -> Result<String, RpError> {
        self.validate()?;
        let mut link = format!("{}?deviceLinkType={}", self.base, self.link_type);
        if let Some(elapsed) = self.elapsed_seconds {
            link.push_str(&format!("&elapsedSeconds={elapsed}"));
        }
        link.push_str(&format!(
            "&sessionToken={}&sessionType={}&version={DEVICE_LINK_VERSION}&lang={}",
            self.session_token, self.session_type, self.lang
        ));
        Ok(link)
    }

    /// The authCode for this link and `binding` under `secret`.
    pub fn auth_code(
        &self,
        secret: &SessionSecret,
        binding: &AuthCodeBinding,
    ) -> Result<String, RpError> {
        self.auth_code_over(&self.unprotected()?, secret, binding)
    }

    /// The complete device link: the unprotected link plus `&authCode=…`.
    pub fn build(
        &self,
        secret: &SessionSecret,
        binding: &AuthCodeBinding,
    ) -> Result<String, RpError> {
        let unprotected = self.unprotected()?;
        let auth_code = self.auth_code_over(&unprotected, secret, binding)?;
        Ok(format!("{unprotected}&authCode={auth_code}"))
    }

    /// The authCode over `unprotected`, this link's rendering.
    fn auth_code_over(
        &self,
        unprotected: &str,
        secret: &SessionSecret,
        binding: &AuthCodeBinding,
    ) -> Result<String, RpError> {
        binding.validate_for(self)?;
        let tag = auth_code_mac(secret, binding, unprotected)?
            .finalize()
            .into_bytes();
        Ok(encoding::encode_url(&tag))
    }
}

impl AuthCodeBinding {
    /// Checks the bound values and that they fit `link`: the signature
    /// protocol matches the session type, certificate choice binds no
    /// challenge and no interactions, and the callback URL is there exactly
    /// in the same-device flows.
    pub fn validate_for(&self, link: &DeviceLink) -> Result<(), RpError> {
        rules::scheme(&self.scheme)?;
        rules::rp_name(field::RP_NAME, &self.rp_name, true)?;
        rules::rp_name(field::BROKERED_RP_NAME, &self.brokered_rp_name, false)?;
        let expected = link.session_type.signature_protocol();
        if self.signature_protocol != expected {
            return Err(match expected {
                None => not_for_cert(field::SIGNATURE_PROTOCOL),
                Some(_) if self.signature_protocol.is_none() => {
                    RpError::new(field::SIGNATURE_PROTOCOL, RpErrorKind::Missing)
                }
                Some(_) => RpError::new(
                    field::SIGNATURE_PROTOCOL,
                    RpErrorKind::NotAllowed {
                        reason: "auth sessions use ACSP_V2 and sign sessions RAW_DIGEST_SIGNATURE",
                    },
                ),
            });
        }
        if expected.is_none() {
            if !self.rp_challenge_or_digest.is_empty() {
                return Err(not_for_cert(field::RP_CHALLENGE_OR_DIGEST));
            }
            if !self.interactions.is_empty() {
                return Err(not_for_cert(field::INTERACTIONS));
            }
        } else {
            rules::challenge_or_digest(
                field::RP_CHALLENGE_OR_DIGEST,
                &self.rp_challenge_or_digest,
            )?;
            Interactions::parse_base64(&self.interactions)?
                .validate_for_flow(InteractionFlow::DeviceLink)?;
        }
        rules::callback_for_flow(
            &self.initial_callback_url,
            link.link_type.flow_type().uses_callback(),
        )
    }

    /// The authCode payload for `unprotected`: eight fields joined by `|`,
    /// empty ones kept as empty strings.
    fn payload(&self, unprotected: &str) -> String {
        let protocol = self
            .signature_protocol
            .map_or("", SignatureProtocol::as_str);
        let fields: [&str; 8] = [
            &self.scheme,
            protocol,
            &self.rp_challenge_or_digest,
            &encoding::encode_std(self.rp_name.as_bytes()),
            &encoding::encode_std(self.brokered_rp_name.as_bytes()),
            &self.interactions,
            &self.initial_callback_url,
            unprotected,
        ];
        fields.join("|")
    }
}

/// The HMAC over the authCode payload of `binding` and `unprotected`, ready
/// to finalize (build) or verify in constant time (parse). Callers validate
/// first.
pub(crate) fn auth_code_mac(
    secret: &SessionSecret,
    binding: &AuthCodeBinding,
    unprotected: &str,
) -> Result<AuthCodeMac, RpError> {
    // HMAC takes keys of any length, so this cannot fail; it is mapped
    // rather than unwrapped to keep the code panic-free.
    let mut mac = AuthCodeMac::new_from_slice(secret.expose()).map_err(|_| {
        RpError::new(
            field::SESSION_SECRET,
            RpErrorKind::Malformed {
                reason: "not usable as an HMAC key",
            },
        )
    })?;
    mac.update(binding.payload(unprotected).as_bytes());
    Ok(mac)
}

/// `deviceLinkBase`: a URL with a scheme (`https://…`, or an app scheme),
/// printable ASCII, and no query or fragment of its own.
pub(crate) fn link_base(value: &str) -> Result<(), RpError> {
    let f = field::DEVICE_LINK_BASE;
    rules::url_text(f, value)?;
    let scheme_ok = value.split_once("://").is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    });
    if !scheme_ok {
        return Err(rules::malformed(
            f,
            "must be an absolute URL such as https://host/path",
        ));
    }
    if value.contains(['?', '#', '&']) {
        return Err(rules::malformed(f, "must not contain '?', '&' or '#'"));
    }
    Ok(())
}

/// `sessionToken`: 1–64 URL-unreserved characters (RFC 3986), so it needs
/// no escaping and cannot smuggle another parameter into the link.
pub(crate) fn session_token(value: &str) -> Result<(), RpError> {
    let f = field::SESSION_TOKEN;
    rules::non_empty_bounded(f, value, MAX_SESSION_TOKEN_BYTES)?;
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err(rules::malformed(
            f,
            "only letters, digits, '-', '.', '_' and '~'",
        ));
    }
    Ok(())
}

/// `lang`: three lowercase ASCII letters (ISO 639-2/T, as SK's `eng`,
/// `est`, `rus`).
pub(crate) fn lang(value: &str) -> Result<(), RpError> {
    if value.is_empty() {
        return Err(RpError::new(field::LANG, RpErrorKind::Empty));
    }
    if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(rules::malformed(
            field::LANG,
            "three lowercase letters, e.g. eng",
        ));
    }
    Ok(())
}

/// A value certificate choice must leave empty.
fn not_for_cert(f: &'static str) -> RpError {
    RpError::new(
        f,
        RpErrorKind::NotAllowed {
            reason: "certificate choice signs nothing, so this stays empty",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rp::Interaction;

    fn link(link_type: DeviceLinkType, session_type: SessionType) -> DeviceLink {
        DeviceLink {
            base: "https://kaksik.example/device-link".into(),
            link_type,
            elapsed_seconds: (link_type == DeviceLinkType::Qr).then_some(3),
            session_token: "tok3n".into(),
            session_type,
            lang: "est".into(),
        }
    }

    fn binding(session_type: SessionType, link_type: DeviceLinkType) -> AuthCodeBinding {
        let cert = session_type == SessionType::Cert;
        let interactions = Interactions::new(vec![Interaction::DisplayTextAndPin {
            display_text60: "Hi".into(),
        }])
        .unwrap();
        AuthCodeBinding {
            scheme: "kaksik".into(),
            signature_protocol: session_type.signature_protocol(),
            rp_challenge_or_digest: if cert {
                String::new()
            } else {
                encoding::encode_std(&[1; 32])
            },
            rp_name: "DEMO".into(),
            brokered_rp_name: String::new(),
            interactions: if cert {
                String::new()
            } else {
                interactions.base64().into()
            },
            initial_callback_url: if link_type == DeviceLinkType::Qr {
                String::new()
            } else {
                "https://rp.example/cb?s=1".into()
            },
        }
    }

    fn secret() -> SessionSecret {
        SessionSecret::from_bytes(vec![7; 32]).unwrap()
    }

    #[test]
    fn every_link_and_session_type_builds() {
        for &lt in DeviceLinkType::ALL {
            for &st in SessionType::ALL {
                let built = link(lt, st).build(&secret(), &binding(st, lt));
                assert!(built.is_ok(), "{lt} {st}: {built:?}");
            }
        }
    }

    #[test]
    fn qr_link_without_elapsed_seconds_is_rejected() {
        let qr = DeviceLink {
            elapsed_seconds: None,
            ..link(DeviceLinkType::Qr, SessionType::Auth)
        };
        let err = qr.unprotected().unwrap_err();
        assert_eq!(
            (err.field(), err.kind()),
            (field::ELAPSED_SECONDS, &RpErrorKind::Missing)
        );
    }

    #[test]
    fn web2app_link_with_elapsed_seconds_is_rejected() {
        let web = DeviceLink {
            elapsed_seconds: Some(1),
            ..link(DeviceLinkType::Web2App, SessionType::Auth)
        };
        assert_eq!(
            web.unprotected().unwrap_err().field(),
            field::ELAPSED_SECONDS
        );
    }

    #[test]
    fn base_with_a_query_is_rejected() {
        let bad = DeviceLink {
            base: "https://kaksik.example/dl?x=1".into(),
            ..link(DeviceLinkType::App2App, SessionType::Sign)
        };
        assert_eq!(
            bad.unprotected().unwrap_err().field(),
            field::DEVICE_LINK_BASE
        );
    }

    #[test]
    fn base_without_a_scheme_is_rejected() {
        let bad = DeviceLink {
            base: "kaksik.example/dl".into(),
            ..link(DeviceLinkType::App2App, SessionType::Sign)
        };
        assert_eq!(
            bad.unprotected().unwrap_err().field(),
            field::DEVICE_LINK_BASE
        );
    }

    #[test]
    fn session_token_that_would_inject_a_parameter_is_rejected() {
        let bad = DeviceLink {
            session_token: "abc&sessionType=sign".into(),
            ..link(DeviceLinkType::Web2App, SessionType::Auth)
        };
        assert_eq!(bad.unprotected().unwrap_err().field(), field::SESSION_TOKEN);
    }

    #[test]
    fn lang_must_be_three_lowercase_letters() {
        for bad in ["en", "ENG", "engl", "e1g"] {
            let l = DeviceLink {
                lang: bad.into(),
                ..link(DeviceLinkType::Web2App, SessionType::Auth)
            };
            assert_eq!(l.unprotected().unwrap_err().field(), field::LANG, "{bad}");
        }
    }

    #[test]
    fn certificate_choice_with_a_signature_protocol_is_rejected() {
        let l = link(DeviceLinkType::Qr, SessionType::Cert);
        let b = AuthCodeBinding {
            signature_protocol: Some(SignatureProtocol::AcspV2),
            ..binding(SessionType::Cert, DeviceLinkType::Qr)
        };
        assert_eq!(
            l.build(&secret(), &b).unwrap_err().field(),
            field::SIGNATURE_PROTOCOL
        );
    }

    #[test]
    fn certificate_choice_with_a_challenge_or_interactions_is_rejected() {
        let l = link(DeviceLinkType::Qr, SessionType::Cert);
        let with_challenge = AuthCodeBinding {
            rp_challenge_or_digest: encoding::encode_std(&[1; 32]),
            ..binding(SessionType::Cert, DeviceLinkType::Qr)
        };
        assert_eq!(
            l.build(&secret(), &with_challenge).unwrap_err().field(),
            field::RP_CHALLENGE_OR_DIGEST
        );
        let with_interactions = AuthCodeBinding {
            interactions: binding(SessionType::Auth, DeviceLinkType::Qr).interactions,
            ..binding(SessionType::Cert, DeviceLinkType::Qr)
        };
        assert_eq!(
            l.build(&secret(), &with_interactions).unwrap_err().field(),
            field::INTERACTIONS
        );
    }

    #[test]
    fn sign_session_with_acsp_v2_is_rejected() {
        let l = link(DeviceLinkType::App2App, SessionType::Sign);
        let b = AuthCodeBinding {
            signature_protocol: Some(SignatureProtocol::AcspV2),
            ..binding(SessionType::Sign, DeviceLinkType::App2App)
        };
        assert_eq!(
            l.build(&secret(), &b).unwrap_err().field(),
            field::SIGNATURE_PROTOCOL
        );
    }

    #[test]
    fn qr_link_with_a_callback_url_is_rejected() {
        let l = link(DeviceLinkType::Qr, SessionType::Auth);
        let b = AuthCodeBinding {
            initial_callback_url: "https://rp.example/cb".into(),
            ..binding(SessionType::Auth, DeviceLinkType::Qr)
        };
        assert_eq!(
            l.build(&secret(), &b).unwrap_err().field(),
            field::INITIAL_CALLBACK_URL
        );
    }

    #[test]
    fn code_choice_interaction_in_a_device_link_is_rejected() {
        let l = link(DeviceLinkType::Qr, SessionType::Auth);
        let choice = Interactions::new(vec![
            Interaction::ConfirmationMessageAndVerificationCodeChoice {
                display_text200: "Pay".into(),
            },
        ])
        .unwrap();
        let b = AuthCodeBinding {
            interactions: choice.base64().into(),
            ..binding(SessionType::Auth, DeviceLinkType::Qr)
        };
        assert_eq!(
            l.build(&secret(), &b).unwrap_err().field(),
            field::INTERACTIONS
        );
    }

    #[test]
    fn auth_code_changes_with_every_bound_field() {
        let l = link(DeviceLinkType::Web2App, SessionType::Auth);
        let b = binding(SessionType::Auth, DeviceLinkType::Web2App);
        let base = l.auth_code(&secret(), &b).unwrap();
        let variants = [
            AuthCodeBinding {
                scheme: "smart-id".into(),
                ..b.clone()
            },
            AuthCodeBinding {
                rp_name: "DEMO2".into(),
                ..b.clone()
            },
            AuthCodeBinding {
                brokered_rp_name: "Broker".into(),
                ..b.clone()
            },
            AuthCodeBinding {
                rp_challenge_or_digest: encoding::encode_std(&[2; 32]),
                ..b.clone()
            },
            AuthCodeBinding {
                initial_callback_url: "https://rp.example/cb?s=2".into(),
                ..b.clone()
            },
        ];
        for v in variants {
            assert_ne!(l.auth_code(&secret(), &v).unwrap(), base, "{v:?}");
        }
        let other_lang = DeviceLink {
            lang: "eng".into(),
            ..l
        };
        assert_ne!(other_lang.auth_code(&secret(), &b).unwrap(), base);
    }
}
