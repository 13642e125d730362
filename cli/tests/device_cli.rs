//! The real `kaksik` binary end to end: `kaksik serve` as a child process
//! on a loopback port, `kaksik admin` as the operator, `kaksik device` as
//! the phone (PINs on standard input), `kaksik rp` as the relying party;
//! the signature checked with `openssl`.
//!
//! One server and one registration serve the whole flow (registration
//! runs two DKGs; doing it once keeps the test quick on two cores).

// A test crate fails by panicking; clippy only exempts #[test] functions,
// not the helpers they share.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

const KAKSIK: &str = env!("CARGO_BIN_EXE_kaksik");

/// Generous: a debug build on two busy cores.
const STEP: Duration = Duration::from_secs(300);

const PIN1: &str = "2580";
const PIN2: &str = "14703";
const MARI: &str = "PNOEE-38001085718";

/// A `kaksik` process in the background: its stdout line by line as it
/// comes, its stderr at the end. Killed if dropped before it finished
/// (a failed assertion must not leave it running).
struct Running {
    child: Option<Child>,
    stdin: Option<std::process::ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<thread::JoinHandle<String>>,
    what: String,
}

impl Running {
    fn start(args: &[&str], stdin: &str) -> Self {
        let mut running = Self::start_open(args);
        // See `run`: a closed pipe is reported by the command itself.
        let _ = running.stdin.take().unwrap().write_all(stdin.as_bytes());
        running
    }

    /// Writes `line` to the process's standard input and closes it.
    fn send_line(&mut self, line: &str) {
        let mut stdin = self.stdin.take().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    /// Starts the process with its standard input left open.
    fn start_open(args: &[&str]) -> Self {
        let mut child = Command::new(KAKSIK)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Running {
            child: Some(child),
            stdin,
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
            what: args.join(" "),
        }
    }

    /// The rest of the first stdout line that starts with `prefix`.
    fn line_after(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(rest) = self.seen.iter().find_map(|l| l.strip_prefix(prefix)) {
                return rest.to_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("`{}`: no line {prefix:?}: {:?}", self.what, self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "`{}` ended without a line {prefix:?}: {:?}",
                    self.what, self.seen
                ),
            }
        }
    }

    /// Waits for the process to end: its exit code, stdout, stderr.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("`{}` did not end: {:?}", self.what, self.seen);
            }
            thread::sleep(Duration::from_millis(50));
        };
        // The reader ends at EOF, which follows the exit.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(line);
        }
        let stderr = self.stderr.take().unwrap().join().unwrap();
        let mut stdout = self.seen.join("\n");
        stdout.push('\n');
        (status.code(), stdout, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `kaksik serve` on a free loopback port, with its data directory.
struct Server {
    process: Running,
    url: String,
    pin: String,
    data: TempDir,
}

impl Server {
    fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        // A port the kernel just handed out and took back is free for
        // the server to bind.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut process = Running::start(
            &[
                "serve",
                "--data-dir",
                data.path().to_str().unwrap(),
                "--listen",
                &listen,
            ],
            "",
        );
        let url = process.line_after("kaksik server listening on ");
        let pin = process.line_after("spki-pin ");
        assert_eq!(url, format!("https://{listen}"));
        Server {
            process,
            url,
            pin,
            data,
        }
    }

    fn data_dir(&self) -> &str {
        self.data.path().to_str().unwrap()
    }

    /// `kaksik admin --data-dir … <args>`, which must succeed.
    fn admin(&self, args: &[&str]) -> String {
        let mut all = vec!["admin", "--data-dir", self.data_dir()];
        all.extend_from_slice(args);
        ok(&run(&all, ""))
    }

    /// A one-time enrolment code for a person.
    fn enrol(&self, id: &str, given_name: &str, surname: &str) -> String {
        let out = self.admin(&[
            "enrol",
            "--country",
            "EE",
            "--id",
            id,
            "--given-name",
            given_name,
            "--surname",
            surname,
        ]);
        out.lines().next().unwrap().to_owned()
    }

    /// `kaksik rp --server … --spki-pin … <args>` in the background.
    fn rp(&self, args: &[&str]) -> Running {
        let mut all = vec!["rp", "--server", &self.url, "--spki-pin", &self.pin];
        all.extend_from_slice(args);
        Running::start(&all, "")
    }

    /// [`Server::rp`] with standard input left open.
    fn rp_open(&self, args: &[&str]) -> Running {
        let mut all = vec!["rp", "--server", &self.url, "--spki-pin", &self.pin];
        all.extend_from_slice(args);
        Running::start_open(&all)
    }

    /// Starts `kaksik device … register` with `pins` on stdin, confirms
    /// the registration code it prints as the operator, and returns the
    /// finished process.
    fn register(&self, home: &Path, code: &str, pins: &str) -> (Option<i32>, String, String) {
        let mut device = Running::start(
            &[
                "device",
                "--home",
                home.to_str().unwrap(),
                "register",
                "--server",
                &self.url,
                "--spki-pin",
                &self.pin,
                "--enrolment",
                code,
            ],
            pins,
        );
        let shown = device.line_after("registration code: ");
        let confirm = [
            "admin",
            "--data-dir",
            self.data_dir(),
            "confirm",
            "--enrolment",
            code,
            "--registration-code",
            &shown,
        ];
        let out = run(&confirm, "");
        let confirmed = ok(&out);
        assert!(confirmed.starts_with("confirmed: "), "{confirmed}");
        device.finish()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.process.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(KAKSIK)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before it reads its input closes the pipe:
    // its exit status and stderr tell what happened, not the write.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(out.stderr.is_empty(), "stderr: {stderr}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Expects exit `code` and exactly one `error:` line on stderr; returns
/// the line.
fn fails(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    stderr
}

/// The one error line of a finished background process.
fn one_error(stderr: &str) -> &str {
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    stderr.trim_end()
}

fn value_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {text:?}"))
}

