//! Properties of the sealed blob: the parser takes any bytes without
//! panicking, and no single-byte change to a valid blob ever opens.

use kaksik_core::crypto::secret::{Secret32, SecretBytes};
use kaksik_core::crypto::vault::{SealedShare, VaultError, VaultKey, open, seal};
use kaksik_core::role::KeyRole;
use proptest::prelude::*;

const ACCOUNT: &str = "PNOEE-38001085718-ABCD-Q";
const EPOCH: u64 = 3;

#[cfg(test)]
mod fixture {
    use super::*;

    pub fn key() -> VaultKey {
        VaultKey::derive(
            &Secret32::new([1; 32]),
            &Secret32::new([2; 32]),
            ACCOUNT,
            KeyRole::Sign,
        )
        .unwrap()
    }

    pub fn valid_blob() -> Vec<u8> {
        let plaintext = SecretBytes::from_slice(b"share state and epoch token");
        seal(&key(), ACCOUNT, KeyRole::Sign, EPOCH, &plaintext)
            .unwrap()
            .to_bytes()
    }
}

use fixture::{key, valid_blob};

proptest! {
    #[test]
    fn from_bytes_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let _ = SealedShare::from_bytes(&bytes);
    }

    #[test]
    fn from_bytes_never_panics_behind_a_valid_prefix(
        prefix_len in 0usize..=13,
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // Reach the later fields: a real header cut anywhere, then noise.
        let mut bytes = valid_blob();
        bytes.truncate(prefix_len);
        bytes.extend_from_slice(&tail);
        if let Ok(parsed) = SealedShare::from_bytes(&bytes) {
            prop_assert_eq!(parsed.to_bytes(), bytes);
        }
    }

    #[test]
    fn no_single_byte_flip_of_a_valid_blob_opens(
        position in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut blob = valid_blob();
        let i = position.index(blob.len());
        blob[i] ^= mask;

        let Ok(sealed) = SealedShare::from_bytes(&blob) else {
            return Ok(()); // refused by the parser: fine
        };
        // As the honest caller would open it.
        prop_assert!(open(&key(), ACCOUNT, KeyRole::Sign, EPOCH, &sealed).is_err());
        // And as a caller fooled into trusting the edited header: the AEAD
        // still refuses, because the header is in the AAD.
        prop_assert_eq!(
            open(&key(), ACCOUNT, sealed.role(), sealed.epoch(), &sealed).err(),
            Some(VaultError::WrongPin)
        );
    }
}
