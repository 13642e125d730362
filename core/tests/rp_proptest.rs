//! Property tests for every parser in `kaksik_core::rp` and `kaksik_core::vc`.
//!
//! Two kinds of property: no parser panics on anything (arbitrary text,
//! arbitrary bytes behind valid Base64, and small mutations of valid
//! values), and what is built parses back and verifies, while any change
//! to a built device link that still parses fails verification.

// A test crate fails by panicking; clippy only exempts #[test] functions,
// not the helpers they share.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::str::FromStr;

use kaksik_core::rp::{
    AcspV2, AuthCodeBinding, CallbackValues, DeviceLink, DeviceLinkType, FlowType, HashAlgorithm,
    Interaction, InteractionType, Interactions, ParsedDeviceLink, RpErrorKind, SessionSecret,
    SessionType, SignatureProtocol, callback_url, encoding, user_challenge,
};
use kaksik_core::vc::{VerificationCode, code_choice_with};
use proptest::prelude::*;
use proptest::sample::Index;
use rand::SeedableRng;
use rand::rngs::StdRng;

// ---------------------------------------------------------------- fixtures

fn link_type() -> impl Strategy<Value = DeviceLinkType> {
    prop::sample::select(DeviceLinkType::ALL)
}

fn session_type() -> impl Strategy<Value = SessionType> {
    prop::sample::select(SessionType::ALL)
}

/// A name of at most 32 UTF-8 bytes (the relyingPartyName limit).
fn rp_name(min_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), min_chars..=16)
        .prop_map(|chars| chars.into_iter().collect::<String>())
        .prop_filter("at most 32 bytes", |s| s.len() <= 32)
}

fn https_url() -> impl Strategy<Value = String> {
    (
        "[a-z0-9-]{1,20}(\\.[a-z]{2,5}){1,2}",
        "(/[A-Za-z0-9._~%-]{0,12}){0,4}",
        "(\\?[A-Za-z0-9=&_-]{0,30})?",
    )
        .prop_map(|(host, path, query)| format!("https://{host}{path}{query}"))
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 1..=max).prop_map(|chars| chars.into_iter().collect())
}

fn interaction() -> impl Strategy<Value = Interaction> {
    prop_oneof![
        text(60).prop_map(|display_text60| Interaction::DisplayTextAndPin { display_text60 }),
        text(200).prop_map(|display_text200| Interaction::ConfirmationMessage { display_text200 }),
        text(200).prop_map(|display_text200| {
            Interaction::ConfirmationMessageAndVerificationCodeChoice { display_text200 }
        }),
    ]
}

/// 1–3 interactions of distinct types, in random order.
fn interaction_list(allow_choice: bool) -> impl Strategy<Value = Vec<Interaction>> {
    prop::collection::vec(interaction(), 1..=6).prop_map(move |list| {
        let mut seen: Vec<InteractionType> = Vec::new();
        let mut out = Vec::new();
        for i in list {
            let kind = i.interaction_type();
            let choice = kind == InteractionType::ConfirmationMessageAndVerificationCodeChoice;
            if !seen.contains(&kind) && (allow_choice || !choice) {
                seen.push(kind);
                out.push(i);
            }
        }
        if out.is_empty() {
            out.push(Interaction::DisplayTextAndPin {
                display_text60: "fallback".into(),
            });
        }
        out
    })
}

fn secret() -> impl Strategy<Value = SessionSecret> {
    prop::collection::vec(any::<u8>(), 16..=64).prop_map(|b| SessionSecret::from_bytes(b).unwrap())
}

