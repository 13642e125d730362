//! What the demo shows of a verified certificate: the person's names from
//! the subject, the subject and issuer, validity, serial number and PEM.
//! It reads certificates that `rp_client::verify_*` already checked; it
//! checks nothing itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use x509_parser::oid_registry::{
    OID_X509_COMMON_NAME, OID_X509_GIVEN_NAME, OID_X509_SERIALNUMBER, OID_X509_SURNAME,
};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

use crate::rp_client::RpClientError;

/// A certificate, as text for a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// Subject given name (GN).
    pub given_name: String,
    /// Subject surname (SN).
    pub surname: String,
    /// Subject serialNumber: the personal code, `PNOEE-38001085718`.
    pub semantics_id: String,
    /// Subject common name.
    pub common_name: String,
    /// The whole subject, one line.
    pub subject: String,
    /// The whole issuer, one line.
    pub issuer: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Serial number, hex bytes separated by colons.
    pub serial: String,
    /// The certificate, PEM.
    pub pem: String,
}

fn attribute(name: &X509Name<'_>, oid: &x509_parser::der_parser::Oid<'_>) -> String {
    name.iter_by_oid(oid)
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn rfc3339(time: x509_parser::time::ASN1Time) -> String {
    time.to_datetime()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| time.to_string())
}

/// Reads `der` for display.
pub fn summarize(der: &[u8]) -> Result<CertificateSummary, RpClientError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| RpClientError::Verification("signer certificate is not X.509".into()))?;
    let subject = cert.subject();
    Ok(CertificateSummary {
        given_name: attribute(subject, &OID_X509_GIVEN_NAME),
        surname: attribute(subject, &OID_X509_SURNAME),
        semantics_id: attribute(subject, &OID_X509_SERIALNUMBER),
        common_name: attribute(subject, &OID_X509_COMMON_NAME),
        subject: subject.to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(cert.validity().not_before),
        not_after: rfc3339(cert.validity().not_after),
        serial: cert.raw_serial_as_string(),
        pem: pem("CERTIFICATE", der),
    })
}

/// `der` as PEM with `label`, 64 characters a line as openssl writes it.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // Base64 is ASCII, so every 64-byte chunk is valid UTF-8.
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_lines_are_64_characters() {
        let text = pem("CERTIFICATE", &[7u8; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last().copied(), Some("-----END CERTIFICATE-----"));
        let body: String = lines[1..lines.len() - 1].concat();
        assert_eq!(STANDARD.decode(body).unwrap(), vec![7u8; 100]);
    }

    #[test]
    fn something_that_is_not_a_certificate_is_refused() {
        assert!(summarize(b"not a certificate").is_err());
    }
}
