//! Scenarios side by side with aws-config's `AssumeRoleProvider` behind the SDK's lazy identity
//! cache, against LocalSts with 200 ms of latency per STS call. Prints a table.
//!
//! ```text
//! cargo bench --bench scenarios
//! ```

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_role_chain::{RefreshPolicy, Role, RoleChainProvider};
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_async::test_util::tick_advance_sleep::tick_advance_time_and_sleep;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::client::identity::Identity;
use support::{eventually, now, percentile, stopwatch, Bench, SdkCache, World, ROLES};

const LATENCY: Duration = Duration::from_millis(200);

/// AssumeRole calls per role, in chain order.
fn calls_per_hop(bench: &World, hops: usize) -> Vec<usize> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for request in bench.sts.requests() {
        if let Some(arn) = request.param("RoleArn") {
            *counts.entry(arn.to_owned()).or_default() += 1;
        }
    }
    ROLES[..hops]
        .iter()
        .map(|(arn, _)| counts.get(*arn).copied().unwrap_or(0))
        .collect()
}

/// One caller's call: its latency, the access key id it got, and whether it waited (its future
/// was not ready when first polled).
struct Call {
    latency: Duration,
    key: String,
    waited: bool,
}

/// Polls `call` once, then to completion: whether it waited, and its output.
async fn waited_for<T>(call: impl Future<Output = T>) -> (bool, T) {
    let mut call = std::pin::pin!(call);
    match futures_util::future::poll_immediate(&mut call).await {
        Some(output) => (false, output),
        None => (true, call.await),
    }
}

/// Runs `callers` calls of `call` at once, each giving an access key id.
async fn concurrent<F, Fut>(callers: usize, call: F) -> Vec<Call>
where
    F: Fn() -> Fut,
    Fut: Future<Output = String> + Send + 'static,
{
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let call = call();
            tokio::spawn(async move {
                let started = stopwatch();
                let (waited, key) = waited_for(call).await;
                Call {
                    latency: started.elapsed(),
                    key,
                    waited,
                }
            })
        })
        .collect();
    let mut results = Vec::with_capacity(callers);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

fn key_of(identity: &Identity) -> String {
    identity
        .data::<Credentials>()
        .unwrap()
        .access_key_id()
        .to_owned()
}

async fn key_from_provider(provider: RoleChainProvider) -> String {
    provider
        .credentials()
        .await
        .unwrap()
        .access_key_id()
        .to_owned()
}

async fn key_from_cache(cache: Arc<SdkCache>) -> String {
    key_of(&cache.identity().await)
}

async fn cold_storm(callers: usize) -> [String; 2] {
    let report = |bench: &World, took: Duration| {
        format!(
            "{:?} per hop, all served in {took:.0?}",
            calls_per_hop(bench, 2)
        )
    };
    let ours = {
        let bench = World::new().await;
        bench.sts.set_latency(LATENCY);
        let provider = bench.ours(2);
        let started = stopwatch();
        concurrent(callers, || key_from_provider(provider.clone())).await;
        report(&bench, started.elapsed())
    };
    let aws_config = {
        let bench = World::new().await;
        bench.sts.set_latency(LATENCY);
        let cache = Arc::new(SdkCache::new(bench.aws_config(2).await));
        let started = stopwatch();
        concurrent(callers, || key_from_cache(cache.clone())).await;
        report(&bench, started.elapsed())
    };
    [ours, aws_config]
}

/// 100 callers arriving while each system refreshes 12-s sessions. This crate refreshes in the
/// background 6 s before expiry (its advisory window, jitter off): the callers come once STS has
/// received that refresh's first request and before it lands. The SDK cache refreshes on the
/// first call within 5 to 10 s of expiry (its jittered buffer): the callers come 4.9 s before
/// expiry, so that the first of them starts the refresh.
async fn refresh_tail(callers: usize) -> [String; 2] {
    let report = |results: Vec<Call>, old_key: &str, in_flight: &str| {
        let old = results.iter().filter(|c| c.key == old_key).count();
        let waited = results.iter().filter(|c| c.waited).count();
        let mut latencies: Vec<Duration> = results.iter().map(|c| c.latency).collect();
        latencies.sort();
        format!(
            "{in_flight}; p50 {:.1?}, p99 {:.1?}, max {:.1?}; {waited} of {callers} waited, {old} got \
             the old credentials",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().unwrap()
        )
    };
    let lifetime = Duration::from_secs(12);
    let until = |expiry: SystemTime, before: u64| {
        (expiry - Duration::from_millis(before))
            .duration_since(now())
            .unwrap_or_default()
    };

    let ours = {
        let bench = World::new().await;
        bench.sts.set_session_lifetime(Some(lifetime));
        bench.sts.set_latency(LATENCY);
        let provider = bench
            .chain(2)
            .refresh_policy(RefreshPolicy::default().jitter(0.0))
            .build()
            .unwrap();
        let first = provider.credentials().await.unwrap();
        // STS logs a request when it arrives, before its 200-ms latency.
        eventually("the refresh's first request", || {
            bench.assume_role_calls() > 2
        })
        .await;
        let in_flight = provider.status().successful_refreshes() == 1;
        let results = concurrent(callers, || key_from_provider(provider.clone())).await;
        let landed = provider.status().successful_refreshes() == 1;
        let in_flight = match (in_flight, landed) {
            (true, true) => "refresh in flight as they came and as they finished",
            (true, false) => "refresh in flight as they came",
            _ => "refresh NOT in flight as they came",
        };
        report(results, first.access_key_id(), in_flight)
    };
    let aws_config = {
        let bench = World::new().await;
        bench.sts.set_session_lifetime(Some(lifetime));
        bench.sts.set_latency(LATENCY);
        let cache = Arc::new(SdkCache::new(bench.aws_config(2).await));
        let first = cache.identity().await;
        tokio::time::sleep(until(first.expiration().unwrap(), 4900)).await;
        let before = bench.assume_role_calls();
        let results = concurrent(callers, || key_from_cache(cache.clone())).await;
        let started = match bench.assume_role_calls() - before {
            2 => "refresh started by the callers",
            0 => "NO refresh during the calls",
            _ => "several refreshes during the calls",
        };
        report(results, &key_of(&first), started)
    };
    [ours, aws_config]
}

