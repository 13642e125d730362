//! The `interactions` list: what the phone shows the user before the PIN.
//!
//! The RP sends a Base64 JSON array; the first entry the app supports is
//! shown. Owns parsing, the rules of PROTOCOL.md §6 and SK's interactions
//! page (non-empty list, no duplicate types, a non-empty `displayText60` of at
//! most 60 characters or `displayText200` of at most 200, the code-choice
//! interaction in notification flows only), and building a list. Keeps the
//! RP's Base64 string untouched, because ACSP_V2 hashes it and the authCode
//! MACs it as text: re-encoding could change a byte and break both.
//!
//! Does not decide whether a given app can show a type; the server answers
//! `REQUIRED_INTERACTION_NOT_SUPPORTED_BY_APP` for that, which is why an
//! unknown type's raw name is kept in the error.

use serde::{Deserialize, Serialize};

use super::encoding;
use super::enums::InteractionType;
use super::error::{RpError, RpErrorKind, field};

/// Most bytes the decoded JSON may have: a guard, since the largest valid
/// list (three types, maximal texts of 4-byte UTF-8 characters) is
/// about 2 KiB.
pub const MAX_INTERACTIONS_JSON_BYTES: usize = 4096;

/// Most characters (Unicode scalar values) of `displayText60`.
pub const DISPLAY_TEXT_60_MAX_CHARS: usize = 60;

/// Most characters (Unicode scalar values) of `displayText200`.
pub const DISPLAY_TEXT_200_MAX_CHARS: usize = 200;

/// One interaction, serialised as SK spells it:
/// `{"type":"displayTextAndPIN","displayText60":"…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", try_from = "RawInteraction")]
pub enum Interaction {
    /// A short text and the PIN on one screen.
    #[serde(rename = "displayTextAndPIN")]
    DisplayTextAndPin {
        /// Up to 60 characters.
        #[serde(rename = "displayText60")]
        display_text60: String,
    },
    /// A longer text with Confirm/Cancel, then the PIN.
    #[serde(rename = "confirmationMessage")]
    ConfirmationMessage {
        /// Up to 200 characters.
        #[serde(rename = "displayText200")]
        display_text200: String,
    },
    /// A longer text and a three-way verification code choice, then the
    /// PIN. Notification flows only.
    #[serde(rename = "confirmationMessageAndVerificationCodeChoice")]
    ConfirmationMessageAndVerificationCodeChoice {
        /// Up to 200 characters.
        #[serde(rename = "displayText200")]
        display_text200: String,
    },
}

/// The flow a list of interactions is for; SK allows the code-choice
/// interaction only where the user has no device link tying the phone to
/// the RP's screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InteractionFlow {
    /// QR, Web2App or App2App.
    DeviceLink,
    /// A push notification to a known document.
    Notification,
    /// A notification signing linked to a device-link certificate choice
    /// (`/v3/signature/notification/linked`).
    LinkedNotification,
}

/// A validated, non-empty list of interactions with no repeated type,
/// together with the exact Base64 text it came from or was encoded to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interactions {
    list: Vec<Interaction>,
    base64: String,
}

/// The JSON as written, before the type decides which text field belongs.
/// serde's derive refuses duplicate keys (so `{"displayText60":"a",
/// "displayText60":"b"}` cannot show one text and hash another) and, with
/// `deny_unknown_fields`, keys SK does not define. A `null` text field is
/// read as absent, because JSON mappers in RP clients commonly write the
/// unused text field as `null`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInteraction {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "displayText60", default)]
    display_text60: Option<String>,
    #[serde(rename = "displayText200", default)]
    display_text200: Option<String>,
}

impl TryFrom<RawInteraction> for Interaction {
    type Error = RpError;

    fn try_from(raw: RawInteraction) -> Result<Self, RpError> {
        let kind: InteractionType = raw.kind.parse()?;
        // Each type carries exactly one of the two texts.
        let (text, wrong, wrong_field) = match kind {
            InteractionType::DisplayTextAndPin => (
                raw.display_text60,
                raw.display_text200,
                field::DISPLAY_TEXT_200,
            ),
            InteractionType::ConfirmationMessage
            | InteractionType::ConfirmationMessageAndVerificationCodeChoice => (
                raw.display_text200,
                raw.display_text60,
                field::DISPLAY_TEXT_60,
            ),
        };
        if wrong.is_some() {
            return Err(RpError::new(
                wrong_field,
                RpErrorKind::NotAllowed {
                    reason: "displayTextAndPIN carries displayText60, the confirmation types displayText200",
                },
            ));
        }
        let text_field = text_field_of(kind);
        let text = text.ok_or(RpError::new(text_field, RpErrorKind::Missing))?;
        let interaction = match kind {
            InteractionType::DisplayTextAndPin => Self::DisplayTextAndPin {
                display_text60: text,
            },
            InteractionType::ConfirmationMessage => Self::ConfirmationMessage {
                display_text200: text,
            },
            InteractionType::ConfirmationMessageAndVerificationCodeChoice => {
                Self::ConfirmationMessageAndVerificationCodeChoice {
                    display_text200: text,
                }
            }
        };
        interaction.validate()?;
        Ok(interaction)
    }
}

