//! The CLI's error: a bad flag value (status 2) or anything else
//! (status 1), each rendered as one line after `error: `.

use std::process::ExitCode;

use thiserror::Error;

/// Exit status for usage and input errors, as clap uses.
pub const USAGE_STATUS: u8 = 2;

/// Exit status for every other failure.
pub const FAILURE_STATUS: u8 = 1;

/// Why a command failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// A flag's value is unusable.
    #[error("{flag}: {reason}")]
    Input {
        /// The flag as typed, e.g. `--digest`.
        flag: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// The command ran and failed (server refused, network, files).
    #[error("{0}")]
    Failed(String),
    /// The output could not be written.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Input { .. } => USAGE_STATUS,
            Self::Output(_) | Self::Failed(_) => FAILURE_STATUS,
        })
    }
}
