#!/usr/bin/env bash
# The binding tests in the foreign languages (scripts/test.sh runs this
# after the Rust tests): the generated Kotlin on the host JVM (Maven,
# JUnit 5, JNA) and the generated Python (pytest), each driving the
# library against a real `kaksik serve` with `kaksik rp` as the relying
# party.
#
#   bash bindings/test-foreign.sh
#
# Needs java 17+, mvn, python3 with pytest and cryptography.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in java mvn python3; do
    if ! command -v "$tool" > /dev/null; then
        echo "error: $tool not found; the binding tests need java 17+, maven and python3" >&2
        exit 1
    fi
done
if ! python3 -c 'import pytest, cryptography' 2> /dev/null; then
    echo "error: python3 needs pytest and cryptography (pip install pytest cryptography)" >&2
    exit 1
fi

TARGET_DIR=${CARGO_TARGET_DIR:-target}
TARGET_DIR=$(mkdir -p "$TARGET_DIR" && cd "$TARGET_DIR" && pwd)

# The workspace build (a no-op after scripts/test.sh's) gives the
# `kaksik` binary and the library; then the bindings.
bash bindings/generate.sh debug

echo "--- Kotlin (host JVM)"
mvn -B -ntp -f tests/kotlin/pom.xml test \
    -Dkaksik.bindings="$TARGET_DIR/bindings/debug" \
    -Dkaksik.bin="$TARGET_DIR/debug/kaksik"

echo "--- Python"
KAKSIK_BINDINGS="$TARGET_DIR/bindings/debug" KAKSIK_BIN="$TARGET_DIR/debug/kaksik" \
    python3 -m pytest -q -p no:cacheprovider tests/python
