//! The server's persistent state behind one trait, so the SQLite default
//! and a PostgreSQL deployment share every caller.
//!
//! The unit of work is a [`Tx`]: every handler opens one, reads and writes
//! rows through it, and commits; a handler that returns early drops it and
//! nothing it wrote is kept. "Every state change is one transaction" is
//! therefore a property of the handler code, which is where it can be read.
//!
//! Cryptographic work (a DKG phase takes about a second) is never done
//! inside a transaction: handlers read what they need, compute, and then
//! write in a second transaction that checks, by compare-and-swap on the
//! protocol state's version, that nobody used the same state meanwhile.

use async_trait::async_trait;
use kaksik_core::protocol::api::Identity;
use kaksik_core::role::KeyRole;

pub mod sqlite;

/// Store failures. Messages name rows, never secret values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Database(String),
    /// A stored value does not parse (written by another version, or
    /// corrupted).
    #[error("stored {what} is malformed: {detail}")]
    Malformed {
        /// Which row or column.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A compare-and-swap found the row changed: the step was already done.
    #[error("{0} was changed by a concurrent request")]
    Conflict(&'static str),
}

/// A relying party registered with this server.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    /// `relyingPartyUUID`.
    pub uuid: String,
    /// `relyingPartyName`, which must match on every request.
    pub name: String,
}

/// An operator-created, one-time enrolment.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// SHA-256 of the code (the code itself is shown once, never stored).
    pub code_hash: Vec<u8>,
    /// Whom it is for.
    pub identity: Identity,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// When a device used it.
    pub used_at: Option<i64>,
}

/// A device's registration in progress.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Registration id.
    pub id: String,
    /// The enrolment it used.
    pub enrolment_hash: Vec<u8>,
    /// Self-certifying device id.
    pub device_id: String,
    /// SEC1 device key.
    pub device_public_key: Vec<u8>,
    /// The account's future document number.
    pub document_number: String,
    /// The code the operator must confirm.
    pub registration_code: String,
    /// `AWAITING_CONFIRMATION`, `CONFIRMED` or `COMPLETE`.
    pub state: String,
    /// DKG run ids.
    pub dkg_run_auth: Vec<u8>,
    /// DKG run ids.
    pub dkg_run_sign: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// An account: one person, one device, two keys.
#[derive(Debug, Clone)]
pub struct Account {
    /// `PNOEE-…-XXXX-Q`.
    pub document_number: String,
    /// The person.
    pub identity: Identity,
    /// Self-certifying device id.
    pub device_id: String,
    /// SEC1 device key.
    pub device_public_key: Vec<u8>,
    /// `REGISTERING`, `IN_PREPARATION`, `READY`, `FROZEN`, `DISABLED`.
    pub state: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// One co-signed key of an account.
#[derive(Debug, Clone)]
pub struct AccountKey {
    /// Account.
    pub document_number: String,
    /// Which key.
    pub role: KeyRole,
    /// `SETUP`, `ACTIVE` or `DISABLED`.
    pub state: String,
    /// Whether the PIN verification of registration passed.
    pub verified: bool,
    /// SEC1-compressed joint public key, once the DKG is confirmed.
    pub public_key: Option<Vec<u8>>,
    /// Epoch of `share`.
    pub epoch: i64,
    /// Sealed server share of `epoch`.
    pub share: Option<Vec<u8>>,
    /// Sealed server share of `epoch + 1`, until the device confirms.
    pub pending_share: Option<Vec<u8>>,
    /// Sealed OPRF key.
    pub oprf_key: Vec<u8>,
    /// Sealed unlock-proof key.
    pub unlock_proof_key: Option<Vec<u8>>,
    /// Sealed unlock-proof key of a new PIN, until the device confirms it.
    pub pending_unlock_proof_key: Option<Vec<u8>>,
    /// Unproven PIN attempts in a row.
    pub failed_attempts: i64,
    /// When the last unproven attempt was served.
    pub last_failed_at: Option<i64>,
    /// SHA-256 of the current epoch token.
    pub token_hash: Option<Vec<u8>>,
    /// SHA-256 of the next epoch token, until confirmed.
    pub next_token_hash: Option<Vec<u8>>,
    /// Signatures since the last refresh.
    pub signatures_since_refresh: i64,
    /// Unix seconds of the last refresh (or DKG).
    pub refreshed_at: i64,
    /// Certificate serial (hex).
    pub cert_serial: Option<String>,
    /// Certificate, PEM.
    pub cert_pem: Option<String>,
}

/// A stored protocol state (single-use, compare-and-swap by version).
#[derive(Debug, Clone)]
pub struct ProtocolState {
    /// e.g. `dkg/<registration>/auth`.
    pub id: String,
    /// Bumped on every write.
    pub version: i64,
    /// What the blob is (`DkgRound1`, `SignRound1`, …).
    pub kind: String,
    /// Sealed envelope.
    pub blob: Vec<u8>,
}

/// An RP session, which is also the device's transaction.
#[derive(Debug, Clone)]
pub struct Session {
    /// `sessionID`.
    pub id: String,
    /// The RP, `None` for PIN verification.
    pub rp_uuid: Option<String>,
    /// `AUTHENTICATION`, `SIGNATURE`, `PIN_VERIFICATION`.
    pub kind: String,
    /// Account.
    pub document_number: String,
    /// Key used.
    pub role: KeyRole,
    /// `RUNNING` or `COMPLETE`.
    pub state: String,
    /// End result once complete.
    pub end_result: Option<String>,
    /// JSON of what was asked.
    pub request: String,
    /// Co-signing run id.
    pub sign_run: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// JSON of the outcome.
    pub result: Option<String>,
}

/// One audit-log line.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// Event name.
    pub event: String,
    /// Detail, no secrets.
    pub detail: String,
}

