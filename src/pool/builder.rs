//! [`RoleChainPoolBuilder`]: a pool's chain settings, taken as a provider's are, and the pool's
//! own limits, every one checked by [`build`](RoleChainPoolBuilder::build).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::config::retry::RetryConfig;
use aws_smithy_async::rt::sleep::AsyncSleep;
use aws_smithy_async::time::TimeSource;
use aws_smithy_observability::TelemetryProvider;
use aws_types::os_shim_internal::{Env, Fs};
use aws_types::region::Region;
use aws_types::SdkConfig;
use moka::notification::RemovalCause;

use super::engine::Engine;
use super::gate::RateGate;
use super::{no_mfa_in_a_pool, Entry, PoolInner, RoleChainPool, TenantKey};
use crate::builder::{RoleChainProviderBuilder, Roles};
use crate::chain::{Chain, Context};
use crate::error::BuildError;
use crate::limits::MAX_DURATION;
use crate::metrics::{Gauge, Metrics};
use crate::policy::{Backoff, RefreshPolicy};
use crate::provider::RoleChainProvider;
use crate::role::Role;
use crate::time::HotClock;

/// STS's quota of calls per second for an account in a Region, which no setting may exceed.
const STS_QUOTA: u32 = 600;
/// The most attempts a pool may have in flight.
const MOST_CONCURRENT: usize = 1024;

/// The pool's own limits.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PoolSettings {
    pub(crate) max_tenants: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) sts_rate_limit: u32,
    pub(crate) max_concurrent_sts_calls: usize,
    pub(crate) refusal_backoff: Backoff,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_tenants: 10_000,
            idle_timeout: Duration::from_secs(15 * 60),
            sts_rate_limit: 50,
            max_concurrent_sts_calls: 16,
            refusal_backoff: Backoff::new(Duration::from_secs(60), Duration::from_secs(15 * 60)),
        }
    }
}

impl PoolSettings {
    fn validate(&self) -> Result<(), BuildError> {
        let fail = |field, message: String| Err(BuildError::new(None, field, message));
        if self.max_tenants == 0 {
            return fail("max_tenants", "must be at least 1; got 0".to_owned());
        }
        if !(Duration::from_secs(1)..=MAX_DURATION).contains(&self.idle_timeout) {
            return fail(
                "idle_timeout",
                format!("must be from 1 s to 12 hours; got {:?}", self.idle_timeout),
            );
        }
        if !(1..=STS_QUOTA).contains(&self.sts_rate_limit) {
            return fail(
                "sts_rate_limit",
                format!(
                    "must be from 1 to {STS_QUOTA} calls per second (STS's quota for an account \
                     in a Region, shared with every other caller of the account); got {}",
                    self.sts_rate_limit
                ),
            );
        }
        if !(1..=MOST_CONCURRENT).contains(&self.max_concurrent_sts_calls) {
            return fail(
                "max_concurrent_sts_calls",
                format!(
                    "must be from 1 to {MOST_CONCURRENT}; got {}",
                    self.max_concurrent_sts_calls
                ),
            );
        }
        let Backoff { first, max } = self.refusal_backoff;
        if first < Duration::from_secs(1) || first > max || max > MAX_DURATION {
            return fail(
                "refusal_backoff",
                format!(
                    "needs a first delay of at least 1 s, no larger than the maximum, and a \
                     maximum of at most 12 hours; got {first:?} and {max:?}"
                ),
            );
        }
        Ok(())
    }
}

/// Builds a [`RoleChainPool`]. All validation happens in [`build`](Self::build), before any
/// request.
///
/// The chain settings are a [`RoleChainProviderBuilder`]'s, with the same defaults and
/// precedence; the roles added with [`assume`](Self::assume) are the pool's shared hops (none is
/// fine: then the base credentials sign each tenant's first hop).
///
/// | setter | meaning | default |
/// |---|---|---|
/// | [`configure`](Self::configure), [`base_provider`](Self::base_provider), [`region`](Self::region), [`endpoint_url`](Self::endpoint_url), [`time_source`](Self::time_source), [`sleep_impl`](Self::sleep_impl), [`refresh_policy`](Self::refresh_policy) | as [`RoleChainProviderBuilder`]'s | as there |
/// | [`telemetry_provider(p)`](Self::telemetry_provider) | where the metrics go, pool's included (see [Metrics](crate::guide::metrics)) | the global one of `aws-smithy-observability` |
/// | [`name(n)`](Self::name) | the `chain` attribute of every metric of the pool, its tenants' included | `"pool"` |
/// | [`assume(Role)`](Self::assume) | appends a shared hop, fetched once for the whole pool; no `mfa_serial` | none |
/// | [`max_tenants(n)`](Self::max_tenants) | the most tenants held; beyond, the least recently used is evicted (idle ones first, by that order) | 10,000 |
/// | [`idle_timeout(d)`](Self::idle_timeout) | a tenant not used for this long is no longer refreshed, and leaves the pool when its credentials expire | 15 min (1 s to 12 h) |
/// | [`sts_rate_limit(n)`](Self::sts_rate_limit) | the most `AssumeRole` calls of the pool STS sees arrive in any second, evenly spaced | 50 (1 to 600) |
/// | [`max_concurrent_sts_calls(n)`](Self::max_concurrent_sts_calls) | the most fetches in flight | 16 (1 to 1024) |
/// | [`refusal_backoff(first, max)`](Self::refusal_backoff) | how long a tenant refused with `AccessDenied` answers with the refusal, without a call | 1 min doubling to 15 min |
///
/// The pool's STS client does not retry on its own: each `AssumeRole` request counts against
/// `sts_rate_limit`, and the pool's backoffs retry.
#[derive(Debug, Default)]
pub struct RoleChainPoolBuilder {
    chain: RoleChainProviderBuilder,
    settings: PoolSettings,
}