/// A valid link and binding of every link type and session type.
fn link_and_binding() -> impl Strategy<Value = (DeviceLink, AuthCodeBinding)> {
    (
        link_type(),
        session_type(),
        "[a-z][a-z0-9+.-]{0,8}://[A-Za-z0-9./_~-]{1,40}",
        any::<u32>(),
        "[A-Za-z0-9._~-]{1,64}",
        "[a-z]{3}",
        "[A-Za-z0-9._-]{1,32}",
        rp_name(1),
        rp_name(0),
        prop::collection::vec(any::<u8>(), 32..=64),
        interaction_list(false),
        https_url(),
    )
        .prop_map(
            |(
                lt,
                st,
                base,
                elapsed,
                token,
                lang,
                scheme,
                name,
                broker,
                challenge,
                list,
                callback,
            )| {
                let cert = st == SessionType::Cert;
                let link = DeviceLink {
                    base,
                    link_type: lt,
                    elapsed_seconds: (lt == DeviceLinkType::Qr).then_some(elapsed),
                    session_token: token,
                    session_type: st,
                    lang,
                };
                let binding = AuthCodeBinding {
                    scheme,
                    signature_protocol: st.signature_protocol(),
                    rp_challenge_or_digest: if cert {
                        String::new()
                    } else {
                        encoding::encode_std(&challenge)
                    },
                    rp_name: name,
                    brokered_rp_name: broker,
                    interactions: if cert {
                        String::new()
                    } else {
                        Interactions::new(list).unwrap().base64().to_owned()
                    },
                    initial_callback_url: if lt == DeviceLinkType::Qr {
                        String::new()
                    } else {
                        callback
                    },
                };
                (link, binding)
            },
        )
}

/// Characters that mean something in URLs, Base64 or our formats.
const NASTY: &[char] = &[
    '&', '=', '?', '#', '%', '|', ' ', '+', '/', '-', '_', 'a', 'Z', '0', '9', '.', 'é', '\0',
    '\n', '"',
];

