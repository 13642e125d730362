//! Co-signing one digest: two round trips, the server combines.
//!
//! ```text
//! device                                      server
//! DeviceSigning::start ── SignRequest1 ─────▶ ServerSignRound1::respond
//!                     ◀── SignResponse1 ─────  (phases 1 and 2)
//! on_response ─────────── SignRequest2 ─────▶ finish
//! (phases 2 and 3; done)                       (phases 3 and 4, verify)
//!                                              → low-S ECDSA signature
//! ```
//!
//! The device never sees the final signature's `s` being assembled: it
//! sends its phase-3 broadcast and is done. The server assembles, normalises
//! to low-S and verifies (r, s) under the joint public key with p256's
//! standard verifier before it returns anything, so a caller can record
//! success only for a signature that any X.509 tool accepts.

use std::collections::BTreeMap;

use dkls23_secp256r1::protocols::PartyIndex;
use dkls23_secp256r1::protocols::signing::{
    Broadcast3to4, KeepPhase1to2, KeepPhase2to3, SignData, TransmitPhase1to2, TransmitPhase2to3,
    UniqueKeep1to2, UniqueKeep2to3,
};
use p256::NistP256;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde::{Deserialize, Serialize};

use super::{
    CosignError, DeviceShare, Role, RunId, ServerShare, SignDigest, check_epoch, check_route,
    guarded, only, wire_type,
};

fn sign_data(run: &RunId, me: Role, digest: &SignDigest) -> SignData {
    SignData {
        sign_id: run.session_bytes("sign"),
        counterparties: vec![me.other().index()],
        message_hash: digest.truncated(),
    }
}

/// Device → server: the device's phase-1 message.
#[derive(Serialize, Deserialize)]
pub struct SignRequest1 {
    run: RunId,
    epoch: u64,
    transmit: TransmitPhase1to2,
}
wire_type!(SignRequest1);

/// Server → device: the server's phase-1 and phase-2 messages.
#[derive(Serialize, Deserialize)]
pub struct SignResponse1 {
    run: RunId,
    epoch: u64,
    transmit1: TransmitPhase1to2,
    transmit2: TransmitPhase2to3<NistP256>,
}
wire_type!(SignResponse1);

/// Device → server: the device's phase-2 message and phase-3 broadcast.
#[derive(Serialize, Deserialize)]
pub struct SignRequest2 {
    run: RunId,
    transmit2: TransmitPhase2to3<NistP256>,
    broadcast: Broadcast3to4<NistP256>,
}
wire_type!(SignRequest2);

/// The device's signing state between its two requests (in memory only).
pub struct DeviceSigning {
    run: RunId,
    digest: SignDigest,
    unique: UniqueKeep1to2<NistP256>,
    keep: BTreeMap<PartyIndex, KeepPhase1to2<NistP256>>,
}

impl std::fmt::Debug for DeviceSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceSigning(run {:?}, [REDACTED])", self.run)
    }
}

impl DeviceSigning {
    /// Starts co-signing `digest` in run `run` (the same run id and digest
    /// the server uses, e.g. from the transaction).
    pub fn start(
        share: &DeviceShare,
        run: RunId,
        digest: &SignDigest,
    ) -> Result<(DeviceSigning, SignRequest1), CosignError> {
        let data = sign_data(&run, Role::Device, digest);
        let (unique, keep, transmits) = share
            .0
            .party
            .sign_phase1(&data)
            .map_err(CosignError::from_abort)?;
        let request = SignRequest1 {
            run,
            epoch: share.epoch(),
            transmit: only(transmits, "signing")?,
        };
        let state = DeviceSigning {
            run,
            digest: digest.clone(),
            unique,
            keep,
        };
        Ok((state, request))
    }

