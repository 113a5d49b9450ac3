//! # Errors and what to do
//!
//! Two types of error, one per moment:
//!
//! - [`BuildError`](crate::BuildError), from
//!   [`build()`](crate::RoleChainProviderBuilder::build), before any request: a missing piece or a
//!   value STS would refuse. It names the [`field()`](crate::BuildError::field), the
//!   [`hop()`](crate::BuildError::hop) (the role's 0-based position, `None` for the whole chain),
//!   the rule and the offending value; an ExternalId only by its length, a policy or a tag value
//!   only by the rule it breaks.
//! - [`Error`](crate::Error), from a chain run: cheap to clone, keeps its source, and says where it
//!   happened: [`kind()`](crate::Error::kind), [`hop()`](crate::Error::hop),
//!   [`role_arn()`](crate::Error::role_arn), [`is_retryable()`](crate::Error::is_retryable). The
//!   table of kinds, with what each comes from and what to do about it, is on
//!   [`ErrorKind`](crate::ErrorKind).
//!
//! Through `ProvideCredentials` (as an SDK client sees it), `AccessDenied` and
//! `InvalidConfiguration` become `CredentialsError::InvalidConfiguration` and the other kinds
//! `CredentialsError::ProviderError`, each with the `Error` as its source, to downcast to:
//!
//! ```no_run
//! use aws_credential_types::provider::ProvideCredentials;
//! use std::error::Error as _;
//!
//! # async fn example(provider: aws_role_chain::RoleChainProvider) {
//! if let Err(err) = provider.provide_credentials().await {
//!     if let Some(chain_error) = err.source().and_then(|s| s.downcast_ref::<aws_role_chain::Error>()) {
//!         eprintln!("hop {:?} failed: {:?}", chain_error.hop(), chain_error.kind());
//!     }
//! }
//! # }
//! ```
//!
//! While refreshes fail, [`status()`](crate::RoleChainProvider::status) keeps the last error
//! ([`Status::last_error`](crate::Status::last_error)) and the count of consecutive failures, and
//! the credentials in service keep being served until they expire (see
//! [Refresh](crate::guide::refresh)).
//!
//! ## After a service rejects the credentials
//!
//! [`invalidate()`](crate::RoleChainProvider::invalidate) drops the cached credentials, for when a
//! service answered `InvalidClientTokenId` or `ExpiredToken`: the next callers share one fresh chain
//! run (see [Refresh](crate::guide::refresh) for how often it may run). An SDK client keeps the
//! credentials in its own identity cache, which `invalidate()` does not reach: build the client with
//! `IdentityCache::no_cache()`, so that every request asks the provider. That costs nothing here,
//! since the provider caches for itself and answers a cached call in well under a microsecond:
//!
//! ```no_run
//! use aws_role_chain::{Role, RoleChainProvider};
//! use aws_sdk_s3::config::IdentityCache;
//! use aws_sdk_s3::error::ProvideErrorMetadata;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let sdk_config = aws_config::load_from_env().await;
//! let provider = RoleChainProvider::builder()
//!     .configure(&sdk_config)
//!     .assume(Role::new("arn:aws:iam::111111111111:role/storage-access").external_id("storage-7f3a9c"))
//!     .build()?;
//! let s3 = aws_sdk_s3::Client::from_conf(
//!     aws_sdk_s3::config::Builder::from(&sdk_config)
//!         .credentials_provider(provider.clone())
//!         .identity_cache(IdentityCache::no_cache())
//!         .build(),
//! );
//! if let Err(err) = s3.list_objects_v2().bucket("storage").send().await {
//!     if matches!(err.code(), Some("InvalidClientTokenId" | "ExpiredToken")) {
//!         provider.invalidate();
//!     }
//! }
//! # Ok(()) }
//! ```
