//! The demo relying party in a real browser: headless Chromium (Debian's,
//! driven by playwright-core from `tests/browser/`) logs Mari in by
//! personal code at `/demo/` while her phone, the real device client,
//! checks the code and approves with PIN1. Prerequisites:
//! `bash tests/browser/setup.sh` (chromium from apt, `npm ci`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kaksik_tests::{Harness, PIN1, mari};

const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Fails (never skips) when a prerequisite is missing: CI installs them,
/// so a missing one is a broken setup, not a reason to pass.
fn check_prerequisites() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium at {CHROMIUM}: \
         run `bash tests/browser/setup.sh` (apt-get install chromium)"
    );
    let dir = browser_dir();
    if !dir.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .unwrap_or_else(|e| {
                panic!("the browser test needs node and npm (`npm ci` could not start: {e})")
            });
        assert!(
            status.success(),
            "`npm ci --prefix tests/browser` failed: run `bash tests/browser/setup.sh`"
        );
    }
}

/// Where the screenshot goes: the target directory's scratch space for
/// integration tests, kept after the run for a person to look at.
fn screenshot_path() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-test");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("demo-login-by-personal-code.png");
    let _ = std::fs::remove_file(&path);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_to_the_demo_page_by_personal_code_in_a_browser() {
    check_prerequisites();
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let screenshot = screenshot_path();
    let identity = mari();

    let mut node = Command::new("node")
        .arg(browser_dir().join("login.mjs"))
        .arg(format!("{}/demo/", h.running.url))
        .arg(&identity.country)
        .arg(&identity.national_id)
        .arg(format!("{} {}", identity.given_name, identity.surname))
        .arg(&screenshot)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node could not start");

    // The script's lines arrive on a channel; its stderr is kept for the
    // failure message. Threads, because the reads block.
    let (lines, mut from_node) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = node.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut stderr = node.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    // The page shows the code once the RP session exists, so the phone's
    // transaction is there by then.
    let mut printed = Vec::new();
    let page_code = loop {
        match from_node.recv().await {
            Some(line) => match line.strip_prefix("verification-code ") {
                Some(code) => break code.to_owned(),
                None => printed.push(line),
            },
            None => {
                let status = node.wait().unwrap();
                panic!(
                    "the browser never showed a verification code ({status}):\n{}\n{}",
                    printed.join("\n"),
                    stderr.join().unwrap()
                );
            }
        }
    };
    let id = device.next_transaction().await;
    let view = device.auth.transaction(&id).await.unwrap();
    assert_eq!(
        view.verification_code.as_deref(),
        Some(page_code.as_str()),
        "the page and the phone show different codes"
    );
    device.auth.approve(&id, PIN1).await.unwrap();

    let status = tokio::task::spawn_blocking(move || node.wait().unwrap())
        .await
        .unwrap();
    while let Ok(line) = from_node.try_recv() {
        printed.push(line);
    }
    let stderr = stderr.join().unwrap();
    assert!(
        status.success(),
        "the browser test failed ({status}):\n{}\n{stderr}",
        printed.join("\n")
    );
    let png = std::fs::read(&screenshot).unwrap_or_else(|e| {
        panic!("no screenshot at {}: {e}", screenshot.display());
    });
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        screenshot.display()
    );
    println!("screenshot: {}", screenshot.display());
}