    /// Takes the server's answer and produces the device's last message.
    pub fn on_response(
        self,
        share: &DeviceShare,
        response: SignResponse1,
    ) -> Result<SignRequest2, CosignError> {
        if response.run != self.run {
            return Err(CosignError::WrongRun);
        }
        check_epoch(&share.0, response.epoch)?;
        check_route(&response.transmit1.parties, Role::Server, Role::Device)?;
        check_route(&response.transmit2.parties, Role::Server, Role::Device)?;
        let party = &share.0.party;
        let data = sign_data(&self.run, Role::Device, &self.digest);
        let SignResponse1 {
            transmit1,
            transmit2,
            ..
        } = response;
        let (unique, keep, transmits) = guarded(Role::Server, || {
            party.sign_phase2(
                &data,
                self.unique,
                self.keep,
                std::slice::from_ref(&transmit1),
            )
        })?;
        let own_transmit2 = only(transmits, "signing")?;
        let (_x_coordinate, broadcast) = guarded(Role::Server, || {
            party.sign_phase3(&data, unique, keep, std::slice::from_ref(&transmit2))
        })?;
        Ok(SignRequest2 {
            run: self.run,
            transmit2: own_transmit2,
            broadcast,
        })
    }
}

/// The server's signing state between the device's two requests.
#[derive(Serialize, Deserialize)]
pub struct ServerSignRound1 {
    run: RunId,
    digest: SignDigest,
    unique: UniqueKeep2to3<NistP256>,
    keep: BTreeMap<PartyIndex, KeepPhase2to3<NistP256>>,
}
wire_type!(ServerSignRound1);

impl ServerSignRound1 {
    /// Answers the device's first signing request for `digest` in `run`.
    pub fn respond(
        share: &ServerShare,
        run: RunId,
        digest: &SignDigest,
        request: SignRequest1,
    ) -> Result<(ServerSignRound1, SignResponse1), CosignError> {
        if request.run != run {
            return Err(CosignError::WrongRun);
        }
        check_epoch(&share.0, request.epoch)?;
        check_route(&request.transmit.parties, Role::Device, Role::Server)?;
        let party = &share.0.party;
        let data = sign_data(&run, Role::Server, digest);
        let (unique1, keep1, transmits1) =
            party.sign_phase1(&data).map_err(CosignError::from_abort)?;
        let transmit = request.transmit;
        let (unique, keep, transmits2) = guarded(Role::Device, || {
            party.sign_phase2(&data, unique1, keep1, std::slice::from_ref(&transmit))
        })?;
        let response = SignResponse1 {
            run,
            epoch: share.epoch(),
            transmit1: only(transmits1, "signing")?,
            transmit2: only(transmits2, "signing")?,
        };
        let state = ServerSignRound1 {
            run,
            digest: digest.clone(),
            unique,
            keep,
        };
        Ok((state, response))
    }

    /// Takes the device's last message, combines the signature, and
    /// verifies it under the joint public key before returning it.
    pub fn finish(
        self,
        share: &ServerShare,
        request: SignRequest2,
    ) -> Result<Signature, CosignError> {
        if request.run != self.run {
            return Err(CosignError::WrongRun);
        }
        check_route(&request.transmit2.parties, Role::Device, Role::Server)?;
        let party = &share.0.party;
        let data = sign_data(&self.run, Role::Server, &self.digest);
        let SignRequest2 {
            transmit2,
            broadcast,
            ..
        } = request;
        let (x_coordinate, own_broadcast) = guarded(Role::Device, || {
            party.sign_phase3(
                &data,
                self.unique,
                self.keep,
                std::slice::from_ref(&transmit2),
            )
        })?;
        let (s_hex, _recovery_id) = guarded(Role::Device, || {
            party.sign_phase4(&data, &x_coordinate, &[own_broadcast, broadcast], true)
        })?;
        let signature = signature_from_hex(&x_coordinate, &s_hex)?;
        share
            .public_key()?
            .verify_prehash(self.digest.as_bytes(), &signature)
            .map_err(|_| CosignError::InvalidSignature)?;
        Ok(signature)
    }
}

