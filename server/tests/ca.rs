//! The CA (PROTOCOL.md §7) and the TLS identity (§5), checked with the
//! tools relying parties and operators use: the `openssl` command line for
//! chains, signatures, CRLs and pins, x509-parser for the profile, and a
//! real rustls handshake on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kaksik_core::role::KeyRole;
use kaksik_server::ca::{
    CaError, CertificateAuthority, CertificateRequest, CertificateSerial, ISSUING_CERT_FILE,
    ISSUING_KEY_FILE, Identity, IssuedCertificate, ROOT_CERT_FILE, RevocationReason,
    RevokedCertificate, Validity, document_number, document_number_with,
};
use kaksik_server::tls::{TLS_KEY_FILE, TlsError, TlsIdentity, spki_pin};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::EncodePublicKey;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rustls::pki_types::{CertificateDer, ServerName};
use tempfile::TempDir;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_SIG_ECDSA_WITH_SHA256, OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME, OID_X509_GIVEN_NAME,
    OID_X509_SERIALNUMBER, OID_X509_SURNAME, Oid,
};
use x509_parser::x509::X509Name;

// ---------------------------------------------------------------- fixtures

/// A person with a name outside ASCII, as Estonian ID cards have.
fn person() -> Identity {
    Identity {
        country: "EE".into(),
        national_id: "38001085718".into(),
        given_name: "JAAK-KRISTJAN".into(),
        surname: "JÕEORG".into(),
    }
}

const DOCUMENT_NUMBER: &str = "PNOEE-38001085718-AB12-Q";

fn one_year() -> Validity {
    Validity::starting_now(Duration::days(365)).unwrap()
}

fn request(public_key: VerifyingKey, role: KeyRole) -> CertificateRequest {
    CertificateRequest {
        public_key,
        role,
        identity: person(),
        document_number: DOCUMENT_NUMBER.into(),
        validity: one_year(),
    }
}

/// A fresh key standing in for the joint 2-of-2 key, and its certificate.
fn issue(ca: &CertificateAuthority, role: KeyRole) -> (SigningKey, IssuedCertificate) {
    let key = new_key();
    let issued = ca.issue(&request(*key.verifying_key(), role)).unwrap();
    (key, issued)
}

/// A software P-256 key standing in for a joint 2-of-2 key.
fn new_key() -> SigningKey {
    SigningKey::generate_from_rng(&mut rand::rng())
}

fn dev_ca() -> CertificateAuthority {
    CertificateAuthority::create_dev("Kaksik Test").unwrap()
}

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, certificate) = x509_parser::parse_x509_certificate(der).unwrap();
    assert!(rest.is_empty());
    certificate
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    path
}

/// Runs `openssl` in `dir`; returns whether it succeeded and everything it
/// printed (some subcommands report on stderr).
fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command line is installed");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

/// Writes the CA's root and issuing certificates and `leaf` into `dir`.
fn write_chain(dir: &Path, ca: &CertificateAuthority, leaf: &IssuedCertificate) {
    write(dir, "root.pem", ca.root_pem());
    write(dir, "issuing.pem", ca.issuing_pem());
    write(dir, "chain.pem", ca.chain_pem());
    write(dir, "leaf.pem", &leaf.pem);
}

fn openssl_verify(dir: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem"];
    args.extend_from_slice(extra);
    args.push("leaf.pem");
    openssl(dir, &args)
}

fn attribute<'a>(name: &'a X509Name<'a>, oid: &Oid<'a>) -> Vec<&'a str> {
    name.iter_by_oid(oid)
        .map(|value| value.as_str().unwrap())
        .collect()
}

fn attribute_tag<'a>(name: &'a X509Name<'a>, oid: &Oid<'a>) -> Tag {
    name.iter_by_oid(oid).next().unwrap().attr_value().tag()
}

