//! The device key (PROTOCOL.md §1): the P-256 key that authenticates every
//! device-API request, and the server's check of its signatures.
//!
//! A real app keeps the device key in hardware (Android Keystore /
//! StrongBox, the iOS Secure Enclave) and implements [`DeviceKey`] over
//! it; the private key never leaves the keystore. [`SoftwareDeviceKey`] is
//! the same contract in software, for the CLI simulator and the tests.
//!
//! # Encodings
//!
//! - Public keys are SEC1 *uncompressed* points, 65 bytes starting with
//!   `0x04`: what both keystores export most easily, and one canonical
//!   form, so the same key always has the same [`device_id`].
//! - Signatures are ASN.1 DER `ECDSA-Sig-Value`s over SHA-256 of the
//!   message: exactly what Android's `SHA256withECDSA` and Apple's
//!   `ecdsaSignatureMessageX962SHA256` return, so the platform code passes
//!   them through untouched.
//!
//! # High-S signatures are accepted
//!
//! Android Keystore does not normalize `s`, so about half its signatures
//! are "high-S". [`verify_device_signature`] accepts both forms. The cost
//! is malleability: anyone can turn a valid signature into a second valid
//! one (`s → n − s`). That is harmless here because nothing treats the
//! signature bytes as an identifier: replay protection is the signed
//! nonce ([`crate::protocol::request_auth`]), not the signature.
//!
//! # Device id
//!
//! [`device_id`] is `base64url-nopad(SHA-256(SEC1 uncompressed public
//! key))`: self-certifying, so the server never has to trust a client's
//! claim about which key an id belongs to.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::crypto::secret::SecretBytes;
use crate::store::{SecureStore, StoreError};

/// Length of a SEC1 uncompressed P-256 public key.
pub const PUBLIC_KEY_LEN: usize = 65;

/// Length of a [`device_id`] string: 32 bytes in base64url without
/// padding.
pub const DEVICE_ID_LEN: usize = 43;

/// What can go wrong with a device key. No variant carries key material.
#[derive(Debug, Error)]
pub enum DeviceKeyError {
    /// The public key is not a 65-byte SEC1 uncompressed point on P-256.
    #[error("invalid device public key: expected a 65-byte SEC1 uncompressed P-256 point")]
    InvalidPublicKey,
    /// The signature is not a DER `ECDSA-Sig-Value` of P-256.
    #[error("malformed device signature: expected ASN.1 DER ECDSA-Sig-Value")]
    MalformedSignature,
    /// The signature does not verify for this key and message.
    #[error("device signature does not verify")]
    BadSignature,
    /// The stored private key is not a PKCS#8 P-256 key. The store is
    /// corrupted; the key is *not* replaced, because a new key would be a
    /// new device to the server.
    #[error("stored device key is not a valid PKCS#8 P-256 private key")]
    InvalidPrivateKey,
    /// Encoding the private key as PKCS#8 failed (not expected with a
    /// valid key; a variant rather than a panic).
    #[error("could not encode the device key as PKCS#8")]
    Encoding,
    /// The store wrote the key but does not return it.
    #[error("the store did not keep the new device key")]
    NotPersisted,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The platform keystore failed (key invalidated, user not
    /// authenticated, hardware error). The description must not contain
    /// key material.
    #[error("platform keystore error: {0}")]
    Platform(String),
}

/// The key that authenticates every device-API request.
///
/// Implemented by the platform over its hardware keystore, and by
/// [`SoftwareDeviceKey`].
pub trait DeviceKey: Send + Sync {
    /// The public key, SEC1 uncompressed (65 bytes, `0x04 ‖ x ‖ y`).
    ///
    /// # Errors
    ///
    /// [`DeviceKeyError::Platform`] if the keystore fails.
    fn public_key(&self) -> Result<Vec<u8>, DeviceKeyError>;

