//! `kaksik device --home DIR …`: a phone on the command line. The real
//! device client (`kaksik_core::client::Authenticator`) over a file store
//! in DIR, with a software device key: register, the inbox, one
//! transaction, a device link opened, approve with the PIN, share the
//! certificate, decline, status, change a PIN.
//!
//! PINs are read by [`crate::pin_input`], never taken from flags.
//! Registration lives in [`crate::device_register`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use kaksik_core::client::{Authenticator, LocalStatus};
use kaksik_core::protocol::api::{self, TransactionSummary};
use kaksik_core::role::KeyRole;

use crate::cli_error::CliError;
use crate::client_error::client_error;
use crate::console::say;
use crate::device_home::Home;
use crate::device_register::{self, RegisterArgs};
use crate::device_render::{self as render, kind_name, pin_name, printable};
use crate::pin_input::PinReader;
use crate::serve_cmd::runtime;

/// `kaksik device`.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The account home: one directory per account, created by `register`;
    /// holds the device key, the sealed key shares and the server's
    /// address and pin.
    #[arg(long, value_name = "DIR")]
    home: PathBuf,
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Register with an enrolment code: show the registration code, wait
    /// for the operator, choose PIN1 and PIN2 (each typed twice), verify
    /// them. PINs come from the terminal without echo, or one per line
    /// from standard input.
    Register(RegisterArgs),
    /// The commands of a registered home.
    #[command(flatten)]
    Registered(RegisteredCommand),
}

