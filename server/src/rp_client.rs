//! A Rust client of the RP API v3 this crate serves, and the checks a
//! relying party must run on a result: the signature over what it asked
//! for, the certificate chain up to the server's CA, and the identity.
//! `kaksik rp … auth|sign`, the demo and the end-to-end tests use it, so
//! they exercise the API exactly as an integrator's code would.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kaksik_core::client::{SpkiPin, pinned_tls_config};
use kaksik_core::rp::{AcspV2, FlowType, HashAlgorithm, Interaction, Interactions};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, X509Certificate};

/// What can go wrong for a relying party.
#[derive(Debug, thiserror::Error)]
pub enum RpClientError {
    /// Connection, TLS or timeout.
    #[error("network: {0}")]
    Network(String),
    /// The server answered with a problem.
    #[error("server answered {status}: {detail}")]
    Problem {
        /// HTTP status.
        status: u16,
        /// `detail` of the problem.
        detail: String,
    },
    /// The answer is not what the API promises.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// A check on the result failed: never trust this result.
    #[error("verification failed: {0}")]
    Verification(String),
}

/// Whom a request addresses.
#[derive(Debug, Clone)]
pub enum Target {
    /// A person, `PNOEE-38001085718`.
    Person(String),
    /// A document, `PNOEE-38001085718-ABCD-Q`.
    Document(String),
}

impl Target {
    fn path(&self) -> String {
        match self {
            Target::Person(id) => format!("etsi/{id}"),
            Target::Document(doc) => format!("document/{doc}"),
        }
    }
}

/// A session the RP started, with what it must remember to verify it.
#[derive(Debug, Clone)]
pub struct Started {
    /// `sessionID`.
    pub session_id: String,
    /// The verification code to show.
    pub vc: String,
    /// What was sent: rpChallenge (auth) or digest (sign), standard Base64.
    pub challenge_or_digest: String,
    /// `interactions` as sent.
    pub interactions: String,
    /// Hash algorithm asked for.
    pub hash_algorithm: HashAlgorithm,
}

/// A completed session as the RP receives it.
#[derive(Debug, Clone)]
pub struct Completed {
    /// `result.endResult`.
    pub end_result: String,
    /// `result.documentNumber`.
    pub document_number: String,
    /// The whole status body, for display.
    pub body: Value,
}

/// The RP API client.
pub struct RpClient {
    http: reqwest::Client,
    base: String,
    uuid: String,
    name: String,
}

