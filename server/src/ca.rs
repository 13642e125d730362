//! The certificate authority of PROTOCOL.md §7: it certifies the two joint
//! P-256 public keys of an account and publishes revocations.
//!
//! What this module owns:
//!
//! - the certificate profile: who the subject is ([`Identity`]), the
//!   document number, and what an authentication and a signing certificate
//!   carry;
//! - issuing those certificates from the issuing CA ([`CertificateAuthority::issue`])
//!   for a public key whose private key exists nowhere (the 2-of-2 key);
//! - CRLs ([`CertificateAuthority::crl`]) for keys disabled for good (the
//!   9th wrong PIN, PROTOCOL.md §3; a protocol ban or a clone, §4);
//! - the CA's own key material on disk ([`CertificateAuthority::save`] /
//!   [`CertificateAuthority::load`]).
//!
//! What it does not own: deciding *when* to issue or revoke (registration and
//! lockout do), remembering which serials were revoked or the last CRL number
//! (the store does), and the server's TLS certificate (`crate::tls`, which
//! is deliberately not issued by this CA).
//!
//! The dev hierarchy is two levels: a root and one issuing CA under it
//! (`pathlen 0`). The root's private key is used once, to sign the issuing
//! CA, and then dropped: it is never written to disk, so a copy of the data
//! directory can mint end-entity certificates (bad) but never a second CA
//! under the root (worse). A deployment that wants its own hierarchy puts
//! its root certificate, issuing certificate and issuing key in the same
//! three files; [`CertificateAuthority::load`] checks that they belong
//! together.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use kaksik_core::role::KeyRole;
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::der;
use rand::{CryptoRng, RngExt};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension,
    DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, RevokedCertParams, SignatureAlgorithm,
};
use time::{Duration, OffsetDateTime};

pub use self::files::PemFileError;

/// File name of the root CA certificate inside a CA directory.
pub const ROOT_CERT_FILE: &str = "root-ca.pem";
/// File name of the issuing CA certificate inside a CA directory.
pub const ISSUING_CERT_FILE: &str = "issuing-ca.pem";
/// File name of the issuing CA's PKCS#8 private key (mode 0600).
pub const ISSUING_KEY_FILE: &str = "issuing-ca.key.pem";

/// Lifetime of a dev root CA.
const ROOT_LIFETIME: Duration = Duration::days(10 * 365 + 2);
/// Lifetime of a dev issuing CA; every end-entity certificate must fit in it.
const ISSUING_LIFETIME: Duration = Duration::days(5 * 365 + 1);
/// How far `not_before` is set back from "now", so that a verifier whose
/// clock is a little behind ours does not reject a certificate it has just
/// been handed as "not yet valid".
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::minutes(5);

/// Random bits in a certificate serial. RFC 5280 allows up to 20 octets;
/// the CA/Browser Forum asks for at least 64 bits of CSPRNG output.
const SERIAL_BYTES: usize = 16;
/// RFC 5280 §4.1.2.2: serials are at most 20 octets.
const MAX_SERIAL_BYTES: usize = 20;

/// Longest given name or surname we accept, in characters. Far above any
/// real name; it only keeps absurd input out of certificates and logs.
const MAX_NAME_CHARS: usize = 128;
/// Longest national identifier we accept.
const MAX_NATIONAL_ID_CHARS: usize = 32;
/// Longest CA name accepted by [`CertificateAuthority::create_dev`].
const MAX_CA_NAME_CHARS: usize = 48;

/// The alphabet of the 4 random characters in a document number.
const DOCUMENT_NUMBER_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Number of random characters in a document number.
const DOCUMENT_NUMBER_RANDOM_CHARS: usize = 4;
/// The last component of every document number we issue.
const DOCUMENT_NUMBER_SUFFIX: &str = "Q";

// X.520 attribute types that rcgen has no named variant for.
const OID_SURNAME: &[u64] = &[2, 5, 4, 4];
const OID_SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
const OID_GIVEN_NAME: &[u64] = &[2, 5, 4, 42];
/// id-ce-subjectAltName.
const OID_SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];

/// The natural person a certificate is issued to: the protocol's own
/// identity type, so the RP API, the device and the CA share one
/// definition. Names go into the certificate exactly as given (no case
/// change): the operator spells them as the ID document does.
pub use kaksik_core::protocol::api::Identity;

/// Checks that every field of `identity` can go into a certificate
/// unambiguously.
///
/// The country is two uppercase ASCII letters; the national id is ASCII
/// letters, digits and `-` (Latvian codes have a dash); names are
/// non-empty, without control characters, surrounding whitespace or `,`
/// (the CN joins the names with commas, so a comma in a name would make it
/// ambiguous).
pub fn validate_identity(identity: &Identity) -> Result<(), CaError> {
    let invalid = |field, problem| Err(CaError::InvalidIdentity { field, problem });
    if identity.country.len() != 2 || !identity.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return invalid("country", "must be two uppercase ASCII letters");
    }
    if identity.national_id.is_empty()
        || identity.national_id.len() > MAX_NATIONAL_ID_CHARS
        || !identity
            .national_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return invalid(
            "national_id",
            "must be 1-32 ASCII letters, digits or dashes",
        );
    }
    validate_name("given_name", &identity.given_name)?;
    validate_name("surname", &identity.surname)
}

fn validate_name(field: &'static str, name: &str) -> Result<(), CaError> {
    let problem = if name.is_empty() {
        Some("must not be empty")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("is too long")
    } else if name.trim() != name {
        Some("must not start or end with whitespace")
    } else if name.chars().any(|c| c.is_control() || c == ',') {
        Some("must not contain control characters or commas")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(CaError::InvalidIdentity { field, problem }),
        None => Ok(()),
    }
}

