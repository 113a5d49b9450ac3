//! The refresh-ahead cache: one expiring value, refreshed in the background before it expires.
//!
//! It knows nothing of STS; it holds a value with its expiry and calls a fetch function. When to
//! do what is decided by the pure functions of [`policy`](crate::policy); this module applies
//! them.
//!
//! # Design
//!
//! - **State** is one immutable [`Snapshot`] behind an `ArcSwap`, replaced whole by each
//!   transition (an attempt starting or ending, an invalidation). A cached call loads it, reads the
//!   clock once, compares with one precomputed instant and clones the value: no lock, no
//!   allocation, nothing shared with a refresh but an atomic load. Everything else lives out of
//!   line, behind a boxed future, so that the cached call's future stays small.
//! - **One worker task** per cache does every attempt, so attempts are single-flight by
//!   construction and a caller that drops its future cancels nothing. It sleeps (through the
//!   injected [`AsyncSleep`], at most 5 minutes at a time so that a suspended machine's stopped
//!   timers are caught up) until the next attempt is due, then makes it, under a timeout and a
//!   panic guard: a panicking fetch is a failed attempt like any other. It holds no reference to
//!   the cache's owner, which aborts it on drop.
//! - **A worker dies with its runtime.** Whoever finds it dead (a caller on the slow path, or on
//!   the cached path once an attempt is due) starts another on its own runtime; the new one waits
//!   for the attempt the backoff scheduled, and the caller that started it waits for that
//!   attempt, which would otherwise die with the caller's runtime too. A caller that waits
//!   longer than an attempt can take takes the worker for stuck and replaces it.
//! - **Callers** the cached path cannot serve do what [`RefreshPolicy::caller_action`] says:
//!   take the value, take the last error, or wait for an attempt (a `watch` channel counts
//!   completed ones). An expired value is never returned.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use aws_smithy_async::future::timeout::Timeout;
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::SharedTimeSource;
use futures_util::FutureExt;
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};
use tracing::{debug, debug_span, info, warn, Instrument};

use crate::policy::{Attempts, CallerAction, Invalidation, Invalidations, RefreshPolicy, Validity};

/// The longest the worker sleeps before it looks at the clock again.
const LONGEST_SLEEP: Duration = Duration::from_secs(5 * 60);

/// What the cache needs to know of a fetch failure.
pub(crate) trait Failure: Clone + fmt::Display + Send + Sync + 'static {
    /// Whether a later attempt may succeed as it is.
    fn is_retryable(&self) -> bool;
    /// The failure of a fetch that took longer than `after`.
    fn timed_out(after: Duration) -> Self;
    /// The failure of a call made outside any tokio runtime, where no worker can run.
    fn no_runtime() -> Self;
    /// The failure of a fetch that panicked with `message`.
    fn panicked(message: &str) -> Self;
    /// The failure of a fetch whose value, of this lifetime, arrived inside its mandatory window.
    fn expiring_on_arrival(lifetime: Duration) -> Self;
}

type BoxFuture<O> = Pin<Box<dyn Future<Output = O> + Send>>;

/// Fetches a new value and its expiry.
pub(crate) type Fetch<T, E> = Arc<dyn Fn() -> BoxFuture<Result<(T, SystemTime), E>> + Send + Sync>;

/// A value and when to stop serving it without waiting.
#[derive(Clone, Debug)]
pub(crate) struct Current<T> {
    pub(crate) value: T,
    pub(crate) expiry: SystemTime,
    serve_until: SystemTime,
}

impl<T> Current<T> {
    fn validity(&self) -> Validity {
        Validity {
            serve_until: self.serve_until,
            expiry: self.expiry,
        }
    }
}

/// Everything callers and `status` read, replaced whole by each transition.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot<T, E> {
    pub(crate) current: Option<Current<T>>,
    pub(crate) last_error: Option<E>,
    /// When the next attempt is due; `None` before the first.
    pub(crate) next_attempt: Option<SystemTime>,
    /// Whether an attempt is running.
    in_flight: bool,
    /// Until when the cached path serves the value without a second look: the end of its
    /// serving time, or the next attempt if that is due sooner and none is in flight.
    fast_until: SystemTime,
    pub(crate) refreshes: u64,
    pub(crate) consecutive_failures: u32,
    /// Failures since the value expired or went missing.
    urgent_failures: u32,
    invalidations: Invalidations,
}

impl<T, E> Default for Snapshot<T, E> {
    fn default() -> Self {
        Snapshot {
            current: None,
            last_error: None,
            next_attempt: None,
            in_flight: false,
            fast_until: UNIX_EPOCH,
            refreshes: 0,
            consecutive_failures: 0,
            urgent_failures: 0,
            invalidations: Invalidations::default(),
        }
    }
}

