//! Chains of one to three hops against LocalSts: signing, ExternalIds, caching, SDK drop-in use.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use aws_role_chain::test_util::{Fault, LocalRole};
use aws_role_chain::{Role, RoleChainProvider};
use aws_smithy_async::time::TimeSource;
use aws_types::region::Region;
use common::*;

#[tokio::test]
async fn one_hop_assumes_the_role_with_the_base_keys_and_its_external_id() {
    let world = World::new().await;
    let provider = world
        .builder()
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .session_name("nightly-export")
                .duration(Duration::from_secs(1800)),
        )
        .build()
        .unwrap();

    let creds = provider.credentials().await.unwrap();

    let calls = world.assume_role_requests();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.status(), 200);
    assert_eq!(call.access_key_id(), Some(world.compute.access_key_id()));
    assert_eq!(call.caller_arn(), Some(COMPUTE_USER));
    assert_eq!(call.param("RoleArn"), Some(BROKER));
    assert_eq!(call.param("ExternalId"), Some(BROKER_EXTERNAL_ID));
    assert_eq!(call.param("RoleSessionName"), Some("nightly-export"));
    assert_eq!(call.param("DurationSeconds"), Some("1800"));
    // Nothing that was not set: no empty lists, no policy, no source identity.
    let mut sent: Vec<&str> = call
        .params()
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    sent.sort_unstable();
    assert_eq!(
        sent,
        [
            "Action",
            "DurationSeconds",
            "ExternalId",
            "RoleArn",
            "RoleSessionName",
            "Version"
        ]
    );
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert!(creds.session_token().is_some());
    assert_eq!(creds.account_id().map(|a| a.as_str()), Some("333333333333"));
    assert!(format!("{creds:?}").contains("RoleChainProvider"));
    let lifetime = creds.expiry().unwrap().duration_since(now()).unwrap();
    assert!(
        lifetime > Duration::from_secs(1700) && lifetime <= Duration::from_secs(1800),
        "{lifetime:?}"
    );
}

#[tokio::test]
async fn each_hop_is_signed_by_the_previous_hops_credentials_with_its_own_external_id() {
    let world = World::new().await;
    let provider = world
        .builder()
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .assume(Role::new(STORAGE).external_id(STORAGE_EXTERNAL_ID))
        .assume(Role::new(AUDIT).external_id(AUDIT_EXTERNAL_ID))
        .build()
        .unwrap();

    let creds = provider.credentials().await.unwrap();

    let calls = world.assume_role_requests();
    let expected = [
        (BROKER, BROKER_EXTERNAL_ID, COMPUTE_USER.to_owned()),
        (STORAGE, STORAGE_EXTERNAL_ID, assumed(BROKER, &calls[0])),
        (AUDIT, AUDIT_EXTERNAL_ID, assumed(STORAGE, &calls[1])),
    ];
    assert_eq!(calls.len(), 3);
    for (call, (role, external_id, caller)) in calls.iter().zip(expected) {
        assert_eq!(call.status(), 200, "{call:?}");
        assert_eq!(call.param("RoleArn"), Some(role));
        assert_eq!(call.param("ExternalId"), Some(external_id));
        assert_eq!(call.caller_arn(), Some(caller.as_str()));
    }
    assert_eq!(
        calls[0].access_key_id(),
        Some(world.compute.access_key_id())
    );
    assert_ne!(calls[1].access_key_id(), calls[2].access_key_id());
    assert_eq!(creds.account_id().map(|a| a.as_str()), Some("444444444444"));
}

/// The assumed-role ARN LocalSts gives a session of `role` named as in `call`.
fn assumed(role: &str, call: &aws_role_chain::test_util::RecordedRequest) -> String {
    let (account, name) = {
        let parts: Vec<&str> = role.split(':').collect();
        (parts[4], parts[5].trim_start_matches("role/"))
    };
    format!(
        "arn:aws:sts::{account}:assumed-role/{name}/{}",
        call.param("RoleSessionName").unwrap()
    )
}

