//! The demo relying party served at `/demo/`: a small bank-like web page
//! that logs a person in with Kaksik (by personal code or by QR code) and
//! has them sign an uploaded document.
//!
//! It is an RP like any other: it talks to this server's RP API v3 over
//! HTTPS through [`RpClient`], pinned to the server's own TLS key, as the
//! registered demo RP (`DEMO`), and runs every check an RP must run on a
//! result (`rp_client::verify_*`). It shares nothing with the API handlers
//! but the clock and the settings it reads at start.
//!
//! What it keeps is in memory only ([`sessions`]): one entry per browser
//! flow, bounded in number and expiring, so a restart forgets them, which
//! is acceptable for a demo page. The pages are server-rendered HTML with
//! inline CSS and one tiny inline polling script ([`pages`]); the flows are
//! in [`login`], [`sign`] and [`qr`].
//!
//! Routes:
//!
//! ```text
//! GET  /demo/                      start page: the three forms
//! GET  /demo/favicon.svg           the tab icon
//! POST /demo/login                 log in by personal code
//! POST /demo/login/qr              log in by QR code
//! GET  /demo/login/{id}            waiting page (code or QR), polls status
//! GET  /demo/login/{id}/status     {"done": bool, "next": url}
//! GET  /demo/login/{id}/qr.svg     the QR code as it is this second
//! GET  /demo/login/{id}/result     the person and their certificate
//! POST /demo/sign                  sign an uploaded file (multipart)
//! GET  /demo/sign/{id}             waiting page, polls status
//! GET  /demo/sign/{id}/status      {"done": bool, "next": url}
//! GET  /demo/sign/{id}/result      the signature and certificate
//! GET  /demo/sign/{id}/signature   the DER signature, `<file>.sig`
//! GET  /demo/sign/{id}/cert.pem    the signer's certificate
//! GET  /demo/sign/{id}/chain.pem   the CA chain (issuing CA, root)
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::app::{DEMO_RP_NAME, DEMO_RP_UUID};
use crate::clock::Clock;
use crate::rp_client::{RpClient, RpClientError};
use crate::state::Server;

mod certificate;
pub mod login;
pub mod pages;
pub mod qr;
pub mod sessions;
pub mod sign;

use sessions::Sessions;

/// The largest file the demo signs. The whole request may be a little
/// larger (the other form fields and the multipart framing).
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Room for the multipart framing and the small form fields.
const UPLOAD_OVERHEAD_BYTES: usize = 64 * 1024;

/// Why the demo RP could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The RP client could not be built (a bad pin, no TLS config).
    #[error("RP client: {0}")]
    Client(#[from] RpClientError),
}

/// The demo RP's state, shared by its handlers and its waiting tasks.
pub struct DemoRp {
    /// The RP API client: this server, over pinned HTTPS, as `DEMO`.
    rp: RpClient,
    /// The scheme name the server signs under (ACSP_V2, authCode).
    scheme: String,
    /// Time for certificate validity checks: the server's clock, so a
    /// test that moves the server's time moves the RP's too.
    clock: Arc<dyn Clock>,
    /// How long the RP waits for a session before giving up: the server's
    /// own session timeout plus a margin for the last long-poll.
    wait: Duration,
    /// The browser flows in progress and their results.
    sessions: Sessions,
}

impl DemoRp {
    /// The RP API client.
    pub(crate) fn rp(&self) -> &RpClient {
        &self.rp
    }

    /// The scheme name.
    pub(crate) fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Now, Unix seconds, on the server's clock.
    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// How long to wait for one RP session.
    pub(crate) fn wait_time(&self) -> Duration {
        self.wait
    }

    /// The browser flows.
    pub(crate) fn sessions(&self) -> &Sessions {
        &self.sessions
    }
}

/// The address the demo RP calls the server at: the bound address, with a
/// wildcard (`0.0.0.0`, `::`) replaced by loopback, since the RP runs in
/// the same process.
fn own_address(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// The demo RP's routes, for the server bound at `bound` whose TLS key has
/// `spki_pin`. Merged into the app by [`crate::app::serve`].
pub fn router(server: &Server, bound: SocketAddr, spki_pin: &str) -> Result<Router, DemoError> {
    let url = format!("https://{}", own_address(bound));
    let rp = RpClient::new(&url, spki_pin, DEMO_RP_UUID, DEMO_RP_NAME)?
        .with_scheme(&server.config.scheme);
    let timeout = u64::try_from(server.config.session_timeout_secs).unwrap_or(0);
    let demo = Arc::new(DemoRp {
        rp,
        scheme: server.config.scheme.clone(),
        clock: server.clock.clone(),
        wait: Duration::from_secs(timeout) + Duration::from_secs(60),
        sessions: Sessions::new(),
    });
    tracing::info!(%url, "demo relying party at /demo/");
    Ok(Router::new()
        .route("/demo", get(|| async { Redirect::permanent("/demo/") }))
        .route("/demo/", get(pages::index))
        .route("/demo/favicon.svg", get(pages::favicon))
        .route("/demo/login", post(login::start_by_personal_code))
        .route("/demo/login/qr", post(login::start_by_qr))
        .route("/demo/login/{id}", get(login::waiting))
        .route("/demo/login/{id}/status", get(login::status))
        .route("/demo/login/{id}/qr.svg", get(login::qr_svg))
        .route("/demo/login/{id}/qr.txt", get(login::qr_text))
        .route("/demo/login/{id}/result", get(login::result))
        .route(
            "/demo/sign",
            post(sign::start).layer(DefaultBodyLimit::max(
                MAX_UPLOAD_BYTES + UPLOAD_OVERHEAD_BYTES,
            )),
        )
        .route("/demo/sign/{id}", get(sign::waiting))
        .route("/demo/sign/{id}/status", get(sign::status))
        .route("/demo/sign/{id}/result", get(sign::result))
        .route("/demo/sign/{id}/signature", get(sign::signature))
        .route("/demo/sign/{id}/cert.pem", get(sign::certificate))
        .route("/demo/sign/{id}/chain.pem", get(sign::chain))
        .with_state(demo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_called_on_loopback() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(own_address(at("0.0.0.0:8443")), at("127.0.0.1:8443"));
        assert_eq!(own_address(at("[::]:1")), at("[::1]:1"));
        assert_eq!(own_address(at("10.1.2.3:9")), at("10.1.2.3:9"));
    }
}