/// dkls23 returns r and s as hex strings; p256 wants field bytes.
fn signature_from_hex(r_hex: &str, s_hex: &str) -> Result<Signature, CosignError> {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    hex::decode_to_slice(r_hex, &mut r).map_err(|_| CosignError::InvalidSignature)?;
    hex::decode_to_slice(s_hex, &mut s).map_err(|_| CosignError::InvalidSignature)?;
    let signature = Signature::from_scalars(r, s).map_err(|_| CosignError::InvalidSignature)?;
    // dkls23 was asked to normalise; a high S here would be a bug upstream.
    if signature.normalize_s() != signature {
        return Err(CosignError::InvalidSignature);
    }
    Ok(signature)
}

#[cfg(test)]
mod tests {
    use p256::{AffinePoint, ProjectivePoint};

    use super::super::testing::{cosign, dkg_pair, refresh_pair};
    use super::*;

    /// Moves a point by the generator: a valid point, but not the one an
    /// honest party computed.
    fn nudge(point: &AffinePoint) -> AffinePoint {
        (ProjectivePoint::from(*point) + ProjectivePoint::GENERATOR).to_affine()
    }

    fn assert_ban(error: CosignError, culprit: Role) {
        assert!(
            error.is_protocol_failure(),
            "{error:?} must be the ban rule"
        );
        assert!(
            matches!(error, CosignError::CounterpartyCheated { culprit: c, .. } if c == culprit),
            "{error:?} must blame the {culprit}"
        );
    }

    #[test]
    fn a_tampered_server_message_is_the_ban_rule_against_the_server() {
        let (device, server) = dkg_pair();
        let run = RunId::random();
        let digest = SignDigest::new(&[5u8; 32]).unwrap();
        let (signing, request1) = DeviceSigning::start(&device, run, &digest).unwrap();
        let (_state, mut response1) =
            ServerSignRound1::respond(&server, run, &digest, request1).unwrap();
        response1.transmit2.gamma_u = nudge(&response1.transmit2.gamma_u);
        let error = signing.on_response(&device, response1).unwrap_err();
        assert_ban(error, Role::Server);
    }

    #[test]
    fn a_tampered_device_message_is_the_ban_rule_against_the_device() {
        let (device, server) = dkg_pair();
        let run = RunId::random();
        let digest = SignDigest::new(&[6u8; 48]).unwrap();
        let (signing, request1) = DeviceSigning::start(&device, run, &digest).unwrap();
        let (state, response1) =
            ServerSignRound1::respond(&server, run, &digest, request1).unwrap();
        let mut request2 = signing.on_response(&device, response1).unwrap();
        request2.transmit2.gamma_v = nudge(&request2.transmit2.gamma_v);
        let error = state.finish(&server, request2).unwrap_err();
        assert_ban(error, Role::Device);
    }

    #[test]
    fn a_misrouted_message_is_refused_before_the_engine_sees_it() {
        let (device, server) = dkg_pair();
        let run = RunId::random();
        let digest = SignDigest::new(&[8u8; 32]).unwrap();
        let (_signing, mut request1) = DeviceSigning::start(&device, run, &digest).unwrap();
        request1.transmit.parties = request1.transmit.parties.reverse();
        let error = ServerSignRound1::respond(&server, run, &digest, request1).unwrap_err();
        assert_ban(error, Role::Device);
    }

    #[test]
    fn shares_of_different_epochs_do_not_combine_even_with_forged_epoch_labels() {
        let (old_device, old_server) = dkg_pair();
        let (_new_device, new_server) = refresh_pair(&old_device, &old_server);
        // Relabel the stale share so the epoch check passes: the
        // cryptography itself must still refuse to combine the two.
        let mut stale = old_device;
        stale.0.epoch = new_server.epoch();
        assert!(cosign(&stale, &new_server, &[9u8; 32]).is_err());
    }
}
