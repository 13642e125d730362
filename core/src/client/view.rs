//! A transaction as the phone shows it, and what the phone will sign for
//! it: both computed on the device from the transaction's data, never
//! taken from the server's word (ARCHITECTURE.md, "How one signature
//! flows", step 3).
//!
//! - The interaction shown is the first of the RP's list (the app supports
//!   all three types): `displayTextAndPIN` shows `displayText60`, the two
//!   confirmation types `displayText200`.
//! - The verification code is the device's own: the v3 code of the
//!   decoded `rpChallenge` for an authentication, the v2 digest code of
//!   the decoded digest for a signature, none for a PIN verification.
//! - For `confirmationMessageAndVerificationCodeChoice` the code is not
//!   shown (the person must pick it from the three choices by comparing
//!   with the RP's screen), but the device checks that its own code is one
//!   of the three, so a server cannot offer a choice that is not bound to
//!   what is signed.
//! - What is signed: `hash(ACSP_V2)` completed with a fresh
//!   `userChallenge` and the interaction shown, or the digest as given.
//!
//! Every check runs before the PIN is asked for, so a malformed
//! transaction never costs a counted PIN attempt.

use std::collections::BTreeSet;
use std::fmt;

use super::error::ClientError;
use super::transport::is_path_safe_id;
use crate::crypto::cosign::{RunId, SignDigest};
use crate::protocol::api::{B64, SignPayload, Transaction, TransactionKind};
use crate::role::KeyRole;
use crate::rp::encoding::decode_std;
use crate::rp::{
    AcspV2, CHALLENGE_OR_DIGEST_LEN, FlowType, HashAlgorithm, Interaction, InteractionFlow,
    InteractionType, Interactions, field, new_user_challenge_verifier, user_challenge,
};
use crate::vc::{self, VerificationCode};

/// Number of codes in a code choice.
const CODE_CHOICE_LEN: usize = 3;

/// A transaction, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionView {
    /// Names the transaction in [`super::Authenticator::approve`].
    pub id: String,
    /// What kind of approval it asks for.
    pub kind: TransactionKind,
    /// The key it uses: PIN1 for [`KeyRole::Auth`], PIN2 for
    /// [`KeyRole::Sign`].
    pub role: KeyRole,
    /// `relyingPartyName`.
    pub rp_name: String,
    /// `brokeredRpName`, may be empty.
    pub brokered_rp_name: String,
    /// The interaction shown; `None` for a PIN verification.
    pub interaction: Option<InteractionType>,
    /// Its text; `None` for a PIN verification.
    pub display_text: Option<String>,
    /// The four-digit code the device computed, to compare with the RP's
    /// screen; `None` for a PIN verification and for a code choice.
    pub verification_code: Option<String>,
    /// The three codes to pick from, for the code-choice interaction
    /// ([`super::Authenticator::approve_with_code`]).
    pub code_choice: Option<Vec<String>>,
    /// Unix seconds after which the server refuses approval.
    pub expires_at: i64,
}

/// What the device signs for one approval.
pub(crate) struct ToSign {
    /// The co-signing run, agreed with the server in the transaction.
    pub(crate) run: RunId,
    /// `hash(ACSP_V2)` or the RP's digest.
    pub(crate) digest: SignDigest,
    /// Authentication only: the fresh `userChallengeVerifier`, for a
    /// same-device callback.
    pub(crate) user_challenge_verifier: Option<String>,
    /// Authentication only: `B64URL(SHA-256(verifier))`, signed in ACSP_V2.
    pub(crate) user_challenge: Option<String>,
    /// The interaction the person saw.
    pub(crate) interaction_used: Option<InteractionType>,
    /// The verification code the device computed (kept here, not in the
    /// view, so a code choice can be checked without showing the answer).
    pub(crate) code: Option<String>,
}

impl fmt::Debug for ToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToSign")
            .field("run", &self.run)
            .field("digest", &self.digest)
            .field("interaction_used", &self.interaction_used)
            .finish_non_exhaustive()
    }
}

/// The view of `transaction`.
///
/// # Errors
///
/// [`ClientError::InvalidResponse`] if the transaction breaks a rule.
pub(crate) fn view(
    transaction: &Transaction,
    supported: &[InteractionType],
) -> Result<TransactionView, ClientError> {
    Ok(check(transaction, supported)?.view)
}

