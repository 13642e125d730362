//! Verification codes: the four digits a user compares between the relying
//! party's screen and the phone.
//!
//! Owns the Smart-ID code formula (`int(SHA-256(x)[-2:]) mod 10000`), its two
//! named uses (the v2 digest code and the v3 authentication code of an
//! `rpChallenge`), and the three-code choice the app shows in
//! `confirmationMessageAndVerificationCodeChoice`. It does not decide which
//! flow needs a code: that is the session logic's job.

use std::fmt;
use std::str::FromStr;

use rand::{CryptoRng, RngExt};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Number of distinct codes: four decimal digits.
const CODE_SPACE: u16 = 10_000;

/// A four-digit verification code, `0000`–`9999`.
///
/// The invariant (value below 10 000) holds for every value of this type, so
/// `Display` always prints exactly four digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VerificationCode(u16);

/// Why a string or number is not a verification code.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum VcError {
    /// The number is 10 000 or more.
    #[error("verification code {0} is out of range (must be below 10000)")]
    OutOfRange(u16),
    /// The text is not exactly four ASCII digits.
    #[error("a verification code is exactly 4 ASCII digits")]
    NotFourDigits,
}

impl VerificationCode {
    /// The code with numeric value `value`, if it is below 10 000.
    pub fn new(value: u16) -> Result<Self, VcError> {
        if value < CODE_SPACE {
            Ok(Self(value))
        } else {
            Err(VcError::OutOfRange(value))
        }
    }

    /// The numeric value, `0..10000`.
    pub fn value(self) -> u16 {
        self.0
    }
}

impl fmt::Display for VerificationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl FromStr for VerificationCode {
    type Err = VcError;

    /// Accepts exactly four ASCII digits: no sign, no whitespace, no
    /// non-ASCII digits (`u16::from_str` alone would accept `+123`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 4 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(VcError::NotFourDigits);
        }
        let value = bytes
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        Self::new(value)
    }
}

/// The Smart-ID v2 verification code of a signing digest:
/// `int(SHA-256(digest)[-2:]) mod 10000`.
///
/// Kaksik's notification signing sends this code (PROTOCOL.md §6), so the
/// phone can recompute it from the digest it is about to sign.
pub fn digest_code(digest: &[u8]) -> VerificationCode {
    code_of(digest)
}

/// The Smart-ID v3 authentication verification code: the same formula as
/// [`digest_code`], over the raw (Base64-decoded) `rpChallenge` bytes.
pub fn rp_challenge_code(rp_challenge: &[u8]) -> VerificationCode {
    code_of(rp_challenge)
}

/// The one implementation behind both entry points.
fn code_of(data: &[u8]) -> VerificationCode {
    // A fixed-size array, so the constant indices are checked at compile
    // time: the last two bytes, big-endian.
    let hash: [u8; 32] = Sha256::digest(data).into();
    VerificationCode(u16::from_be_bytes([hash[30], hash[31]]) % CODE_SPACE)
}

/// Three distinct codes to show the user, one of them correct.
///
/// Built only by [`code_choice`] / [`code_choice_with`], so the codes are
/// always distinct and `correct` always indexes the right one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeChoice {
    codes: [VerificationCode; 3],
    correct: usize,
}

impl CodeChoice {
    /// The three codes, in display order.
    pub fn codes(&self) -> [VerificationCode; 3] {
        self.codes
    }

    /// Index (0, 1 or 2) of the correct code in [`CodeChoice::codes`].
    pub fn correct(&self) -> usize {
        self.correct
    }

    /// Whether the user picked the correct code.
    pub fn is_correct(&self, picked: VerificationCode) -> bool {
        self.codes.get(self.correct) == Some(&picked)
    }
}

/// A code choice for `correct`, using the thread-local CSPRNG.
pub fn code_choice(correct: VerificationCode) -> CodeChoice {
    code_choice_with(correct, &mut rand::rng())
}

/// A code choice for `correct`: the correct code at a uniformly random
/// position, the two decoys uniformly random among the other 9 999 codes and
/// distinct from each other.
///
/// The generator must be a CSPRNG: the choice exists to make the user
/// compare the phone with the RP's screen, and a predictable position would
/// let a habit ("always the first one"), or a phisher coaching the user,
/// pass without comparing.
pub fn code_choice_with<R: CryptoRng + ?Sized>(
    correct: VerificationCode,
    rng: &mut R,
) -> CodeChoice {
    let first = uniform_code_excluding(rng, &[correct.0]);
    let mut taken = [correct.0, first];
    taken.sort_unstable();
    let second = uniform_code_excluding(rng, &taken);

    let position: usize = rng.random_range(0..3);
    let codes = match position {
        0 => [correct.0, first, second],
        1 => [first, correct.0, second],
        _ => [first, second, correct.0],
    };
    CodeChoice {
        codes: codes.map(VerificationCode),
        correct: position,
    }
}

