//! Any builder input either builds or is refused with a `BuildError` naming the setting that is
//! wrong and its hop; nothing panics.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_role_chain::{RefreshPolicy, Role, RoleChainProvider};
use proptest::prelude::*;

/// Cases per property: 1,000, or `PROPTEST_CASES` (as for mutation testing, where a mutant that a
/// rule's test misses must be caught in fewer).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

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

/// Valid settings of the provider itself: an endpoint and every `RefreshPolicy` setter.
#[derive(Clone, Debug)]
struct Common {
    endpoint: String,
    advisory: Option<Duration>,
    mandatory_share: f64,
    jitter: f64,
    backoffs: [(Duration, Duration); 3],
    fetch_timeout: Duration,
}

const TEN_MS: Duration = Duration::from_millis(10);

fn valid_backoff() -> impl Strategy<Value = (Duration, Duration)> {
    (10u64..=43_200_000, 0.0..=1.0f64).prop_map(|(max_ms, share)| {
        let max = Duration::from_millis(max_ms);
        (max.mul_f64(share).max(TEN_MS), max)
    })
}

prop_compose! {
    fn valid_common()(
        endpoint in prop_oneof![
            "https://sts\\.[a-z]{2}-[a-z]{4,7}-[1-3]\\.amazonaws\\.com/?",
            (1u16..).prop_map(|port| format!("http://127.0.0.1:{port}")),
            "http://[a-z]{1,20}(:[0-9]{1,5})?(/[a-z]{0,10})?",
        ],
        advisory in proptest::option::of(0u64..=43_200),
        mandatory_share in 0.0..=1.0f64,
        jitter in 0.0..=1.0f64,
        backoffs in [valid_backoff(), valid_backoff(), valid_backoff()],
        fetch_timeout_ms in 10u64..=43_200_000,
    ) -> Common {
        Common {
            endpoint,
            advisory: advisory.map(Duration::from_secs),
            mandatory_share,
            jitter,
            backoffs,
            fetch_timeout: Duration::from_millis(fetch_timeout_ms),
        }
    }
}

/// One `RefreshPolicy` setting made invalid, with the name its error message must give.
#[derive(Clone, Debug)]
enum PolicyBreak {
    Jitter(f64),
    Advisory(Duration),
    MandatoryAboveAdvisory(Duration),
    Backoff(usize, Duration, Duration),
    FetchTimeout(Duration),
}

impl PolicyBreak {
    fn setter(&self) -> &'static str {
        match self {
            PolicyBreak::Jitter(_) => "jitter",
            PolicyBreak::Advisory(_) => "advisory_window",
            PolicyBreak::MandatoryAboveAdvisory(_) => "mandatory window",
            PolicyBreak::Backoff(0, ..) => "retry_backoff",
            PolicyBreak::Backoff(1, ..) => "urgent_retry_backoff",
            PolicyBreak::Backoff(..) => "invalidation_backoff",
            PolicyBreak::FetchTimeout(_) => "fetch_timeout",
        }
    }
}

fn policy_break() -> impl Strategy<Value = PolicyBreak> {
    let beyond = (43_200_001u64..=u64::MAX / 2_000_000).prop_map(Duration::from_millis);
    let below = (0u64..10_000_000).prop_map(Duration::from_nanos);
    prop_oneof![
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            -1e9..-1e-9f64,
            1.000_001..1e9f64
        ]
        .prop_map(PolicyBreak::Jitter),
        beyond.clone().prop_map(PolicyBreak::Advisory),
        (1u64..=3600).prop_map(|s| PolicyBreak::MandatoryAboveAdvisory(Duration::from_secs(s))),
        (0usize..3, below.clone()).prop_map(|(i, first)| PolicyBreak::Backoff(i, first, TEN_MS)),
        (0usize..3, 11u64..1_000_000).prop_map(|(i, ms)| PolicyBreak::Backoff(
            i,
            Duration::from_millis(ms),
            Duration::from_millis(ms - 1)
        )),
        (0usize..3, beyond.clone()).prop_map(|(i, max)| PolicyBreak::Backoff(i, TEN_MS, max)),
        prop_oneof![below, beyond, Just(Duration::MAX)].prop_map(PolicyBreak::FetchTimeout),
    ]
}

