//! "Sign a document": the person uploads a file and names themselves; the
//! demo hashes the file (SHA-256, streamed, at most
//! [`super::MAX_UPLOAD_BYTES`]; the file itself is not kept), starts a
//! notification signature of the digest, shows the verification code, and
//! a task verifies the result as an RP must (the signature over the
//! digest, the chain, and that the signer is the person asked for). The
//! result page offers the DER signature, the signer's certificate and the
//! CA chain for download, with the `openssl` commands that check them.

use std::sync::Arc;

use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest as _, Sha256};

use crate::rp_client::{self, RpClientError, Target};

use super::certificate::{self, CertificateSummary};
use super::login::{self, semantics_id};
use super::pages::{self, StartForms, escape};
use super::sessions::{Entry, Failure, Full};
use super::{DemoRp, MAX_UPLOAD_BYTES};

/// Longest file name kept for display.
const MAX_NAME_CHARS: usize = 100;

/// The uploaded file, as far as the demo keeps it.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file's name as uploaded, cleaned for display.
    pub name: String,
    /// SHA-256 of its contents: what is signed.
    pub sha256: [u8; 32],
    /// Its size in bytes.
    pub size: usize,
}

/// A signature, verified.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The ECDSA signature, DER.
    pub signature_der: Vec<u8>,
    /// The signing certificate, for display.
    pub certificate: CertificateSummary,
    /// The CA chain the certificate was verified against, PEM.
    pub chain_pem: String,
    /// `result.documentNumber`.
    pub document_number: String,
}

/// One signing flow.
#[derive(Debug)]
pub struct SignSession {
    /// The verification code the server returned.
    pub vc: String,
    /// Whom the RP asked to sign, `PNOEE-…`.
    pub semantics_id: String,
    /// What is signed.
    pub document: Document,
    /// Set once the RP session is over.
    pub result: Option<Result<Signed, Failure>>,
}

/// The form as uploaded.
#[derive(Debug, Default)]
struct Upload {
    country: String,
    personal_code: String,
    document: Option<Document>,
}

/// The file name for display: the last path component (old browsers send
/// whole paths), without control characters, at most 100 characters.
fn display_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    match clean.trim() {
        "" => "document".into(),
        name => name.to_owned(),
    }
}

/// The file name for downloads and headers: ASCII letters, digits, `.`,
/// `-` and `_` only, never starting with a dot.
fn download_name(display: &str) -> String {
    let ascii: String = display
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match ascii.trim_start_matches('.') {
        "" => "document".into(),
        name => name.to_owned(),
    }
}

/// `value` as one POSIX shell word.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn upload_error(error: &MultipartError) -> String {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        "The file is larger than 10 MB.".into()
    } else {
        format!("The upload could not be read: {}", error.body_text())
    }
}

/// Reads the form, hashing the file as it streams in.
async fn read_upload(mut multipart: Multipart) -> Result<Upload, (Upload, String)> {
    let mut upload = Upload::default();
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(upload),
            Err(error) => return Err((upload, upload_error(&error))),
        };
        match field.name().map(str::to_owned).as_deref() {
            Some(name @ ("country" | "personal_code")) => {
                let value = match field.text().await {
                    Ok(value) => value.chars().take(MAX_NAME_CHARS).collect(),
                    Err(error) => return Err((upload, upload_error(&error))),
                };
                if name == "country" {
                    upload.country = value;
                } else {
                    upload.personal_code = value;
                }
            }
            Some("file") => {
                let name = display_name(field.file_name().unwrap_or_default());
                let mut hasher = Sha256::new();
                let mut size = 0usize;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            size += chunk.len();
                            if size > MAX_UPLOAD_BYTES {
                                return Err((upload, "The file is larger than 10 MB.".into()));
                            }
                            hasher.update(&chunk);
                        }
                        Ok(None) => break,
                        Err(error) => return Err((upload, upload_error(&error))),
                    }
                }
                let chosen = field.file_name().is_some_and(|n| !n.is_empty());
                if chosen || size > 0 {
                    upload.document = Some(Document {
                        name,
                        sha256: hasher.finalize().into(),
                        size,
                    });
                }
            }
            // Fields the form does not have are skipped.
            _ => {}
        }
    }
}