/// A fresh document number for `identity`: `PNO{CC}-{id}-{XXXX}-Q` with four
/// random characters from `A-Z0-9` (PROTOCOL.md §5, registration step 4).
///
/// The random part tells one registration of the same person from the
/// next; uniqueness against earlier registrations is the store's check.
pub fn document_number(identity: &Identity) -> Result<String, CaError> {
    document_number_with(identity, &mut rand::rng())
}

/// [`document_number`] with the random characters drawn from `rng`.
pub fn document_number_with<R: CryptoRng + ?Sized>(
    identity: &Identity,
    rng: &mut R,
) -> Result<String, CaError> {
    validate_identity(identity)?;
    let random: String = (0..DOCUMENT_NUMBER_RANDOM_CHARS)
        .map(|_| {
            let index = rng.random_range(0..DOCUMENT_NUMBER_ALPHABET.len());
            char::from(DOCUMENT_NUMBER_ALPHABET[index])
        })
        .collect();
    Ok(format!(
        "{}-{random}-{DOCUMENT_NUMBER_SUFFIX}",
        identity.semantics_identifier()
    ))
}

/// Whether `document_number` is `{semantics identifier}-XXXX-Q` for this
/// identity, so a certificate can never name one person in its subject and
/// another in its document number.
fn check_document_number(identity: &Identity, document_number: &str) -> Result<(), CaError> {
    let mismatch = || CaError::DocumentNumberMismatch(document_number.to_owned());
    let rest = document_number
        .strip_prefix(identity.semantics_identifier().as_str())
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.strip_suffix(DOCUMENT_NUMBER_SUFFIX))
        .and_then(|rest| rest.strip_suffix('-'))
        .ok_or_else(mismatch)?;
    let well_formed = rest.len() == DOCUMENT_NUMBER_RANDOM_CHARS
        && rest
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if well_formed { Ok(()) } else { Err(mismatch()) }
}

/// The validity period of a certificate. Both ends are truncated to whole
/// seconds when the certificate is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// First instant the certificate is valid.
    pub not_before: OffsetDateTime,
    /// Last instant the certificate is valid.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// Valid from a few minutes ago (clock-skew allowance) until `lifetime`
    /// from now.
    pub fn starting_now(lifetime: Duration) -> Result<Self, CaError> {
        let now = OffsetDateTime::now_utc();
        Ok(Self {
            not_before: now
                .checked_sub(CLOCK_SKEW_ALLOWANCE)
                .ok_or(CaError::ValidityOutOfRange)?,
            not_after: now
                .checked_add(lifetime)
                .ok_or(CaError::ValidityOutOfRange)?,
        })
    }

    /// The period as it will be encoded: whole seconds, `not_before` first.
    fn encoded(&self) -> Result<Self, CaError> {
        let encoded = Self {
            not_before: truncate_to_seconds(self.not_before),
            not_after: truncate_to_seconds(self.not_after),
        };
        if encoded.not_before < encoded.not_after {
            Ok(encoded)
        } else {
            Err(CaError::EmptyValidity)
        }
    }
}

/// X.509 times have whole seconds (RFC 5280 §4.1.2.5); cut the rest off
/// before comparing with times read back from a certificate.
fn truncate_to_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at - Duration::nanoseconds(i64::from(at.nanosecond()))
}

/// What the CA is asked to certify.
#[derive(Clone, Debug)]
pub struct CertificateRequest {
    /// The joint public key (its private key exists nowhere: it is split
    /// between the device and the server).
    pub public_key: VerifyingKey,
    /// Which of the account's keys this is; it selects the profile:
    /// [`KeyRole::Auth`] gets an authentication certificate
    /// (digitalSignature + clientAuth), [`KeyRole::Sign`] a signing
    /// certificate (nonRepudiation).
    pub role: KeyRole,
    /// The person.
    pub identity: Identity,
    /// `PNO{CC}-{id}-XXXX-Q`, from [`document_number`].
    pub document_number: String,
    /// Must end within the issuing CA's validity; a start before the
    /// issuing CA's is moved up to it.
    pub validity: Validity,
}

/// A certificate serial number: a positive integer of at most 20 octets,
/// kept as its big-endian magnitude without leading zero bytes.
///
/// `Display` and `FromStr` use uppercase hex without separators, the form
/// `openssl x509 -serial` and `openssl crl -text` print.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertificateSerial(Vec<u8>);

impl CertificateSerial {
    /// A fresh serial with 128 bits from the operating system's CSPRNG.
    /// Unpredictable serials are what made chosen-prefix collisions against
    /// CAs impractical; they also make serials useless for guessing how many
    /// certificates were issued.
    pub fn random() -> Self {
        loop {
            let mut bytes = [0u8; SERIAL_BYTES];
            rand::fill(&mut bytes);
            // All-zero (probability 2^-128) is the only rejected draw.
            if let Ok(serial) = Self::from_bytes(&bytes) {
                return serial;
            }
        }
    }

    /// A serial from its big-endian magnitude (leading zero bytes are
    /// ignored). Zero and values longer than 20 octets are rejected.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CaError> {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let magnitude = &bytes[start..];
        if magnitude.is_empty() {
            Err(CaError::InvalidSerial("serial must be positive"))
        } else if magnitude.len() > MAX_SERIAL_BYTES {
            Err(CaError::InvalidSerial("serial is longer than 20 octets"))
        } else {
            Ok(Self(magnitude.to_vec()))
        }
    }

    /// The big-endian magnitude, without leading zero bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn to_rcgen(&self) -> rcgen::SerialNumber {
        rcgen::SerialNumber::from_slice(&self.0)
    }
}

impl fmt::Display for CertificateSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(&self.0))
    }
}

impl fmt::Debug for CertificateSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificateSerial({self})")
    }
}

impl FromStr for CertificateSerial {
    type Err = CaError;

    /// Parses hex (either case, no separators), as [`fmt::Display`] writes.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(text).map_err(|_| CaError::InvalidSerial("serial is not hex"))?;
        Self::from_bytes(&bytes)
    }
}

