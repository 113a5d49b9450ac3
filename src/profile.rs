//! Role chains described in the shared AWS config and credentials files.
//!
//! As in aws-config, a pure description comes first: [`resolve`] walks `source_profile` from the
//! named profile to the root of the chain and returns its hops, root first, and where the root's
//! credentials come from, without any I/O; the files are read and parsed by the SDK's own
//! `env_config` before, and the root is made into a provider after.
//!
//! The walk follows aws-config's rules (`profile/credentials/repr.rs`), so that a profile the AWS
//! CLI and the SDKs accept gives the same hops: past the named profile, static keys end the walk
//! even beside a `role_arn`; a profile whose `source_profile` is itself takes its own keys; a
//! profile with `web_identity_token_file` is a root, not a hop.

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_runtime::env_config::section::{EnvConfigSections, Profile};
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_async::time::SharedTimeSource;
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;
use aws_types::SdkConfig;
use futures_util::FutureExt;

use crate::error::BuildError;
use crate::limits::{MAX_DURATION, MIN_DURATION};
use crate::role::Role;

/// The regions whose STS calls go to the global endpoint under `sts_regional_endpoints = legacy`,
/// as botocore lists them.
const LEGACY_GLOBAL_REGIONS: [&str; 16] = [
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "aws-global",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// STS's global endpoint, which signs in `us-east-1`.
pub(crate) const GLOBAL_STS_ENDPOINT: &str = "https://sts.amazonaws.com";

/// A chain read from the files: its hops from the root, and the root's credentials.
#[derive(Debug)]
pub(crate) struct ProfileChain {
    /// The hops, root first.
    pub(crate) roles: Vec<ProfileRole>,
    pub(crate) root: Root,
    /// The named profile's `region`.
    pub(crate) region: Option<Region>,
    /// Whether the named profile (or `AWS_STS_REGIONAL_ENDPOINTS`) asks for STS's global
    /// endpoint in the regions that had it: `sts_regional_endpoints = legacy`.
    pub(crate) legacy_sts_endpoint: bool,
}

impl ProfileChain {
    /// Whether STS must be called at its global endpoint in `region`.
    pub(crate) fn uses_global_sts(&self, region: &Region) -> bool {
        self.legacy_sts_endpoint && LEGACY_GLOBAL_REGIONS.contains(&region.as_ref())
    }
}

/// A hop and the profile that describes it.
#[derive(Debug)]
pub(crate) struct ProfileRole {
    pub(crate) profile: String,
    pub(crate) role: Role,
}

/// Where the chain's base credentials come from.
#[derive(Debug)]
pub(crate) enum Root {
    /// Static keys in the root profile.
    Keys(Credentials),
    /// A `credential_source`: an environment the SDK knows how to read.
    Source(CredentialSource),
    /// A root profile whose credentials aws-config's profile provider resolves: SSO,
    /// `credential_process`, web identity. Named by the profile.
    Provider(String),
    /// A root profile without credentials: only valid with an explicit base provider.
    Missing(String),
}

/// The values of `credential_source`, as the SDKs name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    Environment,
    Ec2InstanceMetadata,
    EcsContainer,
}

/// The error for the profile setting: `field() == "profile"`.
fn refused(message: String) -> BuildError {
    BuildError::new(None, "profile", message)
}

/// The chain that profile `name` describes in the shared config and credentials files, found as
/// every SDK finds them: `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config`
/// and `~/.aws/credentials` (a missing file is an empty one), unless `files` names others.
pub(crate) fn load(
    name: &str,
    env: &Env,
    fs: &Fs,
    files: &EnvConfigFiles,
) -> Result<ProfileChain, BuildError> {
    // Files are read with blocking calls: the future is ready at its first poll.
    let source = aws_runtime::env_config::source::load(env, fs, files)
        .now_or_never()
        .ok_or_else(|| refused("the AWS config files could not be read without waiting".into()))?
        .map_err(|err| refused(format!("the AWS config files could not be read: {err}")))?;
    let sections = EnvConfigSections::parse(source)
        .map_err(|err| refused(format!("the AWS config files could not be parsed: {err}")))?;
    let mut chain = resolve(&sections, name)?;
    // As in botocore, the environment variable wins over the profile.
    if let Ok(variable) = env.get("AWS_STS_REGIONAL_ENDPOINTS") {
        chain.legacy_sts_endpoint = sts_endpoints(Some(&variable), "AWS_STS_REGIONAL_ENDPOINTS")?;
    }
    Ok(chain)
}

