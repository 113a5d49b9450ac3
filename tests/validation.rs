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

/// A role with one wrong setting, as the second hop (where durations over an hour are refused
/// too): refused naming `field` and hop 1.
fn wrong_at_hop_1((role, field): (Role, &str)) {
    let err = build_with(vec![Role::new(OK), role]).unwrap_err();
    assert_eq!((err.field(), err.hop()), (field, Some(1)), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("role 1 in the chain: {field}: ")),
        "{err}"
    );
}

cases! { sync wrong_at_hop_1:
    a_short_account_in_the_role_arn_is_refused: (Role::new("arn:aws:iam::111:role/x"), "role_arn");
    a_one_character_external_id_is_refused: (Role::new(OK).external_id("x"), "external_id");
    a_session_name_with_a_space_is_refused: (Role::new(OK).session_name("has space"), "session_name");
    two_hours_on_hop_1_are_refused: (Role::new(OK).duration(Duration::from_secs(7200)), "duration");
    a_policy_of_2049_characters_is_refused: (Role::new(OK).policy("p".repeat(2049)), "policy");
    a_policy_arn_that_is_no_arn_is_refused: (Role::new(OK).policy_arns(["not-an-arn"]), "policy_arns");
    a_tag_key_given_twice_is_refused: (Role::new(OK).tag("k", "v").tag("K", "v"), "tags");
    a_transitive_key_without_its_tag_is_refused: (Role::new(OK).transitive_tag_keys(["absent"]), "transitive_tag_keys");
    a_source_identity_starting_aws_is_refused: (Role::new(OK).source_identity("aws:admin"), "source_identity");
}

