//! [`RoleChainProviderBuilder`]: every setting of a chain, checked in
//! [`build`](RoleChainProviderBuilder::build) before any request, and merged in one place with what `configure`'s `SdkConfig` and the AWS config files bring.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_sdk_sts::config::{BehaviorVersion, IdentityCache};
use aws_smithy_async::rt::sleep::{default_async_sleep, AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use aws_smithy_observability::TelemetryProvider;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;
use aws_types::SdkConfig;

use crate::chain::{Chain, Context};
use crate::error::BuildError;
use crate::hop::Hop;
use crate::metrics::Metrics;
use crate::mfa::{Mfa, MfaRequest, MfaTokenProvider, ProvideMfaToken};
use crate::policy::RefreshPolicy;
use crate::profile::{self, ProfileChain, GLOBAL_STS_ENDPOINT};
use crate::provider::RoleChainProvider;
use crate::role::Role;

/// The region whose STS endpoint is called when neither
/// [`region`](RoleChainProviderBuilder::region), a profile nor
/// [`configure`](RoleChainProviderBuilder::configure) names one: STS's historical global endpoint lives there.
const DEFAULT_REGION: &str = "us-east-1";

impl RoleChainProvider {
    /// A builder for a provider; see [`RoleChainProviderBuilder`].
    pub fn builder() -> RoleChainProviderBuilder {
        RoleChainProviderBuilder::default()
    }
}

/// Builds a [`RoleChainProvider`]. All validation happens in [`build`](Self::build), before any
/// request.
///
/// Settings given explicitly win over those of a [`profile`](Self::profile), which win over
/// those brought by [`configure`](Self::configure), whatever the order of the calls.
///
/// | setter | meaning | default |
/// |---|---|---|
/// | [`configure(&SdkConfig)`](Self::configure) | base provider, region, endpoint URL, HTTP client, retry and timeout config, time source, sleep | none |
/// | [`base_provider(p)`](Self::base_provider) | credentials that sign hop 0 | the profile's root, else from `configure`; required |
/// | [`region(r)`](Self::region) | region of the STS endpoint | the profile's `region`, else from `configure`, else `us-east-1` |
/// | [`endpoint_url(u)`](Self::endpoint_url) | custom STS endpoint (`http://` or `https://` with a host) | regional endpoint |
/// | [`assume(Role)`](Self::assume) | appends a hop; the first is signed by the base credentials, each next one by the hop before | at least one role required, from here or a profile |
/// | [`profile(name)`](Self::profile) | the hops, base credentials and region of an AWS config profile, read by `build()` (see [the AWS config files](crate::guide::config_files)); `assume` appends hops after them | none |
/// | [`profile_files(files)`](Self::profile_files) | the config and credentials files to read the profile from: aws-runtime's `EnvConfigFiles`, which aws-config re-exports as `aws_config::profile::profile_file::ProfileFiles` | found as every AWS SDK finds them |
/// | [`mfa_token_provider(f)`](Self::mfa_token_provider) / [`mfa_token_source(p)`](Self::mfa_token_source) | where the 6-digit codes of roles with `mfa_serial` come from (see [MFA](crate::guide::mfa)) | required with an MFA role |
/// | [`time_source(t)`](Self::time_source) / [`sleep_impl(s)`](Self::sleep_impl) | clock and sleep, for tests that control time | from `configure`, else system clock and tokio |
/// | [`refresh_policy(p)`](Self::refresh_policy) | windows, jitter and backoff of the background refresh (see [`RefreshPolicy`]) | `RefreshPolicy::default()` |
/// | [`telemetry_provider(p)`](Self::telemetry_provider) | where the metrics go (see [Metrics](crate::guide::metrics)) | the global one of `aws-smithy-observability` |
/// | [`name(n)`](Self::name) | the `chain` attribute of every metric | the last role's name |
///
/// Each hop's settings are those of [`Role`], whose page has the table of STS's limits.
#[derive(Default)]
pub struct RoleChainProviderBuilder {
    sdk_config: Option<SdkConfig>,
    base_provider: Option<SharedCredentialsProvider>,
    region: Option<Region>,
    endpoint_url: Option<String>,
    pub(crate) roles: Vec<Role>,
    time_source: Option<SharedTimeSource>,
    sleep_impl: Option<SharedAsyncSleep>,
    refresh_policy: RefreshPolicy,
    profile: Option<String>,
    profile_files: Option<EnvConfigFiles>,
    mfa_token_provider: Option<MfaTokenProvider>,
    telemetry_provider: Option<Arc<TelemetryProvider>>,
    name: Option<String>,
}

impl RoleChainProviderBuilder {
    /// Takes the base credentials provider, region, endpoint URL, HTTP client, retry and timeout
    /// configuration, time source and sleep implementation from an `SdkConfig`, for instance the
    /// one `aws_config::load_from_env()` returns. Its identity cache is not used: the provider
    /// caches for itself.
    pub fn configure(mut self, config: &SdkConfig) -> Self {
        self.sdk_config = Some(config.clone());
        self
    }

    /// The credentials that sign hop 0: any provider, such as an instance profile, an ECS task
    /// role, SSO or static keys. Required unless a [`profile`](Self::profile) or
    /// [`configure`](Self::configure) brings one.
    pub fn base_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.base_provider = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// The region whose STS endpoint is called. Default: the [`profile`](Self::profile)'s
    /// `region`, else the region of [`configure`](Self::configure), else `us-east-1`.
    pub fn region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }

    /// A custom STS endpoint, such as `http://127.0.0.1:4566` for a local emulator or a VPC
    /// endpoint. Must start with `http://` or `https://`. Default: the regional STS endpoint.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Appends a role to the chain. The first role is assumed with the base credentials, each
    /// later one with the credentials of the role before it; after a
    /// [`profile`](Self::profile)'s roles. At least one role is required.
    pub fn assume(mut self, role: Role) -> Self {
        self.roles.push(role);
        self
    }

    /// Reads the chain from the shared AWS config and credentials files: the roles of profile
    /// `name` and of the profiles its `source_profile` names, root first, and the root profile's
    /// credentials as the base (static keys, `credential_source`, SSO, `credential_process` or
    /// web identity), with the profile's `region`. The files are found as every AWS SDK finds
    /// them (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/config`,
    /// `~/.aws/credentials`) unless [`profile_files`](Self::profile_files) names others, and
    /// read by [`build`](Self::build). See [the AWS config files](crate::guide::config_files).
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// The config and credentials files to read the [`profile`](Self::profile) from instead
    /// of the default ones, as aws-config's `ConfigLoader::profile_files` takes them.
    pub fn profile_files(mut self, files: EnvConfigFiles) -> Self {
        self.profile_files = Some(files);
        self
    }

    /// Where the MFA codes of the roles with [`Role::mfa_serial`] come from: an async function
    /// given an [`MfaRequest`] that returns the device's current 6-digit code. Required when a
    /// role has an MFA serial.
    ///
    /// It is called only when such a hop must be fetched, once per fetch, and gets three
    /// quarters of [`RefreshPolicy::fetch_timeout`] to answer (raise that for a person at a
    /// prompt). A hop fetched with a code is kept for its whole lifetime: the later hops refresh
    /// from it without a new code. The code is checked (6 digits) and never logged.
    ///
    /// A type that implements [`ProvideMfaToken`] is set with
    /// [`mfa_token_source`](Self::mfa_token_source).
    pub fn mfa_token_provider<F, Fut>(self, f: F) -> Self
    where
        F: Fn(MfaRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
    {
        self.mfa_token_source(f)
    }

    /// Where the MFA codes come from, as a [`ProvideMfaToken`]: the same as
    /// [`mfa_token_provider`](Self::mfa_token_provider), for a token provider that is a type of
    /// its own rather than a closure.
    pub fn mfa_token_source(mut self, provider: impl ProvideMfaToken + 'static) -> Self {
        self.mfa_token_provider = Some(MfaTokenProvider::new(provider));
        self
    }

    /// The clock for expiry decisions and request signing. Default: the one from
    /// [`configure`](Self::configure), else the system clock.
    pub fn time_source(mut self, ts: impl TimeSource + 'static) -> Self {
        self.time_source = Some(SharedTimeSource::new(ts));
        self
    }

    /// How to sleep (for the SDK's retries and timeouts). Default: the one from
    /// [`configure`](Self::configure), else tokio's.
    pub fn sleep_impl(mut self, sleep: impl AsyncSleep + 'static) -> Self {
        self.sleep_impl = Some(SharedAsyncSleep::new(sleep));
        self
    }

    /// When to refresh ahead of expiry and how to back off after failures. Default:
    /// [`RefreshPolicy::default()`].
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.refresh_policy = policy;
        self
    }

    /// Where the chain's metrics go. Without it, they go to the global telemetry provider of
    /// `aws-smithy-observability`, the one the AWS SDK's own metrics use, looked up at each
    /// record as the SDK does; with the no-op provider (the default) nothing is recorded. See
    /// [Metrics](crate::guide::metrics).
    pub fn telemetry_provider(mut self, provider: impl Into<Arc<TelemetryProvider>>) -> Self {
        self.telemetry_provider = Some(provider.into());
        self
    }

    /// The `chain` attribute of every metric this chain records, such as `"storage"`: at most
    /// 64 letters, digits and `-_.:/`. Defaults to the last role's name (never its account or
    /// ExternalId).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Checks every setting and builds the provider. Reads the AWS config files if a
    /// [`profile`](Self::profile) is set, but makes no request and starts no task: the
    /// background refresh starts with the first call, on that caller's tokio runtime.
    pub fn build(self) -> Result<RoleChainProvider, BuildError> {
        self.build_with(&Env::real(), &Fs::real())
    }

    /// [`build`](Self::build), reading the environment and the files through `env` and `fs`.
    pub(crate) fn build_with(self, env: &Env, fs: &Fs) -> Result<RoleChainProvider, BuildError> {
        let parts = self.parts(env, fs, Roles::Required)?;
        let context = Context::new(
            parts.sts,
            parts.base,
            parts.time.clone(),
            parts.policy.clone(),
            parts.metrics.clone(),
        );
        let chain = Chain::new(context, parts.hops);
        Ok(RoleChainProvider::new(
            chain,
            parts.policy,
            parts.time,
            parts.system_clock,
            parts.sleep,
            parts.metrics,
        ))
    }

    /// Every setting checked and resolved: what a provider is made of, and a pool's shared hops.
    pub(crate) fn parts(self, env: &Env, fs: &Fs, roles: Roles) -> Result<Parts, BuildError> {
        let profile = self.load_profile(env, fs)?;
        let required = roles;
        let roles = self.roles(profile.as_ref(), roles)?;
        if let Some(url) = &self.endpoint_url {
            check_endpoint_url(url)?;
        }
        self.refresh_policy.validate()?;
        let metrics = self.metrics(&roles, required)?;
        let sdk = self.sdk_config.as_ref();
        let time = self
            .time_source
            .clone()
            .or_else(|| sdk.and_then(SdkConfig::time_source))
            .unwrap_or_default();
        let system_clock = self.time_source.is_none() && is_system_clock(&time);
        let sleep = self
            .sleep_impl
            .clone()
            .or_else(|| sdk.and_then(SdkConfig::sleep_impl))
            .or_else(default_async_sleep)
            .ok_or_else(|| {
                BuildError::new(
                    None,
                    "sleep_impl",
                    "no sleep implementation; set one with RoleChainProviderBuilder::sleep_impl",
                )
            })?;
        let region = self
            .region
            .clone()
            .or_else(|| profile.as_ref().and_then(|p| p.region.clone()))
            .or_else(|| sdk.and_then(|c| c.region().cloned()))
            .unwrap_or_else(|| Region::from_static(DEFAULT_REGION));
        // An endpoint set explicitly or by configure wins over sts_regional_endpoints.
        let set = (self.endpoint_url.as_deref()).or_else(|| sdk.and_then(SdkConfig::endpoint_url));
        let (endpoint, sts_region) = sts_endpoint(set, profile.as_ref(), &region);
        let sts = self.sts_client(sts_region, endpoint, &time, &sleep);
        let base = self.base(profile, &region, &time, &sleep)?;
        let mfa = self.mfa_token_provider.clone().map(|provider| Mfa {
            provider,
            sleep: sleep.clone(),
            timeout: self.refresh_policy.mfa_timeout(),
        });
        let session_name = default_session_name(&time);
        let hops = roles
            .into_iter()
            .enumerate()
            .map(|(index, role)| Hop::new(index, role, &session_name, mfa.clone()))
            .collect();
        Ok(Parts {
            sts,
            base,
            hops,
            time,
            system_clock,
            sleep,
            policy: self.refresh_policy,
            session_name,
            metrics,
        })
    }

    /// The chain's metrics, named by `name`, else by the last role's name (a pool's, "pool").
    fn metrics(&self, roles: &[Role], required: Roles) -> Result<Metrics, BuildError> {
        let name = match (&self.name, roles.last(), required) {
            (Some(name), _, _) => {
                check_name(name)?;
                name.clone()
            }
            (None, Some(role), Roles::Required) => role.name().to_owned(),
            (None, _, _) => "pool".to_owned(),
        };
        Ok(Metrics::new(self.telemetry_provider.clone(), &name))
    }

    /// The chain of the profile, if one is set.
    fn load_profile(&self, env: &Env, fs: &Fs) -> Result<Option<ProfileChain>, BuildError> {
        let Some(name) = &self.profile else {
            return Ok(None);
        };
        let files = self.profile_files.clone().unwrap_or_default();
        profile::load(name, env, fs, &files).map(Some)
    }

    /// The profile's roles, then those added with `assume`, each checked.
    fn roles(
        &self,
        profile: Option<&ProfileChain>,
        required: Roles,
    ) -> Result<Vec<Role>, BuildError> {
        let from_profile = profile.map_or(&[][..], |p| &p.roles[..]);
        if from_profile.is_empty() && self.roles.is_empty() && required == Roles::Required {
            let message = match &self.profile {
                Some(name) => format!(
                    "profile {name:?} assumes no role (it has no role_arn) and none was added with \
                     RoleChainProviderBuilder::assume; name a profile with a role_arn"
                ),
                None => "the chain has no role; add one with \
                         RoleChainProviderBuilder::assume(Role::new(\"arn:aws:iam::<account>:role/<name>\"))"
                    .to_owned(),
            };
            let field = if self.profile.is_some() {
                "profile"
            } else {
                "roles"
            };
            return Err(BuildError::new(None, field, message));
        }
        let roles: Vec<(Option<&str>, &Role)> = from_profile
            .iter()
            .map(|p| (Some(p.profile.as_str()), &p.role))
            .chain(self.roles.iter().map(|role| (None, role)))
            .collect();
        for (hop, (profile, role)) in roles.iter().enumerate() {
            role.validate(hop).map_err(|err| match profile {
                Some(profile) => err.in_profile(profile),
                None => err,
            })?;
            if role.mfa_serial.is_some() && self.mfa_token_provider.is_none() {
                return Err(BuildError::new(
                    Some(hop),
                    "mfa_token_provider",
                    "this role has an mfa_serial, so its hop needs an MFA code: set \
                     RoleChainProviderBuilder::mfa_token_provider to a function that returns the device's code",
                ));
            }
        }
        Ok(roles.into_iter().map(|(_, role)| role.clone()).collect())
    }

    /// The provider of hop 0's credentials: `base_provider`, else the profile's root, else the
    /// one `configure` brought.
    fn base(
        &self,
        profile: Option<ProfileChain>,
        region: &Region,
        time: &SharedTimeSource,
        sleep: &SharedAsyncSleep,
    ) -> Result<SharedCredentialsProvider, BuildError> {
        if let Some(base) = &self.base_provider {
            return Ok(base.clone());
        }
        if let Some(profile) = profile {
            let files = self.profile_files.clone().unwrap_or_default();
            let settings = profile::RootSettings {
                sdk_config: self.sdk_config.as_ref(),
                region,
                time,
                sleep,
                files: &files,
            };
            return profile::root_provider(profile.root, &settings);
        }
        self.sdk_config
            .as_ref()
            .and_then(SdkConfig::credentials_provider)
            .ok_or_else(|| {
                BuildError::new(
                    None,
                    "base_provider",
                    "no base credentials provider; set one with RoleChainProviderBuilder::base_provider, name a \
                     profile with RoleChainProviderBuilder::profile, or pass an SdkConfig that has one to \
                     RoleChainProviderBuilder::configure",
                )
            })
    }

    /// The STS client every hop calls, configured from `configure`'s `SdkConfig` and the
    /// explicit settings, which win. It caches no identity: each call brings its signer.
    fn sts_client(
        &self,
        region: Region,
        endpoint: Option<&str>,
        time: &SharedTimeSource,
        sleep: &SharedAsyncSleep,
    ) -> aws_sdk_sts::Client {
        let sdk = self.sdk_config.as_ref();
        let mut sts = match sdk {
            Some(sdk) => aws_sdk_sts::config::Builder::from(sdk),
            None => aws_sdk_sts::Config::builder(),
        };
        let behavior_version = sdk
            .and_then(SdkConfig::behavior_version)
            .unwrap_or_else(BehaviorVersion::latest);
        sts = sts
            .behavior_version(behavior_version)
            .identity_cache(IdentityCache::no_cache())
            .region(region)
            .time_source(time.clone())
            .sleep_impl(sleep.clone());
        if let Some(url) = endpoint {
            sts = sts.endpoint_url(url);
        }
        aws_sdk_sts::Client::from_conf(sts.build())
    }
}

