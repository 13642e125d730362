//! Distributed key generation: the device and the server create a joint
//! P-256 key of which each holds one share and nobody holds the whole.
//!
//! ```text
//! device                                   server
//! DeviceDkg::start ── DkgRequest1 ───────▶ ServerDkgRound1::respond
//!                 ◀── DkgResponse1 ───────  (commits to its public share)
//! on_response ─────── DkgRequest2 ───────▶ respond
//!                 ◀── DkgResponse2 ───────  (opens; holds ServerDkgPending)
//! on_response ─────── DkgConfirm ────────▶ ServerDkgPending::confirm
//! → DeviceShare                             → ServerShare
//! ```
//!
//! Commit-then-open: the server sends only the commitment to its proof of
//! knowledge in the first response and the proof itself in the second, so
//! neither side can choose its public-key fragment after seeing the
//! other's. The device opens in the same message as it commits, which is
//! safe because the server is already bound by its commitment.
//!
//! The server keeps its new share pending until the device confirms the
//! same joint public key: a device that crashed mid-DKG never leaves the
//! server with a key the device cannot use.

use std::collections::BTreeMap;

use dkls23_secp256r1::protocols::dkg::{
    self, BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, KeepInitMulPhase3to4,
    KeepInitZeroSharePhase2to3, KeepInitZeroSharePhase3to4, ProofCommitment, SessionData,
    TransmitInitMulPhase3to4, TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4,
    UniqueKeepDerivationPhase2to3,
};
use dkls23_secp256r1::utilities::hashes::HashOutput;
use p256::{NistP256, Scalar};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::wipe::Wiped;
use super::{
    CosignError, DeviceShare, KeyShare, Party, Role, RunId, ServerShare, check_route, compressed,
    fragment_for, guarded, only, parameters, wire_type,
};

fn session(run: &RunId, role: Role) -> Result<SessionData, CosignError> {
    Ok(SessionData {
        parameters: parameters()?,
        party_index: role.index(),
        session_id: run.session_bytes("dkg"),
    })
}

