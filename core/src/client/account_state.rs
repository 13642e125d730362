//! What the device persists for one account home, and nothing else.
//!
//! | store key | value | secret? |
//! |---|---|---|
//! | `protocol-key` | the server's protocol key, SEC1, pinned at registration start | no |
//! | `device-salt` | 32 random bytes, the `device_salt` of PROTOCOL.md §2 | device-only, never sent |
//! | `account` | [`AccountRecord`]: document number, identity, registration progress, certificates (JSON) | no |
//! | `vault-auth`, `vault-sign` | a [`SealedShare`] per key, over [`VaultContents`] | sealed under the PIN gate |
//!
//! Never stored: PINs or anything derived from them, OPRF outputs, vault
//! keys, the unlock-proof key, DKG or refresh transcripts, the server's
//! public share. The epoch token is stored only inside the sealed vault.
//!
//! # The vault plaintext
//!
//! ```text
//! version (1 byte, 1) ‖ epoch token T_e (32 bytes) ‖ DeviceShare::to_secret_bytes
//! ```
//!
//! The share's envelope carries its own version, kind and epoch; the
//! sealed blob's header carries the epoch again, authenticated by the
//! AEAD. That header is the one record of which epoch the device is at:
//! a second copy elsewhere would need a second write kept in step with
//! the vault's, and a crash between the two would strand the device.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::ClientError;
use crate::crypto::channel::ProtocolPublicKey;
use crate::crypto::cosign::DeviceShare;
use crate::crypto::secret::{Secret32, SecretBytes};
use crate::crypto::vault::SealedShare;
use crate::protocol::api::{Identity, KeyRuns};
use crate::role::KeyRole;
use crate::store::SecureStore;

/// Store key of the server's protocol key.
pub(crate) const PROTOCOL_KEY: &str = "protocol-key";
/// Store key of the device salt.
pub(crate) const DEVICE_SALT: &str = "device-salt";
/// Store key of the [`AccountRecord`].
pub(crate) const ACCOUNT: &str = "account";

/// Format of [`AccountRecord`] this code writes and reads.
const RECORD_FORMAT: u32 = 1;
/// Format byte of [`VaultContents`].
const VAULT_CONTENTS_VERSION: u8 = 1;
/// Length of an epoch token.
const EPOCH_TOKEN_LEN: usize = 32;

/// Store key of the sealed share of `role`.
pub(crate) fn vault_key(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Auth => "vault-auth",
        KeyRole::Sign => "vault-sign",
    }
}

/// The account as the device remembers it. Public data only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountRecord {
    /// [`RECORD_FORMAT`].
    pub(crate) format: u32,
    /// `PNOEE-…-XXXX-Q`: bound into every vault derivation.
    pub(crate) document_number: String,
    /// The person.
    pub(crate) identity: Identity,
    /// How far registration got; kept after it completes, for its id.
    pub(crate) registration: RegistrationProgress,
    /// Set once registration finished: the account exists.
    pub(crate) certificates: Option<Certificates>,
}

/// Registration state the device needs to resume after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegistrationProgress {
    /// Names the registration in its paths.
    pub(crate) registration_id: String,
    /// The code the app showed (the device's own computation).
    pub(crate) registration_code: String,
    /// The DKG run ids the server agreed (public).
    pub(crate) dkg_runs: KeyRuns,
    /// Keys whose share is sealed and whose PIN setup the server accepted.
    pub(crate) keys_ready: Vec<KeyRole>,
}

/// The account's certificates, PEM, as the server issued them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificates {
    /// The authentication certificate (the auth key, PIN1).
    pub authentication_pem: String,
    /// The signing certificate (the sign key, PIN2).
    pub signing_pem: String,
    /// The CA chain (issuing CA, root).
    pub ca_chain_pem: String,
}

/// Where this account home stands, as far as the device knows
/// ([`super::Authenticator::status`]; no server call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalStatus {
    /// Nothing registered yet.
    NotRegistered,
    /// A registration was started and has not finished.
    Registering {
        /// The document number the account will have.
        document_number: String,
        /// Whom the enrolment is for.
        identity: Identity,
        /// The code to show the operator.
        registration_code: String,
    },
    /// The account exists (its state on the server may still be
    /// `IN_PREPARATION` until both PINs are verified).
    Registered {
        /// `PNOEE-…-XXXX-Q`.
        document_number: String,
        /// The person.
        identity: Identity,
        /// The certificates issued at registration.
        certificates: Certificates,
    },
}

impl AccountRecord {
    /// A record for a registration that has just started.
    pub(crate) fn started(
        document_number: String,
        identity: Identity,
        registration: RegistrationProgress,
    ) -> Self {
        Self {
            format: RECORD_FORMAT,
            document_number,
            identity,
            registration,
            certificates: None,
        }
    }

