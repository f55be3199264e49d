//! Gatehouse's domain: API clients, their secrets, scopes and tokens, the people and accounts
//! that own them, and the rules of the seed documents. It knows nothing of HTTP or SQL: storage
//! is reached through the traits in [`store`].

pub mod account;
pub mod actor;
pub mod audit;
pub mod client;
pub mod clients;
pub mod clock;
pub mod credential_use;
pub mod error;
mod federation;
pub mod gate;
pub mod handoff;
pub mod ids;
pub mod jose;
pub mod jwks;
pub mod leaked;
pub mod logo;
pub mod master_key;
pub mod oauth;
mod optimistic;
pub mod password_work;
pub mod people;
pub mod policies;
pub mod policy;
pub mod products;
pub mod profile;
pub mod project;
pub mod projects;
pub mod quota;
pub mod random;
pub mod ratelimit;
pub mod rotation;
pub mod secret;
pub mod service;
pub mod store;
#[cfg(feature = "contract")]
pub mod store_contract;
pub mod throttle;
pub mod token;
pub mod token_ledger;
pub mod trust;
pub mod usage;
