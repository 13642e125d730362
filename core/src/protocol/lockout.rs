//! PIN attempt counting and lockout (PROTOCOL.md §3), as pure functions of
//! a key's counters and the time: the server enforces them, the phone uses
//! them to tell the person how many attempts are left, and both read the
//! same thresholds from here.
//!
//! `failed_attempts` counts evaluations the device has not proven right.
//! It is incremented, durably, before an evaluation is returned, and reset
//! only by an unlock proof or a verified co-signature. So a guess always
//! costs an attempt, whether or not the device reports the outcome.
//!
//! - 3 unproven attempts in a row → locked for 3 hours after the third;
//! - 6 → locked for 24 hours after the sixth;
//! - 9 → the key is disabled for good and its certificate revoked.

/// Attempts after which the key locks for [`FIRST_LOCK_SECONDS`].
pub const FIRST_LOCK_AT: u32 = 3;
/// Attempts after which the key locks for [`SECOND_LOCK_SECONDS`].
pub const SECOND_LOCK_AT: u32 = 6;
/// Attempts after which the key is disabled.
pub const DISABLE_AT: u32 = 9;
/// 3 hours.
pub const FIRST_LOCK_SECONDS: i64 = 3 * 3600;
/// 24 hours.
pub const SECOND_LOCK_SECONDS: i64 = 24 * 3600;

/// What the counters say about the next evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// An evaluation may be served.
    Open,
    /// Locked until this Unix time.
    Locked {
        /// End of the lock.
        until: i64,
    },
    /// Nine unproven attempts: disable the key and revoke its certificate.
    Disable,
}

/// Decides whether a key with `failed_attempts` unproven attempts, the
/// last at `last_failed_at`, may be evaluated at `now`.
pub fn gate(failed_attempts: u32, last_failed_at: Option<i64>, now: i64) -> Gate {
    // A lock starts at the attempt that reaches a threshold and runs from
    // that attempt's time; the attempts after it (4th, 5th, 7th, 8th) need
    // no wait once it is over.
    let lock = match failed_attempts {
        n if n >= DISABLE_AT => return Gate::Disable,
        SECOND_LOCK_AT => SECOND_LOCK_SECONDS,
        FIRST_LOCK_AT => FIRST_LOCK_SECONDS,
        _ => return Gate::Open,
    };
    match last_failed_at {
        Some(at) if now < at.saturating_add(lock) => Gate::Locked {
            until: at.saturating_add(lock),
        },
        _ => Gate::Open,
    }
}

/// Attempts left before the next lock or the disabling, for the app to
/// show after a wrong PIN.
pub fn attempts_before_next_lock(failed_attempts: u32) -> u32 {
    [FIRST_LOCK_AT, SECOND_LOCK_AT, DISABLE_AT]
        .into_iter()
        .find(|&threshold| threshold > failed_attempts)
        .map_or(0, |threshold| threshold - failed_attempts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_wrong_pins_do_not_lock() {
        assert_eq!(gate(2, Some(100), 101), Gate::Open);
    }

    #[test]
    fn three_wrong_pins_lock_for_three_hours() {
        assert_eq!(
            gate(3, Some(100), 101),
            Gate::Locked {
                until: 100 + 3 * 3600
            }
        );
        assert_eq!(gate(3, Some(100), 100 + 3 * 3600), Gate::Open);
    }

    #[test]
    fn the_fourth_and_fifth_attempts_need_no_wait_after_the_lock() {
        assert_eq!(gate(4, Some(100), 101), Gate::Open);
        assert_eq!(gate(5, Some(100), 101), Gate::Open);
        assert_eq!(gate(7, Some(100), 101), Gate::Open);
    }

    #[test]
    fn six_wrong_pins_lock_for_twenty_four_hours() {
        assert_eq!(
            gate(6, Some(0), 3 * 3600),
            Gate::Locked { until: 24 * 3600 }
        );
        assert_eq!(gate(6, Some(0), 24 * 3600), Gate::Open);
    }

    #[test]
    fn nine_wrong_pins_disable_the_key() {
        assert_eq!(gate(9, Some(0), 10 * 24 * 3600), Gate::Disable);
    }

    #[test]
    fn attempts_left_count_down_to_each_threshold() {
        let left: Vec<u32> = (0..10).map(attempts_before_next_lock).collect();
        assert_eq!(left, [3, 2, 1, 3, 2, 1, 3, 2, 1, 0]);
    }
}
