//! Device keys and signed device requests (PROTOCOL.md §1, §5): what the
//! device signs, what the server accepts, and everything it refuses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kaksik_core::crypto::channel::{ProtocolKey, seal_request};
use kaksik_core::device_key::{
    DeviceKey, DeviceKeyError, SoftwareDeviceKey, device_id, verify_device_signature,
};
use kaksik_core::protocol::request_auth::{
    DEFAULT_MAX_SKEW_SECS, HEADER_CLIENT_VERSION, HEADER_DEVICE, HEADER_NONCE, HEADER_SIGNATURE,
    HEADER_TIMESTAMP, RequestAuthError, RequestToSign, SignedHeaders, fresh_nonce, sign_request,
};
use kaksik_core::store::{FileStore, SecureStore};
use p256::ecdsa::Signature;
use p256::elliptic_curve::PrimeField;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const NOW: i64 = 1_760_000_000;
const METHOD: &str = "POST";
const PATH: &str = "/v1/transactions/42/sign?round=2";
const BODY: &[u8] = br#"{"v":1,"ct":"..."}"#;
const VERSION: &str = "0.1.0";

/// One device and the request it signs, owned so tests can vary fields.
struct Fixture {
    key: SoftwareDeviceKey,
    public_key: Vec<u8>,
    device_id: String,
    nonce: [u8; 16],
}

impl Fixture {
    fn new() -> Self {
        let key = SoftwareDeviceKey::generate();
        let public_key = key.public_key().unwrap();
        let device_id = device_id(&public_key).unwrap();
        Self {
            key,
            public_key,
            device_id,
            nonce: fresh_nonce(),
        }
    }

    fn request(&self) -> RequestToSign<'_> {
        RequestToSign {
            method: METHOD,
            path_and_query: PATH,
            body: BODY,
            timestamp: NOW,
            nonce: self.nonce,
            device_id: &self.device_id,
            client_version: VERSION,
        }
    }

    fn headers(&self) -> HashMap<String, String> {
        header_map(&sign_request(&self.key, &self.request()).unwrap())
    }

    fn verify(&self, headers: &HashMap<String, String>) -> Result<(), RequestAuthError> {
        parse(headers)?
            .verify(
                &self.public_key,
                METHOD,
                PATH,
                BODY,
                NOW,
                DEFAULT_MAX_SKEW_SECS,
            )
            .map(|_| ())
    }
}

/// Header names lower-cased, as an HTTP stack stores them.
fn header_map(headers: &SignedHeaders) -> HashMap<String, String> {
    headers
        .to_header_values()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect()
}

fn parse(headers: &HashMap<String, String>) -> Result<SignedHeaders, RequestAuthError> {
    SignedHeaders::parse(|name| headers.get(&name.to_ascii_lowercase()).cloned())
}

fn with(headers: &HashMap<String, String>, name: &str, value: &str) -> HashMap<String, String> {
    let mut changed = headers.clone();
    changed.insert(name.to_ascii_lowercase(), value.to_owned());
    changed
}

// ---- device key ----

#[test]
fn a_public_key_is_65_bytes_uncompressed_and_its_id_is_its_hash() {
    let fixture = Fixture::new();
    assert_eq!(fixture.public_key.len(), 65);
    assert_eq!(fixture.public_key[0], 0x04);
    assert_eq!(
        fixture.device_id,
        URL_SAFE_NO_PAD.encode(Sha256::digest(&fixture.public_key))
    );
    assert_eq!(fixture.device_id.len(), 43);
}

#[test]
fn a_device_id_exists_only_for_an_uncompressed_point_on_the_curve() {
    let fixture = Fixture::new();
    let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&fixture.public_key).unwrap();
    let compressed = verifying.to_sec1_point(true).as_bytes().to_vec();
    let mut off_curve = fixture.public_key.clone();
    off_curve[64] ^= 1;
    for bad in [
        &compressed[..],
        &off_curve,
        &[0u8][..],
        &[][..],
        &[0x04; 65],
    ] {
        assert!(matches!(
            device_id(bad),
            Err(DeviceKeyError::InvalidPublicKey)
        ));
    }
}

