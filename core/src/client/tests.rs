//! The client's transport against a loopback TLS peer that answers what
//! each test scripts: retries, status mapping and envelope checks, which
//! the real server cannot be made to produce on demand. Every flow of the
//! client runs against the real server in the workspace's `tests` crate.

use std::sync::Arc;
use std::time::Duration;

use super::testing::{TestRequest, TestResponse, TestServer};
use super::transport::{Call, Transport};
use super::*;
use crate::crypto::channel::ProtocolKey;
use crate::device_key::SoftwareDeviceKey;
use crate::protocol::api::{self, ApiError, Empty, ErrorCode};
use crate::protocol::request_auth::HEADER_SIGNATURE;

async fn transport_against(status: u16, body: Vec<u8>) -> (TestServer, Transport) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let server = TestServer::start_with(
        &certified,
        // Answers as scripted only a request the transport built properly
        // (a signed POST of a sealed body); anything else gets a 418 that
        // no test expects.
        Arc::new(move |request: TestRequest| {
            let proper = request.method == "POST"
                && request.path == api::path::ACCOUNT
                && request.header(HEADER_SIGNATURE).is_some()
                && !request.body.is_empty();
            TestResponse {
                status: if proper { status } else { 418 },
                body: body.clone(),
            }
        }),
    )
    .await;
    let pin = SpkiPin::of_certificate(certified.cert.der()).unwrap();
    let key = Arc::new(SoftwareDeviceKey::generate());
    let public = crate::device_key::DeviceKey::public_key(&*key).unwrap();
    let transport = Transport::new(
        &ClientConfig::new(server.url(), pin.to_string()),
        key,
        crate::device_key::device_id(&public).unwrap(),
    )
    .unwrap();
    (server, transport)
}

fn api_error(code: ErrorCode, locked_until: Option<i64>) -> Vec<u8> {
    serde_json::to_vec(&ApiError {
        code,
        message: "no".into(),
        locked_until,
    })
    .unwrap()
}

async fn post(transport: &Transport, call: Call) -> Result<Empty, ClientError> {
    let key = ProtocolKey::generate().public_key();
    transport
        .post(&key, api::path::ACCOUNT, &Empty {}, call)
        .await
}

#[tokio::test]
async fn reads_are_retried_and_steps_are_not() {
    let (server, transport) = transport_against(503, api_error(ErrorCode::ServerError, None)).await;
    let error = post(&transport, Call::Read).await.unwrap_err();
    assert!(matches!(error, ClientError::Server { code, .. } if code == "SERVER_ERROR"));
    assert_eq!(server.requests_served(), 3);

    let (server, transport) = transport_against(503, api_error(ErrorCode::ServerError, None)).await;
    post(&transport, Call::Step).await.unwrap_err();
    assert_eq!(server.requests_served(), 1);
}

#[tokio::test]
async fn a_client_error_is_not_retried_and_keeps_its_meaning() {
    let (server, transport) = transport_against(423, api_error(ErrorCode::Locked, Some(77))).await;
    assert_eq!(
        post(&transport, Call::Read).await.unwrap_err(),
        ClientError::Locked { until: 77 }
    );
    assert_eq!(server.requests_served(), 1);
}

#[tokio::test]
async fn status_480_means_the_client_is_too_old_whatever_the_body() {
    let (_server, transport) = transport_against(480, b"<html>".to_vec()).await;
    assert_eq!(
        post(&transport, Call::Read).await.unwrap_err(),
        ClientError::ClientTooOld
    );
}

#[tokio::test]
async fn a_success_that_is_not_our_envelope_is_refused() {
    let (_server, transport) = transport_against(200, b"{}".to_vec()).await;
    assert!(matches!(
        post(&transport, Call::Step).await,
        Err(ClientError::InvalidResponse(_))
    ));
}

#[tokio::test]
async fn an_unreachable_server_is_a_network_error() {
    let (server, transport) = transport_against(200, Vec::new()).await;
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(matches!(
        post(&transport, Call::Step).await,
        Err(ClientError::Network(_))
    ));
}
