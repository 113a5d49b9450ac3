//! Any builder input either builds the chain it describes or is refused with a `BuildError`
//! naming the setting that is wrong and its hop; nothing panics. Every setter of `Role` is
//! generated, `mfa_serial` included, and the corruptions reach each step of the ARN rules.

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
    mfa_serial: Option<String>,
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
        mfa_serial in proptest::option::of(prop_oneof![
            "arn:aws:iam::[0-9]{12}:mfa/[a-zA-Z0-9_+=,.@-]{1,64}",
            "[A-Z]{4}[0-9]{8}",
        ]),
    ) -> Settings {
        Settings { arn, external_id, session_name, duration, policy, policy_arn, tag, source_identity, mfa_serial }
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

/// `arn:<partition>:<service>:<region>:<account>:<resource>`.
fn arn(partition: &str, service: &str, region: &str, account: &str, resource: &str) -> String {
    format!("arn:{partition}:{service}:{region}:{account}:{resource}")
}

/// A role ARN broken at one step of its rule: the scheme, the number of parts, the partition,
/// the service, the region, the account, the `role/` prefix, the path, the name, the length.
fn broken_role_arn() -> impl Strategy<Value = String> {
    let with = |resource: String| arn("aws", "iam", "", "123456789012", &resource);
    prop_oneof![
        "x[a-z:/]{0,40}",
        "(ARN|arm|urn):aws:iam::[0-9]{12}:role/[a-z]{1,10}",
        "arn:aws:iam::[0-9]{12}",
        "arn:aws:iam:[0-9]{12}:role/[a-z]{1,10}",
        prop_oneof![
            "",
            "aws-",
            "aws-Cn",
            "aws-us-",
            "gcp",
            "aws-[a-z]{1,5}[0-9]"
        ]
        .prop_map(|p| arn(&p, "iam", "", "123456789012", "role/r")),
        prop_oneof!["sts", "s3", "IAM", ""].prop_map(|service| arn(
            "aws",
            &service,
            "",
            "123456789012",
            "role/r"
        )),
        "[a-z]{2}-[a-z]{4}-[1-3]".prop_map(|region| arn(
            "aws",
            "iam",
            &region,
            "123456789012",
            "role/r"
        )),
        prop_oneof!["[0-9]{11}", "[0-9]{13}", "[0-9]{6}[a-z][0-9]{5}", "aws"]
            .prop_map(|account| arn("aws", "iam", "", &account, "role/r")),
        prop_oneof![
            "user/[a-z]{1,10}",
            "policy/[a-z]{1,10}",
            "role",
            "Role/[a-z]{1,10}",
            "role:[a-z]{1,10}"
        ]
        .prop_map(with),
        prop_oneof![
            "role/[a-z]{1,5} [a-z]{1,5}/r",
            "role/[a-z]{1,5}\u{e9}/r",
            Just(format!("role/{}/r", "p".repeat(511))),
        ]
        .prop_map(with),
        prop_oneof![
            "role/[a-z]{1,5}/",
            "role/[a-z]{1,5};[a-z]{1,5}",
            "role/[a-z]{65,70}"
        ]
        .prop_map(with),
        Just(with(format!("role/{}r", "p/".repeat(1020)))),
    ]
}

/// A policy ARN broken at one step of its rule, as [`broken_role_arn`].
fn broken_policy_arn() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,20}",
        "(ARN|arm):aws:iam::aws:policy/[A-Za-z]{1,10}",
        "arn:aws:iam::aws",
        "arn:(aws-|gcp|aws-Cn):iam::aws:policy/[A-Za-z]{1,10}",
        "arn:aws:(sts|s3|IAM)::aws:policy/[A-Za-z]{1,10}",
        "arn:aws:iam:us-east-1:aws:policy/[A-Za-z]{1,10}",
        "arn:aws:iam::(AWS|[0-9]{11}|[a-z]{4,8}):policy/[A-Za-z]{1,10}",
        "arn:aws:iam::aws:(role|user|Policy)/[A-Za-z]{1,10}",
        "arn:aws:iam::aws:policy/([a-z]{1,5}/)?",
        Just(format!("arn:aws:iam::aws:policy/{}", "p".repeat(2030))),
    ]
}

