//! RP API v3 (PROTOCOL.md §6): the routes, and the RFC 9457 problem+json
//! every RP error goes out as (a 400 names the field that is wrong).
//!
//! - [`start`]: creating sessions, every flow (notification, device link,
//!   linked signature, certificate choice), with `nonce` idempotency;
//! - [`status`]: the session status long-poll;
//! - [`certificate`]: `POST /v3/signature/certificate/{doc}`.
//!
//! Field names, states and end results are SK's.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::state::Server;
use crate::store::StoreError;

pub mod certificate;
pub mod start;
pub mod status;

use start::{Channel, Kind, Spec, Target};

/// An RFC 9457 problem.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl Problem {
    pub(crate) fn bad_request(field: &str, reason: impl std::fmt::Display) -> Self {
        Problem {
            status: StatusCode::BAD_REQUEST,
            title: "Bad Request",
            detail: format!("{field}: {reason}"),
        }
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::UNAUTHORIZED,
            title: "Unauthorized",
            detail: detail.into(),
        }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Problem {
            status: StatusCode::NOT_FOUND,
            title: "Not Found",
            detail: detail.into(),
        }
    }
}

impl Problem {
    pub(crate) fn server_error() -> Self {
        Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Internal Server Error",
            detail: "the server failed; try again".into(),
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

/// Every RP route.
pub fn routes() -> Router<Arc<Server>> {
    use Channel::{DeviceLink, Linked, Notification};
    use Kind::{Authentication, CertificateChoice, Signature};
    let spec = |kind, channel| Spec { kind, channel };
    Router::new()
        .route(
            "/v3/authentication/notification/etsi/{id}",
            by_person(spec(Authentication, Notification)),
        )
        .route(
            "/v3/authentication/notification/document/{doc}",
            by_document(spec(Authentication, Notification)),
        )
        .route(
            "/v3/authentication/device-link/anonymous",
            anonymous(spec(Authentication, DeviceLink)),
        )
        .route(
            "/v3/authentication/device-link/etsi/{id}",
            by_person(spec(Authentication, DeviceLink)),
        )
        .route(
            "/v3/authentication/device-link/document/{doc}",
            by_document(spec(Authentication, DeviceLink)),
        )
        .route(
            "/v3/signature/notification/etsi/{id}",
            by_person(spec(Signature, Notification)),
        )
        .route(
            "/v3/signature/notification/document/{doc}",
            by_document(spec(Signature, Notification)),
        )
        .route(
            "/v3/signature/notification/linked/{doc}",
            by_document(spec(Signature, Linked)),
        )
        .route(
            "/v3/signature/device-link/etsi/{id}",
            by_person(spec(Signature, DeviceLink)),
        )
        .route(
            "/v3/signature/device-link/document/{doc}",
            by_document(spec(Signature, DeviceLink)),
        )
        .route(
            "/v3/signature/certificate-choice/device-link/anonymous",
            anonymous(spec(CertificateChoice, DeviceLink)),
        )
        .route(
            "/v3/signature/certificate-choice/notification/etsi/{id}",
            by_person(spec(CertificateChoice, Notification)),
        )
        .route(
            "/v3/signature/certificate/{doc}",
            post(certificate::signing_certificate),
        )
        .route("/v3/session/{id}", get(status::session_status))
}

type Body = Result<Json<Value>, JsonRejection>;

/// A session start for a person: `…/etsi/{id}`.
fn by_person(spec: Spec) -> MethodRouter<Arc<Server>> {
    post(
        move |State(server): State<Arc<Server>>, Path(id): Path<String>, body: Body| async move {
            respond(start::start(&server, spec, Target::Person(id), body).await)
        },
    )
}

/// A session start for a document: `…/document/{doc}`, `…/linked/{doc}`.
fn by_document(spec: Spec) -> MethodRouter<Arc<Server>> {
    post(
        move |State(server): State<Arc<Server>>, Path(doc): Path<String>, body: Body| async move {
            respond(start::start(&server, spec, Target::Document(doc), body).await)
        },
    )
}

/// A session start for whoever opens the link: `…/anonymous`.
fn anonymous(spec: Spec) -> MethodRouter<Arc<Server>> {
    post(
        move |State(server): State<Arc<Server>>, body: Body| async move {
            respond(start::start(&server, spec, Target::Anonymous, body).await)
        },
    )
}

pub(crate) fn respond(result: Result<Value, Problem>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// `certificateLevel`, when given: one of SK's three levels (every Kaksik
/// certificate answers as QUALIFIED).
pub(crate) fn check_certificate_level(level: Option<&str>) -> Result<(), Problem> {
    match level {
        None | Some("QUALIFIED" | "ADVANCED" | "QSCD") => Ok(()),
        Some(_) => Err(Problem::bad_request(
            "certificateLevel",
            "must be QUALIFIED, ADVANCED or QSCD",
        )),
    }
}

pub(crate) fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, Problem> {
    value
        .as_deref()
        .ok_or_else(|| Problem::bad_request(field, "required"))
}

/// The DER inside a one-certificate PEM.
pub(crate) fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}
