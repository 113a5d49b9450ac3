//! `build()` checks everything before any request; each failure names its field and hop.

mod common;

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_role_chain::{BuildError, Role, RoleChainProvider};
use aws_smithy_async::time::StaticTimeSource;
use aws_types::region::Region;
use aws_types::SdkConfig;
use common::*;

fn base() -> Credentials {
    Credentials::new("AKIDEXAMPLE", "secret", None, None, "test")
}

fn build_with(roles: Vec<Role>) -> Result<RoleChainProvider, BuildError> {
    roles
        .into_iter()
        .fold(
            RoleChainProvider::builder().base_provider(base()),
            |b, r| b.assume(r),
        )
        .build()
}

const OK: &str = "arn:aws:iam::111111111111:role/ok";

#[test]
fn every_role_field_is_checked_and_named_with_its_hop() {
    let cases: Vec<(Role, &str)> = vec![
        (Role::new("arn:aws:iam::111:role/x"), "role_arn"),
        (Role::new(OK).external_id("x"), "external_id"),
        (Role::new(OK).session_name("has space"), "session_name"),
        (
            Role::new(OK).duration(Duration::from_secs(7200)),
            "duration",
        ),
        (Role::new(OK).policy("p".repeat(2049)), "policy"),
        (Role::new(OK).policy_arns(["not-an-arn"]), "policy_arns"),
        (Role::new(OK).tag("k", "v").tag("K", "v"), "tags"),
        (
            Role::new(OK).transitive_tag_keys(["absent"]),
            "transitive_tag_keys",
        ),
        (
            Role::new(OK).source_identity("aws:admin"),
            "source_identity",
        ),
    ];
    for (role, field) in cases {
        // The bad role is the second hop, where durations over an hour are refused too.
        let err = build_with(vec![Role::new(OK), role]).unwrap_err();
        assert_eq!((err.field(), err.hop()), (field, Some(1)), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("role 1 in the chain: {field}: ")),
            "{err}"
        );
    }
}

#[test]
fn every_bound_is_checked_on_both_sides() {
    // (field, setter applied to a valid role, accepted?)
    type Case = (&'static str, fn(Role) -> Role, bool);
    let cases: &[Case] = &[
        ("external_id", |r| r.external_id("ab"), true),
        ("external_id", |r| r.external_id("a"), false),
        ("external_id", |r| r.external_id("x".repeat(1224)), true),
        ("external_id", |r| r.external_id("x".repeat(1225)), false),
        (
            "external_id",
            |r| r.external_id("a:b/c=d,e.f@g-h_i+j"),
            true,
        ),
        ("external_id", |r| r.external_id("with space"), false),
        ("session_name", |r| r.session_name("ab"), true),
        ("session_name", |r| r.session_name("a"), false),
        ("session_name", |r| r.session_name("s".repeat(64)), true),
        ("session_name", |r| r.session_name("s".repeat(65)), false),
        ("session_name", |r| r.session_name("a:b"), false),
        ("policy", |r| r.policy("{}"), true),
        ("policy", |r| r.policy(""), false),
        ("policy", |r| r.policy("p".repeat(2048)), true),
        ("policy", |r| r.policy("p".repeat(2049)), false),
        ("policy", |r| r.policy("\u{1}"), false),
        ("source_identity", |r| r.source_identity("ab"), true),
        ("source_identity", |r| r.source_identity("a"), false),
        (
            "source_identity",
            |r| r.source_identity("s".repeat(64)),
            true,
        ),
        (
            "source_identity",
            |r| r.source_identity("s".repeat(65)),
            false,
        ),
        ("source_identity", |r| r.source_identity("aws:me"), false),
        ("source_identity", |r| r.source_identity("AWS:me"), false),
        ("source_identity", |r| r.source_identity("awsome"), true),
        ("tags", |r| r.tag("k".repeat(128), "v".repeat(256)), true),
        ("tags", |r| r.tag("k".repeat(129), "v"), false),
        ("tags", |r| r.tag("", "v"), false),
        ("tags", |r| r.tag("k", ""), true),
        ("tags", |r| r.tag("k", "v".repeat(257)), false),
        ("tags", |r| r.tag("Team Name", "ünïcode @ ok"), true),
        ("tags", |r| r.tag("k", "no;semicolons"), false),
        ("tags", |r| r.tag("Key", "1").tag("key", "2"), false),
        (
            "tags",
            |r| (0..50).fold(r, |r, i| r.tag(format!("k{i}"), "v")),
            true,
        ),
        (
            "tags",
            |r| (0..51).fold(r, |r, i| r.tag(format!("k{i}"), "v")),
            false,
        ),
        (
            "transitive_tag_keys",
            |r| r.tag("team", "a").transitive_tag_keys(["team"]),
            true,
        ),
        (
            "transitive_tag_keys",
            |r| r.transitive_tag_keys(["team"]),
            false,
        ),
        (
            "policy_arns",
            |r| r.policy_arns(["arn:aws:iam::aws:policy/ReadOnlyAccess"]),
            true,
        ),
        (
            "policy_arns",
            |r| r.policy_arns(["arn:aws:iam::111111111111:policy/team/p"]),
            true,
        ),
        ("policy_arns", |r| r.policy_arns(["ReadOnlyAccess"]), false),
        (
            "policy_arns",
            |r| r.policy_arns((0..10).map(|i| format!("arn:aws:iam::aws:policy/p{i}"))),
            true,
        ),
        (
            "policy_arns",
            |r| r.policy_arns((0..11).map(|i| format!("arn:aws:iam::aws:policy/p{i}"))),
            false,
        ),
    ];
    for (i, (field, set, accepted)) in cases.iter().enumerate() {
        let got = build_with(vec![set(Role::new(OK))]).err().map(|e| {
            assert_eq!(e.hop(), Some(0));
            e.field().to_owned()
        });
        let expected = (!accepted).then(|| field.to_string());
        assert_eq!(got, expected, "case {i} ({field})");
    }
}

#[test]
fn duration_limits_are_12_hours_on_the_first_hop_and_1_hour_after() {
    let secs = |s| Role::new(OK).duration(Duration::from_secs(s));
    for (hop, seconds, accepted) in [
        (0, 899, false),
        (0, 900, true),
        (0, 43_200, true),
        (0, 43_201, false),
        (1, 900, true),
        (1, 3600, true),
        (1, 3601, false),
        (2, 899, false),
    ] {
        let expected = (!accepted).then(|| "duration".to_owned());
        let chain = (0..hop)
            .map(|_| Role::new(OK))
            .chain([secs(seconds)])
            .collect();
        let got = build_with(chain).err().map(|e| {
            assert_eq!(e.hop(), Some(hop));
            e.field().to_owned()
        });
        assert_eq!(got, expected, "hop {hop}, {seconds} s");
    }
}

#[test]
fn a_chained_hop_over_an_hour_is_refused_naming_role_chaining() {
    let err = build_with(vec![
        Role::new(OK),
        Role::new(OK).duration(Duration::from_secs(3601)),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("role chaining"), "{err}");
}

#[test]
fn a_chain_without_roles_is_refused() {
    let err = RoleChainProvider::builder()
        .base_provider(base())
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.hop()), ("roles", None));
    assert!(err.to_string().contains("Builder::assume"), "{err}");
}