#[derive(Clone, Debug)]
enum Edit {
    Delete(Index),
    Insert(Index, char),
    Replace(Index, char),
    Truncate(Index),
    DuplicateTail(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let nasty = prop::sample::select(NASTY);
    prop_oneof![
        any::<Index>().prop_map(Edit::Delete),
        (any::<Index>(), nasty.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<Index>(), nasty).prop_map(|(i, c)| Edit::Replace(i, c)),
        any::<Index>().prop_map(Edit::Truncate),
        any::<Index>().prop_map(Edit::DuplicateTail),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len().max(1);
        match e {
            Edit::Delete(i) if !chars.is_empty() => {
                chars.remove(i.index(len));
            }
            Edit::Insert(i, c) => chars.insert(i.index(len + 1).min(chars.len()), *c),
            Edit::Replace(i, c) if !chars.is_empty() => chars[i.index(len)] = *c,
            Edit::Truncate(i) => chars.truncate(i.index(len)),
            Edit::DuplicateTail(i) => {
                let tail: Vec<char> = chars[i.index(len).min(chars.len())..].to_vec();
                chars.extend(tail);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

// ------------------------------------------------------- no-panic properties

proptest! {
    #[test]
    fn device_link_parse_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = ParsedDeviceLink::parse(&s);
    }

    #[test]
    fn device_link_parse_never_panics_on_link_shaped_text(
        s in "https://[a-z.]{1,10}/[a-z-]{0,10}\\?([A-Za-z]{1,15}=[A-Za-z0-9._~=+/-]{0,50}&?){0,9}"
    ) {
        let _ = ParsedDeviceLink::parse(&s);
        let _ = ParsedDeviceLink::parse(&format!("{s}&authCode={}", encoding::encode_url(&[0; 32])));
    }

    #[test]
    fn interactions_parse_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = Interactions::parse_base64(&s);
    }

    #[test]
    fn interactions_parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Interactions::parse_base64(&encoding::encode_std(&bytes));
    }

    #[test]
    fn interactions_parse_never_panics_on_json_shaped_input(
        json in r#"\[(\{("(type|displayText60|displayText200|x)":("[a-zA-Z0-9 ]{0,70}"|null|1|\[\]|\{\}),?){0,4}\},?){0,4}\]"#
    ) {
        let _ = Interactions::parse_base64(&encoding::encode_std(json.as_bytes()));
    }

    #[test]
    fn base64_decoders_never_panic(s in any::<String>(), lo in 0usize..80, span in 0usize..80) {
        let _ = encoding::decode_std("x", &s, lo..=lo + span);
        let _ = encoding::decode_url("x", &s, lo..=lo + span);
        let _ = SessionSecret::from_base64(&s);
    }

    #[test]
    fn base64_alphabet_text_never_panics(s in "[A-Za-z0-9+/=_-]{0,100}") {
        let _ = encoding::decode_std("x", &s, 0..=100);
        let _ = encoding::decode_url("x", &s, 0..=100);
    }

    #[test]
    fn callback_parse_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = CallbackValues::parse(&s);
    }

    #[test]
    fn callback_parse_never_panics_on_mutated_callbacks(
        initial in https_url(),
        secret in secret(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let verifier = kaksik_core::rp::new_user_challenge_verifier();
        let url = callback_url(&initial, &secret, Some(&verifier)).unwrap();
        if let Ok(values) = CallbackValues::parse(&apply(&url, &edits)) {
            let _ = values.verify(&secret, Some(&user_challenge(&verifier)));
        }
    }

    #[test]
    fn verification_code_from_str_accepts_exactly_four_ascii_digits(s in any::<String>()) {
        let four_digits = s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(VerificationCode::from_str(&s).is_ok(), four_digits);
    }

    #[test]
    fn verification_code_from_str_on_digit_strings(s in "[0-9]{0,6}") {
        match VerificationCode::from_str(&s) {
            Ok(code) => prop_assert_eq!(code.to_string(), s),
            Err(_) => prop_assert_ne!(s.len(), 4),
        }
    }

    #[test]
    fn enum_from_str_accepts_exactly_the_sk_spellings(s in any::<String>()) {
        check_vocabulary::<SignatureProtocol>(SignatureProtocol::ALL, &s, |v| v.as_str())?;
        check_vocabulary::<HashAlgorithm>(HashAlgorithm::ALL, &s, |v| v.as_str())?;
        check_vocabulary::<FlowType>(FlowType::ALL, &s, |v| v.as_str())?;
        check_vocabulary::<DeviceLinkType>(DeviceLinkType::ALL, &s, |v| v.as_str())?;
        check_vocabulary::<SessionType>(SessionType::ALL, &s, |v| v.as_str())?;
        check_vocabulary::<InteractionType>(InteractionType::ALL, &s, |v| v.as_str())?;
    }

    #[test]
    fn acsp_v2_never_panics_and_has_eleven_fields_when_valid(
        // Mostly valid values, so the eleven-field check runs often.
        scheme in prop_oneof![3 => "[a-z0-9._-]{1,12}", 1 => any::<String>()],
        server_random in "[A-Za-z0-9+/=_-]{1,30}|[A-Za-z0-9|]{0,30}",
        challenge in prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 32..=64),
            1 => prop::collection::vec(any::<u8>(), 0..80),
        ],
        user in prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 32..=32),
            1 => prop::collection::vec(any::<u8>(), 0..40),
        ],
        name in prop_oneof![3 => rp_name(1), 1 => any::<String>()],
        broker in prop_oneof![3 => rp_name(0), 1 => any::<String>()],
        list in interaction_list(true),
        used in prop::sample::select(InteractionType::ALL),
        callback in prop_oneof![2 => Just(String::new()), 2 => https_url(), 1 => any::<String>()],
        flow in prop::sample::select(FlowType::ALL),
    ) {
        let acsp = AcspV2 {
            scheme,
            server_random,
            rp_challenge: encoding::encode_std(&challenge),
            user_challenge: encoding::encode_url(&user),
            rp_name: name,
            brokered_rp_name: broker,
            interactions: Interactions::new(list).unwrap().base64().to_owned(),
            interaction_type_used: used,
            initial_callback_url: callback,
            flow_type: flow,
        };
        if let Ok(message) = acsp.message() {
            // No field can contain the separator, so the split is the fields.
            prop_assert_eq!(message.split('|').count(), 11);
        }
    }
}

