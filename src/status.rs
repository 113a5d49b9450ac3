//! [`Status`]: a snapshot of the provider's state for health checks, assembled from the cache's
//! snapshot and the chain's hops.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_smithy_types::DateTime;

use crate::cache::Snapshot;
use crate::chain::Chain;
use crate::error::{Error, ErrorKind};

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
#[derive(Clone)]
pub struct Status {
    pub(crate) expiry: Option<SystemTime>,
    pub(crate) next_refresh: Option<SystemTime>,
    pub(crate) successful_refreshes: u64,
    pub(crate) consecutive_failures: u32,
    /// The last failure and its message, rendered once when the status is taken.
    pub(crate) last_error: Option<(Error, String)>,
    pub(crate) hops: Vec<HopStatus>,
}

impl Status {
    pub(crate) fn new(
        snapshot: &Snapshot<Credentials, Error>,
        chain: &Chain,
        now: SystemTime,
    ) -> Self {
        let hops = chain
            .hops()
            .iter()
            .zip(chain.hop_expiries())
            .map(|(hop, expiry)| HopStatus {
                hop: hop.index,
                role_arn: hop.role.role_arn.clone(),
                expiry,
            })
            .collect();
        Status {
            expiry: snapshot
                .current
                .as_ref()
                .map(|c| c.expiry)
                .filter(|e| now < *e),
            next_refresh: snapshot.next_refresh,
            successful_refreshes: snapshot.successful_refreshes,
            consecutive_failures: snapshot.failures.consecutive,
            last_error: snapshot
                .last_error
                .as_ref()
                .map(|e| (e.clone(), e.to_string())),
            hops,
        }
    }

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
        self.last_error.as_ref().map(|(error, _)| error.kind())
    }

    /// The last failure, while it has not been followed by a success: its
    /// [`kind`](Error::kind), [`hop`](Error::hop), [`role_arn`](Error::role_arn) and source.
    pub fn last_error(&self) -> Option<&Error> {
        self.last_error.as_ref().map(|(error, _)| error)
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
#[derive(Clone)]
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

/// A time as RFC 3339, such as `2026-01-01T00:00:00Z`; `-` for none.
struct Rfc3339(Option<SystemTime>);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(time) => write!(f, "{}", DateTime::from(time)),
            None => f.write_str("-"),
        }
    }
}

impl fmt::Debug for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Status")
            .field("expiry", &Rfc3339(self.expiry))
            .field("next_refresh", &Rfc3339(self.next_refresh))
            .field("successful_refreshes", &self.successful_refreshes)
            .field("consecutive_failures", &self.consecutive_failures)
            .field(
                "last_error",
                &self
                    .last_error
                    .as_ref()
                    .map(|(error, message)| (error.kind(), message)),
            )
            .field("hops", &self.hops)
            .finish()
    }
}

impl fmt::Debug for HopStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HopStatus")
            .field("hop", &self.hop)
            .field("role_arn", &self.role_arn)
            .field("expiry", &Rfc3339(self.expiry))
            .finish()
    }
}

/// One line for a health log, such as `credentials expire 2026-01-01T01:00:00Z, next refresh
/// 2026-01-01T00:40:12Z, 3 successful refreshes, 0 consecutive failures; hop 0 (arn:…) expires
/// 2026-01-01T01:00:00Z`, with the last error's kind and message while refreshes fail.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "credentials expire {}, next refresh {}, {} successful refreshes, {} consecutive failures",
            Rfc3339(self.expiry),
            Rfc3339(self.next_refresh),
            self.successful_refreshes,
            self.consecutive_failures
        )?;
        if let Some((error, message)) = &self.last_error {
            write!(f, ", last error ({}): {message}", error.kind())?;
        }
        for hop in &self.hops {
            let expiry = Rfc3339(hop.expiry);
            write!(f, "; hop {} ({}) expires {expiry}", hop.hop, hop.role_arn)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn status() -> Status {
        let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
        Status {
            expiry: at(1_767_229_200),
            next_refresh: at(1_767_227_412),
            successful_refreshes: 3,
            consecutive_failures: 1,
            last_error: Some((
                Error::new(ErrorKind::Throttled, "STS answered HTTP 400 Throttling"),
                "STS answered HTTP 400 Throttling".into(),
            )),
            hops: vec![
                HopStatus {
                    hop: 0,
                    role_arn: "arn:aws:iam::333333333333:role/broker".into(),
                    expiry: at(1_767_229_200),
                },
                HopStatus {
                    hop: 1,
                    role_arn: "arn:aws:iam::111111111111:role/storage".into(),
                    expiry: None,
                },
            ],
        }
    }

    #[test]
    fn display_is_one_line_for_a_health_log() {
        assert_eq!(
            status().to_string(),
            "credentials expire 2026-01-01T01:00:00Z, next refresh 2026-01-01T00:30:12Z, \
             3 successful refreshes, 1 consecutive failures, last error (throttled by STS): \
             STS answered HTTP 400 Throttling; hop 0 (arn:aws:iam::333333333333:role/broker) \
             expires 2026-01-01T01:00:00Z; hop 1 (arn:aws:iam::111111111111:role/storage) \
             expires -"
        );
    }

    #[test]
    fn debug_prints_times_as_rfc_3339() {
        let debug = format!("{:?}", status());
        assert!(
            debug.starts_with(
                "Status { expiry: 2026-01-01T01:00:00Z, next_refresh: 2026-01-01T00:30:12Z,"
            ),
            "{debug}"
        );
        assert!(debug.contains("HopStatus { hop: 1, role_arn: \"arn:aws:iam::111111111111:role/storage\", expiry: - }"), "{debug}");
        assert!(!debug.contains("tv_sec"), "{debug}");
    }
}