    /// What [`super::Authenticator::status`] reports.
    pub(crate) fn status(&self) -> LocalStatus {
        match &self.certificates {
            Some(certificates) => LocalStatus::Registered {
                document_number: self.document_number.clone(),
                identity: self.identity.clone(),
                certificates: certificates.clone(),
            },
            None => LocalStatus::Registering {
                document_number: self.document_number.clone(),
                identity: self.identity.clone(),
                registration_code: self.registration.registration_code.clone(),
            },
        }
    }

    pub(crate) fn is_registered(&self) -> bool {
        self.certificates.is_some()
    }
}

/// The plaintext sealed in a key's vault: the share and its epoch token.
pub(crate) struct VaultContents {
    /// `T_e`: presented at the next signing, never anywhere else.
    pub(crate) epoch_token: Secret32,
    /// The device's share of the key.
    pub(crate) share: DeviceShare,
}

impl VaultContents {
    /// The plaintext to seal for `share` and its `epoch_token` (module
    /// doc), in a buffer allocated once at its final size.
    pub(crate) fn plaintext(
        epoch_token: &Secret32,
        share: &DeviceShare,
    ) -> Result<SecretBytes, ClientError> {
        let share = share
            .to_secret_bytes()
            .map_err(|error| ClientError::Internal(format!("encoding the share: {error}")))?;
        let mut plaintext = Vec::with_capacity(1 + EPOCH_TOKEN_LEN + share.len());
        plaintext.push(VAULT_CONTENTS_VERSION);
        plaintext.extend_from_slice(epoch_token.expose());
        plaintext.extend_from_slice(share.expose());
        Ok(SecretBytes::new(plaintext))
    }

    /// Reads a plaintext made by [`VaultContents::plaintext`].
    ///
    /// # Errors
    ///
    /// [`ClientError::Storage`] for another version, a short plaintext or
    /// a share that does not parse: the store holds something this code
    /// did not write.
    pub(crate) fn from_plaintext(plaintext: &SecretBytes) -> Result<Self, ClientError> {
        let bytes = plaintext.expose();
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(ClientError::Storage("the vault is empty".into()));
        };
        if version != VAULT_CONTENTS_VERSION {
            return Err(ClientError::Storage(format!(
                "unknown vault contents version {version}"
            )));
        }
        let (token, share) = rest
            .split_first_chunk::<EPOCH_TOKEN_LEN>()
            .ok_or_else(|| ClientError::Storage("the vault contents are truncated".into()))?;
        let share = DeviceShare::from_secret_bytes(share)
            .map_err(|error| ClientError::Storage(format!("the sealed share: {error}")))?;
        Ok(Self {
            epoch_token: Secret32::new(*token),
            share,
        })
    }
}

/// Typed access to the store for the keys of the table above.
pub(crate) struct AccountStore<'a>(pub(crate) &'a dyn SecureStore);

