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
//!   allocation, nothing shared with a refresh but an atomic load. That is all of
//!   [`Cache::get`]: the worker lock and the `watch` channel are touched only by the slow path
//!   and the worker, and `tests/allocations.rs` counts the cached path's allocations (none).
//!   Everything else lives out of line, behind a boxed future, so that the cached call's future
//!   stays small.
//! - **One worker task** per cache does every attempt, so attempts are single-flight by
//!   construction and a caller that drops its future cancels nothing. It sleeps (through the
//!   injected [`AsyncSleep`], at most 5 minutes at a time so that a suspended machine's stopped
//!   timers are caught up) until the next attempt is due, then makes it, under a timeout and a
//!   panic guard: a panicking fetch is a failed attempt like any other. It holds no reference to
//!   the cache's owner, which aborts it on drop.
//! - **A worker dies with its runtime**, or stalls with one that no longer runs. Whoever finds
//!   it dead, or an attempt due or in flight for longer than the stall limit (a caller on the
//!   slow path, or on the cached path once an attempt is due), starts another on its own
//!   runtime; the new one waits for the attempt the backoff scheduled, and the caller that
//!   started it waits for that attempt, which would otherwise die with the caller's runtime too.
//!   Replacing happens under the worker lock, against the state read under it, so that callers
//!   who find the same stuck worker replace it once.
//! - **Callers** the cached path cannot serve do what [`RefreshPolicy::caller_action`] says:
//!   take the value, take the last error, or wait for an attempt. A `watch` channel that lives
//!   as long as the cache tells waiters to look again whenever an attempt completes or a worker
//!   starts or stops; the snapshot counts completed attempts, so that a waiter knows whether the
//!   one it waited for has come. An expired value is never returned.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use aws_smithy_async::future::timeout::Timeout;
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::SharedTimeSource;
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};
use tracing::{debug, debug_span, info, warn, Instrument};

use crate::metrics::Metrics;
use crate::panic::guarded;
use crate::policy::{Attempts, CallerAction, Next, RefreshPolicy};
use crate::time::HotClock;

mod snapshot;

pub(crate) use snapshot::{Current, Snapshot};

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
    /// The failure of a fetch cut off with its worker (its runtime shut down or stopped).
    fn cut_off() -> Self;
    /// What a caller gets when the value it waited on expired before the attempt in flight
    /// completed.
    fn outlived() -> Self;
    /// The failure's name as the `outcome` of a metric.
    fn outcome(&self) -> &'static str;
}

type BoxFuture<O> = Pin<Box<dyn Future<Output = O> + Send>>;

/// What a fetch may build on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Whatever the fetch keeps from earlier ones that is still fresh (for a chain, the held
    /// credentials of earlier hops).
    MayReuse,
    /// Nothing kept: the fetch of an invalidation, after a service rejected the value.
    FromScratch,
}

/// Fetches a new value and its expiry.
pub(crate) type Fetch<T, E> =
    Arc<dyn Fn(Freshness) -> BoxFuture<Result<(T, SystemTime), E>> + Send + Sync>;

/// What the cache and its worker share.
struct Shared<T, E> {
    state: ArcSwap<Snapshot<T, E>>,
    /// Wakes the worker to look at `state.next_refresh` again.
    wake: Notify,
    /// Told whenever an attempt completes and whenever a worker starts or stops, so that
    /// waiting callers look at `state` again.
    changed: watch::Sender<()>,
    time: SharedTimeSource,
    policy: RefreshPolicy,
    metrics: Metrics,
}

impl<T, E> Shared<T, E> {
    fn tell_waiters(&self) {
        self.changed.send_replace(());
    }
}

pub(crate) struct Cache<T, E> {
    shared: Arc<Shared<T, E>>,
    /// How the cached path reads the time.
    hot_clock: HotClock,
    fetch: Fetch<T, E>,
    sleep: SharedAsyncSleep,
    worker: Mutex<Option<AbortOnDrop>>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl AbortOnDrop {
    fn is_running(slot: &Option<AbortOnDrop>) -> bool {
        slot.as_ref().is_some_and(|w| !w.0.is_finished())
    }
}

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
    /// A cache of what `fetch` brings, refreshed as `policy` says, its refreshes and waits
    /// recorded in `metrics`.
    pub(crate) fn new(
        fetch: Fetch<T, E>,
        policy: RefreshPolicy,
        time: SharedTimeSource,
        sleep: SharedAsyncSleep,
        metrics: Metrics,
    ) -> Self {
        Cache {
            hot_clock: HotClock::Source,
            shared: Arc::new(Shared {
                state: ArcSwap::from_pointee(Snapshot::default()),
                wake: Notify::new(),
                changed: watch::Sender::new(()),
                time,
                policy,
                metrics,
            }),
            fetch,
            sleep,
            worker: Mutex::new(None),
        }
    }