#[test]
fn a_chain_without_base_credentials_is_refused() {
    let err = RoleChainProvider::builder()
        .assume(Role::new(OK))
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.hop()), ("base_provider", None));
    let empty = SdkConfig::builder().build();
    let err = RoleChainProvider::builder()
        .configure(&empty)
        .assume(Role::new(OK))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "base_provider");
}

#[test]
fn a_malformed_endpoint_url_is_refused() {
    let err = RoleChainProvider::builder()
        .base_provider(base())
        .endpoint_url("localhost:4566")
        .assume(Role::new(OK))
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.hop()), ("endpoint_url", None));
    assert!(err.to_string().contains("localhost:4566"), "{err}");
}

#[test]
fn base_credentials_may_come_from_configure() {
    let config = SdkConfig::builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(base()),
        )
        .region(Region::new("eu-west-1"))
        .build();
    assert!(RoleChainProvider::builder()
        .configure(&config)
        .assume(Role::new(OK))
        .build()
        .is_ok());
}

#[test]
fn the_first_failing_hop_is_reported() {
    let err = build_with(vec![Role::new(OK), Role::new("bad"), Role::new("worse")]).unwrap_err();
    assert_eq!(err.hop(), Some(1));
}

/// Explicit settings win over `configure`, whichever comes first.
#[tokio::test]
async fn explicit_settings_win_over_configure_in_either_order() {
    let world = World::new().await;
    let wrong_keys = Credentials::new("AKIAWRONGWRONGWRONG0", "wrong", None, None, "test");
    let config = SdkConfig::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(wrong_keys),
        )
        .region(Region::new("eu-west-1"))
        .endpoint_url("http://127.0.0.1:1")
        .time_source(StaticTimeSource::from_secs(0))
        .build();
    let role = || Role::new(BROKER).external_id(BROKER_EXTERNAL_ID);
    let before = RoleChainProvider::builder()
        .configure(&config)
        .base_provider(world.compute.clone())
        .endpoint_url(world.sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .assume(role())
        .build()
        .unwrap();
    let after = RoleChainProvider::builder()
        .base_provider(world.compute.clone())
        .endpoint_url(world.sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .assume(role())
        .configure(&config)
        .build()
        .unwrap();
    for provider in [before, after] {
        provider
            .credentials()
            .await
            .expect("explicit settings are used");
    }
    for call in world.assume_role_requests() {
        assert_eq!(call.access_key_id(), Some(world.compute.access_key_id()));
        assert_eq!(call.status(), 200);
    }
}
