//! The credentials server: requests per second and latency percentiles of the endpoint over
//! keep-alive connections, next to one AssumeRole against LocalSts measured in the same run; and
//! the STS calls of N processes sharing one endpoint against N processes each running the
//! chain, over 8 simulated hours. Prints tables.
//!
//! ```text
//! cargo bench --bench server
//! ```

mod support;

use std::time::Duration;

use aws_role_chain::server::CredentialsServer;
use aws_role_chain::{RefreshPolicy, Role};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::{eventually, percentile, stopwatch, Bench, World, ROLES};

/// Concurrent keep-alive connections, and requests each.
const CONNECTIONS: usize = 16;
const REQUESTS_PER_CONNECTION: usize = 2_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(endpoint());
    runtime.block_on(sharing());
}

/// Requests per second and latency of the endpoint, and one AssumeRole for comparison.
async fn endpoint() {
    let world = World::new().await;
    let provider = world.ours(2);
    provider.credentials().await.unwrap();
    let server = CredentialsServer::start(provider).await.unwrap();

    // One AssumeRole by the SDK's STS client, against LocalSts on the same loopback stack.
    let assume_role = {
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_types::region::Region::new("us-east-1"))
                .endpoint_url(world.sts.endpoint_url())
                .credentials_provider(world.compute.clone())
                .build(),
        );
        let mut took = Vec::new();
        for _ in 0..200 {
            let started = stopwatch();
            sts.assume_role()
                .role_arn(ROLES[0].0)
                .external_id(ROLES[0].1)
                .role_session_name("bench")
                .send()
                .await
                .unwrap();
            took.push(started.elapsed());
        }
        took
    };
    let calls_before = world.assume_role_calls();

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let (url, token) = (server.url(), server.token().to_owned());
    let (mut alone, _) = load(&client, &url, &token, 1).await;
    let (mut loaded, elapsed) = load(&client, &url, &token, CONNECTIONS).await;
    alone.sort_unstable();
    loaded.sort_unstable();
    let mut assume_role = assume_role;
    assume_role.sort_unstable();
    let per_second = |n: usize, took: Duration| n as f64 / took.as_secs_f64();
    let sequential: Duration = assume_role.iter().sum();

    println!("| measure | credentials server | one AssumeRole (LocalSts) |");
    println!("|---|---|---|");
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        println!(
            "| {name} latency, one request at a time | {:?} | {:?} |",
            percentile(&alone, p),
            percentile(&assume_role, p)
        );
    }
    println!(
        "| requests per second | {:.0} ({CONNECTIONS} keep-alive connections) | {:.0} (one at a time) |",
        per_second(loaded.len(), elapsed),
        per_second(assume_role.len(), sequential)
    );
    println!(
        "| p99 latency, {CONNECTIONS} connections at once | {:?} | |",
        percentile(&loaded, 0.99)
    );
    println!(
        "| AssumeRole calls while serving {} requests | {} | |",
        alone.len() + loaded.len(),
        world.assume_role_calls() - calls_before
    );
    server.shutdown().await;
}

/// `connections` keep-alive connections making `REQUESTS_PER_CONNECTION` requests each: every
/// request's latency, and the time for all.
async fn load(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    url: &str,
    token: &str,
    connections: usize,
) -> (Vec<Duration>, Duration) {
    let started = stopwatch();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
            tokio::spawn(async move {
                let mut took = Vec::with_capacity(REQUESTS_PER_CONNECTION);
                for _ in 0..REQUESTS_PER_CONNECTION {
                    let request = http::Request::get(&url)
                        .header("authorization", &token)
                        .body(Empty::new())
                        .unwrap();
                    let sent = stopwatch();
                    let response = client.request(request).await.unwrap();
                    assert_eq!(response.status(), 200);
                    response.into_body().collect().await.unwrap();
                    took.push(sent.elapsed());
                }
                took
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    (latencies, started.elapsed())
}

/// STS calls over 8 simulated hours: N processes behind one endpoint (one provider) against N
/// processes each with its own provider.
async fn sharing() {
    println!();
    println!("| processes | AssumeRole calls in 8 h, one shared endpoint | each running the chain | ratio |");
    println!("|---|---|---|---|");
    for processes in [1usize, 10, 100] {
        let shared = calls_in_eight_hours(1).await;
        let separate = calls_in_eight_hours(processes).await;
        println!(
            "| {processes} | {shared} | {separate} | {:.0}× |",
            separate as f64 / shared as f64
        );
    }
}

/// The AssumeRole calls of `providers` two-hop providers over 8 hours of manual time.
async fn calls_in_eight_hours(providers: usize) -> usize {
    let (time, sleep) =
        aws_smithy_async::test_util::tick_advance_sleep::tick_advance_time_and_sleep();
    let world = World::with_clock(time.clone()).await;
    let chain: Vec<_> = (0..providers)
        .map(|_| {
            ROLES[..2]
                .iter()
                .fold(world.builder(), |builder, (arn, id)| {
                    builder.assume(Role::new(*arn).external_id(*id))
                })
                .time_source(time.clone())
                .sleep_impl(sleep.clone())
                // Simulated time jumps 5 minutes at a time: a run in flight is not timed out.
                .refresh_policy(RefreshPolicy::default().fetch_timeout(Duration::from_secs(3600)))
                .build()
                .unwrap()
        })
        .collect();
    for provider in &chain {
        provider.credentials().await.unwrap();
    }
    for _ in 0..(8 * 12) {
        time.tick(Duration::from_secs(300)).await;
        let now = aws_smithy_async::time::TimeSource::now(&time);
        // The refreshes that came due reach LocalSts and come back before time moves on.
        eventually("the refreshes due are made", || {
            chain
                .iter()
                .all(|p| p.status().next_refresh().is_some_and(|next| next > now))
        })
        .await;
    }
    for provider in &chain {
        let status = provider.status();
        assert!(status.consecutive_failures() == 0, "{status:?}");
    }
    world.assume_role_calls()
}