impl AccountStore<'_> {
    /// The account record, if there is one.
    pub(crate) fn record(&self) -> Result<Option<AccountRecord>, ClientError> {
        let Some(bytes) = self.0.get(ACCOUNT)? else {
            return Ok(None);
        };
        let record: AccountRecord = serde_json::from_slice(&bytes)
            .map_err(|error| ClientError::Storage(format!("the account record: {error}")))?;
        if record.format != RECORD_FORMAT {
            return Err(ClientError::Storage(format!(
                "unknown account record format {}",
                record.format
            )));
        }
        Ok(Some(record))
    }

    pub(crate) fn put_record(&self, record: &AccountRecord) -> Result<(), ClientError> {
        let bytes = serde_json::to_vec(record)
            .map_err(|error| ClientError::Internal(format!("encoding the record: {error}")))?;
        Ok(self.0.put(ACCOUNT, &bytes)?)
    }

    /// The pinned protocol key, if registration has started.
    pub(crate) fn protocol_key(&self) -> Result<Option<ProtocolPublicKey>, ClientError> {
        self.0
            .get(PROTOCOL_KEY)?
            .map(|bytes| {
                ProtocolPublicKey::from_sec1(&bytes)
                    .map_err(|_| ClientError::Storage("the stored protocol key is invalid".into()))
            })
            .transpose()
    }

    pub(crate) fn put_protocol_key(&self, key: &ProtocolPublicKey) -> Result<(), ClientError> {
        Ok(self.0.put(PROTOCOL_KEY, &key.to_sec1())?)
    }

    /// The device salt, created (and read back, so a store that drops
    /// writes is caught now) on first use.
    pub(crate) fn device_salt_or_create(&self) -> Result<Secret32, ClientError> {
        if let Some(salt) = self.device_salt()? {
            return Ok(salt);
        }
        self.0.put(DEVICE_SALT, Secret32::random().expose())?;
        self.device_salt()?
            .ok_or_else(|| ClientError::Storage("the store did not keep the device salt".into()))
    }

    /// The device salt; it exists once any key is sealed.
    pub(crate) fn device_salt(&self) -> Result<Option<Secret32>, ClientError> {
        let Some(bytes) = self.0.get(DEVICE_SALT)?.map(Zeroizing::new) else {
            return Ok(None);
        };
        let salt: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::Storage("the stored device salt is not 32 bytes".into()))?;
        Ok(Some(Secret32::new(salt)))
    }

    /// The sealed share of `role`, if there is one.
    pub(crate) fn sealed(&self, role: KeyRole) -> Result<Option<SealedShare>, ClientError> {
        self.0
            .get(vault_key(role))?
            .map(|bytes| {
                SealedShare::from_bytes(&bytes)
                    .map_err(|error| ClientError::Storage(format!("the {role} vault: {error}")))
            })
            .transpose()
    }

    /// Replaces the sealed share of `role`, atomically (the store's
    /// contract): after a crash the old blob or the new one is there.
    pub(crate) fn put_sealed(&self, sealed: &SealedShare) -> Result<(), ClientError> {
        Ok(self.0.put(vault_key(sealed.role()), &sealed.to_bytes())?)
    }

    /// Removes both vaults: only for a registration that is being started
    /// over, whose shares the server will never co-sign with.
    pub(crate) fn delete_vaults(&self) -> Result<(), ClientError> {
        for role in KeyRole::ALL {
            self.0.delete(vault_key(role))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::cosign::dkg::{DeviceDkg, ServerDkgRound1};
    use crate::crypto::cosign::{RunId, Wire};
    use crate::store::FileStore;

    fn device_share() -> DeviceShare {
        let run = RunId::random();
        let (device, request1) = DeviceDkg::start(run).unwrap();
        let (server, response1) = ServerDkgRound1::respond(run, request1).unwrap();
        let (device, request2) = device.on_response(response1).unwrap();
        let (_pending, response2) = server.on_request(request2).unwrap();
        let (share, _confirm) = device.on_response(response2).unwrap();
        share
    }

    #[test]
    fn vault_contents_round_trip() {
        let share = device_share();
        let public_key = share.public_key().unwrap();
        let plaintext = VaultContents::plaintext(&Secret32::new([7; 32]), &share).unwrap();
        assert_eq!(plaintext.expose()[0], VAULT_CONTENTS_VERSION);
        assert_eq!(&plaintext.expose()[1..33], &[7; 32]);

        let read = VaultContents::from_plaintext(&plaintext).unwrap();
        assert_eq!(read.epoch_token, Secret32::new([7; 32]));
        assert_eq!(read.share.public_key().unwrap(), public_key);
        assert_eq!(read.share.epoch(), 0);
    }

    #[test]
    fn vault_contents_of_another_version_or_truncated_are_refused() {
        let plaintext = VaultContents::plaintext(&Secret32::random(), &device_share()).unwrap();
        let mut other_version = plaintext.expose().to_vec();
        other_version[0] = 2;
        for bad in [
            Vec::new(),
            other_version,
            plaintext.expose()[..20].to_vec(),
            plaintext.expose()[..plaintext.len() - 1].to_vec(),
        ] {
            assert!(matches!(
                VaultContents::from_plaintext(&SecretBytes::new(bad)),
                Err(ClientError::Storage(_))
            ));
        }
    }

    #[test]
    fn a_dkg_message_is_not_a_share() {
        let (_, request) = DeviceDkg::start(RunId::random()).unwrap();
        let mut plaintext = vec![VAULT_CONTENTS_VERSION];
        plaintext.extend_from_slice(&[0; 32]);
        plaintext.extend_from_slice(request.to_bytes().unwrap().expose());
        assert!(VaultContents::from_plaintext(&SecretBytes::new(plaintext)).is_err());
    }

    #[test]
    fn the_device_salt_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let accounts = AccountStore(&store);
        assert!(accounts.device_salt().unwrap().is_none());
        let first = accounts.device_salt_or_create().unwrap();
        assert_eq!(accounts.device_salt_or_create().unwrap(), first);
        assert_eq!(accounts.device_salt().unwrap(), Some(first));
    }

    #[test]
    fn the_store_keys_are_valid_store_keys() {
        for key in [PROTOCOL_KEY, DEVICE_SALT, ACCOUNT]
            .into_iter()
            .chain(KeyRole::ALL.map(vault_key))
        {
            crate::store::validate_key(key).unwrap();
        }
    }
}
