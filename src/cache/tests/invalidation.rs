//! Invalidations: coalesced, rate-limited, from scratch, never leaving callers without a value
//! because of the rate limit.

use super::*;

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

#[tokio::test(flavor = "current_thread")]
async fn a_deferred_invalidation_whose_run_fails_drops_the_rejected_value() {
    let (time, script, cache) = setup(
        [
            Answer::Lifetime(60 * MINUTE),
            Answer::Lifetime(60 * MINUTE),
            Answer::Fails(throttled()),
        ],
        no_jitter(),
    );
    cache.get_or_wait().await.unwrap();
    cache.invalidate();
    assert_eq!(cache.get_or_wait().await, Ok(2));
    // Right after that run: deferred, the value served until its run.
    cache.invalidate();
    assert_eq!(cache.get(), Some(2));
    time.tick(SEC).await;
    settle().await;
    assert_eq!(script.calls(), [0, 0, 1]);
    // That run failed: the value the service rejected is not served again.
    assert_eq!(cache.get(), None);
    assert_eq!(cache.get_unexpired(), None);
    assert_eq!(cache.get_or_wait().await, Err(throttled()));
}

#[tokio::test(flavor = "current_thread")]
async fn an_invalidation_during_a_background_refresh_is_served_by_that_refresh() {
    let (time, script, cache) = setup([Answer::Lifetime(60 * MINUTE)], no_jitter());
    assert_eq!(cache.get_or_wait().await, Ok(1));
    script.hold();
    time.tick(45 * MINUTE).await;
    settle().await;
    assert_eq!(script.calls(), [0, 2700], "the refresh is in flight");
    cache.invalidate();
    assert_eq!(cache.get(), None, "the rejected value is dropped at once");
    script.release();
    // The refresh in flight brings new credentials, which STS issued whatever hops it reused
    // (a revoked one would have made STS refuse the call): no second run.
    assert_eq!(cache.get_or_wait().await, Ok(2));
    settle().await;
    assert_eq!(script.calls(), [0, 2700]);
    assert_eq!(*script.from_scratch.lock(), [false, false]);
}