impl Interaction {
    /// The interaction's `type`.
    pub fn interaction_type(&self) -> InteractionType {
        match self {
            Self::DisplayTextAndPin { .. } => InteractionType::DisplayTextAndPin,
            Self::ConfirmationMessage { .. } => InteractionType::ConfirmationMessage,
            Self::ConfirmationMessageAndVerificationCodeChoice { .. } => {
                InteractionType::ConfirmationMessageAndVerificationCodeChoice
            }
        }
    }

    /// The text to show.
    pub fn display_text(&self) -> &str {
        match self {
            Self::DisplayTextAndPin {
                display_text60: text,
            }
            | Self::ConfirmationMessage {
                display_text200: text,
            }
            | Self::ConfirmationMessageAndVerificationCodeChoice {
                display_text200: text,
            } => text,
        }
    }

    /// The text rule: non-empty, and at most 60 or 200 Unicode scalar values
    /// (SK counts characters, not bytes or UTF-16 units).
    pub fn validate(&self) -> Result<(), RpError> {
        let text_field = text_field_of(self.interaction_type());
        let max = match self {
            Self::DisplayTextAndPin { .. } => DISPLAY_TEXT_60_MAX_CHARS,
            _ => DISPLAY_TEXT_200_MAX_CHARS,
        };
        let text = self.display_text();
        if text.is_empty() {
            return Err(RpError::new(text_field, RpErrorKind::Empty));
        }
        if text.chars().count() > max {
            return Err(RpError::new(
                text_field,
                RpErrorKind::TooLong {
                    max,
                    unit: "characters",
                },
            ));
        }
        Ok(())
    }
}

/// The field holding the text of an interaction type.
fn text_field_of(kind: InteractionType) -> &'static str {
    match kind {
        InteractionType::DisplayTextAndPin => field::DISPLAY_TEXT_60,
        InteractionType::ConfirmationMessage
        | InteractionType::ConfirmationMessageAndVerificationCodeChoice => field::DISPLAY_TEXT_200,
    }
}