#[tokio::test]
async fn default_session_name_is_stable_and_recognisable() {
    let world = World::new().await;
    let provider = world.two_hops();
    provider.credentials().await.unwrap();
    let names: Vec<String> = world
        .assume_role_requests()
        .iter()
        .map(|c| c.param("RoleSessionName").unwrap().to_owned())
        .collect();
    assert!(names[0].starts_with("aws-role-chain-"), "{names:?}");
    assert!(
        names[0]["aws-role-chain-".len()..].parse::<u64>().is_ok(),
        "{names:?}"
    );
    assert_eq!(names[0], names[1]);
}

#[tokio::test]
async fn optional_parameters_reach_sts() {
    let world = World::new().await;
    let provider = world
        .builder()
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .policy(r#"{"Version":"2012-10-17","Statement":[]}"#)
                .policy_arns(["arn:aws:iam::aws:policy/ReadOnlyAccess"])
                .tag("team", "analytics")
                .tag("cost-center", "42")
                .transitive_tag_keys(["team"])
                .source_identity("alice@example.com"),
        )
        .build()
        .unwrap();
    provider.credentials().await.unwrap();
    let call = &world.assume_role_requests()[0];
    assert_eq!(
        call.param("Policy"),
        Some(r#"{"Version":"2012-10-17","Statement":[]}"#)
    );
    assert_eq!(
        call.param("PolicyArns.member.1.arn"),
        Some("arn:aws:iam::aws:policy/ReadOnlyAccess")
    );
    assert_eq!(call.param("Tags.member.1.Key"), Some("team"));
    assert_eq!(call.param("Tags.member.1.Value"), Some("analytics"));
    assert_eq!(call.param("Tags.member.2.Key"), Some("cost-center"));
    assert_eq!(call.param("TransitiveTagKeys.member.1"), Some("team"));
    assert_eq!(call.param("SourceIdentity"), Some("alice@example.com"));
}

#[tokio::test]
async fn cached_credentials_are_served_without_calling_sts() {
    let world = World::new().await;
    let provider = world.two_hops();
    let first = provider.credentials().await.unwrap();
    for _ in 0..100 {
        let again = provider.credentials().await.unwrap();
        assert_eq!(again.access_key_id(), first.access_key_id());
    }
    let via_trait = provider.provide_credentials().await.unwrap();
    assert_eq!(via_trait.access_key_id(), first.access_key_id());
    assert_eq!(world.assume_role_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_cold_callers_cost_one_assume_role_per_hop() {
    let world = World::new().await;
    let provider = world.two_hops();
    let barrier = Arc::new(tokio::sync::Barrier::new(10_000));
    let callers: Vec<_> = (0..10_000)
        .map(|_| {
            let (provider, barrier) = (provider.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                provider
                    .credentials()
                    .await
                    .map(|c| c.access_key_id().to_owned())
            })
        })
        .collect();
    let mut keys = std::collections::HashSet::new();
    for caller in callers {
        keys.insert(caller.await.unwrap().unwrap());
    }
    assert_eq!(keys.len(), 1, "every caller got the same credentials");
    let calls = world.assume_role_requests();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.param("RoleArn") == Some(BROKER))
            .count(),
        1
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.param("RoleArn") == Some(STORAGE))
            .count(),
        1
    );
}

#[tokio::test]
async fn an_sts_client_uses_the_provider_as_a_drop_in_credentials_provider() {
    let world = World::new().await;
    let provider = world.two_hops();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(world.sts.endpoint_url())
        .credentials_provider(provider)
        .build();
    let client = aws_sdk_sts::Client::from_conf(config);

    let identity = client.get_caller_identity().send().await.unwrap();

    assert_eq!(identity.account(), Some("111111111111"));
    let arn = identity.arn().unwrap();
    assert!(
        arn.starts_with("arn:aws:sts::111111111111:assumed-role/storage-access/"),
        "{arn}"
    );
}

