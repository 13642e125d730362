//! The PIN gate (PROTOCOL.md §2) and the unlock proof (§3): how a device
//! share is locked under a key only a server-counted OPRF evaluation of
//! the right PIN can rebuild.
//!
//! ```text
//! input     = pin_input(account_id, role, PIN)            // this module
//! y         = OPRF(k_role, input)                          // crypto::oprf
//! KEK       = HKDF-SHA256(ikm = y, salt = device_salt,
//!                         info = "kaksik/kek/v1" ‖ account_id ‖ role)
//! K_proof   = HKDF-SHA256(ikm = y, salt = device_salt,
//!                         info = "kaksik/unlock-proof/v1" ‖ account_id ‖ role)
//! blob      = "KSV" ‖ 0x01 ‖ role ‖ epoch ‖ nonce ‖ AES-256-GCM(KEK, nonce,
//!             plaintext, aad = header ‖ account_id ‖ role ‖ epoch)
//! proof     = HMAC-SHA256(K_proof, evaluation_id)
//! ```
//!
//! # What `‖` means here
//!
//! PROTOCOL.md writes a bare `‖`. Bare concatenation is ambiguous: account
//! `"acme1"` with PIN `"2580"` and account `"acme"` with PIN `"12580"` would
//! give the same OPRF input. So every `‖` in this module is the one helper
//! `encode_fields`: each field, labels included, is written as
//! `I2OSP(len(field), 2) ‖ field` — the framing RFC 9497 itself uses — which
//! makes the encoding injective. Roles are their labels `"auth"`/`"sign"`,
//! epochs 8 bytes big-endian. A field over 65 535 bytes (in practice only an
//! account id could be) is refused with [`VaultError::FieldTooLong`].
//!
//! # The sealed blob
//!
//! | bytes | field |
//! |---|---|
//! | 3 | magic `"KSV"` |
//! | 1 | format version, `1` |
//! | 1 | role, [`KeyRole::as_byte`] |
//! | 8 | epoch, u64 big-endian |
//! | 12 | AES-GCM nonce, random per seal |
//! | n + 16 | ciphertext and tag |
//!
//! The whole header is in the AAD, so editing the role or epoch it claims
//! fails authentication. [`open`] compares the claimed role and epoch with
//! what the caller expects *before* decrypting, so a stale or misfiled blob
//! is reported as such ([`VaultError::EpochMismatch`],
//! [`VaultError::RoleMismatch`]) and [`VaultError::WrongPin`] means exactly
//! "the AEAD refused": per PROTOCOL.md, a wrong PIN. (An AEAD cannot tell a
//! wrong key from a tampered ciphertext; the server has counted the attempt
//! either way.)
//!
//! # What this module does not own
//!
//! The plaintext is opaque here: another module serializes the co-signing
//! share state and the clone-detection epoch token into it. The device
//! keeps the blob through its platform store ([`SealedShare::to_bytes`]).
//! `device_salt` is generated and kept by the device; a platform that mixes
//! a hardware-bound secret into `y` does so before calling
//! [`VaultKey::derive`] and [`UnlockProofKey::derive`].

use std::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::secret::{Secret32, SecretBytes};
use crate::pin::{Pin, PinKind};
use crate::role::KeyRole;

/// First field of the OPRF input.
pub const PIN_INPUT_LABEL: &[u8] = b"kaksik-pin-v1";
/// HKDF info label of the key-encryption key.
pub const KEK_LABEL: &[u8] = b"kaksik/kek/v1";
/// HKDF info label of the unlock-proof key.
pub const UNLOCK_PROOF_LABEL: &[u8] = b"kaksik/unlock-proof/v1";