/// A setting applied to a valid role at hop 0: refused naming `field`, or accepted.
fn bound((field, set, accepted): (&'static str, fn(Role) -> Role, bool)) {
    let got = build_with(vec![set(Role::new(OK))]).err().map(|e| {
        assert_eq!(e.hop(), Some(0));
        e.field().to_owned()
    });
    assert_eq!(got, (!accepted).then(|| field.to_owned()));
}

cases! { sync bound:
    external_id_ab_is_accepted: ("external_id", |r| r.external_id("ab"), true);
    external_id_a_is_refused: ("external_id", |r| r.external_id("a"), false);
    external_id_x_repeat_1224_is_accepted: ("external_id", |r| r.external_id("x".repeat(1224)), true);
    external_id_x_repeat_1225_is_refused: ("external_id", |r| r.external_id("x".repeat(1225)), false);
    external_id_a_b_c_d_e_f_g_h_i_j_is_accepted: ("external_id", |r| r.external_id("a:b/c=d,e.f@g-h_i+j"), true);
    external_id_with_space_is_refused: ("external_id", |r| r.external_id("with space"), false);
    session_name_ab_is_accepted: ("session_name", |r| r.session_name("ab"), true);
    session_name_a_is_refused: ("session_name", |r| r.session_name("a"), false);
    session_name_s_repeat_64_is_accepted: ("session_name", |r| r.session_name("s".repeat(64)), true);
    session_name_s_repeat_65_is_refused: ("session_name", |r| r.session_name("s".repeat(65)), false);
    session_name_a_b_is_refused: ("session_name", |r| r.session_name("a:b"), false);
    policy_is_accepted: ("policy", |r| r.policy("{}"), true);
    policy_is_refused: ("policy", |r| r.policy(""), false);
    policy_p_repeat_2048_is_accepted: ("policy", |r| r.policy("p".repeat(2048)), true);
    policy_p_repeat_2049_is_refused: ("policy", |r| r.policy("p".repeat(2049)), false);
    policy_u_1_is_refused: ("policy", |r| r.policy("\u{1}"), false);
    source_identity_ab_is_accepted: ("source_identity", |r| r.source_identity("ab"), true);
    source_identity_a_is_refused: ("source_identity", |r| r.source_identity("a"), false);
    source_identity_s_repeat_64_is_accepted: ("source_identity", |r| r.source_identity("s".repeat(64)), true);
    source_identity_s_repeat_65_is_refused: ("source_identity", |r| r.source_identity("s".repeat(65)), false);
    source_identity_aws_me_is_refused: ("source_identity", |r| r.source_identity("aws:me"), false);
    source_identity_aws_me_is_refused_2: ("source_identity", |r| r.source_identity("AWS:me"), false);
    source_identity_awsome_is_accepted: ("source_identity", |r| r.source_identity("awsome"), true);
    tag_k_repeat_128_v_repeat_256_is_accepted: ("tags", |r| r.tag("k".repeat(128), "v".repeat(256)), true);
    tag_k_repeat_129_v_is_refused: ("tags", |r| r.tag("k".repeat(129), "v"), false);
    tag_v_is_refused: ("tags", |r| r.tag("", "v"), false);
    tag_k_is_accepted: ("tags", |r| r.tag("k", ""), true);
    tag_k_v_repeat_257_is_refused: ("tags", |r| r.tag("k", "v".repeat(257)), false);
    tag_team_name_n_code_ok_is_accepted: ("tags", |r| r.tag("Team Name", "ünïcode @ ok"), true);
    tag_k_no_semicolons_is_refused: ("tags", |r| r.tag("k", "no;semicolons"), false);
    tag_key_1_tag_key_2_is_refused: ("tags", |r| r.tag("Key", "1").tag("key", "2"), false);
    x_0_50_fold_r_r_i_r_tag_format_k_i_v_is_accepted: ("tags", |r| (0..50).fold(r, |r, i| r.tag(format!("k{i}"), "v")), true);
    x_0_51_fold_r_r_i_r_tag_format_k_i_v_is_refused: ("tags", |r| (0..51).fold(r, |r, i| r.tag(format!("k{i}"), "v")), false);
    tag_team_a_transitive_tag_keys_team_is_accepted: ("transitive_tag_keys", |r| r.tag("team", "a").transitive_tag_keys(["team"]), true);
    transitive_tag_keys_team_is_refused: ("transitive_tag_keys", |r| r.transitive_tag_keys(["team"]), false);
    fifty_transitive_tag_keys_are_accepted: ("transitive_tag_keys", |r| (0..50).fold(r, |r, i| r.tag(format!("k{i}"), "v")).transitive_tag_keys((0..50).map(|i| format!("k{i}"))), true);
    fifty_one_transitive_tag_keys_are_refused: ("transitive_tag_keys", |r| (0..50).fold(r, |r, i| r.tag(format!("k{i}"), "v")).transitive_tag_keys((0..51).map(|i| format!("k{}", i % 50))), false);
    policy_arns_arn_aws_iam_aws_policy_readonlyaccess_is_accepted: ("policy_arns", |r| r.policy_arns(["arn:aws:iam::aws:policy/ReadOnlyAccess"]), true);
    policy_arns_arn_aws_iam_111111111111_policy_team_p_is_accepted: ("policy_arns", |r| r.policy_arns(["arn:aws:iam::111111111111:policy/team/p"]), true);
    policy_arns_readonlyaccess_is_refused: ("policy_arns", |r| r.policy_arns(["ReadOnlyAccess"]), false);
    policy_arns_0_10_map_i_format_arn_aws_iam_aws_policy_p_i_is_accepted: ("policy_arns", |r| r.policy_arns((0..10).map(|i| format!("arn:aws:iam::aws:policy/p{i}"))), true);
    policy_arns_0_11_map_i_format_arn_aws_iam_aws_policy_p_i_is_refused: ("policy_arns", |r| r.policy_arns((0..11).map(|i| format!("arn:aws:iam::aws:policy/p{i}"))), false);
}

/// A duration of `seconds` at `hop`: 900 s to 12 h on the first hop, at most 1 h after.
fn duration_at((hop, seconds, accepted): (usize, u64, bool)) {
    let role = Role::new(OK).duration(Duration::from_secs(seconds));
    let chain = (0..hop).map(|_| Role::new(OK)).chain([role]).collect();
    let got = build_with(chain).err().map(|e| {
        assert_eq!(e.hop(), Some(hop));
        e.field().to_owned()
    });
    assert_eq!(got, (!accepted).then(|| "duration".to_owned()));
}

cases! { sync duration_at:
    duration_of_899_s_on_hop_0_is_refused: (0, 899, false);
    duration_of_900_s_on_hop_0_is_accepted: (0, 900, true);
    duration_of_12_h_on_hop_0_is_accepted: (0, 43_200, true);
    duration_over_12_h_on_hop_0_is_refused: (0, 43_201, false);
    duration_of_900_s_on_hop_1_is_accepted: (1, 900, true);
    duration_of_1_h_on_hop_1_is_accepted: (1, 3600, true);
    duration_over_1_h_on_hop_1_is_refused: (1, 3601, false);
    duration_of_899_s_on_hop_2_is_refused: (2, 899, false);
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
    assert!(
        err.to_string().contains("RoleChainProviderBuilder::assume"),
        "{err}"
    );
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

/// Where the provider's first request goes and how it is signed, for a region set explicitly
/// (before or after `configure`) and one in the `SdkConfig`: (host, signing region, key).
async fn first_request(
    (explicit, explicit_first, configured): (Option<&'static str>, bool, Option<&'static str>),
) -> (String, String, String) {
    let (http_client, request) = aws_smithy_http_client::test_util::capture_request(None);
    let mut config = SdkConfig::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .http_client(http_client)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(base()),
        );
    if let Some(region) = configured {
        config = config.region(Region::new(region));
    }
    let config = config.build();
    let mut builder = RoleChainProvider::builder();
    let explicit = explicit.map(Region::new);
    if let (Some(region), true) = (&explicit, explicit_first) {
        builder = builder.region(region.clone());
    }
    builder = builder.configure(&config);
    if let (Some(region), false) = (explicit, explicit_first) {
        builder = builder.region(region);
    }
    let provider = builder.assume(Role::new(OK)).build().unwrap();
    // The captured request gets an empty answer: only the request is of interest.
    let _ = provider.credentials().await;
    let request = request.expect_request();
    let host = request.uri().split('/').nth(2).unwrap().to_owned();
    let authorization = request.headers().get("authorization").unwrap();
    let scope = authorization.split("Credential=").nth(1).unwrap();
    let parts: Vec<&str> = scope.split(',').next().unwrap().split('/').collect();
    (host, parts[2].to_owned(), parts[0].to_owned())
}

async fn goes_to(
    ((explicit, explicit_first, configured), region): (
        (Option<&'static str>, bool, Option<&'static str>),
        &str,
    ),
) {
    let (host, signing_region, key) = first_request((explicit, explicit_first, configured)).await;
    assert_eq!(host, format!("sts.{region}.amazonaws.com"));
    assert_eq!(signing_region, region);
    assert_eq!(
        key, "AKIDEXAMPLE",
        "signed with the configured base credentials"
    );
}

cases! { goes_to:
    without_a_region_sts_in_us_east_1_is_called: ((None, false, None), "us-east-1");
    the_region_of_configure_is_used: ((None, false, Some("eu-west-1")), "eu-west-1");
    an_explicit_region_set_before_configure_wins: ((Some("us-west-2"), true, Some("eu-west-1")), "us-west-2");
    an_explicit_region_set_after_configure_wins: ((Some("us-west-2"), false, Some("eu-west-1")), "us-west-2");
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

#[test]
fn a_policy_or_a_tag_value_is_shown_only_by_the_rule_it_breaks() {
    let role = || Role::new("arn:aws:iam::111111111111:role/storage");
    let build = |role: Role| {
        RoleChainProvider::builder()
            .base_provider(Credentials::new("AKID", "secret", None, None, "test"))
            .assume(role)
            .build()
            .unwrap_err()
    };
    let policy = format!("{{\"Sid\":\"POLICY-MARKER\"}}{}", " ".repeat(2048));
    let err = build(role().policy(&policy));
    assert_eq!(err.field(), "policy");
    assert!(!err.to_string().contains("POLICY-MARKER"), "{err}");

    let err = build(role().tag("team", "TAG-MARKER;"));
    assert_eq!(err.field(), "tags");
    assert!(err.to_string().contains("\"team\""), "{err}");
    assert!(!err.to_string().contains("TAG-MARKER"), "{err}");

    // A valid policy and tag stay out of another rule's message too.
    let err = build(
        role()
            .policy("{\"Sid\":\"POLICY-MARKER\"}")
            .tag("team", "TAG-MARKER")
            .session_name("a b"),
    );
    assert_eq!(err.field(), "session_name");
    for marker in ["POLICY-MARKER", "TAG-MARKER"] {
        assert!(!err.to_string().contains(marker), "{err}");
        assert!(!format!("{err:?}").contains(marker), "{err:?}");
    }
}
