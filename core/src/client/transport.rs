//! One device-API call on the wire: HTTPS to the pinned server, the body
//! sealed end to end, the request signed by the device key, the answer
//! opened or turned into a typed error (PROTOCOL.md §5, `api` module doc).
//!
//! ```text
//! context  = request_auth::channel_context("POST", path, timestamp, nonce, device_id)
//! envelope = channel::seal_request(protocol_key, context, JSON request)
//! headers  = request_auth::sign_request(device_key, POST path SHA-256(envelope) …)
//! 2xx      → ResponseKey::open_response(body) → JSON response
//! other    → plain JSON api::ApiError → ClientError (480 → ClientTooOld)
//! ```
//!
//! Only `GET` server-info travels unsigned and in the clear: it is how the
//! client learns the protocol key, and the TLS pin is its trust.
//!
//! # Timeouts and retries
//!
//! Every request has a timeout (the configured one, plus the wait of a
//! long-poll). Only reads are retried, with a short jittered backoff,
//! each time as a new signed request (a nonce is single-use): server-info,
//! the inbox, a transaction, the account, a registration's status. A step
//! that consumes server state (a DKG or signing round, an unlock, a
//! confirmation) is sent once: repeating it could spend a PIN attempt or
//! replay a protocol phase, and its caller knows how to resume.
//!
//! Bodies are capped when read, so a hostile server cannot make the
//! device buffer more than one largest envelope.
//!
//! Not owned here: which calls to make (the flows), and the TLS verifier
//! ([`super::pinning`]).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::ClientConfig;
use super::error::ClientError;
use super::pinning::{self, SpkiPin};
use crate::crypto::channel::{self, ProtocolPublicKey};
use crate::crypto::secret::SecretBytes;
use crate::device_key::DeviceKey;
use crate::protocol::api::{self, ApiError, ServerInfo};
use crate::protocol::request_auth::{self, RequestToSign, SignedHeaders};

/// Tries of a read, the first included.
const READ_ATTEMPTS: u32 = 3;
/// Pause before the second try; doubled before each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Random extra pause, so devices that failed together do not retry
/// together.
const MAX_JITTER_MS: u64 = 250;
/// Largest error or server-info body read. Both are small JSON objects.
const MAX_PLAIN_BODY_LEN: usize = 64 * 1024;
/// The longest timeout a configuration may ask for.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest id the client puts into a path.
const MAX_ID_LEN: usize = 128;

/// How a call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// Consumes server state: sent once, never retried.
    Step,
    /// Reads state: retried on network failures and 5xx answers.
    Read,
    /// A read that may wait up to `wait_seconds` for news before it
    /// answers; its timeout grows by as much.
    LongPoll {
        /// What the request asks the server to wait.
        wait_seconds: u32,
    },
}

impl Call {
    fn attempts(self) -> u32 {
        match self {
            Call::Step => 1,
            Call::Read | Call::LongPoll { .. } => READ_ATTEMPTS,
        }
    }

    fn extra_wait(self) -> Duration {
        match self {
            Call::LongPoll { wait_seconds } => Duration::from_secs(u64::from(wait_seconds)),
            Call::Step | Call::Read => Duration::ZERO,
        }
    }
}

/// A failed try, and whether trying again could help.
struct Failure {
    error: ClientError,
    transient: bool,
}

impl Failure {
    fn fatal(error: ClientError) -> Self {
        Self {
            error,
            transient: false,
        }
    }
}

/// The device's HTTPS connection to one pinned server, signing as one
/// device key.
pub(crate) struct Transport {
    http: reqwest::Client,
    origin: Url,
    request_timeout: Duration,
    device_key: Arc<dyn DeviceKey>,
    device_id: String,
}

impl Transport {
    /// Checks `config` and builds the HTTPS client.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidInput`] for a server URL that is not an
    /// `https` origin, a malformed pin or a timeout out of range;
    /// [`ClientError::DeviceKey`] if the device key cannot give its
    /// public key; [`ClientError::Internal`] if the HTTP client cannot be
    /// built.
    pub(crate) fn new(
        config: &ClientConfig,
        device_key: Arc<dyn DeviceKey>,
        device_id: String,
    ) -> Result<Self, ClientError> {
        let origin = parse_origin(&config.server_url)?;
        let pin = SpkiPin::parse(&config.tls_spki_pin)?;
        if config.request_timeout.is_zero() || config.request_timeout > MAX_REQUEST_TIMEOUT {
            return Err(ClientError::invalid_input(format!(
                "the request timeout must be between 1 ms and {} s",
                MAX_REQUEST_TIMEOUT.as_secs()
            )));
        }
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(pinning::client_config(pin)?)
            .https_only(true)
            .http1_only()
            // The path is signed: a redirect would fail the signature at
            // best and send the body elsewhere at worst.
            .redirect(reqwest::redirect::Policy::none())
            // Direct connections only: the pin would refuse an
            // intercepting proxy anyway, and proxy variables meant for
            // other programs must not reroute the device.
            .no_proxy()
            .connect_timeout(config.request_timeout)
            .build()
            .map_err(|error| ClientError::Internal(format!("HTTP client: {error}")))?;
        Ok(Self {
            http,
            origin,
            request_timeout: config.request_timeout,
            device_key,
            device_id,
        })
    }