/// A certificate the CA has just issued.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// Its serial, the key for revocation.
    pub serial: CertificateSerial,
    /// DER encoding.
    pub der: Vec<u8>,
    /// PEM encoding (`CERTIFICATE`).
    pub pem: String,
}

/// Why a certificate was revoked (RFC 5280 §5.3.1). A revocation without a
/// known reason leaves [`RevokedCertificate::reason`] as `None`: RFC 5280
/// asks CAs not to write `unspecified`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// The private key may be known to someone else: a detected clone or a
    /// cheating party (PROTOCOL.md §4).
    KeyCompromise,
    /// The subject's details changed (e.g. a new name).
    AffiliationChanged,
    /// A new certificate replaces this one (re-registration).
    Superseded,
    /// The key is out of use for good with no suspicion of compromise:
    /// the 9th wrong PIN (PROTOCOL.md §3) or the account was closed.
    CessationOfOperation,
    /// The CA withdrew the subject's right to use the certificate.
    PrivilegeWithdrawn,
}

impl From<RevocationReason> for rcgen::RevocationReason {
    fn from(reason: RevocationReason) -> Self {
        match reason {
            RevocationReason::KeyCompromise => Self::KeyCompromise,
            RevocationReason::AffiliationChanged => Self::AffiliationChanged,
            RevocationReason::Superseded => Self::Superseded,
            RevocationReason::CessationOfOperation => Self::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn => Self::PrivilegeWithdrawn,
        }
    }
}

/// One entry of a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedCertificate {
    /// Serial of the revoked certificate.
    pub serial: CertificateSerial,
    /// When the CA revoked it.
    pub revoked_at: OffsetDateTime,
    /// Why, when known.
    pub reason: Option<RevocationReason>,
}

