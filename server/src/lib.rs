//! kaksik-server: the co-signing service.
//!
//! It will own the device API (registration, DKG rounds, OPRF unlock with
//! attempt counting, signing and refresh rounds, the transaction inbox), the
//! RP API v3 (notification and device-link sessions, session status,
//! problem+json errors), the CA, and one `Store` trait with SQLite and
//! PostgreSQL implementations. The server-side halves of the protocol come
//! from `kaksik_core::crypto`, so both ends run the same code.

pub mod admin;
pub mod api;
pub mod app;
pub mod at_rest;
pub mod ca;
pub mod clock;
pub mod config;
pub mod device;
pub use kaksik_core::protocol::lockout;
pub mod crash_point;
pub mod demo_rp;
pub mod rp_client;
pub mod state;
pub mod store;
pub mod tls;