fn refuse(status: StatusCode, upload: &Upload, reason: String) -> Response {
    let forms = StartForms {
        login_country: "EE".into(),
        sign_country: upload.country.clone(),
        sign_code: upload.personal_code.clone(),
        sign_error: Some(reason),
        ..StartForms::default()
    };
    pages::start_page(status, &forms)
}

/// `POST /demo/sign`: starts signing the uploaded file.
pub async fn start(
    State(demo): State<Arc<DemoRp>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let Ok(multipart) = multipart else {
        return refuse(
            StatusCode::BAD_REQUEST,
            &Upload::default(),
            "Send the form as multipart/form-data.".into(),
        );
    };
    let upload = match read_upload(multipart).await {
        Ok(upload) => upload,
        Err((upload, reason)) => {
            return refuse(StatusCode::BAD_REQUEST, &upload, reason);
        }
    };
    let semantics_id = match semantics_id(&upload.country, &upload.personal_code) {
        Ok(id) => id,
        Err(reason) => return refuse(StatusCode::BAD_REQUEST, &upload, reason),
    };
    let Some(document) = upload.document.clone() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            &upload,
            "Choose a file to sign.".into(),
        );
    };
    if !demo.sessions().has_room() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, &upload, Full.to_string());
    }
    let started = match demo
        .rp()
        .sign(
            &Target::Person(semantics_id.clone()),
            &document.sha256,
            &format!("Sign {}", document.name),
        )
        .await
    {
        Ok(started) => started,
        Err(error) => {
            tracing::info!(%error, "demo signature not started");
            let failure = Failure::client(&error);
            return refuse(
                login::start_status(&error),
                &upload,
                format!("{}: {}", failure.title, failure.detail),
            );
        }
    };
    let session = SignSession {
        vc: started.vc.clone(),
        semantics_id: semantics_id.clone(),
        document: document.clone(),
        result: None,
    };
    let id = match demo.sessions().insert(Entry::Sign(session)) {
        Ok(id) => id,
        Err(full) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &upload, full.to_string()),
    };
    tracing::info!(demo_session = %id, rp_session = %started.session_id, "demo signature started");
    let task_id = id.clone();
    tokio::spawn(async move {
        let result = verify(&demo, &started.session_id, &document, &semantics_id).await;
        match &result {
            Ok(_) => tracing::info!(demo_session = %task_id, "demo signature verified"),
            Err(failure) => {
                tracing::info!(demo_session = %task_id, title = %failure.title, "demo signature failed");
            }
        }
        demo.sessions().with(&task_id, |entry| {
            if let Entry::Sign(sign) = entry {
                sign.result = Some(result);
            }
        });
    });
    Redirect::to(&format!("/demo/sign/{id}")).into_response()
}

/// Waits for the RP session and runs the RP's checks on its result.
async fn verify(
    demo: &DemoRp,
    session_id: &str,
    document: &Document,
    semantics_id: &str,
) -> Result<Signed, Failure> {
    let fail = |e: RpClientError| Failure::client(&e);
    let completed = demo
        .rp()
        .wait(session_id, demo.wait_time())
        .await
        .map_err(fail)?;
    if completed.end_result != "OK" {
        return Err(Failure::end_result(&completed.end_result));
    }
    let chain_pem = demo.rp().ca_chain().await.map_err(fail)?;
    let (signature_der, signer) =
        rp_client::verify_signature(&document.sha256, &completed, &chain_pem, demo.now())
            .map_err(fail)?;
    // verify_signature checks the signature and the chain; whose it is
    // matters too: the person this page asked, not whoever answered.
    if signer.semantics_id != semantics_id {
        return Err(fail(RpClientError::Verification(format!(
            "signed by {}, not {semantics_id}",
            signer.semantics_id
        ))));
    }
    let certificate = certificate::summarize(&signer.certificate_der).map_err(fail)?;
    Ok(Signed {
        signature_der,
        certificate,
        chain_pem,
        document_number: completed.document_number,
    })
}