/// A phone home: `kaksik device --home …`.
struct Phone {
    home: PathBuf,
}

impl Phone {
    fn device(&self, args: &[&str], stdin: &str) -> Output {
        let mut all = vec!["device", "--home", self.home.to_str().unwrap()];
        all.extend_from_slice(args);
        run(&all, stdin)
    }

    /// The id of the next pending transaction, waiting for it.
    fn next_transaction(&self) -> String {
        for _ in 0..30 {
            let inbox = ok(&self.device(&["inbox", "--wait", "10"], ""));
            if let Some(line) = inbox.lines().next() {
                let fields: Vec<&str> = line.split('\t').collect();
                assert_eq!(fields.len(), 4, "id, kind, RP, expiry: {line:?}");
                assert_eq!(fields[2], "DEMO");
                return fields[0].to_owned();
            }
        }
        panic!("no transaction arrived");
    }
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn register_log_in_sign_refuse_and_mistype_through_the_binary() {
    let server = Server::start();
    let homes = tempfile::tempdir().unwrap();

    // Registration: PIN1 and PIN2, each typed twice, one per line.
    let code = server.enrol("38001085718", "MARI", "MAASIKAS");
    let phone = Phone {
        home: homes.path().join("mari"),
    };
    let (status, stdout, stderr) = server.register(
        &phone.home,
        &code,
        &format!("{PIN1}\n{PIN1}\n{PIN2}\n{PIN2}\n"),
    );
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        stdout.contains("enrolment for: MARI MAASIKAS (PNOEE-38001085718)"),
        "{stdout}"
    );
    let document = value_after(&stdout, "document number: ").to_owned();
    assert!(document.starts_with("PNOEE-38001085718-"), "{document}");
    assert_eq!(value_after(&stdout, "state: "), "READY");

    // Later commands need only --home.
    let status = ok(&phone.device(&["status"], ""));
    assert_eq!(value_after(&status, "state: "), "READY", "{status}");
    assert_eq!(value_after(&status, "server: "), server.url);
    assert!(
        status.contains("key auth (PIN1): ACTIVE, failed attempts 0"),
        "{status}"
    );

    // Ids are Base64url: one may start with `-` and is still an id.
    let unknown = fails(&phone.device(&["show", "-Zno-such-transaction"], ""), 1);
    assert!(!unknown.contains("flag"), "{unknown}");

