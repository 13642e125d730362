//! Registration (PROTOCOL.md §5): enrolment code → registration code the
//! operator confirms → DKG of both keys → PIN setup → certificates → the
//! PIN verification transactions that make the account READY.

use kaksik_core::crypto::cosign::dkg::{
    DkgConfirm, DkgRequest1, DkgRequest2, ServerDkgPending, ServerDkgRound1,
};
use kaksik_core::crypto::cosign::{RunId, ServerShare, Wire};
use kaksik_core::crypto::oprf::{self, BlindedElement};
use kaksik_core::crypto::secret::Secret32;
use kaksik_core::crypto::vault;
use kaksik_core::protocol::api::{
    self, AccountInfo, AccountState, B64, CosignStep, ErrorCode, KeyRuns, OprfRequest,
    OprfResponse, PinSetup, RegistrationStarted, RegistrationState, RegistrationStatus,
    StartRegistration,
};
use kaksik_core::role::KeyRole;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys;
use super::{DeviceError, blocking};
use crate::ca::{self, CertificateRequest, Validity};
use crate::state::Server;
use crate::store::{Account, AccountKey, Registration, Session, Tx};

/// SHA-256 of a normalised enrolment code: the only form it is stored in.
pub fn enrolment_hash(code: &str) -> Vec<u8> {
    Sha256::digest(api::normalize_enrolment_code(code).as_bytes()).to_vec()
}

fn run_id(bytes: &[u8]) -> Result<RunId, DeviceError> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| DeviceError::new(ErrorCode::ServerError, "stored run id has a bad length"))?;
    Ok(RunId(bytes))
}

/// A fresh id for a registration or a session: 128 random bits in
/// lower-case hex, so it never starts with `-` (which command-line tools
/// would read as a flag) and needs no escaping anywhere.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

/// Starts a registration with an enrolment code. Retrying with the same
/// code from the same device returns the same registration, so a lost
/// response does not burn the code.
pub async fn start(
    server: &Server,
    device_id: &str,
    device_public_key: &[u8],
    request: StartRegistration,
) -> Result<RegistrationStarted, DeviceError> {
    let now = server.now();
    let code_hash = enrolment_hash(&request.enrolment_code);
    let mut tx = server.store.begin().await?;
    let enrolment = tx
        .enrolment(&code_hash)
        .await?
        .filter(|e| e.expires_at > now)
        .ok_or_else(|| {
            DeviceError::new(
                ErrorCode::EnrolmentInvalid,
                "unknown or expired enrolment code",
            )
        })?;
    if let Some(existing) = tx.registration_by_enrolment(&code_hash).await? {
        if existing.device_id == device_id {
            return Ok(started(&existing, enrolment.identity));
        }
        return Err(DeviceError::new(
            ErrorCode::EnrolmentInvalid,
            "enrolment code already used",
        ));
    }
    if !tx.use_enrolment(&code_hash, now).await? {
        return Err(DeviceError::new(
            ErrorCode::EnrolmentInvalid,
            "enrolment code already used",
        ));
    }
    if tx.account_by_device(device_id).await?.is_some() {
        return Err(DeviceError::conflict(
            "this device key is already registered",
        ));
    }
    let id = random_id();
    let document_number = ca::document_number(&enrolment.identity)
        .map_err(|e| DeviceError::bad_request(e.to_string()))?;
    let registration = Registration {
        id: id.clone(),
        enrolment_hash: code_hash,
        device_id: device_id.to_owned(),
        device_public_key: device_public_key.to_vec(),
        document_number: document_number.clone(),
        registration_code: api::registration_code(&id, device_public_key, &request.enrolment_code)
            .to_string(),
        state: "AWAITING_CONFIRMATION".into(),
        dkg_run_auth: RunId::random().0.to_vec(),
        dkg_run_sign: RunId::random().0.to_vec(),
        created_at: now,
        expires_at: now + server.config.enrolment_ttl_secs,
    };
    tx.insert_registration(&registration).await?;
    tx.insert_account(&Account {
        document_number: document_number.clone(),
        identity: enrolment.identity.clone(),
        device_id: device_id.to_owned(),
        device_public_key: device_public_key.to_vec(),
        state: "REGISTERING".into(),
        created_at: now,
    })
    .await?;
    for role in KeyRole::ALL {
        tx.insert_key(&AccountKey {
            document_number: document_number.clone(),
            role,
            state: "SETUP".into(),
            verified: false,
            public_key: None,
            epoch: 0,
            share: None,
            pending_share: None,
            oprf_key: keys::new_oprf_key(server, &document_number, role)?,
            unlock_proof_key: None,
            pending_unlock_proof_key: None,
            failed_attempts: 0,
            last_failed_at: None,
            token_hash: None,
            next_token_hash: None,
            signatures_since_refresh: 0,
            refreshed_at: now,
            cert_serial: None,
            cert_pem: None,
        })
        .await?;
    }
    tx.audit(
        &document_number,
        now,
        "REGISTRATION_STARTED",
        &format!("device {device_id}"),
    )
    .await?;
    tx.commit().await?;
    server.notify();
    Ok(started(&registration, enrolment.identity))
}

