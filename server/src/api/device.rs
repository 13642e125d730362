//! The device API over HTTP: every request is checked for the device's
//! signature (timestamp window, single-use nonce), its body decrypted from
//! the end-to-end envelope, routed to [`crate::device`], and the answer
//! sealed back under the request's response key. Errors go out as plain
//! [`kaksik_core::protocol::api::ApiError`] JSON: they carry no secret.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kaksik_core::protocol::api::{
    self, B64, Confirm, CosignStep, Decline, Empty, ErrorCode, NewPinSetup, OpenDeviceLink,
    OprfRequest, PinSetup, ServerInfo, SignFinish, SignStart, StartRegistration, UnlockResult,
    WaitRequest,
};
use kaksik_core::protocol::request_auth::{self, SignedHeaders};
use kaksik_core::role::KeyRole;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::device::{DeviceError, device_link, pin_change, registration, transactions};
use crate::state::Server;

/// `GET /device/v1/server-info`: the protocol key and version floor.
pub async fn server_info(State(server): State<Arc<Server>>) -> Response {
    axum::Json(ServerInfo {
        protocol_key: B64(server.protocol_key.public_key().to_sec1()),
        min_client_version: server.config.min_client_version,
        server_time: server.now(),
    })
    .into_response()
}

/// `POST /device/v1/…`: every authenticated device call.
pub async fn call(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&server, &method, &uri, &headers, &body).await {
        Ok(sealed) => ([(header::CONTENT_TYPE, "application/json")], sealed).into_response(),
        Err(error) => error_response(&error),
    }
}

fn error_response(error: &DeviceError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(error.body())).into_response()
}

fn unauthorized(error: request_auth::RequestAuthError) -> DeviceError {
    DeviceError::new(ErrorCode::Unauthorized, error.to_string())
}

