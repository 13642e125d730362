//! Crashes lose nothing and raise no false clone alarm (PROTOCOL.md §4):
//! the server process killed between signing and the epoch confirmation,
//! or in the middle of a refresh, then restarted on the same data
//! directory; a phone that dies before writing its new state; and a PIN
//! change stopped on either side, which settles on the PIN the phone's
//! vault holds.
//!
//! The server runs as a real child process so that it can be killed: this
//! test binary re-executes itself running only [`server_process`], which
//! serves the data directory it is given (and does nothing otherwise).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kaksik_core::client::{Authenticator, ClientConfig, ClientError};
use kaksik_core::device_key::SoftwareDeviceKey;
use kaksik_core::role::KeyRole;
use kaksik_core::store::{FileStore, SecureStore, StoreError};
use kaksik_server::app::{self, DEMO_RP_NAME, DEMO_RP_UUID};
use kaksik_server::clock::SystemClock;
use kaksik_server::config::Config;
use kaksik_server::rp_client::{self, RpClient, Target};
use kaksik_server::state::Server;
use kaksik_tests::{Harness, PIN1, PIN2, mari};

const CHILD_DATA: &str = "KAKSIK_CRASH_TEST_DATA";
const CHILD_LISTEN: &str = "KAKSIK_CRASH_TEST_LISTEN";

/// Not a behaviour test: the server process the tests below start and
/// kill. It serves only when this binary was started by them.
#[test]
fn server_process() {
    let (Ok(dir), Ok(listen)) = (std::env::var(CHILD_DATA), std::env::var(CHILD_LISTEN)) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = Config {
            listen: listen.parse().unwrap(),
            ..Config::load(None).unwrap()
        };
        let data = app::open(Path::new(&dir), config, Arc::new(SystemClock))
            .await
            .unwrap();
        let running = app::serve(data).await.unwrap();
        println!("READY {} {}", running.url, running.spki_pin);
        running.wait().await.unwrap();
    });
}

/// A `kaksik` server in its own process.
struct ServerProcess {
    child: Child,
    url: String,
    pin: String,
}

impl ServerProcess {
    fn start(data: &Path, port: u16, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "server_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DATA, data)
            .env(CHILD_LISTEN, format!("127.0.0.1:{port}"))
            .env_remove("KAKSIK_CRASH_AT")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = loop {
            let line = lines
                .next()
                .expect("the server process printed READY")
                .unwrap();
            // libtest prints "test server_process ... " before the test
            // runs, on the same line.
            if let Some((_, rest)) = line.split_once("READY ") {
                break rest.to_owned();
            }
        };
        let (url, pin) = ready.split_once(' ').unwrap();
        ServerProcess {
            child,
            url: url.to_owned(),
            pin: pin.to_owned(),
        }
    }

