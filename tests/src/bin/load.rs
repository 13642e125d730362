//! `kaksik-load`: end-to-end latency and throughput of notification
//! authentications against a real `kaksik serve`.
//!
//! The server runs as a child process (the release binary, on a fresh
//! data directory and a free loopback port), so its CPU time can be read
//! exactly from `/proc/<pid>/stat`. Everything else is the real thing:
//! devices are the real client ([`Authenticator`] over a file store and a
//! software device key), registered through `kaksik admin` like any
//! person; the relying party is the real RP API client of
//! [`kaksik_server::rp_client`]; every request crosses real TLS; every
//! signature is a real two-party co-signature, and every result is
//! verified as an RP must (signature, chain, identity), outside the timed
//! spans.
//!
//! ```text
//! cargo build --release -p kaksik-cli
//! cargo run --release -p kaksik-tests --bin kaksik-load -- latency
//! cargo run --release -p kaksik-tests --bin kaksik-load -- throughput --devices 50 --duration-secs 60
//! ```
//!
//! Registration (two DKGs per device) is setup and is not measured. The
//! run is bounded: loopback only, a fixed count or duration, every wait
//! with a deadline, and the server is killed when the program ends.
//!
//! The server's data directory and the device homes are temporary
//! directories under `TMPDIR` (default `/tmp`): point it at a RAM disk
//! to take fsync out of the measurement. The server inherits this
//! process's environment (e.g. `TOKIO_WORKER_THREADS`), plus
//! `KAKSIK_SESSION_TIMEOUT_SECS=600` and, if asked,
//! `KAKSIK_REFRESH_AFTER_SIGNATURES`.
//!
//! Modules: `server` (the child process and the operator commands),
//! `cpu` (`/proc` accounting), `fleet` (registration), `flow` (one timed
//! authentication), `scenarios`, `report`.

use std::fmt;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Why a run failed: one line for the user.
#[derive(Debug)]
struct LoadError(String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Adds what was being done to an error.
trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T, LoadError>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T, LoadError> {
        self.map_err(|error| LoadError(format!("{what}: {error}")))
    }
}

/// End-to-end load generator for Kaksik notification authentications.
#[derive(Debug, Parser)]
#[command(name = "kaksik-load", about)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// One device, authentications one after another: the time from the
    /// RP's POST to the RP's status answer COMPLETE.
    Latency(LatencyArgs),
    /// Many devices approving in parallel: completed authentications per
    /// second, and the CPU each one costs.
    Throughput(ThroughputArgs),
}

/// Settings every scenario shares.
#[derive(Debug, Args)]
struct Common {
    /// The `kaksik` release binary (`cargo build --release -p kaksik-cli`).
    #[arg(long, value_name = "PATH", default_value = "target/release/kaksik")]
    kaksik: std::path::PathBuf,
    /// Passed to the server as KAKSIK_REFRESH_AFTER_SIGNATURES; the
    /// server's own default (a fast refresh every 10 signatures) if unset.
    #[arg(long, value_name = "N")]
    refresh_after_signatures: Option<u32>,
    /// Registrations run at once (setup only; each runs two DKGs).
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=16))]
    register_concurrency: u16,
    /// Machine-readable output (one JSON object) instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct LatencyArgs {
    #[command(flatten)]
    common: Common,
    /// Measured authentications.
    #[arg(long, default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    count: u32,
    /// Authentications before the measured ones (connections, caches).
    #[arg(long, default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    warmup: u32,
}

#[derive(Debug, Args)]
struct ThroughputArgs {
    #[command(flatten)]
    common: Common,
    /// Devices (people), each approving one authentication after another.
    #[arg(long, default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=500))]
    devices: u32,
    /// Length of the measured window, seconds.
    #[arg(long, default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    duration_secs: u64,
    /// Load before the measured window opens, seconds (not counted).
    #[arg(long, default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=600))]
    warmup_secs: u64,
    /// Close the window after this many completions instead (the
    /// duration still bounds it).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    count: Option<u64>,
}

/// The person of device `index`: a distinct, valid-looking national id.
fn national_id(index: usize) -> String {
    (38_001_085_718_u64 + index as u64).to_string()
}

/// How long the RP waits for one session, at most.
const SESSION_WAIT: Duration = Duration::from_secs(60);

mod server {
    //! The server as a child process: `kaksik serve` on a temporary data
    //! directory and a free loopback port, killed on drop; and `kaksik
    //! admin` on the same directory for the operator's steps.

    use std::io::{BufRead as _, BufReader};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use tempfile::TempDir;

    use super::{Context as _, LoadError};

    /// How long the server may take to print its address.
    const START_TIMEOUT: Duration = Duration::from_secs(60);
    /// Tries of one `kaksik admin` command, the first included.
    const ADMIN_ATTEMPTS: u32 = 5;
    /// Pause before trying it again.
    const ADMIN_BACKOFF: Duration = Duration::from_millis(200);

