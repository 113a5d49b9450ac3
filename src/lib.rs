//! AWS credentials by STS `AssumeRole` role chaining, with an ExternalId per hop, validated
//! before the first request and refreshed in the background before they expire: a drop-in
//! `credentials_provider` for any AWS SDK for Rust client.
//!
//! A worker in one account uses its own credentials (instance profile, ECS task role, SSO,
//! static keys: any `ProvideCredentials`) to assume a role in the account that owns the data,
//! passing the ExternalId that the role's trust policy demands, often through several hops
//! (base → broker role → target role). [`RoleChainProvider`] runs that chain, caches each hop's
//! credentials, refreshes them ahead of expiry, keeps serving valid credentials while STS
//! fails, and hands SDK clients the last role's credentials without making them wait on STS.
//!
//! ```no_run
//! use aws_role_chain::{Role, RoleChainProvider};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let sdk_config = aws_config::load_from_env().await; // the worker's own credentials
//! let provider = RoleChainProvider::builder()
//!     .configure(&sdk_config)
//!     .assume(Role::new("arn:aws:iam::333333333333:role/broker").external_id("broker-5b1e"))
//!     .assume(Role::new("arn:aws:iam::111111111111:role/storage").external_id("storage-7f3a"))
//!     .build()?; // every rule is checked here, before any request
//! let s3 = aws_sdk_s3::Client::from_conf(
//!     aws_sdk_s3::config::Builder::from(&sdk_config)
//!         .credentials_provider(provider)
//!         .build(),
//! );
//! # let _ = s3; Ok(()) }
//! ```
//!
//! # Where things are
//!
//! - [`RoleChainProvider::builder`] returns a [`RoleChainProviderBuilder`], whose page has the
//!   table of settings; [`Role`] has the table of one hop's `AssumeRole` parameters and the
//!   limits `build()` checks; [`RefreshPolicy`] the windows and backoffs.
//! - [`Error`] and [`ErrorKind`] (the table of kinds and what to do), [`BuildError`],
//!   [`Status`] for health checks.
//! - `RoleChainPool` (feature `pool`, default): many tenants' chains (a vendor reaching into
//!   its customers' accounts) in one bounded cache, their shared hops fetched once, their STS
//!   calls kept under a rate; each `Tenant` a `ProvideCredentials`.
//! - `server::CredentialsServer` (feature `server`): the chain's credentials for other
//!   processes, through the container-credentials protocol every AWS SDK reads.
//! - `test_util::LocalSts` (feature `test-util`): a real STS endpoint on loopback for tests.
//! - The [guides](guide): refresh, errors, the AWS config files, MFA, sharing with other
//!   processes, many tenants, testing, logs, metrics.
//!
//! # Features
//!
//! - `aws-config` (default): profile roots whose credentials come from `credential_source`, SSO,
//!   `credential_process` or web identity, read by aws-config's own providers. Without it the
//!   crate builds without aws-config and its SSO clients; a profile whose root has static keys
//!   still works, and the others need a
//!   [`base_provider`](RoleChainProviderBuilder::base_provider).
//! - `pool` (default): `RoleChainPool`, on the bounded concurrent cache moka.
//! - `server`: `server::CredentialsServer`.
//! - `test-util`: `test_util::LocalSts` (the crate `aws-role-chain-local-sts`).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
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
pub mod guide;
mod hop;
mod limits;
mod metrics;
mod mfa;
mod panic;
mod policy;
#[cfg(feature = "pool")]
mod pool;
mod profile;
mod provider;
mod redact;
mod role;
#[cfg(all(feature = "server", unix))]
pub mod server;
mod status;
#[cfg(feature = "test-util")]
pub mod test_util;
#[cfg(test)]
mod testing;
mod time;

pub use builder::RoleChainProviderBuilder;
pub use error::{BuildError, Error, ErrorKind};
pub use mfa::{MfaRequest, MfaTokenFuture, ProvideMfaToken};
pub use policy::RefreshPolicy;
#[cfg(feature = "pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
pub use pool::{PoolStatus, RoleChainPool, RoleChainPoolBuilder, Tenant};
pub use provider::RoleChainProvider;
pub use role::Role;
pub use status::{HopStatus, Status};

/// The former name of [`RoleChainProviderBuilder`].
#[deprecated(
    since = "0.2.0",
    note = "renamed `RoleChainProviderBuilder`, as the SDK names its builders"
)]
pub type Builder = RoleChainProviderBuilder;

// The README's example is compiled with the doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
