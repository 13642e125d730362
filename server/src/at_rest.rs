//! Encryption at rest of the server's secrets (party states, OPRF keys,
//! unlock-proof keys): AES-256-GCM under a master key kept outside the
//! database, so a database dump alone gives no share and no PIN oracle
//! (PROTOCOL.md §8).
//!
//! Each value is bound by its AAD to the row it belongs in (`purpose`,
//! e.g. `key-share/PNOEE-…/auth/3`), so a ciphertext copied into another
//! row or column does not decrypt.

use std::fs;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use kaksik_core::crypto::secret::{Secret32, SecretBytes};

/// Version byte of the at-rest format.
const FORMAT: u8 = 1;

/// Errors of the at-rest layer. They never contain plaintext.
#[derive(Debug, thiserror::Error)]
pub enum AtRestError {
    /// The master key file is missing, unreadable or malformed.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A stored value did not decrypt under the master key for its row.
    #[error("stored secret for {purpose} does not decrypt")]
    Corrupt {
        /// The row the value was read from.
        purpose: String,
    },
}

/// The server's master key.
pub struct MasterKey(Secret32);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// Loads the key from `path`, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, AtRestError> {
        match fs::read(path) {
            Ok(bytes) => {
                let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
                    AtRestError::MasterKey(format!("{} is not 32 bytes", path.display()))
                })?;
                Ok(MasterKey(Secret32::new(bytes)))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Secret32::random();
                write_private(path, key.expose()).map_err(|e| {
                    AtRestError::MasterKey(format!("writing {}: {e}", path.display()))
                })?;
                Ok(MasterKey(key))
            }
            Err(error) => Err(AtRestError::MasterKey(format!(
                "reading {}: {error}",
                path.display()
            ))),
        }
    }

    /// Encrypts `plaintext` for the row named by `purpose`.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, AtRestError> {
        let cipher = Aes256Gcm::new_from_slice(self.0.expose())
            .map_err(|_| AtRestError::MasterKey("bad key length".into()))?;
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| AtRestError::Corrupt {
                purpose: purpose.to_owned(),
            })?;
        let mut out = Vec::with_capacity(1 + 12 + ciphertext.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypts a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<SecretBytes, AtRestError> {
        let corrupt = || AtRestError::Corrupt {
            purpose: purpose.to_owned(),
        };
        let (format, rest) = sealed.split_first().ok_or_else(corrupt)?;
        if *format != FORMAT || rest.len() < 12 + 16 {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = rest.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| corrupt())?;
        let cipher = Aes256Gcm::new_from_slice(self.0.expose())
            .map_err(|_| AtRestError::MasterKey("bad key length".into()))?;
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| corrupt())
    }
}

/// Writes a private file atomically: temp file with mode 0600, fsync,
/// rename. A crash leaves either no file or the whole file.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_for_the_row_it_was_sealed_for() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let sealed = key.seal("key-share/A/auth/0", b"share").unwrap();
        assert_eq!(
            key.open("key-share/A/auth/0", &sealed).unwrap().expose(),
            b"share"
        );
        assert!(key.open("key-share/B/auth/0", &sealed).is_err());
    }

    #[test]
    fn the_master_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let sealed = MasterKey::load_or_create(&path)
            .unwrap()
            .seal("x", b"y")
            .unwrap();
        let reloaded = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(reloaded.open("x", &sealed).unwrap().expose(), b"y");
    }
}
