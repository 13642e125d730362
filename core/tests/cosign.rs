//! The 2-of-2 co-signing engine through its public API, with every message
//! and every server state going through bytes as it would over HTTP and in
//! the database.

// Fixtures outside `#[test]` functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kaksik_core::crypto::cosign::dkg::{DeviceDkg, ServerDkgRound1};
use kaksik_core::crypto::cosign::refresh::{DeviceRefresh, ServerRefreshRound1};
use kaksik_core::crypto::cosign::sign::{DeviceSigning, ServerSignRound1};
use kaksik_core::crypto::cosign::{
    CosignError, DeviceShare, RunId, ServerShare, SignDigest, WIRE_VERSION, Wire,
};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use rand::RngExt;

/// Sends a message or stored state through its byte form.
fn wire<T: Wire>(value: T) -> T {
    T::from_bytes(value.to_bytes().unwrap().expose()).unwrap()
}

fn dkg() -> (DeviceShare, ServerShare) {
    let run = RunId::random();
    let (device, request1) = DeviceDkg::start(run).unwrap();
    let (server, response1) = ServerDkgRound1::respond(run, wire(request1)).unwrap();
    let server = wire(server);
    let (device, request2) = device.on_response(wire(response1)).unwrap();
    let (pending, response2) = server.on_request(wire(request2)).unwrap();
    let pending = wire(pending);
    let (device_share, confirm) = device.on_response(wire(response2)).unwrap();
    let server_share = pending.confirm(wire(confirm)).unwrap();
    (
        DeviceShare::from_secret_bytes(device_share.to_secret_bytes().unwrap().expose()).unwrap(),
        ServerShare::from_secret_bytes(server_share.to_secret_bytes().unwrap().expose()).unwrap(),
    )
}

fn cosign(
    device: &DeviceShare,
    server: &ServerShare,
    digest: &[u8],
) -> Result<Signature, CosignError> {
    let run = RunId::random();
    let digest = SignDigest::new(digest)?;
    let (signing, request1) = DeviceSigning::start(device, run, &digest)?;
    let (state, response1) = ServerSignRound1::respond(server, run, &digest, wire(request1))?;
    let request2 = signing.on_response(device, wire(response1))?;
    wire(state).finish(server, wire(request2))
}

fn refresh(device: &DeviceShare, server: &ServerShare) -> (DeviceShare, ServerShare) {
    let run = RunId::random();
    let (refreshing, request1) = DeviceRefresh::start(device, run).unwrap();
    let (state, response1) = ServerRefreshRound1::respond(server, run, wire(request1)).unwrap();
    let (refreshing, request2) = refreshing.on_response(device, wire(response1)).unwrap();
    let (pending, response2) = wire(state).on_request(server, wire(request2)).unwrap();
    let (new_device, confirm) = refreshing.on_response(device, wire(response2)).unwrap();
    let new_server = wire(pending).confirm(wire(confirm)).unwrap();
    (new_device, new_server)
}

fn random_digest() -> Vec<u8> {
    let mut rng = rand::rng();
    let len = [32, 48, 64][rng.random_range(0..3)];
    let mut digest = vec![0u8; len];
    rng.fill(&mut digest[..]);
    digest
}

fn verify(key: &VerifyingKey, digest: &[u8], signature: &Signature) {
    key.verify_prehash(digest, signature)
        .expect("p256's standard verifier accepts the co-signature");
    assert!(signature.normalize_s() == *signature, "signature is low-S");
}

#[test]
fn dkg_gives_both_parties_the_same_joint_key() {
    let (device, server) = dkg();
    assert_eq!(device.public_key().unwrap(), server.public_key().unwrap());
    assert_eq!((device.epoch(), server.epoch()), (0, 0));
}

#[test]
fn two_hundred_cosignatures_over_random_digests_verify_with_p256() {
    let (device, server) = dkg();
    let key = device.public_key().unwrap();
    for _ in 0..200 {
        let digest = random_digest();
        let signature = cosign(&device, &server, &digest).unwrap();
        verify(&key, &digest, &signature);
    }
}