/// Magic bytes that open every sealed blob.
pub const MAGIC: [u8; 3] = *b"KSV";
/// The only blob format this code writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Magic, version, role, epoch.
const HEADER_LEN: usize = 3 + 1 + 1 + 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The shortest valid blob: a header, a nonce and the tag of an empty
/// plaintext.
pub const MIN_SEALED_LEN: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;
/// The longest blob [`SealedShare::from_bytes`] parses (1 MiB). A stored
/// party is about 52 KB (PROTOCOL.md §8); the cap bounds what a corrupted
/// or hostile store can make the parser and the AEAD chew on.
pub const MAX_SEALED_LEN: usize = 1 << 20;
/// The longest plaintext [`seal`] accepts, so every sealed blob parses.
pub const MAX_PLAINTEXT_LEN: usize = MAX_SEALED_LEN - MIN_SEALED_LEN;
/// The longest field the 2-byte length prefix can frame.
pub const MAX_FIELD_LEN: usize = u16::MAX as usize;

/// Why a blob's bytes are not a [`SealedShare`]. Each rule has its own
/// variant; none carries blob contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum FormatError {
    /// Shorter than its fields require.
    #[error("sealed share of {len} bytes is shorter than the {min}-byte minimum")]
    TooShort {
        /// Its length.
        len: usize,
        /// [`MIN_SEALED_LEN`].
        min: usize,
    },
    /// Longer than [`MAX_SEALED_LEN`].
    #[error("sealed share of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Its length.
        len: usize,
        /// [`MAX_SEALED_LEN`].
        max: usize,
    },
    /// Does not start with [`MAGIC`].
    #[error("not a sealed share (bad magic)")]
    BadMagic,
    /// A format version this code does not know.
    #[error("unsupported sealed-share format version {version}")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// A role byte that is no [`KeyRole`].
    #[error("unknown role byte {byte:#04x} in sealed share")]
    UnknownRole {
        /// The role byte found.
        byte: u8,
    },
}

/// What can go wrong at the PIN gate. No variant carries a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum VaultError {
    /// The AEAD refused the blob: the PIN was wrong (PROTOCOL.md §2). Only
    /// an AEAD failure gives this error.
    #[error("wrong PIN")]
    WrongPin,
    /// The blob is for another epoch than the caller expects.
    #[error("sealed share is for epoch {found}, expected epoch {expected}")]
    EpochMismatch {
        /// The epoch the caller asked for.
        expected: u64,
        /// The epoch in the blob's header.
        found: u64,
    },
    /// The blob is for the other key.
    #[error("sealed share is for the {found} key, expected the {expected} key")]
    RoleMismatch {
        /// The role the caller asked for.
        expected: KeyRole,
        /// The role in the blob's header.
        found: KeyRole,
    },
    /// The PIN is of the other kind than the role needs (PIN2 for the
    /// authentication key, or PIN1 for the signing key).
    #[error("{pin} does not unlock the {role} key")]
    PinRoleMismatch {
        /// The PIN given.
        pin: PinKind,
        /// The role it was used for.
        role: KeyRole,
    },
    /// A field is too long for its 2-byte length prefix.
    #[error("field of {len} bytes exceeds the {MAX_FIELD_LEN}-byte limit")]
    FieldTooLong {
        /// Its length.
        len: usize,
    },
    /// The plaintext would make a blob over [`MAX_SEALED_LEN`].
    #[error("plaintext of {len} bytes exceeds the {max}-byte limit")]
    PlaintextTooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_PLAINTEXT_LEN`].
        max: usize,
    },
    /// The blob's bytes are malformed.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A primitive refused its parameters. Cannot happen with the fixed
    /// sizes used here (a 32-byte HKDF output, a plaintext under the cap);
    /// a variant rather than a panic.
    #[error("internal cryptographic error")]
    Internal,
}

/// The OPRF input for one PIN: `"kaksik-pin-v1" ‖ account_id ‖ role ‖ PIN`,
/// length-prefixed (module doc). Zeroizing: it contains the PIN.
///
/// # Errors
///
/// [`VaultError::PinRoleMismatch`] if `pin` is not the kind `role` needs;
/// [`VaultError::FieldTooLong`] for an account id over 65 535 bytes.
pub fn pin_input(account_id: &str, role: KeyRole, pin: &Pin) -> Result<SecretBytes, VaultError> {
    if pin.kind() != PinKind::from(role) {
        return Err(VaultError::PinRoleMismatch {
            pin: pin.kind(),
            role,
        });
    }
    encode_fields(&[
        PIN_INPUT_LABEL,
        account_id.as_bytes(),
        role.as_str().as_bytes(),
        pin.expose(),
    ])
    .map(SecretBytes::new)
}

/// The key-encryption key of one account key. Wiped on drop, `Debug`
/// redacted, never serialized: it is rebuilt from the PIN at every unlock.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct VaultKey(Secret32);

impl VaultKey {
    /// `HKDF-SHA256(ikm = y, salt = device_salt, info = "kaksik/kek/v1" ‖
    /// account_id ‖ role)`, where `y` is the OPRF output.
    ///
    /// # Errors
    ///
    /// [`VaultError::FieldTooLong`] for an account id over 65 535 bytes.
    pub fn derive(
        y: &Secret32,
        device_salt: &Secret32,
        account_id: &str,
        role: KeyRole,
    ) -> Result<Self, VaultError> {
        hkdf_sha256(y, device_salt, KEK_LABEL, account_id, role).map(Self)
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKey([REDACTED])")
    }
}

