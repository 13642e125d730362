//! "Log in with Kaksik": by personal code (a notification authentication
//! whose verification code the page shows) or by QR code (an anonymous
//! device-link authentication, drawn by [`super::qr`]). Either way a task
//! waits on the RP API for the end result, verifies it as an RP must
//! (ACSP_V2 signature, chain, and for the personal code the identity), and
//! leaves the person or the failure in the session for the result page.
//! Also owns reading a personal code from a form, which signing shares.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::DEMO_RP_NAME;
use crate::rp_client::{self, RpClientError, Started, Target};

use super::DemoRp;
use super::certificate::{self, CertificateSummary};
use super::pages::{self, COUNTRIES, StartForms, escape};
use super::qr::{self, QrSession};
use super::sessions::{Entry, Failure, Full};

/// What the phone shows as the request's text.
const LOGIN_TEXT: &str = "Log in to the Kaksik demo";

/// How the person logs in.
#[derive(Debug, Clone)]
pub enum LoginMethod {
    /// By personal code: the page shows the verification code.
    PersonalCode {
        /// The verification code the server returned.
        vc: String,
        /// Whom the RP asked for, `PNOEE-…`.
        semantics_id: String,
    },
    /// By QR code: the page shows the code, redrawn every second.
    Qr(Arc<QrSession>),
}

/// A logged-in person, verified.
#[derive(Debug, Clone)]
pub struct Person {
    /// `result.documentNumber`.
    pub document_number: String,
    /// The authentication certificate, for display.
    pub certificate: CertificateSummary,
}

/// One login flow.
#[derive(Debug)]
pub struct LoginSession {
    /// Personal code or QR.
    pub method: LoginMethod,
    /// Set once the RP session is over.
    pub result: Option<Result<Person, Failure>>,
}

/// The personal-code form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PersonalCodeForm {
    /// EE, LV or LT.
    pub country: String,
    /// The national identity code.
    pub personal_code: String,
}

/// Reads a country and personal code as typed into the semantics
/// identifier the RP API addresses (`PNOEE-38001085718`), or says what is
/// wrong with them. All three countries' codes are 11 digits; Latvian
/// codes are written here without their hyphen, as Kaksik enrols them.
pub fn semantics_id(country: &str, personal_code: &str) -> Result<String, String> {
    let country = country.trim();
    if !COUNTRIES.iter().any(|(code, _)| *code == country) {
        return Err("Choose Estonia, Latvia or Lithuania.".into());
    }
    let code = personal_code.trim();
    if code.is_empty() {
        return Err("Enter a personal code.".into());
    }
    if code.len() != 11 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("A personal code is 11 digits (Latvian ones without the hyphen).".into());
    }
    Ok(format!("PNO{country}-{code}"))
}

fn busy(forms: StartForms) -> Response {
    pages::start_page(StatusCode::SERVICE_UNAVAILABLE, &forms)
}

/// `POST /demo/login`: starts a login by personal code.
pub async fn start_by_personal_code(
    State(demo): State<Arc<DemoRp>>,
    Form(form): Form<PersonalCodeForm>,
) -> Response {
    let mut forms = StartForms {
        login_country: form.country.clone(),
        login_code: form.personal_code.clone(),
        sign_country: form.country.clone(),
        ..StartForms::default()
    };
    let semantics_id = match semantics_id(&form.country, &form.personal_code) {
        Ok(id) => id,
        Err(reason) => {
            forms.login_error = Some(reason);
            return pages::start_page(StatusCode::BAD_REQUEST, &forms);
        }
    };
    if !demo.sessions().has_room() {
        forms.login_error = Some(Full.to_string());
        return busy(forms);
    }
    let started = match demo
        .rp()
        .authenticate(&Target::Person(semantics_id.clone()), LOGIN_TEXT)
        .await
    {
        Ok(started) => started,
        Err(error) => {
            tracing::info!(%error, "demo login not started");
            let failure = Failure::client(&error);
            forms.login_error = Some(format!("{}: {}", failure.title, failure.detail));
            return pages::start_page(start_status(&error), &forms);
        }
    };
    let session = LoginSession {
        method: LoginMethod::PersonalCode {
            vc: started.vc.clone(),
            semantics_id: semantics_id.clone(),
        },
        result: None,
    };
    begin(demo, session, started, Some(semantics_id))
}