fn refresh_policy(common: &Common, bad: Option<&PolicyBreak>) -> RefreshPolicy {
    let mut backoffs = common.backoffs;
    if let Some(PolicyBreak::Backoff(i, first, max)) = bad {
        backoffs[*i] = (*first, *max);
    }
    let advisory = match bad {
        Some(PolicyBreak::Advisory(window)) => Some(*window),
        _ => common.advisory,
    };
    // The default advisory window is 5 minutes at the least.
    let room = advisory.unwrap_or(Duration::from_secs(300));
    let mandatory = match bad {
        Some(PolicyBreak::MandatoryAboveAdvisory(excess)) => room + *excess,
        _ => room.mul_f64(common.mandatory_share),
    };
    let mut policy = RefreshPolicy::default()
        .mandatory_window(mandatory)
        .jitter(match bad {
            Some(PolicyBreak::Jitter(j)) => *j,
            _ => common.jitter,
        })
        .retry_backoff(backoffs[0].0, backoffs[0].1)
        .urgent_retry_backoff(backoffs[1].0, backoffs[1].1)
        .invalidation_backoff(backoffs[2].0, backoffs[2].1)
        .fetch_timeout(match bad {
            Some(PolicyBreak::FetchTimeout(t)) => *t,
            _ => common.fetch_timeout,
        });
    if let Some(window) = advisory {
        policy = policy.advisory_window(window);
    }
    policy
}

/// One setting made invalid, named by the field `BuildError::field` must report.
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