/// `K_proof` of PROTOCOL.md §3: lets the device prove, after an unlock,
/// that the PIN was right, so the server can reset the attempt counter even
/// if the signature that follows never completes.
///
/// Wiped on drop, `Debug` redacted. It depends on `device_salt`, so the
/// copy the server keeps gives a server-side attacker no PIN oracle.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct UnlockProofKey(Secret32);

impl UnlockProofKey {
    /// `HKDF-SHA256(ikm = y, salt = device_salt, info =
    /// "kaksik/unlock-proof/v1" ‖ account_id ‖ role)`.
    ///
    /// # Errors
    ///
    /// [`VaultError::FieldTooLong`] for an account id over 65 535 bytes.
    pub fn derive(
        y: &Secret32,
        device_salt: &Secret32,
        account_id: &str,
        role: KeyRole,
    ) -> Result<Self, VaultError> {
        hkdf_sha256(y, device_salt, UNLOCK_PROOF_LABEL, account_id, role).map(Self)
    }

    /// The key's bytes, sent to the server once, at PIN setup (and again
    /// after a PIN change).
    pub fn to_bytes(&self) -> Secret32 {
        self.0.clone()
    }
}

impl fmt::Debug for UnlockProofKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockProofKey([REDACTED])")
    }
}

/// Device: `HMAC-SHA256(K_proof, evaluation_id)`, sent after an unlock
/// succeeded for the OPRF evaluation `evaluation_id`.
pub fn unlock_proof(key: &UnlockProofKey, evaluation_id: &[u8]) -> [u8; 32] {
    proof_mac(&key.0, evaluation_id)
        .finalize()
        .into_bytes()
        .into()
}

/// Server: whether `proof` is the unlock proof for `evaluation_id` under
/// the `K_proof` the device sent at PIN setup. Constant-time in the proof;
/// a proof of the wrong length is simply false.
pub fn verify_unlock_proof(key_bytes: &Secret32, evaluation_id: &[u8], proof: &[u8]) -> bool {
    proof_mac(key_bytes, evaluation_id)
        .verify_slice(proof)
        .is_ok()
}

/// An encrypted device share, as kept in the platform store. Public data:
/// without a server-counted OPRF evaluation of the right PIN it opens to
/// nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedShare {
    role: KeyRole,
    epoch: u64,
    nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag.
    ciphertext: Vec<u8>,
}

impl SealedShare {
    /// The key this blob claims to hold (authenticated only by [`open`]).
    pub fn role(&self) -> KeyRole {
        self.role
    }