fn subject_key_id(certificate: &X509Certificate<'_>) -> Vec<u8> {
    certificate
        .extensions()
        .iter()
        .find_map(|extension| match extension.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .expect("subjectKeyIdentifier present")
}

fn authority_key_id(certificate: &X509Certificate<'_>) -> Vec<u8> {
    certificate
        .extensions()
        .iter()
        .find_map(|extension| match extension.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(id) => {
                id.key_identifier.as_ref().map(|id| id.0.to_vec())
            }
            _ => None,
        })
        .expect("authorityKeyIdentifier present")
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

// ------------------------------------------------------ chains (openssl)

#[test]
fn authentication_certificate_chains_to_the_root_with_openssl() {
    let ca = dev_ca();
    let (_, leaf) = issue(&ca, KeyRole::Auth);
    let dir = TempDir::new().unwrap();
    write_chain(dir.path(), &ca, &leaf);

    let (ok, printed) = openssl_verify(dir.path(), &[]);
    assert!(ok, "{printed}");
    assert!(printed.contains("leaf.pem: OK"), "{printed}");
}

#[test]
fn signing_certificate_chains_to_the_root_with_openssl() {
    let ca = dev_ca();
    let (_, leaf) = issue(&ca, KeyRole::Sign);
    let dir = TempDir::new().unwrap();
    write_chain(dir.path(), &ca, &leaf);

    let (ok, printed) = openssl_verify(dir.path(), &[]);
    assert!(ok, "{printed}");
}

#[test]
fn authentication_certificate_is_accepted_by_openssl_for_tls_client_auth() {
    let ca = dev_ca();
    let (_, leaf) = issue(&ca, KeyRole::Auth);
    let dir = TempDir::new().unwrap();
    write_chain(dir.path(), &ca, &leaf);

    let (ok, printed) = openssl_verify(dir.path(), &["-purpose", "sslclient"]);
    assert!(ok, "{printed}");
}

#[test]
fn signing_certificate_is_refused_by_openssl_for_tls_client_auth() {
    let ca = dev_ca();
    let (_, leaf) = issue(&ca, KeyRole::Sign);
    let dir = TempDir::new().unwrap();
    write_chain(dir.path(), &ca, &leaf);

    let (ok, printed) = openssl_verify(dir.path(), &["-purpose", "sslclient"]);
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("unsuitable certificate purpose"),
        "{printed}"
    );
}

#[test]
fn certificate_from_another_ca_does_not_chain_to_this_root() {
    let ca = dev_ca();
    let other = dev_ca();
    let (_, leaf) = issue(&other, KeyRole::Auth);
    let dir = TempDir::new().unwrap();
    write_chain(dir.path(), &ca, &leaf);

    let (ok, printed) = openssl_verify(dir.path(), &[]);
    assert!(!ok, "{printed}");
}

// ------------------------------------------------- signatures (openssl)

#[test]
fn signature_by_the_certified_key_verifies_with_openssl_dgst() {
    let ca = dev_ca();
    let (key, leaf) = issue(&ca, KeyRole::Sign);
    let dir = TempDir::new().unwrap();
    let data = b"the document an RP asked to have signed";
    let signature: Signature = key.sign(data);
    write(dir.path(), "leaf.pem", &leaf.pem);
    write(dir.path(), "data.bin", data);
    write(dir.path(), "tampered.bin", b"another document");
    write(dir.path(), "sig.der", signature.to_der().as_bytes());

    let (ok, printed) = openssl(
        dir.path(),
        &[
            "x509", "-in", "leaf.pem", "-pubkey", "-noout", "-out", "pub.pem",
        ],
    );
    assert!(ok, "{printed}");
    let verify = |file: &str| {
        openssl(
            dir.path(),
            &[
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "sig.der",
                file,
            ],
        )
    };

    let (ok, printed) = verify("data.bin");
    assert!(ok && printed.contains("Verified OK"), "{printed}");
    let (ok, printed) = verify("tampered.bin");
    assert!(!ok && printed.contains("Verification failure"), "{printed}");
}

#[test]
fn certificate_key_is_the_requested_public_key() {
    let ca = dev_ca();
    let (key, leaf) = issue(&ca, KeyRole::Auth);
    let expected = key.verifying_key().to_public_key_der().unwrap();

    assert_eq!(parse(&leaf.der).public_key().raw, expected.as_bytes());
}

// ------------------------------------------------------- profile (x509)

#[test]
fn subject_names_the_person_as_estonian_eid_certificates_do() {
    let ca = dev_ca();
    let (_, leaf) = issue(&ca, KeyRole::Auth);
    let certificate = parse(&leaf.der);
    let subject = certificate.subject();

    assert_eq!(attribute(subject, &OID_X509_COUNTRY_NAME), ["EE"]);
    assert_eq!(
        attribute(subject, &OID_X509_COMMON_NAME),
        ["JÕEORG,JAAK-KRISTJAN,PNOEE-38001085718"]
    );
    assert_eq!(attribute(subject, &OID_X509_SURNAME), ["JÕEORG"]);
    assert_eq!(attribute(subject, &OID_X509_GIVEN_NAME), ["JAAK-KRISTJAN"]);
    assert_eq!(
        attribute(subject, &OID_X509_SERIALNUMBER),
        ["PNOEE-38001085718"]
    );
    // RFC 5280 and X.520 require PrintableString for these two.
    assert_eq!(
        attribute_tag(subject, &OID_X509_COUNTRY_NAME),
        Tag::PrintableString
    );
    assert_eq!(
        attribute_tag(subject, &OID_X509_SERIALNUMBER),
        Tag::PrintableString
    );
    assert_eq!(certificate.issuer(), parse(ca.issuing_der()).subject());
}

