//! Every vector in `shared/vectors/smartid-rp-v3.json` (values from SK's RP
//! API v2/v3 documentation), read at test time and checked against
//! `kaksik_core::vc` and `kaksik_core::rp`. No value is copied into this
//! file: a vector added to the JSON is tested without touching the code, and
//! a section this file does not know fails the run instead of being skipped.

// A test crate fails by panicking; clippy only exempts #[test] functions,
// not the helpers they share.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use kaksik_core::rp::{
    AcspV2, AuthCodeBinding, CallbackValues, DeviceLink, HashAlgorithm, ParsedDeviceLink,
    RpErrorKind, SessionSecret, callback_url, encoding, session_secret_digest, user_challenge,
};
use kaksik_core::vc::{digest_code, rp_challenge_code};
use serde_json::{Map, Value};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/smartid-rp-v3.json"
);

/// Sections this file checks; each must exist and be non-empty.
const SECTIONS: [&str; 6] = [
    "digest_codes",
    "rp_challenge_codes",
    "auth_codes",
    "acsp_v2",
    "session_secret_digests",
    "user_challenges",
];

fn vectors() -> Map<String, Value> {
    let path = Path::new(VECTORS);
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read the RP test vectors at {} ({e}); the shared/ directory must sit beside \
             the repository clone (…/main and …/shared)",
            path.display()
        )
    });
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        other => panic!("{} is not a JSON object: {other:?}", path.display()),
    }
}

fn section(name: &str) -> Vec<Map<String, Value>> {
    let all = vectors();
    let entries = all
        .get(name)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("vector file has no array {name:?}"));
    assert!(!entries.is_empty(), "vector section {name:?} is empty");
    entries
        .iter()
        .map(|e| {
            e.as_object()
                .cloned()
                .unwrap_or_else(|| panic!("{name}: entry is not an object: {e}"))
        })
        .collect()
}

fn s<'a>(entry: &'a Map<String, Value>, key: &str) -> &'a str {
    entry.get(key).and_then(Value::as_str).unwrap_or_else(|| {
        panic!(
            "vector {:?} has no string {key:?}",
            entry.get("description")
        )
    })
}

fn describe(entry: &Map<String, Value>) -> &str {
    entry
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("(no description)")
}

fn b64(text: &str) -> Vec<u8> {
    encoding::decode_std("vector", text, 0..=4096).unwrap()
}

#[test]
fn vector_file_has_exactly_the_known_sections() {
    let all = vectors();
    for (key, value) in &all {
        if value.is_array() {
            assert!(
                SECTIONS.contains(&key.as_str()),
                "vector section {key:?} is not tested here"
            );
        }
    }
    for name in SECTIONS {
        section(name);
    }
}

#[test]
fn digest_codes() {
    for v in section("digest_codes") {
        let code = digest_code(&b64(s(&v, "digest_b64")));
        assert_eq!(code.to_string(), s(&v, "code"), "{}", describe(&v));
    }
}

#[test]
fn rp_challenge_codes() {
    for v in section("rp_challenge_codes") {
        let code = rp_challenge_code(&b64(s(&v, "rp_challenge_b64")));
        assert_eq!(code.to_string(), s(&v, "code"), "{}", describe(&v));
    }
}

fn link_of(v: &Map<String, Value>) -> DeviceLink {
    let elapsed = match v.get("elapsed_seconds") {
        Some(Value::Null) | None => None,
        Some(n) => Some(
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or_else(|| panic!("{}: bad elapsed_seconds {n}", describe(v))),
        ),
    };
    DeviceLink {
        base: s(v, "device_link_base").into(),
        link_type: s(v, "device_link_type").parse().unwrap(),
        elapsed_seconds: elapsed,
        session_token: s(v, "session_token").into(),
        session_type: s(v, "session_type").parse().unwrap(),
        lang: s(v, "lang").into(),
    }
}

fn binding_of(v: &Map<String, Value>) -> AuthCodeBinding {
    let protocol = s(v, "signature_protocol");
    AuthCodeBinding {
        scheme: s(v, "scheme").into(),
        signature_protocol: (!protocol.is_empty()).then(|| protocol.parse().unwrap()),
        rp_challenge_or_digest: s(v, "rp_challenge_or_digest").into(),
        rp_name: s(v, "relying_party_name").into(),
        brokered_rp_name: s(v, "brokered_rp_name").into(),
        interactions: s(v, "interactions_b64").into(),
        initial_callback_url: s(v, "initial_callback_url").into(),
    }
}

#[test]
fn auth_codes_build_byte_exact() {
    for v in section("auth_codes") {
        let name = describe(&v);
        let (link, binding) = (link_of(&v), binding_of(&v));
        let secret = SessionSecret::from_base64(s(&v, "session_secret_b64")).unwrap();
        assert_eq!(
            link.unprotected().unwrap(),
            s(&v, "unprotected_device_link"),
            "{name}"
        );
        assert_eq!(
            link.auth_code(&secret, &binding).unwrap(),
            s(&v, "auth_code"),
            "{name}"
        );
        assert_eq!(
            link.build(&secret, &binding).unwrap(),
            s(&v, "device_link"),
            "{name}"
        );
    }
}

