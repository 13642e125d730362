//! Persistence the platform provides: a small key → blob store.
//!
//! The core keeps all of its state (sealed shares, the software device
//! key, account data) through one trait, [`SecureStore`], which each
//! platform implements over its own storage (Android: files in the app's
//! private directory or EncryptedSharedPreferences; iOS: the Keychain or
//! the app container with file protection). [`FileStore`] is the
//! implementation for the CLI simulator and the tests.
//!
//! # What the store is trusted with
//!
//! Nothing secret in the clear: every value that is secret is encrypted by
//! the caller before it reaches [`SecureStore::put`] (the PIN gate,
//! [`crate::crypto::vault`]). The store is trusted for *integrity of
//! writes*, not confidentiality: a write is all-or-nothing, and a crash
//! leaves the old value or the new one. The one exception is the software
//! device key of the simulator ([`crate::device_key::SoftwareDeviceKey`]),
//! which a real app keeps in the platform keystore instead.
//!
//! # Keys
//!
//! Keys match `[a-z0-9][a-z0-9._-]{0,63}`: safe as a file name on every
//! platform, case-insensitive file systems included, with no path
//! separator, no leading dot and nothing a shell or a Keychain query would
//! reinterpret. Every implementation refuses other keys with
//! [`StoreError::InvalidKey`] ([`validate_key`]), so a key that works with
//! one store works with all of them.
//!
//! # What this module does not own
//!
//! What is stored under which key, and the encoding of the values: those
//! belong to the modules that own the values.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 64;

/// Marks the name of a temporary file. `~` is outside the key alphabet, so
/// no key can ever be mistaken for a temporary file, or the reverse.
const TEMP_MARKER: &str = ".tmp~";

/// How old a temporary file must be before [`FileStore::open`] removes it.
/// A younger one may belong to a `put` still running in another process;
/// deleting it would make that `put` fail (never corrupt anything, but
/// fail).
const STALE_TEMP_AGE: Duration = Duration::from_secs(5 * 60);

/// What can go wrong with a store. No variant carries a stored value.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The key does not match `[a-z0-9][a-z0-9._-]{0,63}`.
    #[error("invalid store key: keys match [a-z0-9][a-z0-9._-]{{0,63}}")]
    InvalidKey,
    /// The file system refused an operation of [`FileStore`].
    #[error("store I/O error while trying to {operation}")]
    Io {
        /// What the store was doing.
        operation: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A platform store failed (a Keychain or Keystore error, a full
    /// disk). The description must not contain the value.
    #[error("platform store error: {0}")]
    Platform(String),
}

/// A key → blob store the platform provides.
///
/// Implementations are synchronous (a blob is at most a few hundred
/// kilobytes) and safe to share between threads. Values that are secret
/// arrive already encrypted (module doc); the store need not encrypt
/// again, but must make every write atomic: after a crash, [`get`] returns
/// the old value or the new one, never a mix.
///
/// [`get`]: SecureStore::get
pub trait SecureStore: Send + Sync {
    /// The value stored under `key`, or `None` if there is none.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`] for a malformed key; otherwise whatever
    /// the backing storage reports.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key`, replacing any previous value,
    /// atomically and durably: when this returns `Ok`, the value survives
    /// a crash.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`] for a malformed key (nothing is
    /// written); otherwise whatever the backing storage reports, in which
    /// case the previous value is still in place.
    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;

    /// Removes the value under `key`. Removing a key that has no value
    /// succeeds: the caller wants it gone, and it is.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidKey`] for a malformed key; otherwise whatever
    /// the backing storage reports.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Checks that `key` matches `[a-z0-9][a-z0-9._-]{0,63}`. Every
/// [`SecureStore`] calls this before touching its storage.
///
/// # Errors
///
/// [`StoreError::InvalidKey`] otherwise.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let bytes = key.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    if first_ok && rest_ok && bytes.len() <= MAX_KEY_LEN {
        Ok(())
    } else {
        Err(StoreError::InvalidKey)
    }
}

/// A [`SecureStore`] over one directory: one file per key.
///
/// For the CLI simulator and the tests. The directory is created with mode
/// `0700` and every file with mode `0600` (on Unix), from the first byte
/// written, so no other user ever sees a value.
///
/// `put` writes `<key>.tmp~<random>`, syncs it, renames it over `<key>`
/// and syncs the directory, so a crash at any point leaves the old value
/// or the new one (rename is atomic within a file system). Concurrent
/// writers, in this process or another, each use their own temporary
/// file; the last rename wins and every reader sees one complete value.
/// A temporary file left by a crash is never read (its name is not a key)
/// and is removed by a later [`FileStore::open`].
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Opens the store in `dir`, creating the directory (mode `0700`) if
    /// needed, and removes temporary files a crashed `put` left behind.
    ///
    /// An existing directory keeps its mode: the store does not change
    /// permissions it did not set. Its files are `0600` either way.
    ///
    /// # Errors
    ///
    /// [`StoreError::Io`] if the directory cannot be created or listed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        create_private_dir(&dir).map_err(io_error("create the store directory"))?;
        let store = Self { dir };
        store.remove_stale_temp_files()?;
        Ok(store)
    }

    /// The directory this store keeps its files in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        validate_key(key)?;
        Ok(self.dir.join(key))
    }

    fn remove_stale_temp_files(&self) -> Result<(), StoreError> {
        let entries = fs::read_dir(&self.dir).map_err(io_error("list the store directory"))?;
        for entry in entries {
            let entry = entry.map_err(io_error("list the store directory"))?;
            let is_temp = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.contains(TEMP_MARKER));
            if !is_temp {
                continue;
            }
            // Best effort: a file whose age cannot be read is left for the
            // next open, and a file another process removed first is fine.
            let is_stale = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age >= STALE_TEMP_AGE);
            if is_stale {
                match fs::remove_file(entry.path()) {
                    Ok(()) => {}
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                    Err(error) => return Err(io_error("remove a stale temporary file")(error)),
                }
            }
        }
        Ok(())
    }
}

impl SecureStore for FileStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key)?;
        match fs::read(path) {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error("read a value")(error)),
        }
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let temp = self
            .dir
            .join(format!("{key}{TEMP_MARKER}{}", random_suffix()));
        let written = write_synced(&temp, value)
            .map_err(io_error("write a temporary file"))
            .and_then(|()| fs::rename(&temp, &path).map_err(io_error("rename a temporary file")));
        if let Err(error) = written {
            // The value never replaced the old one; do not leave the
            // half-written copy behind either. A failure here changes
            // nothing: the next open removes it.
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
        sync_dir(&self.dir).map_err(io_error("sync the store directory"))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match fs::remove_file(path) {
            Ok(()) => sync_dir(&self.dir).map_err(io_error("sync the store directory")),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io_error("delete a value")(error)),
        }
    }
}

/// Writes `value` to a new file at `path` (mode `0600` on Unix, set at
/// creation so the data is never readable by others), then flushes it to
/// the disk.
fn write_synced(path: &Path, value: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    // `create_new`: a temporary name that somehow exists is an error, never
    // a file shared with another writer.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(value)?;
    file.sync_all()
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes a rename or removal in `dir` durable: on Unix a rename is only on
/// the disk once the directory itself is synced.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; NTFS journals the rename.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// 128 random bits, hex: unique among concurrent writers without locks.
fn random_suffix() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

fn io_error(operation: &'static str) -> impl Fn(io::Error) -> StoreError {
    move |source| StoreError::Io { operation, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_file_name_is_never_a_valid_key() {
        let name = format!("a{TEMP_MARKER}{}", random_suffix());
        assert!(validate_key(&name).is_err());
    }
}
