//! RFC 9497 OPRF, base mode (`0x00`), suite P256-SHA256: the oblivious PRF
//! at the heart of the PIN gate (PROTOCOL.md §2).
//!
//! The device blinds its PIN input, the server multiplies the blinded point
//! by its per-key secret `k` (and counts the attempt), and the device
//! unblinds and hashes the result. The server never sees the PIN; the
//! device never learns `k`, so it cannot test PIN guesses without the
//! server.
//!
//! This module owns the protocol steps and their encodings, nothing else:
//!
//! - `HashToGroup` is RFC 9380 `P256_XMD:SHA-256_SSWU_RO_` with DST
//!   `"HashToGroup-" ‖ contextString`, and `DeriveKeyPair` hashes to a
//!   scalar with DST `"DeriveKeyPair" ‖ contextString` (RFC 9497 §3.2.1);
//!   both from p256's `hash2curve`. Base mode has no other use of
//!   `HashToScalar` (that is for the VOPRF/POPRF proofs), so none is here.
//! - Elements travel as 33-byte compressed SEC1 points. Decoding refuses
//!   the identity, uncompressed and compact tags, and points off the curve.
//! - Scalars are 32 bytes big-endian; decoding refuses values ≥ n, and zero
//!   wherever a zero would be a broken key or blind.
//!
//! Secret values (`k`, the blind, the output) live in zeroizing types with
//! a redacted `Debug`. The vectors of RFC 9497 Appendix A are checked by
//! `core/tests/oprf_vectors.rs`.

use std::fmt;

use p256::elliptic_curve::group::GroupEncoding;
use p256::elliptic_curve::ops::Invert;
use p256::elliptic_curve::point::NonIdentity;
use p256::elliptic_curve::{Generate, PrimeField};
use p256::hash2curve::{ExpandMsgXmd, GroupDigest, hash_to_scalar};
use p256::{NistP256, NonZeroScalar, ProjectivePoint, Scalar};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::secret::Secret32;

/// RFC 9497 `contextString` for mode `0x00` and suite P256-SHA256.
pub const CONTEXT_STRING: &[u8] = b"OPRFV1-\x00-P256-SHA256";

/// DST of `HashToGroup`: `"HashToGroup-" ‖ contextString`.
pub const HASH_TO_GROUP_DST: &[u8] = b"HashToGroup-OPRFV1-\x00-P256-SHA256";

/// DST of the `HashToScalar` inside `DeriveKeyPair`:
/// `"DeriveKeyPair" ‖ contextString`.
pub const DERIVE_KEY_PAIR_DST: &[u8] = b"DeriveKeyPairOPRFV1-\x00-P256-SHA256";

/// Length of a serialized element (`Noe`): a compressed SEC1 point.
pub const ELEMENT_LEN: usize = 33;

/// Length of a serialized scalar (`Nsk`) and of the output (`Nh`).
pub const SCALAR_LEN: usize = 32;

/// Longest private input or key info: RFC 9497 prefixes both with a
/// 2-byte length.
pub const MAX_INPUT_LEN: usize = u16::MAX as usize;

/// `expand_message_xmd` with SHA-256, as the suite fixes it.
type Xmd = ExpandMsgXmd<Sha256>;

/// `L = ceil((ceil(log2(n)) + k) / 8) = 48` bytes for P-256 (RFC 9380).
type ScalarExpandLen = p256::elliptic_curve::consts::U48;

/// What can go wrong in the OPRF. No variant carries input or key bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum OprfError {
    /// The private input, or the key info, is longer than
    /// [`MAX_INPUT_LEN`] bytes.
    #[error("OPRF input of {len} bytes exceeds the {MAX_INPUT_LEN}-byte limit")]
    InputTooLong {
        /// Its length.
        len: usize,
    },
    /// `HashToGroup(input)` is the identity (RFC 9497 `InvalidInputError`;
    /// happens with negligible probability).
    #[error("the input hashes to the identity element")]
    InvalidInput,
    /// An element's bytes are not a compressed, non-identity point of P-256
    /// (RFC 9497 `DeserializeError`).
    #[error("invalid OPRF element encoding")]
    InvalidElement,
    /// A scalar's bytes are zero or not below the group order.
    #[error("invalid OPRF scalar: zero or not below the group order")]
    InvalidScalar,
    /// `DeriveKeyPair` found only zero scalars in 256 tries (RFC 9497
    /// `DeriveKeyPairError`; never happens in practice).
    #[error("key derivation produced no nonzero scalar")]
    DeriveKeyPair,
    /// `expand_message_xmd` refused its parameters. Cannot happen with this
    /// suite's fixed DSTs and output lengths; a variant rather than a panic.
    #[error("hash-to-curve failed")]
    HashToCurve,
}