    /// The cache, its cached path reading the time with `hot_clock`.
    pub(crate) fn with_hot_clock(mut self, hot_clock: HotClock) -> Self {
        self.hot_clock = hot_clock;
        self
    }

    #[cfg(test)]
    pub(crate) fn hot_clock(&self) -> HotClock {
        self.hot_clock
    }

    /// How the cache sleeps, for the components built around it.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn sleep_impl(&self) -> &SharedAsyncSleep {
        &self.sleep
    }

    /// The cached value if it is outside its mandatory window: the hot path.
    #[inline]
    pub(crate) fn get(&self) -> Option<T> {
        let state = self.shared.state.load();
        let current = state.current.as_ref()?;
        if self.hot_clock.now_or_later(&self.shared.time) < state.fast_until {
            return Some(current.value.clone());
        }
        self.get_when_due(&state, current, self.shared.time.now())
    }

    /// The cached path once an attempt is due, may have stalled, or the value is inside its
    /// mandatory window: wakes a worker that overslept, and leaves a dead or stuck one to the
    /// slow path.
    #[cold]
    #[inline(never)]
    fn get_when_due(
        &self,
        state: &Snapshot<T, E>,
        current: &Current<T>,
        now: SystemTime,
    ) -> Option<T> {
        if now >= current.serve_until
            || state.stalled(now, &self.shared.policy)
            || !self.worker_alive()
        {
            return None;
        }
        if state.in_flight.is_none() {
            self.shared.wake.notify_waiters();
        }
        Some(current.value.clone())
    }

    /// The value for a caller the hot path could not serve: the value, the last error, or what
    /// the attempt it waits for brings, as [`RefreshPolicy::caller_action`] decides.
    pub(crate) async fn get_or_wait(&self) -> Result<T, E> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| E::no_runtime())?;
        let policy = &self.shared.policy;
        let mut waiter = Waiter::default();
        loop {
            waiter.restarted |= self.ensure_live_worker(&runtime)?;
            // Subscribed before the state is read, so that no change falls in between.
            let mut changed = self.shared.changed.subscribe();
            let state = self.shared.state.load_full();
            let now = self.shared.time.now();
            let next = state.next(now);
            if next == Next::Due {
                self.shared.wake.notify_waiters();
            }
            let attempts = Attempts {
                next,
                failed: state.last_error.is_some(),
                waited: waiter.has_waited(&state),
                restarted: waiter.restarted,
            };
            // `caller_action` serves a value only before its expiry.
            let current = state.current.as_ref().map(|c| (c.validity(), &c.value));
            let until = match policy.caller_action(now, current, attempts) {
                CallerAction::Serve(value) => return Ok(value.clone()),
                CallerAction::Fail => {
                    return Err(state.last_error.clone().unwrap_or_else(E::outlived));
                }
                CallerAction::Wait { until } => until,
            };
            waiter.starts_waiting(state.attempts, &self.shared.metrics);
            waiter.outlived |= self.wait(&mut changed, until, now).await;
        }
    }

    /// Waits until an attempt completes, a worker starts or stops, `until` passes, or the
    /// stall limit (after which the loop looks for a stuck worker). Returns whether `until`
    /// passed: waiters are never held past the value's expiry.
    async fn wait(
        &self,
        changed: &mut watch::Receiver<()>,
        until: Option<SystemTime>,
        now: SystemTime,
    ) -> bool {
        let stall = self.shared.policy.stall_limit();
        let left = until.map(|t| t.duration_since(now).unwrap_or_default());
        let limit = left.map_or(stall, |left| left.min(stall));
        let woken = Timeout::new(changed.changed(), self.sleep.sleep(limit)).await;
        woken.is_err() && left.is_some_and(|left| left <= stall)
    }

    /// The value while it has not expired, whatever its windows.
    pub(crate) fn get_unexpired(&self) -> Option<T> {
        let state = self.shared.state.load();
        let current = state.current.as_ref()?;
        (self.shared.time.now() < current.expiry).then(|| current.value.clone())
    }

    /// Drops the cached value and starts a fresh attempt, as [`RefreshPolicy::invalidation`]
    /// allows: at once, with the attempt in flight, or (while invalidations come too fast) a
    /// little later, serving the value until then.
    pub(crate) fn invalidate(&self) {
        let now = self.shared.time.now();
        let policy = &self.shared.policy;
        self.shared
            .state
            .rcu(|state| state.invalidated(now, policy));
        self.shared.wake.notify_waiters();
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot<T, E>> {
        self.shared.state.load_full()
    }

    fn worker_alive(&self) -> bool {
        AbortOnDrop::is_running(&self.worker.lock())
    }

    /// Starts a worker on `runtime` if none runs (its runtime shut down) or the one that runs
    /// is stuck (its runtime no longer runs). Returns whether it started one.
    fn ensure_live_worker(&self, runtime: &tokio::runtime::Handle) -> Result<bool, E> {
        let mut worker = self.worker.lock();
        let alive = AbortOnDrop::is_running(&worker);
        // Read under the lock: a caller that finds the worker stuck after another replaced it
        // sees the replacement's state.
        let stuck = alive
            && self
                .shared
                .state
                .load()
                .stalled(self.shared.time.now(), &self.shared.policy);
        if alive && !stuck {
            return Ok(false);
        }
        if stuck {
            info!(
                "the credentials refresh task made no progress (its tokio runtime does not run); \
                 starting another on this runtime"
            );
        }
        let now = self.shared.time.now();
        let policy = &self.shared.policy;
        let draw = fastrand::f64();
        self.shared
            .state
            .rcu(|state| state.orphaned(now, policy, draw));
        let task = run_worker(self.shared.clone(), self.fetch.clone(), self.sleep.clone());
        let task = runtime.spawn(task);
        // A runtime that is shutting down cancels what it is given at once.
        if task.is_finished() {
            return Err(E::no_runtime());
        }
        *worker = Some(AbortOnDrop(task));
        self.shared.tell_waiters();
        Ok(true)
    }
}

