//! The public face: [`RoleChainProvider`] and its [`Builder`].

use std::fmt;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, IdentityCache};
use aws_smithy_async::rt::sleep::{default_async_sleep, AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use aws_types::region::Region;
use aws_types::SdkConfig;
use tracing::{debug, debug_span, field, trace, Instrument};

use crate::cache::{Cache, Fetch};
use crate::chain::Chain;
use crate::error::{BuildError, Error, ErrorKind};
use crate::hop::Hop;
use crate::policy::RefreshPolicy;
use crate::role::Role;
use crate::status::Status;

/// The region whose STS endpoint is called when neither [`Builder::region`] nor
/// [`Builder::configure`] names one: STS's historical global endpoint lives there.
const DEFAULT_REGION: &str = "us-east-1";

/// Credentials from a chain of STS `AssumeRole` calls, cached until shortly before they expire.
///
/// Hop 0 assumes the first role with the base credentials; every later hop assumes its role with
/// the credentials of the hop before; callers get the last hop's credentials. Concurrent callers
/// share one chain run, and while the credentials are fresh no call reaches STS.
///
/// Cloning is cheap and clones share the cache. Use it directly through
/// [`credentials`](RoleChainProvider::credentials), or hand it to any AWS SDK client as its
/// `credentials_provider`.
///
/// ```no_run
/// use aws_role_chain::{RoleChainProvider, Role};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let sdk_config = aws_config::load_from_env().await;
/// let provider = RoleChainProvider::builder()
///     .configure(&sdk_config)
///     .assume(Role::new("arn:aws:iam::111111111111:role/storage-access").external_id("7f3a9c"))
///     .build()?;
/// let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
///     .credentials_provider(provider)
///     .build();
/// let s3 = aws_sdk_s3::Client::from_conf(s3_config);
/// # let _ = s3; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RoleChainProvider {
    inner: Arc<Inner>,
}

struct Inner {
    chain: Arc<Chain>,
    cache: Cache<Credentials, Error>,
    time: SharedTimeSource,
}

impl RoleChainProvider {
    /// A builder for a provider; see [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The credentials of the last hop.
    ///
    /// Served from the cache at once while they are outside their mandatory window (by default
    /// more than 60 s from expiry); a background task refreshes them before that. The first call
    /// waits for the first chain run, shared by all concurrent callers. A call that finds the
    /// background task gone with its runtime and a refresh due starts the task on its own
    /// runtime and waits for that refresh (see the README's "Runtimes").
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        if let Some(credentials) = self.inner.cache.get() {
            trace!("served cached credentials");
            return Ok(credentials);
        }
        // Out of line, so that the cached path's future stays small.
        Box::pin(self.inner.get_or_wait()).await
    }

    /// Drops the cached credentials, so that the next call waits for fresh ones (one chain run,
    /// shared by all callers and by concurrent invalidations). For use after a service rejected
    /// them, with `InvalidClientTokenId` or `ExpiredToken`.
    ///
    /// Invalidations start at most one chain run per
    /// [`RefreshPolicy::invalidation_backoff`] (1 s, doubling up to 1 min while they keep
    /// arriving right after fresh credentials); one that must wait for that keeps the
    /// credentials in service until its run. While refreshes are failing, their backoff stands.
    ///
    /// An SDK client keeps credentials in its own identity cache, which this does not reach:
    /// build the client with `IdentityCache::no_cache()` (free here, since this provider caches)
    /// so that each request asks the provider.
    ///
    /// ```no_run
    /// # async fn example(provider: aws_role_chain::RoleChainProvider, sdk_config: aws_types::SdkConfig) {
    /// use aws_sdk_s3::config::IdentityCache;
    /// use aws_sdk_s3::error::ProvideErrorMetadata;
    ///
    /// let s3 = aws_sdk_s3::Client::from_conf(
    ///     aws_sdk_s3::config::Builder::from(&sdk_config)
    ///         .credentials_provider(provider.clone())
    ///         .identity_cache(IdentityCache::no_cache())
    ///         .build(),
    /// );
    /// if let Err(err) = s3.list_buckets().send().await {
    ///     if matches!(err.code(), Some("InvalidClientTokenId" | "ExpiredToken")) {
    ///         provider.invalidate();
    ///     }
    /// }
    /// # }
    /// ```
    pub fn invalidate(&self) {
        debug!("cached credentials invalidated");
        self.inner.cache.invalidate();
    }

    /// A snapshot of the provider's state for health checks: expiry, next refresh, successes,
    /// failures, last error, and each hop's expiry. Never contains a secret.
    pub fn status(&self) -> Status {
        let inner = &self.inner;
        Status::new(&inner.cache.snapshot(), &inner.chain, inner.time.now())
    }
}

impl Inner {
    /// The slow path: waits for the cache, in a span that records the outcome.
    async fn get_or_wait(&self) -> Result<Credentials, Error> {
        let span = debug_span!(
            "role_chain_credentials",
            hops = self.chain.hops().len(),
            outcome = field::Empty
        );
        let result = self.cache.get_or_wait().instrument(span.clone()).await;
        match &result {
            Ok(_) => span.record("outcome", field::display("success")),
            Err(err) => span.record("outcome", field::display(err.kind())),
        };
        result
    }
}