#[test]
fn a_device_signature_is_der_and_verifies() {
    let fixture = Fixture::new();
    let signature = fixture.key.sign(b"message").unwrap();
    assert_eq!(signature[0], 0x30, "DER SEQUENCE");
    verify_device_signature(&fixture.public_key, b"message", &signature).unwrap();
}

#[test]
fn a_device_signature_does_not_verify_for_another_message_or_key() {
    let fixture = Fixture::new();
    let other = Fixture::new();
    let signature = fixture.key.sign(b"message").unwrap();
    assert!(matches!(
        verify_device_signature(&fixture.public_key, b"massage", &signature),
        Err(DeviceKeyError::BadSignature)
    ));
    assert!(matches!(
        verify_device_signature(&other.public_key, b"message", &signature),
        Err(DeviceKeyError::BadSignature)
    ));
}

#[test]
fn a_high_s_signature_is_accepted_like_android_keystore_makes_them() {
    let fixture = Fixture::new();
    let der = fixture.key.sign(b"message").unwrap();
    let signature = Signature::from_der(&der).unwrap();
    let (r, s) = signature.split_scalars();
    let flipped = Signature::from_scalars(r.to_repr(), (-*s).to_repr()).unwrap();
    let (low, high) = match signature.normalize_s() == signature {
        true => (signature, flipped),
        false => (flipped, signature),
    };
    for form in [low, high] {
        verify_device_signature(&fixture.public_key, b"message", form.to_der().as_bytes()).unwrap();
    }
}

#[test]
fn a_signature_that_is_not_strict_der_is_malformed() {
    let fixture = Fixture::new();
    let der = fixture.key.sign(b"message").unwrap();
    let raw = Signature::from_der(&der).unwrap().to_bytes().to_vec();
    let mut trailing = der.clone();
    trailing.push(0);
    for bad in [&raw[..], &trailing, &[][..], &der[..der.len() - 1]] {
        assert!(matches!(
            verify_device_signature(&fixture.public_key, b"message", bad),
            Err(DeviceKeyError::MalformedSignature)
        ));
    }
}

#[test]
fn a_software_key_round_trips_through_pkcs8() {
    let key = SoftwareDeviceKey::generate();
    let der = key.to_pkcs8_der().unwrap();
    let restored = SoftwareDeviceKey::from_pkcs8_der(der.expose()).unwrap();
    let public_key = key.public_key().unwrap();
    assert_eq!(restored.public_key().unwrap(), public_key);
    let signature = restored.sign(b"after restore").unwrap();
    verify_device_signature(&public_key, b"after restore", &signature).unwrap();
}

#[test]
fn bytes_that_are_not_pkcs8_are_not_a_key() {
    for bad in [&b""[..], b"not a key", &[0x30, 0x00]] {
        assert!(matches!(
            SoftwareDeviceKey::from_pkcs8_der(bad),
            Err(DeviceKeyError::InvalidPrivateKey)
        ));
    }
}

#[test]
fn load_or_create_creates_once_then_loads_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let first = SoftwareDeviceKey::load_or_create(&store, "device-key").unwrap();
    let second = SoftwareDeviceKey::load_or_create(&store, "device-key").unwrap();
    assert_eq!(first.public_key().unwrap(), second.public_key().unwrap());
    assert!(store.get("device-key").unwrap().is_some());
}

#[test]
fn a_corrupted_stored_key_is_an_error_and_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.put("device-key", b"corrupted").unwrap();
    assert!(matches!(
        SoftwareDeviceKey::load_or_create(&store, "device-key"),
        Err(DeviceKeyError::InvalidPrivateKey)
    ));
    assert_eq!(
        store.get("device-key").unwrap().as_deref(),
        Some(&b"corrupted"[..])
    );
}