/// The view of `transaction` and what approving it signs, with a fresh
/// `userChallengeVerifier` for an authentication.
///
/// # Errors
///
/// [`ClientError::InvalidResponse`] if the transaction breaks a rule.
pub(crate) fn to_sign(
    transaction: &Transaction,
    supported: &[InteractionType],
) -> Result<(TransactionView, ToSign), ClientError> {
    let checked = check(transaction, supported)?;
    let code = checked.code.map(|code| code.to_string());
    let interaction_used = checked.view.interaction;
    let to_sign = match checked.payload {
        Payload::Acsp { hash, template } => {
            let template = *template;
            let interaction_type_used = interaction_used.ok_or_else(|| {
                ClientError::Internal("an authentication without an interaction".into())
            })?;
            let verifier = new_user_challenge_verifier();
            let challenge = user_challenge(&verifier);
            let acsp = AcspV2 {
                user_challenge: challenge.clone(),
                interaction_type_used,
                ..template
            };
            let digest = acsp.digest(hash).map_err(rp_error)?;
            ToSign {
                run: checked.run,
                digest: SignDigest::new(&digest).map_err(ClientError::from_cosign)?,
                user_challenge_verifier: Some(verifier),
                user_challenge: Some(challenge),
                interaction_used,
                code,
            }
        }
        Payload::Digest(digest) => ToSign {
            run: checked.run,
            digest,
            user_challenge_verifier: None,
            user_challenge: None,
            interaction_used,
            code,
        },
        Payload::Nothing => {
            return Err(ClientError::invalid_input(
                "a certificate choice is answered with share_certificate, not approved with a PIN",
            ));
        }
    };
    Ok((checked.view, to_sign))
}

struct Checked {
    view: TransactionView,
    run: RunId,
    payload: Payload,
    code: Option<VerificationCode>,
}

enum Payload {
    /// ACSP_V2 without the phone's parts (`userChallenge`, the
    /// interaction used), which each approval fills in.
    Acsp {
        hash: HashAlgorithm,
        template: Box<AcspV2>,
    },
    Digest(SignDigest),
    /// A certificate choice signs nothing.
    Nothing,
}