#[test]
fn document_number_is_a_directory_name_in_the_subject_alt_name() {
    let ca = dev_ca();
    let (_, leaf) = issue(&ca, KeyRole::Sign);
    let certificate = parse(&leaf.der);
    let alt_name = certificate.subject_alternative_name().unwrap().unwrap();

    assert!(!alt_name.critical);
    let [GeneralName::DirectoryName(name)] = alt_name.value.general_names.as_slice() else {
        panic!(
            "expected one directoryName, got {:?}",
            alt_name.value.general_names
        );
    };
    assert_eq!(attribute(name, &OID_X509_SERIALNUMBER), [DOCUMENT_NUMBER]);

    let dir = TempDir::new().unwrap();
    write(dir.path(), "leaf.pem", &leaf.pem);
    let (_, text) = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert!(
        text.contains(&format!("serialNumber={DOCUMENT_NUMBER}")),
        "{text}"
    );
}

#[test]
fn authentication_certificate_has_digital_signature_and_client_auth() {
    let ca = dev_ca();
    let (_, leaf) = issue(&ca, KeyRole::Auth);
    let certificate = parse(&leaf.der);

    let key_usage = certificate.key_usage().unwrap().unwrap();
    assert!(key_usage.critical);
    assert!(key_usage.value.digital_signature());
    assert!(!key_usage.value.non_repudiation());
    assert_eq!(key_usage.value.flags.count_ones(), 1);

    let extended = certificate.extended_key_usage().unwrap().unwrap().value;
    assert!(extended.client_auth);
    assert!(!extended.server_auth && !extended.any && extended.other.is_empty());
}

#[test]
fn signing_certificate_has_non_repudiation_and_no_client_auth() {
    let ca = dev_ca();
    let (_, leaf) = issue(&ca, KeyRole::Sign);
    let certificate = parse(&leaf.der);

    let key_usage = certificate.key_usage().unwrap().unwrap();
    assert!(key_usage.critical);
    assert!(key_usage.value.non_repudiation());
    assert!(!key_usage.value.digital_signature());
    assert_eq!(key_usage.value.flags.count_ones(), 1);
    assert!(certificate.extended_key_usage().unwrap().is_none());
}

#[test]
fn end_entity_certificates_are_not_cas_and_carry_key_identifiers() {
    let ca = dev_ca();
    let issuing = parse(ca.issuing_der());
    for role in KeyRole::ALL {
        let (_, leaf) = issue(&ca, role);
        let certificate = parse(&leaf.der);

        let constraints = certificate.basic_constraints().unwrap().unwrap();
        assert!(!constraints.value.ca);
        assert!(!subject_key_id(&certificate).is_empty());
        assert_eq!(authority_key_id(&certificate), subject_key_id(&issuing));
        assert_eq!(
            certificate.signature_algorithm.algorithm,
            OID_SIG_ECDSA_WITH_SHA256
        );
    }
}

#[test]
fn serials_are_random_positive_and_at_most_128_bits() {
    let ca = dev_ca();
    let (_, first) = issue(&ca, KeyRole::Auth);
    let (_, second) = issue(&ca, KeyRole::Auth);

    assert_ne!(first.serial, second.serial);
    for issued in [&first, &second] {
        let certificate = parse(&issued.der);
        assert_eq!(certificate.serial.to_bytes_be(), issued.serial.as_bytes());
        assert!(issued.serial.as_bytes().len() <= 16);
        // DER INTEGER content: a leading 0x00 only when the top bit is set.
        assert_eq!(certificate.raw_serial()[0] & 0x80, 0);
    }
}

#[test]
fn serial_prints_and_parses_as_openssl_shows_it() {
    let ca = dev_ca();
    let (_, leaf) = issue(&ca, KeyRole::Auth);
    let dir = TempDir::new().unwrap();
    write(dir.path(), "leaf.pem", &leaf.pem);

    let (ok, printed) = openssl(
        dir.path(),
        &["x509", "-in", "leaf.pem", "-noout", "-serial"],
    );
    assert!(ok, "{printed}");
    let shown = printed.trim().strip_prefix("serial=").unwrap();
    assert_eq!(shown, leaf.serial.to_string());
    assert_eq!(shown.parse::<CertificateSerial>().unwrap(), leaf.serial);
}

