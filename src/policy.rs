//! Every timing rule in one place: [`RefreshPolicy`] and the pure functions that apply it.
//!
//! Each decision here is a function of plain values (lifetime, expiry, failures, the state of
//! the attempts, now, a random draw in `[0, 1)`), so the rules are tested without clocks or
//! tasks: when to refresh, how long to back off, whether a caller is served, fails or waits, and
//! what an invalidation does. All time arithmetic saturates: no setting and no answer from STS
//! can make it panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
/// Every duration is at most 12 hours; backoffs start at 10 ms at the least; `build()` refuses
/// others with the limit they break. The [Refresh guide](crate::guide::refresh) tells how the
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
    retry_backoff: (Duration, Duration),
    urgent_retry_backoff: (Duration, Duration),
    invalidation_backoff: (Duration, Duration),
    pub(crate) fetch_timeout: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            advisory_window: None,
            mandatory_window: MINUTE,
            jitter: 1.0,
            retry_backoff: (Duration::from_secs(5), 5 * MINUTE),
            urgent_retry_backoff: (Duration::from_secs(1), Duration::from_secs(30)),
            invalidation_backoff: (Duration::from_secs(1), MINUTE),
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
        self.retry_backoff = (first, max);
        self
    }

    /// First and largest delay between attempts once the credentials have expired or were never
    /// fetched (10 ms to 12 h). Default: 1 s and 30 s.
    pub fn urgent_retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.urgent_retry_backoff = (first, max);
        self
    }

    /// The least time between two chain runs started by
    /// [`invalidate`](crate::RoleChainProvider::invalidate), and how far it grows (doubling) while
    /// invalidations keep arriving sooner than that after fresh credentials (10 ms to 12 h).
    /// Default: 1 s and 1 min.
    pub fn invalidation_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.invalidation_backoff = (first, max);
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
        for (name, (first, max)) in [
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
        earlier(expiry, self.mandatory(lifetime(fetched_at, expiry)))
    }

    /// When to start the background refresh of credentials fetched at `fetched_at` that expire
    /// at `expiry`; `draw` is a random number in `[0, 1)` that places it between 40 % of the
    /// lifetime and the advisory point.
    pub(crate) fn refresh_point(
        &self,
        fetched_at: SystemTime,
        expiry: SystemTime,
        draw: f64,
    ) -> SystemTime {
        let lifetime = lifetime(fetched_at, expiry);
        let advisory_point = earlier(expiry, self.advisory(lifetime));
        let earliest = later(fetched_at, lifetime.mul_f64(EARLIEST_REFRESH));
        let span = advisory_point.duration_since(earliest).unwrap_or_default();
        let jitter = span.mul_f64(self.jitter * draw.clamp(0.0, 1.0));
        // Never later than the point where callers would have to wait.
        earlier(advisory_point, jitter)
            .min(self.serve_until(fetched_at, expiry))
            .max(fetched_at)
    }

    /// The delay before the next attempt after `failures` consecutive failures (1 after the
    /// first), while valid credentials remain.
    pub(crate) fn retry_delay(&self, failures: u32, retryable: bool, draw: f64) -> Duration {
        let (first, max) = self.retry_backoff;
        if !retryable {
            return max;
        }
        // Full jitter: anywhere between zero and the exponential delay.
        exponential(first, max, failures).mul_f64(draw.clamp(0.0, 1.0))
    }

    /// The delay before the next attempt after `failures` consecutive failures (1 after the
    /// first) once the credentials have expired or are missing.
    pub(crate) fn urgent_retry_delay(&self, failures: u32) -> Duration {
        let (first, max) = self.urgent_retry_backoff;
        exponential(first, max, failures)
    }

    /// When to try again after a failed attempt that ended at `now`.
    ///
    /// While a value is still valid: back off (`failures` counts the failures since the last
    /// success), but try again as the mandatory window starts after a retryable failure, and at
    /// expiry at the latest. Without one: the urgent backoff, counted by `urgent_failures`, the
    /// failures since the value expired or went missing.
    pub(crate) fn retry_after_failure(
        &self,
        now: SystemTime,
        valid: Option<Validity>,
        retryable: bool,
        failures: u32,
        urgent_failures: u32,
        draw: f64,
    ) -> Retry {
        match valid.filter(|v| now < v.expiry) {
            Some(v) => {
                let delay = self.retry_delay(failures, retryable, draw);
                let latest = if retryable && now < v.serve_until {
                    v.serve_until
                } else {
                    v.expiry
                };
                Retry {
                    at: later(now, delay).min(latest),
                    urgent_failures: 0,
                }
            }
            None => {
                let urgent_failures = urgent_failures.saturating_add(1);
                Retry {
                    at: later(now, self.urgent_retry_delay(urgent_failures)),
                    urgent_failures,
                }
            }
        }
    }

    /// What a caller that the cached path could not serve does now.
    ///
    /// A valid value outside its mandatory window is served, unless this caller just restarted a
    /// dead worker with an attempt due: then it waits for that attempt, which would otherwise die
    /// with the caller's runtime. Inside the mandatory window a caller waits for an attempt in
    /// flight or due (until the value expires) and is served between attempts. Without a valid
    /// value it waits for an attempt in flight or due, and otherwise gets the last error at once:
    /// an error stands only until the attempt that the backoff schedules. A caller that waited
    /// is never held past the expiry of the value it waited on.
    pub(crate) fn caller_action(
        &self,
        now: SystemTime,
        valid: Option<Validity>,
        attempts: Attempts,
    ) -> CallerAction {
        let pending = attempts.in_flight || attempts.due;
        match valid.filter(|v| now < v.expiry) {
            Some(_) if attempts.waited => CallerAction::Serve,
            Some(v) if pending && (now >= v.serve_until || attempts.restarted) => {
                CallerAction::Wait {
                    until: Some(v.expiry),
                }
            }
            Some(_) => CallerAction::Serve,
            // A caller that waited gets the outcome: the error, or none if the value it waited
            // on expired first.
            None if attempts.waited || (attempts.failed && !pending) => CallerAction::Fail,
            None => CallerAction::Wait { until: None },
        }
    }

    /// What an invalidation at `now` does, given the state of earlier ones, whether an attempt
    /// is in flight, and whether there is a value to drop.
    ///
    /// Invalidations have their own rate limit, whatever the failure backoff: a run they start
    /// and that fails leaves no value, so the urgent backoff follows, never the 5-min one.
    pub(crate) fn invalidation(
        &self,
        now: SystemTime,
        state: Invalidations,
        in_flight: bool,
        has_value: bool,
    ) -> (Invalidation, Invalidations) {
        if state.pending || !has_value {
            return (Invalidation::Coalesced, state);
        }
        if in_flight {
            return (Invalidation::DropValue, state);
        }
        let (first, max) = self.invalidation_backoff;
        let interval = state.interval.max(first);
        let allowed = state.last_run.map_or(now, |last| later(last, interval));
        let pending = Invalidations {
            pending: true,
            ..state
        };
        if now >= allowed {
            let state = Invalidations {
                interval: first,
                ..pending
            };
            (Invalidation::RunNow, state)
        } else {
            let state = Invalidations {
                interval: interval.saturating_mul(2).min(max),
                ..pending
            };
            (Invalidation::Defer(allowed), state)
        }
    }

    /// Whether the worker is stuck (its runtime no longer runs): an attempt in flight since
    /// `in_flight_since`, or due since `due_since`, for longer than the stall limit. An attempt
    /// ends within the fetch timeout, and a due one starts at once, when the runtime runs.
    pub(crate) fn stalled(
        &self,
        now: SystemTime,
        in_flight_since: Option<SystemTime>,
        due_since: Option<SystemTime>,
    ) -> bool {
        in_flight_since
            .or(due_since)
            .is_some_and(|since| now >= later(since, self.stall_limit()))
    }

    /// How long an attempt may be in flight or due before the worker counts as stuck.
    pub(crate) fn stall_limit(&self) -> Duration {
        self.fetch_timeout
            .saturating_mul(2)
            .max(self.fetch_timeout.saturating_add(Duration::from_secs(1)))
    }
}

