//! `kaksik demo`: the whole system in one command, on the embedded
//! default (SQLite in a temporary directory), showing what each party
//! sees.
//!
//! It starts a real server (TLS on loopback), enrols a person as the
//! operator does, registers a simulated phone (the real device client over
//! a file store, with random valid PINs it shows), and then runs, as a
//! relying party over the RP API: a notification login (the same code on
//! the RP's screen and the phone), a QR login, a Web2App login with its
//! callback checked, a wrong PIN followed by the right one, and a document
//! signature. Every result is verified against the CA chain as an RP
//! must. A table of the steps and their times ends it; any failure ends it
//! with status 1. `--keep` leaves the server running for the demo RP page.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use kaksik_core::client::{Authenticator, ClientConfig, ClientError};
use kaksik_core::device_key::SoftwareDeviceKey;
use kaksik_core::pin::{Pin, PinKind, check_pair};
use kaksik_core::protocol::api::Identity;
use kaksik_core::rp::DeviceLinkType;
use kaksik_core::store::FileStore;
use kaksik_server::app::{self, DEMO_RP_NAME, DEMO_RP_UUID, Running};
use kaksik_server::clock::SystemClock;
use kaksik_server::config::Config;
use kaksik_server::rp_client::{self, Completed, RpClient, Target};
use sha2::{Digest as _, Sha256};

use crate::cli_error::CliError;
use crate::console::{say, unix_now};
use crate::rp_link_cmd::qr_text;
use crate::serve_cmd::runtime;

/// How long the demo waits for any one session.
const WAIT: Duration = Duration::from_secs(60);

/// The callback of the demo's Web2App login.
const CALLBACK: &str = "https://demo.kaksik.invalid/login/callback?state=demo";

/// `kaksik demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Leave the server running afterwards and print the URL of the demo
    /// RP page (stop with Ctrl-C).
    #[arg(long)]
    keep: bool,
    /// Show the QR code of the QR login in the terminal.
    #[arg(long)]
    show_qr: bool,
}

/// One line of the summary.
struct Step {
    name: &'static str,
    outcome: String,
    took: Duration,
}

/// The parties of the demo.
struct Demo {
    running: Running,
    phone: Authenticator,
    rp: RpClient,
    person: Identity,
    pin1: Vec<u8>,
    pin2: Vec<u8>,
    steps: Vec<Step>,
}

impl DemoArgs {
    /// Runs the demo; the summary to print.
    pub fn run(self) -> Result<String, CliError> {
        crate::serve_cmd::init_logging("warn");
        let dir = tempfile::Builder::new()
            .prefix("kaksik-demo-")
            .tempdir()
            .map_err(|e| CliError::failed(format!("cannot create a temporary directory: {e}")))?;
        runtime()?.block_on(async {
            let mut demo = Demo::start(dir.path()).await?;
            demo.run_steps(self.show_qr).await?;
            let summary = demo.summary();
            if self.keep {
                say(&summary)?;
                say(&format!(
                    "the server keeps running: demo RP page {}/demo/\n\
                     data directory {}, phone home {}\n\
                     (the browser will warn about the self-signed TLS certificate; \
                     the pin is {}). Ctrl-C stops it.",
                    demo.running.url,
                    dir.path().join("server").display(),
                    dir.path().join("phone").display(),
                    demo.running.spki_pin,
                ))?;
                tokio::signal::ctrl_c()
                    .await
                    .map_err(|e| CliError::failed(format!("waiting for Ctrl-C: {e}")))?;
                demo.running.shutdown().await;
                return Ok(String::new());
            }
            demo.running.shutdown().await;
            Ok(summary)
        })
    }
}

