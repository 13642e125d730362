//! The co-signing envelopes are parsed from network and storage bytes, so
//! every decoder takes any input without panicking, and a valid message
//! with bytes changed either fails to decode or decodes to something the
//! protocol then refuses — never a crash.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use kaksik_core::crypto::cosign::dkg::{
    DkgConfirm, DkgRequest1, DkgRequest2, DkgResponse1, DkgResponse2, ServerDkgPending,
    ServerDkgRound1,
};
use kaksik_core::crypto::cosign::refresh::{
    RefreshConfirm, RefreshRequest1, RefreshRequest2, RefreshResponse1, RefreshResponse2,
    ServerRefreshPending, ServerRefreshRound1,
};
use kaksik_core::crypto::cosign::sign::{
    DeviceSigning, ServerSignRound1, SignRequest1, SignRequest2, SignResponse1,
};
use kaksik_core::crypto::cosign::{DeviceShare, RunId, ServerShare, SignDigest, Wire};
use proptest::prelude::*;

/// Runs every decoder over `bytes`; each may fail, none may panic.
fn decode_all(bytes: &[u8]) {
    let _ = DeviceShare::from_secret_bytes(bytes);
    let _ = ServerShare::from_secret_bytes(bytes);
    let _ = DkgRequest1::from_bytes(bytes);
    let _ = DkgResponse1::from_bytes(bytes);
    let _ = DkgRequest2::from_bytes(bytes);
    let _ = DkgResponse2::from_bytes(bytes);
    let _ = DkgConfirm::from_bytes(bytes);
    let _ = ServerDkgRound1::from_bytes(bytes);
    let _ = ServerDkgPending::from_bytes(bytes);
    let _ = SignRequest1::from_bytes(bytes);
    let _ = SignResponse1::from_bytes(bytes);
    let _ = SignRequest2::from_bytes(bytes);
    let _ = ServerSignRound1::from_bytes(bytes);
    let _ = RefreshRequest1::from_bytes(bytes);
    let _ = RefreshResponse1::from_bytes(bytes);
    let _ = RefreshRequest2::from_bytes(bytes);
    let _ = RefreshResponse2::from_bytes(bytes);
    let _ = RefreshConfirm::from_bytes(bytes);
    let _ = ServerRefreshRound1::from_bytes(bytes);
    let _ = ServerRefreshPending::from_bytes(bytes);
}

/// One DKG, shared by the cases (it takes about a second per party).
fn shares() -> &'static (Vec<u8>, Vec<u8>) {
    static SHARES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    SHARES.get_or_init(|| {
        let run = RunId::random();
        let (device, request1) = kaksik_core::crypto::cosign::dkg::DeviceDkg::start(run).unwrap();
        let (server, response1) = ServerDkgRound1::respond(run, request1).unwrap();
        let (device, request2) = device.on_response(response1).unwrap();
        let (pending, response2) = server.on_request(request2).unwrap();
        let (device_share, confirm) = device.on_response(response2).unwrap();
        let server_share = pending.confirm(confirm).unwrap();
        (
            device_share.to_secret_bytes().unwrap().expose().to_vec(),
            server_share.to_secret_bytes().unwrap().expose().to_vec(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        decode_all(&bytes);
    }

    #[test]
    fn a_mutated_first_signing_message_never_panics_the_server(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let (device_bytes, server_bytes) = shares();
        let device = DeviceShare::from_secret_bytes(device_bytes).unwrap();
        let server = ServerShare::from_secret_bytes(server_bytes).unwrap();
        let run = RunId::random();
        let digest = SignDigest::new(&[9u8; 32]).unwrap();
        let (_signing, request1) = DeviceSigning::start(&device, run, &digest).unwrap();
        let mut bytes = request1.to_bytes().unwrap().expose().to_vec();
        for (index, value) in flips {
            let at = index.index(bytes.len());
            bytes[at] ^= value | 1;
        }
        decode_all(&bytes);
        if let Ok(mutated) = SignRequest1::from_bytes(&bytes) {
            // Decodable but altered: the server may refuse it, never crash.
            let _ = ServerSignRound1::respond(&server, run, &digest, mutated);
        }
    }
}