#[test]
fn root_and_issuing_ca_have_the_specified_constraints_and_lifetimes() {
    let ca = dev_ca();
    let root = parse(ca.root_der());
    let issuing = parse(ca.issuing_der());

    for certificate in [&root, &issuing] {
        let key_usage = certificate.key_usage().unwrap().unwrap();
        assert!(key_usage.critical);
        assert!(key_usage.value.key_cert_sign() && key_usage.value.crl_sign());
        assert_eq!(key_usage.value.flags.count_ones(), 2);
        let constraints = certificate.basic_constraints().unwrap().unwrap();
        assert!(constraints.critical && constraints.value.ca);
    }
    assert_eq!(
        root.basic_constraints()
            .unwrap()
            .unwrap()
            .value
            .path_len_constraint,
        None
    );
    assert_eq!(
        issuing
            .basic_constraints()
            .unwrap()
            .unwrap()
            .value
            .path_len_constraint,
        Some(0)
    );
    assert_eq!(issuing.issuer(), root.subject());
    assert_eq!(authority_key_id(&issuing), subject_key_id(&root));

    let years = |certificate: &X509Certificate<'_>| {
        let validity = certificate.validity();
        (validity.not_after.timestamp() - validity.not_before.timestamp()) / (365 * 24 * 3600)
    };
    assert_eq!(years(&root), 10);
    assert_eq!(years(&issuing), 5);
    assert!(ca.issuing_not_after() <= now() + Duration::days(5 * 365 + 2));
}

// ------------------------------------------------------ request checks

#[test]
fn document_number_has_the_pno_id_random_q_shape() {
    let number = document_number(&person()).unwrap();
    let random = number
        .strip_prefix("PNOEE-38001085718-")
        .and_then(|rest| rest.strip_suffix("-Q"))
        .unwrap();
    assert_eq!(random.len(), 4);
    assert!(
        random
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
}

#[test]
fn document_numbers_differ_between_registrations() {
    let mut rng = StdRng::seed_from_u64(7);
    let numbers: std::collections::HashSet<String> = (0..50)
        .map(|_| document_number_with(&person(), &mut rng).unwrap())
        .collect();
    assert!(numbers.len() > 45);
}

#[test]
fn issue_rejects_a_document_number_of_another_person() {
    let ca = dev_ca();
    let key = new_key();
    for wrong in [
        "PNOEE-38001085719-AB12-Q",
        "PNOLV-38001085718-AB12-Q",
        "PNOEE-38001085718-ab12-Q",
        "PNOEE-38001085718-AB123-Q",
        "PNOEE-38001085718-AB12-NQ",
        "PNOEE-38001085718",
    ] {
        let mut request = request(*key.verifying_key(), KeyRole::Auth);
        request.document_number = wrong.into();
        assert!(
            matches!(ca.issue(&request), Err(CaError::DocumentNumberMismatch(_))),
            "{wrong}"
        );
    }
}

#[test]
fn issue_rejects_names_that_would_make_the_common_name_ambiguous() {
    let ca = dev_ca();
    let key = new_key();
    let mut request = request(*key.verifying_key(), KeyRole::Auth);
    request.identity.surname = "JÕEORG,PNOEE-1".into();

    assert!(matches!(
        ca.issue(&request),
        Err(CaError::InvalidIdentity {
            field: "surname",
            ..
        })
    ));
}

#[test]
fn issue_rejects_a_validity_beyond_the_issuing_ca() {
    let ca = dev_ca();
    let key = new_key();
    let mut request = request(*key.verifying_key(), KeyRole::Auth);
    request.validity = Validity::starting_now(Duration::days(6 * 365)).unwrap();

    assert!(matches!(
        ca.issue(&request),
        Err(CaError::OutsideIssuerValidity { .. })
    ));
}

#[test]
fn issue_rejects_an_empty_validity() {
    let ca = dev_ca();
    let key = new_key();
    let mut request = request(*key.verifying_key(), KeyRole::Auth);
    request.validity.not_after = request.validity.not_before;

    assert!(matches!(ca.issue(&request), Err(CaError::EmptyValidity)));
}

#[test]
fn semantics_identifier_is_pno_country_dash_id() {
    assert_eq!(person().semantics_identifier(), "PNOEE-38001085718");
}

// ----------------------------------------------------------------- CRLs

fn revoked(serial: &CertificateSerial) -> RevokedCertificate {
    RevokedCertificate {
        serial: serial.clone(),
        revoked_at: now() - Duration::minutes(1),
        reason: Some(RevocationReason::CessationOfOperation),
    }
}

/// Issues two authentication certificates, revokes the first in a CRL
/// numbered 42, and writes everything openssl needs into `dir`.
fn revoke_first_of_two(dir: &Path) -> (IssuedCertificate, IssuedCertificate) {
    let ca = dev_ca();
    let (_, revoked_leaf) = issue(&ca, KeyRole::Auth);
    let (_, good_leaf) = issue(&ca, KeyRole::Auth);
    let crl = ca
        .crl(
            &[revoked(&revoked_leaf.serial)],
            now() - Duration::minutes(1),
            now() + Duration::days(1),
            42,
        )
        .unwrap();
    write_chain(dir, &ca, &revoked_leaf);
    write(dir, "good.pem", &good_leaf.pem);
    write(dir, "crl.der", &crl);
    let pem = format!(
        "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
        STANDARD.encode(&crl)
    );
    write(dir, "crl.pem", pem);
    (revoked_leaf, good_leaf)
}

#[test]
fn crl_verifies_against_the_issuing_ca_and_lists_the_revoked_serial() {
    let dir = TempDir::new().unwrap();
    let (revoked_leaf, good_leaf) = revoke_first_of_two(dir.path());

    let (ok, printed) = openssl(
        dir.path(),
        &[
            "crl",
            "-in",
            "crl.der",
            "-inform",
            "DER",
            "-CAfile",
            "chain.pem",
            "-noout",
        ],
    );
    assert!(ok && printed.contains("verify OK"), "{printed}");

    let (ok, text) = openssl(
        dir.path(),
        &["crl", "-in", "crl.der", "-inform", "DER", "-noout", "-text"],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("Serial Number: {}", revoked_leaf.serial)),
        "{text}"
    );
    assert!(!text.contains(&good_leaf.serial.to_string()), "{text}");
    assert!(text.contains("Cessation Of Operation"), "{text}");
}