/// What a caller on the slow path has seen so far.
#[derive(Default)]
pub(crate) struct Waiter {
    /// The attempts completed when it began to wait.
    pub(crate) since_attempts: Option<u64>,
    /// Whether the value it waited on expired meanwhile.
    pub(crate) outlived: bool,
    /// Whether it started a worker: then it waits for the attempt due, which would otherwise
    /// die with its runtime.
    pub(crate) restarted: bool,
}

impl Waiter {
    /// The caller waits for an attempt, with `attempts` completed so far: the first time, that
    /// count is kept and the wait recorded in `metrics`.
    pub(crate) fn starts_waiting(&mut self, attempts: u64, metrics: &Metrics) {
        if self.since_attempts.is_none() {
            metrics.waited();
            self.since_attempts = Some(attempts);
        }
    }

    /// Whether it has seen an attempt complete, or its value expire, while waiting.
    pub(crate) fn has_waited<T, E>(&self, state: &Snapshot<T, E>) -> bool {
        self.outlived || self.since_attempts.is_some_and(|n| state.attempts != n)
    }
}

/// Tells waiting callers when the worker stops, with its runtime or by abort.
struct TellWaitersOnDrop<T, E>(Arc<Shared<T, E>>);

impl<T, E> Drop for TellWaitersOnDrop<T, E> {
    fn drop(&mut self) {
        self.0.tell_waiters();
    }
}