    /// A running `kaksik serve`.
    pub struct ServerProcess {
        child: Child,
        kaksik: PathBuf,
        /// `https://127.0.0.1:port`.
        pub url: String,
        /// `sha256/…`, as printed.
        pub spki_pin: String,
        data: TempDir,
        admin_retries: AtomicU64,
    }

    impl ServerProcess {
        /// Starts the server and reads the URL and pin it prints.
        pub fn start(kaksik: &Path, refresh_after: Option<u32>) -> Result<Self, LoadError> {
            if !kaksik.is_file() {
                return Err(LoadError(format!(
                    "{} not found: build it with `cargo build --release -p kaksik-cli` \
                     or pass --kaksik PATH",
                    kaksik.display()
                )));
            }
            let data = tempfile::tempdir().context("temporary data directory")?;
            let mut command = Command::new(kaksik);
            command
                .arg("serve")
                .arg("--data-dir")
                .arg(data.path())
                .args(["--listen", "127.0.0.1:0"])
                .env("KAKSIK_SESSION_TIMEOUT_SECS", "600")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            if let Some(n) = refresh_after {
                command.env("KAKSIK_REFRESH_AFTER_SIGNATURES", n.to_string());
            }
            let mut child = command
                .spawn()
                .context(format!("starting {}", kaksik.display()))?;
            let Some(stdout) = child.stdout.take() else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LoadError("the server's stdout is not piped".into()));
            };
            // The guard owns the child from here on: any error kills it.
            let mut process = ServerProcess {
                child,
                kaksik: kaksik.to_owned(),
                url: String::new(),
                spki_pin: String::new(),
                data,
                admin_retries: AtomicU64::new(0),
            };
            let (lines, received) = mpsc::channel();
            // The reader drains the pipe until the server exits, so a later
            // line never meets a closed pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    // Nobody listens after the first two lines.
                    let _ = lines.send(line);
                }
            });
            for _ in 0..2 {
                let line = received
                    .recv_timeout(START_TIMEOUT)
                    .context("waiting for the server to print its address")?
                    .context("reading the server's output")?;
                if let Some(url) = line.strip_prefix("kaksik server listening on ") {
                    url.trim().clone_into(&mut process.url);
                } else if let Some(pin) = line.strip_prefix("spki-pin ") {
                    pin.trim().clone_into(&mut process.spki_pin);
                }
            }
            if process.url.is_empty() || process.spki_pin.is_empty() {
                return Err(LoadError(
                    "the server did not print its URL and spki-pin".into(),
                ));
            }
            Ok(process)
        }

        /// The server's process id.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// Runs `kaksik admin --data-dir DIR <args>` and returns its
        /// standard output. A `storage failure` is tried again, up to
        /// [`ADMIN_ATTEMPTS`] times: the admin command is a second SQLite
        /// connection, and a deferred transaction that read before the
        /// server's connection committed fails at its first write
        /// (`SQLITE_BUSY`, which the busy timeout does not wait out).
        /// Each retry is counted in [`ServerProcess::admin_retries`].
        pub async fn admin(&self, args: Vec<String>) -> Result<String, LoadError> {
            let what = format!("kaksik admin {}", args.first().map_or("", String::as_str));
            let mut tried = 0;
            loop {
                tried += 1;
                let mut command = Command::new(&self.kaksik);
                command
                    .arg("admin")
                    .arg("--data-dir")
                    .arg(self.data.path())
                    .args(&args)
                    .stdin(Stdio::null());
                let output = tokio::task::spawn_blocking(move || command.output())
                    .await
                    .context(&what)?
                    .context(&what)?;
                if output.status.success() {
                    return String::from_utf8(output.stdout).context(&what);
                }
                let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
                if !stderr.contains("storage failure") || tried >= ADMIN_ATTEMPTS {
                    return Err(LoadError(format!("{what} failed: {stderr}")));
                }
                self.admin_retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(ADMIN_BACKOFF).await;
            }
        }

        /// `kaksik admin` runs that failed with a storage failure and were
        /// tried again.
        pub fn admin_retries(&self) -> u64 {
            self.admin_retries.load(Ordering::Relaxed)
        }
    }

    impl Drop for ServerProcess {
        fn drop(&mut self) {
            // Nothing to do if it is gone already.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

mod cpu {
    //! CPU time from `/proc`: the server process, this process (the
    //! devices and the RP), and the whole machine.

    use std::time::Instant;

    use super::{Context as _, LoadError};

    /// Clock ticks per second of `/proc` times: `getconf CLK_TCK`, or 100
    /// (Linux's USER_HZ on every mainstream architecture) if it cannot
    /// be run. `libc` is not a dependency here, and `sysconf` would need
    /// `unsafe`, which the workspace forbids.
    pub fn ticks_per_second() -> (f64, &'static str) {
        let asked = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse::<u32>().ok())
            .filter(|&n| n > 0);
        match asked {
            Some(n) => (f64::from(n), "getconf CLK_TCK"),
            None => (100.0, "assumed (getconf unavailable)"),
        }
    }

    /// utime + stime of a process, in ticks.
    fn process_ticks(stat_path: &str) -> Result<u64, LoadError> {
        let text = std::fs::read_to_string(stat_path).context(stat_path)?;
        // The command name may hold spaces and parentheses: fields are
        // counted after its closing parenthesis. utime and stime are
        // fields 14 and 15, i.e. the 12th and 13th after it.
        let after = text
            .rfind(')')
            .and_then(|at| text.get(at + 1..))
            .ok_or_else(|| LoadError(format!("{stat_path}: no command name")))?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| -> Result<u64, LoadError> {
            fields
                .get(n)
                .ok_or_else(|| LoadError(format!("{stat_path}: too few fields")))?
                .parse::<u64>()
                .context(stat_path)
        };
        Ok(field(11)? + field(12)?)
    }

    /// Busy, iowait and total ticks of all CPUs (`/proc/stat`).
    fn machine_ticks() -> Result<(u64, u64, u64), LoadError> {
        let text = std::fs::read_to_string("/proc/stat").context("/proc/stat")?;
        let line = text
            .lines()
            .find(|l| l.starts_with("cpu "))
            .ok_or_else(|| LoadError("/proc/stat: no cpu line".into()))?;
        let values: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .context("/proc/stat")?;
        let get = |i: usize| values.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal
        let total: u64 = values.iter().sum();
        let (idle, iowait) = (get(3), get(4));
        Ok((total - idle - iowait, iowait, total))
    }

    /// One reading of every counter.
    #[derive(Debug, Clone, Copy)]
    pub struct Snapshot {
        at: Instant,
        server: u64,
        client: u64,
        busy: u64,
        iowait: u64,
        total: u64,
    }

    impl Snapshot {
        /// Reads the counters now; `server` is the server's pid.
        pub fn take(server: u32) -> Result<Self, LoadError> {
            let (busy, iowait, total) = machine_ticks()?;
            Ok(Snapshot {
                at: Instant::now(),
                server: process_ticks(&format!("/proc/{server}/stat"))?,
                client: process_ticks("/proc/self/stat")?,
                busy,
                iowait,
                total,
            })
        }
    }

    /// CPU used between two snapshots, in seconds.
    #[derive(Debug, Clone, Copy)]
    pub struct Usage {
        /// Wall time between the snapshots.
        pub wall: f64,
        /// The server process.
        pub server: f64,
        /// This process: the devices' halves and the RP.
        pub client: f64,
        /// All CPUs, anything busy (so also other processes).
        pub machine_busy: f64,
        /// All CPUs, idle while waiting for disk I/O.
        pub machine_iowait: f64,
        /// All CPUs, every state: about wall × cores.
        pub machine_total: f64,
    }

    impl Usage {
        /// From `a` to `b`, with `tick` seconds per tick.
        pub fn between(a: &Snapshot, b: &Snapshot, tick: f64) -> Self {
            let secs = |from: u64, to: u64| to.saturating_sub(from) as f64 * tick;
            Usage {
                wall: b.at.duration_since(a.at).as_secs_f64(),
                server: secs(a.server, b.server),
                client: secs(a.client, b.client),
                machine_busy: secs(a.busy, b.busy),
                machine_iowait: secs(a.iowait, b.iowait),
                machine_total: secs(a.total, b.total),
            }
        }
    }

    /// `/proc/loadavg`'s first three fields.
    pub fn load_average() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|text| {
                text.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|_| "unknown".into())
    }
}

