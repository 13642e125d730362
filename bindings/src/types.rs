//! The records and enums that cross the boundary, each the core's type in
//! FFI form, converted once here.
//!
//! Times are Unix seconds (`i64`), as in the core and on the wire; the
//! app formats them. Secrets never appear in these types except the
//! `user_challenge_verifier` of [`Approved`], which the app needs for a
//! same-device callback and which `Debug` redacts.

use std::fmt;
use std::time::Duration;

use kaksik_core::client as core;
use kaksik_core::protocol::api;
use kaksik_core::protocol::lockout::attempts_before_next_lock;
use kaksik_core::role;
use kaksik_core::rp;

/// Where the server is and how to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientConfig {
    /// The server's origin, `https://host[:port]`, without a path.
    pub server_url: String,
    /// `sha256/<Base64>` of the server certificate's SubjectPublicKeyInfo,
    /// as the server prints it.
    pub tls_spki_pin: String,
    /// Timeout of every request in seconds (a long-poll gets its wait on
    /// top). 30 suits a phone on a mobile network.
    #[uniffi(default = 30)]
    pub request_timeout_seconds: u32,
    /// The interactions this app can show; a transaction that allows none
    /// of them is declined with REQUIRED_INTERACTION_NOT_SUPPORTED_BY_APP
    /// (`InteractionNotSupported`). Empty means all of them.
    #[uniffi(default = [])]
    pub supported_interactions: Vec<InteractionType>,
}

impl From<ClientConfig> for core::ClientConfig {
    fn from(config: ClientConfig) -> Self {
        let supported_interactions = if config.supported_interactions.is_empty() {
            rp::InteractionType::ALL.to_vec()
        } else {
            config
                .supported_interactions
                .into_iter()
                .map(Into::into)
                .collect()
        };
        Self {
            server_url: config.server_url,
            tls_spki_pin: config.tls_spki_pin,
            request_timeout: Duration::from_secs(u64::from(config.request_timeout_seconds)),
            supported_interactions,
        }
    }
}

/// The authentication key (PIN1) or the signing key (PIN2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum KeyRole {
    /// The authentication key, unlocked with PIN1.
    Auth,
    /// The signing key, unlocked with PIN2.
    Sign,
}

impl From<KeyRole> for role::KeyRole {
    fn from(role: KeyRole) -> Self {
        match role {
            KeyRole::Auth => Self::Auth,
            KeyRole::Sign => Self::Sign,
        }
    }
}

impl From<role::KeyRole> for KeyRole {
    fn from(role: role::KeyRole) -> Self {
        match role {
            role::KeyRole::Auth => Self::Auth,
            role::KeyRole::Sign => Self::Sign,
        }
    }
}

/// The kinds of approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TransactionKind {
    /// Log in (PIN1).
    Authentication,
    /// Sign a document (PIN2).
    Signature,
    /// The PIN check at the end of registration.
    PinVerification,
    /// Give the RP the signing certificate (`share_certificate`; no PIN).
    CertificateChoice,
}

impl From<api::TransactionKind> for TransactionKind {
    fn from(kind: api::TransactionKind) -> Self {
        match kind {
            api::TransactionKind::Authentication => Self::Authentication,
            api::TransactionKind::Signature => Self::Signature,
            api::TransactionKind::PinVerification => Self::PinVerification,
            api::TransactionKind::CertificateChoice => Self::CertificateChoice,
        }
    }
}

/// The screen a transaction asks for (RP API v3 interaction types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum InteractionType {
    /// Up to 60 characters and the PIN on one screen.
    DisplayTextAndPin,
    /// Up to 200 characters with Confirm/Cancel, then the PIN.
    ConfirmationMessage,
    /// Up to 200 characters and a choice of three verification codes,
    /// then the PIN.
    ConfirmationMessageAndVerificationCodeChoice,
}

impl From<InteractionType> for rp::InteractionType {
    fn from(interaction: InteractionType) -> Self {
        match interaction {
            InteractionType::DisplayTextAndPin => Self::DisplayTextAndPin,
            InteractionType::ConfirmationMessage => Self::ConfirmationMessage,
            InteractionType::ConfirmationMessageAndVerificationCodeChoice => {
                Self::ConfirmationMessageAndVerificationCodeChoice
            }
        }
    }
}

impl From<rp::InteractionType> for InteractionType {
    fn from(interaction: rp::InteractionType) -> Self {
        match interaction {
            rp::InteractionType::DisplayTextAndPin => Self::DisplayTextAndPin,
            rp::InteractionType::ConfirmationMessage => Self::ConfirmationMessage,
            rp::InteractionType::ConfirmationMessageAndVerificationCodeChoice => {
                Self::ConfirmationMessageAndVerificationCodeChoice
            }
        }
    }
}

/// Why a transaction is declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeclineReason {
    /// The person pressed "decline" (the RP sees
    /// `USER_REFUSED_INTERACTION`).
    UserRefused,
    /// The person picked a wrong code in a code choice (`WRONG_VC`).
    WrongCode,
    /// The app cannot show any interaction in the list.
    InteractionNotSupported,
}