/// One setting made invalid, named by the field `BuildError::field` must report. The field
/// `chained_duration` is a duration over an hour, invalid on every hop but the first (reported
/// as `duration`).
fn corruption() -> impl Strategy<Value = (&'static str, String)> {
    prop_oneof![
        broken_role_arn().prop_map(|v| ("role_arn", v)),
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
        (3601u64..=43_200).prop_map(|d| ("chained_duration", d.to_string())),
        prop_oneof![
            Just(String::new()),
            Just("p".repeat(2049)),
            Just("\u{1}".to_owned())
        ]
        .prop_map(|v| ("policy", v)),
        broken_policy_arn().prop_map(|v| ("policy_arns", v)),
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
        prop_oneof![
            "[A-Z0-9]{0,8}",
            "[A-Z]{4} [0-9]{4}",
            "arn:aws:iam::[0-9]{12}:mfa/[a-z]{1,5}#",
            Just("m".repeat(257)),
        ]
        .prop_map(|v| ("mfa_serial", v)),
    ]
}

fn role(settings: &Settings, bad: Option<&(&'static str, String)>) -> Role {
    let value = |field: &str, good: &str| match bad {
        Some((f, v)) if *f == field => v.clone(),
        _ => good.to_owned(),
    };
    let duration = match bad {
        Some(("duration" | "chained_duration", v)) => v.parse().unwrap(),
        _ => settings.duration,
    };
    let tag_key = value("tags", &settings.tag.0);
    let mfa_serial = match bad {
        Some(("mfa_serial", v)) => Some(v.clone()),
        _ => settings.mfa_serial.clone(),
    };
    let role = Role::new(value("role_arn", &settings.arn))
        .external_id(value("external_id", &settings.external_id))
        .session_name(value("session_name", &settings.session_name))
        .duration(Duration::from_secs(duration))
        .policy(value("policy", &settings.policy))
        .policy_arns([value("policy_arns", &settings.policy_arn)])
        .tag(tag_key.clone(), settings.tag.1.clone())
        .transitive_tag_keys([value("transitive_tag_keys", &tag_key)])
        .source_identity(value("source_identity", &settings.source_identity));
    match mfa_serial {
        Some(serial) => role.mfa_serial(serial),
        None => role,
    }
}

/// A builder with static base credentials and an MFA token provider (never called: nothing is
/// fetched), so that a role with `mfa_serial` builds.
fn builder() -> aws_role_chain::RoleChainProviderBuilder {
    RoleChainProvider::builder()
        .base_provider(Credentials::new("AKID", "secret", None, None, "test"))
        .mfa_token_provider(|_| async { Ok("123456".to_owned()) })
}

/// The provider describes the chain of `arns`, in order.
fn describes(provider: &RoleChainProvider, arns: &[String]) -> Result<(), TestCaseError> {
    let status = provider.status();
    let hops: Vec<(usize, &str)> = status
        .hops()
        .iter()
        .map(|h| (h.hop(), h.role_arn()))
        .collect();
    let expected: Vec<(usize, &str)> = arns.iter().map(String::as_str).enumerate().collect();
    prop_assert_eq!(hops, expected);
    Ok(())
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
            builder()
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
            // Over an hour is role chaining's limit, not the first hop's.
            Some(Break::Role(_, ("chained_duration", _))) if bad_hop == Some(0) => None,
            Some(Break::Role(_, ("chained_duration", _))) => Some("duration"),
            Some(Break::Role(_, (field, _))) => Some(*field),
            Some(Break::Endpoint(_)) => Some("endpoint_url"),
            Some(Break::Policy(_)) => Some("refresh_policy"),
        };
        let arns: Vec<String> = roles.iter().enumerate().map(|(hop, settings)| match &bad {
            Some(Break::Role(_, ("role_arn", v))) if Some(hop) == bad_hop => v.clone(),
            _ => settings.arn.clone(),
        }).collect();
        match (builder.build(), expected_field) {
            (Ok(provider), None) => describes(&provider, &arns)?,
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
        const ROLE_FIELDS: [&str; 9] = [
            "role_arn", "external_id", "session_name", "policy", "policy_arns", "tags",
            "source_identity", "transitive_tag_keys", "mfa_serial",
        ];
        let mut arbitrary: Vec<(Option<usize>, &str)> = Vec::new();
        let mut builder = builder();
        let mut arns = Vec::new();
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
            arns.push(pick(0, &settings.arn));
            let mfa_serial = text[8].clone().or_else(|| settings.mfa_serial.clone());
            let role = Role::new(pick(0, &settings.arn))
                    .external_id(pick(1, &settings.external_id))
                    .session_name(pick(2, &settings.session_name))
                    .duration(Duration::from_secs(seconds.unwrap_or(settings.duration)))
                    .policy(pick(3, &settings.policy))
                    .policy_arns([pick(4, &settings.policy_arn)])
                    .tag(tag_key.clone(), settings.tag.1.clone())
                    .source_identity(pick(6, &settings.source_identity))
                    .transitive_tag_keys([pick(7, &tag_key)]);
            builder = builder.assume(match mfa_serial {
                Some(serial) => role.mfa_serial(serial),
                None => role,
            });
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
        match result {
            Err(err) => prop_assert!(
                arbitrary.contains(&(err.hop(), err.field())),
                "{} blames a setting that was valid; arbitrary: {:?}", err, arbitrary
            ),
            Ok(provider) => describes(&provider, &arns)?,
        }
    }
}

