//! Gatehouse's HTTP integration suite: one binary, one file per area. Every test starts the real
//! application on port 0 with a fresh SQLite database (`TestApp`), or the real binary when
//! process behaviour (kill -9, init, logs) is the point.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod test_app;

mod abuse;
mod access_profiles;
mod authorization;
mod bad_input;
mod change_feed;
mod cli;
mod client_api;
mod connections;
mod cors;
mod faults;
mod federation;
mod gateway;
mod gateways;
mod leaked_credentials;
mod lifecycle;
mod lifecycle_model;
mod logos;
mod multi_instance;
mod oauth_standards;
mod operations;
mod people;
mod permission_matrix;
mod policies;
mod portal;
mod process;
mod processes;
mod projects;
mod secret_rotation;
mod token_endpoint;
mod usage;

/// A reqwest client builder for the tests. reqwest is built with rustls but no crypto provider of
/// its own (its default would be ring), so a process must install aws-lc-rs before it builds a
/// client, as `gatehouse clients` does.
pub fn http() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
}
