//! The PIN gate end to end (PROTOCOL.md §2, §3): a real OPRF round between
//! a device and a server, the sealed share, and the unlock proof.

use kaksik_core::crypto::oprf::{self, BlindedElement, EvaluatedElement, OprfServerKey};
use kaksik_core::crypto::secret::{Secret32, SecretBytes};
use kaksik_core::crypto::vault::{
    FormatError, MAX_PLAINTEXT_LEN, MAX_SEALED_LEN, MIN_SEALED_LEN, SealedShare, UnlockProofKey,
    VaultError, VaultKey, open, pin_input, seal, unlock_proof, verify_unlock_proof,
};
use kaksik_core::pin::{Pin, PinKind};
use kaksik_core::role::KeyRole;

const ACCOUNT: &str = "PNOEE-38001085718-ABCD-Q";
const OTHER_ACCOUNT: &str = "PNOEE-38001085719-ABCD-Q";
const PIN1: &str = "2580";
const PIN2: &str = "25801";
const EPOCH: u64 = 7;

/// Shared fixtures: one server with an OPRF key per role, one device with
/// its salt, and the share state the vault locks.
#[cfg(test)]
mod fixture {
    use super::*;

    pub struct Server {
        auth: OprfServerKey,
        sign: OprfServerKey,
    }

    impl Server {
        pub fn new() -> Self {
            Self {
                auth: OprfServerKey::random(),
                sign: OprfServerKey::random(),
            }
        }

        /// BlindEvaluate, from bytes to bytes as over the device API.
        pub fn evaluate(&self, role: KeyRole, blinded: &[u8]) -> [u8; 33] {
            let key = match role {
                KeyRole::Auth => &self.auth,
                KeyRole::Sign => &self.sign,
            };
            let blinded = BlindedElement::from_bytes(blinded).unwrap();
            oprf::evaluate(key, &blinded).to_bytes()
        }
    }

    pub struct Device {
        pub account_id: &'static str,
        pub salt: Secret32,
    }

    impl Device {
        pub fn new() -> Self {
            Self {
                account_id: ACCOUNT,
                salt: Secret32::random(),
            }
        }

        /// One full OPRF round for `pin`: the `y` of PROTOCOL.md §2.
        pub fn oprf_output(&self, server: &Server, role: KeyRole, pin: &str) -> Secret32 {
            let pin = Pin::parse(PinKind::from(role), pin).unwrap();
            let input = pin_input(self.account_id, role, &pin).unwrap();
            let (state, blinded) = oprf::blind(input.expose()).unwrap();
            let evaluated = server.evaluate(role, &blinded.to_bytes());
            let evaluated = EvaluatedElement::from_bytes(&evaluated).unwrap();
            oprf::finalize(input.expose(), state, &evaluated).unwrap()
        }

        pub fn vault_key(&self, server: &Server, role: KeyRole, pin: &str) -> VaultKey {
            let y = self.oprf_output(server, role, pin);
            VaultKey::derive(&y, &self.salt, self.account_id, role).unwrap()
        }

        pub fn proof_key(&self, server: &Server, role: KeyRole, pin: &str) -> UnlockProofKey {
            let y = self.oprf_output(server, role, pin);
            UnlockProofKey::derive(&y, &self.salt, self.account_id, role).unwrap()
        }

        /// PIN setup: seal the share state, store the blob's bytes.
        pub fn setup(&self, server: &Server, role: KeyRole, pin: &str) -> Vec<u8> {
            let key = self.vault_key(server, role, pin);
            seal(&key, self.account_id, role, EPOCH, &share_state())
                .unwrap()
                .to_bytes()
        }

        /// Unlock: a fresh OPRF round, then open the stored bytes.
        pub fn unlock(
            &self,
            server: &Server,
            role: KeyRole,
            pin: &str,
            stored: &[u8],
        ) -> Result<SecretBytes, VaultError> {
            let key = self.vault_key(server, role, pin);
            let sealed = SealedShare::from_bytes(stored)?;
            open(&key, self.account_id, role, EPOCH, &sealed)
        }
    }