/// The server's OPRF key `k` for one account key (`k_AK` or `k_SK`).
///
/// Wiped on drop; `Debug` is redacted. Store it only encrypted
/// (PROTOCOL.md §8): [`OprfServerKey::to_bytes`] gives the bytes to encrypt.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct OprfServerKey(NonZeroScalar);

impl OprfServerKey {
    /// A fresh key from the operating system's CSPRNG (RFC 9497 §3.2
    /// `GenerateKeyPair`; the public key is unused in base mode).
    pub fn random() -> Self {
        Self(NonZeroScalar::generate_from_rng(&mut rand::rng()))
    }

    /// RFC 9497 §3.2.1 `DeriveKeyPair(seed, info)`: the same seed and info
    /// always give the same key.
    ///
    /// # Errors
    ///
    /// [`OprfError::InputTooLong`] if `info` is longer than
    /// [`MAX_INPUT_LEN`]; [`OprfError::DeriveKeyPair`] if 256 counters all
    /// give zero.
    pub fn derive(seed: &Secret32, info: &[u8]) -> Result<Self, OprfError> {
        let info_len = length_prefix(info)?;
        for counter in 0..=u8::MAX {
            let candidate = hash_to_scalar::<NistP256, Xmd, ScalarExpandLen>(
                &[seed.expose(), &info_len, info, &[counter]],
                &[DERIVE_KEY_PAIR_DST],
            )
            .map_err(|_| OprfError::HashToCurve)?;
            if let Some(key) = Option::from(NonZeroScalar::new(candidate)) {
                return Ok(Self(key));
            }
        }
        Err(OprfError::DeriveKeyPair)
    }

    /// Reads a key stored with [`OprfServerKey::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`OprfError::InvalidScalar`] for zero or a value ≥ n.
    pub fn from_bytes(bytes: &Secret32) -> Result<Self, OprfError> {
        nonzero_scalar(bytes).map(Self)
    }

    /// The key as 32 big-endian bytes, for encrypted storage.
    pub fn to_bytes(&self) -> Secret32 {
        Secret32::new(self.0.to_repr().into())
    }
}

impl fmt::Debug for OprfServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OprfServerKey([REDACTED])")
    }
}

/// The device's secret between [`blind`] and [`finalize`]: the blind `r`.
///
/// Used once (finalize consumes it), wiped on drop, `Debug` redacted. Keep
/// it in memory only; it never needs to be stored or sent.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct OprfClientState {
    blind: NonZeroScalar,
}

impl fmt::Debug for OprfClientState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OprfClientState([REDACTED])")
    }
}

/// `r · HashToGroup(input)`, sent by the device to the server. Public.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlindedElement(NonIdentity<ProjectivePoint>);

/// `k · blinded`, returned by the server to the device. Public.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EvaluatedElement(NonIdentity<ProjectivePoint>);

impl BlindedElement {
    /// The 33-byte compressed encoding (`SerializeElement`).
    pub fn to_bytes(&self) -> [u8; ELEMENT_LEN] {
        serialize_element(&self.0)
    }

    /// Decodes and validates an element received from the device
    /// (`DeserializeElement`).
    ///
    /// # Errors
    ///
    /// [`OprfError::InvalidElement`] unless `bytes` is a compressed,
    /// non-identity point of P-256.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OprfError> {
        deserialize_element(bytes).map(Self)
    }
}

impl EvaluatedElement {
    /// The 33-byte compressed encoding (`SerializeElement`).
    pub fn to_bytes(&self) -> [u8; ELEMENT_LEN] {
        serialize_element(&self.0)
    }

