//! Workers and the runtimes they live on: dead with their runtime, stuck on an idle one,
//! oversleeping, or absent.

use super::*;

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
        Metrics::default(),
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
async fn a_worker_that_stops_mid_attempt_tells_its_waiters_and_counts_a_failure() {
    let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    script.hold();
    let caller = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get_or_wait().await })
    };
    settle().await;
    // The worker dies mid-attempt, as with its runtime: the waiting caller learns at once, and
    // the cut-off attempt is a failure whose backoff holds for the next callers.
    cache.worker.lock().take();
    settle().await;
    assert_eq!(caller.await.unwrap(), Err(Fail::cut_off()));
    assert_eq!(cache.get_or_wait().await, Err(Fail::cut_off()));
    assert_eq!(script.calls(), [0], "no attempt during the 1-s backoff");
    script.release();
    time.tick(SEC).await;
    settle().await;
    assert_eq!(cache.get_or_wait().await, Ok(2));
    assert_eq!(script.calls(), [0, 1]);
}

/// A runtime per call, each cut short by a caller's timeout mid-attempt: attempts follow the
/// backoff, not the calls.
#[test]
fn workers_cut_off_with_their_runtimes_do_not_start_an_attempt_per_call() {
    let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    script.hold();
    for _ in 0..50 {
        let call = on_fresh_runtime(async {
            tokio::select! {
                value = cache.get_or_wait() => Some(value),
                () = settle() => None,
            }
        });
        assert!(matches!(call, None | Some(Err(_))), "{call:?}");
    }
    // The first call started one attempt; the others found its backoff (1 s) or its error.
    assert_eq!(script.calls(), [0]);
    on_fresh_runtime(time.tick(SEC));
    let _ = on_fresh_runtime(async {
        tokio::select! {
            value = cache.get_or_wait() => Some(value),
            () = settle() => None,
        }
    });
    assert_eq!(script.calls(), [0, 1]);
}

/// The tick-advance sleep, recording how long each sleep is for.
#[derive(Debug)]
struct Recorded {
    sleep: aws_smithy_async::test_util::tick_advance_sleep::TickAdvanceSleep,
    naps: Arc<parking_lot::Mutex<Vec<Duration>>>,
}

impl AsyncSleep for Recorded {
    fn sleep(&self, duration: Duration) -> aws_smithy_async::rt::sleep::Sleep {
        self.naps.lock().push(duration);
        self.sleep.sleep(duration)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_worker_looks_at_the_clock_every_5_minutes_until_the_refresh() {
    let (time, sleep) = tick_advance_time_and_sleep();
    let script = Script::new(&time, [Answer::Lifetime(60 * MINUTE)]);
    let naps = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let cache = Cache::new(
        script.fetch(),
        no_jitter(),
        SharedTimeSource::new(time.clone()),
        SharedAsyncSleep::new(Recorded {
            sleep,
            naps: naps.clone(),
        }),
        Metrics::default(),
    );
    cache.get_or_wait().await.unwrap();
    time.tick(45 * MINUTE).await;
    settle().await;
    assert_eq!(script.calls(), [0, 2700]);
    let naps = naps.lock().clone();
    // Besides the fetch timeouts (30 s) and the caller's wait (the 60-s stall limit): nine naps
    // of 5 minutes up to the refresh at 45 minutes.
    let worker_naps: Vec<Duration> = naps.into_iter().filter(|d| *d > MINUTE).collect();
    assert_eq!(worker_naps[..9], [5 * MINUTE; 9]);
    assert!(
        worker_naps.iter().all(|d| *d <= 5 * MINUTE),
        "{worker_naps:?}"
    );
}
