//! The transaction flows (PROTOCOL.md §3, §4; the `api` module doc,
//! "A transaction"): the inbox, one transaction's view, approval with the
//! PIN, refusal, and the account's state on the server.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroize;

use super::Authenticator;
use super::account_state::VaultContents;
use super::cosigning::{EpochTokens, envelope};
use super::error::ClientError;
use super::transport::{Call, is_path_safe_id};
use super::view::{self, TransactionView};
use crate::crypto::secret::Secret32;
use crate::crypto::vault;
use crate::pin::{Pin, PinKind};
use crate::protocol::api::{
    self, AccountInfo, B64, Confirm, Decline, DeclineReason, Empty, SignPayload, Transaction,
    TransactionList, TransactionSummary, WaitRequest, path,
};
use crate::rp::callback_url_from_digest;

/// An approval the server completed.
#[derive(Clone, PartialEq, Eq)]
pub struct Approved {
    /// The joint key's signature (DER ECDSA), as the RP receives it; the
    /// device checked it against the digest it meant to sign.
    pub signature_der: Vec<u8>,
    /// Authentication only: the `userChallengeVerifier` whose hash was
    /// signed, for the callback of a same-device flow
    /// ([`crate::rp::callback_url`]). Keep it until the callback is opened.
    pub user_challenge_verifier: Option<String>,
    /// Same-device flows (Web2App, App2App): the URL to open now, back to
    /// the RP: `initialCallbackUrl` with `sessionSecretDigest` (and, for
    /// an authentication, `userChallengeVerifier`) appended.
    pub callback_url: Option<String>,
}

impl fmt::Debug for Approved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The verifier proves the callback comes from this approval: it
        // stays out of logs until it is used.
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

impl Authenticator {
    /// The transactions waiting for this device, oldest first. Answers at
    /// once if there are any, else within `wait_seconds` (at most
    /// [`api::MAX_WAIT_SECONDS`]; 0 polls).
    ///
    /// # Errors
    ///
    /// [`ClientError::NotRegistered`] before registration finished; the
    /// network and server errors of any call.
    pub async fn pending_transactions(
        &self,
        wait_seconds: u32,
    ) -> Result<Vec<TransactionSummary>, ClientError> {
        self.registered()?;
        let wait_seconds = wait_seconds.min(api::MAX_WAIT_SECONDS);
        let list: TransactionList = self
            .post(
                path::TRANSACTIONS,
                &WaitRequest { wait_seconds },
                Call::LongPoll { wait_seconds },
            )
            .await?;
        if let Some(bad) = list.transactions.iter().find(|t| !is_path_safe_id(&t.id)) {
            return Err(ClientError::invalid_response(format!(
                "a transaction id out of form ({} characters)",
                bad.id.len()
            )));
        }
        Ok(list.transactions)
    }

    /// Transaction `id` as the app shows it, with the verification code
    /// computed on the device.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] for an id out of form;
    /// [`ClientError::InvalidResponse`] for a transaction that breaks a
    /// rule; [`ClientError::TransactionExpired`] and the other errors of
    /// any call.
    pub async fn transaction(&self, id: &str) -> Result<TransactionView, ClientError> {
        self.registered()?;
        let transaction = self.fetch_transaction(id).await?;
        self.shown(&transaction).await
    }

    /// The view of `transaction`; one this app cannot show is declined
    /// (REQUIRED_INTERACTION_NOT_SUPPORTED_BY_APP) on the way.
    pub(super) async fn shown(
        &self,
        transaction: &Transaction,
    ) -> Result<TransactionView, ClientError> {
        match view::view(transaction, &self.supported_interactions) {
            Err(ClientError::InteractionNotSupported) => {
                self.refuse_unsupported(&transaction.id).await
            }
            other => other,
        }
    }

    /// Declines `id` because no interaction of it can be shown, and says
    /// so.
    async fn refuse_unsupported<T>(&self, id: &str) -> Result<T, ClientError> {
        if let Err(error) = self
            .decline_with_reason(id, DeclineReason::InteractionNotSupported)
            .await
        {
            tracing::warn!(%error, "declining an unsupported transaction failed");
        }
        Err(ClientError::InteractionNotSupported)
    }

