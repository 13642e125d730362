//! Creating RP sessions, every flow of RP API v3 (PROTOCOL.md §6):
//!
//! | kind | notification | device link | linked |
//! |---|---|---|---|
//! | authentication (ACSP_V2) | etsi, document | anonymous, etsi, document | |
//! | signature (RAW_DIGEST_SIGNATURE) | etsi, document | etsi, document | document + `linkedSessionID` |
//! | certificate choice | etsi | anonymous | |
//!
//! Notification and linked sessions answer `sessionID` (and `vc` when
//! something is signed); device-link sessions answer `sessionID`,
//! `sessionToken`, `sessionSecret` and `deviceLinkBase`, from which the RP
//! builds its links. A signature or certificate-choice request that
//! repeats a `nonce` within [`NONCE_WINDOW_SECS`] gets the first answer
//! again instead of a second session.

use axum::Json;
use kaksik_core::crypto::cosign::RunId;
use kaksik_core::role::KeyRole;
use kaksik_core::rp::{
    CHALLENGE_OR_DIGEST_LEN, FlowType, HashAlgorithm, InteractionFlow, InteractionType,
    Interactions, SessionSecret, SignatureProtocol, encoding, validate_initial_callback_url,
};
use kaksik_core::vc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Body, Problem, check_certificate_level, required};
use crate::device::transactions::SessionRequest;
use crate::state::Server;
use crate::store::{Session, Tx};

/// SK's idempotency window for a repeated `nonce`.
pub const NONCE_WINDOW_SECS: i64 = 15;

/// How long after its certificate choice a linked signature may start.
const LINK_WINDOW_FACTOR: i64 = 2;

/// What the session asks of the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Log in: ACSP_V2 with the auth key.
    Authentication,
    /// Sign a digest with the sign key.
    Signature,
    /// Give the RP the signing certificate.
    CertificateChoice,
}

/// How the session reaches the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A push to the account's device.
    Notification,
    /// A QR code or a Web2App/App2App link the RP builds.
    DeviceLink,
    /// A notification signature after a device-link certificate choice.
    Linked,
}

/// One kind of session start.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// What is asked.
    pub kind: Kind,
    /// How it reaches the phone.
    pub channel: Channel,
}

/// Which account a request addresses.
pub enum Target {
    /// `etsi/PNOEE-…`.
    Person(String),
    /// `document/PNOEE-…-XXXX-Q`.
    Document(String),
    /// Whoever opens the device link.
    Anonymous,
}

/// `signatureAlgorithmParameters`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlgorithmParameters {
    hash_algorithm: Option<String>,
}

/// `signatureProtocolParameters` of both protocols.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProtocolParameters {
    rp_challenge: Option<String>,
    digest: Option<String>,
    signature_algorithm: Option<String>,
    signature_algorithm_parameters: Option<AlgorithmParameters>,
}

/// The body of every session start. Unknown fields are ignored, as SK's
/// API does, so RP clients that send optional extras
/// (`requestProperties`, `capabilities`) work.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionBody {
    #[serde(rename = "relyingPartyUUID")]
    relying_party_uuid: Option<String>,
    relying_party_name: Option<String>,
    certificate_level: Option<String>,
    signature_protocol: Option<String>,
    signature_protocol_parameters: Option<ProtocolParameters>,
    interactions: Option<String>,
    vc_type: Option<String>,
    nonce: Option<String>,
    initial_callback_url: Option<String>,
    #[serde(rename = "linkedSessionID")]
    linked_session_id: Option<String>,
}

/// What is signed, once checked.
struct Signed {
    hash: HashAlgorithm,
    /// `rpChallenge` or `digest` as sent (standard Base64).
    challenge_text: String,
    challenge: Vec<u8>,
    interactions: Interactions,
}

