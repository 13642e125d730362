//! Named points where the server process can be made to die abruptly, so
//! that tests prove a crash there loses nothing (PROTOCOL.md §4: "a crash
//! on either side at any step resumes").
//!
//! `KAKSIK_CRASH_AT=<name>` in the environment arms one point; the process
//! then aborts (no unwinding, no destructors, no flushing: like `kill -9`)
//! the first time it reaches it. Unset, every point is a single comparison
//! against a value read once at start-up.

use std::sync::OnceLock;

/// After the refresh step that stores the pending share has committed,
/// before its answer is sent.
pub const AFTER_REFRESH_STEP_2: &str = "after-refresh-step-2";
/// After signing round 2 has committed (the RP's session is complete),
/// before its answer is sent.
pub const AFTER_SIGN_STEP_2: &str = "after-sign-step-2";

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var("KAKSIK_CRASH_AT").ok())
        .as_deref()
}

/// Aborts the process if `name` is the armed crash point.
pub fn reached(name: &str) {
    if armed() == Some(name) {
        tracing::error!(point = name, "KAKSIK_CRASH_AT reached: aborting");
        std::process::abort();
    }
}
