//! What `exec`'s child gets: the endpoint, and nothing that any SDK's default credentials chain
//! would read before it.
//!
//! Every SDK reads the shared config file before the container endpoint, so a `[default]`
//! profile with keys, `credential_process`, `sso_*`, `role_arn` or `web_identity_token_file`
//! would run the child as another principal, silently. The child's `AWS_CONFIG_FILE` is
//! therefore a file of the command's own (mode 0600, removed at exit) whose `[default]` holds
//! only the chosen profile's settings that are not credentials; its credentials file is
//! `/dev/null`.

use std::borrow::Cow;

use aws_runtime::env_config::file::EnvConfigFiles;
use aws_types::os_shim_internal::{Env, Fs};

/// Set in the child to this process's id: an `exec` inside it refuses to run unless asked.
pub(crate) const NESTED: &str = "AWS_ROLE_CHAIN_EXEC";

/// Variables that would make a child's SDK use other credentials before the endpoint's, the
/// legacy names older SDKs still read included.
pub(crate) const SHADOWING: [&str; 13] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_CREDENTIAL_FILE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

/// The settings of a profile that a child keeps: none of them says where credentials come from.
const SETTINGS: [&str; 20] = [
    "region",
    "output",
    "retry_mode",
    "max_attempts",
    "defaults_mode",
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "ca_bundle",
    "endpoint_url",
    "ignore_configured_endpoint_urls",
    "sts_regional_endpoints",
    "s3_use_arn_region",
    "s3_us_east_1_regional_endpoint",
    "account_id_endpoint_mode",
    "request_min_compression_size_bytes",
    "disable_request_compression",
    "sigv4a_signing_region_set",
    "cli_pager",
    "cli_timestamp_format",
    "cli_binary_format",
];

/// The child's config file: `[default]` with the settings of `profile` (or of the profile
/// `AWS_PROFILE` names, or `default`) that are not credentials.
pub(crate) async fn config(profile: Option<&str>) -> Result<String, String> {
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &EnvConfigFiles::default(),
        profile.map(|name| Cow::Owned(name.to_owned())),
    )
    .await
    .map_err(|err| format!("cannot read the AWS config files: {err}"))?;
    let chosen = profiles.get_profile(profiles.selected_profile());
    let mut text = String::from("[default]\n");
    for key in SETTINGS {
        let value = chosen.and_then(|profile| profile.get(key));
        if let Some(value) = value.filter(|v| !v.is_empty() && !v.contains(['\n', '\r'])) {
            text.push_str(&format!("{key} = {value}\n"));
        }
    }
    Ok(text)
}

/// For the child, before it runs: on Linux, killed when this process ends, however it ends, so
/// that it never keeps a URI to a port that another user could then bind.
///
/// `PR_SET_PDEATHSIG` fires when the thread that spawned the child ends: `exec` spawns it from
/// the main thread, which `block_on` runs on and which lives as long as the process. It covers
/// the child, not the processes the child starts, and the kernel clears it when the child runs
/// a set-user-ID or set-group-ID program.
pub(crate) fn die_with_parent(command: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id();
        // SAFETY: the closure runs in the child between fork and exec and calls only
        // async-signal-safe functions: prctl(2), getppid(2) and _exit(2).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have ended before the call above.
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}
