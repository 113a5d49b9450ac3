//! No setting and no answer from STS makes the provider panic or hang: every `RefreshPolicy`
//! setter at its extremes, `Expiration` values across the whole range, a panicking base provider.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::{future, ProvideCredentials};
use aws_role_chain::test_util::Fault;
use aws_role_chain::{ErrorKind, RefreshPolicy, Role, RoleChainProvider};
use common::{now, World, BROKER, BROKER_EXTERNAL_ID};
use proptest::prelude::*;

/// Every answer must come within this.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_millis(10)),
        Just(Duration::from_secs(1)),
        Just(Duration::from_secs(300)),
        Just(Duration::from_secs(12 * 3600)),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_secs),
    ]
}

/// One setter of `RefreshPolicy` with extreme values.
fn policies() -> impl Strategy<Value = RefreshPolicy> {
    let base = RefreshPolicy::default;
    prop_oneof![
        durations().prop_map(move |d| base().advisory_window(d)),
        durations().prop_map(move |d| base().mandatory_window(d)),
        prop_oneof![
            Just(0.0),
            Just(1.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
            any::<f64>()
        ]
        .prop_map(move |j| base().jitter(j)),
        (durations(), durations()).prop_map(move |(a, b)| base().retry_backoff(a, b)),
        (durations(), durations()).prop_map(move |(a, b)| base().urgent_retry_backoff(a, b)),
        (durations(), durations()).prop_map(move |(a, b)| base().invalidation_backoff(a, b)),
        durations().prop_map(move |d| base().fetch_timeout(d)),
    ]
}

/// Builds a one-hop provider with `policy`; if it builds, drives it through an outage, a
/// recovery and an invalidation, each answer within ten seconds.
async fn drive(policy: RefreshPolicy) -> Result<(), String> {
    let world = World::new().await;
    let built = world
        .builder()
        .configure(&common::no_retries())
        .refresh_policy(policy)
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build();
    let provider = match built {
        Ok(provider) => provider,
        Err(err) if err.field() == "refresh_policy" && err.hop().is_none() => return Ok(()),
        Err(err) => return Err(format!("refused naming another field: {err}")),
    };
    let answer = || tokio::time::timeout(ANSWER_WITHIN, provider.credentials());
    // The outage's error, or a timeout: a fetch timeout of 10 ms is shorter than a round trip
    // on a busy machine.
    let expected = |kind: ErrorKind| matches!(kind, ErrorKind::Unavailable | ErrorKind::TimedOut);
    world.sts.set_outage(Some(Fault::ServiceUnavailable));
    match answer().await {
        Ok(Err(err)) if expected(err.kind()) => {}
        other => return Err(format!("during the outage: {other:?}")),
    }
    world.sts.set_outage(None);
    for step in ["after the outage", "after an invalidation"] {
        match answer().await {
            Ok(Ok(credentials)) if credentials.expiry().unwrap() > now() => {}
            Ok(Err(err)) if expected(err.kind()) => {}
            other => return Err(format!("{step}: {other:?}")),
        }
        provider.invalidate();
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_refresh_policy_is_refused_by_build_or_answers_within_ten_seconds(policy in policies()) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let outcome = runtime.block_on(drive(policy.clone()));
        prop_assert!(outcome.is_ok(), "{:?}: {:?}", policy, outcome);
    }

    #[test]
    fn every_expiration_gives_credentials_within_the_requested_duration_or_invalid_response(
        expiration in prop_oneof![
            Just(0u64),
            Just(253_402_300_799),
            0u64..=253_402_300_799,
            1_700_000_000u64..2_100_000_000,
        ]
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(expiration_is_handled(UNIX_EPOCH + Duration::from_secs(expiration)))?;
    }
}

async fn expiration_is_handled(expiration: SystemTime) -> Result<(), TestCaseError> {
    let world = World::new().await;
    world.sts.push_faults([Fault::ExpiresAt(expiration)]);
    let provider = world
        .builder()
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let before = now();
    let answer = tokio::time::timeout(ANSWER_WITHIN, provider.credentials()).await;
    let after = now();
    match answer.map_err(|_| TestCaseError::fail("no answer"))? {
        Ok(credentials) => {
            let expiry = credentials.expiry().unwrap();
            prop_assert!(expiry > after, "{expiry:?} already expired");
            prop_assert!(
                expiry <= after + Duration::from_secs(3600),
                "{expiry:?} beyond an hour"
            );
            prop_assert!(
                expiry <= expiration,
                "{expiry:?} after the Expiration {expiration:?}"
            );
        }
        Err(err) => {
            prop_assert_eq!(
                (err.kind(), err.hop()),
                (ErrorKind::InvalidResponse, Some(0))
            );
            prop_assert!(expiration <= before + Duration::from_secs(2), "{err}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn expirations_in_the_past_now_and_far_future_are_handled() {
    let now = now();
    for expiration in [
        UNIX_EPOCH,
        now - Duration::from_secs(3600),
        now,
        now + Duration::from_secs(10 * 365 * 24 * 3600),
        UNIX_EPOCH + Duration::from_secs(253_402_300_799),
    ] {
        expiration_is_handled(expiration).await.unwrap();
    }
}

/// A base provider that panics, counting its calls.
#[derive(Debug, Default)]
struct Panicking(Arc<AtomicUsize>);

impl ProvideCredentials for Panicking {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("the base provider broke");
    }
}

#[tokio::test]
async fn a_panicking_base_provider_is_a_base_credentials_error_that_backs_off() {
    let world = World::new().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let backoff = Duration::from_millis(200);
    let provider = RoleChainProvider::builder()
        .base_provider(Panicking(calls.clone()))
        .endpoint_url(world.sts.endpoint_url())
        .refresh_policy(RefreshPolicy::default().urgent_retry_backoff(backoff, backoff))
        .assume(Role::new(BROKER))
        .build()
        .unwrap();
    let err = provider.credentials().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.hop()),
        (ErrorKind::BaseCredentials, Some(0))
    );
    assert!(
        err.to_string()
            .contains("panicked: the base provider broke"),
        "{err}"
    );
    // Later callers get the error at once; the worker retries every 200 ms, no faster.
    for _ in 0..1000 {
        assert!(provider.credentials().await.is_err());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = calls.load(Ordering::SeqCst);
    assert!(
        (3..=7).contains(&attempts),
        "{attempts} attempts in about 1 s"
    );
    assert_eq!(provider.status().consecutive_failures() as usize, attempts);
}