impl Demo {
    /// The server, the operator's enrolment, the phone's registration.
    async fn start(dir: &std::path::Path) -> Result<Self, CliError> {
        let started = Instant::now();
        let config = Config {
            listen: ([127, 0, 0, 1], 0).into(),
            ..Config::default()
        };
        let data = app::open(&dir.join("server"), config, Arc::new(SystemClock))
            .await
            .map_err(|e| CliError::failed(format!("the server did not start: {e}")))?;
        let running = app::serve(data)
            .await
            .map_err(|e| CliError::failed(format!("the server did not start: {e}")))?;
        say(&format!(
            "server: {} (TLS key pin {})",
            running.url, running.spki_pin
        ))?;

        let person = Identity {
            country: "EE".into(),
            national_id: "38001085718".into(),
            given_name: "MARI".into(),
            surname: "MAASIKAS".into(),
        };
        let (code, _) = kaksik_server::admin::enrol(&running.server, person.clone())
            .await
            .map_err(|e| CliError::failed(format!("enrolment: {}", e.message)))?;
        say(&format!(
            "operator: enrolled {} {} ({}), enrolment code {code}",
            person.given_name,
            person.surname,
            person.semantics_identifier()
        ))?;

        let home = dir.join("phone");
        let store = Arc::new(FileStore::open(&home).map_err(failed("the phone's store"))?);
        let key = Arc::new(
            SoftwareDeviceKey::load_or_create(store.as_ref(), "device-key")
                .map_err(failed("the phone's device key"))?,
        );
        let phone = Authenticator::new(
            ClientConfig::new(&running.url, &running.spki_pin),
            store,
            key,
        )
        .map_err(failed("the phone"))?;
        let shown = phone
            .start_registration(&code)
            .await
            .map_err(failed("registration"))?;
        say(&format!(
            "phone: registration code {}; the operator checks the same code and confirms",
            shown.registration_code
        ))?;
        kaksik_server::admin::confirm(&running.server, &code, &shown.registration_code)
            .await
            .map_err(|e| CliError::failed(format!("confirmation: {}", e.message)))?;
        phone
            .wait_for_confirmation(WAIT)
            .await
            .map_err(failed("waiting for the confirmation"))?;
        let (pin1, pin2) = random_pins();
        say(&format!(
            "phone: PIN1 {} and PIN2 {} chosen; two-party keys made and PINs verified …",
            String::from_utf8_lossy(&pin1),
            String::from_utf8_lossy(&pin2)
        ))?;
        phone
            .finish_registration(&pin1, &pin2)
            .await
            .map_err(failed("finishing registration"))?;
        phone
            .verify_pins(&pin1, &pin2)
            .await
            .map_err(failed("verifying the PINs"))?;
        let rp = RpClient::new(&running.url, &running.spki_pin, DEMO_RP_UUID, DEMO_RP_NAME)
            .map_err(|e| CliError::failed(e.to_string()))?;
        let mut demo = Demo {
            running,
            phone,
            rp,
            person,
            pin1,
            pin2,
            steps: Vec::new(),
        };
        demo.steps.push(Step {
            name: "enrol and register a phone",
            outcome: "account READY, 2 certificates".into(),
            took: started.elapsed(),
        });
        Ok(demo)
    }

    async fn run_steps(&mut self, show_qr: bool) -> Result<(), CliError> {
        let t = Instant::now();
        let outcome = self.notification_login().await?;
        self.record("notification login (PIN1)", outcome, t);
        let t = Instant::now();
        let outcome = self.qr_login(show_qr).await?;
        self.record("QR code login (PIN1)", outcome, t);
        let t = Instant::now();
        let outcome = self.web2app_login().await?;
        self.record("Web2App login + callback", outcome, t);
        let t = Instant::now();
        let outcome = self.wrong_then_right_pin().await?;
        self.record("wrong PIN, then the right one", outcome, t);
        let t = Instant::now();
        let outcome = self.document_signature().await?;
        self.record("document signature (PIN2)", outcome, t);
        Ok(())
    }

    fn record(&mut self, name: &'static str, outcome: String, started: Instant) {
        self.steps.push(Step {
            name,
            outcome,
            took: started.elapsed(),
        });
    }

    fn target(&self) -> Target {
        Target::Person(self.person.semantics_identifier())
    }