/// What one generated case breaks: nothing, a role's setting at a hop, the endpoint, or the
/// refresh policy.
#[derive(Clone, Debug)]
enum Break {
    Role(proptest::sample::Index, (&'static str, String)),
    Endpoint(String),
    Policy(PolicyBreak),
}

fn any_break() -> impl Strategy<Value = Option<Break>> {
    proptest::option::of(prop_oneof![
        6 => (any::<proptest::sample::Index>(), corruption()).prop_map(|(i, c)| Break::Role(i, c)),
        1 => prop_oneof![
            "[a-z]{0,10}",
            "(ftp|file|ws)://[a-z]{1,10}",
            "https?://",
            "https?:///[a-z]{0,5}",
            "https?://[a-z]{1,5} [a-z]{1,5}",
        ]
        .prop_map(Break::Endpoint),
        2 => policy_break().prop_map(Break::Policy),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn a_chain_with_one_wrong_setting_is_refused_naming_that_setting_and_hop(
        roles in proptest::collection::vec(valid(), 1..4),
        common in valid_common(),
        bad in any_break(),
    ) {
        let bad_hop = match &bad {
            Some(Break::Role(index, _)) => Some(index.index(roles.len())),
            _ => None,
        };
        let policy_break = match &bad {
            Some(Break::Policy(b)) => Some(b),
            _ => None,
        };
        let endpoint = match &bad {
            Some(Break::Endpoint(url)) => url.clone(),
            _ => common.endpoint.clone(),
        };
        let builder = roles.iter().enumerate().fold(
            RoleChainProvider::builder()
                .base_provider(Credentials::new("AKID", "secret", None, None, "test"))
                .endpoint_url(endpoint)
                .refresh_policy(refresh_policy(&common, policy_break)),
            |builder, (hop, settings)| {
                let corrupt = match &bad {
                    Some(Break::Role(_, c)) if Some(hop) == bad_hop => Some(c),
                    _ => None,
                };
                builder.assume(role(settings, corrupt))
            },
        );
        let expected_field = match &bad {
            None => None,
            Some(Break::Role(_, (field, _))) => Some(*field),
            Some(Break::Endpoint(_)) => Some("endpoint_url"),
            Some(Break::Policy(_)) => Some("refresh_policy"),
        };
        match (builder.build(), expected_field) {
            (Ok(_), None) => {}
            (Err(err), Some(field)) => {
                prop_assert_eq!(err.field(), field, "{}", err);
                prop_assert_eq!(err.hop(), bad_hop, "{}", err);
                if let Some(b) = policy_break {
                    prop_assert!(err.to_string().contains(b.setter()), "{} does not name {}", err, b.setter());
                }
            }
            (Ok(_), Some(_)) => prop_assert!(false, "accepted {:?}", bad),
            (Err(err), None) => prop_assert!(false, "refused a valid chain: {}", err),
        }
    }

    #[test]
    fn arbitrary_input_to_any_setting_never_panics_and_only_that_setting_is_blamed(
        roles in proptest::collection::vec(
            (valid(), [
                proptest::option::weighted(0.15, any::<String>()),
                proptest::option::weighted(0.15, any::<String>()),
                proptest::option::weighted(0.15, any::<String>()),
                proptest::option::weighted(0.15, any::<String>()),
                proptest::option::weighted(0.15, any::<String>()),
                proptest::option::weighted(0.15, any::<String>()),
                proptest::option::weighted(0.15, any::<String>()),
                proptest::option::weighted(0.15, any::<String>()),
            ], proptest::option::weighted(0.15, any::<u64>())),
            1..4,
        ),
        common in valid_common(),
        endpoint in proptest::option::weighted(0.15, any::<String>()),
        jitter in proptest::option::weighted(0.1, any::<f64>()),
        nanos in proptest::option::weighted(0.1, any::<[u64; 9]>()),
    ) {
        // Each role's settings in the order of `Settings`, any of them arbitrary.
        const ROLE_FIELDS: [&str; 8] = [
            "role_arn", "external_id", "session_name", "policy", "policy_arns", "tags",
            "source_identity", "transitive_tag_keys",
        ];
        let mut arbitrary: Vec<(Option<usize>, &str)> = Vec::new();
        let mut builder = RoleChainProvider::builder()
            .base_provider(Credentials::new("AKID", "secret", None, None, "test"));
        for (hop, (settings, text, seconds)) in roles.iter().enumerate() {
            let pick = |i: usize, good: &str| text[i].clone().unwrap_or_else(|| good.to_owned());
            for (i, field) in ROLE_FIELDS.iter().enumerate() {
                if text[i].is_some() {
                    arbitrary.push((Some(hop), field));
                    // A tag key is checked as a transitive tag key too.
                    if i == 5 {
                        arbitrary.push((Some(hop), "transitive_tag_keys"));
                    }
                }
            }
            if seconds.is_some() {
                arbitrary.push((Some(hop), "duration"));
            }
            let tag_key = pick(5, &settings.tag.0);
            builder = builder.assume(
                Role::new(pick(0, &settings.arn))
                    .external_id(pick(1, &settings.external_id))
                    .session_name(pick(2, &settings.session_name))
                    .duration(Duration::from_secs(seconds.unwrap_or(settings.duration)))
                    .policy(pick(3, &settings.policy))
                    .policy_arns([pick(4, &settings.policy_arn)])
                    .tag(tag_key.clone(), settings.tag.1.clone())
                    .source_identity(pick(6, &settings.source_identity))
                    .transitive_tag_keys([pick(7, &tag_key)]),
            );
        }
        if endpoint.is_some() {
            arbitrary.push((None, "endpoint_url"));
        }
        let mut policy = refresh_policy(&common, None);
        if let Some(jitter) = jitter {
            policy = policy.jitter(jitter);
            arbitrary.push((None, "refresh_policy"));
        }
        if let Some(n) = nanos {
            let d = |i: usize| Duration::from_nanos(n[i]);
            policy = policy
                .advisory_window(d(0))
                .mandatory_window(d(1))
                .retry_backoff(d(2), d(3))
                .urgent_retry_backoff(d(4), d(5))
                .invalidation_backoff(d(6), d(7))
                .fetch_timeout(d(8));
            arbitrary.push((None, "refresh_policy"));
        }
        let result = builder
            .endpoint_url(endpoint.unwrap_or(common.endpoint))
            .refresh_policy(policy)
            .build();
        if let Err(err) = result {
            prop_assert!(
                arbitrary.contains(&(err.hop(), err.field())),
                "{} blames a setting that was valid; arbitrary: {:?}", err, arbitrary
            );
        }
    }
}