/// The worker: sleeps until the next attempt is due, makes it, and again, forever.
/// Invalidations and callers who find an attempt overdue wake it to look again.
async fn run_worker<T, E>(shared: Arc<Shared<T, E>>, fetch: Fetch<T, E>, sleep: SharedAsyncSleep)
where
    T: Clone + Send + Sync + 'static,
    E: Failure,
{
    let _stopped = TellWaitersOnDrop(shared.clone());
    let (time, policy) = (&shared.time, &shared.policy);
    loop {
        sleep_until_due(&shared, &sleep).await;
        let started = time.now();
        let before = shared.state.rcu(|state| state.started(started, policy));
        let id = before.next_attempt();
        let trigger = before.trigger(started);
        // A run for an invalidation derives every hop anew: any of them may have been revoked.
        let freshness = match before.invalidations.pending {
            true => Freshness::FromScratch,
            false => Freshness::MayReuse,
        };
        debug!(
            from_scratch = freshness == Freshness::FromScratch,
            "refreshing credentials"
        );
        let result = attempt(&fetch, freshness, &sleep, policy.fetch_timeout)
            .instrument(debug_span!("refresh"))
            .await;
        let now = time.now();
        let draw = fastrand::f64();
        // `rcu`, so that an invalidation during the attempt is not undone.
        let previous = shared
            .state
            .rcu(|state| state.finished(result.clone(), id, now, policy, draw));
        log_outcome(&previous, &shared.state.load(), now);
        let outcome = result.as_ref().err().map_or("ok", Failure::outcome);
        shared.metrics.refresh(trigger, outcome);
        shared.tell_waiters();
    }
}

async fn sleep_until_due<T, E>(shared: &Shared<T, E>, sleep: &SharedAsyncSleep) {
    loop {
        // Registered before the state is read, so that no wake-up falls in between.
        let mut woken = std::pin::pin!(shared.wake.notified());
        woken.as_mut().enable();
        let now = shared.time.now();
        let next_refresh = shared.state.load().next_refresh;
        let wait = next_refresh.and_then(|due| due.duration_since(now).ok());
        match wait.filter(|wait| !wait.is_zero()) {
            None => return,
            Some(wait) => {
                let nap = sleep.sleep(wait.min(LONGEST_SLEEP));
                let _ = Timeout::new(woken, nap).await;
            }
        }
    }
}

/// One fetch, under the fetch timeout; a panic in it is a failure like any other.
async fn attempt<T, E: Failure>(
    fetch: &Fetch<T, E>,
    freshness: Freshness,
    sleep: &SharedAsyncSleep,
    timeout: Duration,
) -> Result<(T, SystemTime), E> {
    attempt_within(|| fetch(freshness), sleep, timeout).await
}

/// The future `run` makes, under `timeout`; a panic in it is a failure like any other.
pub(crate) async fn attempt_within<T, E, F>(
    run: impl FnOnce() -> F,
    sleep: &SharedAsyncSleep,
    timeout: Duration,
) -> Result<(T, SystemTime), E>
where
    E: Failure,
    F: Future<Output = Result<(T, SystemTime), E>>,
{
    match Timeout::new(guarded(run), sleep.sleep(timeout)).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(E::panicked(&panic)),
        Err(_) => Err(E::timed_out(timeout)),
    }
}

/// Logs what an attempt changed: a success (at INFO after failures), the first failure of a
/// streak at WARN, later ones at DEBUG.
pub(crate) fn log_outcome<T, E: Failure>(
    previous: &Snapshot<T, E>,
    next: &Snapshot<T, E>,
    now: SystemTime,
) {
    let at = |t: Option<SystemTime>| {
        t.map(aws_smithy_types::DateTime::from)
            .map(|t| t.to_string())
    };
    match &next.last_error {
        None => {
            let expiry = at(next.current.as_ref().map(|c| c.expiry));
            let next_refresh = at(next.next_refresh);
            if previous.failures.consecutive > 0 {
                info!(
                    ?expiry,
                    ?next_refresh,
                    failures = previous.failures.consecutive,
                    "credentials refreshed after failures"
                );
            } else {
                debug!(?expiry, ?next_refresh, "credentials refreshed");
            }
        }
        Some(error) => {
            let next_refresh = at(next.next_refresh);
            let valid_until = at(next.current.as_ref().map(|c| c.expiry));
            let retry_in = next.next_refresh.and_then(|t| t.duration_since(now).ok());
            if next.failures.consecutive == 1 {
                warn!(%error, ?valid_until, ?next_refresh, ?retry_in, "refreshing credentials failed; retrying with backoff");
            } else {
                debug!(%error, failures = next.failures.consecutive, ?valid_until, ?next_refresh, "refreshing credentials failed again");
            }
        }
    }
}

impl<T, E> fmt::Debug for Cache<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.load();
        f.debug_struct("Cache")
            .field("expiry", &state.current.as_ref().map(|c| c.expiry))
            .field("next_refresh", &state.next_refresh)
            .field("consecutive_failures", &state.failures.consecutive)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