impl RpClient {
    /// A client for the server at `base_url` whose TLS key has `spki_pin`.
    pub fn new(
        base_url: &str,
        spki_pin: &str,
        uuid: &str,
        name: &str,
    ) -> Result<Self, RpClientError> {
        let pin = SpkiPin::parse(spki_pin).map_err(|e| RpClientError::Network(e.to_string()))?;
        let tls = pinned_tls_config(pin).map_err(|e| RpClientError::Network(e.to_string()))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(150))
            .build()
            .map_err(|e| RpClientError::Network(e.to_string()))?;
        Ok(RpClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            uuid: uuid.to_owned(),
            name: name.to_owned(),
        })
    }

    /// POSTs a JSON body to an RP API path: for requests the typed methods
    /// do not cover (and for testing the API's validation).
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value, RpClientError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .map_err(|e| RpClientError::Network(e.to_string()))?;
        read(response).await
    }

    fn interactions(text: &str) -> Result<String, RpClientError> {
        let list = Interactions::new(vec![Interaction::DisplayTextAndPin {
            display_text60: text.chars().take(60).collect(),
        }])
        .map_err(|e| RpClientError::Unexpected(e.to_string()))?;
        Ok(list.base64().to_owned())
    }

    /// Starts a notification authentication with a fresh 64-byte
    /// rpChallenge and SHA-512, as SK's examples do.
    pub async fn authenticate(
        &self,
        target: &Target,
        text: &str,
    ) -> Result<Started, RpClientError> {
        let mut challenge = [0u8; 64];
        rand::fill(&mut challenge);
        let challenge = STANDARD.encode(challenge);
        let interactions = Self::interactions(text)?;
        let body = json!({
            "relyingPartyUUID": self.uuid,
            "relyingPartyName": self.name,
            "certificateLevel": "QUALIFIED",
            "signatureProtocol": "ACSP_V2",
            "signatureProtocolParameters": {
                "rpChallenge": challenge,
                "signatureAlgorithm": "ecdsa",
                "signatureAlgorithmParameters": { "hashAlgorithm": "SHA-512" },
            },
            "interactions": interactions,
            "vcType": "numeric4",
        });
        let answer = self
            .post_json(
                &format!("/v3/authentication/notification/{}", target.path()),
                &body,
            )
            .await?;
        started(&answer, challenge, interactions, HashAlgorithm::Sha512)
    }

    /// Starts a notification signature of a SHA-256 `digest`.
    pub async fn sign(
        &self,
        target: &Target,
        digest: &[u8; 32],
        text: &str,
    ) -> Result<Started, RpClientError> {
        let digest = STANDARD.encode(digest);
        let interactions = Self::interactions(text)?;
        let body = json!({
            "relyingPartyUUID": self.uuid,
            "relyingPartyName": self.name,
            "certificateLevel": "QUALIFIED",
            "signatureProtocol": "RAW_DIGEST_SIGNATURE",
            "signatureProtocolParameters": {
                "digest": digest,
                "signatureAlgorithm": "ecdsa",
                "signatureAlgorithmParameters": { "hashAlgorithm": "SHA-256" },
            },
            "nonce": "kaksik",
            "interactions": interactions,
        });
        let answer = self
            .post_json(
                &format!("/v3/signature/notification/{}", target.path()),
                &body,
            )
            .await?;
        started(&answer, digest, interactions, HashAlgorithm::Sha256)
    }

    /// Long-polls until the session completes (or `total` passes).
    pub async fn wait(
        &self,
        session_id: &str,
        total: Duration,
    ) -> Result<Completed, RpClientError> {
        let deadline = tokio::time::Instant::now() + total;
        loop {
            let response = self
                .http
                .get(format!(
                    "{}/v3/session/{session_id}?timeoutMs=30000",
                    self.base
                ))
                .send()
                .await
                .map_err(|e| RpClientError::Network(e.to_string()))?;
            let body = read(response).await?;
            if body["state"] == "COMPLETE" {
                return Ok(Completed {
                    end_result: text(&body["result"]["endResult"])?,
                    document_number: body["result"]["documentNumber"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    body,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RpClientError::Network(
                    "the session did not complete in time".into(),
                ));
            }
        }
    }

    /// The server's CA chain (issuing CA, root), PEM.
    pub async fn ca_chain(&self) -> Result<String, RpClientError> {
        self.http
            .get(format!("{}/ca/chain.pem", self.base))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| RpClientError::Network(e.to_string()))?
            .text()
            .await
            .map_err(|e| RpClientError::Network(e.to_string()))
    }
}

async fn read(response: reqwest::Response) -> Result<Value, RpClientError> {
    let status = response.status().as_u16();
    let body: Value = response
        .json()
        .await
        .map_err(|e| RpClientError::Unexpected(e.to_string()))?;
    if status >= 400 {
        return Err(RpClientError::Problem {
            status,
            detail: body["detail"].as_str().unwrap_or_default().to_owned(),
        });
    }
    Ok(body)
}

fn text(value: &Value) -> Result<String, RpClientError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| RpClientError::Unexpected(format!("expected a string, got {value}")))
}

fn started(
    answer: &Value,
    challenge: String,
    interactions: String,
    hash: HashAlgorithm,
) -> Result<Started, RpClientError> {
    Ok(Started {
        session_id: text(&answer["sessionID"])?,
        vc: text(&answer["vc"]["value"])?,
        challenge_or_digest: challenge,
        interactions,
        hash_algorithm: hash,
    })
}