/// Why the CA could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// A field of the [`Identity`] cannot go into a certificate.
    #[error("invalid identity: {field} {problem}")]
    InvalidIdentity {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The document number is not `PNO{CC}-{id}-XXXX-Q` for the identity.
    #[error("document number {0:?} does not match the identity's PNO{{CC}}-{{id}}-XXXX-Q")]
    DocumentNumberMismatch(String),
    /// `not_before` is not before `not_after`.
    #[error("the validity period is empty")]
    EmptyValidity,
    /// A validity end lies outside what a date can represent.
    #[error("the validity period is out of range")]
    ValidityOutOfRange,
    /// The requested validity does not fit inside the issuing CA's.
    #[error(
        "validity {not_before} .. {not_after} is outside the issuing CA's \
         {ca_not_before} .. {ca_not_after}"
    )]
    OutsideIssuerValidity {
        /// Requested start.
        not_before: OffsetDateTime,
        /// Requested end.
        not_after: OffsetDateTime,
        /// The issuing CA's start.
        ca_not_before: OffsetDateTime,
        /// The issuing CA's end.
        ca_not_after: OffsetDateTime,
    },
    /// A CRL's `nextUpdate` is not after its `thisUpdate`.
    #[error("the CRL's next update must be after its this update")]
    EmptyCrlPeriod,
    /// The same serial appears twice in a CRL.
    #[error("serial {0} is listed twice")]
    DuplicateRevokedSerial(CertificateSerial),
    /// A serial number is zero, too long or not hex.
    #[error("invalid certificate serial: {0}")]
    InvalidSerial(&'static str),
    /// The CA name given to [`CertificateAuthority::create_dev`] is unusable.
    #[error("a CA name must be 1-48 characters without control characters")]
    InvalidCaName,
    /// rcgen failed to encode or sign a certificate or CRL.
    #[error("encoding or signing a certificate or CRL failed")]
    Encoding(#[source] rcgen::Error),
    /// A certificate (or an encoding we built) is not valid DER.
    #[error("malformed DER")]
    Der(#[from] der::Error),
    /// Reading or writing a PEM file failed.
    #[error(transparent)]
    File(#[from] PemFileError),
    /// A key is not a P-256 key.
    #[error("{0} is not a P-256 key")]
    UnsupportedKey(&'static str),
    /// The issuing CA's private key does not belong to its certificate.
    #[error("the issuing CA key does not belong to the issuing CA certificate")]
    KeyMismatch,
    /// The issuing CA certificate is not signed by the root certificate.
    #[error("the issuing CA certificate is not signed by the root CA certificate")]
    BrokenChain,
    /// The issuing CA's subject uses a form this CA cannot re-encode
    /// byte for byte (multi-valued RDNs, repeated attributes, or string
    /// types other than UTF8String, PrintableString and IA5String).
    #[error("the issuing CA's subject name cannot be reproduced exactly")]
    UnsupportedName,
}

impl From<rcgen::Error> for CaError {
    fn from(error: rcgen::Error) -> Self {
        Self::Encoding(error)
    }
}

/// The CA: a root certificate (public only) and an issuing CA with its key.
///
/// It is `Send + Sync` and has no interior mutability: share it behind an
/// `Arc`. `Debug` never prints the key.
pub struct CertificateAuthority {
    root_der: Vec<u8>,
    root_pem: String,
    issuing_der: Vec<u8>,
    issuing_pem: String,
    issuing_not_before: OffsetDateTime,
    issuing_not_after: OffsetDateTime,
    /// rcgen 0.13 takes the issuer of a certificate as a `Certificate` and
    /// reads only its subject name, key-identifier method and key usages
    /// from it (0.14 has a separate `Issuer` type for exactly this). After
    /// a load we only have the DER, so this is a stand-in with the issuing
    /// CA's exact subject and key identifier; its own encoding is unused.
    issuer: rcgen::Certificate,
    issuing_key: KeyPair,
}

impl CertificateAuthority {
    /// Creates a dev hierarchy named `name`: a root CA (P-256, 10 years,
    /// `CA:true`, keyCertSign + cRLSign) and an issuing CA under it (P-256,
    /// 5 years, `CA:true, pathlen:0`, keyCertSign + cRLSign).
    ///
    /// The root's private key is dropped when this returns (see the module
    /// documentation).
    pub fn create_dev(name: &str) -> Result<Self, CaError> {
        if name.is_empty()
            || name.chars().count() > MAX_CA_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(CaError::InvalidCaName);
        }
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let root_params = ca_params(
            name,
            format!("{name} Root CA"),
            ROOT_LIFETIME,
            BasicConstraints::Unconstrained,
        )?;
        let root = root_params.self_signed(&root_key)?;

        let issuing_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut issuing_params = ca_params(
            name,
            format!("{name} Issuing CA"),
            ISSUING_LIFETIME,
            // The issuing CA signs end-entity certificates only.
            BasicConstraints::Constrained(0),
        )?;
        issuing_params.use_authority_key_identifier_extension = true;
        let issuing = issuing_params.signed_by(&issuing_key, &root, &root_key)?;

        // The same path as `load`, so a fresh CA passes the same checks.
        Self::from_parts(root.der().to_vec(), issuing.der().to_vec(), issuing_key)
    }

    /// Reads a CA saved with [`Self::save`] (or provided by an operator in
    /// the same layout) from `dir`, and checks that the pieces belong
    /// together: the issuing certificate is signed by the root and the key
    /// is the issuing certificate's.
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let root_der = files::read_certificate(&dir.join(ROOT_CERT_FILE))?;
        let issuing_der = files::read_certificate(&dir.join(ISSUING_CERT_FILE))?;
        let key_pkcs8 = files::read_private_key(&dir.join(ISSUING_KEY_FILE))?;
        let issuing_key = KeyPair::try_from(key_pkcs8.as_bytes())
            .map_err(|_| CaError::UnsupportedKey("the issuing CA key"))?;
        Self::from_parts(root_der, issuing_der, issuing_key)
    }

    /// Writes the CA to `dir` (created with mode 0700 if missing): the two
    /// certificates world-readable, the issuing key with mode 0600. Each
    /// file is written to a temporary name, synced and renamed, so a crash
    /// leaves either the old file or the new one, never half of one.
    pub fn save(&self, dir: &Path) -> Result<(), CaError> {
        files::create_private_dir(dir)?;
        // Key first: a crash after it leaves a directory `load` rejects
        // (key/certificate mismatch) rather than one that silently mixes
        // an old key with new certificates. (`serialized_der` panics only
        // for an HSM-backed rcgen key; ours are always in-memory PKCS#8.)
        let key_pem = files::private_key_pem(self.issuing_key.serialized_der())?;
        files::write_secret(&dir.join(ISSUING_KEY_FILE), key_pem.as_bytes())?;
        files::write_public(&dir.join(ISSUING_CERT_FILE), self.issuing_pem.as_bytes())?;
        files::write_public(&dir.join(ROOT_CERT_FILE), self.root_pem.as_bytes())?;
        Ok(())
    }

    /// Issues an authentication or signing certificate (by
    /// [`CertificateRequest::role`]) for the joint public key, signed by the
    /// issuing CA with ECDSA-SHA256.
    ///
    /// Subject: `C`, `CN = "SURNAME,GIVENNAME,PNO{CC}-{id}"`, `SN`, `GN`,
    /// `serialNumber = PNO{CC}-{id}` (the order of Estonian eID
    /// certificates). The document number goes into subjectAltName as a
    /// `directoryName` holding one `serialNumber` attribute: a standard
    /// GeneralName that every X.509 tool parses and prints
    /// (`DirName:/serialNumber=PNOEE-…-XXXX-Q`), where an `otherName` would
    /// need an OID of our own that no tool knows.
    ///
    /// Both profiles have basicConstraints `CA:false`, subject and authority
    /// key identifiers, and a random 128-bit serial. Authentication:
    /// keyUsage digitalSignature (critical) and extendedKeyUsage clientAuth.
    /// Signing: keyUsage nonRepudiation (critical) and no extendedKeyUsage.
    pub fn issue(&self, request: &CertificateRequest) -> Result<IssuedCertificate, CaError> {
        validate_identity(&request.identity)?;
        check_document_number(&request.identity, &request.document_number)?;
        let validity = self.check_validity(&request.validity)?;

        let serial = CertificateSerial::random();
        let mut params = CertificateParams::default();
        params.distinguished_name = person_name(&request.identity)?;
        params.serial_number = Some(serial.to_rcgen());
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        match request.role {
            KeyRole::Auth => {
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
            KeyRole::Sign => {
                params.key_usages = vec![KeyUsagePurpose::ContentCommitment];
            }
        }
        params.custom_extensions = vec![document_number_alt_name(&request.document_number)?];

        let subject_key = JointPublicKey::new(&request.public_key);
        let certificate = params.signed_by(&subject_key, &self.issuer, &self.issuing_key)?;
        let der = certificate.der().to_vec();
        let pem = files::certificate_pem(&der)?;
        Ok(IssuedCertificate { serial, der, pem })
    }

    /// A DER CRL signed by the issuing CA, listing `revoked`.
    ///
    /// `crl_number` must grow with every CRL this CA publishes (RFC 5280
    /// §5.2.3); the caller keeps the counter because the CA has no state.
    pub fn crl(
        &self,
        revoked: &[RevokedCertificate],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        crl_number: u64,
    ) -> Result<Vec<u8>, CaError> {
        if truncate_to_seconds(next_update) <= truncate_to_seconds(this_update) {
            return Err(CaError::EmptyCrlPeriod);
        }
        let mut seen = HashSet::with_capacity(revoked.len());
        let mut entries = Vec::with_capacity(revoked.len());
        for entry in revoked {
            if !seen.insert(&entry.serial) {
                return Err(CaError::DuplicateRevokedSerial(entry.serial.clone()));
            }
            entries.push(RevokedCertParams {
                serial_number: entry.serial.to_rcgen(),
                revocation_time: entry.revoked_at,
                reason_code: entry.reason.map(Into::into),
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: rcgen::SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: entries,
            // The CRL's authority key identifier must equal the issuing
            // CA's subject key identifier, however that one was derived.
            key_identifier_method: self.issuer.params().key_identifier_method.clone(),
        };
        let crl = params.signed_by(&self.issuer, &self.issuing_key)?;
        Ok(crl.der().to_vec())
    }

    /// The root CA certificate, PEM: the trust anchor RPs configure.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The root CA certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The issuing CA certificate, PEM.
    pub fn issuing_pem(&self) -> &str {
        &self.issuing_pem
    }

    /// The issuing CA certificate, DER.
    pub fn issuing_der(&self) -> &[u8] {
        &self.issuing_der
    }

    /// The issuing CA certificate followed by the root, PEM: the chain to
    /// send with an end-entity certificate.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.issuing_pem, self.root_pem)
    }

    /// The last instant the issuing CA is valid; no certificate it issues
    /// may outlive it.
    pub fn issuing_not_after(&self) -> OffsetDateTime {
        self.issuing_not_after
    }

    /// Builds the CA from its parts after checking that they fit together.
    fn from_parts(
        root_der: Vec<u8>,
        issuing_der: Vec<u8>,
        issuing_key: KeyPair,
    ) -> Result<Self, CaError> {
        if !issuing_key.is_compatible(&PKCS_ECDSA_P256_SHA256) {
            return Err(CaError::UnsupportedKey("the issuing CA key"));
        }
        let root = cert_reader::read(&root_der)?;
        let issuing = cert_reader::read(&issuing_der)?;
        if !cert_reader::is_signed_by(&root, root.spki)? {
            return Err(CaError::BrokenChain);
        }
        if issuing.issuer != root.subject || !cert_reader::is_signed_by(&issuing, root.spki)? {
            return Err(CaError::BrokenChain);
        }
        if issuing_key.public_key_der() != issuing.spki {
            return Err(CaError::KeyMismatch);
        }

        let mut params = CertificateParams::default();
        params.distinguished_name = cert_reader::distinguished_name(issuing.subject)?;
        params.key_identifier_method = match issuing.subject_key_id {
            Some(id) => KeyIdMethod::PreSpecified(id.to_vec()),
            None => KeyIdMethod::Sha256,
        };
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let issuer = params.self_signed(&issuing_key)?;
        // Every certificate we issue names its issuer by re-encoding this
        // subject; if the re-encoding differed by a byte, chains would
        // silently stop building. Refuse such a CA instead.
        if cert_reader::read(issuer.der())?.subject != issuing.subject {
            return Err(CaError::UnsupportedName);
        }

        Ok(Self {
            root_pem: files::certificate_pem(&root_der)?,
            issuing_pem: files::certificate_pem(&issuing_der)?,
            issuing_not_before: issuing.not_before,
            issuing_not_after: issuing.not_after,
            root_der,
            issuing_der,
            issuer,
            issuing_key,
        })
    }

    /// The validity to encode for a request: whole seconds, starting no
    /// earlier than the issuing CA (a clock-skew backdated `not_before` from
    /// [`Validity::starting_now`] may precede a CA created moments ago, and
    /// moving it up changes nothing a verifier could accept), and ending no
    /// later than the CA. An end past the CA's is an error rather than
    /// silently shortened: a certificate outliving its issuer would verify
    /// today and fail later for a reason nobody would look for.
    fn check_validity(&self, requested: &Validity) -> Result<Validity, CaError> {
        let requested = requested.encoded()?;
        let validity = Validity {
            not_before: requested.not_before.max(self.issuing_not_before),
            not_after: requested.not_after,
        };
        if validity.not_before >= validity.not_after || validity.not_after > self.issuing_not_after
        {
            return Err(CaError::OutsideIssuerValidity {
                not_before: requested.not_before,
                not_after: requested.not_after,
                ca_not_before: self.issuing_not_before,
                ca_not_after: self.issuing_not_after,
            });
        }
        Ok(validity)
    }
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("issuing_not_before", &self.issuing_not_before)
            .field("issuing_not_after", &self.issuing_not_after)
            .field("issuing_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Parameters shared by the dev root and issuing CA certificates.
fn ca_params(
    organization: &str,
    common_name: String,
    lifetime: Duration,
    constraints: BasicConstraints,
) -> Result<CertificateParams, CaError> {
    let validity = Validity::starting_now(lifetime)?.encoded()?;
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, organization);
    name.push(DnType::CommonName, common_name);

    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.serial_number = Some(CertificateSerial::random().to_rcgen());
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

/// The subject of a person's certificate. `C` and `serialNumber` are
/// PrintableString as X.520 and RFC 5280 require; names are UTF8String.
fn person_name(identity: &Identity) -> Result<DistinguishedName, CaError> {
    let semantics_identifier = identity.semantics_identifier();
    let printable = |text: &str| {
        rcgen::PrintableString::try_from(text)
            .map(DnValue::PrintableString)
            .map_err(CaError::Encoding)
    };
    let mut name = DistinguishedName::new();
    name.push(DnType::CountryName, printable(&identity.country)?);
    name.push(
        DnType::CommonName,
        format!(
            "{},{},{}",
            identity.surname, identity.given_name, semantics_identifier
        ),
    );
    name.push(
        DnType::CustomDnType(OID_SURNAME.to_vec()),
        identity.surname.as_str(),
    );
    name.push(
        DnType::CustomDnType(OID_GIVEN_NAME.to_vec()),
        identity.given_name.as_str(),
    );
    name.push(
        DnType::CustomDnType(OID_SERIAL_NUMBER.to_vec()),
        printable(&semantics_identifier)?,
    );
    Ok(name)
}

/// subjectAltName = `GeneralNames { directoryName [4] { serialNumber =
/// document number } }`, built by hand because rcgen 0.13's `SanType` has
/// no directoryName.
fn document_number_alt_name(document_number: &str) -> Result<CustomExtension, CaError> {
    use der::asn1::{Any, ObjectIdentifier, PrintableStringRef};
    use der::{Encode, Tag, TagNumber};

    const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
    // GeneralName ::= CHOICE { … directoryName [4] Name … }; Name is itself
    // a CHOICE, so the [4] tag is explicit (constructed, wrapping the Name).
    const DIRECTORY_NAME: Tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(4),
    };

    let attribute = Any::new(
        Tag::Sequence,
        [
            SERIAL_NUMBER.to_der()?,
            PrintableStringRef::new(document_number)?.to_der()?,
        ]
        .concat(),
    )?;
    let relative_name = Any::new(Tag::Set, attribute.to_der()?)?;
    let name = Any::new(Tag::Sequence, relative_name.to_der()?)?;
    let general_name = Any::new(DIRECTORY_NAME, name.to_der()?)?;
    let general_names = Any::new(Tag::Sequence, general_name.to_der()?)?;
    Ok(CustomExtension::from_oid_content(
        OID_SUBJECT_ALT_NAME,
        general_names.to_der()?,
    ))
}

/// A P-256 public key in the form rcgen writes into a certificate's
/// subjectPublicKeyInfo. This is how the CA certifies a key it cannot sign
/// with: rcgen only needs the subject's public key, the signature comes from
/// the issuer's key.
struct JointPublicKey {
    /// Uncompressed SEC1 point, the customary form in X.509.
    sec1: Vec<u8>,
}

impl JointPublicKey {
    fn new(key: &VerifyingKey) -> Self {
        Self {
            sec1: key.to_sec1_point(false).as_bytes().to_vec(),
        }
    }
}

impl PublicKeyData for JointPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.sec1
    }

    fn algorithm(&self) -> &SignatureAlgorithm {
        // Its SPKI algorithm is id-ecPublicKey with namedCurve prime256v1.
        &PKCS_ECDSA_P256_SHA256
    }
}

pub(crate) mod cert_reader {
    //! Reads the handful of fields the CA and the TLS code need out of a DER
    //! X.509 certificate (RFC 5280 §4.1): the signed part and its
    //! signature, issuer, validity, subject, subjectPublicKeyInfo and the
    //! subject key identifier. It checks structure, not trust: callers
    //! verify signatures themselves with [`is_signed_by`].
    //!
    //! rcgen writes certificates but (without its x509-parser feature) does
    //! not read them, so this walks the DER with the `der` crate that p256
    //! already brings in.

    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{DerSignature, VerifyingKey};
    use p256::pkcs8::DecodePublicKey;
    use p256::pkcs8::der::asn1::{AnyRef, GeneralizedTime, ObjectIdentifier, UtcTime};
    use p256::pkcs8::der::{self, Decode, ErrorKind, Reader, SliceReader, Tag, TagNumber, Tagged};
    use rcgen::{DistinguishedName, DnType, DnValue};
    use time::OffsetDateTime;

    use super::CaError;

    /// `version [0] EXPLICIT Version DEFAULT v1`.
    const VERSION: Tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    /// `extensions [3] EXPLICIT Extensions OPTIONAL`.
    const EXTENSIONS: Tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(3),
    };
    /// id-ce-subjectKeyIdentifier.
    const SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

    /// Borrowed views into one certificate's DER.
    pub(crate) struct CertificateFields<'a> {
        /// The whole `TBSCertificate` TLV: the bytes the signature covers.
        pub(crate) tbs: &'a [u8],
        /// The signature value (for ECDSA, a DER `ECDSA-Sig-Value`).
        pub(crate) signature: &'a [u8],
        /// The issuer `Name` TLV.
        pub(crate) issuer: &'a [u8],
        /// The subject `Name` TLV.
        pub(crate) subject: &'a [u8],
        /// Start of validity.
        pub(crate) not_before: OffsetDateTime,
        /// End of validity.
        pub(crate) not_after: OffsetDateTime,
        /// The `SubjectPublicKeyInfo` TLV.
        pub(crate) spki: &'a [u8],
        /// The subjectKeyIdentifier's key id, if the extension is present.
        pub(crate) subject_key_id: Option<&'a [u8]>,
    }

    /// Splits a DER certificate into the fields above.
    pub(crate) fn read(certificate: &[u8]) -> der::Result<CertificateFields<'_>> {
        let mut reader = SliceReader::new(certificate)?;
        let (tbs, signature) = reader.sequence(|outer| {
            let tbs = outer.tlv_bytes()?;
            let _signature_algorithm = outer.tlv_bytes()?;
            let signature = der::asn1::BitStringRef::decode(outer)?
                .as_bytes()
                .ok_or_else(|| {
                    der::Error::from(ErrorKind::Value {
                        tag: Tag::BitString,
                    })
                })?;
            Ok::<_, der::Error>((tbs, signature))
        })?;
        reader.finish()?;

        let mut reader = SliceReader::new(tbs)?;
        let fields = reader.sequence(|tbs_reader| {
            if Tag::peek(tbs_reader)? == VERSION {
                tbs_reader.tlv_bytes()?;
            }
            let _serial = tbs_reader.tlv_bytes()?;
            let _signature_algorithm = tbs_reader.tlv_bytes()?;
            let issuer = tbs_reader.tlv_bytes()?;
            let (not_before, not_after) = tbs_reader
                .sequence(|validity| Ok::<_, der::Error>((time(validity)?, time(validity)?)))?;
            let subject = tbs_reader.tlv_bytes()?;
            let spki = tbs_reader.tlv_bytes()?;
            let mut subject_key_id = None;
            // Then issuerUniqueID [1], subjectUniqueID [2] (both skipped)
            // and extensions [3].
            while !tbs_reader.is_finished() {
                let field = AnyRef::decode(tbs_reader)?;
                if field.tag() == EXTENSIONS {
                    subject_key_id = find_subject_key_id(field.value())?;
                }
            }
            Ok::<_, der::Error>(CertificateFields {
                tbs,
                signature,
                issuer,
                subject,
                not_before,
                not_after,
                spki,
                subject_key_id,
            })
        })?;
        reader.finish()?;
        Ok(fields)
    }

    /// The subjectPublicKeyInfo TLV of a DER certificate.
    pub(crate) fn subject_public_key_info(certificate: &[u8]) -> der::Result<&[u8]> {
        read(certificate).map(|fields| fields.spki)
    }

    /// Whether `certificate`'s signature verifies as ECDSA-SHA256 under the
    /// P-256 key `issuer_spki`.
    pub(crate) fn is_signed_by(
        certificate: &CertificateFields<'_>,
        issuer_spki: &[u8],
    ) -> Result<bool, CaError> {
        let key = VerifyingKey::from_public_key_der(issuer_spki)
            .map_err(|_| CaError::UnsupportedKey("the root CA key"))?;
        let Ok(signature) = DerSignature::try_from(certificate.signature) else {
            return Ok(false);
        };
        Ok(key.verify(certificate.tbs, &signature).is_ok())
    }

    /// Rebuilds a `Name` as rcgen's `DistinguishedName`, for the subjects
    /// rcgen can write back: single-valued RDNs with UTF8String,
    /// PrintableString or IA5String values. The caller still compares the
    /// re-encoding with the original, since rcgen also merges repeated
    /// attribute types.
    pub(crate) fn distinguished_name(name: &[u8]) -> Result<DistinguishedName, CaError> {
        let mut reader = SliceReader::new(name)?;
        let distinguished_name = reader.sequence(|relative_names| {
            let mut distinguished_name = DistinguishedName::new();
            while !relative_names.is_finished() {
                let relative_name = AnyRef::decode(relative_names)?;
                if relative_name.tag() != Tag::Set {
                    return Err(CaError::UnsupportedName);
                }
                let (kind, value) = single_attribute(relative_name.value())
                    .map_err(|_| CaError::UnsupportedName)?;
                let value = directory_string(value).ok_or(CaError::UnsupportedName)?;
                let arcs: Vec<u64> = kind.arcs().map(u64::from).collect();
                distinguished_name.push(DnType::from_oid(&arcs), value);
            }
            Ok(distinguished_name)
        })?;
        reader.finish()?;
        Ok(distinguished_name)
    }

    /// The one `AttributeTypeAndValue` of a relative name's SET; a second
    /// one (a multi-valued RDN) is trailing data and an error.
    fn single_attribute(set: &[u8]) -> der::Result<(ObjectIdentifier, AnyRef<'_>)> {
        let mut reader = SliceReader::new(set)?;
        let attribute = reader.sequence(|attribute| {
            let kind: ObjectIdentifier = ObjectIdentifier::decode(attribute)?;
            let value = AnyRef::decode(attribute)?;
            Ok::<_, der::Error>((kind, value))
        })?;
        reader.finish()?;
        Ok(attribute)
    }

    /// An attribute value as rcgen's `DnValue`, keeping its string type.
    fn directory_string(value: AnyRef<'_>) -> Option<DnValue> {
        let text = std::str::from_utf8(value.value()).ok()?;
        match value.tag() {
            Tag::Utf8String => Some(DnValue::Utf8String(text.to_owned())),
            Tag::PrintableString => rcgen::PrintableString::try_from(text)
                .ok()
                .map(DnValue::PrintableString),
            Tag::Ia5String => rcgen::Ia5String::try_from(text)
                .ok()
                .map(DnValue::Ia5String),
            _ => None,
        }
    }

    /// `Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }`.
    fn time<'a, R: Reader<'a>>(reader: &mut R) -> der::Result<OffsetDateTime> {
        let since_epoch = match Tag::peek(reader)? {
            Tag::UtcTime => UtcTime::decode(reader)?.to_unix_duration(),
            Tag::GeneralizedTime => GeneralizedTime::decode(reader)?.to_unix_duration(),
            actual => {
                return Err(ErrorKind::TagUnexpected {
                    expected: None,
                    actual,
                }
                .into());
            }
        };
        i64::try_from(since_epoch.as_secs())
            .ok()
            .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
            .ok_or_else(|| ErrorKind::DateTime.into())
    }

    /// The key id inside the subjectKeyIdentifier extension, if present.
    fn find_subject_key_id(extensions: &[u8]) -> der::Result<Option<&[u8]>> {
        let mut reader = SliceReader::new(extensions)?;
        let found = reader.sequence(|list| {
            let mut found = None;
            while !list.is_finished() {
                list.sequence(|extension| {
                    let id = ObjectIdentifier::decode(extension)?;
                    if Tag::peek(extension)? == Tag::Boolean {
                        let _critical = bool::decode(extension)?;
                    }
                    let value = AnyRef::decode(extension)?;
                    value.tag().assert_eq(Tag::OctetString)?;
                    if id == SUBJECT_KEY_IDENTIFIER {
                        let key_id = AnyRef::from_der(value.value())?;
                        key_id.tag().assert_eq(Tag::OctetString)?;
                        found = Some(key_id.value());
                    }
                    Ok::<_, der::Error>(())
                })?;
            }
            Ok::<_, der::Error>(found)
        })?;
        reader.finish()?;
        Ok(found)
    }
}

