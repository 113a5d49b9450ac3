//! Every timing rule in one place: [`RefreshPolicy`], the settings (here), the pure functions
//! that apply them ([`rules`]) and the backoffs ([`backoff`]).
//!
//! Each decision is a function of plain values (lifetime, expiry, failures, the state of
//! the attempts, now, a random draw in `[0, 1)`), so the rules are tested without clocks or
//! tasks: when to refresh, how long to back off, whether a caller is served, fails or waits, and
//! what an invalidation does. All time arithmetic saturates: no setting and no answer from STS
//! can make it panic.

use std::time::Duration;

use crate::error::BuildError;

const MINUTE: Duration = Duration::from_secs(60);
/// The largest duration any setting may have: STS's longest session.
const LONGEST_SETTING: Duration = Duration::from_secs(12 * 3600);
/// The smallest first delay of a backoff and the smallest attempt timeout.
const SHORTEST_DELAY: Duration = Duration::from_millis(10);
/// No background refresh starts before this fraction of the lifetime has passed.
const EARLIEST_REFRESH: f64 = 0.4;

/// How credentials are refreshed ahead of expiry and how failed refreshes are retried.
///
/// The defaults follow what the AWS SDKs converge on, with a wider spread of refresh points:
///
/// - **Advisory point**: a background refresh starts at the latest this long before expiry: 5 min
///   for lifetimes up to 20 min, 15 min below 90 min, 60 min otherwise, never more than half the
///   lifetime. The refresh point is drawn at random between 40 % of the lifetime and the advisory
///   point, so that a fleet started together does not refresh in lockstep: for 1-hour
///   credentials, between 24 and 45 minutes after the fetch.
/// - **Mandatory window**: 60 s, never more than a quarter of the lifetime. Outside it callers
///   never wait; inside it they wait for a refresh in flight (no longer than the credentials stay
///   valid), and get the still-valid credentials between attempts.
/// - **Backoff** while valid credentials remain: 5 s doubling up to 5 min, with full jitter,
///   after a retryable failure (with an attempt as the mandatory window starts); the 5 min cap
///   after any other failure; an attempt at expiry at the latest.
/// - **Backoff** once the credentials have expired or were never fetched: 1 s doubling up to
///   30 s.
/// - **Invalidations** start at most one chain run per second; while they keep coming right
///   after fresh credentials, the interval doubles up to 1 min.
///
/// | setter | default | accepted |
/// |---|---|---|
/// | [`advisory_window`](Self::advisory_window) | by lifetime: 5 min up to 20 min, 15 min below 90 min, 60 min otherwise | at most 12 h; always capped at half the lifetime |
/// | [`mandatory_window`](Self::mandatory_window) | 60 s | at most the advisory window (5 min unless set); capped at a quarter of the lifetime |
/// | [`jitter`](Self::jitter) | 1.0 | 0.0 to 1.0 |
/// | [`retry_backoff`](Self::retry_backoff) | 5 s doubling to 5 min | first from 10 ms, no larger than the maximum; maximum at most 12 h |
/// | [`urgent_retry_backoff`](Self::urgent_retry_backoff) | 1 s doubling to 30 s | as above |
/// | [`invalidation_backoff`](Self::invalidation_backoff) | 1 s doubling to 1 min | as above |
/// | [`fetch_timeout`](Self::fetch_timeout) | 30 s per chain run (an MFA token provider gets three quarters) | 10 ms to 12 h |
///
/// `build()` refuses a setting outside these limits, naming the limit it breaks. The [Refresh guide](crate::guide::refresh) tells how the
/// provider applies them.
///
/// ```
/// use std::time::Duration;
/// use aws_role_chain::RefreshPolicy;
///
/// let policy = RefreshPolicy::default()
///     .advisory_window(Duration::from_secs(10 * 60)) // default: by lifetime
///     .mandatory_window(Duration::from_secs(60))      // default: 60 s
///     .jitter(1.0)                   // default: spread over all of 40 % to the advisory point
///     .retry_backoff(Duration::from_secs(5), Duration::from_secs(300))
///     .urgent_retry_backoff(Duration::from_secs(1), Duration::from_secs(30)) // once expired
///     .invalidation_backoff(Duration::from_secs(1), Duration::from_secs(60))
///     .fetch_timeout(Duration::from_secs(30));       // default: 30 s per chain run
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RefreshPolicy {
    advisory_window: Option<Duration>,
    mandatory_window: Duration,
    jitter: f64,
    retry_backoff: Backoff,
    urgent_retry_backoff: Backoff,
    invalidation_backoff: Backoff,
    pub(crate) fetch_timeout: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            advisory_window: None,
            mandatory_window: MINUTE,
            jitter: 1.0,
            retry_backoff: Backoff::new(Duration::from_secs(5), 5 * MINUTE),
            urgent_retry_backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
            invalidation_backoff: Backoff::new(Duration::from_secs(1), MINUTE),
            fetch_timeout: Duration::from_secs(30),
        }
    }
}

