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
    fn outcome(&self) -> &'static str {
        "failed"
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
    fn cut_off() -> Self {
        Fail {
            retryable: true,
            what: "cut off".into(),
        }
    }
    fn outlived() -> Self {
        Fail {
            retryable: true,
            what: "outlived".into(),
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
                script
                    .from_scratch
                    .lock()
                    .push(from_scratch == Freshness::FromScratch);
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
        Metrics::default(),
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
    assert!(
        cache.snapshot().current.is_none(),
        "dropped by the failure at its expiry"
    );
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

/// A caller that waited for an attempt gets that attempt's outcome, even when the next attempt
/// is already in flight as it looks: it is not held through attempt after attempt.
#[tokio::test(flavor = "current_thread")]
async fn a_caller_gets_the_failure_it_waited_for_though_the_next_attempt_is_in_flight() {
    use std::task::{Context, Poll, Waker};
    let (time, script, cache) = setup(
        [Answer::Fails(throttled()), Answer::Lifetime(60 * MINUTE)],
        no_jitter(),
    );
    script.hold();
    // Polled by hand, so that it looks again only when the test says.
    let mut caller = std::pin::pin!(cache.get_or_wait());
    let mut look = || {
        caller
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    };
    assert!(look().is_pending(), "waits for the first attempt");
    settle().await;
    assert_eq!(script.calls(), [0]);
    // The first attempt fails; the urgent backoff's retry, 1 s later, starts and is held.
    script.release();
    settle().await;
    script.hold();
    time.tick(SEC).await;
    settle().await;
    assert_eq!(script.calls(), [0, 1], "the retry is in flight");
    assert_eq!(look(), Poll::Ready(Err(throttled())));

    script.release();
    assert_eq!(cache.get_or_wait().await, Ok(2));
}

#[tokio::test(flavor = "current_thread")]
async fn a_caller_waiting_inside_the_mandatory_window_is_released_at_expiry() {
    let policy = no_jitter()
        .advisory_window(MINUTE)
        .mandatory_window(MINUTE)
        .fetch_timeout(60 * MINUTE);
    let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], policy);
    cache.get_or_wait().await.unwrap();
    script.hold();
    time.tick(59 * MINUTE).await;
    settle().await;
    assert_eq!(script.calls(), [0, 3540], "the refresh is in flight");
    time.tick(10 * SEC).await;
    let waiting = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get_or_wait().await })
    };
    settle().await;
    time.tick(50 * SEC - Duration::from_millis(1)).await;
    settle().await;
    assert!(!waiting.is_finished(), "waits while the value is valid");
    time.tick(Duration::from_millis(1)).await;
    settle().await;
    assert!(waiting.is_finished(), "released at expiry");
    assert_eq!(waiting.await.unwrap(), Err(Fail::outlived()));
    // A caller that comes after expiry waits for the attempt in flight, as on a first fetch.
    let late = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get_or_wait().await })
    };
    settle().await;
    script.release();
    assert_eq!(late.await.unwrap(), Ok(2));
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
    // The worker runs on this thread: its draws come from this seed.
    fastrand::seed(7);
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
    let backoff = &gaps[1..window_start - 1];
    for (n, gap) in backoff.iter().enumerate() {
        let ceiling = (5u64 << n).min(300);
        assert!(
            *gap <= ceiling,
            "gap {n} is {gap} s, above {ceiling} s: {calls:?}"
        );
    }
    // Not fewer attempts than the ceilings allow (5 + 10 + … + 160 + 300 < 840 s), nor many
    // more than full jitter gives: a retry every second would make 840.
    assert!((7..=20).contains(&backoff.len()), "{calls:?}");
    assert!(
        backoff
            .iter()
            .enumerate()
            .any(|(n, gap)| *gap < (5u64 << n).min(300)),
        "the gaps are jittered: {calls:?}"
    );
    assert_eq!(
        &gaps[at_expiry..at_expiry + 8],
        &[1, 2, 4, 8, 16, 30, 30, 30],
        "{calls:?}"
    );
    assert_eq!(
        cache.snapshot().failures.consecutive as usize,
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
    assert_eq!(cache.snapshot().failures.consecutive, 0);
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
async fn a_panicking_fetch_is_a_failure_that_backs_off() {
    let (time, script, cache) = setup([Answer::Panics], no_jitter());
    let err = cache.get_or_wait().await.unwrap_err();
    assert_eq!(err.what, "panicked: a fetch that panics");
    assert_eq!(cache.snapshot().failures.consecutive, 1);
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
    assert_eq!(snapshot.failures.consecutive, 1);
    assert_eq!(snapshot.successful_refreshes, 1);
    assert_eq!(
        snapshot.last_error.as_ref().map(|e| e.what.as_str()),
        Some("arrived expiring (60s)")
    );
    // The first value lasts longer and stays; the retry comes at the 5-min cap.
    assert_eq!(cache.get(), Some(1));
    assert_eq!(secs(snapshot.next_refresh.unwrap()), 2750 + 300);
}

/// A refresh held from 2700 s brings a value of `lifetime`, released at `at` seconds inside
/// its mandatory window: the cache keeps whichever of the two values expires later, the new one
/// on a tie.
async fn late_arrival((lifetime, at, kept): (u64, u64, u64)) {
    let (time, script, cache) = setup(
        [
            Answer::Lifetime(60 * MINUTE),
            Answer::Lifetime(Duration::from_secs(lifetime)),
        ],
        no_jitter().fetch_timeout(60 * MINUTE),
    );
    cache.get_or_wait().await.unwrap();
    script.hold();
    time.tick(45 * MINUTE).await;
    settle().await;
    time.tick(Duration::from_secs(at - 2700)).await;
    script.release();
    settle().await;
    assert_eq!(
        cache.snapshot().failures.consecutive,
        1,
        "counted as a failure"
    );
    assert_eq!(cache.get_unexpired(), Some(kept));
}

#[tokio::test(flavor = "current_thread")]
async fn a_late_value_that_expires_later_than_the_old_one_is_kept() {
    late_arrival((1000, 3650, 2)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_late_value_that_expires_with_the_old_one_is_kept() {
    late_arrival((900, 3550, 2)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_late_value_that_expires_before_the_old_one_is_dropped() {
    late_arrival((60, 2750, 1)).await;
}

mod invalidation;
mod runtimes;

#[tokio::test(flavor = "current_thread")]
async fn the_fallback_serves_a_value_inside_its_mandatory_window_until_it_expires() {
    let (time, script, cache) = setup(
        [Answer::Lifetime(60 * MINUTE), Answer::Fails(denied())],
        no_jitter(),
    );
    assert_eq!(cache.get_or_wait().await, Ok(1));
    // Refreshes are denied from 2700 s on; at 3570 s the value is inside its mandatory window.
    tick_seconds(&time, 59 * 60 + 30).await;
    settle().await;
    assert_eq!(cache.get(), None, "inside the mandatory window");
    assert_eq!(cache.get_unexpired(), Some(1));
    tick_seconds(&time, 29).await;
    settle().await;
    assert_eq!(cache.get_unexpired(), Some(1), "valid at 3599 s");
    // The attempt at expiry stays in flight, so that the value is still held at 3600 s.
    script.hold();
    tick_seconds(&time, 1).await;
    settle().await;
    assert_eq!(
        cache
            .snapshot()
            .in_flight
            .map(|attempt| secs(attempt.since)),
        Some(3600)
    );
    assert_eq!(cache.get_unexpired(), None, "expired at 3600 s");
}

/// What an attempt is counted as in `aws_role_chain.refreshes`: `caller` without a value or from
/// the end of its serving time on, `background` before it, `invalidation` while one is pending.
#[test]
fn an_attempt_is_for_callers_from_the_end_of_the_serving_time_on() {
    use crate::metrics::Trigger;
    use snapshot::Current;
    let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
    let mut state: Snapshot<u64, Fail> = Snapshot::default();
    assert_eq!(state.trigger(at(0)), Trigger::Caller, "no value");
    state.current = Some(Current {
        value: 1,
        expiry: at(3600),
        serve_until: at(3540),
    });
    assert_eq!(state.trigger(at(3539)), Trigger::Background);
    assert_eq!(state.trigger(at(3540)), Trigger::Caller);
    state.invalidations.pending = true;
    assert_eq!(state.trigger(at(0)), Trigger::Invalidation);
}

/// The late outcome of an attempt whose worker was replaced mid-attempt (an abort takes effect
/// only at the worker's next await) changes nothing: the successor's attempt stays in flight,
/// and only its own outcome counts.
#[test]
fn the_late_outcome_of_a_replaced_workers_attempt_changes_nothing() {
    let policy = no_jitter();
    let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
    let first = Snapshot::<u64, Fail>::default();
    let first_id = first.next_attempt();
    let replaced = first.started(at(0), &policy).orphaned(at(70), &policy, 0.0);
    let second_id = replaced.next_attempt();
    let second = replaced.started(at(70), &policy);
    assert_ne!(first_id, second_id);

    let late = second.finished(Ok((1, at(3600))), first_id, at(71), &policy, 0.0);
    assert_eq!(late.in_flight, second.in_flight);
    assert!(late.current.is_none());
    assert_eq!(late.successful_refreshes, 0);

    let own = second.finished(Ok((2, at(3670))), second_id, at(71), &policy, 0.0);
    assert_eq!(own.in_flight, None);
    assert_eq!(own.current.map(|c| c.value), Some(2));
}

/// A pool's refusal backoff puts the next attempt off until its end, unless one is in flight.
#[test]
fn a_retry_put_off_moves_the_next_attempt_unless_one_is_in_flight() {
    let policy = no_jitter();
    let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
    let idle = Snapshot::<u64, Fail>::default();
    assert_eq!(idle.retry_at(at(60), &policy).next_refresh, Some(at(60)));
    let busy = idle.started(at(0), &policy);
    let put_off = busy.retry_at(at(60), &policy);
    assert_eq!(put_off.next_refresh, busy.next_refresh);
    assert_eq!(put_off.in_flight, busy.in_flight);
}
