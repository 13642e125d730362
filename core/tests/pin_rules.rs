//! The PIN rules, one behaviour per test: lengths per kind, digits only, no
//! repeated digit, no straight run (without wrap-around), PIN2 ≠ PIN1, and
//! no PIN ever shown by an error or a `Debug`.

use kaksik_core::pin::{MAX_PIN_LEN, Pin, PinError, PinKind, check_pair};
use kaksik_core::role::KeyRole;
use proptest::prelude::*;

use PinKind::{Pin1, Pin2};

/// Shared helpers.
#[cfg(test)]
mod fixture {
    use super::*;

    pub fn accepts(kind: PinKind, digits: &str) -> bool {
        Pin::parse(kind, digits).is_ok()
    }

    pub fn refusal(kind: PinKind, digits: &str) -> PinError {
        match Pin::parse(kind, digits) {
            Ok(_) => panic!("{kind} {digits:?} was accepted"),
            Err(err) => err,
        }
    }
}

use fixture::{accepts, refusal};

#[test]
fn pin1_may_have_four_digits() {
    assert!(accepts(Pin1, "2580"));
}

#[test]
fn pin1_of_three_digits_is_too_short() {
    assert_eq!(
        refusal(Pin1, "258"),
        PinError::TooShort { kind: Pin1, min: 4 }
    );
}

#[test]
fn pin2_of_four_digits_is_too_short() {
    assert_eq!(
        refusal(Pin2, "2580"),
        PinError::TooShort { kind: Pin2, min: 5 }
    );
}

#[test]
fn pin2_may_have_five_digits() {
    assert!(accepts(Pin2, "25801"));
}

#[test]
fn both_pins_may_have_twelve_digits() {
    assert!(accepts(Pin1, "258025802580"));
    assert!(accepts(Pin2, "258025802580"));
}

#[test]
fn thirteen_digits_are_too_long() {
    assert_eq!(
        refusal(Pin1, "2580258025802"),
        PinError::TooLong {
            kind: Pin1,
            max: 12
        }
    );
    assert_eq!(
        refusal(Pin2, "2580258025802"),
        PinError::TooLong {
            kind: Pin2,
            max: 12
        }
    );
}

#[test]
fn an_empty_pin_is_too_short() {
    assert_eq!(refusal(Pin1, ""), PinError::TooShort { kind: Pin1, min: 4 });
}

#[test]
fn letters_are_not_digits() {
    assert_eq!(refusal(Pin1, "25a0"), PinError::NotDigits);
}

#[test]
fn whitespace_is_not_a_digit() {
    assert_eq!(refusal(Pin1, "2580 "), PinError::NotDigits);
    assert_eq!(refusal(Pin1, " 2580"), PinError::NotDigits);
}

#[test]
fn non_ascii_digits_are_not_digits() {
    // Arabic-Indic and full-width digits: a keyboard may offer them, the
    // gate must not depend on how the platform normalises them.
    assert_eq!(refusal(Pin1, "٢٥٨٠"), PinError::NotDigits);
    assert_eq!(refusal(Pin1, "２５８０"), PinError::NotDigits);
}

#[test]
fn a_nul_byte_is_not_a_digit() {
    assert_eq!(Pin::new(Pin1, b"2580\0").err(), Some(PinError::NotDigits));
}

#[test]
fn a_single_repeated_digit_is_refused() {
    assert_eq!(refusal(Pin1, "1111"), PinError::RepeatedDigit);
    assert_eq!(refusal(Pin2, "00000"), PinError::RepeatedDigit);
    assert_eq!(refusal(Pin1, "999999999999"), PinError::RepeatedDigit);
}

#[test]
fn an_ascending_run_is_refused() {
    assert_eq!(refusal(Pin1, "1234"), PinError::Sequence);
    assert_eq!(refusal(Pin1, "0123"), PinError::Sequence);
    assert_eq!(refusal(Pin2, "56789"), PinError::Sequence);
}

