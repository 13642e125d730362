//! PIN change on the server (PROTOCOL.md §2): a `PIN_CHANGE` transaction
//! of one key, in which the old PIN is unlocked exactly as for an approval
//! (counted, locked, reset: [`super::transactions::unlock`]), then the new
//! PIN is evaluated once, its `K_proof` kept as *pending* beside the
//! current one, and adopted when the device confirms it re-sealed its
//! vault.
//!
//! The device's vault is the commit point. Until the confirmation arrives
//! both `K_proof`s are accepted by the next unlock
//! ([`super::keys::check_unlock_proof`]), and the one the proof matches is
//! kept: a crash on either side never leaves a PIN that the device's vault
//! accepts and the server refuses, or the other way round.
//!
//! The transaction's progress lives in the session's `result` column (a
//! `PIN_CHANGE` session never reaches an RP), so each step can check the
//! one before it happened in this very transaction.

use kaksik_core::crypto::cosign::RunId;
use kaksik_core::crypto::oprf::{self, BlindedElement};
use kaksik_core::crypto::secret::Secret32;
use kaksik_core::crypto::vault;
use kaksik_core::protocol::api::{
    B64, ErrorCode, NewPinSetup, OprfRequest, OprfResponse, PinChangeStarted,
};
use kaksik_core::role::KeyRole;
use serde::{Deserialize, Serialize};

use super::registration::random_id;
use super::transactions::{attempts, caller, parse, running_session, usable_key};
use super::{DeviceError, keys};
use crate::state::Server;
use crate::store::{Session, Tx};

/// The session kind of a PIN change.
pub const KIND: &str = "PIN_CHANGE";

/// How long a PIN change may take, in seconds: typing two PINs twice.
const TTL_SECS: i64 = 300;

/// What a PIN change transaction has done so far.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    /// The old PIN was proven in this transaction.
    old_pin_proven: bool,
    /// The new PIN's evaluation (hex), once served.
    new_evaluation: Option<String>,
    /// The new `K_proof` is pending on the key.
    new_pin_set: bool,
}

fn progress(session: &Session) -> Result<Progress, DeviceError> {
    session
        .result
        .as_deref()
        .map_or_else(|| Ok(Progress::default()), parse)
}

fn store_progress(session: &mut Session, progress: &Progress) -> Result<(), DeviceError> {
    session.result = Some(
        serde_json::to_string(progress)
            .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?,
    );
    Ok(())
}

/// Called by the unlock report when the old PIN was proven in `session`.
pub(super) fn old_pin_proven(session: &mut Session) -> Result<(), DeviceError> {
    let mut done = progress(session)?;
    done.old_pin_proven = true;
    store_progress(session, &done)
}

/// The running PIN change `id` of the caller, with the caller's key.
async fn pin_change_session(
    tx: &mut dyn Tx,
    device_id: &str,
    id: &str,
    now: i64,
) -> Result<(Session, crate::store::AccountKey), DeviceError> {
    let account = caller(tx, device_id).await?;
    let session = running_session(tx, &account, id, now).await?;
    if session.kind != KIND {
        return Err(DeviceError::conflict("not a PIN change transaction"));
    }
    let key = usable_key(tx, &session).await?;
    Ok((session, key))
}

/// Opens a PIN change of the caller's `role` key. Only a ready account
/// (both PINs verified) may change a PIN; a disabled key cannot.
pub async fn start(
    server: &Server,
    device_id: &str,
    role: KeyRole,
) -> Result<PinChangeStarted, DeviceError> {
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    if account.state != "READY" {
        return Err(DeviceError::conflict(
            "the account is not ready: verify both PINs first",
        ));
    }
    let key = tx
        .key(&account.document_number, role)
        .await?
        .ok_or_else(|| DeviceError::not_found("key"))?;
    if key.state == "DISABLED" {
        return Err(DeviceError::new(
            ErrorCode::KeyDisabled,
            format!("the {role} key is disabled"),
        ));
    }
    let session = Session {
        id: random_id(),
        rp_uuid: None,
        kind: KIND.into(),
        document_number: account.document_number.clone(),
        role,
        state: "RUNNING".into(),
        end_result: None,
        request: "{}".into(),
        // Never signed with; the column wants a run id.
        sign_run: RunId::random().0.to_vec(),
        created_at: now,
        expires_at: now + TTL_SECS,
        result: None,
    };
    tx.insert_session(&session).await?;
    tx.commit().await?;
    Ok(PinChangeStarted {
        transaction_id: session.id,
        expires_at: session.expires_at,
    })
}