    /// An ECDSA P-256 signature over SHA-256 of `message`, ASN.1 DER
    /// encoded (Android `SHA256withECDSA`, Apple
    /// `ecdsaSignatureMessageX962SHA256`). The implementation hashes; the
    /// caller passes the message itself.
    ///
    /// # Errors
    ///
    /// [`DeviceKeyError::Platform`] if the keystore fails.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DeviceKeyError>;
}

/// A device key held in process memory.
///
/// For the CLI simulator and the tests only: a real app implements
/// [`DeviceKey`] over Android Keystore / StrongBox or the Secure Enclave,
/// where the private key cannot be read out. The private scalar is wiped
/// on drop and `Debug` shows only the [`device_id`].
pub struct SoftwareDeviceKey {
    signing_key: SigningKey,
}

impl SoftwareDeviceKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self {
            signing_key: SigningKey::generate_from_rng(&mut rand::rng()),
        }
    }

    /// The private key as PKCS#8 DER (RFC 5208 / RFC 5915), for storage.
    ///
    /// # Errors
    ///
    /// [`DeviceKeyError::Encoding`] if the encoder fails (not expected).
    pub fn to_pkcs8_der(&self) -> Result<SecretBytes, DeviceKeyError> {
        let document = self
            .signing_key
            .to_pkcs8_der()
            .map_err(|_| DeviceKeyError::Encoding)?;
        // `SecretDocument` wipes its own buffer on drop.
        Ok(SecretBytes::from_slice(document.as_bytes()))
    }

    /// Reads a key written by [`SoftwareDeviceKey::to_pkcs8_der`] (or any
    /// PKCS#8 P-256 key).
    ///
    /// # Errors
    ///
    /// [`DeviceKeyError::InvalidPrivateKey`] for anything else.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, DeviceKeyError> {
        SigningKey::from_pkcs8_der(der)
            .map(|signing_key| Self { signing_key })
            .map_err(|_| DeviceKeyError::InvalidPrivateKey)
    }

    /// The key stored under `key_name`, or a new one, stored there first.
    ///
    /// After storing a new key this reads it back and returns what the
    /// store holds, so a store that silently drops writes is caught now,
    /// not at the next launch as an unknown device. The store has no
    /// compare-and-swap: call this from one place, once, at start-up.
    ///
    /// # Errors
    ///
    /// [`DeviceKeyError::Store`] if the store fails (including an invalid
    /// `key_name`); [`DeviceKeyError::InvalidPrivateKey`] if the stored
    /// bytes are not a key, which is never "fixed" by making a new one;
    /// [`DeviceKeyError::NotPersisted`] if the new key cannot be read back.
    pub fn load_or_create(store: &dyn SecureStore, key_name: &str) -> Result<Self, DeviceKeyError> {
        if let Some(stored) = store.get(key_name)? {
            return Self::from_pkcs8_der(&Zeroizing::new(stored));
        }
        let created = Self::generate();
        store.put(key_name, created.to_pkcs8_der()?.expose())?;
        let stored = store
            .get(key_name)?
            .map(Zeroizing::new)
            .ok_or(DeviceKeyError::NotPersisted)?;
        Self::from_pkcs8_der(&stored)
    }

    fn public_key_bytes(&self) -> Vec<u8> {
        self.signing_key
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec()
    }
}

impl DeviceKey for SoftwareDeviceKey {
    fn public_key(&self) -> Result<Vec<u8>, DeviceKeyError> {
        Ok(self.public_key_bytes())
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DeviceKeyError> {
        // RFC 6979 deterministic nonces: no RNG failure can leak the key.
        let signature: DerSignature = self.signing_key.sign(message);
        Ok(signature.as_bytes().to_vec())
    }
}

impl fmt::Debug for SoftwareDeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = device_id(&self.public_key_bytes()).unwrap_or_default();
        f.debug_struct("SoftwareDeviceKey")
            .field("device_id", &id)
            .finish_non_exhaustive()
    }
}

/// The device id of a public key: `base64url-nopad(SHA-256(public_key))`,
/// 43 characters.
///
/// # Errors
///
/// [`DeviceKeyError::InvalidPublicKey`] unless `public_key_sec1` is a
/// 65-byte SEC1 uncompressed point on P-256: an id exists only for a real
/// key in its one canonical encoding.
pub fn device_id(public_key_sec1: &[u8]) -> Result<String, DeviceKeyError> {
    parse_public_key(public_key_sec1)?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(public_key_sec1)))
}

/// Server: checks a device signature (module doc: DER, SHA-256, high-S
/// accepted).
///
/// # Errors
///
/// [`DeviceKeyError::InvalidPublicKey`] for a key that is not 65-byte SEC1
/// uncompressed; [`DeviceKeyError::MalformedSignature`] for bytes that are
/// not strict DER; [`DeviceKeyError::BadSignature`] if it does not verify.
pub fn verify_device_signature(
    public_key_sec1: &[u8],
    message: &[u8],
    der_signature: &[u8],
) -> Result<(), DeviceKeyError> {
    let key = parse_public_key(public_key_sec1)?;
    let signature =
        DerSignature::from_bytes(der_signature).map_err(|_| DeviceKeyError::MalformedSignature)?;
    key.verify(message, &signature)
        .map_err(|_| DeviceKeyError::BadSignature)
}

fn parse_public_key(public_key_sec1: &[u8]) -> Result<VerifyingKey, DeviceKeyError> {
    // Only the uncompressed form: the compressed one would give the same
    // key a second device id.
    if public_key_sec1.len() != PUBLIC_KEY_LEN || public_key_sec1.first() != Some(&0x04) {
        return Err(DeviceKeyError::InvalidPublicKey);
    }
    VerifyingKey::from_sec1_bytes(public_key_sec1).map_err(|_| DeviceKeyError::InvalidPublicKey)
}
