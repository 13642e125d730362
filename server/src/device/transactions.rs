//! A transaction on the device: the inbox, the counted PIN check, the two
//! signing rounds, the refresh the policy asks for, the confirmation that
//! moves the epoch token on, and declining.
//!
//! Clone detection (PROTOCOL.md §4.5): the key stores `H(T_e)` and, once a
//! signing starts, `H(T_{e+1})`. `T_e` or `T_{e+1}` is accepted until the
//! device confirms; a token that was retired means a copy of the device is
//! in use, and the whole account is frozen.

use kaksik_core::crypto::cosign::refresh::{
    RefreshConfirm, RefreshRequest1, RefreshRequest2, ServerRefreshRound1,
};
use kaksik_core::crypto::cosign::sign::{ServerSignRound1, SignRequest1, SignRequest2};
use kaksik_core::crypto::cosign::{CosignError, RunId, ServerShare, SignDigest, Wire};
use kaksik_core::crypto::oprf::{self, BlindedElement};
use kaksik_core::crypto::secret::Secret32;
use kaksik_core::protocol::api::{
    self, B64, Confirm, CosignStep, Decline, DeclineReason, ErrorCode, OprfRequest, OprfResponse,
    SignDone, SignFinish, SignPayload, SignStart, Transaction, TransactionKind, TransactionList,
    TransactionSummary, UnlockOutcome, UnlockResult,
};
use kaksik_core::rp::{AcspV2, FlowType, HashAlgorithm, InteractionType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys;
use super::registration::PinVerificationRequest;
use super::{DeviceError, blocking};
use crate::lockout::{self, Gate};
use crate::state::Server;
use crate::store::{Account, AccountKey, Session, Tx};

/// What an RP asked for, as stored with its session (see `crate::api::rp`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRequest {
    /// `relyingPartyName`.
    pub rp_name: String,
    /// `brokeredRpName` (empty if none).
    pub brokered_rp_name: String,
    /// `interactions` as sent.
    pub interactions: String,
    /// `hashAlgorithm`.
    pub hash_algorithm: String,
    /// Authentication: `rpChallenge`. Signature: `digest`.
    pub challenge_or_digest: String,
    /// Authentication: `serverRandom`.
    pub server_random: String,
    /// `initialCallbackUrl`.
    pub initial_callback_url: String,
    /// `flowType` of the session; for a device-link session empty until a
    /// device opens the link, then the link's type.
    pub flow_type: String,
    /// The verification code the RP was given (or would compute).
    pub vc: String,
    /// Started for a device link: not the device's until it opens it.
    #[serde(default)]
    pub device_link: bool,
    /// For `confirmationMessageAndVerificationCodeChoice`: the three codes
    /// offered, `vc` among them.
    #[serde(default)]
    pub code_choices: Vec<String>,
}

impl SessionRequest {
    /// A device-link session no device has opened yet.
    pub fn awaits_device(&self) -> bool {
        self.device_link && self.flow_type.is_empty()
    }
}

/// What the session status reports once the device has signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionResult {
    /// DER ECDSA signature, standard Base64.
    pub signature: String,
    /// The signing certificate, PEM.
    pub cert_pem: String,
    /// `interactionTypeUsed`.
    pub interaction_used: String,
    /// ACSP_V2: `userChallenge`.
    pub user_challenge: Option<String>,
}

/// The server's state between the two signing requests (sealed at rest).
#[derive(Serialize, Deserialize)]
struct SignPending {
    state: Vec<u8>,
    epoch: u64,
    digest: Vec<u8>,
    interaction_used: String,
    user_challenge: Option<String>,
    /// The device signed with the pending refreshed share: adopt it when
    /// the signature verifies.
    adopts_pending_share: bool,
}

fn sign_state_id(session: &str) -> String {
    format!("sign/{session}")
}

fn refresh_state_id(session: &str) -> String {
    format!("refresh/{session}")
}

pub(super) async fn caller(tx: &mut dyn Tx, device_id: &str) -> Result<Account, DeviceError> {
    let account = tx
        .account_by_device(device_id)
        .await?
        .ok_or_else(|| DeviceError::not_found("account"))?;
    match account.state.as_str() {
        "FROZEN" => Err(DeviceError::new(
            ErrorCode::CloneDetected,
            "account frozen: a copied device was detected",
        )),
        "DISABLED" => Err(DeviceError::new(
            ErrorCode::KeyDisabled,
            "account disabled; register again",
        )),
        _ => Ok(account),
    }
}

