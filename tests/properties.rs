//! Any builder input either builds or is refused with a `BuildError` naming the setting that is
//! wrong and its hop; nothing panics.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_role_chain::{RefreshPolicy, Role, RoleChainProvider};
use proptest::prelude::*;

/// A role whose every setting is valid on any hop.
#[derive(Clone, Debug)]
struct Settings {
    arn: String,
    external_id: String,
    session_name: String,
    duration: u64,
    policy: String,
    policy_arn: String,
    tag: (String, String),
    source_identity: String,
}

prop_compose! {
    fn valid()(
        arn in "arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/([a-z]{1,8}/){0,2}[a-zA-Z0-9_+=,.@-]{1,64}",
        external_id in "[a-zA-Z0-9_+=,.@:/-]{2,80}",
        session_name in "[a-zA-Z0-9_+=,.@-]{2,64}",
        duration in 900u64..=3600,
        policy in "[ -~]{1,300}",
        policy_arn in "arn:aws:iam::(aws|[0-9]{12}):policy/[A-Za-z]{1,20}",
        tag in ("[a-zA-Z0-9_.:/=+@-]{1,128}", "[a-zA-Z0-9 _.:/=+@-]{0,256}"),
        source_identity in "[a-zA-Z0-9_+=,.@-]{2,64}",
    ) -> Settings {
        Settings { arn, external_id, session_name, duration, policy, policy_arn, tag, source_identity }
    }
}

/// One setting made invalid, named by the field `BuildError::field` must report.
fn corruption() -> impl Strategy<Value = (&'static str, String)> {
    prop_oneof![
        "x[a-z:/]{0,40}".prop_map(|v| ("role_arn", v)),
        prop_oneof![
            "[a-z]{0,1}",
            "[a-z]{1,5} [a-z]{1,5}",
            Just("x".repeat(1225))
        ]
        .prop_map(|v| ("external_id", v)),
        prop_oneof!["[a-z]{0,1}", "[a-z]{65,80}", "[a-z]{1,5}:[a-z]{1,5}"]
            .prop_map(|v| ("session_name", v)),
        prop_oneof![
            (0u64..900).prop_map(|d| d.to_string()),
            (43_201u64..100_000).prop_map(|d| d.to_string())
        ]
        .prop_map(|v| ("duration", v)),
        prop_oneof![
            Just(String::new()),
            Just("p".repeat(2049)),
            Just("\u{1}".to_owned())
        ]
        .prop_map(|v| ("policy", v)),
        "[a-z]{1,20}".prop_map(|v| ("policy_arns", v)),
        prop_oneof![
            Just(String::new()),
            Just("k".repeat(129)),
            "[a-z]{1,5};".prop_map(String::from)
        ]
        .prop_map(|v| ("tags", v)),
        // '#' is not a tag key character, so this is never the key of the role's tag.
        "#[a-z]{1,8}".prop_map(|v| ("transitive_tag_keys", v)),
        prop_oneof!["aws:[a-z]{1,10}", "[a-z]{0,1}", "[a-z]{65,70}"]
            .prop_map(|v| ("source_identity", v)),
    ]
}

fn role(settings: &Settings, bad: Option<&(&'static str, String)>) -> Role {
    let value = |field: &str, good: &str| match bad {
        Some((f, v)) if *f == field => v.clone(),
        _ => good.to_owned(),
    };
    let duration = match bad {
        Some(("duration", v)) => v.parse().unwrap(),
        _ => settings.duration,
    };
    let tag_key = value("tags", &settings.tag.0);
    Role::new(value("role_arn", &settings.arn))
        .external_id(value("external_id", &settings.external_id))
        .session_name(value("session_name", &settings.session_name))
        .duration(Duration::from_secs(duration))
        .policy(value("policy", &settings.policy))
        .policy_arns([value("policy_arns", &settings.policy_arn)])
        .tag(tag_key.clone(), settings.tag.1.clone())
        .transitive_tag_keys([value("transitive_tag_keys", &tag_key)])
        .source_identity(value("source_identity", &settings.source_identity))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn a_chain_with_one_wrong_setting_is_refused_naming_that_setting_and_hop(
        roles in proptest::collection::vec(valid(), 1..4),
        bad in proptest::option::of((any::<proptest::sample::Index>(), corruption())),
    ) {
        let bad_hop = bad.as_ref().map(|(index, _)| index.index(roles.len()));
        let builder = roles.iter().enumerate().fold(
            RoleChainProvider::builder().base_provider(Credentials::new("AKID", "secret", None, None, "test")),
            |builder, (hop, settings)| {
                let corrupt = bad.as_ref().filter(|_| Some(hop) == bad_hop).map(|(_, c)| c);
                builder.assume(role(settings, corrupt))
            },
        );
        match (builder.build(), &bad) {
            (Ok(_), None) => {}
            (Err(err), Some((_, (field, _)))) => {
                prop_assert_eq!(err.field(), *field, "{}", err);
                prop_assert_eq!(err.hop(), bad_hop);
            }
            (Ok(_), Some((_, corruption))) => prop_assert!(false, "accepted {:?}", corruption),
            (Err(err), None) => prop_assert!(false, "refused a valid chain: {}", err),
        }
    }

    #[test]
    fn arbitrary_input_never_panics(
        arn in any::<String>(),
        text in any::<String>(),
        seconds in any::<u64>(),
        jitter in any::<f64>(),
        endpoint in any::<String>(),
    ) {
        let role = Role::new(arn)
            .external_id(text.clone())
            .session_name(text.clone())
            .duration(Duration::from_secs(seconds))
            .policy(text.clone())
            .policy_arns([text.clone()])
            .tag(text.clone(), text.clone())
            .transitive_tag_keys([text.clone()])
            .source_identity(text);
        let result = RoleChainProvider::builder()
            .base_provider(Credentials::new("AKID", "secret", None, None, "test"))
            .endpoint_url(endpoint)
            .refresh_policy(RefreshPolicy::default().jitter(jitter))
            .assume(role)
            .build();
        if let Err(err) = result {
            prop_assert!(!err.to_string().is_empty());
        }
    }
}