#[test]
fn a_descending_run_is_refused() {
    assert_eq!(refusal(Pin1, "3210"), PinError::Sequence);
    assert_eq!(refusal(Pin2, "98765"), PinError::Sequence);
}

#[test]
fn runs_do_not_wrap_around_from_nine_to_zero() {
    assert!(accepts(Pin1, "8901"));
    assert!(accepts(Pin1, "7890"));
    assert!(accepts(Pin1, "1098"));
    assert!(accepts(Pin2, "90123"));
}

#[test]
fn a_run_broken_by_one_digit_is_accepted() {
    assert!(accepts(Pin1, "1235"));
    assert!(accepts(Pin1, "1123"));
    assert!(accepts(Pin2, "98764"));
}

#[test]
fn pin2_equal_to_pin1_is_refused() {
    let pin1 = Pin::parse(Pin1, "25801").unwrap();
    let pin2 = Pin::parse(Pin2, "25801").unwrap();
    assert_eq!(check_pair(&pin1, &pin2), Err(PinError::SameAsPin1));
}

#[test]
fn pin2_different_from_pin1_is_accepted() {
    let pin1 = Pin::parse(Pin1, "2580").unwrap();
    let pin2 = Pin::parse(Pin2, "25801").unwrap();
    assert_eq!(check_pair(&pin1, &pin2), Ok(()));
}

#[test]
fn the_pin_kind_follows_the_key_role() {
    assert_eq!(PinKind::from(KeyRole::Auth), Pin1);
    assert_eq!(PinKind::from(KeyRole::Sign), Pin2);
    assert_eq!(Pin1.role(), KeyRole::Auth);
    assert_eq!(Pin2.role(), KeyRole::Sign);
}

#[test]
fn an_accepted_pin_exposes_its_digits_and_kind() {
    let pin = Pin::new(Pin2, b"25801").unwrap();
    assert_eq!(pin.expose(), b"25801");
    assert_eq!(pin.kind(), Pin2);
}

#[test]
fn debug_of_a_pin_shows_neither_digits_nor_length() {
    let pin = Pin::parse(Pin1, "258025").unwrap();
    assert_eq!(
        format!("{pin:?}"),
        r#"Pin { kind: Pin1, digits: "[REDACTED]" }"#
    );
}

#[test]
fn error_messages_never_contain_the_pin() {
    let cases = [
        (Pin1, "258"),
        (Pin1, "2580258025802"),
        (Pin1, "25a8"),
        (Pin1, "7777"),
        (Pin1, "6789"),
    ];
    for (kind, digits) in cases {
        let err = refusal(kind, digits);
        assert!(!err.to_string().contains(digits), "{err}");
        assert!(!format!("{err:?}").contains(digits), "{err:?}");
    }
}

/// An independent statement of the rules, to hold the implementation to.
fn satisfies_rules(kind: PinKind, digits: &[u8]) -> bool {
    let min = match kind {
        Pin1 => 4,
        Pin2 => 5,
    };
    let steps: Vec<i16> = digits
        .windows(2)
        .map(|w| i16::from(w[1]) - i16::from(w[0]))
        .collect();
    digits.iter().all(u8::is_ascii_digit)
        && (min..=MAX_PIN_LEN).contains(&digits.len())
        && !steps.iter().all(|&s| s == 0)
        && !steps.iter().all(|&s| s == 1)
        && !steps.iter().all(|&s| s == -1)
}

fn kind() -> impl Strategy<Value = PinKind> {
    prop_oneof![Just(Pin1), Just(Pin2)]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_accepted_pins_obey_every_rule(
        kind in kind(),
        bytes in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let accepted = Pin::new(kind, &bytes).is_ok();
        prop_assert_eq!(accepted, satisfies_rules(kind, &bytes));
    }

    #[test]
    fn digit_strings_are_accepted_exactly_when_they_obey_every_rule(
        kind in kind(),
        digits in "[0-9]{0,14}",
    ) {
        let accepted = Pin::parse(kind, &digits).is_ok();
        prop_assert_eq!(accepted, satisfies_rules(kind, digits.as_bytes()));
    }
}