#[tokio::test]
async fn first_hop_longer_than_an_hour_is_retried_at_one_hour_when_the_base_is_a_role_session() {
    let logs = Capture::default();
    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(logs.clone())
            .finish(),
    );
    let world = World::new().await;
    // The base credentials are themselves a role session, as on an EC2 instance profile.
    world.sts.add_role(LocalRole::new(
        "arn:aws:iam::222222222222:role/instance-profile",
    ));
    world.sts.add_role(
        LocalRole::new(BROKER)
            .external_id(BROKER_EXTERNAL_ID)
            .max_session_duration(Duration::from_secs(12 * 3600)),
    );
    let instance = world
        .builder()
        .assume(Role::new("arn:aws:iam::222222222222:role/instance-profile"))
        .build()
        .unwrap();
    let provider = RoleChainProvider::builder()
        .base_provider(instance)
        .endpoint_url(world.sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .duration(Duration::from_secs(7200)),
        )
        .build()
        .unwrap();

    let creds = provider.credentials().await.unwrap();
    // A later run asks for one hour at once.
    provider.invalidate();
    let again = provider.credentials().await.unwrap();
    assert_ne!(again.access_key_id(), creds.access_key_id());

    let broker_calls: Vec<_> = world
        .assume_role_requests()
        .into_iter()
        .filter(|c| c.param("RoleArn") == Some(BROKER))
        .map(|c| {
            (
                c.param("DurationSeconds").map(str::to_owned),
                c.status(),
                c.error_code().map(str::to_owned),
            )
        })
        .collect();
    let ok = |seconds: &str| (Some(seconds.to_owned()), 200, None);
    assert_eq!(
        broker_calls,
        [
            (
                Some("7200".to_owned()),
                400,
                Some("ValidationError".to_owned())
            ),
            ok("3600"),
            ok("3600"),
        ]
    );
    let expiry = creds.expiry().unwrap();
    assert!(
        expiry <= now() + Duration::from_secs(3600) && expiry > now() + Duration::from_secs(3500)
    );
    let warnings: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| l.contains("WARN"))
        .map(str::to_owned)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("role chaining") && warnings[0].contains("requested_seconds=7200"),
        "{warnings:?}"
    );
}

/// After a refresh of hop 1 fails with `fault`, which roles the next attempt calls.
async fn after_a_failure_at_hop_1((fault, next_attempt): (Fault, &[&str])) {
    let (world, time, builder) = World::on_manual_time().await;
    let twelve_hours = Duration::from_secs(12 * 3600);
    let provider = builder
        .configure(&no_retries())
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .duration(twelve_hours),
        )
        .assume(Role::new(STORAGE).external_id(STORAGE_EXTERNAL_ID))
        .build()
        .unwrap();
    let roles_called = || -> Vec<String> {
        world
            .assume_role_requests()
            .iter()
            .map(|r| r.param("RoleArn").unwrap().to_owned())
            .collect()
    };
    provider.credentials().await.unwrap();
    world.sts.push_faults([fault.clone()]);
    // The refresh of the 1-hour hop, 45 minutes in, reusing the 12-hour hop: it fails. The
    // clock moves to the refresh point and no further: a retryable failure is retried after
    // anywhere from 0 to 5 s (full jitter), and a tick past the failure could carry the retry.
    let refresh_point = provider.status().next_refresh().unwrap();
    time.tick(refresh_point.duration_since(time.now()).unwrap())
        .await;
    // STS logs a request as it arrives: wait for the provider to have taken the answer.
    eventually("the refresh fails", || {
        provider.status().consecutive_failures() == 1
    })
    .await;
    assert_eq!(roles_called().len(), 3, "{fault:?}");
    // The next attempt, 5 minutes later at the latest.
    advance_until(
        &time,
        Duration::from_secs(10),
        Duration::from_secs(5 * 60),
        "the next attempt",
        || provider.status().successful_refreshes() == 2,
    )
    .await;
    assert_eq!(roles_called()[3..], *next_attempt, "{fault:?}");
    let signer = world.assume_role_requests()[3]
        .access_key_id()
        .map(str::to_owned);
    let expected_signer = match next_attempt.len() {
        2 => world.compute.access_key_id().to_owned(),
        _ => world.sts.issued()[0].access_key_id().to_owned(),
    };
    assert_eq!(signer, Some(expected_signer), "{fault:?}: the signer");
}

cases! { manual_time after_a_failure_at_hop_1:
    after_a_non_retryable_failure_the_hop_before_is_fetched_anew: (Fault::MissingCredentials, &[BROKER, STORAGE]);
    after_a_retryable_failure_the_hop_before_is_reused: (Fault::Throttling, &[STORAGE]);
}

