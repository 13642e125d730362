//! Loading and storing the server's secrets of one key (share, pending
//! share, OPRF key, unlock-proof keys) through the at-rest encryption, each
//! bound to its row and column, checking unlock proofs against them, and
//! the key-level events: disabling (with its
//! certificate revoked) and freezing an account for a detected clone.

use kaksik_core::crypto::cosign::refresh::ServerRefreshPending;
use kaksik_core::crypto::cosign::{ServerShare, Wire};
use kaksik_core::crypto::oprf::OprfServerKey;
use kaksik_core::crypto::secret::Secret32;
use kaksik_core::crypto::vault;
use kaksik_core::protocol::api::{ErrorCode, KeyInfo, KeyState};
use kaksik_core::role::KeyRole;

use super::DeviceError;
use crate::state::Server;
use crate::store::{AccountKey, Tx};

fn purpose(key: &AccountKey, column: &str) -> String {
    format!("{column}/{}/{}", key.document_number, key.role)
}

/// The current server share.
pub fn share(server: &Server, key: &AccountKey) -> Result<ServerShare, DeviceError> {
    let sealed = key
        .share
        .as_ref()
        .ok_or_else(|| DeviceError::conflict("the key has no share yet"))?;
    let bytes = server.master.open(&purpose(key, "share"), sealed)?;
    Ok(ServerShare::from_secret_bytes(bytes.expose())?)
}

/// Seals a server share into `key.share`.
pub fn set_share(
    server: &Server,
    key: &mut AccountKey,
    share: &ServerShare,
) -> Result<(), DeviceError> {
    let bytes = share.to_secret_bytes()?;
    key.share = Some(server.master.seal(&purpose(key, "share"), bytes.expose())?);
    key.epoch = i64::try_from(share.epoch()).unwrap_or(i64::MAX);
    Ok(())
}

/// The pending (next-epoch) share of an unconfirmed refresh.
pub fn pending_share(
    server: &Server,
    key: &AccountKey,
) -> Result<Option<ServerRefreshPending>, DeviceError> {
    key.pending_share
        .as_ref()
        .map(|sealed| {
            let bytes = server.master.open(&purpose(key, "pending-share"), sealed)?;
            Ok(ServerRefreshPending::from_bytes(bytes.expose())?)
        })
        .transpose()
}

/// Seals a pending share into `key.pending_share`.
pub fn set_pending_share(
    server: &Server,
    key: &mut AccountKey,
    pending: &ServerRefreshPending,
) -> Result<(), DeviceError> {
    let bytes = pending.to_bytes()?;
    key.pending_share = Some(
        server
            .master
            .seal(&purpose(key, "pending-share"), bytes.expose())?,
    );
    Ok(())
}

/// The key's OPRF key.
pub fn oprf_key(server: &Server, key: &AccountKey) -> Result<OprfServerKey, DeviceError> {
    let bytes = server.master.open(&purpose(key, "oprf"), &key.oprf_key)?;
    let bytes: [u8; 32] = bytes.expose().try_into().map_err(|_| {
        DeviceError::new(ErrorCode::ServerError, "stored OPRF key has a bad length")
    })?;
    OprfServerKey::from_bytes(&Secret32::new(bytes))
        .map_err(|_| DeviceError::new(ErrorCode::ServerError, "stored OPRF key is invalid"))
}

/// A fresh OPRF key, sealed for `document_number`/`role`.
pub fn new_oprf_key(
    server: &Server,
    document_number: &str,
    role: KeyRole,
) -> Result<Vec<u8>, DeviceError> {
    let key = OprfServerKey::random();
    Ok(server.master.seal(
        &format!("oprf/{document_number}/{role}"),
        key.to_bytes().expose(),
    )?)
}

/// The key's unlock-proof key.
pub fn unlock_proof_key(server: &Server, key: &AccountKey) -> Result<Secret32, DeviceError> {
    let sealed = key
        .unlock_proof_key
        .as_ref()
        .ok_or_else(|| DeviceError::conflict("the PIN is not set up"))?;
    open_proof_key(server, key, "unlock-proof", sealed)
}

fn open_proof_key(
    server: &Server,
    key: &AccountKey,
    column: &str,
    sealed: &[u8],
) -> Result<Secret32, DeviceError> {
    let bytes = server.master.open(&purpose(key, column), sealed)?;
    let bytes: [u8; 32] = bytes.expose().try_into().map_err(|_| {
        DeviceError::new(ErrorCode::ServerError, "stored proof key has a bad length")
    })?;
    Ok(Secret32::new(bytes))
}

/// Seals the unlock-proof key.
pub fn set_unlock_proof_key(
    server: &Server,
    key: &mut AccountKey,
    bytes: &[u8],
) -> Result<(), DeviceError> {
    key.unlock_proof_key = Some(server.master.seal(&purpose(key, "unlock-proof"), bytes)?);
    Ok(())
}

