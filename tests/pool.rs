//! `RoleChainPool` on LocalSts, on manual time: a vendor's compute user assumes its broker role
//! once for the pool, and the broker assumes each customer's role with that customer's
//! ExternalId.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_role_chain::test_util::{Fault, LocalRole};
use aws_role_chain::{ErrorKind, RefreshPolicy, Role, RoleChainPool, RoleChainPoolBuilder, Tenant};
use aws_smithy_async::rt::sleep::{AsyncSleep, Sleep};
use aws_smithy_async::test_util::tick_advance_sleep::{
    tick_advance_time_and_sleep, TickAdvanceSleep, TickAdvanceTime,
};
use aws_smithy_async::test_util::ManualTimeSource;
use aws_types::region::Region;
use common::*;
use parking_lot::Mutex;

const MINUTE: Duration = Duration::from_secs(60);

/// Customer `n`'s role: trusts the broker with the ExternalId `customer-<n>`.
fn customer_arn(n: usize) -> String {
    format!(
        "arn:aws:iam::{:012}:role/vendor-access",
        500_000_000_000 + n
    )
}

fn customer_external_id(n: usize) -> String {
    format!("customer-{n}")
}

struct Vendor {
    world: World,
    time: TickAdvanceTime,
    /// Every sleep the pool asked for, in order.
    sleeps: Arc<Mutex<Vec<Duration>>>,
}

/// The manual clock's sleep, noting each duration asked for.
#[derive(Debug)]
struct NotedSleep {
    sleep: TickAdvanceSleep,
    noted: Arc<Mutex<Vec<Duration>>>,
}

impl AsyncSleep for NotedSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        self.noted.lock().push(duration);
        self.sleep.sleep(duration)
    }
}

