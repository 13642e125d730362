//! The server's TLS identity: a P-256 key, a certificate for the address
//! the server listens on, the SPKI pin clients check it against
//! (PROTOCOL.md §5), and the rustls configuration that serves it.
//!
//! The certificate is self-signed, not issued by [`crate::ca`]. Clients do
//! not trust it through a chain: they pin the SHA-256 of its public key, so
//! a CA signature would add nothing, and it would make the person-certificate
//! CA also vouch for a TLS server, a second purpose for a key that should
//! have one. Because the pin covers the key and not the certificate, the
//! certificate can be re-issued (new dates, new names) over the same key
//! without breaking pinned clients.
//!
//! Not owned here: listening, accepting, HTTP, and the client-side pin
//! check (the device client's verifier in `kaksik-core`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::der;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::ca::cert_reader;
use crate::ca::files;
use crate::ca::{CertificateSerial, PemFileError};

/// File name of the TLS certificate inside the data directory.
pub const TLS_CERT_FILE: &str = "tls-cert.pem";
/// File name of the TLS private key (PKCS#8, mode 0600).
pub const TLS_KEY_FILE: &str = "tls-key.pem";

/// The ALPN protocol the server speaks.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";
/// Lifetime of a TLS certificate. Pinned clients do not need a short one,
/// but a verifier that does check dates should not find an expired
/// certificate on a long-running dev server.
const TLS_CERT_LIFETIME: Duration = Duration::days(2 * 365);
/// Set `not_before` this far back so a client whose clock is a little
/// behind does not see the certificate as not yet valid.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::minutes(5);
/// Prefix of a pin in the HPKP (RFC 7469) / OkHttp `CertificatePinner` form.
const PIN_PREFIX: &str = "sha256/";

