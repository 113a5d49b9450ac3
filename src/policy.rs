//! When to refresh and when to retry: [`RefreshPolicy`] and the pure functions that apply it.
//!
//! Every decision here is a function of (lifetime, expiry, failures, now, a random number in
//! `[0, 1)`), so the rules are tested without clocks or tasks.

use std::time::{Duration, SystemTime};

use crate::error::BuildError;

const MINUTE: Duration = Duration::from_secs(60);

/// How credentials are refreshed ahead of expiry and how failed refreshes are retried.
///
/// The defaults follow what the AWS SDKs converge on:
///
/// - **Advisory window**: a background refresh starts this long before expiry: 5 min for
///   lifetimes up to 20 min, 15 min below 90 min, 60 min otherwise, never more than half the
///   lifetime. The refresh point moves earlier by a random jitter of up to 20 % of the window,
///   so that a fleet started together does not refresh in lockstep.
/// - **Mandatory window**: 60 s, never more than a quarter of the lifetime. Outside it callers
///   never wait; inside it they wait for a refresh in flight (no longer than the credentials stay
///   valid), and get the still-valid credentials between attempts.
/// - **Backoff** while valid credentials remain: 5 s doubling up to 5 min, with full jitter,
///   after a retryable failure (with an attempt as the mandatory window starts); the 5 min cap
///   after any other failure; an attempt at expiry at the latest.
/// - **Backoff** once the credentials have expired or were never fetched: 1 s doubling up to
///   30 s.
///
/// ```
/// use std::time::Duration;
/// use aws_role_chain::RefreshPolicy;
///
/// let policy = RefreshPolicy::default()
///     .advisory_window(Duration::from_secs(10 * 60))
///     .jitter(0.1);
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RefreshPolicy {
    advisory_window: Option<Duration>,
    mandatory_window: Duration,
    jitter: f64,
    retry_backoff: (Duration, Duration),
    urgent_retry_backoff: (Duration, Duration),
    fetch_timeout: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            advisory_window: None,
            mandatory_window: MINUTE,
            jitter: 0.2,
            retry_backoff: (Duration::from_secs(5), 5 * MINUTE),
            urgent_retry_backoff: (Duration::from_secs(1), Duration::from_secs(30)),
            fetch_timeout: Duration::from_secs(30),
        }
    }
}

impl RefreshPolicy {
    /// How long before expiry the background refresh starts, for every lifetime (still capped at
    /// half the lifetime). Default: chosen by lifetime, see the type's documentation.
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

