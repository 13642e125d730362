//! `kaksik serve`: runs the co-signing server on a data directory, and
//! `kaksik admin`: the operator's commands on the same directory.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use kaksik_core::protocol::api::Identity;
use kaksik_server::clock::SystemClock;
use kaksik_server::config::Config;
use kaksik_server::{admin, app};

use crate::cli_error::CliError;

/// `kaksik serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory (created on first start).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Address to listen on; overrides the file and KAKSIK_LISTEN.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Optional TOML settings file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The async runtime every networked command runs on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))
}

/// Logs to stderr at `default` level unless `RUST_LOG` says otherwise, so
/// the cause behind a terse error ("storage failure") is on record.
pub(crate) fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // A second initialisation (tests running commands in-process) is
    // harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn load_config(
    file: Option<&std::path::Path>,
    listen: Option<std::net::SocketAddr>,
) -> Result<Config, CliError> {
    let mut config = Config::load(file).map_err(|e| CliError::Input {
        flag: "--config".into(),
        reason: e.to_string(),
    })?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    Ok(config)
}

impl ServeArgs {
    /// Runs until Ctrl-C or SIGTERM, then stops gracefully.
    pub fn run(self) -> Result<String, CliError> {
        init_logging("info");
        let config = load_config(self.config.as_deref(), self.listen)?;
        runtime()?.block_on(async move {
            let data = app::open(&self.data_dir, config, Arc::new(SystemClock))
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            let running = app::serve(data)
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            let stop = stop_signal();
            println!("kaksik server listening on {}", running.url);
            println!("spki-pin {}", running.spki_pin);
            running
                .serve_until(stop)
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            Ok(String::new())
        })
    }
}

/// Resolves at Ctrl-C or, on Unix, SIGTERM (what `kill`, systemd and
/// container runtimes send). The SIGTERM handler is installed when this
/// is called, not when the future is first polled: a SIGTERM that arrives
/// between the "listening" line and the first poll must not kill the
/// process with the default action.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate())
            .map_err(|error| tracing::warn!(%error, "cannot listen for SIGTERM; Ctrl-C only"))
            .ok()
    };
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}

/// `kaksik admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The server's data directory.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a one-time enrolment code (valid 15 minutes) for a person
    /// whose identity has been checked.
    Enrol {
        /// ISO 3166-1 alpha-2 country, e.g. EE.
        #[arg(long)]
        country: String,
        /// National identity code.
        #[arg(long)]
        id: String,
        /// Given name.
        #[arg(long)]
        given_name: String,
        /// Surname.
        #[arg(long)]
        surname: String,
    },
    /// Confirm the registration code the person reads from the app.
    Confirm {
        /// The enrolment code given to the person.
        #[arg(long)]
        enrolment: String,
        /// The 4-digit code the app shows.
        #[arg(long)]
        registration_code: String,
    },
    /// Show a person's accounts (PNOEE-…) or one document (PNOEE-…-XXXX-Q).
    Account {
        /// Semantics identifier or document number.
        id: String,
    },
    /// Relying parties.
    Rp {
        #[command(subcommand)]
        command: RpAdmin,
    },
}

#[derive(Debug, Subcommand)]
enum RpAdmin {
    /// Register (or rename) a relying party.
    Add {
        /// relyingPartyUUID.
        #[arg(long)]
        uuid: String,
        /// relyingPartyName.
        #[arg(long)]
        name: String,
    },
}

fn refused(error: kaksik_server::device::DeviceError) -> CliError {
    CliError::Failed(error.message)
}

impl AdminArgs {
    /// Runs one operator command against the data directory.
    pub fn run(self) -> Result<String, CliError> {
        init_logging("warn");
        runtime()?.block_on(async move {
            let data = app::open(&self.data_dir, Config::default(), Arc::new(SystemClock))
                .await
                .map_err(|e| CliError::Failed(e.to_string()))?;
            let server = data.server;
            match self.command {
                AdminCommand::Enrol {
                    country,
                    id,
                    given_name,
                    surname,
                } => {
                    let identity = Identity {
                        country,
                        national_id: id,
                        given_name,
                        surname,
                    };
                    let (code, expires_at) =
                        admin::enrol(&server, identity).await.map_err(refused)?;
                    let expires = time::OffsetDateTime::from_unix_timestamp(expires_at)
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    Ok(format!("{code}\nvalid until {expires}\n"))
                }
                AdminCommand::Confirm {
                    enrolment,
                    registration_code,
                } => {
                    let document = admin::confirm(&server, &enrolment, &registration_code)
                        .await
                        .map_err(refused)?;
                    Ok(format!("confirmed: {document}\n"))
                }
                AdminCommand::Account { id } => {
                    let reports = admin::accounts(&server, &id).await.map_err(refused)?;
                    if reports.is_empty() {
                        return Err(CliError::Failed(format!("no account for {id}")));
                    }
                    Ok(reports
                        .iter()
                        .map(render_account)
                        .collect::<Vec<_>>()
                        .join("\n"))
                }
                AdminCommand::Rp {
                    command: RpAdmin::Add { uuid, name },
                } => {
                    admin::add_rp(&server, &uuid, &name)
                        .await
                        .map_err(refused)?;
                    Ok(format!("relying party {name} ({uuid}) registered\n"))
                }
            }
        })
    }
}

fn time_of(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| at.to_string())
}

fn render_account(report: &admin::AccountReport) -> String {
    let mut out = format!(
        "account {}\n  person  {} {} ({})\n  state   {}\n  device  {}\n",
        report.document_number,
        report.identity.given_name,
        report.identity.surname,
        report.identity.semantics_identifier(),
        report.state,
        report.device_id,
    );
    for key in &report.keys {
        out.push_str(&format!(
            "  key {:<4}  {:<8} epoch {}  failed attempts {}{}  cert {}\n",
            key.role.as_str(),
            key.state,
            key.epoch,
            key.failed_attempts,
            key.locked_until
                .map(|t| format!("  locked until {}", time_of(t)))
                .unwrap_or_default(),
            key.cert_serial.as_deref().unwrap_or("-"),
        ));
    }
    out.push_str("  audit log:\n");
    for entry in &report.audit {
        out.push_str(&format!(
            "    {}  {:<22} {}\n",
            time_of(entry.at),
            entry.event,
            entry.detail
        ));
    }
    out
}
