//! The device client's errors as the CLI reports them: the PIN outcomes in
//! the words a person acts on (`wrong PIN, 2 attempts left`, `locked
//! until …`), a broken input rule as an input error (status 2), the rest
//! as the core words it (status 1).

use kaksik_core::client::ClientError;

use crate::cli_error::CliError;
use crate::console::utc;

/// `error` as one CLI error line. The core's messages never carry a PIN
/// or any other secret (`ClientError`'s contract).
pub fn client_error(error: ClientError) -> CliError {
    match error {
        ClientError::WrongPin { attempts_left: 1 } => CliError::failed("wrong PIN, 1 attempt left"),
        ClientError::WrongPin { attempts_left } => {
            CliError::failed(format!("wrong PIN, {attempts_left} attempts left"))
        }
        ClientError::Locked { until } => CliError::failed(format!("locked until {}", utc(until))),
        ClientError::InvalidInput { reason } => CliError::Invalid(reason),
        ClientError::NotRegistered => CliError::failed(
            "no account is registered in this home; finish `kaksik device … register` first",
        ),
        other => CliError::failed(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_outcomes_read_as_a_person_acts_on_them() {
        let wrong = client_error(ClientError::WrongPin { attempts_left: 2 });
        assert_eq!(wrong.to_string(), "wrong PIN, 2 attempts left");
        assert_eq!(wrong.exit_code(), std::process::ExitCode::from(1));
        let locked = client_error(ClientError::Locked { until: 0 });
        assert_eq!(locked.to_string(), "locked until 1970-01-01T00:00:00Z");
    }

    #[test]
    fn a_broken_rule_is_an_input_error() {
        let error = client_error(ClientError::InvalidInput {
            reason: "PIN1 must be 4 to 12 digits".into(),
        });
        assert_eq!(error.exit_code(), std::process::ExitCode::from(2));
        assert_eq!(error.to_string(), "PIN1 must be 4 to 12 digits");
    }
}
