//! Proactive share refresh (DKLs23 "fast refresh"): both shares are
//! re-randomised to the next epoch, the joint public key stays the same,
//! and shares of different epochs no longer combine.
//!
//! ```text
//! device                                         server
//! DeviceRefresh::start ── RefreshRequest1 ─────▶ ServerRefreshRound1::respond
//!                     ◀── RefreshResponse1 ─────  (commits)
//! on_response ─────────── RefreshRequest2 ─────▶ on_request
//!                     ◀── RefreshResponse2 ─────  (opens; ServerRefreshPending)
//! on_response ─────────── RefreshConfirm ──────▶ ServerRefreshPending::confirm
//! → DeviceShare (epoch+1)                         → ServerShare (epoch+1)
//! ```
//!
//! Two-phase, like DKG: the server keeps its old share until the device
//! confirms it holds the new one. The device writes its new share before
//! it sends the confirmation, so a crash on either side leaves at least one
//! epoch that both still hold.
//!
//! The fast variant reuses the OT set-up from DKG (re-randomised with the
//! Beaver trick), so it costs a small fraction of a DKG.

use std::collections::BTreeMap;

use dkls23_secp256r1::protocols::PartyIndex;
use dkls23_secp256r1::protocols::dkg::ProofCommitment;
use dkls23_secp256r1::protocols::refresh::{
    KeepRefreshPhase2to3, KeepRefreshPhase3to4, TransmitRefreshPhase2to4, TransmitRefreshPhase3to4,
};
use dkls23_secp256r1::utilities::hashes::HashOutput;
use p256::{NistP256, Scalar};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::wipe::Wiped;
use super::{
    CosignError, DeviceShare, KeyShare, Party, Role, RunId, ServerShare, check_epoch, check_route,
    fragment_for, guarded, only, wire_type,
};

fn next_epoch(share: &KeyShare) -> Result<u64, CosignError> {
    share
        .epoch
        .checked_add(1)
        .ok_or_else(|| CosignError::Aborted {
            reason: "epoch counter exhausted".into(),
        })
}

/// Device → server: the device's zero-polynomial fragment for the server.
#[derive(Serialize, Deserialize)]
pub struct RefreshRequest1 {
    run: RunId,
    epoch: u64,
    fragment: Zeroizing<Scalar>,
}
wire_type!(RefreshRequest1);

/// Server → device: the server's fragment and its commitments.
#[derive(Serialize, Deserialize)]
pub struct RefreshResponse1 {
    run: RunId,
    epoch: u64,
    fragment: Zeroizing<Scalar>,
    proof_commitment: HashOutput,
    zero_commit: TransmitRefreshPhase2to4,
}
wire_type!(RefreshResponse1);

/// Device → server: the device's proof, commitment and opening.
#[derive(Serialize, Deserialize)]
pub struct RefreshRequest2 {
    run: RunId,
    proof: ProofCommitment<NistP256>,
    zero_commit: TransmitRefreshPhase2to4,
    zero_open: TransmitRefreshPhase3to4,
}
wire_type!(RefreshRequest2);

/// Server → device: the server's openings.
#[derive(Serialize, Deserialize)]
pub struct RefreshResponse2 {
    run: RunId,
    proof: ProofCommitment<NistP256>,
    zero_open: TransmitRefreshPhase3to4,
}
wire_type!(RefreshResponse2);

/// Device → server: the device has stored its share of the new epoch.
#[derive(Serialize, Deserialize)]
pub struct RefreshConfirm {
    run: RunId,
    epoch: u64,
}
wire_type!(RefreshConfirm);

/// The device before the server's first refresh response (in memory only).
pub struct DeviceRefresh {
    run: RunId,
    fragments: Zeroizing<Vec<Scalar>>,
}

impl DeviceRefresh {
    /// Starts refreshing `share` in run `run`.
    pub fn start(
        share: &DeviceShare,
        run: RunId,
    ) -> Result<(DeviceRefresh, RefreshRequest1), CosignError> {
        let fragments = Zeroizing::new(share.0.party.refresh_phase1());
        let request = RefreshRequest1 {
            run,
            epoch: share.epoch(),
            fragment: Zeroizing::new(fragment_for(&fragments, Role::Server)?),
        };
        Ok((DeviceRefresh { run, fragments }, request))
    }

    /// Takes the server's commitments; answers with the device's openings.
    pub fn on_response(
        self,
        share: &DeviceShare,
        response: RefreshResponse1,
    ) -> Result<(DeviceRefreshRound2, RefreshRequest2), CosignError> {
        if response.run != self.run {
            return Err(CosignError::WrongRun);
        }
        check_epoch(&share.0, response.epoch)?;
        check_route(&response.zero_commit.parties, Role::Server, Role::Device)?;
        let party = &share.0.party;
        let refresh_id = self.run.session_bytes("refresh");
        let own = fragment_for(&self.fragments, Role::Device)?;
        let received = Zeroizing::new([own, *response.fragment]);
        let (correction, proof, zero_keep, zero_commits) =
            party.refresh_phase2(&refresh_id, received.as_slice());
        let zero_keep = Wiped(zero_keep);
        let (zero_keep, zero_opens) = party.refresh_phase3(&zero_keep);
        let request = RefreshRequest2 {
            run: self.run,
            proof: proof.clone(),
            zero_commit: only(zero_commits, "refresh")?,
            zero_open: only(zero_opens, "refresh")?,
        };
        let state = DeviceRefreshRound2 {
            run: self.run,
            correction: Zeroizing::new(correction),
            own_proof: proof,
            server_proof_commitment: response.proof_commitment,
            zero_keep: Wiped(zero_keep),
            server_zero_commit: response.zero_commit,
        };
        Ok((state, request))
    }
}

