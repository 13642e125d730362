//! The device API: paths and JSON bodies exchanged between the phone and
//! the server (PROTOCOL.md §5). Both sides use these types, so the contract
//! has one definition.
//!
//! Transport, from the outside in: HTTPS with the server's SPKI pinned; a
//! device signature over every request ([`super::request_auth`]); the JSON
//! body below sealed end to end to the server's protocol key
//! ([`crate::crypto::channel`]). Errors come back as an unencrypted
//! [`ApiError`] JSON body (they carry no secret) with a matching status.
//!
//! Binary values travel as unpadded Base64url strings ([`B64`]). Co-signing
//! messages are the byte envelopes of [`crate::crypto::cosign`].
//!
//! # Flows
//!
//! Registration (PROTOCOL.md §5):
//!
//! 1. `GET` [`path::SERVER_INFO`] over the pinned TLS connection; the
//!    client keeps the protocol key from then on.
//! 2. [`path::REGISTRATIONS`] with the enrolment code and the device key.
//!    Both sides compute [`registration_code`]; the app shows its own and
//!    the operator confirms the one the person reads out.
//! 3. [`path::registration_status`] (long-poll) until `CONFIRMED`.
//! 4. For each role: DKG steps 1, 2 and 3 at [`path::registration_dkg`]
//!    (`DkgRequest1`, `DkgRequest2`, `DkgConfirm`; step 3 answers
//!    [`Empty`]). Then [`path::registration_pin`] (an OPRF evaluation that
//!    is not counted), the device seals its share and first epoch token in
//!    the vault, and sends [`PinSetup`] to [`path::registration_pin_setup`].
//! 5. [`path::registration_finish`]: certificates are issued, the account
//!    is `IN_PREPARATION`, and two `PIN_VERIFICATION` transactions wait in
//!    the inbox; approving both (PIN1, then PIN2) makes it `READY`.
//!
//! A transaction (PROTOCOL.md §3, §4):
//!
//! 1. [`path::TRANSACTIONS`] (long-poll), then [`path::transaction`].
//! 2. [`path::unlock`] with the blinded PIN (counted before it is
//!    answered); the device tries its vault and reports with
//!    [`path::unlock_result`]: a proof resets the counter, `None` applies
//!    any lock at once.
//! 3. [`path::sign_start`] with the epoch tokens and signing round 1,
//!    [`path::sign_finish`] with round 2: the RP's session completes here.
//! 4. If [`SignDone::refresh_run`] is set, refresh steps 1 and 2 at
//!    [`path::refresh`].
//! 5. The device seals its (refreshed) share with `T_{e+1}` and writes it,
//!    then [`path::confirm`]. Until then the server accepts `T_e` or
//!    `T_{e+1}`, so a crash anywhere resumes without a false clone alarm.
//!
//! A PIN change (PROTOCOL.md §2), one key at a time:
//!
//! 1. [`path::pin_change`] opens a `PIN_CHANGE` transaction of that key,
//!    which the inbox does not list and which can never be signed.
//! 2. The old PIN goes through steps 2 of a transaction unchanged
//!    ([`path::unlock`], [`path::unlock_result`]): counted, locked and
//!    reset exactly like an approval's unlock.
//! 3. After a proven unlock, [`path::new_pin`] evaluates the new PIN once
//!    (not counted), and [`path::new_pin_setup`] gives the server the new
//!    `K_proof` as a *pending* key beside the current one.
//! 4. The device re-seals its vault under the new PIN and writes it, then
//!    [`path::new_pin_confirm`]. Until then the server checks unlock
//!    proofs against both keys and keeps the one that matches, so the PIN
//!    the device's vault holds after a crash is the PIN that works.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::role::KeyRole;
use crate::vc::{VerificationCode, digest_code};