/// `POST /demo/login/qr`: starts a login by QR code.
pub async fn start_by_qr(State(demo): State<Arc<DemoRp>>) -> Response {
    let mut forms = StartForms {
        login_country: "EE".into(),
        sign_country: "EE".into(),
        ..StartForms::default()
    };
    if !demo.sessions().has_room() {
        forms.qr_error = Some(Full.to_string());
        return busy(forms);
    }
    let qr = match qr::start_anonymous(demo.rp(), LOGIN_TEXT).await {
        Ok(qr) => qr,
        Err(error) => {
            tracing::info!(%error, "demo QR login not started");
            forms.qr_error = Some(format!(
                "The Kaksik server did not start a QR login: {error}"
            ));
            return pages::start_page(StatusCode::BAD_GATEWAY, &forms);
        }
    };
    let started = qr.started.clone();
    let session = LoginSession {
        method: LoginMethod::Qr(Arc::new(qr)),
        result: None,
    };
    begin(demo, session, started, None)
}

/// The start page's status for an RP API refusal: the person is unknown
/// (404), or the server failed (502).
pub fn start_status(error: &RpClientError) -> StatusCode {
    match error {
        RpClientError::Problem { status: 404, .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Keeps the flow, starts the task that waits for its end, and sends the
/// browser to the waiting page.
fn begin(
    demo: Arc<DemoRp>,
    session: LoginSession,
    started: Started,
    expected: Option<String>,
) -> Response {
    let id = match demo.sessions().insert(Entry::Login(session)) {
        Ok(id) => id,
        Err(full) => {
            let forms = StartForms {
                login_error: Some(full.to_string()),
                ..StartForms::default()
            };
            return busy(forms);
        }
    };
    tracing::info!(demo_session = %id, rp_session = %started.session_id, "demo login started");
    let task_id = id.clone();
    tokio::spawn(async move {
        let result = verify(&demo, &started, expected.as_deref()).await;
        match &result {
            Ok(_) => tracing::info!(demo_session = %task_id, "demo login verified"),
            Err(failure) => {
                tracing::info!(demo_session = %task_id, title = %failure.title, "demo login failed");
            }
        }
        demo.sessions().with(&task_id, |entry| {
            if let Entry::Login(login) = entry {
                login.result = Some(result);
            }
        });
    });
    Redirect::to(&format!("/demo/login/{id}")).into_response()
}

/// Waits for the RP session and runs the RP's checks on its result.
async fn verify(
    demo: &DemoRp,
    started: &Started,
    expected: Option<&str>,
) -> Result<Person, Failure> {
    let fail = |e: RpClientError| Failure::client(&e);
    let completed = demo
        .rp()
        .wait(&started.session_id, demo.wait_time())
        .await
        .map_err(fail)?;
    if completed.end_result != "OK" {
        return Err(Failure::end_result(&completed.end_result));
    }
    let chain = demo.rp().ca_chain().await.map_err(fail)?;
    let signer = rp_client::verify_authentication(
        started,
        &completed,
        demo.scheme(),
        DEMO_RP_NAME,
        &chain,
        expected,
        demo.now(),
    )
    .map_err(fail)?;
    let certificate = certificate::summarize(&signer.certificate_der).map_err(fail)?;
    Ok(Person {
        document_number: completed.document_number,
        certificate,
    })
}

/// The state of a login flow as the handlers need it, copied out of the
/// map so no lock is held while rendering.
enum View {
    Unknown,
    NotLogin,
    Waiting(LoginMethod),
    Done(Result<Box<Person>, Failure>),
}

fn view(demo: &DemoRp, id: &str) -> View {
    demo.sessions()
        .with(id, |entry| match entry {
            Entry::Login(login) => match &login.result {
                Some(result) => View::Done(result.clone().map(Box::new)),
                None => View::Waiting(login.method.clone()),
            },
            Entry::Sign(_) => View::NotLogin,
        })
        .unwrap_or(View::Unknown)
}

/// `GET /demo/login/{id}`: the verification code or the QR code, until
/// the flow is done.
pub async fn waiting(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    let method = match view(&demo, &id) {
        View::Waiting(method) => method,
        View::Done(_) => return Redirect::to(&format!("/demo/login/{id}/result")).into_response(),
        View::Unknown | View::NotLogin => return pages::not_found(),
    };
    let status_url = format!("/demo/login/{id}/status");
    let body = match method {
        LoginMethod::PersonalCode { vc, semantics_id } => format!(
            r#"<h1>Check your phone</h1>
<p>The Kaksik app of <strong>{who}</strong> now asks to log in to DEMO.</p>
{code}
<p class="muted">This page moves on by itself when you have answered on the phone.</p>
<a href="/demo/">Start over</a>"#,
            who = escape(&semantics_id),
            code = pages::code_block(&vc, "PIN1"),
        ),
        LoginMethod::Qr(_) => format!(
            r#"<h1>Scan the QR code</h1>
<p>Open the Kaksik app, scan this code, and approve with PIN1.</p>
<img id="qr" class="qr" src="/demo/login/{id}/qr.svg" data-src="/demo/login/{id}/qr.svg"
 alt="QR code to scan with the Kaksik app">
<p class="muted">The code is redrawn every second, so a photo of it is of no use
to anyone else. This page moves on by itself when you have answered.</p>
<a href="/demo/">Start over</a>"#
        ),
    };
    pages::waiting_page("Log in with Kaksik", &body, &status_url)
}

/// `GET /demo/login/{id}/status`: whether the result page is ready.
pub async fn status(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    let done = !matches!(view(&demo, &id), View::Waiting(_));
    pages::status_json(done, &format!("/demo/login/{id}/result"))
}

/// `GET /demo/login/{id}/qr.svg`: the QR code as it is this second.
pub async fn qr_svg(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    let View::Waiting(LoginMethod::Qr(qr)) = view(&demo, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match qr.svg_now() {
        Ok(svg) => {
            let mut response = ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response();
            pages::private_headers(&mut response);
            response
        }
        Err(error) => {
            tracing::warn!(%error, "demo QR code not drawn");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /demo/login/{id}/qr.txt`: the QR code's content this second, as
/// text: to hand the link to a phone (or a `kaksik device open-link`)
/// without a camera.
pub async fn qr_text(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    let View::Waiting(LoginMethod::Qr(qr)) = view(&demo, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match qr.link_at(qr.elapsed_seconds()) {
        Ok(link) => {
            let mut response =
                ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], link).into_response();
            pages::private_headers(&mut response);
            response
        }
        Err(error) => {
            tracing::warn!(%error, "demo QR link not built");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /demo/login/{id}/result`: who logged in, or why not.
pub async fn result(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    let person = match view(&demo, &id) {
        View::Done(Ok(person)) => person,
        View::Done(Err(failure)) => return pages::failure(&failure),
        View::Waiting(_) => return Redirect::to(&format!("/demo/login/{id}")).into_response(),
        View::Unknown | View::NotLogin => return pages::not_found(),
    };
    let cert = &person.certificate;
    let name = format!("{} {}", cert.given_name, cert.surname);
    let body = format!(
        r#"<h1>Welcome, <span id="person-name">{name}</span></h1>
<p class="ok">You are logged in. This page verified the signature of the
authentication, the certificate chain up to the Kaksik CA, and who signed.</p>
<dl>
<dt>Given name</dt><dd id="given-name">{given}</dd>
<dt>Surname</dt><dd id="surname">{surname}</dd>
<dt>Personal code</dt><dd id="personal-code">{code}</dd>
<dt>Document number</dt><dd id="document-number">{document}</dd>
</dl>
{certificate}
<a class="button" href="/demo/">Log out</a>"#,
        name = escape(&name),
        given = escape(&cert.given_name),
        surname = escape(&cert.surname),
        code = escape(&cert.semantics_id),
        document = escape(&person.document_number),
        certificate = pages::certificate_section("Authentication certificate", cert),
    );
    pages::page(StatusCode::OK, &format!("Welcome, {name}"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_personal_code_becomes_a_semantics_identifier() {
        assert_eq!(
            semantics_id("EE", " 38001085718 ").unwrap(),
            "PNOEE-38001085718"
        );
        assert_eq!(
            semantics_id("LT", "30303039914").unwrap(),
            "PNOLT-30303039914"
        );
    }

    #[test]
    fn malformed_codes_and_unknown_countries_are_refused() {
        assert!(semantics_id("EE", "3800108571").is_err());
        assert!(semantics_id("EE", "3800108571x").is_err());
        assert!(semantics_id("EE", "").is_err());
        assert!(semantics_id("LV", "329999-99901").is_err());
        assert!(semantics_id("FI", "38001085718").is_err());
    }
}
