//! Chains read from config and credentials files written for each test, run against LocalSts:
//! what each profile's keys send, the base from the root profile, explicit settings winning, and
//! every refusal through `build()`.

mod common;

use std::path::PathBuf;

use aws_role_chain::test_util::LocalRole;
use aws_role_chain::{ErrorKind, Role, RoleChainProvider, RoleChainProviderBuilder};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use common::*;

/// A config file and a credentials file with these contents, in a directory of the test's own.
fn files(test: &str, config: &str, credentials: &str) -> EnvConfigFiles {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("profile")
        .join(test);
    std::fs::create_dir_all(&dir).unwrap();
    let (config_path, credentials_path) = (dir.join("config"), dir.join("credentials"));
    std::fs::write(&config_path, config).unwrap();
    std::fs::write(&credentials_path, credentials).unwrap();
    EnvConfigFiles::builder()
        .with_file(EnvConfigFileKind::Config, config_path)
        .with_file(EnvConfigFileKind::Credentials, credentials_path)
        .build()
}

/// The compute user's keys as a credentials file's `[compute]` profile.
fn compute_keys(world: &World) -> String {
    format!(
        "[compute]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        world.compute.access_key_id(),
        world.compute.secret_access_key()
    )
}

/// compute → broker → storage as two profiles; `storage` names the session and its duration.
fn two_profiles() -> String {
    format!(
        "[profile storage]\nrole_arn = {STORAGE}\nsource_profile = broker\n\
         external_id = {STORAGE_EXTERNAL_ID}\nrole_session_name = nightly-export\n\
         duration_seconds = 900\nregion = eu-west-1\n\n\
         [profile broker]\nrole_arn = {BROKER}\nsource_profile = compute\n\
         external_id = {BROKER_EXTERNAL_ID}\nduration_seconds = 3600\n"
    )
}

/// A builder for `profile` of `files`, pointed at the world's LocalSts.
fn from_profile(world: &World, profile: &str, files: EnvConfigFiles) -> RoleChainProviderBuilder {
    RoleChainProvider::builder()
        .profile(profile)
        .profile_files(files)
        .endpoint_url(world.sts.endpoint_url())
}

#[tokio::test]
async fn a_two_profile_chain_sends_what_the_files_say_signed_hop_by_hop() {
    let world = World::new().await;
    let files = files("two", &two_profiles(), &compute_keys(&world));
    let provider = from_profile(&world, "storage", files).build().unwrap();

    let creds = provider.credentials().await.unwrap();

    let calls = world.assume_role_requests();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].access_key_id(),
        Some(world.compute.access_key_id())
    );
    assert_eq!(calls[0].param("RoleArn"), Some(BROKER));
    assert_eq!(calls[0].param("ExternalId"), Some(BROKER_EXTERNAL_ID));
    assert_eq!(calls[0].param("DurationSeconds"), Some("3600"));
    let default_name = calls[0].param("RoleSessionName").unwrap();
    assert!(
        default_name.starts_with("aws-role-chain-"),
        "{default_name}"
    );
    let broker_session = &world.sts.issued()[0];
    assert_eq!(
        calls[1].access_key_id(),
        Some(broker_session.access_key_id())
    );
    assert_eq!(calls[1].param("RoleArn"), Some(STORAGE));
    assert_eq!(calls[1].param("ExternalId"), Some(STORAGE_EXTERNAL_ID));
    assert_eq!(calls[1].param("RoleSessionName"), Some("nightly-export"));
    assert_eq!(calls[1].param("DurationSeconds"), Some("900"));
    assert_eq!(creds.account_id().map(|a| a.as_str()), Some("111111111111"));
}

#[tokio::test]
async fn roles_added_with_assume_come_after_the_profiles() {
    let world = World::new().await;
    let files = files("assume", &two_profiles(), &compute_keys(&world));
    let provider = from_profile(&world, "storage", files)
        .assume(Role::new(AUDIT).external_id(AUDIT_EXTERNAL_ID))
        .build()
        .unwrap();

    provider.credentials().await.unwrap();

    let roles: Vec<_> = world
        .assume_role_requests()
        .iter()
        .map(|r| r.param("RoleArn").unwrap().to_owned())
        .collect();
    assert_eq!(roles, [BROKER, STORAGE, AUDIT]);
}

#[tokio::test]
async fn an_explicit_base_provider_wins_over_the_root_profile() {
    let world = World::new().await;
    let wrong_keys = "[compute]\naws_access_key_id = AKIDNOTKNOWN\naws_secret_access_key = s\n";
    let files = files("base", &two_profiles(), wrong_keys);
    let provider = from_profile(&world, "storage", files)
        .base_provider(world.compute.clone())
        .build()
        .unwrap();

    provider.credentials().await.unwrap();

    let calls = world.assume_role_requests();
    assert_eq!(
        calls[0].access_key_id(),
        Some(world.compute.access_key_id())
    );
}