mod fleet {
    //! Registration, as setup: enrol through `kaksik admin`, register
    //! with the real client, confirm the code as the operator, set both
    //! PINs (two DKGs), verify both PINs. Not timed.

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use kaksik_core::client::{Authenticator, ClientConfig};
    use kaksik_core::device_key::SoftwareDeviceKey;
    use kaksik_core::store::FileStore;
    use kaksik_server::rp_client::Target;
    use kaksik_tests::{PIN1, PIN2};
    use tempfile::TempDir;
    use tokio::sync::Semaphore;
    use tokio::task::JoinSet;

    use super::server::ServerProcess;
    use super::{Context as _, LoadError, national_id};

    /// A registered phone and whom it belongs to.
    pub struct Device {
        /// The real client.
        pub auth: Authenticator,
        /// `PNOEE-…`: whom the RP addresses, and whom it expects.
        pub semantics_id: String,
        /// The account home; removed when the device is dropped.
        _home: TempDir,
    }

    impl Device {
        /// The RP's target for this person.
        pub fn target(&self) -> Target {
            Target::Person(self.semantics_id.clone())
        }
    }

    fn client(home: &std::path::Path, url: &str, pin: &str) -> Result<Authenticator, LoadError> {
        let store = Arc::new(FileStore::open(home).context("device store")?);
        let key = Arc::new(
            SoftwareDeviceKey::load_or_create(store.as_ref(), "device-key")
                .context("device key")?,
        );
        Authenticator::new(ClientConfig::new(url, pin), store, key).context("device client")
    }

