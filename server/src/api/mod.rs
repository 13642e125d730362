//! HTTP: the device API, the RP API v3 and the CA's public files, as one
//! axum router. Each submodule maps its errors to its audience's format
//! once, at this edge: the device's typed JSON errors, RFC 9457
//! problem+json for RPs.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::Server;

pub mod ca;
pub mod device;
pub mod rp;

/// The whole HTTP surface.
pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route(
            kaksik_core::protocol::api::path::SERVER_INFO,
            get(device::server_info),
        )
        .route("/device/v1/{*rest}", post(device::call))
        .merge(rp::routes())
        .route("/ca/crl", get(ca::crl))
        .route("/ca/chain.pem", get(ca::chain))
        .fallback(rp::not_found)
        .with_state(server)
}
