//! Turns clap's parse errors into the CLI's one-line form.
//!
//! clap prints a multi-line message with usage and tips; scripts and the
//! tests want exactly one line naming the flag, like every other input
//! error: `error: --link-type: unknown value "Foo"`. `--help` and
//! `--version` are not errors to us and print as clap renders them.

use std::error::Error as _;
use std::io::Write as _;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use kaksik_core::rp::RpError;

use crate::cli_error::USAGE_STATUS;

/// Reports a `try_parse` error and returns the exit status: 0 after help
/// or version output, 2 for every real usage error.
pub fn report(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Failing to print help leaves nothing better to do.
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => {
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(err));
            ExitCode::from(USAGE_STATUS)
        }
    }
}

/// The error as one line, without the `error: ` prefix.
pub fn one_line(err: &clap::Error) -> String {
    let arg = || {
        context(err, ContextKind::InvalidArg)
            .map(|v| flags_in(&v))
            .unwrap_or_default()
    };
    let value = context(err, ContextKind::InvalidValue);
    match err.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => match value.as_deref() {
            Some("") | None => format!("{}: a value is required", arg()),
            Some(value) => format!("{}: {}", arg(), rejection(err, value)),
        },
        ErrorKind::MissingRequiredArgument => format!("{}: required but missing", arg()),
        ErrorKind::ArgumentConflict => {
            let arg = arg();
            match context(err, ContextKind::PriorArg).map(|p| flags_in(&p)) {
                Some(prior) if prior != arg => format!("{arg}: cannot be used with {prior}"),
                _ => format!("{arg}: given more than once"),
            }
        }
        ErrorKind::UnknownArgument => {
            let arg = arg();
            if arg.starts_with('-') {
                format!("{arg}: unknown flag")
            } else {
                // A stray word may be a PIN typed where it does not
                // belong (`approve ID 1234`): it is not repeated.
                "an unexpected argument (not shown, in case it is a PIN)".to_owned()
            }
        }
        ErrorKind::InvalidSubcommand => {
            let name = context(err, ContextKind::InvalidSubcommand).unwrap_or_default();
            format!("{name}: unknown subcommand")
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let parent =
                context(err, ContextKind::InvalidSubcommand).unwrap_or_else(|| "kaksik".into());
            match context(err, ContextKind::ValidSubcommand) {
                Some(valid) => format!("{parent}: a subcommand is required (one of: {valid})"),
                None => format!("{parent}: a subcommand is required"),
            }
        }
        _ => fallback(err),
    }
}

/// Why a value was refused: the core's reason when the core refused it
/// (its `FromStr` names the field in SK's spelling; the flag is named
/// already), otherwise the parser's own message.
fn rejection(err: &clap::Error, value: &str) -> String {
    match err.source() {
        Some(source) => match source.downcast_ref::<RpError>() {
            Some(rp) => rp.kind().to_string(),
            None => format!("{value:?}: {source}"),
        },
        None => match context(err, ContextKind::ValidValue) {
            Some(valid) => format!("invalid value {value:?} (expected one of: {valid})"),
            None => format!("invalid value {value:?}"),
        },
    }
}

/// A context value as plain text.
fn context(err: &clap::Error, kind: ContextKind) -> Option<String> {
    match err.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(list) => Some(list.join(", ")),
        other => Some(other.to_string()),
    }
}

/// The flag names in clap's rendering of arguments: `--digest <DIGEST>`
/// becomes `--digest`, a group `<--digest <D>|--rp-challenge <C>>` becomes
/// `--digest|--rp-challenge`. Text with no flag in it is kept as is.
fn flags_in(rendered: &str) -> String {
    let items: Vec<String> = rendered
        .split(", ")
        .map(|item| {
            let flags: Vec<&str> = item
                .split(|c: char| c.is_whitespace() || c == '|')
                .map(|token| token.trim_start_matches('<').trim_end_matches('>'))
                .filter(|token| token.starts_with('-'))
                .collect();
            if flags.is_empty() {
                item.to_owned()
            } else {
                flags.join("|")
            }
        })
        .collect();
    items.join(", ")
}

/// The first line of clap's own message, for kinds not handled above.
fn fallback(err: &clap::Error) -> String {
    let text = err.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stray_argument_is_not_repeated() {
        use clap::{CommandFactory as _, Parser};
        #[derive(Debug, Parser)]
        struct Approve {
            id: String,
        }
        let err = Approve::command()
            .try_get_matches_from(["approve", "tx", "2580"])
            .unwrap_err();
        let line = one_line(&err);
        assert!(line.starts_with("an unexpected argument"), "{line}");
        assert!(!line.contains("2580"), "{line}");
    }

    #[test]
    fn flags_are_extracted_from_clap_renderings() {
        assert_eq!(flags_in("--digest <DIGEST>"), "--digest");
        assert_eq!(
            flags_in("<--digest <DIGEST>|--rp-challenge <RP_CHALLENGE>>"),
            "--digest|--rp-challenge"
        );
        assert_eq!(
            flags_in("--scheme <SCHEME>, --lang <LANG>"),
            "--scheme, --lang"
        );
        assert_eq!(flags_in("rp"), "rp");
    }
}
