//! The co-signing protocols over the wire: each device-side state machine
//! of [`crate::crypto::cosign`] driven through its endpoints.
//!
//! | protocol | requests |
//! |---|---|
//! | DKG | `registration_dkg` steps 1, 2, 3 (`DkgRequest1`, `DkgRequest2`, `DkgConfirm`) |
//! | signing | `sign_start` ([`SignStart`] around `SignRequest1`), `sign_finish` (`SignRequest2`) → [`SignDone`] |
//! | refresh | `refresh` steps 1, 2 (`RefreshRequest1`, `RefreshRequest2`); `RefreshConfirm` goes with the confirmation |
//!
//! Every step is sent once ([`Call::Step`]): the crate cannot detect a
//! replayed phase, and a lost answer is resumed by starting a new run (a
//! DKG from step 1) or, for signing, by the epoch-token handover.
//! Every protocol computation runs off the async workers (a DKG round
//! takes about a second). Messages travel as [`CosignStep`] envelopes,
//! and their bytes are wiped once sent or read, since `B64` does not wipe
//! itself.

use std::sync::Arc;

use p256::ecdsa::Signature;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::error::ClientError;
use super::transport::Call;
use super::view::ToSign;
use super::{Authenticator, offload};
use crate::crypto::cosign::dkg::{DeviceDkg, DkgResponse1, DkgResponse2};
use crate::crypto::cosign::refresh::{
    DeviceRefresh, RefreshConfirm, RefreshResponse1, RefreshResponse2,
};
use crate::crypto::cosign::sign::{DeviceSigning, SignResponse1};
use crate::crypto::cosign::{DeviceShare, RunId, Wire};
use crate::crypto::secret::Secret32;
use crate::protocol::api::{B64, CosignStep, Empty, SignDone, SignFinish, SignStart, path};
use crate::role::KeyRole;

/// The epoch tokens of one signing (PROTOCOL.md §4.5).
pub(super) struct EpochTokens<'a> {
    /// `T_e`, from the vault.
    pub(super) current: &'a Secret32,
    /// `T_{e+1}`, fresh; only its hash is sent now.
    pub(super) next: &'a Secret32,
}

impl Authenticator {
    /// DKG steps 1–3 for `role` in registration `registration_id`: the
    /// device's share, in memory only (the caller seals it).
    pub(super) async fn run_dkg(
        &self,
        registration_id: &str,
        role: KeyRole,
        run: RunId,
    ) -> Result<DeviceShare, ClientError> {
        let step = |n| path::registration_dkg(registration_id, role, n);
        let (state, request1) = offload(move || DeviceDkg::start(run))
            .await?
            .map_err(ClientError::from_cosign)?;
        let response1: DkgResponse1 = self.exchange(&step(1), &request1).await?;
        let (state, request2) = offload(move || state.on_response(response1))
            .await?
            .map_err(ClientError::from_cosign)?;
        let response2: DkgResponse2 = self.exchange(&step(2), &request2).await?;
        let (share, confirm) = offload(move || state.on_response(response2))
            .await?
            .map_err(ClientError::from_cosign)?;
        let mut confirm = CosignStep {
            message: envelope(&confirm)?,
        };
        let sent = self.post::<_, Empty>(&step(3), &confirm, Call::Step).await;
        confirm.message.0.zeroize();
        sent?;
        Ok(share)
    }

