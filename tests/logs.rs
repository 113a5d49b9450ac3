//! What the provider logs: one warning when a failure streak starts, one info line when it
//! ends; a span per chain run, per hop and per waiting caller, with their fields.
//!
//! The streak test is alone with a global subscriber in this binary, so that it sees only its
//! own events; the span test's subscriber is scoped to its thread.

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

#[tokio::test(flavor = "current_thread")]
async fn every_hop_and_every_waiting_caller_has_a_span_with_its_fields() {
    let logs = Capture::default();
    let _scoped = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(logs.clone())
            .finish(),
    );
    let world = World::new().await;
    let provider = world
        .builder()
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .assume(Role::new(STORAGE).external_id("wrong"))
        .build()
        .unwrap();
    provider.credentials().await.unwrap_err();
    let good = world.two_hops();
    let creds = good.credentials().await.unwrap();
    good.credentials().await.unwrap();

    let text = logs.text();
    // The close events of our own spans, not of the SDK's spans inside them.
    let closed = |prefix: &str, module: &str| -> Vec<String> {
        let close = format!("}}: aws_role_chain::{module}: close time.busy=");
        text.lines()
            .filter(|l| l.contains(prefix) && l.contains(&close))
            .map(str::to_owned)
            .collect()
    };
    let hops = closed("refresh:assume_role{", "hop");
    assert_eq!(hops.len(), 4, "{text}");
    let fields = |line: &str| {
        line.split('{')
            .nth(1)
            .unwrap()
            .split('}')
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(
        fields(&hops[0]).starts_with(&format!(
            "hop=0 role_arn={BROKER} session_name=aws-role-chain-"
        )),
        "{}",
        hops[0]
    );
    assert!(
        fields(&hops[0]).contains(" expiry=") && fields(&hops[0]).ends_with(" outcome=success"),
        "{}",
        hops[0]
    );
    assert!(
        fields(&hops[1]).starts_with(&format!("hop=1 role_arn={STORAGE} ")),
        "{}",
        hops[1]
    );
    assert!(
        fields(&hops[1]).ends_with(" outcome=access denied"),
        "{}",
        hops[1]
    );
    assert!(!fields(&hops[1]).contains("expiry="), "{}", hops[1]);
    let expiry = aws_smithy_types::DateTime::from(creds.expiry().unwrap()).to_string();
    assert!(
        fields(&hops[3]).contains(&format!(" expiry={expiry} ")),
        "{} vs {expiry}",
        hops[3]
    );

    let callers = closed("role_chain_credentials{", "provider");
    assert_eq!(
        callers.iter().map(|l| fields(l)).collect::<Vec<_>>(),
        ["hops=2 outcome=access denied", "hops=2 outcome=success"],
        "one span per caller that waited: {text}"
    );
    let cached: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("served cached credentials"))
        .collect();
    assert_eq!(cached.len(), 1, "{text}");
    assert!(cached[0].contains("TRACE"), "{}", cached[0]);
}