impl From<DeclineReason> for api::DeclineReason {
    fn from(reason: DeclineReason) -> Self {
        match reason {
            DeclineReason::UserRefused => Self::UserRefused,
            DeclineReason::WrongCode => Self::WrongCode,
            DeclineReason::InteractionNotSupported => Self::InteractionNotSupported,
        }
    }
}

/// One line of the inbox.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransactionSummary {
    /// Names the transaction in the other calls.
    pub id: String,
    /// What kind of approval it asks for.
    pub kind: TransactionKind,
    /// Who asks.
    pub rp_name: String,
    /// Unix seconds after which it can no longer be approved.
    pub expires_at: i64,
}

impl From<api::TransactionSummary> for TransactionSummary {
    fn from(summary: api::TransactionSummary) -> Self {
        Self {
            id: summary.id,
            kind: summary.kind.into(),
            rp_name: summary.rp_name,
            expires_at: summary.expires_at,
        }
    }
}

/// A transaction, ready to show: everything on it was computed or checked
/// on the device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransactionView {
    /// Names the transaction in `approve` and `decline`.
    pub id: String,
    /// What kind of approval it asks for.
    pub kind: TransactionKind,
    /// The key it uses: PIN1 for `AUTH`, PIN2 for `SIGN`.
    pub role: KeyRole,
    /// `relyingPartyName`.
    pub rp_name: String,
    /// `brokeredRpName`, may be empty.
    pub brokered_rp_name: String,
    /// The interaction to show; none for a PIN verification.
    pub interaction: Option<InteractionType>,
    /// Its text; none for a PIN verification.
    pub display_text: Option<String>,
    /// The four-digit code the device computed, to compare with the RP's
    /// screen; none for a PIN verification and for a code choice.
    pub verification_code: Option<String>,
    /// The three codes to pick from, for the code-choice interaction
    /// (`approve_with_code`).
    pub code_choice: Option<Vec<String>>,
    /// Unix seconds after which the server refuses approval.
    pub expires_at: i64,
}

impl From<core::TransactionView> for TransactionView {
    fn from(view: core::TransactionView) -> Self {
        Self {
            id: view.id,
            kind: view.kind.into(),
            role: view.role.into(),
            rp_name: view.rp_name,
            brokered_rp_name: view.brokered_rp_name,
            interaction: view.interaction.map(Into::into),
            display_text: view.display_text,
            verification_code: view.verification_code,
            code_choice: view.code_choice,
            expires_at: view.expires_at,
        }
    }
}

/// An approval the server completed.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct Approved {
    /// The joint key's signature (DER ECDSA), as the RP receives it; the
    /// device checked it against what it meant to sign.
    pub signature_der: Vec<u8>,
    /// Authentication only: the `userChallengeVerifier` whose hash was
    /// signed, for the callback URL of a same-device flow. Keep it until
    /// the callback is opened, and out of logs.
    pub user_challenge_verifier: Option<String>,
    /// Same-device flows (Web2App, App2App): the URL to open now, back to
    /// the RP, with `sessionSecretDigest` (and `userChallengeVerifier`)
    /// appended.
    pub callback_url: Option<String>,
}

impl From<core::Approved> for Approved {
    fn from(approved: core::Approved) -> Self {
        Self {
            signature_der: approved.signature_der,
            user_challenge_verifier: approved.user_challenge_verifier,
            callback_url: approved.callback_url,
        }
    }
}

impl fmt::Debug for Approved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approved")
            .field("signature_len", &self.signature_der.len())
            .field(
                "user_challenge_verifier",
                &self.user_challenge_verifier.as_ref().map(|_| "[REDACTED]"),
            )
            .field(
                "callback_url",
                &self.callback_url.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// The person an account is for.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Identity {
    /// ISO 3166-1 alpha-2, e.g. `EE`.
    pub country: String,
    /// National identity code.
    pub national_id: String,
    /// Given name as on the identity document.
    pub given_name: String,
    /// Surname as on the identity document.
    pub surname: String,
    /// `PNO{country}-{national id}`: what RPs address the person by.
    pub semantics_identifier: String,
}

impl From<api::Identity> for Identity {
    fn from(identity: api::Identity) -> Self {
        Self {
            semantics_identifier: identity.semantics_identifier(),
            country: identity.country,
            national_id: identity.national_id,
            given_name: identity.given_name,
            surname: identity.surname,
        }
    }
}

/// What the app shows once registration has started.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegistrationCode {
    /// The four-digit code the person reads out to the operator.
    pub registration_code: String,
    /// The document number the account will have.
    pub document_number: String,
    /// Whom the enrolment is for, to show before the person goes on.
    pub identity: Identity,
}

impl From<core::RegistrationCode> for RegistrationCode {
    fn from(code: core::RegistrationCode) -> Self {
        Self {
            registration_code: code.registration_code,
            document_number: code.document_number,
            identity: code.identity.into(),
        }
    }
}

