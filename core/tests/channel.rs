//! The end-to-end channel (PROTOCOL.md §5): request and response bodies
//! encrypted to the server's protocol key, bound to the signed request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kaksik_core::crypto::channel::{
    ChannelError, MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, ProtocolKey, ProtocolPublicKey, seal_request,
};
use kaksik_core::crypto::secret::Secret32;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CONTEXT: &[u8] = b"POST /v1/transactions/42/sign 1760000000 nonce device";
const REQUEST: &[u8] = b"{\"round\":2,\"fragment\":\"secret share material\"}";
const RESPONSE: &[u8] = b"{\"round\":3}";

fn json_of(envelope: &[u8]) -> Value {
    serde_json::from_slice(envelope).unwrap()
}

fn bytes_of(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// The envelope with `field` (base64url) decoded, changed by `edit`, and
/// encoded again.
fn edit_field(envelope: &[u8], field: &str, edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut value = json_of(envelope);
    let mut bytes = URL_SAFE_NO_PAD
        .decode(value[field].as_str().unwrap())
        .unwrap();
    edit(&mut bytes);
    value[field] = json!(URL_SAFE_NO_PAD.encode(bytes));
    bytes_of(&value)
}

#[test]
fn a_request_and_its_response_round_trip() {
    let server = ProtocolKey::generate();
    let (envelope, client_key) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let (plaintext, server_key) = server.open_request(CONTEXT, &envelope).unwrap();
    assert_eq!(plaintext.expose(), REQUEST);

    let response = server_key.seal_response(RESPONSE).unwrap();
    assert_eq!(
        client_key.open_response(&response).unwrap().expose(),
        RESPONSE
    );
}

#[test]
fn empty_bodies_round_trip() {
    let server = ProtocolKey::generate();
    let (envelope, client_key) = seal_request(&server.public_key(), b"", b"").unwrap();
    let (plaintext, server_key) = server.open_request(b"", &envelope).unwrap();
    assert!(plaintext.is_empty());
    let response = server_key.seal_response(b"").unwrap();
    assert!(client_key.open_response(&response).unwrap().is_empty());
}

#[test]
fn the_envelopes_have_the_documented_shape() {
    let server = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let value = json_of(&envelope);
    let object = value.as_object().unwrap();
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["ct", "epk", "nonce", "v"]);
    assert_eq!(value["v"], 1);
    let epk = URL_SAFE_NO_PAD
        .decode(value["epk"].as_str().unwrap())
        .unwrap();
    assert_eq!(epk.len(), 33);
    assert!(matches!(epk[0], 0x02 | 0x03));
    let nonce = URL_SAFE_NO_PAD
        .decode(value["nonce"].as_str().unwrap())
        .unwrap();
    assert_eq!(nonce.len(), 12);
    let ct = URL_SAFE_NO_PAD
        .decode(value["ct"].as_str().unwrap())
        .unwrap();
    assert_eq!(ct.len(), REQUEST.len() + 16);

    let (_, server_key) = server.open_request(CONTEXT, &envelope).unwrap();
    let response = json_of(&server_key.seal_response(RESPONSE).unwrap());
    let mut keys: Vec<_> = response.as_object().unwrap().keys().cloned().collect();
    keys.sort_unstable();
    assert_eq!(keys, ["ct", "nonce", "v"]);
}