#[tokio::test]
async fn a_root_without_credentials_takes_the_base_provider() {
    let world = World::new().await;
    let config = format!(
        "[profile broker]\nrole_arn = {BROKER}\nsource_profile = bare\n\
         external_id = {BROKER_EXTERNAL_ID}\n[profile bare]\nregion = us-east-1\n"
    );
    let missing = files("bare-base", &config, "");
    let err = from_profile(&world, "broker", missing.clone())
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.hop()), ("profile", None));
    assert!(
        err.to_string()
            .contains("profile \"bare\", the root of the chain, has no credentials"),
        "{err}"
    );

    let provider = from_profile(&world, "broker", missing)
        .base_provider(world.compute.clone())
        .build()
        .unwrap();
    provider.credentials().await.unwrap();
}

#[tokio::test]
async fn the_default_profile_of_the_credentials_file_can_be_the_root() {
    let world = World::new().await;
    let config = format!(
        "[profile broker]\nrole_arn = {BROKER}\nsource_profile = default\n\
         external_id = {BROKER_EXTERNAL_ID}\n"
    );
    let credentials = compute_keys(&world).replace("[compute]", "[default]");
    let provider = from_profile(&world, "broker", files("default", &config, &credentials))
        .build()
        .unwrap();

    provider.credentials().await.unwrap();
    let calls = world.assume_role_requests();
    assert_eq!(
        calls[0].access_key_id(),
        Some(world.compute.access_key_id())
    );
}

#[tokio::test]
async fn an_mfa_serial_in_a_profile_is_sent_with_the_token_providers_code() {
    let world = World::new().await;
    let device = "arn:aws:iam::222222222222:mfa/compute";
    world.sts.add_role(
        LocalRole::new(BROKER)
            .trust(COMPUTE_USER)
            .external_id(BROKER_EXTERNAL_ID)
            .mfa(device),
    );
    let config = two_profiles().replace(
        "[profile broker]\n",
        &format!("[profile broker]\nmfa_serial = {device}\n"),
    );
    let files = files("mfa", &config, &compute_keys(&world));
    let phone = world.sts.mfa_device(device).unwrap();
    let provider = from_profile(&world, "storage", files)
        .mfa_token_provider(move |request| {
            let code = phone.code();
            async move {
                assert_eq!((request.hop(), request.role_arn()), (0, BROKER));
                Ok(code)
            }
        })
        .build()
        .unwrap();

    provider.credentials().await.unwrap();

    let calls = world.assume_role_requests();
    assert_eq!(calls[0].mfa_serial_number(), Some(device));
    assert!(calls[0].carried_mfa_code());
    assert!(!calls[1].carried_mfa_code());
}

/// `build()` of profile `target` in `config` (with the compute keys as `[base]`) fails on `field`
/// at `hop`, with a message that contains `says`.
async fn refused((config, field, hop, says): (&str, &str, Option<usize>, &str)) {
    let world = World::new().await;
    let config = config.replace("BROKER", BROKER).replace("STORAGE", STORAGE);
    let credentials = compute_keys(&world).replace("[compute]", "[base]");
    let test = format!("refused-{:x}", fxhash(&config));
    let err = from_profile(&world, "target", files(&test, &config, &credentials))
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.hop()), (field, hop), "{err}");
    assert!(err.to_string().contains(says), "{err}");
}

/// A name for a fixture's directory.
fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

