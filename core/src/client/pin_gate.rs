//! The PIN gate over the wire (PROTOCOL.md §2, §3): a key's PIN setup at
//! registration, the unlock of its vault for a transaction, and the
//! re-sealing of an unlocked vault under a new PIN.
//!
//! ```text
//! input = vault::pin_input(document number, role, PIN)
//! y     = OPRF(k_role, input)             blind → server evaluates → finalize
//! KEK   = VaultKey::derive(y, device_salt, document number, role)
//! K_proof = UnlockProofKey::derive(y, device_salt, document number, role)
//! ```
//!
//! At setup the share and a fresh epoch token `T_0` are sealed under the
//! KEK and written *before* the server learns `K_proof` and SHA-256(`T_0`):
//! once the server has them, the device must already hold what they
//! describe.
//!
//! At unlock the server counts the evaluation before it answers; the
//! device then tries its vault and reports: the proof
//! `HMAC(K_proof, evaluation_id)` when the vault opened, `None` when the
//! AEAD refused (a wrong PIN), which lets the server apply a lock at once.
//! Only [`VaultError::WrongPin`] is a wrong PIN; a vault for another role
//! or epoch is a storage fault and is never reported as a PIN failure.
//!
//! `y`, the KEK, `K_proof` and the opened plaintext stay in zeroizing
//! types; the KEK is handed back to the caller only to seal the next
//! epoch's vault in the same approval.

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::Authenticator;
use super::account_state::{AccountRecord, VaultContents};
use super::error::{ClientError, attempts_left};
use super::transport::Call;
use crate::crypto::cosign::DeviceShare;
use crate::crypto::oprf::{self, EvaluatedElement};
use crate::crypto::secret::{Secret32, SecretBytes};
use crate::crypto::vault::{self, SealedShare, UnlockProofKey, VaultError, VaultKey};
use crate::pin::Pin;
use crate::protocol::api::{
    B64, Empty, KeyState, NewPinSetup, OprfRequest, OprfResponse, PinSetup, UnlockOutcome,
    UnlockResult, path,
};
use crate::role::KeyRole;

/// A key's vault, opened.
pub(super) struct Unlocked {
    /// The share and `T_e`.
    pub(super) contents: VaultContents,
    /// The KEK, to seal the next epoch's vault with.
    pub(super) vault_key: VaultKey,
}

/// The two keys the OPRF output gives.
struct PinKeys {
    vault: VaultKey,
    proof: UnlockProofKey,
}

impl Authenticator {
    /// Registration: seals `share` with a fresh `T_0` under `pin`, writes
    /// the vault, then sends the PIN setup.
    pub(super) async fn set_up_pin(
        &self,
        record: &AccountRecord,
        role: KeyRole,
        pin: &Pin,
        device_salt: &Secret32,
        share: DeviceShare,
    ) -> Result<(), ClientError> {
        let registration = &record.registration.registration_id;
        let (keys, evaluation) = self
            .evaluate(
                &path::registration_pin(registration, role),
                record,
                role,
                pin,
                device_salt,
            )
            .await?;
        let epoch_token = Secret32::random();
        let sealed = seal(&keys.vault, record, role, &epoch_token, &share)?;
        self.accounts().put_sealed(&sealed)?;
        self.send_pin_setup(record, role, &keys.proof, evaluation, &epoch_token)
            .await
    }

    /// Registration, resumed after a stop between the vault write and the
    /// server's answer to the PIN setup: the share is sealed already, so
    /// the same PIN opens it and the setup is sent again for its `T_0`.
    pub(super) async fn resume_pin_setup(
        &self,
        record: &AccountRecord,
        role: KeyRole,
        pin: &Pin,
        device_salt: &Secret32,
        sealed: &SealedShare,
    ) -> Result<(), ClientError> {
        let registration = &record.registration.registration_id;
        let (keys, evaluation) = self
            .evaluate(
                &path::registration_pin(registration, role),
                record,
                role,
                pin,
                device_salt,
            )
            .await?;
        let plaintext = vault::open(
            &keys.vault,
            &record.document_number,
            role,
            sealed.epoch(),
            sealed,
        )
        .map_err(|error| match error {
            VaultError::WrongPin => ClientError::invalid_input(format!(
                "{} must be the PIN chosen before registration was interrupted",
                crate::pin::PinKind::from(role)
            )),
            other => vault_fault(role)(other),
        })?;
        let contents = VaultContents::from_plaintext(&plaintext)?;
        self.send_pin_setup(record, role, &keys.proof, evaluation, &contents.epoch_token)
            .await
    }