/// Creates a session; the JSON answer or the problem.
pub async fn start(
    server: &Server,
    spec: Spec,
    target: Target,
    body: Body,
) -> Result<Value, Problem> {
    let Json(value) = body.map_err(|e| Problem::bad_request("body", e.body_text()))?;
    let body: SessionBody =
        serde_json::from_value(value).map_err(|e| Problem::bad_request("body", e))?;

    // Who asks: the RP must be registered under exactly this name.
    let uuid = required(&body.relying_party_uuid, "relyingPartyUUID")?;
    let name = required(&body.relying_party_name, "relyingPartyName")?;
    check_common(&body)?;
    let signed = match spec.kind {
        Kind::Authentication => Some(check_signed(&body, SignatureProtocol::AcspV2, spec)?),
        Kind::Signature => Some(check_signed(
            &body,
            SignatureProtocol::RawDigestSignature,
            spec,
        )?),
        Kind::CertificateChoice => {
            for (present, field) in [
                (body.signature_protocol.is_some(), "signatureProtocol"),
                (
                    body.signature_protocol_parameters.is_some(),
                    "signatureProtocolParameters",
                ),
                (body.interactions.is_some(), "interactions"),
            ] {
                if present {
                    return Err(Problem::bad_request(
                        field,
                        "not allowed in a certificate choice",
                    ));
                }
            }
            None
        }
    };
    let callback = body.initial_callback_url.clone().unwrap_or_default();
    if !callback.is_empty() {
        if spec.channel != Channel::DeviceLink {
            return Err(Problem::bad_request(
                "initialCallbackUrl",
                "only device-link flows return through a callback",
            ));
        }
        validate_initial_callback_url(&callback)
            .map_err(|e| Problem::bad_request("initialCallbackUrl", e))?;
    }
    match (spec.channel, &body.linked_session_id) {
        (Channel::Linked, None) => {
            return Err(Problem::bad_request("linkedSessionID", "required"));
        }
        (Channel::Notification | Channel::DeviceLink, Some(_)) => {
            return Err(Problem::bad_request(
                "linkedSessionID",
                "only for /v3/signature/notification/linked",
            ));
        }
        _ => {}
    }

    let now = server.now();
    let mut tx = server.store.begin().await?;
    let rp = tx
        .rp(uuid)
        .await?
        .filter(|rp| rp.name == name)
        .ok_or_else(|| Problem::unauthorized("unknown relying party or name"))?;

    let idempotent = matches!(spec.kind, Kind::Signature | Kind::CertificateChoice);
    if idempotent && let Some(nonce) = &body.nonce {
        let since = now - NONCE_WINDOW_SECS;
        if let Some(earlier) = tx.rp_nonce_session(&rp.uuid, nonce, since).await? {
            let session = tx
                .session(&earlier)
                .await?
                .ok_or_else(|| Problem::not_found("the nonce's session is gone"))?;
            let answer = answer(server, tx.as_mut(), &session).await?;
            tx.commit().await?;
            return Ok(answer);
        }
    }

    let role = match spec.kind {
        Kind::Authentication => KeyRole::Auth,
        Kind::Signature | Kind::CertificateChoice => KeyRole::Sign,
    };
    let document_number = match &target {
        Target::Anonymous => String::new(),
        Target::Person(_) | Target::Document(_) => {
            let account = find_account(tx.as_mut(), &target).await?;
            let usable = tx
                .key(&account, role)
                .await?
                .is_some_and(|key| key.state == "ACTIVE");
            if !usable {
                return Err(Problem::not_found(format!(
                    "the person's {role} key is disabled; they must register again"
                )));
            }
            account
        }
    };
    if let (Channel::Linked, Some(linked)) = (spec.channel, &body.linked_session_id) {
        check_linked(server, tx.as_mut(), linked, &rp.uuid, &document_number, now).await?;
    }

    let (kind_name, code) = match (spec.kind, &signed) {
        (Kind::Authentication, Some(s)) => ("AUTHENTICATION", vc::rp_challenge_code(&s.challenge)),
        (Kind::Signature, Some(s)) => ("SIGNATURE", vc::digest_code(&s.challenge)),
        _ => ("CERTIFICATE_CHOICE", vc::digest_code(&[])),
    };
    let code_choices = match &signed {
        Some(s)
            if s.interactions
                .contains(InteractionType::ConfirmationMessageAndVerificationCodeChoice) =>
        {
            vc::code_choice(code)
                .codes()
                .iter()
                .map(ToString::to_string)
                .collect()
        }
        _ => Vec::new(),
    };
    let mut random = [0u8; 18];
    rand::fill(&mut random);
    let device_link = spec.channel == Channel::DeviceLink;
    let request = SessionRequest {
        rp_name: rp.name.clone(),
        brokered_rp_name: String::new(),
        interactions: signed
            .as_ref()
            .map(|s| s.interactions.base64().to_owned())
            .unwrap_or_default(),
        hash_algorithm: signed
            .as_ref()
            .map(|s| s.hash.as_str().to_owned())
            .unwrap_or_default(),
        challenge_or_digest: signed
            .as_ref()
            .map(|s| s.challenge_text.clone())
            .unwrap_or_default(),
        server_random: encoding::encode_std(&random),
        initial_callback_url: callback,
        flow_type: if device_link {
            String::new()
        } else {
            FlowType::Notification.as_str().to_owned()
        },
        vc: code.to_string(),
        device_link,
        code_choices,
    };
    let session = Session {
        id: crate::device::registration::random_id(),
        rp_uuid: Some(rp.uuid.clone()),
        kind: kind_name.into(),
        document_number,
        role,
        state: "RUNNING".into(),
        end_result: None,
        request: serde_json::to_string(&request).map_err(|e| Problem::bad_request("body", e))?,
        sign_run: RunId::random().0.to_vec(),
        created_at: now,
        expires_at: now + server.config.session_timeout_secs,
        result: None,
    };
    tx.insert_session(&session).await?;
    if device_link {
        let mut token = [0u8; 18];
        rand::fill(&mut token);
        let secret = SessionSecret::generate();
        let sealed = server
            .master
            .seal(&secret_purpose(&session.id), secret.expose())
            .map_err(|e| {
                tracing::error!(error = %e, "sealing a session secret");
                Problem::server_error()
            })?;
        tx.insert_device_link(&encoding::encode_url(&token), &session.id, &sealed, now)
            .await?;
    }
    if idempotent && let Some(nonce) = &body.nonce {
        tx.put_rp_nonce(&rp.uuid, nonce, &session.id, now).await?;
    }
    if !session.document_number.is_empty() {
        tx.audit(
            &session.document_number,
            now,
            "SESSION_STARTED",
            &format!(
                "{kind_name} for {} ({}), session {}",
                rp.name, rp.uuid, session.id
            ),
        )
        .await?;
    }
    let answer = answer(server, tx.as_mut(), &session).await?;
    tx.commit().await?;
    server.notify();
    Ok(answer)
}

