//! Notification flows end to end: the real server over TLS on loopback,
//! the real phone client, the real RP API client. Each test is one
//! behaviour, named for it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use kaksik_core::client::ClientError;
use kaksik_core::protocol::api::AccountState;
use kaksik_server::rp_client::{self, Completed, RpClientError, Started, Target};
use kaksik_tests::{Device, Harness, PIN1, PIN2, copy_home, mari};
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(60);

fn mari_target() -> Target {
    Target::Person(mari().semantics_identifier())
}

async fn start_auth(h: &Harness) -> Started {
    h.rp()
        .authenticate(&mari_target(), "Log in to DEMO")
        .await
        .unwrap()
}

async fn finish(h: &Harness, started: &Started) -> Completed {
    h.rp().wait(&started.session_id, WAIT).await.unwrap()
}

async fn chain(h: &Harness) -> String {
    h.rp().ca_chain().await.unwrap()
}

/// Starts an authentication and approves it on `device` with `pin`.
async fn auth_with(h: &Harness, device: &Device, pin: &[u8]) -> (Started, Result<(), ClientError>) {
    let started = start_auth(h).await;
    let id = device.next_transaction().await;
    let outcome = device.auth.approve(&id, pin).await.map(drop);
    (started, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_makes_the_account_ready_with_both_certificates() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let account = device.auth.account().await.unwrap();
    assert_eq!(account.state, AccountState::Ready);
    assert!(account.document_number.starts_with("PNOEE-38001085718-"));
    assert!(account.document_number.ends_with("-Q"));
    assert_eq!(account.keys.len(), 2);
    assert!(account.keys.iter().all(|k| k.certificate_pem.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_shows_the_code_the_rp_computed_and_the_login_verifies() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let started = start_auth(&h).await;
    let id = device.next_transaction().await;
    let view = device.auth.transaction(&id).await.unwrap();
    assert_eq!(view.verification_code.as_deref(), Some(started.vc.as_str()));
    assert_eq!(view.rp_name, "DEMO");
    device.auth.approve(&id, PIN1).await.unwrap();
    let completed = finish(&h, &started).await;
    let signer = rp_client::verify_authentication(
        &started,
        &completed,
        "kaksik",
        "DEMO",
        &chain(&h).await,
        Some("PNOEE-38001085718"),
        h.now(),
    )
    .unwrap();
    assert_eq!(signer.common_name, "MAASIKAS,MARI,PNOEE-38001085718");
    assert_eq!(completed.body["signature"]["signatureAlgorithm"], "ecdsa");
    assert_eq!(completed.body["signature"]["flowType"], "Notification");
}

fn openssl(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn split_chain(chain: &str) -> (String, String) {
    let end = "-----END CERTIFICATE-----";
    let cut = chain.find(end).unwrap() + end.len();
    (
        chain[..cut].trim().to_owned() + "\n",
        chain[cut..].trim().to_owned() + "\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_signature_verifies_with_openssl_against_the_ca_chain() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let dir = tempfile::tempdir().unwrap();
    let document = b"Contract no. 42: Mari buys one (1) bicycle.\n";
    std::fs::write(dir.path().join("contract.txt"), document).unwrap();
    let digest: [u8; 32] = Sha256::digest(document).into();

    let started = h
        .rp()
        .sign(&mari_target(), &digest, "Sign contract no. 42")
        .await
        .unwrap();
    let id = device.next_transaction().await;
    assert_eq!(
        device
            .auth
            .transaction(&id)
            .await
            .unwrap()
            .verification_code
            .as_deref(),
        Some(started.vc.as_str())
    );
    device.auth.approve(&id, PIN2).await.unwrap();
    let completed = finish(&h, &started).await;
    let chain = chain(&h).await;
    let (signature, signer) =
        rp_client::verify_signature(&digest, &completed, &chain, h.now()).unwrap();

    let (issuing, root) = split_chain(&chain);
    let cert_pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        completed.body["cert"]["value"].as_str().unwrap()
    );
    std::fs::write(dir.path().join("issuing.pem"), issuing).unwrap();
    std::fs::write(dir.path().join("root.pem"), root).unwrap();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("contract.sig"), &signature).unwrap();
    assert!(signer.certificate_der.len() > 100);

    let verified = openssl(
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "cert.pem",
        ],
        dir.path(),
    );
    assert!(verified.contains("cert.pem: OK"), "{verified}");
    let public = openssl(
        &["x509", "-in", "cert.pem", "-pubkey", "-noout"],
        dir.path(),
    );
    std::fs::write(dir.path().join("pub.pem"), public).unwrap();
    let dgst = openssl(
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "contract.sig",
            "contract.txt",
        ],
        dir.path(),
    );
    assert!(dgst.contains("Verified OK"), "{dgst}");
    let text = openssl(&["x509", "-in", "cert.pem", "-noout", "-text"], dir.path());
    assert!(
        text.contains("Non Repudiation"),
        "a signing certificate: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_ends_the_session_with_user_refused_interaction() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let started = start_auth(&h).await;
    let id = device.next_transaction().await;
    device.auth.decline(&id).await.unwrap();
    assert_eq!(
        finish(&h, &started).await.end_result,
        "USER_REFUSED_INTERACTION"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_ends_the_session_with_timeout() {
    let h = Harness::start().await;
    let _device = h.register(mari()).await;
    let started = start_auth(&h).await;
    h.clock.advance(121);
    assert_eq!(finish(&h, &started).await.end_result, "TIMEOUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_pin_resets_the_wrong_pin_counter() {
    let h = Harness::start_time_travelling().await;
    let device = h.register(mari()).await;
    for _ in 0..2 {
        let (_, outcome) = auth_with(&h, &device, b"9371").await;
        assert!(
            matches!(outcome, Err(ClientError::WrongPin { .. })),
            "{outcome:?}"
        );
        h.clock.advance(200); // the session times out; the counter stays
    }
    let (started, outcome) = auth_with(&h, &device, PIN1).await;
    outcome.unwrap();
    assert_eq!(finish(&h, &started).await.end_result, "OK");
    // Two more wrong PINs do not lock: the count started again from 0.
    for _ in 0..2 {
        let (_, outcome) = auth_with(&h, &device, b"9371").await;
        assert!(
            matches!(outcome, Err(ClientError::WrongPin { .. })),
            "{outcome:?}"
        );
        h.clock.advance(200);
    }
    let (_, outcome) = auth_with(&h, &device, PIN1).await;
    outcome.unwrap();
}

/// Three wrong PINs in a row (new sessions as each one ends).
async fn three_wrong(h: &Harness, device: &Device) -> Vec<Result<(), ClientError>> {
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let (_, outcome) = auth_with(h, device, b"9371").await;
        outcomes.push(outcome);
        h.clock.advance(130);
    }
    outcomes
}

async fn crl_text(h: &Harness) -> String {
    let dir = tempfile::tempdir().unwrap();
    let http = h.https();
    let crl = http
        .get(format!("{}/ca/crl", h.running.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(dir.path().join("crl.der"), &crl).unwrap();
    openssl(
        &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
        dir.path(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pins_lock_for_three_hours_then_a_day_then_disable_and_revoke() {
    let h = Harness::start_time_travelling().await;
    let device = h.register(mari()).await;

    let outcomes = three_wrong(&h, &device).await;
    assert!(outcomes.iter().all(Result::is_err), "{outcomes:?}");
    let (started, locked) = auth_with(&h, &device, PIN1).await;
    let Err(ClientError::Locked { until }) = locked else {
        panic!("expected a 3 h lock, got {locked:?}");
    };
    assert!(
        (until - h.now() - 3 * 3600).abs() < 400,
        "locked for about 3 h"
    );
    assert_eq!(finish(&h, &started).await.end_result, "DOCUMENT_UNUSABLE");

    h.clock.advance(3 * 3600);
    three_wrong(&h, &device).await;
    let (_, locked) = auth_with(&h, &device, PIN1).await;
    let Err(ClientError::Locked { until }) = locked else {
        panic!("expected a 24 h lock, got {locked:?}");
    };
    assert!(
        (until - h.now() - 24 * 3600).abs() < 400,
        "locked for about 24 h: until {until}, now {}",
        h.now()
    );

    h.clock.advance(24 * 3600);
    three_wrong(&h, &device).await;
    let account = device.auth.account().await.unwrap();
    let auth_key = account
        .keys
        .iter()
        .find(|k| k.role == kaksik_core::role::KeyRole::Auth)
        .unwrap();
    assert_eq!(
        auth_key.state,
        kaksik_core::protocol::api::KeyState::Disabled
    );

    // The authentication certificate is on the CRL.
    let reports = kaksik_server::admin::accounts(&h.running.server, "PNOEE-38001085718")
        .await
        .unwrap();
    let serial = reports[0]
        .keys
        .iter()
        .find(|k| k.role == kaksik_core::role::KeyRole::Auth)
        .unwrap()
        .cert_serial
        .clone()
        .unwrap();
    let crl = crl_text(&h).await;
    assert!(crl.contains(&serial), "serial {serial} on the CRL:\n{crl}");
    // And a relying party can no longer log the person in.
    let refused = h.rp().authenticate(&mari_target(), "Log in").await;
    assert!(
        matches!(refused, Err(RpClientError::Problem { status: 404, .. })),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_phone_is_detected_and_the_account_frozen() {
    let h = Harness::start().await;
    let original = h.register(mari()).await;
    let copy_dir = copy_home(original.home.path());
    let copy = Device::client(copy_dir.path(), &h.running.url, &h.running.spki_pin);

    // The original signs: its epoch token moves on.
    let (started, outcome) = auth_with(&h, &original, PIN1).await;
    outcome.unwrap();
    assert_eq!(finish(&h, &started).await.end_result, "OK");

    // The copy still holds the retired token.
    let started = start_auth(&h).await;
    let id = original.next_transaction().await;
    let outcome = copy.approve(&id, PIN1).await;
    assert!(
        matches!(outcome, Err(ClientError::CloneDetected)),
        "{outcome:?}"
    );
    assert_eq!(finish(&h, &started).await.end_result, "ACCOUNT_UNUSABLE");
    let account = kaksik_server::admin::accounts(&h.running.server, "PNOEE-38001085718")
        .await
        .unwrap();
    assert_eq!(account[0].state, "FROZEN");
    assert!(account[0].audit.iter().any(|e| e.event == "CLONE_DETECTED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshed_shares_keep_signing_under_the_same_certificate() {
    // Refresh after every signature: registration's PIN checks already
    // refresh both keys once.
    let h = Harness::start_with(|c| c.refresh_after_signatures = 1).await;
    let device = h.register(mari()).await;
    let certificate = device.auth.account().await.unwrap().keys[0]
        .certificate_pem
        .clone();
    for _ in 0..3 {
        let (started, outcome) = auth_with(&h, &device, PIN1).await;
        outcome.unwrap();
        let completed = finish(&h, &started).await;
        rp_client::verify_authentication(
            &started,
            &completed,
            "kaksik",
            "DEMO",
            &chain(&h).await,
            None,
            h.now(),
        )
        .unwrap();
    }
    let account = device.auth.account().await.unwrap();
    assert_eq!(account.keys[0].certificate_pem, certificate);
    let reports = kaksik_server::admin::accounts(&h.running.server, "PNOEE-38001085718")
        .await
        .unwrap();
    let auth_key = reports[0]
        .keys
        .iter()
        .find(|k| k.role == kaksik_core::role::KeyRole::Auth)
        .unwrap();
    assert!(
        auth_key.epoch >= 4,
        "refreshed on every signature: epoch {}",
        auth_key.epoch
    );
}
