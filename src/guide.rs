//! Guides: how the provider behaves and how to use it, topic by topic. Each page's examples are
//! compiled (and the runnable ones run) as doctests.
//!
//! - [Refresh](refresh): lifetimes on this host's clock, the refresh point, the windows,
//!   backoff after failures, per-hop reuse, invalidation, and how each kind of tokio runtime
//!   runs the background task.
//! - [Errors and what to do](errors): [`BuildError`](crate::BuildError) and
//!   [`Error`](crate::Error), what an SDK client sees, and what to do after a service rejects
//!   the credentials.
//! - [The AWS config files](config_files): chains described in `~/.aws/config`, key by key
//!   against aws-config.
//! - [MFA](mfa): roles whose trust policy requires MFA, and when a code is asked.
//! - [Sharing credentials with other processes](sharing): the container-credentials endpoint,
//!   the `aws-role-chain` command, a Kubernetes sidecar, and what the endpoint protects
//!   against.
//! - Many tenants (`guide::tenants`, feature `pool`): `RoleChainPool` for a vendor reaching into
//!   its customers' accounts, STS's quota, and SDK clients per tenant or shared.
//! - [Testing with `LocalSts`](testing): a real STS endpoint on loopback, with faults and
//!   manual time.
//! - [Logs and status](logs): the spans and events, [`Status`](crate::Status), and security
//!   notes.
//! - [Metrics](metrics): the instruments, through the AWS SDK's own telemetry layer, and their
//!   attributes.

pub mod config_files;
pub mod errors;
pub mod logs;
pub mod metrics;
pub mod mfa;
pub mod refresh;
pub mod sharing;
#[cfg(feature = "pool")]
pub mod tenants;
pub mod testing;