    pub fn share_state() -> SecretBytes {
        SecretBytes::from_slice(b"serialized co-signing share state and epoch token")
    }

    /// A vault key from fixed inputs, for tests that need no OPRF round.
    pub fn fixed_key(account_id: &str, role: KeyRole) -> VaultKey {
        VaultKey::derive(
            &Secret32::new([1; 32]),
            &Secret32::new([2; 32]),
            account_id,
            role,
        )
        .unwrap()
    }

    pub fn fixed_blob() -> Vec<u8> {
        let key = fixed_key(ACCOUNT, KeyRole::Auth);
        seal(&key, ACCOUNT, KeyRole::Auth, EPOCH, &share_state())
            .unwrap()
            .to_bytes()
    }
}

use fixture::{Device, Server, fixed_blob, fixed_key, share_state};

// ---- the gate ----

#[test]
fn the_right_pin_opens_the_share_it_sealed() {
    let (server, device) = (Server::new(), Device::new());
    let stored = device.setup(&server, KeyRole::Auth, PIN1);
    let opened = device
        .unlock(&server, KeyRole::Auth, PIN1, &stored)
        .unwrap();
    assert_eq!(opened, share_state());
}

#[test]
fn the_right_pin2_opens_the_signing_share() {
    let (server, device) = (Server::new(), Device::new());
    let stored = device.setup(&server, KeyRole::Sign, PIN2);
    let opened = device
        .unlock(&server, KeyRole::Sign, PIN2, &stored)
        .unwrap();
    assert_eq!(opened, share_state());
}

#[test]
fn a_wrong_pin_is_wrong_pin() {
    let (server, device) = (Server::new(), Device::new());
    let stored = device.setup(&server, KeyRole::Auth, PIN1);
    assert_eq!(
        device.unlock(&server, KeyRole::Auth, "2581", &stored),
        Err(VaultError::WrongPin)
    );
}

#[test]
fn another_server_oprf_key_is_wrong_pin() {
    let (server, device) = (Server::new(), Device::new());
    let stored = device.setup(&server, KeyRole::Auth, PIN1);
    assert_eq!(
        device.unlock(&Server::new(), KeyRole::Auth, PIN1, &stored),
        Err(VaultError::WrongPin)
    );
}

#[test]
fn another_device_salt_does_not_open_the_share() {
    let (server, device) = (Server::new(), Device::new());
    let stored = device.setup(&server, KeyRole::Auth, PIN1);
    let copy_elsewhere = Device {
        salt: Secret32::random(),
        ..Device::new()
    };
    assert_eq!(
        copy_elsewhere.unlock(&server, KeyRole::Auth, PIN1, &stored),
        Err(VaultError::WrongPin)
    );
}

#[test]
fn another_account_id_does_not_open_the_share() {
    let (server, device) = (Server::new(), Device::new());
    let stored = device.setup(&server, KeyRole::Auth, PIN1);
    let other = Device {
        account_id: OTHER_ACCOUNT,
        salt: device.salt.clone(),
    };
    assert_eq!(
        other.unlock(&server, KeyRole::Auth, PIN1, &stored),
        Err(VaultError::WrongPin)
    );
}

#[test]
fn the_account_id_is_authenticated_even_under_the_right_key() {
    let (server, device) = (Server::new(), Device::new());
    let key = device.vault_key(&server, KeyRole::Auth, PIN1);
    let sealed = seal(&key, ACCOUNT, KeyRole::Auth, EPOCH, &share_state()).unwrap();
    assert_eq!(
        open(&key, OTHER_ACCOUNT, KeyRole::Auth, EPOCH, &sealed),
        Err(VaultError::WrongPin)
    );
}