/// The device after it has opened (in memory only).
pub struct DeviceRefreshRound2 {
    run: RunId,
    correction: Zeroizing<Scalar>,
    own_proof: ProofCommitment<NistP256>,
    server_proof_commitment: HashOutput,
    zero_keep: Wiped<BTreeMap<PartyIndex, KeepRefreshPhase3to4>>,
    server_zero_commit: TransmitRefreshPhase2to4,
}

impl DeviceRefreshRound2 {
    /// Takes the server's openings: the device's share of the next epoch,
    /// and the confirmation to send once that share is stored.
    pub fn on_response(
        self,
        share: &DeviceShare,
        response: RefreshResponse2,
    ) -> Result<(DeviceShare, RefreshConfirm), CosignError> {
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
        let party = &share.0.party;
        let refresh_id = self.run.session_bytes("refresh");
        let proofs = [self.own_proof, response.proof];
        let new_party = guarded(Role::Server, || {
            party.refresh_phase4(
                &refresh_id,
                &self.correction,
                &proofs,
                &self.zero_keep,
                std::slice::from_ref(&self.server_zero_commit),
                std::slice::from_ref(&response.zero_open),
            )
        })?;
        let epoch = next_epoch(&share.0)?;
        let confirm = RefreshConfirm {
            run: self.run,
            epoch,
        };
        Ok((
            DeviceShare(KeyShare {
                epoch,
                party: new_party,
            }),
            confirm,
        ))
    }
}

/// The server between the device's two refresh requests.
#[derive(Serialize, Deserialize)]
pub struct ServerRefreshRound1 {
    run: RunId,
    correction: Zeroizing<Scalar>,
    own_proof: ProofCommitment<NistP256>,
    zero_keep: Wiped<BTreeMap<PartyIndex, KeepRefreshPhase2to3>>,
}
wire_type!(ServerRefreshRound1);

impl ServerRefreshRound1 {
    /// Answers the device's first refresh request for `share` in `run`.
    pub fn respond(
        share: &ServerShare,
        run: RunId,
        request: RefreshRequest1,
    ) -> Result<(ServerRefreshRound1, RefreshResponse1), CosignError> {
        if request.run != run {
            return Err(CosignError::WrongRun);
        }
        check_epoch(&share.0, request.epoch)?;
        let party = &share.0.party;
        let refresh_id = run.session_bytes("refresh");
        let fragments = Zeroizing::new(party.refresh_phase1());
        let own = fragment_for(&fragments, Role::Server)?;
        let received = Zeroizing::new([*request.fragment, own]);
        let (correction, proof, zero_keep, zero_commits) =
            party.refresh_phase2(&refresh_id, received.as_slice());
        let response = RefreshResponse1 {
            run,
            epoch: share.epoch(),
            fragment: Zeroizing::new(fragment_for(&fragments, Role::Device)?),
            proof_commitment: proof.commitment,
            zero_commit: only(zero_commits, "refresh")?,
        };
        let state = ServerRefreshRound1 {
            run,
            correction: Zeroizing::new(correction),
            own_proof: proof,
            zero_keep: Wiped(zero_keep),
        };
        Ok((state, response))
    }

    /// Takes the device's openings, opens the server's, and computes the
    /// server's next-epoch share, pending until the device confirms. The
    /// caller keeps the current share until then.
    pub fn on_request(
        self,
        share: &ServerShare,
        request: RefreshRequest2,
    ) -> Result<(ServerRefreshPending, RefreshResponse2), CosignError> {
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
        let party = &share.0.party;
        let refresh_id = self.run.session_bytes("refresh");
        let (zero_keep, zero_opens) = party.refresh_phase3(&self.zero_keep);
        let zero_keep = Wiped(zero_keep);
        let proofs = [request.proof, self.own_proof.clone()];
        let new_party = guarded(Role::Device, || {
            party.refresh_phase4(
                &refresh_id,
                &self.correction,
                &proofs,
                &zero_keep,
                std::slice::from_ref(&request.zero_commit),
                std::slice::from_ref(&request.zero_open),
            )
        })?;
        let response = RefreshResponse2 {
            run: self.run,
            proof: self.own_proof.clone(),
            zero_open: only(zero_opens, "refresh")?,
        };
        let pending = ServerRefreshPending {
            run: self.run,
            epoch: next_epoch(&share.0)?,
            party: new_party,
        };
        Ok((pending, response))
    }
}

/// The server's next-epoch share, waiting for the device's confirmation.
#[derive(Serialize, Deserialize)]
pub struct ServerRefreshPending {
    run: RunId,
    epoch: u64,
    party: Party,
}
wire_type!(ServerRefreshPending);

impl ServerRefreshPending {
    /// The epoch this refresh moves to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The server's share of the new epoch without the device's
    /// confirmation message, for when the device proves it holds the new
    /// epoch otherwise: it signed with it (its confirmation was lost in a
    /// crash). Keep the old share until that signature verifies.
    pub fn into_share(self) -> ServerShare {
        ServerShare(KeyShare {
            epoch: self.epoch,
            party: self.party,
        })
    }

    /// The device holds the new share: it replaces the server's old one.
    pub fn confirm(self, confirm: RefreshConfirm) -> Result<ServerShare, CosignError> {
        if confirm.run != self.run {
            return Err(CosignError::WrongRun);
        }
        if confirm.epoch != self.epoch {
            return Err(CosignError::EpochMismatch {
                ours: self.epoch,
                theirs: confirm.epoch,
            });
        }
        Ok(ServerShare(KeyShare {
            epoch: self.epoch,
            party: self.party,
        }))
    }
}