    /// Approves transaction `id` with `pin` (ASCII digits: PIN1 for an
    /// authentication, PIN2 for a signature; a PIN verification names its
    /// key): unlock, co-sign, move to the next epoch.
    ///
    /// # Crash safety (PROTOCOL.md §4.5, §4.6)
    ///
    /// The vault holds the share of epoch `e` and its token `T_e`. Signing
    /// presents `T_e` and the hash of a fresh `T_{e+1}`; after the
    /// signature (and a refresh, when the server asks for one) the device
    /// seals the share it will use next with `T_{e+1}` and **writes it
    /// before** it confirms. The store replaces the blob atomically, so at
    /// every point the device holds exactly one of:
    ///
    /// - share `e` and `T_e` (stopped before the write): the server still
    ///   accepts `T_e`, and still holds its share of epoch `e`, whose
    ///   refresh was never confirmed;
    /// - the next share and `T_{e+1}` (stopped after the write, or the
    ///   confirmation was lost): the server accepts `T_{e+1}` until the
    ///   confirmation retires `T_e`, and the next signing with epoch `e+1`
    ///   proves the device holds the refreshed share.
    ///
    /// No previous blob is kept: each state above is usable on its own,
    /// and a second copy of a retired share would only be something more
    /// to steal. So once the new vault is written, a failed confirmation
    /// is logged and the approval still succeeds (the RP has its
    /// signature); only the answers that make the account unusable
    /// ([`ClientError::CloneDetected`], [`ClientError::KeyDisabled`],
    /// [`ClientError::ProtocolFailure`], [`ClientError::ClientTooOld`])
    /// are returned. A refresh that fails for any other reason than the
    /// ban rule likewise leaves the share as it is: the token still moves
    /// on, and the server refreshes at a later signature.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] for a PIN that breaks the PIN rules
    /// (nothing is sent, no attempt counted) or a code-choice transaction
    /// ([`Authenticator::approve_with_code`]); [`ClientError::WrongPin`],
    /// [`ClientError::Locked`], [`ClientError::KeyDisabled`] as the server
    /// counts; [`ClientError::TransactionExpired`],
    /// [`ClientError::CloneDetected`], [`ClientError::ProtocolFailure`]
    /// and the errors of any call.
    pub async fn approve(&self, id: &str, pin: &[u8]) -> Result<Approved, ClientError> {
        self.approve_inner(id, pin, None).await
    }

    /// [`Authenticator::approve`] for a transaction that shows the
    /// code-choice interaction: `chosen_code` is the one of
    /// [`TransactionView::code_choice`] the person picked. The server
    /// decides whether it is right (a wrong one ends the RP's session with
    /// `WRONG_VC`).
    ///
    /// # Errors
    ///
    /// As [`Authenticator::approve`], and [`ClientError::InvalidInput`] if
    /// the code is not one of the choices or the transaction offers none.
    pub async fn approve_with_code(
        &self,
        id: &str,
        pin: &[u8],
        chosen_code: &str,
    ) -> Result<Approved, ClientError> {
        self.approve_inner(id, pin, Some(chosen_code)).await
    }

    /// Refuses transaction `id` (the RP's end result is
    /// `USER_REFUSED_INTERACTION`).
    ///
    /// # Errors
    ///
    /// As [`Authenticator::decline_with_reason`].
    pub async fn decline(&self, id: &str) -> Result<(), ClientError> {
        self.decline_with_reason(id, DeclineReason::UserRefused)
            .await
    }

