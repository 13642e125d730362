//! The callback URL of Web2App/App2App flows: how the user comes back to
//! the RP, and the values that prove it is the same user and session.
//!
//! When the phone is done it opens `initialCallbackUrl` with
//! `sessionSecretDigest = B64URL(SHA-256(sessionSecret))` appended and, for
//! authentication, `userChallengeVerifier` (32 random bytes, B64URL), whose
//! SHA-256 is the `userChallenge` the phone signed in ACSP_V2. The RP then
//! checks the digest against the secret only it and the server know, and
//! the verifier against the `userChallenge` in the session result: a
//! phisher relaying the session gets neither right. Owns computing,
//! appending, reading and checking those values; not the HTTP redirect.

use rand::CryptoRng;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::encoding;
use super::error::{RpError, RpErrorKind, field};
use super::rules;
use super::secret::SessionSecret;

/// Longest callback URL accepted when reading one: the longest
/// `initialCallbackUrl` plus the two appended parameters.
pub const MAX_CALLBACK_URL_BYTES: usize = rules::MAX_URL_BYTES + 256;

/// Bytes of randomness in a `userChallengeVerifier`.
const VERIFIER_BYTES: usize = 32;

/// `sessionSecretDigest`: unpadded Base64URL of SHA-256 of the secret bytes.
pub fn session_secret_digest(secret: &SessionSecret) -> String {
    encoding::encode_url(&Sha256::digest(secret.expose()))
}

/// `userChallenge`: unpadded Base64URL of SHA-256 of the verifier's ASCII
/// text (the text, not its decoded bytes, as SK specifies).
pub fn user_challenge(verifier: &str) -> String {
    encoding::encode_url(&Sha256::digest(verifier.as_bytes()))
}

/// A fresh `userChallengeVerifier` from the thread-local CSPRNG.
pub fn new_user_challenge_verifier() -> String {
    new_user_challenge_verifier_with(&mut rand::rng())
}

/// A fresh `userChallengeVerifier`: 32 bytes from `rng`, unpadded
/// Base64URL.
pub fn new_user_challenge_verifier_with<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; VERIFIER_BYTES];
    rng.fill_bytes(&mut bytes);
    encoding::encode_url(&bytes)
}

/// The URL the phone opens: `initial` plus `sessionSecretDigest` and, for
/// authentication, `userChallengeVerifier`.
///
/// SK writes this as `initialCallbackUrl&sessionSecretDigest=…`, which
/// assumes the RP's URL already has a query (SK tells RPs to put a random
/// value there). When it has none, the first separator is `?` instead, so
/// the result is still a URL whose query carries the values; when it
/// already ends in `?` or `&`, nothing is added before the first name.
pub fn callback_url(
    initial: &str,
    secret: &SessionSecret,
    verifier: Option<&str>,
) -> Result<String, RpError> {
    callback_url_from_digest(initial, &session_secret_digest(secret), verifier)
}

/// [`callback_url`] for the phone, which is given `sessionSecretDigest`
/// by the server and never the secret itself.
pub fn callback_url_from_digest(
    initial: &str,
    session_secret_digest: &str,
    verifier: Option<&str>,
) -> Result<String, RpError> {
    rules::callback_url(initial)?;
    rules::base64url_32(field::SESSION_SECRET_DIGEST, session_secret_digest)?;
    if let Some(verifier) = verifier {
        rules::base64url_32(field::USER_CHALLENGE_VERIFIER, verifier)?;
    }
    let separator = match initial.find('?') {
        None => "?",
        Some(_) if initial.ends_with(['?', '&']) => "",
        Some(_) => "&",
    };
    let mut url = format!("{initial}{separator}sessionSecretDigest={session_secret_digest}");
    if let Some(verifier) = verifier {
        url.push_str("&userChallengeVerifier=");
        url.push_str(verifier);
    }
    Ok(url)
}

/// The values the phone appended to a callback URL, as the RP reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackValues {
    session_secret_digest: String,
    user_challenge_verifier: Option<String>,
}