/// STS calls to refresh a 3-hop chain whose first two hops are still valid: hops of 12 h, 1 h
/// and 15 min on manual time, 10 minutes on (the last hop's refresh point, jitter off). The
/// nested aws-config providers run the whole chain at each load.
async fn chain_refresh() -> [String; 2] {
    let ours = {
        let (bench, time, builder) = World::on_manual_time().await;
        let minutes = |m: u64| Duration::from_secs(m * 60);
        let provider = ROLES
            .iter()
            .zip([minutes(12 * 60), minutes(60), minutes(15)])
            .fold(builder, |builder, ((arn, id), duration)| {
                builder.assume(Role::new(*arn).external_id(*id).duration(duration))
            })
            .build()
            .unwrap();
        provider.credentials().await.unwrap();
        let before = bench.assume_role_calls();
        time.tick(minutes(10)).await;
        eventually("the refresh", || {
            provider.status().successful_refreshes() == 2
        })
        .await;
        format!("{} AssumeRole call(s)", bench.assume_role_calls() - before)
    };
    let aws_config = {
        let bench = World::new().await;
        let provider = bench.aws_config(3).await;
        provider.provide_credentials().await.unwrap();
        let before = bench.assume_role_calls();
        provider.provide_credentials().await.unwrap();
        format!("{} AssumeRole call(s)", bench.assume_role_calls() - before)
    };
    [ours, aws_config]
}

/// STS calls an hour for a 2-hop chain of 1-hour sessions over `hours` simulated hours, with a
/// caller every simulated minute.
async fn steady_state(hours: u32) -> [String; 2] {
    let minute = Duration::from_secs(60);
    let ours = {
        let (time, sleep) = tick_advance_time_and_sleep();
        let bench = World::with_clock(time.clone()).await;
        let provider = bench
            .chain(2)
            .time_source(time.clone())
            .sleep_impl(sleep)
            .build()
            .unwrap();
        provider.credentials().await.unwrap();
        let mut waited = 0;
        for _ in 0..hours * 60 {
            time.tick(minute).await;
            // Let a refresh that came due finish before the next simulated minute.
            while provider
                .status()
                .next_refresh()
                .is_some_and(|t| t <= time.now())
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let (caller_waited, credentials) = waited_for(provider.credentials()).await;
            credentials.unwrap();
            waited += usize::from(caller_waited);
        }
        (bench.assume_role_calls() as f64 / f64::from(hours), waited)
    };
    let aws_config = {
        let (time, sleep) = tick_advance_time_and_sleep();
        let bench = World::with_clock(time.clone()).await;
        let (time_source, sleep) = (
            SharedTimeSource::new(time.clone()),
            SharedAsyncSleep::new(sleep),
        );
        let provider = bench
            .aws_config_with(2, time_source.clone(), sleep.clone())
            .await;
        let cache = SdkCache::with(provider, time_source, sleep);
        cache.identity().await;
        let mut waited = 0;
        for _ in 0..hours * 60 {
            time.tick(minute).await;
            waited += usize::from(waited_for(cache.identity()).await.0);
        }
        (bench.assume_role_calls() as f64 / f64::from(hours), waited)
    };
    let calls = hours * 60;
    let row = |(per_hour, waited): (f64, usize)| {
        format!("{per_hour:.1} AssumeRole calls an hour; {waited} of {calls} callers waited")
    };
    [row(ours), row(aws_config)]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let rows = [
            ("cold storm, 10,000 callers, 2 hops", cold_storm(10_000).await),
            ("100 callers during a refresh, 2 hops", refresh_tail(100).await),
            ("refresh of a 3-hop chain, first hops valid", chain_refresh().await),
            ("steady state over 6 simulated hours, 1-h sessions, 2 hops", steady_state(6).await),
        ];
        println!("| scenario (STS latency {LATENCY:?}) | aws-role-chain | aws-config AssumeRoleProvider + SDK identity cache |");
        println!("|---|---|---|");
        for (scenario, [ours, theirs]) in rows {
            println!("| {scenario} | {ours} | {theirs} |");
        }
    });
}