impl Vendor {
    /// The world on manual time, with `customers` customer roles trusting the broker, and a
    /// pool builder whose shared hop is the broker.
    async fn new(customers: usize) -> (Vendor, RoleChainPoolBuilder) {
        let (vendor, builder) = Vendor::without_shared_hops(customers).await;
        (
            vendor,
            builder.assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID)),
        )
    }

    /// [`new`](Self::new), the builder without the broker.
    async fn without_shared_hops(customers: usize) -> (Vendor, RoleChainPoolBuilder) {
        let (time, sleep) = tick_advance_time_and_sleep();
        let world = World::with_clock(time.clone()).await;
        for n in 0..customers {
            world.sts.add_role(
                LocalRole::new(customer_arn(n))
                    .trust(BROKER)
                    .external_id(customer_external_id(n)),
            );
        }
        let sleeps = Arc::<Mutex<Vec<Duration>>>::default();
        let noted = NotedSleep {
            sleep,
            noted: sleeps.clone(),
        };
        let builder = RoleChainPool::builder()
            .base_provider(world.compute.clone())
            .endpoint_url(world.sts.endpoint_url())
            .region(Region::new("us-east-1"))
            .time_source(time.clone())
            .sleep_impl(noted)
            .refresh_policy(RefreshPolicy::default().jitter(0.0));
        let vendor = Vendor {
            world,
            time,
            sleeps,
        };
        (vendor, builder)
    }

    /// Customer `n`'s role with its ExternalId.
    fn customer(&self, n: usize) -> Role {
        Role::new(customer_arn(n)).external_id(customer_external_id(n))
    }

    /// Runs `work` to its end, moving manual time on in 10-ms steps while it waits on the
    /// pool's turns, for at most `limit` of manual time.
    async fn drive<T: Send + 'static>(
        &self,
        limit: Duration,
        work: impl Future<Output = T> + Send + 'static,
    ) -> T {
        let task = tokio::spawn(work);
        self.until("the driven work", limit, || task.is_finished())
            .await;
        task.await.expect("the driven work does not panic")
    }

    /// Moves manual time on by `span` in 10-ms steps, letting the pool's tasks run between
    /// them.
    async fn pass(&self, span: Duration) {
        let step = Duration::from_millis(10);
        let mut moved = Duration::ZERO;
        while moved < span {
            self.time.tick(step).await;
            moved += step;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Moves manual time on in 10-ms steps until `done` holds, for at most `limit` of it (and
    /// 120 s of real time).
    async fn until(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let started = stopwatch();
        let mut moved = Duration::ZERO;
        while !done() {
            assert!(moved < limit, "{what}: not after {moved:?} of manual time");
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{what}: not after 120 s"
            );
            self.time.tick(Duration::from_millis(10)).await;
            moved += Duration::from_millis(10);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// `tenant.credentials()`, driven.
    async fn fetch(&self, tenant: &Tenant) -> Result<Credentials, aws_role_chain::Error> {
        let tenant = tenant.clone();
        self.drive(MINUTE, async move { tenant.credentials().await })
            .await
    }

    /// The AssumeRole requests for `role_arn`.
    fn calls_to(&self, role_arn: &str) -> usize {
        self.world
            .assume_role_requests()
            .iter()
            .filter(|r| r.param("RoleArn") == Some(role_arn))
            .count()
    }
}

/// `invalidate()` with no caller after it: the engine runs the invalidation's fetch itself, at
/// once; a second invalidation within `invalidation_backoff` (1 s) of that fetch keeps the value
/// and is run at the backoff's end, again without a caller.
#[tokio::test]
async fn the_engine_runs_an_invalidations_fetch_without_a_caller_at_once_or_at_its_backoffs_end() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.build().unwrap();
    let tenant = pool.tenant(vendor.customer(0)).unwrap();
    vendor.fetch(&tenant).await.unwrap();
    let customer = customer_arn(0);
    assert_eq!(vendor.calls_to(&customer), 1);

    tenant.invalidate();
    // Until the fetch has ended, not only reached LocalSts: an invalidation while the
    // invalidation's fetch is in flight is served by that fetch.
    vendor
        .until("the invalidation's fetch", MINUTE, || {
            tenant.status().successful_refreshes() == 2
        })
        .await;
    assert_eq!(vendor.calls_to(&customer), 2);

    tenant.invalidate();
    vendor.pass(Duration::from_millis(500)).await;
    assert_eq!(
        vendor.calls_to(&customer),
        2,
        "deferred to the backoff's end"
    );
    vendor
        .until("the deferred fetch", MINUTE, || {
            vendor.calls_to(&customer) == 3
        })
        .await;
}

/// A tenant used 40 minutes after its fetch, and not after: at its refresh point (45 min, the
/// advisory point of 1-hour credentials without jitter) it is still active (used within
/// `idle_timeout`, 15 min), and the engine refreshes it with no caller in the refresh window.
#[tokio::test]
async fn the_engine_refreshes_an_active_tenant_at_its_refresh_point_with_no_caller_there() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.build().unwrap();
    let tenant = pool.tenant(vendor.customer(0)).unwrap();
    vendor.fetch(&tenant).await.unwrap();
    let customer = customer_arn(0);

    vendor.time.tick(40 * MINUTE).await;
    tenant.credentials().await.unwrap();
    vendor.time.tick(4 * MINUTE).await;

    advance_until(
        &vendor.time,
        Duration::from_secs(10),
        2 * MINUTE,
        "the refresh at 45 min",
        || vendor.calls_to(&customer) == 2,
    )
    .await;
    // Sent at the refresh point, not before it: 45 minutes after the fetch, less the fraction of
    // a second that STS's `Expiration` (whole seconds) leaves out, within the last 10-s step.
    let sent: Vec<SystemTime> = (vendor.world.assume_role_requests().iter())
        .filter(|r| r.param("RoleArn") == Some(customer.as_str()))
        .map(|r| r.received_at())
        .collect();
    let after = sent[1].duration_since(sent[0]).unwrap();
    assert!(
        (45 * MINUTE - Duration::from_secs(1)..45 * MINUTE + Duration::from_secs(10))
            .contains(&after),
        "refreshed {after:?} after the fetch, not at its refresh point (45 min)"
    );
}

/// Callers' fetches go before background refreshes: with one STS call a second and four
/// tenants' background fetches (their invalidations', at one instant) waiting at the pool's
/// gate, a new tenant's fetch is sent at the next turn, ahead of the three still waiting. One
/// hop per tenant, signed by the base credentials, so that every request waits at the gate.
#[tokio::test]
async fn a_callers_fetch_goes_before_the_background_fetches_waiting_at_the_gate() {
    let (vendor, builder) = Vendor::without_shared_hops(0).await;
    let customers: Vec<String> = (0..5).map(customer_arn).collect();
    for (n, arn) in customers.iter().enumerate() {
        vendor.world.sts.add_role(
            LocalRole::new(arn)
                .trust(COMPUTE_USER)
                .external_id(customer_external_id(n)),
        );
    }
    let pool = builder.sts_rate_limit(1).build().unwrap();
    let tenants: Vec<Tenant> = (0..4)
        .map(|n| pool.tenant(vendor.customer(n)).unwrap())
        .collect();
    for tenant in &tenants {
        vendor.fetch(tenant).await.unwrap();
    }
    vendor.time.tick(Duration::from_secs(10)).await;
    let asked = vendor.world.assume_role_requests().len();

    let noted = vendor.sleeps.lock().len();
    for tenant in &tenants {
        tenant.invalidate();
    }
    // The engine starts the four fetches: one is sent, three wait for their turns (each asks
    // the pool's clock for a sleep of at most a turn, 1 s; the attempts' timeouts are 30 s and
    // the engine's naps minutes).
    eventually("the first background fetch", || {
        vendor.world.assume_role_requests().len() == asked + 1
    })
    .await;
    eventually("three background fetches waiting for their turns", || {
        let sleeps = vendor.sleeps.lock();
        sleeps[noted..]
            .iter()
            .filter(|d| **d <= Duration::from_secs(1))
            .count()
            >= 3
    })
    .await;
    let late = pool.tenant(vendor.customer(4)).unwrap();
    vendor.fetch(&late).await.unwrap();

    let sent: Vec<usize> = vendor.world.assume_role_requests()[asked..]
        .iter()
        .filter_map(|r| {
            customers
                .iter()
                .position(|c| r.param("RoleArn") == Some(c.as_str()))
        })
        .collect();
    assert_eq!(sent.iter().position(|n| *n == 4), Some(1), "{sent:?}");
}

/// A tenant left idle while the laptop sleeps two hours: the wall clock jumps past its expiry
/// while the engine's nap (on the monotonic clock, which stands still in suspend) ends only
/// after it. When the engine next looks, the tenant's refresh point and expiry are both behind:
/// it leaves the pool, and its next call fetches anew.
#[tokio::test]
async fn an_idle_tenant_leaves_the_pool_when_the_clock_jumps_past_its_expiry() {
    let clock = ManualTimeSource::new(UNIX_EPOCH + Duration::from_secs(1_767_225_600));
    let (monotonic, sleep) = tick_advance_time_and_sleep();
    let world = World::with_clock(clock.clone()).await;
    world.sts.add_role(
        LocalRole::new(customer_arn(0))
            .trust(BROKER)
            .external_id(customer_external_id(0)),
    );
    let pool = world_pool(&world)
        .time_source(clock.clone())
        .sleep_impl(sleep)
        .build()
        .unwrap();
    let tenant = pool
        .tenant(Role::new(customer_arn(0)).external_id(customer_external_id(0)))
        .unwrap();
    // Both clocks move together while the laptop is awake: the fetch waits for the pool's turns.
    let awake = |tenant: Tenant| {
        let (clock, monotonic) = (clock.clone(), monotonic.clone());
        async move {
            let fetch = tokio::spawn(async move { tenant.credentials().await });
            while !fetch.is_finished() {
                clock.advance(Duration::from_millis(10));
                monotonic.tick(Duration::from_millis(10)).await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            fetch.await.unwrap()
        }
    };
    awake(tenant.clone()).await.unwrap();

    clock.advance(2 * 60 * MINUTE);
    // The engine's nap ends within 5 minutes of the monotonic clock (in steps: it may not be
    // asleep yet when the first one is taken).
    advance_until(&monotonic, MINUTE, 10 * MINUTE, "the tenant leaves", || {
        pool.status().tenants() == 0
    })
    .await;
    awake(tenant.clone()).await.unwrap();
    let calls = world.assume_role_requests();
    let customer = customer_arn(0);
    let to_customer = calls
        .iter()
        .filter(|r| r.param("RoleArn") == Some(customer.as_str()));
    assert_eq!(to_customer.count(), 2);
}

/// A tenant idle at its refresh point, then used and refreshed, and idle again when its first
/// credentials would have expired, stays: the credentials it holds are the new ones.
#[tokio::test]
async fn a_tenant_refreshed_after_going_idle_is_kept_at_its_old_credentials_expiry() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.idle_timeout(5 * MINUTE).build().unwrap();
    let tenant = pool.tenant(vendor.customer(0)).unwrap();
    vendor.fetch(&tenant).await.unwrap();
    let customer = customer_arn(0);

    // Idle at its refresh point (45 min); used at 50 min, inside the advisory window: refreshed.
    vendor.time.tick(50 * MINUTE).await;
    tenant.credentials().await.unwrap();
    eventually("the refresh at 50 min", || vendor.calls_to(&customer) == 2).await;
    // Idle again when the first credentials expire (60 min): the engine wakes for that expiry
    // and, having looked at the tenant, goes back to sleep.
    let noted = vendor.sleeps.lock().len();
    vendor.time.tick(11 * MINUTE).await;
    eventually("the engine asleep again", || {
        vendor.sleeps.lock().len() > noted
    })
    .await;

    assert_eq!(pool.status().tenants(), 1);
    tenant.credentials().await.unwrap();
    assert_eq!(vendor.calls_to(&customer), 2, "served what it holds");
}

/// With nothing due for an hour, the engine still looks at the clock every 5 minutes: a clock
/// that jumps (a suspended laptop) is seen within that.
#[tokio::test]
async fn the_engine_looks_at_the_clock_every_5_minutes_when_nothing_is_due_sooner() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.build().unwrap();
    let tenant = pool.tenant(vendor.customer(0)).unwrap();
    vendor.fetch(&tenant).await.unwrap();

    // In steps: the engine may not be asleep yet when the first one is taken.
    advance_until(
        &vendor.time,
        MINUTE,
        11 * MINUTE,
        "the engine's second nap",
        || {
            let sleeps = vendor.sleeps.lock();
            sleeps.iter().filter(|d| **d == 5 * MINUTE).count() >= 2
        },
    )
    .await;

    // The engine's naps while nothing is due sooner; none longer, and none shorter than that
    // but longer than a minute (the pool's other sleeps are turns and timeouts).
    let long: Vec<Duration> = (vendor.sleeps.lock().iter())
        .filter(|d| **d > MINUTE)
        .copied()
        .collect();
    assert!(long.iter().all(|d| *d == 5 * MINUTE), "{long:?}");
}