cases! { refused:
    an_unknown_profile_is_refused_naming_the_known_ones: (
        "[profile other]\nregion = eu-west-1\n",
        "profile", None, "no profile \"target\" in the config or credentials file (named by RoleChainProviderBuilder::profile); the files define: base, other");
    a_source_profile_loop_is_refused: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = a\n[profile a]\nrole_arn = BROKER\nsource_profile = target\n",
        "profile", None, "target → a → target");
    source_profile_and_credential_source_together_are_refused: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = base\ncredential_source = Environment\n",
        "profile", None, "both source_profile and credential_source");
    a_profile_without_a_role_is_refused: (
        "[profile target]\nregion = eu-west-1\n",
        "profile", None, "profile \"target\" assumes no role");
    a_duration_below_15_minutes_is_refused_naming_the_profile: (
        "[profile target]\nrole_arn = STORAGE\nsource_profile = mid\n[profile mid]\nrole_arn = BROKER\nsource_profile = base\nduration_seconds = 600\n",
        "duration", Some(0), "(in profile \"mid\" of the AWS config files)");
    a_short_external_id_is_refused_naming_the_profile: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = base\nexternal_id = x\n",
        "external_id", Some(0), "(in profile \"target\" of the AWS config files)");
    a_malformed_role_arn_is_refused: (
        "[profile target]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n",
        "role_arn", Some(0), "profile \"target\"");
    a_malformed_mfa_serial_is_refused: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = base\nmfa_serial = short\n",
        "mfa_serial", Some(0), "profile \"target\"");
    an_mfa_profile_without_a_token_provider_is_refused: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = base\nmfa_serial = arn:aws:iam::222222222222:mfa/me\n",
        "mfa_token_provider", Some(0), "RoleChainProviderBuilder::mfa_token_provider");
    a_bad_sts_regional_endpoints_is_refused: (
        "[profile target]\nrole_arn = BROKER\nsource_profile = base\nsts_regional_endpoints = global\n",
        "profile", None, "sts_regional_endpoints must be regional or legacy; got \"global\"");
}

#[tokio::test]
async fn a_file_named_by_profile_files_must_exist() {
    let world = World::new().await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("profile/none");
    let files = EnvConfigFiles::builder()
        .with_file(EnvConfigFileKind::Config, dir.join("config"))
        .with_file(EnvConfigFileKind::Credentials, dir.join("credentials"))
        .build();
    let err = from_profile(&world, "target", files).build().unwrap_err();
    assert_eq!(err.field(), "profile");
    let says = format!(
        "the AWS config files could not be read: could not read file `{}`",
        dir.join("config").display()
    );
    assert!(err.to_string().contains(&says), "{err}");
}

#[tokio::test]
async fn a_root_whose_keys_sts_refuses_is_base_credentials_at_hop_0() {
    let world = World::new().await;
    let wrong_keys = "[compute]\naws_access_key_id = AKIDNOTKNOWN\naws_secret_access_key = s\n";
    let provider = from_profile(
        &world,
        "storage",
        files("refused-keys", &two_profiles(), wrong_keys),
    )
    .build()
    .unwrap();

    let err = provider.credentials().await.unwrap_err();

    assert_eq!(
        (err.kind(), err.hop()),
        (ErrorKind::BaseCredentials, Some(0)),
        "{err}"
    );
}

#[tokio::test]
async fn the_files_are_read_once_by_build() {
    let world = World::new().await;
    let files = files("read-once", &two_profiles(), &compute_keys(&world));
    let provider = from_profile(&world, "storage", files).build().unwrap();
    // After build(), the files change: the chain is the one they described then.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("profile/read-once");
    std::fs::write(
        dir.join("config"),
        "[profile storage]\nrole_arn = not-an-arn\n",
    )
    .unwrap();
    std::fs::remove_file(dir.join("credentials")).unwrap();

    provider.credentials().await.unwrap();

    let calls = world.assume_role_requests();
    let roles: Vec<_> = calls.iter().map(|c| c.param("RoleArn").unwrap()).collect();
    assert_eq!(roles, [BROKER, STORAGE]);
    assert_eq!(
        calls[0].access_key_id(),
        Some(world.compute.access_key_id())
    );
}

/// A root profile whose credentials come from a `credential_process`, run for real by
/// aws-config's provider: a script that prints the compute user's keys as the process protocol
/// has them.
#[cfg(all(unix, feature = "aws-config"))]
#[tokio::test]
async fn a_credential_process_root_is_run_and_its_keys_sign_hop_0() {
    use std::os::unix::fs::PermissionsExt;

    let world = World::new().await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("profile/process");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("keys.sh");
    let json = format!(
        r#"{{"Version": 1, "AccessKeyId": "{}", "SecretAccessKey": "{}"}}"#,
        world.compute.access_key_id(),
        world.compute.secret_access_key()
    );
    std::fs::write(&script, format!("#!/bin/sh\ncat <<'EOF'\n{json}\nEOF\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = format!(
        "[profile broker]\nrole_arn = {BROKER}\nsource_profile = root\n\
         external_id = {BROKER_EXTERNAL_ID}\n\n\
         [profile root]\ncredential_process = {}\n",
        script.display()
    );
    let provider = from_profile(&world, "broker", files("process", &config, ""))
        .build()
        .unwrap();

    provider.credentials().await.unwrap();

    let calls = world.assume_role_requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].access_key_id(),
        Some(world.compute.access_key_id())
    );
    assert_eq!(calls[0].status(), 200);
}