/// An RP's device-link session that no device has opened yet: not in any
/// inbox, and no device can act on it until its link is opened.
pub(super) fn awaits_device(session: &Session) -> bool {
    session.rp_uuid.is_some()
        && serde_json::from_str::<SessionRequest>(&session.request)
            .is_ok_and(|request| request.awaits_device())
}

/// Ends sessions whose time ran out (read paths call this lazily).
pub(super) async fn expire(
    tx: &mut dyn Tx,
    session: &mut Session,
    now: i64,
) -> Result<(), DeviceError> {
    if session.state == "RUNNING" && session.expires_at <= now {
        session.state = "COMPLETE".into();
        session.end_result = Some("TIMEOUT".into());
        tx.update_session(session).await?;
    }
    Ok(())
}

pub(super) async fn running_session(
    tx: &mut dyn Tx,
    account: &Account,
    id: &str,
    now: i64,
) -> Result<Session, DeviceError> {
    let mut session = tx
        .session(id)
        .await?
        .filter(|s| s.document_number == account.document_number && !awaits_device(s))
        .ok_or_else(|| DeviceError::not_found("transaction"))?;
    expire(tx, &mut session, now).await?;
    if session.state != "RUNNING" {
        return Err(DeviceError::new(
            ErrorCode::TransactionExpired,
            "the transaction is over",
        ));
    }
    Ok(session)
}

pub(super) async fn usable_key(
    tx: &mut dyn Tx,
    session: &Session,
) -> Result<AccountKey, DeviceError> {
    let key = tx
        .key(&session.document_number, session.role)
        .await?
        .ok_or_else(|| DeviceError::not_found("key"))?;
    if key.state == "DISABLED" {
        return Err(DeviceError::new(
            ErrorCode::KeyDisabled,
            format!("the {} key is disabled", key.role),
        ));
    }
    Ok(key)
}

fn kind_of(session: &Session) -> Result<TransactionKind, DeviceError> {
    kind_of_str(&session.kind)
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T, DeviceError> {
    serde_json::from_str(json)
        .map_err(|_| DeviceError::new(ErrorCode::ServerError, "stored session is malformed"))
}

/// The inbox: running transactions of the caller, long-polled.
pub async fn list(
    server: &Server,
    device_id: &str,
    wait_seconds: u32,
) -> Result<TransactionList, DeviceError> {
    let wait = u64::from(wait_seconds.min(api::MAX_WAIT_SECONDS));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let now = server.now();
        let mut tx = server.store.begin().await?;
        let account = caller(tx.as_mut(), device_id).await?;
        let mut transactions = Vec::new();
        for mut session in tx.running_sessions(&account.document_number).await? {
            expire(tx.as_mut(), &mut session, now).await?;
            if session.state == "RUNNING"
                && session.kind != super::pin_change::KIND
                && !awaits_device(&session)
            {
                let rp_name = if session.kind == "PIN_VERIFICATION" {
                    String::new()
                } else {
                    parse::<SessionRequest>(&session.request)?.rp_name
                };
                transactions.push(TransactionSummary {
                    id: session.id,
                    kind: kind_of_str(&session.kind)?,
                    rp_name,
                    expires_at: session.expires_at,
                });
            }
        }
        tx.commit().await?;
        if !transactions.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(TransactionList { transactions });
        }
        server.wait_for_change(deadline).await;
    }
}

fn kind_of_str(kind: &str) -> Result<TransactionKind, DeviceError> {
    match kind {
        "AUTHENTICATION" => Ok(TransactionKind::Authentication),
        "SIGNATURE" => Ok(TransactionKind::Signature),
        "PIN_VERIFICATION" => Ok(TransactionKind::PinVerification),
        "CERTIFICATE_CHOICE" => Ok(TransactionKind::CertificateChoice),
        super::pin_change::KIND => Err(DeviceError::conflict(
            "a PIN change transaction has nothing to show or sign",
        )),
        _ => Err(DeviceError::new(
            ErrorCode::ServerError,
            "unknown session kind",
        )),
    }
}