/// Whether a `sts_regional_endpoints` setting asks for the global endpoint: `legacy` does,
/// `regional` (the default) does not.
fn sts_endpoints(value: Option<&str>, setting: &str) -> Result<bool, BuildError> {
    match value.map(str::trim) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("regional") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("legacy") => Ok(true),
        Some(v) => Err(refused(format!(
            "{setting} must be regional or legacy; got {v:?}"
        ))),
    }
}

/// The chain that profile `name` describes.
pub(crate) fn resolve(
    sections: &EnvConfigSections,
    name: &str,
) -> Result<ProfileChain, BuildError> {
    let named = sections.get_profile(name);
    let region = named
        .and_then(|p| p.get("region"))
        .map(|r| Region::new(r.to_owned()));
    let legacy_sts_endpoint = sts_endpoints(
        named.and_then(|p| p.get("sts_regional_endpoints")),
        &format!("profile {name:?}: sts_regional_endpoints"),
    )?;
    let mut visited: Vec<&str> = Vec::new();
    let mut roles = Vec::new();
    let mut current = name;
    let root = loop {
        let profile = find(sections, current, visited.last().copied())?;
        if visited.contains(&current) {
            visited.push(current);
            return Err(refused(format!(
                "the profiles' source_profile settings form a loop: {}",
                visited.join(" → ")
            )));
        }
        let first = visited.is_empty();
        visited.push(current);
        if !first && has_static_keys(profile) {
            break Root::Keys(static_keys(profile)?);
        }
        let Some(role_arn) = profile
            .get("role_arn")
            .filter(|_| profile.get("web_identity_token_file").is_none())
        else {
            break root_of(profile)?;
        };
        roles.push(ProfileRole {
            profile: current.to_owned(),
            role: role_of(profile, role_arn)?,
        });
        match (
            profile.get("source_profile"),
            profile.get("credential_source"),
        ) {
            (Some(_), Some(_)) => {
                return Err(refused(format!(
                    "profile {current:?} has both source_profile and credential_source; keep \
                     one: where the credentials that assume its role come from"
                )))
            }
            (None, None) => {
                return Err(refused(format!(
                    "profile {current:?} has a role_arn but neither source_profile nor \
                     credential_source: add one, naming where the credentials that assume the \
                     role come from"
                )))
            }
            (None, Some(source)) => break Root::Source(credential_source(current, source)?),
            // As in aws-config: a profile that is its own source assumes its role with its own
            // keys. Any other credentials of its (SSO, a process) would assume the role twice.
            (Some(source), None) if source == current => match has_static_keys(profile) {
                true => break Root::Keys(static_keys(profile)?),
                false => {
                    return Err(refused(format!(
                        "profile {current:?} names itself as source_profile but has no static \
                         keys (aws_access_key_id and aws_secret_access_key) to assume its role \
                         with; give it keys, or name another profile as source_profile"
                    )))
                }
            },
            (Some(source), None) => current = source,
        }
    };
    roles.reverse();
    Ok(ProfileChain {
        roles,
        root,
        region,
        legacy_sts_endpoint,
    })
}

/// Profile `name`, named by `from`'s `source_profile` (or by the builder when `None`).
fn find<'s>(
    sections: &'s EnvConfigSections,
    name: &str,
    from: Option<&str>,
) -> Result<&'s Profile, BuildError> {
    sections.get_profile(name).ok_or_else(|| {
        let mut known: Vec<&str> = sections.profiles().collect();
        known.sort_unstable();
        let known = match known.is_empty() {
            true => "none".to_owned(),
            false => known.join(", "),
        };
        let named_by = match from {
            Some(from) => format!("the source_profile of profile {from:?}"),
            None => "RoleChainProviderBuilder::profile".to_owned(),
        };
        refused(format!(
            "no profile {name:?} in the config or credentials file (named by {named_by}); the \
             files define: {known}"
        ))
    })
}

