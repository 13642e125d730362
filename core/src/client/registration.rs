//! Registration (PROTOCOL.md §5; the `api` module doc, "Registration"):
//! enrolment code → the registration code the operator confirms → DKG and
//! PIN setup of both keys → certificates → the PIN verifications that make
//! the account `READY`.
//!
//! Progress is written to the account record after each step that the
//! server will not repeat, so an app killed mid-registration resumes:
//! a key whose PIN setup the server accepted is skipped, a key whose share
//! is sealed but whose setup was not answered is set up again from its
//! vault (with the same PIN; or found already set up, if only the answer
//! was lost), and any other key starts its DKG over.

use std::time::{Duration, Instant};

use super::Authenticator;
use super::account_state::{AccountRecord, Certificates, RegistrationProgress};
use super::error::ClientError;
use super::transport::{Call, is_path_safe_id, unix_now};
use super::view::run_id;
use crate::crypto::channel::ProtocolPublicKey;
use crate::pin::{self, Pin, PinKind};
use crate::protocol::api::{
    self, AccountInfo, B64, Empty, Identity, RegistrationStarted, RegistrationState,
    RegistrationStatus, StartRegistration, TransactionKind, WaitRequest, path,
};
use crate::role::KeyRole;

/// Longest document number accepted from the server (`PNOEE-` plus an
/// 11-digit id plus `-XXXX-Q` is 24).
const MAX_DOCUMENT_NUMBER_LEN: usize = 64;

/// The device API's code for a step the current state does not allow.
const CONFLICT: &str = "CONFLICT";

/// How far the server's clock may be from the device's before requests
/// start to be refused (`request_auth::DEFAULT_MAX_SKEW_SECS`).
const CLOCK_SKEW_WARNING_SECS: i64 = 300;

/// What the app shows once registration has started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationCode {
    /// The four-digit code the person reads out to the operator: the
    /// device's own computation over the registration transcript.
    pub registration_code: String,
    /// The document number the account will have.
    pub document_number: String,
    /// Whom the enrolment is for, to show before the person confirms.
    pub identity: Identity,
}

