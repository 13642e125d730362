//! End-to-end encryption of device-API bodies above TLS (PROTOCOL.md §5),
//! the role Smart-ID's JWE envelope plays: a TLS-terminating proxy sees
//! only ciphertext, yet DKLs23 fragments and OT seeds cross it.
//!
//! The server has a long-term P-256 *protocol key* `S`, whose public key
//! the device pins like the TLS key ([`ProtocolPublicKey::pin`]). For each
//! request the device picks an ephemeral key `e`:
//!
//! ```text
//! z      = x-coordinate of e · S                          (ECDH)
//! okm    = HKDF-SHA256(ikm = z, salt = SEC1(e_pub) ‖ SEC1(S_pub),
//!                      info = "kaksik/e2e/v1"), 64 bytes
//! k_req ‖ k_resp = okm
//! request  = AES-256-GCM(k_req, nonce, body,
//!                        aad = "kaksik/e2e/v1/request" ‖ context)
//! response = AES-256-GCM(k_resp, nonce', body,
//!                        aad = "kaksik/e2e/v1/response" ‖ context
//!                              ‖ SHA-256(request envelope))
//! ```
//!
//! `‖` is the length-prefixed framing of [`crate::crypto::vault`]
//! (`I2OSP(len, 2) ‖ field`); both points in the salt are SEC1
//! uncompressed. Nonces are 96 random bits; each key encrypts exactly one
//! message (a fresh `e` per request, [`ResponseKey::seal_response`]
//! consumes its key), so no nonce is ever repeated under a key.
//!
//! # Binding
//!
//! `context` is the caller's: the values the device signature covers
//! ([`crate::protocol::request_auth::channel_context`]), while that
//! signature covers SHA-256 of the envelope as the body. So a ciphertext
//! cannot be moved to another signed request, and a response cannot be
//! moved to another request (its AAD holds the request envelope's hash).
//! The request and response directions use different keys and labels,
//! and a response envelope has no `epk`, so neither opens as the other.
//!
//! # Envelope
//!
//! JSON, base64url without padding:
//!
//! ```text
//! request:  {"v":1,"epk":"<SEC1 compressed e_pub>","nonce":"…","ct":"…"}
//! response: {"v":1,"nonce":"…","ct":"…"}
//! ```
//!
//! `ct` is the ciphertext followed by the 16-byte tag. Parsing is strict
//! (no unknown or repeated fields, canonical base64) and bounded
//! ([`MAX_ENVELOPE_LEN`]). The version is read first, so a future format
//! is reported as [`ChannelError::UnsupportedVersion`], not as garbage.
//! Every authentication failure is the one variant
//! [`ChannelError::DecryptionFailed`], which says nothing more.
//!
//! # What this module does not own
//!
//! The body's own format, and which requests are encrypted: that is the
//! device API's ([`crate::protocol`]). Storage of the protocol key at rest
//! is the server's (encrypted under its master key, PROTOCOL.md §8).

use std::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use p256::ecdh::{EphemeralSecret, diffie_hellman};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::elliptic_curve::{Generate, PrimeField};
use p256::{NonZeroScalar, PublicKey, Scalar};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::secret::{Secret32, SecretBytes};

/// The envelope format this code writes and reads.
pub const VERSION: u64 = 1;
/// HKDF info.
pub const HKDF_INFO: &[u8] = b"kaksik/e2e/v1";
/// First AAD field of a request.
pub const REQUEST_LABEL: &[u8] = b"kaksik/e2e/v1/request";
/// First AAD field of a response.
pub const RESPONSE_LABEL: &[u8] = b"kaksik/e2e/v1/response";

/// The longest envelope either side parses or writes (4 MiB). A DKG round
/// is about 148 KB (PROTOCOL.md §8); the cap bounds what a hostile peer
/// can make the parser and the AEAD chew on.
pub const MAX_ENVELOPE_LEN: usize = 4 * 1024 * 1024;
/// The longest plaintext either side seals: base64 grows it by a third,
/// and the JSON around it needs about a hundred bytes, so every sealed
/// envelope stays under [`MAX_ENVELOPE_LEN`].
pub const MAX_PLAINTEXT_LEN: usize = 3 * 1024 * 1024 - 1024;
/// The longest `context`: one 2-byte length prefix.
pub const MAX_CONTEXT_LEN: usize = u16::MAX as usize;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const COMPRESSED_LEN: usize = 33;
const UNCOMPRESSED_LEN: usize = 65;

