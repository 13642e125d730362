//! The one error type of the RP formats: which field is wrong, and why.
//!
//! Every rule in [`crate::rp`] fails with an [`RpError`] that names the field
//! in SK's own spelling (`sessionToken`, `interactions[].displayText60`), so
//! the server can answer a 400 that an RP developer understands, and the CLI
//! can translate the field into the flag the user typed. The field names live
//! in [`field`] so callers can match on them instead of on strings.

use thiserror::Error;

/// Longest piece of caller input echoed back in an error. Errors end up in
/// logs and problem+json bodies; an attacker must not be able to make them
/// arbitrarily large.
const MAX_ECHO_CHARS: usize = 64;

/// Field names as SK spells them (JSON keys and query parameters), used in
/// every [`RpError`].
pub mod field {
    /// The scheme name, first field of ACSP_V2 and of the authCode payload.
    pub const SCHEME: &str = "scheme";
    /// `signatureProtocol`.
    pub const SIGNATURE_PROTOCOL: &str = "signatureProtocol";
    /// `signatureProtocolParameters.rpChallenge` (authentication).
    pub const RP_CHALLENGE: &str = "rpChallenge";
    /// The authCode field that is the rpChallenge (auth), the digest (sign),
    /// or empty (certificate choice).
    pub const RP_CHALLENGE_OR_DIGEST: &str = "rpChallengeOrDigest";
    /// A signing digest (v2 verification code input).
    pub const DIGEST: &str = "digest";
    /// `relyingPartyName`.
    pub const RP_NAME: &str = "relyingPartyName";
    /// `brokeredRpName`.
    pub const BROKERED_RP_NAME: &str = "brokeredRpName";
    /// `interactions` (the Base64 JSON array as a whole).
    pub const INTERACTIONS: &str = "interactions";
    /// The `type` of one interaction.
    pub const INTERACTION_TYPE: &str = "interactions[].type";
    /// The `displayText60` of one interaction.
    pub const DISPLAY_TEXT_60: &str = "interactions[].displayText60";
    /// The `displayText200` of one interaction.
    pub const DISPLAY_TEXT_200: &str = "interactions[].displayText200";
    /// `interactionTypeUsed` (ACSP_V2).
    pub const INTERACTION_TYPE_USED: &str = "interactionTypeUsed";
    /// `initialCallbackUrl`.
    pub const INITIAL_CALLBACK_URL: &str = "initialCallbackUrl";
    /// `flowType` (ACSP_V2).
    pub const FLOW_TYPE: &str = "flowType";
    /// `serverRandom` (ACSP_V2).
    pub const SERVER_RANDOM: &str = "serverRandom";
    /// `userChallenge` (ACSP_V2, session status).
    pub const USER_CHALLENGE: &str = "userChallenge";
    /// `signatureAlgorithmParameters.hashAlgorithm`.
    pub const HASH_ALGORITHM: &str = "hashAlgorithm";
    /// `sessionSecret`.
    pub const SESSION_SECRET: &str = "sessionSecret";
    /// A whole device link (structure errors, unknown parameters).
    pub const DEVICE_LINK: &str = "deviceLink";
    /// `deviceLinkBase`.
    pub const DEVICE_LINK_BASE: &str = "deviceLinkBase";
    /// `deviceLinkType` query parameter.
    pub const DEVICE_LINK_TYPE: &str = "deviceLinkType";
    /// `elapsedSeconds` query parameter (QR only).
    pub const ELAPSED_SECONDS: &str = "elapsedSeconds";
    /// `sessionToken` query parameter.
    pub const SESSION_TOKEN: &str = "sessionToken";
    /// `sessionType` query parameter.
    pub const SESSION_TYPE: &str = "sessionType";
    /// `version` query parameter.
    pub const VERSION: &str = "version";
    /// `lang` query parameter.
    pub const LANG: &str = "lang";
    /// `authCode` query parameter.
    pub const AUTH_CODE: &str = "authCode";
    /// A whole callback URL (structure errors).
    pub const CALLBACK_URL: &str = "callbackUrl";
    /// `sessionSecretDigest` callback parameter.
    pub const SESSION_SECRET_DIGEST: &str = "sessionSecretDigest";
    /// `userChallengeVerifier` callback parameter.
    pub const USER_CHALLENGE_VERIFIER: &str = "userChallengeVerifier";
}

/// A field of an RP API value that breaks a rule: `{field}: {kind}`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{field}: {kind}")]
pub struct RpError {
    field: &'static str,
    kind: RpErrorKind,
}

