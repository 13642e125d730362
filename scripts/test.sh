#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this script).
#
# Formatting and lints first (cheap, and they fail fast), then one build of
# every target so the test binaries link once, then every test. The test
# vectors are read from ../shared/vectors beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/vectors ]; then
    echo "error: ../shared/vectors not found beside the checkout; the tests read their vectors from it" >&2
    exit 1
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --all-targets --locked
cargo test --workspace --locked

# The bindings from Kotlin (host JVM) and Python, against a real server.
bash bindings/test-foreign.sh