    /// The next transaction in the phone's inbox.
    async fn next_transaction(&self) -> Result<String, CliError> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(first) = self
                .phone
                .pending_transactions(5)
                .await
                .map_err(failed("the inbox"))?
                .into_iter()
                .next()
            {
                return Ok(first.id);
            }
        }
        Err(CliError::failed("no transaction reached the phone"))
    }

    async fn chain(&self) -> Result<String, CliError> {
        self.rp.ca_chain().await.map_err(rp_failed)
    }

    /// Every check an RP runs on a login: the ACSP_V2 signature, the chain
    /// and, when the RP asked for someone, that it is them.
    async fn verified_login(
        &self,
        started: &rp_client::Started,
        completed: &Completed,
        expect_person: bool,
    ) -> Result<rp_client::VerifiedSigner, CliError> {
        let expected = self.person.semantics_identifier();
        rp_client::verify_authentication(
            started,
            completed,
            "kaksik",
            DEMO_RP_NAME,
            &self.chain().await?,
            expect_person.then_some(expected.as_str()),
            unix_now(),
        )
        .map_err(rp_failed)
    }

    async fn wait(&self, session_id: &str) -> Result<Completed, CliError> {
        self.rp.wait(session_id, WAIT).await.map_err(rp_failed)
    }

    async fn notification_login(&self) -> Result<String, CliError> {
        say("\n== notification login")?;
        let started = self
            .rp
            .authenticate(&self.target(), "Log in to the Kaksik demo")
            .await
            .map_err(rp_failed)?;
        say(&format!("RP screen: verification code {}", started.vc))?;
        let id = self.next_transaction().await?;
        let view = self
            .phone
            .transaction(&id)
            .await
            .map_err(failed("the transaction"))?;
        let code = view.verification_code.unwrap_or_default();
        say(&format!(
            "phone: {} asks \"{}\", verification code {code}",
            view.rp_name,
            view.display_text.unwrap_or_default()
        ))?;
        if code != started.vc {
            return Err(CliError::failed(
                "the phone and the RP show different codes",
            ));
        }
        self.phone
            .approve(&id, &self.pin1)
            .await
            .map_err(failed("approving"))?;
        let completed = self.wait(&started.session_id).await?;
        let signer = self.verified_login(&started, &completed, true).await?;
        say(&format!("RP: logged in {}", signer.common_name))?;
        Ok(format!("OK, code {code} on both screens"))
    }

    async fn qr_login(&self, show_qr: bool) -> Result<String, CliError> {
        say("\n== QR code login")?;
        let link = self
            .rp
            .authenticate_device_link(None, "Log in to the Kaksik demo", None)
            .await
            .map_err(rp_failed)?;
        let qr = link.qr_link("eng").map_err(rp_failed)?;
        if show_qr {
            say(&qr_text(&qr)?)?;
        }
        say(&format!("RP screen: QR code of {qr}"))?;
        let view = self
            .phone
            .open_device_link(&qr)
            .await
            .map_err(failed("opening the QR code"))?;
        say(&format!("phone: scanned; {} asks to log in", view.rp_name))?;
        self.phone
            .approve(&view.id, &self.pin1)
            .await
            .map_err(failed("approving"))?;
        let completed = self.wait(&link.started.session_id).await?;
        let signer = self
            .verified_login(&link.started, &completed, false)
            .await?;
        say(&format!(
            "RP: whoever scanned is {} ({})",
            signer.common_name, completed.document_number
        ))?;
        Ok("OK, anonymous session bound to the phone".into())
    }

    async fn web2app_login(&self) -> Result<String, CliError> {
        say("\n== Web2App login (browser and app on the same phone)")?;
        let link = self
            .rp
            .authenticate_device_link(
                Some(&self.target()),
                "Log in to the Kaksik demo",
                Some(CALLBACK),
            )
            .await
            .map_err(rp_failed)?;
        let web2app = link
            .link(DeviceLinkType::Web2App, None, "eng")
            .map_err(rp_failed)?;
        say(&format!("RP page: a button linking to {web2app}"))?;
        let view = self
            .phone
            .open_device_link(&web2app)
            .await
            .map_err(failed("opening the link"))?;
        let approved = self
            .phone
            .approve(&view.id, &self.pin1)
            .await
            .map_err(failed("approving"))?;
        let callback = approved
            .callback_url
            .ok_or_else(|| CliError::failed("the phone returned no callback URL"))?;
        say(&format!("phone: opens {callback}"))?;
        let completed = self.wait(&link.started.session_id).await?;
        self.verified_login(&link.started, &completed, true).await?;
        link.verify_callback(&callback, &completed)
            .map_err(rp_failed)?;
        say("RP: sessionSecretDigest and userChallengeVerifier check out")?;
        Ok("OK, callback verified".into())
    }

    async fn wrong_then_right_pin(&self) -> Result<String, CliError> {
        say("\n== a wrong PIN, then the right one")?;
        let started = self
            .rp
            .authenticate(&self.target(), "Log in to the Kaksik demo")
            .await
            .map_err(rp_failed)?;
        let id = self.next_transaction().await?;
        let wrong = wrong_pin(&self.pin1);
        let left = match self.phone.approve(&id, &wrong).await {
            Err(ClientError::WrongPin { attempts_left }) => attempts_left,
            Err(error) => return Err(CliError::failed(format!("a wrong PIN: {error}"))),
            Ok(_) => return Err(CliError::failed("a wrong PIN was accepted")),
        };
        say(&format!(
            "phone: PIN1 {} is wrong; {left} attempts left before a 3-hour lock",
            String::from_utf8_lossy(&wrong)
        ))?;
        self.phone
            .approve(&id, &self.pin1)
            .await
            .map_err(failed("approving"))?;
        let completed = self.wait(&started.session_id).await?;
        self.verified_login(&started, &completed, true).await?;
        say("phone: the right PIN; the server's counter is back to 0")?;
        Ok(format!("OK, {left} attempts were left"))
    }

    async fn document_signature(&self) -> Result<String, CliError> {
        say("\n== document signature")?;
        let document = b"Kaksik demo contract: the parties agree to co-sign.\n";
        let digest: [u8; 32] = Sha256::digest(document).into();
        let started = self
            .rp
            .sign(&self.target(), &digest, "Sign the demo contract")
            .await
            .map_err(rp_failed)?;
        say(&format!("RP screen: verification code {}", started.vc))?;
        let id = self.next_transaction().await?;
        let view = self
            .phone
            .transaction(&id)
            .await
            .map_err(failed("the transaction"))?;
        say(&format!(
            "phone: {} asks to sign, verification code {}",
            view.rp_name,
            view.verification_code.unwrap_or_default()
        ))?;
        self.phone
            .approve(&id, &self.pin2)
            .await
            .map_err(failed("approving"))?;
        let completed = self.wait(&started.session_id).await?;
        let (signature, signer) =
            rp_client::verify_signature(&digest, &completed, &self.chain().await?, unix_now())
                .map_err(rp_failed)?;
        say(&format!(
            "RP: a {}-byte ECDSA P-256 signature by {}, chain verified",
            signature.len(),
            signer.common_name
        ))?;
        Ok("OK, signature and chain verified".into())
    }

    fn summary(&self) -> String {
        let mut out = String::from(
            "\nstep                              result                                      time\n",
        );
        for step in &self.steps {
            out.push_str(&format!(
                "{:<34}{:<44}{:>7.0} ms\n",
                step.name,
                step.outcome,
                step.took.as_secs_f64() * 1000.0
            ));
        }
        let total: Duration = self.steps.iter().map(|s| s.took).sum();
        out.push_str(&format!(
            "{:<78}{:>7.0} ms\nall steps passed\n",
            "total",
            total.as_secs_f64() * 1000.0
        ));
        out
    }
}

/// Random PIN1 (4 digits) and PIN2 (5 digits) that pass the PIN rules.
fn random_pins() -> (Vec<u8>, Vec<u8>) {
    loop {
        let pin1 = random_digits(PinKind::Pin1.min_len());
        let pin2 = random_digits(PinKind::Pin2.min_len());
        if let (Ok(a), Ok(b)) = (
            Pin::new(PinKind::Pin1, &pin1),
            Pin::new(PinKind::Pin2, &pin2),
        ) && check_pair(&a, &b).is_ok()
        {
            return (pin1, pin2);
        }
    }
}

fn random_digits(len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| b'0' + rand::random_range(0..10u8))
        .collect()
}

/// A PIN1 that passes the rules and is not `right`.
fn wrong_pin(right: &[u8]) -> Vec<u8> {
    loop {
        let candidate = random_digits(PinKind::Pin1.min_len());
        if candidate != right && Pin::new(PinKind::Pin1, &candidate).is_ok() {
            return candidate;
        }
    }
}

fn failed<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> CliError {
    move |error| CliError::failed(format!("{what}: {error}"))
}

fn rp_failed(error: rp_client::RpClientError) -> CliError {
    CliError::failed(error.to_string())
}
