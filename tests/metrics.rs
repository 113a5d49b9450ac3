//! The metrics, as a meter provider of `aws-smithy-observability` receives them: each instrument
//! reports what happened in a scripted LocalSts run, gauges read the state when collected, every
//! value carries its chain's name and no attribute ever holds a secret, an ExternalId or a role.

mod common;
#[path = "common/meter.rs"]
mod meter;

use std::net::SocketAddr;
use std::time::Duration;

use aws_role_chain::server::CredentialsServer;
use aws_role_chain::test_util::Fault;
use aws_role_chain::{ErrorKind, Role};
use common::*;
use meter::Recorder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
#[cfg(feature = "pool")]
use {
    aws_role_chain::test_util::LocalRole,
    aws_role_chain::{RoleChainPool, RoleChainPoolBuilder},
    aws_types::region::Region,
};

const CALLS: &str = "aws_role_chain.assume_role.calls";
const DURATION: &str = "aws_role_chain.assume_role.duration";
const REFRESHES: &str = "aws_role_chain.refreshes";
const WAITS: &str = "aws_role_chain.credentials.waits";
const ERRORS: &str = "aws_role_chain.credentials.errors";
const TIME_TO_EXPIRY: &str = "aws_role_chain.credentials.time_to_expiry";

#[tokio::test]
async fn a_503_then_success_is_one_unavailable_request_and_one_ok_in_one_refresh() {
    let world = World::new().await;
    let recorder = Recorder::default();
    world.sts.push_faults([Fault::ServiceUnavailable]);
    let provider = world
        .chain(1)
        .configure(&two_attempts())
        .telemetry_provider(recorder.provider())
        .build()
        .unwrap();

    provider.credentials().await.unwrap();

    let broker = [("chain", "broker"), ("hop", "0")];
    let calls = |outcome| recorder.sum(CALLS, &[broker[0], broker[1], ("outcome", outcome)]);
    assert_eq!((calls("unavailable"), calls("ok")), (1.0, 1.0));
    assert_eq!(recorder.of(CALLS, &[]).len(), 2, "{:?}", recorder.values());
    assert_eq!(recorder.of(DURATION, &broker).len(), 2);
    assert!(recorder
        .of(DURATION, &[])
        .iter()
        .all(|s| (0.0..20.0).contains(s)));
    let refreshes = [("trigger", "caller"), ("outcome", "ok")];
    assert_eq!(recorder.sum(REFRESHES, &refreshes), 1.0);
    assert_eq!(recorder.of(REFRESHES, &[]).len(), 1);
    assert_eq!(recorder.sum(WAITS, &[("chain", "broker")]), 1.0);
    assert!(recorder.of(ERRORS, &[]).is_empty());
}

#[tokio::test]
async fn a_cached_call_records_nothing_and_a_refusal_is_counted_by_its_kind() {
    let world = World::new().await;
    let recorder = Recorder::default();
    let provider = world
        .chain(2)
        .telemetry_provider(recorder.provider())
        .build()
        .unwrap();
    provider.credentials().await.unwrap();
    let before = recorder.values().len();
    for _ in 0..100 {
        provider.credentials().await.unwrap();
    }
    assert_eq!(
        recorder.values().len(),
        before,
        "cached calls record nothing"
    );
    // Both hops once, one refresh, one wait.
    assert_eq!(recorder.sum(CALLS, &[("outcome", "ok")]), 2.0);
    assert_eq!(recorder.sum(CALLS, &[("hop", "1")]), 1.0);

    let refused = world
        .chain(1)
        .assume(Role::new(STORAGE).external_id("not-the-storage-id"))
        .configure(&no_retries())
        .telemetry_provider(recorder.provider())
        .name("refused")
        .build()
        .unwrap();
    let err = refused.credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);

    let mine = ("chain", "refused");
    assert_eq!(
        recorder.sum(CALLS, &[mine, ("hop", "1"), ("outcome", "access_denied")]),
        1.0
    );
    assert_eq!(
        recorder.sum(REFRESHES, &[mine, ("outcome", "access_denied")]),
        1.0
    );
    assert_eq!(
        recorder.sum(ERRORS, &[mine, ("kind", "access_denied")]),
        1.0
    );
    assert_eq!(recorder.sum(WAITS, &[mine]), 1.0);
}

