//! The CA's public files: the certificate chain and the CRL, which lists
//! every certificate revoked for nine wrong PINs, a protocol failure or a
//! replaced registration.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ca::{CertificateSerial, RevokedCertificate};
use crate::state::Server;

/// How long a CRL is valid; clients fetch a fresh one after this.
const CRL_LIFETIME: time::Duration = time::Duration::hours(1);

/// `GET /ca/chain.pem`: issuing CA then root, PEM.
pub async fn chain(State(server): State<Arc<Server>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        server.ca.chain_pem(),
    )
        .into_response()
}

/// `GET /ca/crl`: the current CRL, DER, signed by the issuing CA.
pub async fn crl(State(server): State<Arc<Server>>) -> Response {
    match build_crl(&server).await {
        Ok(der) => ([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response(),
        Err(message) => {
            tracing::error!(%message, "CRL generation failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "CRL unavailable").into_response()
        }
    }
}

async fn build_crl(server: &Server) -> Result<Vec<u8>, String> {
    let mut tx = server.store.begin().await.map_err(|e| e.to_string())?;
    let revoked = tx.revoked_certificates().await.map_err(|e| e.to_string())?;
    drop(tx);
    let entries = revoked
        .iter()
        .map(|(serial, at)| {
            Ok(RevokedCertificate {
                serial: serial
                    .parse::<CertificateSerial>()
                    .map_err(|e| e.to_string())?,
                revoked_at: time::OffsetDateTime::from_unix_timestamp(*at)
                    .map_err(|e| e.to_string())?,
                reason: None,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let now = time::OffsetDateTime::from_unix_timestamp(server.now()).map_err(|e| e.to_string())?;
    // The CRL number must grow; the clock does, and one CRL a second is
    // plenty.
    let number = u64::try_from(server.now()).unwrap_or(0);
    server
        .ca
        .crl(&entries, now, now + CRL_LIFETIME, number)
        .map_err(|e| e.to_string())
}