impl RefreshPolicy {
    /// How long before expiry the background refresh starts at the latest, for every lifetime
    /// (still capped at half the lifetime; at most 12 hours). Default: chosen by lifetime, see the
    /// type's documentation.
    pub fn advisory_window(mut self, window: Duration) -> Self {
        self.advisory_window = Some(window);
        self
    }

    /// How long before expiry callers start to wait for a refresh in flight (capped at a quarter
    /// of the lifetime). Must not exceed the advisory window (5 min, the smallest default one,
    /// unless set). Default: 60 s.
    pub fn mandatory_window(mut self, window: Duration) -> Self {
        self.mandatory_window = window;
        self
    }

    /// The fraction, from 0.0 to 1.0, of the span between 40 % of the lifetime and the advisory
    /// point over which the refresh point is drawn at random, counted back from the advisory
    /// point. 0.0 refreshes exactly at the advisory point. Default: 1.0, the whole span.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// First and largest delay between background retries while valid credentials remain
    /// (10 ms to 12 h). Default: 5 s and 5 min.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.retry_backoff = Backoff::new(first, max);
        self
    }

    /// First and largest delay between attempts once the credentials have expired or were never
    /// fetched (10 ms to 12 h). Default: 1 s and 30 s.
    pub fn urgent_retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.urgent_retry_backoff = Backoff::new(first, max);
        self
    }

    /// The least time between two chain runs started by
    /// [`invalidate`](crate::RoleChainProvider::invalidate), and how far it grows (doubling) while
    /// invalidations keep arriving sooner than that after fresh credentials (10 ms to 12 h).
    /// Default: 1 s and 1 min.
    pub fn invalidation_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.invalidation_backoff = Backoff::new(first, max);
        self
    }

    /// How long one refresh (the whole chain run) may take before it counts as a
    /// [`TimedOut`](crate::ErrorKind::TimedOut) failure (10 ms to 12 h). Default: 30 s. An MFA
    /// token provider gets three quarters of it: raise it for a person at a prompt.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        let fail = |message: String| Err(BuildError::new(None, "refresh_policy", message));
        if !(0.0..=1.0).contains(&self.jitter) {
            return fail(format!(
                "jitter must be a fraction from 0.0 to 1.0; got {}",
                self.jitter
            ));
        }
        let longest = LONGEST_SETTING;
        if let Some(window) = self.advisory_window.filter(|w| *w > longest) {
            return fail(format!(
                "advisory_window must be at most 12 hours (STS's longest session); got {window:?}"
            ));
        }
        // The default advisory window is 5 minutes at the least.
        let advisory = self.advisory_window.unwrap_or(5 * MINUTE);
        if self.mandatory_window > advisory {
            return fail(format!(
                "the mandatory window ({:?}) must not exceed the advisory window ({advisory:?})",
                self.mandatory_window
            ));
        }
        for (name, Backoff { first, max }) in [
            ("retry_backoff", self.retry_backoff),
            ("urgent_retry_backoff", self.urgent_retry_backoff),
            ("invalidation_backoff", self.invalidation_backoff),
        ] {
            if first < SHORTEST_DELAY || first > max || max > longest {
                return fail(format!(
                    "{name} needs a first delay of at least 10 ms, no larger than the maximum, and \
                     a maximum of at most 12 hours; got {first:?} and {max:?}"
                ));
            }
        }
        if !(SHORTEST_DELAY..=longest).contains(&self.fetch_timeout) {
            return fail(format!(
                "fetch_timeout must be from 10 ms to 12 hours; got {:?}",
                self.fetch_timeout
            ));
        }
        Ok(())
    }

    /// How long an MFA token provider may take to answer: three quarters of the fetch timeout,
    /// leaving the rest for the STS calls.
    pub(crate) fn mfa_timeout(&self) -> Duration {
        self.fetch_timeout - self.fetch_timeout / 4
    }
}

mod backoff;
mod rules;

pub(crate) use backoff::Backoff;
pub(crate) use rules::{
    Attempts, CallerAction, Failures, Invalidation, Invalidations, Next, Validity,
};

#[cfg(test)]
mod tests;
