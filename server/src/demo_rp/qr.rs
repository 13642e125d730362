//! Login by QR code: starting an anonymous device-link authentication, and
//! drawing its QR code as it must look this second.
//!
//! The RP starts the session without naming anyone (`POST
//! /v3/authentication/device-link/anonymous`) and gets `sessionToken`,
//! `sessionSecret` and `deviceLinkBase`. It then builds the device link
//! itself, with `elapsedSeconds` since the session response and an authCode
//! keyed by the secret (`kaksik_core::rp::DeviceLink`), and shows it as a
//! QR code redrawn every second, as SK requires: a photo of the code goes
//! stale within a second, which limits relaying it to a victim. The secret
//! never leaves this process. Waiting for and verifying the result is the
//! login flow's ([`super::login`]).

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kaksik_core::rp::{
    AuthCodeBinding, DeviceLink, DeviceLinkType, HashAlgorithm, Interaction, Interactions, RpError,
    SessionSecret, SessionType, SignatureProtocol,
};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use serde_json::{Value, json};

use crate::rp_client::{RpClient, RpClientError, Started};

/// The RP API path of an anonymous device-link authentication.
pub const ANONYMOUS_AUTH_PATH: &str = "/v3/authentication/device-link/anonymous";

/// The app language the demo asks for in its links.
const LANG: &str = "eng";

/// Smallest side of the drawn QR code, in pixels.
const QR_MIN_PIXELS: u32 = 256;