/// A hop for the `role_arn` of `profile`, with its `external_id`, `role_session_name`,
/// `duration_seconds` and `mfa_serial`.
fn role_of(profile: &Profile, role_arn: &str) -> Result<Role, BuildError> {
    let mut role = Role::new(role_arn);
    if let Some(id) = profile.get("external_id") {
        role = role.external_id(id);
    }
    if let Some(name) = profile.get("role_session_name") {
        role = role.session_name(name);
    }
    if let Some(seconds) = profile.get("duration_seconds") {
        let seconds: u64 = seconds.trim().parse().map_err(|_| {
            refused(format!(
                "profile {:?}: duration_seconds must be a whole number of seconds, {} to {}; \
                 got {seconds:?}",
                profile.name(),
                MIN_DURATION.as_secs(),
                MAX_DURATION.as_secs()
            ))
        })?;
        role = role.duration(std::time::Duration::from_secs(seconds));
    }
    if let Some(serial) = profile.get("mfa_serial") {
        role = role.mfa_serial(serial);
    }
    Ok(role)
}

/// Where the credentials of a profile that assumes no role come from.
fn root_of(profile: &Profile) -> Result<Root, BuildError> {
    let name = profile.name();
    if let Some(source) = profile.get("credential_source") {
        return credential_source(name, source).map(Root::Source);
    }
    let other = [
        "web_identity_token_file",
        "sso_session",
        "sso_start_url",
        "credential_process",
    ];
    if other.iter().any(|key| profile.get(key).is_some()) {
        return Ok(Root::Provider(name.to_owned()));
    }
    let any_key = [
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    ]
    .iter()
    .any(|key| profile.get(key).is_some());
    // Half a key pair at the root is a mistake worth naming (static_keys does), not a missing
    // root.
    match any_key {
        true => static_keys(profile).map(Root::Keys),
        false => Ok(Root::Missing(name.to_owned())),
    }
}

fn credential_source(profile: &str, source: &str) -> Result<CredentialSource, BuildError> {
    match source {
        s if s.eq_ignore_ascii_case("Environment") => Ok(CredentialSource::Environment),
        s if s.eq_ignore_ascii_case("Ec2InstanceMetadata") => {
            Ok(CredentialSource::Ec2InstanceMetadata)
        }
        s if s.eq_ignore_ascii_case("EcsContainer") => Ok(CredentialSource::EcsContainer),
        _ => Err(refused(format!(
            "profile {profile:?}: credential_source must be Environment, Ec2InstanceMetadata or \
             EcsContainer; got {source:?}"
        ))),
    }
}

/// Whether a profile holds a key pair. Past the named profile, only a whole pair ends the walk,
/// as in aws-config: a profile with part of one and a `role_arn` is a hop.
fn has_static_keys(profile: &Profile) -> bool {
    profile.get("aws_access_key_id").is_some() && profile.get("aws_secret_access_key").is_some()
}

fn static_keys(profile: &Profile) -> Result<Credentials, BuildError> {
    match (
        profile.get("aws_access_key_id"),
        profile.get("aws_secret_access_key"),
    ) {
        (Some(key), Some(secret)) => Ok(Credentials::new(
            key,
            secret,
            profile.get("aws_session_token").map(str::to_owned),
            None,
            "ProfileFile",
        )),
        _ => Err(refused(format!(
            "profile {:?} has only part of its static keys: it needs both aws_access_key_id and \
             aws_secret_access_key",
            profile.name()
        ))),
    }
}

