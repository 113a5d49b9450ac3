//! The cache's state: one immutable [`Snapshot`], and the transitions that replace it when an
//! attempt starts or ends, a worker is replaced, or the value is invalidated. Each transition is
//! a pure function of the snapshot, the time and the policy.

use std::time::{SystemTime, UNIX_EPOCH};

use super::Failure;
use crate::metrics::Trigger;
use crate::policy::{Failures, Invalidation, Invalidations, Next, RefreshPolicy, Validity};
use crate::time::later;

/// A value and when to stop serving it without waiting.
#[derive(Clone, Debug)]
pub(crate) struct Current<T> {
    pub(crate) value: T,
    pub(crate) expiry: SystemTime,
    pub(crate) serve_until: SystemTime,
}

impl<T> Current<T> {
    pub(crate) fn validity(&self) -> Validity {
        Validity {
            serve_until: self.serve_until,
            expiry: self.expiry,
        }
    }
}

/// The attempt in flight: which one, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub(crate) id: u64,
    pub(crate) since: SystemTime,
}

/// Everything callers and `status` read, replaced whole by each transition.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot<T, E> {
    pub(crate) current: Option<Current<T>>,
    pub(crate) last_error: Option<E>,
    /// When the next attempt is due; `None` before the first.
    pub(crate) next_refresh: Option<SystemTime>,
    /// The attempt in flight, if any.
    pub(crate) in_flight: Option<InFlight>,
    /// Until when the cached path serves the value without a second look: the end of its
    /// serving time, or sooner when an attempt comes due or may have stalled.
    pub(crate) fast_until: SystemTime,
    pub(crate) successful_refreshes: u64,
    pub(crate) failures: Failures,
    /// Attempts started; the id of the next one.
    started: u64,
    /// Attempts completed, successful or not.
    pub(crate) attempts: u64,
    pub(crate) invalidations: Invalidations,
}

impl<T, E> Default for Snapshot<T, E> {
    fn default() -> Self {
        Snapshot {
            current: None,
            last_error: None,
            next_refresh: None,
            in_flight: None,
            fast_until: UNIX_EPOCH,
            successful_refreshes: 0,
            failures: Failures::default(),
            started: 0,
            attempts: 0,
            invalidations: Invalidations::default(),
        }
    }
}

impl<T: Clone, E: Failure> Snapshot<T, E> {
    /// What an attempt starting at `now` from this state is for: an invalidation, callers who
    /// have no value to be served, or a refresh ahead of expiry.
    pub(crate) fn trigger(&self, now: SystemTime) -> Trigger {
        if self.invalidations.pending {
            Trigger::Invalidation
        } else if self.current.as_ref().is_none_or(|c| now >= c.serve_until) {
            Trigger::Caller
        } else {
            Trigger::Background
        }
    }

    pub(crate) fn due(&self, now: SystemTime) -> bool {
        self.next_refresh.is_none_or(|due| now >= due)
    }

    /// Where the next attempt stands at `now`.
    pub(crate) fn next(&self, now: SystemTime) -> Next {
        match self.in_flight {
            Some(_) => Next::InFlight,
            None if self.due(now) => Next::Due,
            None => Next::Scheduled,
        }
    }

    /// Whether the worker should have finished or started an attempt long ago.
    pub(crate) fn stalled(&self, now: SystemTime, policy: &RefreshPolicy) -> bool {
        let due_since = self.next_refresh.filter(|due| now >= *due);
        let pending_since = self.in_flight.map(|attempt| attempt.since).or(due_since);
        policy.stalled(now, pending_since)
    }

    /// This snapshot with `fast_until` recomputed.
    fn sealed(mut self, policy: &RefreshPolicy) -> Self {
        self.fast_until = match (&self.current, self.in_flight) {
            (None, _) => UNIX_EPOCH,
            (Some(c), Some(attempt)) => {
                later(attempt.since, policy.stall_limit()).min(c.serve_until)
            }
            (Some(c), None) => self
                .next_refresh
                .map_or(UNIX_EPOCH, |due| due.min(c.serve_until)),
        };
        self
    }

    /// An attempt starts at `now`; it serves any pending invalidation. Its id is this
    /// snapshot's [`next_attempt`](Self::next_attempt).
    pub(crate) fn started(&self, now: SystemTime, policy: &RefreshPolicy) -> Self {
        let mut next = self.clone();
        next.in_flight = Some(InFlight {
            id: self.started,
            since: now,
        });
        next.started = self.started.wrapping_add(1);
        if next.invalidations.pending {
            next.invalidations.pending = false;
            next.invalidations.last_run = Some(now);
        }
        next.sealed(policy)
    }