    // Log in: the phone shows the code the RP printed; PIN1 approves.
    let mut rp = server.rp(&["auth", "--id", MARI, "--text", "Log in to DEMO"]);
    let id = phone.next_transaction();
    let shown = ok(&phone.device(&["show", &id], ""));
    assert_eq!(value_after(&shown, "text: "), "Log in to DEMO");
    let code = value_after(&shown, "verification code: ").to_owned();
    assert_eq!(rp.line_after("verification code: "), code);
    let approved = ok(&phone.device(&["approve", &id], &format!("{PIN1}\n")));
    assert!(
        approved.contains(&format!(
            "approved: authentication for DEMO, verification code {code}"
        )),
        "{approved}"
    );
    let (status, stdout, stderr) = rp.finish();
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("authenticated: MARI MAASIKAS (PNOEE-38001085718)"),
        "{stdout}"
    );
    assert_eq!(value_after(&stdout, "document number: "), document);

    // Sign a file: PIN2; the signature verifies with openssl.
    let files = tempfile::tempdir().unwrap();
    let contract = files.path().join("contract.txt");
    std::fs::write(&contract, b"Contract no. 42: Mari buys one (1) bicycle.\n").unwrap();
    let signature = files.path().join("contract.txt.sig");
    let rp = server.rp(&[
        "sign",
        "--document",
        &document,
        "--file",
        contract.to_str().unwrap(),
        "--out",
        signature.to_str().unwrap(),
        "--text",
        "Sign contract no. 42",
    ]);
    let id = phone.next_transaction();
    let approved = ok(&phone.device(&["approve", &id], &format!("{PIN2}\n")));
    assert!(
        approved.contains("approved: signature for DEMO"),
        "{approved}"
    );
    let (status, stdout, stderr) = rp.finish();
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("signed by: MARI MAASIKAS (PNOEE-38001085718)"),
        "{stdout}"
    );
    let certificate = files.path().join("contract.txt.sig.cert.pem");
    assert_eq!(
        value_after(&stdout, "certificate: "),
        certificate.to_str().unwrap()
    );
    let public = openssl(
        &[
            "x509",
            "-pubkey",
            "-noout",
            "-in",
            "contract.txt.sig.cert.pem",
        ],
        files.path(),
    );
    std::fs::write(files.path().join("pub.pem"), public).unwrap();
    let verified = openssl(
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "contract.txt.sig",
            "contract.txt",
        ],
        files.path(),
    );
    assert!(verified.contains("Verified OK"), "{verified}");

    // A wrong PIN: one error line, status 1, attempts left; then the
    // person declines and the RP sees the refusal.
    let rp = server.rp(&["auth", "--id", MARI]);
    let id = phone.next_transaction();
    let wrong = fails(&phone.device(&["approve", &id], "9371\n"), 1);
    assert!(
        wrong.starts_with("error: wrong PIN, 2 attempts left"),
        "{wrong}"
    );
    let declined = ok(&phone.device(&["decline", &id], ""));
    assert_eq!(declined, format!("declined: {id}\n"));
    let (status, stdout, stderr) = rp.finish();
    assert_eq!(status, Some(1), "{stdout}{stderr}");
    assert_eq!(
        one_error(&stderr),
        "error: end result USER_REFUSED_INTERACTION"
    );
    let status = ok(&phone.device(&["status"], ""));
    assert!(
        status.contains("key auth (PIN1): ACTIVE, failed attempts 1"),
        "{status}"
    );

    // Change PIN1: the current one, then the new one twice; the next
    // login takes the new PIN, and the right current PIN reset the count.
    let changed = ok(&phone.device(&["change-pin", "auth"], &format!("{PIN1}\n7391\n7391\n")));
    assert_eq!(changed, "PIN1 changed\n");
    let rp = server.rp(&["auth", "--id", MARI]);
    let id = phone.next_transaction();
    ok(&phone.device(&["approve", &id], "7391\n"));
    let (status, stdout, stderr) = rp.finish();
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    let mistyped = fails(
        &phone.device(&["change-pin", "auth"], "7391\n1470\n1407\n"),
        2,
    );
    assert_eq!(
        one_error(&mistyped),
        "error: the two PIN1 entries differ; nothing was sent"
    );

    // A QR login: the RP tool prints the current link every second (on a
    // pipe, the link text instead of the drawn code); the phone opens it.
    let mut rp = server.rp(&["auth", "--qr"]);
    let link = rp.line_after("device link: ");
    let opened = ok(&phone.device(&["open-link", &link], ""));
    assert!(opened.contains("kind: authentication"), "{opened}");
    let id = value_after(&opened, "id: ").to_owned();
    ok(&phone.device(&["approve", &id], "7391\n"));
    let (status, stdout, stderr) = rp.finish();
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("authenticated: MARI MAASIKAS (PNOEE-38001085718)"),
        "{stdout}"
    );

    // A Web2App login: the phone prints the callback URL it opens; the RP
    // tool reads it and checks its values.
    let mut rp = server.rp_open(&["auth", "--id", MARI, "--web2app"]);
    let link = rp.line_after("device link: ");
    let opened = ok(&phone.device(&["open-link", &link], ""));
    let id = value_after(&opened, "id: ").to_owned();
    let approved = ok(&phone.device(&["approve", &id], "7391\n"));
    let callback = value_after(&approved, "open: ").to_owned();
    rp.send_line(&callback);
    let (status, stdout, stderr) = rp.finish();
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("callback: sessionSecretDigest and userChallengeVerifier verified"),
        "{stdout}"
    );

    // PINs typed differently at registration: status 2, nothing sent,
    // the registration still open.
    let code = server.enrol("39001010002", "JAAN", "TAMM");
    let jaan = homes.path().join("jaan");
    let (status, stdout, stderr) =
        server.register(&jaan, &code, &format!("{PIN1}\n1234\n{PIN2}\n{PIN2}\n"));
    assert_eq!(status, Some(2), "{stdout}{stderr}");
    assert_eq!(
        one_error(&stderr),
        "error: the two PIN1 entries differ; nothing was sent"
    );
    let status = ok(&run(
        &["device", "--home", jaan.to_str().unwrap(), "status"],
        "",
    ));
    assert_eq!(value_after(&status, "state: "), "REGISTERING", "{status}");
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let mut server = Server::start();
    let child = server.process.child.as_mut().unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + STEP;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "kaksik serve ignored SIGTERM");
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "a clean stop, not a kill");
}

