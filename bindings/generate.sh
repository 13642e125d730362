#!/usr/bin/env bash
# Builds kaksik-ffi and generates its Kotlin, Swift and Python bindings
# with this workspace's uniffi-bindgen (the same uniffi release as the
# library), in library mode.
#
#   bash bindings/generate.sh [debug|release]
#
# debug (default): the dev profile, for the host tests (tests/kotlin,
#   tests/python); builds the whole workspace as scripts/test.sh does.
# release: the size profile `release-ffi` (Cargo.toml); the bindings are
#   generated from the unstripped library, then a stripped copy is made
#   for shipping and both sizes are printed.
#
# Output, under the target directory ($CARGO_TARGET_DIR or target/):
#   bindings/<debug|release>/kotlin/ee/kaksik/kaksik.kt
#   bindings/<debug|release>/swift/{KaksikFFI.swift,KaksikFFIFFI.h,KaksikFFIFFI.modulemap}
#   bindings/<debug|release>/python/{kaksik.py,libkaksik_ffi.so}   (importable as is)
#   bindings/<debug|release>/lib/libkaksik_ffi.so                  (stripped for release)
# Nothing generated is committed: the shells and tests read it from here.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-debug}
case "$MODE" in
    debug) PROFILE=dev PROFILE_DIR=debug ;;
    release) PROFILE=release-ffi PROFILE_DIR=release-ffi ;;
    *)
        echo "usage: bash bindings/generate.sh [debug|release]" >&2
        exit 2
        ;;
esac

TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$(uname -s)" in
    Darwin) LIB_FILE=libkaksik_ffi.dylib ;;
    *) LIB_FILE=libkaksik_ffi.so ;;
esac

# Debug: exactly the build scripts/test.sh makes, so it is reused as is.
# A narrower `-p kaksik-ffi -p uniffi-bindgen` resolves other features for
# the shared dependencies and rebuilds most of the tree a second time
# (12 minutes on a clean 2-core machine). The generator is never shipped:
# it always comes from the dev profile.
if [ "$MODE" = debug ]; then
    cargo build --locked --workspace --all-targets
else
    cargo build --locked --workspace --all-targets
    cargo build --locked --profile "$PROFILE" -p kaksik-ffi
fi

LIB="$TARGET_DIR/$PROFILE_DIR/$LIB_FILE"
BINDGEN="$TARGET_DIR/debug/uniffi-bindgen"
OUT="$TARGET_DIR/bindings/$MODE"
rm -rf "$OUT"
mkdir -p "$OUT/lib"

for language in kotlin swift python; do
    # --no-format: the output must not depend on which formatters happen
    # to be installed.
    "$BINDGEN" generate "$LIB" --language "$language" --out-dir "$OUT/$language" --no-format
done

if [ "$MODE" = release ]; then
    strip --strip-all -o "$OUT/lib/$LIB_FILE" "$LIB"
    echo "unstripped: $(stat -c %s "$LIB") bytes  $LIB"
    echo "stripped:   $(stat -c %s "$OUT/lib/$LIB_FILE") bytes  $OUT/lib/$LIB_FILE"
else
    # A hard link: the debug library is large, and Cargo replaces (never
    # rewrites) the file it links from.
    ln -f "$LIB" "$OUT/lib/$LIB_FILE" 2>/dev/null || cp "$LIB" "$OUT/lib/$LIB_FILE"
fi
# The Python module loads the library from its own directory.
ln -f "$OUT/lib/$LIB_FILE" "$OUT/python/$LIB_FILE" 2>/dev/null || cp "$OUT/lib/$LIB_FILE" "$OUT/python/$LIB_FILE"
echo "bindings in $OUT"
