//! Every scripted STS failure: the error kind it gives, the SDK's retries as configured, no
//! expired credentials, and valid cached credentials kept while a refresh fails.

mod common;

use std::time::Duration;

use aws_role_chain::test_util::{Fault, LocalSts};
use aws_role_chain::{ErrorKind, RefreshPolicy, Role, RoleChainProvider};
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use common::*;

const HOUR: Duration = Duration::from_secs(3600);

/// Two attempts per call, 300 ms per attempt.
fn sdk_config() -> SdkConfig {
    two_attempts()
        .into_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .build()
}

fn provider(world: &World) -> RoleChainProvider {
    world
        .builder()
        .configure(&sdk_config())
        // No background retry while a test counts the SDK's own attempts.
        .refresh_policy(RefreshPolicy::default().urgent_retry_backoff(HOUR, HOUR))
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap()
}

/// A fault on the first fetch gives its error kind at hop 0, after two SDK attempts for those
/// the SDK retries (`retried`) and one for the others; the error is retryable exactly when the
/// SDK retried it.
async fn on_the_first_fetch((fault, kind, retried): (Fault, ErrorKind, bool)) {
    let world = World::new().await;
    world.sts.set_outage(Some(fault.clone()));
    let err = provider(&world).credentials().await.unwrap_err();
    assert_eq!((err.kind(), err.hop()), (kind, Some(0)), "{fault:?}: {err}");
    assert_eq!(err.is_retryable(), retried, "{fault:?}: retryable");
    let attempts = if retried { 2 } else { 1 };
    assert_eq!(
        world.assume_role_requests().len(),
        attempts,
        "{fault:?}: SDK attempts"
    );
}

cases! { on_the_first_fetch:
    throttling_on_the_first_fetch_is_throttled_after_two_attempts: (Fault::Throttling, ErrorKind::Throttled, true);
    a_500_on_the_first_fetch_is_unavailable_after_two_attempts: (Fault::InternalError, ErrorKind::Unavailable, true);
    a_503_on_the_first_fetch_is_unavailable_after_two_attempts: (Fault::ServiceUnavailable, ErrorKind::Unavailable, true);
    a_reset_connection_on_the_first_fetch_is_unavailable_after_two_attempts: (Fault::ConnectionReset, ErrorKind::Unavailable, true);
    a_delay_beyond_the_attempt_timeout_on_the_first_fetch_times_out_after_two_attempts: (Fault::Delay(Duration::from_secs(2)), ErrorKind::TimedOut, true);
    a_truncated_body_on_the_first_fetch_is_an_invalid_response_at_once: (Fault::TruncatedBody, ErrorKind::InvalidResponse, false);
    a_garbage_body_on_the_first_fetch_is_an_invalid_response_at_once: (Fault::GarbageBody, ErrorKind::InvalidResponse, false);
    missing_credentials_on_the_first_fetch_are_an_invalid_response_at_once: (Fault::MissingCredentials, ErrorKind::InvalidResponse, false);
    expired_credentials_on_the_first_fetch_are_an_invalid_response_at_once: (Fault::ExpiredCredentials, ErrorKind::InvalidResponse, false);
}

/// A fault during a refresh is reported by `status()` with its kind, and the valid cached
/// credentials stay in service.
async fn during_a_refresh((fault, kind): (Fault, ErrorKind)) {
    let world = World::new().await;
    // 8-s sessions (7 s on this host), refreshed 2.8 to 3.5 s in: time enough for the failure
    // and the check.
    world.sts.set_session_lifetime(Some(Duration::from_secs(8)));
    let provider = provider(&world);
    let creds = provider.credentials().await.unwrap();
    world.sts.set_outage(Some(fault.clone()));
    eventually("a refresh fails", || {
        provider.status().consecutive_failures() >= 1
    })
    .await;
    let status = provider.status();
    assert_eq!(
        status.last_error_kind(),
        Some(kind),
        "{fault:?}: {status:?}"
    );
    let before = now();
    let served = provider.credentials().await.unwrap();
    assert_eq!(served.access_key_id(), creds.access_key_id(), "{fault:?}");
    assert!(
        served.expiry().unwrap() > before,
        "{fault:?}: never expired"
    );
}

cases! { during_a_refresh:
    throttling_during_a_refresh_keeps_the_credentials_in_service: (Fault::Throttling, ErrorKind::Throttled);
    a_500_during_a_refresh_keeps_the_credentials_in_service: (Fault::InternalError, ErrorKind::Unavailable);
    a_503_during_a_refresh_keeps_the_credentials_in_service: (Fault::ServiceUnavailable, ErrorKind::Unavailable);
    a_reset_connection_during_a_refresh_keeps_the_credentials_in_service: (Fault::ConnectionReset, ErrorKind::Unavailable);
    a_delay_during_a_refresh_keeps_the_credentials_in_service: (Fault::Delay(Duration::from_secs(2)), ErrorKind::TimedOut);
    a_truncated_body_during_a_refresh_keeps_the_credentials_in_service: (Fault::TruncatedBody, ErrorKind::InvalidResponse);
    a_garbage_body_during_a_refresh_keeps_the_credentials_in_service: (Fault::GarbageBody, ErrorKind::InvalidResponse);
    missing_credentials_during_a_refresh_keep_the_credentials_in_service: (Fault::MissingCredentials, ErrorKind::InvalidResponse);
    expired_credentials_during_a_refresh_keep_the_credentials_in_service: (Fault::ExpiredCredentials, ErrorKind::InvalidResponse);
}

#[tokio::test]
async fn an_expiration_far_in_the_future_is_capped_at_the_requested_duration() {
    let world = World::new().await;
    world
        .sts
        .push_faults([Fault::ExpiresIn(Duration::from_secs(10 * 365 * 24 * 3600))]);
    let before = now();
    let creds = provider(&world).credentials().await.unwrap();
    let hour = Duration::from_secs(3600);
    let expiry = creds.expiry().unwrap();
    assert!(
        expiry >= before + hour && expiry <= now() + hour,
        "{expiry:?}"
    );
}

#[tokio::test]
async fn a_fault_followed_by_success_recovers_on_the_sdk_retry() {
    let world = World::new().await;
    world.sts.push_faults([Fault::ServiceUnavailable]);
    let creds = provider(&world).credentials().await.unwrap();
    assert!(creds.expiry().unwrap() > now());
    let statuses: Vec<u16> = world
        .assume_role_requests()
        .iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(statuses, [503, 200]);
}

#[tokio::test]
async fn a_clock_skew_with_sts_either_way_is_corrected_by_the_sdk_retry() {
    for ahead in [true, false] {
        let skew = Duration::from_secs(20 * 60);
        let sts = match ahead {
            true => LocalSts::builder().clock_ahead(skew),
            false => LocalSts::builder().clock_behind(skew),
        };
        let world = World::on(sts.start().await.unwrap());
        let provider = provider(&world);
        let before = now();
        let creds = provider.credentials().await.unwrap();
        assert!(creds.expiry().unwrap() > before);
        let answers: Vec<(u16, Option<String>)> = world
            .sts
            .requests()
            .iter()
            .map(|r| (r.status(), r.error_code().map(str::to_owned)))
            .collect();
        let skew_refusal = (403, Some("SignatureDoesNotMatch".to_owned()));
        assert_eq!(answers, [skew_refusal, (200, None)], "STS ahead: {ahead}");
    }
}
