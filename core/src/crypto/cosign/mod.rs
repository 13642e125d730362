//! 2-of-2 P-256 ECDSA between the device and the server (DKLs23).
//!
//! This module is the only place in Kaksik that touches the
//! `dkls23-secp256r1` crate (unaudited, pinned with `=`). It turns the
//! crate's low-level phase functions into three small, transport-agnostic
//! protocols, each a chain of typed messages and single-use states:
//!
//! | protocol | device → server | server → device | result |
//! |---|---|---|---|
//! | [`dkg`] | `DkgRequest1`, `DkgRequest2`, `DkgConfirm` | `DkgResponse1`, `DkgResponse2` | a [`DeviceShare`] and a [`ServerShare`] of one joint key |
//! | [`sign`] | `SignRequest1`, `SignRequest2` | `SignResponse1` | an ordinary low-S ECDSA signature, combined and verified by the server |
//! | [`refresh`] | `RefreshRequest1`, `RefreshRequest2`, `RefreshConfirm` | `RefreshResponse1`, `RefreshResponse2` | both shares re-randomised to the next epoch, same public key |
//!
//! The device is always the client and the server the responder, so every
//! protocol maps onto HTTP request/response pairs. The server is the party
//! that combines the final signature.
//!
//! # State and messages
//!
//! Every message and every state is a serde type carried in a versioned
//! envelope ([`Wire`]): a format version and a kind tag precede the
//! postcard body, and decoding refuses a wrong version, a wrong kind,
//! trailing bytes or an oversize input before the crate sees anything.
//! A server may persist its state between requests; each state is consumed
//! by value by the step that uses it (no type here is `Clone`), and the
//! caller must delete the stored copy in the same transaction that answers
//! the step, because the crate cannot detect a replayed phase.
//!
//! Every message names the protocol run it belongs to ([`RunId`], agreed
//! by both sides beforehand, for example the transaction id); a message of
//! another run is refused before it reaches the crate.
//!
//! # Failures
//!
//! [`CosignError::CounterpartyCheated`] is DKLs23's ban rule: a failed
//! consistency or multiplication check, or a message that cannot have come
//! from an honest peer. It is never a PIN error: the PIN gate (see
//! [`super::vault`]) fails before this protocol starts. Everything else is
//! recoverable by starting a new run.
//!
//! The crate's phase functions document panics on inconsistent inputs; the
//! messages are checked for shape (sender, receiver, counts) before they are
//! handed over, and each call that reads peer data runs under
//! `catch_unwind` as a last line of defence, so a hostile message becomes
//! an error, never a crashed server.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use dkls23_secp256r1::protocols::{Abort, AbortKind, Parameters, PartyIndex};
use elliptic_curve::sec1::ToSec1Point;
use p256::ecdsa::VerifyingKey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::secret::SecretBytes;

pub mod dkg;
pub mod refresh;
pub mod sign;
mod wipe;

#[cfg(test)]
mod testing;

/// The dkls23 party type for P-256.
type Party = dkls23_secp256r1::Party;

/// Version of the envelope and of every body in this module. Bump it when
/// a message or state changes shape; old blobs are then refused, not
/// misread.
pub const WIRE_VERSION: u16 = 1;

/// Largest envelope [`Wire::from_bytes`] accepts. A DKG message is about
/// 150 KB, a stored party about 52 KB; nothing legitimate is near this.
pub const MAX_WIRE_BYTES: usize = 1 << 20;

/// Which side of the 2-of-2 protocol a party plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The phone. Its share is sealed in the PIN vault.
    Device,
    /// The co-signing server; it combines the final signature.
    Server,
}

impl Role {
    /// The dkls23 party index of this role (device 1, server 2).
    #[allow(clippy::expect_used)] // `PartyIndex::new` fails only for 0.
    fn index(self) -> PartyIndex {
        let index = match self {
            Role::Device => 1,
            Role::Server => 2,
        };
        PartyIndex::new(index).expect("1 and 2 are valid party indices")
    }

    fn other(self) -> Role {
        match self {
            Role::Device => Role::Server,
            Role::Server => Role::Device,
        }
    }

    fn of_index(index: PartyIndex) -> Option<Role> {
        match index.as_u8() {
            1 => Some(Role::Device),
            2 => Some(Role::Server),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Device => "device",
            Role::Server => "server",
        })
    }
}

