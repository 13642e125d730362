//! Which of an account's two co-signed keys a value belongs to.
//!
//! Every account has an authentication key (unlocked by PIN1) and a signing
//! key (unlocked by PIN2). The role is bound into every derivation, AAD and
//! transcript, so material for one key can never be used for the other.

use serde::{Deserialize, Serialize};

/// The authentication key (PIN1) or the signing key (PIN2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// The authentication key, unlocked with PIN1.
    Auth,
    /// The signing (non-repudiation) key, unlocked with PIN2.
    Sign,
}

impl KeyRole {
    /// Both roles, in the order they are created at registration.
    pub const ALL: [KeyRole; 2] = [KeyRole::Auth, KeyRole::Sign];

    /// The label bound into derivations: `"auth"` or `"sign"`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Auth => "auth",
            KeyRole::Sign => "sign",
        }
    }

    /// One byte for binary headers.
    pub fn as_byte(self) -> u8 {
        match self {
            KeyRole::Auth => 1,
            KeyRole::Sign => 2,
        }
    }

    /// The inverse of [`KeyRole::as_byte`].
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(KeyRole::Auth),
            2 => Some(KeyRole::Sign),
            _ => None,
        }
    }
}

impl std::fmt::Display for KeyRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
