#!/usr/bin/env bash
# Builds ios/KaksikFFIFFI.xcframework (the staticlib for the device and the
# simulators, release-ffi profile) and the Swift bindings into
# ios/Sources/Kaksik/Generated/. Needs macOS with Xcode and rustup.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=ios
PROFILE=release-ffi
rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios

for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    cargo build --locked --profile "$PROFILE" -p kaksik-ffi --target "$target"
done
SIM="$TARGET_DIR/ios-simulator"
mkdir -p "$SIM"
lipo -create -output "$SIM/libkaksik_ffi.a" \
    "$TARGET_DIR/aarch64-apple-ios-sim/$PROFILE/libkaksik_ffi.a" \
    "$TARGET_DIR/x86_64-apple-ios/$PROFILE/libkaksik_ffi.a"

# The Swift bindings, from the unstripped host library (the metadata
# UniFFI reads is the same for every target).
bash bindings/generate.sh release
GEN="$TARGET_DIR/bindings/release/swift"
HEADERS="$TARGET_DIR/ios-headers"
rm -rf "$HEADERS" "$OUT/Sources/Kaksik/Generated" "$OUT/KaksikFFIFFI.xcframework"
mkdir -p "$HEADERS" "$OUT/Sources/Kaksik/Generated"
cp "$GEN/KaksikFFIFFI.h" "$HEADERS/"
# An XCFramework's headers carry their module map under this name.
cp "$GEN/KaksikFFIFFI.modulemap" "$HEADERS/module.modulemap"
cp "$GEN/KaksikFFI.swift" "$OUT/Sources/Kaksik/Generated/"

xcodebuild -create-xcframework \
    -library "$TARGET_DIR/aarch64-apple-ios/$PROFILE/libkaksik_ffi.a" -headers "$HEADERS" \
    -library "$SIM/libkaksik_ffi.a" -headers "$HEADERS" \
    -output "$OUT/KaksikFFIFFI.xcframework"
