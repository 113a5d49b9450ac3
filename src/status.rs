//! [`Status`]: a snapshot of the provider's state for health checks.

use std::time::SystemTime;

use crate::error::ErrorKind;

/// A snapshot of a [`RoleChainProvider`](crate::RoleChainProvider)'s state, from
/// [`status`](crate::RoleChainProvider::status): cheap to take, free of secrets.
///
/// ```
/// # fn check(provider: &aws_role_chain::RoleChainProvider) {
/// let status = provider.status();
/// if status.consecutive_failures() > 0 {
///     eprintln!(
///         "refresh failing ({:?}): {}; credentials valid until {:?}",
///         status.last_error_kind(),
///         status.last_error_message().unwrap_or_default(),
///         status.expiry(),
///     );
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Status {
    pub(crate) expiry: Option<SystemTime>,
    pub(crate) next_refresh: Option<SystemTime>,
    pub(crate) successful_refreshes: u64,
    pub(crate) consecutive_failures: u32,
    pub(crate) last_error: Option<(ErrorKind, String)>,
    pub(crate) hops: Vec<HopStatus>,
}

impl Status {
    /// When the cached credentials expire; `None` before the first success, once they have
    /// expired, and after an invalidation.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expiry
    }

    /// When the next attempt to fetch credentials is due: the refresh point after a success, the
    /// end of the backoff after a failure.
    pub fn next_refresh(&self) -> Option<SystemTime> {
        self.next_refresh
    }

    /// How many chain runs have succeeded, the first fetch included.
    pub fn successful_refreshes(&self) -> u64 {
        self.successful_refreshes
    }

    /// How many chain runs have failed since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// The kind of the last failure, while it has not been followed by a success.
    pub fn last_error_kind(&self) -> Option<ErrorKind> {
        self.last_error.as_ref().map(|(kind, _)| *kind)
    }

    /// The message of the last failure, while it has not been followed by a success.
    pub fn last_error_message(&self) -> Option<&str> {
        self.last_error
            .as_ref()
            .map(|(_, message)| message.as_str())
    }

    /// Each hop of the chain, in order.
    pub fn hops(&self) -> &[HopStatus] {
        &self.hops
    }
}

/// One hop of a [`Status`].
#[derive(Clone, Debug)]
pub struct HopStatus {
    pub(crate) hop: usize,
    pub(crate) role_arn: String,
    pub(crate) expiry: Option<SystemTime>,
}

impl HopStatus {
    /// The hop's 0-based position in the chain.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// The ARN of the hop's role.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// When the hop's held credentials expire; `None` before they were first fetched.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expiry
    }
}
