//! Output that cannot wait for the command to end: the codes a person
//! reads out or compares (registration code, verification code) and the
//! "waiting" lines of long-running commands. Everything else a command
//! prints goes through the string it returns to `main`.

use std::io::Write as _;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli_error::CliError;

/// Writes `line` and a newline to stdout at once, flushed: another
/// program (or a person) is waiting for it while the command goes on.
pub fn say(line: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(CliError::Output)
}

/// A Unix time as RFC 3339 UTC (`2025-01-31T12:00:00Z`), or the number
/// itself if it is out of the calendar's range.
pub fn utc(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix_seconds.to_string())
}

/// Now, Unix seconds. A clock before 1970 counts as 0; every check that
/// uses it (certificate validity) then fails safely.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(i64::MAX), i64::MAX.to_string());
    }
}
