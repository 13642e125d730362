//! The device client: [`Authenticator`], one per account home, which the
//! FFI layer wraps one to one.
//!
//! It speaks the device API of [`crate::protocol::api`] (whose module doc
//! lists the flows step by step) to one pinned server, and keeps the
//! account's state through the platform's [`SecureStore`]:
//!
//! - `transport`: one call on the wire (pinned HTTPS, signed headers, the
//!   end-to-end envelope, timeouts, retries of reads only);
//! - `pinning`: the SPKI pin ([`SpkiPin`]) and its rustls verifier;
//! - `account_state`: what the device persists, and nothing else;
//! - `view`: a transaction as shown, and what approving it signs, both
//!   computed on the device;
//! - `pin_gate`: PIN setup and unlock over the wire (OPRF, vault, unlock
//!   proof);
//! - `cosigning`: the DKG, signing and refresh rounds over the wire;
//! - `registration`, `transactions`, `device_links` and `pin_change`: the
//!   public flows;
//! - `error`: the one [`ClientError`] a UI acts on.
//!
//! # Concurrency and crashes
//!
//! Calls take `&self` and may run concurrently; the flows that change the
//! vaults or the account record (registration, approval) run one at a
//! time. Every `.await` is a point where the app may be killed or the
//! future dropped, and each flow is written so that the next call after
//! such a stop still works ([`Authenticator::approve`] documents the
//! epoch-token handover).
//!
//! Not owned here: the platform's storage and keystore (traits in
//! [`crate::store`] and [`crate::device_key`]) and the wire formats
//! ([`crate::protocol`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Mutex;

use crate::crypto::channel::ProtocolPublicKey;
use crate::device_key::{DeviceKey, device_id};
use crate::rp::InteractionType;
use crate::store::SecureStore;

mod account_state;
mod cosigning;
mod device_links;
mod error;
mod pin_change;
mod pin_gate;
mod pinning;
mod registration;
#[cfg(test)]
mod testing;
mod transactions;
mod transport;
mod view;

pub use account_state::{Certificates, LocalStatus};
pub use error::ClientError;
pub use pinning::SpkiPin;
pub use registration::RegistrationCode;
pub use transactions::Approved;
pub use view::TransactionView;

use account_state::{AccountRecord, AccountStore};
use transport::{Call, Transport};

/// A rustls client configuration that trusts exactly the server whose TLS
/// key is pinned, and nothing else: for other HTTPS clients of the same
/// server (an RP tool, the tests) that must not fall back to a CA store.
///
/// # Errors
///
/// [`ClientError::Internal`] if rustls refuses the provider's defaults.
pub fn pinned_tls_config(pin: SpkiPin) -> Result<rustls::ClientConfig, ClientError> {
    pinning::client_config(pin)
}

/// A request timeout that suits a phone on a mobile network.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the server is and how to recognise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The server's origin, `https://host[:port]`, without a path.
    pub server_url: String,
    /// `sha256/<Base64>` of the server certificate's
    /// SubjectPublicKeyInfo, as the server prints it.
    pub tls_spki_pin: String,
    /// Timeout of every request (a long-poll gets its wait on top).
    pub request_timeout: Duration,
    /// The interactions this app can show. A transaction that allows none
    /// of them is declined with REQUIRED_INTERACTION_NOT_SUPPORTED_BY_APP
    /// ([`ClientError::InteractionNotSupported`]). Default: all of them.
    pub supported_interactions: Vec<InteractionType>,
}

impl ClientConfig {
    /// A configuration with [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn new(server_url: impl Into<String>, tls_spki_pin: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            tls_spki_pin: tls_spki_pin.into(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            supported_interactions: InteractionType::ALL.to_vec(),
        }
    }
}

/// The device client of one account home: registration, the transaction
/// inbox, approval and refusal, account state.
pub struct Authenticator {
    transport: Transport,
    store: Arc<dyn SecureStore>,
    /// SEC1 uncompressed, read once from the keystore.
    device_public_key: Vec<u8>,
    /// Read from the store (or fetched at registration start) once.
    protocol_key: OnceLock<ProtocolPublicKey>,
    /// Serialises the flows that change the vaults or the record.
    flow: Mutex<()>,
    /// What the app can show ([`ClientConfig::supported_interactions`]).
    supported_interactions: Vec<InteractionType>,
}

impl Authenticator {
    /// A client for the server `config` names, keeping its state in
    /// `store` and signing with `device_key`. Makes no network call.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] for a bad configuration (not an
    /// `https` origin, a malformed pin, a timeout out of range);
    /// [`ClientError::DeviceKey`] if the keystore cannot give the public
    /// key.
    pub fn new(
        config: ClientConfig,
        store: Arc<dyn SecureStore>,
        device_key: Arc<dyn DeviceKey>,
    ) -> Result<Self, ClientError> {
        let device_public_key = device_key.public_key()?;
        let device_id = device_id(&device_public_key)?;
        let transport = Transport::new(&config, device_key, device_id)?;
        Ok(Self {
            transport,
            store,
            device_public_key,
            protocol_key: OnceLock::new(),
            flow: Mutex::new(()),
            supported_interactions: config.supported_interactions,
        })
    }

    /// Where this account home stands, from local state only.
    ///
    /// # Errors
    ///
    /// [`ClientError::Storage`] if the store fails or holds an unreadable
    /// record.
    pub fn status(&self) -> Result<LocalStatus, ClientError> {
        Ok(self
            .accounts()
            .record()?
            .map_or(LocalStatus::NotRegistered, |record| record.status()))
    }

    fn accounts(&self) -> AccountStore<'_> {
        AccountStore(self.store.as_ref())
    }

    /// The record of the account, registered or not.
    fn record(&self) -> Result<AccountRecord, ClientError> {
        self.accounts().record()?.ok_or(ClientError::NotRegistered)
    }

    /// The record of a registered account.
    fn registered(&self) -> Result<AccountRecord, ClientError> {
        let record = self.record()?;
        if record.is_registered() {
            Ok(record)
        } else {
            Err(ClientError::NotRegistered)
        }
    }

    /// The pinned protocol key: cached, or read from the store.
    fn protocol_key(&self) -> Result<ProtocolPublicKey, ClientError> {
        if let Some(key) = self.protocol_key.get() {
            return Ok(*key);
        }
        let key = self
            .accounts()
            .protocol_key()?
            .ok_or(ClientError::NotRegistered)?;
        Ok(*self.protocol_key.get_or_init(|| key))
    }

    /// One device-API call to `path` under the pinned protocol key.
    async fn post<Req, Resp>(
        &self,
        path: &str,
        request: &Req,
        call: Call,
    ) -> Result<Resp, ClientError>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
    {
        let key = self.protocol_key()?;
        self.transport.post(&key, path, request, call).await
    }
}

/// Runs CPU-heavy or possibly blocking work (a DKG round takes about a
/// second, a hardware keystore may take a while to sign) off the async
/// workers.
async fn offload<T, F>(work: F) -> Result<T, ClientError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ClientError::Internal("a background task failed".into()))
}

#[cfg(test)]
mod tests;