/// The roles of the AssumeRole requests so far.
fn roles_called(world: &World) -> Vec<String> {
    world
        .assume_role_requests()
        .iter()
        .map(|r| r.param("RoleArn").unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_held_hop_signs_until_its_mandatory_window_and_not_from_its_first_instant() {
    let (world, time, builder) = World::on_manual_time().await;
    let provider = builder
        .assume(Role::new(BROKER).external_id(BROKER_EXTERNAL_ID))
        .assume(Role::new(STORAGE).external_id(STORAGE_EXTERNAL_ID))
        .build()
        .unwrap();
    // Both sessions last 3599 s here (STS's Date header has whole seconds): the broker's is
    // reusable until 3539 s, 60 s before its expiry.
    provider.credentials().await.unwrap();
    // The storage refresh at 2699 s gets a 1140-s session, refreshed 300 s before it ends: at
    // 3539 s exactly.
    world
        .sts
        .push_faults([Fault::ExpiresIn(Duration::from_secs(1141))]);
    time.tick(Duration::from_secs(2699)).await;
    eventually("run 2", || provider.status().successful_refreshes() == 2).await;
    assert_eq!(
        roles_called(&world),
        [BROKER, STORAGE, STORAGE],
        "reused before"
    );

    time.tick(Duration::from_secs(840)).await;
    eventually("run 3", || provider.status().successful_refreshes() == 3).await;

    assert_eq!(
        roles_called(&world)[3..],
        [BROKER, STORAGE],
        "fetched anew at 3539 s"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn status_reports_each_hops_own_expiry() {
    let (world, _time, builder) = World::on_manual_time().await;
    let provider = builder
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .duration(Duration::from_secs(7200)),
        )
        .assume(
            Role::new(STORAGE)
                .external_id(STORAGE_EXTERNAL_ID)
                .duration(Duration::from_secs(900)),
        )
        .build()
        .unwrap();
    let creds = provider.credentials().await.unwrap();
    drop(world);

    let status = provider.status();
    let numbered: Vec<_> = status
        .hops()
        .iter()
        .map(|h| (h.hop(), h.role_arn()))
        .collect();
    assert_eq!(numbered, [(0, BROKER), (1, STORAGE)]);
    let hops: Vec<_> = status.hops().iter().map(|h| h.expiry()).collect();
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[1], creds.expiry());
    let apart = hops[0].unwrap().duration_since(hops[1].unwrap()).unwrap();
    assert_eq!(apart, Duration::from_secs(7200 - 900));
}

#[tokio::test(flavor = "current_thread")]
async fn credentials_from_an_sts_whose_clock_is_behind_last_what_sts_granted() {
    let (time, sleep) =
        aws_smithy_async::test_util::tick_advance_sleep::tick_advance_time_and_sleep();
    let sts = aws_role_chain::test_util::LocalSts::builder()
        .time_source(time.clone())
        .clock_behind(Duration::from_secs(600))
        .start()
        .await
        .unwrap();
    let world = World::on(sts);
    let provider = world
        .chain(1)
        .time_source(time.clone())
        .sleep_impl(sleep)
        .build()
        .unwrap();
    let asked_at = aws_smithy_async::time::TimeSource::now(&time);

    let creds = provider.credentials().await.unwrap();

    // STS's Expiration is 3000 s after this host's time, but 3600 s after STS's Date header:
    // the hour granted, less the header's one-second resolution.
    let lifetime = creds.expiry().unwrap().duration_since(asked_at).unwrap();
    assert_eq!(lifetime, Duration::from_secs(3599));
}

#[tokio::test]
async fn a_first_hop_longer_than_the_role_allows_is_not_retried_at_one_hour() {
    let world = World::new().await;
    // The broker allows one hour (IAM's default); user keys, so no role chaining.
    let provider = world
        .builder()
        .configure(&no_retries())
        .assume(
            Role::new(BROKER)
                .external_id(BROKER_EXTERNAL_ID)
                .duration(Duration::from_secs(7200)),
        )
        .build()
        .unwrap();

    let err = provider.credentials().await.unwrap_err();

    assert_eq!(
        (err.kind(), err.hop()),
        (aws_role_chain::ErrorKind::InvalidConfiguration, Some(0)),
        "{err}"
    );
    assert!(err.to_string().contains("MaxSessionDuration"), "{err}");
    let calls = world.assume_role_requests();
    assert_eq!(
        calls.len(),
        1,
        "no retry at one hour: not the role-chaining limit"
    );
    assert_eq!(calls[0].param("DurationSeconds"), Some("7200"));
}
