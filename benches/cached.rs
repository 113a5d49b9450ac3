//! The cost of a cached call, with 1 and 2 threads: this crate next to the floor (a provider
//! that returns static credentials) and to aws-config's `AssumeRoleProvider` behind the SDK's
//! lazy identity cache, resolved the way an SDK client does before each request; and this
//! crate's call with its metrics going to OpenTelemetry, next to the same call without metrics.
//!
//! ```text
//! cargo bench --bench cached
//! ```

mod support;

use std::future::Future;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use criterion::{criterion_group, Criterion};
use support::{Bench, SdkCache, World};

/// Runs `iters` calls spread over `threads` threads, each with its own runtime, and returns the
/// wall time: with more threads, the aggregate throughput.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn parallel<F, Fut>(threads: usize, iters: u64, call: &F) -> Duration
where
    F: Fn() -> Fut + Sync,
    Fut: Future,
{
    let runtimes: Vec<_> = (0..threads)
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        })
        .collect();
    let barrier = Barrier::new(threads);
    let per_thread = iters / threads as u64;
    std::thread::scope(|scope| {
        let workers: Vec<_> = runtimes
            .iter()
            .map(|runtime| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let started = Instant::now();
                    runtime.block_on(async {
                        for _ in 0..per_thread {
                            black_box(call().await);
                        }
                    });
                    started.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .max()
            .unwrap()
    })
}

/// A provider like `bench.ours(1)` whose metrics go to an OpenTelemetry meter provider, through
/// the SDK's bridge, as an application that exports them has it.
fn metered(bench: &World) -> aws_role_chain::RoleChainProvider {
    let reader = opentelemetry_sdk::metrics::ManualReader::builder().build();
    let otel = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(reader)
        .build();
    let meters = aws_smithy_observability_otel::meter::OtelMeterProvider::new(otel);
    let telemetry = aws_smithy_observability::TelemetryProvider::builder()
        .meter_provider(std::sync::Arc::new(meters))
        .build();
    bench
        .chain(1)
        .telemetry_provider(telemetry)
        .build()
        .unwrap()
}

/// The floor: a provider that returns static credentials.
fn floor() -> SharedCredentialsProvider {
    let credentials = Credentials::new("AKID", "secret", Some("token".into()), None, "static");
    SharedCredentialsProvider::new(credentials)
}

fn cached(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (bench, ours, metered, sdk_ours, sdk_aws_config) = runtime.block_on(async {
        let bench = World::new().await;
        let ours = bench.ours(1);
        ours.credentials().await.unwrap();
        let metered = metered(&bench);
        metered.credentials().await.unwrap();
        let sdk_ours = SdkCache::new(SharedCredentialsProvider::new(ours.clone()));
        sdk_ours.identity().await;
        let sdk_aws_config = SdkCache::new(bench.aws_config(1).await);
        sdk_aws_config.identity().await;
        (bench, ours, metered, sdk_ours, sdk_aws_config)
    });
    let floor = floor();
    let _enter = runtime.enter();

    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("cached call, {threads} thread(s)"));
        group.bench_function("floor: static credentials", |b| {
            b.iter_custom(|iters| parallel(threads, iters, &|| floor.provide_credentials()))
        });
        group.bench_function("RoleChainProvider::credentials", |b| {
            b.iter_custom(|iters| parallel(threads, iters, &|| ours.credentials()))
        });
        group.bench_function(
            "RoleChainProvider::credentials, metrics to OpenTelemetry",
            |b| b.iter_custom(|iters| parallel(threads, iters, &|| metered.credentials())),
        );
        group.bench_function("RoleChainProvider::provide_credentials", |b| {
            b.iter_custom(|iters| parallel(threads, iters, &|| ours.provide_credentials()))
        });
        group.bench_function("RoleChainProvider behind the SDK identity cache", |b| {
            b.iter_custom(|iters| parallel(threads, iters, &|| sdk_ours.identity()))
        });
        group.bench_function(
            "aws-config AssumeRoleProvider behind the SDK identity cache",
            |b| b.iter_custom(|iters| parallel(threads, iters, &|| sdk_aws_config.identity())),
        );
        group.finish();
    }
    drop(bench);
}

/// `CALLGRIND_CALLS=<provider>:<n>`: makes `n` cached calls of one provider (`floor`,
/// `credentials`, `metered`, `provide_credentials`, `aws-config`) and exits, for `valgrind --tool=callgrind`
/// to count instructions: the count of `n` calls less that of 0 calls is the cost of `n` calls,
/// the same on any machine however busy.
fn count_calls(spec: &str) {
    let (which, n) = spec
        .split_once(':')
        .expect("CALLGRIND_CALLS=<provider>:<n>");
    let n: u64 = n.parse().expect("a number of calls");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let bench = World::new().await;
        let ours = bench.ours(1);
        ours.credentials().await.unwrap();
        let metered = metered(&bench);
        metered.credentials().await.unwrap();
        let floor = floor();
        let sdk_aws_config = SdkCache::new(bench.aws_config(1).await);
        sdk_aws_config.identity().await;
        for _ in 0..n {
            match which {
                "floor" => drop(black_box(floor.provide_credentials().await)),
                "credentials" => drop(black_box(ours.credentials().await)),
                "metered" => drop(black_box(metered.credentials().await)),
                "provide_credentials" => drop(black_box(ours.provide_credentials().await)),
                "aws-config" => drop(black_box(sdk_aws_config.identity().await)),
                other => panic!("no provider {other}"),
            }
        }
        drop(bench);
    });
}

criterion_group!(benches, cached);
fn main() {
    match std::env::var("CALLGRIND_CALLS") {
        Ok(spec) => count_calls(&spec),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