impl ProvideCredentials for RoleChainProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        // A cached call needs no future at all: no box, no state machine.
        match self.inner.cache.get() {
            Some(credentials) => {
                trace!("served cached credentials");
                future::ProvideCredentials::ready(Ok(credentials))
            }
            None => future::ProvideCredentials::new(async move {
                self.inner
                    .get_or_wait()
                    .await
                    .map_err(into_credentials_error)
            }),
        }
    }

    /// The cached credentials while they have not expired, for when the SDK gives up waiting.
    fn fallback_on_interrupt(&self) -> Option<Credentials> {
        self.inner.cache.get_unexpired()
    }
}

/// Maps an [`Error`] onto the SDK's `CredentialsError`, keeping it as the source so that callers
/// can downcast to it.
fn into_credentials_error(err: Error) -> CredentialsError {
    match err.kind() {
        ErrorKind::InvalidConfiguration | ErrorKind::AccessDenied => {
            CredentialsError::invalid_configuration(err)
        }
        _ => CredentialsError::provider_error(err),
    }
}

impl fmt::Debug for RoleChainProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<&str> = self
            .inner
            .chain
            .hops()
            .iter()
            .map(|h| h.role.role_arn())
            .collect();
        f.debug_struct("RoleChainProvider")
            .field("roles", &roles)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RoleChainProvider`]. All validation happens in [`build`](Builder::build), before
/// any request.
///
/// Settings given explicitly win over those brought by [`configure`](Builder::configure),
/// whatever the order of the calls.
#[derive(Default)]
pub struct Builder {
    sdk_config: Option<SdkConfig>,
    base_provider: Option<SharedCredentialsProvider>,
    region: Option<Region>,
    endpoint_url: Option<String>,
    roles: Vec<Role>,
    time_source: Option<SharedTimeSource>,
    sleep_impl: Option<SharedAsyncSleep>,
    refresh_policy: RefreshPolicy,
}

impl Builder {
    /// Takes the base credentials provider, region, endpoint URL, HTTP client, retry and timeout
    /// configuration, time source and sleep implementation from an `SdkConfig`, for instance the
    /// one `aws_config::load_from_env()` returns. Its identity cache is not used: the provider
    /// caches for itself.
    pub fn configure(mut self, config: &SdkConfig) -> Self {
        self.sdk_config = Some(config.clone());
        self
    }

    /// The credentials that sign hop 0: any provider, such as an instance profile, an ECS task
    /// role, SSO or static keys. Required unless [`configure`](Builder::configure) brings one.
    pub fn base_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.base_provider = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// The region whose STS endpoint is called. Default: the region of
    /// [`configure`](Builder::configure), else `us-east-1`.
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
    /// later one with the credentials of the role before it. At least one is required.
    pub fn assume(mut self, role: Role) -> Self {
        self.roles.push(role);
        self
    }

    /// The clock for expiry decisions and request signing. Default: the one from
    /// [`configure`](Builder::configure), else the system clock.
    pub fn time_source(mut self, ts: impl TimeSource + 'static) -> Self {
        self.time_source = Some(SharedTimeSource::new(ts));
        self
    }

    /// How to sleep (for the SDK's retries and timeouts). Default: the one from
    /// [`configure`](Builder::configure), else tokio's.
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

    /// Checks every setting and builds the provider. Makes no request and starts no task: the
    /// background refresh starts with the first call, on that caller's tokio runtime.
    pub fn build(self) -> Result<RoleChainProvider, BuildError> {
        self.validate()?;
        let sdk = self.sdk_config.as_ref();
        let base = self
            .base_provider
            .clone()
            .or_else(|| sdk.and_then(SdkConfig::credentials_provider))
            .ok_or_else(|| {
                BuildError::new(
                    None,
                    "base_provider",
                    "no base credentials provider; set one with Builder::base_provider, or pass an \
                     SdkConfig that has one to Builder::configure",
                )
            })?;
        let time = self
            .time_source
            .clone()
            .or_else(|| sdk.and_then(SdkConfig::time_source))
            .unwrap_or_default();
        let sleep = self
            .sleep_impl
            .clone()
            .or_else(|| sdk.and_then(SdkConfig::sleep_impl))
            .or_else(default_async_sleep)
            .ok_or_else(|| {
                BuildError::new(
                    None,
                    "sleep_impl",
                    "no sleep implementation; set one with Builder::sleep_impl",
                )
            })?;
        let sts = self.sts_client(&time, &sleep);
        let hops = hops(self.roles, &default_session_name(&time));
        let policy = self.refresh_policy;
        let chain = Arc::new(Chain::new(sts, base, hops, time.clone(), policy.clone()));
        let cache = Cache::new(run_chain(&chain), policy, time.clone(), sleep);
        Ok(RoleChainProvider {
            inner: Arc::new(Inner { chain, cache, time }),
        })
    }

    /// Every rule that needs no other setting: the roles, the endpoint URL, the refresh policy.
    fn validate(&self) -> Result<(), BuildError> {
        if self.roles.is_empty() {
            return Err(BuildError::new(
                None,
                "roles",
                "the chain has no role; add one with Builder::assume(Role::new(\"arn:aws:iam::<account>:role/<name>\"))",
            ));
        }
        for (hop, role) in self.roles.iter().enumerate() {
            role.validate(hop)?;
        }
        if let Some(url) = &self.endpoint_url {
            check_endpoint_url(url)?;
        }
        self.refresh_policy.validate()
    }

    /// The STS client every hop calls, configured from `configure`'s `SdkConfig` and the
    /// explicit settings, which win. It caches no identity: each call brings its signer.
    fn sts_client(&self, time: &SharedTimeSource, sleep: &SharedAsyncSleep) -> aws_sdk_sts::Client {
        let sdk = self.sdk_config.as_ref();
        let mut sts = match sdk {
            Some(sdk) => aws_sdk_sts::config::Builder::from(sdk),
            None => aws_sdk_sts::Config::builder(),
        };
        let behavior_version = sdk
            .and_then(SdkConfig::behavior_version)
            .unwrap_or_else(BehaviorVersion::latest);
        let region = self
            .region
            .clone()
            .or_else(|| sdk.and_then(|c| c.region().cloned()))
            .unwrap_or_else(|| Region::from_static(DEFAULT_REGION));
        sts = sts
            .behavior_version(behavior_version)
            .identity_cache(IdentityCache::no_cache())
            .region(region)
            .time_source(time.clone())
            .sleep_impl(sleep.clone());
        if let Some(url) = &self.endpoint_url {
            sts = sts.endpoint_url(url);
        }
        aws_sdk_sts::Client::from_conf(sts.build())
    }
}

/// `aws-role-chain-<unix millis>`: one session name for the hops that set none, telling the
/// provider's sessions apart in CloudTrail.
fn default_session_name(time: &SharedTimeSource) -> String {
    let since_epoch = time.now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("aws-role-chain-{}", since_epoch.as_millis())
}

fn hops(roles: Vec<Role>, default_session_name: &str) -> Vec<Hop> {
    roles
        .into_iter()
        .enumerate()
        .map(|(index, role)| Hop::new(index, role, default_session_name))
        .collect()
}

/// What the cache calls to fetch: a run of the chain.
fn run_chain(chain: &Arc<Chain>) -> Fetch<Credentials, Error> {
    let chain = chain.clone();
    Arc::new(move |from_scratch| {
        let chain = chain.clone();
        Box::pin(async move { chain.run(from_scratch).await })
    })
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

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("configured", &self.sdk_config.is_some())
            .field("base_provider", &self.base_provider)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("roles", &self.roles)
            .field("refresh_policy", &self.refresh_policy)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cases;

    #[test]
    fn the_credentials_future_is_small_because_the_slow_path_is_boxed() {
        let provider = RoleChainProvider::builder()
            .base_provider(Credentials::new("AKID", "secret", None, None, "test"))
            .assume(Role::new("arn:aws:iam::111111111111:role/r"))
            .build()
            .unwrap();
        let future = provider.credentials();
        let size = std::mem::size_of_val(&future);
        println!("credentials() future: {size} bytes");
        // The provider reference, the boxed slow path and the state tag.
        assert!(size <= 24, "{size} bytes");
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

    fn sdk_error((kind, invalid_configuration): (ErrorKind, bool)) {
        let mapped = into_credentials_error(Error::new(kind, "message").at_hop(1, "arn"));
        assert_eq!(
            matches!(mapped, CredentialsError::InvalidConfiguration(_)),
            invalid_configuration,
            "{mapped:?}"
        );
        assert_eq!(
            matches!(mapped, CredentialsError::ProviderError(_)),
            !invalid_configuration,
            "{mapped:?}"
        );
        let source = std::error::Error::source(&mapped).unwrap();
        let ours = source.downcast_ref::<Error>().unwrap();
        assert_eq!((ours.kind(), ours.hop()), (kind, Some(1)));
    }

    cases! { sdk_error:
        access_denied_is_an_sdk_invalid_configuration: (ErrorKind::AccessDenied, true);
        invalid_configuration_is_an_sdk_invalid_configuration: (ErrorKind::InvalidConfiguration, true);
        throttled_is_an_sdk_provider_error: (ErrorKind::Throttled, false);
        unavailable_is_an_sdk_provider_error: (ErrorKind::Unavailable, false);
        timed_out_is_an_sdk_provider_error: (ErrorKind::TimedOut, false);
        expired_token_is_an_sdk_provider_error: (ErrorKind::ExpiredToken, false);
        base_credentials_is_an_sdk_provider_error: (ErrorKind::BaseCredentials, false);
        invalid_response_is_an_sdk_provider_error: (ErrorKind::InvalidResponse, false);
    }
}