/// Seals the unlock-proof key of a new PIN beside the current one.
pub fn set_pending_unlock_proof_key(
    server: &Server,
    key: &mut AccountKey,
    bytes: &[u8],
) -> Result<(), DeviceError> {
    key.pending_unlock_proof_key = Some(
        server
            .master
            .seal(&purpose(key, "pending-unlock-proof"), bytes)?,
    );
    Ok(())
}

/// Makes a new PIN's unlock-proof key the key's own (a no-op without
/// one). Returns whether there was one.
pub fn adopt_pending_unlock_proof_key(
    server: &Server,
    key: &mut AccountKey,
) -> Result<bool, DeviceError> {
    let Some(sealed) = key.pending_unlock_proof_key.take() else {
        return Ok(false);
    };
    let pending = open_proof_key(server, key, "pending-unlock-proof", &sealed)?;
    set_unlock_proof_key(server, key, pending.expose())?;
    Ok(true)
}

/// Which PIN an unlock proof shows the device's vault holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvenPin {
    /// No proof, or one neither key accepts: a wrong PIN.
    None,
    /// The key's PIN (any unfinished PIN change never reached the vault).
    Current,
    /// The new PIN of an unfinished change, which the vault does hold.
    New,
}

/// Checks `HMAC(K_proof, evaluation_id)` against the key's unlock-proof
/// key and, during a PIN change, the pending one; settles the change to
/// whichever the proof shows (PROTOCOL.md §2: the vault decides).
pub fn check_unlock_proof(
    server: &Server,
    key: &mut AccountKey,
    evaluation_id: &[u8],
    proof: Option<&[u8]>,
) -> Result<ProvenPin, DeviceError> {
    let Some(proof) = proof else {
        return Ok(ProvenPin::None);
    };
    if vault::verify_unlock_proof(&unlock_proof_key(server, key)?, evaluation_id, proof) {
        key.pending_unlock_proof_key = None;
        return Ok(ProvenPin::Current);
    }
    if let Some(sealed) = &key.pending_unlock_proof_key {
        let pending = open_proof_key(server, key, "pending-unlock-proof", sealed)?;
        if vault::verify_unlock_proof(&pending, evaluation_id, proof) {
            adopt_pending_unlock_proof_key(server, key)?;
            return Ok(ProvenPin::New);
        }
    }
    Ok(ProvenPin::None)
}

/// The key as the device sees it.
pub fn key_info(key: &AccountKey, now: i64) -> KeyInfo {
    let locked_until = match crate::lockout::gate(
        u32::try_from(key.failed_attempts).unwrap_or(u32::MAX),
        key.last_failed_at,
        now,
    ) {
        crate::lockout::Gate::Locked { until } => Some(until),
        _ => None,
    };
    let state = if key.state == "DISABLED" {
        KeyState::Disabled
    } else if locked_until.is_some() {
        KeyState::Timelocked
    } else {
        KeyState::Active
    };
    KeyInfo {
        role: key.role,
        state,
        failed_attempts: u32::try_from(key.failed_attempts).unwrap_or(u32::MAX),
        locked_until,
        certificate_pem: key.cert_pem.clone(),
    }
}

/// Disables a key for good: state, revoked certificate, running sessions
/// of that key ended with `end_result`, audit line. Inside the caller's
/// transaction.
pub async fn disable_key(
    tx: &mut dyn Tx,
    key: &mut AccountKey,
    now: i64,
    end_result: &str,
    why: &str,
) -> Result<(), DeviceError> {
    key.state = "DISABLED".into();
    key.share = None;
    key.pending_share = None;
    tx.update_key(key).await?;
    if let Some(serial) = &key.cert_serial {
        tx.revoke_certificate(serial, now).await?;
    }
    for mut session in tx.running_sessions(&key.document_number).await? {
        if session.role == key.role {
            session.state = "COMPLETE".into();
            session.end_result = Some(end_result.into());
            tx.update_session(&session).await?;
        }
    }
    tx.audit(
        &key.document_number,
        now,
        "KEY_DISABLED",
        &format!("{} key: {why}", key.role),
    )
    .await?;
    Ok(())
}

/// Freezes an account whose epoch token shows a copied device: every key
/// is unusable, every open session ends, and the event is audited.
pub async fn freeze_for_clone(
    tx: &mut dyn Tx,
    document_number: &str,
    role: KeyRole,
    now: i64,
) -> Result<(), DeviceError> {
    tx.set_account_state(document_number, "FROZEN").await?;
    for mut session in tx.running_sessions(document_number).await? {
        session.state = "COMPLETE".into();
        session.end_result = Some("ACCOUNT_UNUSABLE".into());
        tx.update_session(&session).await?;
    }
    tx.audit(
        document_number,
        now,
        "CLONE_DETECTED",
        &format!("a retired epoch token of the {role} key was presented; account frozen"),
    )
    .await?;
    Ok(())
}