/// 2-of-2 parameters (threshold 2, two parties).
fn parameters() -> Result<Parameters, CosignError> {
    Parameters::new(2, 2).map_err(|_| CosignError::Aborted {
        reason: "2-of-2 parameters rejected".into(),
    })
}

/// Identifies one run of a protocol. Both sides must use the same value,
/// and a value must never be reused for another run of the same key: it
/// becomes the dkls23 session id (DKG), sign id (signing) or refresh id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunId(pub [u8; 32]);

impl RunId {
    /// A fresh random run id.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        RunId(bytes)
    }

    /// The id as bytes, with a domain label so that the same 32 bytes used
    /// for different protocols still give different dkls23 session ids.
    fn session_bytes(&self, protocol: &str) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(protocol.len() + 1 + 32);
        bytes.extend_from_slice(b"kaksik/cosign/v1/");
        bytes.extend_from_slice(protocol.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&self.0);
        bytes
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({})", hex_prefix(&self.0))
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The digest to sign: 32, 48 or 64 bytes (SHA-256/384/512 or SHA3).
///
/// ECDSA over P-256 uses the leftmost 256 bits of a longer hash (SEC 1
/// §4.1.3 step 5), which is what standard verifiers do with the full
/// digest, so the signature verifies against the digest as given.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignDigest(Vec<u8>);

impl SignDigest {
    /// Accepts a 32-, 48- or 64-byte digest.
    pub fn new(digest: &[u8]) -> Result<Self, CosignError> {
        match digest.len() {
            32 | 48 | 64 => Ok(SignDigest(digest.to_vec())),
            len => Err(CosignError::BadDigestLength { len }),
        }
    }

    /// The digest as given.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The leftmost 256 bits, which is what ECDSA over P-256 signs.
    fn truncated(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // `new` guarantees at least 32 bytes.
        out.copy_from_slice(self.0.get(..32).unwrap_or(&[0u8; 32]));
        out
    }
}

impl fmt::Debug for SignDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignDigest({} bytes, {}…)",
            self.0.len(),
            hex_prefix(&self.0)
        )
    }
}

/// What can go wrong in a co-signing protocol.
///
/// Messages here never carry secret material; the `reason` strings come
/// from dkls23's abort reasons, which name checks, not values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    /// The ban rule: the other party failed a consistency check or sent a
    /// message no honest party sends. Disable the key; never retry.
    #[error("protocol failure: the {culprit} failed a check ({reason})")]
    CounterpartyCheated {
        /// Who is to blame.
        culprit: Role,
        /// Which check failed.
        reason: String,
    },
    /// The run stopped without proof of cheating (a stale or mismatched
    /// message, a degenerate random value). Start a new run.
    #[error("protocol aborted: {reason}")]
    Aborted {
        /// Why the run stopped.
        reason: String,
    },
    /// The bytes are not a valid envelope of the expected kind.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The kind that was expected.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// The envelope is of a format version this build does not speak.
    #[error("unsupported format version {found} (this build speaks {WIRE_VERSION})")]
    UnsupportedVersion {
        /// The version found in the envelope.
        found: u16,
    },
    /// The message belongs to another protocol run.
    #[error("message belongs to another protocol run")]
    WrongRun,
    /// The two shares are of different epochs (one side missed a refresh).
    #[error("share epochs differ: ours {ours}, theirs {theirs}")]
    EpochMismatch {
        /// Our share's epoch.
        ours: u64,
        /// The epoch the other side claims.
        theirs: u64,
    },
    /// The digest to sign is not 32, 48 or 64 bytes long.
    #[error("digest must be 32, 48 or 64 bytes, got {len}")]
    BadDigestLength {
        /// Length given.
        len: usize,
    },
    /// The combined signature does not verify under the joint key.
    #[error("combined signature does not verify under the joint public key")]
    InvalidSignature,
}

impl CosignError {
    /// Whether this is the ban rule: the key must be disabled and the
    /// person must register again.
    pub fn is_protocol_failure(&self) -> bool {
        matches!(self, CosignError::CounterpartyCheated { .. })
    }

