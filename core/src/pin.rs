//! The PIN rules: what a PIN1 or PIN2 may be, checked once when the person
//! chooses it.
//!
//! This module owns the [`Pin`] type and its validation. It does not own
//! what a PIN unlocks: the PIN only ever enters the OPRF of the PIN gate
//! ([`crate::crypto::vault::pin_input`]), so these rules are about making
//! online guessing, capped by the server's attempt counter, hopeless — not
//! about offline strength, which the gate makes irrelevant.
//!
//! Rules:
//!
//! - PIN1 (authentication key) has 4–12 digits, PIN2 (signing key) 5–12;
//!   ASCII `0`–`9` only.
//! - No PIN made of one repeated digit (`1111`).
//! - No straight run, ascending or descending (`1234`, `0123`, `98765`,
//!   `3210`). Runs do not wrap around: `8901` and `1098` are accepted,
//!   because a keypad does not wrap either and rejecting them would only
//!   shrink the space of PINs people may choose.
//! - PIN2 differs from PIN1 ([`check_pair`]), so seeing one PIN typed does
//!   not give away the other key.
//!
//! Validation runs on the device while the person types a new PIN, so it is
//! not constant-time; only the PIN1/PIN2 comparison is, because it compares
//! two secrets with each other.

use std::fmt;

use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::crypto::secret::SecretBytes;
use crate::role::KeyRole;

/// The longest PIN of either kind, in digits.
pub const MAX_PIN_LEN: usize = 12;

/// Which PIN: PIN1 unlocks the authentication key, PIN2 the signing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinKind {
    /// Unlocks [`KeyRole::Auth`]; 4–12 digits.
    Pin1,
    /// Unlocks [`KeyRole::Sign`]; 5–12 digits.
    Pin2,
}

impl PinKind {
    /// The fewest digits a PIN of this kind may have.
    pub const fn min_len(self) -> usize {
        match self {
            PinKind::Pin1 => 4,
            PinKind::Pin2 => 5,
        }
    }

    /// The most digits a PIN of this kind may have.
    pub const fn max_len(self) -> usize {
        MAX_PIN_LEN
    }

    /// The key this PIN unlocks.
    pub const fn role(self) -> KeyRole {
        match self {
            PinKind::Pin1 => KeyRole::Auth,
            PinKind::Pin2 => KeyRole::Sign,
        }
    }
}

impl From<KeyRole> for PinKind {
    fn from(role: KeyRole) -> Self {
        match role {
            KeyRole::Auth => PinKind::Pin1,
            KeyRole::Sign => PinKind::Pin2,
        }
    }
}

impl fmt::Display for PinKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinKind::Pin1 => "PIN1",
            PinKind::Pin2 => "PIN2",
        })
    }
}

/// Why a PIN was refused. Says which rule failed, never what the PIN was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum PinError {
    /// Fewer digits than the kind allows.
    #[error("{kind} must have at least {min} digits")]
    TooShort {
        /// The PIN being checked.
        kind: PinKind,
        /// Its minimum length.
        min: usize,
    },
    /// More digits than the kind allows.
    #[error("{kind} must have at most {max} digits")]
    TooLong {
        /// The PIN being checked.
        kind: PinKind,
        /// Its maximum length.
        max: usize,
    },
    /// Something other than the ASCII digits `0`–`9`.
    #[error("a PIN may contain only the digits 0-9")]
    NotDigits,
    /// Every digit is the same.
    #[error("a PIN may not repeat a single digit")]
    RepeatedDigit,
    /// The digits form a straight ascending or descending run.
    #[error("a PIN may not be a run of consecutive digits")]
    Sequence,
    /// PIN2 is the same as PIN1.
    #[error("PIN2 must differ from PIN1")]
    SameAsPin1,
}

/// A PIN that passed the rules of its kind. Its digits are wiped on drop
/// and never printed.
///
/// Deliberately not `Clone`: every copy of a PIN is one more thing to wipe.
pub struct Pin {
    kind: PinKind,
    digits: SecretBytes,
}

impl Pin {
    /// Checks `digits` (ASCII, as they cross the FFI) against the rules of
    /// `kind` and keeps a zeroizing copy. The caller wipes its own buffer.
    ///
    /// # Errors
    ///
    /// The first rule that fails, in the order: [`PinError::NotDigits`],
    /// [`PinError::TooShort`], [`PinError::TooLong`],
    /// [`PinError::RepeatedDigit`], [`PinError::Sequence`].
    pub fn new(kind: PinKind, digits: &[u8]) -> Result<Self, PinError> {
        check_rules(kind, digits)?;
        Ok(Self {
            kind,
            digits: SecretBytes::from_slice(digits),
        })
    }

    /// [`Pin::new`] for a PIN held as text (the CLI, tests).
    ///
    /// # Errors
    ///
    /// As [`Pin::new`].
    pub fn parse(kind: PinKind, digits: &str) -> Result<Self, PinError> {
        Self::new(kind, digits.as_bytes())
    }

    /// Which PIN this is.
    pub fn kind(&self) -> PinKind {
        self.kind
    }

    /// The ASCII digits. Keep the borrow short: they go straight into
    /// [`crate::crypto::vault::pin_input`].
    pub fn expose(&self) -> &[u8] {
        self.digits.expose()
    }
}

impl fmt::Debug for Pin {
    // Neither the digits nor their number: the length narrows a guess too.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pin")
            .field("kind", &self.kind)
            .field("digits", &"[REDACTED]")
            .finish()
    }
}

/// Refuses a PIN2 equal to PIN1. The comparison is constant-time for PINs
/// of equal length; different lengths are unequal at once (the length of a
/// PIN the person has just typed is not worth hiding from themselves).
///
/// # Errors
///
/// [`PinError::SameAsPin1`] when the digits are equal.
pub fn check_pair(pin1: &Pin, pin2: &Pin) -> Result<(), PinError> {
    if bool::from(pin1.expose().ct_eq(pin2.expose())) {
        return Err(PinError::SameAsPin1);
    }
    Ok(())
}

fn check_rules(kind: PinKind, digits: &[u8]) -> Result<(), PinError> {
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(PinError::NotDigits);
    }
    if digits.len() < kind.min_len() {
        return Err(PinError::TooShort {
            kind,
            min: kind.min_len(),
        });
    }
    if digits.len() > kind.max_len() {
        return Err(PinError::TooLong {
            kind,
            max: kind.max_len(),
        });
    }
    if every_step_is(digits, 0) {
        return Err(PinError::RepeatedDigit);
    }
    if every_step_is(digits, 1) || every_step_is(digits, -1) {
        return Err(PinError::Sequence);
    }
    Ok(())
}

/// Whether each digit is the previous one plus `step` (no wrap-around).
fn every_step_is(digits: &[u8], step: i16) -> bool {
    digits
        .windows(2)
        .all(|pair| matches!(pair, [a, b] if i16::from(*b) - i16::from(*a) == step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_measured_between_neighbours_only() {
        assert!(every_step_is(b"1234", 1));
        assert!(every_step_is(b"4321", -1));
        assert!(every_step_is(b"7777", 0));
        assert!(!every_step_is(b"1235", 1));
        assert!(!every_step_is(b"8901", 1));
    }
}