#[test]
fn a_pin_change_reseals_under_the_new_pin_only() {
    let (server, device) = (Server::new(), Device::new());
    let stored = device.setup(&server, KeyRole::Auth, PIN1);
    let state = device
        .unlock(&server, KeyRole::Auth, PIN1, &stored)
        .unwrap();
    let new_key = device.vault_key(&server, KeyRole::Auth, "4711");
    let resealed = seal(&new_key, ACCOUNT, KeyRole::Auth, EPOCH, &state)
        .unwrap()
        .to_bytes();
    assert_eq!(
        device.unlock(&server, KeyRole::Auth, "4711", &resealed),
        Ok(share_state())
    );
    assert_eq!(
        device.unlock(&server, KeyRole::Auth, PIN1, &resealed),
        Err(VaultError::WrongPin)
    );
}

#[test]
fn pin2_cannot_make_the_input_for_the_authentication_key() {
    let pin2 = Pin::parse(PinKind::Pin2, PIN2).unwrap();
    assert_eq!(
        pin_input(ACCOUNT, KeyRole::Auth, &pin2).unwrap_err(),
        VaultError::PinRoleMismatch {
            pin: PinKind::Pin2,
            role: KeyRole::Auth
        }
    );
}

#[test]
fn the_pin_input_frames_every_field_with_its_length() {
    let pin = Pin::parse(PinKind::Pin1, PIN1).unwrap();
    let input = pin_input("acct", KeyRole::Auth, &pin).unwrap();
    assert_eq!(
        input.expose(),
        b"\x00\x0dkaksik-pin-v1\x00\x04acct\x00\x04auth\x00\x042580"
    );
}

#[test]
fn an_account_id_ending_in_digits_cannot_collide_with_a_longer_pin() {
    let short = Pin::parse(PinKind::Pin1, "2580").unwrap();
    let long = Pin::parse(PinKind::Pin1, "12580").unwrap();
    assert_ne!(
        pin_input("acme1", KeyRole::Auth, &short).unwrap(),
        pin_input("acme", KeyRole::Auth, &long).unwrap()
    );
}

// ---- epochs and roles ----

#[test]
fn a_share_for_epoch_e_does_not_open_as_epoch_e_plus_1() {
    let key = fixed_key(ACCOUNT, KeyRole::Auth);
    let sealed = SealedShare::from_bytes(&fixed_blob()).unwrap();
    assert_eq!(
        open(&key, ACCOUNT, KeyRole::Auth, EPOCH + 1, &sealed),
        Err(VaultError::EpochMismatch {
            expected: EPOCH + 1,
            found: EPOCH
        })
    );
}

#[test]
fn a_header_edited_to_claim_epoch_e_plus_1_fails_authentication() {
    let key = fixed_key(ACCOUNT, KeyRole::Auth);
    let mut blob = fixed_blob();
    // Epoch: bytes 5..13, big-endian.
    blob[5..13].copy_from_slice(&(EPOCH + 1).to_be_bytes());
    let edited = SealedShare::from_bytes(&blob).unwrap();
    assert_eq!(edited.epoch(), EPOCH + 1);
    assert_eq!(
        open(&key, ACCOUNT, KeyRole::Auth, EPOCH + 1, &edited),
        Err(VaultError::WrongPin)
    );
}

#[test]
fn opening_as_the_other_role_is_a_role_mismatch() {
    let key = fixed_key(ACCOUNT, KeyRole::Sign);
    let sealed = SealedShare::from_bytes(&fixed_blob()).unwrap();
    assert_eq!(
        open(&key, ACCOUNT, KeyRole::Sign, EPOCH, &sealed),
        Err(VaultError::RoleMismatch {
            expected: KeyRole::Sign,
            found: KeyRole::Auth
        })
    );
}

#[test]
fn a_header_edited_to_claim_the_other_role_fails_authentication() {
    let mut blob = fixed_blob();
    blob[4] = KeyRole::Sign.as_byte();
    let edited = SealedShare::from_bytes(&blob).unwrap();
    assert_eq!(edited.role(), KeyRole::Sign);
    for key in [
        fixed_key(ACCOUNT, KeyRole::Auth),
        fixed_key(ACCOUNT, KeyRole::Sign),
    ] {
        assert_eq!(
            open(&key, ACCOUNT, KeyRole::Sign, EPOCH, &edited),
            Err(VaultError::WrongPin)
        );
    }
}

