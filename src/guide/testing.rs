//! # Testing with `LocalSts`
//!
//! With the `test-util` feature, `aws_role_chain::test_util::LocalSts` (the crate
//! `aws-role-chain-local-sts`, usable on its own with any STS client) is a real STS endpoint on
//! 127.0.0.1: `AssumeRole` and `GetCallerIdentity` over STS's query protocol, answered in STS's XML
//! and `ErrorResponse` shapes with STS's statuses. It checks every SigV4 signature with the
//! caller's secret key, enforces each role's trust rule (admitted principals, required ExternalId,
//! maximum session duration, the 1-hour role-chaining limit, MFA with `LocalRole::mfa` and the
//! device's current code from `LocalSts::mfa_device`, each code good once) and logs every request
//! for assertions (whether it carried an MFA code, never the code). `LocalSts::start().await?` and `sts.stop().await`.
//!
//! For tests of refreshing and failure handling it takes scripted faults per request
//! (`push_faults`) or for every request (`set_outage`): throttling, 500, 503, added delay, a reset
//! connection, a truncated or garbage body, an answer without credentials, credentials already
//! expired or expiring far in the future or at a given time. `set_latency` delays every answer and
//! `set_session_lifetime` issues short-lived sessions; `LocalSts::builder().time_source(…)` gives it
//! its own clock, for manual time, and `.clock_ahead(…)` / `.clock_behind(…)` skew it against the
//! caller's.
//!
//! A chain against it, runnable anywhere (this is how the crate's own tests and examples run):
//!
//! ```rust
//! use aws_role_chain::test_util::{LocalRole, LocalSts};
//! use aws_role_chain::{ErrorKind, Role, RoleChainProvider};
//! use aws_types::region::Region;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sts = LocalSts::start().await?;
//! let compute = sts.add_user("222222222222", "compute");
//! sts.add_role(
//!     LocalRole::new("arn:aws:iam::111111111111:role/storage-access")
//!         .trust("arn:aws:iam::222222222222:user/compute")
//!         .external_id("storage-7f3a9c"),
//! );
//! let chain = |external_id: &str| {
//!     RoleChainProvider::builder()
//!         .base_provider(compute.clone())
//!         .endpoint_url(sts.endpoint_url())
//!         .region(Region::new("us-east-1"))
//!         .assume(Role::new("arn:aws:iam::111111111111:role/storage-access").external_id(external_id))
//!         .build()
//! };
//!
//! let credentials = chain("storage-7f3a9c")?.credentials().await?;
//! assert_eq!(credentials.account_id().map(|a| a.as_str()), Some("111111111111"));
//!
//! let err = chain("guess")?.credentials().await.unwrap_err();
//! assert_eq!((err.kind(), err.hop()), (ErrorKind::AccessDenied, Some(0)));
//! sts.stop().await;
//! # Ok(()) }
//! ```
//!
//! For manual time, give the provider and `LocalSts` the same clock: the SDK's
//! `aws_smithy_async::test_util::ManualTimeSource` (or `tick_advance_time_and_sleep`) through
//! [`time_source`](crate::RoleChainProviderBuilder::time_source) and
//! [`sleep_impl`](crate::RoleChainProviderBuilder::sleep_impl), and
//! `LocalSts::builder().time_source(…)`: a test of hours of refreshes then takes milliseconds.