#[test]
fn the_demo_runs_every_step_and_exits_0() {
    let out = run(&["demo"], "");
    let stdout = ok(&out);
    for step in [
        "enrol and register a phone",
        "notification login (PIN1)",
        "QR code login (PIN1)",
        "Web2App login + callback",
        "wrong PIN, then the right one",
        "document signature (PIN2)",
        "all steps passed",
    ] {
        assert!(stdout.contains(step), "{step}: {stdout}");
    }
}

#[test]
fn rp_auth_and_sign_name_the_missing_server_flag() {
    let missing = fails(&run(&["rp", "auth", "--id", MARI], ""), 2);
    assert!(missing.starts_with("error: --server: "), "{missing}");
    let missing = fails(
        &run(
            &[
                "rp",
                "--server",
                "https://127.0.0.1:1",
                "sign",
                "--id",
                MARI,
                "--file",
                "x",
            ],
            "",
        ),
        2,
    );
    assert!(missing.starts_with("error: --spki-pin: "), "{missing}");
}

#[test]
fn device_commands_need_a_registered_home() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let error = fails(
        &run(
            &["device", "--home", missing.to_str().unwrap(), "inbox"],
            "",
        ),
        2,
    );
    assert!(error.starts_with("error: --home: "), "{error}");
    assert!(!missing.exists(), "a typo must not create a home");
    let error = fails(
        &run(
            &["device", "--home", dir.path().to_str().unwrap(), "status"],
            "",
        ),
        2,
    );
    assert!(error.contains("register"), "{error}");
}

#[test]
fn pins_are_not_flags() {
    let out = run(
        &["device", "--home", "h", "approve", "tx", "--pin", PIN1],
        "",
    );
    let error = fails(&out, 2);
    assert!(!error.contains(PIN1), "{error}");
    let stray = fails(
        &run(&["device", "--home", "h", "approve", "tx", PIN1], ""),
        2,
    );
    assert!(!stray.contains(PIN1), "{stray}");
}

#[test]
fn the_readme_shows_the_try_by_hand_script_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = std::fs::read_to_string(root.join("scripts/try-by-hand.sh")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("## Try it by hand\n"),
        "README.md has no section \"Try it by hand\""
    );
    assert!(
        readme.contains(&format!("```sh\n{script}```\n")),
        "README.md's \"Try it by hand\" must show scripts/try-by-hand.sh exactly"
    );
}
