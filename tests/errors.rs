//! Failures come back with the right kind, hop and role ARN, and reach SDK callers intact.

mod common;

use std::error::Error as _;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use std::time::Duration;

use aws_role_chain::test_util::Fault;
use aws_role_chain::{Error, ErrorKind, RefreshPolicy, Role, RoleChainProvider};
use aws_types::region::Region;
use common::*;

async fn fail(provider: &RoleChainProvider) -> Error {
    provider
        .credentials()
        .await
        .expect_err("the chain must fail")
}

#[tokio::test]
async fn wrong_external_id_is_access_denied_at_that_hop() {
    let world = World::new().await;
    let provider = world
        .builder()
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .assume(Role::new(STORAGE).external_id("not-the-right-one"))
        .build()
        .unwrap();
    let err = fail(&provider).await;
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    assert_eq!(err.hop(), Some(1));
    assert_eq!(err.role_arn(), Some(STORAGE));
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("hop 1 ({STORAGE}): access denied")),
        "{text}"
    );
    assert!(text.contains("sts:ExternalId"), "{text}");
    assert!(err.source().is_some());
}

#[tokio::test]
async fn missing_external_id_is_access_denied_at_that_hop() {
    let world = World::new().await;
    let provider = world.builder().assume(Role::new(BROKER)).build().unwrap();
    let err = fail(&provider).await;
    assert_eq!(
        (err.kind(), err.hop(), err.role_arn()),
        (ErrorKind::AccessDenied, Some(0), Some(BROKER))
    );
}

#[tokio::test]
async fn a_caller_the_trust_policy_does_not_name_is_access_denied() {
    let world = World::new().await;
    // The compute user may assume the broker, but not the storage role directly.
    let provider = world
        .builder()
        .assume(Role::new(STORAGE).external_id(STORAGE_EXTERNAL_ID))
        .build()
        .unwrap();
    let err = fail(&provider).await;
    assert_eq!((err.kind(), err.hop()), (ErrorKind::AccessDenied, Some(0)));
    assert!(err.to_string().contains(COMPUTE_USER), "{err}");
}

#[tokio::test]
async fn unknown_base_keys_are_a_base_credentials_error_at_hop_zero() {
    let world = World::new().await;
    let provider = RoleChainProvider::builder()
        .base_provider(Credentials::new(
            "AKIAUNKNOWNKEY000000",
            "secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(world.sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let err = fail(&provider).await;
    assert_eq!(
        (err.kind(), err.hop()),
        (ErrorKind::BaseCredentials, Some(0))
    );
    assert!(err.to_string().contains("InvalidClientTokenId"), "{err}");
}

#[tokio::test]
async fn a_wrong_base_secret_is_a_base_credentials_error() {
    let world = World::new().await;
    let wrong = Credentials::new(
        world.compute.access_key_id(),
        "not-the-secret",
        None,
        None,
        "test",
    );
    let provider = world
        .builder()
        .base_provider(wrong)
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let err = fail(&provider).await;
    assert_eq!(
        (err.kind(), err.hop()),
        (ErrorKind::BaseCredentials, Some(0))
    );
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
}

#[tokio::test]
async fn a_failing_base_provider_is_a_base_credentials_error_with_its_source() {
    let world = World::new().await;
    #[derive(Debug)]
    struct Failing;
    impl ProvideCredentials for Failing {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                CredentialsError::not_loaded("no instance profile here"),
            ))
        }
    }
    let provider = world
        .builder()
        .base_provider(Failing)
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let err = fail(&provider).await;
    assert_eq!(
        (err.kind(), err.hop(), err.role_arn()),
        (ErrorKind::BaseCredentials, Some(0), Some(BROKER))
    );
    assert!(
        err.to_string().contains("no instance profile here"),
        "{err}"
    );
    let source = err
        .source()
        .unwrap()
        .downcast_ref::<CredentialsError>()
        .unwrap();
    assert!(matches!(source, CredentialsError::CredentialsNotLoaded(_)));
}