/// What can go wrong with the channel. No variant carries plaintext, key
/// material, or why an authentication failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ChannelError {
    /// The envelope is longer than [`MAX_ENVELOPE_LEN`].
    #[error("envelope of {len} bytes exceeds the {max}-byte limit")]
    EnvelopeTooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_ENVELOPE_LEN`].
        max: usize,
    },
    /// The plaintext is longer than [`MAX_PLAINTEXT_LEN`].
    #[error("plaintext of {len} bytes exceeds the {max}-byte limit")]
    PlaintextTooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_PLAINTEXT_LEN`].
        max: usize,
    },
    /// The context is longer than [`MAX_CONTEXT_LEN`].
    #[error("context of {len} bytes exceeds the {MAX_CONTEXT_LEN}-byte limit")]
    ContextTooLong {
        /// Its length.
        len: usize,
    },
    /// Not JSON of the envelope's shape (missing, unknown or repeated
    /// fields, wrong types).
    #[error("malformed envelope")]
    MalformedEnvelope,
    /// An envelope version this code does not know.
    #[error("unsupported envelope version {version}")]
    UnsupportedVersion {
        /// The version found.
        version: u64,
    },
    /// A field is not canonical base64url without padding, or decodes to
    /// the wrong length.
    #[error("envelope field {field} is badly encoded")]
    BadEncoding {
        /// The field's name.
        field: &'static str,
    },
    /// `epk` is not a compressed, non-identity point of P-256.
    #[error("invalid ephemeral public key")]
    InvalidEphemeralKey,
    /// Bytes that are not a protocol key (public: not a SEC1 point of
    /// P-256; private: zero or not below the group order).
    #[error("invalid protocol key")]
    InvalidProtocolKey,
    /// The AEAD refused: wrong key, wrong context, another request, or
    /// tampering. Deliberately one variant.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A primitive refused its parameters. Cannot happen with the fixed
    /// sizes used here; a variant rather than a panic.
    #[error("internal cryptographic error")]
    Internal,
}

/// The server's long-term protocol key.
///
/// Wiped on drop, `Debug` redacted. Store it only encrypted
/// ([`ProtocolKey::to_bytes`] gives the bytes to encrypt).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ProtocolKey {
    secret: NonZeroScalar,
    /// Kept beside the scalar: every request needs it for the HKDF salt.
    #[zeroize(skip)]
    public: PublicKey,
}

impl ProtocolKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::from_scalar(NonZeroScalar::generate_from_rng(&mut rand::rng()))
    }

    /// The scalar as 32 big-endian bytes, for encrypted storage.
    pub fn to_bytes(&self) -> Secret32 {
        Secret32::new(self.secret.to_repr().into())
    }

    /// Reads a key stored with [`ProtocolKey::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`ChannelError::InvalidProtocolKey`] for zero or a value ≥ n.
    pub fn from_bytes(bytes: &Secret32) -> Result<Self, ChannelError> {
        let scalar: Option<Scalar> = Scalar::from_repr((*bytes.expose()).into()).into();
        scalar
            .and_then(|scalar| NonZeroScalar::new(scalar).into())
            .map(Self::from_scalar)
            .ok_or(ChannelError::InvalidProtocolKey)
    }

    /// The public key the devices pin.
    pub fn public_key(&self) -> ProtocolPublicKey {
        ProtocolPublicKey(self.public)
    }

    /// Server: decrypts a request envelope for `context`, and returns the
    /// plaintext with the key to seal the response under.
    ///
    /// # Errors
    ///
    /// [`ChannelError::ContextTooLong`]; for the envelope, in order:
    /// [`ChannelError::EnvelopeTooLarge`],
    /// [`ChannelError::MalformedEnvelope`],
    /// [`ChannelError::UnsupportedVersion`], [`ChannelError::BadEncoding`],
    /// [`ChannelError::InvalidEphemeralKey`]; then
    /// [`ChannelError::DecryptionFailed`].
    pub fn open_request(
        &self,
        context: &[u8],
        envelope: &[u8],
    ) -> Result<(SecretBytes, ResponseKey), ChannelError> {
        check_context(context)?;
        let parsed: RequestEnvelope = parse_envelope(envelope)?;
        let epk = decode_ephemeral_key(&parsed.epk)?;
        let nonce = decode_nonce(&parsed.nonce)?;
        let ciphertext = decode_ciphertext(&parsed.ct)?;

        let shared = diffie_hellman(&self.secret, epk.as_affine());
        let keys = SessionKeys::derive(shared.raw_secret_bytes(), &epk, &self.public)?;
        let plaintext = decrypt(&keys.request, &nonce, &request_aad(context)?, ciphertext)?;
        let response_key = ResponseKey::new(keys.response, context, envelope)?;
        Ok((plaintext, response_key))
    }

    fn from_scalar(secret: NonZeroScalar) -> Self {
        let public = PublicKey::from_secret_scalar(&secret);
        Self { secret, public }
    }
}