/// The at-rest purpose of a session's `sessionSecret`.
pub fn secret_purpose(session_id: &str) -> String {
    format!("session-secret/{session_id}")
}

/// What the RP gets back for `session` (the same again for a repeated
/// nonce).
async fn answer(server: &Server, tx: &mut dyn Tx, session: &Session) -> Result<Value, Problem> {
    let request: SessionRequest = serde_json::from_str(&session.request).map_err(|e| {
        tracing::error!(error = %e, "stored session request is malformed");
        Problem::server_error()
    })?;
    if request.device_link {
        let (token, sealed, _) = tx
            .device_link_of_session(&session.id)
            .await?
            .ok_or_else(Problem::server_error)?;
        let secret = server
            .master
            .open(&secret_purpose(&session.id), &sealed)
            .map_err(|e| {
                tracing::error!(error = %e, "opening a session secret");
                Problem::server_error()
            })?;
        return Ok(json!({
            "sessionID": session.id,
            "sessionToken": token,
            "sessionSecret": encoding::encode_std(secret.expose()),
            "deviceLinkBase": server.device_link_base(),
        }));
    }
    if session.kind == "CERTIFICATE_CHOICE" {
        return Ok(json!({ "sessionID": session.id }));
    }
    Ok(json!({
        "sessionID": session.id,
        "vc": { "type": "numeric4", "value": request.vc },
    }))
}

/// Rules every start shares.
fn check_common(body: &SessionBody) -> Result<(), Problem> {
    check_certificate_level(body.certificate_level.as_deref())?;
    if let Some(vc_type) = &body.vc_type
        && vc_type != "numeric4"
    {
        return Err(Problem::bad_request("vcType", "only numeric4 is supported"));
    }
    if let Some(nonce) = &body.nonce
        && (nonce.is_empty() || nonce.chars().count() > 30)
    {
        return Err(Problem::bad_request("nonce", "1 to 30 characters"));
    }
    Ok(())
}