fn check(transaction: &Transaction, supported: &[InteractionType]) -> Result<Checked, ClientError> {
    if !is_path_safe_id(&transaction.id) {
        return Err(ClientError::invalid_response(
            "a transaction id out of form",
        ));
    }
    let kind = transaction.kind;
    if kind.role(transaction.role) != transaction.role {
        return Err(ClientError::invalid_response(format!(
            "a {kind:?} transaction for the {} key",
            transaction.role
        )));
    }
    let run = run_id(&transaction.sign_run)?;

    let (payload, code, flow) = match (kind, &transaction.payload) {
        (
            TransactionKind::Authentication,
            SignPayload::AcspV2 {
                scheme,
                server_random,
                rp_challenge,
                hash_algorithm,
                initial_callback_url,
                flow_type,
            },
        ) => {
            let hash: HashAlgorithm = hash_algorithm.parse().map_err(rp_error)?;
            let flow_type: FlowType = flow_type.parse().map_err(rp_error)?;
            let challenge = decode_std(field::RP_CHALLENGE, rp_challenge, CHALLENGE_OR_DIGEST_LEN)
                .map_err(rp_error)?;
            let flow = match flow_type {
                FlowType::Notification => InteractionFlow::Notification,
                FlowType::Qr | FlowType::App2App | FlowType::Web2App => InteractionFlow::DeviceLink,
            };
            let template = AcspV2 {
                scheme: scheme.clone(),
                server_random: server_random.clone(),
                rp_challenge: rp_challenge.clone(),
                user_challenge: String::new(),
                rp_name: transaction.rp_name.clone(),
                brokered_rp_name: transaction.brokered_rp_name.clone(),
                interactions: transaction.interactions.clone(),
                // Replaced by the interaction shown, in `to_sign`.
                interaction_type_used: InteractionType::DisplayTextAndPin,
                initial_callback_url: initial_callback_url.clone(),
                flow_type,
            };
            (
                Payload::Acsp {
                    hash,
                    template: Box::new(template),
                },
                Some(vc::rp_challenge_code(&challenge)),
                Some(flow),
            )
        }
        (
            TransactionKind::Signature | TransactionKind::PinVerification,
            SignPayload::RawDigest {
                digest,
                hash_algorithm,
            },
        ) => {
            let hash: HashAlgorithm = hash_algorithm.parse().map_err(rp_error)?;
            let digest =
                decode_std(field::DIGEST, digest, CHALLENGE_OR_DIGEST_LEN).map_err(rp_error)?;
            if digest.len() != hash.output_len() {
                return Err(ClientError::invalid_response(format!(
                    "a {}-byte digest for {hash}",
                    digest.len()
                )));
            }
            let code = (kind == TransactionKind::Signature).then(|| vc::digest_code(&digest));
            let digest = SignDigest::new(&digest).map_err(ClientError::from_cosign)?;
            (Payload::Digest(digest), code, None)
        }
        (TransactionKind::CertificateChoice, SignPayload::CertificateChoice {}) => {
            (Payload::Nothing, None, None)
        }
        (kind, _) => {
            return Err(ClientError::invalid_response(format!(
                "a {kind:?} transaction with another kind's payload"
            )));
        }
    };

    // A PIN verification shows no RP text: the app says what it is.
    let shown =
        match kind {
            TransactionKind::PinVerification | TransactionKind::CertificateChoice => None,
            TransactionKind::Authentication | TransactionKind::Signature => Some(
                shown_interaction(&transaction.interactions, flow, supported)?,
            ),
        };
    let (verification_code, code_choice) = match &shown {
        Some(Interaction::ConfirmationMessageAndVerificationCodeChoice { .. }) => {
            let correct = code.ok_or_else(|| {
                ClientError::invalid_response("a code choice without a code to choose")
            })?;
            (
                None,
                Some(checked_choice(transaction.code_choice.as_deref(), correct)?),
            )
        }
        _ => (code.map(|code| code.to_string()), None),
    };

    Ok(Checked {
        view: TransactionView {
            id: transaction.id.clone(),
            kind,
            role: transaction.role,
            rp_name: transaction.rp_name.clone(),
            brokered_rp_name: transaction.brokered_rp_name.clone(),
            interaction: shown.as_ref().map(Interaction::interaction_type),
            display_text: shown.as_ref().map(|i| i.display_text().to_owned()),
            verification_code,
            code_choice,
            expires_at: transaction.expires_at,
        },
        run,
        payload,
        code,
    })
}

/// The first interaction of the list that this app shows;
/// [`ClientError::InteractionNotSupported`] when it shows none of them.
fn shown_interaction(
    interactions: &str,
    flow: Option<InteractionFlow>,
    supported: &[InteractionType],
) -> Result<Interaction, ClientError> {
    let interactions = Interactions::parse_base64(interactions).map_err(rp_error)?;
    if let Some(flow) = flow {
        interactions.validate_for_flow(flow).map_err(rp_error)?;
    }
    interactions
        .first_supported(|kind| supported.contains(&kind))
        .cloned()
        .ok_or(ClientError::InteractionNotSupported)
}

/// The server's three codes, checked: four digits each, distinct, and one
/// of them the code the device computed.
fn checked_choice(
    choice: Option<&[String]>,
    correct: VerificationCode,
) -> Result<Vec<String>, ClientError> {
    let choice = choice
        .ok_or_else(|| ClientError::invalid_response("a code-choice interaction without codes"))?;
    let codes = choice
        .iter()
        .map(|code| code.parse::<VerificationCode>())
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|_| ClientError::invalid_response("a code choice that is not 4-digit codes"))?;
    if choice.len() != CODE_CHOICE_LEN || codes.len() != CODE_CHOICE_LEN {
        return Err(ClientError::invalid_response(
            "a code choice that is not three distinct codes",
        ));
    }
    if !codes.contains(&correct) {
        return Err(ClientError::invalid_response(
            "a code choice without the code of what is signed",
        ));
    }
    Ok(choice.to_vec())
}

/// A protocol run id the server sent (signing, refresh, DKG).
pub(crate) fn run_id(bytes: &B64) -> Result<RunId, ClientError> {
    bytes
        .as_bytes()
        .try_into()
        .map(RunId)
        .map_err(|_| ClientError::invalid_response("a run id that is not 32 bytes"))
}