impl fmt::Debug for ProtocolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProtocolKey([REDACTED])")
    }
}

/// The server's protocol public key, as the device pins it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ProtocolPublicKey(PublicKey);

impl ProtocolPublicKey {
    /// SEC1 uncompressed, 65 bytes.
    pub fn to_sec1(&self) -> Vec<u8> {
        sec1_uncompressed(&self.0)
    }

    /// Reads a SEC1 point, compressed (33 bytes) or uncompressed (65).
    ///
    /// # Errors
    ///
    /// [`ChannelError::InvalidProtocolKey`] for any other encoding (the
    /// identity, compact or hybrid forms included) or a point off the
    /// curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, ChannelError> {
        let well_formed = matches!(
            (bytes.len(), bytes.first()),
            (COMPRESSED_LEN, Some(0x02 | 0x03)) | (UNCOMPRESSED_LEN, Some(0x04))
        );
        if !well_formed {
            return Err(ChannelError::InvalidProtocolKey);
        }
        PublicKey::from_sec1_bytes(bytes)
            .map(Self)
            .map_err(|_| ChannelError::InvalidProtocolKey)
    }

    /// `"sha256/" ‖ base64(SHA-256(SEC1 uncompressed))`, in the style of
    /// HTTP public-key pins; the same whichever form the key was read
    /// from.
    pub fn pin(&self) -> String {
        format!("sha256/{}", STANDARD.encode(Sha256::digest(self.to_sec1())))
    }
}

impl fmt::Debug for ProtocolPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProtocolPublicKey({})", self.pin())
    }
}

/// The key of the response to one request, bound to that request's
/// context and envelope.
///
/// The device keeps it from [`seal_request`] until the response arrives;
/// the server gets it from [`ProtocolKey::open_request`] and spends it on
/// one response. Wiped on drop, `Debug` redacted.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ResponseKey {
    key: Secret32,
    /// `"kaksik/e2e/v1/response" ‖ context ‖ SHA-256(request envelope)`.
    aad: Vec<u8>,
}

impl ResponseKey {
    fn new(key: Secret32, context: &[u8], request_envelope: &[u8]) -> Result<Self, ChannelError> {
        let request_hash = Sha256::digest(request_envelope);
        let aad = encode_fields(&[RESPONSE_LABEL, context, &request_hash])?;
        Ok(Self { key, aad })
    }

    /// Server: encrypts the response. Consumes the key: one request, one
    /// response, so no nonce can repeat under it.
    ///
    /// # Errors
    ///
    /// [`ChannelError::PlaintextTooLarge`] over [`MAX_PLAINTEXT_LEN`].
    pub fn seal_response(self, plaintext: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let (nonce, ct) = encrypt(&self.key, &self.aad, plaintext)?;
        write_envelope(&ResponseEnvelope {
            v: VERSION,
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            ct: URL_SAFE_NO_PAD.encode(ct),
        })
    }

