#![doc = include_str!("../README.md")]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod builder;
mod cache;
mod chain;
mod classify;
mod error;
mod hop;
mod mfa;
mod policy;
mod profile;
mod provider;
mod role;
#[cfg(feature = "server")]
pub mod server;
mod status;
#[cfg(feature = "test-util")]
pub mod test_util;
#[cfg(test)]
mod testing;

pub use builder::Builder;
pub use error::{BuildError, Error, ErrorKind};
pub use mfa::MfaRequest;
pub use policy::RefreshPolicy;
pub use provider::RoleChainProvider;
pub use role::Role;
pub use status::{HopStatus, Status};