    /// Refuses transaction `id` for `reason` (a wrong code picked, an
    /// interaction the app cannot show).
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] for an id out of form;
    /// [`ClientError::TransactionExpired`] and the errors of any call.
    pub async fn decline_with_reason(
        &self,
        id: &str,
        reason: DeclineReason,
    ) -> Result<(), ClientError> {
        check_id(id)?;
        self.registered()?;
        self.post::<_, Empty>(&path::decline(id), &Decline { reason }, Call::Step)
            .await
            .map(|_| ())
    }

    /// The account as the server sees it: state, keys, lock state,
    /// certificates.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotRegistered`] before registration started;
    /// [`ClientError::InvalidResponse`] if the server answers for another
    /// document; the errors of any call.
    pub async fn account(&self) -> Result<AccountInfo, ClientError> {
        let record = self.record()?;
        let account: AccountInfo = self.post(path::ACCOUNT, &Empty {}, Call::Read).await?;
        if account.document_number != record.document_number {
            return Err(ClientError::invalid_response(
                "the account of another document number",
            ));
        }
        Ok(account)
    }

    async fn fetch_transaction(&self, id: &str) -> Result<Transaction, ClientError> {
        check_id(id)?;
        let transaction: Transaction = self
            .post(&path::transaction(id), &Empty {}, Call::Read)
            .await?;
        if transaction.id != id {
            return Err(ClientError::invalid_response("another transaction"));
        }
        Ok(transaction)
    }

    async fn approve_inner(
        &self,
        id: &str,
        pin: &[u8],
        chosen_code: Option<&str>,
    ) -> Result<Approved, ClientError> {
        check_id(id)?;
        // One approval at a time: each reads and replaces a vault.
        let _flow = self.flow.lock().await;
        let record = self.registered()?;

        // Everything that can be checked is checked before the PIN costs
        // a counted attempt.
        let transaction = self.fetch_transaction(id).await?;
        let (view, to_sign) = match view::to_sign(&transaction, &self.supported_interactions) {
            Err(ClientError::InteractionNotSupported) => {
                return self.refuse_unsupported(id).await;
            }
            other => other?,
        };
        check_code_choice(&view, chosen_code)?;
        if view.code_choice.is_some() && chosen_code != to_sign.code.as_deref() {
            // The person picked a code the RP does not show: the request
            // ends here (WRONG_VC), before the PIN costs an attempt.
            self.decline_with_reason(id, DeclineReason::WrongCode)
                .await?;
            return Err(ClientError::WrongVerificationCode);
        }
        let callback = same_device_callback(&transaction)?;
        let role = view.role;
        let pin = Pin::new(PinKind::from(role), pin)
            .map_err(|error| ClientError::invalid_input(error.to_string()))?;
        let sealed = self
            .accounts()
            .sealed(role)?
            .ok_or_else(|| ClientError::Storage(format!("no sealed share for the {role} key")))?;

        let unlocked = self.unlock(&record, id, role, &pin, &sealed).await?;
        drop(pin);
        let share = Arc::new(unlocked.contents.share);
        let next_token = Secret32::random();
        let tokens = EpochTokens {
            current: &unlocked.contents.epoch_token,
            next: &next_token,
        };
        let done = self
            .co_sign(id, &share, &to_sign, tokens, chosen_code)
            .await?;

        let (next_share, refresh_confirm) = match &done.refresh_run {
            None => (share, None),
            Some(run) => match self.refresh(id, &share, view::run_id(run)?).await {
                Ok((refreshed, confirm)) => (Arc::new(refreshed), Some(confirm)),
                Err(ClientError::ProtocolFailure) => return Err(ClientError::ProtocolFailure),
                Err(error) => {
                    tracing::warn!(%error, "refresh failed; keeping the current share");
                    (share, None)
                }
            },
        };

        // Write the next state before the server may retire the current.
        let plaintext = VaultContents::plaintext(&next_token, &next_share)?;
        let next_sealed = vault::seal(
            &unlocked.vault_key,
            &record.document_number,
            role,
            next_share.epoch(),
            &plaintext,
        )
        .map_err(|error| ClientError::Internal(format!("sealing the next epoch: {error}")))?;
        self.accounts().put_sealed(&next_sealed)?;

        let mut confirm = Confirm {
            epoch_token: B64(next_token.expose().to_vec()),
            refresh_confirm: refresh_confirm.as_ref().map(envelope).transpose()?,
        };
        let confirmed = self
            .post::<_, Empty>(&path::confirm(id), &confirm, Call::Step)
            .await;
        confirm.epoch_token.0.zeroize();
        match confirmed {
            Ok(_) => {}
            Err(
                error @ (ClientError::CloneDetected
                | ClientError::KeyDisabled
                | ClientError::ProtocolFailure
                | ClientError::ClientTooOld),
            ) => return Err(error),
            Err(error) => {
                tracing::warn!(%error, "confirmation not delivered; the next signing hands over");
            }
        }

        let callback_url = callback
            .map(|(initial, digest)| {
                callback_url_from_digest(
                    &initial,
                    &digest,
                    to_sign.user_challenge_verifier.as_deref(),
                )
                .map_err(|e| ClientError::invalid_response(e.to_string()))
            })
            .transpose()?;
        Ok(Approved {
            signature_der: done.signature.0,
            user_challenge_verifier: to_sign.user_challenge_verifier,
            callback_url,
        })
    }
}