    /// `kill -9`: no shutdown, no flushing.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for a process that is meant to die by itself (a crash point).
    fn wait_dead(&mut self) {
        for _ in 0..100 {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server process did not crash at its crash point");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

type Hook = Box<dyn FnOnce() -> bool + Send>;

/// The phone's real file store, with one hook on the next vault write: it
/// runs first (to kill the server at exactly that moment) and says whether
/// the write happens at all (a phone that dies before writing).
struct HookedStore {
    inner: FileStore,
    on_vault_write: Mutex<Option<Hook>>,
}

impl HookedStore {
    fn new(home: &Path) -> Arc<Self> {
        Arc::new(HookedStore {
            inner: FileStore::open(home).unwrap(),
            on_vault_write: Mutex::new(None),
        })
    }

    fn arm(&self, hook: impl FnOnce() -> bool + Send + 'static) {
        *self.on_vault_write.lock().unwrap() = Some(Box::new(hook));
    }
}

impl SecureStore for HookedStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key.starts_with("vault-") {
            let hook = self.on_vault_write.lock().unwrap().take();
            if let Some(hook) = hook
                && !hook()
            {
                return Err(StoreError::Platform("the phone died before writing".into()));
            }
        }
        self.inner.put(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
}

fn client(store: Arc<dyn SecureStore>, url: &str, pin: &str) -> Authenticator {
    let key = Arc::new(SoftwareDeviceKey::load_or_create(store.as_ref(), "device-key").unwrap());
    Authenticator::new(ClientConfig::new(url, pin), store, key).unwrap()
}

/// The operator's view of the data directory (the same database the
/// server process uses).
async fn operator(data: &Path) -> Arc<Server> {
    app::open(data, Config::default(), Arc::new(SystemClock))
        .await
        .unwrap()
        .server
}

async fn register(operator: &Server, device: &Authenticator) {
    let (code, _) = kaksik_server::admin::enrol(operator, mari()).await.unwrap();
    let shown = device.start_registration(&code).await.unwrap();
    kaksik_server::admin::confirm(operator, &code, &shown.registration_code)
        .await
        .unwrap();
    assert!(
        device
            .wait_for_confirmation(Duration::from_secs(10))
            .await
            .unwrap()
    );
    device.finish_registration(PIN1, PIN2).await.unwrap();
    device.verify_pins(PIN1, PIN2).await.unwrap();
}

async fn next_transaction(device: &Authenticator) -> String {
    for _ in 0..10 {
        if let Some(first) = device
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

/// One authentication, approved on `device`, verified as an RP would.
async fn login(url: &str, pin: &str, device: &Authenticator) {
    login_with(url, pin, device, PIN1).await.unwrap();
}

/// [`login`] with `pin1`; a refused approval is declined and returned.
async fn login_with(
    url: &str,
    pin: &str,
    device: &Authenticator,
    pin1: &[u8],
) -> Result<(), ClientError> {
    let rp = RpClient::new(url, pin, DEMO_RP_UUID, DEMO_RP_NAME).unwrap();
    let started = rp
        .authenticate(&Target::Person(mari().semantics_identifier()), "Log in")
        .await
        .unwrap();
    let id = next_transaction(device).await;
    if let Err(error) = device.approve(&id, pin1).await {
        device.decline(&id).await.unwrap();
        return Err(error);
    }
    let completed = rp
        .wait(&started.session_id, Duration::from_secs(60))
        .await
        .unwrap();
    let chain = rp.ca_chain().await.unwrap();
    let now = kaksik_server::clock::Clock::now(&SystemClock);
    rp_client::verify_authentication(&started, &completed, "kaksik", "DEMO", &chain, None, now)
        .unwrap();
    Ok(())
}

async fn assert_no_clone_alarm(operator: &Server) {
    let reports = kaksik_server::admin::accounts(operator, &mari().semantics_identifier())
        .await
        .unwrap();
    assert_eq!(reports[0].state, "READY");
    assert!(!reports[0].audit.iter().any(|e| e.event == "CLONE_DETECTED"));
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_between_signing_and_the_epoch_confirmation_loses_nothing() {
    let (_data_dir, data) = temp();
    let (_home_dir, home) = temp();
    let port = free_port();
    let server = Arc::new(Mutex::new(ServerProcess::start(&data, port, &[])));
    let (url, pin) = {
        let s = server.lock().unwrap();
        (s.url.clone(), s.pin.clone())
    };
    let operator = operator(&data).await;
    let store = HookedStore::new(&home);
    let device = client(store.clone(), &url, &pin);
    register(&operator, &device).await;

    // Kill the server the moment the phone writes T_{e+1}: the signature
    // is made, the confirmation never arrives.
    let rp = RpClient::new(&url, &pin, DEMO_RP_UUID, DEMO_RP_NAME).unwrap();
    let started = rp
        .authenticate(&Target::Person(mari().semantics_identifier()), "Log in")
        .await
        .unwrap();
    let id = next_transaction(&device).await;
    let victim = server.clone();
    store.arm(move || {
        victim.lock().unwrap().kill();
        true
    });
    let _ = device.approve(&id, PIN1).await;

    let restarted = ServerProcess::start(&data, port, &[]);
    let completed = rp
        .wait(&started.session_id, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        completed.end_result, "OK",
        "the signature made before the crash is kept"
    );
    login(&restarted.url, &restarted.pin, &device).await;
    login(&restarted.url, &restarted.pin, &device).await;
    assert_no_clone_alarm(&operator).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_crash_in_the_middle_of_a_refresh_loses_nothing() {
    let (_data_dir, data) = temp();
    let (_home_dir, home) = temp();
    let port = free_port();
    let no_refresh = [("KAKSIK_REFRESH_AFTER_SIGNATURES", "1000")];
    let mut first = ServerProcess::start(&data, port, &no_refresh);
    let operator = operator(&data).await;
    let device = client(HookedStore::new(&home), &first.url, &first.pin);
    register(&operator, &device).await;
    first.kill();

    // Every signature now asks for a refresh, and the server dies right
    // after it has stored its half of the refreshed key.
    let mut crashing = ServerProcess::start(
        &data,
        port,
        &[
            ("KAKSIK_REFRESH_AFTER_SIGNATURES", "1"),
            (
                "KAKSIK_CRASH_AT",
                kaksik_server::crash_point::AFTER_REFRESH_STEP_2,
            ),
        ],
    );
    let rp = RpClient::new(&crashing.url, &crashing.pin, DEMO_RP_UUID, DEMO_RP_NAME).unwrap();
    let started = rp
        .authenticate(&Target::Person(mari().semantics_identifier()), "Log in")
        .await
        .unwrap();
    let id = next_transaction(&device).await;
    let _ = device.approve(&id, PIN1).await;
    crashing.wait_dead();

    let restarted = ServerProcess::start(&data, port, &[("KAKSIK_REFRESH_AFTER_SIGNATURES", "1")]);
    let completed = rp
        .wait(&started.session_id, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(completed.end_result, "OK");
    // The abandoned refresh is forgotten; the next ones complete.
    for _ in 0..3 {
        login(&restarted.url, &restarted.pin, &device).await;
    }
    let reports = kaksik_server::admin::accounts(&operator, &mari().semantics_identifier())
        .await
        .unwrap();
    let auth = reports[0]
        .keys
        .iter()
        .find(|k| k.role == kaksik_core::role::KeyRole::Auth)
        .unwrap();
    assert!(
        auth.epoch >= 2,
        "refreshes resumed after the crash: epoch {}",
        auth.epoch
    );
    assert_no_clone_alarm(&operator).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_dies_before_writing_its_new_state_signs_again_after_restart() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let store = HookedStore::new(device.home.path());
    let dying = client(store.clone(), &h.running.url, &h.running.spki_pin);
    store.arm(|| false);
    let started = h
        .rp()
        .authenticate(&Target::Person(mari().semantics_identifier()), "Log in")
        .await
        .unwrap();
    let id = device.next_transaction().await;
    assert!(
        dying.approve(&id, PIN1).await.is_err(),
        "the phone died mid-approval"
    );
    drop(dying);
    assert_eq!(
        h.rp()
            .wait(&started.session_id, Duration::from_secs(30))
            .await
            .unwrap()
            .end_result,
        "OK"
    );

    // The app starts again over the same home and signs as before.
    let restarted = client(
        Arc::new(FileStore::open(device.home.path()).unwrap()),
        &h.running.url,
        &h.running.spki_pin,
    );
    login(&h.running.url, &h.running.spki_pin, &restarted).await;
    login(&h.running.url, &h.running.spki_pin, &restarted).await;
    assert_no_clone_alarm(&h.running.server).await;
}

const NEW_PIN1: &[u8] = b"7391";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_that_dies_before_sealing_its_new_pin_keeps_the_old_pin() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let (url, pin) = (&h.running.url, &h.running.spki_pin);
    let store = HookedStore::new(device.home.path());
    let dying = client(store.clone(), url, pin);
    store.arm(|| false);
    assert!(matches!(
        dying.change_pin(KeyRole::Auth, PIN1, NEW_PIN1).await,
        Err(ClientError::Storage(_))
    ));
    drop(dying);

    // The server holds the new PIN's key as pending only; the vault still
    // holds the old PIN, so the old PIN is the one that works.
    let restarted = client(
        Arc::new(FileStore::open(device.home.path()).unwrap()),
        url,
        pin,
    );
    assert_eq!(
        login_with(url, pin, &restarted, NEW_PIN1).await,
        Err(ClientError::WrongPin { attempts_left: 2 })
    );
    login(url, pin, &restarted).await;
    // And a PIN change from here goes through.
    restarted
        .change_pin(KeyRole::Auth, PIN1, NEW_PIN1)
        .await
        .unwrap();
    login_with(url, pin, &restarted, NEW_PIN1).await.unwrap();
    assert_no_clone_alarm(&h.running.server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_after_the_phone_sealed_its_new_pin_settles_on_the_new_pin() {
    let (_data_dir, data) = temp();
    let (_home_dir, home) = temp();
    let port = free_port();
    let server = Arc::new(Mutex::new(ServerProcess::start(&data, port, &[])));
    let (url, pin) = {
        let s = server.lock().unwrap();
        (s.url.clone(), s.pin.clone())
    };
    let operator = operator(&data).await;
    let store = HookedStore::new(&home);
    let device = client(store.clone(), &url, &pin);
    register(&operator, &device).await;

    // The server dies as the phone writes the vault sealed under the new
    // PIN: the confirmation never arrives. The vault is the commit point,
    // so the change has happened.
    let victim = server.clone();
    store.arm(move || {
        victim.lock().unwrap().kill();
        true
    });
    device
        .change_pin(KeyRole::Auth, PIN1, NEW_PIN1)
        .await
        .unwrap();

    let restarted = ServerProcess::start(&data, port, &[]);
    login_with(&restarted.url, &restarted.pin, &device, NEW_PIN1)
        .await
        .unwrap();
    assert_eq!(
        login_with(&restarted.url, &restarted.pin, &device, PIN1).await,
        Err(ClientError::WrongPin { attempts_left: 2 })
    );
    login_with(&restarted.url, &restarted.pin, &device, NEW_PIN1)
        .await
        .unwrap();
    let reports = kaksik_server::admin::accounts(&operator, &mari().semantics_identifier())
        .await
        .unwrap();
    assert!(reports[0].audit.iter().any(|e| e.event == "PIN_CHANGED"));
    assert_no_clone_alarm(&operator).await;
}