    async fn register(server: Arc<ServerProcess>, index: usize) -> Result<Device, LoadError> {
        let id = national_id(index);
        let what = |step: &str| format!("device {index}: {step}");
        let enrolled = server
            .admin(vec![
                "enrol".into(),
                "--country".into(),
                "EE".into(),
                "--id".into(),
                id.clone(),
                "--given-name".into(),
                "MARI".into(),
                "--surname".into(),
                format!("LOAD{index}"),
            ])
            .await?;
        let code = enrolled
            .lines()
            .next()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| LoadError(what("kaksik admin enrol printed no code")))?
            .to_owned();
        let home = tempfile::tempdir().context(what("device home"))?;
        let auth = client(home.path(), &server.url, &server.spki_pin)?;
        let shown = auth
            .start_registration(&code)
            .await
            .context(what("start registration"))?;
        server
            .admin(vec![
                "confirm".into(),
                "--enrolment".into(),
                code,
                "--registration-code".into(),
                shown.registration_code,
            ])
            .await?;
        if !auth
            .wait_for_confirmation(Duration::from_secs(30))
            .await
            .context(what("wait for confirmation"))?
        {
            return Err(LoadError(what("the confirmation did not arrive in 30 s")));
        }
        auth.finish_registration(PIN1, PIN2)
            .await
            .context(what("finish registration"))?;
        auth.verify_pins(PIN1, PIN2)
            .await
            .context(what("verify PINs"))?;
        Ok(Device {
            auth,
            semantics_id: format!("PNOEE-{id}"),
            _home: home,
        })
    }

    /// What registering the fleet took.
    pub struct Registered {
        /// The devices, in order.
        pub devices: Vec<Device>,
        /// Wall time of the whole setup.
        pub took: Duration,
        /// Registrations that failed and were started over with a new
        /// enrolment and a new home, with their errors.
        pub retries: Vec<String>,
    }

    /// Tries of one device's registration, the first included.
    const REGISTER_ATTEMPTS: usize = 3;

    /// Registers `count` devices, `concurrency` at a time. A registration
    /// that fails is started over from a new enrolment (the failure is
    /// kept for the report).
    pub async fn register_all(
        server: &Arc<ServerProcess>,
        count: usize,
        concurrency: usize,
    ) -> Result<Registered, LoadError> {
        let started = Instant::now();
        let gate = Arc::new(Semaphore::new(concurrency));
        let mut tasks = JoinSet::new();
        for index in 0..count {
            let gate = Arc::clone(&gate);
            let server = Arc::clone(server);
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await.context("registration gate")?;
                let mut failures = Vec::new();
                loop {
                    match register(Arc::clone(&server), index).await {
                        Ok(device) => return Ok((index, device, failures)),
                        Err(error) if failures.len() + 1 < REGISTER_ATTEMPTS => {
                            eprintln!("{error}; registering again");
                            failures.push(error.to_string());
                        }
                        Err(error) => return Err(error),
                    }
                }
            });
        }
        let mut devices = Vec::with_capacity(count);
        let mut retries = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (index, device, failures) = joined.context("registration task")??;
            retries.extend(failures);
            devices.push((index, device));
        }
        devices.sort_by_key(|(index, _)| *index);
        Ok(Registered {
            devices: devices.into_iter().map(|(_, d)| d).collect(),
            took: started.elapsed(),
            retries,
        })
    }
}

mod flow {
    //! One notification authentication, timed: the RP starts it, the
    //! device finds it in its inbox and approves with PIN1 while the RP
    //! long-polls the session status; the RP's verification comes later,
    //! outside the timed span.

    use std::time::{Duration, Instant};

    use kaksik_server::rp_client::{self, Completed, RpClient, Started};
    use kaksik_tests::PIN1;

    use super::fleet::Device;
    use super::{Context as _, LoadError, SESSION_WAIT};

    /// Inbox long-polls tried before giving up on a transaction.
    const INBOX_POLLS: u32 = 6;
    /// Each one's wait, seconds.
    const INBOX_WAIT_SECS: u32 = 10;

