//! No setting and no answer from STS makes the provider panic or hang. Every `RefreshPolicy`
//! setter is tried at each of its extreme values, every pair for the backoffs: `build()` refuses
//! exactly the values outside the setting's limits, naming the setter and the limit, and every
//! policy it accepts is driven through an STS outage and must recover from it within its own
//! urgent backoff. `Expiration` values before, inside and after the requested hour, and a
//! panicking base provider.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::{future, ProvideCredentials};
use aws_role_chain::test_util::Fault;
use aws_role_chain::{ErrorKind, RefreshPolicy, Role, RoleChainProvider};
use aws_smithy_async::test_util::tick_advance_sleep::tick_advance_time_and_sleep;
use aws_smithy_async::time::TimeSource;
use common::{now, World, BROKER, BROKER_EXTERNAL_ID};
use proptest::prelude::*;

/// Every answer must come within this, in real time.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
const TWELVE_HOURS: Duration = Duration::from_secs(12 * 3600);

/// The extreme durations: zero, one nanosecond, just under and at the 10-ms floor of delays, a
/// second, five minutes, 12 hours and just over, the most nanoseconds a `u64` holds, and
/// `Duration::MAX`.
const DURATIONS: [Duration; 10] = [
    Duration::ZERO,
    Duration::from_nanos(1),
    Duration::from_nanos(9_999_999),
    Duration::from_millis(10),
    Duration::from_secs(1),
    Duration::from_secs(300),
    TWELVE_HOURS,
    TWELVE_HOURS.saturating_add(Duration::from_nanos(1)),
    Duration::from_nanos(u64::MAX),
    Duration::MAX,
];

