//! The chain options every command shares, and the provider they describe: the hops from
//! `--profile` and `--role`, the base credentials, region and STS endpoint as every AWS tool
//! resolves them, and MFA codes asked at the terminal.

use std::path::PathBuf;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_role_chain::{RefreshPolicy, Role, RoleChainProvider};

use crate::files::read_private;
use crate::prompt::Prompt;

/// The longest a chain run may take: long enough for a person to type an MFA code.
const PROMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Which roles to assume.
#[derive(clap::Args, Debug)]
pub(crate) struct ChainArgs {
    /// Read the chain from this profile of the AWS config files (its role_arn, external_id,
    /// source_profile, role_session_name, duration_seconds, mfa_serial and region).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,

    /// A role to assume, in order, after those of --profile. Repeatable. Settings follow the ARN
    /// after commas: external-id-env=VAR or external-id-file=PATH (never the ExternalId itself:
    /// arguments are visible to every user of the host), session-name=NAME, duration=SECONDS,
    /// mfa-serial=SERIAL.
    // Parsed after clap, whose errors would repeat the value, ExternalId included.
    #[arg(long = "role", value_name = "ARN[,KEY=VALUE…]")]
    roles: Vec<String>,
}

/// A `--role` option.
#[derive(Clone, Debug)]
pub(crate) struct RoleSpec {
    arn: String,
    external_id: Option<Secret>,
    session_name: Option<String>,
    duration: Option<Duration>,
    mfa_serial: Option<String>,
}

/// Where an ExternalId is read from.
#[derive(Clone, Debug)]
enum Secret {
    Env(String),
    File(PathBuf),
}

impl RoleSpec {
    fn parse(value: &str) -> Result<RoleSpec, String> {
        let mut parts = value.split(',');
        let arn = parts.next().unwrap_or_default().trim().to_owned();
        let mut spec = RoleSpec {
            arn,
            external_id: None,
            session_name: None,
            duration: None,
            mfa_serial: None,
        };
        for (n, part) in parts.enumerate() {
            // Not repeated: it may be a mistyped ExternalId.
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!(
                    "setting {} after the role ARN is not KEY=VALUE (value not shown)",
                    n + 1
                )
            })?;
            match key.trim() {
                "external-id-env" => spec.external_id = Some(Secret::Env(value.to_owned())),
                "external-id-file" => spec.external_id = Some(Secret::File(value.into())),
                "session-name" => spec.session_name = Some(value.to_owned()),
                "mfa-serial" => spec.mfa_serial = Some(value.to_owned()),
                "duration" => {
                    let seconds = value.parse().map_err(|_| {
                        format!("duration must be a whole number of seconds; got {value:?}")
                    })?;
                    spec.duration = Some(Duration::from_secs(seconds));
                }
                "external-id" => {
                    return Err(
                        "an ExternalId on the command line would be visible to every \
                                user of the host: give external-id-env=VARIABLE or \
                                external-id-file=PATH instead"
                            .to_owned(),
                    )
                }
                other => {
                    return Err(format!(
                        "unknown setting {other:?}; one of external-id-env, external-id-file, \
                         session-name, duration, mfa-serial"
                    ))
                }
            }
        }
        Ok(spec)
    }

    /// The role, with its ExternalId read from where the option says.
    fn role(&self) -> Result<Role, String> {
        let mut role = Role::new(&self.arn);
        if let Some(source) = &self.external_id {
            role = role.external_id(source.read(&self.arn)?);
        }
        if let Some(name) = &self.session_name {
            role = role.session_name(name);
        }
        if let Some(duration) = self.duration {
            role = role.duration(duration);
        }
        if let Some(serial) = &self.mfa_serial {
            role = role.mfa_serial(serial);
        }
        Ok(role)
    }
}