    /// The epoch this blob claims (authenticated only by [`open`]).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The blob's bytes, for the platform store.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + NONCE_LEN + self.ciphertext.len());
        bytes.extend_from_slice(&header(self.role, self.epoch));
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.ciphertext);
        bytes
    }

    /// Parses a blob strictly. Checks the form only; [`open`] checks the
    /// contents.
    ///
    /// # Errors
    ///
    /// A [`FormatError`] naming the first rule the bytes break: size cap,
    /// magic, version, role, minimum length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() > MAX_SEALED_LEN {
            return Err(FormatError::TooLong {
                len: bytes.len(),
                max: MAX_SEALED_LEN,
            });
        }
        let too_short = FormatError::TooShort {
            len: bytes.len(),
            min: MIN_SEALED_LEN,
        };
        // Magic and version first, so an unknown or future format is named
        // as such even where its layout differs from this one.
        let (magic, rest) = bytes.split_first_chunk::<3>().ok_or(too_short)?;
        if *magic != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let (&version, rest) = rest.split_first().ok_or(too_short)?;
        if version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion { version });
        }
        let (&role_byte, rest) = rest.split_first().ok_or(too_short)?;
        let role =
            KeyRole::from_byte(role_byte).ok_or(FormatError::UnknownRole { byte: role_byte })?;
        let (epoch, rest) = rest.split_first_chunk::<8>().ok_or(too_short)?;
        let (nonce, ciphertext) = rest.split_first_chunk::<NONCE_LEN>().ok_or(too_short)?;
        if ciphertext.len() < TAG_LEN {
            return Err(too_short);
        }
        Ok(Self {
            role,
            epoch: u64::from_be_bytes(*epoch),
            nonce: *nonce,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

impl fmt::Debug for SealedShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedShare")
            .field("role", &self.role)
            .field("epoch", &self.epoch)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// Encrypts `plaintext` for `(account_id, role, epoch)` under `key`, with a
/// fresh random nonce.
///
/// A random 96-bit nonce per seal keeps the chance of a repeat negligible
/// for far more seals than one PIN will ever see (the KEK changes with the
/// PIN or the device salt).
///
/// # Errors
///
/// [`VaultError::PlaintextTooLarge`] over [`MAX_PLAINTEXT_LEN`];
/// [`VaultError::FieldTooLong`] for an account id over 65 535 bytes.
pub fn seal(
    key: &VaultKey,
    account_id: &str,
    role: KeyRole,
    epoch: u64,
    plaintext: &SecretBytes,
) -> Result<SealedShare, VaultError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(VaultError::PlaintextTooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    let aad = aad(account_id, role, epoch)?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce);

    // Room for the tag up front: a reallocation while the buffer still
    // holds plaintext would leave an unwiped copy behind. Zeroizing covers
    // the error path, where the buffer may still be plaintext.
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    buffer.extend_from_slice(plaintext.expose());
    cipher(key)
        .encrypt_in_place(&Nonce::from(nonce), &aad, &mut *buffer)
        .map_err(|_| VaultError::Internal)?;
    Ok(SealedShare {
        role,
        epoch,
        nonce,
        ciphertext: std::mem::take(&mut *buffer),
    })
}

/// Decrypts a blob for `(account_id, role, expected_epoch)`.
///
/// # Errors
///
/// Checked before decrypting: [`VaultError::RoleMismatch`],
/// [`VaultError::EpochMismatch`], [`VaultError::FieldTooLong`]. Then
/// [`VaultError::WrongPin`] when the AEAD refuses: the key (the PIN, the
/// device salt) or the account id is wrong, or the blob was altered.
pub fn open(
    key: &VaultKey,
    account_id: &str,
    role: KeyRole,
    expected_epoch: u64,
    sealed: &SealedShare,
) -> Result<SecretBytes, VaultError> {
    if sealed.role != role {
        return Err(VaultError::RoleMismatch {
            expected: role,
            found: sealed.role,
        });
    }
    if sealed.epoch != expected_epoch {
        return Err(VaultError::EpochMismatch {
            expected: expected_epoch,
            found: sealed.epoch,
        });
    }
    let aad = aad(account_id, role, expected_epoch)?;
    let mut buffer = Zeroizing::new(sealed.ciphertext.clone());
    cipher(key)
        .decrypt_in_place(&Nonce::from(sealed.nonce), &aad, &mut *buffer)
        .map_err(|_| VaultError::WrongPin)?;
    Ok(SecretBytes::new(std::mem::take(&mut *buffer)))
}

/// Magic, version, role byte, epoch.
fn header(role: KeyRole, epoch: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&MAGIC);
    header.push(FORMAT_VERSION);
    header.push(role.as_byte());
    header.extend_from_slice(&epoch.to_be_bytes());
    header
}

