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

use kaksik_core::rp::DeviceLinkType;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::rp_client::{LinkSession, RpClient, RpClientError, Started};

/// The app language the demo asks for in its links.
const LANG: &str = "eng";

/// Smallest side of the drawn QR code, in pixels.
const QR_MIN_PIXELS: u32 = 256;

/// Why a QR code could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The device link's fields are not valid.
    #[error("device link: {0}")]
    Link(#[from] RpClientError),
    /// The link does not fit in a QR code.
    #[error("QR code: {0}")]
    Code(#[from] qrcode::types::QrError),
}

/// A running QR login: the RP client's device-link session, drawn as a
/// QR code.
#[derive(Debug, Clone)]
pub struct QrSession {
    link: LinkSession,
    /// What the RP must remember to verify the result.
    pub started: Started,
}

impl QrSession {
    /// Wraps a device-link authentication session.
    pub fn new(link: LinkSession) -> Self {
        QrSession {
            started: link.started.clone(),
            link,
        }
    }

    /// The device link as it is `elapsed` whole seconds after the session
    /// response.
    pub fn link_at(&self, elapsed: u32) -> Result<String, RpClientError> {
        self.link.link(DeviceLinkType::Qr, Some(elapsed), LANG)
    }

    /// Whole seconds since the session response.
    pub fn elapsed_seconds(&self) -> u32 {
        u32::try_from(self.link.received_at.elapsed().as_secs()).unwrap_or(u32::MAX)
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

/// Starts an anonymous device-link authentication: one
/// `displayTextAndPIN` interaction showing `text` (the RP client sends a
/// fresh 64-byte rpChallenge and asks for SHA-512).
pub async fn start_anonymous(rp: &RpClient, text: &str) -> Result<QrSession, RpClientError> {
    rp.authenticate_device_link(None, text, None)
        .await
        .map(QrSession::new)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use kaksik_core::rp::{
        HashAlgorithm, Interaction, Interactions, ParsedDeviceLink, SessionSecret, SessionType,
    };
    use serde_json::json;

    use super::*;

    fn from_answer(
        answer: &serde_json::Value,
        interactions: String,
    ) -> Result<QrSession, RpClientError> {
        let started = Started {
            session_id: "de305d54-75b4-431b-adb2-eb6b9e546014".into(),
            vc: String::new(),
            challenge_or_digest: STANDARD.encode([1u8; 64]),
            interactions,
            hash_algorithm: HashAlgorithm::Sha512,
            initial_callback_url: String::new(),
        };
        LinkSession::from_answer(answer, started, SessionType::Auth, "DEMO", "kaksik")
            .map(QrSession::new)
    }

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
        from_answer(&answer, interactions.base64().to_owned()).unwrap()
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
        parsed
            .verify(&qr.link.session_secret, &qr.link.binding())
            .unwrap();
        let other_secret = SessionSecret::from_bytes(vec![8; 32]).unwrap();
        assert!(parsed.verify(&other_secret, &qr.link.binding()).is_err());
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
        let error = from_answer(&answer, String::new()).unwrap_err();
        assert!(error.to_string().contains("sessionSecret"), "{error}");
    }
}