    /// Decodes and validates an element received from the server
    /// (`DeserializeElement`).
    ///
    /// # Errors
    ///
    /// [`OprfError::InvalidElement`] unless `bytes` is a compressed,
    /// non-identity point of P-256.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OprfError> {
        deserialize_element(bytes).map(Self)
    }
}

impl fmt::Debug for BlindedElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlindedElement({})", Hex(&self.to_bytes()))
    }
}

impl fmt::Debug for EvaluatedElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EvaluatedElement({})", Hex(&self.to_bytes()))
    }
}

/// Device, step 1 (RFC 9497 §3.3.1 `Blind`) with a fresh random blind.
///
/// # Errors
///
/// [`OprfError::InputTooLong`] for an input over [`MAX_INPUT_LEN`] bytes;
/// [`OprfError::InvalidInput`] if it hashes to the identity.
pub fn blind(input: &[u8]) -> Result<(OprfClientState, BlindedElement), OprfError> {
    blind_with_scalar(input, NonZeroScalar::generate_from_rng(&mut rand::rng()))
}

/// [`blind`] with a caller-chosen blind, for RFC 9497's test vectors only.
/// Production code uses [`blind`]: a reused or predictable blind lets the
/// server link evaluations and undoes the obliviousness.
///
/// # Errors
///
/// As [`blind`], and [`OprfError::InvalidScalar`] for a zero blind or one
/// ≥ n.
pub fn blind_with(
    input: &[u8],
    blind: &Secret32,
) -> Result<(OprfClientState, BlindedElement), OprfError> {
    blind_with_scalar(input, nonzero_scalar(blind)?)
}

/// Server (RFC 9497 §3.3.1 `BlindEvaluate`): `k · blinded`.
///
/// Infallible: `blinded` is a validated non-identity point and `k` is
/// nonzero, so in a prime-order group the result is never the identity.
/// The caller counts the attempt durably *before* returning the result
/// (PROTOCOL.md §3).
pub fn evaluate(key: &OprfServerKey, blinded: &BlindedElement) -> EvaluatedElement {
    EvaluatedElement(blinded.0 * key.0)
}

/// Device, step 2 (RFC 9497 §3.3.1 `Finalize`): unblinds and hashes.
///
/// `output = SHA-256(I2OSP(len(input), 2) ‖ input ‖ I2OSP(33, 2) ‖
/// SerializeElement(r⁻¹ · evaluated) ‖ "Finalize")`.
///
/// # Errors
///
/// [`OprfError::InputTooLong`] for an input over [`MAX_INPUT_LEN`] bytes.
pub fn finalize(
    input: &[u8],
    state: OprfClientState,
    evaluated: &EvaluatedElement,
) -> Result<Secret32, OprfError> {
    let input_len = length_prefix(input)?;
    let unblinded = evaluated.0 * state.blind.invert();
    let mut unblinded_bytes = serialize_element(&unblinded);
    let element_len = (ELEMENT_LEN as u16).to_be_bytes();
    let digest = Sha256::new()
        .chain_update(input_len)
        .chain_update(input)
        .chain_update(element_len)
        .chain_update(unblinded_bytes)
        .chain_update(b"Finalize")
        .finalize();
    // The unblinded point is the PRF value itself; do not leave it behind.
    unblinded_bytes.zeroize();
    Ok(Secret32::new(digest.into()))
}

fn blind_with_scalar(
    input: &[u8],
    blind: NonZeroScalar,
) -> Result<(OprfClientState, BlindedElement), OprfError> {
    // Checked here, not only in finalize, so an input that cannot be
    // finalized never costs a server-counted evaluation.
    length_prefix(input)?;
    let state = OprfClientState { blind };
    let point = hash_to_group(input)?;
    let blinded = BlindedElement(point * state.blind);
    Ok((state, blinded))
}

fn hash_to_group(input: &[u8]) -> Result<NonIdentity<ProjectivePoint>, OprfError> {
    let point = NistP256::hash_from_bytes(&[input], &[HASH_TO_GROUP_DST])
        .map_err(|_| OprfError::HashToCurve)?;
    Option::from(NonIdentity::new(point)).ok_or(OprfError::InvalidInput)
}