    /// A completed authentication with its timeline, each point measured
    /// from just before the RP's POST.
    pub struct Run {
        /// What the RP sent.
        pub started: Started,
        /// What the RP received.
        pub completed: Completed,
        /// The device this was.
        pub device: usize,
        /// The POST answered: the session exists.
        pub posted: Duration,
        /// The device's inbox listed the transaction.
        pub listed: Duration,
        /// The device's approval returned (after its confirmation).
        pub approved: Duration,
        /// The RP's status long-poll returned COMPLETE: the latency.
        pub complete: Duration,
    }

    async fn approve(device: &Device, id: &str) -> Result<(Instant, Instant), LoadError> {
        for _ in 0..INBOX_POLLS {
            let inbox = device
                .auth
                .pending_transactions(INBOX_WAIT_SECS)
                .await
                .context("device inbox")?;
            if inbox.iter().any(|t| t.id == id) {
                let listed = Instant::now();
                device.auth.approve(id, PIN1).await.context("approve")?;
                return Ok((listed, Instant::now()));
            }
        }
        Err(LoadError(format!(
            "the transaction did not reach the device's inbox in {INBOX_POLLS} polls"
        )))
    }

    /// One authentication of `device` (number `index`) by `rp`.
    pub async fn authenticate(
        rp: &RpClient,
        device: &Device,
        index: usize,
    ) -> Result<Run, LoadError> {
        let t0 = Instant::now();
        let started = rp
            .authenticate(&device.target(), "Log in to DEMO")
            .await
            .context("RP start")?;
        let posted = t0.elapsed();
        let rp_side = async {
            let completed = rp
                .wait(&started.session_id, SESSION_WAIT)
                .await
                .context("RP status")?;
            Ok::<_, LoadError>((completed, t0.elapsed()))
        };
        let (rp_done, device_done) = tokio::join!(rp_side, approve(device, &started.session_id));
        let (listed, approved) = device_done?;
        let (completed, complete) = rp_done?;
        if completed.end_result != "OK" {
            return Err(LoadError(format!("end result {}", completed.end_result)));
        }
        Ok(Run {
            started,
            completed,
            device: index,
            posted,
            listed: listed.duration_since(t0),
            approved: approved.duration_since(t0),
            complete,
        })
    }