    fn from_abort(abort: Abort) -> Self {
        match abort.kind {
            AbortKind::BanCounterparty(index) => CosignError::CounterpartyCheated {
                culprit: Role::of_index(index).unwrap_or(Role::Server),
                reason: abort.reason.to_string(),
            },
            AbortKind::Recoverable => CosignError::Aborted {
                reason: abort.reason.to_string(),
            },
        }
    }

    fn cheated(culprit: Role, reason: impl Into<String>) -> Self {
        CosignError::CounterpartyCheated {
            culprit,
            reason: reason.into(),
        }
    }
}

/// Runs a dkls23 call that reads the peer's data. The crate documents
/// panics on inconsistent inputs; a panic caused by a peer's message is
/// that peer's fault, so it becomes the ban rule, not a crash.
fn guarded<T>(peer: Role, call: impl FnOnce() -> Result<T, Abort>) -> Result<T, CosignError> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(CosignError::from_abort),
        Err(_) => Err(CosignError::cheated(
            peer,
            "message made the protocol engine panic",
        )),
    }
}

/// A party's share of one joint key at one epoch. Secret: zeroized on drop
/// (dkls23's `Party` wipes itself), redacted in `Debug`, never `Clone`.
struct KeyShare {
    epoch: u64,
    party: Party,
}

#[derive(Serialize, Deserialize)]
struct KeyShareBody {
    epoch: u64,
    party: Party,
}

impl KeyShare {
    fn public_key(&self) -> Result<VerifyingKey, CosignError> {
        VerifyingKey::from_affine(self.party.pk).map_err(|_| CosignError::Aborted {
            reason: "joint public key is the identity".into(),
        })
    }
}

macro_rules! share_type {
    ($name:ident, $role:expr, $kind:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(KeyShare);

        impl $name {
            /// The joint public key (the same for both shares of a key).
            pub fn public_key(&self) -> Result<VerifyingKey, CosignError> {
                self.0.public_key()
            }

            /// The epoch: 0 after DKG, +1 after every refresh.
            pub fn epoch(&self) -> u64 {
                self.0.epoch
            }

            /// The share as a secret blob, for the vault (device) or the
            /// encrypted store (server).
            pub fn to_secret_bytes(&self) -> Result<SecretBytes, CosignError> {
                let body = BodyRef::<KeyShareBodyRef> {
                    version: WIRE_VERSION,
                    kind: $kind,
                    body: KeyShareBodyRef {
                        epoch: self.0.epoch,
                        party: &self.0.party,
                    },
                };
                encode_secret(&body, stringify!($name))
            }

            /// Parses a blob made by `to_secret_bytes`.
            pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, CosignError> {
                let body: KeyShareBody = decode(bytes, $kind, stringify!($name))?;
                if Role::of_index(body.party.party_index) != Some($role) {
                    return Err(CosignError::Malformed {
                        what: stringify!($name),
                        detail: "share of the other role".into(),
                    });
                }
                Ok($name(KeyShare {
                    epoch: body.epoch,
                    party: body.party,
                }))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "{}(epoch {}, [REDACTED])",
                    stringify!($name),
                    self.0.epoch
                )
            }
        }
    };
}

share_type!(
    DeviceShare,
    Role::Device,
    Kind::DeviceShare,
    "The device's share of a joint key. Store it only sealed in the PIN vault."
);
share_type!(
    ServerShare,
    Role::Server,
    Kind::ServerShare,
    "The server's share of a joint key. Store it only encrypted at rest."
);

#[derive(Serialize)]
struct KeyShareBodyRef<'a> {
    epoch: u64,
    party: &'a Party,
}