impl RoleChainPoolBuilder {
    /// As [`RoleChainProviderBuilder::configure`].
    pub fn configure(mut self, config: &SdkConfig) -> Self {
        self.chain = self.chain.configure(config);
        self
    }

    /// As [`RoleChainProviderBuilder::base_provider`]: the credentials that sign the first
    /// shared hop (or each tenant's first hop, without shared hops).
    pub fn base_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.chain = self.chain.base_provider(provider);
        self
    }

    /// As [`RoleChainProviderBuilder::region`].
    pub fn region(mut self, region: Region) -> Self {
        self.chain = self.chain.region(region);
        self
    }

    /// As [`RoleChainProviderBuilder::endpoint_url`].
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.chain = self.chain.endpoint_url(url);
        self
    }

    /// Appends a shared hop: assumed once for the whole pool, refreshed once, and signing each
    /// tenant's first hop. Checked as a provider's roles are; `mfa_serial` is refused.
    pub fn assume(mut self, role: Role) -> Self {
        self.chain = self.chain.assume(role);
        self
    }

    /// As [`RoleChainProviderBuilder::time_source`].
    pub fn time_source(mut self, time: impl TimeSource + 'static) -> Self {
        self.chain = self.chain.time_source(time);
        self
    }

    /// As [`RoleChainProviderBuilder::sleep_impl`].
    pub fn sleep_impl(mut self, sleep: impl AsyncSleep + 'static) -> Self {
        self.chain = self.chain.sleep_impl(sleep);
        self
    }

    /// As [`RoleChainProviderBuilder::refresh_policy`]: the windows, jitter and backoffs of every
    /// tenant and of the shared hops.
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.chain = self.chain.refresh_policy(policy);
        self
    }

    /// As [`RoleChainProviderBuilder::telemetry_provider`]: where the pool's metrics go, those of
    /// its shared hops and tenants included.
    pub fn telemetry_provider(mut self, provider: impl Into<Arc<TelemetryProvider>>) -> Self {
        self.chain = self.chain.telemetry_provider(provider);
        self
    }

    /// As [`RoleChainProviderBuilder::name`]: the `chain` attribute of the pool's metrics,
    /// `"pool"` by default. Tenants have none of their own: their roles would make the metrics'
    /// attributes unbounded, and reveal them.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.chain = self.chain.name(name);
        self
    }

    /// The most tenants the pool holds. Beyond, the least recently used tenant is evicted: an
    /// idle one first, since every idle tenant was used less recently than every active one. A
    /// handle to an evicted tenant still works; its next call fetches anew. Default: 10,000;
    /// at least 1.
    pub fn max_tenants(mut self, n: usize) -> Self {
        self.settings.max_tenants = n;
        self
    }

    /// How long after its last use a tenant stays active. An active tenant is refreshed ahead of
    /// expiry, so that its callers never wait; an idle one is not, and leaves the pool when its
    /// credentials expire. Default: 15 minutes; from 1 s to 12 hours.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings.idle_timeout = timeout;
        self
    }

    /// The most `AssumeRole` calls of the pool, shared hops included, that STS sees arrive in
    /// any second, whatever the latencies: a request is sent only while fewer than this many
    /// are in flight or ended within the last second, and the requests are spaced evenly. A throttling answer from STS halves it; it grows
    /// back by a twentieth per second. STS allows about 600 per second per account and Region,
    /// shared with every other caller of the account. Default: 50; from 1 to 600.
    pub fn sts_rate_limit(mut self, calls_per_second: u32) -> Self {
        self.settings.sts_rate_limit = calls_per_second;
        self
    }

    /// The most fetches in flight at once; a tenant whose STS answer hangs holds one until
    /// [`RefreshPolicy::fetch_timeout`]. Default: 16; from 1 to 1024.
    pub fn max_concurrent_sts_calls(mut self, n: usize) -> Self {
        self.settings.max_concurrent_sts_calls = n;
        self
    }

    /// How long a tenant refused with `AccessDenied` (its customer removed the trust or changed
    /// the ExternalId) answers with the refusal, without a call: `first`, doubling while the
    /// refusals go on, up to `max`. [`Tenant::invalidate`](crate::Tenant::invalidate) ends it.
    /// Default: 1 min doubling to 15 min; `first` from 1 s, `max` at most 12 hours.
    pub fn refusal_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.settings.refusal_backoff = Backoff::new(first, max);
        self
    }

    /// Checks every setting and builds the pool. Makes no request and starts no task: the
    /// engine starts with the first tenant's first call, on that caller's tokio runtime.
    pub fn build(self) -> Result<RoleChainPool, BuildError> {
        for (hop, role) in self.chain.roles.iter().enumerate() {
            if role.mfa_serial.is_some() {
                return Err(no_mfa_in_a_pool(hop));
            }
        }
        self.settings.validate()?;
        let settings = self.settings;
        let parts = self
            .chain
            .parts(&Env::real(), &Fs::real(), Roles::Optional)?;
        // One request per call: the gate counts requests, and the pool's backoffs retry.
        let sts = aws_sdk_sts::Client::from_conf(
            parts
                .sts
                .config()
                .to_builder()
                .retry_config(RetryConfig::disabled())
                .build(),
        );
        let gate = Arc::new(RateGate::new(
            settings.sts_rate_limit,
            parts.time.clone(),
            parts.sleep.clone(),
            parts.metrics.clone(),
        ));
        let shared_hops = parts.hops.len();
        let (shared, signer) = match shared_hops {
            0 => (None, parts.base),
            _ => {
                let context = Context::new(
                    sts.clone(),
                    parts.base,
                    parts.time.clone(),
                    parts.policy.clone(),
                    parts.metrics.clone(),
                )
                .with_gate(gate.clone());
                let chain = Chain::new(context, parts.hops);
                let provider = RoleChainProvider::new(
                    chain,
                    parts.policy.clone(),
                    parts.time.clone(),
                    parts.system_clock,
                    parts.sleep.clone(),
                    parts.metrics.clone(),
                );
                (
                    Some(provider.clone()),
                    SharedCredentialsProvider::new(provider),
                )
            }
        };
        let evictions = Arc::new(AtomicU64::new(0));
        let counted = evictions.clone();
        let metrics = parts.metrics.clone();
        let tenants = moka::sync::Cache::builder()
            .max_capacity(u64::try_from(settings.max_tenants).unwrap_or(u64::MAX))
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .eviction_listener(
                move |_key: Arc<Arc<TenantKey>>, entry: Arc<Entry>, cause: RemovalCause| {
                    if cause == RemovalCause::Size {
                        counted.fetch_add(1, Ordering::Relaxed);
                        metrics.evicted(1);
                    }
                    if cause != RemovalCause::Replaced {
                        entry.forget();
                    }
                },
            )
            .build();
        let engine = Engine::new(settings.max_concurrent_sts_calls);
        // What every tenant's chain runs in: signed by the shared hops (or the base), through the
        // gate.
        let time = parts.time.clone();
        let policy = parts.policy.clone();
        let metrics = parts.metrics.clone();
        let tenants_context =
            Context::new(sts, signer, time, policy, metrics.clone()).with_gate(gate.clone());
        Ok(RoleChainPool {
            inner: Arc::new_cyclic(|pool: &Weak<PoolInner>| PoolInner {
                _gauges: gauges(&metrics, pool),
                shared,
                context: Arc::new(tenants_context),
                shared_hops,
                session_name: parts.session_name,
                policy: parts.policy,
                hot_clock: HotClock::for_source(parts.system_clock),
                time: parts.time,
                sleep: parts.sleep,
                settings,
                tenants,
                evictions,
                gate,
                engine,
            }),
        })
    }
}

/// The pool's gauges, read from `pool` while it lives.
fn gauges(metrics: &Metrics, pool: &Weak<PoolInner>) -> [Gauge; 3] {
    let read = |f: fn(&PoolInner) -> f64| {
        let pool = pool.clone();
        move || pool.upgrade().map(|pool| f(&pool))
    };
    [
        metrics.gauge(
            "aws_role_chain.pool.tenants",
            "{tenant}",
            "Tenants the pool holds",
            read(|pool| pool.tenants.entry_count() as f64),
        ),
        metrics.gauge(
            "aws_role_chain.pool.active",
            "{tenant}",
            "Tenants used within the idle timeout",
            read(|pool| pool.active() as f64),
        ),
        metrics.gauge(
            "aws_role_chain.pool.allowed_rate",
            "{request}/s",
            "AssumeRole requests per second the pool allows itself now",
            read(|pool| pool.gate.allowed_rate()),
        ),
    ]
}