    /// `GET` [`api::path::SERVER_INFO`]: the protocol key and the oldest
    /// client version the server accepts. Retried like every read.
    pub(crate) async fn server_info(&self) -> Result<ServerInfo, ClientError> {
        self.with_retries(Call::Read, || async {
            let url = self.url(api::path::SERVER_INFO).map_err(Failure::fatal)?;
            let response = self
                .http
                .get(url)
                .timeout(self.request_timeout)
                .send()
                .await
                .map_err(network_failure)?;
            let status = response.status();
            if !status.is_success() {
                return Err(error_response(response).await);
            }
            let body = read_capped(response, MAX_PLAIN_BODY_LEN).await?;
            serde_json::from_slice(&body)
                .map_err(|error| Failure::fatal(ClientError::from_json("server info", &error)))
        })
        .await
    }

    /// `POST` `request` to `path`, sealed to `protocol_key` and signed, and
    /// returns the opened, parsed answer.
    pub(crate) async fn post<Req, Resp>(
        &self,
        protocol_key: &ProtocolPublicKey,
        path: &str,
        request: &Req,
        call: Call,
    ) -> Result<Resp, ClientError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        // Serialized once for all tries; the JSON may hold secrets (epoch
        // tokens, co-signing messages), so it lives in a wiped buffer.
        let plaintext = to_json_secret(request)?;
        let url = self.url(path)?;
        let started = Instant::now();
        let result = self
            .with_retries(call, || {
                self.post_once(protocol_key, &url, path, &plaintext, call)
            })
            .await;
        tracing::debug!(
            path,
            elapsed_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "device API call"
        );
        result
    }

    async fn post_once<Resp: DeserializeOwned>(
        &self,
        protocol_key: &ProtocolPublicKey,
        url: &Url,
        path: &str,
        plaintext: &SecretBytes,
        call: Call,
    ) -> Result<Resp, Failure> {
        let timestamp = unix_now().map_err(Failure::fatal)?;
        let nonce = request_auth::fresh_nonce();
        let context =
            request_auth::channel_context("POST", path, timestamp, &nonce, &self.device_id)
                .map_err(|error| Failure::fatal(error.into()))?;
        let (envelope, response_key) =
            channel::seal_request(protocol_key, &context, plaintext.expose()).map_err(|error| {
                Failure::fatal(ClientError::Internal(format!(
                    "sealing the request: {error}"
                )))
            })?;
        let (envelope, headers) = self
            .sign(path.to_owned(), envelope, timestamp, nonce)
            .await
            .map_err(Failure::fatal)?;

        let mut builder = self
            .http
            .request(Method::POST, url.clone())
            .timeout(self.request_timeout + call.extra_wait())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in headers.to_header_values() {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(envelope)
            .send()
            .await
            .map_err(network_failure)?;
        if !response.status().is_success() {
            return Err(error_response(response).await);
        }
        let body = read_capped(response, channel::MAX_ENVELOPE_LEN).await?;
        let opened = response_key.open_response(&body).map_err(|error| {
            Failure::fatal(ClientError::invalid_response(format!(
                "response envelope: {error}"
            )))
        })?;
        serde_json::from_slice(opened.expose())
            .map_err(|error| Failure::fatal(ClientError::from_json("response", &error)))
    }

    /// Signs off the async workers: a hardware keystore may take a while.
    async fn sign(
        &self,
        path: String,
        envelope: Vec<u8>,
        timestamp: i64,
        nonce: [u8; request_auth::NONCE_LEN],
    ) -> Result<(Vec<u8>, SignedHeaders), ClientError> {
        let key = Arc::clone(&self.device_key);
        let device_id = self.device_id.clone();
        let (envelope, signed) = super::offload(move || {
            let signed = request_auth::sign_request(
                key.as_ref(),
                &RequestToSign {
                    method: "POST",
                    path_and_query: &path,
                    body: &envelope,
                    timestamp,
                    nonce,
                    device_id: &device_id,
                    client_version: &api::CLIENT_VERSION.to_string(),
                },
            );
            (envelope, signed)
        })
        .await?;
        Ok((envelope, signed?))
    }

    async fn with_retries<T, F, Fut>(&self, call: Call, mut attempt: F) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let attempts = call.attempts();
        let mut backoff = FIRST_BACKOFF;
        let mut tried = 0;
        loop {
            tried += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(failure) if failure.transient && tried < attempts => {
                    tracing::debug!(error = %failure.error, tried, "retrying a read");
                    tokio::time::sleep(backoff + jitter()).await;
                    backoff *= 2;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// The origin plus `path`, checked to be exactly the target that is
    /// signed: a path that URL parsing would rewrite (`..`, `%2e`, a `?`)
    /// is refused here, not sent and refused by the server.
    fn url(&self, path: &str) -> Result<Url, ClientError> {
        let url = self
            .origin
            .join(path)
            .map_err(|_| ClientError::Internal(format!("unusable path {path:?}")))?;
        if url.path() != path || url.query().is_some() || url.fragment().is_some() {
            return Err(ClientError::Internal(format!("unusable path {path:?}")));
        }
        Ok(url)
    }
}

/// Whether `id` (from the server or the caller) may go into a path: 1 to
/// 128 of `[A-Za-z0-9_-]`, so it cannot add a segment, a query or an
/// escape to the signed path.
pub(crate) fn is_path_safe_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// `https://host[:port]`, nothing else: the device API's paths are signed
/// as sent, so a path prefix, a query or credentials have no place here.
fn parse_origin(server_url: &str) -> Result<Url, ClientError> {
    let bad = |why: &str| ClientError::invalid_input(format!("server URL: {why}"));
    let url = Url::parse(server_url).map_err(|_| bad("not a URL"))?;
    if url.scheme() != "https" {
        return Err(bad("must be https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must be an origin, without path, query or fragment"));
    }
    Ok(url)
}

/// Serializes `value` into a buffer allocated once at its final size, so
/// no reallocation leaves a copy of a secret in freed memory.
fn to_json_secret<T: Serialize>(value: &T) -> Result<SecretBytes, ClientError> {
    let internal = |error: serde_json::Error| {
        ClientError::Internal(format!("encoding the request: {:?}", error.classify()))
    };
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, value).map_err(internal)?;
    // Zeroizing covers the error path, where the buffer may hold part of
    // the JSON.
    let mut buffer = Zeroizing::new(Vec::with_capacity(counter.0));
    serde_json::to_writer(&mut *buffer, value).map_err(internal)?;
    Ok(SecretBytes::new(std::mem::take(&mut *buffer)))
}

/// Counts what `serde_json` would write.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a body of at most `max` bytes.
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, Failure> {
    let too_large = || {
        Failure::fatal(ClientError::invalid_response(format!(
            "body over {max} bytes"
        )))
    };
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network_failure)? {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A non-2xx answer: 480 is a too-old client whatever the body says;
/// otherwise the body is a plain [`ApiError`]. 5xx answers are worth
/// another try for a read.
async fn error_response(response: reqwest::Response) -> Failure {
    let status = response.status();
    let transient = status.is_server_error();
    if status.as_u16() == api::STATUS_CLIENT_TOO_OLD {
        return Failure::fatal(ClientError::ClientTooOld);
    }
    let error = match read_capped(response, MAX_PLAIN_BODY_LEN).await {
        Ok(body) => match serde_json::from_slice::<ApiError>(&body) {
            Ok(api_error) => ClientError::from_api(status.as_u16(), api_error),
            Err(_) => unreadable(status),
        },
        Err(failure) => return failure,
    };
    Failure { error, transient }
}

fn unreadable(status: StatusCode) -> ClientError {
    ClientError::Server {
        code: format!("HTTP_{}", status.as_u16()),
        message: "the server answered without a device-API error body".into(),
    }
}

/// A reqwest failure: the network is worth another try for a read; TLS,
/// and above all a pin mismatch, is not.
fn network_failure(error: reqwest::Error) -> Failure {
    let error = ClientError::from_reqwest(&error);
    let transient = matches!(error, ClientError::Network(_));
    Failure { error, transient }
}

/// The device's clock, Unix seconds.
pub(crate) fn unix_now() -> Result<i64, ClientError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|elapsed| i64::try_from(elapsed.as_secs()).ok())
        .ok_or_else(|| ClientError::Internal("the device clock is before 1970".into()))
}

