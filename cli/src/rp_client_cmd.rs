//! `kaksik rp --server URL --spki-pin PIN auth|sign …`: a relying party
//! over the network, with every check an RP must run on the result.
//!
//! Both commands start a notification session through
//! `kaksik_server::rp_client`, print the verification code at once (the
//! person compares it with the phone), wait for the end result, and then
//! trust nothing until the signature verifies under the certificate's
//! key, the certificate chains to the server's CA (fetched over the same
//! pinned connection) and the certificate names the person asked for.
//! Any end result but OK is reported as `end result <RESULT>`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use kaksik_core::client::SpkiPin;
use kaksik_server::app::{DEMO_RP_NAME, DEMO_RP_UUID};
use kaksik_server::rp_client::{self, Completed, RpClient, RpClientError, Target, VerifiedSigner};
use sha2::{Digest as _, Sha256};

use crate::cli_error::CliError;
use crate::console::{say, unix_now};
use crate::serve_cmd::runtime;

/// How long to wait for the person: longer than any session lasts, so
/// the server's TIMEOUT end result is what normally ends a wait.
pub(crate) const SESSION_WAIT: Duration = Duration::from_secs(10 * 60);

/// Width of a PEM line.
const PEM_LINE: usize = 64;

/// `kaksik rp`'s options for the networked commands.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The Kaksik server, https://host:port (auth and sign only).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// sha256/<Base64> of the server's TLS key, as `kaksik serve` prints
    /// it (auth and sign only).
    #[arg(long, value_name = "PIN")]
    spki_pin: Option<String>,
    /// relyingPartyUUID (auth and sign only).
    #[arg(long, value_name = "UUID", default_value = DEMO_RP_UUID)]
    rp_uuid: String,
    /// relyingPartyName, as registered for the UUID (auth and sign only).
    #[arg(long, value_name = "NAME", default_value = DEMO_RP_NAME)]
    pub(crate) rp_name: String,
}

/// Whom a session addresses: a person or one of their documents (for a QR
/// login, nobody: whoever scans it).
#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
pub struct WhomArgs {
    /// The person: PNOEE-38001085718.
    #[arg(long, value_name = "PNO…")]
    id: Option<String>,
    /// One document: PNOEE-38001085718-XXXX-Q.
    #[arg(long, value_name = "DOCUMENT")]
    document: Option<String>,
}

/// `rp auth`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub(crate) whom: WhomArgs,
    /// Text shown on the phone (displayText60).
    #[arg(long, default_value = "Log in")]
    pub(crate) text: String,
    /// Scheme name in the ACSP_V2 message, as the server is configured.
    #[arg(long, default_value = "kaksik")]
    pub(crate) scheme: String,
    /// Log in by QR code instead of a notification: draw the code in the
    /// terminal, redrawn every second. Without --id/--document, whoever
    /// scans it logs in.
    #[arg(long, conflicts_with = "web2app")]
    pub(crate) qr: bool,
    /// Log in with a Web2App link: print it, wait, then read the callback
    /// URL the phone opened from standard input (one line; empty skips)
    /// and check its values.
    #[arg(long)]
    pub(crate) web2app: bool,
    /// initialCallbackUrl of a --web2app login.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://rp.example/kaksik/callback?state=cli"
    )]
    pub(crate) callback: String,
}

/// `rp sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    whom: WhomArgs,
    /// The file to sign (its SHA-256 is signed).
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
    /// Where to write the DER signature; the certificate goes beside it
    /// as <OUT>.cert.pem. Default: <FILE>.sig.
    #[arg(long, value_name = "OUT")]
    out: Option<PathBuf>,
    /// Text shown on the phone (displayText60). Default: "Sign <file
    /// name>".
    #[arg(long)]
    text: Option<String>,
}

/// The person and, for a document, the document a result must be for.
pub(crate) struct Expected {
    pub(crate) target: Target,
    pub(crate) semantics_id: String,
    pub(crate) document: Option<String>,
}