/// One transaction, with everything the phone needs to compute what it
/// signs and the verification code by itself.
pub async fn get(server: &Server, device_id: &str, id: &str) -> Result<Transaction, DeviceError> {
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    let session = running_session(tx.as_mut(), &account, id, now).await?;
    let link = tx.device_link_of_session(&session.id).await?;
    tx.commit().await?;
    let kind = kind_of(&session)?;
    if kind == TransactionKind::PinVerification {
        let request: PinVerificationRequest = parse(&session.request)?;
        return Ok(Transaction {
            id: session.id,
            kind,
            role: session.role,
            rp_name: String::new(),
            brokered_rp_name: String::new(),
            interactions: String::new(),
            payload: SignPayload::RawDigest {
                digest: request.digest,
                hash_algorithm: HashAlgorithm::Sha256.as_str().into(),
            },
            code_choice: None,
            session_secret_digest: None,
            initial_callback_url: None,
            sign_run: B64(session.sign_run),
            expires_at: session.expires_at,
        });
    }
    let r: SessionRequest = parse(&session.request)?;
    // Same-device flows return to the RP through a callback that carries
    // the digest of the session secret, which only the server and the RP
    // know: the app gets the digest, never the secret.
    let same_device = !r.initial_callback_url.is_empty();
    let session_secret_digest = match (&link, same_device) {
        (Some((_, sealed, _)), true) => {
            let secret = server
                .master
                .open(&crate::api::rp::start::secret_purpose(&session.id), sealed)?;
            let secret = kaksik_core::rp::SessionSecret::from_bytes(secret.expose().to_vec())
                .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?;
            Some(kaksik_core::rp::session_secret_digest(&secret))
        }
        _ => None,
    };
    let initial_callback_url = same_device.then(|| r.initial_callback_url.clone());
    let payload = match kind {
        TransactionKind::Authentication => SignPayload::AcspV2 {
            scheme: server.config.scheme.clone(),
            server_random: r.server_random,
            rp_challenge: r.challenge_or_digest,
            hash_algorithm: r.hash_algorithm,
            initial_callback_url: r.initial_callback_url,
            flow_type: r.flow_type,
        },
        TransactionKind::CertificateChoice => SignPayload::CertificateChoice {},
        _ => SignPayload::RawDigest {
            digest: r.challenge_or_digest,
            hash_algorithm: r.hash_algorithm,
        },
    };
    Ok(Transaction {
        id: session.id,
        kind,
        role: session.role,
        rp_name: r.rp_name,
        brokered_rp_name: r.brokered_rp_name,
        interactions: r.interactions,
        payload,
        code_choice: (!r.code_choices.is_empty()).then_some(r.code_choices),
        session_secret_digest,
        initial_callback_url,
        sign_run: B64(session.sign_run),
        expires_at: session.expires_at,
    })
}

/// A counted OPRF evaluation of the blinded PIN (PROTOCOL.md §3): the
/// attempt is committed before the evaluation is returned.
pub async fn unlock(
    server: &Server,
    device_id: &str,
    id: &str,
    request: OprfRequest,
) -> Result<OprfResponse, DeviceError> {
    let blinded = BlindedElement::from_bytes(request.blinded.as_bytes())
        .map_err(|e| DeviceError::bad_request(format!("blinded: {e}")))?;
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    let mut session = running_session(tx.as_mut(), &account, id, now).await?;
    let mut key = usable_key(tx.as_mut(), &session).await?;
    match apply_gate(tx.as_mut(), &mut session, &mut key, now).await? {
        Gate::Open => {}
        Gate::Disable => {
            tx.commit().await?;
            server.notify();
            return Err(DeviceError::new(
                ErrorCode::KeyDisabled,
                "nine wrong PINs: the key is disabled",
            ));
        }
        Gate::Locked { until } => {
            tx.commit().await?;
            server.notify();
            let mut error = DeviceError::new(ErrorCode::Locked, "too many wrong PINs");
            error.locked_until = Some(until);
            return Err(error);
        }
    }
    key.failed_attempts += 1;
    key.last_failed_at = Some(now);
    tx.update_key(&key).await?;
    let evaluation_id = Secret32::random().expose().to_vec();
    tx.insert_evaluation(&evaluation_id, &key.document_number, key.role, now)
        .await?;
    let oprf_key = keys::oprf_key(server, &key)?;
    tx.commit().await?;
    let evaluated = oprf::evaluate(&oprf_key, &blinded);
    Ok(OprfResponse {
        evaluated: B64(evaluated.to_bytes().to_vec()),
        evaluation_id: B64(evaluation_id),
        failed_attempts: attempts(&key),
    })
}

