//! The public face: [`RoleChainProvider`] and its [`RoleChainProviderBuilder`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::SharedAsyncSleep;
use aws_smithy_async::time::SharedTimeSource;
use tracing::{debug, debug_span, field, trace, Instrument};

use crate::cache::{Cache, Failure, Fetch};
use crate::chain::Chain;
use crate::error::{Error, ErrorKind};
use crate::metrics::{self, Gauge, Metrics};
use crate::policy::RefreshPolicy;
use crate::status::Status;
use crate::time::HotClock;

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
    metrics: Metrics,
    /// `aws_role_chain.credentials.time_to_expiry`, registered while the provider lives.
    _time_to_expiry: Gauge,
}

impl RoleChainProvider {
    /// A provider of `chain`'s credentials, cached as `policy` says and recorded in `metrics`;
    /// `system_clock` says that `time` is the system clock, which the cached path then reads
    /// coarsely.
    pub(crate) fn new(
        chain: Chain,
        policy: RefreshPolicy,
        time: SharedTimeSource,
        system_clock: bool,
        sleep: SharedAsyncSleep,
        metrics: Metrics,
    ) -> Self {
        let chain = Arc::new(chain);
        let hot_clock = HotClock::for_source(system_clock);
        let cache = Cache::new(
            run_chain(&chain),
            policy,
            time.clone(),
            sleep,
            metrics.clone(),
        )
        .with_hot_clock(hot_clock);
        let inner = Arc::new_cyclic(|inner: &std::sync::Weak<Inner>| {
            let inner = inner.clone();
            let time_to_expiry = metrics.gauge(
                "aws_role_chain.credentials.time_to_expiry",
                "s",
                "How long the credentials in service stay valid",
                move || Some(inner.upgrade()?.time_to_expiry()?.as_secs_f64()),
            );
            Inner {
                chain,
                cache,
                time,
                metrics,
                _time_to_expiry: time_to_expiry,
            }
        });
        RoleChainProvider { inner }
    }

    /// Whether the cached path reads the system's coarse clock.
    #[cfg(test)]
    pub(crate) fn reads_the_coarse_clock(&self) -> bool {
        self.inner.cache.hot_clock().is_coarse()
    }

    /// The credentials of the last hop.
    ///
    /// Served from the cache at once while they are outside their mandatory window (by default
    /// more than 60 s from expiry); a background task refreshes them before that. The first call
    /// waits for the first chain run, shared by all concurrent callers. A call that finds the
    /// background task gone with its runtime and a refresh due starts the task on its own
    /// runtime and waits for that refresh (see [Runtimes](crate::guide::refresh#runtimes)).
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
    /// credentials in service until its run, and drops them if that run fails. While refreshes
    /// are failing, their backoff stands.
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

    /// The sleep given to the builder (or brought by `configure`).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn sleep_impl(&self) -> &SharedAsyncSleep {
        self.inner.cache.sleep_impl()
    }

    /// The clock given to the builder (or brought by `configure`).
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn time_source(&self) -> &SharedTimeSource {
        &self.inner.time
    }

    /// How long the credentials in service stay valid (zero once they have expired); none
    /// before the first.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn time_to_expiry(&self) -> Option<Duration> {
        self.inner.time_to_expiry()
    }

    /// Where the provider's metrics go, for the components built around it.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    #[cfg(test)]
    pub(crate) fn chain(&self) -> &Chain {
        &self.inner.chain
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
            Err(err) => {
                self.metrics.error(err.kind());
                span.record("outcome", field::display(err.kind()))
            }
        };
        result
    }

    /// How long the credentials in service stay valid (zero once they have expired); none
    /// before the first.
    fn time_to_expiry(&self) -> Option<Duration> {
        let expiry = self.cache.snapshot().current.as_ref()?.expiry;
        Some(expiry.duration_since(self.time.now()).unwrap_or_default())
    }
}

impl ProvideCredentials for RoleChainProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        sdk_future(self.inner.cache.get(), || self.inner.get_or_wait())
    }

    /// The cached credentials while they have not expired, for when the SDK gives up waiting.
    fn fallback_on_interrupt(&self) -> Option<Credentials> {
        self.inner.cache.get_unexpired()
    }
}