#[test]
fn after_refresh_signatures_verify_under_the_same_public_key() {
    let (device, server) = dkg();
    let key = device.public_key().unwrap();
    let (device, server) = refresh(&device, &server);
    assert_eq!((device.epoch(), server.epoch()), (1, 1));
    assert_eq!(device.public_key().unwrap(), key);
    assert_eq!(server.public_key().unwrap(), key);
    let (device, server) = refresh(&device, &server);
    for _ in 0..5 {
        let digest = random_digest();
        verify(&key, &digest, &cosign(&device, &server, &digest).unwrap());
    }
}

#[test]
fn device_share_from_before_a_refresh_does_not_sign_with_the_refreshed_server_share() {
    let (old_device, old_server) = dkg();
    let (_new_device, new_server) = refresh(&old_device, &old_server);
    let error = cosign(&old_device, &new_server, &[7u8; 32]).unwrap_err();
    assert_eq!(error, CosignError::EpochMismatch { ours: 1, theirs: 0 });
    assert!(!error.is_protocol_failure());
}

#[test]
fn refreshed_device_share_does_not_sign_with_the_server_share_from_before() {
    let (old_device, old_server) = dkg();
    let (new_device, _new_server) = refresh(&old_device, &old_server);
    let error = cosign(&new_device, &old_server, &[7u8; 32]).unwrap_err();
    assert_eq!(error, CosignError::EpochMismatch { ours: 0, theirs: 1 });
}

#[test]
fn both_sides_must_sign_the_same_digest() {
    let (device, server) = dkg();
    let run = RunId::random();
    let ours = SignDigest::new(&[1u8; 32]).unwrap();
    let theirs = SignDigest::new(&[2u8; 32]).unwrap();
    let (signing, request1) = DeviceSigning::start(&device, run, &ours).unwrap();
    let outcome = ServerSignRound1::respond(&server, run, &theirs, request1).and_then(
        |(state, response1)| {
            let request2 = signing.on_response(&device, response1)?;
            state.finish(&server, request2)
        },
    );
    assert!(
        outcome.is_err(),
        "a signature over a digest the device did not see"
    );
}

#[test]
fn a_message_from_another_run_is_refused() {
    let (device, server) = dkg();
    let digest = SignDigest::new(&[3u8; 32]).unwrap();
    let (_signing, request1) = DeviceSigning::start(&device, RunId::random(), &digest).unwrap();
    let error = ServerSignRound1::respond(&server, RunId::random(), &digest, request1).unwrap_err();
    assert_eq!(error, CosignError::WrongRun);
}

#[test]
fn digests_other_than_32_48_or_64_bytes_are_refused() {
    for len in [0, 20, 31, 33, 47, 65, 128] {
        assert_eq!(
            SignDigest::new(&vec![0u8; len]).unwrap_err(),
            CosignError::BadDigestLength { len }
        );
    }
}

#[test]
fn envelopes_of_the_wrong_kind_or_version_are_refused() {
    let (device, server) = dkg();
    let share_bytes = server.to_secret_bytes().unwrap();
    assert!(matches!(
        DeviceShare::from_secret_bytes(share_bytes.expose()),
        Err(CosignError::Malformed { .. })
    ));
    let digest = SignDigest::new(&[4u8; 32]).unwrap();
    let (_signing, request1) = DeviceSigning::start(&device, RunId::random(), &digest).unwrap();
    let mut bytes = request1.to_bytes().unwrap().expose().to_vec();
    // The envelope starts with the version as a postcard varint.
    assert_eq!(bytes[0] as u16, WIRE_VERSION);
    bytes[0] = 9;
    assert_eq!(
        kaksik_core::crypto::cosign::sign::SignRequest1::from_bytes(&bytes).unwrap_err(),
        CosignError::UnsupportedVersion { found: 9 }
    );
    let mut trailing = request1.to_bytes().unwrap().expose().to_vec();
    trailing.push(0);
    assert!(matches!(
        kaksik_core::crypto::cosign::sign::SignRequest1::from_bytes(&trailing),
        Err(CosignError::Malformed { .. })
    ));
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let (device, server) = dkg();
    let text = format!("{device:?} {server:?}");
    assert!(text.contains("REDACTED"));
    assert!(text.len() < 120, "no share material in {text}");
}