/// Applies the lockout rule to `key` inside the caller's transaction: at
/// nine unproven attempts the key is disabled (certificate revoked); while
/// a time lock runs, the session ends with `DOCUMENT_UNUSABLE`
/// (PROTOCOL.md §3). Returns what the rule said.
async fn apply_gate(
    tx: &mut dyn Tx,
    session: &mut Session,
    key: &mut AccountKey,
    now: i64,
) -> Result<Gate, DeviceError> {
    let gate = lockout::gate(attempts(key), key.last_failed_at, now);
    match gate {
        Gate::Disable => {
            keys::disable_key(tx, key, now, "DOCUMENT_UNUSABLE", "nine wrong PINs").await?;
        }
        Gate::Locked { until } => {
            session.state = "COMPLETE".into();
            session.end_result = Some("DOCUMENT_UNUSABLE".into());
            tx.update_session(session).await?;
            tx.audit(
                &key.document_number,
                now,
                "KEY_TIMELOCKED",
                &format!("{} key until {until}", key.role),
            )
            .await?;
        }
        Gate::Open => {}
    }
    Ok(gate)
}

pub(super) fn attempts(key: &AccountKey) -> u32 {
    u32::try_from(key.failed_attempts).unwrap_or(u32::MAX)
}

/// The device's report on an evaluation: a proof resets the counter; a
/// wrong PIN applies any lock or the disabling at once.
pub async fn unlock_result(
    server: &Server,
    device_id: &str,
    id: &str,
    request: UnlockResult,
) -> Result<UnlockOutcome, DeviceError> {
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    let mut session = running_session(tx.as_mut(), &account, id, now).await?;
    let mut key = usable_key(tx.as_mut(), &session).await?;
    let (owner, role, outcome) = tx
        .evaluation(request.evaluation_id.as_bytes())
        .await?
        .ok_or_else(|| DeviceError::not_found("evaluation"))?;
    if owner != key.document_number || role != key.role || outcome.is_some() {
        return Err(DeviceError::conflict(
            "evaluation already answered or not this key's",
        ));
    }
    let proven_pin = keys::check_unlock_proof(
        server,
        &mut key,
        request.evaluation_id.as_bytes(),
        request.proof.as_ref().map(B64::as_bytes),
    )?;
    let proven = proven_pin != keys::ProvenPin::None;
    if proven_pin == keys::ProvenPin::New {
        tx.audit(
            &key.document_number,
            now,
            "PIN_CHANGED",
            &format!("{} key: the new PIN was proven by an unlock", key.role),
        )
        .await?;
    }
    if proven && session.kind == super::pin_change::KIND {
        super::pin_change::old_pin_proven(&mut session)?;
        tx.update_session(&session).await?;
    }
    tx.set_evaluation_outcome(
        request.evaluation_id.as_bytes(),
        if proven { "RIGHT" } else { "WRONG" },
    )
    .await?;
    if proven {
        key.failed_attempts = 0;
        key.last_failed_at = None;
        tx.update_key(&key).await?;
    } else {
        tx.audit(
            &key.document_number,
            now,
            "WRONG_PIN",
            &format!("{} key, attempt {}", key.role, key.failed_attempts),
        )
        .await?;
        apply_gate(tx.as_mut(), &mut session, &mut key, now).await?;
    }
    tx.commit().await?;
    server.notify();
    Ok(UnlockOutcome {
        key: keys::key_info(&key, now),
    })
}

