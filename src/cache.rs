//! The refresh-ahead cache: one expiring value, refreshed in the background before it expires.
//!
//! It knows nothing of STS; it holds a value with its expiry and calls a fetch function.
//!
//! # Design
//!
//! - **State** is one immutable [`Snapshot`] behind an `ArcSwap`. A cached call loads it, reads
//!   the clock once and clones the value: no lock, no allocation, nothing shared with a refresh
//!   but an atomic load. Everything else lives out of line, behind a boxed future, so that the
//!   cached call's future stays small.
//! - **One worker task** per cache does every fetch, so fetches are single-flight by
//!   construction and a caller that drops its future cancels nothing. It sleeps (through the
//!   injected [`AsyncSleep`]) until the next attempt the [`RefreshPolicy`] schedules: the
//!   jittered refresh point after a success, a backoff after a failure. It holds no reference to
//!   the cache's owner, which aborts it on drop.
//! - **Callers** are served from the snapshot while the value is outside its mandatory window.
//!   Past that point they wait for an attempt in flight (a `watch` channel counts completed
//!   attempts) and, between attempts, get the still-valid value or, once it has expired, the
//!   last error at once. An expired value is never returned.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use aws_smithy_async::future::timeout::Timeout;
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::SharedTimeSource;
use tokio::sync::{watch, Notify};
use tracing::{debug, debug_span, info, warn, Instrument};

use crate::policy::RefreshPolicy;

/// What the cache needs to know of a fetch failure.
pub(crate) trait Failure: Clone + fmt::Display + Send + Sync + 'static {
    /// Whether a later attempt may succeed as it is.
    fn is_retryable(&self) -> bool;
    /// The failure of a fetch that took longer than `after`.
    fn timed_out(after: Duration) -> Self;
    /// The failure of a call made outside any tokio runtime, where no worker can run.
    fn no_runtime() -> Self;
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

/// Everything callers and `status` read, replaced whole after each attempt.
#[derive(Debug)]
pub(crate) struct Snapshot<T, E> {
    pub(crate) current: Option<Current<T>>,
    pub(crate) last_error: Option<E>,
    pub(crate) next_attempt: Option<SystemTime>,
    pub(crate) refreshes: u64,
    pub(crate) consecutive_failures: u32,
    /// Failures since the value expired or went missing.
    urgent_failures: u32,
}

impl<T, E> Default for Snapshot<T, E> {
    fn default() -> Self {
        Snapshot {
            current: None,
            last_error: None,
            next_attempt: None,
            refreshes: 0,
            consecutive_failures: 0,
            urgent_failures: 0,
        }
    }
}

impl<T: Clone, E: Failure> Snapshot<T, E> {
    /// The snapshot after an attempt that started at `started` and ended at `now`; `unit` is a
    /// random number in `[0, 1)` for the jitter.
    fn after(
        &self,
        result: Result<(T, SystemTime), E>,
        started: SystemTime,
        now: SystemTime,
        policy: &RefreshPolicy,
        unit: f64,
    ) -> Self {
        match result {
            Ok((value, expiry)) => Snapshot {
                current: Some(Current {
                    value,
                    expiry,
                    serve_until: policy.serve_until(started, expiry),
                }),
                last_error: None,
                next_attempt: Some(policy.refresh_point(started, expiry, unit)),
                refreshes: self.refreshes + 1,
                consecutive_failures: 0,
                urgent_failures: 0,
            },
            Err(error) => {
                let consecutive_failures = self.consecutive_failures.saturating_add(1);
                let current = self.current.clone().filter(|c| now < c.expiry);
                let (urgent_failures, next_attempt) = match &current {
                    // Valid credentials remain: back off, but try again as the mandatory window
                    // starts (after a retryable failure) and at expiry at the latest.
                    Some(c) => {
                        let retryable = error.is_retryable();
                        let delay = policy.retry_delay(consecutive_failures, retryable, unit);
                        let latest = if retryable && now < c.serve_until {
                            c.serve_until
                        } else {
                            c.expiry
                        };
                        (0, (now + delay).min(latest))
                    }
                    // Expired or never fetched: one attempt at a time, 1 s to 30 s apart.
                    None => {
                        let urgent = self.urgent_failures.saturating_add(1);
                        (urgent, now + policy.urgent_retry_delay(urgent))
                    }
                };
                Snapshot {
                    current,
                    last_error: Some(error),
                    next_attempt: Some(next_attempt),
                    refreshes: self.refreshes,
                    consecutive_failures,
                    urgent_failures,
                }
            }
        }
    }
}