/// Opens units of work.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a transaction.
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;
}

/// One transaction. Dropped without [`Tx::commit`], it rolls back.
#[async_trait]
pub trait Tx: Send {
    /// Makes every write of this transaction durable.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Inserts or renames a relying party.
    async fn upsert_rp(&mut self, rp: &RelyingParty, now: i64) -> Result<(), StoreError>;
    /// A relying party by UUID.
    async fn rp(&mut self, uuid: &str) -> Result<Option<RelyingParty>, StoreError>;

    /// Records a new enrolment.
    async fn insert_enrolment(&mut self, enrolment: &Enrolment) -> Result<(), StoreError>;
    /// An enrolment by code hash.
    async fn enrolment(&mut self, code_hash: &[u8]) -> Result<Option<Enrolment>, StoreError>;
    /// Marks an enrolment used; false if it already was.
    async fn use_enrolment(&mut self, code_hash: &[u8], now: i64) -> Result<bool, StoreError>;

    /// Records a registration.
    async fn insert_registration(&mut self, registration: &Registration) -> Result<(), StoreError>;
    /// A registration by id.
    async fn registration(&mut self, id: &str) -> Result<Option<Registration>, StoreError>;
    /// The registration that used an enrolment.
    async fn registration_by_enrolment(
        &mut self,
        code_hash: &[u8],
    ) -> Result<Option<Registration>, StoreError>;
    /// Moves a registration to `state`.
    async fn set_registration_state(&mut self, id: &str, state: &str) -> Result<(), StoreError>;

    /// Records an account.
    async fn insert_account(&mut self, account: &Account) -> Result<(), StoreError>;
    /// An account by document number.
    async fn account(&mut self, document_number: &str) -> Result<Option<Account>, StoreError>;
    /// The account a device belongs to.
    async fn account_by_device(&mut self, device_id: &str) -> Result<Option<Account>, StoreError>;
    /// Accounts of a person (semantics identifier), newest first.
    async fn accounts_by_semantics_id(
        &mut self,
        semantics_id: &str,
    ) -> Result<Vec<Account>, StoreError>;
    /// Moves an account to `state`.
    async fn set_account_state(
        &mut self,
        document_number: &str,
        state: &str,
    ) -> Result<(), StoreError>;