impl<T: Clone, E: Failure> Snapshot<T, E> {
    fn due(&self, now: SystemTime) -> bool {
        self.next_attempt.is_none_or(|due| now >= due)
    }

    /// This snapshot with `fast_until` recomputed.
    fn sealed(mut self) -> Self {
        self.fast_until = match &self.current {
            None => UNIX_EPOCH,
            Some(c) if self.in_flight => c.serve_until,
            Some(c) => self
                .next_attempt
                .map_or(UNIX_EPOCH, |t| t.min(c.serve_until)),
        };
        self
    }

    /// An attempt starts at `now`; it serves any pending invalidation.
    fn started(&self, now: SystemTime) -> Self {
        let mut next = self.clone();
        next.in_flight = true;
        if next.invalidations.pending {
            next.invalidations.pending = false;
            next.invalidations.last_run = Some(now);
        }
        next.sealed()
    }

    /// The worker that ran an attempt died with it.
    fn orphaned(&self) -> Self {
        let mut next = self.clone();
        next.in_flight = false;
        next.sealed()
    }

    /// The attempt that started at `started` ended at `now` with `result`; `draw` is a random
    /// number in `[0, 1)` for the jitter.
    fn finished(
        &self,
        result: Result<(T, SystemTime), E>,
        started: SystemTime,
        now: SystemTime,
        policy: &RefreshPolicy,
        draw: f64,
    ) -> Self {
        let (value, expiry) = match result {
            Ok(fetched) => fetched,
            Err(error) => return self.failed(error, self.current.clone(), now, policy, draw),
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
            let keep = match self.current.clone() {
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
            next_attempt: Some(policy.refresh_point(started, expiry, draw)),
            current: Some(arrived),
            last_error: None,
            in_flight: false,
            fast_until: UNIX_EPOCH,
            refreshes: self.refreshes.saturating_add(1),
            consecutive_failures: 0,
            urgent_failures: 0,
            invalidations: self.invalidations,
        }
        .sealed()
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
        let failures = self.consecutive_failures.saturating_add(1);
        let retry = policy.retry_after_failure(
            now,
            current.as_ref().map(Current::validity),
            error.is_retryable(),
            failures,
            self.urgent_failures,
            draw,
        );
        Snapshot {
            current,
            last_error: Some(error),
            next_attempt: Some(retry.at),
            in_flight: false,
            fast_until: UNIX_EPOCH,
            refreshes: self.refreshes,
            consecutive_failures: failures,
            urgent_failures: retry.urgent_failures,
            invalidations: self.invalidations,
        }
        .sealed()
    }

    /// The value was invalidated at `now`.
    fn invalidated(&self, now: SystemTime, policy: &RefreshPolicy) -> Self {
        let backoff_until = self.last_error.as_ref().and(self.next_attempt);
        let (what, invalidations) =
            policy.invalidation(now, self.invalidations, self.in_flight, backoff_until);
        let mut next = self.clone();
        next.invalidations = invalidations;
        match what {
            Invalidation::Coalesced => {}
            Invalidation::DropValue => next.current = None,
            Invalidation::RunNow => {
                next.current = None;
                next.next_attempt = Some(now);
            }
            Invalidation::Defer(at) => {
                next.next_attempt = Some(next.next_attempt.map_or(at, |due| due.min(at)));
            }
        }
        next.sealed()
    }
}

/// What the cache and its worker share.
struct Shared<T, E> {
    state: ArcSwap<Snapshot<T, E>>,
    /// Wakes the worker to look at `state.next_attempt` again.
    wake: Notify,
    /// Counts completed attempts; its sender belongs to the worker.
    completed: Mutex<watch::Receiver<u64>>,
    time: SharedTimeSource,
    policy: RefreshPolicy,
}

pub(crate) struct Cache<T, E> {
    shared: Arc<Shared<T, E>>,
    fetch: Fetch<T, E>,
    sleep: SharedAsyncSleep,
    worker: Mutex<Option<AbortOnDrop>>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T, E> Cache<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Failure,
{
    pub(crate) fn new(
        fetch: Fetch<T, E>,
        policy: RefreshPolicy,
        time: SharedTimeSource,
        sleep: SharedAsyncSleep,
    ) -> Self {
        let (_, completed) = watch::channel(0);
        Cache {
            shared: Arc::new(Shared {
                state: ArcSwap::from_pointee(Snapshot::default()),
                wake: Notify::new(),
                completed: Mutex::new(completed),
                time,
                policy,
            }),
            fetch,
            sleep,
            worker: Mutex::new(None),
        }
    }

    /// The cached value if it is outside its mandatory window: the hot path.
    #[inline]
    pub(crate) fn get(&self) -> Option<T> {
        let state = self.shared.state.load();
        let current = state.current.as_ref()?;
        let now = self.shared.time.now();
        if now < state.fast_until {
            return Some(current.value.clone());
        }
        self.get_when_due(&state, current, now)
    }

    /// The cached path once an attempt is due or the value is inside its mandatory window: wakes
    /// a worker that overslept, and leaves a dead one to the slow path.
    #[cold]
    #[inline(never)]
    fn get_when_due(
        &self,
        state: &Snapshot<T, E>,
        current: &Current<T>,
        now: SystemTime,
    ) -> Option<T> {
        if now >= current.serve_until {
            return None;
        }
        if !state.in_flight {
            if !self.worker_alive() {
                return None;
            }
            self.shared.wake.notify_one();
        }
        Some(current.value.clone())
    }

    /// The value for a caller the hot path could not serve: the value, the last error, or what
    /// the attempt it waits for brings, as [`RefreshPolicy::caller_action`] decides.
    pub(crate) async fn get_or_wait(&self) -> Result<T, E> {
        let mut waited = false;
        loop {
            let (mut completed, restarted) = self.ensure_worker()?;
            completed.borrow_and_update();
            let state = self.shared.state.load_full();
            let now = self.shared.time.now();
            let due = state.due(now);
            if due && !state.in_flight {
                self.shared.wake.notify_one();
            }
            let valid = state.current.as_ref().filter(|c| now < c.expiry);
            let attempts = Attempts {
                in_flight: state.in_flight,
                due,
                failed: state.last_error.is_some(),
                waited,
                restarted,
            };
            let action =
                self.shared
                    .policy
                    .caller_action(now, valid.map(Current::validity), attempts);
            match (action, valid, &state.last_error) {
                (CallerAction::Serve, Some(current), _) => return Ok(current.value.clone()),
                (CallerAction::Fail, _, Some(error)) => return Err(error.clone()),
                (CallerAction::Wait { until }, ..) => {
                    waited |= self.wait_for_attempt(completed, until, now).await?;
                }
                // Serve and Fail come only with a valid value and an error.
                _ => waited |= self.wait_for_attempt(completed, None, now).await?,
            }
        }
    }

    /// Waits for the next completed attempt, but not past `until`. Returns whether an attempt
    /// completed or `until` passed; `false` when the worker is gone, or did not complete an
    /// attempt within the stall limit and was replaced.
    async fn wait_for_attempt(
        &self,
        mut completed: watch::Receiver<u64>,
        until: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<bool, E> {
        let stall = self.shared.policy.stall_limit();
        let left = until.map(|t| t.duration_since(now).unwrap_or_default());
        let limit = left.map_or(stall, |left| left.min(stall));
        match Timeout::new(completed.changed(), self.sleep.sleep(limit)).await {
            Ok(Ok(())) => Ok(true),
            // The worker stopped with the runtime it ran on; the caller starts another.
            Ok(Err(_)) => Ok(false),
            // Waiters are never held past the value's expiry.
            Err(_) if left.is_some_and(|left| left <= stall) => Ok(true),
            Err(_) => {
                warn!(
                    waited = ?stall,
                    "the credentials refresh task made no progress (its tokio runtime does not \
                     run); starting another on this runtime"
                );
                let mut worker = self.worker.lock();
                self.spawn_worker(&mut worker)?;
                Ok(false)
            }
        }
    }

    /// The value while it has not expired, whatever its windows.
    pub(crate) fn get_unexpired(&self) -> Option<T> {
        let state = self.shared.state.load();
        let current = state.current.as_ref()?;
        (self.shared.time.now() < current.expiry).then(|| current.value.clone())
    }

    /// Drops the cached value and starts a fresh attempt, as [`RefreshPolicy::invalidation`]
    /// allows: at once, with the attempt in flight, when the failure backoff ends, or (while
    /// invalidations come too fast) a little later, serving the value until then.
    pub(crate) fn invalidate(&self) {
        let now = self.shared.time.now();
        let policy = &self.shared.policy;
        self.shared
            .state
            .rcu(|state| state.invalidated(now, policy));
        self.shared.wake.notify_one();
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot<T, E>> {
        self.shared.state.load_full()
    }

    fn worker_alive(&self) -> bool {
        let worker = self.worker.lock();
        worker.as_ref().is_some_and(|w| !w.0.is_finished())
    }

    /// Starts a worker on the current tokio runtime unless one is running, and returns a
    /// receiver of completed attempts and whether a worker was started.
    fn ensure_worker(&self) -> Result<(watch::Receiver<u64>, bool), E> {
        let mut worker = self.worker.lock();
        if worker.as_ref().is_some_and(|w| !w.0.is_finished()) {
            return Ok((self.shared.completed.lock().clone(), false));
        }
        Ok((self.spawn_worker(&mut worker)?, true))
    }

    /// Replaces the worker in `slot` with a new one on the current tokio runtime.
    fn spawn_worker(&self, slot: &mut Option<AbortOnDrop>) -> Result<watch::Receiver<u64>, E> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| E::no_runtime())?;
        let (sender, receiver) = watch::channel(0);
        *self.shared.completed.lock() = receiver.clone();
        // An attempt of the worker being replaced will never complete.
        self.shared.state.rcu(|state| state.orphaned());
        let task = run_worker(
            self.shared.clone(),
            self.fetch.clone(),
            self.sleep.clone(),
            sender,
        );
        *slot = Some(AbortOnDrop(runtime.spawn(task)));
        Ok(receiver)
    }
}

/// The worker: sleeps until the next attempt is due, makes it, and again, forever.
/// Invalidations and callers who find an attempt overdue wake it to look again.
async fn run_worker<T, E>(
    shared: Arc<Shared<T, E>>,
    fetch: Fetch<T, E>,
    sleep: SharedAsyncSleep,
    completed: watch::Sender<u64>,
) where
    T: Clone + Send + Sync + 'static,
    E: Failure,
{
    let (time, policy) = (&shared.time, &shared.policy);
    loop {
        sleep_until_due(&shared, &sleep).await;
        let started = time.now();
        shared.state.rcu(|state| state.started(started));
        debug!("refreshing credentials");
        let result = attempt(&fetch, &sleep, policy.fetch_timeout)
            .instrument(debug_span!("refresh"))
            .await;
        let now = time.now();
        let draw = fastrand::f64();
        // `rcu`, so that an invalidation during the attempt is not undone.
        let previous = shared
            .state
            .rcu(|state| state.finished(result.clone(), started, now, policy, draw));
        log_outcome(&previous, &shared.state.load(), now);
        completed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

async fn sleep_until_due<T, E>(shared: &Shared<T, E>, sleep: &SharedAsyncSleep) {
    loop {
        let now = shared.time.now();
        let next_attempt = shared.state.load().next_attempt;
        let wait = next_attempt.and_then(|due| due.duration_since(now).ok());
        match wait.filter(|wait| !wait.is_zero()) {
            None => return,
            Some(wait) => {
                let nap = sleep.sleep(wait.min(LONGEST_SLEEP));
                let _ = Timeout::new(shared.wake.notified(), nap).await;
            }
        }
    }
}

/// One fetch, under the fetch timeout; a panic in it is a failure like any other.
async fn attempt<T, E: Failure>(
    fetch: &Fetch<T, E>,
    sleep: &SharedAsyncSleep,
    timeout: Duration,
) -> Result<(T, SystemTime), E> {
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| fetch())) {
        Ok(future) => future,
        Err(panic) => return Err(E::panicked(panic_message(&*panic))),
    };
    match Timeout::new(
        AssertUnwindSafe(future).catch_unwind(),
        sleep.sleep(timeout),
    )
    .await
    {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(E::panicked(panic_message(&*panic))),
        Err(_) => Err(E::timed_out(timeout)),
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

fn log_outcome<T, E: Failure>(previous: &Snapshot<T, E>, next: &Snapshot<T, E>, now: SystemTime) {
    let at = |t: Option<SystemTime>| {
        t.map(aws_smithy_types::DateTime::from)
            .map(|t| t.to_string())
    };
    match &next.last_error {
        None => {
            let expiry = at(next.current.as_ref().map(|c| c.expiry));
            let next_refresh = at(next.next_attempt);
            if previous.consecutive_failures > 0 {
                info!(
                    ?expiry,
                    ?next_refresh,
                    failures = previous.consecutive_failures,
                    "credentials refreshed after failures"
                );
            } else {
                debug!(?expiry, ?next_refresh, "credentials refreshed");
            }
        }
        Some(error) => {
            let next_attempt = at(next.next_attempt);
            let valid_until = at(next.current.as_ref().map(|c| c.expiry));
            let retry_in = next.next_attempt.and_then(|t| t.duration_since(now).ok());
            if next.consecutive_failures == 1 {
                warn!(%error, ?valid_until, ?next_attempt, ?retry_in, "refreshing credentials failed; retrying with backoff");
            } else {
                debug!(%error, failures = next.consecutive_failures, ?valid_until, ?next_attempt, "refreshing credentials failed again");
            }
        }
    }
}

impl<T, E> fmt::Debug for Cache<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.load();
        f.debug_struct("Cache")
            .field("expiry", &state.current.as_ref().map(|c| c.expiry))
            .field("next_attempt", &state.next_attempt)
            .field("consecutive_failures", &state.consecutive_failures)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
