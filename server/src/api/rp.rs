//! RP API v3, notification flows (PROTOCOL.md §6): an RP starts an
//! authentication or a signature for a person (`etsi/PNOEE-…`) or a
//! document (`document/PNOEE-…-XXXX-Q`), gets a session id and the
//! verification code, and long-polls the session status. Field names,
//! states and end results are SK's; errors are RFC 9457 problem+json and a
//! 400 names the field that is wrong.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use kaksik_core::crypto::cosign::RunId;
use kaksik_core::role::KeyRole;
use kaksik_core::rp::encoding;
use kaksik_core::rp::{
    CHALLENGE_OR_DIGEST_LEN, FlowType, HashAlgorithm, InteractionFlow, Interactions,
    SignatureProtocol,
};
use kaksik_core::vc;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::device::transactions::{SessionRequest, SessionResult};
use crate::state::Server;
use crate::store::{Session, StoreError, Tx};

/// An RFC 9457 problem.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl Problem {
    fn bad_request(field: &str, reason: impl std::fmt::Display) -> Self {
        Problem {
            status: StatusCode::BAD_REQUEST,
            title: "Bad Request",
            detail: format!("{field}: {reason}"),
        }
    }

    fn unauthorized(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::UNAUTHORIZED,
            title: "Unauthorized",
            detail: detail.into(),
        }
    }

    fn not_found(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::NOT_FOUND,
            title: "Not Found",
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failure in RP API");
        Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Internal Server Error",
            detail: "storage failure".into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// Any path the API does not have.
pub async fn not_found() -> Problem {
    Problem::not_found("no such endpoint")
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

/// The body of a notification authentication or signature request.
/// Unknown fields are ignored, as SK's API does, so RP clients that send
/// optional extras (`requestProperties`, `capabilities`) work.
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
}

/// Which account a request addresses.
enum Target {
    Person(String),
    Document(String),
}

/// `POST /v3/authentication/notification/etsi/{id}`.
pub async fn auth_by_etsi(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    respond(start(&server, Target::Person(id), SignatureProtocol::AcspV2, body).await)
}

/// `POST /v3/authentication/notification/document/{doc}`.
pub async fn auth_by_document(
    State(server): State<Arc<Server>>,
    Path(doc): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    respond(
        start(
            &server,
            Target::Document(doc),
            SignatureProtocol::AcspV2,
            body,
        )
        .await,
    )
}

/// `POST /v3/signature/notification/etsi/{id}`.
pub async fn sign_by_etsi(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    respond(
        start(
            &server,
            Target::Person(id),
            SignatureProtocol::RawDigestSignature,
            body,
        )
        .await,
    )
}

/// `POST /v3/signature/notification/document/{doc}`.
pub async fn sign_by_document(
    State(server): State<Arc<Server>>,
    Path(doc): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    respond(
        start(
            &server,
            Target::Document(doc),
            SignatureProtocol::RawDigestSignature,
            body,
        )
        .await,
    )
}

fn respond(result: Result<Value, Problem>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(problem) => problem.into_response(),
    }
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, Problem> {
    value
        .as_deref()
        .ok_or_else(|| Problem::bad_request(field, "required"))
}

async fn start(
    server: &Server,
    target: Target,
    protocol: SignatureProtocol,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Value, Problem> {
    let Json(value) = body.map_err(|e| Problem::bad_request("body", e.body_text()))?;
    let body: SessionBody =
        serde_json::from_value(value).map_err(|e| Problem::bad_request("body", e))?;

    // Who asks: the RP must be registered under exactly this name.
    let uuid = required(&body.relying_party_uuid, "relyingPartyUUID")?;
    let name = required(&body.relying_party_name, "relyingPartyName")?;
    if let Some(level) = &body.certificate_level
        && !matches!(level.as_str(), "QUALIFIED" | "ADVANCED" | "QSCD")
    {
        return Err(Problem::bad_request(
            "certificateLevel",
            "must be QUALIFIED, ADVANCED or QSCD",
        ));
    }
    if let Some(vc_type) = &body.vc_type
        && vc_type != "numeric4"
    {
        return Err(Problem::bad_request("vcType", "only numeric4 is supported"));
    }
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
    let hash: HashAlgorithm = params
        .signature_algorithm_parameters
        .as_ref()
        .and_then(|p| p.hash_algorithm.as_deref())
        .ok_or_else(|| {
            Problem::bad_request(
                "signatureProtocolParameters.signatureAlgorithmParameters.hashAlgorithm",
                "required",
            )
        })?
        .parse()
        .map_err(|e| {
            Problem::bad_request(
                "signatureProtocolParameters.signatureAlgorithmParameters.hashAlgorithm",
                e,
            )
        })?;
    let interactions_text = required(&body.interactions, "interactions")?;
    let interactions = Interactions::parse_base64(interactions_text)
        .map_err(|e| Problem::bad_request("interactions", e))?;
    interactions
        .validate_for_flow(InteractionFlow::Notification)
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
    if let Some(nonce) = &body.nonce
        && (nonce.is_empty() || nonce.len() > 30)
    {
        return Err(Problem::bad_request("nonce", "1 to 30 characters"));
    }

    let now = server.now();
    let mut tx = server.store.begin().await?;
    let rp = tx
        .rp(uuid)
        .await?
        .filter(|rp| rp.name == name)
        .ok_or_else(|| Problem::unauthorized("unknown relying party or name"))?;
    let account = find_account(tx.as_mut(), &target).await?;

    let (kind, role, vc) = match protocol {
        SignatureProtocol::AcspV2 => (
            "AUTHENTICATION",
            KeyRole::Auth,
            vc::rp_challenge_code(&challenge),
        ),
        SignatureProtocol::RawDigestSignature => {
            ("SIGNATURE", KeyRole::Sign, vc::digest_code(&challenge))
        }
    };
    let usable = tx
        .key(&account, role)
        .await?
        .is_some_and(|key| key.state == "ACTIVE");
    if !usable {
        return Err(Problem::not_found(format!(
            "the person's {} key is disabled; they must register again",
            role
        )));
    }
    let mut random = [0u8; 18];
    rand::fill(&mut random);
    let request = SessionRequest {
        rp_name: rp.name.clone(),
        brokered_rp_name: String::new(),
        interactions: interactions_text.to_owned(),
        hash_algorithm: hash.as_str().to_owned(),
        challenge_or_digest: challenge_text.to_owned(),
        server_random: encoding::encode_std(&random),
        initial_callback_url: String::new(),
        flow_type: FlowType::Notification.as_str().to_owned(),
        vc: vc.to_string(),
    };
    let session = Session {
        id: crate::device::registration::random_id(),
        rp_uuid: Some(rp.uuid.clone()),
        kind: kind.into(),
        document_number: account,
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
    tx.audit(
        &session.document_number,
        now,
        "SESSION_STARTED",
        &format!(
            "{kind} for {} ({}), session {}",
            rp.name, rp.uuid, session.id
        ),
    )
    .await?;
    tx.commit().await?;
    server.notify();
    Ok(json!({
        "sessionID": session.id,
        "vc": { "type": "numeric4", "value": vc.to_string() },
    }))
}

async fn find_account(tx: &mut dyn Tx, target: &Target) -> Result<String, Problem> {
    let account = match target {
        Target::Person(id) => {
            let accounts = tx.accounts_by_semantics_id(id).await?;
            accounts.into_iter().find(|a| a.state == "READY")
        }
        Target::Document(doc) => tx.account(doc).await?.filter(|a| a.state == "READY"),
    };
    account
        .map(|a| a.document_number)
        .ok_or_else(|| Problem::not_found("no usable account for this person or document"))
}

/// `timeoutMs` of a status poll.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusQuery {
    timeout_ms: Option<u64>,
}

/// `GET /v3/session/{sessionID}?timeoutMs=…`: long-polls until the session
/// completes or the timeout passes.
pub async fn session_status(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    Query(query): Query<StatusQuery>,
) -> Response {
    respond(status(&server, &id, query.timeout_ms).await)
}

async fn status(server: &Server, id: &str, timeout_ms: Option<u64>) -> Result<Value, Problem> {
    let timeout_ms = timeout_ms.unwrap_or(1000);
    if !(1000..=120_000).contains(&timeout_ms) {
        return Err(Problem::bad_request(
            "timeoutMs",
            "must be between 1000 and 120000",
        ));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        let now = server.now();
        let mut tx = server.store.begin().await?;
        let mut session = tx
            .session(id)
            .await?
            .filter(|s| s.rp_uuid.is_some())
            .ok_or_else(|| Problem::not_found("no such session"))?;
        if session.state == "RUNNING" && session.expires_at <= now {
            session.state = "COMPLETE".into();
            session.end_result = Some("TIMEOUT".into());
            tx.update_session(&session).await?;
        }
        tx.commit().await?;
        if session.state == "COMPLETE" || tokio::time::Instant::now() >= deadline {
            return Ok(status_body(&session));
        }
        server.wait_for_change(deadline).await;
    }
}

fn status_body(session: &Session) -> Value {
    if session.state != "COMPLETE" {
        return json!({ "state": "RUNNING" });
    }
    let end_result = session
        .end_result
        .clone()
        .unwrap_or_else(|| "SERVER_ERROR".into());
    let mut body = json!({
        "state": "COMPLETE",
        "result": { "endResult": end_result, "documentNumber": session.document_number },
    });
    if end_result != "OK" {
        return body;
    }
    let (Ok(request), Some(Ok(result))) = (
        serde_json::from_str::<SessionRequest>(&session.request),
        session
            .result
            .as_deref()
            .map(serde_json::from_str::<SessionResult>),
    ) else {
        return body;
    };
    let cert_der = pem_to_der(&result.cert_pem).unwrap_or_default();
    let protocol = if session.kind == "AUTHENTICATION" {
        "ACSP_V2"
    } else {
        "RAW_DIGEST_SIGNATURE"
    };
    let mut signature = json!({
        "value": result.signature,
        "signatureAlgorithm": "ecdsa",
        "signatureAlgorithmParameters": { "hashAlgorithm": request.hash_algorithm },
    });
    if session.kind == "AUTHENTICATION" {
        signature["serverRandom"] = json!(request.server_random);
        signature["userChallenge"] = json!(result.user_challenge);
        signature["flowType"] = json!(request.flow_type);
    }
    body["signatureProtocol"] = json!(protocol);
    body["signature"] = signature;
    body["cert"] =
        json!({ "value": encoding::encode_std(&cert_der), "certificateLevel": "QUALIFIED" });
    body["interactionTypeUsed"] = json!(result.interaction_used);
    body
}

/// The DER inside a one-certificate PEM.
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}
