//! The ACSP_V2 authentication message: what the phone signs to log a user
//! in, and what the RP rebuilds to check that signature.
//!
//! `scheme|ACSP_V2|serverRandom|rpChallenge|userChallenge|B64(rpName)|
//! B64(brokeredRpName)|B64(SHA-256(interactions))|interactionTypeUsed|
//! initialCallbackUrl|flowType`, hashed with the session's hash algorithm.
//! Free-text fields are Base64-encoded and every other field is checked
//! to be unable to contain `|`, so two different sessions can never produce
//! the same message. Does not sign anything; that is the co-signing
//! engine's job.

use sha2::{Digest as _, Sha256};

use super::encoding;
use super::enums::{FlowType, HashAlgorithm, InteractionType, SignatureProtocol};
use super::error::{RpError, RpErrorKind, field};
use super::interactions::{InteractionFlow, Interactions};
use super::rules;

/// The fields of an ACSP_V2 message, as strings exactly as they travel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcspV2 {
    /// Scheme name: `kaksik` by default, `smart-id` at SK.
    pub scheme: String,
    /// The server's random, `serverRandom`.
    pub server_random: String,
    /// The RP's `rpChallenge`, standard Base64 of 32–64 bytes, as given.
    pub rp_challenge: String,
    /// `userChallenge`: Base64URL of SHA-256 of the phone's verifier.
    pub user_challenge: String,
    /// `relyingPartyName`, plain text (Base64-encoded in the message).
    pub rp_name: String,
    /// `brokeredRpName`, plain text; may be empty.
    pub brokered_rp_name: String,
    /// `interactions` exactly as the RP sent it (standard Base64 JSON).
    pub interactions: String,
    /// The interaction the phone showed; must be one of `interactions`.
    pub interaction_type_used: InteractionType,
    /// `initialCallbackUrl`: set in Web2App/App2App, empty otherwise.
    pub initial_callback_url: String,
    /// How the session reached the phone.
    pub flow_type: FlowType,
}

impl AcspV2 {
    /// Checks every field before anything is signed over it.
    pub fn validate(&self) -> Result<(), RpError> {
        rules::scheme(&self.scheme)?;
        rules::server_random(&self.server_random)?;
        rules::challenge_or_digest(field::RP_CHALLENGE, &self.rp_challenge)?;
        rules::base64url_32(field::USER_CHALLENGE, &self.user_challenge)?;
        rules::rp_name(field::RP_NAME, &self.rp_name, true)?;
        rules::rp_name(field::BROKERED_RP_NAME, &self.brokered_rp_name, false)?;
        let interactions = Interactions::parse_base64(&self.interactions)?;
        let flow = match self.flow_type {
            FlowType::Notification => InteractionFlow::Notification,
            FlowType::Qr | FlowType::App2App | FlowType::Web2App => InteractionFlow::DeviceLink,
        };
        interactions.validate_for_flow(flow)?;
        if !interactions.contains(self.interaction_type_used) {
            return Err(RpError::new(
                field::INTERACTION_TYPE_USED,
                RpErrorKind::NotAllowed {
                    reason: "not one of the session's interactions",
                },
            ));
        }
        rules::callback_for_flow(&self.initial_callback_url, self.flow_type.uses_callback())
    }

    /// The message to be hashed and signed, after [`AcspV2::validate`].
    pub fn message(&self) -> Result<String, RpError> {
        self.validate()?;
        let interactions_hash = encoding::encode_std(&Sha256::digest(self.interactions.as_bytes()));
        let fields: [&str; 11] = [
            &self.scheme,
            SignatureProtocol::AcspV2.as_str(),
            &self.server_random,
            &self.rp_challenge,
            &self.user_challenge,
            &encoding::encode_std(self.rp_name.as_bytes()),
            &encoding::encode_std(self.brokered_rp_name.as_bytes()),
            &interactions_hash,
            self.interaction_type_used.as_str(),
            &self.initial_callback_url,
            self.flow_type.as_str(),
        ];
        Ok(fields.join("|"))
    }