/// Whether a chain needs a role of its own: a provider's does, a pool's shared hops may be none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Roles {
    Required,
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    Optional,
}

/// What [`RoleChainProviderBuilder::parts`] makes of the settings.
pub(crate) struct Parts {
    /// The client every hop calls, caching no identity.
    pub(crate) sts: aws_sdk_sts::Client,
    /// The credentials that sign hop 0.
    pub(crate) base: SharedCredentialsProvider,
    pub(crate) hops: Vec<Hop>,
    pub(crate) time: SharedTimeSource,
    /// Whether `time` is the system clock, which the cached path then reads coarsely.
    pub(crate) system_clock: bool,
    pub(crate) sleep: SharedAsyncSleep,
    pub(crate) policy: RefreshPolicy,
    /// The session name of the hops that set none.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) session_name: String,
    pub(crate) metrics: Metrics,
}

/// The STS endpoint and the region to sign for: `explicit` (`endpoint_url`, or `configure`'s) in
/// `region`, else
/// STS's global endpoint, which signs in `us-east-1`, when the profile asks for it in `region`
/// (`sts_regional_endpoints = legacy`), else `region`'s own endpoint.
fn sts_endpoint<'a>(
    explicit: Option<&'a str>,
    profile: Option<&ProfileChain>,
    region: &Region,
) -> (Option<&'a str>, Region) {
    match explicit {
        Some(url) => (Some(url), region.clone()),
        None if profile.is_some_and(|p| p.uses_global_sts(region)) => (
            Some(GLOBAL_STS_ENDPOINT),
            Region::from_static(DEFAULT_REGION),
        ),
        None => (None, region.clone()),
    }
}

