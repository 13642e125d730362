//! `POST /v3/signature/certificate/{doc}`: the signing certificate of a
//! document the RP already knows (SK's certificate query), without
//! involving the person.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use kaksik_core::role::KeyRole;
use kaksik_core::rp::encoding;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Problem, check_certificate_level, pem_to_der, required, respond};
use crate::state::Server;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateBody {
    #[serde(rename = "relyingPartyUUID")]
    relying_party_uuid: Option<String>,
    relying_party_name: Option<String>,
    certificate_level: Option<String>,
}

/// The handler.
pub async fn signing_certificate(
    State(server): State<Arc<Server>>,
    Path(doc): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    respond(certificate(&server, &doc, body).await)
}

async fn certificate(
    server: &Server,
    doc: &str,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Value, Problem> {
    let Json(value) = body.map_err(|e| Problem::bad_request("body", e.body_text()))?;
    let body: CertificateBody =
        serde_json::from_value(value).map_err(|e| Problem::bad_request("body", e))?;
    let uuid = required(&body.relying_party_uuid, "relyingPartyUUID")?;
    let name = required(&body.relying_party_name, "relyingPartyName")?;
    check_certificate_level(body.certificate_level.as_deref())?;
    let mut tx = server.store.begin().await?;
    tx.rp(uuid)
        .await?
        .filter(|rp| rp.name == name)
        .ok_or_else(|| Problem::unauthorized("unknown relying party or name"))?;
    let account = tx
        .account(doc)
        .await?
        .filter(|a| a.state == "READY")
        .ok_or_else(|| Problem::not_found("no usable account for this document"))?;
    let key = tx
        .key(&account.document_number, KeyRole::Sign)
        .await?
        .filter(|k| k.state == "ACTIVE")
        .ok_or_else(|| Problem::not_found("the document's signing key is disabled"))?;
    tx.commit().await?;
    let der = key
        .cert_pem
        .as_deref()
        .and_then(pem_to_der)
        .ok_or_else(|| Problem::not_found("the document has no signing certificate"))?;
    Ok(json!({
        "state": "OK",
        "cert": { "value": encoding::encode_std(&der), "certificateLevel": "QUALIFIED" },
    }))
}
