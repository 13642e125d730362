//! `kaksik device --home DIR register`: Smart-ID's registration steps
//! (PROTOCOL.md §5) on the command line. The enrolment code starts it;
//! the registration code is printed at once for the person to read out
//! to the operator; after the operator's confirmation PIN1 and PIN2 are
//! chosen (each typed twice) and both verified, so the account ends
//! `READY`.
//!
//! Running the command again resumes: the core resumes a started
//! registration for the same enrolment code, and a home whose account
//! exists but whose PINs were never verified only verifies them.

use std::time::Duration;

use clap::Args;
use kaksik_core::client::{Authenticator, LocalStatus};
use kaksik_core::protocol::api::AccountState;

use crate::cli_error::CliError;
use crate::client_error::client_error;
use crate::console::say;
use crate::device_home::{Home, ServerBinding};
use crate::device_render::{account_state_name, printable};
use crate::pin_input::PinReader;

/// How long `register` waits for the operator by default.
const DEFAULT_CONFIRMATION_WAIT_SECS: u64 = 600;

/// `device register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The server, https://host:port, as `kaksik serve` prints it.
    #[arg(long, value_name = "URL")]
    server: String,
    /// sha256/<Base64> of the server's TLS key, as `kaksik serve` prints
    /// it.
    #[arg(long, value_name = "PIN")]
    spki_pin: String,
    /// The one-time enrolment code the operator gave
    /// (`kaksik admin … enrol`).
    #[arg(long, value_name = "CODE")]
    enrolment: String,
    /// How long to wait for the operator to confirm the registration
    /// code.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_CONFIRMATION_WAIT_SECS)]
    wait: u64,
}

/// Registers the account of `home`; returns the final lines.
pub async fn register(home: &Home, args: RegisterArgs) -> Result<String, CliError> {
    let binding = ServerBinding::from_flags(&args.server, &args.spki_pin)?;
    // Built before the home is bound, so a bad URL binds nothing.
    let client = home.client(&binding)?;
    home.bind(&binding)?;

    if let LocalStatus::Registered {
        document_number, ..
    } = client.status().map_err(client_error)?
    {
        return verify_only(&client, &document_number).await;
    }

    let started = client
        .start_registration(&args.enrolment)
        .await
        .map_err(client_error)?;
    let identity = &started.identity;
    say(&format!(
        "enrolment for: {} {} ({})",
        printable(&identity.given_name),
        printable(&identity.surname),
        printable(&identity.semantics_identifier())
    ))?;
    say(&format!(
        "registration code: {}",
        printable(&started.registration_code)
    ))?;
    say(&format!(
        "waiting up to {} s for the operator to confirm the registration code",
        args.wait
    ))?;
    let confirmed = client
        .wait_for_confirmation(Duration::from_secs(args.wait))
        .await
        .map_err(client_error)?;
    if !confirmed {
        return Err(CliError::failed(format!(
            "the operator did not confirm the registration code within {} s; run the same \
             command again to keep waiting",
            args.wait
        )));
    }
    say("confirmed by the operator")?;

    let mut pins = PinReader::from_stdin()?;
    let pin1 = pins.read_new("PIN1")?;
    let pin2 = pins.read_new("PIN2")?;
    client
        .finish_registration(&pin1, &pin2)
        .await
        .map_err(client_error)?;
    let account = client
        .verify_pins(&pin1, &pin2)
        .await
        .map_err(client_error)?;
    Ok(format!(
        "document number: {}\nstate: {}\n",
        printable(&account.document_number),
        account_state_name(account.state)
    ))
}

/// A home whose registration finished: verify the PINs if that step was
/// cut short, otherwise there is nothing to do here.
async fn verify_only(client: &Authenticator, document_number: &str) -> Result<String, CliError> {
    let account = client.account().await.map_err(client_error)?;
    if account.state != AccountState::InPreparation {
        return Err(CliError::Input {
            flag: "--home".into(),
            reason: format!(
                "this home already holds {} ({}); use a new --home to register again",
                printable(document_number),
                account_state_name(account.state)
            ),
        });
    }
    say(&format!(
        "{} exists; verifying PIN1 and PIN2",
        printable(document_number)
    ))?;
    let mut pins = PinReader::from_stdin()?;
    let pin1 = pins.read("PIN1")?;
    let pin2 = pins.read("PIN2")?;
    let account = client
        .verify_pins(&pin1, &pin2)
        .await
        .map_err(client_error)?;
    Ok(format!(
        "document number: {}\nstate: {}\n",
        printable(&account.document_number),
        account_state_name(account.state)
    ))
}