/// The signature protocol, its parameters and the interactions of an
/// authentication or a signature.
fn check_signed(
    body: &SessionBody,
    protocol: SignatureProtocol,
    spec: Spec,
) -> Result<Signed, Problem> {
    let given = required(&body.signature_protocol, "signatureProtocol")?;
    if given != protocol.as_str() {
        return Err(Problem::bad_request(
            "signatureProtocol",
            format!("must be {protocol}"),
        ));
    }
    let params = body
        .signature_protocol_parameters
        .as_ref()
        .ok_or_else(|| Problem::bad_request("signatureProtocolParameters", "required"))?;
    match params.signature_algorithm.as_deref() {
        // "rsassa-pss" is what SK's published v3 clients send: accepted as
        // "the account's algorithm"; the session reports the honest "ecdsa".
        Some("ecdsa" | "rsassa-pss") => {}
        Some(other) => {
            return Err(Problem::bad_request(
                "signatureProtocolParameters.signatureAlgorithm",
                format!("unknown value {other:?}; use ecdsa"),
            ));
        }
        None => {
            return Err(Problem::bad_request(
                "signatureProtocolParameters.signatureAlgorithm",
                "required",
            ));
        }
    }
    let hash_field = "signatureProtocolParameters.signatureAlgorithmParameters.hashAlgorithm";
    let hash: HashAlgorithm = params
        .signature_algorithm_parameters
        .as_ref()
        .and_then(|p| p.hash_algorithm.as_deref())
        .ok_or_else(|| Problem::bad_request(hash_field, "required"))?
        .parse()
        .map_err(|e| Problem::bad_request(hash_field, e))?;
    let interactions_text = required(&body.interactions, "interactions")?;
    let interactions = Interactions::parse_base64(interactions_text)
        .map_err(|e| Problem::bad_request("interactions", e))?;
    let flow = match spec.channel {
        Channel::Notification => InteractionFlow::Notification,
        Channel::DeviceLink => InteractionFlow::DeviceLink,
        Channel::Linked => InteractionFlow::LinkedNotification,
    };
    interactions
        .validate_for_flow(flow)
        .map_err(|e| Problem::bad_request("interactions", e))?;
    let (challenge_field, challenge_text) = match protocol {
        SignatureProtocol::AcspV2 => (
            "signatureProtocolParameters.rpChallenge",
            &params.rp_challenge,
        ),
        SignatureProtocol::RawDigestSignature => {
            ("signatureProtocolParameters.digest", &params.digest)
        }
    };
    let challenge_text = required(challenge_text, challenge_field)?;
    let challenge = encoding::decode_std(challenge_field, challenge_text, CHALLENGE_OR_DIGEST_LEN)
        .map_err(|e| Problem::bad_request(challenge_field, e))?;
    if protocol == SignatureProtocol::RawDigestSignature && challenge.len() != hash.output_len() {
        return Err(Problem::bad_request(
            challenge_field,
            format!(
                "a {hash} digest is {} bytes, not {}",
                hash.output_len(),
                challenge.len()
            ),
        ));
    }
    Ok(Signed {
        hash,
        challenge_text: challenge_text.to_owned(),
        challenge,
        interactions,
    })
}

/// A linked signature needs this RP's completed certificate choice for
/// the same document, recent enough.
async fn check_linked(
    server: &Server,
    tx: &mut dyn Tx,
    linked: &str,
    rp_uuid: &str,
    document_number: &str,
    now: i64,
) -> Result<(), Problem> {
    let field = "linkedSessionID";
    let session = tx
        .session(linked)
        .await?
        .filter(|s| s.rp_uuid.as_deref() == Some(rp_uuid))
        .ok_or_else(|| Problem::bad_request(field, "no such session of this relying party"))?;
    if session.kind != "CERTIFICATE_CHOICE" {
        return Err(Problem::bad_request(
            field,
            "must name a certificate-choice session",
        ));
    }
    if session.state != "COMPLETE" || session.end_result.as_deref() != Some("OK") {
        return Err(Problem::bad_request(
            field,
            "the certificate choice has not completed with OK",
        ));
    }
    if session.document_number != document_number {
        return Err(Problem::bad_request(
            field,
            "the certificate choice chose another document",
        ));
    }
    if now - session.created_at > LINK_WINDOW_FACTOR * server.config.session_timeout_secs {
        return Err(Problem::bad_request(
            field,
            "the certificate choice is too old; start a new one",
        ));
    }
    Ok(())
}

async fn find_account(tx: &mut dyn Tx, target: &Target) -> Result<String, Problem> {
    let account = match target {
        Target::Person(id) => {
            let accounts = tx.accounts_by_semantics_id(id).await?;
            accounts.into_iter().find(|a| a.state == "READY")
        }
        Target::Document(doc) => tx.account(doc).await?.filter(|a| a.state == "READY"),
        Target::Anonymous => None,
    };
    account
        .map(|a| a.document_number)
        .ok_or_else(|| Problem::not_found("no usable account for this person or document"))
}
