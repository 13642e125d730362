//! `GET /v3/session/{sessionID}?timeoutMs=…`: the session status, long-polled
//! until the session completes or the timeout passes, in SK's shape:
//! `state`, `result.endResult`, `result.documentNumber`,
//! `signatureProtocol`, `signature` (for ACSP_V2 with `serverRandom`,
//! `userChallenge` and `flowType`), `cert`, `interactionTypeUsed`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use kaksik_core::rp::encoding;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Problem, pem_to_der, respond};
use crate::device::transactions::{SessionRequest, SessionResult};
use crate::state::Server;
use crate::store::Session;

/// `timeoutMs` of a status poll.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusQuery {
    timeout_ms: Option<u64>,
}

/// The handler.
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
    let mut result = json!({ "endResult": end_result });
    if !session.document_number.is_empty() {
        result["documentNumber"] = json!(session.document_number);
    }
    let mut body = json!({ "state": "COMPLETE", "result": result });
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
    body["cert"] =
        json!({ "value": encoding::encode_std(&cert_der), "certificateLevel": "QUALIFIED" });
    if session.kind == "CERTIFICATE_CHOICE" {
        return body;
    }
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
    body["interactionTypeUsed"] = json!(result.interaction_used);
    body
}
