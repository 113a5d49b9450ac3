//! Many tenants: `RoleChainPool` next to one `RoleChainProvider` per tenant and to aws-config's
//! `AssumeRoleProvider` per tenant behind an SDK identity cache (the hand-rolled way), each
//! tenant's chain being `base → broker → customer role`. STS is an in-process fake that answers
//! at once.
//!
//! - The cached call, on the system clock: `Tenant::credentials()` with 100,000 tenants held and
//!   with 1, and `RoleChainProvider::credentials()`, in one run (criterion).
//! - Memory: the bytes a held tenant costs beyond its credentials' own strings, counted by this
//!   binary's allocator.
//! - Six simulated hours, 10,000 tenants of which a fifth are in use at any time (a different
//!   fifth every 30 minutes, each tenant of it called once a minute): STS calls, tokio tasks,
//!   callers that waited.
//! - A cold storm, on simulated time: 10,000 tenants asked for at once; its calls per second
//!   are charted in `benches/charts/pool-storm.svg`.
//! - SDK clients: the bytes of a client per tenant, and the time of a request on a shared client
//!   with the tenant's credentials per request against that on the tenant's own client.
//!
//! `POOL_BENCH=storm|fleet|memory|clients|cached` runs one part.
//!
//! ```text
//! cargo bench --bench pool
//! ```

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_role_chain::{Role, RoleChainPool, RoleChainProvider, Tenant};
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource, TimeSource};
use aws_types::SdkConfig;
use criterion::Criterion;
use support::chart;
use support::sim::{sdk_config, FakeSts, SimClock};
use support::SdkCache;

/// The system allocator, counting the bytes live in the process.
struct Counting;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: the caller's layout, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
const HOUR: u64 = 3600;

fn customer(n: usize) -> Role {
    let arn = format!(
        "arn:aws:iam::{:012}:role/vendor-access",
        100_000_000_000 + n
    );
    Role::new(arn).external_id(format!("customer-{n:06}"))
}

fn base() -> Credentials {
    Credentials::new("AKIDVENDOR", "secret", None, None, "vendor")
}

/// The system clock and tokio's sleep, as the fake STS's clock.
#[derive(Clone, Debug)]
struct Wall;

impl TimeSource for Wall {
    fn now(&self) -> SystemTime {
        SystemTimeSource::new().now()
    }
}

impl AsyncSleep for Wall {
    fn sleep(&self, duration: Duration) -> Sleep {
        TokioSleep::new().sleep(duration)
    }
}

/// An `SdkConfig` for a fake STS of its own, on the SDK's system clock, which the cached path reads
/// coarsely.
fn wall_config() -> SdkConfig {
    sdk_config(&Wall, &Arc::new(FakeSts::default()))
        .to_builder()
        .time_source(SharedTimeSource::default())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .build()
}

fn pool(config: &SdkConfig, max_tenants: usize) -> RoleChainPool {
    RoleChainPool::builder()
        .configure(config)
        .base_provider(base())
        .endpoint_url("http://sts.pool.invalid")
        .assume(Role::new(BROKER))
        .max_tenants(max_tenants)
        .sts_rate_limit(600)
        .build()
        .unwrap()
}

/// A current-thread runtime, on which the benchmark's tasks and the pool's run.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A provider over the chain of tenant 0.
fn provider(config: &SdkConfig) -> RoleChainProvider {
    RoleChainProvider::builder()
        .configure(config)
        .base_provider(base())
        .endpoint_url("http://sts.pool.invalid")
        .assume(Role::new(BROKER))
        .assume(customer(0))
        .build()
        .unwrap()
}

/// `n` tenants of `pool`, each fetched once, 16 at a time.
async fn held(pool: &RoleChainPool, n: usize) -> Vec<Tenant> {
    let tenants: Vec<Tenant> = (0..n).map(|i| pool.tenant(customer(i)).unwrap()).collect();
    for batch in tenants.chunks(16) {
        let calls = batch.iter().map(|t| t.credentials());
        for result in futures_util::future::join_all(calls).await {
            result.unwrap();
        }
    }
    tenants
}

/// Runs `call` `iters` times and returns the wall time.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn timed<F, Fut>(runtime: &tokio::runtime::Runtime, iters: u64, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future,
{
    runtime.block_on(async {
        let started = std::time::Instant::now();
        for _ in 0..iters {
            black_box(call().await);
        }
        started.elapsed()
    })
}