    /// The RP's checks on a completed authentication: the signature over
    /// the ACSP_V2 message, the chain to the CA, the person.
    pub fn verify(run: &Run, devices: &[Device], chain: &str) -> Result<(), LoadError> {
        let expected = devices
            .get(run.device)
            .map(|d| d.semantics_id.as_str())
            .ok_or_else(|| LoadError("a run of an unknown device".into()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("clock")?
            .as_secs();
        rp_client::verify_authentication(
            &run.started,
            &run.completed,
            "kaksik",
            kaksik_server::app::DEMO_RP_NAME,
            chain,
            Some(expected),
            i64::try_from(now).context("clock")?,
        )
        .map(drop)
        .context(format!("session {}", run.started.session_id))
    }
}

mod stats {
    //! Order statistics of durations, in milliseconds.

    use std::time::Duration;

    /// Median, p95, min, max (nearest rank), in ms.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Summary {
        pub median: f64,
        pub p95: f64,
        pub min: f64,
        pub max: f64,
    }

    /// The summary of `samples`; all zero for none.
    pub fn summarize(samples: impl IntoIterator<Item = Duration>) -> Summary {
        let mut ms: Vec<f64> = samples
            .into_iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let rank = |q: f64| -> f64 {
            let n = ms.len();
            let at = ((q * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
            ms.get(at).copied().unwrap_or(0.0)
        };
        Summary {
            median: rank(0.5),
            p95: rank(0.95),
            min: ms.first().copied().unwrap_or(0.0),
            max: ms.last().copied().unwrap_or(0.0),
        }
    }
}

mod scenarios {
    //! The two measurements: `latency` (one device, one after another)
    //! and `throughput` (many devices at once, a measured window).

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use kaksik_server::app::{DEMO_RP_NAME, DEMO_RP_UUID};
    use kaksik_server::rp_client::RpClient;
    use tokio::sync::Notify;
    use tokio::task::JoinSet;

    use super::cpu::{Snapshot, Usage};
    use super::fleet::{self, Device};
    use super::flow::{self, Run};
    use super::server::ServerProcess;
    use super::{Common, Context as _, LatencyArgs, LoadError, ThroughputArgs};

    /// Consecutive failures after which a device stops.
    const MAX_CONSECUTIVE_ERRORS: u32 = 3;
    /// Error messages kept for the report.
    const KEPT_ERRORS: usize = 5;

    /// What both scenarios report besides their own numbers.
    pub struct Setup {
        pub devices: usize,
        pub registration: Duration,
        /// Registrations started over, with why.
        pub registration_retries: Vec<String>,
        pub load_before: String,
        pub tick: (f64, &'static str),
        pub server_pid: u32,
        pub refresh_after: Option<u32>,
        /// `kaksik admin` commands tried again after a storage failure.
        pub admin_retries: u64,
    }

    /// A measured phase.
    pub struct Measured {
        pub setup: Setup,
        /// Runs inside the measured window, in order of completion.
        pub runs: Vec<Run>,
        pub usage: Usage,
        /// Runs verified (all of them, warm-up included) and failures.
        pub verified: usize,
        pub verify_failures: usize,
        pub errors: usize,
        pub first_errors: Vec<String>,
        pub load_after: String,
    }

    struct Prepared {
        server: Arc<ServerProcess>,
        devices: Vec<Device>,
        rp: Arc<RpClient>,
        chain: String,
        setup: Setup,
    }

    async fn prepare(common: &Common, devices: usize) -> Result<Prepared, LoadError> {
        let load_before = super::cpu::load_average();
        let tick = super::cpu::ticks_per_second();
        let server = Arc::new(ServerProcess::start(
            &common.kaksik,
            common.refresh_after_signatures,
        )?);
        eprintln!(
            "server pid {} at {}; registering {devices} device(s), {} at a time…",
            server.pid(),
            server.url,
            common.register_concurrency
        );
        let registered =
            fleet::register_all(&server, devices, usize::from(common.register_concurrency)).await?;
        let devices = registered.devices;
        let rp = Arc::new(
            RpClient::new(&server.url, &server.spki_pin, DEMO_RP_UUID, DEMO_RP_NAME)
                .context("RP client")?,
        );
        let chain = rp.ca_chain().await.context("CA chain")?;
        let setup = Setup {
            devices: devices.len(),
            registration: registered.took,
            registration_retries: registered.retries,
            load_before,
            tick,
            server_pid: server.pid(),
            refresh_after: common.refresh_after_signatures,
            admin_retries: server.admin_retries(),
        };
        Ok(Prepared {
            server,
            devices,
            rp,
            chain,
            setup,
        })
    }

    fn verify_all(runs: &[Run], devices: &[Device], chain: &str) -> (usize, usize, Vec<String>) {
        let mut failures = Vec::new();
        for run in runs {
            if let Err(error) = flow::verify(run, devices, chain) {
                failures.push(error.to_string());
            }
        }
        let failed = failures.len();
        failures.truncate(KEPT_ERRORS);
        (runs.len() - failed, failed, failures)
    }

    /// One device, `count` authentications one after another.
    pub async fn latency(args: &LatencyArgs) -> Result<Measured, LoadError> {
        let p = prepare(&args.common, 1).await?;
        let device = p
            .devices
            .first()
            .ok_or_else(|| LoadError("no device registered".into()))?;
        eprintln!(
            "{} warm-up and {} measured authentications…",
            args.warmup, args.count
        );
        let mut warmup = Vec::new();
        for _ in 0..args.warmup {
            warmup.push(flow::authenticate(&p.rp, device, 0).await?);
        }
        let pid = p.server.pid();
        let before = Snapshot::take(pid)?;
        let mut runs = Vec::new();
        for _ in 0..args.count {
            runs.push(flow::authenticate(&p.rp, device, 0).await?);
        }
        let after = Snapshot::take(pid)?;
        let usage = Usage::between(&before, &after, 1.0 / p.setup.tick.0);
        let (ok_w, bad_w, mut first_errors) = verify_all(&warmup, &p.devices, &p.chain);
        let (ok, bad, more) = verify_all(&runs, &p.devices, &p.chain);
        first_errors.extend(more);
        Ok(Measured {
            setup: p.setup,
            runs,
            usage,
            verified: ok + ok_w,
            verify_failures: bad + bad_w,
            errors: 0,
            first_errors,
            load_after: super::cpu::load_average(),
        })
    }

    /// The measured window: open or closed, and what completed in it.
    struct Window {
        open: bool,
        runs: Vec<Run>,
        /// Completions outside the window (warm-up, drain): verified too.
        others: Vec<Run>,
        errors: usize,
        first_errors: Vec<String>,
    }

    struct Shared {
        rp: Arc<RpClient>,
        stop: AtomicBool,
        window: Mutex<Window>,
        /// Completions in the window that close it (`--count`).
        target: Option<u64>,
        reached: Notify,
    }

    impl Shared {
        fn record(&self, outcome: Result<Run, LoadError>) -> bool {
            let Ok(mut window) = self.window.lock() else {
                return false;
            };
            match outcome {
                Ok(run) if window.open => {
                    window.runs.push(run);
                    if self.target == Some(window.runs.len() as u64) {
                        self.reached.notify_one();
                    }
                    true
                }
                Ok(run) => {
                    window.others.push(run);
                    true
                }
                Err(error) => {
                    window.errors += 1;
                    if window.first_errors.len() < KEPT_ERRORS {
                        window.first_errors.push(error.to_string());
                    }
                    false
                }
            }
        }
    }

    async fn worker(shared: Arc<Shared>, devices: Arc<Vec<Device>>, index: usize) {
        let Some(device) = devices.get(index) else {
            return;
        };
        let mut failures = 0;
        while !shared.stop.load(Ordering::Relaxed) {
            let outcome = flow::authenticate(&shared.rp, device, index).await;
            if shared.record(outcome) {
                failures = 0;
            } else {
                failures += 1;
                if failures >= MAX_CONSECUTIVE_ERRORS {
                    return;
                }
            }
        }
    }

    /// `devices` devices approving at once: a warm-up, then a window of
    /// `duration_secs` (or `count` completions), CPU read at its edges.
    pub async fn throughput(args: &ThroughputArgs) -> Result<Measured, LoadError> {
        let p = prepare(&args.common, args.devices as usize).await?;
        let devices = Arc::new(p.devices);
        let shared = Arc::new(Shared {
            rp: Arc::clone(&p.rp),
            stop: AtomicBool::new(false),
            window: Mutex::new(Window {
                open: false,
                runs: Vec::new(),
                others: Vec::new(),
                errors: 0,
                first_errors: Vec::new(),
            }),
            target: args.count,
            reached: Notify::new(),
        });
        eprintln!(
            "{} devices: {} s warm-up, then a {} s window{}…",
            devices.len(),
            args.warmup_secs,
            args.duration_secs,
            args.count
                .map(|n| format!(" (or {n} completions)"))
                .unwrap_or_default()
        );
        let mut workers = JoinSet::new();
        for index in 0..devices.len() {
            workers.spawn(worker(Arc::clone(&shared), Arc::clone(&devices), index));
        }
        tokio::time::sleep(Duration::from_secs(args.warmup_secs)).await;
        let pid = p.server.pid();
        // The CPU is read under the window's lock, so no completion falls
        // between a reading and the opening or closing of the window.
        let edge = |open: bool| -> Result<Snapshot, LoadError> {
            let mut window = shared
                .window
                .lock()
                .map_err(|_| LoadError("the window lock is poisoned".into()))?;
            let snapshot = Snapshot::take(pid)?;
            window.open = open;
            Ok(snapshot)
        };
        let before = edge(true)?;
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(args.duration_secs)) => {}
            () = shared.reached.notified() => {}
        }
        let after = edge(false)?;
        shared.stop.store(true, Ordering::Relaxed);
        while workers.join_next().await.is_some() {}
        let usage = Usage::between(&before, &after, 1.0 / p.setup.tick.0);
        let window = std::mem::replace(
            &mut *shared
                .window
                .lock()
                .map_err(|_| LoadError("the window lock is poisoned".into()))?,
            Window {
                open: false,
                runs: Vec::new(),
                others: Vec::new(),
                errors: 0,
                first_errors: Vec::new(),
            },
        );
        let (ok_o, bad_o, mut first_errors) = verify_all(&window.others, &devices, &p.chain);
        let (ok, bad, more) = verify_all(&window.runs, &devices, &p.chain);
        first_errors.extend(more);
        first_errors.extend(window.first_errors);
        Ok(Measured {
            setup: p.setup,
            runs: window.runs,
            usage,
            verified: ok + ok_o,
            verify_failures: bad + bad_o,
            errors: window.errors,
            first_errors,
            load_after: super::cpu::load_average(),
        })
    }
}

mod report {
    //! The table on stdout, or one JSON object.

    use std::fmt::Write as _;

    use serde_json::{Value, json};

    use super::scenarios::Measured;
    use super::stats::{Summary, summarize};

    fn row(out: &mut String, name: &str, s: Summary) {
        let _ = writeln!(
            out,
            "  {name:<34} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            s.median, s.p95, s.min, s.max
        );
    }

    fn summary_json(s: Summary) -> Value {
        json!({ "median_ms": s.median, "p95_ms": s.p95, "min_ms": s.min, "max_ms": s.max })
    }

    /// The numbers a reader needs, derived once for both outputs.
    struct Numbers {
        completed: usize,
        per_second: f64,
        server_ms: f64,
        client_ms: f64,
        server_cores: f64,
        client_cores: f64,
        machine_cores: f64,
        other_cores: f64,
        iowait_cores: f64,
        cores: f64,
        total: Summary,
        posted: Summary,
        listed: Summary,
        approved: Summary,
    }

    fn numbers(m: &Measured) -> Numbers {
        let u = &m.usage;
        let completed = m.runs.len();
        let n = completed.max(1) as f64;
        let wall = u.wall.max(f64::EPSILON);
        Numbers {
            completed,
            per_second: completed as f64 / wall,
            server_ms: u.server / n * 1000.0,
            client_ms: u.client / n * 1000.0,
            server_cores: u.server / wall,
            client_cores: u.client / wall,
            machine_cores: u.machine_busy / wall,
            other_cores: (u.machine_busy - u.server - u.client).max(0.0) / wall,
            iowait_cores: u.machine_iowait / wall,
            cores: u.machine_total / wall,
            total: summarize(m.runs.iter().map(|r| r.complete)),
            posted: summarize(m.runs.iter().map(|r| r.posted)),
            listed: summarize(m.runs.iter().map(|r| r.listed)),
            approved: summarize(m.runs.iter().map(|r| r.approved)),
        }
    }

    /// Renders `m` of `scenario` as a table, or as JSON.
    pub fn render(scenario: &str, m: &Measured, as_json: bool) -> String {
        let n = numbers(m);
        let s = &m.setup;
        let refresh = s
            .refresh_after
            .map_or_else(|| "server default".to_owned(), |r| r.to_string());
        if as_json {
            let value = json!({
                "scenario": scenario,
                "devices": s.devices,
                "registration_s": s.registration.as_secs_f64(),
                "admin_retries": s.admin_retries,
                "registration_retries": s.registration_retries,
                "refresh_after_signatures": refresh,
                "clock_ticks_per_s": s.tick.0,
                "clock_ticks_source": s.tick.1,
                "window_s": m.usage.wall,
                "completed": n.completed,
                "per_second": n.per_second,
                "latency": summary_json(n.total),
                "phases_from_post": {
                    "rp_post_answered": summary_json(n.posted),
                    "device_lists_transaction": summary_json(n.listed),
                    "device_approve_returns": summary_json(n.approved),
                },
                "server_cpu_ms_per_signature": n.server_ms,
                "client_cpu_ms_per_signature": n.client_ms,
                "cores_busy": {
                    "server": n.server_cores,
                    "load_generator": n.client_cores,
                    "other_processes": n.other_cores,
                    "machine": n.machine_cores,
                    "iowait": n.iowait_cores,
                    "available": n.cores,
                },
                "verified": m.verified,
                "verify_failures": m.verify_failures,
                "errors": m.errors,
                "first_errors": m.first_errors,
                "load_average_before": s.load_before,
                "load_average_after": m.load_after,
            });
            return format!("{value:#}\n");
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "kaksik-load {scenario}: {} device(s), refresh after signatures: {refresh}",
            s.devices
        );
        let _ = writeln!(
            out,
            "  setup: {} registration(s) in {:.1} s (not measured), {} kaksik admin \
             retries; server pid {}",
            s.devices,
            s.registration.as_secs_f64(),
            s.admin_retries,
            s.server_pid
        );
        for why in &s.registration_retries {
            let _ = writeln!(out, "    registration started over after: {why}");
        }
        let _ = writeln!(
            out,
            "  measured: {} authentications in {:.2} s = {:.1} /s",
            n.completed, m.usage.wall, n.per_second
        );
        let _ = writeln!(
            out,
            "\n  {:<34} {:>9} {:>9} {:>9} {:>9}",
            "ms from the RP's POST", "median", "p95", "min", "max"
        );
        row(&mut out, "RP status returns COMPLETE (latency)", n.total);
        row(&mut out, "  RP POST answered", n.posted);
        row(&mut out, "  device inbox lists it", n.listed);
        row(&mut out, "  device approve returns", n.approved);
        let _ = writeln!(out, "\n  CPU per completed signature");
        let _ = writeln!(
            out,
            "    server (kaksik serve)       {:>8.2} ms",
            n.server_ms
        );
        let _ = writeln!(
            out,
            "    load generator (devices+RP) {:>8.2} ms",
            n.client_ms
        );
        let _ = writeln!(
            out,
            "  cores busy over the window (of {:.2}): server {:.2}, load generator {:.2}, \
             other processes {:.2}; iowait {:.2}",
            n.cores, n.server_cores, n.client_cores, n.other_cores, n.iowait_cores
        );
        let _ = writeln!(
            out,
            "  verified by the RP: {} ok, {} failed; errors during the run: {}",
            m.verified, m.verify_failures, m.errors
        );
        for error in &m.first_errors {
            let _ = writeln!(out, "    {error}");
        }
        let _ = writeln!(
            out,
            "  clock ticks: {}/s ({}); load average before {}, after {}",
            s.tick.0, s.tick.1, s.load_before, m.load_after
        );
        out
    }
}

async fn run(cli: Cli) -> Result<String, LoadError> {
    match cli.scenario {
        Scenario::Latency(args) => {
            let measured = scenarios::latency(&args).await?;
            Ok(report::render("latency", &measured, args.common.json))
        }
        Scenario::Throughput(args) => {
            let measured = scenarios::throughput(&args).await?;
            Ok(report::render("throughput", &measured, args.common.json))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: writing the report: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