fn started(registration: &Registration, identity: api::Identity) -> RegistrationStarted {
    RegistrationStarted {
        registration_id: registration.id.clone(),
        document_number: registration.document_number.clone(),
        identity,
        dkg_runs: KeyRuns {
            auth: B64(registration.dkg_run_auth.clone()),
            sign: B64(registration.dkg_run_sign.clone()),
        },
    }
}

/// The operator confirms the code the person reads from the app.
pub async fn confirm(
    server: &Server,
    enrolment_code: &str,
    registration_code: &str,
) -> Result<String, DeviceError> {
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let registration = tx
        .registration_by_enrolment(&enrolment_hash(enrolment_code))
        .await?
        .ok_or_else(|| {
            DeviceError::not_found("registration for this enrolment code (has the app started?)")
        })?;
    if registration.expires_at <= now {
        return Err(DeviceError::new(
            ErrorCode::EnrolmentInvalid,
            "registration expired",
        ));
    }
    let matches: bool = subtle::ConstantTimeEq::ct_eq(
        registration.registration_code.as_bytes(),
        registration_code.trim().as_bytes(),
    )
    .into();
    if !matches {
        tx.audit(
            &registration.document_number,
            now,
            "REGISTRATION_CODE_MISMATCH",
            "operator entered another code",
        )
        .await?;
        tx.commit().await?;
        return Err(DeviceError::bad_request(
            "the registration code does not match the app's",
        ));
    }
    if registration.state == "AWAITING_CONFIRMATION" {
        tx.set_registration_state(&registration.id, "CONFIRMED")
            .await?;
        tx.audit(
            &registration.document_number,
            now,
            "REGISTRATION_CONFIRMED",
            "codes matched",
        )
        .await?;
    }
    tx.commit().await?;
    server.notify();
    Ok(registration.document_number)
}

async fn registration_of(
    tx: &mut dyn Tx,
    id: &str,
    device_id: &str,
) -> Result<Registration, DeviceError> {
    tx.registration(id)
        .await?
        .filter(|r| r.device_id == device_id)
        .ok_or_else(|| DeviceError::not_found("registration"))
}

fn registration_state(registration: &Registration, now: i64) -> RegistrationState {
    match registration.state.as_str() {
        "COMPLETE" => RegistrationState::Complete,
        _ if registration.expires_at <= now => RegistrationState::Expired,
        "CONFIRMED" => RegistrationState::Confirmed,
        _ => RegistrationState::AwaitingConfirmation,
    }
}

/// Long-polls a registration until the operator confirms it.
pub async fn status(
    server: &Server,
    device_id: &str,
    id: &str,
    wait_seconds: u32,
) -> Result<RegistrationStatus, DeviceError> {
    let wait = u64::from(wait_seconds.min(api::MAX_WAIT_SECONDS));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let mut tx = server.store.begin().await?;
        let registration = registration_of(tx.as_mut(), id, device_id).await?;
        drop(tx);
        let state = registration_state(&registration, server.now());
        if state != RegistrationState::AwaitingConfirmation
            || tokio::time::Instant::now() >= deadline
        {
            return Ok(RegistrationStatus { state });
        }
        server.wait_for_change(deadline).await;
    }
}