/// Dropping the pool ends its engine task at once (and with it every task the pool started),
/// rather than when the engine next wakes.
#[tokio::test]
async fn dropping_the_pool_ends_its_engine() {
    let world = World::new().await;
    world.sts.add_role(
        LocalRole::new(customer_arn(0))
            .trust(BROKER)
            .external_id(customer_external_id(0)),
    );
    let before = alive_tasks();
    let pool = world_pool(&world).build().unwrap();
    pool.tenant(Role::new(customer_arn(0)).external_id(customer_external_id(0)))
        .unwrap()
        .credentials()
        .await
        .unwrap();
    assert!(alive_tasks() > before, "the engine runs");

    drop(pool);

    // The SDK's connections to LocalSts close as well; the engine alone would sleep 5 minutes.
    eventually("the pool's tasks end", || alive_tasks() <= before).await;
}

/// A pool builder on real time against the world's LocalSts, the broker shared.
fn world_pool(world: &World) -> RoleChainPoolBuilder {
    RoleChainPool::builder()
        .base_provider(world.compute.clone())
        .endpoint_url(world.sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
}

/// A pool used on a runtime that then shut down (its engine task gone with it) serves its
/// tenants from the next runtime: the engine starts again there.
#[test]
fn a_pool_whose_runtime_shut_down_starts_its_engine_on_the_next_one() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    // LocalSts on a runtime of its own, for the whole test.
    let sts_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let world = sts_runtime.block_on(World::new());
    for n in 0..2 {
        world.sts.add_role(
            LocalRole::new(customer_arn(n))
                .trust(BROKER)
                .external_id(customer_external_id(n)),
        );
    }
    let pool = world_pool(&world).build().unwrap();
    let customer = |n| Role::new(customer_arn(n)).external_id(customer_external_id(n));

    let first = runtime();
    first
        .block_on(pool.tenant(customer(0)).unwrap().credentials())
        .unwrap();
    drop(first);

    let served = runtime().block_on(async {
        let fetch = pool.tenant(customer(1)).unwrap();
        tokio::time::timeout(Duration::from_secs(20), fetch.credentials()).await
    });
    assert!(matches!(served, Ok(Ok(_))), "{served:?}");
}

