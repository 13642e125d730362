//! The app's log sink: the core's `tracing` events, forwarded to a
//! foreign [`LogSink`] (Logcat, `os_log`, Python's `logging`).
//!
//! [`set_log_sink`] installs one process-wide `tracing` subscriber the
//! first time it is called and only swaps the sink and its level after
//! that, so an app may call it again (a new level from a debug menu).
//!
//! What is forwarded: every event of Kaksik's own crates up to the chosen
//! level, and events of the dependencies (HTTP, TLS, the runtime) up to
//! `INFO` at most, since their debug and trace events describe buffers
//! and connections that nobody here has vetted for secrets. Kaksik's own
//! events never carry a secret (PINs, shares, keys and tokens are in
//! redacting types). Events that the sink itself causes (a sink that calls
//! back into Kaksik) are dropped rather than looped.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::Registry;

use crate::error::{KaksikError, PlatformError};

/// How much to log, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Failures.
    Error,
    /// Something went wrong and was handled (a retry, a fallback).
    Warn,
    /// The steps of each flow.
    Info,
    /// Detail for debugging.
    Debug,
    /// Everything.
    Trace,
}

/// Where log lines go: the app's logger. Called from background threads;
/// must not block for long. Whatever it throws is ignored.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    /// One event: its level, its target (the Rust module, e.g.
    /// `kaksik_core::client::transactions`) and its text with its fields.
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<(), PlatformError>;
}

/// The most a dependency (not a Kaksik crate) may log: their debug and
/// trace events are not vetted for secrets (module doc).
const DEPENDENCY_MAX: LogLevel = LogLevel::Info;

struct Installed {
    sink: Arc<dyn LogSink>,
    max_level: LogLevel,
}

static SINK: RwLock<Option<Installed>> = RwLock::new(None);
/// Whether this library's subscriber became the process's global one.
static SUBSCRIBER: OnceLock<bool> = OnceLock::new();

thread_local! {
    /// Set while this thread is inside the sink.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// Sends Kaksik's log events at `max_level` and above to `sink` from now
/// on, replacing any sink set before.
///
/// Throws `Internal` if another `tracing` subscriber was installed in
/// this process first (only possible when Kaksik is linked with other
/// Rust code that installs one); the sink is kept but receives nothing.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) -> Result<(), KaksikError> {
    *SINK.write().unwrap_or_else(PoisonError::into_inner) = Some(Installed { sink, max_level });
    let installed = *SUBSCRIBER.get_or_init(|| {
        tracing::subscriber::set_global_default(Registry::default().with(ForwardToSink)).is_ok()
    });
    if installed {
        Ok(())
    } else {
        Err(KaksikError::Internal {
            reason: "another tracing subscriber was installed in this process first".into(),
        })
    }
}

/// The layer that hands events to the installed sink.
struct ForwardToSink;

impl<S: Subscriber> Layer<S> for ForwardToSink {
    fn register_callsite(
        &self,
        _metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // The level can change at any time: ask `enabled` at every event
        // instead of caching a decision per callsite.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _context: Context<'_, S>) -> bool {
        let sink = SINK.read().unwrap_or_else(PoisonError::into_inner);
        sink.as_ref()
            .is_some_and(|installed| passes(metadata, installed.max_level))
    }

    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        if IN_SINK.with(Cell::get) {
            return;
        }
        let sink = {
            let installed = SINK.read().unwrap_or_else(PoisonError::into_inner);
            match installed.as_ref() {
                Some(installed) if passes(event.metadata(), installed.max_level) => {
                    Arc::clone(&installed.sink)
                }
                _ => return,
            }
        };
        let metadata = event.metadata();
        let mut message = Message::default();
        event.record(&mut message);
        IN_SINK.with(|flag| flag.set(true));
        // A sink that fails has nowhere to report it; the event is lost.
        let _ = sink.log(
            level_of(*metadata.level()),
            metadata.target().to_owned(),
            message.text,
        );
        IN_SINK.with(|flag| flag.set(false));
    }
}

/// Whether an event of `metadata` is forwarded at `max_level`.
fn passes(metadata: &Metadata<'_>, max_level: LogLevel) -> bool {
    let max = if is_kaksik(metadata.target()) {
        max_level
    } else {
        max_level.min(DEPENDENCY_MAX)
    };
    level_of(*metadata.level()) <= max
}

fn is_kaksik(target: &str) -> bool {
    target.starts_with("kaksik_")
}

fn level_of(level: Level) -> LogLevel {
    match level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    }
}

/// An event's text: its message, then its other fields as `name=value`.
#[derive(Default)]
struct Message {
    text: String,
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let separator = if self.text.is_empty() { "" } else { " " };
        // Writing to a String cannot fail.
        let _ = if field.name() == "message" {
            write!(self.text, "{separator}{value:?}")
        } else {
            write!(self.text, "{separator}{}={value:?}", field.name())
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Lines(Mutex<Vec<(LogLevel, String, String)>>);

    impl LogSink for Lines {
        fn log(
            &self,
            level: LogLevel,
            target: String,
            message: String,
        ) -> Result<(), PlatformError> {
            self.0.lock().unwrap().push((level, target, message));
            Ok(())
        }
    }

    // One test for the whole process-wide subscriber: tests run in
    // parallel threads and the subscriber is global.
    #[test]
    fn events_reach_the_sink_filtered_by_level_and_origin() {
        let lines = Arc::new(Lines::default());
        set_log_sink(lines.clone(), LogLevel::Debug).unwrap();

        tracing::debug!(target: "kaksik_core::client", attempts = 2, "wrong PIN");
        tracing::trace!(target: "kaksik_core::client", "too detailed");
        tracing::debug!(target: "hyper::proto", "a dependency's debug event");
        tracing::warn!(target: "hyper::proto", "a dependency's warning");

        let seen = lines.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (
                    LogLevel::Debug,
                    "kaksik_core::client".to_owned(),
                    "wrong PIN attempts=2".to_owned()
                ),
                (
                    LogLevel::Warn,
                    "hyper::proto".to_owned(),
                    "a dependency's warning".to_owned()
                ),
            ]
        );

        // A second call swaps the sink and its level.
        let quieter = Arc::new(Lines::default());
        set_log_sink(quieter.clone(), LogLevel::Warn).unwrap();
        tracing::info!(target: "kaksik_core::client", "not at WARN");
        tracing::error!(target: "kaksik_core::client", "failed");
        assert_eq!(quieter.0.lock().unwrap().len(), 1);
    }
}