/// Why a TLS identity could not be created, loaded or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The listen host is neither an IP address nor a valid DNS name.
    #[error("{0:?} is neither an IP address nor a DNS name")]
    InvalidHost(String),
    /// rcgen failed to generate the key or the certificate.
    #[error("generating the TLS key or certificate failed")]
    Generation(#[source] rcgen::Error),
    /// The certificate is not valid DER.
    #[error("malformed TLS certificate")]
    MalformedCertificate(#[source] der::Error),
    /// Reading or writing a PEM file failed.
    #[error(transparent)]
    File(#[from] PemFileError),
    /// The private key is not a P-256 PKCS#8 key.
    #[error("the TLS private key is not a P-256 PKCS#8 key")]
    UnsupportedKey,
    /// The private key does not belong to the certificate.
    #[error("the TLS private key does not belong to the TLS certificate")]
    KeyMismatch,
    /// The validity period cannot be represented.
    #[error("the TLS certificate's validity period is out of range")]
    ValidityOutOfRange,
    /// rustls refused the configuration.
    #[error("building the rustls configuration failed")]
    Rustls(#[source] rustls::Error),
}

impl From<rcgen::Error> for TlsError {
    fn from(error: rcgen::Error) -> Self {
        Self::Generation(error)
    }
}

impl From<der::Error> for TlsError {
    fn from(error: der::Error) -> Self {
        Self::MalformedCertificate(error)
    }
}

/// The pin of a DER certificate: `sha256/` + standard Base64 of SHA-256 over
/// its DER subjectPublicKeyInfo (the HPKP / OkHttp `CertificatePinner` form,
/// the same as `openssl x509 -pubkey -noout | openssl pkey -pubin -outform
/// der | openssl dgst -sha256 -binary | base64`).
pub fn spki_pin(certificate_der: &[u8]) -> Result<String, TlsError> {
    let spki = cert_reader::subject_public_key_info(certificate_der)?;
    Ok(format!(
        "{PIN_PREFIX}{}",
        STANDARD.encode(Sha256::digest(spki))
    ))
}

/// The server's TLS key and self-signed certificate.
///
/// `Debug` shows the pin, never the key.
pub struct TlsIdentity {
    certificate_der: Vec<u8>,
    certificate_pem: String,
    key_pkcs8: Zeroizing<Vec<u8>>,
    pin: String,
}

impl TlsIdentity {
    /// A new P-256 key and a self-signed certificate for `host`, the address
    /// the server listens on: an IP address (e.g. `"127.0.0.1"`) becomes an
    /// IP subjectAltName, a name (e.g. `"localhost"`) a DNS one. `localhost`
    /// and `127.0.0.1` are always added, so local clients and tests connect
    /// by either. The certificate has keyUsage digitalSignature,
    /// extendedKeyUsage serverAuth, `CA:false`, and is valid for two years.
    pub fn create(host: &str) -> Result<Self, TlsError> {
        let mut subject_alt_names = vec![host_alt_name(host)?];
        for always in [
            SanType::DnsName("localhost".try_into()?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ] {
            if !subject_alt_names.contains(&always) {
                subject_alt_names.push(always);
            }
        }

        let now = OffsetDateTime::now_utc();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "Kaksik");
        name.push(DnType::CommonName, host);
        let mut params = CertificateParams::default();
        params.distinguished_name = name;
        params.subject_alt_names = subject_alt_names;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(
            CertificateSerial::random().as_bytes(),
        ));
        params.not_before = now
            .checked_sub(CLOCK_SKEW_ALLOWANCE)
            .ok_or(TlsError::ValidityOutOfRange)?;
        params.not_after = now
            .checked_add(TLS_CERT_LIFETIME)
            .ok_or(TlsError::ValidityOutOfRange)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let certificate = params.self_signed(&key)?;
        Self::from_parts(
            certificate.der().to_vec(),
            Zeroizing::new(key.serialize_der()),
        )
    }

    /// Reads the identity saved by [`Self::save`] from `dir` and checks that
    /// the key belongs to the certificate.
    pub fn load(dir: &Path) -> Result<Self, TlsError> {
        let certificate_der = files::read_certificate(&dir.join(TLS_CERT_FILE))?;
        let key = files::read_private_key(&dir.join(TLS_KEY_FILE))?;
        Self::from_parts(certificate_der, key.to_bytes())
    }

    /// Writes the certificate (world-readable) and the key (mode 0600) to
    /// `dir`, creating it owner-only if missing; each file atomically.
    pub fn save(&self, dir: &Path) -> Result<(), TlsError> {
        files::create_private_dir(dir)?;
        let key_pem = files::private_key_pem(&self.key_pkcs8)?;
        files::write_secret(&dir.join(TLS_KEY_FILE), key_pem.as_bytes())?;
        files::write_public(&dir.join(TLS_CERT_FILE), self.certificate_pem.as_bytes())?;
        Ok(())
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The pin clients configure: [`spki_pin`] of this certificate.
    pub fn spki_pin(&self) -> &str {
        &self.pin
    }

    /// A rustls server configuration serving this identity: the ring
    /// provider (chosen explicitly, so a second provider linked in by some
    /// dependency can never be picked by accident), rustls' safe default
    /// protocol versions (TLS 1.3 and 1.2), no client certificates (devices
    /// authenticate by signing requests, PROTOCOL.md §5), ALPN `http/1.1`.
    ///
    /// rustls takes its own copy of the private key, which it does not wipe.
    pub fn rustls_server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.to_vec()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.certificate_der.clone())],
                key,
            )
            .map_err(TlsError::Rustls)?;
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(Arc::new(config))
    }

    /// Builds the identity after checking that `key_pkcs8` is a P-256 key
    /// whose public half is the certificate's.
    fn from_parts(
        certificate_der: Vec<u8>,
        key_pkcs8: Zeroizing<Vec<u8>>,
    ) -> Result<Self, TlsError> {
        let key = KeyPair::try_from(key_pkcs8.as_slice()).map_err(|_| TlsError::UnsupportedKey)?;
        if !key.is_compatible(&PKCS_ECDSA_P256_SHA256) {
            return Err(TlsError::UnsupportedKey);
        }
        if key.public_key_der() != cert_reader::subject_public_key_info(&certificate_der)? {
            return Err(TlsError::KeyMismatch);
        }
        Ok(Self {
            certificate_pem: files::certificate_pem(&certificate_der)?,
            pin: spki_pin(&certificate_der)?,
            certificate_der,
            key_pkcs8,
        })
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("spki_pin", &self.pin)
            .field("key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// The subjectAltName for the listen host: an IP address, or a DNS name
/// that passes rustls' own syntax check (so a name we certify is one a
/// rustls client can ask for).
fn host_alt_name(host: &str) -> Result<SanType, TlsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let invalid = || TlsError::InvalidHost(host.to_owned());
    DnsName::try_from(host).map_err(|_| invalid())?;
    Ok(SanType::DnsName(host.try_into().map_err(|_| invalid())?))
}