/// Why a field is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RpErrorKind {
    /// A required field is absent.
    #[error("missing")]
    Missing,
    /// A required field is present but empty.
    #[error("must not be empty")]
    Empty,
    /// The field is present where the rules forbid it.
    #[error("not allowed here: {reason}")]
    NotAllowed {
        /// The rule that forbids it.
        reason: &'static str,
    },
    /// Not standard Base64 with padding (RFC 4648 §4).
    #[error("not valid Base64")]
    InvalidBase64,
    /// Not URL-safe Base64 without padding (RFC 4648 §5).
    #[error("not valid unpadded Base64URL")]
    InvalidBase64Url,
    /// Decodes to a length outside the allowed range.
    #[error("decodes to {actual} bytes, expected {min} to {max}")]
    WrongLength {
        /// Fewest bytes allowed.
        min: usize,
        /// Most bytes allowed.
        max: usize,
        /// Bytes found.
        actual: usize,
    },
    /// Longer than the limit.
    #[error("longer than {max} {unit}")]
    TooLong {
        /// The limit.
        max: usize,
        /// What is counted: "bytes" or "characters".
        unit: &'static str,
    },
    /// A value outside the field's fixed vocabulary (e.g. a `deviceLinkType`
    /// that is not QR, Web2App or App2App). Holds the value as given, cut to
    /// 64 characters.
    #[error("unknown value {value:?}")]
    UnknownValue {
        /// The value as given (possibly truncated).
        value: String,
    },
    /// Does not have the required shape.
    #[error("malformed: {reason}")]
    Malformed {
        /// The shape it must have.
        reason: &'static str,
    },
    /// A parameter that may appear once appears again.
    #[error("appears more than once")]
    Duplicate,
    /// A parameter this format does not define.
    #[error("unknown parameter {name:?}")]
    UnknownParameter {
        /// The parameter name as given (possibly truncated).
        name: String,
    },
    /// A list names the same value twice.
    #[error("lists {value} more than once")]
    Repeated {
        /// The repeated value.
        value: String,
    },
    /// Not JSON of the expected shape.
    #[error("not valid JSON for this field ({detail})")]
    InvalidJson {
        /// The JSON parser's explanation.
        detail: String,
    },
    /// A MAC, digest or challenge does not match the expected value.
    #[error("does not match")]
    Mismatch,
}

impl RpError {
    /// An error in `field`.
    pub fn new(field: &'static str, kind: RpErrorKind) -> Self {
        Self { field, kind }
    }

    /// The field, as SK spells it (one of the [`field`] constants).
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &RpErrorKind {
        &self.kind
    }

    /// The same problem reported against another field: for a value parsed
    /// by a generic rule but known to the caller under a more precise name.
    pub fn in_field(self, field: &'static str) -> Self {
        Self { field, ..self }
    }
}

impl RpErrorKind {
    /// [`RpErrorKind::UnknownValue`] echoing at most 64 characters of `value`.
    pub fn unknown_value(value: &str) -> Self {
        Self::UnknownValue { value: echo(value) }
    }

    /// [`RpErrorKind::UnknownParameter`] echoing at most 64 characters of
    /// `name`.
    pub fn unknown_parameter(name: &str) -> Self {
        Self::UnknownParameter { name: echo(name) }
    }
}

/// Caller input cut to [`MAX_ECHO_CHARS`] characters for an error message.
fn echo(value: &str) -> String {
    let mut chars = value.chars();
    let mut out: String = chars.by_ref().take(MAX_ECHO_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_field_then_the_problem() {
        let err = RpError::new(field::SESSION_TOKEN, RpErrorKind::Empty);
        assert_eq!(err.to_string(), "sessionToken: must not be empty");
    }

    #[test]
    fn echoed_values_are_cut_to_64_characters() {
        let kind = RpErrorKind::unknown_value(&"x".repeat(1000));
        let RpErrorKind::UnknownValue { value } = kind else {
            panic!("wrong kind");
        };
        assert_eq!(value.chars().count(), 65);
        assert!(value.ends_with('…'));
    }

    #[test]
    fn in_field_keeps_the_problem() {
        let err =
            RpError::new(field::RP_CHALLENGE, RpErrorKind::InvalidBase64).in_field(field::DIGEST);
        assert_eq!(err.field(), field::DIGEST);
        assert_eq!(err.kind(), &RpErrorKind::InvalidBase64);
    }
}