#[tokio::test]
async fn time_to_expiry_is_the_credentials_remaining_lifetime_and_stops_with_the_provider() {
    let world = World::new().await;
    let recorder = Recorder::default();
    let provider = world
        .chain(2)
        .telemetry_provider(recorder.provider())
        .build()
        .unwrap();
    recorder.collect();
    assert_eq!(
        recorder.gauge(TIME_TO_EXPIRY),
        None,
        "nothing before the first"
    );

    let credentials = provider.credentials().await.unwrap();
    recorder.collect();

    let left = credentials.expiry().unwrap().duration_since(now()).unwrap();
    let gauge = recorder.gauge(TIME_TO_EXPIRY).unwrap();
    assert!(
        (gauge - left.as_secs_f64()).abs() < 5.0,
        "gauge {gauge} s, credentials {left:?}"
    );
    assert!(gauge > 3000.0, "{gauge}");
    let last = recorder.values().pop().unwrap();
    assert_eq!(
        last.attributes.get("chain").map(String::as_str),
        Some("storage-access")
    );

    drop(provider);
    assert!(recorder.stopped(TIME_TO_EXPIRY));
}

#[tokio::test]
async fn every_value_carries_the_chains_name_and_no_attribute_holds_a_secret_or_a_role() {
    let world = World::new().await;
    let recorder = Recorder::default();
    world.sts.push_faults([Fault::Throttling]);
    let provider = world
        .chain(3)
        .configure(&two_attempts())
        .telemetry_provider(recorder.provider())
        .name("audit-chain")
        .build()
        .unwrap();
    let credentials = provider.credentials().await.unwrap();
    provider.invalidate();
    provider.credentials().await.unwrap();
    let server = CredentialsServer::start(provider.clone()).await.unwrap();
    let (status, _) = http(server.local_addr(), "GET /role-chain/credentials", "").await;
    assert_eq!(status, 401);
    recorder.collect();

    let values = recorder.values();
    assert!(values.len() > 10, "{values:?}");
    let mut secrets: Vec<String> = ROLES
        .iter()
        .flat_map(|(arn, id)| [*arn, *id])
        .map(str::to_owned)
        .collect();
    secrets.extend(world.sts.issued().iter().flat_map(|c| {
        [
            c.access_key_id(),
            c.secret_access_key(),
            c.session_token().unwrap_or("-"),
        ]
        .map(str::to_owned)
    }));
    secrets.push(credentials.secret_access_key().to_owned());
    secrets.extend(
        [
            "111111111111",
            "222222222222",
            "333333333333",
            "444444444444",
        ]
        .map(str::to_owned),
    );
    secrets.push(server.token().to_owned());
    for value in &values {
        assert_eq!(
            value.attributes.get("chain").map(String::as_str),
            Some("audit-chain"),
            "{value:?}"
        );
        for (key, text) in &value.attributes {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{key}={text} holds {secret}"
                );
            }
        }
    }
    assert_eq!(
        recorder.sum("aws_role_chain.server.requests", &[("status", "401")]),
        1.0
    );
    assert_eq!(recorder.sum(REFRESHES, &[("trigger", "invalidation")]), 1.0);
    assert!(recorder.sum(CALLS, &[("outcome", "throttled")]) >= 1.0);
}

#[tokio::test]
async fn a_name_that_is_empty_long_or_not_plain_is_refused_with_its_field() {
    let world = World::new().await;
    for name in ["", "a b", "storage\n", &"x".repeat(65), "ext-id=7f3a;"] {
        let err = world.chain(1).name(name).build().unwrap_err();
        assert_eq!(err.field(), "name", "{name:?}");
        assert!(err.to_string().contains("1 to 64"), "{err}");
    }
    for name in ["tenant-sync.eu-west-1:storage/v2", "s", &"x".repeat(64)] {
        world.chain(1).name(name).build().unwrap();
    }
}