/// What the cache and its worker share.
struct Engine<T, E> {
    state: ArcSwap<Snapshot<T, E>>,
    /// True while the worker runs an attempt, until its outcome is in `state`.
    in_flight: AtomicBool,
    /// Wakes the worker to look at `state.next_attempt` again.
    wake: Notify,
    /// Counts completed attempts; its sender belongs to the worker.
    completed: Mutex<watch::Receiver<u64>>,
    time: SharedTimeSource,
    policy: RefreshPolicy,
}

pub(crate) struct Cache<T, E> {
    engine: Arc<Engine<T, E>>,
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
            engine: Arc::new(Engine {
                state: ArcSwap::from_pointee(Snapshot::default()),
                // `ensure_worker` sets it as it starts the worker, whose first act is an attempt.
                in_flight: AtomicBool::new(false),
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
        let state = self.engine.state.load();
        let current = state.current.as_ref()?;
        (self.engine.time.now() < current.serve_until).then(|| current.value.clone())
    }

    /// The value for a caller the hot path could not serve.
    ///
    /// Waits for an attempt in flight only while there is something to wait for: a first value
    /// (none yet, no error yet), or a fresher one for a value inside its mandatory window (and
    /// then no longer than that value stays valid). Otherwise answers at once: the still-valid
    /// value, or the last error.
    pub(crate) async fn get_or_wait(&self) -> Result<T, E> {
        let mut completed = self.ensure_worker()?;
        let mut waited = false;
        loop {
            completed.borrow_and_update();
            let in_flight = self.engine.in_flight.load(Ordering::Acquire);
            let state = self.engine.state.load_full();
            let now = self.engine.time.now();
            if !in_flight && state.next_attempt.is_some_and(|due| now >= due) {
                // The worker overslept (a suspended machine, a clock jump): wake it.
                self.engine.wake.notify_one();
            }
            let valid = state.current.as_ref().filter(|c| now < c.expiry);
            let wait_until = match (valid, &state.last_error) {
                (Some(current), _) if now < current.serve_until || waited || !in_flight => {
                    return Ok(current.value.clone())
                }
                (Some(current), _) => Some(current.expiry),
                (None, Some(error)) => return Err(error.clone()),
                (None, None) => None,
            };
            let completion = completed.changed();
            let outcome = match wait_until.and_then(|t| t.duration_since(now).ok()) {
                Some(left) => Timeout::new(completion, self.sleep.sleep(left))
                    .await
                    .unwrap_or(Ok(())),
                None => completion.await,
            };
            if outcome.is_err() {
                // The worker stopped with the runtime it ran on: start another on this one.
                completed = self.ensure_worker()?;
                continue;
            }
            waited = true;
        }
    }

    /// The value while it has not expired, whatever its windows.
    pub(crate) fn get_unexpired(&self) -> Option<T> {
        let state = self.engine.state.load();
        let current = state.current.as_ref()?;
        (self.engine.time.now() < current.expiry).then(|| current.value.clone())
    }

    /// Drops the cached value. The worker fetches a new one at once, unless attempts are
    /// failing: then the backoff stands and callers get the last error until an attempt succeeds.
    pub(crate) fn invalidate(&self) {
        let now = self.engine.time.now();
        self.engine.state.rcu(|state| Snapshot {
            current: None,
            last_error: state.last_error.clone(),
            next_attempt: match state.last_error {
                None => Some(now),
                Some(_) => state.next_attempt,
            },
            refreshes: state.refreshes,
            consecutive_failures: state.consecutive_failures,
            urgent_failures: state.urgent_failures,
        });
        self.engine.wake.notify_one();
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot<T, E>> {
        self.engine.state.load_full()
    }

    /// Starts the worker on the current tokio runtime if it is not running, and returns a
    /// receiver of completed attempts.
    fn ensure_worker(&self) -> Result<watch::Receiver<u64>, E> {
        let mut worker = self.worker.lock().unwrap_or_else(|e| e.into_inner());
        let mut completed = self
            .engine
            .completed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if worker.as_ref().is_none_or(|w| w.0.is_finished()) {
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| E::no_runtime())?;
            let (sender, receiver) = watch::channel(0);
            *completed = receiver;
            self.engine.in_flight.store(true, Ordering::Release);
            let task = work(
                self.engine.clone(),
                self.fetch.clone(),
                self.sleep.clone(),
                sender,
            );
            *worker = Some(AbortOnDrop(runtime.spawn(task)));
        }
        Ok(completed.clone())
    }
}

/// The worker: an attempt, then a sleep until the next one is due, forever. Invalidations and
/// callers who find an attempt overdue wake it to look at `next_attempt` again.
async fn work<T, E>(
    engine: Arc<Engine<T, E>>,
    fetch: Fetch<T, E>,
    sleep: SharedAsyncSleep,
    completed: watch::Sender<u64>,
) where
    T: Clone + Send + Sync + 'static,
    E: Failure,
{
    let time = &engine.time;
    let policy = &engine.policy;
    loop {
        engine.in_flight.store(true, Ordering::Release);
        let started = time.now();
        debug!("refreshing credentials");
        let timeout = policy.fetch_timeout_duration();
        let attempt =
            Timeout::new(fetch(), sleep.sleep(timeout)).instrument(debug_span!("refresh"));
        let result = match attempt.await {
            Ok(result) => result,
            Err(_) => Err(E::timed_out(timeout)),
        };
        let now = time.now();
        let unit = fastrand::f64();
        // `rcu`, so that an invalidation during the attempt is not undone.
        let previous = engine
            .state
            .rcu(|state| state.after(result.clone(), started, now, policy, unit));
        log_outcome(&previous, &engine.state.load(), now);
        engine.in_flight.store(false, Ordering::Release);
        completed.send_modify(|n| *n += 1);

        // Sleep until the next attempt is due; invalidations and callers who find it overdue
        // wake the worker to look again.
        loop {
            let now = time.now();
            let due = engine.state.load().next_attempt.unwrap_or(now);
            match due.duration_since(now) {
                Ok(wait) if !wait.is_zero() => {
                    let _ = Timeout::new(engine.wake.notified(), sleep.sleep(wait)).await;
                }
                _ => break,
            }
        }
    }
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
        let state = self.engine.state.load();
        f.debug_struct("Cache")
            .field("expiry", &state.current.as_ref().map(|c| c.expiry))
            .field("next_attempt", &state.next_attempt)
            .field("consecutive_failures", &state.consecutive_failures)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_async::test_util::tick_advance_sleep::{
        tick_advance_time_and_sleep, TickAdvanceTime,
    };
    use aws_smithy_async::time::TimeSource;
    use std::collections::VecDeque;
    use std::time::UNIX_EPOCH;
    use tokio::sync::Semaphore;

    const SEC: Duration = Duration::from_secs(1);
    const MINUTE: Duration = Duration::from_secs(60);

    #[derive(Clone, Debug, PartialEq)]
    struct Fail {
        retryable: bool,
        what: String,
    }

    impl fmt::Display for Fail {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.what)
        }
    }

    impl Failure for Fail {
        fn is_retryable(&self) -> bool {
            self.retryable
        }
        fn timed_out(_: Duration) -> Self {
            Fail {
                retryable: true,
                what: "timed out".into(),
            }
        }
        fn no_runtime() -> Self {
            Fail {
                retryable: false,
                what: "no tokio runtime".into(),
            }
        }
    }

    fn throttled() -> Fail {
        Fail {
            retryable: true,
            what: "throttled".into(),
        }
    }

    fn denied() -> Fail {
        Fail {
            retryable: false,
            what: "denied".into(),
        }
    }

    /// What the fake fetch answers: a value with this lifetime, or a failure.
    #[derive(Clone)]
    enum Answer {
        Lifetime(Duration),
        Fails(Fail),
    }

    /// A scripted fetch: records when it was called, answers from the script (the last answer
    /// repeats), and can be held in flight until the test releases it.
    #[derive(Clone)]
    struct Script {
        time: TickAdvanceTime,
        answers: Arc<Mutex<VecDeque<Answer>>>,
        calls: Arc<Mutex<Vec<SystemTime>>>,
        gate: Arc<Semaphore>,
    }

    impl Script {
        fn new(time: &TickAdvanceTime, answers: impl IntoIterator<Item = Answer>) -> Self {
            Script {
                time: time.clone(),
                answers: Arc::new(Mutex::new(answers.into_iter().collect())),
                calls: Arc::new(Mutex::new(Vec::new())),
                gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            }
        }

        fn then(&self, answer: Answer) {
            let mut answers = self.answers.lock().unwrap();
            answers.clear();
            answers.push_back(answer);
        }

        fn hold(&self) {
            self.gate.forget_permits(Semaphore::MAX_PERMITS);
        }

        fn release(&self) {
            self.gate
                .add_permits(Semaphore::MAX_PERMITS - self.gate.available_permits());
        }

        fn calls(&self) -> Vec<u64> {
            let calls = self.calls.lock().unwrap();
            calls.iter().map(|t| secs(*t)).collect()
        }

        fn fetch(&self) -> Fetch<u64, Fail> {
            let script = self.clone();
            Arc::new(move || {
                let script = script.clone();
                Box::pin(async move {
                    let now = script.time.now();
                    script.calls.lock().unwrap().push(now);
                    let number = script.calls.lock().unwrap().len() as u64;
                    let _permit = script.gate.acquire().await.unwrap();
                    let answer = {
                        let mut answers = script.answers.lock().unwrap();
                        if answers.len() > 1 {
                            answers.pop_front().unwrap()
                        } else {
                            answers.front().cloned().expect("a scripted answer")
                        }
                    };
                    match answer {
                        Answer::Lifetime(lifetime) => Ok((number, now + lifetime)),
                        Answer::Fails(fail) => Err(fail),
                    }
                })
            })
        }
    }

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    /// A cache on tick-advanced time whose fetch follows `answers`.
    fn setup(
        answers: impl IntoIterator<Item = Answer>,
        policy: RefreshPolicy,
    ) -> (TickAdvanceTime, Script, Arc<Cache<u64, Fail>>) {
        let (time, sleep) = tick_advance_time_and_sleep();
        let script = Script::new(&time, answers);
        let cache = Arc::new(Cache::new(
            script.fetch(),
            policy,
            SharedTimeSource::new(time.clone()),
            SharedAsyncSleep::new(sleep),
        ));
        (time, script, cache)
    }

    /// Advances time one second at a time.
    async fn tick_seconds(time: &TickAdvanceTime, seconds: u64) {
        for _ in 0..seconds {
            time.tick(SEC).await;
        }
    }

    /// Lets spawned tasks run until they block.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    fn no_jitter() -> RefreshPolicy {
        RefreshPolicy::default().jitter(0.0)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_first_callers_share_one_fetch_even_when_some_give_up() {
        let (_time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
        script.hold();
        let callers: Vec<_> = (0..100)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get_or_wait().await })
            })
            .collect();
        settle().await;
        // Half the callers give up mid-fetch; the fetch goes on for the others.
        for caller in callers.iter().step_by(2) {
            caller.abort();
        }
        settle().await;
        script.release();
        for caller in callers.into_iter().skip(1).step_by(2) {
            assert_eq!(caller.await.unwrap(), Ok(1));
        }
        assert_eq!(script.calls(), [0]);
        assert_eq!(cache.get(), Some(1));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_idle_cache_refreshes_at_the_refresh_point_by_itself() {
        let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
        assert_eq!(cache.get_or_wait().await, Ok(1));
        // One hour: the advisory window is 15 minutes.
        time.tick(45 * MINUTE - SEC).await;
        settle().await;
        assert_eq!(script.calls(), [0]);
        time.tick(SEC).await;
        settle().await;
        assert_eq!(script.calls(), [0, 2700]);
        assert_eq!(cache.get(), Some(2));
        time.tick(45 * MINUTE).await;
        settle().await;
        assert_eq!(script.calls(), [0, 2700, 5400]);
        assert_eq!(cache.snapshot().refreshes, 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn refresh_points_of_a_fleet_spread_over_the_jitter_range() {
        let policy = RefreshPolicy::default();
        let mut points = Vec::new();
        for _ in 0..200 {
            let (_, _, cache) = setup([Answer::Lifetime(60 * MINUTE)], policy.clone());
            cache.get_or_wait().await.unwrap();
            points.push(secs(cache.snapshot().next_attempt.unwrap()));
        }
        // Fifteen minutes before expiry, moved earlier by up to 20 % of that: 2520 s to 2700 s.
        assert!(
            points.iter().all(|p| (2520..=2700).contains(p)),
            "{points:?}"
        );
        let (low, high) = (points.iter().min().unwrap(), points.iter().max().unwrap());
        assert!(high - low > 90, "spread {low}..{high}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn callers_get_the_cached_value_at_once_while_a_refresh_is_in_flight() {
        let (time, script, cache) = setup(
            [Answer::Lifetime(60 * MINUTE)],
            no_jitter().fetch_timeout(60 * MINUTE),
        );
        cache.get_or_wait().await.unwrap();
        script.hold();
        time.tick(45 * MINUTE).await;
        settle().await;
        assert_eq!(script.calls(), [0, 2700], "the refresh is in flight");
        for _ in 0..100 {
            assert_eq!(cache.get(), Some(1));
        }
        // Even one second before the mandatory window.
        time.tick(14 * MINUTE - SEC).await;
        assert_eq!(cache.get(), Some(1));
        script.release();
        settle().await;
        assert_eq!(cache.get(), Some(2));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn non_retryable_failures_retry_every_5_minutes_and_keep_serving_until_expiry() {
        let (time, script, cache) = setup(
            [Answer::Lifetime(60 * MINUTE), Answer::Fails(denied())],
            no_jitter(),
        );
        cache.get_or_wait().await.unwrap();
        tick_seconds(&time, 59 * 60 + 10).await;
        settle().await;
        // Refresh at 2700 s; then every 5 minutes, and once more at expiry.
        assert_eq!(script.calls(), [0, 2700, 3000, 3300]);
        assert_eq!(secs(cache.snapshot().next_attempt.unwrap()), 3600);
        assert_eq!(cache.get(), None, "inside the mandatory window");
        assert_eq!(
            cache.get_or_wait().await,
            Ok(1),
            "the still-valid value, at once"
        );
        time.tick(50 * SEC).await;
        settle().await;
        assert_eq!(script.calls(), [0, 2700, 3000, 3300, 3600]);
        assert_eq!(cache.get_or_wait().await, Err(denied()));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn inside_the_mandatory_window_callers_wait_for_the_attempt_in_flight() {
        let policy = no_jitter().retry_backoff(SEC, SEC);
        let (time, script, cache) = setup(
            [Answer::Lifetime(60 * MINUTE), Answer::Fails(throttled())],
            policy,
        );
        cache.get_or_wait().await.unwrap();
        tick_seconds(&time, 59 * 60 + 5).await;
        settle().await;
        script.hold();
        let calls = script.calls().len();
        time.tick(2 * SEC).await;
        settle().await;
        assert_eq!(script.calls().len(), calls + 1, "an attempt is in flight");
        let waiting = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_or_wait().await })
        };
        settle().await;
        assert!(!waiting.is_finished(), "waits for the attempt in flight");
        script.release();
        assert_eq!(
            waiting.await.unwrap(),
            Ok(1),
            "the still-valid value after the failure"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn expired_values_are_never_returned_and_errors_come_at_once_between_attempts() {
        let (time, script, cache) = setup(
            [Answer::Lifetime(10 * MINUTE), Answer::Fails(throttled())],
            no_jitter(),
        );
        cache.get_or_wait().await.unwrap();
        time.tick(10 * MINUTE).await;
        settle().await;
        assert_eq!(cache.get(), None);
        assert_eq!(cache.get_unexpired(), None);
        let calls = script.calls().len();
        assert_eq!(cache.get_or_wait().await, Err(throttled()));
        assert_eq!(cache.get_or_wait().await, Err(throttled()));
        assert_eq!(script.calls().len(), calls, "no attempt per caller");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn retries_back_off_from_5_seconds_while_valid_then_from_1_second_once_expired() {
        let (time, script, cache) = setup(
            [Answer::Lifetime(60 * MINUTE), Answer::Fails(throttled())],
            no_jitter(),
        );
        cache.get_or_wait().await.unwrap();
        tick_seconds(&time, 70 * 60).await;
        settle().await;
        let calls = script.calls();
        let gaps: Vec<u64> = calls.windows(2).map(|w| w[1] - w[0]).collect();
        // Refresh at 2700 s; then jittered backoff under 5, 10, 20, … 300 s, with an attempt as
        // the mandatory window starts (3540 s) and one at expiry (3600 s); then 1, 2, 4, 8, 16,
        // 30, 30 … s.
        assert_eq!(calls[1], 2700);
        let window_start = calls
            .iter()
            .position(|&t| t == 3540)
            .expect("an attempt at 3540 s");
        let at_expiry = calls.iter().position(|&t| t >= 3600).unwrap();
        assert_eq!(calls[at_expiry], 3600, "{calls:?}");
        for (n, gap) in gaps[1..window_start - 1].iter().enumerate() {
            let ceiling = (5u64 << n).min(300);
            assert!(
                *gap <= ceiling,
                "gap {n} is {gap} s, above {ceiling} s: {calls:?}"
            );
        }
        assert_eq!(
            &gaps[at_expiry..at_expiry + 8],
            &[1, 2, 4, 8, 16, 30, 30, 30],
            "{calls:?}"
        );
        assert_eq!(
            cache.snapshot().consecutive_failures as usize,
            calls.len() - 1
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_first_fetch_that_fails_is_retried_with_urgent_backoff_and_recovers() {
        let (time, script, cache) = setup([Answer::Fails(throttled())], no_jitter());
        assert_eq!(cache.get_or_wait().await, Err(throttled()));
        time.tick(7 * SEC).await;
        settle().await;
        assert_eq!(script.calls(), [0, 1, 3, 7]);
        script.then(Answer::Lifetime(60 * MINUTE));
        time.tick(8 * SEC).await;
        settle().await;
        assert_eq!(script.calls(), [0, 1, 3, 7, 15]);
        assert_eq!(cache.get_or_wait().await, Ok(5));
        assert_eq!(cache.snapshot().consecutive_failures, 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn invalidate_makes_the_next_callers_share_one_fresh_fetch() {
        let (_time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
        assert_eq!(cache.get_or_wait().await, Ok(1));
        script.hold();
        cache.invalidate();
        assert_eq!(cache.get(), None);
        assert_eq!(cache.get_unexpired(), None);
        let callers: Vec<_> = (0..10)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get_or_wait().await })
            })
            .collect();
        settle().await;
        script.release();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), Ok(2));
        }
        assert_eq!(script.calls(), [0, 0]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_invalidation_during_a_failing_attempt_is_not_undone() {
        let (time, script, cache) = setup(
            [Answer::Lifetime(60 * MINUTE), Answer::Fails(throttled())],
            no_jitter().fetch_timeout(60 * MINUTE),
        );
        assert_eq!(cache.get_or_wait().await, Ok(1));
        script.hold();
        time.tick(45 * MINUTE).await;
        settle().await;
        assert_eq!(script.calls(), [0, 2700], "the refresh is in flight");
        cache.invalidate();
        script.release();
        settle().await;
        assert_eq!(cache.get(), None);
        assert_eq!(
            cache.get_unexpired(),
            None,
            "the rejected value stays dropped"
        );
        assert_eq!(cache.get_or_wait().await, Err(throttled()));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn invalidating_while_attempts_fail_keeps_their_backoff() {
        let (_time, script, cache) = setup([Answer::Fails(throttled())], no_jitter());
        assert_eq!(cache.get_or_wait().await, Err(throttled()));
        for _ in 0..100 {
            cache.invalidate();
            settle().await;
        }
        assert_eq!(script.calls(), [0], "no attempt before the backoff ends");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_fetch_that_hangs_times_out() {
        let (time, script, cache) = setup(
            [Answer::Lifetime(60 * MINUTE)],
            no_jitter().fetch_timeout(10 * SEC),
        );
        script.hold();
        let caller = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_or_wait().await })
        };
        settle().await;
        time.tick(10 * SEC).await;
        assert_eq!(caller.await.unwrap(), Err(Fail::timed_out(10 * SEC)));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn dropping_the_cache_stops_its_worker() {
        let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
        cache.get_or_wait().await.unwrap();
        let mut completed = cache.engine.completed.lock().unwrap().clone();
        completed.borrow_and_update();
        drop(cache);
        settle().await;
        let changed = tokio::time::timeout(Duration::from_secs(5), completed.changed()).await;
        assert!(
            matches!(changed, Ok(Err(_))),
            "the worker and its sender are gone"
        );
        time.tick(2 * 60 * MINUTE).await;
        settle().await;
        assert_eq!(script.calls(), [0]);
    }

    #[test]
    fn without_a_runtime_callers_get_a_clear_error() {
        let (_, _, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
        let err = futures_lite_block_on(cache.get_or_wait()).unwrap_err();
        assert!(err.what.contains("tokio runtime"), "{err}");
    }

    /// Polls a future to completion on this thread, outside any tokio runtime.
    fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
    }
}