#[tokio::test]
async fn unreachable_sts_is_unavailable_and_retryable() {
    let world = World::new().await;
    let url = world.sts.endpoint_url().to_owned();
    world.sts.stop().await;
    let provider = RoleChainProvider::builder()
        .base_provider(world.compute.clone())
        .endpoint_url(url)
        .configure(&no_retries())
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let err = fail(&provider).await;
    assert_eq!((err.kind(), err.hop()), (ErrorKind::Unavailable, Some(0)));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn sdk_callers_can_downcast_to_the_chain_error() {
    let world = World::new().await;
    let provider = world
        .builder()
        .assume(Role::new(BROKER).external_id("wrong-id"))
        .build()
        .unwrap();
    let err = provider.provide_credentials().await.unwrap_err();
    assert!(
        matches!(err, CredentialsError::InvalidConfiguration(_)),
        "{err:?}"
    );
    let ours = err.source().unwrap().downcast_ref::<Error>().unwrap();
    assert_eq!(
        (ours.kind(), ours.hop()),
        (ErrorKind::AccessDenied, Some(0))
    );
}

#[tokio::test]
async fn one_failed_run_is_shared_by_concurrent_callers_and_later_callers_get_its_error_until_the_backoff_ends(
) {
    let world = World::new().await;
    // Long enough that the check of "no new call" below, milliseconds after the failure, keeps
    // a margin of 100x on a loaded machine; the retry after it is polled for.
    let backoff = Duration::from_secs(2);
    let provider = world
        .builder()
        .refresh_policy(RefreshPolicy::default().urgent_retry_backoff(backoff, backoff))
        .assume(Role::new(BROKER))
        .build()
        .unwrap();
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.credentials().await.unwrap_err().kind() })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap(), ErrorKind::AccessDenied);
    }
    assert_eq!(world.assume_role_requests().len(), 1);
    assert_eq!(fail(&provider).await.kind(), ErrorKind::AccessDenied);
    assert_eq!(
        world.assume_role_requests().len(),
        1,
        "the error comes at once, with no new call"
    );
    eventually("the background task retried after the backoff", || {
        provider.status().consecutive_failures() >= 2
    })
    .await;
    assert!(world.assume_role_requests().len() >= 2);
    let status = provider.status();
    assert_eq!(status.last_error_kind(), Some(ErrorKind::AccessDenied));
    assert!(status.consecutive_failures() >= 2);
    assert_eq!(status.successful_refreshes(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_base_provider_that_never_answers_times_out_after_the_fetch_timeout() {
    #[derive(Debug)]
    struct Hanging;
    impl ProvideCredentials for Hanging {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::new(std::future::pending())
        }
    }
    let (_world, time, builder) = World::on_manual_time().await;
    let provider = builder
        .base_provider(Hanging)
        .refresh_policy(
            RefreshPolicy::default()
                .jitter(0.0)
                .fetch_timeout(Duration::from_secs(10)),
        )
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let caller = tokio::spawn({
        let provider = provider.clone();
        async move { provider.provide_credentials().await }
    });
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    time.tick(Duration::from_secs(10) - Duration::from_millis(1))
        .await;
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(!caller.is_finished(), "waits up to the fetch timeout");
    time.tick(Duration::from_millis(1)).await;
    let err = caller.await.unwrap().unwrap_err();
    assert!(matches!(err, CredentialsError::ProviderError(_)), "{err:?}");
    let ours = err.source().unwrap().downcast_ref::<Error>().unwrap();
    assert_eq!((ours.kind(), ours.hop()), (ErrorKind::TimedOut, None));
    assert!(ours.is_retryable());
}

#[tokio::test(flavor = "current_thread")]
async fn fallback_on_interrupt_gives_the_unexpired_credentials_and_nothing_else() {
    let (world, time, builder) = World::on_manual_time().await;
    let provider = builder
        .configure(&no_retries())
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    assert!(
        provider.fallback_on_interrupt().is_none(),
        "nothing before the first"
    );
    let served = provider.credentials().await.unwrap();
    world.sts.set_outage(Some(Fault::ServiceUnavailable));

    // Inside the mandatory window, every refresh failing: what an SDK that gave up waiting on
    // the provider falls back to is the credentials still valid.
    time.tick(Duration::from_secs(3600 - 30)).await;
    let fallback = provider.fallback_on_interrupt().expect("valid credentials");
    assert_eq!(fallback.access_key_id(), served.access_key_id());
    // Past their expiry, none.
    time.tick(Duration::from_secs(31)).await;
    assert!(
        provider.fallback_on_interrupt().is_none(),
        "expired credentials"
    );
}

/// While credentials are valid, a failure that may pass (throttling) is retried within the retry
/// backoff's first delay, fully jittered; one that cannot pass as it is (a refusal) after its
/// maximum, 5 minutes.
#[tokio::test(flavor = "current_thread")]
async fn a_failure_that_may_pass_is_retried_soon_and_a_refusal_only_after_the_backoffs_maximum() {
    use aws_smithy_async::time::TimeSource;

    let (world, time, builder) = World::on_manual_time().await;
    let provider = builder
        .configure(&no_retries())
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    provider.credentials().await.unwrap();
    let retry_in = |provider: &RoleChainProvider| {
        let next = provider.status().next_refresh().unwrap();
        next.duration_since(time.now()).unwrap_or_default()
    };

    // Throttled at the refresh point, 15 minutes before expiry (jitter off).
    // In steps, small ones near the refresh point: the worker may not be asleep yet when the
    // first is taken, and a retry (within 5 s) may follow the first failure before it is seen.
    world.sts.set_outage(Some(Fault::Throttling));
    for step in [60; 44].into_iter().chain([59]) {
        time.tick(Duration::from_secs(step)).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    advance_until(
        &time,
        Duration::from_millis(100),
        Duration::from_secs(120),
        "the throttled refresh",
        || provider.status().consecutive_failures() >= 1,
    )
    .await;
    let throttled = provider.status().consecutive_failures();
    assert_eq!(
        provider.status().last_error_kind(),
        Some(ErrorKind::Throttled)
    );
    assert!(
        retry_in(&provider) <= Duration::from_secs(5),
        "{:?}",
        retry_in(&provider)
    );

    // Refused: the role no longer trusts the caller.
    world.sts.set_outage(None);
    world.sts.add_role(
        aws_role_chain::test_util::LocalRole::new(BROKER)
            .trust("arn:aws:iam::999999999999:root")
            .external_id(BROKER_EXTERNAL_ID),
    );
    advance_until(
        &time,
        Duration::from_millis(100),
        Duration::from_secs(6),
        "the refused refresh",
        || provider.status().consecutive_failures() > throttled,
    )
    .await;
    assert_eq!(
        provider.status().last_error_kind(),
        Some(ErrorKind::AccessDenied)
    );
    let wait = retry_in(&provider);
    assert!(
        wait > Duration::from_secs(4 * 60) && wait <= Duration::from_secs(5 * 60),
        "{wait:?}"
    );
}