#[test]
fn every_request_uses_a_fresh_ephemeral_key_and_nonce() {
    let server = ProtocolKey::generate();
    let (first, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let (second, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    assert_ne!(json_of(&first)["epk"], json_of(&second)["epk"]);
    assert_ne!(json_of(&first)["ct"], json_of(&second)["ct"]);
}

#[test]
fn another_protocol_key_cannot_open_a_request() {
    let server = ProtocolKey::generate();
    let impostor = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    assert_eq!(
        impostor.open_request(CONTEXT, &envelope).unwrap_err(),
        ChannelError::DecryptionFailed
    );
}

#[test]
fn another_context_cannot_open_a_request() {
    let server = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    for context in [&b""[..], b"POST /v1/transactions/43/sign", &CONTEXT[1..]] {
        assert_eq!(
            server.open_request(context, &envelope).unwrap_err(),
            ChannelError::DecryptionFailed
        );
    }
}

#[test]
fn a_response_cannot_be_replayed_onto_another_request() {
    let server = ProtocolKey::generate();
    // Two requests under the same context: only the envelope differs.
    let (first, first_key) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let (second, second_key) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let (_, server_first) = server.open_request(CONTEXT, &first).unwrap();
    let (_, server_second) = server.open_request(CONTEXT, &second).unwrap();
    let first_response = server_first.seal_response(RESPONSE).unwrap();
    let second_response = server_second.seal_response(RESPONSE).unwrap();

    assert_eq!(
        second_key.open_response(&first_response).unwrap_err(),
        ChannelError::DecryptionFailed
    );
    assert_eq!(
        first_key.open_response(&second_response).unwrap_err(),
        ChannelError::DecryptionFailed
    );
}

#[test]
fn a_response_is_bound_to_the_exact_request_envelope_bytes() {
    let server = ProtocolKey::generate();
    let (envelope, client_key) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    // The same JSON with other whitespace opens (the AEAD covers only the
    // decoded fields), but its response is bound to *those* bytes.
    let respaced = serde_json::to_vec_pretty(&json_of(&envelope)).unwrap();
    let (_, server_key) = server.open_request(CONTEXT, &respaced).unwrap();
    let response = server_key.seal_response(RESPONSE).unwrap();
    assert_eq!(
        client_key.open_response(&response).unwrap_err(),
        ChannelError::DecryptionFailed
    );
}

#[test]
fn a_tampered_ciphertext_nonce_or_key_fails() {
    let server = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let other_epk = {
        let (other, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
        json_of(&other)["epk"].clone()
    };
    let mut swapped_epk = json_of(&envelope);
    swapped_epk["epk"] = other_epk;
    let tampered = [
        edit_field(&envelope, "ct", |ct| ct[0] ^= 1),
        edit_field(&envelope, "ct", |ct| {
            let last = ct.len() - 1;
            ct[last] ^= 0x80;
        }),
        edit_field(&envelope, "nonce", |nonce| nonce[11] ^= 1),
        // −E: the same ECDH x-coordinate, refused because E is in the salt.
        edit_field(&envelope, "epk", |epk| epk[0] ^= 1),
        bytes_of(&swapped_epk),
    ];
    for envelope in tampered {
        assert_eq!(
            server.open_request(CONTEXT, &envelope).unwrap_err(),
            ChannelError::DecryptionFailed
        );
    }
}

#[test]
fn a_tampered_response_fails() {
    let server = ProtocolKey::generate();
    let (envelope, client_key) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let (_, server_key) = server.open_request(CONTEXT, &envelope).unwrap();
    let response = server_key.seal_response(RESPONSE).unwrap();
    for tampered in [
        edit_field(&response, "ct", |ct| ct[0] ^= 1),
        edit_field(&response, "nonce", |nonce| nonce[0] ^= 1),
    ] {
        assert_eq!(
            client_key.open_response(&tampered).unwrap_err(),
            ChannelError::DecryptionFailed
        );
    }
}

#[test]
fn a_request_envelope_cannot_be_opened_as_a_response() {
    let server = ProtocolKey::generate();
    let (envelope, client_key) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    // As sent: the response shape has no `epk`.
    assert_eq!(
        client_key.open_response(&envelope).unwrap_err(),
        ChannelError::MalformedEnvelope
    );
    // Even with `epk` removed, the response key and label differ.
    let mut stripped = json_of(&envelope);
    stripped.as_object_mut().unwrap().remove("epk");
    assert_eq!(
        client_key.open_response(&bytes_of(&stripped)).unwrap_err(),
        ChannelError::DecryptionFailed
    );
}

#[test]
fn a_response_envelope_cannot_be_opened_as_a_request() {
    let server = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let (_, server_key) = server.open_request(CONTEXT, &envelope).unwrap();
    let response = server_key.seal_response(RESPONSE).unwrap();
    assert_eq!(
        server.open_request(CONTEXT, &response).unwrap_err(),
        ChannelError::MalformedEnvelope
    );
    // Given the request's epk, the request key and label still differ.
    let mut grafted = json_of(&response);
    grafted["epk"] = json_of(&envelope)["epk"].clone();
    assert_eq!(
        server
            .open_request(CONTEXT, &bytes_of(&grafted))
            .unwrap_err(),
        ChannelError::DecryptionFailed
    );
}

#[test]
fn an_invalid_ephemeral_key_is_refused() {
    let server = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let uncompressed = server.public_key().to_sec1();
    // About half of all x have no point; take the first such x.
    let off_curve = (0u8..)
        .map(|x| {
            let mut bytes = vec![0x02; 33];
            bytes[32] = x;
            bytes
        })
        .find(|bytes| p256::PublicKey::from_sec1_bytes(bytes).is_err())
        .unwrap();
    let mut x_too_big = vec![0xff; 33];
    x_too_big[0] = 0x02;
    for bad in [
        vec![0u8; 33],  // identity tag
        vec![0x00],     // SEC1 identity
        uncompressed,   // uncompressed form
        vec![0x05; 33], // compact tag
        off_curve,      // no such point
        x_too_big,      // x ≥ p
        vec![0x02; 32], // too short
        vec![0xff; 33], // no such tag
    ] {
        let mut value = json_of(&envelope);
        value["epk"] = json!(URL_SAFE_NO_PAD.encode(&bad));
        assert_eq!(
            server.open_request(CONTEXT, &bytes_of(&value)).unwrap_err(),
            ChannelError::InvalidEphemeralKey,
            "{bad:02x?}"
        );
    }
}

#[test]
fn another_version_is_named_as_such() {
    let server = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let mut value = json_of(&envelope);
    value["v"] = json!(2);
    value["extra"] = json!("a future field");
    assert_eq!(
        server.open_request(CONTEXT, &bytes_of(&value)).unwrap_err(),
        ChannelError::UnsupportedVersion { version: 2 }
    );
}

#[test]
fn malformed_envelopes_are_refused_by_shape() {
    let server = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let value = json_of(&envelope);
    let mut unknown = value.clone();
    unknown["kid"] = json!("x");
    let mut missing = value.clone();
    missing.as_object_mut().unwrap().remove("nonce");
    let mut wrong_type = value.clone();
    wrong_type["ct"] = json!(5);
    let duplicated = String::from_utf8(envelope.clone())
        .unwrap()
        .replacen("\"ct\"", "\"ct\":\"AAAA\",\"ct\"", 1)
        .into_bytes();
    for bad in [
        bytes_of(&unknown),
        bytes_of(&missing),
        bytes_of(&wrong_type),
        duplicated,
        b"".to_vec(),
        b"[]".to_vec(),
        b"{\"v\":\"1\"}".to_vec(),
        b"{\"v\":1".to_vec(),
    ] {
        assert_eq!(
            server.open_request(CONTEXT, &bad).unwrap_err(),
            ChannelError::MalformedEnvelope,
            "{}",
            String::from_utf8_lossy(&bad)
        );
    }
}

#[test]
fn badly_encoded_fields_are_named() {
    let server = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let value = json_of(&envelope);
    let padded = |field: &str| format!("{}=", value[field].as_str().unwrap());
    let cases = [
        ("epk", padded("epk")),
        ("epk", "not base64!".to_owned()),
        ("nonce", padded("nonce")),
        ("nonce", URL_SAFE_NO_PAD.encode([0u8; 16])),
        ("nonce", STANDARD.encode([0xfbu8; 12])),
        ("ct", URL_SAFE_NO_PAD.encode([0u8; 15])),
        ("ct", format!(" {}", value["ct"].as_str().unwrap())),
    ];
    for (field, bad) in cases {
        let mut changed = value.clone();
        changed[field] = json!(bad);
        assert_eq!(
            server
                .open_request(CONTEXT, &bytes_of(&changed))
                .unwrap_err(),
            ChannelError::BadEncoding {
                field: match field {
                    "epk" => "epk",
                    "nonce" => "nonce",
                    _ => "ct",
                }
            },
            "{field}: {bad}"
        );
    }
}

#[test]
fn oversize_inputs_are_refused_before_parsing() {
    let server = ProtocolKey::generate();
    let huge = vec![b' '; MAX_ENVELOPE_LEN + 1];
    assert_eq!(
        server.open_request(CONTEXT, &huge).unwrap_err(),
        ChannelError::EnvelopeTooLarge {
            len: MAX_ENVELOPE_LEN + 1,
            max: MAX_ENVELOPE_LEN
        }
    );
    let too_much = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    assert_eq!(
        seal_request(&server.public_key(), CONTEXT, &too_much).unwrap_err(),
        ChannelError::PlaintextTooLarge {
            len: MAX_PLAINTEXT_LEN + 1,
            max: MAX_PLAINTEXT_LEN
        }
    );
    let long_context = vec![0u8; 65_536];
    assert_eq!(
        seal_request(&server.public_key(), &long_context, REQUEST).unwrap_err(),
        ChannelError::ContextTooLong { len: 65_536 }
    );
}

#[test]
fn a_protocol_key_round_trips_through_its_bytes() {
    let server = ProtocolKey::generate();
    let restored = ProtocolKey::from_bytes(&server.to_bytes()).unwrap();
    assert_eq!(restored.public_key(), server.public_key());
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    assert_eq!(
        restored
            .open_request(CONTEXT, &envelope)
            .unwrap()
            .0
            .expose(),
        REQUEST
    );
}

#[test]
fn zero_and_out_of_range_scalars_are_not_protocol_keys() {
    let order =
        hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551").unwrap();
    for bad in [[0u8; 32], order.try_into().unwrap(), [0xff; 32]] {
        assert_eq!(
            ProtocolKey::from_bytes(&Secret32::new(bad)).unwrap_err(),
            ChannelError::InvalidProtocolKey
        );
    }
}

#[test]
fn a_public_key_reads_from_either_sec1_form_and_pins_the_same() {
    let server = ProtocolKey::generate();
    let public = server.public_key();
    let uncompressed = public.to_sec1();
    assert_eq!(uncompressed.len(), 65);
    let verifying = p256::PublicKey::from_sec1_bytes(&uncompressed).unwrap();
    let compressed = p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&verifying, true)
        .as_bytes()
        .to_vec();
    let from_compressed = ProtocolPublicKey::from_sec1(&compressed).unwrap();
    assert_eq!(from_compressed, public);
    assert_eq!(from_compressed.pin(), public.pin());
    assert_eq!(
        public.pin(),
        format!("sha256/{}", STANDARD.encode(Sha256::digest(&uncompressed)))
    );
    for bad in [&[0u8][..], &[0u8; 33], &[0x04; 65], &uncompressed[..64]] {
        assert_eq!(
            ProtocolPublicKey::from_sec1(bad).unwrap_err(),
            ChannelError::InvalidProtocolKey
        );
    }
}

#[test]
fn debug_never_shows_key_material() {
    let server = ProtocolKey::generate();
    let secret = hex::encode(server.to_bytes().expose());
    let (envelope, client_key) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let (_, server_key) = server.open_request(CONTEXT, &envelope).unwrap();
    assert_eq!(format!("{server:?}"), "ProtocolKey([REDACTED])");
    assert_eq!(format!("{client_key:?}"), "ResponseKey([REDACTED])");
    assert_eq!(format!("{server_key:?}"), "ResponseKey([REDACTED])");
    let public = format!("{:?}", server.public_key());
    assert!(public.contains(&server.public_key().pin()));
    assert!(!public.contains(&secret));
}

#[test]
fn errors_say_nothing_about_the_plaintext() {
    let server = ProtocolKey::generate();
    let impostor = ProtocolKey::generate();
    let (envelope, _) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
    let error = impostor.open_request(CONTEXT, &envelope).unwrap_err();
    assert_eq!(error.to_string(), "decryption failed");
}

proptest! {
    #[test]
    fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let server = ProtocolKey::generate();
        let (_, client_key) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
        prop_assert!(server.open_request(CONTEXT, &bytes).is_err());
        prop_assert!(client_key.open_response(&bytes).is_err());
    }

    #[test]
    fn opening_arbitrary_envelope_fields_never_panics(
        v in prop_oneof![3 => Just(1u64), 1 => any::<u64>()],
        epk in "[A-Za-z0-9_-]{0,60}",
        nonce in "[A-Za-z0-9_-]{0,24}",
        ct in "[A-Za-z0-9_-]{0,80}",
    ) {
        let server = ProtocolKey::generate();
        let (_, client_key) = seal_request(&server.public_key(), CONTEXT, REQUEST).unwrap();
        let request = bytes_of(&json!({"v": v, "epk": epk, "nonce": nonce, "ct": ct}));
        let response = bytes_of(&json!({"v": v, "nonce": nonce, "ct": ct}));
        prop_assert!(server.open_request(CONTEXT, &request).is_err());
        prop_assert!(client_key.open_response(&response).is_err());
    }
}