/// The enrolment code as both sides hash it: letters upper-cased,
/// separators (`-`, spaces) dropped, so `k7q2-m9xp` and `K7Q2M9XP` agree.
pub fn normalize_enrolment_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The short code both the app and the operator's portal show, so the
/// person can check they are registering the device they hold: the
/// verification-code formula over a hash of the registration transcript.
pub fn registration_code(
    registration_id: &str,
    device_public_key: &[u8],
    enrolment_code: &str,
) -> VerificationCode {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for field in [
        b"kaksik/registration-code/v1".as_slice(),
        registration_id.as_bytes(),
        device_public_key,
        normalize_enrolment_code(enrolment_code).as_bytes(),
    ] {
        // Length-prefixed, so no two transcripts share an encoding.
        hash.update((field.len() as u64).to_be_bytes());
        hash.update(field);
    }
    digest_code(&hash.finalize())
}

/// Version of the device API this build speaks; sent in every request.
/// The server refuses older clients with HTTP 480 ([`ErrorCode::ClientTooOld`]).
pub const CLIENT_VERSION: u32 = 1;

/// HTTP status the server uses for a client older than it supports
/// (Smart-ID uses 480 for the same purpose).
pub const STATUS_CLIENT_TOO_OLD: u16 = 480;

/// Longest long-poll a client may ask for, in seconds.
pub const MAX_WAIT_SECONDS: u32 = 60;

/// Paths of the device API.
pub mod path {
    /// `GET`: [`super::ServerInfo`], unauthenticated (the TLS pin is the trust).
    pub const SERVER_INFO: &str = "/device/v1/server-info";
    /// `POST` [`super::StartRegistration`] → [`super::RegistrationStarted`].
    pub const REGISTRATIONS: &str = "/device/v1/registrations";
    /// `POST` [`super::WaitRequest`] → [`super::RegistrationStatus`].
    pub fn registration_status(id: &str) -> String {
        format!("/device/v1/registrations/{id}/status")
    }
    /// `POST` [`super::CosignStep`] → [`super::CosignStep`], steps 1–3.
    pub fn registration_dkg(id: &str, role: crate::role::KeyRole, step: u8) -> String {
        format!("/device/v1/registrations/{id}/keys/{role}/dkg/{step}")
    }
    /// `POST` [`super::OprfRequest`] → [`super::OprfResponse`] (not counted).
    pub fn registration_pin(id: &str, role: crate::role::KeyRole) -> String {
        format!("/device/v1/registrations/{id}/keys/{role}/pin")
    }
    /// `POST` [`super::PinSetup`] → [`super::Empty`].
    pub fn registration_pin_setup(id: &str, role: crate::role::KeyRole) -> String {
        format!("/device/v1/registrations/{id}/keys/{role}/pin-setup")
    }
    /// `POST` [`super::Empty`] → [`super::AccountInfo`]: certificates issued.
    pub fn registration_finish(id: &str) -> String {
        format!("/device/v1/registrations/{id}/finish")
    }
    /// `POST` [`super::Empty`] → [`super::AccountInfo`].
    pub const ACCOUNT: &str = "/device/v1/account";
    /// `POST` [`super::WaitRequest`] → [`super::TransactionList`] (long-poll).
    pub const TRANSACTIONS: &str = "/device/v1/transactions";
    /// `POST` [`super::Empty`] → [`super::Transaction`].
    pub fn transaction(id: &str) -> String {
        format!("/device/v1/transactions/{id}")
    }
    /// `POST` [`super::OprfRequest`] → [`super::OprfResponse`] (counted).
    pub fn unlock(id: &str) -> String {
        format!("/device/v1/transactions/{id}/unlock")
    }
    /// `POST` [`super::UnlockResult`] → [`super::UnlockOutcome`].
    pub fn unlock_result(id: &str) -> String {
        format!("/device/v1/transactions/{id}/unlock-result")
    }
    /// `POST` [`super::SignStart`] → [`super::CosignStep`].
    pub fn sign_start(id: &str) -> String {
        format!("/device/v1/transactions/{id}/sign/1")
    }
    /// `POST` [`super::SignFinish`] → [`super::SignDone`].
    pub fn sign_finish(id: &str) -> String {
        format!("/device/v1/transactions/{id}/sign/2")
    }
    /// `POST` [`super::CosignStep`] → [`super::CosignStep`], steps 1–2.
    pub fn refresh(id: &str, step: u8) -> String {
        format!("/device/v1/transactions/{id}/refresh/{step}")
    }
    /// `POST` [`super::Confirm`] → [`super::Empty`]: the device has stored
    /// its next epoch token (and refreshed share).
    pub fn confirm(id: &str) -> String {
        format!("/device/v1/transactions/{id}/confirm")
    }
    /// `POST` [`super::Decline`] → [`super::Empty`].
    pub fn decline(id: &str) -> String {
        format!("/device/v1/transactions/{id}/decline")
    }
    /// `POST` [`super::OpenDeviceLink`] → [`super::Transaction`]: the
    /// device opened a QR code or a Web2App/App2App link.
    pub const DEVICE_LINKS: &str = "/device/v1/device-links";
    /// `POST` [`super::Empty`] → [`super::Empty`]: the person agreed to
    /// give the RP their signing certificate (no PIN: nothing is signed).
    pub fn share_certificate(id: &str) -> String {
        format!("/device/v1/transactions/{id}/share-certificate")
    }
    /// `POST` [`super::Empty`] → [`super::PinChangeStarted`]: a
    /// `PIN_CHANGE` transaction of the `role` key.
    pub fn pin_change(role: crate::role::KeyRole) -> String {
        format!("/device/v1/keys/{role}/pin-change")
    }
    /// `POST` [`super::OprfRequest`] → [`super::OprfResponse`]: the new
    /// PIN, once, after the old one was proven in transaction `id`.
    pub fn new_pin(id: &str) -> String {
        format!("/device/v1/transactions/{id}/new-pin")
    }
    /// `POST` [`super::NewPinSetup`] → [`super::Empty`]: the new `K_proof`,
    /// pending until [`new_pin_confirm`].
    pub fn new_pin_setup(id: &str) -> String {
        format!("/device/v1/transactions/{id}/new-pin-setup")
    }
    /// `POST` [`super::Empty`] → [`super::Empty`]: the device has written
    /// its vault under the new PIN.
    pub fn new_pin_confirm(id: &str) -> String {
        format!("/device/v1/transactions/{id}/new-pin-confirm")
    }
}

