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
    fn panicked(message: &str) -> Self {
        Fail {
            retryable: false,
            what: format!("panicked: {message}"),
        }
    }
    fn expiring_on_arrival(lifetime: Duration) -> Self {
        Fail {
            retryable: false,
            what: format!("arrived expiring ({lifetime:?})"),
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
    Panics,
}

/// A scripted fetch: records when it was called, answers from the script (the last answer
/// repeats), and can be held in flight until the test releases it.
#[derive(Clone)]
struct Script {
    time: TickAdvanceTime,
    answers: Arc<Mutex<VecDeque<Answer>>>,
    calls: Arc<Mutex<Vec<SystemTime>>>,
    /// Whether each call was from scratch.
    from_scratch: Arc<Mutex<Vec<bool>>>,
    gate: Arc<Semaphore>,
}

impl Script {
    fn new(time: &TickAdvanceTime, answers: impl IntoIterator<Item = Answer>) -> Self {
        Script {
            time: time.clone(),
            answers: Arc::new(Mutex::new(answers.into_iter().collect())),
            calls: Arc::new(Mutex::new(Vec::new())),
            from_scratch: Arc::new(Mutex::new(Vec::new())),
            gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
        }
    }

    fn then(&self, answer: Answer) {
        let mut answers = self.answers.lock();
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
        let calls = self.calls.lock();
        calls.iter().map(|t| secs(*t)).collect()
    }

    fn fetch(&self) -> Fetch<u64, Fail> {
        let script = self.clone();
        Arc::new(move |from_scratch| {
            let script = script.clone();
            Box::pin(async move {
                let now = script.time.now();
                script.calls.lock().push(now);
                script.from_scratch.lock().push(from_scratch);
                let number = script.calls.lock().len() as u64;
                let _permit = script.gate.acquire().await.unwrap();
                let answer = {
                    let mut answers = script.answers.lock();
                    if answers.len() > 1 {
                        answers.pop_front().unwrap()
                    } else {
                        answers.front().cloned().expect("a scripted answer")
                    }
                };
                match answer {
                    Answer::Lifetime(lifetime) => Ok((number, now + lifetime)),
                    Answer::Fails(fail) => Err(fail),
                    Answer::Panics => panic!("a fetch that panics"),
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
    assert_eq!(cache.snapshot().successful_refreshes, 3);
}

#[tokio::test(flavor = "current_thread")]
async fn refresh_points_of_a_fleet_spread_between_40_percent_and_the_advisory_point() {
    let policy = RefreshPolicy::default();
    let mut points = Vec::new();
    for _ in 0..200 {
        let (_, _, cache) = setup([Answer::Lifetime(60 * MINUTE)], policy.clone());
        cache.get_or_wait().await.unwrap();
        points.push(secs(cache.snapshot().next_refresh.unwrap()));
    }
    // Between 24 and 45 minutes into the hour, over at least 12 minutes.
    assert!(
        points.iter().all(|p| (1440..=2700).contains(p)),
        "{points:?}"
    );
    let (low, high) = (points.iter().min().unwrap(), points.iter().max().unwrap());
    assert!(high - low >= 720, "spread {low}..{high}");
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
    assert_eq!(secs(cache.snapshot().next_refresh.unwrap()), 3600);
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
    let mut changed = cache.shared.changed.subscribe();
    drop(cache);
    settle().await;
    let gone = tokio::time::timeout(Duration::from_secs(5), async {
        while changed.changed().await.is_ok() {}
    });
    assert!(
        gone.await.is_ok(),
        "the worker and the state it shared are gone"
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

/// Runs `future` on a current-thread runtime of its own, dropped afterwards: a runtime per call,
/// as synchronous wrappers do.
fn on_fresh_runtime<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn a_caller_that_restarts_a_dead_worker_honours_the_backoff() {
    let (time, script, cache) = setup([Answer::Fails(throttled())], no_jitter());
    assert_eq!(on_fresh_runtime(cache.get_or_wait()), Err(throttled()));
    assert_eq!(script.calls(), [0]);
    // Within the 1-s backoff: the error at once, and no attempt.
    assert_eq!(on_fresh_runtime(cache.get_or_wait()), Err(throttled()));
    assert_eq!(script.calls(), [0]);
    // Once it has passed, the call waits for the attempt that the restarted worker makes.
    script.then(Answer::Lifetime(60 * MINUTE));
    on_fresh_runtime(time.tick(SEC));
    assert_eq!(on_fresh_runtime(cache.get_or_wait()), Ok(2));
    assert_eq!(script.calls(), [0, 1]);
}

#[test]
fn a_caller_after_the_backoff_gets_the_new_error_not_the_stale_one() {
    let (time, script, cache) = setup([Answer::Fails(throttled())], no_jitter());
    assert_eq!(on_fresh_runtime(cache.get_or_wait()), Err(throttled()));
    script.then(Answer::Fails(denied()));
    on_fresh_runtime(time.tick(SEC));
    assert_eq!(on_fresh_runtime(cache.get_or_wait()), Err(denied()));
    assert_eq!(script.calls(), [0, 1]);
}

#[test]
fn a_worker_dead_with_its_runtime_is_restarted_once_a_refresh_is_due() {
    let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    assert_eq!(on_fresh_runtime(cache.get_or_wait()), Ok(1));
    on_fresh_runtime(time.tick(45 * MINUTE - SEC));
    // Before the refresh point the cached path serves, whatever became of the worker.
    assert_eq!(cache.get(), Some(1));
    on_fresh_runtime(time.tick(SEC));
    // At the refresh point it leaves the dead worker to the slow path, whose caller restarts it
    // and waits for the refresh.
    assert_eq!(cache.get(), None);
    assert_eq!(on_fresh_runtime(cache.get_or_wait()), Ok(2));
    assert_eq!(script.calls(), [0, 2700]);
    assert_eq!(cache.get(), Some(2));
}

#[test]
fn a_stuck_worker_is_replaced_by_a_waiting_caller() {
    let (time, script, cache) = setup(
        [Answer::Lifetime(60 * MINUTE)],
        no_jitter().fetch_timeout(10 * SEC),
    );
    // The worker lives on a runtime that nobody drives after this call.
    let idle = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(idle.block_on(cache.get_or_wait()), Ok(1));
    cache.invalidate();
    on_fresh_runtime(async {
        let caller = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_or_wait().await })
        };
        settle().await;
        assert!(!caller.is_finished(), "waits for the stuck worker");
        // The stall limit: twice the fetch timeout.
        time.tick(20 * SEC).await;
        settle().await;
        assert_eq!(caller.await.unwrap(), Ok(2));
    });
    assert_eq!(script.calls(), [0, 20]);
    drop(idle);
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_fetch_is_a_failure_that_backs_off() {
    let (time, script, cache) = setup([Answer::Panics], no_jitter());
    let err = cache.get_or_wait().await.unwrap_err();
    assert_eq!(err.what, "panicked: a fetch that panics");
    assert_eq!(cache.snapshot().consecutive_failures, 1);
    // The worker lives on and retries with the urgent backoff: 1, 2, 4 s.
    tick_seconds(&time, 7).await;
    settle().await;
    assert_eq!(script.calls(), [0, 1, 3, 7]);
    script.then(Answer::Lifetime(60 * MINUTE));
    tick_seconds(&time, 8).await;
    settle().await;
    assert_eq!(cache.get_or_wait().await, Ok(5));
}

#[tokio::test(flavor = "current_thread")]
async fn a_success_arriving_inside_its_mandatory_window_counts_as_a_failure() {
    let (time, script, cache) = setup(
        [Answer::Lifetime(60 * MINUTE), Answer::Lifetime(60 * SEC)],
        no_jitter().fetch_timeout(60 * MINUTE),
    );
    assert_eq!(cache.get_or_wait().await, Ok(1));
    // The refresh at 2700 s brings 60-s credentials, 50 s late: 10 s are left, inside their
    // 15-s mandatory window.
    script.hold();
    time.tick(45 * MINUTE).await;
    settle().await;
    time.tick(50 * SEC).await;
    script.release();
    settle().await;
    let snapshot = cache.snapshot();
    assert_eq!(snapshot.consecutive_failures, 1);
    assert_eq!(snapshot.successful_refreshes, 1);
    assert_eq!(
        snapshot.last_error.as_ref().map(|e| e.what.as_str()),
        Some("arrived expiring (60s)")
    );
    // The first value lasts longer and stays; the retry comes at the 5-min cap.
    assert_eq!(cache.get(), Some(1));
    assert_eq!(secs(snapshot.next_refresh.unwrap()), 2750 + 300);
}

/// A sleep that never ends: the timers of a suspended machine.
#[derive(Debug)]
struct Suspended;

impl AsyncSleep for Suspended {
    fn sleep(&self, _: Duration) -> aws_smithy_async::rt::sleep::Sleep {
        aws_smithy_async::rt::sleep::Sleep::new(std::future::pending())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_worker_that_overslept_is_woken_by_the_cached_path() {
    let time = aws_smithy_async::test_util::ManualTimeSource::new(UNIX_EPOCH);
    let (tick_time, _) = tick_advance_time_and_sleep();
    let script = Script::new(&tick_time, [Answer::Lifetime(60 * MINUTE)]);
    let cache = Cache::new(
        script.fetch(),
        no_jitter(),
        SharedTimeSource::new(time.clone()),
        SharedAsyncSleep::new(Suspended),
    );
    assert_eq!(cache.get_or_wait().await, Ok(1));
    time.set_time(UNIX_EPOCH + 45 * MINUTE);
    settle().await;
    assert_eq!(script.calls().len(), 1, "the worker's timer never fires");
    assert_eq!(cache.get(), Some(1));
    settle().await;
    assert_eq!(script.calls().len(), 2, "the cached call woke it");
    assert_eq!(cache.get(), Some(2));
}

#[tokio::test(flavor = "current_thread")]
async fn an_invalidation_storm_runs_few_fetches() {
    let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    assert_eq!(cache.get_or_wait().await, Ok(1));
    // invalidate() and credentials() in a loop, every 10 ms for 10 s.
    for _ in 0..1000 {
        cache.invalidate();
        let value = cache.get_or_wait().await;
        assert!(value.is_ok(), "{value:?}");
        time.tick(Duration::from_millis(10)).await;
        settle().await;
    }
    // One run at once, then 1, 2, 4 s apart; each derives the value from scratch.
    assert_eq!(script.calls(), [0, 0, 1, 3, 7]);
    assert_eq!(*script.from_scratch.lock(), [false, true, true, true, true]);
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_invalidations_share_one_fetch() {
    let (_time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    assert_eq!(cache.get_or_wait().await, Ok(1));
    script.hold();
    for _ in 0..100 {
        cache.invalidate();
    }
    settle().await;
    // More while that run is in flight: it brings fresh credentials for them too.
    for _ in 0..100 {
        cache.invalidate();
    }
    script.release();
    settle().await;
    assert_eq!(cache.get_or_wait().await, Ok(2));
    assert_eq!(script.calls(), [0, 0]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_deferred_invalidation_keeps_serving_the_value_until_its_run() {
    let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    cache.get_or_wait().await.unwrap();
    cache.invalidate();
    assert_eq!(cache.get_or_wait().await, Ok(2));
    // Right after that run: deferred by the 1-s invalidation backoff.
    cache.invalidate();
    assert_eq!(cache.get(), Some(2), "still served");
    assert_eq!(secs(cache.snapshot().next_refresh.unwrap()), 1);
    time.tick(SEC).await;
    settle().await;
    assert_eq!(script.calls(), [0, 0, 1]);
    assert_eq!(cache.get(), Some(3));
}

#[test]
fn a_worker_stuck_on_an_idle_runtime_is_replaced_before_the_value_expires() {
    let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    let idle = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(idle.block_on(cache.get_or_wait()), Ok(1));
    // The refresh comes due at 2700 s, but the worker's runtime never runs again.
    on_fresh_runtime(time.tick(45 * MINUTE));
    assert_eq!(script.calls(), [0]);
    assert_eq!(cache.get(), Some(1), "due for less than the stall limit");
    on_fresh_runtime(time.tick(MINUTE));
    // Stuck for the stall limit (60 s): the cached path leaves it to the slow path, whose
    // caller replaces it and waits for the refresh.
    assert_eq!(cache.get(), None);
    assert_eq!(on_fresh_runtime(cache.get_or_wait()), Ok(2));
    assert_eq!(script.calls(), [0, 2760]);
    drop(idle);
}

#[test]
fn a_call_outside_any_runtime_while_a_worker_runs_gets_a_clear_error() {
    let (time, _script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(cache.get_or_wait()), Ok(1));
    runtime.block_on(time.tick(59 * MINUTE + 30 * SEC));
    let err = futures_lite_block_on(cache.get_or_wait()).unwrap_err();
    assert!(err.what.contains("tokio runtime"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_worker_that_stops_tells_the_callers_waiting_for_it() {
    let (_time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    script.hold();
    let caller = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get_or_wait().await })
    };
    settle().await;
    // The worker dies mid-attempt (as with its runtime); the caller starts another at once.
    cache.worker.lock().take();
    settle().await;
    script.release();
    assert_eq!(caller.await.unwrap(), Ok(2));
    assert_eq!(script.calls(), [0, 0]);
}

#[tokio::test(flavor = "current_thread")]
async fn an_invalidation_during_a_failure_backoff_runs_at_once_from_scratch() {
    let (time, script, cache) = setup(
        [Answer::Lifetime(60 * MINUTE), Answer::Fails(denied())],
        no_jitter(),
    );
    assert_eq!(cache.get_or_wait().await, Ok(1));
    time.tick(45 * MINUTE).await;
    settle().await;
    // The refresh was denied: the next attempt waits the 5-min cap while the value is valid.
    assert_eq!(script.calls(), [0, 2700]);
    assert_eq!(secs(cache.snapshot().next_refresh.unwrap()), 3000);
    cache.invalidate();
    settle().await;
    assert_eq!(script.calls(), [0, 2700, 2700]);
    assert_eq!(*script.from_scratch.lock(), [false, false, true]);
    // Denied again, and no value left: the urgent backoff follows, not the 5-min one.
    assert_eq!(cache.get_or_wait().await, Err(denied()));
    assert_eq!(secs(cache.snapshot().next_refresh.unwrap()), 2701);
}
