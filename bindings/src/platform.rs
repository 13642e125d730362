//! What the app provides: its store and its hardware key, as foreign
//! traits, and the adapters that make them the core's
//! [`kaksik_core::store::SecureStore`] and
//! [`kaksik_core::device_key::DeviceKey`].
//!
//! The foreign traits are the core's traits in types every language has
//! (owned strings and byte arrays, one [`PlatformError`]); their contracts
//! are the core's, restated on each method. The adapters add the checks
//! that turn a mistake in an app's implementation into a clear error at
//! the call that made it, instead of a refusal from the server later:
//!
//! - store keys are validated before the app sees them, so an app's
//!   store never has to;
//! - the device key's public key is read once and checked to be a SEC1
//!   uncompressed P-256 point;
//! - every signature is checked against that key before it is sent, so a
//!   raw `r‖s` signature (iOS `rawRepresentation`) or a key that is not
//!   the one registered fails here, naming the encoding the core expects.
//!
//! Not owned here: what is stored under which key, and what is signed
//! (both the core's).

use std::fmt;
use std::sync::Arc;

use kaksik_core::device_key::{self as core_key, DeviceKeyError};
use kaksik_core::store::{self as core_store, StoreError};

use crate::error::PlatformError;

/// A key → blob store the app provides (Android: files in the app's
/// private directory; iOS: the Keychain or files with data protection).
///
/// Values that are secret arrive already encrypted under the PIN gate;
/// the store must make each write atomic and durable: after a crash `get`
/// returns the old value or the new one, never a mix. Calls come from
/// background threads, possibly several at once.
#[uniffi::export(foreign)]
pub trait SecureStore: Send + Sync {
    /// The value stored under `key`, or `null`/`None` if there is none.
    /// Keys match `[a-z0-9][a-z0-9._-]{0,63}` (checked before the call).
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, PlatformError>;

    /// Stores `value` under `key`, replacing any previous value,
    /// atomically and durably.
    fn put(&self, key: String, value: Vec<u8>) -> Result<(), PlatformError>;

    /// Removes the value under `key`; removing a missing key succeeds.
    fn delete(&self, key: String) -> Result<(), PlatformError>;
}

/// The P-256 key that signs every device-API request, kept in the
/// platform keystore (Android Keystore / StrongBox, the Secure Enclave),
/// where the private key never leaves the hardware.
#[uniffi::export(foreign)]
pub trait DeviceKey: Send + Sync {
    /// The public key, SEC1 uncompressed: 65 bytes, `0x04 ‖ x ‖ y`.
    fn public_key(&self) -> Result<Vec<u8>, PlatformError>;

    /// An ECDSA P-256 signature over SHA-256 of `message`, ASN.1 DER
    /// encoded: exactly what Android's `SHA256withECDSA` and Apple's
    /// `ecdsaSignatureMessageX962SHA256` return. The implementation
    /// hashes; the message itself is passed.
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PlatformError>;
}

/// The app's [`SecureStore`] as the core's store.
pub(crate) struct StoreAdapter(pub(crate) Arc<dyn SecureStore>);

impl core_store::SecureStore for StoreAdapter {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        core_store::validate_key(key)?;
        self.0.get(key.to_owned()).map_err(store_error)
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        core_store::validate_key(key)?;
        self.0
            .put(key.to_owned(), value.to_vec())
            .map_err(store_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        core_store::validate_key(key)?;
        self.0.delete(key.to_owned()).map_err(store_error)
    }
}

fn store_error(error: PlatformError) -> StoreError {
    StoreError::Platform(error.to_string())
}

/// The app's [`DeviceKey`] as the core's, with its public key read once
/// and every signature checked against it.
pub(crate) struct DeviceKeyAdapter {
    key: Arc<dyn DeviceKey>,
    public_key: Vec<u8>,
}

impl DeviceKeyAdapter {
    /// Reads the public key and checks its encoding.
    pub(crate) fn new(key: Arc<dyn DeviceKey>) -> Result<Self, DeviceKeyError> {
        let public_key = key.public_key().map_err(key_error)?;
        // `device_id` accepts exactly a 65-byte SEC1 uncompressed point.
        core_key::device_id(&public_key)?;
        Ok(Self { key, public_key })
    }
}