#[test]
fn crl_carries_the_given_number_and_the_issuing_ca_key_id() {
    let ca = dev_ca();
    let crl = ca.crl(&[], now(), now() + Duration::hours(1), 42).unwrap();
    let (_, crl) = x509_parser::parse_x509_crl(&crl).unwrap();

    assert_eq!(crl.crl_number().unwrap().to_u64_digits(), [42]);
    assert_eq!(crl.issuer(), parse(ca.issuing_der()).subject());
    let authority = crl
        .extensions()
        .iter()
        .find_map(|extension| match extension.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(id) => {
                id.key_identifier.as_ref().map(|id| id.0.to_vec())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(authority, subject_key_id(&parse(ca.issuing_der())));
}

#[test]
fn openssl_crl_check_rejects_the_revoked_certificate() {
    let dir = TempDir::new().unwrap();
    revoke_first_of_two(dir.path());

    let (ok, printed) = openssl_verify(dir.path(), &["-crl_check", "-CRLfile", "crl.pem"]);
    assert!(!ok, "{printed}");
    assert!(printed.contains("certificate revoked"), "{printed}");
}

#[test]
fn openssl_crl_check_accepts_a_certificate_that_is_not_revoked() {
    let dir = TempDir::new().unwrap();
    revoke_first_of_two(dir.path());

    let (ok, printed) = openssl(
        dir.path(),
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "-crl_check",
            "-CRLfile",
            "crl.pem",
            "good.pem",
        ],
    );
    assert!(ok && printed.contains("good.pem: OK"), "{printed}");
}

#[test]
fn crl_rejects_a_serial_listed_twice() {
    let ca = dev_ca();
    let serial = CertificateSerial::random();
    let result = ca.crl(
        &[revoked(&serial), revoked(&serial)],
        now(),
        now() + Duration::hours(1),
        1,
    );
    assert!(matches!(result, Err(CaError::DuplicateRevokedSerial(s)) if s == serial));
}

#[test]
fn crl_rejects_next_update_not_after_this_update() {
    let ca = dev_ca();
    let at = now();
    assert!(matches!(
        ca.crl(&[], at, at, 1),
        Err(CaError::EmptyCrlPeriod)
    ));
}

// ------------------------------------------------------- save and load

#[test]
fn loaded_ca_issues_certificates_that_chain_to_the_root_saved_before() {
    let store = TempDir::new().unwrap();
    let ca = dev_ca();
    ca.save(store.path()).unwrap();
    let root_before = ca.root_pem().to_owned();
    drop(ca);

    let loaded = CertificateAuthority::load(store.path()).unwrap();
    let (_, leaf) = issue(&loaded, KeyRole::Sign);
    let dir = TempDir::new().unwrap();
    write_chain(dir.path(), &loaded, &leaf);
    write(dir.path(), "root.pem", &root_before);

    let (ok, printed) = openssl_verify(dir.path(), &[]);
    assert!(ok, "{printed}");
    assert_eq!(loaded.root_pem(), root_before);
}

#[test]
fn loaded_ca_signs_crls_that_verify_against_the_saved_chain() {
    let store = TempDir::new().unwrap();
    let ca = dev_ca();
    ca.save(store.path()).unwrap();
    let loaded = CertificateAuthority::load(store.path()).unwrap();
    let crl = loaded
        .crl(&[], now(), now() + Duration::hours(1), 2)
        .unwrap();

    let dir = TempDir::new().unwrap();
    write(dir.path(), "chain.pem", ca.chain_pem());
    write(dir.path(), "crl.der", crl);
    let (ok, printed) = openssl(
        dir.path(),
        &[
            "crl",
            "-in",
            "crl.der",
            "-inform",
            "DER",
            "-CAfile",
            "chain.pem",
            "-noout",
        ],
    );
    assert!(ok && printed.contains("verify OK"), "{printed}");
}

#[test]
fn saved_ca_holds_no_root_key_and_an_owner_only_issuing_key() {
    let store = TempDir::new().unwrap();
    dev_ca().save(store.path()).unwrap();

    let mut names: Vec<String> = fs::read_dir(store.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // No root key, and no temporary left behind by the atomic writes.
    assert_eq!(
        names,
        ["issuing-ca.key.pem", "issuing-ca.pem", "root-ca.pem"]
    );

    let mode = |name: &str| {
        fs::metadata(store.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(ISSUING_KEY_FILE), 0o600);
    assert_eq!(mode(ROOT_CERT_FILE) & 0o600, 0o600);
    let key = fs::read_to_string(store.path().join(ISSUING_KEY_FILE)).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
}

#[test]
fn saving_again_replaces_the_files_in_place() {
    let store = TempDir::new().unwrap();
    dev_ca().save(store.path()).unwrap();
    let second = dev_ca();
    second.save(store.path()).unwrap();

    let loaded = CertificateAuthority::load(store.path()).unwrap();
    assert_eq!(loaded.chain_pem(), second.chain_pem());
    let mode = fs::metadata(store.path().join(ISSUING_KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// An operator's own two-level hierarchy, made with the openssl command
/// line (its defaults differ from ours: SHA-1 key identifiers, a
/// PrintableString country, a third RDN), in the layout `load` reads.
fn openssl_hierarchy(dir: &Path) {
    write(
        dir,
        "issuing.ext",
        "basicConstraints=critical,CA:TRUE,pathlen:0\n\
         keyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\n\
         authorityKeyIdentifier=keyid\n",
    );
    let steps = [
        format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key \
             -out {ROOT_CERT_FILE} -days 3650 -subj /C=EE/O=Operator/CN=Operator-Root \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
        format!(
            "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {ISSUING_KEY_FILE} \
             -out issuing.csr -subj /C=EE/O=Operator/CN=Operator-Issuing"
        ),
        format!(
            "x509 -req -in issuing.csr -CA {ROOT_CERT_FILE} -CAkey root.key -set_serial 4660 \
             -days 1825 -sha256 -extfile issuing.ext -out {ISSUING_CERT_FILE}"
        ),
    ];
    for step in &steps {
        let args: Vec<&str> = step.split_whitespace().collect();
        let (ok, printed) = openssl(dir, &args);
        assert!(ok, "{step}: {printed}");
    }
}

#[test]
fn load_accepts_an_operator_hierarchy_made_with_openssl() {
    let store = TempDir::new().unwrap();
    openssl_hierarchy(store.path());

    let ca = CertificateAuthority::load(store.path()).unwrap();
    let (_, leaf) = issue(&ca, KeyRole::Auth);
    let crl = ca
        .crl(
            &[revoked(&leaf.serial)],
            now(),
            now() + Duration::hours(1),
            1,
        )
        .unwrap();

    let dir = TempDir::new().unwrap();
    write_chain(dir.path(), &ca, &leaf);
    write(dir.path(), "crl.der", crl);
    let (ok, printed) = openssl_verify(dir.path(), &[]);
    assert!(ok, "{printed}");
    let (ok, printed) = openssl(
        dir.path(),
        &[
            "crl",
            "-in",
            "crl.der",
            "-inform",
            "DER",
            "-CAfile",
            "chain.pem",
            "-noout",
        ],
    );
    assert!(ok && printed.contains("verify OK"), "{printed}");
    let issuing = parse(ca.issuing_der());
    assert_eq!(
        authority_key_id(&parse(&leaf.der)),
        subject_key_id(&issuing)
    );
    assert_eq!(parse(&leaf.der).issuer(), issuing.subject());
}

#[test]
fn load_rejects_an_issuing_key_from_another_ca() {
    let store = TempDir::new().unwrap();
    let other = TempDir::new().unwrap();
    dev_ca().save(store.path()).unwrap();
    dev_ca().save(other.path()).unwrap();
    fs::copy(
        other.path().join(ISSUING_KEY_FILE),
        store.path().join(ISSUING_KEY_FILE),
    )
    .unwrap();

    assert!(matches!(
        CertificateAuthority::load(store.path()),
        Err(CaError::KeyMismatch)
    ));
}

#[test]
fn load_rejects_a_root_that_did_not_sign_the_issuing_ca() {
    let store = TempDir::new().unwrap();
    let other = TempDir::new().unwrap();
    dev_ca().save(store.path()).unwrap();
    dev_ca().save(other.path()).unwrap();
    fs::copy(
        other.path().join(ROOT_CERT_FILE),
        store.path().join(ROOT_CERT_FILE),
    )
    .unwrap();

    assert!(matches!(
        CertificateAuthority::load(store.path()),
        Err(CaError::BrokenChain)
    ));
}

#[test]
fn load_reports_a_missing_directory_as_a_file_error() {
    let store = TempDir::new().unwrap();
    let missing = store.path().join("nothing-here");
    assert!(matches!(
        CertificateAuthority::load(&missing),
        Err(CaError::File(_))
    ));
}

#[test]
fn debug_output_never_contains_the_issuing_key() {
    let store = TempDir::new().unwrap();
    let ca = dev_ca();
    ca.save(store.path()).unwrap();
    let key = fs::read_to_string(store.path().join(ISSUING_KEY_FILE)).unwrap();
    let debug = format!("{ca:?}");

    assert!(debug.contains("[REDACTED]"));
    for line in key.lines().filter(|line| !line.starts_with("-----")) {
        assert!(!debug.contains(line));
    }
}

#[test]
fn ca_and_tls_identity_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CertificateAuthority>();
    shareable::<TlsIdentity>();
}

// ------------------------------------------------------------------ TLS

#[test]
fn tls_pin_matches_the_openssl_pipeline() {
    let identity = TlsIdentity::create("127.0.0.1").unwrap();
    let dir = TempDir::new().unwrap();
    write(dir.path(), "tls.pem", identity.certificate_pem());

    let output = Command::new("sh")
        .current_dir(dir.path())
        .arg("-c")
        .arg(
            "openssl x509 -in tls.pem -pubkey -noout \
             | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | base64",
        )
        .output()
        .unwrap();
    assert!(output.status.success());
    let expected = format!(
        "sha256/{}",
        String::from_utf8(output.stdout).unwrap().trim()
    );

    assert_eq!(identity.spki_pin(), expected);
    assert_eq!(spki_pin(identity.certificate_der()).unwrap(), expected);
}

#[test]
fn spki_pin_works_for_certificates_of_the_ca_too() {
    let ca = dev_ca();
    let (key, leaf) = issue(&ca, KeyRole::Auth);
    let spki = key.verifying_key().to_public_key_der().unwrap();
    let expected = format!(
        "sha256/{}",
        STANDARD.encode(<sha2::Sha256 as sha2::Digest>::digest(spki.as_bytes()))
    );
    assert_eq!(spki_pin(&leaf.der).unwrap(), expected);
}

#[test]
fn spki_pin_rejects_bytes_that_are_not_a_certificate() {
    assert!(matches!(
        spki_pin(b"not a certificate"),
        Err(TlsError::MalformedCertificate(_))
    ));
}

fn alt_names(identity: &TlsIdentity) -> (Vec<String>, Vec<Vec<u8>>) {
    let certificate = parse(identity.certificate_der());
    let alt_name = certificate.subject_alternative_name().unwrap().unwrap();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &alt_name.value.general_names {
        match name {
            GeneralName::DNSName(name) => dns.push((*name).to_owned()),
            GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
            other => panic!("unexpected name {other:?}"),
        }
    }
    (dns, ips)
}

#[test]
fn tls_certificate_for_an_ip_host_names_it_and_localhost_and_loopback() {
    let identity = TlsIdentity::create("10.1.2.3").unwrap();
    let (dns, ips) = alt_names(&identity);
    assert_eq!(dns, ["localhost"]);
    assert_eq!(ips, [vec![10, 1, 2, 3], vec![127, 0, 0, 1]]);
}

#[test]
fn tls_certificate_for_a_dns_host_names_it_and_localhost_and_loopback() {
    let identity = TlsIdentity::create("kaksik.example").unwrap();
    let (dns, ips) = alt_names(&identity);
    assert_eq!(dns, ["kaksik.example", "localhost"]);
    assert_eq!(ips, [vec![127, 0, 0, 1]]);
}

#[test]
fn tls_certificate_for_localhost_lists_each_name_once() {
    let (dns, ips) = alt_names(&TlsIdentity::create("localhost").unwrap());
    assert_eq!(dns, ["localhost"]);
    assert_eq!(ips, [vec![127, 0, 0, 1]]);
    let (dns, ips) = alt_names(&TlsIdentity::create("127.0.0.1").unwrap());
    assert_eq!(dns, ["localhost"]);
    assert_eq!(ips, [vec![127, 0, 0, 1]]);
}

#[test]
fn tls_certificate_is_for_server_auth_and_not_a_ca() {
    let identity = TlsIdentity::create("localhost").unwrap();
    let certificate = parse(identity.certificate_der());

    let extended = certificate.extended_key_usage().unwrap().unwrap().value;
    assert!(extended.server_auth && !extended.client_auth);
    assert!(!certificate.basic_constraints().unwrap().unwrap().value.ca);
    assert!(
        certificate
            .key_usage()
            .unwrap()
            .unwrap()
            .value
            .digital_signature()
    );
}

#[test]
fn tls_identity_rejects_a_host_that_is_neither_an_address_nor_a_name() {
    for host in ["", "not a host", "localhost:8443", "[::1]"] {
        assert!(
            matches!(TlsIdentity::create(host), Err(TlsError::InvalidHost(_))),
            "{host:?}"
        );
    }
}

#[test]
fn tls_identity_survives_save_and_load_with_the_same_pin() {
    let dir = TempDir::new().unwrap();
    let identity = TlsIdentity::create("127.0.0.1").unwrap();
    identity.save(dir.path()).unwrap();

    let loaded = TlsIdentity::load(dir.path()).unwrap();
    assert_eq!(loaded.spki_pin(), identity.spki_pin());
    assert_eq!(loaded.certificate_der(), identity.certificate_der());
    let mode = fs::metadata(dir.path().join(TLS_KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!format!("{loaded:?}").contains("PRIVATE"));
}

#[test]
fn tls_load_rejects_a_key_of_another_identity() {
    let dir = TempDir::new().unwrap();
    let other = TempDir::new().unwrap();
    TlsIdentity::create("localhost")
        .unwrap()
        .save(dir.path())
        .unwrap();
    TlsIdentity::create("localhost")
        .unwrap()
        .save(other.path())
        .unwrap();
    fs::copy(
        other.path().join(TLS_KEY_FILE),
        dir.path().join(TLS_KEY_FILE),
    )
    .unwrap();

    assert!(matches!(
        TlsIdentity::load(dir.path()),
        Err(TlsError::KeyMismatch)
    ));
}

#[test]
fn rustls_config_completes_a_loopback_handshake_with_http11_and_the_pinned_key() {
    let identity = TlsIdentity::create("127.0.0.1").unwrap();
    let server_config = identity.rustls_server_config().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(StdDuration::from_secs(10)))
            .unwrap();
        let connection = rustls::ServerConnection::new(server_config).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        let mut request = [0u8; 4];
        tls.read_exact(&mut request).unwrap();
        assert_eq!(&request, b"ping");
        tls.write_all(b"pong").unwrap();
        tls.flush().unwrap();
    });

    // The client trusts exactly this certificate, as a pinned device does.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(identity.certificate_der().to_vec()))
        .unwrap();
    let mut client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    client_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connection = rustls::ClientConnection::new(
        Arc::new(client_config),
        ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    let tcp = TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(StdDuration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(b"ping").unwrap();
    let mut reply = [0u8; 4];
    tls.read_exact(&mut reply).unwrap();

    assert_eq!(&reply, b"pong");
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let presented = &tls.conn.peer_certificates().unwrap()[0];
    assert_eq!(spki_pin(presented).unwrap(), identity.spki_pin());
    server.join().unwrap();
}