impl WhomArgs {
    /// The target, or `None` for an anonymous QR login.
    pub(crate) fn optional(&self) -> Result<Option<Expected>, CliError> {
        if self.id.is_none() && self.document.is_none() {
            Ok(None)
        } else {
            self.expected().map(Some)
        }
    }

    fn expected(&self) -> Result<Expected, CliError> {
        match (&self.id, &self.document) {
            (Some(id), None) => Ok(Expected {
                target: Target::Person(id.clone()),
                semantics_id: id.clone(),
                document: None,
            }),
            (None, Some(document)) => Ok(Expected {
                target: Target::Document(document.clone()),
                semantics_id: semantics_id_of(document)?,
                document: Some(document.clone()),
            }),
            _ => Err(CliError::Input {
                flag: "--id|--document".into(),
                reason: "exactly one is required".into(),
            }),
        }
    }
}

/// `PNOEE-38001085718` of `PNOEE-38001085718-XXXX-Q`.
fn semantics_id_of(document: &str) -> Result<String, CliError> {
    let mut parts = document.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(person)) if person.starts_with("PNO") && person.contains('-') => {
            Ok(person.to_owned())
        }
        _ => Err(CliError::Input {
            flag: "--document".into(),
            reason: "expected a document number PNO<CC>-<id>-<XXXX>-Q".into(),
        }),
    }
}

impl ServerArgs {
    /// The RP client for `--server` and `--spki-pin`, both required here.
    fn client(&self, command: &str) -> Result<RpClient, CliError> {
        let missing = |flag: &str| CliError::Input {
            flag: flag.into(),
            reason: format!("required for `kaksik rp {command}`"),
        };
        let server = self.server.as_deref().ok_or_else(|| missing("--server"))?;
        let pin = self
            .spki_pin
            .as_deref()
            .ok_or_else(|| missing("--spki-pin"))?;
        if !server.starts_with("https://") {
            return Err(CliError::Input {
                flag: "--server".into(),
                reason: "expected https://host:port".into(),
            });
        }
        SpkiPin::parse(pin).map_err(|_| CliError::Input {
            flag: "--spki-pin".into(),
            reason: "expected sha256/<Base64 of 32 bytes>, as `kaksik serve` prints it".into(),
        })?;
        RpClient::new(server, pin, &self.rp_uuid, &self.rp_name).map_err(rp_error)
    }
}

/// `kaksik rp … auth`.
pub fn auth(server: &ServerArgs, args: &AuthArgs) -> Result<String, CliError> {
    if args.qr || args.web2app {
        return crate::rp_link_cmd::auth(server.client("auth")?, server, args);
    }
    let rp = server.client("auth")?;
    let expected = args.whom.expected()?;
    runtime()?.block_on(async {
        let started = rp
            .authenticate(&expected.target, &args.text)
            .await
            .map_err(rp_error)?;
        say(&format!("verification code: {}", started.vc))?;
        let completed = completed_ok(&rp, &started.session_id).await?;
        let chain = rp.ca_chain().await.map_err(rp_error)?;
        let signer = rp_client::verify_authentication(
            &started,
            &completed,
            &args.scheme,
            &server.rp_name,
            &chain,
            Some(&expected.semantics_id),
            unix_now(),
        )
        .map_err(rp_error)?;
        check_document(&expected, &completed)?;
        Ok(format!(
            "authenticated: {}\ndocument number: {}\n",
            person(&signer),
            completed.document_number
        ))
    })
}