impl core_key::DeviceKey for DeviceKeyAdapter {
    fn public_key(&self) -> Result<Vec<u8>, DeviceKeyError> {
        Ok(self.public_key.clone())
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DeviceKeyError> {
        let signature = self.key.sign(message.to_vec()).map_err(key_error)?;
        core_key::verify_device_signature(&self.public_key, message, &signature).map_err(
            |error| match error {
                DeviceKeyError::MalformedSignature => DeviceKeyError::Platform(
                    "DeviceKey.sign returned a signature that is not ASN.1 DER \
                     (SHA256withECDSA / ecdsaSignatureMessageX962SHA256 give DER; \
                     a raw r||s is not accepted)"
                        .into(),
                ),
                _ => DeviceKeyError::Platform(
                    "DeviceKey.sign returned a signature that does not verify under \
                     DeviceKey.publicKey"
                        .into(),
                ),
            },
        )?;
        Ok(signature)
    }
}

impl fmt::Debug for DeviceKeyAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = core_key::device_id(&self.public_key).unwrap_or_default();
        f.debug_struct("DeviceKeyAdapter")
            .field("device_id", &id)
            .finish_non_exhaustive()
    }
}

fn key_error(error: PlatformError) -> DeviceKeyError {
    DeviceKeyError::Platform(error.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::HashMap;
    use std::sync::Mutex;

    use kaksik_core::device_key::{DeviceKey as _, SoftwareDeviceKey};
    use kaksik_core::store::SecureStore as _;

    use super::*;

    #[derive(Default)]
    struct MapStore(Mutex<HashMap<String, Vec<u8>>>);

    impl SecureStore for MapStore {
        fn get(&self, key: String) -> Result<Option<Vec<u8>>, PlatformError> {
            Ok(self.0.lock().unwrap().get(&key).cloned())
        }
        fn put(&self, key: String, value: Vec<u8>) -> Result<(), PlatformError> {
            self.0.lock().unwrap().insert(key, value);
            Ok(())
        }
        fn delete(&self, key: String) -> Result<(), PlatformError> {
            self.0.lock().unwrap().remove(&key);
            Ok(())
        }
    }

    /// A software key standing in for a keystore, encoding its
    /// signatures as `der` says.
    struct Keystore {
        key: SoftwareDeviceKey,
        der: bool,
    }

    impl DeviceKey for Keystore {
        fn public_key(&self) -> Result<Vec<u8>, PlatformError> {
            Ok(self.key.public_key().unwrap())
        }
        fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PlatformError> {
            let der = self.key.sign(&message).unwrap();
            if self.der {
                Ok(der)
            } else {
                // Not DER: the bytes of a raw encoding's length.
                Ok(vec![7; 64])
            }
        }
    }

    #[test]
    fn a_malformed_store_key_never_reaches_the_app() {
        let store = Arc::new(MapStore::default());
        let adapter = StoreAdapter(store.clone());
        assert!(matches!(
            adapter.put("../escape", b"x"),
            Err(StoreError::InvalidKey)
        ));
        assert!(store.0.lock().unwrap().is_empty());
        adapter.put("account", b"x").unwrap();
        assert_eq!(adapter.get("account").unwrap(), Some(b"x".to_vec()));
    }

    #[test]
    fn a_der_signature_passes_through_untouched() {
        let keystore = Keystore {
            key: SoftwareDeviceKey::generate(),
            der: true,
        };
        let adapter = DeviceKeyAdapter::new(Arc::new(keystore)).unwrap();
        let signature = adapter.sign(b"request").unwrap();
        assert_eq!(signature.first(), Some(&0x30));
    }

    #[test]
    fn a_raw_signature_is_refused_naming_der() {
        let keystore = Keystore {
            key: SoftwareDeviceKey::generate(),
            der: false,
        };
        let adapter = DeviceKeyAdapter::new(Arc::new(keystore)).unwrap();
        let error = adapter.sign(b"request").unwrap_err().to_string();
        assert!(error.contains("DER"), "{error}");
    }
}
