//! The demo's HTML: one layout with inline CSS, the start page with its
//! three forms, the waiting pages with their polling script, the result
//! and failure pages. Every value that comes from a form, an upload or the
//! RP API goes through [`escape`]; everything else here is constant or an
//! id the demo made itself.
//!
//! Each page carries a strict Content-Security-Policy: nothing loads from
//! anywhere but this origin, and the one inline style and script run only
//! with the page's fresh nonce, so an injected tag would not run even if
//! escaping were missed somewhere.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::certificate::CertificateSummary;
use super::sessions::Failure;

/// `value` safe inside HTML text and double- or single-quoted attributes.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
:root { --ink: #1d2430; --muted: #5b6472; --line: #d9dee6; --brand: #0b5cad;
  --ok: #17643a; --bad: #a12a1b; --paper: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
  color: var(--ink); background: var(--paper); }
header { background: var(--brand); color: #fff; padding: .8rem 1.5rem; display: flex;
  gap: 1rem; align-items: baseline; }
header a { color: #fff; font-weight: 700; font-size: 1.2rem; text-decoration: none; }
header span { opacity: .85; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
footer { max-width: 60rem; margin: 0 auto; padding: 0 1.5rem 2rem; color: var(--muted);
  font-size: .85rem; }
h1 { margin: .2rem 0 1rem; font-size: 1.7rem; }
h2 { margin: 1.5rem 0 .6rem; font-size: 1.2rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1.2rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: .6rem; padding: 1.2rem; }
.card h2 { margin-top: 0; }
label { display: block; margin: .7rem 0 .2rem; font-weight: 600; }
input, select { width: 100%; padding: .5rem; border: 1px solid var(--line); border-radius: .3rem;
  font: inherit; background: #fff; }
button, .button { display: inline-block; margin-top: 1rem; padding: .55rem 1.1rem; border: 0;
  border-radius: .3rem; background: var(--brand); color: #fff; font: inherit; font-weight: 600;
  cursor: pointer; text-decoration: none; }
button.secondary { background: #fff; color: var(--brand); border: 1px solid var(--brand); }
hr { border: 0; border-top: 1px solid var(--line); margin: 1.2rem 0; }
.error { color: var(--bad); background: #fbeceb; border-radius: .3rem; padding: .5rem .7rem; }
.ok { color: var(--ok); background: #e9f6ee; border-radius: .3rem; padding: .5rem .7rem; }
.muted { color: var(--muted); font-size: .9rem; }
.vc { font-size: 3.5rem; font-weight: 700; letter-spacing: .4rem; margin: .2rem 0;
  font-variant-numeric: tabular-nums; }
.qr { background: #fff; padding: .5rem; border: 1px solid var(--line); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
pre { background: #fff; border: 1px solid var(--line); padding: .7rem; overflow-x: auto;
  font-size: .85rem; }
code { overflow-wrap: anywhere; }
";

/// Polls the status URL in `main[data-status]` every second and goes to
/// the URL it names once the flow is done; redraws `#qr` every second from
/// its `data-src` (SK requires a QR code to change every second).
const POLL_SCRIPT: &str = r#"
(function () {
  var main = document.querySelector("main");
  var status = main.getAttribute("data-status");
  function poll() {
    fetch(status, { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.done) { window.location.replace(s.next); } else { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 1000); });
  }
  setTimeout(poll, 1000);
  var qr = document.getElementById("qr");
  if (qr) {
    var src = qr.getAttribute("data-src");
    setInterval(function () {
      var next = new Image();
      next.onload = function () { qr.src = next.src; };
      next.src = src + "?t=" + Date.now();
    }, 1000);
  }
})();
"#;

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    STANDARD.encode(bytes)
}

/// Headers every demo response carries: no caching (results are personal
/// data), no sniffing, no referrer, no framing.
pub fn private_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// A whole page: `body` inside the layout. `status_url` makes it a waiting
/// page that polls it.
fn render(status: StatusCode, title: &str, body: &str, status_url: Option<&str>) -> Response {
    let nonce = nonce();
    let (main_attributes, script, refresh) = match status_url {
        Some(url) => (
            format!(r#" data-status="{}""#, escape(url)),
            format!(r#"<script nonce="{nonce}">{POLL_SCRIPT}</script>"#),
            // Without scripts the waiting page reloads itself; it sends
            // the browser on to the result once there is one.
            r#"<noscript><meta http-equiv="refresh" content="2"></noscript>"#,
        ),
        None => (String::new(), String::new(), ""),
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · DEMO bank</title>
<link rel="icon" href="/demo/favicon.svg">
<style nonce="{nonce}">{CSS}</style>
{refresh}
</head>
<body>
<header><a href="/demo/">DEMO bank</a><span>a relying party of Kaksik</span></header>
<main{main_attributes}>
{body}
</main>
<footer>This page is a relying party like any other: it calls the Kaksik RP API v3
over HTTPS and verifies every answer (signature, certificate chain, identity)
before it shows it.</footer>
{script}
</body>
</html>
"#,
        title = escape(title),
    );
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
         img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    );
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    private_headers(&mut response);
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// A page without polling.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    render(status, title, body, None)
}

/// A page that polls `status_url` and moves on when the flow is done.
pub fn waiting_page(title: &str, body: &str, status_url: &str) -> Response {
    render(StatusCode::OK, title, body, Some(status_url))
}

/// The answer of a status poll: whether the flow is done, and where the
/// browser goes then.
pub fn status_json(done: bool, next: &str) -> Response {
    let mut response = axum::Json(json!({ "done": done, "next": next })).into_response();
    private_headers(&mut response);
    response
}

/// The page of an id that is unknown or expired.
pub fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Session not found",
        r#"<h1 id="failure">This demo session does not exist any more</h1>
<p>Sessions are kept for fifteen minutes, and only until the server restarts.</p>
<a class="button" href="/demo/">Start again</a>"#,
    )
}

/// The page of a flow that ended without a verified result.
pub fn failure(failure: &Failure) -> Response {
    let body = format!(
        r#"<h1 id="failure">{}</h1>
<p class="error" role="alert">{}</p>
<a class="button" href="/demo/">Try again</a>"#,
        escape(&failure.title),
        escape(&failure.detail),
    );
    page(StatusCode::OK, &failure.title, &body)
}

/// The countries the demo offers (Smart-ID's three).
pub const COUNTRIES: [(&str, &str); 3] = [("EE", "Estonia"), ("LV", "Latvia"), ("LT", "Lithuania")];

/// What the start page's forms show: the values typed before, and the
/// error of the form that failed.
#[derive(Debug, Clone, Default)]
pub struct StartForms {
    /// Country of the personal-code login.
    pub login_country: String,
    /// Personal code of the login, as typed.
    pub login_code: String,
    /// Why the login did not start.
    pub login_error: Option<String>,
    /// Why the QR login did not start.
    pub qr_error: Option<String>,
    /// Country of the signer.
    pub sign_country: String,
    /// Personal code of the signer, as typed.
    pub sign_code: String,
    /// Why the signature did not start.
    pub sign_error: Option<String>,
}

fn country_options(selected: &str) -> String {
    COUNTRIES
        .iter()
        .map(|(code, name)| {
            let mark = if *code == selected { " selected" } else { "" };
            format!(r#"<option value="{code}"{mark}>{name}</option>"#)
        })
        .collect()
}

fn error_line(id: &str, error: Option<&String>) -> String {
    error
        .map(|e| {
            format!(
                r#"<p class="error" role="alert" id="{id}">{}</p>"#,
                escape(e)
            )
        })
        .unwrap_or_default()
}

/// The tab icon: two overlapping rings, "a pair".
const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="12" cy="16" r="8" fill="none" stroke="#0b5cad" stroke-width="3"/><circle cx="20" cy="16" r="8" fill="none" stroke="#0b5cad" stroke-width="3"/></svg>"##;

/// `GET /demo/favicon.svg`: served here so the browser asks nothing of
/// any other path (the rest of the server answers problem+json).
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

/// `GET /demo/`: the start page.
pub async fn index() -> Response {
    let forms = StartForms {
        login_country: "EE".into(),
        sign_country: "EE".into(),
        ..StartForms::default()
    };
    start_page(StatusCode::OK, &forms)
}

/// The start page.
pub fn start_page(status: StatusCode, forms: &StartForms) -> Response {
    let body = format!(
        r#"<h1>Welcome to the DEMO bank</h1>
<p>Log in or sign a document with Kaksik. Register a phone for a person first
(<code>kaksik admin enrol</code>, then <code>kaksik device register</code>);
the phone shows each request and you approve it with PIN1 or PIN2.</p>
<div class="cards">
<section class="card" id="login">
<h2>Log in with Kaksik</h2>
<form method="post" action="/demo/login" id="login-form">
{login_error}
<label for="login-country">Country</label>
<select id="login-country" name="country">{login_countries}</select>
<label for="login-personal-code">Personal code</label>
<input id="login-personal-code" name="personal_code" value="{login_code}"
 inputmode="numeric" autocomplete="off" placeholder="38001085718">
<button id="login-submit" type="submit">Log in</button>
</form>
<hr>
<form method="post" action="/demo/login/qr" id="qr-form">
{qr_error}
<p class="muted">No personal code needed: scan a QR code with the Kaksik app.</p>
<button id="qr-submit" type="submit" class="secondary">Log in with a QR code</button>
</form>
</section>
<section class="card" id="sign">
<h2>Sign a document</h2>
<form method="post" action="/demo/sign" enctype="multipart/form-data" id="sign-form">
{sign_error}
<label for="sign-country">Country</label>
<select id="sign-country" name="country">{sign_countries}</select>
<label for="sign-personal-code">Personal code</label>
<input id="sign-personal-code" name="personal_code" value="{sign_code}"
 inputmode="numeric" autocomplete="off" placeholder="38001085718">
<label for="sign-file">Document (at most 10 MB)</label>
<input id="sign-file" name="file" type="file">
<button id="sign-submit" type="submit">Sign</button>
</form>
</section>
</div>"#,
        login_error = error_line("login-error", forms.login_error.as_ref()),
        login_countries = country_options(&forms.login_country),
        login_code = escape(&forms.login_code),
        qr_error = error_line("qr-error", forms.qr_error.as_ref()),
        sign_error = error_line("sign-error", forms.sign_error.as_ref()),
        sign_countries = country_options(&forms.sign_country),
        sign_code = escape(&forms.sign_code),
    );
    page(status, "Log in or sign with Kaksik", &body)
}

/// The verification code, large, and what to do with it.
pub fn code_block(vc: &str, pin: &str) -> String {
    format!(
        r#"<p class="muted">Verification code</p>
<p class="vc" id="verification-code">{}</p>
<p>Enter {pin} only if the Kaksik app shows the same code.</p>"#,
        escape(vc)
    )
}

/// The part of a result page about a certificate.
pub fn certificate_section(heading: &str, cert: &CertificateSummary) -> String {
    format!(
        r#"<h2>{heading}</h2>
<dl>
<dt>Subject</dt><dd>{subject}</dd>
<dt>Issuer</dt><dd>{issuer}</dd>
<dt>Valid from</dt><dd>{not_before}</dd>
<dt>Valid until</dt><dd>{not_after}</dd>
<dt>Serial number</dt><dd><code>{serial}</code></dd>
</dl>
<details><summary>Certificate (PEM)</summary><pre id="certificate-pem">{pem}</pre></details>"#,
        heading = escape(heading),
        subject = escape(&cert.subject),
        issuer = escape(&cert.issuer),
        not_before = escape(&cert.not_before),
        not_after = escape(&cert.not_after),
        serial = escape(&cert.serial),
        pem = escape(&cert.pem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("MARI MAASIKAS"), "MARI MAASIKAS");
    }

    #[test]
    fn a_failure_page_escapes_what_the_server_said() {
        let response = failure(&Failure {
            title: "<b>x</b>".into(),
            detail: "<img src=x onerror=alert(1)>".into(),
        });
        assert_eq!(response.status(), StatusCode::OK);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'none'"));
    }
}
