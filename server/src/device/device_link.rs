//! A device opening a device link (PROTOCOL.md §6): a QR code it scanned,
//! or a Web2App/App2App link it was handed. The server, which alone holds
//! the session secret besides the RP, checks the link's authCode over every
//! byte of the link and every value the RP bound, that a QR code is as
//! fresh as the second it was drawn, and that the session is still open;
//! then the session becomes this device's transaction (an anonymous one
//! binds to the device's account here).
//!
//! Also here: sharing the signing certificate, the answer to a
//! certificate choice (nothing is signed, so no PIN is asked).

use kaksik_core::protocol::api::{ErrorCode, OpenDeviceLink, Transaction};
use kaksik_core::rp::{
    AuthCodeBinding, DeviceLinkType, FlowType, ParsedDeviceLink, SessionSecret, SessionType,
    SignatureProtocol,
};

use super::DeviceError;
use super::transactions::{self, SessionRequest, SessionResult, caller, parse, running_session};
use crate::api::rp::start::secret_purpose;
use crate::state::Server;

/// How many seconds a QR code's `elapsedSeconds` may lag behind the
/// session's age: the code is redrawn every second, so a value older than
/// this was photographed or relayed, not scanned.
pub const QR_MAX_LAG_SECS: i64 = 10;

/// How far `elapsedSeconds` may run ahead of the session's age: the RP's
/// and the server's clocks tick in different places.
pub const QR_MAX_LEAD_SECS: i64 = 2;

fn invalid(reason: impl Into<String>) -> DeviceError {
    DeviceError::new(ErrorCode::LinkInvalid, reason)
}

/// Opens `request.link` for the caller; the transaction to show.
pub async fn open(
    server: &Server,
    device_id: &str,
    request: OpenDeviceLink,
) -> Result<Transaction, DeviceError> {
    let parsed = ParsedDeviceLink::parse(&request.link).map_err(|e| invalid(e.to_string()))?;
    let link = parsed.link();
    if link.base != server.device_link_base() {
        return Err(invalid("the link is not for this server"));
    }
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    if account.state != "READY" {
        return Err(DeviceError::conflict("the account is not ready"));
    }
    let (session_id, sealed_secret, created_at) = tx
        .device_link(&link.session_token)
        .await?
        .ok_or_else(|| invalid("no session has this token"))?;
    let mut session = tx
        .session(&session_id)
        .await?
        .ok_or_else(|| DeviceError::not_found("transaction"))?;
    if !session.document_number.is_empty() && session.document_number != account.document_number {
        // Another person's session, or one another device opened first.
        return Err(DeviceError::not_found("transaction"));
    }
    let (expected_type, protocol) = match session.kind.as_str() {
        "AUTHENTICATION" => (SessionType::Auth, Some(SignatureProtocol::AcspV2)),
        "SIGNATURE" => (
            SessionType::Sign,
            Some(SignatureProtocol::RawDigestSignature),
        ),
        _ => (SessionType::Cert, None),
    };
    if link.session_type != expected_type {
        return Err(invalid("sessionType does not match the session"));
    }
    let mut request: SessionRequest = parse(&session.request)?;
    let secret = server
        .master
        .open(&secret_purpose(&session.id), &sealed_secret)?;
    let secret = SessionSecret::from_bytes(secret.expose().to_vec())
        .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?;
    let binding = AuthCodeBinding {
        scheme: server.config.scheme.clone(),
        signature_protocol: protocol,
        rp_challenge_or_digest: request.challenge_or_digest.clone(),
        rp_name: request.rp_name.clone(),
        brokered_rp_name: request.brokered_rp_name.clone(),
        interactions: request.interactions.clone(),
        initial_callback_url: request.initial_callback_url.clone(),
    };
    parsed
        .verify(&secret, &binding)
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(elapsed) = link.elapsed_seconds {
        let age = now - created_at;
        let elapsed = i64::from(elapsed);
        if elapsed > age + QR_MAX_LEAD_SECS {
            return Err(invalid("the QR code is from the future"));
        }
        if age - elapsed > QR_MAX_LAG_SECS {
            return Err(invalid("the QR code is stale: scan the current one"));
        }
    }
    let flow = match link.link_type {
        DeviceLinkType::Qr => FlowType::Qr,
        DeviceLinkType::Web2App => FlowType::Web2App,
        DeviceLinkType::App2App => FlowType::App2App,
    };
    if !request.flow_type.is_empty() && request.flow_type != flow.as_str() {
        return Err(invalid(
            "the session was opened through another kind of link",
        ));
    }
    // Only now: a session that ended still refuses a valid link.
    transactions::expire(tx.as_mut(), &mut session, now).await?;
    let mut open = session.state == "RUNNING";
    if !open {
        tx.commit().await?;
        return Err(DeviceError::new(
            ErrorCode::TransactionExpired,
            "the session is over",
        ));
    }
    let first_open = request.flow_type.is_empty();
    if first_open {
        request.flow_type = flow.as_str().to_owned();
        session.request = serde_json::to_string(&request)
            .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?;
        if session.document_number.is_empty() {
            session.document_number = account.document_number.clone();
        }
        let usable = tx
            .key(&session.document_number, session.role)
            .await?
            .is_some_and(|key| key.state == "ACTIVE");
        if !usable {
            session.state = "COMPLETE".into();
            session.end_result = Some("DOCUMENT_UNUSABLE".into());
            open = false;
        }
        tx.update_session(&session).await?;
        tx.audit(
            &session.document_number,
            now,
            "SESSION_OPENED",
            &format!(
                "{} for {} by {flow} link, session {}",
                session.kind, request.rp_name, session.id
            ),
        )
        .await?;
    }
    tx.commit().await?;
    server.notify();
    if !open {
        return Err(DeviceError::new(
            ErrorCode::KeyDisabled,
            format!("the {} key is disabled", session.role),
        ));
    }
    transactions::get(server, device_id, &session.id).await
}

/// The person agreed to give the RP their signing certificate.
pub async fn share_certificate(
    server: &Server,
    device_id: &str,
    id: &str,
) -> Result<(), DeviceError> {
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    let mut session = running_session(tx.as_mut(), &account, id, now).await?;
    if session.kind != "CERTIFICATE_CHOICE" {
        return Err(DeviceError::conflict("not a certificate choice"));
    }
    let key = transactions::usable_key(tx.as_mut(), &session).await?;
    let cert_pem = key
        .cert_pem
        .clone()
        .ok_or_else(|| DeviceError::conflict("the signing key has no certificate"))?;
    let result = SessionResult {
        signature: String::new(),
        cert_pem,
        interaction_used: String::new(),
        user_challenge: None,
    };
    session.result = Some(
        serde_json::to_string(&result)
            .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?,
    );
    session.state = "COMPLETE".into();
    session.end_result = Some("OK".into());
    tx.update_session(&session).await?;
    tx.audit(
        &account.document_number,
        now,
        "CERTIFICATE_SHARED",
        &format!("session {}", session.id),
    )
    .await?;
    tx.commit().await?;
    server.notify();
    Ok(())
}