/// The extreme fractions of `jitter`.
const JITTERS: [f64; 10] = [
    0.0,
    -0.0,
    f64::MIN_POSITIVE,
    1.0,
    1.0 + f64::EPSILON,
    -f64::MIN_POSITIVE,
    f64::MAX,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// One setter at one extreme: the policy, whether `build()` must accept it, what its refusal
/// must name (the setter and its limit), and the first delay of its urgent backoff.
struct Case {
    what: String,
    policy: RefreshPolicy,
    accepted: bool,
    names: [&'static str; 2],
    urgent_first: Duration,
}

/// Every (setter, extreme value) pair, and for the backoffs every (first, max) pair.
fn cases() -> Vec<Case> {
    let default = RefreshPolicy::default;
    let one_second = Duration::from_secs(1);
    let delay = |d: Duration| (Duration::from_millis(10)..=TWELVE_HOURS).contains(&d);
    let mut cases = Vec::new();
    let mut add = |what: String, policy, accepted, names, urgent_first| {
        cases.push(Case {
            what,
            policy,
            accepted,
            names,
            urgent_first,
        });
    };
    for d in DURATIONS {
        // The default mandatory window is one minute, and it may not exceed the advisory one.
        let accepted = (Duration::from_secs(60)..=TWELVE_HOURS).contains(&d);
        let names = match d > TWELVE_HOURS {
            true => ["advisory_window", "at most 12 hours"],
            false => ["mandatory window", "must not exceed the advisory window"],
        };
        let policy = default().advisory_window(d);
        add(
            format!("advisory_window({d:?})"),
            policy,
            accepted,
            names,
            one_second,
        );
        // The default advisory window is five minutes.
        let accepted = d <= Duration::from_secs(300);
        let names = ["mandatory window", "must not exceed the advisory window"];
        let policy = default().mandatory_window(d);
        add(
            format!("mandatory_window({d:?})"),
            policy,
            accepted,
            names,
            one_second,
        );
        let names = ["fetch_timeout", "from 10 ms to 12 hours"];
        let policy = default().fetch_timeout(d);
        add(
            format!("fetch_timeout({d:?})"),
            policy,
            delay(d),
            names,
            one_second,
        );
        for max in DURATIONS {
            let accepted = delay(d) && delay(max) && d <= max;
            let limit =
                "at least 10 ms, no larger than the maximum, and a maximum of at most 12 hours";
            let policy = default().retry_backoff(d, max);
            let names = ["retry_backoff", limit];
            add(
                format!("retry_backoff({d:?}, {max:?})"),
                policy,
                accepted,
                names,
                one_second,
            );
            let policy = default().urgent_retry_backoff(d, max);
            let names = ["urgent_retry_backoff", limit];
            add(
                format!("urgent_retry_backoff({d:?}, {max:?})"),
                policy,
                accepted,
                names,
                d,
            );
            let policy = default().invalidation_backoff(d, max);
            let names = ["invalidation_backoff", limit];
            add(
                format!("invalidation_backoff({d:?}, {max:?})"),
                policy,
                accepted,
                names,
                one_second,
            );
        }
    }
    for j in JITTERS {
        let names = ["jitter", "from 0.0 to 1.0"];
        let accepted = (0.0..=1.0).contains(&j);
        add(
            format!("jitter({j:?})"),
            default().jitter(j),
            accepted,
            names,
            one_second,
        );
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_setter_at_every_extreme_is_refused_naming_its_limit_or_recovers_from_an_outage() {
    let cases = cases();
    assert_eq!(cases.len(), 10 * 3 + 10 * 10 * 3 + 10);
    let mut accepted = 0;
    for case in cases {
        let (world, time, builder) = World::on_manual_time().await;
        let built = builder
            .configure(&common::no_retries())
            .refresh_policy(case.policy.clone())
            .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
            .build();
        let provider = match (built, case.accepted) {
            (Ok(provider), true) => provider,
            (Err(err), false) => {
                assert_eq!(
                    (err.field(), err.hop()),
                    ("refresh_policy", None),
                    "{}",
                    case.what
                );
                for name in case.names {
                    assert!(
                        err.to_string().contains(name),
                        "{}: {err} names no {name:?}",
                        case.what
                    );
                }
                continue;
            }
            (Ok(_), false) => panic!("{} accepted", case.what),
            (Err(err), true) => panic!("{} refused: {err}", case.what),
        };
        accepted += 1;
        let answer = || tokio::time::timeout(ANSWER_WITHIN, provider.credentials());

        world.sts.set_outage(Some(Fault::ServiceUnavailable));
        let during = answer().await.expect("an answer during the outage");
        let err = during.expect_err("no credentials during the outage");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{}: {err}", case.what);
        world.sts.set_outage(None);

        // The next attempt comes after the urgent backoff's first delay: by then, moving on in
        // twentieths of it (the clock stands still while each call waits for an attempt), the
        // provider has credentials again.
        let step = (case.urgent_first / 20).max(Duration::from_millis(1));
        let mut moved = Duration::ZERO;
        let credentials = loop {
            if let Ok(credentials) = answer().await.expect("an answer after the outage") {
                break credentials;
            }
            assert!(
                moved <= case.urgent_first,
                "{}: no credentials {moved:?} after the outage",
                case.what
            );
            time.tick(step).await;
            moved += step;
        };
        assert!(credentials.expiry().unwrap() > time.now(), "{}", case.what);

        provider.invalidate();
        let after = answer().await.expect("an answer after an invalidation");
        let credentials = after.unwrap_or_else(|err| panic!("{}: {err}", case.what));
        assert!(credentials.expiry().unwrap() > time.now(), "{}", case.what);
    }
    // Advisory windows of 5 min and 12 h; mandatory windows up to 5 min (6); fetch timeouts of
    // 10 ms, 1 s, 5 min and 12 h; 10 pairs of those for each backoff; jitters 0, -0, the least
    // positive and 1.
    assert_eq!(accepted, 2 + 6 + 4 + 3 * 10 + 4, "policies accepted");
}

/// An `Expiration` relative to the request's time: before it, inside the requested hour, after
/// it, or one of the ends of the representable range.
#[derive(Clone, Debug)]
enum Expiration {
    SecondsAgo(u64),
    SecondsFromNow(u64),
    At(u64),
}

impl Expiration {
    fn at(&self, now: SystemTime) -> SystemTime {
        match self {
            Expiration::SecondsAgo(s) => now - Duration::from_secs(*s),
            Expiration::SecondsFromNow(s) => now + Duration::from_secs(*s),
            Expiration::At(s) => UNIX_EPOCH + Duration::from_secs(*s),
        }
    }
}

fn expirations() -> impl Strategy<Value = Expiration> {
    prop_oneof![
        (0u64..=10 * 365 * 24 * 3600).prop_map(Expiration::SecondsAgo),
        (0u64..=3600).prop_map(Expiration::SecondsFromNow),
        (3601u64..=100 * 365 * 24 * 3600).prop_map(Expiration::SecondsFromNow),
        prop_oneof![Just(0), Just(253_402_300_799), 0u64..=253_402_300_799]
            .prop_map(Expiration::At),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_expiration_gives_credentials_within_the_requested_duration_or_invalid_response(
        expiration in expirations()
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(expiration_is_handled(expiration.at(now())))?;
    }
}

/// STS answers with credentials expiring at `expiration`: a provider asking for the default
/// hour serves them until then at the latest (and, inside the hour, no more than a few seconds
/// earlier: the `Date` header's resolution and the round trip), never past an hour, and refuses
/// them as an invalid response when they arrive expired, or inside their one-minute mandatory
/// window.
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
    let answer = answer.map_err(|_| TestCaseError::fail("no answer"))?;
    if let Ok(credentials) = &answer {
        prop_assert!(credentials.expiry().unwrap() > after, "already expired");
    }
    let hour = Duration::from_secs(3600);
    let mandatory = Duration::from_secs(60);
    let margin = Duration::from_secs(3);
    if expiration <= before {
        let err = answer
            .err()
            .ok_or_else(|| TestCaseError::fail("expired credentials served"))?;
        prop_assert_eq!(
            (err.kind(), err.hop()),
            (ErrorKind::InvalidResponse, Some(0))
        );
    } else if expiration <= after + mandatory + margin {
        // Expired on arrival, expiring inside the mandatory window, or just outside it.
        if let Err(err) = &answer {
            prop_assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{}", err);
        }
    } else {
        let credentials = answer
            .clone()
            .map_err(|err| TestCaseError::fail(err.to_string()))?;
        let expiry = credentials.expiry().unwrap();
        prop_assert!(
            expiry <= expiration,
            "{expiry:?} after the Expiration {expiration:?}"
        );
        prop_assert!(
            expiry <= after + hour,
            "{expiry:?} beyond the requested hour"
        );
        if expiration <= before + hour {
            prop_assert!(
                expiry + margin >= expiration,
                "{expiry:?} well before {expiration:?}"
            );
        } else {
            prop_assert!(
                expiry + margin >= before + hour,
                "{expiry:?}: less than the hour"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn expirations_in_the_past_now_inside_the_hour_and_far_future_are_handled() {
    let now = now();
    for expiration in [
        UNIX_EPOCH,
        now - Duration::from_secs(3600),
        now,
        now + Duration::from_secs(30),
        now + Duration::from_secs(600),
        now + Duration::from_secs(3599),
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
    let (time, sleep) = tick_advance_time_and_sleep();
    let world = World::with_clock(time.clone()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let backoff = Duration::from_millis(200);
    let provider = RoleChainProvider::builder()
        .base_provider(Panicking(calls.clone()))
        .endpoint_url(world.sts.endpoint_url())
        .time_source(time.clone())
        .sleep_impl(sleep)
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
    // Later callers get the error at once, without an attempt of their own.
    for _ in 0..1000 {
        assert!(provider.credentials().await.is_err());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The worker retries every 200 ms, no faster: five more attempts in one second of manual
    // time, each seen before the clock moves on.
    for attempts in 2..=6 {
        common::advance_until(&time, backoff / 10, backoff, "the next attempt", || {
            calls.load(Ordering::SeqCst) == attempts
        })
        .await;
    }
    common::eventually("six failures recorded", || {
        provider.status().consecutive_failures() == 6
    })
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}