fn serialize_element(point: &NonIdentity<ProjectivePoint>) -> [u8; ELEMENT_LEN] {
    point.to_bytes().into()
}

fn deserialize_element(bytes: &[u8]) -> Result<NonIdentity<ProjectivePoint>, OprfError> {
    let repr: [u8; ELEMENT_LEN] = bytes.try_into().map_err(|_| OprfError::InvalidElement)?;
    // Only the two compressed tags: SEC1 also has 0x00 (identity, which the
    // group encoding maps from all-zero bytes) and 0x05 (compact), neither
    // of which RFC 9497's SerializeElement ever produces.
    if !matches!(repr.first(), Some(0x02 | 0x03)) {
        return Err(OprfError::InvalidElement);
    }
    let point: Option<ProjectivePoint> = ProjectivePoint::from_bytes(&repr.into()).into();
    point
        .and_then(|point| NonIdentity::new(point).into())
        .ok_or(OprfError::InvalidElement)
}

fn nonzero_scalar(bytes: &Secret32) -> Result<NonZeroScalar, OprfError> {
    let scalar: Option<Scalar> = Scalar::from_repr((*bytes.expose()).into()).into();
    scalar
        .and_then(|scalar| NonZeroScalar::new(scalar).into())
        .ok_or(OprfError::InvalidScalar)
}

/// `I2OSP(len(bytes), 2)`.
fn length_prefix(bytes: &[u8]) -> Result<[u8; 2], OprfError> {
    u16::try_from(bytes.len())
        .map(u16::to_be_bytes)
        .map_err(|_| OprfError::InputTooLong { len: bytes.len() })
}

