//! The refresh engine against LocalSts: background refresh, callers that never wait, outages,
//! per-hop reuse, invalidation, status.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use aws_role_chain::test_util::Fault;
use aws_role_chain::{ErrorKind, RefreshPolicy, Role};
use aws_types::region::Region;
use common::*;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_during_a_refresh_get_the_old_credentials_without_waiting() {
    let world = World::new().await;
    world.sts.set_session_lifetime(Some(Duration::from_secs(8)));
    let provider = world.two_hops();
    let old = provider.credentials().await.unwrap();
    world.sts.set_latency(Duration::from_millis(1500));
    // The refresh starts 4 s (the advisory window of 8-s credentials) before expiry, at most 20 %
    // earlier, and lands before the mandatory window, 2 s before expiry.
    eventually("the refresh is in flight", || {
        world.assume_role_requests().len() > 2
    })
    .await;

    let callers: Vec<_> = (0..100)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move {
                let started = stopwatch();
                let creds = provider.credentials().await.unwrap();
                (creds, started.elapsed())
            })
        })
        .collect();
    for caller in callers {
        let (creds, took) = caller.await.unwrap();
        assert_eq!(
            creds.access_key_id(),
            old.access_key_id(),
            "served the old credentials"
        );
        assert!(
            took < Duration::from_secs(1),
            "a caller waited {took:?} on a 1.5 s STS"
        );
    }
    assert_eq!(
        provider.status().successful_refreshes(),
        1,
        "the refresh was still in flight"
    );
    eventually("the refresh lands", || {
        provider.status().successful_refreshes() == 2
    })
    .await;
    assert_ne!(
        provider.credentials().await.unwrap().access_key_id(),
        old.access_key_id()
    );
}

