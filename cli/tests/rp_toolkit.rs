//! The real `kaksik rp` binary against `shared/vectors/smartid-rp-v3.json`
//! (read at test time) and against bad input: output on stdout only,
//! exactly one `error:` line on stderr naming the flag, exit status 2.

// A test crate fails by panicking; clippy only exempts #[test] functions,
// not the helpers they share.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Map, Value};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/smartid-rp-v3.json"
);

fn section(name: &str) -> Vec<Map<String, Value>> {
    let path = Path::new(VECTORS);
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read the RP test vectors at {} ({e}); the shared/ directory must sit beside \
             the repository clone",
            path.display()
        )
    });
    let all: Value = serde_json::from_str(&text).unwrap();
    let entries: Vec<Map<String, Value>> = all[name]
        .as_array()
        .unwrap_or_else(|| panic!("vector file has no array {name:?}"))
        .iter()
        .map(|e| e.as_object().unwrap().clone())
        .collect();
    assert!(!entries.is_empty(), "vector section {name:?} is empty");
    entries
}

fn s<'a>(v: &'a Map<String, Value>, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("vector has no string {key:?}"))
}

fn kaksik(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kaksik"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Runs `args`, expects success, returns stdout.
fn ok(args: &[&str]) -> String {
    let out = kaksik(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: stderr {}",
        stderr(&out)
    );
    assert!(out.stderr.is_empty(), "{args:?}: stderr {}", stderr(&out));
    stdout(&out)
}

/// Runs `args`, expects a usage error naming `flag` on exactly one line.
fn usage_error(args: &[&str], flag: &str) -> String {
    let out = kaksik(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
    assert!(out.stdout.is_empty(), "{args:?}: stdout {}", stdout(&out));
    assert_eq!(err.lines().count(), 1, "{args:?}: stderr {err:?}");
    assert!(err.ends_with('\n'), "{err:?}");
    assert!(
        err.starts_with(&format!("error: {flag}")),
        "{args:?}: stderr {err:?}"
    );
    err
}

fn device_link_args(v: &Map<String, Value>) -> Vec<String> {
    let mut args: Vec<String> = [
        ("--scheme", "scheme"),
        ("--session-secret", "session_secret_b64"),
        ("--protocol", "signature_protocol"),
        ("--challenge", "rp_challenge_or_digest"),
        ("--rp-name", "relying_party_name"),
        ("--broker-name", "brokered_rp_name"),
        ("--interactions", "interactions_b64"),
        ("--callback", "initial_callback_url"),
        ("--base", "device_link_base"),
        ("--link-type", "device_link_type"),
        ("--session-token", "session_token"),
        ("--session-type", "session_type"),
        ("--lang", "lang"),
    ]
    .iter()
    .flat_map(|(flag, key)| [(*flag).to_owned(), s(v, key).to_owned()])
    .collect();
    if let Some(n) = v["elapsed_seconds"].as_u64() {
        args.extend(["--elapsed".to_owned(), n.to_string()]);
    }
    let mut all = vec!["rp".to_owned(), "device-link".to_owned()];
    all.extend(args);
    all
}

fn acsp_args(v: &Map<String, Value>) -> Vec<String> {
    let mut all = vec!["rp".to_owned(), "acsp-v2".to_owned()];
    all.extend(
        [
            ("--scheme", "scheme"),
            ("--server-random", "server_random"),
            ("--rp-challenge", "rp_challenge_b64"),
            ("--user-challenge", "user_challenge"),
            ("--rp-name", "relying_party_name"),
            ("--broker-name", "brokered_rp_name"),
            ("--interactions", "interactions_b64"),
            ("--interaction-used", "interaction_type_used"),
            ("--callback", "initial_callback_url"),
            ("--flow-type", "flow_type"),
            ("--hash", "hash_algorithm"),
        ]
        .iter()
        .flat_map(|(flag, key)| [(*flag).to_owned(), s(v, key).to_owned()]),
    );
    all
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn vc_digest_prints_exactly_the_code() {
    assert_eq!(
        ok(&[
            "rp",
            "vc",
            "--digest",
            "f4OxZX/x/FO5LcGBSKHWXfwtSx+j1ncoSt3SABJtkGk="
        ]),
        "7712\n"
    );
}

#[test]
fn vc_digest_matches_every_digest_codes_vector() {
    for v in section("digest_codes") {
        let out = ok(&["rp", "vc", "--digest", s(&v, "digest_b64")]);
        assert_eq!(
            out,
            format!("{}\n", s(&v, "code")),
            "{}",
            s(&v, "description")
        );
    }
}

#[test]
fn vc_rp_challenge_matches_every_rp_challenge_codes_vector() {
    for v in section("rp_challenge_codes") {
        let out = ok(&["rp", "vc", "--rp-challenge", s(&v, "rp_challenge_b64")]);
        assert_eq!(
            out,
            format!("{}\n", s(&v, "code")),
            "{}",
            s(&v, "description")
        );
    }
}

#[test]
fn device_link_matches_every_auth_codes_vector() {
    for v in section("auth_codes") {
        let out = ok(&strs(&device_link_args(&v)));
        assert_eq!(
            out,
            format!("{}\n", s(&v, "device_link")),
            "{}",
            s(&v, "description")
        );
    }
}

#[test]
fn acsp_v2_prints_the_message_then_the_digest() {
    for v in section("acsp_v2") {
        let out = ok(&strs(&acsp_args(&v)));
        assert_eq!(
            out,
            format!("{}\n{}\n", s(&v, "message"), s(&v, "digest_b64")),
            "{}",
            s(&v, "description")
        );
    }
}

#[test]
fn bad_base64_is_a_one_line_usage_error() {
    let err = usage_error(&["rp", "vc", "--digest", "not base64!"], "--digest");
    assert_eq!(err, "error: --digest: not valid Base64\n");
    let v = &section("auth_codes")[0];
    let mut args = device_link_args(v);
    let i = args.iter().position(|a| a == "--session-secret").unwrap() + 1;
    args[i] = "B98ODiVCebRedSwdTk51zFSaGYyHtY1H2A0ocAi3_Ps=".into();
    usage_error(&strs(&args), "--session-secret");
}

#[test]
fn unknown_link_type_is_a_one_line_usage_error() {
    let v = &section("auth_codes")[0];
    let mut args = device_link_args(v);
    let i = args.iter().position(|a| a == "--link-type").unwrap() + 1;
    args[i] = "Bluetooth".into();
    let err = usage_error(&strs(&args), "--link-type");
    assert!(err.contains("Bluetooth"), "{err}");
}

#[test]
fn unknown_hash_is_a_one_line_usage_error() {
    let v = &section("acsp_v2")[0];
    let mut args = acsp_args(v);
    let i = args.iter().position(|a| a == "--hash").unwrap() + 1;
    args[i] = "MD5".into();
    usage_error(&strs(&args), "--hash");
}

#[test]
fn missing_required_flag_is_a_one_line_usage_error() {
    let v = &section("auth_codes")[0];
    let mut args = device_link_args(v);
    let i = args.iter().position(|a| a == "--session-token").unwrap();
    args.drain(i..i + 2);
    let err = usage_error(&strs(&args), "--session-token");
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn vc_needs_exactly_one_input() {
    usage_error(&["rp", "vc"], "--digest|--rp-challenge");
    usage_error(
        &["rp", "vc", "--digest", "G7s=", "--rp-challenge", "G7s="],
        "--",
    );
}

#[test]
fn rule_broken_in_the_core_names_the_flag() {
    // A QR link without --elapsed: the core's elapsedSeconds rule.
    let v = section("auth_codes")
        .into_iter()
        .find(|v| v["elapsed_seconds"].is_u64())
        .unwrap();
    let mut args = device_link_args(&v);
    let i = args.iter().position(|a| a == "--elapsed").unwrap();
    args.drain(i..i + 2);
    usage_error(&strs(&args), "--elapsed");
}

#[test]
fn interaction_text_error_names_the_flag_and_the_json_field() {
    // [{"type":"displayTextAndPIN","displayText60":""}]
    let empty_text = "W3sidHlwZSI6ImRpc3BsYXlUZXh0QW5kUElOIiwiZGlzcGxheVRleHQ2MCI6IiJ9XQ==";
    let v = &section("acsp_v2")[0];
    let mut args = acsp_args(v);
    let i = args.iter().position(|a| a == "--interactions").unwrap() + 1;
    args[i] = empty_text.into();
    let err = usage_error(&strs(&args), "--interactions");
    assert!(err.contains("displayText60"), "{err}");
}

#[test]
fn unknown_subcommand_and_flag_are_one_line_usage_errors() {
    usage_error(&["rp", "frobnicate"], "frobnicate");
    usage_error(&["rp", "vc", "--bogus", "1"], "--bogus");
    usage_error(&["rp"], "kaksik rp");
}

#[test]
fn help_and_version_print_normally_and_exit_zero() {
    assert!(ok(&["rp", "device-link", "--help"]).contains("--session-secret"));
    assert!(ok(&["--version"]).starts_with("kaksik "));
}