impl Authenticator {
    /// Starts registration with the enrolment code the operator gave.
    /// Pins the server's protocol key first (once per account home), then
    /// computes the registration code itself.
    ///
    /// Starting again with the same code resumes the same registration;
    /// with another code it abandons the previous attempt (and any share
    /// it sealed).
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] for an empty code or an account home
    /// that already holds an account; [`ClientError::EnrolmentInvalid`];
    /// [`ClientError::ClientTooOld`]; the errors of any call.
    pub async fn start_registration(
        &self,
        enrolment_code: &str,
    ) -> Result<RegistrationCode, ClientError> {
        if api::normalize_enrolment_code(enrolment_code).is_empty() {
            return Err(ClientError::invalid_input("the enrolment code is empty"));
        }
        let _flow = self.flow.lock().await;
        let previous = self.accounts().record()?;
        if previous.as_ref().is_some_and(AccountRecord::is_registered) {
            return Err(ClientError::invalid_input(
                "this account home already holds a registered account",
            ));
        }
        let protocol_key = self.pin_protocol_key().await?;
        let request = StartRegistration {
            enrolment_code: enrolment_code.to_owned(),
            device_public_key: B64(self.device_public_key.clone()),
        };
        let started: RegistrationStarted = self
            .transport
            .post(&protocol_key, path::REGISTRATIONS, &request, Call::Step)
            .await?;
        check_started(&started)?;

        let registration_code = api::registration_code(
            &started.registration_id,
            &self.device_public_key,
            enrolment_code,
        )
        .to_string();
        // The server answers a repeated start (same code, same device)
        // with the same registration: keep its progress and sealed shares.
        if let Some(previous) = previous
            && previous.registration.registration_id == started.registration_id
        {
            return Ok(RegistrationCode {
                registration_code: previous.registration.registration_code,
                document_number: previous.document_number,
                identity: previous.identity,
            });
        }
        // No account exists here, so any sealed share belongs to an
        // abandoned registration that the server will never co-sign with.
        self.accounts().delete_vaults()?;
        let record = AccountRecord::started(
            started.document_number.clone(),
            started.identity.clone(),
            RegistrationProgress {
                registration_id: started.registration_id,
                registration_code: registration_code.clone(),
                dkg_runs: started.dkg_runs,
                keys_ready: Vec::new(),
            },
        );
        self.accounts().put_record(&record)?;
        Ok(RegistrationCode {
            registration_code,
            document_number: started.document_number,
            identity: started.identity,
        })
    }

    /// Waits up to `timeout` for the operator to confirm the registration
    /// code: `true` once confirmed, `false` if `timeout` passed first.
    /// Long-polls in steps of at most [`api::MAX_WAIT_SECONDS`].
    ///
    /// # Errors
    ///
    /// [`ClientError::NotRegistered`] before
    /// [`Authenticator::start_registration`];
    /// [`ClientError::EnrolmentInvalid`] if the registration expired; the
    /// errors of any call.
    pub async fn wait_for_confirmation(&self, timeout: Duration) -> Result<bool, ClientError> {
        let record = self.record()?;
        if record.is_registered() {
            return Ok(true);
        }
        let status_path = path::registration_status(&record.registration.registration_id);
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let wait_seconds = u32::try_from(remaining.as_secs())
                .unwrap_or(u32::MAX)
                .min(api::MAX_WAIT_SECONDS);
            let status: RegistrationStatus = self
                .post(
                    &status_path,
                    &WaitRequest { wait_seconds },
                    Call::LongPoll { wait_seconds },
                )
                .await?;
            match status.state {
                RegistrationState::Confirmed | RegistrationState::Complete => return Ok(true),
                RegistrationState::Expired => {
                    return Err(ClientError::EnrolmentInvalid {
                        message: "the registration expired before it was confirmed".into(),
                    });
                }
                RegistrationState::AwaitingConfirmation => {
                    // Less than a second left: another poll could not wait.
                    if deadline.saturating_duration_since(Instant::now()) < Duration::from_secs(1) {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Creates both keys and locks them with the PINs: for each key the
    /// DKG, the PIN setup through the OPRF, the vault; then the
    /// certificates. The account is then `IN_PREPARATION` until
    /// [`Authenticator::verify_pins`].
    ///
    /// `pin1` and `pin2` are ASCII digits; both are checked against the
    /// PIN rules before anything else happens.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] naming the PIN rule broken, or for a
    /// registration already finished; [`ClientError::NotRegistered`]
    /// before [`Authenticator::start_registration`]; the errors of any
    /// call (a `CONFLICT` server error while the operator has not
    /// confirmed).
    pub async fn finish_registration(
        &self,
        pin1: &[u8],
        pin2: &[u8],
    ) -> Result<AccountInfo, ClientError> {
        let pins = ChosenPins::new(pin1, pin2)?;
        let _flow = self.flow.lock().await;
        let mut record = self.record()?;
        if record.is_registered() {
            return Err(ClientError::invalid_input(
                "registration is already finished",
            ));
        }
        let device_salt = self.accounts().device_salt_or_create()?;
        let registration_id = record.registration.registration_id.clone();

        for role in KeyRole::ALL {
            if record.registration.keys_ready.contains(&role) {
                continue;
            }
            let pin = pins.of(role);
            match self.accounts().sealed(role)? {
                Some(sealed) => {
                    match self
                        .resume_pin_setup(&record, role, pin, &device_salt, &sealed)
                        .await
                    {
                        Ok(()) => {}
                        // The server evaluates a key's setup PIN only until
                        // its setup is accepted: a refusal here means the
                        // setup went through and only its answer was lost.
                        // The finish step checks both keys are set up.
                        Err(ClientError::Server { code, .. }) if code == CONFLICT => {}
                        Err(error) => return Err(error),
                    }
                }
                None => {
                    let run = run_id(record.registration.dkg_runs.get(role))?;
                    let share = self.run_dkg(&registration_id, role, run).await?;
                    self.set_up_pin(&record, role, pin, &device_salt, share)
                        .await?;
                }
            }
            record.registration.keys_ready.push(role);
            self.accounts().put_record(&record)?;
        }

        let finished = self
            .post::<_, AccountInfo>(
                &path::registration_finish(&registration_id),
                &Empty {},
                Call::Step,
            )
            .await;
        let account = match finished {
            Ok(account) => account,
            // The certificates may have been issued with the answer lost:
            // then the account already has them.
            Err(error @ ClientError::Server { .. }) => match self.account().await {
                Ok(account) if certificates(&account).is_ok() => account,
                _ => return Err(error),
            },
            Err(error) => return Err(error),
        };
        if account.document_number != record.document_number {
            return Err(ClientError::invalid_response(
                "certificates for another document number",
            ));
        }
        record.certificates = Some(certificates(&account)?);
        self.accounts().put_record(&record)?;
        Ok(account)
    }

    /// Approves the two PIN verification transactions that registration
    /// left in the inbox (PIN1, then PIN2), which makes the account
    /// `READY`, and returns the account. Both PINs are checked against the
    /// PIN rules first; a verification already done is not repeated.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] naming the PIN rule broken;
    /// [`ClientError::WrongPin`] and the other errors of
    /// [`Authenticator::approve`].
    pub async fn verify_pins(&self, pin1: &[u8], pin2: &[u8]) -> Result<AccountInfo, ClientError> {
        ChosenPins::new(pin1, pin2)?;
        let mut verifications = Vec::new();
        for summary in self.pending_transactions(0).await? {
            if summary.kind == TransactionKind::PinVerification {
                verifications.push(self.transaction(&summary.id).await?);
            }
        }
        verifications.sort_by_key(|view| view.role);
        for view in verifications {
            let pin = match view.role {
                KeyRole::Auth => pin1,
                KeyRole::Sign => pin2,
            };
            self.approve(&view.id, pin).await?;
        }
        self.account().await
    }

    /// The pinned protocol key, or, at the first registration of this
    /// home, the one server-info gives over the pinned TLS connection,
    /// stored before it is used.
    async fn pin_protocol_key(&self) -> Result<ProtocolPublicKey, ClientError> {
        if let Some(key) = self.accounts().protocol_key()? {
            return Ok(*self.protocol_key.get_or_init(|| key));
        }
        let info = self.transport.server_info().await?;
        if info.min_client_version > api::CLIENT_VERSION {
            return Err(ClientError::ClientTooOld);
        }
        let skew = info.server_time.saturating_sub(unix_now()?);
        if skew.abs() > CLOCK_SKEW_WARNING_SECS {
            tracing::warn!(
                skew,
                "the device clock is off; the server will refuse requests"
            );
        }
        let key = ProtocolPublicKey::from_sec1(info.protocol_key.as_bytes())
            .map_err(|_| ClientError::invalid_response("the server's protocol key is invalid"))?;
        self.accounts().put_protocol_key(&key)?;
        Ok(*self.protocol_key.get_or_init(|| key))
    }
}

/// PIN1 and PIN2 as chosen: each valid for its kind, and different.
struct ChosenPins {
    pin1: Pin,
    pin2: Pin,
}

impl ChosenPins {
    fn new(pin1: &[u8], pin2: &[u8]) -> Result<Self, ClientError> {
        let invalid = |error: pin::PinError| ClientError::invalid_input(error.to_string());
        let pin1 = Pin::new(PinKind::Pin1, pin1).map_err(invalid)?;
        let pin2 = Pin::new(PinKind::Pin2, pin2).map_err(invalid)?;
        pin::check_pair(&pin1, &pin2).map_err(invalid)?;
        Ok(Self { pin1, pin2 })
    }

    fn of(&self, role: KeyRole) -> &Pin {
        match role {
            KeyRole::Auth => &self.pin1,
            KeyRole::Sign => &self.pin2,
        }
    }
}

/// Checks what the server started before it reaches paths and the vault.
fn check_started(started: &RegistrationStarted) -> Result<(), ClientError> {
    if !is_path_safe_id(&started.registration_id) {
        return Err(ClientError::invalid_response(
            "a registration id out of form",
        ));
    }
    let number = &started.document_number;
    if number.is_empty()
        || number.len() > MAX_DOCUMENT_NUMBER_LEN
        || !number.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ClientError::invalid_response(
            "a document number out of form",
        ));
    }
    for role in KeyRole::ALL {
        run_id(started.dkg_runs.get(role))?;
    }
    Ok(())
}

/// Both certificates and the chain, from the account.
fn certificates(account: &AccountInfo) -> Result<Certificates, ClientError> {
    let certificate = |role: KeyRole| {
        account
            .keys
            .iter()
            .find(|key| key.role == role)
            .and_then(|key| key.certificate_pem.clone())
            .ok_or_else(|| ClientError::invalid_response(format!("no {role} certificate")))
    };
    Ok(Certificates {
        authentication_pem: certificate(KeyRole::Auth)?,
        signing_pem: certificate(KeyRole::Sign)?,
        ca_chain_pem: account.ca_chain_pem.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::cosign::RunId;

    #[test]
    fn pins_are_checked_against_the_rules_and_each_other() {
        assert!(ChosenPins::new(b"4821", b"59371").is_ok());
        for (pin1, pin2, rule) in [
            (
                &b"482"[..],
                &b"59371"[..],
                "PIN1 must have at least 4 digits",
            ),
            (b"4821", b"5937", "PIN2 must have at least 5 digits"),
            (b"1234", b"59371", "run of consecutive digits"),
            (b"4821", b"55555", "repeat a single digit"),
            (b"48a1", b"59371", "only the digits"),
            (b"48215", b"48215", "PIN2 must differ from PIN1"),
        ] {
            let Err(ClientError::InvalidInput { reason }) = ChosenPins::new(pin1, pin2) else {
                panic!("{rule}: accepted");
            };
            assert!(reason.contains(rule), "{reason:?} does not name {rule:?}");
        }
    }

    fn started() -> RegistrationStarted {
        RegistrationStarted {
            registration_id: "reg_1".into(),
            document_number: "PNOEE-38001085718-ABCD-Q".into(),
            identity: Identity {
                country: "EE".into(),
                national_id: "38001085718".into(),
                given_name: "MARY".into(),
                surname: "ÄNN".into(),
            },
            dkg_runs: api::KeyRuns {
                auth: B64(RunId::random().0.to_vec()),
                sign: B64(RunId::random().0.to_vec()),
            },
        }
    }

    #[test]
    fn a_started_registration_is_checked_before_use() {
        assert!(check_started(&started()).is_ok());
        let mut bad_id = started();
        bad_id.registration_id = "a/../b".into();
        let mut bad_number = started();
        bad_number.document_number = "PNOEE 1".into();
        let mut bad_run = started();
        bad_run.dkg_runs.sign = B64(vec![0; 16]);
        for bad in [bad_id, bad_number, bad_run] {
            assert!(matches!(
                check_started(&bad),
                Err(ClientError::InvalidResponse(_))
            ));
        }
    }
}