/// Each step of the ARN rules, and the other rules the properties reach only now and then,
/// refuses its own corruption on every run, whatever the properties' draws.
#[test]
fn each_step_of_the_arn_rules_refuses_its_own_corruption() {
    let long_path = format!("arn:aws:iam::123456789012:role/{}/r", "p".repeat(511));
    let long_policy = format!("arn:aws:iam::aws:policy/{}", "p".repeat(2030));
    let cases: [(&str, &str); 22] = [
        ("role_arn", "ARN:aws:iam::123456789012:role/r"),
        ("role_arn", "arn:aws:iam::123456789012"),
        ("role_arn", "arn:aws-Cn:iam::123456789012:role/r"),
        ("role_arn", "arn:aws-:iam::123456789012:role/r"),
        ("role_arn", "arn:aws:sts::123456789012:role/r"),
        ("role_arn", "arn:aws:iam:us-east-1:123456789012:role/r"),
        ("role_arn", "arn:aws:iam::12345678901:role/r"),
        ("role_arn", "arn:aws:iam::aws:role/r"),
        ("role_arn", "arn:aws:iam::123456789012:user/r"),
        ("role_arn", "arn:aws:iam::123456789012:role/team one/r"),
        ("role_arn", &long_path),
        ("role_arn", "arn:aws:iam::123456789012:role/team/"),
        ("role_arn", "arn:aws:iam::123456789012:role/r;x"),
        ("policy_arns", "ARN:aws:iam::aws:policy/p"),
        ("policy_arns", "arn:gcp:iam::aws:policy/p"),
        ("policy_arns", "arn:aws:s3::aws:policy/p"),
        ("policy_arns", "arn:aws:iam:us-east-1:aws:policy/p"),
        ("policy_arns", "arn:aws:iam::AWS:policy/p"),
        ("policy_arns", "arn:aws:iam::aws:role/p"),
        ("policy_arns", "arn:aws:iam::aws:policy/team/"),
        ("policy_arns", &long_policy),
        ("mfa_serial", "GAHT 1234"),
    ];
    let good = Role::new("arn:aws:iam::123456789012:role/r");
    for (field, value) in cases {
        let role = match field {
            "role_arn" => Role::new(value),
            "policy_arns" => good.clone().policy_arns([value]),
            _ => good.clone().mfa_serial(value),
        };
        let err = builder()
            .assume(good.clone())
            .assume(role)
            .build()
            .unwrap_err();
        assert_eq!((err.field(), err.hop()), (field, Some(1)), "{value}: {err}");
    }
    let chained = good.clone().duration(Duration::from_secs(3601));
    let err = builder()
        .assume(good.clone())
        .assume(chained.clone())
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.hop()), ("duration", Some(1)), "{err}");
    builder()
        .assume(chained)
        .build()
        .expect("over an hour on the first hop");
}