#[tokio::test]
async fn the_shared_hop_is_assumed_once_and_signs_every_tenants_hop() {
    let (vendor, builder) = Vendor::new(3).await;
    let pool = builder.build().unwrap();
    let mut keys = Vec::new();
    for n in 0..3 {
        let tenant = pool.tenant(vendor.customer(n)).unwrap();
        keys.push(
            vendor
                .fetch(&tenant)
                .await
                .unwrap()
                .access_key_id()
                .to_owned(),
        );
        assert_eq!(vendor.calls_to(&customer_arn(n)), 1);
    }
    assert_eq!(vendor.calls_to(BROKER), 1);
    let requests = vendor.world.assume_role_requests();
    for n in 0..3 {
        let request = requests
            .iter()
            .find(|r| r.param("RoleArn") == Some(customer_arn(n).as_str()))
            .unwrap();
        assert!(
            request
                .caller_arn()
                .unwrap()
                .contains(":assumed-role/broker/"),
            "{request:?}"
        );
        assert_eq!(
            request.param("ExternalId"),
            Some(customer_external_id(n).as_str())
        );
    }
    keys.dedup();
    assert_eq!(keys.len(), 3, "each tenant has its own session");
    assert_eq!(pool.status().assume_role_calls(), 4);
}

#[tokio::test]
async fn a_pool_without_shared_hops_signs_each_tenant_with_the_base_credentials() {
    let (vendor, builder) = Vendor::without_shared_hops(0).await;
    let pool = builder.build().unwrap();
    let broker = pool
        .tenant(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .unwrap();
    assert!(
        vendor.world.assume_role_requests().is_empty(),
        "no request before the first call"
    );
    vendor.fetch(&broker).await.unwrap();
    let requests = vendor.world.assume_role_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].caller_arn(), Some(COMPUTE_USER));
    assert_eq!(broker.status().hops()[0].hop(), 0);
}

/// A variant of customer 0's role differing in one setting.
fn variants(vendor: &Vendor) -> Vec<(&'static str, Role)> {
    let base = || vendor.customer(0);
    vec![
        ("role_arn", vendor.customer(1)),
        ("session_name", base().session_name("other-session")),
        ("duration", base().duration(Duration::from_secs(1800))),
        (
            "policy",
            base().policy(r#"{"Version":"2012-10-17","Statement":[]}"#),
        ),
        (
            "policy_arns",
            base().policy_arns(["arn:aws:iam::aws:policy/ReadOnlyAccess"]),
        ),
        ("tags", base().tag("team", "analytics")),
        (
            "transitive_tag_keys",
            base().tag("team", "a").transitive_tag_keys(["team"]),
        ),
        ("source_identity", base().source_identity("alice")),
    ]
}

#[tokio::test]
async fn tenants_that_differ_in_any_one_setting_never_share_a_session() {
    let (vendor, builder) = Vendor::new(2).await;
    let pool = builder.build().unwrap();
    let first = pool.tenant(vendor.customer(0)).unwrap();
    let key = vendor
        .fetch(&first)
        .await
        .unwrap()
        .access_key_id()
        .to_owned();
    for (field, role) in variants(&vendor) {
        let before = vendor.world.assume_role_requests().len();
        let other = pool.tenant(role).unwrap();
        let other_key = vendor.fetch(&other).await.unwrap();
        assert_ne!(other_key.access_key_id(), key, "{field}: shared a session");
        assert_eq!(
            vendor.world.assume_role_requests().len(),
            before + 1,
            "{field}: one call of its own"
        );
    }
}

#[tokio::test]
async fn equal_tenants_share_one_entry_and_one_call() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.build().unwrap();
    let role = || {
        vendor
            .customer(0)
            .tag("team", "analytics")
            .session_name("nightly")
    };
    let (a, b) = (pool.tenant(role()).unwrap(), pool.tenant(role()).unwrap());
    let (a2, b2) = (a.clone(), b.clone());
    let both = vendor
        .drive(MINUTE, async move {
            tokio::join!(a2.credentials(), b2.credentials())
        })
        .await;
    let (x, y) = (both.0.unwrap(), both.1.unwrap());
    assert_eq!(x.access_key_id(), y.access_key_id());
    assert_eq!(vendor.calls_to(&customer_arn(0)), 1);
    assert_eq!(pool.status().tenants(), 1);
}

#[tokio::test]
async fn a_wrong_external_id_is_refused_at_its_tenant_only() {
    let (vendor, builder) = Vendor::new(2).await;
    let pool = builder.build().unwrap();
    let wrong = pool
        .tenant(Role::new(customer_arn(0)).external_id("not-customer-0"))
        .unwrap();
    let right = pool.tenant(vendor.customer(1)).unwrap();
    let err = vendor.fetch(&wrong).await.unwrap_err();
    assert_eq!((err.kind(), err.hop()), (ErrorKind::AccessDenied, Some(1)));
    assert!(!err.to_string().contains("not-customer-0"), "{err}");
    assert!(vendor.fetch(&right).await.is_ok());
}

