//! `kaksik`: one binary for the server, the device simulator, the RP client
//! and the operator.
//!
//! This file owns the top-level command tree and the process contract:
//! output on stdout, one `error: …` line on stderr, exit status 0 (ok), 2
//! (usage or input error) or 1 (anything else). Each subcommand lives in
//! its own module and returns its output or a [`CliError`].

mod cli_error;
mod client_error;
mod console;
mod demo_cmd;
mod device_cmd;
mod device_home;
mod device_register;
mod device_render;
mod pin_input;
mod rp_client_cmd;
mod rp_link_cmd;
mod rp_tools;
mod serve_cmd;
mod usage;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli_error::CliError;

/// Kaksik: an open Smart-ID-style authenticator.
#[derive(Debug, Parser)]
// Without a subcommand clap would print the whole help to stderr; we want
// the usual one-line error, which names the valid subcommands.
#[command(name = "kaksik", version, about, arg_required_else_help = false)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The top-level subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// See the whole system work: a server, a phone and a relying party
    /// on a temporary data directory; logins by notification, QR code and
    /// Web2App, a wrong PIN, a signature, every result verified.
    Demo(demo_cmd::DemoArgs),
    /// Run the co-signing server.
    Serve(serve_cmd::ServeArgs),
    /// Operator commands: enrol, confirm, account, rp add.
    Admin(serve_cmd::AdminArgs),
    /// A phone on the command line: register, inbox, approve, decline,
    /// status.
    Device(device_cmd::DeviceArgs),
    /// Relying-party tools: verification codes, device links, ACSP_V2;
    /// and, against a server, authentication and signing.
    // Boxed: its many flags would make every other variant as large.
    Rp(Box<rp_tools::RpArgs>),
}

impl Command {
    /// Runs the subcommand and returns what to print on stdout.
    fn run(self) -> Result<String, CliError> {
        match self {
            Self::Demo(args) => args.run(),
            Self::Serve(args) => args.run(),
            Self::Admin(args) => args.run(),
            Self::Device(args) => args.run(),
            Self::Rp(args) => (*args).run(),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage::report(&err),
    };
    match cli.command.run() {
        Ok(output) => {
            // A closed stdout (`kaksik … | head -0`) is a failure, not a
            // panic: `print!` would panic.
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(output.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&CliError::Output(e)),
            }
        }
        Err(e) => fail(&e),
    }
}

/// Prints `error: …` as one line on stderr and returns the error's status.
fn fail(err: &CliError) -> ExitCode {
    // Nothing sensible remains to do if stderr is gone too.
    let _ = writeln!(std::io::stderr(), "error: {err}");
    err.exit_code()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_whole_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