    /// Device: decrypts the response to the request this key came from.
    ///
    /// # Errors
    ///
    /// In order: [`ChannelError::EnvelopeTooLarge`],
    /// [`ChannelError::MalformedEnvelope`],
    /// [`ChannelError::UnsupportedVersion`], [`ChannelError::BadEncoding`];
    /// then [`ChannelError::DecryptionFailed`].
    pub fn open_response(&self, envelope: &[u8]) -> Result<SecretBytes, ChannelError> {
        let parsed: ResponseEnvelope = parse_envelope(envelope)?;
        let nonce = decode_nonce(&parsed.nonce)?;
        let ciphertext = decode_ciphertext(&parsed.ct)?;
        decrypt(&self.key, &nonce, &self.aad, ciphertext)
    }
}

impl fmt::Debug for ResponseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseKey([REDACTED])")
    }
}

/// Device: encrypts a request body to the server's protocol key under
/// `context`, and returns the envelope with the key its response will
/// come under.
///
/// # Errors
///
/// [`ChannelError::ContextTooLong`], [`ChannelError::PlaintextTooLarge`].
pub fn seal_request(
    server: &ProtocolPublicKey,
    context: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, ResponseKey), ChannelError> {
    check_context(context)?;
    let ephemeral = EphemeralSecret::generate_from_rng(&mut rand::rng());
    let epk = ephemeral.public_key();
    let shared = ephemeral.diffie_hellman(&server.0);
    let keys = SessionKeys::derive(shared.raw_secret_bytes(), &epk, &server.0)?;

    let (nonce, ct) = encrypt(&keys.request, &request_aad(context)?, plaintext)?;
    let envelope = write_envelope(&RequestEnvelope {
        v: VERSION,
        epk: URL_SAFE_NO_PAD.encode(epk.to_sec1_point(true).as_bytes()),
        nonce: URL_SAFE_NO_PAD.encode(nonce),
        ct: URL_SAFE_NO_PAD.encode(ct),
    })?;
    let response_key = ResponseKey::new(keys.response, context, &envelope)?;
    Ok((envelope, response_key))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestEnvelope {
    v: u64,
    epk: String,
    nonce: String,
    ct: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseEnvelope {
    v: u64,
    nonce: String,
    ct: String,
}

/// Reads only `v`, so any version's envelope gets past it.
#[derive(Deserialize)]
struct VersionProbe {
    v: u64,
}

/// `k_req` and `k_resp` of one request.
struct SessionKeys {
    request: Secret32,
    response: Secret32,
}

impl SessionKeys {
    fn derive(shared_x: &[u8], epk: &PublicKey, server: &PublicKey) -> Result<Self, ChannelError> {
        let salt = encode_fields(&[&sec1_uncompressed(epk), &sec1_uncompressed(server)])?;
        let hkdf = Hkdf::<Sha256>::new(Some(&salt), shared_x);
        let mut okm = Zeroizing::new([[0u8; 32]; 2]);
        hkdf.expand(HKDF_INFO, okm.as_flattened_mut())
            .map_err(|_| ChannelError::Internal)?;
        let [request, response] = &*okm;
        Ok(Self {
            request: Secret32::new(*request),
            response: Secret32::new(*response),
        })
    }
}

fn check_context(context: &[u8]) -> Result<(), ChannelError> {
    if context.len() > MAX_CONTEXT_LEN {
        return Err(ChannelError::ContextTooLong { len: context.len() });
    }
    Ok(())
}

fn request_aad(context: &[u8]) -> Result<Vec<u8>, ChannelError> {
    encode_fields(&[REQUEST_LABEL, context])
}

/// AES-256-GCM under a fresh random nonce; returns the nonce and the
/// ciphertext with its tag.
fn encrypt(
    key: &Secret32,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>), ChannelError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(ChannelError::PlaintextTooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce);
    // Room for the tag up front, so no reallocation leaves an unwiped
    // copy of the plaintext; Zeroizing covers the error path.
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    buffer.extend_from_slice(plaintext);
    cipher(key)
        .encrypt_in_place(&Nonce::from(nonce), aad, &mut *buffer)
        .map_err(|_| ChannelError::Internal)?;
    Ok((nonce, std::mem::take(&mut *buffer)))
}

fn decrypt(
    key: &Secret32,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: Vec<u8>,
) -> Result<SecretBytes, ChannelError> {
    let mut buffer = Zeroizing::new(ciphertext);
    cipher(key)
        .decrypt_in_place(&Nonce::from(*nonce), aad, &mut *buffer)
        .map_err(|_| ChannelError::DecryptionFailed)?;
    Ok(SecretBytes::new(std::mem::take(&mut *buffer)))
}

fn cipher(key: &Secret32) -> Aes256Gcm {
    Aes256Gcm::new(key.expose().into())
}

/// Size cap, then version, then the full shape.
fn parse_envelope<T: for<'de> Deserialize<'de>>(envelope: &[u8]) -> Result<T, ChannelError> {
    if envelope.len() > MAX_ENVELOPE_LEN {
        return Err(ChannelError::EnvelopeTooLarge {
            len: envelope.len(),
            max: MAX_ENVELOPE_LEN,
        });
    }
    // serde_json's messages can quote the input; none is passed on.
    let probe: VersionProbe =
        serde_json::from_slice(envelope).map_err(|_| ChannelError::MalformedEnvelope)?;
    if probe.v != VERSION {
        return Err(ChannelError::UnsupportedVersion { version: probe.v });
    }
    serde_json::from_slice(envelope).map_err(|_| ChannelError::MalformedEnvelope)
}

fn write_envelope<T: Serialize>(envelope: &T) -> Result<Vec<u8>, ChannelError> {
    // Serializing strings and an integer cannot fail; a variant rather
    // than a panic.
    serde_json::to_vec(envelope).map_err(|_| ChannelError::Internal)
}

fn decode_ephemeral_key(field: &str) -> Result<PublicKey, ChannelError> {
    let bytes = decode_field(field, "epk")?;
    // Compressed only: the identity (`0x00`) and the other forms are
    // refused before the curve check, which refuses points off the curve.
    if bytes.len() != COMPRESSED_LEN || !matches!(bytes.first(), Some(0x02 | 0x03)) {
        return Err(ChannelError::InvalidEphemeralKey);
    }
    PublicKey::from_sec1_bytes(&bytes).map_err(|_| ChannelError::InvalidEphemeralKey)
}

fn decode_nonce(field: &str) -> Result<[u8; NONCE_LEN], ChannelError> {
    decode_field(field, "nonce")?
        .try_into()
        .map_err(|_| ChannelError::BadEncoding { field: "nonce" })
}

fn decode_ciphertext(field: &str) -> Result<Vec<u8>, ChannelError> {
    let bytes = decode_field(field, "ct")?;
    if bytes.len() < TAG_LEN {
        return Err(ChannelError::BadEncoding { field: "ct" });
    }
    Ok(bytes)
}

/// Canonical base64url without padding: no padding, no whitespace, zero
/// trailing bits.
fn decode_field(value: &str, field: &'static str) -> Result<Vec<u8>, ChannelError> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| ChannelError::BadEncoding { field })
}

fn sec1_uncompressed(key: &PublicKey) -> Vec<u8> {
    key.to_sec1_point(false).as_bytes().to_vec()
}

/// The shared framing (crate::crypto::framing), with this module's error.
fn encode_fields(fields: &[&[u8]]) -> Result<Vec<u8>, ChannelError> {
    crate::crypto::framing::encode_fields(fields).map_err(
        |crate::crypto::framing::FieldTooLong { len }| ChannelError::ContextTooLong { len },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_plaintext_seals_into_an_envelope_under_the_cap() {
        let server = ProtocolKey::generate();
        let plaintext = vec![0u8; MAX_PLAINTEXT_LEN];
        let (envelope, response_key) =
            seal_request(&server.public_key(), &[0u8; MAX_CONTEXT_LEN], &plaintext).unwrap();
        assert!(envelope.len() <= MAX_ENVELOPE_LEN, "{}", envelope.len());
        let response = response_key.seal_response(&plaintext).unwrap();
        assert!(response.len() <= MAX_ENVELOPE_LEN);
    }

    #[test]
    fn the_two_directions_get_different_keys() {
        let server = ProtocolKey::generate();
        let epk = ProtocolKey::generate().public_key().0;
        let keys = SessionKeys::derive(&[7u8; 32], &epk, &server.public_key().0).unwrap();
        assert_ne!(keys.request, keys.response);
    }

    #[test]
    fn aad_fields_are_length_prefixed() {
        assert_eq!(
            request_aad(b"ctx").unwrap(),
            b"\x00\x15kaksik/e2e/v1/request\x00\x03ctx"
        );
    }
}