/// When a value stops being served without waiting, and when it expires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Validity {
    pub(crate) serve_until: SystemTime,
    pub(crate) expiry: SystemTime,
}

/// The next attempt after a failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Retry {
    pub(crate) at: SystemTime,
    pub(crate) urgent_failures: u32,
}

/// The state of the attempts, as a caller sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Attempts {
    /// An attempt is running.
    pub(crate) in_flight: bool,
    /// The next attempt is due: the worker starts it as soon as it runs.
    pub(crate) due: bool,
    /// The last attempt failed.
    pub(crate) failed: bool,
    /// This caller has seen an attempt complete (or its value expire) while waiting.
    pub(crate) waited: bool,
    /// This caller has just started a worker, the last one having died with its runtime.
    pub(crate) restarted: bool,
}

/// What a caller does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum CallerAction {
    /// Gets the valid value.
    Serve,
    /// Gets the last error.
    Fail,
    /// Waits for an attempt to complete, but not past `until`.
    Wait { until: Option<SystemTime> },
}

/// What earlier invalidations left behind.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Invalidations {
    /// A run for an invalidation is scheduled and has not started: later ones join it.
    pub(crate) pending: bool,
    /// When the last run for an invalidation started.
    pub(crate) last_run: Option<SystemTime>,
    /// The least time from that run to the next one.
    pub(crate) interval: Duration,
}

/// What an invalidation does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Invalidation {
    /// Nothing: a run for an earlier invalidation is already scheduled, or there is no value.
    Coalesced,
    /// Drops the value and lets the attempt in flight bring the next.
    DropValue,
    /// Drops the value and starts a run now.
    RunNow,
    /// Keeps serving the value and starts a run at this time, the earliest the invalidation
    /// backoff allows.
    Defer(SystemTime),
}

/// The time from `fetched_at` to `expiry`; zero if it expires first.
fn lifetime(fetched_at: SystemTime, expiry: SystemTime) -> Duration {
    expiry.duration_since(fetched_at).unwrap_or_default()
}

/// `t + d`, or the end of year 9999 if that is later or cannot be represented.
pub(crate) fn later(t: SystemTime, d: Duration) -> SystemTime {
    let end = end_of_time();
    t.checked_add(d).map_or(end, |t| t.min(end))
}

/// `t - d`, or the Unix epoch if that is earlier or cannot be represented.
pub(crate) fn earlier(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_sub(d).map_or(UNIX_EPOCH, |t| t.max(UNIX_EPOCH))
}

/// 9999-12-31T23:59:59Z, the last second STS's timestamps can name.
fn end_of_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

/// `first · 2^(n-1)`, capped at `max`.
fn exponential(first: Duration, max: Duration, n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(31);
    first.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests;
