//! Time, injectable: every deadline on the server (PIN locks, session
//! timeouts, enrolment expiry, request timestamps) reads this clock, so
//! tests can move time forward instead of sleeping through a 24-hour lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time in Unix seconds.
pub trait Clock: Send + Sync + 'static {
    /// Now, Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// The system clock shifted by an adjustable offset, for tests: the server
/// runs in real time, and a test jumps it forward past a lock.
#[derive(Debug, Default, Clone)]
pub struct OffsetClock {
    offset: Arc<AtomicI64>,
}

impl OffsetClock {
    /// A clock at real time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves this clock (and every clone of it) forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> i64 {
        SystemClock.now() + self.offset.load(Ordering::SeqCst)
    }
}