    /// `hash(message())`: the digest the phone's key signs.
    pub fn digest(&self, hash: HashAlgorithm) -> Result<Vec<u8>, RpError> {
        Ok(hash.digest(self.message()?.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rp::Interaction;

    fn sample() -> AcspV2 {
        let interactions = Interactions::new(vec![Interaction::DisplayTextAndPin {
            display_text60: "Log in to Example".into(),
        }])
        .unwrap();
        AcspV2 {
            scheme: "kaksik".into(),
            server_random: "MTlop6EXCrQ6FOErcKjxUhbV".into(),
            rp_challenge: encoding::encode_std(&[9; 64]),
            user_challenge: encoding::encode_url(&[3; 32]),
            rp_name: "DEMO".into(),
            brokered_rp_name: String::new(),
            interactions: interactions.base64().to_owned(),
            interaction_type_used: InteractionType::DisplayTextAndPin,
            initial_callback_url: String::new(),
            flow_type: FlowType::Qr,
        }
    }

    #[test]
    fn empty_brokered_name_stays_an_empty_field() {
        let message = sample().message().unwrap();
        assert!(message.contains("|REVNTw==||"), "{message}");
        assert!(message.ends_with("|displayTextAndPIN||QR"), "{message}");
    }

    #[test]
    fn interaction_type_used_must_be_offered() {
        let acsp = AcspV2 {
            interaction_type_used: InteractionType::ConfirmationMessage,
            ..sample()
        };
        assert_eq!(
            acsp.message().unwrap_err().field(),
            field::INTERACTION_TYPE_USED
        );
    }

    #[test]
    fn callback_url_in_a_qr_flow_is_rejected() {
        let acsp = AcspV2 {
            initial_callback_url: "https://rp.example/cb".into(),
            ..sample()
        };
        assert_eq!(
            acsp.message().unwrap_err().field(),
            field::INITIAL_CALLBACK_URL
        );
    }

    #[test]
    fn web2app_flow_requires_a_callback_url() {
        let acsp = AcspV2 {
            flow_type: FlowType::Web2App,
            ..sample()
        };
        assert_eq!(
            acsp.message().unwrap_err().field(),
            field::INITIAL_CALLBACK_URL
        );
    }

    #[test]
    fn scheme_containing_a_separator_is_rejected() {
        let acsp = AcspV2 {
            scheme: "a|b".into(),
            ..sample()
        };
        assert_eq!(acsp.message().unwrap_err().field(), field::SCHEME);
    }

    #[test]
    fn user_challenge_in_standard_base64_is_rejected() {
        let acsp = AcspV2 {
            user_challenge: encoding::encode_std(&[3; 32]),
            ..sample()
        };
        assert_eq!(acsp.message().unwrap_err().field(), field::USER_CHALLENGE);
    }

    #[test]
    fn rp_challenge_in_url_safe_base64_is_rejected() {
        let acsp = AcspV2 {
            rp_challenge: encoding::encode_url(&[0xfb; 64]),
            ..sample()
        };
        assert_eq!(acsp.message().unwrap_err().field(), field::RP_CHALLENGE);
    }

    #[test]
    fn code_choice_interaction_in_a_device_link_flow_is_rejected() {
        let interactions = Interactions::new(vec![
            Interaction::ConfirmationMessageAndVerificationCodeChoice {
                display_text200: "Log in".into(),
            },
        ])
        .unwrap();
        let acsp = AcspV2 {
            interactions: interactions.base64().to_owned(),
            interaction_type_used: InteractionType::ConfirmationMessageAndVerificationCodeChoice,
            ..sample()
        };
        assert_eq!(acsp.message().unwrap_err().field(), field::INTERACTIONS);
        let notification = AcspV2 {
            flow_type: FlowType::Notification,
            ..acsp
        };
        assert!(notification.message().is_ok());
    }

    #[test]
    fn digest_length_follows_the_hash_algorithm() {
        for &alg in HashAlgorithm::ALL {
            assert_eq!(sample().digest(alg).unwrap().len(), alg.output_len());
        }
    }
}
