//! TLS to the Kaksik server with its public key pinned (PROTOCOL.md §5):
//! the pin format, the rustls certificate verifier, and the rustls client
//! configuration that uses it.
//!
//! # What is trusted
//!
//! Exactly one thing: a leaf certificate whose DER `SubjectPublicKeyInfo`
//! hashes (SHA-256) to the pin, in the HPKP / OkHttp form
//! `sha256/<standard Base64>` the server prints (`kaksik-server`'s
//! `tls::spki_pin`). There is no trust store, system or bundled. The
//! handshake signature is still verified, with the ring provider's
//! algorithms, against that same certificate, so only the holder of the
//! pinned private key completes a handshake.
//!
//! Deliberately not checked: the server name, the validity dates and the
//! intermediates. The pin covers the key, which is what those checks
//! would establish through a CA; a device with a wrong clock would fail a
//! date check without any gain, and the server can re-issue its
//! certificate over the same key without breaking pinned clients.
//!
//! The SPKI is read from the certificate with the `der` crate p256 already
//! brings in (strict DER), the same way the server's certificate reader
//! does; no X.509 library is added for one field.
//!
//! Not owned here: HTTP, timeouts and retries (the client's `transport`).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::der::{self, Reader, SliceReader, Tag, TagNumber};
use p256::pkcs8::spki::SubjectPublicKeyInfoRef;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use super::error::ClientError;

/// Prefix of a pin: the hash algorithm, HPKP style.
const PIN_PREFIX: &str = "sha256/";

/// The only application protocol the server speaks.
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// `version [0] EXPLICIT Version DEFAULT v1` in a `TBSCertificate`.
const VERSION_TAG: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber(0),
};

/// SHA-256 of a server's DER `SubjectPublicKeyInfo`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SpkiPin([u8; 32]);

impl SpkiPin {
    /// Reads `sha256/<standard Base64 of 32 bytes>`, strictly: the prefix
    /// in lower case, canonical padded Base64, nothing around it.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] for anything else.
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        let bad = || ClientError::invalid_input("the TLS pin must be sha256/<Base64 of 32 bytes>");
        let encoded = text.strip_prefix(PIN_PREFIX).ok_or_else(bad)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| bad())?;
        bytes.try_into().map(Self).map_err(|_| bad())
    }

    /// The pin of a DER certificate.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] if the bytes are not a DER
    /// certificate with a well-formed `SubjectPublicKeyInfo`.
    pub fn of_certificate(certificate_der: &[u8]) -> Result<Self, ClientError> {
        subject_public_key_info(certificate_der)
            .map(Self::of_spki)
            .map_err(|_| ClientError::invalid_input("not a DER X.509 certificate"))
    }

    fn of_spki(spki: &[u8]) -> Self {
        Self(Sha256::digest(spki).into())
    }

    /// Whether `certificate_der` is a well-formed certificate whose key is
    /// the pinned one.
    fn matches(&self, certificate_der: &[u8]) -> Result<bool, rustls::Error> {
        let spki = subject_public_key_info(certificate_der)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        // The pin is public: a plain comparison leaks nothing.
        Ok(Self::of_spki(spki) == *self)
    }
}

impl fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PIN_PREFIX}{}", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

/// The rustls client configuration for a server pinned to `pin`: the ring
/// provider, its safe default protocol versions (TLS 1.2 and 1.3), no
/// client certificate, HTTP/1.1.
///
/// # Errors
///
/// [`ClientError::Internal`] if rustls refuses the provider's defaults
/// (it does not).
pub(crate) fn client_config(pin: SpkiPin) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedVerifier {
        pin,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ClientError::Internal(format!("TLS configuration: {error}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(config)
}

/// The DER `SubjectPublicKeyInfo` TLV (tag and length included, as the
/// pin hashes it) of a DER X.509 certificate (RFC 5280 §4.1).
///
/// Checks the structure up to the SPKI: one `Certificate` SEQUENCE with no
/// trailing bytes, a `TBSCertificate` SEQUENCE whose fields before the
/// SPKI have their RFC 5280 tags, and an SPKI that parses as one.
pub(crate) fn subject_public_key_info(certificate: &[u8]) -> der::Result<&[u8]> {
    let mut reader = SliceReader::new(certificate)?;
    let tbs = reader.sequence(|certificate| {
        let tbs = certificate.tlv_bytes()?;
        let _signature_algorithm = expect(certificate, Tag::Sequence)?;
        let _signature = expect(certificate, Tag::BitString)?;
        Ok::<_, der::Error>(tbs)
    })?;
    reader.finish()?;

    let mut reader = SliceReader::new(tbs)?;
    let spki = reader.sequence(|tbs| {
        if Tag::peek(tbs)? == VERSION_TAG {
            tbs.tlv_bytes()?;
        }
        let _serial = expect(tbs, Tag::Integer)?;
        let _signature_algorithm = expect(tbs, Tag::Sequence)?;
        let _issuer = expect(tbs, Tag::Sequence)?;
        let _validity = expect(tbs, Tag::Sequence)?;
        let _subject = expect(tbs, Tag::Sequence)?;
        let spki = expect(tbs, Tag::Sequence)?;
        // The optional unique ids and extensions follow; they are not read,
        // but they must be whole TLVs for the SEQUENCE to close.
        while !tbs.is_finished() {
            tbs.tlv_bytes()?;
        }
        Ok::<_, der::Error>(spki)
    })?;
    reader.finish()?;

    // The SPKI itself must be an algorithm and a key, not any SEQUENCE.
    let _parsed: SubjectPublicKeyInfoRef<'_> = der::Decode::from_der(spki)?;
    Ok(spki)
}

/// The next TLV, which must carry `tag`.
fn expect<'a>(reader: &mut SliceReader<'a>, tag: Tag) -> der::Result<&'a [u8]> {
    Tag::peek(reader)?.assert_eq(tag)?;
    reader.tlv_bytes()
}

