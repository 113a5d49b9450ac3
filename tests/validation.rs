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
fn the_first_hop_may_ask_for_up_to_twelve_hours() {
    assert!(build_with(vec![Role::new(OK).duration(Duration::from_secs(43_200))]).is_ok());
    let err = build_with(vec![Role::new(OK).duration(Duration::from_secs(43_201))]).unwrap_err();
    assert_eq!((err.field(), err.hop()), ("duration", Some(0)));
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
