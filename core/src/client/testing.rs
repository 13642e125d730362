//! A loopback HTTPS server for this module's unit tests: real TLS
//! (tokio-rustls, the ring provider, an rcgen certificate), just enough
//! HTTP/1.1 for one request per connection, and a handler the test
//! supplies. The end-to-end tests against the real server live in the
//! workspace's `tests` crate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::ClientError;
use super::pinning::{self, SpkiPin};

/// One request as the server saw it.
pub(crate) struct TestRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl TestRequest {
    /// A header's value, looked up case-insensitively.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    }
}

/// What the handler answers.
pub(crate) struct TestResponse {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

type Handler = Arc<dyn Fn(TestRequest) -> TestResponse + Send + Sync>;

/// The running server; stops when dropped.
pub(crate) struct TestServer {
    address: SocketAddr,
    served: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// A server that answers `200 hello` to everything.
    pub(crate) async fn start(certified: &rcgen::CertifiedKey) -> Self {
        Self::start_with(
            certified,
            Arc::new(|_| TestResponse {
                status: 200,
                body: b"hello".to_vec(),
            }),
        )
        .await
    }

    /// A server that answers with `handler`.
    pub(crate) async fn start_with(certified: &rcgen::CertifiedKey, handler: Handler) -> Self {
        let config = rustls::ServerConfig::builder_with_provider(pinning::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certified.cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&served);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let handler = Arc::clone(&handler);
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Some(request) = read_request(&mut tls).await else {
                        return;
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    let response = handler(request);
                    let head = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        response.status,
                        response.body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&response.body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            address,
            served,
            task,
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// Requests that got past the TLS handshake.
    pub(crate) fn requests_served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// `GET path` through the pinned TLS configuration alone.
    pub(crate) async fn get_with_pin(
        &self,
        pin: SpkiPin,
        path: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(pinning::client_config(pin)?)
            .http1_only()
            .no_proxy()
            .build()
            .unwrap();
        let response = client
            .get(format!("{}{path}", self.url()))
            .send()
            .await
            .map_err(|error| ClientError::from_reqwest(&error))?;
        Ok(response.bytes().await.unwrap().to_vec())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 request with a `content-length` body.
async fn read_request<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<TestRequest> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map_or(Some(0), |(_, value)| value.parse().ok())?;
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Some(TestRequest {
        method,
        path,
        headers,
        body,
    })
}