impl Secret {
    fn read(&self, role_arn: &str) -> Result<String, String> {
        match self {
            Secret::Env(name) => std::env::var(name).map_err(|_| {
                format!("the ExternalId of {role_arn} should be in environment variable {name}, which is not set")
            }),
            Secret::File(path) => read_private(path)
                .map(|id| id.trim().to_owned())
                .map_err(|err| format!("cannot read the ExternalId of {role_arn}: {err}")),
        }
    }
}

impl ChainArgs {
    /// The profile named by `--profile`.
    pub(crate) fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    /// The environment variables that hold ExternalIds, which a child process does not need.
    pub(crate) fn secret_variables(&self) -> Vec<String> {
        self.roles
            .iter()
            .filter_map(|spec| RoleSpec::parse(spec).ok())
            .filter_map(|spec| match spec.external_id {
                Some(Secret::Env(name)) => Some(name),
                _ => None,
            })
            .collect()
    }

    /// The provider of the chain: base credentials, region and STS endpoint from the
    /// environment and the AWS config files as every AWS tool finds them (`AWS_PROFILE`,
    /// `AWS_REGION`, `AWS_ENDPOINT_URL_STS`, the default credentials chain), unless the profile
    /// says otherwise. MFA codes are asked through `prompt`.
    pub(crate) async fn provider(&self, prompt: &Prompt) -> Result<RoleChainProvider, String> {
        if self.profile.is_none() && self.roles.is_empty() {
            return Err("name the chain with --profile NAME or --role ARN (repeatable)".to_owned());
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        let sdk_config = loader.load().await;
        let mut builder = RoleChainProvider::builder()
            .configure(&sdk_config)
            .mfa_token_source(prompt.clone())
            // A person typing an MFA code gets three quarters of it.
            .refresh_policy(RefreshPolicy::default().fetch_timeout(PROMPT_TIMEOUT));
        if let Some(profile) = &self.profile {
            builder = builder.profile(profile);
        }
        // The region as every AWS tool resolves it: AWS_REGION before the profile's.
        if let Some(region) = sdk_config.region() {
            builder = builder.region(region.clone());
        }
        for spec in &self.roles {
            let spec = RoleSpec::parse(spec).map_err(|err| format!("--role: {err}"))?;
            builder = builder.assume(spec.role()?);
        }
        builder
            .build()
            .map_err(|err| format!("the chain is not valid: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_spec_takes_every_setting() {
        let spec = RoleSpec::parse(
            "arn:aws:iam::111111111111:role/r,external-id-env=EXT,session-name=s1,duration=900,mfa-serial=arn:aws:iam::1:mfa/me",
        )
        .unwrap();
        assert_eq!(spec.arn, "arn:aws:iam::111111111111:role/r");
        assert!(matches!(spec.external_id, Some(Secret::Env(ref v)) if v == "EXT"));
        assert_eq!(spec.session_name.as_deref(), Some("s1"));
        assert_eq!(spec.duration, Some(Duration::from_secs(900)));
        assert_eq!(spec.mfa_serial.as_deref(), Some("arn:aws:iam::1:mfa/me"));
    }

    #[test]
    fn an_external_id_on_the_command_line_is_refused() {
        let err = RoleSpec::parse("arn:aws:iam::111111111111:role/r,external-id=abc").unwrap_err();
        assert!(err.contains("visible to every user"), "{err}");
        assert!(!err.contains("abc"), "{err}");
    }

    #[test]
    fn unknown_settings_and_bad_durations_are_refused() {
        let unknown = RoleSpec::parse("arn:aws:iam::111111111111:role/r,colour=red").unwrap_err();
        assert!(unknown.contains("unknown setting \"colour\""), "{unknown}");
        let duration = RoleSpec::parse("arn:aws:iam::111111111111:role/r,duration=1h").unwrap_err();
        assert!(duration.contains("whole number of seconds"), "{duration}");
        let bare = RoleSpec::parse("arn:aws:iam::111111111111:role/r,oops").unwrap_err();
        assert!(
            bare.contains("setting 1 after the role ARN is not KEY=VALUE"),
            "{bare}"
        );
        assert!(!bare.contains("oops"), "{bare}");
    }
}