/// Bytes as unpadded Base64url in JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct B64(pub Vec<u8>);

impl B64 {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for B64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B64({} bytes)", self.0.len())
    }
}

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map(B64)
            .map_err(|_| serde::de::Error::custom("not unpadded Base64url"))
    }
}

/// An empty JSON object, for requests and answers with nothing to say.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// What the server tells an unregistered client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The server's protocol key (SEC1), to which bodies are encrypted. The
    /// client pins it at registration.
    pub protocol_key: B64,
    /// Oldest [`CLIENT_VERSION`] the server accepts.
    pub min_client_version: u32,
    /// Server time, Unix seconds, so a client can warn about a skewed clock.
    pub server_time: i64,
}

/// A long-poll: answer at once if there is news, else within `wait_seconds`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitRequest {
    /// At most [`MAX_WAIT_SECONDS`].
    pub wait_seconds: u32,
}

/// The person an enrolment is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// ISO 3166-1 alpha-2, e.g. `EE`.
    pub country: String,
    /// National identity code.
    pub national_id: String,
    /// Given name as on the identity document.
    pub given_name: String,
    /// Surname as on the identity document.
    pub surname: String,
}

impl Identity {
    /// The ETSI semantics identifier RPs address the person by:
    /// `PNO{country}-{national id}`.
    pub fn semantics_identifier(&self) -> String {
        format!("PNO{}-{}", self.country, self.national_id)
    }
}

