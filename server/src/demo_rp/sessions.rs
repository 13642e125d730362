//! The demo's memory: one entry per browser flow (a login or a signature),
//! under a random id that is the only way to reach it, bounded in number
//! and forgotten after [`SESSION_TTL`]. The entries themselves are the
//! flows' own types ([`crate::demo_rp::login::LoginSession`],
//! [`crate::demo_rp::sign::SignSession`]); this module only keeps them, and
//! says how a flow ended when it did not end well ([`Failure`]).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::rp_client::RpClientError;

use super::login::LoginSession;
use super::sign::SignSession;

/// How long a flow and its result stay reachable: long enough to approve
/// on the phone (two minutes by default) and download the result.
pub const SESSION_TTL: Duration = Duration::from_secs(15 * 60);

/// How many flows the demo keeps at once. Each running flow also has one
/// task waiting on the RP API, so this bounds those too.
pub const MAX_SESSIONS: usize = 1000;

/// One browser flow.
#[derive(Debug)]
pub enum Entry {
    /// Log in (by personal code or QR).
    Login(LoginSession),
    /// Sign a document.
    Sign(SignSession),
}

/// The map is full of flows that have not expired yet.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the demo has too many sessions in progress; try again in a few minutes")]
pub struct Full;

/// How a flow ended when it did not end with a verified result: a short
/// title and a sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What happened, in a few words.
    pub title: String,
    /// What it means, in a sentence.
    pub detail: String,
}

impl Failure {
    /// The failure of a session that completed with `end_result` (not OK).
    pub fn end_result(end_result: &str) -> Self {
        let detail = match end_result {
            "USER_REFUSED" | "USER_REFUSED_INTERACTION" | "USER_REFUSED_CERT_CHOICE" => {
                "The request was declined in the Kaksik app."
            }
            "TIMEOUT" => "Nobody approved the request in the Kaksik app in time.",
            "WRONG_VC" => "A wrong verification code was chosen in the Kaksik app.",
            "DOCUMENT_UNUSABLE" | "ACCOUNT_UNUSABLE" => {
                "The Kaksik account cannot be used: it is locked or disabled."
            }
            "REQUIRED_INTERACTION_NOT_SUPPORTED_BY_APP" => {
                "The Kaksik app cannot show this request."
            }
            "PROTOCOL_FAILURE" | "EXPECTED_LINKED_SESSION" => {
                "The Kaksik app and the server did not agree on the request."
            }
            _ => "The Kaksik server could not complete the request.",
        };
        Failure {
            title: format!("Not completed: {end_result}"),
            detail: detail.to_owned(),
        }
    }

    /// The failure of a call to the RP API or of a check on its answer.
    pub fn client(error: &RpClientError) -> Self {
        let (title, detail) = match error {
            RpClientError::Verification(what) => (
                "The result did not verify",
                format!("This page refused the answer: {what}."),
            ),
            RpClientError::Problem { status: 404, .. } => (
                "No Kaksik account",
                "Kaksik has no usable account for this person.".to_owned(),
            ),
            RpClientError::Problem { status, detail } => (
                "The Kaksik server refused",
                format!("It answered {status}: {detail}."),
            ),
            RpClientError::Network(what) | RpClientError::Unexpected(what) => {
                ("The Kaksik server could not be reached", format!("{what}."))
            }
        };
        Failure {
            title: title.to_owned(),
            detail,
        }
    }
}

/// The flows, by id.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, (Instant, Entry)>>,
}

impl Sessions {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The map, even if a thread panicked while holding it: every update
    /// below is a single insert or field assignment, so the map is never
    /// left half-changed.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Entry)>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a new flow would fit now (checked before a flow asks the RP
    /// API for anything, so a full demo starts no session it cannot keep).
    pub fn has_room(&self) -> bool {
        let mut map = self.lock();
        map.retain(|_, (created, _)| created.elapsed() < SESSION_TTL);
        map.len() < MAX_SESSIONS
    }

    /// Keeps `entry` under a new random id and returns the id.
    pub fn insert(&self, entry: Entry) -> Result<String, Full> {
        let mut map = self.lock();
        map.retain(|_, (created, _)| created.elapsed() < SESSION_TTL);
        if map.len() >= MAX_SESSIONS {
            return Err(Full);
        }
        let id = new_id();
        map.insert(id.clone(), (Instant::now(), entry));
        Ok(id)
    }

    /// Runs `f` on the flow `id`, if it exists and has not expired.
    pub fn with<R>(&self, id: &str, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let mut map = self.lock();
        match map.get_mut(id) {
            Some((created, entry)) if created.elapsed() < SESSION_TTL => Some(f(entry)),
            _ => None,
        }
    }
}

/// 128 random bits, hex: an id nobody can guess, safe in a URL and in
/// HTML without escaping.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo_rp::login::{LoginMethod, LoginSession};

    fn login() -> Entry {
        Entry::Login(LoginSession {
            method: LoginMethod::PersonalCode {
                vc: "1234".into(),
                semantics_id: "PNOEE-38001085718".into(),
            },
            result: None,
        })
    }

    #[test]
    fn ids_are_unguessable_hex() {
        let sessions = Sessions::new();
        let a = sessions.insert(login()).unwrap();
        let b = sessions.insert(login()).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn an_unknown_id_finds_nothing() {
        let sessions = Sessions::new();
        sessions.insert(login()).unwrap();
        assert!(sessions.with("0123", |_| ()).is_none());
    }

    #[test]
    fn the_map_refuses_new_flows_when_full() {
        let sessions = Sessions::new();
        for _ in 0..MAX_SESSIONS {
            sessions.insert(login()).unwrap();
        }
        assert!(!sessions.has_room());
        assert!(sessions.insert(login()).is_err());
    }

    #[test]
    fn a_declined_request_says_so() {
        let failure = Failure::end_result("USER_REFUSED_INTERACTION");
        assert!(failure.title.contains("USER_REFUSED_INTERACTION"));
        assert!(failure.detail.contains("declined"));
    }
}
