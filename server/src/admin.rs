//! Operator actions, for `kaksik admin`: create an enrolment for a person
//! whose identity was checked, confirm the registration code the person
//! reads from the app, register relying parties, and inspect an account
//! with its audit log.

use kaksik_core::protocol::api::Identity;
use kaksik_core::role::KeyRole;

use crate::device::keys::key_info;
use crate::device::registration::enrolment_hash;
use crate::device::{DeviceError, registration};
use crate::state::Server;
use crate::store::{AuditEntry, Enrolment, RelyingParty};

/// Alphabet of enrolment codes: no 0/O, 1/I, so codes read out over the
/// phone survive.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A fresh enrolment code like `K7Q2-M9XP-3DRW` (60 bits).
fn new_code() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect();
    chars
        .chunks(4)
        .map(|chunk| chunk.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

fn check_identity(identity: &Identity) -> Result<(), DeviceError> {
    let ok_country =
        identity.country.len() == 2 && identity.country.bytes().all(|b| b.is_ascii_uppercase());
    let ok_id = !identity.national_id.is_empty()
        && identity.national_id.len() <= 20
        && identity
            .national_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric());
    let ok_names = [&identity.given_name, &identity.surname]
        .iter()
        .all(|n| !n.trim().is_empty() && n.len() <= 64 && !n.contains([',', '\n']));
    match (ok_country, ok_id, ok_names) {
        (false, _, _) => Err(DeviceError::bad_request(
            "--country: two upper-case letters (ISO 3166-1)",
        )),
        (_, false, _) => Err(DeviceError::bad_request("--id: 1 to 20 letters or digits")),
        (_, _, false) => Err(DeviceError::bad_request(
            "names: 1 to 64 characters, no comma",
        )),
        _ => Ok(()),
    }
}

/// Creates a one-time enrolment code for `identity`, valid for the
/// configured time (15 minutes by default). Returns the code and its
/// expiry.
pub async fn enrol(server: &Server, identity: Identity) -> Result<(String, i64), DeviceError> {
    check_identity(&identity)?;
    let code = new_code();
    let now = server.now();
    let expires_at = now + server.config.enrolment_ttl_secs;
    let mut tx = server.store.begin().await?;
    tx.insert_enrolment(&Enrolment {
        code_hash: enrolment_hash(&code),
        identity: identity.clone(),
        created_at: now,
        expires_at,
        used_at: None,
    })
    .await?;
    tx.commit().await?;
    Ok((code, expires_at))
}

/// Confirms the registration code shown by the app. Returns the document
/// number of the account being registered.
pub async fn confirm(
    server: &Server,
    enrolment_code: &str,
    registration_code: &str,
) -> Result<String, DeviceError> {
    registration::confirm(server, enrolment_code, registration_code).await
}

/// Registers (or renames) a relying party.
pub async fn add_rp(server: &Server, uuid: &str, name: &str) -> Result<(), DeviceError> {
    if uuid.len() != 36 || !uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(DeviceError::bad_request(
            "--uuid: a UUID like 00000000-0000-4000-8000-000000000000",
        ));
    }
    if name.is_empty() || name.len() > 32 {
        return Err(DeviceError::bad_request("--name: 1 to 32 bytes"));
    }
    let mut tx = server.store.begin().await?;
    tx.upsert_rp(
        &RelyingParty {
            uuid: uuid.to_lowercase(),
            name: name.to_owned(),
        },
        server.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What an operator sees of one key.
#[derive(Debug)]
pub struct KeyReport {
    /// Which key.
    pub role: KeyRole,
    /// `SETUP`, `ACTIVE`, `DISABLED`.
    pub state: String,
    /// Share epoch.
    pub epoch: i64,
    /// Unproven PIN attempts.
    pub failed_attempts: i64,
    /// End of a time lock.
    pub locked_until: Option<i64>,
    /// Certificate serial, hex.
    pub cert_serial: Option<String>,
}

/// What an operator sees of an account.
#[derive(Debug)]
pub struct AccountReport {
    /// `PNOEE-…-XXXX-Q`.
    pub document_number: String,
    /// The person.
    pub identity: Identity,
    /// Account state.
    pub state: String,
    /// Device id.
    pub device_id: String,
    /// Both keys.
    pub keys: Vec<KeyReport>,
    /// The audit log.
    pub audit: Vec<AuditEntry>,
}

/// The accounts of a person (`PNOEE-…`) or one document, newest first.
pub async fn accounts(server: &Server, id: &str) -> Result<Vec<AccountReport>, DeviceError> {
    let now = server.now();
    let mut tx = server.store.begin().await?;
    let mut found = tx.accounts_by_semantics_id(id).await?;
    if found.is_empty() {
        found.extend(tx.account(id).await?);
    }
    let mut reports = Vec::new();
    for account in found {
        let mut keys = Vec::new();
        for role in KeyRole::ALL {
            if let Some(key) = tx.key(&account.document_number, role).await? {
                let info = key_info(&key, now);
                keys.push(KeyReport {
                    role,
                    state: key.state.clone(),
                    epoch: key.epoch,
                    failed_attempts: key.failed_attempts,
                    locked_until: info.locked_until,
                    cert_serial: key.cert_serial.clone(),
                });
            }
        }
        let audit = tx.audit_log(&account.document_number).await?;
        reports.push(AccountReport {
            document_number: account.document_number,
            identity: account.identity,
            state: account.state,
            device_id: account.device_id,
            keys,
            audit,
        });
    }
    Ok(reports)
}