async fn confirmed(
    server: &Server,
    device_id: &str,
    id: &str,
) -> Result<(Registration, Box<dyn Tx>), DeviceError> {
    let mut tx = server.store.begin().await?;
    let registration = registration_of(tx.as_mut(), id, device_id).await?;
    match registration_state(&registration, server.now()) {
        RegistrationState::Confirmed => Ok((registration, tx)),
        RegistrationState::AwaitingConfirmation => Err(DeviceError::conflict(
            "the registration code is not confirmed yet",
        )),
        RegistrationState::Complete => Err(DeviceError::conflict("registration already complete")),
        RegistrationState::Expired => Err(DeviceError::new(
            ErrorCode::EnrolmentInvalid,
            "registration expired",
        )),
    }
}

fn decode<T: Wire>(message: &B64) -> Result<T, DeviceError> {
    Ok(T::from_bytes(message.as_bytes())?)
}

fn encode<T: Wire>(message: &T) -> Result<CosignStep, DeviceError> {
    Ok(CosignStep {
        message: B64(message.to_bytes()?.expose().to_vec()),
    })
}

fn state_id(registration: &str, role: KeyRole) -> String {
    format!("dkg/{registration}/{role}")
}

/// One DKG step (1, 2 or 3) for one key.
pub async fn dkg_step(
    server: &Server,
    device_id: &str,
    id: &str,
    role: KeyRole,
    step: u8,
    request: CosignStep,
) -> Result<Option<CosignStep>, DeviceError> {
    let (registration, mut tx) = confirmed(server, device_id, id).await?;
    let key = tx
        .key(&registration.document_number, role)
        .await?
        .ok_or_else(|| DeviceError::not_found("key"))?;
    // A DKG may be redone until the key's PIN is set up: the device seals
    // its share only after DKG step 3, so a crash in between must not
    // strand the registration.
    if key.unlock_proof_key.is_some() {
        return Err(DeviceError::conflict(
            "this key's DKG and PIN setup are complete",
        ));
    }
    let run = run_id(match role {
        KeyRole::Auth => &registration.dkg_run_auth,
        KeyRole::Sign => &registration.dkg_run_sign,
    })?;
    let sid = state_id(id, role);
    let stored = tx.protocol_state(&sid).await?;
    drop(tx);
    let now = server.now();
    let purpose = format!("protocol-state/{sid}");
    match step {
        1 => {
            // Step 1 may be repeated: it restarts the DKG.
            let message: DkgRequest1 = decode(&request.message)?;
            let (state, response) =
                blocking(move || ServerDkgRound1::respond(run, message)).await??;
            let sealed = server.master.seal(&purpose, state.to_bytes()?.expose())?;
            let mut tx = server.store.begin().await?;
            tx.swap_protocol_state(
                &sid,
                stored.map(|s| s.version),
                Some(("DkgRound1", &sealed)),
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(Some(encode(&response)?))
        }
        2 => {
            let stored = stored
                .filter(|s| s.kind == "DkgRound1")
                .ok_or_else(|| DeviceError::conflict("DKG step 2 before step 1"))?;
            let state =
                ServerDkgRound1::from_bytes(server.master.open(&purpose, &stored.blob)?.expose())?;
            let message: DkgRequest2 = decode(&request.message)?;
            let (pending, response) = blocking(move || state.on_request(message)).await??;
            let sealed = server.master.seal(&purpose, pending.to_bytes()?.expose())?;
            let mut tx = server.store.begin().await?;
            tx.swap_protocol_state(
                &sid,
                Some(stored.version),
                Some(("DkgPending", &sealed)),
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(Some(encode(&response)?))
        }
        3 => {
            let stored = stored
                .filter(|s| s.kind == "DkgPending")
                .ok_or_else(|| DeviceError::conflict("DKG step 3 before step 2"))?;
            let pending =
                ServerDkgPending::from_bytes(server.master.open(&purpose, &stored.blob)?.expose())?;
            let message: DkgConfirm = decode(&request.message)?;
            let share: ServerShare = pending.confirm(message)?;
            let public_key = share.public_key()?;
            let mut tx = server.store.begin().await?;
            let mut key = tx
                .key(&registration.document_number, role)
                .await?
                .ok_or_else(|| DeviceError::not_found("key"))?;
            keys::set_share(server, &mut key, &share)?;
            key.public_key = Some(public_key.to_sec1_point(true).as_bytes().to_vec());
            tx.update_key(&key).await?;
            tx.swap_protocol_state(&sid, Some(stored.version), None, now)
                .await?;
            tx.audit(
                &registration.document_number,
                now,
                "KEY_GENERATED",
                &format!("{role} key, 2-of-2"),
            )
            .await?;
            tx.commit().await?;
            Ok(None)
        }
        _ => Err(DeviceError::not_found("DKG step")),
    }
}

/// The PIN-setup OPRF evaluation (not counted: no share is sealed yet).
pub async fn pin_evaluate(
    server: &Server,
    device_id: &str,
    id: &str,
    role: KeyRole,
    request: OprfRequest,
) -> Result<OprfResponse, DeviceError> {
    let (registration, mut tx) = confirmed(server, device_id, id).await?;
    let key = tx
        .key(&registration.document_number, role)
        .await?
        .ok_or_else(|| DeviceError::not_found("key"))?;
    if key.share.is_none() {
        return Err(DeviceError::conflict("PIN setup before the key exists"));
    }
    if key.unlock_proof_key.is_some() {
        return Err(DeviceError::conflict("the PIN of this key is already set"));
    }
    let blinded = BlindedElement::from_bytes(request.blinded.as_bytes())
        .map_err(|e| DeviceError::bad_request(format!("blinded: {e}")))?;
    let evaluated = oprf::evaluate(&keys::oprf_key(server, &key)?, &blinded);
    let evaluation_id = Secret32::random().expose().to_vec();
    tx.insert_evaluation(
        &evaluation_id,
        &registration.document_number,
        role,
        server.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(OprfResponse {
        evaluated: B64(evaluated.to_bytes().to_vec()),
        evaluation_id: B64(evaluation_id),
        failed_attempts: 0,
    })
}

/// Stores the unlock-proof key and the first epoch token hash.
pub async fn pin_setup(
    server: &Server,
    device_id: &str,
    id: &str,
    role: KeyRole,
    request: PinSetup,
) -> Result<(), DeviceError> {
    let (registration, mut tx) = confirmed(server, device_id, id).await?;
    let mut key = tx
        .key(&registration.document_number, role)
        .await?
        .ok_or_else(|| DeviceError::not_found("key"))?;
    let (owner, eval_role, outcome) = tx
        .evaluation(request.evaluation_id.as_bytes())
        .await?
        .ok_or_else(|| DeviceError::not_found("evaluation"))?;
    if owner != registration.document_number || eval_role != role || outcome.is_some() {
        return Err(DeviceError::conflict(
            "evaluation does not belong to this PIN setup",
        ));
    }
    let proof_key: [u8; 32] = request
        .unlock_proof_key
        .as_bytes()
        .try_into()
        .map_err(|_| DeviceError::bad_request("unlock_proof_key must be 32 bytes"))?;
    if !vault::verify_unlock_proof(
        &Secret32::new(proof_key),
        request.evaluation_id.as_bytes(),
        request.proof.as_bytes(),
    ) {
        return Err(DeviceError::bad_request(
            "proof does not match unlock_proof_key",
        ));
    }
    if request.epoch_token_hash.as_bytes().len() != 32 {
        return Err(DeviceError::bad_request(
            "epoch_token_hash must be 32 bytes",
        ));
    }
    keys::set_unlock_proof_key(server, &mut key, &proof_key)?;
    key.token_hash = Some(request.epoch_token_hash.0.clone());
    tx.update_key(&key).await?;
    tx.set_evaluation_outcome(request.evaluation_id.as_bytes(), "RIGHT")
        .await?;
    tx.commit().await?;
    Ok(())
}

/// What a PIN verification transaction signs: a random digest.
#[derive(Serialize, Deserialize)]
pub struct PinVerificationRequest {
    /// Standard Base64 of the digest.
    pub digest: String,
}

/// Issues both certificates, opens the account, and queues the two PIN
/// verification transactions.
pub async fn finish(
    server: &Server,
    device_id: &str,
    id: &str,
) -> Result<AccountInfo, DeviceError> {
    let (registration, mut tx) = confirmed(server, device_id, id).await?;
    let now = server.now();
    let account = tx
        .account(&registration.document_number)
        .await?
        .ok_or_else(|| DeviceError::not_found("account"))?;
    let mut keys_ready = Vec::new();
    for role in KeyRole::ALL {
        let key = tx
            .key(&registration.document_number, role)
            .await?
            .ok_or_else(|| DeviceError::not_found("key"))?;
        if key.share.is_none() || key.unlock_proof_key.is_none() || key.token_hash.is_none() {
            return Err(DeviceError::conflict(format!(
                "the {role} key is not set up yet"
            )));
        }
        keys_ready.push(key);
    }
    for key in &mut keys_ready {
        let public_key = keys::share(server, key)?.public_key()?;
        let issued = server
            .ca
            .issue(&CertificateRequest {
                public_key,
                role: key.role,
                identity: account.identity.clone(),
                document_number: account.document_number.clone(),
                validity: Validity::starting_now(time::Duration::days(3 * 365))
                    .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?,
            })
            .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?;
        key.cert_serial = Some(issued.serial.to_string());
        key.cert_pem = Some(issued.pem);
        key.state = "ACTIVE".into();
        tx.update_key(key).await?;
        let mut digest = [0u8; 32];
        rand::fill(&mut digest);
        let request = serde_json::to_string(&PinVerificationRequest {
            digest: kaksik_core::rp::encoding::encode_std(&digest),
        })
        .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?;
        tx.insert_session(&Session {
            id: random_id(),
            rp_uuid: None,
            kind: "PIN_VERIFICATION".into(),
            document_number: account.document_number.clone(),
            role: key.role,
            state: "RUNNING".into(),
            end_result: None,
            request,
            sign_run: RunId::random().0.to_vec(),
            created_at: now,
            expires_at: now + server.config.enrolment_ttl_secs,
            result: None,
        })
        .await?;
    }
    // A new registration replaces the person's previous account.
    for old in tx
        .accounts_by_semantics_id(&account.identity.semantics_identifier())
        .await?
    {
        if old.document_number != account.document_number && old.state != "DISABLED" {
            for role in KeyRole::ALL {
                if let Some(mut old_key) = tx.key(&old.document_number, role).await?
                    && old_key.state != "DISABLED"
                {
                    keys::disable_key(
                        tx.as_mut(),
                        &mut old_key,
                        now,
                        "DOCUMENT_UNUSABLE",
                        "replaced by a new registration",
                    )
                    .await?;
                }
            }
            tx.set_account_state(&old.document_number, "DISABLED")
                .await?;
        }
    }
    tx.set_account_state(&account.document_number, "IN_PREPARATION")
        .await?;
    tx.set_registration_state(&registration.id, "COMPLETE")
        .await?;
    tx.audit(
        &account.document_number,
        now,
        "CERTIFICATES_ISSUED",
        "authentication and signing",
    )
    .await?;
    tx.commit().await?;
    server.notify();
    account_info(server, device_id).await
}

/// The caller's account.
pub async fn account_info(server: &Server, device_id: &str) -> Result<AccountInfo, DeviceError> {
    let mut tx = server.store.begin().await?;
    let account = tx
        .account_by_device(device_id)
        .await?
        .ok_or_else(|| DeviceError::not_found("account"))?;
    let now = server.now();
    let mut keys_info = Vec::new();
    for role in KeyRole::ALL {
        if let Some(key) = tx.key(&account.document_number, role).await? {
            keys_info.push(keys::key_info(&key, now));
        }
    }
    Ok(AccountInfo {
        document_number: account.document_number,
        identity: account.identity,
        state: match account.state.as_str() {
            "READY" => AccountState::Ready,
            "FROZEN" => AccountState::Frozen,
            "DISABLED" => AccountState::Disabled,
            _ => AccountState::InPreparation,
        },
        keys: keys_info,
        ca_chain_pem: server.ca.chain_pem(),
    })
}