/// Evaluates the new PIN, once per PIN change, after the old one was
/// proven. Not counted: knowing the old PIN is the right to set a new one.
pub async fn new_pin(
    server: &Server,
    device_id: &str,
    id: &str,
    request: OprfRequest,
) -> Result<OprfResponse, DeviceError> {
    let blinded = BlindedElement::from_bytes(request.blinded.as_bytes())
        .map_err(|e| DeviceError::bad_request(format!("blinded: {e}")))?;
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let (mut session, key) = pin_change_session(tx.as_mut(), device_id, id, now).await?;
    let mut done = progress(&session)?;
    if !done.old_pin_proven {
        return Err(DeviceError::conflict("the old PIN has not been proven"));
    }
    if done.new_evaluation.is_some() {
        return Err(DeviceError::conflict(
            "the new PIN was evaluated already; start the PIN change again",
        ));
    }
    let evaluation_id = Secret32::random().expose().to_vec();
    tx.insert_evaluation(&evaluation_id, &key.document_number, key.role, now)
        .await?;
    done.new_evaluation = Some(hex::encode(&evaluation_id));
    store_progress(&mut session, &done)?;
    tx.update_session(&session).await?;
    let oprf_key = keys::oprf_key(server, &key)?;
    tx.commit().await?;
    let evaluated = oprf::evaluate(&oprf_key, &blinded);
    Ok(OprfResponse {
        evaluated: B64(evaluated.to_bytes().to_vec()),
        evaluation_id: B64(evaluation_id),
        failed_attempts: attempts(&key),
    })
}

/// Keeps the new PIN's `K_proof` as pending, after checking the device
/// derived it from the new PIN's evaluation.
pub async fn new_pin_setup(
    server: &Server,
    device_id: &str,
    id: &str,
    request: NewPinSetup,
) -> Result<(), DeviceError> {
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let (mut session, mut key) = pin_change_session(tx.as_mut(), device_id, id, now).await?;
    let mut done = progress(&session)?;
    let evaluation_hex = hex::encode(request.evaluation_id.as_bytes());
    if done.new_evaluation.as_deref() != Some(evaluation_hex.as_str()) || done.new_pin_set {
        return Err(DeviceError::conflict(
            "evaluation is not this PIN change's new PIN, or was used",
        ));
    }
    let proof_key: [u8; 32] = request
        .unlock_proof_key
        .as_bytes()
        .try_into()
        .map_err(|_| DeviceError::bad_request("unlock_proof_key must be 32 bytes"))?;
    let proof_key = Secret32::new(proof_key);
    if !vault::verify_unlock_proof(
        &proof_key,
        request.evaluation_id.as_bytes(),
        request.proof.as_bytes(),
    ) {
        return Err(DeviceError::bad_request(
            "proof does not match unlock_proof_key",
        ));
    }
    keys::set_pending_unlock_proof_key(server, &mut key, proof_key.expose())?;
    tx.update_key(&key).await?;
    tx.set_evaluation_outcome(request.evaluation_id.as_bytes(), "RIGHT")
        .await?;
    done.new_pin_set = true;
    store_progress(&mut session, &done)?;
    tx.update_session(&session).await?;
    tx.commit().await?;
    Ok(())
}

/// The device wrote its vault under the new PIN: the new `K_proof` becomes
/// the key's, and the transaction ends.
pub async fn confirm(server: &Server, device_id: &str, id: &str) -> Result<(), DeviceError> {
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let (mut session, mut key) = pin_change_session(tx.as_mut(), device_id, id, now).await?;
    if !progress(&session)?.new_pin_set {
        return Err(DeviceError::conflict("the new PIN has not been set up"));
    }
    // Already adopted if an unlock proved the new PIN first.
    keys::adopt_pending_unlock_proof_key(server, &mut key)?;
    tx.update_key(&key).await?;
    session.state = "COMPLETE".into();
    session.end_result = Some("OK".into());
    tx.update_session(&session).await?;
    tx.audit(
        &key.document_number,
        now,
        "PIN_CHANGED",
        &format!("{} key", key.role),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