#[tokio::test]
async fn a_refused_tenant_answers_without_a_call_until_its_backoff_passes() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.build().unwrap();
    let refused = pool
        .tenant(Role::new(customer_arn(0)).external_id("rotated"))
        .unwrap();
    let calls = || vendor.calls_to(&customer_arn(0));
    assert!(vendor.fetch(&refused).await.is_err());
    assert_eq!(calls(), 1);
    // A caller in a tight loop costs nothing.
    for _ in 0..100 {
        let err = refused.credentials().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AccessDenied);
    }
    assert_eq!(calls(), 1);
    // After 1 min, one call; then 2 min.
    vendor.time.tick(MINUTE).await;
    assert!(vendor.fetch(&refused).await.is_err());
    assert_eq!(calls(), 2);
    vendor.time.tick(MINUTE + Duration::from_secs(10)).await;
    assert!(refused.credentials().await.is_err());
    assert_eq!(calls(), 2, "the second refusal doubled the backoff");
    vendor.time.tick(MINUTE).await;
    assert!(vendor.fetch(&refused).await.is_err());
    assert_eq!(calls(), 3);
    // invalidate() ends the backoff at once.
    refused.invalidate();
    assert!(vendor.fetch(&refused).await.is_err());
    assert_eq!(calls(), 4);
}

#[tokio::test]
async fn a_refusal_at_the_shared_hop_puts_no_tenant_in_the_refusal_backoff() {
    let (vendor, builder) = Vendor::without_shared_hops(1).await;
    let pool = builder
        .assume(Role::new(BROKER).external_id("broker-new-id"))
        .build()
        .unwrap();
    let tenant = pool.tenant(vendor.customer(0)).unwrap();
    let err = vendor.fetch(&tenant).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.hop()),
        (ErrorKind::AccessDenied, Some(0)),
        "{err}"
    );
    // The broker's trust now takes the new ExternalId: after the shared hop's own backoff (1 s
    // without credentials), the tenant is served, without waiting for a refusal backoff.
    vendor.world.sts.add_role(
        LocalRole::new(BROKER)
            .trust(COMPUTE_USER)
            .external_id("broker-new-id"),
    );
    vendor.time.tick(Duration::from_secs(2)).await;
    vendor.fetch(&tenant).await.unwrap();
}

#[tokio::test]
async fn status_and_invalidate_of_a_tenant_never_fetched_take_no_place_in_the_pool() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.build().unwrap();
    let tenant = pool.tenant(vendor.customer(0)).unwrap();
    tenant.invalidate();
    let status = tenant.status();
    assert_eq!(status.expiry(), None);
    assert_eq!(status.hops().len(), 2);
    assert_eq!(pool.status().tenants(), 0);
    assert!(vendor.world.assume_role_requests().is_empty());
}

