//! kaksik-tests: end-to-end tests of the whole system, and the fixtures
//! they share.
//!
//! [`Harness`] starts the real server in this process: the real store
//! (SQLite in a temporary data directory), the real CA, real TLS on a
//! loopback port, and a clock tests can move forward. [`Device`] is a
//! phone: the real [`Authenticator`] with a file store and a software
//! device key in its own temporary home. The relying party is the real
//! RP API client of `kaksik_server::rp_client`, over HTTPS like any RP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kaksik_core::client::{Authenticator, ClientConfig};
use kaksik_core::device_key::SoftwareDeviceKey;
use kaksik_core::protocol::api::Identity;
use kaksik_core::store::FileStore;
use kaksik_server::app::{self, DEMO_RP_NAME, DEMO_RP_UUID, Running};
use kaksik_server::clock::{Clock, OffsetClock};
use kaksik_server::config::Config;
use kaksik_server::rp_client::RpClient;
use tempfile::TempDir;

/// PIN1 and PIN2 every test device uses (valid, not weak).
pub const PIN1: &[u8] = b"2580";
/// See [`PIN1`].
pub const PIN2: &[u8] = b"14703";

/// Path of the shared test vectors (`../shared/vectors` beside the checkout).
pub fn vectors_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

/// The person most tests enrol.
pub fn mari() -> Identity {
    Identity {
        country: "EE".into(),
        national_id: "38001085718".into(),
        given_name: "MARI".into(),
        surname: "MAASIKAS".into(),
    }
}

/// A running server with its data directory and clock.
pub struct Harness {
    /// The server, listening.
    pub running: Running,
    /// Moves the server's time.
    pub clock: OffsetClock,
    data: TempDir,
}

impl Harness {
    /// A server with the default settings on a free loopback port.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server whose clock tests move forward by hours or days. The
    /// phone's clock does not move with it, so the window for request
    /// timestamps is widened to a week here (it is tested on its own in
    /// `kaksik-core`'s `request_auth` tests and in `device_requests.rs`).
    pub async fn start_time_travelling() -> Self {
        Self::start_with(|c| c.max_request_skew_secs = 7 * 24 * 3600).await
    }

    /// A server with settings changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().unwrap();
        Self::start_in(data, adjust).await
    }

    async fn start_in(data: TempDir, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        adjust(&mut config);
        let clock = OffsetClock::new();
        let opened = app::open(data.path(), config, Arc::new(clock.clone()))
            .await
            .unwrap();
        let running = app::serve(opened).await.unwrap();
        Harness {
            running,
            clock,
            data,
        }
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// Now, on the server's (possibly advanced) clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A plain HTTPS client that trusts exactly this server's pinned key.
    pub fn https(&self) -> reqwest::Client {
        pinned_https(&self.running.spki_pin)
    }

    /// The demo relying party, talking to this server over HTTPS.
    pub fn rp(&self) -> RpClient {
        RpClient::new(
            &self.running.url,
            &self.running.spki_pin,
            DEMO_RP_UUID,
            DEMO_RP_NAME,
        )
        .unwrap()
    }

    /// A phone with a fresh home, not registered.
    pub fn new_device(&self) -> Device {
        Device::open(
            tempfile::tempdir().unwrap(),
            &self.running.url,
            &self.running.spki_pin,
        )
    }

    /// Enrols `identity`, registers a new phone with [`PIN1`] and
    /// [`PIN2`], confirms the registration code as the operator does, and
    /// verifies both PINs: the account is READY.
    pub async fn register(&self, identity: Identity) -> Device {
        let server = &self.running.server;
        let device = self.new_device();
        let (code, _) = kaksik_server::admin::enrol(server, identity).await.unwrap();
        let shown = device.auth.start_registration(&code).await.unwrap();
        kaksik_server::admin::confirm(server, &code, &shown.registration_code)
            .await
            .unwrap();
        assert!(
            device
                .auth
                .wait_for_confirmation(Duration::from_secs(10))
                .await
                .unwrap()
        );
        device.auth.finish_registration(PIN1, PIN2).await.unwrap();
        device.auth.verify_pins(PIN1, PIN2).await.unwrap();
        device
    }
}

/// A phone: the real client over a file store and a software device key.
pub struct Device {
    /// The client.
    pub auth: Authenticator,
    /// The account home (store directory).
    pub home: TempDir,
}

impl Device {
    /// A client over the home directory `home`.
    pub fn open(home: TempDir, url: &str, pin: &str) -> Self {
        let auth = Self::client(home.path(), url, pin);
        Device { auth, home }
    }

    /// A client over an existing home path (a copy, a restarted app).
    pub fn client(home: &std::path::Path, url: &str, pin: &str) -> Authenticator {
        let store = Arc::new(FileStore::open(home).unwrap());
        let key =
            Arc::new(SoftwareDeviceKey::load_or_create(store.as_ref(), "device-key").unwrap());
        Authenticator::new(ClientConfig::new(url, pin), store, key).unwrap()
    }

    /// Waits for the next transaction and returns its id.
    pub async fn next_transaction(&self) -> String {
        for _ in 0..10 {
            if let Some(first) = self
                .auth
                .pending_transactions(5)
                .await
                .unwrap()
                .into_iter()
                .next()
            {
                return first.id;
            }
        }
        panic!("no transaction arrived");
    }
}

/// A plain HTTPS client that trusts exactly the server pinned by `pin`.
pub fn pinned_https(pin: &str) -> reqwest::Client {
    let pin = kaksik_core::client::SpkiPin::parse(pin).unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(kaksik_core::client::pinned_tls_config(pin).unwrap())
        .build()
        .unwrap()
}

/// Copies every file of `from` into a fresh directory: a cloned phone.
pub fn copy_home(from: &std::path::Path) -> TempDir {
    let to = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.path().join(entry.file_name())).unwrap();
        }
    }
    to
}