    /// Records a key.
    async fn insert_key(&mut self, key: &AccountKey) -> Result<(), StoreError>;
    /// A key of an account.
    async fn key(
        &mut self,
        document_number: &str,
        role: KeyRole,
    ) -> Result<Option<AccountKey>, StoreError>;
    /// Writes every field of a key back.
    async fn update_key(&mut self, key: &AccountKey) -> Result<(), StoreError>;
    /// Remembers a retired epoch token hash (for clone detection).
    async fn retire_token(
        &mut self,
        document_number: &str,
        role: KeyRole,
        token_hash: &[u8],
        now: i64,
    ) -> Result<(), StoreError>;
    /// Whether a token hash was retired.
    async fn is_retired_token(
        &mut self,
        document_number: &str,
        role: KeyRole,
        token_hash: &[u8],
    ) -> Result<bool, StoreError>;

    /// A protocol state.
    async fn protocol_state(&mut self, id: &str) -> Result<Option<ProtocolState>, StoreError>;
    /// Replaces the state `id` if it is still at `expected_version` (or
    /// absent when `None`); writes `new` with the next version, or deletes
    /// the state when `new` is `None`. Fails with `Conflict` otherwise.
    async fn swap_protocol_state(
        &mut self,
        id: &str,
        expected_version: Option<i64>,
        new: Option<(&str, &[u8])>,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Records an OPRF evaluation.
    async fn insert_evaluation(
        &mut self,
        id: &[u8],
        document_number: &str,
        role: KeyRole,
        now: i64,
    ) -> Result<(), StoreError>;
    /// An evaluation's account, role and outcome.
    async fn evaluation(
        &mut self,
        id: &[u8],
    ) -> Result<Option<(String, KeyRole, Option<String>)>, StoreError>;
    /// Sets an evaluation's outcome once; false if it already had one.
    async fn set_evaluation_outcome(
        &mut self,
        id: &[u8],
        outcome: &str,
    ) -> Result<bool, StoreError>;

    /// Records a session.
    async fn insert_session(&mut self, session: &Session) -> Result<(), StoreError>;
    /// A session.
    async fn session(&mut self, id: &str) -> Result<Option<Session>, StoreError>;
    /// Writes a session's state, end result, result, account (an
    /// anonymous session binds to the device that opened it) and request
    /// (the flow a device link chose) back.
    async fn update_session(&mut self, session: &Session) -> Result<(), StoreError>;
    /// Running sessions of an account, oldest first.
    async fn running_sessions(&mut self, document_number: &str)
    -> Result<Vec<Session>, StoreError>;

    /// Records the device link of session `session_id`: its token and its
    /// sealed `sessionSecret`.
    async fn insert_device_link(
        &mut self,
        token: &str,
        session_id: &str,
        sealed_secret: &[u8],
        now: i64,
    ) -> Result<(), StoreError>;
    /// The session and sealed secret of the device link `token`.
    async fn device_link(
        &mut self,
        token: &str,
    ) -> Result<Option<(String, Vec<u8>, i64)>, StoreError>;
    /// The token and sealed secret of session `session_id`'s device link.
    async fn device_link_of_session(
        &mut self,
        session_id: &str,
    ) -> Result<Option<(String, Vec<u8>, i64)>, StoreError>;

    /// The session an RP's `nonce` created at or after `since`.
    async fn rp_nonce_session(
        &mut self,
        rp_uuid: &str,
        nonce: &str,
        since: i64,
    ) -> Result<Option<String>, StoreError>;
    /// Remembers that `nonce` created `session_id` (replacing an expired
    /// use of the same nonce).
    async fn put_rp_nonce(
        &mut self,
        rp_uuid: &str,
        nonce: &str,
        session_id: &str,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Records a request nonce; false if the device used it already.
    async fn use_nonce(
        &mut self,
        device_id: &str,
        nonce: &[u8],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Adds a certificate to the CRL.
    async fn revoke_certificate(&mut self, serial: &str, now: i64) -> Result<(), StoreError>;
    /// Every revoked certificate, with the time of revocation.
    async fn revoked_certificates(&mut self) -> Result<Vec<(String, i64)>, StoreError>;

    /// Appends to an account's audit log.
    async fn audit(
        &mut self,
        document_number: &str,
        now: i64,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError>;
    /// An account's audit log, oldest first.
    async fn audit_log(&mut self, document_number: &str) -> Result<Vec<AuditEntry>, StoreError>;
}