/// Accepts exactly the certificates whose key is pinned, and verifies
/// handshake signatures against them.
#[derive(Debug)]
struct PinnedVerifier {
    pin: SpkiPin,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    /// rustls hands the signature checks the certificate it validated;
    /// checking the pin again costs one hash and keeps each method safe
    /// on its own.
    fn check(&self, certificate: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self.pin.matches(certificate)? {
            Ok(())
        } else {
            // The one variant nothing else produces, so the transport can
            // report a pin mismatch as such (ClientError::PinMismatch).
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check(cert)?;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check(cert)?;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The provider the client uses, for tests that build a matching server.
#[cfg(test)]
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::TestServer;

    fn certificate() -> rcgen::CertifiedKey {
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap()
    }

    #[test]
    fn a_pin_round_trips_through_its_text() {
        let pin = SpkiPin::of_certificate(certificate().cert.der()).unwrap();
        assert_eq!(SpkiPin::parse(&pin.to_string()).unwrap(), pin);
        assert!(pin.to_string().starts_with("sha256/"));
    }

    #[test]
    fn the_pin_hashes_the_whole_spki_tlv() {
        let certified = certificate();
        // rcgen's key is P-256; its SPKI DER is what the pin must cover.
        let spki = certified.key_pair.public_key_der();
        assert_eq!(
            subject_public_key_info(certified.cert.der()).unwrap(),
            spki.as_slice()
        );
        assert_eq!(
            SpkiPin::of_certificate(certified.cert.der()).unwrap(),
            SpkiPin::of_spki(&spki)
        );
    }

    #[test]
    fn malformed_pins_are_refused() {
        let good = SpkiPin::of_certificate(certificate().cert.der())
            .unwrap()
            .to_string();
        let encoded = good.trim_start_matches("sha256/");
        for bad in [
            String::new(),
            encoded.to_owned(),
            format!("SHA256/{encoded}"),
            format!("sha1/{encoded}"),
            format!("sha256/{}", encoded.trim_end_matches('=')),
            format!("sha256/{encoded} "),
            format!("sha256/{}", STANDARD.encode([7u8; 31])),
            format!("sha256/{}", encoded.replace('+', "-").replace('/', "_")),
        ] {
            if bad == good {
                continue;
            }
            assert!(SpkiPin::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn trailing_bytes_after_the_certificate_are_refused() {
        let mut der = certificate().cert.der().to_vec();
        der.push(0);
        assert!(subject_public_key_info(&der).is_err());
        assert!(subject_public_key_info(&der[..der.len() - 10]).is_err());
    }

    #[tokio::test]
    async fn the_pinned_server_completes_a_handshake() {
        let certified = certificate();
        let server = TestServer::start(&certified).await;
        let pin = SpkiPin::of_certificate(certified.cert.der()).unwrap();
        let body = server.get_with_pin(pin, "/hello").await.unwrap();
        assert_eq!(body, b"hello");
    }

    #[tokio::test]
    async fn another_key_is_refused_as_a_pin_mismatch() {
        let served = certificate();
        let server = TestServer::start(&served).await;
        let other = SpkiPin::of_certificate(certificate().cert.der()).unwrap();
        let error = server.get_with_pin(other, "/hello").await.unwrap_err();
        assert_eq!(error, ClientError::PinMismatch);
        assert_eq!(server.requests_served(), 0, "nothing reached the server");
    }
}
