//! Reading PINs: without echo from the terminal when standard input is
//! one, otherwise one PIN per line from standard input (scripts, tests).
//! Never from a flag or the environment, where other users and shell
//! histories would see them.
//!
//! Every PIN lives in a [`Zeroizing`] buffer from the moment it is read.
//! Standard input is read through an unbuffered duplicate of its file
//! descriptor, one byte at a time: the standard library's stdin buffer
//! would keep a copy of the PIN (and of the next ones) that nothing wipes.
//! The terminal path goes through `rpassword`, whose `String` is moved
//! into a zeroizing buffer at once.

use std::fs::File;
use std::io::{self, IsTerminal as _, Read};

use zeroize::Zeroizing;

use crate::cli_error::CliError;

/// Longest line accepted as a PIN, newline excluded. PINs have at most 12
/// digits; a longer line is a mistake (the wrong file piped in), refused
/// before it is read further.
const MAX_LINE: usize = 64;

/// A PIN as typed: ASCII digits if the person followed the rules (the
/// core checks them).
pub type PinBytes = Zeroizing<Vec<u8>>;

/// Where PINs come from for this process.
pub struct PinReader {
    source: Source,
}

enum Source {
    /// A no-echo prompt on the controlling terminal.
    Terminal,
    /// One PIN per line.
    Lines(Box<dyn Read>),
}

impl PinReader {
    /// The terminal when standard input is one, else standard input's
    /// lines.
    pub fn from_stdin() -> Result<Self, CliError> {
        if io::stdin().is_terminal() {
            return Ok(Self {
                source: Source::Terminal,
            });
        }
        let stdin = unbuffered_stdin()
            .map_err(|e| CliError::failed(format!("cannot read standard input: {e}")))?;
        Ok(Self::from_lines(stdin))
    }

    /// A reader of one PIN per line of `input`.
    pub fn from_lines(input: impl Read + 'static) -> Self {
        Self {
            source: Source::Lines(Box::new(input)),
        }
    }

    /// Reads `name` (`PIN1`, `PIN2`) once.
    pub fn read(&mut self, name: &str) -> Result<PinBytes, CliError> {
        self.read_prompted(name, &format!("{name}: "))
    }

    /// Reads a new `name` twice and returns it if both entries match; a
    /// mismatch is an input error and nothing is sent.
    pub fn read_new(&mut self, name: &str) -> Result<PinBytes, CliError> {
        let first = self.read_prompted(name, &format!("new {name}: "))?;
        let second = self.read_prompted(name, &format!("{name} again: "))?;
        if first.as_slice() == second.as_slice() {
            Ok(first)
        } else {
            Err(CliError::Invalid(format!(
                "the two {name} entries differ; nothing was sent"
            )))
        }
    }

    fn read_prompted(&mut self, name: &str, prompt: &str) -> Result<PinBytes, CliError> {
        match &mut self.source {
            Source::Terminal => match rpassword::prompt_password(prompt) {
                // Moves the buffer: no unwiped copy.
                Ok(typed) => Ok(Zeroizing::new(typed.into_bytes())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    Err(CliError::failed("cancelled"))
                }
                Err(e) => Err(CliError::failed(format!(
                    "cannot read {name} from the terminal: {e}"
                ))),
            },
            Source::Lines(input) => read_line(input.as_mut(), name),
        }
    }
}

/// One line of `input` without its line ending (`\n` or `\r\n`), read a
/// byte at a time so that nothing past it is consumed.
fn read_line(input: &mut dyn Read, name: &str) -> Result<PinBytes, CliError> {
    // Allocated once at its largest size: growing would leave unwiped
    // copies behind.
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_LINE + 1));
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) if line.is_empty() => {
                return Err(CliError::Invalid(format!(
                    "standard input ended before {name} was given (one PIN per line)"
                )));
            }
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if line.len() == MAX_LINE => {
                return Err(CliError::Invalid(format!(
                    "{name}: the line is too long for a PIN"
                )));
            }
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(CliError::failed(format!(
                    "cannot read {name} from standard input: {e}"
                )));
            }
        }
    }
    byte.fill(0);
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// Standard input as an unbuffered file: a duplicate of its descriptor,
/// sharing its position, so each PIN read leaves the rest of the input
/// where it was.
#[cfg(unix)]
fn unbuffered_stdin() -> io::Result<File> {
    use std::os::fd::AsFd as _;
    Ok(File::from(io::stdin().as_fd().try_clone_to_owned()?))
}

/// See the Unix version.
#[cfg(windows)]
fn unbuffered_stdin() -> io::Result<File> {
    use std::os::windows::io::AsHandle as _;
    Ok(File::from(io::stdin().as_handle().try_clone_to_owned()?))
}

/// See the Unix version.
#[cfg(not(any(unix, windows)))]
fn unbuffered_stdin() -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "PINs from standard input need Unix or Windows",
    ))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn reader(text: &str) -> PinReader {
        PinReader::from_lines(Cursor::new(text.as_bytes().to_vec()))
    }

    #[test]
    fn one_pin_per_line_with_only_the_line_ending_removed() {
        let mut pins = reader("2580\n 14703 \r\n9999");
        assert_eq!(pins.read("PIN1").unwrap().as_slice(), b"2580");
        assert_eq!(pins.read("PIN2").unwrap().as_slice(), b" 14703 ");
        assert_eq!(pins.read("PIN1").unwrap().as_slice(), b"9999");
        let ended = pins.read("PIN2").unwrap_err();
        assert!(matches!(ended, CliError::Invalid(_)), "{ended:?}");
        assert!(ended.to_string().contains("PIN2"), "{ended}");
    }

    #[test]
    fn a_new_pin_must_be_typed_the_same_twice() {
        assert_eq!(
            reader("2580\n2580\n").read_new("PIN1").unwrap().as_slice(),
            b"2580"
        );
        let differ = reader("2580\n2581\n").read_new("PIN1").unwrap_err();
        assert!(matches!(differ, CliError::Invalid(_)), "{differ:?}");
        assert!(!differ.to_string().contains("258"), "{differ}");
    }

    #[test]
    fn an_empty_line_is_an_empty_pin_for_the_rules_to_refuse() {
        assert!(reader("\n").read("PIN1").unwrap().is_empty());
    }

    #[test]
    fn an_overlong_line_is_refused_without_echoing_it() {
        let long = "7".repeat(MAX_LINE + 1);
        let error = reader(&long).read("PIN1").unwrap_err();
        assert!(matches!(error, CliError::Invalid(_)), "{error:?}");
        assert!(!error.to_string().contains("777"), "{error}");
    }
}
