//! `uniffi-bindgen`: UniFFI's own command line, built from the same
//! `uniffi` release as `kaksik-ffi` (pinned in the workspace manifest), so
//! the bindings it generates always match the library they load.
//! `bindings/generate.sh` runs it in library mode.

fn main() {
    uniffi::uniffi_bindgen_main()
}