impl CallbackValues {
    /// Reads `sessionSecretDigest` (required) and `userChallengeVerifier`
    /// (optional) from a callback URL, or from just its path and query as a
    /// web framework hands them over. The RP's own parameters are ignored;
    /// the two named here must appear at most once and be unpadded
    /// Base64URL of 32 bytes.
    pub fn parse(url: &str) -> Result<Self, RpError> {
        let f = field::CALLBACK_URL;
        if url.len() > MAX_CALLBACK_URL_BYTES {
            return Err(RpError::new(
                f,
                RpErrorKind::TooLong {
                    max: MAX_CALLBACK_URL_BYTES,
                    unit: "bytes",
                },
            ));
        }
        if !url.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(rules::malformed(f, "only printable ASCII without spaces"));
        }
        if url.contains('#') {
            return Err(rules::malformed(f, "must not have a #fragment"));
        }
        let (_, query) = url.split_once('?').ok_or(RpError::new(
            field::SESSION_SECRET_DIGEST,
            RpErrorKind::Missing,
        ))?;
        let mut digest = None;
        let mut verifier = None;
        for pair in query.split('&') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let (slot, name) = match key {
                "sessionSecretDigest" => (&mut digest, field::SESSION_SECRET_DIGEST),
                "userChallengeVerifier" => (&mut verifier, field::USER_CHALLENGE_VERIFIER),
                _ => continue,
            };
            rules::base64url_32(name, value)?;
            if slot.replace(value.to_owned()).is_some() {
                return Err(RpError::new(name, RpErrorKind::Duplicate));
            }
        }
        Ok(Self {
            session_secret_digest: digest.ok_or(RpError::new(
                field::SESSION_SECRET_DIGEST,
                RpErrorKind::Missing,
            ))?,
            user_challenge_verifier: verifier,
        })
    }

    /// The `sessionSecretDigest` as received.
    pub fn session_secret_digest(&self) -> &str {
        &self.session_secret_digest
    }

    /// The `userChallengeVerifier` as received, if any.
    pub fn user_challenge_verifier(&self) -> Option<&str> {
        self.user_challenge_verifier.as_deref()
    }

    /// The RP's check: the digest matches the session's secret, and, for
    /// authentication (`expected_user_challenge` is the `userChallenge`
    /// from the session result), the verifier hashes to it. A verifier in
    /// a callback that expects none is refused: it means an authentication
    /// callback arrived where a signing one was expected. Comparisons are
    /// constant-time.
    pub fn verify(
        &self,
        secret: &SessionSecret,
        expected_user_challenge: Option<&str>,
    ) -> Result<(), RpError> {
        let digest = session_secret_digest(secret);
        if !bool::from(
            digest
                .as_bytes()
                .ct_eq(self.session_secret_digest.as_bytes()),
        ) {
            return Err(RpError::new(
                field::SESSION_SECRET_DIGEST,
                RpErrorKind::Mismatch,
            ));
        }
        match (expected_user_challenge, self.user_challenge_verifier()) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(RpError::new(
                field::USER_CHALLENGE_VERIFIER,
                RpErrorKind::NotAllowed {
                    reason: "only authentication callbacks carry a verifier",
                },
            )),
            (Some(_), None) => Err(RpError::new(
                field::USER_CHALLENGE_VERIFIER,
                RpErrorKind::Missing,
            )),
            (Some(expected), Some(verifier)) => {
                if bool::from(
                    user_challenge(verifier)
                        .as_bytes()
                        .ct_eq(expected.as_bytes()),
                ) {
                    Ok(())
                } else {
                    Err(RpError::new(field::USER_CHALLENGE, RpErrorKind::Mismatch))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INITIAL: &str = "https://rp.example/cb?value=RrKjjT4aggzu27YBddX1bQ";

    fn secret() -> SessionSecret {
        SessionSecret::from_bytes(vec![4; 32]).unwrap()
    }

    #[test]
    fn parameters_are_appended_with_ampersand_when_the_url_has_a_query() {
        let verifier = new_user_challenge_verifier();
        let url = callback_url(INITIAL, &secret(), Some(&verifier)).unwrap();
        assert_eq!(
            url,
            format!(
                "{INITIAL}&sessionSecretDigest={}&userChallengeVerifier={verifier}",
                session_secret_digest(&secret())
            )
        );
    }

    #[test]
    fn first_parameter_uses_question_mark_when_the_url_has_no_query() {
        let url = callback_url("https://rp.example/cb", &secret(), None).unwrap();
        assert!(
            url.starts_with("https://rp.example/cb?sessionSecretDigest="),
            "{url}"
        );
    }

    #[test]
    fn url_ending_in_a_separator_gets_no_extra_separator() {
        let url = callback_url("https://rp.example/cb?", &secret(), None).unwrap();
        assert!(
            url.starts_with("https://rp.example/cb?sessionSecretDigest="),
            "{url}"
        );
    }

    #[test]
    fn built_callback_parses_and_verifies() {
        let verifier = new_user_challenge_verifier();
        let url = callback_url(INITIAL, &secret(), Some(&verifier)).unwrap();
        let values = CallbackValues::parse(&url).unwrap();
        assert_eq!(values.user_challenge_verifier(), Some(verifier.as_str()));
        assert!(
            values
                .verify(&secret(), Some(&user_challenge(&verifier)))
                .is_ok()
        );
    }

    #[test]
    fn digest_of_another_secret_is_refused() {
        let url = callback_url(INITIAL, &secret(), None).unwrap();
        let other = SessionSecret::from_bytes(vec![5; 32]).unwrap();
        let err = CallbackValues::parse(&url)
            .unwrap()
            .verify(&other, None)
            .unwrap_err();
        assert_eq!(
            (err.field(), err.kind()),
            (field::SESSION_SECRET_DIGEST, &RpErrorKind::Mismatch)
        );
    }

    #[test]
    fn verifier_not_matching_the_user_challenge_is_refused() {
        let url = callback_url(INITIAL, &secret(), Some(&new_user_challenge_verifier())).unwrap();
        let other = user_challenge(&new_user_challenge_verifier());
        let err = CallbackValues::parse(&url)
            .unwrap()
            .verify(&secret(), Some(&other))
            .unwrap_err();
        assert_eq!(
            (err.field(), err.kind()),
            (field::USER_CHALLENGE, &RpErrorKind::Mismatch)
        );
    }

    #[test]
    fn missing_verifier_in_an_authentication_callback_is_refused() {
        let url = callback_url(INITIAL, &secret(), None).unwrap();
        let expected = user_challenge(&new_user_challenge_verifier());
        let err = CallbackValues::parse(&url)
            .unwrap()
            .verify(&secret(), Some(&expected))
            .unwrap_err();
        assert_eq!(err.field(), field::USER_CHALLENGE_VERIFIER);
    }

    #[test]
    fn verifier_in_a_signing_callback_is_refused() {
        let url = callback_url(INITIAL, &secret(), Some(&new_user_challenge_verifier())).unwrap();
        let err = CallbackValues::parse(&url)
            .unwrap()
            .verify(&secret(), None)
            .unwrap_err();
        assert_eq!(err.field(), field::USER_CHALLENGE_VERIFIER);
    }

    #[test]
    fn callback_without_session_secret_digest_is_rejected() {
        let err = CallbackValues::parse(INITIAL).unwrap_err();
        assert_eq!(
            (err.field(), err.kind()),
            (field::SESSION_SECRET_DIGEST, &RpErrorKind::Missing)
        );
    }

    #[test]
    fn repeated_session_secret_digest_is_rejected() {
        let url = callback_url(INITIAL, &secret(), None).unwrap();
        let digest = session_secret_digest(&secret());
        let err =
            CallbackValues::parse(&format!("{url}&sessionSecretDigest={digest}")).unwrap_err();
        assert_eq!(err.kind(), &RpErrorKind::Duplicate);
    }

    #[test]
    fn session_secret_digest_in_standard_base64_is_rejected() {
        let url = format!(
            "{INITIAL}&sessionSecretDigest={}",
            encoding::encode_std(&[0xfb; 32])
        );
        assert_eq!(
            CallbackValues::parse(&url).unwrap_err().field(),
            field::SESSION_SECRET_DIGEST
        );
    }

    #[test]
    fn path_and_query_alone_are_enough() {
        let url = callback_url(INITIAL, &secret(), None).unwrap();
        let path_and_query = url.trim_start_matches("https://rp.example");
        assert!(
            CallbackValues::parse(path_and_query)
                .unwrap()
                .verify(&secret(), None)
                .is_ok()
        );
    }

    #[test]
    fn callback_url_rejects_a_malformed_verifier() {
        let err = callback_url(INITIAL, &secret(), Some("short")).unwrap_err();
        assert_eq!(err.field(), field::USER_CHALLENGE_VERIFIER);
    }

    #[test]
    fn callback_url_rejects_a_non_https_initial_url() {
        let err = callback_url("http://rp.example/cb", &secret(), None).unwrap_err();
        assert_eq!(err.field(), field::INITIAL_CALLBACK_URL);
    }

    #[test]
    fn verifiers_are_43_characters_and_fresh() {
        let (a, b) = (new_user_challenge_verifier(), new_user_challenge_verifier());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