/// The state of a signing flow as the handlers need it, copied out of
/// the map so no lock is held while rendering.
enum View {
    Unknown,
    Waiting {
        vc: String,
        semantics_id: String,
        document: Document,
    },
    Done(Document, Result<Box<Signed>, Failure>),
}

fn view(demo: &DemoRp, id: &str) -> View {
    demo.sessions()
        .with(id, |entry| match entry {
            Entry::Sign(sign) => match &sign.result {
                Some(result) => View::Done(sign.document.clone(), result.clone().map(Box::new)),
                None => View::Waiting {
                    vc: sign.vc.clone(),
                    semantics_id: sign.semantics_id.clone(),
                    document: sign.document.clone(),
                },
            },
            Entry::Login(_) => View::Unknown,
        })
        .unwrap_or(View::Unknown)
}

/// `GET /demo/sign/{id}`: the verification code, until the flow is done.
pub async fn waiting(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    let (vc, semantics_id, document) = match view(&demo, &id) {
        View::Waiting {
            vc,
            semantics_id,
            document,
        } => (vc, semantics_id, document),
        View::Done(..) => return Redirect::to(&format!("/demo/sign/{id}/result")).into_response(),
        View::Unknown => return pages::not_found(),
    };
    let body = format!(
        r#"<h1>Check your phone</h1>
<p>The Kaksik app of <strong>{who}</strong> now asks to sign
<strong id="document-name">{name}</strong> ({size} bytes, SHA-256
<code>{sha256}</code>).</p>
{code}
<p class="muted">This page moves on by itself when you have answered on the phone.</p>
<a href="/demo/">Start over</a>"#,
        who = escape(&semantics_id),
        name = escape(&document.name),
        size = document.size,
        sha256 = hex::encode(document.sha256),
        code = pages::code_block(&vc, "PIN2"),
    );
    pages::waiting_page("Sign a document", &body, &format!("/demo/sign/{id}/status"))
}

/// `GET /demo/sign/{id}/status`: whether the result page is ready.
pub async fn status(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    let done = !matches!(view(&demo, &id), View::Waiting { .. });
    pages::status_json(done, &format!("/demo/sign/{id}/result"))
}

/// `GET /demo/sign/{id}/result`: the signature and how to check it, or
/// why there is none.
pub async fn result(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    let (document, signed) = match view(&demo, &id) {
        View::Done(document, Ok(signed)) => (document, signed),
        View::Done(_, Err(failure)) => return pages::failure(&failure),
        View::Waiting { .. } => return Redirect::to(&format!("/demo/sign/{id}")).into_response(),
        View::Unknown => return pages::not_found(),
    };
    let cert = &signed.certificate;
    let file = download_name(&document.name);
    let signature_file = format!("{file}.sig");
    let cert_file = format!("{file}.sig.cert.pem");
    let commands = format!(
        "openssl x509 -pubkey -noout -in {cert} > signer.pub.pem\n\
         openssl dgst -sha256 -verify signer.pub.pem -signature {signature} {document}\n\
         openssl verify -CAfile kaksik-ca-chain.pem {cert}",
        cert = shell_quote(&cert_file),
        signature = shell_quote(&signature_file),
        document = shell_quote(&document.name),
    );
    let body = format!(
        r#"<h1>Document signed</h1>
<p class="ok"><span id="signer-name">{given} {surname}</span> signed
<strong id="document-name">{name}</strong>. This page verified the signature over
the file's SHA-256 digest, the certificate chain up to the Kaksik CA, and that
the signer is the person it asked.</p>
<dl>
<dt>Document</dt><dd>{name} ({size} bytes)</dd>
<dt>SHA-256</dt><dd><code id="document-sha256">{sha256}</code></dd>
<dt>Signer</dt><dd>{given} {surname}, {code}</dd>
<dt>Document number</dt><dd>{document_number}</dd>
<dt>Signature</dt><dd>ECDSA P-256 with SHA-256, DER</dd>
</dl>
<h2>Downloads</h2>
<ul>
<li><a id="download-signature" href="/demo/sign/{id}/signature" download="{signature_file}">{signature_file}</a>: the signature</li>
<li><a id="download-certificate" href="/demo/sign/{id}/cert.pem" download="{cert_file}">{cert_file}</a>: the signer's certificate</li>
<li><a id="download-chain" href="/demo/sign/{id}/chain.pem" download="kaksik-ca-chain.pem">kaksik-ca-chain.pem</a>: the CA chain (issuing CA, root)</li>
</ul>
<h2>Check it yourself</h2>
<p>With the file and the three downloads in one folder:</p>
<pre id="openssl-commands">{commands}</pre>
{certificate}
<a class="button" href="/demo/">Sign another document</a>"#,
        given = escape(&cert.given_name),
        surname = escape(&cert.surname),
        code = escape(&cert.semantics_id),
        name = escape(&document.name),
        size = document.size,
        sha256 = hex::encode(document.sha256),
        document_number = escape(&signed.document_number),
        signature_file = escape(&signature_file),
        cert_file = escape(&cert_file),
        commands = escape(&commands),
        certificate = pages::certificate_section("Signing certificate", cert),
    );
    pages::page(StatusCode::OK, "Document signed", &body)
}