fn digest_for(
    server: &Server,
    session: &Session,
    request: &SignStart,
) -> Result<(Vec<u8>, String, Option<String>), DeviceError> {
    match kind_of(session)? {
        TransactionKind::CertificateChoice => Err(DeviceError::conflict(
            "a certificate choice signs nothing: share the certificate instead",
        )),
        TransactionKind::PinVerification => {
            let r: PinVerificationRequest = parse(&session.request)?;
            let digest = kaksik_core::rp::encoding::decode_std("digest", &r.digest, 32..=64)
                .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?;
            Ok((digest, String::new(), None))
        }
        TransactionKind::Signature => {
            let r: SessionRequest = parse(&session.request)?;
            let digest =
                kaksik_core::rp::encoding::decode_std("digest", &r.challenge_or_digest, 32..=64)
                    .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?;
            let used = request
                .interaction_used
                .clone()
                .unwrap_or_else(|| InteractionType::DisplayTextAndPin.as_str().to_owned());
            Ok((digest, used, None))
        }
        TransactionKind::Authentication => {
            let r: SessionRequest = parse(&session.request)?;
            let user_challenge = request.user_challenge.clone().ok_or_else(|| {
                DeviceError::bad_request("user_challenge is required for ACSP_V2")
            })?;
            let used: InteractionType = request
                .interaction_used
                .as_deref()
                .ok_or_else(|| {
                    DeviceError::bad_request("interaction_used is required for ACSP_V2")
                })?
                .parse()
                .map_err(|e: kaksik_core::rp::RpError| DeviceError::bad_request(e.to_string()))?;
            let hash: HashAlgorithm =
                r.hash_algorithm
                    .parse()
                    .map_err(|e: kaksik_core::rp::RpError| {
                        DeviceError::new(ErrorCode::ServerError, e.to_string())
                    })?;
            let flow_type: FlowType =
                r.flow_type.parse().map_err(|e: kaksik_core::rp::RpError| {
                    DeviceError::new(ErrorCode::ServerError, e.to_string())
                })?;
            let message = AcspV2 {
                scheme: server.config.scheme.clone(),
                server_random: r.server_random,
                rp_challenge: r.challenge_or_digest,
                user_challenge: user_challenge.clone(),
                rp_name: r.rp_name,
                brokered_rp_name: r.brokered_rp_name,
                interactions: r.interactions,
                interaction_type_used: used,
                initial_callback_url: r.initial_callback_url,
                flow_type,
            };
            let digest = message
                .digest(hash)
                .map_err(|e| DeviceError::bad_request(e.to_string()))?;
            Ok((digest, used.as_str().to_owned(), Some(user_challenge)))
        }
    }
}

/// Signing round 1, after the clone-detection check of the epoch tokens.
pub async fn sign_start(
    server: &Server,
    device_id: &str,
    id: &str,
    request: SignStart,
) -> Result<CosignStep, DeviceError> {
    let now = server.now();
    let presented = Sha256::digest(request.epoch_token.as_bytes()).to_vec();
    let next_hash = request.next_epoch_token_hash.0.clone();
    if next_hash.len() != 32 {
        return Err(DeviceError::bad_request(
            "next_epoch_token_hash must be 32 bytes",
        ));
    }
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    let session = running_session(tx.as_mut(), &account, id, now).await?;
    let mut key = usable_key(tx.as_mut(), &session).await?;
    if let Gate::Locked { .. } = lockout::gate(attempts(&key), key.last_failed_at, now) {
        return Err(DeviceError::new(ErrorCode::Locked, "the key is locked"));
    }
    if let Some(mut session) = wrong_code_choice(&session, &request)? {
        session.state = "COMPLETE".into();
        session.end_result = Some("WRONG_VC".into());
        tx.update_session(&session).await?;
        tx.audit(
            &key.document_number,
            now,
            "WRONG_VC",
            &format!("session {}", session.id),
        )
        .await?;
        tx.commit().await?;
        server.notify();
        return Err(DeviceError::new(
            ErrorCode::WrongVerificationCode,
            "the code picked is not the RP's: the session ended with WRONG_VC",
        ));
    }

    // Clone detection on the epoch token.
    if key.token_hash.as_deref() == Some(presented.as_slice()) {
        // The current token: normal case.
    } else if key.next_token_hash.as_deref() == Some(presented.as_slice()) {
        // The device stored T_{e+1} but its confirmation was lost.
        if let Some(old) = key.token_hash.take() {
            tx.retire_token(&key.document_number, key.role, &old, now)
                .await?;
        }
        key.token_hash = Some(presented.clone());
    } else {
        keys::freeze_for_clone(tx.as_mut(), &key.document_number, key.role, now).await?;
        tx.commit().await?;
        server.notify();
        return Err(DeviceError::new(
            ErrorCode::CloneDetected,
            "a retired epoch token was presented: the account is frozen",
        ));
    }
    key.next_token_hash = Some(next_hash);

    // Which server share: the current epoch, or the refreshed one whose
    // confirmation was lost.
    let device_epoch = request.epoch;
    let current_epoch = u64::try_from(key.epoch).unwrap_or(0);
    let (share, adopts_pending_share): (ServerShare, bool) = if device_epoch == current_epoch {
        if key.pending_share.take().is_some() {
            // The device never stored the refreshed share: forget it.
            tx.audit(
                &key.document_number,
                now,
                "REFRESH_ABANDONED",
                &format!("{} key", key.role),
            )
            .await?;
        }
        (keys::share(server, &key)?, false)
    } else if Some(device_epoch) == current_epoch.checked_add(1) {
        let pending = keys::pending_share(server, &key)?
            .ok_or_else(|| DeviceError::conflict("no share of the epoch the device presents"))?;
        (pending.into_share(), true)
    } else {
        return Err(DeviceError::conflict(format!(
            "the device's share is of epoch {device_epoch}, the server's of {current_epoch}"
        )));
    };
    tx.update_key(&key).await?;
    let stored = tx.protocol_state(&sign_state_id(id)).await?;
    tx.commit().await?;

    let (digest, interaction_used, user_challenge) = digest_for(server, &session, &request)?;
    let sign_digest = SignDigest::new(&digest)?;
    let run =
        RunId(session.sign_run.as_slice().try_into().map_err(|_| {
            DeviceError::new(ErrorCode::ServerError, "stored run id has a bad length")
        })?);
    let message = SignRequest1::from_bytes(request.message.as_bytes())?;
    let (state, response) = ServerSignRound1::respond(&share, run, &sign_digest, message)?;
    let pending = SignPending {
        state: state.to_bytes()?.expose().to_vec(),
        epoch: device_epoch,
        digest,
        interaction_used,
        user_challenge,
        adopts_pending_share,
    };
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec(&pending)
            .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?,
    );
    let sid = sign_state_id(id);
    let sealed = server
        .master
        .seal(&format!("protocol-state/{sid}"), &json)?;
    let mut tx = server.store.begin().await?;
    tx.swap_protocol_state(
        &sid,
        stored.map(|s| s.version),
        Some(("SignRound1", &sealed)),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(CosignStep {
        message: B64(response.to_bytes()?.expose().to_vec()),
    })
}

