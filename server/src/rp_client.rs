//! A Rust client of the RP API v3 this crate serves, and the checks a
//! relying party must run on a result: the signature over what it asked
//! for, the certificate chain up to the server's CA, and the identity.
//! `kaksik rp … auth|sign`, the demo and the end-to-end tests use it, so
//! they exercise the API exactly as an integrator's code would.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kaksik_core::client::{SpkiPin, pinned_tls_config};
use kaksik_core::rp::{
    AcspV2, AuthCodeBinding, CallbackValues, DeviceLink, DeviceLinkType, FlowType, HashAlgorithm,
    Interaction, Interactions, SessionSecret, SessionType,
};
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
    /// `initialCallbackUrl` as sent (empty outside same-device flows).
    pub initial_callback_url: String,
}

/// A device-link session the RP started: what it needs to draw the QR
/// code each second or hand out the same-device link, and to check the
/// callback that comes back.
#[derive(Debug, Clone)]
pub struct LinkSession {
    /// What to verify the result against (`vc` is the code the RP could
    /// show; device-link flows show none).
    pub started: Started,
    /// `sessionToken`.
    pub session_token: String,
    /// `sessionSecret`: keys the authCode and proves the callback.
    pub session_secret: SessionSecret,
    /// `deviceLinkBase`.
    pub device_link_base: String,
    /// auth, sign or cert.
    pub session_type: SessionType,
    /// When the session response arrived: `elapsedSeconds` counts from
    /// here.
    pub received_at: std::time::Instant,
    rp_name: String,
    scheme: String,
}

impl LinkSession {
    /// The session from its creation response `answer` and what the RP
    /// sent (`started`). Checks at once that a link can be built from it,
    /// so a bad answer fails the start rather than every redraw.
    pub fn from_answer(
        answer: &Value,
        started: Started,
        session_type: SessionType,
        rp_name: &str,
        scheme: &str,
    ) -> Result<Self, RpClientError> {
        let field = |name: &str| {
            answer[name].as_str().map(str::to_owned).ok_or_else(|| {
                RpClientError::Unexpected(format!("the session response has no {name}"))
            })
        };
        let secret = SessionSecret::from_base64(&field("sessionSecret")?)
            .map_err(|e| RpClientError::Unexpected(format!("sessionSecret: {e}")))?;
        let session = LinkSession {
            started,
            session_token: field("sessionToken")?,
            session_secret: secret,
            device_link_base: field("deviceLinkBase")?,
            session_type,
            received_at: std::time::Instant::now(),
            rp_name: rp_name.to_owned(),
            scheme: scheme.to_owned(),
        };
        if session.started.initial_callback_url.is_empty() {
            session.link(DeviceLinkType::Qr, Some(0), "eng")?;
        } else {
            session.link(DeviceLinkType::Web2App, None, "eng")?;
        }
        Ok(session)
    }

    /// The values the authCode binds, as the RP sent them.
    pub fn binding(&self) -> AuthCodeBinding {
        AuthCodeBinding {
            scheme: self.scheme.clone(),
            signature_protocol: self.session_type.signature_protocol(),
            rp_challenge_or_digest: self.started.challenge_or_digest.clone(),
            rp_name: self.rp_name.clone(),
            brokered_rp_name: String::new(),
            interactions: self.started.interactions.clone(),
            initial_callback_url: self.started.initial_callback_url.clone(),
        }
    }

    /// The link of type `link_type` (`elapsed_seconds` for QR only).
    pub fn link(
        &self,
        link_type: DeviceLinkType,
        elapsed_seconds: Option<u32>,
        lang: &str,
    ) -> Result<String, RpClientError> {
        DeviceLink {
            base: self.device_link_base.clone(),
            link_type,
            elapsed_seconds,
            session_token: self.session_token.clone(),
            session_type: self.session_type,
            lang: lang.to_owned(),
        }
        .build(&self.session_secret, &self.binding())
        .map_err(|e| RpClientError::Unexpected(e.to_string()))
    }