    /// A transaction: the counted OPRF evaluation, the vault, the report.
    ///
    /// # Errors
    ///
    /// [`ClientError::WrongPin`], [`ClientError::Locked`] or
    /// [`ClientError::KeyDisabled`] as the server counts a wrong PIN;
    /// [`ClientError::Storage`] for a vault that is not this key's.
    pub(super) async fn unlock(
        &self,
        record: &AccountRecord,
        transaction_id: &str,
        role: KeyRole,
        pin: &Pin,
        sealed: &SealedShare,
    ) -> Result<Unlocked, ClientError> {
        let device_salt = self.stored_device_salt()?;
        let (keys, evaluation) = self
            .evaluate(
                &path::unlock(transaction_id),
                record,
                role,
                pin,
                &device_salt,
            )
            .await?;
        let report_path = path::unlock_result(transaction_id);
        let opened = vault::open(
            &keys.vault,
            &record.document_number,
            role,
            sealed.epoch(),
            sealed,
        );
        let plaintext = match opened {
            Ok(plaintext) => plaintext,
            Err(VaultError::WrongPin) => {
                let report = UnlockResult {
                    evaluation_id: evaluation.evaluation_id,
                    proof: None,
                };
                return Err(
                    match self
                        .post::<_, UnlockOutcome>(&report_path, &report, Call::Step)
                        .await
                    {
                        Ok(outcome) => ClientError::after_wrong_pin(&outcome.key),
                        Err(error) => unreported_wrong_pin(error, evaluation.failed_attempts),
                    },
                );
            }
            Err(other) => return Err(vault_fault(role)(other)),
        };
        let contents = VaultContents::from_plaintext(&plaintext)?;
        if contents.share.epoch() != sealed.epoch() {
            return Err(ClientError::Storage(format!(
                "the {role} vault holds a share of another epoch"
            )));
        }
        let proof = vault::unlock_proof(&keys.proof, evaluation.evaluation_id.as_bytes());
        let report = UnlockResult {
            evaluation_id: evaluation.evaluation_id,
            proof: Some(B64(proof.to_vec())),
        };
        let outcome: UnlockOutcome = self.post(&report_path, &report, Call::Step).await?;
        if outcome.key.state != KeyState::Active {
            return Err(ClientError::after_wrong_pin(&outcome.key));
        }
        Ok(Unlocked {
            contents,
            vault_key: keys.vault,
        })
    }

    /// A PIN change after the old PIN unlocked `unlocked` in transaction
    /// `transaction_id`: the new PIN's evaluation, its `K_proof` to the
    /// server (pending there), the vault re-sealed under it and written,
    /// then the confirmation.
    ///
    /// The order is what makes a crash harmless: until the vault write the
    /// device holds the old vault, which the server still accepts; after
    /// it, the server accepts the new PIN's proof at the confirmation or,
    /// if that is lost, at the next unlock. So once the vault is written
    /// the change has happened, and a failed confirmation is only logged.
    pub(super) async fn set_new_pin(
        &self,
        record: &AccountRecord,
        transaction_id: &str,
        role: KeyRole,
        new_pin: &Pin,
        unlocked: Unlocked,
    ) -> Result<(), ClientError> {
        let device_salt = self.stored_device_salt()?;
        let (keys, evaluation) = self
            .evaluate(
                &path::new_pin(transaction_id),
                record,
                role,
                new_pin,
                &device_salt,
            )
            .await?;
        let contents = &unlocked.contents;
        let sealed = seal(
            &keys.vault,
            record,
            role,
            &contents.epoch_token,
            &contents.share,
        )?;
        let proof = vault::unlock_proof(&keys.proof, evaluation.evaluation_id.as_bytes());
        let mut setup = NewPinSetup {
            unlock_proof_key: B64(keys.proof.to_bytes().expose().to_vec()),
            evaluation_id: evaluation.evaluation_id,
            proof: B64(proof.to_vec()),
        };
        let sent = self
            .post::<_, Empty>(&path::new_pin_setup(transaction_id), &setup, Call::Step)
            .await;
        setup.unlock_proof_key.0.zeroize();
        sent?;
        self.accounts().put_sealed(&sealed)?;
        if let Err(error) = self
            .post::<_, Empty>(
                &path::new_pin_confirm(transaction_id),
                &Empty {},
                Call::Step,
            )
            .await
        {
            tracing::warn!(
                %error,
                "the PIN change confirmation was not delivered; the next unlock settles it"
            );
        }
        Ok(())
    }

    /// The device salt, which registration stored before any PIN.
    fn stored_device_salt(&self) -> Result<Secret32, ClientError> {
        self.accounts()
            .device_salt()?
            .ok_or_else(|| ClientError::Storage("the device salt is missing".into()))
    }