/// A code choice answered with a code other than the RP's: the session to
/// end. Only when the phone showed the code-choice interaction.
fn wrong_code_choice(
    session: &Session,
    request: &SignStart,
) -> Result<Option<Session>, DeviceError> {
    let code_choice = InteractionType::ConfirmationMessageAndVerificationCodeChoice;
    if session.kind == "PIN_VERIFICATION"
        || request.interaction_used.as_deref() != Some(code_choice.as_str())
    {
        return Ok(None);
    }
    let r: SessionRequest = parse(&session.request)?;
    if r.code_choices.is_empty() {
        return Err(DeviceError::bad_request(
            "this transaction offers no code choice",
        ));
    }
    let picked = request
        .chosen_code
        .as_deref()
        .ok_or_else(|| DeviceError::bad_request("chosen_code is required for a code choice"))?;
    let right = subtle::ConstantTimeEq::ct_eq(picked.as_bytes(), r.vc.as_bytes());
    Ok((!bool::from(right)).then(|| session.clone()))
}

/// Signing round 2: the server combines and verifies the signature; the
/// RP's session completes; the refresh policy is applied.
pub async fn sign_finish(
    server: &Server,
    device_id: &str,
    id: &str,
    request: SignFinish,
) -> Result<SignDone, DeviceError> {
    let now = server.now();
    let sid = sign_state_id(id);
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    let session = running_session(tx.as_mut(), &account, id, now).await?;
    let key = usable_key(tx.as_mut(), &session).await?;
    let stored = tx
        .protocol_state(&sid)
        .await?
        .filter(|s| s.kind == "SignRound1")
        .ok_or_else(|| DeviceError::conflict("signing round 2 before round 1"))?;
    tx.commit().await?;
    let json = server
        .master
        .open(&format!("protocol-state/{sid}"), &stored.blob)?;
    let pending: SignPending = serde_json::from_slice(json.expose())
        .map_err(|_| DeviceError::new(ErrorCode::ServerError, "stored state is malformed"))?;
    let share = if pending.adopts_pending_share {
        keys::pending_share(server, &key)?
            .ok_or_else(|| DeviceError::conflict("the refreshed share is gone"))?
            .into_share()
    } else {
        keys::share(server, &key)?
    };
    let state = ServerSignRound1::from_bytes(&pending.state)?;
    let message = SignRequest2::from_bytes(request.message.as_bytes())?;
    let outcome = blocking({
        let share_bytes = share.to_secret_bytes()?;
        move || {
            let share = ServerShare::from_secret_bytes(share_bytes.expose())?;
            state.finish(&share, message)
        }
    })
    .await?;

    let mut tx = server.store.begin().await?;
    let mut key = usable_key(tx.as_mut(), &session).await?;
    let mut session = running_session(tx.as_mut(), &account, id, now).await?;
    let signature = match outcome {
        Ok(signature) => signature,
        Err(error @ CosignError::CounterpartyCheated { .. }) => {
            keys::disable_key(
                tx.as_mut(),
                &mut key,
                now,
                "PROTOCOL_FAILURE",
                &error.to_string(),
            )
            .await?;
            tx.swap_protocol_state(&sid, Some(stored.version), None, now)
                .await?;
            tx.commit().await?;
            server.notify();
            return Err(error.into());
        }
        Err(error) => return Err(error.into()),
    };
    tx.swap_protocol_state(&sid, Some(stored.version), None, now)
        .await?;

    if pending.adopts_pending_share {
        keys::set_share(server, &mut key, &share)?;
        key.pending_share = None;
        key.signatures_since_refresh = 0;
        key.refreshed_at = now;
    }
    key.failed_attempts = 0;
    key.last_failed_at = None;
    key.signatures_since_refresh += 1;
    let der = signature.to_der().as_bytes().to_vec();
    let result = SessionResult {
        signature: kaksik_core::rp::encoding::encode_std(&der),
        cert_pem: key.cert_pem.clone().unwrap_or_default(),
        interaction_used: pending.interaction_used,
        user_challenge: pending.user_challenge,
    };
    session.state = "COMPLETE".into();
    session.end_result = Some("OK".into());
    session.result = Some(
        serde_json::to_string(&result)
            .map_err(|e| DeviceError::new(ErrorCode::ServerError, e.to_string()))?,
    );
    tx.update_session(&session).await?;
    if session.kind == "PIN_VERIFICATION" {
        key.verified = true;
    }
    let refresh_due = key.signatures_since_refresh >= server.config.refresh_after_signatures
        || now - key.refreshed_at >= server.config.refresh_after_secs;
    tx.update_key(&key).await?;
    if session.kind == "PIN_VERIFICATION" {
        let other = match key.role {
            kaksik_core::role::KeyRole::Auth => kaksik_core::role::KeyRole::Sign,
            kaksik_core::role::KeyRole::Sign => kaksik_core::role::KeyRole::Auth,
        };
        let other_verified = tx
            .key(&key.document_number, other)
            .await?
            .is_some_and(|k| k.verified);
        if other_verified {
            tx.set_account_state(&key.document_number, "READY").await?;
            tx.audit(
                &key.document_number,
                now,
                "ACCOUNT_READY",
                "both PINs verified",
            )
            .await?;
        }
    }
    tx.audit(
        &key.document_number,
        now,
        "SIGNED",
        &format!("{} key, session {}, {}", key.role, session.id, session.kind),
    )
    .await?;
    let refresh_run = if refresh_due {
        let run = RunId::random();
        let rid = refresh_state_id(id);
        let existing = tx.protocol_state(&rid).await?;
        tx.swap_protocol_state(
            &rid,
            existing.map(|s| s.version),
            Some(("RefreshRun", &run.0)),
            now,
        )
        .await?;
        Some(B64(run.0.to_vec()))
    } else {
        None
    };
    tx.commit().await?;
    crate::crash_point::reached(crate::crash_point::AFTER_SIGN_STEP_2);
    server.notify();
    Ok(SignDone {
        signature: B64(der),
        refresh_run,
    })
}