fn check_vocabulary<T: FromStr + PartialEq + std::fmt::Debug + Copy>(
    all: &[T],
    s: &str,
    as_str: fn(T) -> &'static str,
) -> Result<(), TestCaseError> {
    let known = all.iter().find(|v| as_str(**v) == s);
    match (T::from_str(s), known) {
        (Ok(v), Some(k)) => prop_assert_eq!(v, *k),
        (Err(_), None) => {}
        (parsed, known) => prop_assert!(
            false,
            "{s:?}: parsed ok = {}, known = {known:?}",
            parsed.is_ok()
        ),
    }
    Ok(())
}

// ------------------------------------------------------ round-trip properties

proptest! {
    #[test]
    fn built_device_link_parses_and_verifies((link, binding) in link_and_binding(), secret in secret()) {
        let built = link.build(&secret, &binding).unwrap();
        let parsed = ParsedDeviceLink::parse(&built).unwrap();
        prop_assert_eq!(parsed.link(), &link);
        prop_assert_eq!(parsed.verify(&secret, &binding), Ok(()));
    }

    #[test]
    fn built_device_link_does_not_verify_under_another_secret(
        (link, binding) in link_and_binding(),
        a in secret(),
        b in secret(),
    ) {
        prop_assume!(a.expose() != b.expose());
        let parsed = ParsedDeviceLink::parse(&link.build(&a, &binding).unwrap()).unwrap();
        let err = parsed.verify(&b, &binding).unwrap_err();
        prop_assert_eq!(err.kind(), &RpErrorKind::Mismatch);
    }

    #[test]
    fn mutated_device_link_never_panics_and_verifies_only_if_unchanged(
        (link, binding) in link_and_binding(),
        secret in secret(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let built = link.build(&secret, &binding).unwrap();
        let mutated = apply(&built, &edits);
        if let Ok(parsed) = ParsedDeviceLink::parse(&mutated)
            && parsed.verify(&secret, &binding).is_ok()
        {
            prop_assert_eq!(mutated, built);
        }
    }

    #[test]
    fn interactions_round_trip_through_base64(list in interaction_list(true)) {
        let built = Interactions::new(list.clone()).unwrap();
        let parsed = Interactions::parse_base64(built.base64()).unwrap();
        prop_assert_eq!(parsed.as_slice(), list.as_slice());
        prop_assert_eq!(parsed.base64(), built.base64());
    }

    #[test]
    fn callback_round_trips_and_passes_the_rp_check(
        initial in https_url(),
        secret in secret(),
        auth in any::<bool>(),
    ) {
        let verifier = auth.then(kaksik_core::rp::new_user_challenge_verifier);
        let url = callback_url(&initial, &secret, verifier.as_deref()).unwrap();
        prop_assert!(url.starts_with(&initial));
        let values = CallbackValues::parse(&url).unwrap();
        prop_assert_eq!(values.user_challenge_verifier(), verifier.as_deref());
        let expected = verifier.as_deref().map(user_challenge);
        prop_assert_eq!(values.verify(&secret, expected.as_deref()), Ok(()));
    }

    #[test]
    fn base64_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let n = bytes.len();
        prop_assert_eq!(encoding::decode_std("x", &encoding::encode_std(&bytes), n..=n).unwrap(), bytes.clone());
        prop_assert_eq!(encoding::decode_url("x", &encoding::encode_url(&bytes), n..=n).unwrap(), bytes);
    }

    #[test]
    fn verification_code_display_round_trips(value in 0u16..10_000) {
        let code = VerificationCode::new(value).unwrap();
        prop_assert_eq!(code.to_string().parse::<VerificationCode>(), Ok(code));
    }

    #[test]
    fn code_choice_is_three_distinct_codes_with_the_correct_one_marked(
        value in 0u16..10_000,
        seed in any::<u64>(),
    ) {
        let correct = VerificationCode::new(value).unwrap();
        let choice = code_choice_with(correct, &mut StdRng::seed_from_u64(seed));
        let [a, b, c] = choice.codes();
        prop_assert!(a != b && b != c && a != c);
        prop_assert_eq!(choice.codes()[choice.correct()], correct);
    }
}