#[test]
fn load_or_create_refuses_an_invalid_store_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert!(matches!(
        SoftwareDeviceKey::load_or_create(&store, "Device Key"),
        Err(DeviceKeyError::Store(_))
    ));
}

#[test]
fn a_software_key_debug_shows_its_id_and_no_secret() {
    let key = SoftwareDeviceKey::generate();
    let id = device_id(&key.public_key().unwrap()).unwrap();
    let der = key.to_pkcs8_der().unwrap();
    let secret = {
        use p256::pkcs8::DecodePrivateKey;
        p256::SecretKey::from_pkcs8_der(der.expose())
            .unwrap()
            .to_bytes()
    };
    let debug = format!("{key:?}");
    assert!(debug.contains(&id), "{debug}");
    assert!(!debug.contains(&hex::encode(secret)));
    assert!(!debug.contains(&format!("{:?}", secret.as_slice())));
}

// ---- signed requests ----

#[test]
fn a_signed_request_verifies() {
    let fixture = Fixture::new();
    let headers = parse(&fixture.headers()).unwrap();
    let verified = headers
        .verify(
            &fixture.public_key,
            METHOD,
            PATH,
            BODY,
            NOW,
            DEFAULT_MAX_SKEW_SECS,
        )
        .unwrap();
    assert_eq!(verified.device_id(), fixture.device_id);
    assert_eq!(verified.nonce(), &fixture.nonce);
    assert_eq!(verified.timestamp(), NOW);
    assert_eq!(headers.client_version(), VERSION);
}

#[test]
fn the_signature_is_over_the_canonical_bytes() {
    let fixture = Fixture::new();
    let signed = sign_request(&fixture.key, &fixture.request()).unwrap();
    let signature = URL_SAFE_NO_PAD
        .decode(&header_map(&signed)["kaksik-signature"])
        .unwrap();
    let message = fixture.request().canonical_bytes().unwrap();
    verify_device_signature(&fixture.public_key, &message, &signature).unwrap();
}

#[test]
fn the_headers_are_sent_in_their_strict_form() {
    let fixture = Fixture::new();
    let headers = fixture.headers();
    assert_eq!(headers["kaksik-device"], fixture.device_id);
    assert_eq!(headers["kaksik-timestamp"], NOW.to_string());
    assert_eq!(headers["kaksik-nonce"].len(), 22);
    assert_eq!(headers["kaksik-client-version"], VERSION);
    assert!(!headers["kaksik-signature"].contains('='));
}