/// Kind tags of every envelope, so that one kind's bytes never decode as
/// another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum Kind {
    /// [`DeviceShare`].
    DeviceShare = 1,
    /// [`ServerShare`].
    ServerShare = 2,
    /// [`dkg::DkgRequest1`].
    DkgRequest1 = 10,
    /// [`dkg::DkgResponse1`].
    DkgResponse1 = 11,
    /// [`dkg::DkgRequest2`].
    DkgRequest2 = 12,
    /// [`dkg::DkgResponse2`].
    DkgResponse2 = 13,
    /// [`dkg::DkgConfirm`].
    DkgConfirm = 14,
    /// [`dkg::ServerDkgRound1`].
    ServerDkgRound1 = 15,
    /// [`dkg::ServerDkgPending`].
    ServerDkgPending = 16,
    /// [`sign::SignRequest1`].
    SignRequest1 = 20,
    /// [`sign::SignResponse1`].
    SignResponse1 = 21,
    /// [`sign::SignRequest2`].
    SignRequest2 = 22,
    /// [`sign::ServerSignRound1`].
    ServerSignRound1 = 23,
    /// [`refresh::RefreshRequest1`].
    RefreshRequest1 = 30,
    /// [`refresh::RefreshResponse1`].
    RefreshResponse1 = 31,
    /// [`refresh::RefreshRequest2`].
    RefreshRequest2 = 32,
    /// [`refresh::RefreshResponse2`].
    RefreshResponse2 = 33,
    /// [`refresh::RefreshConfirm`].
    RefreshConfirm = 34,
    /// [`refresh::ServerRefreshRound1`].
    ServerRefreshRound1 = 35,
    /// [`refresh::ServerRefreshPending`].
    ServerRefreshPending = 36,
}

#[derive(Serialize)]
struct BodyRef<T> {
    version: u16,
    kind: Kind,
    body: T,
}

#[derive(Deserialize)]
struct Header {
    version: u16,
    kind: Kind,
}

/// A message or state that travels or rests as bytes.
///
/// Every implementor is a serde type carried in the versioned envelope
/// `{ version, kind, body }`. Encoded bytes may hold secret material (DKG
/// fragments, OT seeds, nonce shares), so they come back as
/// [`SecretBytes`]: send them through the end-to-end encrypted channel,
/// store them encrypted, and let them be wiped.
pub trait Wire: Sized {
    /// This type's kind tag.
    const KIND: Kind;
    /// Encodes into the versioned envelope.
    fn to_bytes(&self) -> Result<SecretBytes, CosignError>;
    /// Decodes and checks the envelope (version, kind, no trailing bytes).
    fn from_bytes(bytes: &[u8]) -> Result<Self, CosignError>;
}

/// Implements [`Wire`] and a redacted `Debug` for a serde body type.
macro_rules! wire_type {
    ($name:ident) => {
        impl $crate::crypto::cosign::Wire for $name {
            const KIND: $crate::crypto::cosign::Kind = $crate::crypto::cosign::Kind::$name;

            fn to_bytes(
                &self,
            ) -> Result<$crate::crypto::cosign::SecretBytes, $crate::crypto::cosign::CosignError>
            {
                $crate::crypto::cosign::encode_body(self, Self::KIND, stringify!($name))
            }

            fn from_bytes(bytes: &[u8]) -> Result<Self, $crate::crypto::cosign::CosignError> {
                $crate::crypto::cosign::decode(bytes, Self::KIND, stringify!($name))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(run {:?}, [REDACTED])", stringify!($name), self.run)
            }
        }
    };
}
pub(crate) use wire_type;

fn encode_body<T: Serialize>(
    body: &T,
    kind: Kind,
    what: &'static str,
) -> Result<SecretBytes, CosignError> {
    encode_secret(
        &BodyRef {
            version: WIRE_VERSION,
            kind,
            body,
        },
        what,
    )
}

/// Serializes into a buffer allocated once at its final size, so no
/// reallocation leaves a partial copy of the secret in freed memory.
fn encode_secret<T: Serialize>(value: &T, what: &'static str) -> Result<SecretBytes, CosignError> {
    let malformed = |error: postcard::Error| CosignError::Malformed {
        what,
        detail: error.to_string(),
    };
    let size = postcard::experimental::serialized_size(value).map_err(malformed)?;
    let buffer = postcard::to_extend(value, Vec::with_capacity(size)).map_err(malformed)?;
    Ok(SecretBytes::new(buffer))
}

fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    kind: Kind,
    what: &'static str,
) -> Result<T, CosignError> {
    let malformed = |detail: String| CosignError::Malformed { what, detail };
    if bytes.len() > MAX_WIRE_BYTES {
        return Err(malformed(format!(
            "{} bytes is over the limit",
            bytes.len()
        )));
    }
    let (header, body): (Header, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|e| malformed(e.to_string()))?;
    if header.version != WIRE_VERSION {
        return Err(CosignError::UnsupportedVersion {
            found: header.version,
        });
    }
    if header.kind != kind {
        return Err(malformed(format!("a {:?} envelope", header.kind)));
    }
    let (value, rest) = postcard::take_from_bytes(body).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

/// The one message dkls23 produced for the one counterparty of a 2-of-2
/// run (its phase functions return one per counterparty).
fn only<T>(items: Vec<T>, what: &str) -> Result<T, CosignError> {
    let mut items = items.into_iter();
    match (items.next(), items.next()) {
        (Some(item), None) => Ok(item),
        _ => Err(CosignError::Aborted {
            reason: format!("dkls23 returned other than one {what} message"),
        }),
    }
}

/// The fragment `p_i(j)` that a party's (DKG or refresh) polynomial gives
/// party `j`: slot `j - 1` of dkls23's phase-1 output.
fn fragment_for(fragments: &[p256::Scalar], to: Role) -> Result<p256::Scalar, CosignError> {
    let slot = usize::from(to.index().as_u8()) - 1;
    fragments
        .get(slot)
        .copied()
        .ok_or_else(|| CosignError::Aborted {
            reason: "dkls23 returned too few polynomial fragments".into(),
        })
}

/// Refuses a message about a share of another epoch.
fn check_epoch(share: &KeyShare, theirs: u64) -> Result<(), CosignError> {
    if share.epoch != theirs {
        return Err(CosignError::EpochMismatch {
            ours: share.epoch,
            theirs,
        });
    }
    Ok(())
}

/// SEC1 compressed encoding of a joint public key, as carried in the
/// confirmation messages.
fn compressed(key: &VerifyingKey) -> Vec<u8> {
    key.as_affine().to_sec1_point(true).as_bytes().to_vec()
}

/// Checks that a message was sent by `from` to `to`.
fn check_route(
    parties: &dkls23_secp256r1::protocols::PartiesMessage,
    from: Role,
    to: Role,
) -> Result<(), CosignError> {
    if parties.sender != from.index() || parties.receiver != to.index() {
        return Err(CosignError::cheated(
            from,
            "message routed between the wrong parties",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use elliptic_curve::sec1::ToSec1Point;
    use p256::{AffinePoint, ProjectivePoint, Scalar};

    use super::testing::dkg_pair;
    use crate::crypto::secret::Secret32;
    use crate::crypto::vault::{self, VaultKey};
    use crate::role::KeyRole;

    /// Every encoding a point could be stored in: SEC1 compressed and
    /// uncompressed, and the bare x-coordinate.
    fn encodings(point: &AffinePoint) -> Vec<Vec<u8>> {
        let compressed = point.to_sec1_point(true).as_bytes().to_vec();
        let uncompressed = point.to_sec1_point(false).as_bytes().to_vec();
        let x = compressed[1..].to_vec();
        vec![compressed, uncompressed, x]
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    #[test]
    fn stored_device_state_holds_neither_sides_public_share() {
        let (device, server) = dkg_pair();
        let g = ProjectivePoint::GENERATOR;
        let device_point = g * device.0.party.poly_point;
        let server_point = g * server.0.party.poly_point;
        // Signing uses Lagrange-weighted shares: λ₁ = 2, λ₂ = −1 for {1, 2}.
        let public_shares = [
            device_point,
            server_point,
            device_point * Scalar::from(2u64),
            -server_point,
        ];

        let plaintext = device.to_secret_bytes().unwrap();
        let key = VaultKey::derive(
            &Secret32::random(),
            &Secret32::random(),
            "PNOEE-38001085718-ABCD-Q",
            KeyRole::Auth,
        )
        .unwrap();
        let sealed = vault::seal(
            &key,
            "PNOEE-38001085718-ABCD-Q",
            KeyRole::Auth,
            0,
            &plaintext,
        )
        .unwrap()
        .to_bytes();

        // The search works: the joint public key (public, allowed) is there.
        let joint = device.public_key().unwrap();
        assert!(
            encodings(joint.as_affine())
                .iter()
                .any(|e| contains(plaintext.expose(), e))
        );
        for share in public_shares {
            for encoding in encodings(&share.to_affine()) {
                assert!(
                    !contains(plaintext.expose(), &encoding),
                    "share state leaks a public share"
                );
                assert!(
                    !contains(&sealed, &encoding),
                    "sealed blob leaks a public share"
                );
            }
        }
    }
}