/// A download of a finished, verified signature's part.
fn download(
    demo: &DemoRp,
    id: &str,
    part: impl FnOnce(&Document, &Signed) -> (String, &'static str, Vec<u8>),
) -> Response {
    let View::Done(document, Ok(signed)) = view(demo, id) else {
        return pages::not_found();
    };
    let (file, content_type, bytes) = part(&document, &signed);
    let disposition = format!("attachment; filename=\"{}\"", download_name(&file));
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response();
    pages::private_headers(&mut response);
    response
}

/// `GET /demo/sign/{id}/signature`: the DER signature, `<file>.sig`.
pub async fn signature(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    download(&demo, &id, |document, signed| {
        (
            format!("{}.sig", download_name(&document.name)),
            "application/octet-stream",
            signed.signature_der.clone(),
        )
    })
}

/// `GET /demo/sign/{id}/cert.pem`: the signer's certificate.
pub async fn certificate(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    download(&demo, &id, |document, signed| {
        (
            format!("{}.sig.cert.pem", download_name(&document.name)),
            "application/x-pem-file",
            signed.certificate.pem.clone().into_bytes(),
        )
    })
}

/// `GET /demo/sign/{id}/chain.pem`: the CA chain it was verified against.
pub async fn chain(State(demo): State<Arc<DemoRp>>, Path(id): Path<String>) -> Response {
    download(&demo, &id, |_, signed| {
        (
            "kaksik-ca-chain.pem".to_owned(),
            "application/x-pem-file",
            signed.chain_pem.clone().into_bytes(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_is_cut_to_its_last_component_without_control_characters() {
        assert_eq!(display_name(r"C:\Users\mari\contract.txt"), "contract.txt");
        assert_eq!(display_name("../../etc/pass\u{7}wd"), "passwd");
        assert_eq!(display_name(""), "document");
        assert_eq!(display_name(&"a".repeat(500)).chars().count(), 100);
    }

    #[test]
    fn a_download_name_is_plain_ascii_and_never_hidden() {
        assert_eq!(download_name("leping nr 42.pdf"), "leping_nr_42.pdf");
        assert_eq!(download_name("lõuna\"; x=.txt"), "l_una___x_.txt");
        assert_eq!(download_name(".."), "document");
        assert_eq!(download_name(".bashrc"), "bashrc");
    }

    #[test]
    fn a_shell_word_survives_quotes() {
        assert_eq!(shell_quote("it's.txt"), r"'it'\''s.txt'");
    }
}