/// `header ‖ account_id ‖ role ‖ epoch`.
fn aad(account_id: &str, role: KeyRole, epoch: u64) -> Result<Vec<u8>, VaultError> {
    encode_fields(&[
        &header(role, epoch),
        account_id.as_bytes(),
        role.as_str().as_bytes(),
        &epoch.to_be_bytes(),
    ])
}

fn cipher(key: &VaultKey) -> Aes256Gcm {
    Aes256Gcm::new(key.0.expose().into())
}

fn hkdf_sha256(
    y: &Secret32,
    device_salt: &Secret32,
    label: &[u8],
    account_id: &str,
    role: KeyRole,
) -> Result<Secret32, VaultError> {
    let info = encode_fields(&[label, account_id.as_bytes(), role.as_str().as_bytes()])?;
    let hkdf = Hkdf::<Sha256>::new(Some(device_salt.expose()), y.expose());
    let mut okm = Zeroizing::new([0u8; 32]);
    hkdf.expand(&info, okm.as_mut_slice())
        .map_err(|_| VaultError::Internal)?;
    Ok(Secret32::new(*okm))
}

fn proof_mac(key: &Secret32, evaluation_id: &[u8]) -> Hmac<Sha256> {
    // HMAC pads a key shorter than the hash block with zeros (RFC 2104 §2);
    // padding it here ourselves gives the infallible constructor the same
    // key as `new_from_slice` would, without an error path that cannot
    // happen.
    let mut block = Zeroizing::new(hmac::digest::Key::<Hmac<Sha256>>::default());
    block
        .iter_mut()
        .zip(key.expose())
        .for_each(|(dst, src)| *dst = *src);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block);
    mac.update(evaluation_id);
    mac
}

/// The shared framing (crate::crypto::framing), with this module's error.
fn encode_fields(fields: &[&[u8]]) -> Result<Vec<u8>, VaultError> {
    crate::crypto::framing::encode_fields(fields)
        .map_err(|crate::crypto::framing::FieldTooLong { len }| VaultError::FieldTooLong { len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed_so_boundaries_cannot_shift() {
        let a = encode_fields(&[b"acme1", b"2580"]).unwrap();
        let b = encode_fields(&[b"acme", b"12580"]).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, b"\x00\x05acme1\x00\x042580");
    }

    #[test]
    fn an_empty_field_still_has_its_prefix() {
        assert_eq!(encode_fields(&[b""]).unwrap(), b"\x00\x00");
    }

    #[test]
    fn a_field_too_long_for_two_bytes_is_refused() {
        let long = vec![0u8; MAX_FIELD_LEN + 1];
        assert_eq!(
            encode_fields(&[&long]),
            Err(VaultError::FieldTooLong {
                len: MAX_FIELD_LEN + 1
            })
        );
        assert!(encode_fields(&[&long[..MAX_FIELD_LEN]]).is_ok());
    }

    #[test]
    fn the_padded_hmac_key_is_the_plain_hmac_key() {
        let key = Secret32::new([0x5c; 32]);
        let ours = proof_mac(&key, b"evaluation").finalize().into_bytes();
        let reference = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose())
            .unwrap()
            .chain_update(b"evaluation")
            .finalize()
            .into_bytes();
        assert_eq!(ours, reference);
    }

    #[test]
    fn the_header_is_thirteen_bytes_in_the_documented_order() {
        assert_eq!(
            header(KeyRole::Sign, 0x0102_0304_0506_0708),
            b"KSV\x01\x02\x01\x02\x03\x04\x05\x06\x07\x08"
        );
    }
}
