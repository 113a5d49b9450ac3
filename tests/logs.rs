//! What a failure streak logs: one warning when it starts, one info line when it ends.
//!
//! Alone in its test binary, so that its global subscriber sees only this test's events.

mod common;

use std::time::Duration;

use aws_role_chain::test_util::Fault;
use aws_role_chain::{RefreshPolicy, Role};
use common::*;

/// Lines of the refresh engine at this level.
fn count(logs: &Capture, level: &str) -> usize {
    logs.text()
        .lines()
        .filter(|l| l.contains(level) && l.contains("aws_role_chain::cache"))
        .count()
}

#[tokio::test]
async fn a_failure_streak_logs_one_warning_and_its_recovery_one_info() {
    let logs = Capture::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(writer)
            .finish(),
    )
    .unwrap();

    let world = World::new().await;
    let backoff = Duration::from_millis(50);
    let provider = world
        .builder()
        .configure(&no_retries())
        .refresh_policy(RefreshPolicy::default().urgent_retry_backoff(backoff, backoff))
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();

    world.sts.set_outage(Some(Fault::Throttling));
    provider.credentials().await.unwrap_err();
    eventually("a streak of five failures", || {
        provider.status().consecutive_failures() >= 5
    })
    .await;
    assert_eq!((count(&logs, " WARN "), count(&logs, " INFO ")), (1, 0));

    world.sts.set_outage(None);
    eventually("the recovery", || {
        provider.status().consecutive_failures() == 0
    })
    .await;
    assert_eq!((count(&logs, " WARN "), count(&logs, " INFO ")), (1, 1));

    world.sts.set_outage(Some(Fault::Throttling));
    provider.invalidate();
    eventually("a second streak", || {
        provider.status().consecutive_failures() >= 2
    })
    .await;
    assert_eq!(
        count(&logs, " WARN "),
        2,
        "a second streak, a second warning"
    );
}