fn jitter() -> Duration {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes);
    Duration::from_millis(u64::from_le_bytes(bytes) % (MAX_JITTER_MS + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_https_origin_is_a_server_url() {
        assert!(parse_origin("https://kaksik.example").is_ok());
        assert!(parse_origin("https://127.0.0.1:8443/").is_ok());
        for bad in [
            "http://kaksik.example",
            "https://kaksik.example/api",
            "https://kaksik.example/?x=1",
            "https://user:pw@kaksik.example",
            "kaksik.example",
            "",
        ] {
            assert!(
                matches!(parse_origin(bad), Err(ClientError::InvalidInput { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ids_that_could_change_the_path_are_refused() {
        assert!(is_path_safe_id("Abc-123_x"));
        for bad in ["", "..", "a/b", "a?b", "a%2e", "a b", &"a".repeat(129)] {
            assert!(!is_path_safe_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn json_is_written_in_one_allocation_of_the_right_size() {
        let value = api::WaitRequest { wait_seconds: 42 };
        let json = to_json_secret(&value).unwrap();
        assert_eq!(json.expose(), br#"{"wait_seconds":42}"#);
    }

    #[test]
    fn long_polls_wait_longer_and_only_reads_retry() {
        assert_eq!(Call::Step.attempts(), 1);
        assert_eq!(Call::Read.attempts(), READ_ATTEMPTS);
        assert_eq!(
            Call::LongPoll { wait_seconds: 60 }.extra_wait(),
            Duration::from_secs(60)
        );
    }
}
