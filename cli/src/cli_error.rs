//! The CLI's error: a bad flag value or other bad input (status 2) or
//! anything else (status 1), each rendered as one line after `error: `.

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
    /// Input that is not a flag's value is unusable (a PIN typed twice
    /// differently, a PIN that breaks the PIN rules).
    #[error("{0}")]
    Invalid(String),
    /// The command ran and failed (server refused, network, files).
    #[error("{0}")]
    Failed(String),
    /// The output could not be written.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

impl CliError {
    /// A failure described by `text`, kept on one line: server and
    /// network messages may carry line breaks, and the contract is one
    /// `error:` line.
    pub fn failed(text: impl std::fmt::Display) -> Self {
        Self::Failed(one_line(&text.to_string()))
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Input { .. } | Self::Invalid(_) => USAGE_STATUS,
            Self::Output(_) | Self::Failed(_) => FAILURE_STATUS,
        })
    }
}

/// `text` with every run of whitespace (line breaks included) turned into
/// one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_stays_on_one_line() {
        let error = CliError::failed("server answered 500:\n  boom\r\nagain");
        assert_eq!(error.to_string(), "server answered 500: boom again");
    }
}
