//! PIN change end to end (PROTOCOL.md §2): the real server over TLS on
//! loopback, the real phone client, the real RP API client. The crash
//! cases (a phone or a server stopping midway) are in `crash.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use kaksik_core::client::ClientError;
use kaksik_core::role::KeyRole;
use kaksik_server::rp_client::{self, Target};
use kaksik_tests::{Device, Harness, PIN1, PIN2, mari};
use sha2::{Digest, Sha256};

const NEW_PIN1: &[u8] = b"7391";
const NEW_PIN2: &[u8] = b"62817";
const WRONG_PIN1: &[u8] = b"9371";

fn mari_target() -> Target {
    Target::Person(mari().semantics_identifier())
}

/// A notification login approved with `pin`; on success the RP checks
/// the signature, the chain and the identity.
async fn login_with(h: &Harness, device: &Device, pin: &[u8]) -> Result<(), ClientError> {
    let rp = h.rp();
    let started = rp.authenticate(&mari_target(), "Log in").await.unwrap();
    let id = device.next_transaction().await;
    if let Err(error) = device.auth.approve(&id, pin).await {
        // Leave no running session behind for the next login to find.
        device.auth.decline(&id).await.unwrap();
        return Err(error);
    }
    let completed = rp
        .wait(&started.session_id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(completed.end_result, "OK");
    let chain = rp.ca_chain().await.unwrap();
    rp_client::verify_authentication(
        &started,
        &completed,
        "kaksik",
        "DEMO",
        &chain,
        None,
        h.now(),
    )
    .unwrap();
    Ok(())
}

async fn audit_events(h: &Harness) -> Vec<String> {
    let reports = kaksik_server::admin::accounts(&h.running.server, &mari().semantics_identifier())
        .await
        .unwrap();
    reports[0].audit.iter().map(|e| e.event.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_pin1_logs_in_and_the_old_pin1_is_a_wrong_pin() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    device
        .auth
        .change_pin(KeyRole::Auth, PIN1, NEW_PIN1)
        .await
        .unwrap();
    login_with(&h, &device, NEW_PIN1).await.unwrap();
    assert_eq!(
        login_with(&h, &device, PIN1).await,
        Err(ClientError::WrongPin { attempts_left: 2 })
    );
    // The new PIN is proven again, and the counter starts over.
    login_with(&h, &device, NEW_PIN1).await.unwrap();
    let account = device.auth.account().await.unwrap();
    assert!(account.keys.iter().all(|k| k.failed_attempts == 0));
    assert!(audit_events(&h).await.iter().any(|e| e == "PIN_CHANGED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_pin2_signs_a_document_that_verifies_and_pin1_is_untouched() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    device
        .auth
        .change_pin(KeyRole::Sign, PIN2, NEW_PIN2)
        .await
        .unwrap();
    let rp = h.rp();
    let digest: [u8; 32] = Sha256::digest(b"a contract").into();
    let started = rp
        .sign(&mari_target(), &digest, "Sign the contract")
        .await
        .unwrap();
    let id = device.next_transaction().await;
    assert_eq!(
        device.auth.approve(&id, PIN2).await.map(drop),
        Err(ClientError::WrongPin { attempts_left: 2 })
    );
    device.auth.approve(&id, NEW_PIN2).await.unwrap();
    let completed = rp
        .wait(&started.session_id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(completed.end_result, "OK");
    let chain = rp.ca_chain().await.unwrap();
    rp_client::verify_signature(&digest, &completed, &chain, h.now()).unwrap();
    login_with(&h, &device, PIN1).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_current_pin_is_counted_and_changes_nothing() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    assert_eq!(
        device
            .auth
            .change_pin(KeyRole::Auth, WRONG_PIN1, NEW_PIN1)
            .await,
        Err(ClientError::WrongPin { attempts_left: 2 })
    );
    // The PIN change's transaction is never in the inbox.
    assert!(
        device
            .auth
            .pending_transactions(0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        login_with(&h, &device, NEW_PIN1).await,
        Err(ClientError::WrongPin { attempts_left: 1 })
    );
    login_with(&h, &device, PIN1).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_pin_that_breaks_the_rules_or_repeats_the_old_is_refused_before_any_attempt() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    for (old, new) in [
        (PIN1, &b"1234"[..]),
        (PIN1, &b"12a4"[..]),
        (PIN1, &b"123"[..]),
        (PIN1, PIN1),
        (&b"12"[..], NEW_PIN1),
    ] {
        let outcome = device.auth.change_pin(KeyRole::Auth, old, new).await;
        assert!(
            matches!(outcome, Err(ClientError::InvalidInput { .. })),
            "{outcome:?}"
        );
    }
    let account = device.auth.account().await.unwrap();
    assert!(account.keys.iter().all(|k| k.failed_attempts == 0));
    login_with(&h, &device, PIN1).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_change_transaction_cannot_be_signed_or_shown() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    // A wrong current PIN leaves the PIN change's transaction running;
    // its id is in the server's store, not in the inbox.
    let _ = device
        .auth
        .change_pin(KeyRole::Auth, WRONG_PIN1, NEW_PIN1)
        .await;
    let running = kaksik_server::admin::accounts(&h.running.server, &mari().semantics_identifier())
        .await
        .unwrap();
    let document = running[0].document_number.clone();
    let mut tx = h.running.server.store.begin().await.unwrap();
    let sessions = tx.running_sessions(&document).await.unwrap();
    drop(tx);
    let pin_change = sessions
        .iter()
        .find(|s| s.kind == "PIN_CHANGE")
        .expect("the PIN change is running");
    let outcome = device.auth.transaction(&pin_change.id).await;
    assert!(
        matches!(outcome, Err(ClientError::Server { .. })),
        "{outcome:?}"
    );
    let outcome = device.auth.approve(&pin_change.id, PIN1).await;
    assert!(outcome.is_err(), "a PIN change is not a signature");
}