fn rp_error(error: crate::rp::RpError) -> ClientError {
    // RpError names the field and echoes at most 64 characters of the
    // RP's public input.
    ClientError::invalid_response(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rp::encoding::{encode_std, encode_url};

    /// An app that shows every interaction type.
    fn view(transaction: &Transaction) -> Result<TransactionView, ClientError> {
        super::view(transaction, InteractionType::ALL)
    }

    fn to_sign(transaction: &Transaction) -> Result<(TransactionView, ToSign), ClientError> {
        super::to_sign(transaction, InteractionType::ALL)
    }

    fn interactions(list: Vec<Interaction>) -> String {
        Interactions::new(list).unwrap().base64().to_owned()
    }

    fn authentication(flow_type: &str, list: Vec<Interaction>) -> Transaction {
        Transaction {
            id: "tx-1".into(),
            kind: TransactionKind::Authentication,
            role: KeyRole::Auth,
            rp_name: "DEMO".into(),
            brokered_rp_name: String::new(),
            interactions: interactions(list),
            payload: SignPayload::AcspV2 {
                scheme: "kaksik".into(),
                server_random: "MTlop6EXCrQ6FOErcKjxUhbV".into(),
                rp_challenge: encode_std(&[9; 64]),
                hash_algorithm: "SHA-512".into(),
                initial_callback_url: String::new(),
                flow_type: flow_type.into(),
            },
            code_choice: None,
            session_secret_digest: None,
            initial_callback_url: None,
            sign_run: B64(vec![1; 32]),
            expires_at: 1_900_000_000,
        }
    }

    fn signature(digest: &[u8], hash: &str) -> Transaction {
        Transaction {
            id: "tx-2".into(),
            kind: TransactionKind::Signature,
            role: KeyRole::Sign,
            rp_name: "DEMO".into(),
            brokered_rp_name: "Shop".into(),
            interactions: interactions(vec![Interaction::ConfirmationMessage {
                display_text200: "Sign the contract".into(),
            }]),
            payload: SignPayload::RawDigest {
                digest: encode_std(digest),
                hash_algorithm: hash.into(),
            },
            code_choice: None,
            session_secret_digest: None,
            initial_callback_url: None,
            sign_run: B64(vec![2; 32]),
            expires_at: 1_900_000_000,
        }
    }

    fn pin_text() -> Vec<Interaction> {
        vec![Interaction::DisplayTextAndPin {
            display_text60: "Log in to Example".into(),
        }]
    }

    #[test]
    fn an_authentication_shows_the_code_of_the_rp_challenge() {
        let view = view(&authentication("QR", pin_text())).unwrap();
        assert_eq!(view.interaction, Some(InteractionType::DisplayTextAndPin));
        assert_eq!(view.display_text.as_deref(), Some("Log in to Example"));
        assert_eq!(
            view.verification_code,
            Some(vc::rp_challenge_code(&[9; 64]).to_string())
        );
        assert_eq!(view.code_choice, None);
    }

    #[test]
    fn a_signature_shows_the_code_of_the_digest() {
        let view = view(&signature(&[5; 32], "SHA-256")).unwrap();
        assert_eq!(view.display_text.as_deref(), Some("Sign the contract"));
        assert_eq!(
            view.verification_code,
            Some(vc::digest_code(&[5; 32]).to_string())
        );
    }

    #[test]
    fn the_signed_acsp_binds_the_fresh_user_challenge_and_the_shown_interaction() {
        let transaction = authentication("QR", pin_text());
        let (_, to_sign) = to_sign(&transaction).unwrap();
        let verifier = to_sign.user_challenge_verifier.clone().unwrap();
        assert_eq!(to_sign.user_challenge, Some(user_challenge(&verifier)));
        let SignPayload::AcspV2 {
            scheme,
            server_random,
            rp_challenge,
            ..
        } = transaction.payload.clone()
        else {
            unreachable!()
        };
        let expected = AcspV2 {
            scheme,
            server_random,
            rp_challenge,
            user_challenge: user_challenge(&verifier),
            rp_name: "DEMO".into(),
            brokered_rp_name: String::new(),
            interactions: transaction.interactions.clone(),
            interaction_type_used: InteractionType::DisplayTextAndPin,
            initial_callback_url: String::new(),
            flow_type: FlowType::Qr,
        }
        .digest(HashAlgorithm::Sha512)
        .unwrap();
        assert_eq!(to_sign.digest.as_bytes(), expected.as_slice());
        assert_eq!(to_sign.run, RunId([1; 32]));

        // Every approval gets its own verifier.
        let (_, again) = self::to_sign(&transaction).unwrap();
        assert_ne!(again.user_challenge_verifier, Some(verifier));
    }

    #[test]
    fn a_signature_signs_the_digest_as_given() {
        let (_, to_sign) = to_sign(&signature(&[5; 48], "SHA3-384")).unwrap();
        assert_eq!(to_sign.digest.as_bytes(), &[5; 48]);
        assert!(to_sign.user_challenge.is_none());
        assert_eq!(
            to_sign.interaction_used,
            Some(InteractionType::ConfirmationMessage)
        );
    }

    #[test]
    fn a_pin_verification_shows_no_rp_text_and_no_code() {
        let mut transaction = signature(&[5; 32], "SHA-256");
        transaction.kind = TransactionKind::PinVerification;
        transaction.role = KeyRole::Auth;
        transaction.interactions = String::new();
        let view = view(&transaction).unwrap();
        assert_eq!(view.role, KeyRole::Auth);
        assert_eq!(view.interaction, None);
        assert_eq!(view.verification_code, None);
    }

    #[test]
    fn a_code_choice_hides_the_code_but_must_contain_it() {
        let list = vec![Interaction::ConfirmationMessageAndVerificationCodeChoice {
            display_text200: "Log in".into(),
        }];
        let correct = vc::rp_challenge_code(&[9; 64]);
        let choice = vc::code_choice(correct);
        let mut transaction = authentication("Notification", list);
        transaction.code_choice = Some(choice.codes().iter().map(|c| c.to_string()).collect());
        let shown = view(&transaction).unwrap();
        assert_eq!(shown.verification_code, None);
        assert_eq!(shown.code_choice.as_ref().map(Vec::len), Some(3));

        let wrong: Vec<String> = (0..3)
            .map(|i| VerificationCode::new((correct.value() + 1 + i) % 10_000).unwrap())
            .map(|c| c.to_string())
            .collect();
        for bad in [
            None,
            Some(wrong),
            Some(vec![correct.to_string(); 3]),
            Some(vec![correct.to_string()]),
            Some(vec!["12345".into(), correct.to_string(), "0001".into()]),
        ] {
            transaction.code_choice = bad.clone();
            assert!(
                matches!(view(&transaction), Err(ClientError::InvalidResponse(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_code_choice_in_a_device_link_flow_is_refused() {
        let list = vec![Interaction::ConfirmationMessageAndVerificationCodeChoice {
            display_text200: "Log in".into(),
        }];
        assert!(view(&authentication("QR", list)).is_err());
    }

    #[test]
    fn malformed_transactions_are_refused_before_any_pin() {
        let mut wrong_role = authentication("QR", pin_text());
        wrong_role.role = KeyRole::Sign;
        let mut wrong_payload = signature(&[5; 32], "SHA-256");
        wrong_payload.kind = TransactionKind::Authentication;
        wrong_payload.role = KeyRole::Auth;
        let mut bad_id = authentication("QR", pin_text());
        bad_id.id = "../account".into();
        let mut short_run = authentication("QR", pin_text());
        short_run.sign_run = B64(vec![1; 31]);
        let mut url_safe_challenge = authentication("QR", pin_text());
        if let SignPayload::AcspV2 { rp_challenge, .. } = &mut url_safe_challenge.payload {
            *rp_challenge = encode_url(&[0xfb; 64]);
        }
        for bad in [
            wrong_role,
            wrong_payload,
            bad_id,
            short_run,
            url_safe_challenge,
            signature(&[5; 32], "SHA-512"),
            signature(&[5; 16], "SHA-256"),
            signature(&[5; 32], "sha-256"),
        ] {
            assert!(
                matches!(view(&bad), Err(ClientError::InvalidResponse(_))),
                "{bad:?}"
            );
        }
    }
}