    /// The worker was replaced at `now`. An attempt in flight will never complete: it failed,
    /// and its backoff keeps workers that die with their runtimes mid-attempt (a runtime per
    /// call, cut short by a timeout) from starting one attempt per call. An attempt overdue is
    /// due from now: the new worker makes it at once, and is not stalled yet.
    pub(crate) fn orphaned(&self, now: SystemTime, policy: &RefreshPolicy, draw: f64) -> Self {
        if self.in_flight.is_some() {
            return self.failed(E::cut_off(), self.current.clone(), now, policy, draw);
        }
        let mut next = self.clone();
        next.next_refresh = next.next_refresh.map(|due| due.max(now));
        next.sealed(policy)
    }

    /// The id of the next attempt to start.
    pub(crate) fn next_attempt(&self) -> u64 {
        self.started
    }

    /// Attempt `id` ended at `now` with `result`; `draw` is a random number in `[0, 1)` for the
    /// jitter. Unchanged if that attempt is no longer the one in flight: a worker replaced
    /// mid-attempt (an abort takes effect at its next await) must not record its late outcome
    /// over its successor's state.
    pub(crate) fn finished(
        &self,
        result: Result<(T, SystemTime), E>,
        id: u64,
        now: SystemTime,
        policy: &RefreshPolicy,
        draw: f64,
    ) -> Self {
        let started = match self.in_flight {
            Some(attempt) if attempt.id == id => attempt.since,
            _ => return self.clone(),
        };
        // A run for an invalidation that fails does not bring back the value the invalidation
        // marked as rejected, kept in service only until that run (a deferred invalidation).
        let for_invalidation = self.invalidations.last_run == Some(started);
        let kept = self.current.clone().filter(|_| !for_invalidation);
        let (value, expiry) = match result {
            Ok(fetched) => fetched,
            Err(error) => return self.failed(error, kept, now, policy, draw),
        };
        let arrived = Current {
            value,
            expiry,
            serve_until: policy.serve_until(started, expiry),
        };
        if now >= arrived.serve_until {
            // Too short-lived to count as a success: keep whichever value lasts longer, and back
            // off as after any failure.
            let lifetime = expiry.duration_since(started).unwrap_or_default();
            let keep = match kept {
                Some(old) if old.expiry > expiry => old,
                _ => arrived,
            };
            return self.failed(
                E::expiring_on_arrival(lifetime),
                Some(keep),
                now,
                policy,
                draw,
            );
        }
        Snapshot {
            next_refresh: Some(policy.refresh_point(started, expiry, draw)),
            current: Some(arrived),
            last_error: None,
            in_flight: None,
            fast_until: UNIX_EPOCH,
            successful_refreshes: self.successful_refreshes.saturating_add(1),
            failures: Failures::default(),
            started: self.started,
            attempts: self.attempts.wrapping_add(1),
            invalidations: self.invalidations,
        }
        .sealed(policy)
    }

    fn failed(
        &self,
        error: E,
        current: Option<Current<T>>,
        now: SystemTime,
        policy: &RefreshPolicy,
        draw: f64,
    ) -> Self {
        let current = current.filter(|c| now < c.expiry);
        let retry = policy.retry_after_failure(
            now,
            current.as_ref().map(Current::validity),
            error.is_retryable(),
            self.failures,
            draw,
        );
        Snapshot {
            current,
            last_error: Some(error),
            next_refresh: Some(retry.at),
            in_flight: None,
            fast_until: UNIX_EPOCH,
            successful_refreshes: self.successful_refreshes,
            failures: retry.failures,
            started: self.started,
            attempts: self.attempts.wrapping_add(1),
            invalidations: self.invalidations,
        }
        .sealed(policy)
    }

    /// The next attempt put off until `at`, unless one is in flight: a pool's backoff after its
    /// tenant's role refused it.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn retry_at(&self, at: SystemTime, policy: &RefreshPolicy) -> Self {
        let mut next = self.clone();
        if next.in_flight.is_none() {
            next.next_refresh = Some(at);
        }
        next.sealed(policy)
    }

    /// The value was invalidated at `now`.
    pub(crate) fn invalidated(&self, now: SystemTime, policy: &RefreshPolicy) -> Self {
        let value = self.current.as_ref().map(Current::validity);
        let (what, invalidations) =
            policy.invalidation(now, self.invalidations, self.next(now), value);
        let mut next = self.clone();
        next.invalidations = invalidations;
        match what {
            Invalidation::Coalesced => {}
            Invalidation::DropValue => next.current = None,
            Invalidation::RunNow => {
                next.current = None;
                next.next_refresh = Some(now);
            }
            Invalidation::Defer(at) => {
                next.next_refresh = Some(next.next_refresh.map_or(at, |due| due.min(at)));
            }
        }
        next.sealed(policy)
    }
}
