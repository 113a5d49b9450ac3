//! What the provider logs: one warning when a failure streak starts, then debug lines, one info
//! line when it ends; a span per chain run, per hop and per waiting caller, with their fields.
//!
//! One global subscriber for the binary, at TRACE, with thread ids: each test runs on its own
//! current-thread runtime (LocalSts included) and reads only its own thread's lines.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use aws_role_chain::test_util::Fault;
use aws_role_chain::{RefreshPolicy, Role};
use common::*;

/// Everything logged in this binary.
fn logs() -> &'static Capture {
    static LOGS: OnceLock<Capture> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Capture::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_thread_ids(true)
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
                .with_writer(logs.clone())
                .finish(),
        )
        .unwrap();
        logs
    })
}

/// This thread's lines.
fn mine() -> String {
    // The fmt layer prints thread ids padded to two digits: `ThreadId(02)`.
    let id = format!("{:?}", std::thread::current().id());
    let number = id.trim_start_matches("ThreadId(").trim_end_matches(')');
    let me = format!(" ThreadId({number:0>2}) ");
    logs()
        .text()
        .lines()
        .filter(|l| l.contains(&me))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// This thread's lines of the refresh engine, each as its level and its message without the
/// fields, every one of them in order; the close of a span left out.
fn cache_messages() -> Vec<String> {
    mine()
        .lines()
        .filter_map(|line| {
            let (head, rest) = line.split_once(" aws_role_chain::cache: ")?;
            let level = ["WARN", "INFO", "DEBUG"]
                .into_iter()
                .find(|level| head.contains(&format!(" {level} ")))?;
            let words: Vec<&str> = rest.split(' ').take_while(|w| !w.contains('=')).collect();
            Some(format!("{level} {}", words.join(" ")))
        })
        .filter(|m| m != "DEBUG close")
        .collect()
}

const START: &str = "DEBUG refreshing credentials";
const FAILED: &str = "WARN refreshing credentials failed; retrying with backoff";
const FAILED_AGAIN: &str = "DEBUG refreshing credentials failed again";

/// `lines` after the first `from` of this thread's cache lines.
fn since(from: usize) -> Vec<String> {
    cache_messages().split_off(from)
}

#[tokio::test(flavor = "current_thread")]
async fn a_failure_streak_logs_one_warning_then_a_debug_line_a_failure_and_its_end_one_info_line() {
    logs();
    // On manual time: each retry comes when the test moves the clock, so that every line can be
    // counted.
    let (world, time, builder) = World::on_manual_time().await;
    let backoff = Duration::from_secs(1);
    let provider = builder
        .configure(&no_retries())
        .refresh_policy(
            RefreshPolicy::default()
                .jitter(0.0)
                .urgent_retry_backoff(backoff, backoff),
        )
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();

    world.sts.set_outage(Some(Fault::Throttling));
    provider.credentials().await.unwrap_err();
    // Each step of manual time in tenths of the backoff: a worker that records a failure and
    // goes to sleep after a step still wakes at the next.
    let step = backoff / 10;
    for failures in 2..=5 {
        advance_until(&time, step, backoff, "the next failure", || {
            provider.status().consecutive_failures() == failures
        })
        .await;
    }
    let streak = [
        START,
        FAILED,
        START,
        FAILED_AGAIN,
        START,
        FAILED_AGAIN,
        START,
        FAILED_AGAIN,
        START,
        FAILED_AGAIN,
    ];
    assert_eq!(cache_messages(), streak);

    world.sts.set_outage(None);
    advance_until(&time, step, backoff, "the recovery", || {
        provider.status().consecutive_failures() == 0
    })
    .await;
    let recovered = since(streak.len());
    assert_eq!(
        recovered,
        [START, "INFO credentials refreshed after failures"]
    );
    let info = mine()
        .lines()
        .find(|line| line.contains("credentials refreshed after failures"))
        .map(str::to_owned)
        .unwrap();
    assert!(info.contains(" failures=5"), "{info}");

    // A run without failures before it logs at debug only.
    let before = cache_messages().len();
    time.tick(backoff).await;
    provider.invalidate();
    advance_until(&time, step, backoff, "a run after the invalidation", || {
        provider.status().successful_refreshes() == 2
    })
    .await;
    assert_eq!(since(before), [START, "DEBUG credentials refreshed"]);

    let before = cache_messages().len();
    world.sts.set_outage(Some(Fault::Throttling));
    time.tick(backoff).await;
    provider.invalidate();
    advance_until(&time, step, backoff, "a second streak", || {
        provider.status().consecutive_failures() == 1
    })
    .await;
    assert_eq!(since(before), [START, FAILED], "a new streak warns again");
}

#[tokio::test(flavor = "current_thread")]
async fn every_hop_and_every_waiting_caller_has_a_span_with_its_fields() {
    logs();
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

    let text = mine();
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
