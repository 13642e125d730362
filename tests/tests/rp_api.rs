//! The RP API's refusals: every invalid field is a 400 naming the field,
//! an unknown relying party a 401, an unknown person a 404, all as RFC
//! 9457 problem+json.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kaksik_server::rp_client::{RpClient, RpClientError};
use kaksik_tests::{Harness, mari};
use serde_json::{Value, json};

const AUTH: &str = "/v3/authentication/notification/etsi/PNOEE-38001085718";
const SIGN: &str = "/v3/signature/notification/etsi/PNOEE-38001085718";

fn interactions() -> String {
    // [{"type":"displayTextAndPIN","displayText60":"Log in"}]
    "W3sidHlwZSI6ImRpc3BsYXlUZXh0QW5kUElOIiwiZGlzcGxheVRleHQ2MCI6IkxvZyBpbiJ9XQ==".into()
}

fn valid_auth() -> Value {
    json!({
        "relyingPartyUUID": "00000000-0000-4000-8000-000000000000",
        "relyingPartyName": "DEMO",
        "signatureProtocol": "ACSP_V2",
        "signatureProtocolParameters": {
            "rpChallenge": "GYS+yoah6emAcVDNIajwSs6UB/M95XrDxMzXBUkwQJ9YFDipXXzGpPc7raWcuc2+TEoRc7WvIZ/7dU/iRXenYg==",
            "signatureAlgorithm": "rsassa-pss",
            "signatureAlgorithmParameters": { "hashAlgorithm": "SHA3-512" }
        },
        "interactions": interactions(),
    })
}

fn valid_sign() -> Value {
    json!({
        "relyingPartyUUID": "00000000-0000-4000-8000-000000000000",
        "relyingPartyName": "DEMO",
        "signatureProtocol": "RAW_DIGEST_SIGNATURE",
        "signatureProtocolParameters": {
            "digest": "f4OxZX/x/FO5LcGBSKHWXfwtSx+j1ncoSt3SABJtkGk=",
            "signatureAlgorithm": "ecdsa",
            "signatureAlgorithmParameters": { "hashAlgorithm": "SHA-256" }
        },
        "interactions": interactions(),
    })
}

async fn post(rp: &RpClient, path: &str, body: &Value) -> Result<Value, (u16, String)> {
    rp.post_json(path, body).await.map_err(|e| match e {
        RpClientError::Problem { status, detail } => (status, detail),
        other => panic!("not a problem answer: {other}"),
    })
}

/// Sets `pointer` in `body` to `value` (`None` removes it).
fn with(mut body: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let object = body.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(v) => object.insert(key.to_owned(), v),
        None => object.remove(key),
    };
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_field_is_a_400_naming_it() {
    let h = Harness::start().await;
    let _device = h.register(mari()).await;
    let rp = h.rp();
    // The valid requests pass (the v3 client value rsassa-pss included).
    let started = post(&rp, AUTH, &valid_auth()).await.unwrap();
    assert_eq!(started["vc"]["type"], "numeric4");
    assert_eq!(
        started["vc"]["value"], "7180",
        "SK's rpChallenge example gives 7180"
    );
    assert_eq!(
        post(&rp, SIGN, &valid_sign()).await.unwrap()["vc"]["value"],
        "7712"
    );

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            AUTH,
            with(valid_auth(), "/relyingPartyUUID", None),
            "relyingPartyUUID",
        ),
        (
            AUTH,
            with(valid_auth(), "/relyingPartyName", None),
            "relyingPartyName",
        ),
        (
            AUTH,
            with(
                valid_auth(),
                "/signatureProtocol",
                Some(json!("RAW_DIGEST_SIGNATURE")),
            ),
            "signatureProtocol",
        ),
        (
            AUTH,
            with(
                valid_auth(),
                "/signatureProtocolParameters/rpChallenge",
                Some(json!("short")),
            ),
            "rpChallenge",
        ),
        (
            AUTH,
            with(
                valid_auth(),
                "/signatureProtocolParameters/rpChallenge",
                Some(json!("AAAA")),
            ),
            "rpChallenge",
        ),
        (
            AUTH,
            with(
                valid_auth(),
                "/signatureProtocolParameters/signatureAlgorithm",
                Some(json!("sha256WithRSAEncryption")),
            ),
            "signatureAlgorithm",
        ),
        (
            AUTH,
            with(
                valid_auth(),
                "/signatureProtocolParameters/signatureAlgorithmParameters/hashAlgorithm",
                Some(json!("MD5")),
            ),
            "hashAlgorithm",
        ),
        (
            AUTH,
            with(valid_auth(), "/interactions", Some(json!("not base64!"))),
            "interactions",
        ),
        (
            AUTH,
            with(valid_auth(), "/interactions", None),
            "interactions",
        ),
        (
            AUTH,
            with(valid_auth(), "/certificateLevel", Some(json!("GOLD"))),
            "certificateLevel",
        ),
        (
            AUTH,
            with(valid_auth(), "/vcType", Some(json!("alphaNumeric6"))),
            "vcType",
        ),
        (
            SIGN,
            with(
                valid_sign(),
                "/signatureProtocolParameters/digest",
                Some(json!("AAAA")),
            ),
            "digest",
        ),
        (
            SIGN,
            with(
                valid_sign(),
                "/signatureProtocolParameters/signatureAlgorithmParameters/hashAlgorithm",
                Some(json!("SHA-512")),
            ),
            "digest",
        ),
        (
            SIGN,
            with(valid_sign(), "/nonce", Some(json!("x".repeat(31)))),
            "nonce",
        ),
    ];
    for (path, body, field) in cases {
        let (status, detail) = post(&rp, path, &body).await.expect_err(field);
        assert_eq!(status, 400, "{field}: {detail}");
        assert!(
            detail.contains(field),
            "the 400 for {field} names it: {detail}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_relying_party_is_a_401() {
    let h = Harness::start().await;
    let rp = h.rp();
    let stranger = with(
        valid_auth(),
        "/relyingPartyUUID",
        Some(json!("11111111-1111-4111-8111-111111111111")),
    );
    assert_eq!(post(&rp, AUTH, &stranger).await.unwrap_err().0, 401);
    let wrong_name = with(valid_auth(), "/relyingPartyName", Some(json!("NOT DEMO")));
    assert_eq!(post(&rp, AUTH, &wrong_name).await.unwrap_err().0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_person_or_session_is_a_404() {
    let h = Harness::start().await;
    let rp = h.rp();
    let (status, _) = post(
        &rp,
        "/v3/authentication/notification/etsi/PNOEE-30303039914",
        &valid_auth(),
    )
    .await
    .unwrap_err();
    assert_eq!(status, 404);
    let (status, _) = post(
        &rp,
        "/v3/signature/notification/document/PNOEE-30303039914-ABCD-Q",
        &valid_sign(),
    )
    .await
    .unwrap_err();
    assert_eq!(status, 404);
    let missing = rp
        .wait("no-such-session", std::time::Duration::from_secs(5))
        .await;
    assert!(
        matches!(missing, Err(RpClientError::Problem { status: 404, .. })),
        "{missing:?}"
    );
}