#[tokio::test]
async fn while_sts_throttles_an_active_tenant_keeps_being_served() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.build().unwrap();
    let tenant = pool.tenant(vendor.customer(0)).unwrap();
    let first = vendor.fetch(&tenant).await.unwrap();
    vendor.world.sts.set_outage(Some(Fault::Throttling));
    // Used every minute past its refresh point (45 min): each background refresh is throttled,
    // and the credentials in service are served until they expire.
    for minute in 1..=55 {
        vendor.time.tick(MINUTE).await;
        let served = tokio::time::timeout(Duration::from_secs(20), tenant.credentials())
            .await
            .expect("served without manual time")
            .unwrap();
        assert_eq!(
            served.access_key_id(),
            first.access_key_id(),
            "minute {minute}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let status = pool.status();
    assert!(status.throttled() >= 1, "{status}");
    assert!(tenant.status().consecutive_failures() >= 1);
}

#[tokio::test]
async fn an_idle_tenant_is_not_refreshed_and_leaves_the_pool_when_its_credentials_expire() {
    let (vendor, builder) = Vendor::new(2).await;
    let pool = builder.idle_timeout(5 * MINUTE).build().unwrap();
    let idle = pool.tenant(vendor.customer(0)).unwrap();
    let active = pool.tenant(vendor.customer(1)).unwrap();
    vendor.fetch(&idle).await.unwrap();
    vendor.fetch(&active).await.unwrap();
    // The active tenant is used every minute for 70 minutes: with 1-hour credentials and no
    // jitter it is refreshed at the advisory point, 45 min after its fetch, and its callers
    // never wait (the cached path serves it while the driven time stands still).
    for minute in 1..=70 {
        vendor.time.tick(MINUTE).await;
        let served = tokio::time::timeout(Duration::from_secs(20), active.credentials()).await;
        assert!(
            served.expect("served without manual time").is_ok(),
            "minute {minute}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    eventually("the active tenant is refreshed", || {
        vendor.calls_to(&customer_arn(1)) == 2
    })
    .await;
    assert_eq!(
        vendor.calls_to(&customer_arn(0)),
        1,
        "the idle tenant is left alone"
    );
    assert_eq!(pool.status().tenants(), 1, "the idle tenant left at expiry");
    assert_eq!(pool.status().active(), 1);
    // Its next call fetches anew.
    vendor.fetch(&idle).await.unwrap();
    assert_eq!(vendor.calls_to(&customer_arn(0)), 2);
}

#[tokio::test]
async fn the_pool_holds_at_most_max_tenants_evicting_the_least_recently_used() {
    let (vendor, builder) = Vendor::new(4).await;
    let pool = builder.max_tenants(3).build().unwrap();
    let tenants: Vec<Tenant> = (0..4)
        .map(|n| pool.tenant(vendor.customer(n)).unwrap())
        .collect();
    for tenant in &tenants[..3] {
        vendor.fetch(tenant).await.unwrap();
        vendor.time.tick(Duration::from_secs(2)).await;
    }
    // Tenant 0 is used again: tenant 1 is now the least recently used.
    tenants[0].credentials().await.unwrap();
    vendor.time.tick(Duration::from_secs(2)).await;
    vendor.fetch(&tenants[3]).await.unwrap();
    let status = pool.status();
    assert_eq!((status.tenants(), status.evictions()), (3, 1), "{status}");
    // Tenants 0, 2 and 3 are served from the pool; tenant 1 fetches anew.
    for n in [0, 2, 3] {
        vendor.fetch(&tenants[n]).await.unwrap();
        assert_eq!(vendor.calls_to(&customer_arn(n)), 1, "tenant {n}");
    }
    vendor.fetch(&tenants[1]).await.unwrap();
    assert_eq!(vendor.calls_to(&customer_arn(1)), 2);
    let status = pool.status();
    assert_eq!((status.tenants(), status.evictions()), (3, 2), "{status}");
}

#[tokio::test]
async fn throttling_halves_the_allowed_rate_and_it_grows_back() {
    let (vendor, builder) = Vendor::new(2).await;
    let pool = builder.sts_rate_limit(40).build().unwrap();
    vendor
        .world
        .sts
        .set_role_outage(&customer_arn(0), Some(Fault::Throttling));
    let throttled = pool.tenant(vendor.customer(0)).unwrap();
    let err = vendor.fetch(&throttled).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    let status = pool.status();
    assert_eq!(status.throttled(), 1);
    assert!((19.0..=21.0).contains(&status.allowed_rate()), "{status}");
    // Other tenants are still served, at the lower rate.
    vendor
        .fetch(&pool.tenant(vendor.customer(1)).unwrap())
        .await
        .unwrap();
    vendor.time.tick(Duration::from_secs(10)).await;
    assert_eq!(pool.status().allowed_rate(), 40.0);
}

#[tokio::test]
async fn a_tenant_whose_sts_answer_hangs_delays_no_other() {
    let (vendor, builder) = Vendor::new(101).await;
    let pool = builder
        .sts_rate_limit(600)
        .max_concurrent_sts_calls(16)
        .build()
        .unwrap();
    // Customer 0's answers hang for an hour of real time.
    vendor.world.sts.set_role_outage(
        &customer_arn(0),
        Some(Fault::Delay(Duration::from_secs(3600))),
    );
    let hanging = pool.tenant(vendor.customer(0)).unwrap();
    let waiting = tokio::spawn({
        let hanging = hanging.clone();
        async move { hanging.credentials().await }
    });
    let step = Duration::from_millis(10);
    advance_until(
        &vendor.time,
        step,
        MINUTE,
        "the hanging request reaches STS",
        || vendor.calls_to(&customer_arn(0)) == 1,
    )
    .await;
    let others: Vec<Tenant> = (1..=100)
        .map(|n| pool.tenant(vendor.customer(n)).unwrap())
        .collect();
    let served = vendor
        .drive(Duration::from_secs(5), async move {
            let calls = others.iter().map(|t| t.credentials());
            futures_util::future::join_all(calls).await
        })
        .await;
    assert!(served.iter().all(Result::is_ok));
    assert!(!waiting.is_finished(), "the hanging tenant still waits");
    // Its fetch times out after RefreshPolicy::fetch_timeout (30 s).
    vendor.time.tick(Duration::from_secs(30)).await;
    let err = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the hanging tenant's caller is answered")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
}

/// The most requests in any second, counting from each request's arrival.
fn busiest_second(times: &[SystemTime]) -> usize {
    let mut times: Vec<Duration> = times
        .iter()
        .map(|t| t.duration_since(UNIX_EPOCH).unwrap())
        .collect();
    times.sort();
    let mut most = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_storm_of_tenants_never_exceeds_the_rate_in_any_second() {
    const TENANTS: usize = 2_000;
    const RATE: u32 = 100;
    let (vendor, builder) = Vendor::new(TENANTS).await;
    // Time for every fetch to start, however far the driven time runs ahead of the machine.
    let patient = RefreshPolicy::default().fetch_timeout(Duration::from_secs(3600));
    let pool = builder
        .sts_rate_limit(RATE)
        .refresh_policy(patient)
        .build()
        .unwrap();
    let tenants: Vec<Tenant> = (0..TENANTS)
        .map(|n| pool.tenant(vendor.customer(n)).unwrap())
        .collect();
    let served = vendor
        .drive(Duration::from_secs(3600), async move {
            let calls = tenants.iter().map(|t| t.credentials());
            futures_util::future::join_all(calls).await
        })
        .await;
    let failed: Vec<_> = served.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    let times: Vec<SystemTime> = vendor
        .world
        .assume_role_requests()
        .iter()
        .map(|r| r.received_at())
        .collect();
    assert_eq!(
        times.len(),
        TENANTS + 1,
        "one call per tenant and one for the broker"
    );
    let busiest = busiest_second(&times);
    assert!(busiest <= RATE as usize, "{busiest} calls in one second");
}

#[tokio::test]
async fn callers_held_by_the_pools_own_limit_are_told_so() {
    let (vendor, builder) = Vendor::new(10).await;
    // One call a second (one every 1.05 s), and 3 s for each fetch: of ten tenants asked for
    // at once, after the broker's call, two or three are served and the rest are held.
    let pool = builder
        .sts_rate_limit(1)
        .refresh_policy(
            RefreshPolicy::default()
                .jitter(0.0)
                .fetch_timeout(Duration::from_secs(3)),
        )
        .build()
        .unwrap();
    let tenants: Vec<Tenant> = (0..10)
        .map(|n| pool.tenant(vendor.customer(n)).unwrap())
        .collect();
    let answers = vendor
        .drive(MINUTE, async move {
            futures_util::future::join_all(tenants.iter().map(|t| t.credentials())).await
        })
        .await;
    let served = answers.iter().filter(|a| a.is_ok()).count();
    assert!((1..=3).contains(&served), "{served} served");
    for err in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(err.kind(), ErrorKind::Throttled);
        assert!(err.to_string().contains("STS did not refuse it"), "{err}");
    }
    let customer_calls: usize = (0..10).map(|n| vendor.calls_to(&customer_arn(n))).sum();
    assert_eq!(customer_calls, served, "a held tenant made no call");
    assert_eq!(
        pool.status().throttled(),
        0,
        "no throttling answer from STS"
    );
}

/// Shared hops and a tenant's roles.
type Chains = (usize, Vec<Role>);

fn refused(((shared, roles), (field, hop)): (Chains, (&str, Option<usize>))) {
    let mut builder = RoleChainPool::builder()
        .base_provider(Credentials::new("AKID", "secret", None, None, "test"));
    for _ in 0..shared {
        builder = builder.assume(Role::new(BROKER));
    }
    let pool = builder.build().unwrap();
    let err = pool.tenant_chain(roles).unwrap_err();
    assert_eq!((err.field(), err.hop()), (field, hop), "{err}");
}

macro_rules! cases {
    ($check:ident: $($name:ident: $input:expr;)*) => {
        $(#[test] fn $name() { $check($input) })*
    };
}

cases! { refused:
    a_tenant_without_roles_is_refused: ((1, vec![]), ("roles", None));
    a_bad_role_arn_is_refused_at_its_hop_after_the_shared_ones: (
        (1, vec![Role::new("storage")]), ("role_arn", Some(1)));
    a_chained_tenant_hop_over_an_hour_is_refused: (
        (1, vec![Role::new(STORAGE).duration(Duration::from_secs(7200))]), ("duration", Some(1)));
    a_first_tenant_hop_of_two_hours_is_accepted_without_shared_hops_but_not_its_second: (
        (0, vec![Role::new(STORAGE).duration(Duration::from_secs(7200)),
                 Role::new(AUDIT).duration(Duration::from_secs(7200))]), ("duration", Some(1)));
    an_mfa_tenant_hop_is_refused: (
        (2, vec![Role::new(STORAGE).mfa_serial("arn:aws:iam::222222222222:mfa/alice")]),
        ("mfa_serial", Some(2)));
    a_bad_external_id_is_refused: (
        (1, vec![Role::new(STORAGE).external_id("no spaces")]), ("external_id", Some(1)));
}

fn setting_refused((builder, field): (RoleChainPoolBuilder, &str)) {
    let err = builder
        .base_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), field, "{err}");
}

