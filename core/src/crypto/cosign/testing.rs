//! In-memory runs of the protocols for this module's own unit tests.

use super::dkg::{DeviceDkg, ServerDkgRound1};
use super::refresh::{DeviceRefresh, ServerRefreshRound1};
use super::sign::{DeviceSigning, ServerSignRound1};
use super::{CosignError, DeviceShare, RunId, ServerShare, SignDigest};

pub(super) fn dkg_pair() -> (DeviceShare, ServerShare) {
    let run = RunId::random();
    let (device, request1) = DeviceDkg::start(run).unwrap();
    let (server, response1) = ServerDkgRound1::respond(run, request1).unwrap();
    let (device, request2) = device.on_response(response1).unwrap();
    let (pending, response2) = server.on_request(request2).unwrap();
    let (device_share, confirm) = device.on_response(response2).unwrap();
    (device_share, pending.confirm(confirm).unwrap())
}

pub(super) fn refresh_pair(
    device: &DeviceShare,
    server: &ServerShare,
) -> (DeviceShare, ServerShare) {
    let run = RunId::random();
    let (refreshing, request1) = DeviceRefresh::start(device, run).unwrap();
    let (state, response1) = ServerRefreshRound1::respond(server, run, request1).unwrap();
    let (refreshing, request2) = refreshing.on_response(device, response1).unwrap();
    let (pending, response2) = state.on_request(server, request2).unwrap();
    let (new_device, confirm) = refreshing.on_response(device, response2).unwrap();
    (new_device, pending.confirm(confirm).unwrap())
}

pub(super) fn cosign(
    device: &DeviceShare,
    server: &ServerShare,
    digest: &[u8],
) -> Result<p256::ecdsa::Signature, CosignError> {
    let run = RunId::random();
    let digest = SignDigest::new(digest)?;
    let (signing, request1) = DeviceSigning::start(device, run, &digest)?;
    let (state, response1) = ServerSignRound1::respond(server, run, &digest, request1)?;
    let request2 = signing.on_response(device, response1)?;
    state.finish(server, request2)
}
