//! Many callers while STS fails at random: no panic, never an expired credential, no error while
//! valid credentials are cached, and STS calls bounded by the backoff, not by the number of
//! callers. The faults come from a seed printed by the test; `STRESS_SEED=<seed>` replays them.
//! (Leaks are counted in `tests/allocations.rs`.)

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_role_chain::test_util::Fault;
use aws_role_chain::{RefreshPolicy, Role};
use aws_smithy_async::time::TimeSource;
use common::*;

const TASKS: usize = 2000;
const RUN: Duration = Duration::from_secs(4);

/// `count` answers: each a fault, or (a quarter of the time) a normal answer after 20 ms; never
/// more than three faults in a row, so that every fourth chain attempt at the latest succeeds
/// and the run sees refreshes as well as failures, whatever the seed.
fn random_answers(rng: &mut fastrand::Rng, count: usize) -> Vec<Fault> {
    let mut faults_in_a_row = 0;
    (0..count)
        .map(|_| {
            let fault = match rng.usize(..4) {
                _ if faults_in_a_row == 3 => None,
                0 => None,
                _ => Some(match rng.usize(..8) {
                    0 => Fault::Throttling,
                    1 => Fault::InternalError,
                    2 => Fault::ServiceUnavailable,
                    3 => Fault::ConnectionReset,
                    4 => Fault::GarbageBody,
                    5 => Fault::TruncatedBody,
                    6 => Fault::MissingCredentials,
                    _ => Fault::ExpiredCredentials,
                }),
            };
            faults_in_a_row = if fault.is_some() {
                faults_in_a_row + 1
            } else {
                0
            };
            fault.unwrap_or(Fault::Delay(Duration::from_millis(20)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_calls_under_random_faults_never_see_expired_credentials() {
    let world = World::new().await;
    // 3-s sessions, which this host serves for 1 to 2 s: STS's `Date` header counts whole seconds.
    world.sts.set_session_lifetime(Some(Duration::from_secs(3)));
    let seed = match std::env::var("STRESS_SEED") {
        Ok(seed) => seed.parse().expect("STRESS_SEED is a number"),
        Err(_) => fastrand::u64(..),
    };
    println!("fault seed {seed}: STRESS_SEED={seed} replays these faults");
    let mut rng = fastrand::Rng::with_seed(seed);
    world.sts.push_faults(random_answers(&mut rng, 10_000));
    let urgent = Duration::from_millis(100);
    let provider = world
        .builder()
        .configure(&two_attempts())
        .refresh_policy(RefreshPolicy::default().urgent_retry_backoff(urgent, urgent * 4))
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();

    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = stopwatch();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (provider, served, failed) = (provider.clone(), served.clone(), failed.clone());
            tokio::spawn(async move {
                let clock = aws_smithy_async::time::SystemTimeSource::new();
                // The expiry of the credentials this caller last got: never earlier than the
                // cached one's, which only moves forward here (no invalidation).
                let mut seen_expiry = SystemTime::UNIX_EPOCH;
                while started.elapsed() < RUN {
                    let before: SystemTime = clock.now();
                    match provider.credentials().await {
                        Ok(creds) => {
                            let expiry = creds.expiry().unwrap();
                            assert!(expiry > before, "expired credentials; seed {seed}");
                            seen_expiry = seen_expiry.max(expiry);
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => {
                            let after = clock.now();
                            assert!(
                                after >= seen_expiry,
                                "an error ({err}) while credentials valid for {:?} more were \
                                 cached; seed {seed}",
                                seen_expiry.duration_since(after).unwrap_or_default()
                            );
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no caller panicked");
    }

    let calls = world.assume_role_requests().len() as u64;
    let (served, failed) = (
        served.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let status = provider.status();
    println!("{served} calls served, {failed} failed, {calls} AssumeRole calls");
    assert!(
        served > 20_000,
        "served {served}, failed {failed}; seed {seed}"
    );
    // At most one attempt per urgent backoff step (100 ms) plus two refreshes per second of
    // 1-to-2-s credentials, each of at most two SDK attempts: far fewer than the calls made.
    assert!(
        calls <= 2 * (4 * 10 + 4 * 2 + 5),
        "{calls} STS calls for {} callers' calls; seed {seed}",
        served + failed
    );
    assert!(
        status.successful_refreshes() >= 2,
        "{status:?}; seed {seed}"
    );
}