/// Starts registration with the one-time code the operator gave the person.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRegistration {
    /// The enrolment code, as typed.
    pub enrolment_code: String,
    /// The device key (SEC1 uncompressed) that signs this and every later
    /// request.
    pub device_public_key: B64,
}

/// The server accepted the enrolment code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationStarted {
    /// Names this registration in later paths.
    pub registration_id: String,
    /// The document number the account will have, `PNOEE-…-XXXX-Q`; the
    /// vault binds the shares to it.
    pub document_number: String,
    /// Whom the enrolment is for, to show before the person confirms.
    pub identity: Identity,
    /// Run ids of the two DKGs, agreed here so both sides bind them.
    pub dkg_runs: KeyRuns,
}

/// One value per key role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRuns {
    /// For the authentication key.
    pub auth: B64,
    /// For the signing key.
    pub sign: B64,
}

impl KeyRuns {
    /// The value for `role`.
    pub fn get(&self, role: KeyRole) -> &B64 {
        match role {
            KeyRole::Auth => &self.auth,
            KeyRole::Sign => &self.sign,
        }
    }
}

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RegistrationState {
    /// The operator has not yet confirmed the registration code.
    AwaitingConfirmation,
    /// Confirmed: the device may run the DKGs.
    Confirmed,
    /// Certificates issued; the account exists.
    Complete,
    /// The enrolment expired before it was confirmed.
    Expired,
}

/// Answer to a registration status poll.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationStatus {
    /// Current state.
    pub state: RegistrationState,
}

/// One co-signing protocol message (a [`crate::crypto::cosign::Wire`]
/// envelope).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignStep {
    /// The envelope bytes.
    pub message: B64,
}

/// A blinded PIN for the server to evaluate (RFC 9497).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OprfRequest {
    /// SEC1-compressed blinded element.
    pub blinded: B64,
}

/// The server's OPRF evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OprfResponse {
    /// SEC1-compressed evaluated element.
    pub evaluated: B64,
    /// Names this evaluation in the unlock proof.
    pub evaluation_id: B64,
    /// Unproven attempts the key has had, this one included.
    pub failed_attempts: u32,
}

/// Set once per key at registration: what lets the server later tell a
/// right PIN from a wrong one without learning anything about the PIN.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinSetup {
    /// `K_proof` (PROTOCOL.md §3).
    pub unlock_proof_key: B64,
    /// The evaluation the proof below answers.
    pub evaluation_id: B64,
    /// `HMAC(K_proof, evaluation_id)`: the device did derive `K_proof`.
    pub proof: B64,
    /// SHA-256 of the key's first epoch token.
    pub epoch_token_hash: B64,
}

/// A device link the device opened, as it was opened (the whole URL: the
/// server checks its authCode over every byte).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenDeviceLink {
    /// `deviceLinkBase?deviceLinkType=…&…&authCode=…`.
    pub link: String,
}

/// A PIN change opened: the transaction its steps run in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinChangeStarted {
    /// The `PIN_CHANGE` transaction.
    pub transaction_id: String,
    /// When it ends unless finished, Unix seconds.
    pub expires_at: i64,
}

/// The new PIN's `K_proof`, with the proof that the device derived it from
/// the evaluation the server made for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPinSetup {
    /// The new `K_proof`.
    pub unlock_proof_key: B64,
    /// The new PIN's evaluation ([`path::new_pin`]).
    pub evaluation_id: B64,
    /// `HMAC(new K_proof, evaluation_id)`.
    pub proof: B64,
}

/// The device's report after trying the evaluated PIN on its vault.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockResult {
    /// The evaluation this is about.
    pub evaluation_id: B64,
    /// `HMAC(K_proof, evaluation_id)` when the vault opened; `None` when
    /// it did not (a wrong PIN), which lets the server apply a lock at once.
    pub proof: Option<B64>,
}

/// What the server made of an [`UnlockResult`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnlockOutcome {
    /// The key's state now.
    pub key: KeyInfo,
}

