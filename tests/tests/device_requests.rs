//! The device API refuses requests that are replayed, tampered with,
//! signed by an unknown key, stale, or from a client older than the
//! server supports. Requests are built here by hand from the same pieces
//! the client uses (signed headers, sealed body), so each can be bent in
//! exactly one way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kaksik_core::crypto::channel::{self, ProtocolPublicKey};
use kaksik_core::device_key::{DeviceKey, SoftwareDeviceKey, device_id};
use kaksik_core::protocol::api::{self, ApiError, ErrorCode, ServerInfo};
use kaksik_core::protocol::request_auth::{self, RequestToSign};
use kaksik_core::store::FileStore;
use kaksik_tests::{Harness, mari};

/// A signed, sealed `POST` of `{}` to the account endpoint.
struct Request {
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

async fn protocol_key(h: &Harness) -> ProtocolPublicKey {
    let info: ServerInfo = h
        .https()
        .get(format!("{}{}", h.running.url, api::path::SERVER_INFO))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ProtocolPublicKey::from_sec1(info.protocol_key.as_bytes()).unwrap()
}

fn build(
    key: &dyn DeviceKey,
    server: &ProtocolPublicKey,
    timestamp: i64,
    client_version: &str,
) -> Request {
    let path = api::path::ACCOUNT;
    let device = device_id(&key.public_key().unwrap()).unwrap();
    let nonce = request_auth::fresh_nonce();
    let context = request_auth::channel_context("POST", path, timestamp, &nonce, &device).unwrap();
    let (body, _) = channel::seal_request(server, &context, b"{}").unwrap();
    let headers = request_auth::sign_request(
        key,
        &RequestToSign {
            method: "POST",
            path_and_query: path,
            body: &body,
            timestamp,
            nonce,
            device_id: &device,
            client_version,
        },
    )
    .unwrap();
    Request {
        headers: headers.to_header_values().to_vec(),
        body,
    }
}

async fn send(h: &Harness, request: &Request) -> (u16, Option<ApiError>) {
    let mut call = h
        .https()
        .post(format!("{}{}", h.running.url, api::path::ACCOUNT));
    for (name, value) in &request.headers {
        call = call.header(*name, value);
    }
    let response = call.body(request.body.clone()).send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).ok())
}

fn registered_key(home: &std::path::Path) -> SoftwareDeviceKey {
    SoftwareDeviceKey::load_or_create(&FileStore::open(home).unwrap(), "device-key").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_well_formed_request_is_answered_and_its_replay_is_refused() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let key = registered_key(device.home.path());
    let request = build(&key, &protocol_key(&h).await, h.now(), "1");
    assert_eq!(send(&h, &request).await.0, 200);
    let (status, error) = send(&h, &request).await;
    assert_eq!(status, 401);
    assert!(error.unwrap().message.contains("replayed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_body_is_refused() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let key = registered_key(device.home.path());
    let mut request = build(&key, &protocol_key(&h).await, h.now(), "1");
    let middle = request.body.len() / 2;
    request.body[middle] ^= 0x01;
    let (status, error) = send(&h, &request).await;
    assert_eq!(status, 401, "{error:?}");
    assert_eq!(error.unwrap().code, ErrorCode::Unauthorized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_by_an_unknown_key_is_refused() {
    let h = Harness::start().await;
    let _device = h.register(mari()).await;
    let stranger = SoftwareDeviceKey::generate();
    let (status, error) = send(&h, &build(&stranger, &protocol_key(&h).await, h.now(), "1")).await;
    assert_eq!(status, 401);
    assert!(error.unwrap().message.contains("unknown device"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_older_than_five_minutes_is_refused() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let key = registered_key(device.home.path());
    let server = protocol_key(&h).await;
    assert_eq!(
        send(&h, &build(&key, &server, h.now() - 301, "1")).await.0,
        401
    );
    assert_eq!(
        send(&h, &build(&key, &server, h.now() + 301, "1")).await.0,
        401
    );
    assert_eq!(
        send(&h, &build(&key, &server, h.now() - 250, "1")).await.0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_older_than_the_minimum_gets_status_480() {
    let h = Harness::start_with(|c| c.min_client_version = 2).await;
    let key = SoftwareDeviceKey::generate();
    let (status, error) = send(&h, &build(&key, &protocol_key(&h).await, h.now(), "1")).await;
    assert_eq!(status, 480);
    assert_eq!(error.unwrap().code, ErrorCode::ClientTooOld);
}