fn cached(c: &mut Criterion) {
    let runtime = runtime();
    let config = wall_config();
    println!("fetching 100,000 tenants at 600 calls a second (about 3 minutes)");
    let (one, many, provider) = runtime.block_on(async {
        let small = pool(&config, 10);
        let one = held(&small, 1).await.remove(0);
        let large = pool(&config, 100_000);
        let many = held(&large, 100_000).await;
        let provider = provider(&config);
        provider.credentials().await.unwrap();
        assert_eq!(large.status().tenants(), 100_000);
        ((small, one), (large, many), provider)
    });
    // Tenants all over the pool, called in turn, so that caches see a pool, not one entry.
    let picks: Vec<Tenant> = (0..1024)
        .map(|i| many.1[(i * 7919) % many.1.len()].clone())
        .collect();
    let next = AtomicU64::new(0);
    let mut group = c.benchmark_group("cached call");
    group.bench_function("RoleChainProvider::credentials", |b| {
        b.iter_custom(|iters| timed(&runtime, iters, || provider.credentials()))
    });
    group.bench_function("Tenant::credentials, 1 tenant held", |b| {
        b.iter_custom(|iters| timed(&runtime, iters, || one.1.credentials()))
    });
    group.bench_function("Tenant::credentials, 100,000 held, one tenant", |b| {
        b.iter_custom(|iters| timed(&runtime, iters, || many.1[0].credentials()))
    });
    group.bench_function(
        "Tenant::credentials, 100,000 held, 1,024 tenants in turn",
        |b| {
            b.iter_custom(|iters| {
                timed(&runtime, iters, || {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize % picks.len();
                    picks[i].credentials()
                })
            })
        },
    );
    group.finish();
    drop((one, many, provider));
}

/// Bytes live now.
fn live() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// The bytes of a credentials' own strings.
fn strings(credentials: &Credentials) -> usize {
    credentials.access_key_id().len()
        + credentials.secret_access_key().len()
        + credentials.session_token().map_or(0, str::len)
        + credentials.account_id().map_or(0, |a| a.as_str().len())
}

fn memory() {
    const TENANTS: usize = 10_000;
    let runtime = runtime();
    let config = wall_config();
    runtime.block_on(async {
        let pool = pool(&config, TENANTS);
        // The broker's hop and the first tenant, so that what is counted is per tenant.
        let _warm = held(&pool, 1).await;
        let before = live();
        let tenants: Vec<Tenant> = (1..=TENANTS)
            .map(|i| pool.tenant(customer(i)).unwrap())
            .collect();
        let handles = live() - before;
        for batch in tenants.chunks(16) {
            futures_util::future::join_all(batch.iter().map(|t| t.credentials())).await;
        }
        let mut own = 0;
        for tenant in &tenants {
            own += strings(&tenant.credentials().await.unwrap());
        }
        let total = live() - before;
        let per = |bytes: i64| bytes as f64 / TENANTS as f64;
        println!();
        println!("| {TENANTS} tenants held | bytes per tenant |");
        println!("|---|---|");
        println!(
            "| all of it: handle, key, entry, credentials | {:.0} |",
            per(total)
        );
        println!(
            "| the credentials' own strings (key id, secret, token, account) | {:.0} |",
            per(own as i64)
        );
        println!("| beyond them | {:.0} |", per(total - own as i64));
        println!(
            "| of which the `Tenant` handle and its key, before the first call | {:.0} |",
            per(handles)
        );
        drop(tenants);
        // The bounded cache's own cost per entry, keys and values aside.
        let before = live();
        let cache: moka::sync::Cache<u64, u64> = moka::sync::Cache::builder()
            .max_capacity(TENANTS as u64)
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .eviction_listener(|_, _, _| {})
            .build();
        for i in 0..TENANTS as u64 {
            cache.insert(i, i);
        }
        cache.run_pending_tasks();
        println!(
            "| of which moka's own, per entry | {:.0} |",
            per(live() - before)
        );
        drop(cache);
        // The SDK's `Credentials` around those strings, as the fake STS makes them.
        let before = live();
        let made: Vec<Credentials> = (0..TENANTS)
            .map(|i| {
                let token = Some(format!("{i:0400}"));
                Credentials::new(format!("ASIA{i:016}"), format!("{i:040}"), token, None, "b")
            })
            .collect();
        let own: usize = made.iter().map(strings).sum();
        let vec = TENANTS * std::mem::size_of::<Credentials>();
        let around = live() - before - (own + vec) as i64;
        println!(
            "| of which the SDK's `Credentials` around its strings | {:.0} |",
            per(around)
        );
    });
}