/// Joint keys need no blockchain address; dkls23 asks for a function.
fn no_address(_: &p256::AffinePoint) -> String {
    String::new()
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// Device → server: the device polynomial's fragment for the server.
#[derive(Serialize, Deserialize)]
pub struct DkgRequest1 {
    run: RunId,
    fragment: Zeroizing<Scalar>,
}
wire_type!(DkgRequest1);

/// Server → device: the server's fragment for the device and its
/// commitments (public-key proof, zero-share seed, chain code).
#[derive(Serialize, Deserialize)]
pub struct DkgResponse1 {
    run: RunId,
    fragment: Zeroizing<Scalar>,
    proof_commitment: HashOutput,
    zero_commit: TransmitInitZeroSharePhase2to4,
    chain_commit: BroadcastDerivationPhase2to4,
}
wire_type!(DkgResponse1);

/// Device → server: the device's proof, commitments and openings, and its
/// half of the base OTs for the multiplication protocol.
#[derive(Serialize, Deserialize)]
pub struct DkgRequest2 {
    run: RunId,
    proof: ProofCommitment<NistP256>,
    zero_commit: TransmitInitZeroSharePhase2to4,
    zero_open: TransmitInitZeroSharePhase3to4,
    mul: TransmitInitMulPhase3to4<NistP256>,
    chain_commit: BroadcastDerivationPhase2to4,
    chain_open: BroadcastDerivationPhase3to4,
}
wire_type!(DkgRequest2);

/// Server → device: the server's openings and its half of the base OTs.
#[derive(Serialize, Deserialize)]
pub struct DkgResponse2 {
    run: RunId,
    proof: ProofCommitment<NistP256>,
    zero_open: TransmitInitZeroSharePhase3to4,
    mul: TransmitInitMulPhase3to4<NistP256>,
    chain_open: BroadcastDerivationPhase3to4,
}
wire_type!(DkgResponse2);

/// Device → server: the device holds its share of this joint key.
#[derive(Serialize, Deserialize)]
pub struct DkgConfirm {
    run: RunId,
    public_key: Vec<u8>,
}
wire_type!(DkgConfirm);

// ---------------------------------------------------------------------------
// Device side (in memory only: the device persists no DKG transcript)
// ---------------------------------------------------------------------------

/// The device before the server's first response.
pub struct DeviceDkg {
    run: RunId,
    fragments: Zeroizing<Vec<Scalar>>,
}

impl DeviceDkg {
    /// Starts a DKG for run `run` (agreed with the server beforehand).
    pub fn start(run: RunId) -> Result<(DeviceDkg, DkgRequest1), CosignError> {
        let data = session(&run, Role::Device)?;
        let fragments = Zeroizing::new(dkg::phase1::<NistP256>(&data));
        let request = DkgRequest1 {
            run,
            fragment: Zeroizing::new(fragment_for(&fragments, Role::Server)?),
        };
        Ok((DeviceDkg { run, fragments }, request))
    }

    /// Takes the server's commitments; answers with the device's openings.
    pub fn on_response(
        self,
        response: DkgResponse1,
    ) -> Result<(DeviceDkgRound2, DkgRequest2), CosignError> {
        if response.run != self.run {
            return Err(CosignError::WrongRun);
        }
        check_route(&response.zero_commit.parties, Role::Server, Role::Device)?;
        if response.chain_commit.sender_index != Role::Server.index() {
            return Err(CosignError::cheated(
                Role::Server,
                "chain-code commitment from the wrong party",
            ));
        }
        let data = session(&self.run, Role::Device)?;
        let own = fragment_for(&self.fragments, Role::Device)?;
        let received = Zeroizing::new([own, *response.fragment]);
        let (poly_point, proof, zero_keep, zero_commits, chain_keep, chain_commit) =
            dkg::phase2::<NistP256>(&data, received.as_slice());
        let poly_point = Zeroizing::new(poly_point);
        let zero_keep = Wiped(zero_keep);
        let chain_keep = Wiped(chain_keep);
        let (zero_keep, zero_opens, mul_keep, muls, chain_open) =
            dkg::phase3::<NistP256>(&data, &zero_keep, &chain_keep);

        let request = DkgRequest2 {
            run: self.run,
            proof: proof.clone(),
            zero_commit: only(zero_commits, "zero-share commitment")?,
            zero_open: only(zero_opens, "zero-share opening")?,
            mul: only(muls, "multiplication set-up")?,
            chain_commit: chain_commit.clone(),
            chain_open: chain_open.clone(),
        };
        let state = DeviceDkgRound2 {
            run: self.run,
            poly_point,
            own_proof: proof,
            server_proof_commitment: response.proof_commitment,
            zero_keep: Wiped(zero_keep),
            mul_keep: Wiped(mul_keep),
            server_zero_commit: response.zero_commit,
            own_chain_commit: chain_commit,
            own_chain_open: chain_open,
            server_chain_commit: response.chain_commit,
        };
        Ok((state, request))
    }
}

/// The device after it has opened, waiting for the server's openings.
pub struct DeviceDkgRound2 {
    run: RunId,
    poly_point: Zeroizing<Scalar>,
    own_proof: ProofCommitment<NistP256>,
    server_proof_commitment: HashOutput,
    zero_keep: Wiped<BTreeMap<dkls23_secp256r1::protocols::PartyIndex, KeepInitZeroSharePhase3to4>>,
    mul_keep:
        Wiped<BTreeMap<dkls23_secp256r1::protocols::PartyIndex, KeepInitMulPhase3to4<NistP256>>>,
    server_zero_commit: TransmitInitZeroSharePhase2to4,
    own_chain_commit: BroadcastDerivationPhase2to4,
    own_chain_open: BroadcastDerivationPhase3to4,
    server_chain_commit: BroadcastDerivationPhase2to4,
}

impl DeviceDkgRound2 {
    /// Takes the server's openings and finishes: the device's share, and
    /// the confirmation the server waits for. The public-key package dkls23
    /// returns (both parties' public shares) is dropped here on purpose:
    /// the device must not keep the server's public share (PROTOCOL §2).
    pub fn on_response(
        self,
        response: DkgResponse2,
    ) -> Result<(DeviceShare, DkgConfirm), CosignError> {
        if response.run != self.run {
            return Err(CosignError::WrongRun);
        }
        if response.proof.index != Role::Server.index()
            || response.proof.commitment != self.server_proof_commitment
        {
            return Err(CosignError::cheated(
                Role::Server,
                "proof does not match its commitment",
            ));
        }
        check_route(&response.zero_open.parties, Role::Server, Role::Device)?;
        check_route(&response.mul.parties, Role::Server, Role::Device)?;
        if response.chain_open.sender_index != Role::Server.index() {
            return Err(CosignError::cheated(
                Role::Server,
                "chain-code opening from the wrong party",
            ));
        }
        let data = session(&self.run, Role::Device)?;
        let proofs = [self.own_proof, response.proof];
        let chain_commits = BTreeMap::from([
            (Role::Device.index(), self.own_chain_commit),
            (Role::Server.index(), self.server_chain_commit),
        ]);
        let chain_opens = BTreeMap::from([
            (Role::Device.index(), self.own_chain_open),
            (Role::Server.index(), response.chain_open),
        ]);
        let (party, _public_shares) = guarded(Role::Server, || {
            dkg::phase4::<NistP256>(
                &data,
                &self.poly_point,
                &proofs,
                &self.zero_keep,
                std::slice::from_ref(&self.server_zero_commit),
                std::slice::from_ref(&response.zero_open),
                &self.mul_keep,
                std::slice::from_ref(&response.mul),
                &chain_commits,
                &chain_opens,
                no_address,
            )
        })?;
        let share = DeviceShare(KeyShare { epoch: 0, party });
        let confirm = DkgConfirm {
            run: self.run,
            public_key: compressed(&share.public_key()?),
        };
        Ok((share, confirm))
    }
}

// ---------------------------------------------------------------------------
// Server side (persistable between requests)
// ---------------------------------------------------------------------------

/// The server between the first and the second DKG request.
#[derive(Serialize, Deserialize)]
pub struct ServerDkgRound1 {
    run: RunId,
    poly_point: Zeroizing<Scalar>,
    own_proof: ProofCommitment<NistP256>,
    zero_keep: Wiped<BTreeMap<dkls23_secp256r1::protocols::PartyIndex, KeepInitZeroSharePhase2to3>>,
    chain_keep: Wiped<UniqueKeepDerivationPhase2to3>,
    own_chain_commit: BroadcastDerivationPhase2to4,
}
wire_type!(ServerDkgRound1);

impl ServerDkgRound1 {
    /// Answers the device's first DKG request for run `run`.
    pub fn respond(
        run: RunId,
        request: DkgRequest1,
    ) -> Result<(ServerDkgRound1, DkgResponse1), CosignError> {
        if request.run != run {
            return Err(CosignError::WrongRun);
        }
        let data = session(&run, Role::Server)?;
        let fragments = Zeroizing::new(dkg::phase1::<NistP256>(&data));
        let own = fragment_for(&fragments, Role::Server)?;
        let received = Zeroizing::new([*request.fragment, own]);
        let (poly_point, proof, zero_keep, zero_commits, chain_keep, chain_commit) =
            dkg::phase2::<NistP256>(&data, received.as_slice());
        let response = DkgResponse1 {
            run,
            fragment: Zeroizing::new(fragment_for(&fragments, Role::Device)?),
            proof_commitment: proof.commitment,
            zero_commit: only(zero_commits, "zero-share commitment")?,
            chain_commit: chain_commit.clone(),
        };
        let state = ServerDkgRound1 {
            run,
            poly_point: Zeroizing::new(poly_point),
            own_proof: proof,
            zero_keep: Wiped(zero_keep),
            chain_keep: Wiped(chain_keep),
            own_chain_commit: chain_commit,
        };
        Ok((state, response))
    }

    /// Takes the device's openings, opens the server's, and computes the
    /// server's share, which stays pending until the device confirms.
    pub fn on_request(
        self,
        request: DkgRequest2,
    ) -> Result<(ServerDkgPending, DkgResponse2), CosignError> {
        if request.run != self.run {
            return Err(CosignError::WrongRun);
        }
        if request.proof.index != Role::Device.index() {
            return Err(CosignError::cheated(
                Role::Device,
                "proof from the wrong party",
            ));
        }
        check_route(&request.zero_commit.parties, Role::Device, Role::Server)?;
        check_route(&request.zero_open.parties, Role::Device, Role::Server)?;
        check_route(&request.mul.parties, Role::Device, Role::Server)?;
        if request.chain_commit.sender_index != Role::Device.index()
            || request.chain_open.sender_index != Role::Device.index()
        {
            return Err(CosignError::cheated(
                Role::Device,
                "chain code from the wrong party",
            ));
        }
        let data = session(&self.run, Role::Server)?;
        let (zero_keep, zero_opens, mul_keep, muls, chain_open) =
            dkg::phase3::<NistP256>(&data, &self.zero_keep, &self.chain_keep);
        let zero_keep = Wiped(zero_keep);
        let mul_keep = Wiped(mul_keep);
        let proofs = [request.proof, self.own_proof.clone()];
        let chain_commits = BTreeMap::from([
            (Role::Device.index(), request.chain_commit),
            (Role::Server.index(), self.own_chain_commit.clone()),
        ]);
        let chain_opens = BTreeMap::from([
            (Role::Device.index(), request.chain_open),
            (Role::Server.index(), chain_open.clone()),
        ]);
        let (party, _public_shares) = guarded(Role::Device, || {
            dkg::phase4::<NistP256>(
                &data,
                &self.poly_point,
                &proofs,
                &zero_keep,
                std::slice::from_ref(&request.zero_commit),
                std::slice::from_ref(&request.zero_open),
                &mul_keep,
                std::slice::from_ref(&request.mul),
                &chain_commits,
                &chain_opens,
                no_address,
            )
        })?;
        let response = DkgResponse2 {
            run: self.run,
            proof: self.own_proof.clone(),
            zero_open: only(zero_opens, "zero-share opening")?,
            mul: only(muls, "multiplication set-up")?,
            chain_open,
        };
        Ok((
            ServerDkgPending {
                run: self.run,
                party,
            },
            response,
        ))
    }
}

/// The server's new share, waiting for the device's confirmation.
#[derive(Serialize, Deserialize)]
pub struct ServerDkgPending {
    run: RunId,
    party: Party,
}
wire_type!(ServerDkgPending);

impl ServerDkgPending {
    /// The joint public key the device is expected to confirm.
    pub fn public_key(&self) -> Result<p256::ecdsa::VerifyingKey, CosignError> {
        p256::ecdsa::VerifyingKey::from_affine(self.party.pk).map_err(|_| CosignError::Aborted {
            reason: "joint public key is the identity".into(),
        })
    }

    /// The device confirmed the same joint key: the share becomes usable.
    pub fn confirm(self, confirm: DkgConfirm) -> Result<ServerShare, CosignError> {
        if confirm.run != self.run {
            return Err(CosignError::WrongRun);
        }
        if confirm.public_key != compressed(&self.public_key()?) {
            return Err(CosignError::cheated(
                Role::Device,
                "confirmed a different joint key",
            ));
        }
        Ok(ServerShare(KeyShare {
            epoch: 0,
            party: self.party,
        }))
    }
}
