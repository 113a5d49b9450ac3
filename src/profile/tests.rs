//! Profiles parsed by the SDK's own parser, resolved into chains: one case per rule.

use super::*;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_types::os_shim_internal::{Env, Fs};
use futures_util::FutureExt;

const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
const STORAGE: &str = "arn:aws:iam::111111111111:role/storage";

/// The sections of a config file and a credentials file.
fn files(config: &str, credentials: &str) -> EnvConfigSections {
    let files = EnvConfigFiles::builder()
        .with_contents(EnvConfigFileKind::Config, config)
        .with_contents(EnvConfigFileKind::Credentials, credentials)
        .build();
    let source =
        aws_runtime::env_config::source::load(&Env::from_slice(&[]), &Fs::from_slice(&[]), &files)
            .now_or_never()
            .expect("reading files given by content does not wait")
            .unwrap();
    EnvConfigSections::parse(source).unwrap()
}

const CREDENTIALS: &str = "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = secret\n";

/// (role ARN, ExternalId, session name, duration in seconds, MFA serial) of a hop.
type HopSettings = (
    String,
    Option<String>,
    Option<String>,
    Option<u64>,
    Option<String>,
);

/// The settings of each hop.
fn hops(chain: &ProfileChain) -> Vec<HopSettings> {
    chain
        .roles
        .iter()
        .map(|ProfileRole { role: r, .. }| {
            (
                r.role_arn.clone(),
                r.external_id.as_ref().map(|id| id.expose().to_owned()),
                r.session_name.clone(),
                r.duration.map(|d| d.as_secs()),
                r.mfa_serial.clone(),
            )
        })
        .collect()
}

fn root_key(chain: &ProfileChain) -> &str {
    match &chain.root {
        Root::Keys(keys) => keys.access_key_id(),
        other => panic!("not static keys: {other:?}"),
    }
}

#[test]
fn a_two_profile_chain_runs_from_the_root_with_each_profiles_settings() {
    let config = format!(
        "[profile target]\nrole_arn = {STORAGE}\nsource_profile = broker\nexternal_id = ext-2\n\
         role_session_name = nightly\nduration_seconds = 1800\nregion = eu-west-1\n\
         [profile broker]\nrole_arn = {BROKER}\nsource_profile = base\nexternal_id = ext-1\n\
         mfa_serial = arn:aws:iam::222222222222:mfa/alice\n"
    );
    let chain = resolve(&files(&config, CREDENTIALS), "target").unwrap();
    assert_eq!(
        hops(&chain),
        [
            (
                BROKER.to_owned(),
                Some("ext-1".to_owned()),
                None,
                None,
                Some("arn:aws:iam::222222222222:mfa/alice".to_owned())
            ),
            (
                STORAGE.to_owned(),
                Some("ext-2".to_owned()),
                Some("nightly".to_owned()),
                Some(1800),
                None
            ),
        ]
    );
    assert_eq!(root_key(&chain), "AKIDBASE");
    assert_eq!(chain.region, Some(Region::new("eu-west-1")));
}

#[test]
fn the_default_profile_can_be_the_root() {
    let config = format!("[profile target]\nrole_arn = {BROKER}\nsource_profile = default\n");
    let credentials = "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s\n";
    let chain = resolve(&files(&config, credentials), "target").unwrap();
    assert_eq!(root_key(&chain), "AKIDDEFAULT");
    assert_eq!(chain.roles.len(), 1);
}

#[test]
fn the_credentials_file_wins_over_the_config_file_for_the_same_profile() {
    let config = format!(
        "[profile target]\nrole_arn = {BROKER}\nsource_profile = base\n\
         [profile base]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = s\n"
    );
    let chain = resolve(&files(&config, CREDENTIALS), "target").unwrap();
    assert_eq!(root_key(&chain), "AKIDBASE");
}

#[test]
fn past_the_named_profile_static_keys_end_the_walk() {
    let config = format!(
        "[profile target]\nrole_arn = {STORAGE}\nsource_profile = middle\n\
         [profile middle]\nrole_arn = {BROKER}\nsource_profile = base\n\
         aws_access_key_id = AKIDMIDDLE\naws_secret_access_key = s\n"
    );
    let chain = resolve(&files(&config, CREDENTIALS), "target").unwrap();
    assert_eq!(hops(&chain).len(), 1);
    assert_eq!(chain.roles[0].role.role_arn, STORAGE);
    assert_eq!(root_key(&chain), "AKIDMIDDLE");
}

#[test]
fn a_profile_that_is_its_own_source_assumes_its_role_with_its_own_keys() {
    let config = format!(
        "[profile target]\nrole_arn = {BROKER}\nsource_profile = target\n\
         aws_access_key_id = AKIDSELF\naws_secret_access_key = s\n"
    );
    let chain = resolve(&files(&config, ""), "target").unwrap();
    assert_eq!(chain.roles.len(), 1);
    assert_eq!(root_key(&chain), "AKIDSELF");
}