/// `aws-role-chain-<unix millis>`: one session name for the hops that set none, telling the
/// provider's sessions apart in CloudTrail.
/// Whether `time` is the SDK's system clock, as `SharedTimeSource::default()` and
/// `aws_config::load_from_env()` give it (a `SharedTimeSource` may hold another). It shows
/// nothing of what it holds but its `Debug`; a clock that is not recognised, whatever it is, is
/// read as it is.
fn is_system_clock(time: &SharedTimeSource) -> bool {
    let debug = format!("{time:?}");
    let mut inner = debug.as_str();
    while let Some(held) = inner
        .strip_prefix("SharedTimeSource(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        inner = held;
    }
    inner == "SystemTimeSource"
}

fn default_session_name(time: &SharedTimeSource) -> String {
    let since_epoch = time.now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("aws-role-chain-{}", since_epoch.as_millis())
}

/// The metrics' `chain` attribute: short, and plain enough for any metrics backend.
fn check_name(name: &str) -> Result<(), BuildError> {
    const LONGEST: usize = 64;
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/".contains(c);
    if name.is_empty() || name.len() > LONGEST || !name.chars().all(plain) {
        return Err(BuildError::new(
            None,
            "name",
            format!(
                "the chain's name must be 1 to {LONGEST} letters, digits or -_.:/ (it is the \
                 `chain` attribute of every metric), not {name:?}"
            ),
        ));
    }
    Ok(())
}