    /// Blinds the PIN input, has the server at `path` evaluate it, and
    /// derives the KEK and `K_proof` from the output.
    async fn evaluate(
        &self,
        path: &str,
        record: &AccountRecord,
        role: KeyRole,
        pin: &Pin,
        device_salt: &Secret32,
    ) -> Result<(PinKeys, OprfResponse), ClientError> {
        let account = record.document_number.as_str();
        let input: SecretBytes = vault::pin_input(account, role, pin).map_err(internal)?;
        let (state, blinded) = oprf::blind(input.expose()).map_err(internal)?;
        let request = OprfRequest {
            blinded: B64(blinded.to_bytes().to_vec()),
        };
        let response: OprfResponse = self.post(path, &request, Call::Step).await?;
        let evaluated = EvaluatedElement::from_bytes(response.evaluated.as_bytes())
            .map_err(|error| ClientError::invalid_response(format!("evaluated: {error}")))?;
        let y = oprf::finalize(input.expose(), state, &evaluated).map_err(internal)?;
        let keys = PinKeys {
            vault: VaultKey::derive(&y, device_salt, account, role).map_err(internal)?,
            proof: UnlockProofKey::derive(&y, device_salt, account, role).map_err(internal)?,
        };
        Ok((keys, response))
    }

    async fn send_pin_setup(
        &self,
        record: &AccountRecord,
        role: KeyRole,
        proof_key: &UnlockProofKey,
        evaluation: OprfResponse,
        epoch_token: &Secret32,
    ) -> Result<(), ClientError> {
        let proof = vault::unlock_proof(proof_key, evaluation.evaluation_id.as_bytes());
        let mut setup = PinSetup {
            unlock_proof_key: B64(proof_key.to_bytes().expose().to_vec()),
            evaluation_id: evaluation.evaluation_id,
            proof: B64(proof.to_vec()),
            epoch_token_hash: B64(Sha256::digest(epoch_token.expose()).to_vec()),
        };
        let path = path::registration_pin_setup(&record.registration.registration_id, role);
        let sent = self.post::<_, Empty>(&path, &setup, Call::Step).await;
        // `B64` does not wipe itself; K_proof is a secret of the device.
        setup.unlock_proof_key.0.zeroize();
        sent.map(|_| ())
    }
}

/// A wrong PIN whose report did not get through. The attempt was counted
/// when the evaluation was served, and the evaluation's own count (this
/// attempt included) says how many are left, unless it reached a lock
/// threshold: then only the server knows the lock's end, and the report's
/// own error is returned instead.
fn unreported_wrong_pin(report_error: ClientError, failed_attempts: u32) -> ClientError {
    let left = attempts_left(failed_attempts);
    match report_error {
        ClientError::Network(_) | ClientError::Server { .. } | ClientError::InvalidResponse(_)
            if (1..3).contains(&left) =>
        {
            tracing::warn!(error = %report_error, "the wrong-PIN report was not delivered");
            ClientError::WrongPin {
                attempts_left: left,
            }
        }
        other => other,
    }
}

/// `share` and its epoch token sealed under `vault_key` for the `role` key
/// of `record`'s document, at the share's epoch.
fn seal(
    vault_key: &VaultKey,
    record: &AccountRecord,
    role: KeyRole,
    epoch_token: &Secret32,
    share: &DeviceShare,
) -> Result<SealedShare, ClientError> {
    let plaintext = VaultContents::plaintext(epoch_token, share)?;
    vault::seal(
        vault_key,
        &record.document_number,
        role,
        share.epoch(),
        &plaintext,
    )
    .map_err(vault_fault(role))
}

/// A vault error other than a wrong PIN: the store holds a blob that is
/// not this key's, or a primitive refused.
fn vault_fault(role: KeyRole) -> impl Fn(VaultError) -> ClientError {
    move |error| match error {
        VaultError::Internal | VaultError::PinRoleMismatch { .. } => internal(error),
        other => ClientError::Storage(format!("the {role} vault: {other}")),
    }
}

/// A failure that valid inputs cannot cause (the errors of these
/// primitives never carry a secret).
fn internal(error: impl std::fmt::Display) -> ClientError {
    ClientError::Internal(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreported_wrong_pin_counts_down_only_between_thresholds() {
        let network = || ClientError::Network("down".into());
        assert_eq!(
            unreported_wrong_pin(network(), 1),
            ClientError::WrongPin { attempts_left: 2 }
        );
        assert_eq!(
            unreported_wrong_pin(network(), 5),
            ClientError::WrongPin { attempts_left: 1 }
        );
        // The third wrong PIN locked the key; when until is unknown the
        // report's own error stands.
        assert_eq!(unreported_wrong_pin(network(), 3), network());
        assert_eq!(unreported_wrong_pin(network(), 9), network());
        assert_eq!(
            unreported_wrong_pin(ClientError::KeyDisabled, 1),
            ClientError::KeyDisabled
        );
    }
}