/// The commands that need a home `register` has bound to a server.
#[derive(Debug, Subcommand)]
// Transaction ids are Base64url and may start with `-`: the id
// arguments take such values rather than reading them as flags.
enum RegisteredCommand {
    /// List pending transactions, one per line: id, kind, RP name,
    /// expiry (tab separated).
    Inbox {
        /// Wait up to this long for a transaction if there is none.
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        wait: u32,
    },
    /// Show one transaction: RP, text, verification code.
    Show {
        /// Transaction id (from `inbox`).
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Approve a transaction with its PIN (PIN1 to log in, PIN2 to sign),
    /// read from the terminal without echo or from standard input.
    Approve {
        /// Transaction id (from `inbox`).
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// For a code-choice transaction: the code the RP shows.
        #[arg(long, value_name = "CODE")]
        code: Option<String>,
    },
    /// Open a device link: the text of a QR code, or a Web2App/App2App
    /// URL. Shows the transaction; then `approve` it (a same-device flow
    /// prints the callback URL to open), `share-certificate` for a
    /// certificate choice, or `decline`.
    OpenLink {
        /// The whole link, `https://…/device-link?deviceLinkType=…&authCode=…`.
        link: String,
    },
    /// Answer a certificate choice: give the RP the signing certificate
    /// (no PIN: nothing is signed).
    ShareCertificate {
        /// Transaction id (from `inbox` or `open-link`).
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Refuse a transaction (the RP sees USER_REFUSED_INTERACTION).
    Decline {
        /// Transaction id (from `inbox`).
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// The account here and on the server: state, keys, failed attempts,
    /// locks.
    Status,
    /// Change PIN1 (`auth`) or PIN2 (`sign`): the current PIN once (it
    /// counts as an attempt, like an approval), then the new one twice.
    ChangePin {
        /// Which key's PIN: `auth` (PIN1) or `sign` (PIN2).
        #[arg(value_name = "auth|sign", value_parser = parse_role)]
        role: KeyRole,
    },
}

fn parse_role(text: &str) -> Result<KeyRole, String> {
    match text {
        "auth" | "pin1" | "PIN1" => Ok(KeyRole::Auth),
        "sign" | "pin2" | "PIN2" => Ok(KeyRole::Sign),
        _ => Err("expected auth (PIN1) or sign (PIN2)".into()),
    }
}

impl DeviceArgs {
    /// Runs one device command; returns what is left to print.
    pub fn run(self) -> Result<String, CliError> {
        let runtime = runtime()?;
        match self.command {
            DeviceCommand::Register(args) => {
                let home = Home::create(&self.home)?;
                runtime.block_on(device_register::register(&home, args))
            }
            DeviceCommand::Registered(command) => {
                let (home, client) = Home::open_client(&self.home)?;
                runtime.block_on(run_registered(&home, &client, command))
            }
        }
    }
}

async fn run_registered(
    home: &Home,
    client: &Authenticator,
    command: RegisteredCommand,
) -> Result<String, CliError> {
    match command {
        RegisteredCommand::Inbox { wait } => inbox(client, wait).await,
        RegisteredCommand::Show { id } => {
            let view = client.transaction(&id).await.map_err(client_error)?;
            Ok(render::transaction(&view))
        }
        RegisteredCommand::Approve { id, code } => approve(client, &id, code.as_deref()).await,
        RegisteredCommand::OpenLink { link } => {
            let view = client.open_device_link(&link).await.map_err(client_error)?;
            Ok(render::transaction(&view))
        }
        RegisteredCommand::ShareCertificate { id } => {
            client.share_certificate(&id).await.map_err(client_error)?;
            Ok(format!("certificate shared: {}\n", printable(&id)))
        }
        RegisteredCommand::Decline { id } => {
            client.decline(&id).await.map_err(client_error)?;
            Ok(format!("declined: {}\n", printable(&id)))
        }
        RegisteredCommand::Status => status(home, client).await,
        RegisteredCommand::ChangePin { role } => change_pin(client, role).await,
    }
}

/// Reads the current PIN and the new one (twice), then changes it.
async fn change_pin(client: &Authenticator, role: KeyRole) -> Result<String, CliError> {
    let name = pin_name(role);
    let mut reader = PinReader::from_stdin()?;
    let old = reader.read(&format!("current {name}"))?;
    let new = reader.read_new(name)?;
    client
        .change_pin(role, &old, &new)
        .await
        .map_err(client_error)?;
    Ok(format!("{name} changed\n"))
}

/// Lists pending transactions, long-polling in the device API's steps
/// until one arrives or `wait` seconds pass.
async fn inbox(client: &Authenticator, wait: u32) -> Result<String, CliError> {
    let deadline = Instant::now() + Duration::from_secs(u64::from(wait));
    let pending: Vec<TransactionSummary> = loop {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        let step = u32::try_from(left)
            .unwrap_or(u32::MAX)
            .min(api::MAX_WAIT_SECONDS);
        let pending = client
            .pending_transactions(step)
            .await
            .map_err(client_error)?;
        if !pending.is_empty() || deadline.saturating_duration_since(Instant::now()).as_secs() == 0
        {
            break pending;
        }
    };
    Ok(pending.iter().map(render::inbox_line).collect())
}

/// Shows the transaction, reads its PIN, approves.
async fn approve(client: &Authenticator, id: &str, code: Option<&str>) -> Result<String, CliError> {
    let view = client.transaction(id).await.map_err(client_error)?;
    if let (Some(choices), None) = (&view.code_choice, code) {
        return Err(CliError::Input {
            flag: "--code".into(),
            reason: format!(
                "this transaction asks for the code the RP shows, one of: {}",
                printable(&choices.join(" "))
            ),
        });
    }
    // The person compares the code with the RP's screen before typing
    // the PIN: show the transaction first.
    say(render::transaction(&view).trim_end())?;
    let pin = PinReader::from_stdin()?.read(pin_name(view.role))?;
    let approved = match code {
        Some(code) => client.approve_with_code(id, &pin, code).await,
        None => client.approve(id, &pin).await,
    }
    .map_err(client_error)?;
    let shown = view
        .verification_code
        .as_deref()
        .or(code)
        .map(|c| format!(", verification code {}", printable(c)))
        .unwrap_or_default();
    let mut out = format!(
        "approved: {} for {}{shown}\n",
        kind_name(view.kind),
        printable(&view.rp_name)
    );
    if let Some(callback) = &approved.callback_url {
        // A same-device flow goes back to the RP: this is the URL the app
        // would open now.
        out.push_str(&format!("open: {}\n", printable(callback)));
    }
    Ok(out)
}

/// The local state, and the server's view once the account exists.
async fn status(home: &Home, client: &Authenticator) -> Result<String, CliError> {
    let mut out = format!("home: {}\n", home.dir().display());
    if let Some(binding) = home.binding()? {
        out.push_str(&format!("server: {}\n", binding.server_url));
    }
    match client.status().map_err(client_error)? {
        LocalStatus::NotRegistered => out.push_str("state: NOT_REGISTERED\n"),
        LocalStatus::Registering {
            document_number,
            identity,
            registration_code,
        } => out.push_str(&format!(
            "document number: {}\nperson: {} {} ({})\nstate: REGISTERING\nregistration code: {}\n",
            printable(&document_number),
            printable(&identity.given_name),
            printable(&identity.surname),
            printable(&identity.semantics_identifier()),
            printable(&registration_code),
        )),
        LocalStatus::Registered { .. } => {
            let account = client.account().await.map_err(client_error)?;
            out.push_str(&render::account(&account));
        }
    }
    Ok(out)
}