#[test]
fn the_signing_key_of_the_same_pin_digits_does_not_open_the_auth_share() {
    // Same y for both roles: only the role in the KEK's info differs.
    let sealed = SealedShare::from_bytes(&fixed_blob()).unwrap();
    let sign_key = fixed_key(ACCOUNT, KeyRole::Sign);
    assert_eq!(
        open(&sign_key, ACCOUNT, KeyRole::Auth, EPOCH, &sealed),
        Err(VaultError::WrongPin)
    );
}

// ---- the blob ----

#[test]
fn a_blob_round_trips_through_its_bytes() {
    let blob = fixed_blob();
    let sealed = SealedShare::from_bytes(&blob).unwrap();
    assert_eq!(sealed.to_bytes(), blob);
    assert_eq!(sealed.role(), KeyRole::Auth);
    assert_eq!(sealed.epoch(), EPOCH);
    assert_eq!(blob.len(), MIN_SEALED_LEN + share_state().len());
}

#[test]
fn a_blob_starts_with_magic_version_role_and_epoch() {
    let blob = fixed_blob();
    assert_eq!(&blob[..3], b"KSV");
    assert_eq!(blob[3], 1);
    assert_eq!(blob[4], KeyRole::Auth.as_byte());
    assert_eq!(blob[5..13], EPOCH.to_be_bytes());
}

#[test]
fn sealing_twice_uses_a_fresh_nonce() {
    let key = fixed_key(ACCOUNT, KeyRole::Auth);
    let a = seal(&key, ACCOUNT, KeyRole::Auth, EPOCH, &share_state()).unwrap();
    let b = seal(&key, ACCOUNT, KeyRole::Auth, EPOCH, &share_state()).unwrap();
    assert_ne!(a.to_bytes()[13..25], b.to_bytes()[13..25]);
    assert_ne!(a, b);
}

#[test]
fn the_blob_does_not_contain_the_plaintext() {
    let blob = fixed_blob();
    let plain = share_state();
    assert!(
        !blob
            .windows(8)
            .any(|w| plain.expose().windows(8).any(|p| p == w))
    );
}

#[test]
fn an_empty_plaintext_seals_and_opens() {
    let key = fixed_key(ACCOUNT, KeyRole::Auth);
    let sealed = seal(&key, ACCOUNT, KeyRole::Auth, 0, &SecretBytes::default()).unwrap();
    assert_eq!(sealed.to_bytes().len(), MIN_SEALED_LEN);
    let opened = open(&key, ACCOUNT, KeyRole::Auth, 0, &sealed).unwrap();
    assert!(opened.is_empty());
}

#[test]
fn a_plaintext_over_the_cap_is_refused_so_every_blob_parses() {
    let key = fixed_key(ACCOUNT, KeyRole::Auth);
    let largest = SecretBytes::new(vec![0; MAX_PLAINTEXT_LEN]);
    let sealed = seal(&key, ACCOUNT, KeyRole::Auth, 0, &largest).unwrap();
    assert_eq!(sealed.to_bytes().len(), MAX_SEALED_LEN);
    assert!(SealedShare::from_bytes(&sealed.to_bytes()).is_ok());
    let too_large = SecretBytes::new(vec![0; MAX_PLAINTEXT_LEN + 1]);
    assert_eq!(
        seal(&key, ACCOUNT, KeyRole::Auth, 0, &too_large),
        Err(VaultError::PlaintextTooLarge {
            len: MAX_PLAINTEXT_LEN + 1,
            max: MAX_PLAINTEXT_LEN
        })
    );
}

#[test]
fn wrong_magic_is_not_a_sealed_share() {
    let mut blob = fixed_blob();
    blob[0] = b'X';
    assert_eq!(SealedShare::from_bytes(&blob), Err(FormatError::BadMagic));
}