pub(crate) mod files {
    //! PEM files of the CA and the TLS identity: certificates written
    //! world-readable, private keys owner-only, every write atomic (temp
    //! file, fsync, rename, fsync of the directory).
    //!
    //! Private keys pass through here only in zeroizing buffers. rcgen,
    //! ring and rustls keep their own copies, which we cannot wipe.

    use std::fs::{self, File, OpenOptions};
    use std::io::{self, Write};
    use std::path::{Path, PathBuf};

    use p256::pkcs8::der::pem::LineEnding;
    use p256::pkcs8::der::{self, Document, SecretDocument};
    use zeroize::Zeroizing;

    /// PEM label of a certificate.
    const CERTIFICATE: &str = "CERTIFICATE";
    /// PEM label of a PKCS#8 private key.
    const PRIVATE_KEY: &str = "PRIVATE KEY";
    /// Mode of a private key file (Unix only).
    const SECRET_MODE: u32 = 0o600;
    /// Mode of a certificate file, before the umask (Unix only).
    const PUBLIC_MODE: u32 = 0o644;

    /// Why a PEM file could not be read or written.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum PemFileError {
        /// The file system refused.
        #[error("{}: I/O error", .path.display())]
        Io {
            /// The file.
            path: PathBuf,
            /// What the OS said.
            #[source]
            source: io::Error,
        },
        /// The file is not one PEM block of valid DER.
        #[error("{}: not a valid PEM {expected} block", .path.display())]
        Pem {
            /// The file.
            path: PathBuf,
            /// The block expected.
            expected: &'static str,
            /// The parse failure.
            #[source]
            source: der::Error,
        },
        /// The PEM block has another label than expected.
        #[error("{}: expected a PEM {expected} block, found {found}", .path.display())]
        Label {
            /// The file.
            path: PathBuf,
            /// The label expected.
            expected: &'static str,
            /// The label found.
            found: String,
        },
    }

    fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PemFileError + '_ {
        move |source| PemFileError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// A DER certificate as PEM.
    pub(crate) fn certificate_pem(der: &[u8]) -> der::Result<String> {
        Ok(der::pem::encode_string(CERTIFICATE, LineEnding::LF, der)?)
    }

    /// A PKCS#8 DER private key as PEM, in a zeroizing string.
    pub(crate) fn private_key_pem(pkcs8: &[u8]) -> der::Result<Zeroizing<String>> {
        SecretDocument::try_from(pkcs8)?.to_pem(PRIVATE_KEY, LineEnding::LF)
    }

    /// Reads a PEM `CERTIFICATE` file and returns its DER.
    pub(crate) fn read_certificate(path: &Path) -> Result<Vec<u8>, PemFileError> {
        let text = fs::read_to_string(path).map_err(io_error(path))?;
        let (label, document) = Document::from_pem(&text).map_err(|source| PemFileError::Pem {
            path: path.to_owned(),
            expected: CERTIFICATE,
            source,
        })?;
        check_label(path, label, CERTIFICATE)?;
        Ok(document.into_vec())
    }

    /// Reads a PEM `PRIVATE KEY` (PKCS#8) file into a zeroizing document.
    pub(crate) fn read_private_key(path: &Path) -> Result<SecretDocument, PemFileError> {
        warn_if_exposed(path);
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io_error(path))?);
        let (label, document) =
            SecretDocument::from_pem(&text).map_err(|source| PemFileError::Pem {
                path: path.to_owned(),
                expected: PRIVATE_KEY,
                source,
            })?;
        check_label(path, label, PRIVATE_KEY)?;
        Ok(document)
    }

    fn check_label(path: &Path, found: &str, expected: &'static str) -> Result<(), PemFileError> {
        if found == expected {
            Ok(())
        } else {
            Err(PemFileError::Label {
                path: path.to_owned(),
                expected,
                found: found.to_owned(),
            })
        }
    }

    /// Logs a warning when a key file is readable by group or others. Not
    /// an error: the operator may have reasons (e.g. a group-readable
    /// secret mount), and refusing would only push them to worse ones.
    fn warn_if_exposed(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(metadata) = fs::metadata(path)
                && metadata.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(
                    path = %path.display(),
                    "private key file is readable by group or others"
                );
            }
        }
        #[cfg(not(unix))]
        let _ = path;
    }

    /// Creates `dir` (and parents) if missing; a directory we create is
    /// owner-only because it will hold private keys.
    pub(crate) fn create_private_dir(dir: &Path) -> Result<(), PemFileError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(io_error(dir))
    }

    /// Writes a certificate (or other public file) atomically.
    pub(crate) fn write_public(path: &Path, contents: &[u8]) -> Result<(), PemFileError> {
        write_atomically(path, contents, PUBLIC_MODE)
    }

    /// Writes a private key atomically with mode 0600 from the moment the
    /// file exists (never created wider and narrowed later).
    pub(crate) fn write_secret(path: &Path, contents: &[u8]) -> Result<(), PemFileError> {
        write_atomically(path, contents, SECRET_MODE)
    }

    fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), PemFileError> {
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let file_name = path
            .file_name()
            .map_or_else(|| "file".into(), |name| name.to_string_lossy().into_owned());
        let mut suffix = [0u8; 8];
        rand::fill(&mut suffix);
        let temporary = dir.join(format!(".{file_name}.{}.tmp", hex::encode(suffix)));

        let result = (|| {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(mode);
            }
            #[cfg(not(unix))]
            let _ = mode;
            let mut file = options.open(&temporary)?;
            file.write_all(contents)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temporary, path)?;
            sync_directory(dir)
        })();
        if result.is_err() {
            // Best effort: the temporary may not exist, and the original
            // error is the one worth reporting.
            let _ = fs::remove_file(&temporary);
        }
        result.map_err(io_error(path))
    }

    /// Makes a rename durable: on POSIX, the new directory entry is only
    /// safe on disk once the directory itself is synced.
    fn sync_directory(dir: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(())
        }
    }
}