    /// Signing rounds 1 and 2 of transaction `transaction_id`, then the
    /// device's own check of the signature the server combined.
    pub(super) async fn co_sign(
        &self,
        transaction_id: &str,
        share: &Arc<DeviceShare>,
        to_sign: &ToSign,
        tokens: EpochTokens<'_>,
        chosen_code: Option<&str>,
    ) -> Result<SignDone, ClientError> {
        let (run, digest) = (to_sign.run, to_sign.digest.clone());
        let device = Arc::clone(share);
        let (signing, request1) = offload(move || DeviceSigning::start(&device, run, &digest))
            .await?
            .map_err(ClientError::from_cosign)?;
        let mut start = SignStart {
            epoch: share.epoch(),
            epoch_token: B64(tokens.current.expose().to_vec()),
            next_epoch_token_hash: B64(Sha256::digest(tokens.next.expose()).to_vec()),
            user_challenge: to_sign.user_challenge.clone(),
            interaction_used: to_sign.interaction_used.map(|i| i.as_str().to_owned()),
            chosen_code: chosen_code.map(str::to_owned),
            message: envelope(&request1)?,
        };
        let answer = self
            .post::<_, CosignStep>(&path::sign_start(transaction_id), &start, Call::Step)
            .await;
        start.epoch_token.0.zeroize();
        start.message.0.zeroize();
        let response1: SignResponse1 = open(answer?)?;

        let device = Arc::clone(share);
        let request2 = offload(move || signing.on_response(&device, response1))
            .await?
            .map_err(ClientError::from_cosign)?;
        let mut finish = SignFinish {
            message: envelope(&request2)?,
        };
        let done = self
            .post::<_, SignDone>(&path::sign_finish(transaction_id), &finish, Call::Step)
            .await;
        finish.message.0.zeroize();
        let done = done?;
        check_signature(share, to_sign, &done)?;
        Ok(done)
    }

    /// Refresh steps 1 and 2: the share of the next epoch, and the
    /// confirmation to send once it is stored.
    pub(super) async fn refresh(
        &self,
        transaction_id: &str,
        share: &Arc<DeviceShare>,
        run: RunId,
    ) -> Result<(DeviceShare, RefreshConfirm), ClientError> {
        let device = Arc::clone(share);
        let (state, request1) = offload(move || DeviceRefresh::start(&device, run))
            .await?
            .map_err(ClientError::from_cosign)?;
        let response1: RefreshResponse1 = self
            .exchange(&path::refresh(transaction_id, 1), &request1)
            .await?;
        let device = Arc::clone(share);
        let (state, request2) = offload(move || state.on_response(&device, response1))
            .await?
            .map_err(ClientError::from_cosign)?;
        let response2: RefreshResponse2 = self
            .exchange(&path::refresh(transaction_id, 2), &request2)
            .await?;
        let device = Arc::clone(share);
        offload(move || state.on_response(&device, response2))
            .await?
            .map_err(ClientError::from_cosign)
    }

    /// Sends one protocol message and reads the one that answers it.
    async fn exchange<Req: Wire, Resp: Wire>(
        &self,
        path: &str,
        request: &Req,
    ) -> Result<Resp, ClientError> {
        let mut step = CosignStep {
            message: envelope(request)?,
        };
        let answer = self.post::<_, CosignStep>(path, &step, Call::Step).await;
        step.message.0.zeroize();
        open(answer?)
    }
}

/// A protocol message as the API carries it.
pub(super) fn envelope<T: Wire>(message: &T) -> Result<B64, ClientError> {
    let bytes = message
        .to_bytes()
        .map_err(|error| ClientError::Internal(format!("encoding a protocol message: {error}")))?;
    Ok(B64(bytes.expose().to_vec()))
}

/// Reads the protocol message in `step`, then wipes its bytes.
fn open<T: Wire>(mut step: CosignStep) -> Result<T, ClientError> {
    let message = T::from_bytes(step.message.as_bytes()).map_err(ClientError::from_cosign);
    step.message.0.zeroize();
    message
}

/// The server combined and verified the signature; the device checks it
/// too, against its own view of the joint key and of what it meant to
/// sign, before it moves to the next epoch.
fn check_signature(
    share: &DeviceShare,
    to_sign: &ToSign,
    done: &SignDone,
) -> Result<(), ClientError> {
    let key = share.public_key().map_err(ClientError::from_cosign)?;
    let signature = Signature::from_der(done.signature.as_bytes())
        .map_err(|_| ClientError::invalid_response("the signature is not DER ECDSA"))?;
    key.verify_prehash(to_sign.digest.as_bytes(), &signature)
        .map_err(|_| {
            ClientError::invalid_response("the signature does not verify for what was signed")
        })
}