#[test]
fn auth_codes_parse_and_verify() {
    for v in section("auth_codes") {
        let name = describe(&v);
        let secret = SessionSecret::from_base64(s(&v, "session_secret_b64")).unwrap();
        let parsed = ParsedDeviceLink::parse(s(&v, "device_link")).unwrap();
        assert_eq!(parsed.link(), &link_of(&v), "{name}");
        assert_eq!(
            parsed.unprotected(),
            s(&v, "unprotected_device_link"),
            "{name}"
        );
        assert_eq!(parsed.auth_code(), s(&v, "auth_code"), "{name}");
        assert_eq!(parsed.verify(&secret, &binding_of(&v)), Ok(()), "{name}");
    }
}

#[test]
fn auth_codes_with_any_one_bit_flipped_are_refused() {
    for v in section("auth_codes") {
        let name = describe(&v);
        let secret = SessionSecret::from_base64(s(&v, "session_secret_b64")).unwrap();
        let tag = encoding::decode_url("authCode", s(&v, "auth_code"), 32..=32).unwrap();
        for bit in 0..tag.len() * 8 {
            let mut bad = tag.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let link = format!(
                "{}&authCode={}",
                s(&v, "unprotected_device_link"),
                encoding::encode_url(&bad)
            );
            let parsed = ParsedDeviceLink::parse(&link).unwrap();
            let err = parsed.verify(&secret, &binding_of(&v)).unwrap_err();
            assert_eq!(err.kind(), &RpErrorKind::Mismatch, "{name}, bit {bit}");
        }
    }
}

#[test]
fn acsp_v2_message_and_digest() {
    for v in section("acsp_v2") {
        let name = describe(&v);
        let acsp = AcspV2 {
            scheme: s(&v, "scheme").into(),
            server_random: s(&v, "server_random").into(),
            rp_challenge: s(&v, "rp_challenge_b64").into(),
            user_challenge: s(&v, "user_challenge").into(),
            rp_name: s(&v, "relying_party_name").into(),
            brokered_rp_name: s(&v, "brokered_rp_name").into(),
            interactions: s(&v, "interactions_b64").into(),
            interaction_type_used: s(&v, "interaction_type_used").parse().unwrap(),
            initial_callback_url: s(&v, "initial_callback_url").into(),
            flow_type: s(&v, "flow_type").parse().unwrap(),
        };
        let hash: HashAlgorithm = s(&v, "hash_algorithm").parse().unwrap();
        assert_eq!(acsp.message().unwrap(), s(&v, "message"), "{name}");
        assert_eq!(
            encoding::encode_std(&acsp.digest(hash).unwrap()),
            s(&v, "digest_b64"),
            "{name}"
        );
    }
}

#[test]
fn session_secret_digests() {
    for v in section("session_secret_digests") {
        let secret = SessionSecret::from_base64(s(&v, "session_secret_b64")).unwrap();
        assert_eq!(
            session_secret_digest(&secret),
            s(&v, "session_secret_digest"),
            "{}",
            describe(&v)
        );
    }
}

#[test]
fn user_challenges() {
    for v in section("user_challenges") {
        assert_eq!(
            user_challenge(s(&v, "user_challenge_verifier")),
            s(&v, "user_challenge"),
            "{}",
            describe(&v)
        );
    }
}

#[test]
fn callback_built_from_vector_values_passes_the_rp_check() {
    // Joins three sections: the phone appends the documented digest and
    // verifier to a documented callback URL, the RP checks them against its
    // secret and the documented userChallenge.
    let initials: Vec<String> = section("auth_codes")
        .iter()
        .map(|v| s(v, "initial_callback_url").to_owned())
        .filter(|url| !url.is_empty())
        .collect();
    assert!(
        !initials.is_empty(),
        "no auth_codes vector has a callback URL"
    );
    for initial in &initials {
        for d in section("session_secret_digests") {
            let secret = SessionSecret::from_base64(s(&d, "session_secret_b64")).unwrap();
            for u in section("user_challenges") {
                let verifier = s(&u, "user_challenge_verifier");
                let url = callback_url(initial, &secret, Some(verifier)).unwrap();
                let values = CallbackValues::parse(&url).unwrap();
                assert_eq!(
                    values.session_secret_digest(),
                    s(&d, "session_secret_digest")
                );
                assert_eq!(values.user_challenge_verifier(), Some(verifier));
                assert_eq!(
                    values.verify(&secret, Some(s(&u, "user_challenge"))),
                    Ok(())
                );
            }
        }
    }
}