#[cfg(feature = "pool")]
#[tokio::test]
async fn a_pool_counts_its_tenants_refusals_and_turns_under_the_pools_name() {
    let world = World::new().await;
    let recorder = Recorder::default();
    add_customers(&world, 2, BROKER);
    let pool = pool(&world, &recorder)
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .build()
        .unwrap();
    let customer = |n: usize, id: &str| {
        pool.tenant(Role::new(customer_arn(n)).external_id(id))
            .unwrap()
    };
    customer(0, "customer-0").credentials().await.unwrap();
    customer(1, "customer-1").credentials().await.unwrap();
    let refused = customer(1, "customer-0");
    assert_eq!(
        refused.credentials().await.unwrap_err().kind(),
        ErrorKind::AccessDenied
    );
    assert_eq!(
        refused.credentials().await.unwrap_err().kind(),
        ErrorKind::AccessDenied
    );
    recorder.collect();

    let pool_name = [("chain", "pool")];
    assert_eq!(
        recorder.sum(CALLS, &[pool_name[0], ("hop", "0")]),
        1.0,
        "the shared hop once"
    );
    assert_eq!(recorder.sum(CALLS, &[("hop", "1"), ("outcome", "ok")]), 2.0);
    assert_eq!(
        recorder.sum(CALLS, &[("hop", "1"), ("outcome", "access_denied")]),
        1.0
    );
    assert_eq!(
        recorder.sum("aws_role_chain.pool.refusals_served", &pool_name),
        1.0
    );
    assert_eq!(recorder.sum(ERRORS, &[("kind", "access_denied")]), 2.0);
    assert_eq!(
        recorder.sum(WAITS, &pool_name),
        4.0,
        "each first fetch of a tenant or of the broker"
    );
    assert_eq!(
        recorder
            .of("aws_role_chain.pool.queue_wait", &pool_name)
            .len(),
        4
    );
    assert_eq!(recorder.gauge("aws_role_chain.pool.tenants"), Some(3.0));
    assert_eq!(recorder.gauge("aws_role_chain.pool.active"), Some(3.0));
    assert_eq!(
        recorder.gauge("aws_role_chain.pool.allowed_rate"),
        Some(50.0)
    );
    assert!(recorder
        .values()
        .iter()
        .all(|v| v.attributes.get("chain").map(String::as_str) == Some("pool")));
    for value in recorder.values() {
        for text in value.attributes.values() {
            assert!(
                !text.contains("customer-") && !text.contains("55555555555"),
                "{value:?}"
            );
        }
    }
}

#[cfg(feature = "pool")]
#[tokio::test]
async fn a_pool_counts_the_tenants_it_evicts() {
    let world = World::new().await;
    let recorder = Recorder::default();
    add_customers(&world, 3, COMPUTE_USER);
    let pool = pool(&world, &recorder).max_tenants(1).build().unwrap();
    for n in 0..3 {
        let role = Role::new(customer_arn(n)).external_id(format!("customer-{n}"));
        pool.tenant(role).unwrap().credentials().await.unwrap();
    }

    let status = pool.status();

    assert_eq!(status.evictions(), 2);
    let evictions = recorder.sum("aws_role_chain.pool.evictions", &[("chain", "pool")]);
    assert_eq!(evictions, 2.0);
}

/// Customer `n`'s role (`n` below 10), in account `55555555555<n>`.
#[cfg(feature = "pool")]
fn customer_arn(n: usize) -> String {
    format!("arn:aws:iam::55555555555{n}:role/vendor-access")
}

/// `customers` customer roles trusting `principal`, customer `n`'s with the ExternalId
/// `customer-<n>`.
#[cfg(feature = "pool")]
fn add_customers(world: &World, customers: usize, principal: &str) {
    for n in 0..customers {
        world.sts.add_role(
            LocalRole::new(customer_arn(n))
                .trust(principal)
                .external_id(format!("customer-{n}")),
        );
    }
}

/// A pool builder on the world's LocalSts whose metrics `recorder` records.
#[cfg(feature = "pool")]
fn pool(world: &World, recorder: &Recorder) -> RoleChainPoolBuilder {
    RoleChainPool::builder()
        .base_provider(world.compute.clone())
        .endpoint_url(world.sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .telemetry_provider(recorder.provider())
}

/// The only test of this binary that touches the global slot.
#[tokio::test]
async fn the_global_telemetry_provider_is_used_when_none_is_set_even_one_installed_after_build() {
    let world = World::new().await;
    let recorder = Recorder::default();
    let provider = world.chain(1).build().unwrap();
    aws_smithy_observability::global::set_telemetry_provider(recorder.provider()).unwrap();

    provider.credentials().await.unwrap();
    recorder.collect();

    assert_eq!(
        recorder.sum(CALLS, &[("chain", "broker"), ("outcome", "ok")]),
        1.0
    );
    assert!(recorder
        .gauge(TIME_TO_EXPIRY)
        .is_some_and(|left| left > 3000.0));

    // Replaced: the next values, and the gauge, go to the new one.
    let replacement = Recorder::default();
    aws_smithy_observability::global::set_telemetry_provider(replacement.provider()).unwrap();
    provider.invalidate();
    provider.credentials().await.unwrap();
    replacement.collect();
    assert_eq!(
        replacement.sum(REFRESHES, &[("trigger", "invalidation")]),
        1.0
    );
    assert!(replacement.gauge(TIME_TO_EXPIRY).is_some());
    assert!(recorder.stopped(TIME_TO_EXPIRY));
}

/// Sends `request_line` with a loopback `Host` and `headers`; the status and body.
async fn http(addr: SocketAddr, request_line: &str, headers: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head =
        format!("{request_line} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer));
    read.await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