/// Parses a JSON body without echoing its content in the error (bodies
/// hold key material).
fn json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, DeviceError> {
    serde_json::from_slice(bytes).map_err(|e| {
        DeviceError::bad_request(format!(
            "malformed {what}: {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, DeviceError> {
    serde_json::to_vec(value).map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))
}

async fn handle(
    server: &Server,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, DeviceError> {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let signed = SignedHeaders::parse(|name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
    .map_err(unauthorized)?;
    let version: u32 = signed
        .client_version()
        .parse()
        .map_err(|_| DeviceError::bad_request("client version is not a number"))?;
    if version < server.config.min_client_version {
        return Err(DeviceError::new(
            ErrorCode::ClientTooOld,
            format!(
                "client version {version} is older than {}",
                server.config.min_client_version
            ),
        ));
    }
    let now = server.now();
    let skew = server.config.max_request_skew_secs;
    let context = request_auth::channel_context(
        method.as_str(),
        path,
        signed.timestamp(),
        signed.nonce(),
        signed.device_id(),
    )
    .map_err(unauthorized)?;

    // A registering device is not known yet: its key is in the (sealed)
    // body, so that request is opened first and then checked against it.
    // Every other request is checked before any decryption work.
    let registering = uri.path() == api::path::REGISTRATIONS;
    let known_key = if registering {
        None
    } else {
        let mut tx = server.store.begin().await?;
        let account = tx
            .account_by_device(signed.device_id())
            .await?
            .ok_or_else(|| DeviceError::new(ErrorCode::Unauthorized, "unknown device"))?;
        Some(account.device_public_key)
    };
    let verified_early = known_key
        .map(|key| signed.verify(&key, method.as_str(), path, body, now, skew))
        .transpose()
        .map_err(unauthorized)?;
    let (plaintext, response_key) = server
        .protocol_key
        .open_request(&context, body)
        .map_err(|e| DeviceError::bad_request(format!("envelope: {e}")))?;
    let verified = match verified_early {
        Some(verified) => verified,
        None => {
            let start: StartRegistration = json(plaintext.expose(), "registration request")?;
            signed
                .verify(
                    start.device_public_key.as_bytes(),
                    method.as_str(),
                    path,
                    body,
                    now,
                    skew,
                )
                .map_err(unauthorized)?
        }
    };
    {
        let mut tx = server.store.begin().await?;
        let fresh = tx
            .use_nonce(
                verified.device_id(),
                verified.nonce(),
                verified.remember_nonce_until(skew),
                now,
            )
            .await?;
        tx.commit().await?;
        if !fresh {
            return Err(DeviceError::new(
                ErrorCode::Unauthorized,
                "replayed request nonce",
            ));
        }
    }

    let device_id = verified.device_id();
    let segments: Vec<&str> = uri
        .path()
        .trim_start_matches("/device/v1/")
        .split('/')
        .collect();
    let body = plaintext.expose();
    let answer = match segments.as_slice() {
        ["registrations"] => {
            let start: StartRegistration = json(body, "registration request")?;
            let key = start.device_public_key.0.clone();
            to_json(&registration::start(server, device_id, &key, start).await?)?
        }
        ["registrations", id, "status"] => {
            let wait: WaitRequest = json(body, "wait request")?;
            to_json(&registration::status(server, device_id, id, wait.wait_seconds).await?)?
        }
        ["registrations", id, "keys", role, "dkg", step] => {
            let step: u8 = step
                .parse()
                .map_err(|_| DeviceError::not_found("DKG step"))?;
            let request: CosignStep = json(body, "DKG step")?;
            match registration::dkg_step(server, device_id, id, role_of(role)?, step, request)
                .await?
            {
                Some(response) => to_json(&response)?,
                None => to_json(&Empty {})?,
            }
        }
        ["registrations", id, "keys", role, "pin"] => {
            let request: OprfRequest = json(body, "OPRF request")?;
            to_json(
                &registration::pin_evaluate(server, device_id, id, role_of(role)?, request).await?,
            )?
        }
        ["registrations", id, "keys", role, "pin-setup"] => {
            let request: PinSetup = json(body, "PIN setup")?;
            registration::pin_setup(server, device_id, id, role_of(role)?, request).await?;
            to_json(&Empty {})?
        }
        ["registrations", id, "finish"] => {
            to_json(&registration::finish(server, device_id, id).await?)?
        }
        ["account"] => to_json(&registration::account_info(server, device_id).await?)?,
        ["transactions"] => {
            let wait: WaitRequest = json(body, "wait request")?;
            to_json(&transactions::list(server, device_id, wait.wait_seconds).await?)?
        }
        ["transactions", id] => to_json(&transactions::get(server, device_id, id).await?)?,
        ["transactions", id, "unlock"] => {
            let request: OprfRequest = json(body, "OPRF request")?;
            to_json(&transactions::unlock(server, device_id, id, request).await?)?
        }
        ["transactions", id, "unlock-result"] => {
            let request: UnlockResult = json(body, "unlock result")?;
            to_json(&transactions::unlock_result(server, device_id, id, request).await?)?
        }
        ["transactions", id, "sign", "1"] => {
            let request: SignStart = json(body, "signing round 1")?;
            to_json(&transactions::sign_start(server, device_id, id, request).await?)?
        }
        ["transactions", id, "sign", "2"] => {
            let request: SignFinish = json(body, "signing round 2")?;
            to_json(&transactions::sign_finish(server, device_id, id, request).await?)?
        }
        ["transactions", id, "refresh", step] => {
            let step: u8 = step
                .parse()
                .map_err(|_| DeviceError::not_found("refresh step"))?;
            let request: CosignStep = json(body, "refresh step")?;
            to_json(&transactions::refresh(server, device_id, id, step, request).await?)?
        }
        ["transactions", id, "confirm"] => {
            let request: Confirm = json(body, "confirmation")?;
            transactions::confirm(server, device_id, id, request).await?;
            to_json(&Empty {})?
        }
        ["transactions", id, "decline"] => {
            let request: Decline = json(body, "decline")?;
            transactions::decline(server, device_id, id, request).await?;
            to_json(&Empty {})?
        }
        ["device-links"] => {
            let request: OpenDeviceLink = json(body, "device link")?;
            to_json(&device_link::open(server, device_id, request).await?)?
        }
        ["transactions", id, "share-certificate"] => {
            device_link::share_certificate(server, device_id, id).await?;
            to_json(&Empty {})?
        }
        ["keys", role, "pin-change"] => {
            to_json(&pin_change::start(server, device_id, role_of(role)?).await?)?
        }
        ["transactions", id, "new-pin"] => {
            let request: OprfRequest = json(body, "OPRF request")?;
            to_json(&pin_change::new_pin(server, device_id, id, request).await?)?
        }
        ["transactions", id, "new-pin-setup"] => {
            let request: NewPinSetup = json(body, "new PIN setup")?;
            pin_change::new_pin_setup(server, device_id, id, request).await?;
            to_json(&Empty {})?
        }
        ["transactions", id, "new-pin-confirm"] => {
            pin_change::confirm(server, device_id, id).await?;
            to_json(&Empty {})?
        }
        _ => return Err(DeviceError::not_found("endpoint")),
    };
    let answer = zeroize::Zeroizing::new(answer);
    response_key
        .seal_response(&answer)
        .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))
}

fn role_of(text: &str) -> Result<KeyRole, DeviceError> {
    match text {
        "auth" => Ok(KeyRole::Auth),
        "sign" => Ok(KeyRole::Sign),
        _ => Err(DeviceError::not_found("key")),
    }
}