fn source((value, expected): (&str, CredentialSource)) {
    let config = format!("[profile target]\nrole_arn = {BROKER}\ncredential_source = {value}\n");
    let chain = resolve(&files(&config, ""), "target").unwrap();
    assert!(
        matches!(chain.root, Root::Source(s) if s == expected),
        "{:?}",
        chain.root
    );
}

crate::testing::cases! { source:
    credential_source_environment: ("Environment", CredentialSource::Environment);
    credential_source_instance_metadata: ("Ec2InstanceMetadata", CredentialSource::Ec2InstanceMetadata);
    credential_source_container: ("EcsContainer", CredentialSource::EcsContainer);
    credential_source_in_any_case: ("environment", CredentialSource::Environment);
}

fn provider_root(extra: &str) {
    let config = format!(
        "[profile target]\nrole_arn = {BROKER}\nsource_profile = root\n[profile root]\n{extra}\n"
    );
    let chain = resolve(&files(&config, ""), "target").unwrap();
    assert!(
        matches!(&chain.root, Root::Provider(name) if name == "root"),
        "{:?}",
        chain.root
    );
}

crate::testing::cases! { provider_root:
    a_web_identity_root_is_left_to_the_sdk: "role_arn = arn:aws:iam::222222222222:role/web\nweb_identity_token_file = /token";
    a_credential_process_root_is_left_to_the_sdk: "credential_process = /bin/creds";
    an_sso_root_is_left_to_the_sdk: "sso_session = corp\nsso_account_id = 222222222222\nsso_role_name = dev";
}

#[test]
fn a_root_without_credentials_is_missing() {
    let config = format!("[profile target]\nrole_arn = {BROKER}\nsource_profile = root\n[profile root]\nregion = us-west-2\n");
    let chain = resolve(&files(&config, ""), "target").unwrap();
    assert!(
        matches!(&chain.root, Root::Missing(name) if name == "root"),
        "{:?}",
        chain.root
    );
}

/// Profile `target` of `config` is refused with a message containing `says`.
fn refused_saying((config, says): (&str, &str)) {
    let config = config.replace("BROKER", BROKER);
    let err = resolve(&files(&config, CREDENTIALS), "target").unwrap_err();
    assert_eq!((err.field(), err.hop()), ("profile", None), "{err}");
    assert!(err.to_string().contains(says), "{err}");
}

crate::testing::cases! { refused_saying:
    an_unknown_profile_is_refused_naming_the_known_ones: (
        "[profile other]\nregion = eu-west-1\n",
        "no profile \"target\" in the config or credentials file (named by RoleChainProviderBuilder::profile); the files define: base, other");
    an_unknown_source_profile_is_refused_naming_who_named_it: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = gone\n",
        "no profile \"gone\" in the config or credentials file (named by the source_profile of profile \"target\")");
    a_source_profile_loop_is_refused_showing_the_loop: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = a\n[profile a]\nrole_arn = BROKER\nsource_profile = target\n",
        "loop: target → a → target");
    both_source_profile_and_credential_source_are_refused: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = base\ncredential_source = Environment\n",
        "both source_profile and credential_source");
    a_role_without_a_source_is_refused: (
        "[profile target]\nrole_arn = BROKER\n",
        "neither source_profile nor credential_source");
    an_unknown_credential_source_is_refused: (
        "[profile target]\nrole_arn = BROKER\ncredential_source = Laptop\n",
        "credential_source must be Environment, Ec2InstanceMetadata or EcsContainer; got \"Laptop\"");
    a_duration_that_is_no_number_is_refused: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = base\nduration_seconds = 1h\n",
        "duration_seconds must be a whole number of seconds");
    a_profile_that_is_its_own_source_without_keys_is_refused: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = target\ncredential_process = /bin/creds\n",
        "names itself as source_profile but has no static keys");
    half_a_key_pair_is_refused: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = root\n[profile root]\naws_access_key_id = AKID\n",
        "only part of its static keys");
}

#[test]
fn past_the_named_profile_half_a_key_pair_does_not_end_the_walk() {
    let config = format!(
        "[profile target]\nrole_arn = {STORAGE}\nsource_profile = middle\n\
         [profile middle]\nrole_arn = {BROKER}\nsource_profile = base\naws_access_key_id = AKIDHALF\n"
    );
    let chain = resolve(&files(&config, CREDENTIALS), "target").unwrap();
    assert_eq!(chain.roles.len(), 2);
    assert_eq!(root_key(&chain), "AKIDBASE");
}
