#!/usr/bin/env bash
# Builds libkaksik_ffi.so for the Android ABIs (release-ffi profile,
# stripped) and the Kotlin bindings, into android/build/rust/. Needs the
# Android NDK (ANDROID_NDK_HOME) and cargo-ndk; rustup adds the targets.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=android/build/rust
TARGET_DIR=${CARGO_TARGET_DIR:-target}
rm -rf "$OUT"
mkdir -p "$OUT/jniLibs" "$OUT/kotlin"

rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
# API 28: StrongBox and the Keystore features KeystoreDeviceKey uses.
cargo ndk --platform 28 -t arm64-v8a -t armeabi-v7a -t x86_64 -o "$OUT/jniLibs" \
    build --locked --profile release-ffi -p kaksik-ffi
for lib in "$OUT"/jniLibs/*/libkaksik_ffi.so; do
    "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME}"/toolchains/llvm/prebuilt/*/bin/llvm-strip --strip-all "$lib"
done

# Bindings from the unstripped host library of the same sources and
# profile: the metadata UniFFI reads is the same on every target.
bash bindings/generate.sh release
cp -R "$TARGET_DIR/bindings/release/kotlin/." "$OUT/kotlin/"