/// What one way of holding many tenants did over a simulated run.
#[derive(Default)]
struct Tally {
    calls: u64,
    busiest_second: u64,
    most_tasks: usize,
    waited: u64,
    served: u64,
}

/// Calls `call` for each tenant in use this second, counting the calls that waited: those not
/// ready when first polled, and those that called STS themselves in that poll (the fake STS
/// answers at once; a real one would have made them wait).
fn use_tenants<F, Fut>(
    second: u64,
    tenants: usize,
    call: &F,
    sts: &Arc<FakeSts>,
    waited: &Arc<AtomicU64>,
    served: &Arc<AtomicU64>,
) where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    // A fifth of the tenants is in use, a different fifth every 30 minutes; each tenant of it
    // is called once a minute, at its own second.
    let fifth = tenants / 5;
    let group = ((second / 1800) % 5) as usize;
    for i in (group * fifth..(group + 1) * fifth).filter(|i| (*i as u64) % 60 == second % 60) {
        let (call, waited, served, sts) = (call(i), waited.clone(), served.clone(), sts.clone());
        tokio::spawn(async move {
            let mut call = std::pin::pin!(call);
            let before = sts.calls.load(Ordering::Relaxed);
            let ok = match futures_util::future::poll_immediate(&mut call).await {
                Some(ok) => {
                    if sts.calls.load(Ordering::Relaxed) > before {
                        waited.fetch_add(1, Ordering::Relaxed);
                    }
                    ok
                }
                None => {
                    waited.fetch_add(1, Ordering::Relaxed);
                    call.await
                }
            };
            served.fetch_add(u64::from(ok), Ordering::Relaxed);
        });
    }
}

async fn six_hours<F, Fut>(
    clock: &SimClock,
    sts: &Arc<FakeSts>,
    tenants: usize,
    hours: u64,
    call: F,
) -> Tally
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let (waited, served) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut most_tasks = 0;
    for second in 0..hours * HOUR {
        use_tenants(second, tenants, &call, sts, &waited, &served);
        clock.run_until(Duration::from_secs(second + 1)).await;
        most_tasks = most_tasks.max(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        );
    }
    Tally {
        calls: sts.calls.load(Ordering::Relaxed),
        busiest_second: sts.per_second().into_iter().max().unwrap_or(0),
        most_tasks,
        waited: waited.load(Ordering::Relaxed),
        served: served.load(Ordering::Relaxed),
    }
}

/// A simulated clock, the fake STS on it, and an `SdkConfig` with both.
fn simulated() -> (SimClock, Arc<FakeSts>, SdkConfig) {
    let clock = SimClock::default();
    let sts = Arc::new(FakeSts::default());
    let config = sdk_config(&clock, &sts);
    (clock, sts, config)
}

async fn hand_rolled(config: &SdkConfig, clock: &SimClock, n: usize) -> SdkCache {
    let sdk = config
        .to_builder()
        .endpoint_url("http://sts.pool.invalid")
        .build();
    let broker = AssumeRoleProvider::builder(BROKER)
        .session_name("vendor")
        .configure(&sdk)
        .build_from_provider(base())
        .await;
    let tenant = AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{:012}:role/vendor-access",
        100_000_000_000 + n
    ))
    .external_id(format!("customer-{n:06}"))
    .session_name("vendor")
    .configure(&sdk)
    .build_from_provider(broker)
    .await;
    SdkCache::with(
        SharedCredentialsProvider::new(tenant),
        SharedTimeSource::new(clock.clone()),
        SharedAsyncSleep::new(clock.clone()),
    )
}

fn print(name: &str, tally: &Tally) {
    println!(
        "| {name} | {} | {} | {} | {} of {} |",
        tally.calls, tally.busiest_second, tally.most_tasks, tally.waited, tally.served
    );
}