cases! { setting_refused:
    no_tenants_is_refused: (RoleChainPool::builder().max_tenants(0), "max_tenants");
    a_rate_of_zero_is_refused: (RoleChainPool::builder().sts_rate_limit(0), "sts_rate_limit");
    a_rate_above_stss_quota_is_refused: (RoleChainPool::builder().sts_rate_limit(601), "sts_rate_limit");
    no_concurrent_calls_is_refused: (
        RoleChainPool::builder().max_concurrent_sts_calls(0), "max_concurrent_sts_calls");
    an_idle_timeout_of_zero_is_refused: (
        RoleChainPool::builder().idle_timeout(Duration::ZERO), "idle_timeout");
    an_idle_timeout_of_duration_max_is_refused: (
        RoleChainPool::builder().idle_timeout(Duration::MAX), "idle_timeout");
    a_refusal_backoff_shrinking_is_refused: (
        RoleChainPool::builder().refusal_backoff(MINUTE * 10, MINUTE), "refusal_backoff");
    an_mfa_shared_hop_is_refused: (
        RoleChainPool::builder().assume(Role::new(BROKER).mfa_serial("arn:aws:iam::222222222222:mfa/alice")),
        "mfa_serial");
    a_bad_shared_role_is_refused: (RoleChainPool::builder().assume(Role::new("broker")), "role_arn");
}

#[tokio::test]
async fn status_debug_and_display_show_no_external_id() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.build().unwrap();
    let tenant = pool.tenant(vendor.customer(0)).unwrap();
    vendor.fetch(&tenant).await.unwrap();
    let status = tenant.status();
    let hops: Vec<(usize, &str)> = status
        .hops()
        .iter()
        .map(|h| (h.hop(), h.role_arn()))
        .collect();
    assert_eq!(hops, [(0, BROKER), (1, customer_arn(0).as_str())]);
    let shown = format!(
        "{pool:?} {tenant:?} {} {:?} {status} {status:?}",
        pool.status(),
        pool.status()
    );
    for secret in [customer_external_id(0).as_str(), BROKER_EXTERNAL_ID] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains(&customer_arn(0)), "{shown}");
}