/// A uniformly random code that is not in `excluded` (sorted ascending,
/// distinct, each below 10 000).
///
/// Draws from a range shortened by `excluded.len()` and shifts past each
/// excluded value: exactly uniform and, unlike rejection sampling, always
/// one draw.
fn uniform_code_excluding<R: CryptoRng + ?Sized>(rng: &mut R, excluded: &[u16]) -> u16 {
    // At most two values are ever excluded, so the cast cannot truncate.
    let space = CODE_SPACE.saturating_sub(excluded.len() as u16);
    let mut code: u16 = rng.random_range(0..space);
    for &skip in excluded {
        if code >= skip {
            code += 1;
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn vc(value: u16) -> VerificationCode {
        VerificationCode::new(value).unwrap()
    }

    #[test]
    fn display_pads_to_four_digits() {
        assert_eq!(vc(7).to_string(), "0007");
        assert_eq!(vc(0).to_string(), "0000");
        assert_eq!(vc(9999).to_string(), "9999");
    }

    #[test]
    fn ten_thousand_is_not_a_code() {
        assert_eq!(
            VerificationCode::new(10_000),
            Err(VcError::OutOfRange(10_000))
        );
    }

    #[test]
    fn from_str_accepts_exactly_four_ascii_digits() {
        assert_eq!("0042".parse::<VerificationCode>(), Ok(vc(42)));
        for bad in ["42", "00042", "+042", " 042", "04 2", "abcd", "", "٠١٢٣"] {
            assert_eq!(
                bad.parse::<VerificationCode>(),
                Err(VcError::NotFourDigits),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn display_and_from_str_round_trip_every_code() {
        for value in 0..CODE_SPACE {
            let code = vc(value);
            assert_eq!(code.to_string().parse::<VerificationCode>(), Ok(code));
        }
    }

    #[test]
    fn digest_code_and_rp_challenge_code_are_the_same_formula() {
        let data = b"same bytes, two names";
        assert_eq!(digest_code(data), rp_challenge_code(data));
    }

    #[test]
    fn code_choice_has_three_distinct_codes_with_the_correct_one_marked() {
        let mut rng = StdRng::seed_from_u64(1);
        for value in [0, 1, 4242, 9998, 9999] {
            for _ in 0..200 {
                let choice = code_choice_with(vc(value), &mut rng);
                let [a, b, c] = choice.codes();
                assert!(a != b && b != c && a != c, "{choice:?}");
                assert_eq!(choice.codes()[choice.correct()], vc(value));
                assert!(choice.is_correct(vc(value)));
            }
        }
    }

    #[test]
    fn code_choice_puts_the_correct_code_at_each_position_about_equally_often() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut counts = [0u32; 3];
        let rounds = 30_000;
        for _ in 0..rounds {
            counts[code_choice_with(vc(1234), &mut rng).correct()] += 1;
        }
        // Expected 10 000 each, standard deviation about 82: 600 is > 7 sigma.
        for count in counts {
            assert!((9_400..=10_600).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn code_choice_decoys_cover_the_whole_code_space_evenly() {
        let mut rng = StdRng::seed_from_u64(3);
        // Bucket decoys by thousands: each bucket expects 10% of them.
        let mut buckets = [0u32; 10];
        let rounds = 20_000;
        for _ in 0..rounds {
            let choice = code_choice_with(vc(5000), &mut rng);
            for (i, code) in choice.codes().iter().enumerate() {
                if i != choice.correct() {
                    buckets[usize::from(code.value() / 1000)] += 1;
                }
            }
        }
        // 4 000 expected per bucket, standard deviation about 60.
        for count in buckets {
            assert!((3_600..=4_400).contains(&count), "{buckets:?}");
        }
    }

    #[test]
    fn uniform_code_excluding_never_returns_an_excluded_code() {
        let mut rng = StdRng::seed_from_u64(4);
        for _ in 0..10_000 {
            let code = uniform_code_excluding(&mut rng, &[0, 9999]);
            assert!(code != 0 && code != 9999 && code < CODE_SPACE);
        }
    }

    #[test]
    fn code_choice_with_thread_rng_works() {
        let choice = code_choice(vc(7));
        assert!(choice.is_correct(vc(7)));
    }
}