fn fleet(tenants: usize, hours: u64) {
    let runtime = runtime();
    runtime.block_on(async {
        println!();
        println!("{tenants} tenants (base → broker → customer role, 1-hour credentials), a fifth in use at any time, {hours} simulated hours");
        println!();
        println!("| tenants held by | AssumeRole calls | busiest second | tokio tasks (most) | calls that waited |");
        println!("|---|---|---|---|---|");

        let (clock, sts, config) = simulated();
        let pool = RoleChainPool::builder()
            .configure(&config)
            .base_provider(base())
            .endpoint_url("http://sts.pool.invalid")
            .assume(Role::new(BROKER))
            .build()
            .unwrap();
        let handles: Arc<Vec<Tenant>> = Arc::new((0..tenants).map(|i| pool.tenant(customer(i)).unwrap()).collect());
        let tally = six_hours(&clock, &sts, tenants, hours, |i| {
            let tenant = handles[i].clone();
            async move { tenant.credentials().await.is_ok() }
        })
        .await;
        print("one `RoleChainPool`", &tally);
        drop((handles, pool));
        clock.run_until(clock.elapsed() + Duration::from_secs(1)).await;

        let (clock, sts, config) = simulated();
        let providers: Arc<Vec<RoleChainProvider>> = Arc::new(
            (0..tenants)
                .map(|i| {
                    RoleChainProvider::builder()
                        .configure(&config)
                        .base_provider(base())
                        .endpoint_url("http://sts.pool.invalid")
                        .assume(Role::new(BROKER))
                        .assume(customer(i))
                        .build()
                        .unwrap()
                })
                .collect(),
        );
        let tally = six_hours(&clock, &sts, tenants, hours, |i| {
            let provider = providers[i].clone();
            async move { provider.credentials().await.is_ok() }
        })
        .await;
        print("a `RoleChainProvider` per tenant", &tally);
        drop(providers);
        clock.run_until(clock.elapsed() + Duration::from_secs(1)).await;

        let (clock, sts, config) = simulated();
        let mut caches = Vec::with_capacity(tenants);
        for i in 0..tenants {
            caches.push(hand_rolled(&config, &clock, i).await);
        }
        let caches = Arc::new(caches);
        let tally = six_hours(&clock, &sts, tenants, hours, |i| {
            let cache = caches[i].clone();
            async move {
                cache.identity().await;
                true
            }
        })
        .await;
        print("aws-config `AssumeRoleProvider` per tenant, behind an SDK identity cache", &tally);
    });
}