/// A refresh step (1 or 2) right after a signature.
pub async fn refresh(
    server: &Server,
    device_id: &str,
    id: &str,
    step: u8,
    request: CosignStep,
) -> Result<CosignStep, DeviceError> {
    let now = server.now();
    let rid = refresh_state_id(id);
    let purpose = format!("protocol-state/{rid}");
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    let session = tx
        .session(id)
        .await?
        .filter(|s| s.document_number == account.document_number)
        .ok_or_else(|| DeviceError::not_found("transaction"))?;
    let key = usable_key(tx.as_mut(), &session).await?;
    let stored = tx
        .protocol_state(&rid)
        .await?
        .ok_or_else(|| DeviceError::conflict("no refresh is due"))?;
    tx.commit().await?;
    let share = keys::share(server, &key)?;
    match (step, stored.kind.as_str()) {
        (1, "RefreshRun") => {
            let run = RunId(stored.blob.as_slice().try_into().map_err(|_| {
                DeviceError::new(ErrorCode::ServerError, "stored run id has a bad length")
            })?);
            let message = RefreshRequest1::from_bytes(request.message.as_bytes())?;
            let (state, response) = ServerRefreshRound1::respond(&share, run, message)?;
            let sealed = server.master.seal(&purpose, state.to_bytes()?.expose())?;
            let mut tx = server.store.begin().await?;
            tx.swap_protocol_state(
                &rid,
                Some(stored.version),
                Some(("RefreshRound1", &sealed)),
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(CosignStep {
                message: B64(response.to_bytes()?.expose().to_vec()),
            })
        }
        (2, "RefreshRound1") => {
            let state = ServerRefreshRound1::from_bytes(
                server.master.open(&purpose, &stored.blob)?.expose(),
            )?;
            let message = RefreshRequest2::from_bytes(request.message.as_bytes())?;
            let (pending, response) = state.on_request(&share, message)?;
            let mut tx = server.store.begin().await?;
            let mut key = usable_key(tx.as_mut(), &session).await?;
            keys::set_pending_share(server, &mut key, &pending)?;
            tx.update_key(&key).await?;
            tx.swap_protocol_state(&rid, Some(stored.version), None, now)
                .await?;
            tx.commit().await?;
            crate::crash_point::reached(crate::crash_point::AFTER_REFRESH_STEP_2);
            Ok(CosignStep {
                message: B64(response.to_bytes()?.expose().to_vec()),
            })
        }
        _ => Err(DeviceError::conflict("refresh step out of order")),
    }
}

/// The device stored `T_{e+1}` (and its refreshed share): retire `T_e`,
/// and make the refreshed server share current.
pub async fn confirm(
    server: &Server,
    device_id: &str,
    id: &str,
    request: Confirm,
) -> Result<(), DeviceError> {
    let now = server.now();
    let presented = Sha256::digest(request.epoch_token.as_bytes()).to_vec();
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    let session = tx
        .session(id)
        .await?
        .filter(|s| s.document_number == account.document_number)
        .ok_or_else(|| DeviceError::not_found("transaction"))?;
    let mut key = usable_key(tx.as_mut(), &session).await?;
    if key.token_hash.as_deref() == Some(presented.as_slice()) {
        // Already confirmed (a retried confirmation).
    } else if key.next_token_hash.as_deref() == Some(presented.as_slice()) {
        if let Some(old) = key.token_hash.take() {
            tx.retire_token(&key.document_number, key.role, &old, now)
                .await?;
        }
        key.token_hash = Some(presented);
        key.next_token_hash = None;
    } else {
        return Err(DeviceError::conflict(
            "this is not the epoch token the signing announced",
        ));
    }
    if let Some(confirm) = &request.refresh_confirm {
        let pending = keys::pending_share(server, &key)?
            .ok_or_else(|| DeviceError::conflict("no refresh to confirm"))?;
        let share = pending.confirm(RefreshConfirm::from_bytes(confirm.as_bytes())?)?;
        keys::set_share(server, &mut key, &share)?;
        key.pending_share = None;
        key.signatures_since_refresh = 0;
        key.refreshed_at = now;
        tx.audit(
            &key.document_number,
            now,
            "KEY_REFRESHED",
            &format!("{} key, epoch {}", key.role, key.epoch),
        )
        .await?;
    }
    tx.update_key(&key).await?;
    tx.commit().await?;
    Ok(())
}

/// The person declined (or the app cannot show the interaction).
pub async fn decline(
    server: &Server,
    device_id: &str,
    id: &str,
    request: Decline,
) -> Result<(), DeviceError> {
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let account = caller(tx.as_mut(), device_id).await?;
    let mut session = running_session(tx.as_mut(), &account, id, now).await?;
    session.state = "COMPLETE".into();
    session.end_result = Some(
        match request.reason {
            DeclineReason::UserRefused if session.kind == "CERTIFICATE_CHOICE" => {
                "USER_REFUSED_CERT_CHOICE"
            }
            DeclineReason::UserRefused => "USER_REFUSED_INTERACTION",
            DeclineReason::WrongCode => "WRONG_VC",
            DeclineReason::InteractionNotSupported => "REQUIRED_INTERACTION_NOT_SUPPORTED_BY_APP",
        }
        .into(),
    );
    tx.update_session(&session).await?;
    tx.audit(
        &account.document_number,
        now,
        "DECLINED",
        &format!("session {}", session.id),
    )
    .await?;
    tx.commit().await?;
    server.notify();
    Ok(())
}