/// Why a QR code could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The device link's fields are not valid.
    #[error("device link: {0}")]
    Link(#[from] RpError),
    /// The link does not fit in a QR code.
    #[error("QR code: {0}")]
    Code(#[from] qrcode::types::QrError),
}

/// A running QR login: what the RP sent and received, and when.
#[derive(Debug, Clone)]
pub struct QrSession {
    /// What the RP must remember to verify the result (`vc` is empty:
    /// device-link flows show no verification code).
    pub started: Started,
    /// `deviceLinkBase` from the session response.
    device_link_base: String,
    /// `sessionToken` from the session response.
    session_token: String,
    /// `sessionSecret` from the session response: the authCode key.
    secret: SessionSecret,
    /// The values the authCode binds, as sent at session creation.
    binding: AuthCodeBinding,
    /// When the session response arrived: `elapsedSeconds` counts from
    /// here.
    responded_at: Instant,
}

impl QrSession {
    /// The session from its creation response `answer`, with what was
    /// sent. Checks at once that a link can be built from it, so a bad
    /// answer fails the start rather than every redraw.
    pub fn from_answer(
        answer: &Value,
        scheme: &str,
        rp_name: &str,
        rp_challenge: String,
        interactions: String,
        responded_at: Instant,
    ) -> Result<Self, RpClientError> {
        let text = |name: &str| {
            answer[name].as_str().map(str::to_owned).ok_or_else(|| {
                RpClientError::Unexpected(format!("the session response has no {name}"))
            })
        };
        let secret = SessionSecret::from_base64(&text("sessionSecret")?)
            .map_err(|e| RpClientError::Unexpected(e.to_string()))?;
        let session = QrSession {
            started: Started {
                session_id: text("sessionID")?,
                vc: String::new(),
                challenge_or_digest: rp_challenge.clone(),
                interactions: interactions.clone(),
                hash_algorithm: HashAlgorithm::Sha512,
            },
            device_link_base: text("deviceLinkBase")?,
            session_token: text("sessionToken")?,
            secret,
            binding: AuthCodeBinding {
                scheme: scheme.to_owned(),
                signature_protocol: Some(SignatureProtocol::AcspV2),
                rp_challenge_or_digest: rp_challenge,
                rp_name: rp_name.to_owned(),
                brokered_rp_name: String::new(),
                interactions,
                initial_callback_url: String::new(),
            },
            responded_at,
        };
        session
            .link_at(0)
            .map_err(|e| RpClientError::Unexpected(e.to_string()))?;
        Ok(session)
    }

    /// The device link as it is `elapsed` whole seconds after the session
    /// response.
    pub fn link_at(&self, elapsed: u32) -> Result<String, RpError> {
        DeviceLink {
            base: self.device_link_base.clone(),
            link_type: DeviceLinkType::Qr,
            elapsed_seconds: Some(elapsed),
            session_token: self.session_token.clone(),
            session_type: SessionType::Auth,
            lang: LANG.to_owned(),
        }
        .build(&self.secret, &self.binding)
    }

    /// Whole seconds since the session response.
    pub fn elapsed_seconds(&self) -> u32 {
        u32::try_from(self.responded_at.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// The QR code of the link as it is now, SVG.
    pub fn svg_now(&self) -> Result<String, QrError> {
        Ok(svg_of(&self.link_at(self.elapsed_seconds())?)?)
    }
}

/// `link` as a QR code in SVG (medium error correction: a screen is
/// clean, and a smaller code scans more easily).
pub fn svg_of(link: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M)?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(QR_MIN_PIXELS, QR_MIN_PIXELS)
        .quiet_zone(true)
        .build())
}

/// Starts an anonymous device-link authentication as the RP `rp_uuid`
/// `rp_name`: a fresh 64-byte rpChallenge, SHA-512, one
/// `displayTextAndPIN` interaction showing `text`.
pub async fn start_anonymous(
    rp: &RpClient,
    scheme: &str,
    rp_uuid: &str,
    rp_name: &str,
    text: &str,
) -> Result<QrSession, RpClientError> {
    let mut challenge = [0u8; 64];
    rand::fill(&mut challenge);
    let challenge = STANDARD.encode(challenge);
    let interactions = Interactions::new(vec![Interaction::DisplayTextAndPin {
        display_text60: text.chars().take(60).collect(),
    }])
    .map_err(|e| RpClientError::Unexpected(e.to_string()))?
    .base64()
    .to_owned();
    let body = json!({
        "relyingPartyUUID": rp_uuid,
        "relyingPartyName": rp_name,
        "certificateLevel": "QUALIFIED",
        "signatureProtocol": "ACSP_V2",
        "signatureProtocolParameters": {
            "rpChallenge": challenge,
            "signatureAlgorithm": "ecdsa",
            "signatureAlgorithmParameters": { "hashAlgorithm": "SHA-512" },
        },
        "interactions": interactions,
    });
    let answer = rp.post_json(ANONYMOUS_AUTH_PATH, &body).await?;
    QrSession::from_answer(
        &answer,
        scheme,
        rp_name,
        challenge,
        interactions,
        Instant::now(),
    )
}

#[cfg(test)]
mod tests {
    use kaksik_core::rp::ParsedDeviceLink;

    use super::*;

    fn session() -> QrSession {
        let interactions = Interactions::new(vec![Interaction::DisplayTextAndPin {
            display_text60: "Log in to the Kaksik demo".into(),
        }])
        .unwrap();
        let answer = json!({
            "sessionID": "de305d54-75b4-431b-adb2-eb6b9e546014",
            "sessionToken": "wGSHBfz1SkmyzsnexDE2e4eD",
            "sessionSecret": STANDARD.encode([9u8; 32]),
            "deviceLinkBase": "https://127.0.0.1:8443/device-link",
        });
        QrSession::from_answer(
            &answer,
            "kaksik",
            "DEMO",
            STANDARD.encode([1u8; 64]),
            interactions.base64().to_owned(),
            Instant::now(),
        )
        .unwrap()
    }

    #[test]
    fn the_link_is_a_qr_auth_link_whose_auth_code_the_phone_accepts() {
        let qr = session();
        let link = qr.link_at(7).unwrap();
        assert!(
            link.starts_with(
                "https://127.0.0.1:8443/device-link?deviceLinkType=QR&elapsedSeconds=7\
                 &sessionToken=wGSHBfz1SkmyzsnexDE2e4eD&sessionType=auth&version=1.0\
                 &lang=eng&authCode="
            ),
            "{link}"
        );
        let parsed = ParsedDeviceLink::parse(&link).unwrap();
        parsed.verify(&qr.secret, &qr.binding).unwrap();
        let other_secret = SessionSecret::from_bytes(vec![8; 32]).unwrap();
        assert!(parsed.verify(&other_secret, &qr.binding).is_err());
    }

    #[test]
    fn the_link_and_its_auth_code_change_every_second() {
        let qr = session();
        let (a, b) = (qr.link_at(3).unwrap(), qr.link_at(4).unwrap());
        assert_ne!(a, b);
        let code = |l: &str| l.rsplit_once("&authCode=").unwrap().1.to_owned();
        assert_ne!(code(&a), code(&b));
    }

    #[test]
    fn the_qr_code_is_a_standalone_svg_that_changes_with_the_link() {
        let qr = session();
        let first = svg_of(&qr.link_at(1).unwrap()).unwrap();
        let second = svg_of(&qr.link_at(2).unwrap()).unwrap();
        assert!(first.contains("<svg") && first.trim_end().ends_with("</svg>"));
        assert!(!first.contains("<script") && !first.contains("href"));
        assert_ne!(first, second);
        assert!(qr.svg_now().unwrap().contains("<svg"));
    }

    #[test]
    fn a_session_response_without_a_secret_is_refused() {
        let answer = json!({
            "sessionID": "x", "sessionToken": "t", "deviceLinkBase": "https://a/b",
        });
        let error = QrSession::from_answer(
            &answer,
            "kaksik",
            "DEMO",
            STANDARD.encode([1u8; 64]),
            String::new(),
            Instant::now(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("sessionSecret"), "{error}");
    }
}
