//! kaksik-tests: end-to-end tests of the whole system.
//!
//! It will own the tests that start a real `kaksik serve` on loopback over
//! real TLS with a real SQLite store and drive it with the real device client
//! and RP client, plus the fixtures they share. The host-JVM Kotlin and the
//! Python binding tests live beside it. Tests of one crate's own behaviour
//! stay in that crate.

/// Path of the shared test vectors (`../shared/vectors` beside the checkout).
pub fn vectors_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}