    /// The QR code's content now: redraw it every second.
    pub fn qr_link(&self, lang: &str) -> Result<String, RpClientError> {
        let elapsed = u32::try_from(self.received_at.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.link(DeviceLinkType::Qr, Some(elapsed), lang)
    }

    /// The checks an RP runs on the callback URL of a same-device flow:
    /// `sessionSecretDigest` proves the callback comes from this session,
    /// and for an authentication `userChallengeVerifier` must hash to the
    /// `userChallenge` the signature covers.
    pub fn verify_callback(
        &self,
        callback_url: &str,
        completed: &Completed,
    ) -> Result<(), RpClientError> {
        if !callback_url.starts_with(&self.started.initial_callback_url) {
            return Err(RpClientError::Verification(
                "the callback is not to the initialCallbackUrl".into(),
            ));
        }
        let values = CallbackValues::parse(callback_url)
            .map_err(|e| RpClientError::Verification(e.to_string()))?;
        let expected = match self.session_type {
            SessionType::Auth => Some(
                completed.body["signature"]["userChallenge"]
                    .as_str()
                    .ok_or_else(|| {
                        RpClientError::Verification("the result has no userChallenge".into())
                    })?,
            ),
            SessionType::Sign | SessionType::Cert => None,
        };
        values
            .verify(&self.session_secret, expected)
            .map_err(|e| RpClientError::Verification(e.to_string()))
    }
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
    scheme: String,
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
            scheme: "kaksik".to_owned(),
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

    /// `interactions` showing `text` with PIN entry (`displayTextAndPIN`).
    pub fn interactions(text: &str) -> Result<String, RpClientError> {
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
        self.authenticate_with(target, &Self::interactions(text)?)
            .await
    }

    /// [`RpClient::authenticate`] with any `interactions` (Base64 JSON).
    pub async fn authenticate_with(
        &self,
        target: &Target,
        interactions: &str,
    ) -> Result<Started, RpClientError> {
        let (challenge, body) = self.auth_body(interactions, None);
        let answer = self
            .post_json(
                &format!("/v3/authentication/notification/{}", target.path()),
                &body,
            )
            .await?;
        started(
            &answer,
            challenge,
            interactions.to_owned(),
            HashAlgorithm::Sha512,
            String::new(),
        )
    }

    /// Starts a device-link authentication: anonymous when `target` is
    /// `None`; a same-device flow when `callback` is given.
    pub async fn authenticate_device_link(
        &self,
        target: Option<&Target>,
        text_shown: &str,
        callback: Option<&str>,
    ) -> Result<LinkSession, RpClientError> {
        let interactions = Self::interactions(text_shown)?;
        let (challenge, body) = self.auth_body(&interactions, callback);
        let path = match target {
            None => "/v3/authentication/device-link/anonymous".to_owned(),
            Some(target) => format!("/v3/authentication/device-link/{}", target.path()),
        };
        let answer = self.post_json(&path, &body).await?;
        let code =
            kaksik_core::vc::rp_challenge_code(&STANDARD.decode(&challenge).unwrap_or_default());
        self.link_session(
            &answer,
            Started {
                session_id: text(&answer["sessionID"])?,
                vc: code.to_string(),
                challenge_or_digest: challenge,
                interactions,
                hash_algorithm: HashAlgorithm::Sha512,
                initial_callback_url: callback.unwrap_or_default().to_owned(),
            },
            SessionType::Auth,
        )
    }

    /// Starts a device-link signature of a SHA-256 `digest` for `target`.
    pub async fn sign_device_link(
        &self,
        target: &Target,
        digest: &[u8; 32],
        text_shown: &str,
        callback: Option<&str>,
    ) -> Result<LinkSession, RpClientError> {
        let interactions = Self::interactions(text_shown)?;
        let (digest_text, body) = self.sign_body(digest, &interactions, callback);
        let answer = self
            .post_json(
                &format!("/v3/signature/device-link/{}", target.path()),
                &body,
            )
            .await?;
        self.link_session(
            &answer,
            Started {
                session_id: text(&answer["sessionID"])?,
                vc: kaksik_core::vc::digest_code(digest).to_string(),
                challenge_or_digest: digest_text,
                interactions,
                hash_algorithm: HashAlgorithm::Sha256,
                initial_callback_url: callback.unwrap_or_default().to_owned(),
            },
            SessionType::Sign,
        )
    }

    /// Starts an anonymous device-link certificate choice.
    pub async fn certificate_choice_device_link(
        &self,
        callback: Option<&str>,
    ) -> Result<LinkSession, RpClientError> {
        let mut body = json!({
            "relyingPartyUUID": self.uuid,
            "relyingPartyName": self.name,
            "certificateLevel": "QUALIFIED",
            "nonce": fresh_nonce(),
        });
        if let Some(callback) = callback {
            body["initialCallbackUrl"] = json!(callback);
        }
        let answer = self
            .post_json(
                "/v3/signature/certificate-choice/device-link/anonymous",
                &body,
            )
            .await?;
        self.link_session(
            &answer,
            Started {
                session_id: text(&answer["sessionID"])?,
                vc: String::new(),
                challenge_or_digest: String::new(),
                interactions: String::new(),
                hash_algorithm: HashAlgorithm::Sha256,
                initial_callback_url: callback.unwrap_or_default().to_owned(),
            },
            SessionType::Cert,
        )
    }

    /// Starts a notification certificate choice; the session id.
    pub async fn certificate_choice(&self, target: &Target) -> Result<String, RpClientError> {
        let body = json!({
            "relyingPartyUUID": self.uuid,
            "relyingPartyName": self.name,
            "certificateLevel": "QUALIFIED",
            "nonce": fresh_nonce(),
        });
        let answer = self
            .post_json(
                &format!(
                    "/v3/signature/certificate-choice/notification/{}",
                    target.path()
                ),
                &body,
            )
            .await?;
        text(&answer["sessionID"])
    }

    /// Starts the notification signature linked to the completed
    /// certificate choice `linked_session_id` of `document`.
    pub async fn sign_linked(
        &self,
        document: &str,
        linked_session_id: &str,
        digest: &[u8; 32],
        text_shown: &str,
    ) -> Result<Started, RpClientError> {
        let interactions = Self::interactions(text_shown)?;
        let (digest_text, mut body) = self.sign_body(digest, &interactions, None);
        body["linkedSessionID"] = json!(linked_session_id);
        let answer = self
            .post_json(
                &format!("/v3/signature/notification/linked/{document}"),
                &body,
            )
            .await?;
        started(
            &answer,
            digest_text,
            interactions,
            HashAlgorithm::Sha256,
            String::new(),
        )
    }

    /// The signing certificate of `document`, DER.
    pub async fn signing_certificate(&self, document: &str) -> Result<Vec<u8>, RpClientError> {
        let body = json!({
            "relyingPartyUUID": self.uuid,
            "relyingPartyName": self.name,
            "certificateLevel": "QUALIFIED",
        });
        let answer = self
            .post_json(&format!("/v3/signature/certificate/{document}"), &body)
            .await?;
        STANDARD
            .decode(text(&answer["cert"]["value"])?)
            .map_err(|_| RpClientError::Unexpected("cert.value is not Base64".into()))
    }

    fn link_session(
        &self,
        answer: &Value,
        started: Started,
        session_type: SessionType,
    ) -> Result<LinkSession, RpClientError> {
        LinkSession::from_answer(answer, started, session_type, &self.name, &self.scheme)
    }

    /// The scheme name the server is configured with (the first field of
    /// ACSP_V2 and of the authCode payload); `kaksik` by default.
    #[must_use]
    pub fn with_scheme(mut self, scheme: &str) -> Self {
        self.scheme = scheme.to_owned();
        self
    }

    /// An ACSP_V2 request body with a fresh 64-byte rpChallenge; the
    /// challenge (standard Base64) and the body.
    fn auth_body(&self, interactions: &str, callback: Option<&str>) -> (String, Value) {
        let mut challenge = [0u8; 64];
        rand::fill(&mut challenge);
        let challenge = STANDARD.encode(challenge);
        let mut body = json!({
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
        if let Some(callback) = callback {
            body["initialCallbackUrl"] = json!(callback);
        }
        (challenge, body)
    }

    /// A RAW_DIGEST_SIGNATURE request body for a SHA-256 digest, with a
    /// fresh nonce; the digest (standard Base64) and the body.
    fn sign_body(
        &self,
        digest: &[u8; 32],
        interactions: &str,
        callback: Option<&str>,
    ) -> (String, Value) {
        let digest = STANDARD.encode(digest);
        let mut body = json!({
            "relyingPartyUUID": self.uuid,
            "relyingPartyName": self.name,
            "certificateLevel": "QUALIFIED",
            "signatureProtocol": "RAW_DIGEST_SIGNATURE",
            "signatureProtocolParameters": {
                "digest": digest,
                "signatureAlgorithm": "ecdsa",
                "signatureAlgorithmParameters": { "hashAlgorithm": "SHA-256" },
            },
            "nonce": fresh_nonce(),
            "interactions": interactions,
        });
        if let Some(callback) = callback {
            body["initialCallbackUrl"] = json!(callback);
        }
        (digest, body)
    }

    /// Starts a notification signature of a SHA-256 `digest`.
    pub async fn sign(
        &self,
        target: &Target,
        digest: &[u8; 32],
        text: &str,
    ) -> Result<Started, RpClientError> {
        let interactions = Self::interactions(text)?;
        let (digest_text, body) = self.sign_body(digest, &interactions, None);
        let answer = self
            .post_json(
                &format!("/v3/signature/notification/{}", target.path()),
                &body,
            )
            .await?;
        started(
            &answer,
            digest_text,
            interactions,
            HashAlgorithm::Sha256,
            String::new(),
        )
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
    initial_callback_url: String,
) -> Result<Started, RpClientError> {
    Ok(Started {
        session_id: text(&answer["sessionID"])?,
        vc: text(&answer["vc"]["value"])?,
        challenge_or_digest: challenge,
        interactions,
        hash_algorithm: hash,
        initial_callback_url,
    })
}

/// A fresh request `nonce`: signature and certificate-choice requests
/// with the same nonce within 15 s are answered with the same session.
pub fn fresh_nonce() -> String {
    let mut bytes = [0u8; 18];
    rand::fill(&mut bytes);
    kaksik_core::rp::encoding::encode_url(&bytes)
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
        initial_callback_url: started.initial_callback_url.clone(),
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