/// The account's certificates, PEM.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Certificates {
    /// The authentication certificate (PIN1's key).
    pub authentication_pem: String,
    /// The signing certificate (PIN2's key).
    pub signing_pem: String,
    /// The CA chain (issuing CA, root).
    pub ca_chain_pem: String,
}

impl From<core::Certificates> for Certificates {
    fn from(certificates: core::Certificates) -> Self {
        Self {
            authentication_pem: certificates.authentication_pem,
            signing_pem: certificates.signing_pem,
            ca_chain_pem: certificates.ca_chain_pem,
        }
    }
}

/// Where this account home stands, from local state only.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum LocalStatus {
    /// Nothing registered yet.
    NotRegistered,
    /// A registration was started and has not finished.
    Registering {
        /// The document number the account will have.
        document_number: String,
        /// Whom the enrolment is for.
        identity: Identity,
        /// The code to show the operator.
        registration_code: String,
    },
    /// The account exists (on the server it stays `IN_PREPARATION` until
    /// both PINs are verified).
    Registered {
        /// `PNOEE-…-XXXX-Q`.
        document_number: String,
        /// The person.
        identity: Identity,
        /// The certificates issued at registration.
        certificates: Certificates,
    },
}

impl From<core::LocalStatus> for LocalStatus {
    fn from(status: core::LocalStatus) -> Self {
        match status {
            core::LocalStatus::NotRegistered => Self::NotRegistered,
            core::LocalStatus::Registering {
                document_number,
                identity,
                registration_code,
            } => Self::Registering {
                document_number,
                identity: identity.into(),
                registration_code,
            },
            core::LocalStatus::Registered {
                document_number,
                identity,
                certificates,
            } => Self::Registered {
                document_number,
                identity: identity.into(),
                certificates: certificates.into(),
            },
        }
    }
}

/// The account's state on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AccountState {
    /// Keys and certificates exist; the PINs are not verified yet.
    InPreparation,
    /// Usable.
    Ready,
    /// Frozen: a copy of this device was detected.
    Frozen,
    /// Both keys disabled; register again.
    Disabled,
}

impl From<api::AccountState> for AccountState {
    fn from(state: api::AccountState) -> Self {
        match state {
            api::AccountState::InPreparation => Self::InPreparation,
            api::AccountState::Ready => Self::Ready,
            api::AccountState::Frozen => Self::Frozen,
            api::AccountState::Disabled => Self::Disabled,
        }
    }
}

/// A key's state on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum KeyState {
    /// Usable.
    Active,
    /// Too many wrong PINs; usable again after `locked_until`.
    Timelocked,
    /// Gone (nine wrong PINs or a protocol failure); certificate revoked.
    Disabled,
}

impl From<api::KeyState> for KeyState {
    fn from(state: api::KeyState) -> Self {
        match state {
            api::KeyState::Active => Self::Active,
            api::KeyState::Timelocked => Self::Timelocked,
            api::KeyState::Disabled => Self::Disabled,
        }
    }
}

/// One key of the account, with its lock information.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyInfo {
    /// Which key.
    pub role: KeyRole,
    /// Its state.
    pub state: KeyState,
    /// Wrong PINs in a row.
    pub failed_attempts: u32,
    /// Wrong PINs left before the next lock (or the disabling).
    pub attempts_left: u32,
    /// When a time lock ends, Unix seconds.
    pub locked_until: Option<i64>,
    /// The certificate, PEM, once issued.
    pub certificate_pem: Option<String>,
}

impl From<api::KeyInfo> for KeyInfo {
    fn from(key: api::KeyInfo) -> Self {
        Self {
            role: key.role.into(),
            state: key.state.into(),
            failed_attempts: key.failed_attempts,
            attempts_left: attempts_before_next_lock(key.failed_attempts),
            locked_until: key.locked_until,
            certificate_pem: key.certificate_pem,
        }
    }
}

/// The account as the server sees it, for the app's status screen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

impl From<api::AccountInfo> for AccountInfo {
    fn from(account: api::AccountInfo) -> Self {
        Self {
            document_number: account.document_number,
            identity: account.identity.into(),
            state: account.state.into(),
            keys: account.keys.into_iter().map(Into::into).collect(),
            ca_chain_pem: account.ca_chain_pem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_shows_the_attempts_left_before_its_next_lock() {
        let key = KeyInfo::from(api::KeyInfo {
            role: role::KeyRole::Auth,
            state: api::KeyState::Active,
            failed_attempts: 4,
            locked_until: None,
            certificate_pem: None,
        });
        assert_eq!(key.attempts_left, 2);
    }

    #[test]
    fn the_verifier_stays_out_of_debug_output() {
        let approved = Approved {
            signature_der: vec![0x30, 0x44],
            user_challenge_verifier: Some("verifier-text".into()),
            callback_url: Some("https://rp.example/cb?userChallengeVerifier=verifier-text".into()),
        };
        assert!(!format!("{approved:?}").contains("verifier-text"));
    }
}