/// The certificate and public key a result was signed with, after its
/// chain was checked.
#[derive(Debug, Clone)]
pub struct VerifiedSigner {
    /// The signer's certificate, DER.
    pub certificate_der: Vec<u8>,
    /// Subject `serialNumber`: `PNOEE-38001085718`.
    pub semantics_id: String,
    /// Subject common name: `SURNAME,GIVENNAME,PNOEE-…`.
    pub common_name: String,
}

fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, RpClientError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut inside = false;
    for line in pem.lines() {
        match line.trim() {
            "-----BEGIN CERTIFICATE-----" => {
                inside = true;
                current.clear();
            }
            "-----END CERTIFICATE-----" => {
                inside = false;
                out.push(STANDARD.decode(&current).map_err(|_| {
                    RpClientError::Verification("CA chain PEM is not Base64".into())
                })?);
            }
            body if inside => current.push_str(body),
            _ => {}
        }
    }
    Ok(out)
}

/// Checks `certificate_der` up to the root in `chain_pem` (issuing CA,
/// then root, as `/ca/chain.pem` serves them): each signature, each
/// validity period at `now`, and that the root signed itself.
pub fn verify_chain(
    certificate_der: &[u8],
    chain_pem: &str,
    now: i64,
) -> Result<VerifiedSigner, RpClientError> {
    let fail = |what: &str| RpClientError::Verification(what.to_owned());
    let chain = pem_certificates(chain_pem)?;
    let [issuing_der, root_der] = chain.as_slice() else {
        return Err(fail("the CA chain must hold the issuing CA and the root"));
    };
    let (_, leaf) = X509Certificate::from_der(certificate_der)
        .map_err(|_| fail("signer certificate is not X.509"))?;
    let (_, issuing) =
        X509Certificate::from_der(issuing_der).map_err(|_| fail("issuing CA is not X.509"))?;
    let (_, root) =
        X509Certificate::from_der(root_der).map_err(|_| fail("root CA is not X.509"))?;
    let at = x509_parser::time::ASN1Time::from_timestamp(now).map_err(|_| fail("bad clock"))?;
    for (name, cert) in [
        ("signer", &leaf),
        ("issuing CA", &issuing),
        ("root CA", &root),
    ] {
        if !cert.validity().is_valid_at(at) {
            return Err(RpClientError::Verification(format!(
                "{name} certificate is not valid now"
            )));
        }
    }
    leaf.verify_signature(Some(issuing.public_key()))
        .map_err(|_| fail("signer certificate is not signed by the issuing CA"))?;
    issuing
        .verify_signature(Some(root.public_key()))
        .map_err(|_| fail("issuing CA is not signed by the root"))?;
    root.verify_signature(None)
        .map_err(|_| fail("root CA is not self-signed"))?;
    let attribute = |oid| {
        leaf.subject()
            .iter_attributes()
            .find(|a| a.attr_type() == &oid)
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned)
    };
    Ok(VerifiedSigner {
        certificate_der: certificate_der.to_vec(),
        semantics_id: attribute(x509_parser::oid_registry::OID_X509_SERIALNUMBER)
            .ok_or_else(|| fail("signer certificate has no serialNumber"))?,
        common_name: attribute(x509_parser::oid_registry::OID_X509_COMMON_NAME)
            .ok_or_else(|| fail("signer certificate has no common name"))?,
    })
}

fn verifying_key(certificate_der: &[u8]) -> Result<VerifyingKey, RpClientError> {
    let (_, cert) = X509Certificate::from_der(certificate_der)
        .map_err(|_| RpClientError::Verification("signer certificate is not X.509".into()))?;
    VerifyingKey::from_public_key_der(cert.public_key().raw)
        .map_err(|_| RpClientError::Verification("signer key is not a P-256 key".into()))
}