/// Lower-case hex for the `Debug` of public elements.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUT: &[u8] = b"kaksik test input";
    /// n, the order of P-256.
    const ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

    fn round(key: &OprfServerKey, input: &[u8]) -> Secret32 {
        let (state, blinded) = blind(input).unwrap();
        let evaluated = evaluate(key, &blinded);
        finalize(input, state, &evaluated).unwrap()
    }

    #[test]
    fn same_key_and_input_give_the_same_output_through_different_blinds() {
        let key = OprfServerKey::random();
        let (_, first) = blind(INPUT).unwrap();
        let (_, second) = blind(INPUT).unwrap();
        assert_ne!(first, second, "blinds must be fresh");
        assert_eq!(round(&key, INPUT), round(&key, INPUT));
    }

    #[test]
    fn another_key_gives_another_output() {
        let key = OprfServerKey::random();
        let other = OprfServerKey::random();
        assert_ne!(round(&key, INPUT), round(&other, INPUT));
    }

    #[test]
    fn another_input_gives_another_output() {
        let key = OprfServerKey::random();
        assert_ne!(round(&key, b"1234"), round(&key, b"1235"));
    }

    #[test]
    fn finalizing_with_another_input_than_was_blinded_gives_another_output() {
        let key = OprfServerKey::random();
        let (state, blinded) = blind(INPUT).unwrap();
        let evaluated = evaluate(&key, &blinded);
        let wrong = finalize(b"something else", state, &evaluated).unwrap();
        assert_ne!(wrong, round(&key, INPUT));
    }

    #[test]
    fn elements_round_trip_through_their_encoding() {
        let key = OprfServerKey::random();
        let (_, blinded) = blind(INPUT).unwrap();
        let evaluated = evaluate(&key, &blinded);
        let bytes = blinded.to_bytes();
        assert!(matches!(bytes[0], 0x02 | 0x03));
        assert_eq!(BlindedElement::from_bytes(&bytes).unwrap(), blinded);
        assert_eq!(
            EvaluatedElement::from_bytes(&evaluated.to_bytes()).unwrap(),
            evaluated
        );
    }

    #[test]
    fn the_identity_is_not_an_element() {
        let zeros = [0u8; ELEMENT_LEN];
        assert_eq!(
            BlindedElement::from_bytes(&zeros),
            Err(OprfError::InvalidElement)
        );
        assert_eq!(
            EvaluatedElement::from_bytes(&[0x00]),
            Err(OprfError::InvalidElement)
        );
    }

    #[test]
    fn only_compressed_points_of_33_bytes_are_elements() {
        let (_, blinded) = blind(INPUT).unwrap();
        let good = blinded.to_bytes();

        let mut compact = good;
        compact[0] = 0x05;
        assert_eq!(
            BlindedElement::from_bytes(&compact),
            Err(OprfError::InvalidElement)
        );
        let mut uncompressed_tag = good;
        uncompressed_tag[0] = 0x04;
        assert_eq!(
            BlindedElement::from_bytes(&uncompressed_tag),
            Err(OprfError::InvalidElement)
        );
        assert_eq!(
            BlindedElement::from_bytes(&good[..32]),
            Err(OprfError::InvalidElement)
        );
        let mut long = good.to_vec();
        long.push(0);
        assert_eq!(
            BlindedElement::from_bytes(&long),
            Err(OprfError::InvalidElement)
        );
    }

    #[test]
    fn an_x_coordinate_off_the_curve_is_not_an_element() {
        // Walk x until it has no y on the curve: about half of all x fail.
        let mut bytes = [0u8; ELEMENT_LEN];
        bytes[0] = 0x02;
        let rejected = (1u8..=255).any(|x| {
            bytes[ELEMENT_LEN - 1] = x;
            BlindedElement::from_bytes(&bytes).is_err()
        });
        assert!(rejected);
        // And an x ≥ p is not a field element at all.
        let mut too_big = [0xffu8; ELEMENT_LEN];
        too_big[0] = 0x02;
        assert_eq!(
            BlindedElement::from_bytes(&too_big),
            Err(OprfError::InvalidElement)
        );
    }

    #[test]
    fn keys_round_trip_through_their_encoding() {
        let key = OprfServerKey::random();
        let again = OprfServerKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(round(&key, INPUT), round(&again, INPUT));
    }

    #[test]
    fn zero_and_the_group_order_are_not_keys() {
        let zero = Secret32::new([0; 32]);
        assert_eq!(
            OprfServerKey::from_bytes(&zero).unwrap_err(),
            OprfError::InvalidScalar
        );
        let order = Secret32::new(hex::decode(ORDER).unwrap().try_into().unwrap());
        assert_eq!(
            OprfServerKey::from_bytes(&order).unwrap_err(),
            OprfError::InvalidScalar
        );
        let max = Secret32::new([0xff; 32]);
        assert_eq!(
            OprfServerKey::from_bytes(&max).unwrap_err(),
            OprfError::InvalidScalar
        );
    }

    #[test]
    fn a_zero_blind_is_refused() {
        let zero = Secret32::new([0; 32]);
        assert_eq!(
            blind_with(INPUT, &zero).unwrap_err(),
            OprfError::InvalidScalar
        );
    }

    #[test]
    fn derived_keys_depend_on_seed_and_info() {
        let seed = Secret32::new([7; 32]);
        let other_seed = Secret32::new([8; 32]);
        let key = OprfServerKey::derive(&seed, b"info").unwrap();
        let same = OprfServerKey::derive(&seed, b"info").unwrap();
        let other_info = OprfServerKey::derive(&seed, b"inf0").unwrap();
        let other = OprfServerKey::derive(&other_seed, b"info").unwrap();
        assert_eq!(key.to_bytes(), same.to_bytes());
        assert_ne!(key.to_bytes(), other_info.to_bytes());
        assert_ne!(key.to_bytes(), other.to_bytes());
    }

    #[test]
    fn an_input_too_long_for_its_length_prefix_is_refused_before_blinding() {
        let input = vec![0u8; MAX_INPUT_LEN + 1];
        assert_eq!(
            blind(&input).unwrap_err(),
            OprfError::InputTooLong {
                len: MAX_INPUT_LEN + 1
            }
        );
        assert!(blind(&input[..MAX_INPUT_LEN]).is_ok());
    }

    #[test]
    fn debug_of_secrets_is_redacted() {
        let key = OprfServerKey::from_bytes(&Secret32::new([0x11; 32])).unwrap();
        let (state, _) = blind_with(INPUT, &Secret32::new([0x22; 32])).unwrap();
        assert_eq!(format!("{key:?}"), "OprfServerKey([REDACTED])");
        assert_eq!(format!("{state:?}"), "OprfClientState([REDACTED])");
    }
}
