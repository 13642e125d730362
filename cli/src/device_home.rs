//! A device home of `kaksik device`: one directory holding the account's
//! [`FileStore`], the simulator's software device key in it, and which
//! server the account belongs to, so that every command after `register`
//! needs only `--home`.
//!
//! The server is remembered under the store key [`SERVER_KEY`] (JSON, no
//! secret in it), written through the store like everything else, so it
//! is replaced atomically and has the store's file modes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kaksik_core::client::{Authenticator, ClientConfig, ClientError, SpkiPin};
use kaksik_core::device_key::SoftwareDeviceKey;
use kaksik_core::store::{FileStore, SecureStore as _};
use serde::{Deserialize, Serialize};

use crate::cli_error::CliError;

/// Store key of the [`ServerBinding`].
const SERVER_KEY: &str = "cli-config";

/// Store key of the software device key (the tests' fixture uses the
/// same name).
const DEVICE_KEY: &str = "device-key";

/// Format of [`ServerBinding`] this code writes and reads.
const FORMAT: u32 = 1;

/// The server a home's account belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerBinding {
    format: u32,
    /// `https://host:port`.
    pub server_url: String,
    /// `sha256/<Base64>` of the server's TLS key.
    pub spki_pin: String,
}

impl ServerBinding {
    /// The binding the flags name, each checked, the error naming the
    /// flag.
    pub fn from_flags(server_url: &str, spki_pin: &str) -> Result<Self, CliError> {
        SpkiPin::parse(spki_pin).map_err(|e| flag_error("--spki-pin", &e))?;
        Ok(Self {
            format: FORMAT,
            server_url: server_url.trim_end_matches('/').to_owned(),
            spki_pin: spki_pin.to_owned(),
        })
    }
}

/// An opened device home.
pub struct Home {
    dir: PathBuf,
    store: Arc<FileStore>,
}

impl Home {
    /// Opens `dir`, creating it if needed (for `register`).
    pub fn create(dir: &Path) -> Result<Self, CliError> {
        let store = FileStore::open(dir).map_err(|e| home_failure(dir, &e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            store: Arc::new(store),
        })
    }

    /// Opens `dir`, which must exist and know its server (every command
    /// after `register`), and the client for it.
    pub fn open_client(dir: &Path) -> Result<(Self, Authenticator), CliError> {
        if !dir.is_dir() {
            return Err(CliError::Input {
                flag: "--home".into(),
                reason: format!("{} is not a directory", dir.display()),
            });
        }
        let home = Self::create(dir)?;
        let binding = home.binding()?.ok_or_else(|| CliError::Input {
            flag: "--home".into(),
            reason: format!(
                "{} holds no kaksik device; run `kaksik device --home {} register …` first",
                dir.display(),
                dir.display()
            ),
        })?;
        let client = home.client(&binding)?;
        Ok((home, client))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server this home belongs to, if it was ever bound.
    pub fn binding(&self) -> Result<Option<ServerBinding>, CliError> {
        let Some(bytes) = self
            .store
            .get(SERVER_KEY)
            .map_err(|e| home_failure(&self.dir, &e))?
        else {
            return Ok(None);
        };
        let binding: ServerBinding = serde_json::from_slice(&bytes).map_err(|_| {
            CliError::failed(format!(
                "{}: the stored server settings ({SERVER_KEY}) are unreadable",
                self.dir.display()
            ))
        })?;
        if binding.format != FORMAT {
            return Err(CliError::failed(format!(
                "{}: the stored server settings have format {}, this kaksik reads {FORMAT}",
                self.dir.display(),
                binding.format
            )));
        }
        Ok(Some(binding))
    }

    /// Binds this home to `binding`: a new home remembers it; a home bound
    /// to another server is refused, since its account and pinned
    /// protocol key belong to that server.
    pub fn bind(&self, binding: &ServerBinding) -> Result<(), CliError> {
        match self.binding()? {
            Some(existing) if existing == *binding => Ok(()),
            Some(existing) => Err(CliError::Input {
                flag: "--server".into(),
                reason: format!(
                    "{} belongs to {} (with another pin or server); use a new --home",
                    self.dir.display(),
                    existing.server_url
                ),
            }),
            None => {
                let json = serde_json::to_vec(binding)
                    .map_err(|e| CliError::failed(format!("encoding the server settings: {e}")))?;
                self.store
                    .put(SERVER_KEY, &json)
                    .map_err(|e| home_failure(&self.dir, &e))
            }
        }
    }

    /// The device client of this home for `binding`. Makes no network
    /// call; creates the device key on first use.
    pub fn client(&self, binding: &ServerBinding) -> Result<Authenticator, CliError> {
        let key = SoftwareDeviceKey::load_or_create(self.store.as_ref(), DEVICE_KEY)
            .map_err(|e| home_failure(&self.dir, &e))?;
        let config = ClientConfig::new(binding.server_url.clone(), binding.spki_pin.clone());
        // The pin was checked already: a refusal here is about the URL.
        Authenticator::new(config, self.store.clone(), Arc::new(key)).map_err(|e| match e {
            ClientError::InvalidInput { .. } => flag_error("--server", &e),
            other => CliError::failed(other),
        })
    }
}

/// A core refusal of a flag's value, without the core's own prefix.
fn flag_error(flag: &str, error: &ClientError) -> CliError {
    let reason = match error {
        ClientError::InvalidInput { reason } => reason.clone(),
        other => other.to_string(),
    };
    CliError::Input {
        flag: flag.into(),
        reason,
    }
}

fn home_failure(dir: &Path, error: &dyn std::error::Error) -> CliError {
    let mut text = format!("{}: {error}", dir.display());
    if let Some(source) = error.source() {
        text.push_str(&format!(": {source}"));
    }
    CliError::failed(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn a_home_remembers_its_server_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::create(dir.path()).unwrap();
        assert_eq!(home.binding().unwrap(), None);
        let binding = ServerBinding::from_flags("https://127.0.0.1:8443/", PIN).unwrap();
        assert_eq!(binding.server_url, "https://127.0.0.1:8443");
        home.bind(&binding).unwrap();
        home.bind(&binding).unwrap();
        let reopened = Home::create(dir.path()).unwrap();
        assert_eq!(reopened.binding().unwrap(), Some(binding));
        let other = ServerBinding::from_flags("https://127.0.0.1:9443", PIN).unwrap();
        let refused = reopened.bind(&other).unwrap_err();
        assert!(refused.to_string().starts_with("--server: "), "{refused}");
    }

    #[test]
    fn a_bad_pin_or_url_names_its_flag() {
        let pin = ServerBinding::from_flags("https://h", "sha256/short").unwrap_err();
        assert!(pin.to_string().starts_with("--spki-pin: "), "{pin}");
        let dir = tempfile::tempdir().unwrap();
        let home = Home::create(dir.path()).unwrap();
        let url = ServerBinding::from_flags("http://127.0.0.1:1", PIN).unwrap();
        let refused = home.client(&url).err().unwrap();
        assert!(refused.to_string().starts_with("--server: "), "{refused}");
    }

    #[test]
    fn a_missing_home_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let error = Home::open_client(&missing).err().unwrap();
        assert!(error.to_string().starts_with("--home: "), "{error}");
        assert!(!missing.exists());
        let unbound = Home::open_client(dir.path()).err().unwrap();
        assert!(unbound.to_string().contains("register"), "{unbound}");
    }
}