fn signature_and_cert(body: &Value) -> Result<(DerSignature, Vec<u8>), RpClientError> {
    let fail = |what: &str| RpClientError::Verification(what.to_owned());
    if body["signature"]["signatureAlgorithm"] != "ecdsa" {
        return Err(fail("signatureAlgorithm is not ecdsa"));
    }
    let value = STANDARD
        .decode(body["signature"]["value"].as_str().unwrap_or_default())
        .map_err(|_| fail("signature is not Base64"))?;
    let signature =
        DerSignature::try_from(value.as_slice()).map_err(|_| fail("signature is not DER ECDSA"))?;
    let cert = STANDARD
        .decode(body["cert"]["value"].as_str().unwrap_or_default())
        .map_err(|_| fail("certificate is not Base64"))?;
    Ok((signature, cert))
}

/// The checks an RP runs on a completed authentication: end result OK,
/// the ACSP_V2 message rebuilt from what the RP sent and what the server
/// returned, its hash verified under the certificate's key, the chain
/// verified, and the person the one asked for (when `expected_id` is set).
pub fn verify_authentication(
    started: &Started,
    completed: &Completed,
    scheme: &str,
    rp_name: &str,
    chain_pem: &str,
    expected_id: Option<&str>,
    now: i64,
) -> Result<VerifiedSigner, RpClientError> {
    let fail = |what: String| RpClientError::Verification(what);
    if completed.end_result != "OK" {
        return Err(fail(format!("end result {}", completed.end_result)));
    }
    let body = &completed.body;
    let (signature, cert) = signature_and_cert(body)?;
    let field = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let message = AcspV2 {
        scheme: scheme.to_owned(),
        server_random: field(&body["signature"]["serverRandom"]),
        rp_challenge: started.challenge_or_digest.clone(),
        user_challenge: field(&body["signature"]["userChallenge"]),
        rp_name: rp_name.to_owned(),
        brokered_rp_name: String::new(),
        interactions: started.interactions.clone(),
        interaction_type_used: field(&body["interactionTypeUsed"])
            .parse()
            .map_err(|e| fail(format!("interactionTypeUsed: {e}")))?,
        initial_callback_url: String::new(),
        flow_type: field(&body["signature"]["flowType"])
            .parse::<FlowType>()
            .map_err(|e| fail(format!("flowType: {e}")))?,
    };
    let digest = message
        .digest(started.hash_algorithm)
        .map_err(|e| fail(format!("ACSP_V2: {e}")))?;
    verifying_key(&cert)?
        .verify_prehash(&digest, &signature)
        .map_err(|_| fail("the signature does not verify over the ACSP_V2 message".into()))?;
    let signer = verify_chain(&cert, chain_pem, now)?;
    if let Some(id) = expected_id
        && signer.semantics_id != id
    {
        return Err(fail(format!("signed by {}, not {id}", signer.semantics_id)));
    }
    Ok(signer)
}

/// The checks an RP runs on a completed signature: end result OK, the
/// signature over `digest` verified under the certificate's key, and the
/// chain verified. Returns the DER signature with the signer.
pub fn verify_signature(
    digest: &[u8],
    completed: &Completed,
    chain_pem: &str,
    now: i64,
) -> Result<(Vec<u8>, VerifiedSigner), RpClientError> {
    if completed.end_result != "OK" {
        return Err(RpClientError::Verification(format!(
            "end result {}",
            completed.end_result
        )));
    }
    let (signature, cert) = signature_and_cert(&completed.body)?;
    verifying_key(&cert)?
        .verify_prehash(digest, &signature)
        .map_err(|_| {
            RpClientError::Verification("the signature does not verify over the digest".into())
        })?;
    let signer = verify_chain(&cert, chain_pem, now)?;
    Ok((signature.as_bytes().to_vec(), signer))
}