#[tokio::test]
async fn a_tenant_is_a_credentials_provider() {
    let (vendor, builder) = Vendor::new(1).await;
    let pool = builder.build().unwrap();
    let tenant = pool.tenant(vendor.customer(0)).unwrap();
    let provider = tenant.clone();
    let credentials = vendor
        .drive(MINUTE, async move { provider.provide_credentials().await })
        .await
        .unwrap();
    let issued: HashMap<String, Credentials> = vendor
        .world
        .sts
        .issued()
        .into_iter()
        .map(|c| (c.access_key_id().to_owned(), c))
        .collect();
    assert!(issued.contains_key(credentials.access_key_id()));
    assert_eq!(
        tenant
            .fallback_on_interrupt()
            .map(|c| c.access_key_id().to_owned()),
        Some(credentials.access_key_id().to_owned())
    );
}

mod key {
    //! Two tenants share credentials only if every input of every hop is equal: a property over
    //! pairs that differ in any one setting, against LocalSts on the system clock.

    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    /// Every setting of a tenant's role but its ARN.
    #[derive(Clone, Debug)]
    struct Inputs {
        external_id: String,
        session_name: String,
        duration: u64,
        policy: String,
        policy_arn: String,
        tag: (String, String),
        transitive: bool,
        source_identity: String,
    }

    prop_compose! {
        fn inputs()(
            external_id in "[a-zA-Z0-9_+=,.@:/-]{2,40}",
            session_name in "[a-zA-Z0-9_+=,.@-]{2,32}",
            duration in 900u64..=3600,
            policy in "[a-zA-Z0-9 ]{1,40}",
            policy_arn in "arn:aws:iam::(aws|[0-9]{12}):policy/[A-Za-z]{1,20}",
            tag in ("[a-zA-Z0-9_.:/=+@-]{1,20}", "[a-zA-Z0-9 _.:/=+@-]{0,20}"),
            transitive in any::<bool>(),
            source_identity in "[a-zA-Z0-9_+=,.@-]{2,32}",
        ) -> Inputs {
            Inputs { external_id, session_name, duration, policy, policy_arn, tag, transitive, source_identity }
        }
    }

    const FIELDS: usize = 9;

    fn role(arn: &str, i: &Inputs) -> Role {
        let role = Role::new(arn)
            .external_id(&i.external_id)
            .session_name(&i.session_name)
            .duration(Duration::from_secs(i.duration))
            .policy(&i.policy)
            .policy_arns([i.policy_arn.clone()])
            .tag(&i.tag.0, &i.tag.1)
            .source_identity(&i.source_identity);
        match i.transitive {
            true => role.transitive_tag_keys([i.tag.0.clone()]),
            false => role,
        }
    }

    /// `base` with setting `field` taken from `other`, or the other ARN for field 0; `None` if
    /// that leaves it equal.
    fn differing(field: usize, base: &Inputs, other: &Inputs) -> Option<Inputs> {
        let mut changed = base.clone();
        match field {
            1 => changed.external_id = other.external_id.clone(),
            2 => changed.session_name = other.session_name.clone(),
            3 => changed.duration = other.duration,
            4 => changed.policy = other.policy.clone(),
            5 => changed.policy_arn = other.policy_arn.clone(),
            6 => changed.tag = other.tag.clone(),
            7 => changed.transitive = !base.transitive,
            8 => changed.source_identity = other.source_identity.clone(),
            _ => return Some(changed),
        }
        let same = format!("{changed:?}") == format!("{base:?}");
        (!same).then_some(changed)
    }

    struct Shared {
        runtime: tokio::runtime::Runtime,
        world: World,
        pool: RoleChainPool,
        roles: AtomicUsize,
    }

    fn shared() -> &'static Shared {
        static SHARED: OnceLock<Shared> = OnceLock::new();
        SHARED.get_or_init(|| {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let world = runtime.block_on(World::new());
            let pool = RoleChainPool::builder()
                .base_provider(world.compute.clone())
                .endpoint_url(world.sts.endpoint_url())
                .sts_rate_limit(600)
                .build()
                .unwrap();
            Shared {
                runtime,
                world,
                pool,
                roles: AtomicUsize::new(0),
            }
        })
    }

    /// A new role trusting the compute user, whatever the ExternalId.
    fn new_role(shared: &Shared) -> String {
        let n = shared.roles.fetch_add(1, Ordering::Relaxed);
        let arn = format!(
            "arn:aws:iam::{:012}:role/tenant-{n}",
            600_000_000_000u64 + n as u64
        );
        shared
            .world
            .sts
            .add_role(LocalRole::new(&arn).trust(COMPUTE_USER));
        arn
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn tenants_differing_in_any_one_setting_never_share_and_equal_ones_share_one_call(
            base in inputs(),
            other in inputs(),
            field in 0..FIELDS,
        ) {
            let shared = shared();
            let Some(changed) = differing(field, &base, &other) else { return Ok(()) };
            let arn = new_role(shared);
            let other_arn = if field == 0 { new_role(shared) } else { arn.clone() };
            let calls = || shared.world.assume_role_requests().len();
            shared.runtime.block_on(async {
                let before = calls();
                let a = shared.pool.tenant(role(&arn, &base)).unwrap();
                let b = shared.pool.tenant(role(&other_arn, &changed)).unwrap();
                let (a, b) = (a.credentials().await.unwrap(), b.credentials().await.unwrap());
                prop_assert_ne!(a.access_key_id(), b.access_key_id(), "field {}", field);
                prop_assert_eq!(calls(), before + 2);
                let again = shared.pool.tenant(role(&arn, &base)).unwrap();
                let again = again.credentials().await.unwrap();
                prop_assert_eq!(again.access_key_id(), a.access_key_id());
                prop_assert_eq!(calls(), before + 2, "an equal tenant makes no call");
                Ok(())
            })?;
        }
    }
}