fn check_endpoint_url(url: &str) -> Result<(), BuildError> {
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !url.contains(char::is_whitespace) => Ok(()),
        _ => Err(BuildError::new(
            None,
            "endpoint_url",
            format!("must be an http:// or https:// URL with a host, such as https://sts.eu-west-1.amazonaws.com; got {url:?}"),
        )),
    }
}

impl fmt::Debug for RoleChainProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleChainProviderBuilder")
            .field("configured", &self.sdk_config.is_some())
            .field("base_provider", &self.base_provider)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("roles", &self.roles)
            .field("profile", &self.profile)
            .field("mfa_token_provider", &self.mfa_token_provider.is_some())
            .field("refresh_policy", &self.refresh_policy)
            .field("telemetry_provider", &self.telemetry_provider.is_some())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cases;
    use aws_credential_types::Credentials;
    use aws_smithy_async::time::{StaticTimeSource, SystemTimeSource};

    fn reads_the_coarse_clock(builder: RoleChainProviderBuilder) -> bool {
        let provider = builder
            .base_provider(Credentials::new("AKID", "secret", None, None, "test"))
            .assume(Role::new("arn:aws:iam::111111111111:role/r"))
            .build()
            .unwrap();
        provider.reads_the_coarse_clock()
    }

    #[test]
    fn the_cached_path_reads_the_coarse_clock_only_for_the_system_clock() {
        let linux = cfg!(target_os = "linux");
        let sdk = |time: SharedTimeSource| SdkConfig::builder().time_source(time).build();
        assert_eq!(
            reads_the_coarse_clock(RoleChainProviderBuilder::default()),
            linux
        );
        // What aws_config::load_from_env() brings.
        let system = sdk(SharedTimeSource::default());
        assert_eq!(
            reads_the_coarse_clock(RoleChainProviderBuilder::default().configure(&system)),
            linux
        );
        let manual = sdk(SharedTimeSource::new(StaticTimeSource::new(UNIX_EPOCH)));
        assert!(!reads_the_coarse_clock(
            RoleChainProviderBuilder::default().configure(&manual)
        ));
        // A clock given explicitly is read as it is, whatever it is.
        let explicit = RoleChainProviderBuilder::default().time_source(SystemTimeSource::new());
        assert!(!reads_the_coarse_clock(explicit));
    }

    fn endpoint_accepted(url: &str) {
        assert_eq!(check_endpoint_url(url), Ok(()));
    }

    cases! { endpoint_accepted:
        an_http_endpoint_with_a_port_is_accepted: "http://127.0.0.1:4566";
        an_https_endpoint_with_a_path_is_accepted: "https://sts.eu-west-1.amazonaws.com/";
        an_http_endpoint_of_a_name_is_accepted: "http://localhost";
    }

    fn endpoint_refused(url: &str) {
        assert_eq!(check_endpoint_url(url).unwrap_err().field(), "endpoint_url");
    }

    cases! { endpoint_refused:
        an_empty_endpoint_is_refused: "";
        an_endpoint_without_a_scheme_is_refused: "127.0.0.1:4566";
        an_ftp_endpoint_is_refused: "ftp://host";
        an_endpoint_without_a_host_is_refused: "http://";
        an_endpoint_with_only_a_path_is_refused: "http:///path";
        an_endpoint_with_a_space_is_refused: "https://a b";
    }

    const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
    const STORAGE: &str = "arn:aws:iam::111111111111:role/storage";

    /// `[profile storage]` assumed from `[profile broker]`, from the keys of `[base]`, in
    /// eu-west-1, with `extra` settings in the storage profile.
    fn config(extra: &str) -> String {
        format!(
            "[profile storage]\nrole_arn = {STORAGE}\nsource_profile = broker\n\
             role_session_name = nightly\nregion = eu-west-1\n{extra}\n\
             [profile broker]\nrole_arn = {BROKER}\nsource_profile = base\n\
             [profile base]\naws_access_key_id = AKID\naws_secret_access_key = secret\n"
        )
    }

    /// Builds profile `storage` with this environment and these files.
    fn build(
        builder: RoleChainProviderBuilder,
        env: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Result<RoleChainProvider, BuildError> {
        builder
            .profile("storage")
            .build_with(&Env::from_slice(env), &Fs::from_slice(files))
    }

    /// (role ARN, session name) of each hop, and the region the STS client signs for.
    fn chain_of(provider: &RoleChainProvider) -> (Vec<(String, String)>, String) {
        let chain = provider.chain();
        let hops = chain
            .hops()
            .iter()
            .map(|hop| (hop.role.role_arn().to_owned(), hop.session_name.clone()))
            .collect();
        let region = chain.sts().config().region().unwrap().to_string();
        (hops, region)
    }

    /// Name-value pairs: environment variables, or paths and contents of files.
    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn env_and_files((env, files): (Pairs<'_>, Pairs<'_>)) {
        let config = config("");
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(path, _)| (*path, config.as_str()))
            .collect();
        let provider = build(RoleChainProviderBuilder::default(), env, &files).unwrap();
        let (hops, region) = chain_of(&provider);
        assert_eq!(hops[0].0, BROKER);
        assert!(hops[0].1.starts_with("aws-role-chain-"), "{hops:?}");
        assert_eq!(hops[1], (STORAGE.to_owned(), "nightly".to_owned()));
        assert_eq!(region, "eu-west-1");
    }

    cases! { env_and_files:
        the_files_named_by_the_environment_are_read: (
            &[("AWS_CONFIG_FILE", "/etc/aws/config"), ("AWS_SHARED_CREDENTIALS_FILE", "/etc/aws/credentials")],
            &[("/etc/aws/config", ""), ("/etc/aws/credentials", "")]);
        the_files_in_the_home_directory_are_read: (
            &[("HOME", "/home/me")],
            &[("/home/me/.aws/config", "")]);
    }

    #[test]
    fn without_files_no_profile_is_known() {
        let err = build(
            RoleChainProviderBuilder::default(),
            &[("HOME", "/home/me")],
            &[],
        )
        .unwrap_err();
        assert_eq!(err.field(), "profile");
        assert!(err.to_string().contains("the files define: none"), "{err}");
    }

    fn region((builder, expected): (RoleChainProviderBuilder, &str)) {
        let config = config("");
        let files = [("/home/me/.aws/config", config.as_str())];
        let provider = build(builder, &[("HOME", "/home/me")], &files).unwrap();
        assert_eq!(chain_of(&provider).1, expected);
    }

    fn configured(region: &'static str) -> RoleChainProviderBuilder {
        let sdk = SdkConfig::builder()
            .region(Region::from_static(region))
            .behavior_version(BehaviorVersion::latest())
            .build();
        RoleChainProviderBuilder::default().configure(&sdk)
    }

    cases! { region:
        the_profiles_region_wins_over_configures: (configured("us-west-1"), "eu-west-1");
        an_explicit_region_wins_over_the_profiles: (
            configured("us-west-1").region(Region::from_static("ap-south-1")), "ap-south-1");
    }

    /// Profile `storage` of `config(extra)`, written at `path`, with environment `env`.
    fn storage_profile(env: Pairs<'_>, path: &str, extra: &str) -> ProfileChain {
        let config = config(extra);
        let files = [(path, config.as_str())];
        let (env, fs) = (Env::from_slice(env), Fs::from_slice(&files));
        profile::load("storage", &env, &fs, &EnvConfigFiles::default()).unwrap()
    }

    fn endpoint(
        (env, extra, region, expected): (Pairs<'_>, &str, &'static str, (Option<&str>, &str)),
    ) {
        let mut env = env.to_vec();
        env.push(("HOME", "/home/me"));
        let profile = storage_profile(&env, "/home/me/.aws/config", extra);
        let (url, signing) = sts_endpoint(None, Some(&profile), &Region::from_static(region));
        assert_eq!((url, signing.as_ref()), expected);
    }

    cases! { endpoint:
        legacy_calls_the_global_endpoint_in_a_region_that_had_it: (
            &[], "sts_regional_endpoints = legacy", "us-west-2", (Some(GLOBAL_STS_ENDPOINT), "us-east-1"));
        legacy_calls_the_regional_endpoint_in_a_newer_region: (
            &[], "sts_regional_endpoints = legacy", "eu-south-1", (None, "eu-south-1"));
        regional_calls_the_regional_endpoint: (
            &[], "sts_regional_endpoints = regional", "us-west-2", (None, "us-west-2"));
        the_environment_variable_wins_over_the_profile: (
            &[("AWS_STS_REGIONAL_ENDPOINTS", "legacy")], "sts_regional_endpoints = regional", "eu-west-1",
            (Some(GLOBAL_STS_ENDPOINT), "us-east-1"));
    }

    /// Under `legacy`, each of the 16 regions botocore lists calls the global endpoint, signing
    /// for us-east-1, and the regions opened since call their own.
    #[test]
    fn legacy_calls_the_global_endpoint_in_each_region_that_had_it_and_no_other() {
        let global = [
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
        let env = [("HOME", "/home/me")];
        let profile = storage_profile(
            &env,
            "/home/me/.aws/config",
            "sts_regional_endpoints = legacy",
        );
        for region in global {
            let (url, signing) = sts_endpoint(None, Some(&profile), &Region::from_static(region));
            assert_eq!(
                (url, signing.as_ref()),
                (Some(GLOBAL_STS_ENDPOINT), "us-east-1"),
                "{region}"
            );
        }
        let newer = [
            "af-south-1",
            "ap-east-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-2",
            "ap-southeast-3",
            "ca-west-1",
            "eu-central-2",
            "eu-south-1",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "cn-north-1",
            "us-gov-west-1",
        ];
        for region in newer {
            let (url, signing) = sts_endpoint(None, Some(&profile), &Region::from_static(region));
            assert_eq!((url, signing.as_ref()), (None, region), "{region}");
        }
    }

    /// Profile `storage`, its roots keys in the credentials file alone, found through `env`
    /// among `files`: the base provider gives the keys `expected`.
    fn root_keys((env, files, expected): (Pairs<'_>, Pairs<'_>, &str)) {
        let roles = format!(
            "[profile storage]\nrole_arn = {STORAGE}\nsource_profile = broker\nregion = eu-west-1\n\
             [profile broker]\nrole_arn = {BROKER}\nsource_profile = base\n"
        );
        let files: Vec<(&str, String)> = files
            .iter()
            .map(|(path, keys)| match *keys {
                "roles" => (*path, roles.clone()),
                keys => (
                    *path,
                    format!("[base]\naws_access_key_id = {keys}\naws_secret_access_key = s\n"),
                ),
            })
            .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let provider = build(RoleChainProviderBuilder::default(), env, &files).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let base = runtime
            .block_on(provider.chain().base().provide_credentials())
            .unwrap();
        assert_eq!(base.access_key_id(), expected);
        assert_eq!(chain_of(&provider).0[1].0, STORAGE);
    }

    cases! { root_keys:
        the_credentials_file_named_by_the_environment_holds_the_root_keys: (
            &[("AWS_CONFIG_FILE", "/etc/aws/config"), ("AWS_SHARED_CREDENTIALS_FILE", "/etc/aws/credentials"), ("HOME", "/home/me")],
            &[("/etc/aws/config", "roles"), ("/etc/aws/credentials", "AKIDETC"), ("/home/me/.aws/credentials", "AKIDHOME")],
            "AKIDETC");
        the_credentials_file_in_the_home_directory_holds_the_root_keys: (
            &[("HOME", "/home/me")],
            &[("/home/me/.aws/config", "roles"), ("/home/me/.aws/credentials", "AKIDHOME"), ("/etc/aws/credentials", "AKIDETC")],
            "AKIDHOME");
    }

    #[test]
    fn an_explicit_endpoint_wins_over_legacy() {
        let env = [("AWS_CONFIG_FILE", "/c")];
        let profile = storage_profile(&env, "/c", "sts_regional_endpoints = legacy");
        let region = Region::from_static("us-west-2");
        let (url, signing) = sts_endpoint(Some("http://127.0.0.1:1"), Some(&profile), &region);
        assert_eq!(
            (url, signing.as_ref()),
            (Some("http://127.0.0.1:1"), "us-west-2")
        );
    }
}
