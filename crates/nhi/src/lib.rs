//! The NHIA connector (R-QRY-3): the `Connector` trait the gateway sends lookups through, the real
//! HTTP(S) connector whose endpoint and credentials are settings, and the built-in sandbox NHIA
//! that answers from synthetic people for demos and tests (in-process or over HTTP).
//!
//! This crate sends personal data and receives it, so it must never log a national ID (only
//! masked, as `NationalId::masked` does), a name, a birth date or any result field, nor the NHIA
//! credential; its errors carry none of them. It does not check who may ask: by the time a
//! lookup reaches a connector, the app has checked the purpose and written the log entry.

pub mod breaker;
pub mod connector;
pub mod error;
pub mod http;
pub mod sandbox;
mod transport;
pub mod wire;

pub use breaker::BreakerState;
pub use connector::{BoxFuture, Connector, LookupAnswer, LookupRequest, Record, Secret, Subject};
pub use error::NhiError;
pub use http::{HttpConnector, HttpConnectorConfig};
pub use sandbox::SandboxConnector;
pub use sandbox::data::{Person, SandboxData, Visit};
pub use sandbox::server::{
    SandboxConfig, SandboxFaults, SandboxHandle, sandbox_router, spawn_sandbox, spawn_sandbox_tls,
};

/// rustls, re-exported so that callers of `spawn_sandbox_tls` build their server configuration
/// with the same version.
pub use rustls;
