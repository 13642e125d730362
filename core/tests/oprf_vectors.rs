//! RFC 9497 Appendix A vectors for OPRF(P-256, SHA-256), base mode, read
//! from `shared/vectors/` so the implementation is checked against the
//! published values rather than against a copy of them in this file.

use std::path::Path;

use kaksik_core::crypto::oprf::{
    BlindedElement, EvaluatedElement, OprfServerKey, blind_with, evaluate, finalize,
};
use kaksik_core::crypto::secret::Secret32;
use serde::Deserialize;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/rfc9497-oprf-p256-sha256.json"
);

/// The vector file, parsed, and hex helpers.
#[cfg(test)]
mod fixture {
    use super::*;

    #[derive(Deserialize)]
    pub struct Suite {
        pub suite: String,
        pub mode: u8,
        pub seed: String,
        pub key_info: String,
        #[serde(rename = "skSm")]
        pub sk_sm: String,
        pub vectors: Vec<Vector>,
    }

    #[derive(Deserialize)]
    pub struct Vector {
        pub input: String,
        pub blind: String,
        pub blinded_element: String,
        pub evaluation_element: String,
        pub output: String,
    }

    pub fn suite() -> Suite {
        let path = Path::new(VECTORS);
        let text = std::fs::read_to_string(path).unwrap_or_else(|err| {
            panic!(
                "cannot read the RFC 9497 vectors at {}: {err}; \
                 shared/ must sit beside the repository clone",
                path.display()
            )
        });
        let suite: Suite =
            serde_json::from_str(&text).expect("vector file is not the expected JSON");
        assert_eq!(suite.suite, "P256-SHA256");
        assert_eq!(suite.mode, 0, "only base-mode (OPRF) vectors apply");
        assert!(!suite.vectors.is_empty(), "vector file has no vectors");
        suite
    }

    pub fn bytes(hex_text: &str) -> Vec<u8> {
        hex::decode(hex_text).expect("vector field is not hex")
    }

    pub fn secret32(hex_text: &str) -> Secret32 {
        let array: [u8; 32] = bytes(hex_text).try_into().expect("not 32 bytes");
        Secret32::new(array)
    }

    pub fn server_key(suite: &Suite) -> OprfServerKey {
        OprfServerKey::derive(&secret32(&suite.seed), &bytes(&suite.key_info)).unwrap()
    }
}

use fixture::{bytes, secret32, server_key, suite};

#[test]
fn derive_key_pair_gives_sk_sm() {
    let suite = suite();
    let key = server_key(&suite);
    assert_eq!(hex::encode(key.to_bytes().expose()), suite.sk_sm);
}

#[test]
fn blind_gives_the_blinded_element() {
    let suite = suite();
    for (i, vector) in suite.vectors.iter().enumerate() {
        let (_, blinded) = blind_with(&bytes(&vector.input), &secret32(&vector.blind)).unwrap();
        assert_eq!(
            hex::encode(blinded.to_bytes()),
            vector.blinded_element,
            "vector {i}"
        );
    }
}

#[test]
fn blind_evaluate_gives_the_evaluation_element() {
    let suite = suite();
    let key = server_key(&suite);
    for (i, vector) in suite.vectors.iter().enumerate() {
        // From the wire, as the server receives it.
        let blinded = BlindedElement::from_bytes(&bytes(&vector.blinded_element)).unwrap();
        let evaluated = evaluate(&key, &blinded);
        assert_eq!(
            hex::encode(evaluated.to_bytes()),
            vector.evaluation_element,
            "vector {i}"
        );
    }
}

#[test]
fn finalize_gives_the_output() {
    let suite = suite();
    for (i, vector) in suite.vectors.iter().enumerate() {
        let input = bytes(&vector.input);
        let (state, _) = blind_with(&input, &secret32(&vector.blind)).unwrap();
        // From the wire, as the device receives it.
        let evaluated = EvaluatedElement::from_bytes(&bytes(&vector.evaluation_element)).unwrap();
        let output = finalize(&input, state, &evaluated).unwrap();
        assert_eq!(hex::encode(output.expose()), vector.output, "vector {i}");
    }
}

#[test]
fn a_whole_round_from_seed_to_output_matches_every_vector() {
    let suite = suite();
    let key = server_key(&suite);
    for (i, vector) in suite.vectors.iter().enumerate() {
        let input = bytes(&vector.input);
        let (state, blinded) = blind_with(&input, &secret32(&vector.blind)).unwrap();
        let output = finalize(&input, state, &evaluate(&key, &blinded)).unwrap();
        assert_eq!(hex::encode(output.expose()), vector.output, "vector {i}");
    }
}