#[test]
fn another_method_path_or_body_fails() {
    let fixture = Fixture::new();
    let headers = parse(&fixture.headers()).unwrap();
    let key = &fixture.public_key;
    let cases: [(&str, &str, &[u8]); 5] = [
        ("PUT", PATH, BODY),
        (METHOD, "/v1/transactions/43/sign?round=2", BODY),
        (METHOD, "/v1/transactions/42/sign?round=3", BODY),
        (METHOD, PATH, br#"{"v":1,"ct":"..!"}"#),
        (METHOD, PATH, b""),
    ];
    for (method, path, body) in cases {
        assert!(
            matches!(
                headers.verify(key, method, path, body, NOW, DEFAULT_MAX_SKEW_SECS),
                Err(RequestAuthError::BadSignature)
            ),
            "{method} {path}"
        );
    }
}

#[test]
fn another_timestamp_nonce_or_client_version_fails() {
    let fixture = Fixture::new();
    let headers = fixture.headers();
    let other_nonce = URL_SAFE_NO_PAD.encode(fresh_nonce());
    let tampered = [
        with(&headers, HEADER_TIMESTAMP, &(NOW + 1).to_string()),
        with(&headers, HEADER_NONCE, &other_nonce),
        with(&headers, HEADER_CLIENT_VERSION, "0.1.1"),
    ];
    for headers in tampered {
        assert!(matches!(
            fixture.verify(&headers),
            Err(RequestAuthError::BadSignature)
        ));
    }
}

#[test]
fn another_device_id_fails() {
    let fixture = Fixture::new();
    let other = Fixture::new();
    let headers = with(&fixture.headers(), HEADER_DEVICE, &other.device_id);
    // The server looks the key up by the claimed id: the other device's
    // key does not verify this device's signature…
    let parsed = parse(&headers).unwrap();
    assert!(matches!(
        parsed.verify(
            &other.public_key,
            METHOD,
            PATH,
            BODY,
            NOW,
            DEFAULT_MAX_SKEW_SECS
        ),
        Err(RequestAuthError::BadSignature)
    ));
    // …and this device's key is not the claimed device's.
    assert!(matches!(
        fixture.verify(&headers),
        Err(RequestAuthError::DeviceMismatch)
    ));
}

#[test]
fn a_tampered_signature_fails() {
    let fixture = Fixture::new();
    let headers = fixture.headers();
    let mut signature = URL_SAFE_NO_PAD
        .decode(&headers["kaksik-signature"])
        .unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 1;
    let tampered = with(
        &headers,
        HEADER_SIGNATURE,
        &URL_SAFE_NO_PAD.encode(&signature),
    );
    assert!(matches!(
        fixture.verify(&tampered),
        Err(RequestAuthError::BadSignature)
    ));
    let not_der = with(&headers, HEADER_SIGNATURE, "AAAA");
    assert!(matches!(
        fixture.verify(&not_der),
        Err(RequestAuthError::BadSignature)
    ));
}

#[test]
fn timestamps_exactly_300_seconds_off_are_accepted() {
    let fixture = Fixture::new();
    let headers = parse(&fixture.headers()).unwrap();
    for now in [NOW - 300, NOW + 300, NOW] {
        headers
            .verify(
                &fixture.public_key,
                METHOD,
                PATH,
                BODY,
                now,
                DEFAULT_MAX_SKEW_SECS,
            )
            .unwrap();
    }
}

#[test]
fn timestamps_301_seconds_off_are_refused() {
    let fixture = Fixture::new();
    let headers = parse(&fixture.headers()).unwrap();
    for now in [NOW - 301, NOW + 301, 0, i64::MAX, i64::MIN] {
        assert!(matches!(
            headers.verify(
                &fixture.public_key,
                METHOD,
                PATH,
                BODY,
                now,
                DEFAULT_MAX_SKEW_SECS
            ),
            Err(RequestAuthError::TimestampOutOfWindow { timestamp: NOW, now: n }) if n == now
        ));
    }
}

#[test]
fn a_negative_skew_allows_only_the_exact_second() {
    let fixture = Fixture::new();
    let headers = parse(&fixture.headers()).unwrap();
    let verify = |now| headers.verify(&fixture.public_key, METHOD, PATH, BODY, now, -5);
    verify(NOW).unwrap();
    assert!(verify(NOW + 1).is_err());
}

#[test]
fn the_nonce_must_be_remembered_until_the_window_closes() {
    let fixture = Fixture::new();
    let verified = parse(&fixture.headers())
        .unwrap()
        .verify(
            &fixture.public_key,
            METHOD,
            PATH,
            BODY,
            NOW,
            DEFAULT_MAX_SKEW_SECS,
        )
        .unwrap();
    assert_eq!(
        verified.remember_nonce_until(DEFAULT_MAX_SKEW_SECS),
        NOW + 300
    );
}

#[test]
fn each_missing_header_is_named() {
    let fixture = Fixture::new();
    let headers = fixture.headers();
    for name in [
        HEADER_DEVICE,
        HEADER_TIMESTAMP,
        HEADER_NONCE,
        HEADER_SIGNATURE,
        HEADER_CLIENT_VERSION,
    ] {
        let mut missing = headers.clone();
        missing.remove(&name.to_ascii_lowercase());
        assert!(
            matches!(parse(&missing), Err(RequestAuthError::MissingHeader(n)) if n == name),
            "{name}"
        );
    }
}

#[test]
fn each_malformed_header_is_named() {
    let fixture = Fixture::new();
    let headers = fixture.headers();
    let nonce = headers["kaksik-nonce"].clone();
    let signature = headers["kaksik-signature"].clone();
    let id = fixture.device_id.clone();
    let cases = [
        (HEADER_DEVICE, format!("{id}=")),
        (HEADER_DEVICE, id[..42].to_owned()),
        (HEADER_DEVICE, format!("{id}A")),
        (HEADER_DEVICE, id.replace(|_: char| true, "+")),
        (HEADER_DEVICE, format!(" {id}")),
        (HEADER_TIMESTAMP, format!("0{NOW}")),
        (HEADER_TIMESTAMP, format!("+{NOW}")),
        (HEADER_TIMESTAMP, format!("-{NOW}")),
        (HEADER_TIMESTAMP, format!("{NOW}.0")),
        (HEADER_TIMESTAMP, String::new()),
        (HEADER_TIMESTAMP, "99999999999999999999".to_owned()),
        (HEADER_NONCE, format!("{nonce}==")),
        (HEADER_NONCE, nonce[..21].to_owned()),
        (HEADER_NONCE, URL_SAFE_NO_PAD.encode([0u8; 17])),
        (HEADER_NONCE, format!("{nonce}, {nonce}")),
        (HEADER_SIGNATURE, String::new()),
        (HEADER_SIGNATURE, format!("{signature}=")),
        (HEADER_SIGNATURE, format!("{signature} ")),
        (HEADER_SIGNATURE, "A".repeat(200)),
        (HEADER_CLIENT_VERSION, String::new()),
        (HEADER_CLIENT_VERSION, "0.1.0 beta".to_owned()),
        (HEADER_CLIENT_VERSION, "1".repeat(33)),
        (HEADER_CLIENT_VERSION, "0.1.0, 0.1.0".to_owned()),
    ];
    for (name, value) in cases {
        assert!(
            matches!(
                parse(&with(&headers, name, &value)),
                Err(RequestAuthError::BadEncoding(n)) if n == name
            ),
            "{name}: {value:?}"
        );
    }
}

#[test]
fn a_nonce_with_nonzero_trailing_bits_is_not_canonical() {
    let fixture = Fixture::new();
    let headers = fixture.headers();
    // 16 bytes leave 4 unused bits in the last character; "AB" ends in a
    // set bit where "AA" would not.
    let noncanonical = format!("{}B", &"A".repeat(21));
    assert!(matches!(
        parse(&with(&headers, HEADER_NONCE, &noncanonical)),
        Err(RequestAuthError::BadEncoding(HEADER_NONCE))
    ));
}

#[test]
fn signing_with_another_devices_id_is_refused_before_signing() {
    let fixture = Fixture::new();
    let other = Fixture::new();
    let request = RequestToSign {
        device_id: &other.device_id,
        ..fixture.request()
    };
    assert!(matches!(
        sign_request(&fixture.key, &request),
        Err(RequestAuthError::DeviceMismatch)
    ));
}

#[test]
fn a_request_outside_the_rules_is_not_signed() {
    let fixture = Fixture::new();
    let base = fixture.request();
    let long_path = format!("/{}", "a".repeat(8192));
    let cases = [
        RequestToSign {
            method: "post",
            ..base
        },
        RequestToSign { method: "", ..base },
        RequestToSign {
            path_and_query: "v1/x",
            ..base
        },
        RequestToSign {
            path_and_query: "/v1/a b",
            ..base
        },
        RequestToSign {
            path_and_query: &long_path,
            ..base
        },
        RequestToSign {
            timestamp: -1,
            ..base
        },
        RequestToSign {
            device_id: "not-an-id",
            ..base
        },
        RequestToSign {
            client_version: "",
            ..base
        },
    ];
    for request in cases {
        let error = sign_request(&fixture.key, &request).unwrap_err();
        assert!(
            matches!(
                error,
                RequestAuthError::InvalidMethod
                    | RequestAuthError::InvalidPath
                    | RequestAuthError::InvalidTimestamp
                    | RequestAuthError::InvalidDeviceId
                    | RequestAuthError::InvalidClientVersion
            ),
            "{request:?}: {error}"
        );
    }
}

#[test]
fn a_stored_key_that_is_not_a_key_is_reported_as_such() {
    let fixture = Fixture::new();
    let headers = parse(&fixture.headers()).unwrap();
    assert!(matches!(
        headers.verify(&[0x04; 65], METHOD, PATH, BODY, NOW, DEFAULT_MAX_SKEW_SECS),
        Err(RequestAuthError::DeviceKey(
            DeviceKeyError::InvalidPublicKey
        ))
    ));
}

#[test]
fn errors_and_debug_carry_no_signature_bytes() {
    let fixture = Fixture::new();
    let headers = fixture.headers();
    let signature = headers["kaksik-signature"].clone();
    let parsed = parse(&headers).unwrap();
    assert!(!format!("{parsed:?}").contains(&signature));
    let error = parse(&with(&headers, HEADER_SIGNATURE, &format!("{signature}=")))
        .unwrap_err()
        .to_string();
    assert!(!error.contains(&signature), "{error}");
}

#[test]
fn an_encrypted_body_is_bound_to_its_signed_request_end_to_end() {
    let fixture = Fixture::new();
    let server = ProtocolKey::generate();

    // Device: encrypt under the request's context, sign over the envelope.
    let context = fixture.request().channel_context().unwrap();
    let (envelope, response_key) =
        seal_request(&server.public_key(), &context, b"dkg round 2").unwrap();
    let request = RequestToSign {
        body: &envelope,
        ..fixture.request()
    };
    let headers = header_map(&sign_request(&fixture.key, &request).unwrap());

    // Server: verify, then open with the context of what verified.
    let verified = parse(&headers)
        .unwrap()
        .verify(
            &fixture.public_key,
            METHOD,
            PATH,
            &envelope,
            NOW,
            DEFAULT_MAX_SKEW_SECS,
        )
        .unwrap();
    let server_context = verified.channel_context().unwrap();
    assert_eq!(server_context, context);
    let (plaintext, server_response_key) = server.open_request(&server_context, &envelope).unwrap();
    assert_eq!(plaintext.expose(), b"dkg round 2");

    let response = server_response_key.seal_response(b"dkg round 3").unwrap();
    assert_eq!(
        response_key.open_response(&response).unwrap().expose(),
        b"dkg round 3"
    );

    // The same envelope under another path's context does not open.
    let moved = RequestToSign {
        path_and_query: "/v1/other",
        ..fixture.request()
    };
    assert!(
        server
            .open_request(&moved.channel_context().unwrap(), &envelope)
            .is_err()
    );
}

proptest! {
    #[test]
    fn parsing_arbitrary_headers_never_panics(
        device in ".{0,64}",
        timestamp in ".{0,24}",
        nonce in ".{0,32}",
        signature in ".{0,128}",
        version in ".{0,40}",
        present in proptest::collection::vec(any::<bool>(), 5),
    ) {
        let values = [device, timestamp, nonce, signature, version];
        let names = [
            HEADER_DEVICE,
            HEADER_TIMESTAMP,
            HEADER_NONCE,
            HEADER_SIGNATURE,
            HEADER_CLIENT_VERSION,
        ];
        let _ = SignedHeaders::parse(|name| {
            names
                .iter()
                .position(|n| *n == name)
                .filter(|i| present[*i])
                .map(|i| values[i].clone())
        });
    }

    #[test]
    fn verifying_arbitrary_request_lines_never_panics(
        method in ".{0,20}",
        path in ".{0,64}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
        skew in any::<i64>(),
        key in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let fixture = Fixture::new();
        let headers = parse(&fixture.headers()).unwrap();
        let _ = headers.verify(&key, &method, &path, &body, now, skew);
        let _ = headers.verify(&fixture.public_key, &method, &path, &body, now, skew);
    }
}