#[test]
fn an_unknown_format_version_is_named() {
    let mut blob = fixed_blob();
    blob[3] = 2;
    assert_eq!(
        SealedShare::from_bytes(&blob),
        Err(FormatError::UnsupportedVersion { version: 2 })
    );
    // Even when the rest would not fit this version's layout.
    assert_eq!(
        SealedShare::from_bytes(b"KSV\x09"),
        Err(FormatError::UnsupportedVersion { version: 9 })
    );
}

#[test]
fn an_unknown_role_byte_is_named() {
    let mut blob = fixed_blob();
    blob[4] = 0;
    assert_eq!(
        SealedShare::from_bytes(&blob),
        Err(FormatError::UnknownRole { byte: 0 })
    );
}

#[test]
fn a_blob_without_room_for_nonce_and_tag_is_too_short() {
    let blob = fixed_blob();
    for len in [0, 2, 3, 4, 13, 25, MIN_SEALED_LEN - 1] {
        assert_eq!(
            SealedShare::from_bytes(&blob[..len]),
            Err(FormatError::TooShort {
                len,
                min: MIN_SEALED_LEN
            }),
            "length {len}"
        );
    }
}

#[test]
fn a_blob_over_one_mebibyte_is_too_long() {
    let mut blob = fixed_blob();
    blob.resize(MAX_SEALED_LEN + 1, 0);
    assert_eq!(
        SealedShare::from_bytes(&blob),
        Err(FormatError::TooLong {
            len: MAX_SEALED_LEN + 1,
            max: MAX_SEALED_LEN
        })
    );
}

#[test]
fn a_truncated_tag_is_wrong_pin_not_a_crash() {
    let key = fixed_key(ACCOUNT, KeyRole::Auth);
    let blob = fixed_blob();
    let shorter = SealedShare::from_bytes(&blob[..blob.len() - 1]).unwrap();
    assert_eq!(
        open(&key, ACCOUNT, KeyRole::Auth, EPOCH, &shorter),
        Err(VaultError::WrongPin)
    );
}

// ---- the unlock proof ----

#[test]
fn the_unlock_proof_verifies_for_its_evaluation_id() {
    let (server, device) = (Server::new(), Device::new());
    let stored_on_server = device.proof_key(&server, KeyRole::Auth, PIN1).to_bytes();
    let proof = unlock_proof(
        &device.proof_key(&server, KeyRole::Auth, PIN1),
        b"evaluation-42",
    );
    assert!(verify_unlock_proof(
        &stored_on_server,
        b"evaluation-42",
        &proof
    ));
}

#[test]
fn the_unlock_proof_does_not_verify_for_another_evaluation_id() {
    let (server, device) = (Server::new(), Device::new());
    let key = device.proof_key(&server, KeyRole::Auth, PIN1);
    let proof = unlock_proof(&key, b"evaluation-42");
    assert!(!verify_unlock_proof(
        &key.to_bytes(),
        b"evaluation-43",
        &proof
    ));
}

#[test]
fn a_wrong_pin_cannot_make_a_proof_that_verifies() {
    let (server, device) = (Server::new(), Device::new());
    let stored_on_server = device.proof_key(&server, KeyRole::Auth, PIN1).to_bytes();
    let guess = device.proof_key(&server, KeyRole::Auth, "2581");
    let proof = unlock_proof(&guess, b"evaluation-42");
    assert!(!verify_unlock_proof(
        &stored_on_server,
        b"evaluation-42",
        &proof
    ));
}

#[test]
fn a_truncated_or_extended_proof_does_not_verify() {
    let key = UnlockProofKey::derive(
        &Secret32::new([1; 32]),
        &Secret32::new([2; 32]),
        ACCOUNT,
        KeyRole::Auth,
    )
    .unwrap();
    let proof = unlock_proof(&key, b"e");
    assert!(!verify_unlock_proof(&key.to_bytes(), b"e", &proof[..31]));
    let mut longer = proof.to_vec();
    longer.push(0);
    assert!(!verify_unlock_proof(&key.to_bytes(), b"e", &longer));
    assert!(!verify_unlock_proof(&key.to_bytes(), b"e", &[]));
}