/// The SDK's future for credentials: ready with `cached`, else the slow path's, its error mapped
/// onto the SDK's. A cached call needs no future at all: no box, no state machine.
pub(crate) fn sdk_future<'a, F>(
    cached: Option<Credentials>,
    slow: impl FnOnce() -> F,
) -> future::ProvideCredentials<'a>
where
    F: std::future::Future<Output = Result<Credentials, Error>> + Send + 'a,
{
    match cached {
        Some(credentials) => {
            trace!("served cached credentials");
            future::ProvideCredentials::ready(Ok(credentials))
        }
        None => {
            let slow = slow();
            future::ProvideCredentials::new(
                async move { slow.await.map_err(into_credentials_error) },
            )
        }
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

/// What the cache makes of a chain's failures, and the failures it makes itself.
impl Failure for Error {
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
    }

    fn timed_out(after: Duration) -> Self {
        Error::new(
            ErrorKind::TimedOut,
            format!("the chain run did not finish within {after:?} (RefreshPolicy::fetch_timeout)"),
        )
    }

    fn no_runtime() -> Self {
        Error::new(
            ErrorKind::InvalidConfiguration,
            "credentials must be requested from within a tokio runtime, where the refresh task runs",
        )
    }

    fn panicked(message: &str) -> Self {
        Error::new(
            ErrorKind::InvalidConfiguration,
            format!(
                "the chain run panicked: {message}; check the components given to the builder or \
                 brought by configure (HTTP client, time source, sleep, interceptors)"
            ),
        )
    }

    fn cut_off() -> Self {
        Error::new(
            ErrorKind::TimedOut,
            "the chain run was cut off: the tokio runtime of the refresh task shut down or \
             stopped running; another call starts it anew on its own runtime",
        )
    }

    fn outlived() -> Self {
        Error::new(
            ErrorKind::TimedOut,
            "the credentials expired while their refresh was still in flight; the refresh goes on \
             in the background, within RefreshPolicy::fetch_timeout",
        )
    }

    fn outcome(&self) -> &'static str {
        metrics::outcome(Some(self.kind()))
    }

    fn expiring_on_arrival(lifetime: Duration) -> Self {
        Error::new(
            ErrorKind::InvalidResponse,
            format!(
                "STS granted credentials for {lifetime:?}, and they arrived inside their mandatory \
                 window (RefreshPolicy::mandatory_window): too late to serve without waiting"
            ),
        )
    }
}

/// What the cache calls to fetch: a run of the chain.
fn run_chain(chain: &Arc<Chain>) -> Fetch<Credentials, Error> {
    let chain = chain.clone();
    Arc::new(move |freshness| {
        let chain = chain.clone();
        Box::pin(async move { chain.run(freshness).await })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::role::Role;
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

    #[test]
    fn the_clock_given_to_the_builder_is_the_providers() {
        use aws_smithy_async::time::StaticTimeSource;
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let provider = RoleChainProvider::builder()
            .base_provider(Credentials::new("AKID", "secret", None, None, "test"))
            .assume(Role::new("arn:aws:iam::111111111111:role/r"))
            .time_source(StaticTimeSource::new(at))
            .build()
            .unwrap();
        assert_eq!(provider.time_source().now(), at);
        assert_eq!(
            provider.time_to_expiry(),
            None,
            "nothing before the first credentials"
        );
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
        mfa_token_is_an_sdk_provider_error: (ErrorKind::MfaToken, false);
    }

    fn failure((error, kind, says): (Error, ErrorKind, &str)) {
        assert_eq!((error.kind(), error.hop()), (kind, None));
        assert!(error.to_string().contains(says), "{error}");
    }

    cases! { failure:
        a_fetch_that_took_too_long_timed_out: (
            <Error as Failure>::timed_out(Duration::from_secs(30)), ErrorKind::TimedOut,
            "did not finish within 30s (RefreshPolicy::fetch_timeout)");
        a_call_outside_a_runtime_is_invalid_configuration: (
            Error::no_runtime(), ErrorKind::InvalidConfiguration, "within a tokio runtime");
        a_panic_is_invalid_configuration_naming_the_panic: (
            Error::panicked("boom"), ErrorKind::InvalidConfiguration, "panicked: boom");
        a_run_cut_off_with_its_runtime_timed_out: (
            Error::cut_off(), ErrorKind::TimedOut, "runtime of the refresh task shut down");
        a_value_outlived_by_its_waiter_timed_out: (
            Error::outlived(), ErrorKind::TimedOut, "expired while their refresh was still in flight");
        credentials_expiring_on_arrival_are_an_invalid_response: (
            Error::expiring_on_arrival(Duration::from_secs(40)), ErrorKind::InvalidResponse,
            "granted credentials for 40s");
    }
}
