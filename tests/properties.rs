//! Any builder input either builds or is refused with a `BuildError` naming a known field and a
//! hop in range; nothing panics.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_role_chain::{RefreshPolicy, Role, RoleChainProvider};
use proptest::prelude::*;

const FIELDS: &[&str] = &[
    "role_arn",
    "external_id",
    "session_name",
    "duration",
    "policy",
    "policy_arns",
    "tags",
    "transitive_tag_keys",
    "source_identity",
    "roles",
    "base_provider",
    "endpoint_url",
    "refresh_policy",
];

/// Strings near the rules: valid pieces, boundary lengths, and arbitrary text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_+=,.@-]{0,70}",
        "[a-z:/ ]{0,10}",
        any::<String>(),
        Just("x".repeat(1225)),
        Just("aws:reserved".to_owned()),
    ]
}

fn role_arn() -> impl Strategy<Value = String> {
    prop_oneof![
        "arn:aws(-[a-z]{1,6})?:iam::[0-9]{12}:role/[a-zA-Z0-9/_+=,.@-]{0,70}",
        "arn:[a-z-]{0,8}:[a-z]{0,4}:[a-z0-9-]{0,10}:[0-9]{0,13}:[a-z/]{0,12}",
        any::<String>(),
    ]
}

prop_compose! {
    fn role()(
        arn in role_arn(),
        external_id in proptest::option::of(text()),
        session_name in proptest::option::of(text()),
        duration in proptest::option::of(0u64..50_000),
        policy in proptest::option::of(prop_oneof![text(), Just("p".repeat(2049))]),
        policy_arns in proptest::collection::vec(
            prop_oneof!["arn:aws:iam::aws:policy/[A-Za-z]{1,20}", text()], 0..12),
        tags in proptest::collection::vec((text(), text()), 0..52),
        transitive in proptest::collection::vec(text(), 0..3),
        source_identity in proptest::option::of(text()),
    ) -> Role {
        let mut role = Role::new(arn);
        if let Some(id) = external_id { role = role.external_id(id); }
        if let Some(name) = session_name { role = role.session_name(name); }
        if let Some(secs) = duration { role = role.duration(Duration::from_secs(secs)); }
        if let Some(policy) = policy { role = role.policy(policy); }
        role = role.policy_arns(policy_arns);
        for (key, value) in tags { role = role.tag(key, value); }
        role = role.transitive_tag_keys(transitive);
        if let Some(id) = source_identity { role = role.source_identity(id); }
        role
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn any_chain_builds_or_names_a_field_and_hop(
        roles in proptest::collection::vec(role(), 0..4),
        with_base in any::<bool>(),
        endpoint in proptest::option::of(prop_oneof!["https?://[a-z0-9.:]{0,20}", any::<String>()]),
        jitter in prop_oneof![0.0..=1.0f64, any::<f64>()],
    ) {
        let count = roles.len();
        let mut builder = RoleChainProvider::builder()
            .refresh_policy(RefreshPolicy::default().jitter(jitter));
        if with_base {
            builder = builder.base_provider(Credentials::new("AKID", "secret", None, None, "test"));
        }
        if let Some(url) = endpoint {
            builder = builder.endpoint_url(url);
        }
        for role in roles {
            builder = builder.assume(role);
        }
        match builder.build() {
            Ok(_) => prop_assert!(count > 0 && with_base),
            Err(err) => {
                prop_assert!(FIELDS.contains(&err.field()), "unknown field {}", err.field());
                match err.hop() {
                    Some(hop) => prop_assert!(hop < count),
                    None => prop_assert!(["roles", "base_provider", "endpoint_url", "refresh_policy"].contains(&err.field())),
                }
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }
}
