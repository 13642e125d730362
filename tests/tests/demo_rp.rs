//! The demo relying party at `/demo/`, over HTTPS without a browser: the
//! pages, their input checks and escaping, and the login and signing
//! flows end to end with the real phone client approving. What a browser
//! adds (the polling script, the QR redraw) is in `browser.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use kaksik_server::demo_rp::MAX_UPLOAD_BYTES;
use kaksik_tests::{Device, Harness, PIN1, PIN2, mari};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A page as the browser gets it: status, content type, final URL, body.
struct Page {
    status: u16,
    content_type: String,
    path: String,
    body: String,
}

async fn page(response: reqwest::Response) -> Page {
    Page {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        path: response.url().path().to_owned(),
        body: response.text().await.unwrap(),
    }
}

async fn get(h: &Harness, path: &str) -> Page {
    page(
        h.https()
            .get(format!("{}{path}", h.running.url))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn post_login(h: &Harness, country: &str, code: &str) -> Page {
    page(
        h.https()
            .post(format!("{}/demo/login", h.running.url))
            .form(&[("country", country), ("personal_code", code)])
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A multipart/form-data body as a browser sends it: `(name, file name,
/// contents)` per field.
fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----kaksik-demo-test-4c1d6f";
    let mut body = Vec::new();
    for (name, file_name, contents) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(contents);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_sign(h: &Harness, code: &str, file_name: &str, contents: &[u8]) -> Page {
    let (content_type, body) = multipart(&[
        ("country", None, b"EE"),
        ("personal_code", None, code.as_bytes()),
        ("file", Some(file_name), contents),
    ]);
    page(
        h.https()
            .post(format!("{}/demo/sign", h.running.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The text of the element with `id` (no nested tags).
fn element_text(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in:\n{html}"));
    let open = start + html[start..].find('>').unwrap() + 1;
    let close = open + html[open..].find('<').unwrap();
    html[open..close].to_owned()
}

/// Polls the demo's status URL as the page's script does, until the flow
/// is done, and returns the result page's path.
async fn wait_until_done(h: &Harness, waiting_path: &str) -> String {
    for _ in 0..1200 {
        let status: Value = h
            .https()
            .get(format!("{}{waiting_path}/status", h.running.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["done"] == true {
            return status["next"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{waiting_path} never finished");
}

/// The phone takes the transaction the page started, checks it shows the
/// page's code, and approves it with `pin`.
async fn approve_on_phone(device: &Device, page_code: &str, pin: &[u8]) {
    let id = device.next_transaction().await;
    let view = device.auth.transaction(&id).await.unwrap();
    assert_eq!(view.verification_code.as_deref(), Some(page_code));
    assert_eq!(view.rp_name, "DEMO");
    device.auth.approve(&id, pin).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_page_is_self_contained_html() {
    let h = Harness::start().await;
    let start = get(&h, "/demo/").await;
    assert_eq!(start.status, 200);
    assert!(start.content_type.starts_with("text/html"));
    for form in ["id=\"login-form\"", "id=\"qr-form\"", "id=\"sign-form\""] {
        assert!(start.body.contains(form), "{form} missing");
    }
    for external in ["http://", "https://", "src=\"//", "href=\"//"] {
        assert!(
            !start.body.contains(external),
            "the page refers to {external}"
        );
    }
    let redirected = get(&h, "/demo").await;
    assert_eq!(redirected.path, "/demo/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_personal_code_is_refused_with_a_clear_message() {
    let h = Harness::start().await;
    let refused = post_login(&h, "EE", "3800108571").await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.path, "/demo/login");
    assert!(
        element_text(&refused.body, "login-error").contains("11 digits"),
        "{}",
        refused.body
    );
    let unknown_country = post_login(&h, "FI", "38001085718").await;
    assert_eq!(unknown_country.status, 400);
    assert!(element_text(&unknown_country.body, "login-error").contains("Estonia"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_value_is_shown_escaped() {
    let h = Harness::start().await;
    let hostile = "\"><script>alert(1)</script>";
    let refused = post_login(&h, "EE", hostile).await;
    assert_eq!(refused.status, 400);
    assert!(!refused.body.contains("<script>alert(1)"));
    assert!(
        refused
            .body
            .contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""),
        "{}",
        refused.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_without_an_account_is_told_so() {
    let h = Harness::start().await;
    let refused = post_login(&h, "EE", "39912319997").await;
    assert_eq!(refused.status, 404);
    assert!(element_text(&refused.body, "login-error").contains("No Kaksik account"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_by_personal_code_shows_the_verified_person_and_certificate() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let waiting = post_login(&h, "EE", "38001085718").await;
    assert_eq!(waiting.status, 200);
    assert!(waiting.path.starts_with("/demo/login/"), "{}", waiting.path);
    let code = element_text(&waiting.body, "verification-code");
    approve_on_phone(&device, &code, PIN1).await;

    let result = get(&h, &wait_until_done(&h, &waiting.path).await).await;
    assert_eq!(result.status, 200);
    assert_eq!(element_text(&result.body, "person-name"), "MARI MAASIKAS");
    assert_eq!(
        element_text(&result.body, "personal-code"),
        "PNOEE-38001085718"
    );
    let account = device.auth.account().await.unwrap();
    assert_eq!(
        element_text(&result.body, "document-number"),
        account.document_number
    );
    assert!(result.body.contains("-----BEGIN CERTIFICATE-----"));
    // The waiting page now sends the browser on to the result.
    assert_eq!(get(&h, &waiting.path).await.path, result.path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_in_by_qr_code_binds_whoever_scans_and_shows_them() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let waiting = page(
        h.https()
            .post(format!("{}/demo/login/qr", h.running.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    assert!(waiting.body.contains("qr.svg"), "{}", waiting.body);
    let svg = get(&h, &format!("{}/qr.svg", waiting.path)).await;
    assert_eq!(svg.content_type, "image/svg+xml");
    // What the camera would read from the code drawn this second.
    let link = get(&h, &format!("{}/qr.txt", waiting.path)).await.body;
    assert!(link.contains("deviceLinkType=QR&elapsedSeconds="), "{link}");
    let view = device.auth.open_device_link(&link).await.unwrap();
    assert_eq!(view.rp_name, "DEMO");
    device.auth.approve(&view.id, PIN1).await.unwrap();

    let result = get(&h, &wait_until_done(&h, &waiting.path).await).await;
    assert_eq!(result.status, 200, "{}", result.body);
    assert_eq!(element_text(&result.body, "person-name"), "MARI MAASIKAS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_login_says_it_was_declined() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let waiting = post_login(&h, "EE", "38001085718").await;
    let id = device.next_transaction().await;
    device.auth.decline(&id).await.unwrap();
    let result = get(&h, &wait_until_done(&h, &waiting.path).await).await;
    assert!(element_text(&result.body, "failure").contains("USER_REFUSED"));
    assert!(result.body.contains("declined in the Kaksik app"));
    assert!(!result.body.contains("person-name"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_demo_session_is_not_found() {
    let h = Harness::start().await;
    let missing = get(&h, "/demo/login/00112233445566778899aabbccddeeff/result").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("does not exist"));
}

fn openssl(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_upload_downloads_as_a_signature_openssl_verifies() {
    let h = Harness::start().await;
    let device = h.register(mari()).await;
    let contract = b"Contract no. 42: Mari buys one (1) bicycle.\n";
    let waiting = post_sign(&h, "38001085718", "contract.txt", contract).await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    assert!(waiting.path.starts_with("/demo/sign/"), "{}", waiting.path);
    let code = element_text(&waiting.body, "verification-code");
    approve_on_phone(&device, &code, PIN2).await;

    let result = get(&h, &wait_until_done(&h, &waiting.path).await).await;
    assert_eq!(result.status, 200, "{}", result.body);
    assert_eq!(element_text(&result.body, "signer-name"), "MARI MAASIKAS");
    assert_eq!(
        element_text(&result.body, "document-sha256"),
        hex(&Sha256::digest(contract))
    );
    assert!(element_text(&result.body, "openssl-commands").contains("openssl dgst -sha256"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("contract.txt"), contract).unwrap();
    for (path, file) in [
        ("signature", "contract.txt.sig"),
        ("cert.pem", "contract.txt.sig.cert.pem"),
        ("chain.pem", "kaksik-ca-chain.pem"),
    ] {
        let response = h
            .https()
            .get(format!("{}{}/{path}", h.running.url, waiting.path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response.headers()["content-disposition"],
            format!("attachment; filename=\"{file}\"").as_str()
        );
        let bytes = response.bytes().await.unwrap();
        std::fs::write(dir.path().join(file), bytes).unwrap();
    }
    // The commands the page shows, run as shown.
    openssl(
        &[
            "x509",
            "-pubkey",
            "-noout",
            "-in",
            "contract.txt.sig.cert.pem",
            "-out",
            "signer.pub.pem",
        ],
        dir.path(),
    );
    let verified = openssl(
        &[
            "dgst",
            "-sha256",
            "-verify",
            "signer.pub.pem",
            "-signature",
            "contract.txt.sig",
            "contract.txt",
        ],
        dir.path(),
    );
    assert!(verified.contains("Verified OK"), "{verified}");
    let chain = openssl(
        &[
            "verify",
            "-CAfile",
            "kaksik-ca-chain.pem",
            "contract.txt.sig.cert.pem",
        ],
        dir.path(),
    );
    assert!(chain.contains(": OK"), "{chain}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_without_a_file_or_with_one_over_ten_megabytes_is_refused() {
    let h = Harness::start().await;
    let (content_type, body) = multipart(&[
        ("country", None, b"EE"),
        ("personal_code", None, b"38001085718"),
        ("file", Some(""), b""),
    ]);
    let no_file = page(
        h.https()
            .post(format!("{}/demo/sign", h.running.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(no_file.status, 400);
    assert!(element_text(&no_file.body, "sign-error").contains("Choose a file"));

    let too_big = post_sign(
        &h,
        "38001085718",
        "big.bin",
        &vec![0u8; MAX_UPLOAD_BYTES + 1],
    )
    .await;
    assert_eq!(too_big.status, 400);
    assert!(element_text(&too_big.body, "sign-error").contains("larger than 10 MB"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_can_be_turned_off() {
    let h = Harness::start_with(|config| config.demo_rp = false).await;
    assert_eq!(get(&h, "/demo/").await.status, 404);
}