/// What the providers of a root need beside the root itself.
#[cfg_attr(not(feature = "aws-config"), allow(dead_code))]
pub(crate) struct RootSettings<'a> {
    /// The `SdkConfig` of `RoleChainProviderBuilder::configure`, for its HTTP client.
    pub(crate) sdk_config: Option<&'a SdkConfig>,
    pub(crate) region: &'a Region,
    pub(crate) time: &'a SharedTimeSource,
    pub(crate) sleep: &'a SharedAsyncSleep,
    pub(crate) files: &'a EnvConfigFiles,
}

/// The provider of the chain's base credentials, as the root profile describes them: static keys
/// as they are, and every other source through aws-config's own provider for it.
#[cfg_attr(not(feature = "aws-config"), allow(unused_variables))]
pub(crate) fn root_provider(
    root: Root,
    settings: &RootSettings<'_>,
) -> Result<SharedCredentialsProvider, BuildError> {
    match root {
        Root::Keys(keys) => Ok(SharedCredentialsProvider::new(keys)),
        Root::Missing(name) => Err(refused(format!(
            "profile {name:?}, the root of the chain, has no credentials: no static keys, \
             credential_source, SSO, credential_process or web identity; add some to it, or set \
             RoleChainProviderBuilder::base_provider"
        ))),
        #[cfg(feature = "aws-config")]
        Root::Source(source) => Ok(sdk_providers::source(source, settings)),
        #[cfg(feature = "aws-config")]
        Root::Provider(name) => Ok(sdk_providers::profile(&name, settings)),
        #[cfg(not(feature = "aws-config"))]
        Root::Source(source) => Err(without_aws_config(format!(
            "credential_source = {source:?}"
        ))),
        #[cfg(not(feature = "aws-config"))]
        Root::Provider(name) => Err(without_aws_config(format!(
            "profile {name:?} (SSO, credential_process or web identity)"
        ))),
    }
}

/// The refusal of a root that only aws-config's providers read, in a build without them.
#[cfg(not(feature = "aws-config"))]
fn without_aws_config(root: String) -> BuildError {
    refused(format!(
        "the root of the chain takes its credentials from {root}, which this crate reads only \
         with its aws-config feature (on by default); enable it, or set RoleChainProviderBuilder::base_provider"
    ))
}

/// The roots that aws-config's providers resolve.
#[cfg(feature = "aws-config")]
mod sdk_providers {
    use aws_config::ecs::EcsCredentialsProvider;
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_config::imds::credentials::ImdsCredentialsProvider;
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_config::provider_config::ProviderConfig;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_sdk_sts::config::BehaviorVersion;

    use super::{CredentialSource, RootSettings};

    /// The settings of aws-config's providers: the chain's region, clock, sleep and, from
    /// `configure`, HTTP client.
    fn provider_config(settings: &RootSettings<'_>) -> ProviderConfig {
        let mut config = ProviderConfig::without_region()
            .with_region(Some(settings.region.clone()))
            .with_time_source(settings.time.clone())
            .with_sleep_impl(settings.sleep.clone())
            .with_behavior_version(Some(BehaviorVersion::latest()));
        if let Some(client) = settings.sdk_config.and_then(|c| c.http_client()) {
            config = config.with_http_client(client);
        }
        config
    }

    pub(super) fn source(
        source: CredentialSource,
        settings: &RootSettings<'_>,
    ) -> SharedCredentialsProvider {
        let config = provider_config(settings);
        match source {
            CredentialSource::Environment => {
                SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new())
            }
            CredentialSource::Ec2InstanceMetadata => SharedCredentialsProvider::new(
                ImdsCredentialsProvider::builder()
                    .configure(&config)
                    .build(),
            ),
            CredentialSource::EcsContainer => SharedCredentialsProvider::new(
                EcsCredentialsProvider::builder().configure(&config).build(),
            ),
        }
    }

    /// SSO, `credential_process` or web identity: aws-config's profile provider for the root
    /// profile, which assumes no role.
    pub(super) fn profile(name: &str, settings: &RootSettings<'_>) -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(
            ProfileFileCredentialsProvider::builder()
                .configure(&provider_config(settings))
                .profile_files(settings.files.clone())
                .profile_name(name)
                .build(),
        )
    }
}

#[cfg(test)]
mod tests;