/// `tenants` asked for at once, on simulated time, at the default `sts_rate_limit`: the table, and
/// `benches/charts/pool-storm.svg` of the calls in each second.
fn cold_storm(tenants: usize) {
    const RATE_LIMIT: u32 = 50;
    let runtime = runtime();
    runtime.block_on(async {
        let clock = SimClock::default();
        let sts = Arc::new(FakeSts::default());
        let config = sdk_config(&clock, &sts);
        let pool = RoleChainPool::builder()
            .configure(&config)
            .base_provider(base())
            .endpoint_url("http://sts.pool.invalid")
            .assume(Role::new(BROKER))
            .sts_rate_limit(RATE_LIMIT)
            .refresh_policy(
                aws_role_chain::RefreshPolicy::default().fetch_timeout(Duration::from_secs(3600)),
            )
            .build()
            .unwrap();
        let done = Arc::new(AtomicU64::new(0));
        let last = Arc::new(AtomicU64::new(0));
        for i in 0..tenants {
            let tenant = pool.tenant(customer(i)).unwrap();
            let (done, last, clock) = (done.clone(), last.clone(), clock.clone());
            tokio::spawn(async move {
                tenant.credentials().await.unwrap();
                last.fetch_max(clock.elapsed().as_millis() as u64, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        let mut second = 0;
        while done.load(Ordering::Relaxed) < tenants as u64 && second < 3600 {
            second += 1;
            clock.run_until(Duration::from_secs(second)).await;
        }
        let per_second = sts.per_second();
        let busiest = per_second.iter().copied().max().unwrap_or(0);
        println!();
        println!(
            "| cold storm: {tenants} tenants asked for at once, sts_rate_limit {RATE_LIMIT} | |"
        );
        println!("|---|---|");
        println!(
            "| AssumeRole calls | {} |",
            sts.calls.load(Ordering::Relaxed)
        );
        println!("| busiest second | {busiest} |");
        println!(
            "| until all were served | {:.1} s |",
            last.load(Ordering::Relaxed) as f64 / 1000.0
        );
        println!("| served | {} |", done.load(Ordering::Relaxed));

        let calls: Vec<(f64, f64)> = per_second
            .iter()
            .enumerate()
            .map(|(i, calls)| (i as f64, *calls as f64))
            .collect();
        let path = chart::path("pool-storm.svg");
        let limit = format!("sts_rate_limit {RATE_LIMIT}");
        match chart::lines(
            &path,
            &format!("Cold storm: {tenants} tenants asked for at once"),
            ("simulated seconds", "AssumeRole calls per second"),
            &[("AssumeRole calls", calls.as_slice())],
            Some((f64::from(RATE_LIMIT), limit.as_str())),
            &[],
        ) {
            Ok(()) => println!("chart: {}", path.display()),
            Err(e) => eprintln!("chart {} not written: {e}", path.display()),
        }
    });
}

/// What each way of giving SDK clients a tenant's credentials costs: an STS client per tenant
/// (its bytes), or one shared client with the tenant's credentials per request
/// (`config_override`, its time per request against the plain client's, in one run).
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn clients() {
    const CLIENTS: usize = 1_000;
    const REQUESTS: u32 = 2_000;
    let runtime = runtime();
    let config = wall_config();
    runtime.block_on(async {
        let pool = pool(&config, 10);
        let tenant = held(&pool, 1).await.remove(0);
        let sdk = config
            .to_builder()
            .endpoint_url("http://sts.pool.invalid")
            .build();
        let before = live();
        let per_tenant: Vec<aws_sdk_sts::Client> = (0..CLIENTS)
            .map(|_| {
                aws_sdk_sts::Client::from_conf(
                    aws_sdk_sts::config::Builder::from(&sdk)
                        .credentials_provider(tenant.clone())
                        .build(),
                )
            })
            .collect();
        let bytes = (live() - before) as f64 / CLIENTS as f64;
        let shared = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&sdk)
                .identity_cache(aws_sdk_sts::config::IdentityCache::no_cache())
                .build(),
        );
        let request = |client: &aws_sdk_sts::Client| {
            client
                .assume_role()
                .role_arn("arn:aws:iam::111111111111:role/data")
                .role_session_name("bench")
        };
        let mut times = [Duration::ZERO; 2];
        // Interleaved rounds, so that both see the same machine.
        for _ in 0..5 {
            let started = std::time::Instant::now();
            for _ in 0..REQUESTS {
                request(&per_tenant[0]).send().await.unwrap();
            }
            times[0] += started.elapsed();
            let started = std::time::Instant::now();
            for _ in 0..REQUESTS {
                request(&shared)
                    .customize()
                    .config_override(
                        aws_sdk_sts::config::Builder::default()
                            .credentials_provider(tenant.clone()),
                    )
                    .send()
                    .await
                    .unwrap();
            }
            times[1] += started.elapsed();
        }
        let per_request = |t: Duration| t.as_secs_f64() * 1e6 / f64::from(REQUESTS * 5);
        println!();
        println!("| SDK clients and tenants | cost |");
        println!("|---|---|");
        println!("| an `aws_sdk_sts::Client` per tenant | {bytes:.0} bytes per client |");
        println!(
            "| a request on a tenant's own client | {:.1} µs |",
            per_request(times[0])
        );
        println!(
            "| a request on a shared client with `config_override` | {:.1} µs ({:.2}×) |",
            per_request(times[1]),
            times[1].as_secs_f64() / times[0].as_secs_f64()
        );
        drop(per_tenant);
    });
}

/// `CALLGRIND_CALLS=<tenant|provider>:<n>`: makes `n` cached calls of a tenant (one held) or
/// of a provider over the same chain and exits, for `valgrind --tool=callgrind` to count
/// instructions: the count of `n` calls less that of 0 calls is the cost of `n` calls.
fn count_calls(spec: &str) {
    let (which, n) = spec.split_once(':').expect("CALLGRIND_CALLS=<which>:<n>");
    let n: u64 = n.parse().expect("a number of calls");
    let runtime = runtime();
    let config = wall_config();
    runtime.block_on(async {
        let pool = pool(&config, 10);
        let tenant = held(&pool, 1).await.remove(0);
        let provider = provider(&config);
        provider.credentials().await.unwrap();
        for _ in 0..n {
            match which {
                "tenant" => drop(black_box(tenant.credentials().await)),
                "provider" => drop(black_box(provider.credentials().await)),
                other => panic!("no {other}"),
            }
        }
    });
}

fn main() {
    if let Ok(spec) = std::env::var("CALLGRIND_CALLS") {
        return count_calls(&spec);
    }
    let only = std::env::var("POOL_BENCH").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only == part;
    if run("storm") {
        cold_storm(10_000);
    }
    if run("fleet") {
        fleet(10_000, 6);
    }
    if run("memory") {
        memory();
    }
    if run("clients") {
        clients();
    }
    if run("cached") {
        let mut criterion = Criterion::default().configure_from_args();
        cached(&mut criterion);
        criterion.final_summary();
    }
}