/// The RP's callback URL and `sessionSecretDigest` of a same-device
/// flow; for an authentication the URL must be the one its ACSP_V2
/// message binds.
fn same_device_callback(
    transaction: &Transaction,
) -> Result<Option<(String, String)>, ClientError> {
    let (Some(initial), Some(digest)) = (
        &transaction.initial_callback_url,
        &transaction.session_secret_digest,
    ) else {
        return Ok(None);
    };
    if let SignPayload::AcspV2 {
        initial_callback_url,
        ..
    } = &transaction.payload
        && initial_callback_url != initial
    {
        return Err(ClientError::invalid_response(
            "the callback URL is not the one the authentication signs",
        ));
    }
    Ok(Some((initial.clone(), digest.clone())))
}

pub(super) fn check_id(id: &str) -> Result<(), ClientError> {
    if is_path_safe_id(id) {
        Ok(())
    } else {
        Err(ClientError::invalid_input(
            "a transaction id is 1 to 128 of A-Z a-z 0-9 - _",
        ))
    }
}

/// A code-choice transaction needs the code the person picked, from the
/// three offered; any other transaction must not get one.
fn check_code_choice(view: &TransactionView, chosen: Option<&str>) -> Result<(), ClientError> {
    match (&view.code_choice, chosen) {
        (Some(choices), Some(code)) if choices.iter().any(|c| c == code) => Ok(()),
        (Some(_), Some(_)) => Err(ClientError::invalid_input(
            "the chosen code is not one of the codes offered",
        )),
        (Some(_), None) => Err(ClientError::invalid_input(
            "this transaction asks the person to pick a verification code",
        )),
        (None, Some(_)) => Err(ClientError::invalid_input(
            "this transaction offers no verification code choice",
        )),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::api::TransactionKind;
    use crate::role::KeyRole;

    fn view_with(code_choice: Option<Vec<String>>) -> TransactionView {
        TransactionView {
            id: "t".into(),
            kind: TransactionKind::Authentication,
            role: KeyRole::Auth,
            rp_name: "DEMO".into(),
            brokered_rp_name: String::new(),
            interaction: None,
            display_text: None,
            verification_code: None,
            code_choice,
            expires_at: 0,
        }
    }

    #[test]
    fn a_code_is_chosen_exactly_when_one_is_offered() {
        let offered = view_with(Some(vec!["0001".into(), "0002".into(), "0003".into()]));
        assert!(check_code_choice(&offered, Some("0002")).is_ok());
        assert!(check_code_choice(&offered, Some("0004")).is_err());
        assert!(check_code_choice(&offered, None).is_err());
        let plain = view_with(None);
        assert!(check_code_choice(&plain, None).is_ok());
        assert!(check_code_choice(&plain, Some("0001")).is_err());
    }

    #[test]
    fn the_verifier_stays_out_of_debug_output() {
        let approved = Approved {
            signature_der: vec![0x30, 0x44],
            user_challenge_verifier: Some("verifier-text".into()),
            callback_url: Some("https://rp.example/cb?x=1&userChallengeVerifier=v".into()),
        };
        let debug = format!("{approved:?}");
        assert!(!debug.contains("verifier-text"), "{debug}");
        assert!(!debug.contains("userChallengeVerifier"), "{debug}");
    }
}
