//! What every request handler shares: the store, the clock, the keys, the
//! CA, the settings, and the wake-up signal for long-polls.

use std::sync::Arc;
use std::time::Duration;

use kaksik_core::crypto::channel::ProtocolKey;
use tokio::sync::watch;

use crate::at_rest::MasterKey;
use crate::ca::CertificateAuthority;
use crate::clock::Clock;
use crate::config::Config;
use crate::store::Store;

/// The running server's shared state.
pub struct Server {
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Encrypts secrets at rest.
    pub master: MasterKey,
    /// The key device bodies are encrypted to.
    pub protocol_key: ProtocolKey,
    /// Issues and revokes certificates.
    pub ca: CertificateAuthority,
    /// Settings.
    pub config: Config,
    /// Public https URL of this server (for device links, the demo), as
    /// configured.
    pub public_url: String,
    /// The URL actually bound, once serving (a port 0 listen address
    /// becomes a real port only then).
    bound_url: std::sync::OnceLock<String>,
    changes: watch::Sender<u64>,
}

/// How often a long-poll re-reads the store even without a local wake-up,
/// so that changes made by another server process sharing the database are
/// seen too.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

impl Server {
    /// Assembles a server from its parts.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        master: MasterKey,
        protocol_key: ProtocolKey,
        ca: CertificateAuthority,
        config: Config,
        public_url: String,
    ) -> Self {
        let (changes, _) = watch::channel(0);
        Server {
            store,
            clock,
            master,
            protocol_key,
            ca,
            config,
            public_url,
            bound_url: std::sync::OnceLock::new(),
            changes,
        }
    }

    /// Records the URL the server is reachable at once it has bound.
    pub fn set_bound_url(&self, url: &str) {
        let _ = self.bound_url.set(url.to_owned());
    }

    /// `deviceLinkBase`: configured, or this server's own URL followed by
    /// `/device-link`.
    pub fn device_link_base(&self) -> String {
        if !self.config.device_link_base.is_empty() {
            return self.config.device_link_base.clone();
        }
        let url = self.bound_url.get().unwrap_or(&self.public_url);
        format!("{url}/device-link")
    }

    /// Now, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Wakes every long-poll in this process: something changed.
    pub fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits until something changes or `POLL_INTERVAL` passes, whichever
    /// is first, but never past `deadline`.
    pub async fn wait_for_change(&self, deadline: tokio::time::Instant) {
        let mut changes = self.changes.subscribe();
        let until = deadline.min(tokio::time::Instant::now() + POLL_INTERVAL);
        let _ = tokio::time::timeout_at(until, changes.changed()).await;
    }
}