#[tokio::test]
async fn an_idle_provider_refreshes_by_itself() {
    let world = World::new().await;
    world.sts.set_session_lifetime(Some(Duration::from_secs(4)));
    let provider = world.two_hops();
    let first = provider.credentials().await.unwrap();
    // 4-s credentials are refreshed 2 s (half their lifetime) before expiry, jitter aside.
    eventually("a refresh without callers", || {
        provider.status().successful_refreshes() >= 2
    })
    .await;
    assert!(provider.status().expiry().unwrap() > first.expiry().unwrap());
    let again = provider.credentials().await.unwrap();
    assert_ne!(again.access_key_id(), first.access_key_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_client_never_waits_on_sts_after_its_first_call_across_three_refreshes() {
    let world = World::new().await;
    // Longer than the SDK identity cache's 10-s buffer, so that the client caches too.
    world
        .sts
        .set_session_lifetime(Some(Duration::from_secs(20)));
    let provider = world.two_hops();
    let client = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(world.sts.endpoint_url())
            .credentials_provider(provider.clone())
            .build(),
    );
    client.get_caller_identity().send().await.unwrap();
    // From now on every AssumeRole answer takes 1.5 s, GetCallerIdentity none: a refresh
    // (two hops) takes 3 s, and starts 7.6 to 9.5 s into 19-s credentials (on this host),
    // in time to land before the mandatory window 4.75 s before expiry.
    let delay = Duration::from_millis(1500);
    world.sts.set_outage(Some(Fault::Delay(delay)));
    let mut keys = HashSet::new();
    let mut slowest = Duration::ZERO;
    // Four refreshes take about 32 s of 19-s credentials; ten times that is a hang.
    let run = stopwatch();
    while provider.status().successful_refreshes() < 4 {
        assert!(
            run.elapsed() < Duration::from_secs(320),
            "4 refreshes not done"
        );
        let started = stopwatch();
        client.get_caller_identity().send().await.unwrap();
        slowest = slowest.max(started.elapsed());
        let requests = world.sts.requests();
        let call = requests
            .iter()
            .rev()
            .find(|r| r.action() == Some("GetCallerIdentity"));
        keys.insert(call.unwrap().access_key_id().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a call waited {slowest:?}; a refresh takes 3 s"
    );
    assert!(
        keys.len() >= 3,
        "the client used the refreshed credentials: {keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_ridden_out_until_expiry_then_fails_fast_then_recovers() {
    let world = World::new().await;
    // 6-s sessions, 5 s on this host, with a mandatory window of 1.25 s.
    world.sts.set_session_lifetime(Some(Duration::from_secs(6)));
    // Once expired, one attempt every 5 s: a caller that waited for the next attempt would be
    // seen waiting for seconds.
    let backoff = Duration::from_secs(5);
    let provider = world
        .builder()
        .configure(&no_retries())
        .refresh_policy(RefreshPolicy::default().urgent_retry_backoff(backoff, backoff))
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let creds = provider.credentials().await.unwrap();
    let expiry = creds.expiry().unwrap();
    world.sts.set_outage(Some(Fault::ServiceUnavailable));

    // Until expiry (the last second aside, for a slow machine): the valid credentials.
    let mut served_during_outage = 0;
    while now() + Duration::from_secs(1) < expiry {
        let before = now();
        let served = provider.credentials().await.unwrap();
        assert_eq!(served.access_key_id(), creds.access_key_id());
        assert!(served.expiry().unwrap() > before);
        served_during_outage += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // About 400 calls in the 4 s until the last second: 40× the threshold.
    assert!(served_during_outage > 10, "{served_during_outage} calls");
    // The attempt at expiry fails; the next one is 5 s later.
    let past_expiry = expiry.duration_since(now()).unwrap_or_default() + Duration::from_millis(500);
    tokio::time::sleep(past_expiry).await;
    // After expiry: the error at once, without an STS call per caller.
    let calls = world.assume_role_requests().len();
    let started = stopwatch();
    for _ in 0..5 {
        let err = provider.credentials().await.unwrap_err();
        assert_eq!((err.kind(), err.hop()), (ErrorKind::Unavailable, Some(0)));
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "5 failing calls took {:?}; the next attempt is up to 5 s away",
        started.elapsed()
    );
    assert!(
        world.assume_role_requests().len() <= calls + 1,
        "no call per caller"
    );
    let status = provider.status();
    assert_eq!(status.last_error_kind(), Some(ErrorKind::Unavailable));
    let message = status.last_error_message().unwrap();
    assert!(message.contains("HTTP 503"), "{message}");
    assert!(status.consecutive_failures() >= 2, "{status:?}");

    // Recovery at the next attempt, at most 5 s after the outage ends.
    world.sts.set_outage(None);
    eventually("the provider recovers", || {
        provider.status().consecutive_failures() == 0
    })
    .await;
    assert!(provider.credentials().await.unwrap().expiry().unwrap() > now());
    let status = provider.status();
    assert_eq!(
        (status.last_error_kind(), status.last_error_message()),
        (None, None)
    );
}

#[tokio::test]
async fn invalidate_makes_the_next_call_fetch_fresh_credentials_once() {
    let world = World::new().await;
    let provider = world.two_hops();
    let first = provider.credentials().await.unwrap();
    provider.invalidate();
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move {
                provider
                    .credentials()
                    .await
                    .unwrap()
                    .access_key_id()
                    .to_owned()
            })
        })
        .collect();
    let mut keys = HashSet::new();
    for caller in callers {
        keys.insert(caller.await.unwrap());
    }
    assert_eq!(keys.len(), 1);
    assert!(!keys.contains(first.access_key_id()));
    // One more chain run, from scratch: a rejection may come from a revoked session of any hop.
    let calls = world.assume_role_requests();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[2].param("RoleArn"), Some(BROKER));
    assert_eq!(calls[3].param("RoleArn"), Some(STORAGE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_drop_their_futures_mid_fetch_neither_cancel_it_nor_strand_others() {
    let world = World::new().await;
    world.sts.set_latency(Duration::from_millis(300));
    let provider = world.two_hops();
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.credentials().await })
        })
        .collect();
    eventually("the chain run is under way", || {
        !world.assume_role_requests().is_empty()
    })
    .await;
    for caller in callers.iter().step_by(2) {
        caller.abort();
    }
    let mut keys = HashSet::new();
    for caller in callers.into_iter().skip(1).step_by(2) {
        keys.insert(caller.await.unwrap().unwrap().access_key_id().to_owned());
    }
    assert_eq!(keys.len(), 1, "the others share the one run");
    assert_eq!(world.assume_role_requests().len(), 2, "one chain run");
}