    /// The largest fraction of the advisory window by which the refresh point moves earlier at
    /// random, from 0.0 (no jitter) to 1.0. Default: 0.2.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// First and largest delay between background retries while valid credentials remain.
    /// Default: 5 s and 5 min.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.retry_backoff = (first, max);
        self
    }

    /// First and largest delay between attempts once the credentials have expired or were never
    /// fetched. Default: 1 s and 30 s.
    pub fn urgent_retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.urgent_retry_backoff = (first, max);
        self
    }

    /// How long one refresh (the whole chain run) may take before it counts as a
    /// [`TimedOut`](crate::ErrorKind::TimedOut) failure. Default: 30 s.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    pub(crate) fn fetch_timeout_duration(&self) -> Duration {
        self.fetch_timeout
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        let fail = |message: String| Err(BuildError::new(None, "refresh_policy", message));
        if !(0.0..=1.0).contains(&self.jitter) {
            return fail(format!(
                "jitter must be a fraction from 0.0 to 1.0; got {}",
                self.jitter
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
        for (name, (first, max)) in [
            ("retry_backoff", self.retry_backoff),
            ("urgent_retry_backoff", self.urgent_retry_backoff),
        ] {
            if first.is_zero() || first > max {
                return fail(format!(
                    "{name} needs a first delay above zero and no larger than the maximum; got {first:?} and {max:?}"
                ));
            }
        }
        if self.fetch_timeout.is_zero() {
            return fail("fetch_timeout must be above zero".to_owned());
        }
        Ok(())
    }

    /// The advisory window for credentials of this lifetime.
    pub(crate) fn advisory(&self, lifetime: Duration) -> Duration {
        let window = self.advisory_window.unwrap_or(if lifetime <= 20 * MINUTE {
            5 * MINUTE
        } else if lifetime < 90 * MINUTE {
            15 * MINUTE
        } else {
            60 * MINUTE
        });
        window.min(lifetime / 2)
    }

    /// The mandatory window for credentials of this lifetime.
    pub(crate) fn mandatory(&self, lifetime: Duration) -> Duration {
        self.mandatory_window.min(lifetime / 4)
    }

    /// Until when credentials fetched at `fetched_at` that expire at `expiry` are served without
    /// waiting: expiry minus the mandatory window.
    pub(crate) fn serve_until(&self, fetched_at: SystemTime, expiry: SystemTime) -> SystemTime {
        let lifetime = expiry.duration_since(fetched_at).unwrap_or_default();
        expiry - self.mandatory(lifetime)
    }

    /// When to start the background refresh of credentials fetched at `fetched_at` that expire
    /// at `expiry`; `unit` is a random number in `[0, 1)` that picks the jitter.
    pub(crate) fn refresh_point(
        &self,
        fetched_at: SystemTime,
        expiry: SystemTime,
        unit: f64,
    ) -> SystemTime {
        let lifetime = expiry.duration_since(fetched_at).unwrap_or_default();
        let window = self.advisory(lifetime);
        let jitter = window.mul_f64(self.jitter * unit.clamp(0.0, 1.0));
        // Never later than the point where callers would have to wait.
        let latest = self.serve_until(fetched_at, expiry);
        (expiry - window - jitter).max(fetched_at).min(latest)
    }

    /// The delay before the next attempt after `failures` consecutive failures (1 after the
    /// first), while valid credentials remain.
    pub(crate) fn retry_delay(&self, failures: u32, retryable: bool, unit: f64) -> Duration {
        let (first, max) = self.retry_backoff;
        if !retryable {
            return max;
        }
        // Full jitter: anywhere between zero and the exponential delay.
        exponential(first, max, failures).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The delay before the next attempt after `failures` consecutive failures (1 after the
    /// first) once the credentials have expired or are missing.
    pub(crate) fn urgent_retry_delay(&self, failures: u32) -> Duration {
        let (first, max) = self.urgent_retry_backoff;
        exponential(first, max, failures)
    }
}

/// `first · 2^(n-1)`, capped at `max`.
fn exponential(first: Duration, max: Duration, n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(31);
    first.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const SEC: Duration = Duration::from_secs(1);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn windows_depend_on_the_lifetime() {
        let policy = RefreshPolicy::default();
        // (lifetime, advisory, mandatory)
        let cases = [
            (30 * SEC, 15 * SEC, Duration::from_millis(7500)),
            (15 * MINUTE, 5 * MINUTE, MINUTE),
            (20 * MINUTE, 5 * MINUTE, MINUTE),
            (21 * MINUTE, 15 * MINUTE, MINUTE),
            (60 * MINUTE, 15 * MINUTE, MINUTE),
            (89 * MINUTE, 15 * MINUTE, MINUTE),
            (90 * MINUTE, 45 * MINUTE, MINUTE),
            (12 * 60 * MINUTE, 60 * MINUTE, MINUTE),
        ];
        for (lifetime, advisory, mandatory) in cases {
            assert_eq!(
                policy.advisory(lifetime),
                advisory.min(lifetime / 2),
                "advisory for {lifetime:?}"
            );
            assert_eq!(
                policy.mandatory(lifetime),
                mandatory,
                "mandatory for {lifetime:?}"
            );
        }
        assert_eq!(
            policy.advisory(90 * MINUTE),
            45 * MINUTE,
            "capped at half the lifetime"
        );
        assert_eq!(policy.advisory(120 * MINUTE), 60 * MINUTE);
    }

    #[test]
    fn refresh_point_is_the_advisory_window_before_expiry_moved_earlier_by_jitter() {
        let policy = RefreshPolicy::default();
        // One hour: window 15 min, jitter up to 3 min.
        assert_eq!(policy.refresh_point(at(0), at(3600), 0.0), at(3600 - 900));
        assert_eq!(
            policy.refresh_point(at(0), at(3600), 0.5),
            at(3600 - 900 - 90)
        );
        let latest_jitter = policy.refresh_point(at(0), at(3600), 0.999_999);
        assert!(latest_jitter > at(3600 - 900 - 180) && latest_jitter < at(3600 - 900 - 179));
        // Twelve hours: window 60 min, jitter up to 12 min.
        assert_eq!(
            policy.refresh_point(at(0), at(43_200), 1.0),
            at(43_200 - 3600 - 720)
        );
        // 30 s: window 15 s (half), jitter up to 3 s.
        assert_eq!(policy.refresh_point(at(0), at(30), 0.0), at(15));
        assert_eq!(policy.refresh_point(at(0), at(30), 1.0), at(12));
        let no_jitter = RefreshPolicy::default().jitter(0.0);
        assert_eq!(no_jitter.refresh_point(at(0), at(3600), 0.7), at(2700));
    }

    #[test]
    fn refresh_point_never_falls_inside_the_mandatory_window_or_before_the_fetch() {
        let policy = RefreshPolicy::default()
            .advisory_window(MINUTE)
            .mandatory_window(MINUTE)
            .jitter(1.0);
        for unit in [0.0, 0.3, 0.99] {
            let point = policy.refresh_point(at(100), at(100 + 3600), unit);
            assert!(point <= at(100 + 3600 - 60) && point >= at(100), "{unit}");
        }
        let expired = policy.refresh_point(at(100), at(50), 0.5);
        assert!(expired <= at(100));
    }

    #[test]
    fn retry_backoff_doubles_from_5_seconds_to_5_minutes_with_full_jitter() {
        let policy = RefreshPolicy::default();
        let ceilings: Vec<u64> = (1..=9)
            .map(|n| policy.retry_delay(n, true, 1.0).as_secs())
            .collect();
        assert_eq!(ceilings, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(policy.retry_delay(3, true, 0.0), Duration::ZERO);
        assert_eq!(policy.retry_delay(3, true, 0.5), 10 * SEC);
        assert_eq!(policy.retry_delay(1000, true, 1.0), 300 * SEC);
    }

    #[test]
    fn non_retryable_failures_wait_the_cap() {
        let policy = RefreshPolicy::default();
        for n in [1, 2, 10] {
            assert_eq!(policy.retry_delay(n, false, 0.0), 5 * MINUTE);
        }
    }

    #[test]
    fn urgent_backoff_doubles_from_1_second_to_30_seconds() {
        let policy = RefreshPolicy::default();
        let delays: Vec<u64> = (1..=8)
            .map(|n| policy.urgent_retry_delay(n).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn invalid_policies_are_refused_naming_the_setting() {
        let cases = [
            RefreshPolicy::default().jitter(1.5),
            RefreshPolicy::default().jitter(-0.1),
            RefreshPolicy::default().jitter(f64::NAN),
            RefreshPolicy::default()
                .advisory_window(SEC)
                .mandatory_window(2 * SEC),
            RefreshPolicy::default().retry_backoff(Duration::ZERO, SEC),
            RefreshPolicy::default().urgent_retry_backoff(10 * SEC, SEC),
            RefreshPolicy::default().fetch_timeout(Duration::ZERO),
        ];
        for policy in cases {
            let err = policy.validate().unwrap_err();
            assert_eq!(
                (err.field(), err.hop()),
                ("refresh_policy", None),
                "{policy:?}"
            );
        }
        assert!(RefreshPolicy::default().validate().is_ok());
    }
}
