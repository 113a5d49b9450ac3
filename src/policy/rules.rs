//! The refresh timing rules, as pure functions of a [`RefreshPolicy`] and plain values: when to
//! refresh, when to try again after a failure, what a caller does, what an invalidation does,
//! and when a worker counts as stuck.

use std::time::{Duration, SystemTime};

use super::{RefreshPolicy, EARLIEST_REFRESH, MINUTE};
use crate::time::{earlier, later, lifetime};

impl RefreshPolicy {
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
        if !retryable {
            return self.retry_backoff.max;
        }
        // Full jitter: anywhere between zero and the exponential delay.
        self.retry_backoff
            .nth(failures)
            .mul_f64(draw.clamp(0.0, 1.0))
    }

    /// The delay before the next attempt after `failures` consecutive failures (1 after the
    /// first) once the credentials have expired or are missing.
    pub(crate) fn urgent_retry_delay(&self, failures: u32) -> Duration {
        self.urgent_retry_backoff.nth(failures)
    }

    /// When to try again after a failed attempt that ended at `now`, given the failures
    /// before it; and the failures counted with it.
    ///
    /// While a value is still valid: back off (by the failures since the last success), but try
    /// again as the mandatory window starts after a retryable failure, and at expiry at the
    /// latest. Without one: the urgent backoff, by the failures since the value expired or went
    /// missing.
    pub(crate) fn retry_after_failure(
        &self,
        now: SystemTime,
        valid: Option<Validity>,
        retryable: bool,
        before: Failures,
        draw: f64,
    ) -> Retry {
        let consecutive = before.consecutive.saturating_add(1);
        match valid.filter(|v| now < v.expiry) {
            Some(v) => {
                let delay = self.retry_delay(consecutive, retryable, draw);
                let latest = if retryable && now < v.serve_until {
                    v.serve_until
                } else {
                    v.expiry
                };
                Retry {
                    at: later(now, delay).min(latest),
                    failures: Failures {
                        consecutive,
                        since_valid: 0,
                    },
                }
            }
            None => {
                let since_valid = before.since_valid.saturating_add(1);
                Retry {
                    at: later(now, self.urgent_retry_delay(since_valid)),
                    failures: Failures {
                        consecutive,
                        since_valid,
                    },
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
    pub(crate) fn caller_action<V>(
        &self,
        now: SystemTime,
        value: Option<(Validity, V)>,
        attempts: Attempts,
    ) -> CallerAction<V> {
        let pending = matches!(attempts.next, Next::Due | Next::InFlight);
        match value.filter(|(v, _)| now < v.expiry) {
            Some((_, value)) if attempts.waited => CallerAction::Serve(value),
            Some((v, _)) if pending && (now >= v.serve_until || attempts.restarted) => {
                CallerAction::Wait {
                    until: Some(v.expiry),
                }
            }
            Some((_, value)) => CallerAction::Serve(value),
            // A caller that waited gets the outcome: the error, or none if the value it waited
            // on expired first.
            None if attempts.waited || (attempts.failed && !pending) => CallerAction::Fail,
            None => CallerAction::Wait { until: None },
        }
    }

    /// What an invalidation at `now` does, given the state of earlier ones, where the next
    /// attempt stands, and the value to drop, if any.
    ///
    /// Invalidations have their own rate limit, whatever the failure backoff: a run they start
    /// and that fails leaves no value, so the urgent backoff follows, never the 5-min one.
    pub(crate) fn invalidation(
        &self,
        now: SystemTime,
        state: Invalidations,
        next: Next,
        value: Option<Validity>,
    ) -> (Invalidation, Invalidations) {
        if state.pending || value.is_none() {
            return (Invalidation::Coalesced, state);
        }
        if next == Next::InFlight {
            return (Invalidation::DropValue, state);
        }
        let first = self.invalidation_backoff.first;
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
                interval: self.invalidation_backoff.after(interval),
                ..pending
            };
            (Invalidation::Defer(allowed), state)
        }
    }

    /// Whether the worker is stuck (its runtime no longer runs): an attempt in flight or due
    /// since `pending_since` for longer than the stall limit. An attempt ends within the fetch
    /// timeout, and a due one starts at once, when the runtime runs.
    pub(crate) fn stalled(&self, now: SystemTime, pending_since: Option<SystemTime>) -> bool {
        pending_since.is_some_and(|since| now >= later(since, self.stall_limit()))
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

/// The failures since the last success, and since the value expired or went missing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Failures {
    pub(crate) consecutive: u32,
    pub(crate) since_valid: u32,
}

/// The next attempt after a failure, and the failures counted with it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Retry {
    pub(crate) at: SystemTime,
    pub(crate) failures: Failures,
}

/// Where the next attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Scheduled for later (or, before the first success, not needed yet).
    Scheduled,
    /// Due: the worker starts it as soon as it runs.
    Due,
    /// Running.
    InFlight,
}

/// The state of the attempts, as a caller sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Attempts {
    pub(crate) next: Next,
    /// The last attempt failed.
    pub(crate) failed: bool,
    /// This caller has seen an attempt complete (or its value expire) while waiting.
    pub(crate) waited: bool,
    /// This caller has just started a worker, the last one having died with its runtime.
    pub(crate) restarted: bool,
}

/// What a caller does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum CallerAction<V> {
    /// Gets the valid value.
    Serve(V),
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