#[tokio::test(flavor = "current_thread")]
async fn refreshing_a_three_hop_chain_reuses_the_hops_that_are_still_valid() {
    let (world, time, builder) = World::on_manual_time().await;
    let sts = &world.sts;
    let twelve_hours = Duration::from_secs(12 * 3600);
    let provider = builder
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .duration(twelve_hours),
        )
        .assume(
            Role::new(STORAGE)
                .external_id(STORAGE_EXTERNAL_ID)
                .duration(60 * MINUTE),
        )
        .assume(
            Role::new(AUDIT)
                .external_id(AUDIT_EXTERNAL_ID)
                .duration(15 * MINUTE),
        )
        .build()
        .unwrap();
    let roles_called = || -> Vec<String> {
        sts.requests()
            .iter()
            .filter_map(|r| r.param("RoleArn").map(str::to_owned))
            .collect()
    };
    provider.credentials().await.unwrap();
    assert_eq!(roles_called(), [BROKER, STORAGE, AUDIT]);

    // 15-minute credentials: refreshed 5 minutes before expiry, by one call for the last hop.
    time.tick(10 * MINUTE).await;
    // STS logs a request as it arrives: wait for the provider to have taken each answer before
    // time moves on.
    eventually("the last hop is refreshed", || {
        provider.status().successful_refreshes() == 2
    })
    .await;
    assert_eq!(roles_called().len(), 4);
    let requests = sts.requests();
    let issued = sts.issued();
    assert_eq!(roles_called()[3], AUDIT);
    assert_eq!(
        requests[3].access_key_id(),
        Some(issued[1].access_key_id()),
        "signed by hop 1"
    );

    for (minutes, refreshes, calls) in [(20, 3, 5), (30, 4, 6), (40, 5, 7), (50, 6, 8)] {
        time.tick(10 * MINUTE).await;
        eventually(&format!("the refresh at {minutes} min"), || {
            provider.status().successful_refreshes() == refreshes
        })
        .await;
        assert_eq!(roles_called().len(), calls, "at {minutes} min");
    }
    // At 60 minutes hop 1's credentials expire too: two calls, the first signed by hop 0.
    time.tick(10 * MINUTE).await;
    eventually("the refresh at 60 min", || {
        provider.status().successful_refreshes() == 7
    })
    .await;
    assert_eq!(roles_called().len(), 10);
    assert_eq!(roles_called()[8..], [STORAGE, AUDIT]);
    assert_eq!(
        sts.requests()[8].access_key_id(),
        Some(issued[0].access_key_id()),
        "signed by hop 0"
    );
    assert_eq!(provider.status().successful_refreshes(), 7);
    let hops = provider.status().hops().to_vec();
    assert_eq!(
        hops.iter().map(|h| h.role_arn()).collect::<Vec<_>>(),
        [BROKER, STORAGE, AUDIT]
    );
    assert!(hops.iter().all(|h| h.expiry().is_some()));
}

#[tokio::test(flavor = "current_thread")]
async fn the_background_refresh_ends_with_the_last_clone() {
    let (world, time, builder) = World::on_manual_time().await;
    let before = alive_tasks();
    let provider = builder
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    provider.credentials().await.unwrap();
    let clone = provider.clone();
    drop(provider);
    // One hour, refreshed 45 minutes in: the clone keeps the refresh going.
    time.tick(45 * MINUTE).await;
    eventually("the refresh", || clone.status().successful_refreshes() == 2).await;
    assert!(alive_tasks() > before, "the worker runs");
    drop(clone);
    // The worker ends (and the SDK's connections to LocalSts close): what the runtime ran before
    // the provider existed is all that is left.
    eventually("the provider's tasks end", || alive_tasks() <= before).await;
    for _ in 0..3 {
        time.tick(45 * MINUTE).await;
    }
    assert_eq!(
        world.assume_role_requests().len(),
        2,
        "no refresh after the last drop"
    );
}