/// First signing request: the clone-detection tokens and round 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignStart {
    /// Epoch of the device's share.
    pub epoch: u64,
    /// The current epoch token `T_e`, from the vault.
    pub epoch_token: B64,
    /// SHA-256 of the fresh `T_{e+1}` the device will store.
    pub next_epoch_token_hash: B64,
    /// For ACSP_V2: the phone's `userChallenge` (Base64url).
    pub user_challenge: Option<String>,
    /// For ACSP_V2: the interaction the phone showed.
    pub interaction_used: Option<String>,
    /// For code-choice interactions: the code the person picked.
    pub chosen_code: Option<String>,
    /// The co-signing message.
    pub message: B64,
}

/// Second signing request: round 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignFinish {
    /// The co-signing message.
    pub message: B64,
}

/// The signature is made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignDone {
    /// DER ECDSA signature, for the device's own check.
    pub signature: B64,
    /// Set when the refresh policy asks for a refresh now: its run id.
    pub refresh_run: Option<B64>,
}

/// The device stored its next state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// The new epoch token `T_{e+1}` (its hash was sent in [`SignStart`]).
    pub epoch_token: B64,
    /// After a refresh: the refresh confirmation envelope.
    pub refresh_confirm: Option<B64>,
}

/// The person declined.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decline {
    /// Why, for the RP's end result.
    pub reason: DeclineReason,
}

/// Why a transaction was declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeclineReason {
    /// The person pressed "decline" (end result USER_REFUSED_INTERACTION).
    UserRefused,
    /// The person picked a wrong code in a code choice (WRONG_VC).
    WrongCode,
    /// The app cannot show any interaction in the list.
    InteractionNotSupported,
}

/// Pending transactions for this device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransactionList {
    /// Oldest first.
    pub transactions: Vec<TransactionSummary>,
}

/// One line of the inbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransactionSummary {
    /// Names the transaction in later paths.
    pub id: String,
    /// What kind of approval it asks for.
    pub kind: TransactionKind,
    /// Who asks.
    pub rp_name: String,
    /// Unix seconds after which it can no longer be approved.
    pub expires_at: i64,
}

/// The kinds of approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransactionKind {
    /// Log in (PIN1, ACSP_V2).
    Authentication,
    /// Sign a document (PIN2, raw digest).
    Signature,
    /// The PIN check at the end of registration.
    PinVerification,
    /// Give the RP the signing certificate (no PIN, nothing signed).
    CertificateChoice,
}

impl TransactionKind {
    /// The key (and so the PIN) this kind uses.
    pub fn role(self, verification_role: KeyRole) -> KeyRole {
        match self {
            TransactionKind::Authentication => KeyRole::Auth,
            TransactionKind::Signature | TransactionKind::CertificateChoice => KeyRole::Sign,
            TransactionKind::PinVerification => verification_role,
        }
    }
}

/// Everything the phone needs to show a transaction and to compute, by
/// itself, what it will sign and the verification code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    /// Names the transaction.
    pub id: String,
    /// What kind of approval.
    pub kind: TransactionKind,
    /// The key that signs it.
    pub role: KeyRole,
    /// `relyingPartyName`.
    pub rp_name: String,
    /// `brokeredRpName`, may be empty.
    pub brokered_rp_name: String,
    /// `interactions` exactly as the RP sent it (standard Base64 JSON).
    pub interactions: String,
    /// What is to be signed.
    pub payload: SignPayload,
    /// Code choice: three codes to pick from, when the interaction asks.
    pub code_choice: Option<Vec<String>>,
    /// Same-device flows (Web2App, App2App): `sessionSecretDigest` for the
    /// callback URL the app opens after approving.
    #[serde(default)]
    pub session_secret_digest: Option<String>,
    /// Same-device flows: the RP's `initialCallbackUrl`, which the app
    /// opens (with its values appended) after approving.
    #[serde(default)]
    pub initial_callback_url: Option<String>,
    /// The co-signing run id.
    pub sign_run: B64,
    /// Unix seconds after which approval is refused.
    pub expires_at: i64,
}

