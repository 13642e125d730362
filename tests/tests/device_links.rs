//! Device-link flows end to end (PROTOCOL.md §6): QR codes, Web2App and
//! App2App links, anonymous authentication, certificate choice and the
//! linked signature, code choice, `nonce` idempotency. The real server
//! over TLS on loopback, the real phone client opening the links the real
//! RP client builds, every result checked as an RP must.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use kaksik_core::client::{Authenticator, ClientConfig, ClientError};
use kaksik_core::device_key::SoftwareDeviceKey;
use kaksik_core::protocol::api::TransactionKind;
use kaksik_core::rp::{DeviceLinkType, FlowType, Interaction, InteractionType, Interactions};
use kaksik_core::store::FileStore;
use kaksik_server::rp_client::{self, Completed, LinkSession, RpClient, RpClientError, Target};
use kaksik_tests::{Device, Harness, PIN1, PIN2, mari};
use serde_json::json;
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(60);
const CALLBACK: &str = "https://rp.example/kaksik/callback?state=f3a9";

fn mari_target() -> Target {
    Target::Person(mari().semantics_identifier())
}

async fn finish(h: &Harness, session_id: &str) -> Completed {
    h.rp().wait(session_id, WAIT).await.unwrap()
}

/// Verifies a completed authentication as an RP must, and that it used
/// the flow the link said.
async fn verify_login(h: &Harness, link: &LinkSession, completed: &Completed, flow: FlowType) {
    assert_eq!(completed.end_result, "OK", "{}", completed.body);
    assert_eq!(completed.body["signature"]["flowType"], flow.as_str());
    let chain = h.rp().ca_chain().await.unwrap();
    let signer = rp_client::verify_authentication(
        &link.started,
        completed,
        "kaksik",
        "DEMO",
        &chain,
        Some(&mari().semantics_identifier()),
        h.now(),
    )
    .unwrap();
    assert!(signer.common_name.contains("MAASIKAS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_qr_code_logs_in_anonymously_and_binds_to_the_scanning_phone() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let link = h
        .rp()
        .authenticate_device_link(None, "Log in to DEMO", None)
        .await
        .unwrap();
    // Nothing is in the inbox before the code is scanned.
    assert!(
        device
            .auth
            .pending_transactions(0)
            .await
            .unwrap()
            .is_empty()
    );
    let qr = link.qr_link("eng").unwrap();
    assert!(qr.contains("deviceLinkType=QR&elapsedSeconds="), "{qr}");
    let view = device.auth.open_device_link(&qr).await.unwrap();
    assert_eq!(view.kind, TransactionKind::Authentication);
    assert_eq!(view.rp_name, "DEMO");
    let approved = device.auth.approve(&view.id, PIN1).await.unwrap();
    assert_eq!(approved.callback_url, None, "a QR flow has no way back");
    let completed = finish(&h, &link.started.session_id).await;
    verify_login(&h, &link, &completed, FlowType::Qr).await;
    assert!(completed.document_number.starts_with("PNOEE-38001085718-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_or_future_qr_code_is_refused_and_the_current_one_works() {
    let h = Harness::start_time_travelling().await;
    let device = h.register(mari()).await;
    let link = h
        .rp()
        .authenticate_device_link(None, "Log in to DEMO", None)
        .await
        .unwrap();
    // Drawn at second 0, scanned 30 s later: a photo of an old code.
    let old = link.link(DeviceLinkType::Qr, Some(0), "eng").unwrap();
    h.clock.advance(30);
    let refused = device.auth.open_device_link(&old).await;
    assert!(
        matches!(&refused, Err(ClientError::LinkInvalid { reason }) if reason.contains("stale")),
        "{refused:?}"
    );
    let future = link.link(DeviceLinkType::Qr, Some(90), "eng").unwrap();
    let refused = device.auth.open_device_link(&future).await;
    assert!(
        matches!(&refused, Err(ClientError::LinkInvalid { reason }) if reason.contains("future")),
        "{refused:?}"
    );
    let current = link.link(DeviceLinkType::Qr, Some(30), "eng").unwrap();
    let view = device.auth.open_device_link(&current).await.unwrap();
    device.auth.approve(&view.id, PIN1).await.unwrap();
    let completed = finish(&h, &link.started.session_id).await;
    verify_login(&h, &link, &completed, FlowType::Qr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_link_is_refused_and_the_session_stays_open() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let link = h
        .rp()
        .authenticate_device_link(Some(&mari_target()), "Log in to DEMO", Some(CALLBACK))
        .await
        .unwrap();
    let good = link.link(DeviceLinkType::Web2App, None, "eng").unwrap();
    let (unprotected, auth_code) = good.rsplit_once("&authCode=").unwrap();
    let mut flipped = auth_code.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let tampered = [
        // Another authCode.
        format!(
            "{unprotected}&authCode={}",
            String::from_utf8(flipped).unwrap()
        ),
        // Another flow type under the same authCode.
        good.replace("deviceLinkType=Web2App", "deviceLinkType=App2App"),
        // Another language under the same authCode.
        good.replace("lang=eng", "lang=est"),
    ];
    for link_text in &tampered {
        let refused = device.auth.open_device_link(link_text).await;
        assert!(
            matches!(refused, Err(ClientError::LinkInvalid { .. })),
            "{link_text}: {refused:?}"
        );
    }
    // Malformed on the phone already: nothing sent.
    let refused = device
        .auth
        .open_device_link("https://x/device-link?a=b")
        .await;
    assert!(
        matches!(refused, Err(ClientError::LinkInvalid { .. })),
        "{refused:?}"
    );
    // The untouched link still works.
    let view = device.auth.open_device_link(&good).await.unwrap();
    device.auth.approve(&view.id, PIN1).await.unwrap();
    assert_eq!(finish(&h, &link.started.session_id).await.end_result, "OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web2app_login_returns_a_callback_the_rp_can_verify() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let link = h
        .rp()
        .authenticate_device_link(Some(&mari_target()), "Log in to DEMO", Some(CALLBACK))
        .await
        .unwrap();
    let web2app = link.link(DeviceLinkType::Web2App, None, "eng").unwrap();
    let view = device.auth.open_device_link(&web2app).await.unwrap();
    let approved = device.auth.approve(&view.id, PIN1).await.unwrap();
    let callback = approved.callback_url.expect("a same-device flow returns");
    assert!(callback.starts_with(&format!("{CALLBACK}&sessionSecretDigest=")));
    assert!(callback.contains("&userChallengeVerifier="));
    let completed = finish(&h, &link.started.session_id).await;
    verify_login(&h, &link, &completed, FlowType::Web2App).await;
    link.verify_callback(&callback, &completed).unwrap();

    // What an RP must refuse: a callback of another session, or one whose
    // verifier does not hash to the signed userChallenge.
    let other = h
        .rp()
        .authenticate_device_link(Some(&mari_target()), "Log in", Some(CALLBACK))
        .await
        .unwrap();
    assert!(matches!(
        other.verify_callback(&callback, &completed),
        Err(RpClientError::Verification(_))
    ));
    let (before, _) = callback.split_once("&userChallengeVerifier=").unwrap();
    let forged = format!(
        "{before}&userChallengeVerifier={}",
        kaksik_core::rp::new_user_challenge_verifier()
    );
    assert!(matches!(
        link.verify_callback(&forged, &completed),
        Err(RpClientError::Verification(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app2app_signature_returns_a_callback_without_a_verifier() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let digest: [u8; 32] = Sha256::digest(b"a contract").into();
    let link = h
        .rp()
        .sign_device_link(&mari_target(), &digest, "Sign the contract", Some(CALLBACK))
        .await
        .unwrap();
    let app2app = link.link(DeviceLinkType::App2App, None, "eng").unwrap();
    let view = device.auth.open_device_link(&app2app).await.unwrap();
    assert_eq!(view.kind, TransactionKind::Signature);
    assert_eq!(
        view.verification_code.as_deref(),
        Some(link.started.vc.as_str())
    );
    let approved = device.auth.approve(&view.id, PIN2).await.unwrap();
    let callback = approved.callback_url.unwrap();
    assert!(!callback.contains("userChallengeVerifier"));
    let completed = finish(&h, &link.started.session_id).await;
    link.verify_callback(&callback, &completed).unwrap();
    let chain = h.rp().ca_chain().await.unwrap();
    rp_client::verify_signature(&digest, &completed, &chain, h.now()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_link_session_belongs_to_the_first_phone_that_opens_it() {
    let h = Harness::start().await;
    let mari_phone = h.register(mari()).await;
    let mut jaan = mari();
    jaan.national_id = "39001010002".into();
    jaan.given_name = "JAAN".into();
    jaan.surname = "TAMM".into();
    let jaan_phone = h.register(jaan).await;
    let link = h
        .rp()
        .authenticate_device_link(None, "Log in to DEMO", None)
        .await
        .unwrap();
    let qr = link.qr_link("eng").unwrap();
    let view = mari_phone.auth.open_device_link(&qr).await.unwrap();
    let refused = jaan_phone.auth.open_device_link(&qr).await;
    assert!(
        matches!(refused, Err(ClientError::Server { .. })),
        "{refused:?}"
    );
    // Opening it again on the same phone is harmless.
    assert_eq!(
        mari_phone.auth.open_device_link(&qr).await.unwrap().id,
        view.id
    );
    // A person-targeted device link is only for that person's phone.
    let for_mari = h
        .rp()
        .authenticate_device_link(Some(&mari_target()), "Log in", None)
        .await
        .unwrap();
    let refused = jaan_phone
        .auth
        .open_device_link(&for_mari.qr_link("eng").unwrap())
        .await;
    assert!(
        matches!(refused, Err(ClientError::Server { .. })),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_choice_then_the_linked_signature_verifies_under_the_chosen_certificate() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let rp = h.rp();
    let choice = rp.certificate_choice_device_link(None).await.unwrap();
    let view = device
        .auth
        .open_device_link(&choice.qr_link("eng").unwrap())
        .await
        .unwrap();
    assert_eq!(view.kind, TransactionKind::CertificateChoice);
    assert!(matches!(
        device.auth.approve(&view.id, PIN2).await,
        Err(ClientError::InvalidInput { .. })
    ));
    device.auth.share_certificate(&view.id).await.unwrap();
    let chosen = finish(&h, &choice.started.session_id).await;
    assert_eq!(chosen.end_result, "OK");
    assert!(chosen.body.get("signature").is_none());
    let document = chosen.document_number.clone();
    let cert = chosen.body["cert"]["value"].as_str().unwrap().to_owned();
    // The certificate query answers the same certificate.
    let queried = rp.signing_certificate(&document).await.unwrap();
    assert_eq!(kaksik_core::rp::encoding::encode_std(&queried), cert);

    let digest: [u8; 32] = Sha256::digest(b"the document").into();
    let started = rp
        .sign_linked(&document, &choice.started.session_id, &digest, "Sign it")
        .await
        .unwrap();
    let id = device.next_transaction().await;
    device.auth.approve(&id, PIN2).await.unwrap();
    let signed = finish(&h, &started.session_id).await;
    let chain = rp.ca_chain().await.unwrap();
    rp_client::verify_signature(&digest, &signed, &chain, h.now()).unwrap();
    assert_eq!(signed.body["cert"]["value"], cert.as_str());

    // A linked signature needs a completed certificate choice.
    let refused = rp
        .sign_linked(&document, &started.session_id, &digest, "Sign it")
        .await;
    assert!(
        matches!(&refused, Err(RpClientError::Problem { status: 400, detail }) if detail.starts_with("linkedSessionID")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_certificate_choice_ends_with_user_refused_cert_choice() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let session = h.rp().certificate_choice(&mari_target()).await.unwrap();
    let id = device.next_transaction().await;
    assert_eq!(
        device.auth.transaction(&id).await.unwrap().kind,
        TransactionKind::CertificateChoice
    );
    device.auth.decline(&id).await.unwrap();
    assert_eq!(
        finish(&h, &session).await.end_result,
        "USER_REFUSED_CERT_CHOICE"
    );
}

fn code_choice_interactions() -> String {
    Interactions::new(vec![
        Interaction::ConfirmationMessageAndVerificationCodeChoice {
            display_text200: "Confirm the payment of 12.50 EUR to DEMO".into(),
        },
    ])
    .unwrap()
    .base64()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_code_picked_logs_in_and_a_wrong_one_ends_with_wrong_vc() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let rp = h.rp();

    let started = rp
        .authenticate_with(&mari_target(), &code_choice_interactions())
        .await
        .unwrap();
    let id = device.next_transaction().await;
    let view = device.auth.transaction(&id).await.unwrap();
    assert_eq!(view.verification_code, None, "the person must compare");
    let choices = view.code_choice.unwrap();
    assert_eq!(choices.len(), 3);
    assert!(choices.contains(&started.vc));
    device
        .auth
        .approve_with_code(&id, PIN1, &started.vc)
        .await
        .unwrap();
    let completed = finish(&h, &started.session_id).await;
    assert_eq!(
        completed.body["interactionTypeUsed"],
        InteractionType::ConfirmationMessageAndVerificationCodeChoice.as_str()
    );
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

    let started = rp
        .authenticate_with(&mari_target(), &code_choice_interactions())
        .await
        .unwrap();
    let id = device.next_transaction().await;
    let choices = device
        .auth
        .transaction(&id)
        .await
        .unwrap()
        .code_choice
        .unwrap();
    let wrong = choices.iter().find(|c| **c != started.vc).unwrap();
    assert_eq!(
        device
            .auth
            .approve_with_code(&id, PIN1, wrong)
            .await
            .map(drop),
        Err(ClientError::WrongVerificationCode)
    );
    assert_eq!(finish(&h, &started.session_id).await.end_result, "WRONG_VC");
    // No PIN attempt was spent on it.
    let account = device.auth.account().await.unwrap();
    assert!(account.keys.iter().all(|k| k.failed_attempts == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_cannot_show_any_interaction_declines_with_the_reason() {
    let h = Harness::start().await;
    let device: Device = h.register(mari()).await;
    // The same home, in an app that shows only displayTextAndPIN.
    let store = Arc::new(FileStore::open(device.home.path()).unwrap());
    let key = Arc::new(SoftwareDeviceKey::load_or_create(store.as_ref(), "device-key").unwrap());
    let mut config = ClientConfig::new(&h.running.url, &h.running.spki_pin);
    config.supported_interactions = vec![InteractionType::DisplayTextAndPin];
    let limited = Authenticator::new(config, store, key).unwrap();

    let started = h
        .rp()
        .authenticate_with(&mari_target(), &code_choice_interactions())
        .await
        .unwrap();
    let id = device.next_transaction().await;
    assert_eq!(
        limited.transaction(&id).await,
        Err(ClientError::InteractionNotSupported)
    );
    assert_eq!(
        finish(&h, &started.session_id).await.end_result,
        "REQUIRED_INTERACTION_NOT_SUPPORTED_BY_APP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_signature_nonce_within_15_seconds_returns_the_same_session() {
    let h = Harness::start_time_travelling().await;
    let _device = h.register(mari()).await;
    let rp: RpClient = h.rp();
    let digest: [u8; 32] = Sha256::digest(b"once").into();
    let body = json!({
        "relyingPartyUUID": kaksik_server::app::DEMO_RP_UUID,
        "relyingPartyName": "DEMO",
        "signatureProtocol": "RAW_DIGEST_SIGNATURE",
        "signatureProtocolParameters": {
            "digest": kaksik_core::rp::encoding::encode_std(&digest),
            "signatureAlgorithm": "ecdsa",
            "signatureAlgorithmParameters": { "hashAlgorithm": "SHA-256" },
        },
        "nonce": "retry-7",
        "interactions": RpClient::interactions("Sign").unwrap(),
    });
    let path = format!(
        "/v3/signature/notification/etsi/{}",
        mari().semantics_identifier()
    );
    let first = rp.post_json(&path, &body).await.unwrap();
    h.clock.advance(10);
    let again = rp.post_json(&path, &body).await.unwrap();
    assert_eq!(first, again, "a retry within 15 s is the same session");
    h.clock.advance(6);
    let later = rp.post_json(&path, &body).await.unwrap();
    assert_ne!(later["sessionID"], first["sessionID"]);
    // Authentications are not idempotent by nonce: SK scopes it to
    // signature and certificate-choice requests.
    let cert_body = json!({
        "relyingPartyUUID": kaksik_server::app::DEMO_RP_UUID,
        "relyingPartyName": "DEMO",
        "nonce": "cert-1",
    });
    let cert_path = "/v3/signature/certificate-choice/device-link/anonymous";
    let first = rp.post_json(cert_path, &cert_body).await.unwrap();
    let again = rp.post_json(cert_path, &cert_body).await.unwrap();
    assert_eq!(first["sessionID"], again["sessionID"]);
    assert_eq!(first["sessionSecret"], again["sessionSecret"]);
}