/// A root profile with `web_identity_token_file`, as on EKS: aws-config's provider reads the
/// token and calls `AssumeRoleWithWebIdentity` at the STS endpoint the root profile names (its
/// `endpoint_url`, as the SDK reads it); that session signs hop 0.
#[cfg(feature = "aws-config")]
#[tokio::test]
async fn a_web_identity_root_assumes_its_role_with_the_token_and_that_session_signs_hop_0() {
    const OIDC: &str = "arn:aws:iam::222222222222:oidc-provider/oidc.eks.example.com";
    const WORKLOAD: &str = "arn:aws:iam::222222222222:role/export-workload";
    let world = World::new().await;
    world.sts.add_role(LocalRole::new(WORKLOAD).trust(OIDC));
    world.sts.add_role(
        LocalRole::new(BROKER)
            .trust(WORKLOAD)
            .external_id(BROKER_EXTERNAL_ID),
    );
    let token = world
        .sts
        .web_identity_token(OIDC, "system:serviceaccount:jobs:export");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("profile/web-identity");
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, &token).unwrap();
    let config = format!(
        "[profile broker]\nrole_arn = {BROKER}\nsource_profile = pod\n\
         external_id = {BROKER_EXTERNAL_ID}\n\n\
         [profile pod]\nrole_arn = {WORKLOAD}\nweb_identity_token_file = {}\n\
         role_session_name = export-pod\nendpoint_url = {}\n",
        token_file.display(),
        world.sts.endpoint_url()
    );
    let provider = from_profile(&world, "broker", files("web-identity", &config, ""))
        .build()
        .unwrap();

    provider.credentials().await.unwrap();

    let requests = world.sts.requests();
    let actions: Vec<_> = requests.iter().map(|r| r.action().unwrap()).collect();
    assert_eq!(actions, ["AssumeRoleWithWebIdentity", "AssumeRole"]);
    let (federated, hop_0) = (&requests[0], &requests[1]);
    assert_eq!(federated.status(), 200);
    assert_eq!(federated.param("RoleArn"), Some(WORKLOAD));
    assert_eq!(federated.param("RoleSessionName"), Some("export-pod"));
    assert_eq!(federated.param("WebIdentityToken"), Some(token.as_str()));
    assert_eq!(federated.access_key_id(), None, "sent unsigned");
    let session = &world.sts.issued()[0];
    assert_eq!(hop_0.access_key_id(), Some(session.access_key_id()));
    assert_eq!(
        hop_0.caller_arn(),
        Some("arn:aws:sts::222222222222:assumed-role/export-workload/export-pod")
    );
    assert_eq!(hop_0.param("RoleArn"), Some(BROKER));
    assert_eq!(hop_0.status(), 200);
}

/// Without the aws-config feature, a root that only aws-config's providers read is refused by
/// `build()`, naming the root, the feature and `base_provider`; with `base_provider` set, the
/// same files build and the base provider signs hop 0.
#[cfg(not(feature = "aws-config"))]
#[tokio::test]
async fn without_aws_config_a_root_only_its_providers_read_is_refused_unless_base_provider_is_set()
{
    let world = World::new().await;
    let roots = [
        ("credential_process = /bin/true", "profile \"root\" (SSO, credential_process or web identity)"),
        ("web_identity_token_file = /nonexistent\nrole_arn = arn:aws:iam::222222222222:role/workload", "profile \"root\" (SSO, credential_process or web identity)"),
        ("sso_start_url = https://example-org.awsapps.com/start\nsso_region = eu-west-1\nsso_account_id = 222222222222\nsso_role_name = Export", "profile \"root\" (SSO, credential_process or web identity)"),
        ("credential_source = Ec2InstanceMetadata", "credential_source = Ec2InstanceMetadata"),
    ];
    for (n, (root, named)) in roots.into_iter().enumerate() {
        let config = format!(
            "[profile broker]\nrole_arn = {BROKER}\nsource_profile = root\n\
             external_id = {BROKER_EXTERNAL_ID}\n\n[profile root]\n{root}\n"
        );
        let test = format!("without-aws-config-{n}");

        let err = from_profile(&world, "broker", files(&test, &config, ""))
            .build()
            .unwrap_err();
        let provider = from_profile(&world, "broker", files(&test, &config, ""))
            .base_provider(world.compute.clone())
            .build()
            .unwrap();

        assert_eq!((err.field(), err.hop()), ("profile", None), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!(
                "the root of the chain takes its credentials from {named}"
            )),
            "{message}"
        );
        assert!(
            message.contains("aws-config feature") && message.contains("base_provider"),
            "{message}"
        );
        provider.credentials().await.unwrap();
        let hop_0 = world.assume_role_requests().pop().unwrap();
        assert_eq!(hop_0.access_key_id(), Some(world.compute.access_key_id()));
    }
}