#[test]
fn the_unlock_proof_key_is_not_the_vault_key() {
    // Same y, salt, account and role: the labels alone keep them apart, so
    // the server's K_proof says nothing about the KEK.
    let y = Secret32::new([1; 32]);
    let salt = Secret32::new([2; 32]);
    let proof_key = UnlockProofKey::derive(&y, &salt, ACCOUNT, KeyRole::Auth).unwrap();
    let vault_key = VaultKey::derive(&y, &salt, ACCOUNT, KeyRole::Auth).unwrap();
    let sealed = seal(&vault_key, ACCOUNT, KeyRole::Auth, 0, &share_state()).unwrap();
    let as_if_kek = VaultKey::derive(&proof_key.to_bytes(), &salt, ACCOUNT, KeyRole::Auth).unwrap();
    assert_eq!(
        open(&as_if_kek, ACCOUNT, KeyRole::Auth, 0, &sealed),
        Err(VaultError::WrongPin)
    );
}

// ---- nothing secret in Debug or errors ----

#[test]
fn debug_of_every_secret_type_shows_no_key_bytes() {
    let y = Secret32::new([0xa7; 32]);
    let salt = Secret32::new([0xb8; 32]);
    let vault_key = VaultKey::derive(&y, &salt, ACCOUNT, KeyRole::Auth).unwrap();
    let proof_key = UnlockProofKey::derive(&y, &salt, ACCOUNT, KeyRole::Auth).unwrap();
    let proof_bytes = proof_key.to_bytes();
    let oprf_key = OprfServerKey::from_bytes(&Secret32::new([0x3c; 32])).unwrap();
    let pin = Pin::parse(PinKind::Pin1, PIN1).unwrap();
    let input = pin_input(ACCOUNT, KeyRole::Auth, &pin).unwrap();
    let (state, _) = oprf::blind(input.expose()).unwrap();

    assert_eq!(format!("{vault_key:?}"), "VaultKey([REDACTED])");
    assert_eq!(format!("{proof_key:?}"), "UnlockProofKey([REDACTED])");
    assert_eq!(format!("{proof_bytes:?}"), "Secret32([REDACTED])");
    assert_eq!(format!("{oprf_key:?}"), "OprfServerKey([REDACTED])");
    assert_eq!(format!("{state:?}"), "OprfClientState([REDACTED])");
    assert_eq!(format!("{input:?}"), "SecretBytes([REDACTED])");
    assert_eq!(format!("{y:?}"), "Secret32([REDACTED])");
    assert!(!format!("{pin:?}").contains(PIN1));

    let hex_proof: String = proof_bytes
        .expose()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for shown in [format!("{proof_key:?}"), format!("{proof_bytes:?}")] {
        assert!(!shown.contains(&hex_proof[..8]));
    }
}

#[test]
fn debug_of_a_sealed_share_shows_no_ciphertext() {
    let sealed = SealedShare::from_bytes(&fixed_blob()).unwrap();
    let shown = format!("{sealed:?}");
    assert!(shown.contains("epoch: 7"), "{shown}");
    assert!(!shown.contains('['), "{shown}");
}

#[test]
fn error_messages_carry_no_secret_bytes() {
    let errors = [
        VaultError::WrongPin,
        VaultError::EpochMismatch {
            expected: 8,
            found: 7,
        },
        VaultError::RoleMismatch {
            expected: KeyRole::Sign,
            found: KeyRole::Auth,
        },
        VaultError::Format(FormatError::BadMagic),
    ];
    for err in errors {
        let text = format!("{err} {err:?}");
        assert!(!text.contains(PIN1));
        assert!(!text.contains(ACCOUNT));
    }
}