/// What a transaction signs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "protocol")]
pub enum SignPayload {
    /// Authentication: the hash of the ACSP_V2 message, which the phone
    /// completes with its `userChallenge` and the interaction it shows.
    #[serde(rename = "ACSP_V2")]
    AcspV2 {
        /// Scheme name.
        scheme: String,
        /// `serverRandom`.
        server_random: String,
        /// `rpChallenge`, standard Base64.
        rp_challenge: String,
        /// `hashAlgorithm`, SK's spelling.
        hash_algorithm: String,
        /// `initialCallbackUrl`, empty outside same-device flows.
        initial_callback_url: String,
        /// `flowType`, SK's spelling.
        flow_type: String,
    },
    /// Certificate choice: nothing is signed.
    #[serde(rename = "CERTIFICATE_CHOICE")]
    CertificateChoice {},
    /// Signing: the RP's digest, as given.
    #[serde(rename = "RAW_DIGEST_SIGNATURE")]
    RawDigest {
        /// The digest, standard Base64.
        digest: String,
        /// `hashAlgorithm`, SK's spelling.
        hash_algorithm: String,
    },
}

/// Account state as the server sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountState {
    /// Keys and certificates exist; PINs not yet verified.
    InPreparation,
    /// Usable.
    Ready,
    /// Frozen: a copied device was detected (CLONE_DETECTED).
    Frozen,
    /// Both keys disabled; register again.
    Disabled,
}

/// A key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyState {
    /// Usable.
    Active,
    /// Too many wrong PINs; usable again after `locked_until`.
    Timelocked,
    /// Nine wrong PINs or a protocol failure: gone, certificate revoked.
    Disabled,
}

/// One key of the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Which key.
    pub role: KeyRole,
    /// Its state.
    pub state: KeyState,
    /// Unproven PIN attempts in a row.
    pub failed_attempts: u32,
    /// When a time lock ends, Unix seconds.
    pub locked_until: Option<i64>,
    /// The certificate, PEM, once issued.
    pub certificate_pem: Option<String>,
}

/// The account, for the app's status screen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountInfo {
    /// `PNOEE-…-XXXX-Q`.
    pub document_number: String,
    /// The person.
    pub identity: Identity,
    /// Account state.
    pub state: AccountState,
    /// Both keys.
    pub keys: Vec<KeyInfo>,
    /// The CA chain (issuing CA, root), PEM.
    pub ca_chain_pem: String,
}

/// Machine-readable error codes of the device API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The request is malformed; `message` says what.
    BadRequest,
    /// The request signature, timestamp or nonce was refused.
    Unauthorized,
    /// No such registration, transaction or account.
    NotFound,
    /// The enrolment code is unknown, used or expired.
    EnrolmentInvalid,
    /// The step is not allowed in the current state.
    Conflict,
    /// The key is time-locked (`locked_until` set).
    Locked,
    /// The key is disabled.
    KeyDisabled,
    /// The account is frozen: a copied device was detected.
    CloneDetected,
    /// The transaction expired or was already answered.
    TransactionExpired,
    /// The co-signing protocol failed a check (the ban rule).
    ProtocolFailure,
    /// Client older than the server's minimum.
    ClientTooOld,
    /// The code the person picked in a code choice is not the RP's; the
    /// session ended with WRONG_VC.
    WrongVerificationCode,
    /// A device link that is not this server's, was tampered with, or
    /// whose QR code is stale or from the future.
    LinkInvalid,
    /// Anything else on the server's side.
    ServerError,
}

/// The body of every device-API error response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for code.
    pub code: ErrorCode,
    /// What went wrong, for people and logs. Never contains secrets.
    pub message: String,
    /// For [`ErrorCode::Locked`]: Unix seconds when the lock ends.
    pub locked_until: Option<i64>,
}
