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

use aws_credential_types::Credentials;
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_runtime::env_config::section::{EnvConfigSections, Profile};
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;
use futures_util::FutureExt;

use crate::error::BuildError;
use crate::role::Role;

/// A chain read from the files: its hops from the root, and the root's credentials.
#[derive(Debug)]
pub(crate) struct ProfileChain {
    pub(crate) roles: Vec<Role>,
    pub(crate) root: Root,
    /// The named profile's `region`.
    pub(crate) region: Option<Region>,
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
/// and `~/.aws/credentials` (a missing file is an empty one).
pub(crate) fn load(name: &str, env: &Env, fs: &Fs) -> Result<ProfileChain, BuildError> {
    let files = EnvConfigFiles::default();
    // Files are read with blocking calls: the future is ready at its first poll.
    let source = aws_runtime::env_config::source::load(env, fs, &files)
        .now_or_never()
        .ok_or_else(|| refused("the AWS config files could not be read without waiting".into()))?
        .map_err(|err| refused(format!("the AWS config files could not be read: {err}")))?;
    let sections = EnvConfigSections::parse(source)
        .map_err(|err| refused(format!("the AWS config files could not be parsed: {err}")))?;
    resolve(&sections, name)
}

/// The chain that profile `name` describes.
pub(crate) fn resolve(sections: &EnvConfigSections, name: &str) -> Result<ProfileChain, BuildError> {
    let region = sections
        .get_profile(name)
        .and_then(|p| p.get("region"))
        .map(|r| Region::new(r.to_owned()));
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
        roles.push(role_of(profile, role_arn)?);
        match (profile.get("source_profile"), profile.get("credential_source")) {
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
            (Some(source), None) if source == current => break root_of(profile)?,
            (Some(source), None) => current = source,
        }
    };
    roles.reverse();
    Ok(ProfileChain {
        roles,
        root,
        region,
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
            None => "Builder::profile".to_owned(),
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
                "profile {:?}: duration_seconds must be a whole number of seconds, 900 to \
                 43200; got {seconds:?}",
                profile.name()
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
    let other = ["web_identity_token_file", "sso_session", "sso_start_url", "credential_process"];
    if other.iter().any(|key| profile.get(key).is_some()) {
        return Ok(Root::Provider(name.to_owned()));
    }
    match has_static_keys(profile) {
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

fn has_static_keys(profile: &Profile) -> bool {
    ["aws_access_key_id", "aws_secret_access_key", "aws_session_token"]
        .iter()
        .any(|key| profile.get(key).is_some())
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

#[cfg(test)]
mod tests;
