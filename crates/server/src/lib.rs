//! The `gatehouse` binary's library: configuration, startup, the HTTP layer and the CLI. Kept a
//! library so the integration tests start the real application on port 0.

pub mod admin_client;
pub mod cli;
pub mod config;
pub mod http;
pub mod jwks_fetch;
pub mod metrics;
pub mod redis_limiter;
pub mod startup;
pub mod telemetry;