impl Interactions {
    /// Parses the `interactions` value as the RP sent it (standard Base64
    /// of a JSON array) and checks every flow-independent rule. Call
    /// [`Interactions::validate_for_flow`] once the flow is known.
    pub fn parse_base64(base64: &str) -> Result<Self, RpError> {
        let json =
            encoding::decode_std(field::INTERACTIONS, base64, 1..=MAX_INTERACTIONS_JSON_BYTES)?;
        let raw: Vec<RawInteraction> = serde_json::from_slice(&json).map_err(|e| {
            RpError::new(
                field::INTERACTIONS,
                RpErrorKind::InvalidJson {
                    detail: e.to_string(),
                },
            )
        })?;
        let list = raw
            .into_iter()
            .map(Interaction::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        check_list(&list)?;
        Ok(Self {
            list,
            base64: base64.to_owned(),
        })
    }

    /// Validates `list` and encodes it as the RP API carries it.
    pub fn new(list: Vec<Interaction>) -> Result<Self, RpError> {
        for interaction in &list {
            interaction.validate()?;
        }
        check_list(&list)?;
        let json = serde_json::to_vec(&list).map_err(|e| {
            RpError::new(
                field::INTERACTIONS,
                RpErrorKind::InvalidJson {
                    detail: e.to_string(),
                },
            )
        })?;
        if json.len() > MAX_INTERACTIONS_JSON_BYTES {
            return Err(RpError::new(
                field::INTERACTIONS,
                RpErrorKind::TooLong {
                    max: MAX_INTERACTIONS_JSON_BYTES,
                    unit: "bytes",
                },
            ));
        }
        Ok(Self {
            list,
            base64: encoding::encode_std(&json),
        })
    }

    /// Checks the flow-dependent rule: the code-choice interaction belongs
    /// to (unlinked) notification flows only.
    pub fn validate_for_flow(&self, flow: InteractionFlow) -> Result<(), RpError> {
        let choice = InteractionType::ConfirmationMessageAndVerificationCodeChoice;
        if flow != InteractionFlow::Notification && self.contains(choice) {
            return Err(RpError::new(
                field::INTERACTIONS,
                RpErrorKind::NotAllowed {
                    reason: "confirmationMessageAndVerificationCodeChoice is for notification flows only",
                },
            ));
        }
        Ok(())
    }

    /// The interactions, in the RP's order of preference.
    pub fn as_slice(&self) -> &[Interaction] {
        &self.list
    }

    /// Whether the list offers `kind`.
    pub fn contains(&self, kind: InteractionType) -> bool {
        self.list.iter().any(|i| i.interaction_type() == kind)
    }

    /// The first interaction whose type `supported` accepts: the one the
    /// app shows.
    pub fn first_supported(
        &self,
        supported: impl Fn(InteractionType) -> bool,
    ) -> Option<&Interaction> {
        self.list.iter().find(|i| supported(i.interaction_type()))
    }

    /// The exact Base64 text (as received, or as encoded by
    /// [`Interactions::new`]): what ACSP_V2 hashes and the authCode MACs.
    pub fn base64(&self) -> &str {
        &self.base64
    }
}

/// List rules: at least one interaction, no type twice.
fn check_list(list: &[Interaction]) -> Result<(), RpError> {
    if list.is_empty() {
        return Err(RpError::new(field::INTERACTIONS, RpErrorKind::Empty));
    }
    for (i, interaction) in list.iter().enumerate() {
        let kind = interaction.interaction_type();
        if list
            .iter()
            .take(i)
            .any(|earlier| earlier.interaction_type() == kind)
        {
            return Err(RpError::new(
                field::INTERACTIONS,
                RpErrorKind::Repeated {
                    value: kind.as_str().to_owned(),
                },
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        encoding::encode_std(json.as_bytes())
    }

    fn parse(json: &str) -> Result<Interactions, RpError> {
        Interactions::parse_base64(&b64(json))
    }

    fn pin(text: &str) -> Interaction {
        Interaction::DisplayTextAndPin {
            display_text60: text.to_owned(),
        }
    }

    fn confirm(text: &str) -> Interaction {
        Interaction::ConfirmationMessage {
            display_text200: text.to_owned(),
        }
    }

    fn choice(text: &str) -> Interaction {
        Interaction::ConfirmationMessageAndVerificationCodeChoice {
            display_text200: text.to_owned(),
        }
    }

    #[test]
    fn sk_example_list_parses_in_order_and_keeps_its_base64() {
        let json = r#"[{"type":"confirmationMessage","displayText200":"Longer"},{"type":"displayTextAndPIN","displayText60":"Short"}]"#;
        let parsed = parse(json).unwrap();
        assert_eq!(parsed.as_slice(), [confirm("Longer"), pin("Short")]);
        assert_eq!(parsed.base64(), b64(json));
    }

    #[test]
    fn new_encodes_sk_field_names_with_type_first() {
        let built = Interactions::new(vec![pin("Log in")]).unwrap();
        assert_eq!(
            built.base64(),
            b64(r#"[{"type":"displayTextAndPIN","displayText60":"Log in"}]"#)
        );
    }

    #[test]
    fn new_and_parse_round_trip() {
        let list = vec![choice("Pay 5 €"), confirm("Pay"), pin("Pay")];
        let built = Interactions::new(list.clone()).unwrap();
        let parsed = Interactions::parse_base64(built.base64()).unwrap();
        assert_eq!(parsed.as_slice(), list);
    }

    #[test]
    fn empty_list_is_rejected() {
        let err = parse("[]").unwrap_err();
        assert_eq!(
            (err.field(), err.kind()),
            (field::INTERACTIONS, &RpErrorKind::Empty)
        );
        assert!(Interactions::new(vec![]).is_err());
    }

    #[test]
    fn duplicate_interaction_type_is_rejected() {
        let err = parse(
            r#"[{"type":"displayTextAndPIN","displayText60":"a"},{"type":"displayTextAndPIN","displayText60":"b"}]"#,
        )
        .unwrap_err();
        assert_eq!(
            err.kind(),
            &RpErrorKind::Repeated {
                value: "displayTextAndPIN".into()
            }
        );
    }

    #[test]
    fn display_text60_of_60_chars_is_accepted() {
        assert!(Interactions::new(vec![pin(&"ö".repeat(60))]).is_ok());
    }

    #[test]
    fn display_text60_longer_than_60_chars_is_rejected() {
        // 61 characters; in UTF-8 "ö" is two bytes, so counting bytes would
        // already fail at 31 and this test pins character counting.
        let err = Interactions::new(vec![pin(&"ö".repeat(61))]).unwrap_err();
        assert_eq!(err.field(), field::DISPLAY_TEXT_60);
        assert_eq!(
            err.kind(),
            &RpErrorKind::TooLong {
                max: 60,
                unit: "characters"
            }
        );
    }

    #[test]
    fn display_text200_longer_than_200_chars_is_rejected() {
        assert!(Interactions::new(vec![confirm(&"x".repeat(200))]).is_ok());
        let err = Interactions::new(vec![confirm(&"x".repeat(201))]).unwrap_err();
        assert_eq!(err.field(), field::DISPLAY_TEXT_200);
    }

    #[test]
    fn display_text_counts_unicode_scalar_values_not_utf16_units() {
        // An emoji outside the BMP is one scalar value but two UTF-16 units.
        assert!(Interactions::new(vec![pin(&"😀".repeat(60))]).is_ok());
    }

    #[test]
    fn empty_display_text_is_rejected() {
        let err = parse(r#"[{"type":"displayTextAndPIN","displayText60":""}]"#).unwrap_err();
        assert_eq!(
            (err.field(), err.kind()),
            (field::DISPLAY_TEXT_60, &RpErrorKind::Empty)
        );
    }

    #[test]
    fn missing_display_text_is_rejected() {
        let err = parse(r#"[{"type":"confirmationMessage"}]"#).unwrap_err();
        assert_eq!(
            (err.field(), err.kind()),
            (field::DISPLAY_TEXT_200, &RpErrorKind::Missing)
        );
    }

    #[test]
    fn text_field_of_the_other_type_is_rejected() {
        let err = parse(r#"[{"type":"displayTextAndPIN","displayText200":"x"}]"#).unwrap_err();
        assert_eq!(err.field(), field::DISPLAY_TEXT_200);
    }

    #[test]
    fn null_text_field_of_the_other_type_is_accepted() {
        let parsed =
            parse(r#"[{"type":"displayTextAndPIN","displayText60":"a","displayText200":null}]"#)
                .unwrap();
        assert_eq!(parsed.as_slice(), [pin("a")]);
    }

    #[test]
    fn unknown_interaction_type_is_rejected_with_its_raw_name() {
        let err = parse(r#"[{"type":"verificationCodeChoice","displayText60":"a"}]"#).unwrap_err();
        assert_eq!(err.field(), field::INTERACTION_TYPE);
        assert_eq!(
            err.kind(),
            &RpErrorKind::unknown_value("verificationCodeChoice")
        );
    }

    #[test]
    fn misspelled_interaction_type_is_rejected() {
        assert!(parse(r#"[{"type":"displayTextAndPin","displayText60":"a"}]"#).is_err());
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err =
            parse(r#"[{"type":"displayTextAndPIN","displayText60":"a","extra":1}]"#).unwrap_err();
        assert!(
            matches!(err.kind(), RpErrorKind::InvalidJson { .. }),
            "{err}"
        );
    }

    #[test]
    fn duplicate_json_key_is_rejected() {
        let err = parse(
            r#"[{"type":"displayTextAndPIN","displayText60":"shown","displayText60":"hashed"}]"#,
        )
        .unwrap_err();
        assert!(
            matches!(err.kind(), RpErrorKind::InvalidJson { .. }),
            "{err}"
        );
    }

    #[test]
    fn json_that_is_not_an_array_is_rejected() {
        assert!(parse(r#"{"type":"displayTextAndPIN","displayText60":"a"}"#).is_err());
        assert!(parse("null").is_err());
    }

    #[test]
    fn oversize_input_is_rejected() {
        let long = format!(
            r#"[{{"type":"displayTextAndPIN","displayText60":"{}"}}]"#,
            " ".repeat(5000)
        );
        let err = parse(&long).unwrap_err();
        assert!(matches!(err.kind(), RpErrorKind::TooLong { .. }), "{err}");
    }

    #[test]
    fn bad_base64_is_rejected() {
        let err = Interactions::parse_base64("not base64!").unwrap_err();
        assert_eq!(
            (err.field(), err.kind()),
            (field::INTERACTIONS, &RpErrorKind::InvalidBase64)
        );
    }

    #[test]
    fn code_choice_interaction_is_allowed_only_in_notification_flows() {
        let list = Interactions::new(vec![choice("Pay"), pin("Pay")]).unwrap();
        assert!(
            list.validate_for_flow(InteractionFlow::Notification)
                .is_ok()
        );
        assert!(list.validate_for_flow(InteractionFlow::DeviceLink).is_err());
        assert!(
            list.validate_for_flow(InteractionFlow::LinkedNotification)
                .is_err()
        );
    }

    #[test]
    fn first_supported_follows_the_rp_order() {
        let list = Interactions::new(vec![choice("a"), confirm("b"), pin("c")]).unwrap();
        let shown = list.first_supported(|t| {
            t != InteractionType::ConfirmationMessageAndVerificationCodeChoice
        });
        assert_eq!(shown, Some(&confirm("b")));
    }

    #[test]
    fn serde_deserialize_applies_the_same_rules() {
        let bad: Result<Interaction, _> =
            serde_json::from_str(r#"{"type":"displayTextAndPIN","displayText60":""}"#);
        assert!(bad.is_err());
        let good: Interaction =
            serde_json::from_str(r#"{"type":"confirmationMessage","displayText200":"ok"}"#)
                .unwrap();
        assert_eq!(good, confirm("ok"));
    }
}