/// `kaksik rp … sign`.
pub fn sign(server: &ServerArgs, args: &SignArgs) -> Result<String, CliError> {
    let rp = server.client("sign")?;
    let expected = args.whom.expected()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| with_suffix(&args.file, ".sig"));
    let cert_out = with_suffix(&out, ".cert.pem");
    let content = std::fs::read(&args.file).map_err(|e| CliError::Input {
        flag: "--file".into(),
        reason: format!("cannot read {}: {e}", args.file.display()),
    })?;
    let digest: [u8; 32] = Sha256::digest(&content).into();
    let text = args.text.clone().unwrap_or_else(|| {
        let name = args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("Sign {name}")
    });
    runtime()?.block_on(async {
        let started = rp
            .sign(&expected.target, &digest, &text)
            .await
            .map_err(rp_error)?;
        say(&format!("verification code: {}", started.vc))?;
        let completed = completed_ok(&rp, &started.session_id).await?;
        let chain = rp.ca_chain().await.map_err(rp_error)?;
        let (signature, signer) =
            rp_client::verify_signature(&digest, &completed, &chain, unix_now())
                .map_err(rp_error)?;
        if signer.semantics_id != expected.semantics_id {
            return Err(CliError::failed(format!(
                "verification failed: signed by {}, not {}",
                signer.semantics_id, expected.semantics_id
            )));
        }
        check_document(&expected, &completed)?;
        write(&out, &signature)?;
        write(&cert_out, pem(&signer.certificate_der).as_bytes())?;
        Ok(format!(
            "signed by: {}\ndocument number: {}\nsignature: {}\ncertificate: {}\n",
            person(&signer),
            completed.document_number,
            out.display(),
            cert_out.display()
        ))
    })
}

/// Waits for the session's end and accepts only OK.
pub(crate) async fn completed_ok(rp: &RpClient, session_id: &str) -> Result<Completed, CliError> {
    let completed = rp.wait(session_id, SESSION_WAIT).await.map_err(rp_error)?;
    if completed.end_result == "OK" {
        Ok(completed)
    } else {
        Err(CliError::failed(format!(
            "end result {}",
            completed.end_result
        )))
    }
}

/// For `--document`, the result must name that document.
pub(crate) fn check_document(expected: &Expected, completed: &Completed) -> Result<(), CliError> {
    match &expected.document {
        Some(document) if *document != completed.document_number => Err(CliError::failed(format!(
            "verification failed: the result is for document {}, not {document}",
            completed.document_number
        ))),
        _ => Ok(()),
    }
}

/// `GIVENNAME SURNAME (PNOEE-…)` from the certificate's common name
/// `SURNAME,GIVENNAME,PNOEE-…`; the common name as is if it has another
/// form.
pub(crate) fn person(signer: &VerifiedSigner) -> String {
    match signer.common_name.split(',').collect::<Vec<_>>().as_slice() {
        [surname, given_name, _] => {
            format!("{given_name} {surname} ({})", signer.semantics_id)
        }
        _ => format!("{} ({})", signer.common_name, signer.semantics_id),
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes)
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))
}

/// A DER certificate as PEM.
fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(PEM_LINE) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

pub(crate) fn rp_error(error: RpClientError) -> CliError {
    CliError::failed(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_names_its_person() {
        assert_eq!(
            semantics_id_of("PNOEE-38001085718-AB12-Q").unwrap(),
            "PNOEE-38001085718"
        );
        assert!(semantics_id_of("PNOEE-38001085718").is_err());
        assert!(semantics_id_of("nonsense").is_err());
    }

    #[test]
    fn the_person_reads_given_name_first() {
        let signer = VerifiedSigner {
            certificate_der: Vec::new(),
            semantics_id: "PNOEE-1".into(),
            common_name: "MAASIKAS,MARI,PNOEE-1".into(),
        };
        assert_eq!(person(&signer), "MARI MAASIKAS (PNOEE-1)");
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let text = pem(&[0u8; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
    }

    #[test]
    fn the_signature_goes_beside_the_file() {
        assert_eq!(
            with_suffix(Path::new("dir/a.txt"), ".sig"),
            PathBuf::from("dir/a.txt.sig")
        );
    }
}
