//! [`RoleChainPool`]: the chains of many tenants in one process, behind one engine.
//!
//! A vendor's service reaches into its customers' accounts through `base → shared hops →
//! tenant hops`: the shared hops (the vendor's own broker role) are one
//! [`RoleChainProvider`], fetched and refreshed once for the whole pool; each tenant is an entry
//! of a bounded cache (moka), keyed by every input of its hops, holding the same state a
//! provider's cache holds and moved by the same transitions and rules
//! ([`Snapshot`](crate::cache::Snapshot), [`RefreshPolicy`]).
//!
//! # Design
//!
//! - **The cached call** loads the handle's entry and its snapshot, reads the clock once and
//!   compares with one precomputed instant, as a provider's does; once a second it also tells the
//!   cache the tenant was used, for its least-recently-used order and the idle rule.
//! - **One engine task** ([`engine`]) holds a timer queue over the tenants' refresh points and
//!   two queues of attempts to make: those a caller waits for, then background refreshes. It
//!   starts an attempt as a task of its own, under the fetch timeout, while fewer than
//!   `max_concurrent_sts_calls` run; no lock is held across a call, so a tenant whose STS answer
//!   hangs delays no other.
//! - **Every request** of the pool's hops, shared ones included, waits for its turn at the
//!   [`gate`]: at most `sts_rate_limit` a second, halved after a throttling answer. The pool's STS
//!   client does not retry on its own, so each turn is one request.
//! - **Idle tenants** (not used within `idle_timeout`) are not refreshed: at their refresh point
//!   the engine leaves them, and drops their entry once their credentials expire. Their next
//!   caller fetches anew.
//! - **A refused tenant** (`AccessDenied`) answers with that error, without a call, for
//!   `refusal_backoff`, doubling while the refusals go on; [`Tenant::invalidate`] clears it.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, ArcSwapOption};
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_smithy_async::future::timeout::Timeout;
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::SharedTimeSource;
use tokio::sync::Notify;
use tracing::{debug, trace};

use crate::cache::{Failure, Snapshot, Waiter};
use crate::chain::{Chain, Context};
use crate::error::{BuildError, Error, ErrorKind};
use crate::hop::Hop;
use crate::metrics::Gauge;
use crate::policy::{Attempts, CallerAction, Next, RefreshPolicy};
use crate::provider::{sdk_future, RoleChainProvider};
use crate::role::Role;
use crate::status::Status;
use crate::time::{later, HotClock};

mod builder;
mod engine;
mod gate;

pub(crate) use builder::PoolSettings;
pub use builder::RoleChainPoolBuilder;

use engine::Engine;
use gate::RateGate;

/// The chains of many tenants, `base → shared hops → tenant hops`, served from one bounded
/// cache by one engine that keeps the pool's STS calls under a rate.
///
/// Build it with [`RoleChainPool::builder`], then take a [`Tenant`] for each customer with
/// [`tenant`](Self::tenant): a handle that is a `ProvideCredentials` of its own. Cloning the pool
/// is cheap and clones share it. See [Many tenants](crate::guide::tenants).
///
/// ```no_run
/// use aws_role_chain::{Role, RoleChainPool};
///
/// # async fn example(sdk_config: aws_types::SdkConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let pool = RoleChainPool::builder()
///     .configure(&sdk_config)
///     .assume(Role::new("arn:aws:iam::333333333333:role/broker"))
///     .sts_rate_limit(50)
///     .build()?;
/// let customer = pool.tenant(
///     Role::new("arn:aws:iam::111111111111:role/vendor-access").external_id("c-7f3a9c"),
/// )?;
/// let credentials = customer.credentials().await?;
/// # let _ = credentials; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RoleChainPool {
    inner: Arc<PoolInner>,
}

pub(crate) struct PoolInner {
    /// The shared hops, if any: one provider for the whole pool.
    shared: Option<RoleChainProvider>,
    /// What every tenant's chain runs in; its first hop is signed by the shared hops' provider,
    /// else by the base provider.
    context: Arc<Context>,
    shared_hops: usize,
    session_name: String,
    policy: RefreshPolicy,
    time: SharedTimeSource,
    hot_clock: HotClock,
    sleep: SharedAsyncSleep,
    settings: PoolSettings,
    tenants: moka::sync::Cache<Arc<TenantKey>, Arc<Entry>>,
    evictions: Arc<AtomicU64>,
    gate: Arc<RateGate>,
    engine: Engine,
    /// The pool's gauges, registered while it lives.
    _gauges: [Gauge; 3],
}

/// A tenant's hops, by every input of their requests: two tenants share credentials only if
/// these are equal. The entry's chain runs the same hops.
pub(crate) struct TenantKey {
    hash: u64,
    hops: Arc<[Hop]>,
}

impl TenantKey {
    fn new(hops: Vec<Hop>) -> Self {
        let mut hasher = DefaultHasher::new();
        for hop in &hops {
            (&hop.role, &hop.session_name).hash(&mut hasher);
        }
        TenantKey {
            hash: hasher.finish(),
            hops: hops.into(),
        }
    }

    fn roles(&self) -> impl Iterator<Item = &Role> {
        self.hops.iter().map(|hop| &hop.role)
    }
}

impl PartialEq for TenantKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.hops.len() == other.hops.len()
            && self
                .hops
                .iter()
                .zip(other.hops.iter())
                .all(|(a, b)| (&a.role, &a.session_name) == (&b.role, &b.session_name))
    }
}

impl Eq for TenantKey {}

impl Hash for TenantKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// One tenant's cache entry: its hops, the state a provider's cache holds, and what the pool
/// knows of its use.
pub(crate) struct Entry {
    key: Arc<TenantKey>,
    chain: Chain,
    state: ArcSwap<Snapshot<Credentials, Error>>,
    /// Told whenever an attempt completes, so that waiting callers look again.
    changed: Notify,
    /// When it was last used, in seconds since the Unix epoch.
    last_used: AtomicU64,
    /// Refusals (`AccessDenied`) in a row, for the refusal backoff.
    refusals: AtomicU32,
    /// Queued for an attempt: [`engine::WAITED`], [`engine::BACKGROUND`].
    queued: std::sync::atomic::AtomicU8,
    /// Taken out of the pool's cache: its handles look it up again.
    evicted: AtomicBool,
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Entry {
    /// Whether it was not used within `idle_timeout` before `now`.
    fn is_idle(&self, now: SystemTime, idle_timeout: Duration) -> bool {
        let last_used = self.last_used.load(Ordering::Relaxed);
        unix_seconds(now).saturating_sub(last_used) > idle_timeout.as_secs()
    }

    /// Notes a use at `now`; returns whether it is the first in this second.
    #[inline]
    fn touch(&self, now: SystemTime) -> bool {
        let second = unix_seconds(now);
        if self.last_used.load(Ordering::Relaxed) == second {
            return false;
        }
        self.last_used.store(second, Ordering::Relaxed);
        true
    }

    /// Drops its credentials and those of its hops, once it has left the pool's cache. An
    /// entry without credentials keeps its state: the backoff of a refused tenant stands.
    fn forget(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        if self.state.load().current.is_some() {
            self.state.store(Arc::new(Snapshot::default()));
            self.chain.forget();
        }
    }
}

impl RoleChainPool {
    /// A builder for a pool; see [`RoleChainPoolBuilder`].
    pub fn builder() -> RoleChainPoolBuilder {
        RoleChainPoolBuilder::default()
    }

    /// A tenant whose one hop assumes `role`, signed by the last shared hop (or by the base
    /// credentials when the pool has none). Checked by the rules of [`Role`], its hop numbered
    /// after the shared hops; `mfa_serial` is refused (a pool has no person to ask for codes).
    /// Makes no request: the first [`credentials`](Tenant::credentials) call does.
    pub fn tenant(&self, role: Role) -> Result<Tenant, BuildError> {
        self.tenant_chain([role])
    }

    /// A tenant whose hops assume `roles` in order, the first signed by the last shared hop;
    /// checked as [`tenant`](Self::tenant) checks its role. Handles to equal chains (every
    /// setting of every role equal) share one cache entry and one STS call.
    pub fn tenant_chain(
        &self,
        roles: impl IntoIterator<Item = Role>,
    ) -> Result<Tenant, BuildError> {
        let roles: Vec<Role> = roles.into_iter().collect();
        if roles.is_empty() {
            return Err(BuildError::new(
                None,
                "roles",
                "a tenant needs at least one role; pass RoleChainPool::tenant_chain one or more \
                 Role::new(\"arn:aws:iam::<account>:role/<name>\")",
            ));
        }
        let pool = &self.inner;
        let mut hops = Vec::with_capacity(roles.len());
        for (offset, role) in roles.into_iter().enumerate() {
            let index = pool.shared_hops.saturating_add(offset);
            role.validate(index)?;
            if role.mfa_serial.is_some() {
                return Err(no_mfa_in_a_pool(index));
            }
            hops.push(Hop::new(index, role, &pool.session_name, None));
        }
        Ok(Tenant {
            inner: Arc::new(TenantInner {
                pool: pool.clone(),
                key: Arc::new(TenantKey::new(hops)),
                entry: ArcSwapOption::empty(),
            }),
        })
    }

    /// The pool's counts for health checks and dashboards; never a secret.
    pub fn status(&self) -> PoolStatus {
        let pool = &self.inner;
        pool.tenants.run_pending_tasks();
        PoolStatus {
            tenants: pool.tenants.entry_count(),
            active: pool.active(),
            evictions: pool.evictions.load(Ordering::Relaxed),
            assume_role_calls: pool.gate.calls(),
            throttled: pool.gate.throttling_answers(),
            allowed_rate: pool.gate.allowed_rate(),
        }
    }
}

/// The refusal of an MFA role in a pool.
pub(crate) fn no_mfa_in_a_pool(hop: usize) -> BuildError {
    BuildError::new(
        Some(hop),
        "mfa_serial",
        "a pool refreshes without a person at hand to type MFA codes: use a role without \
         mfa_serial, or a RoleChainProvider with an MFA token provider for this chain",
    )
}

impl PoolInner {
    /// The tenants used within the idle timeout.
    fn active(&self) -> u64 {
        let now = self.time.now();
        let idle_timeout = self.settings.idle_timeout;
        let active = self.tenants.iter();
        active
            .filter(|(_, e)| !e.is_idle(now, idle_timeout))
            .count() as u64
    }

    /// A new entry for `key`, running its hops.
    fn new_entry(&self, key: Arc<TenantKey>) -> Entry {
        let chain = Chain::new(self.context.clone(), key.hops.clone());
        Entry {
            key,
            chain,
            state: ArcSwap::from_pointee(Snapshot::default()),
            changed: Notify::new(),
            last_used: AtomicU64::new(unix_seconds(self.time.now())),
            refusals: AtomicU32::new(0),
            queued: std::sync::atomic::AtomicU8::new(0),
            evicted: AtomicBool::new(false),
        }
    }

    /// Tells the cache `entry` was just used, for its least-recently-used order.
    #[cold]
    #[inline(never)]
    fn used(&self, entry: &Entry) {
        let _ = self.tenants.get(&entry.key);
    }
}

/// One tenant of a [`RoleChainPool`]: the credentials of its chain, fetched and refreshed by the
/// pool. Cheap to clone; a `ProvideCredentials` for any AWS SDK client. A handle outlives its
/// entry: if the pool evicted the tenant, the next call fetches anew.
#[derive(Clone)]
pub struct Tenant {
    inner: Arc<TenantInner>,
}

struct TenantInner {
    pool: Arc<PoolInner>,
    key: Arc<TenantKey>,
    /// The entry last found in the pool's cache.
    entry: ArcSwapOption<Entry>,
}

impl Tenant {
    /// The credentials of the tenant's last hop.
    ///
    /// Served at once while they are outside their mandatory window, as a
    /// [`RoleChainProvider`]'s are; while the tenant is in use the pool refreshes them ahead of
    /// expiry. The first call, and the first after the tenant went idle past its credentials'
    /// expiry or was evicted, waits for a fetch, its turn coming before background refreshes.
    /// A call whose fetch the pool's own limits keep from starting within
    /// [`RefreshPolicy::fetch_timeout`] gets [`ErrorKind::Throttled`], saying so.
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        if let Some(credentials) = self.inner.cached() {
            trace!("served cached tenant credentials");
            return Ok(credentials);
        }
        Box::pin(self.inner.get_or_wait()).await
    }

    /// Drops the tenant's cached credentials, as [`RoleChainProvider::invalidate`] does, and
    /// ends a refusal backoff: the next call asks STS again.
    pub fn invalidate(&self) {
        let pool = &self.inner.pool;
        // A tenant the pool holds nothing for has nothing to drop.
        let Some(entry) = self.inner.held_entry() else {
            return;
        };
        debug!("cached tenant credentials invalidated");
        entry.refusals.store(0, Ordering::Relaxed);
        let now = pool.time.now();
        let policy = &pool.policy;
        let before = entry.state.rcu(|state| match state.current {
            Some(_) => state.invalidated(now, policy),
            // Nothing to drop: a refusal or a failure stands only until now.
            None => state.retry_at(now, policy),
        });
        // Only a change of schedule needs a timer: invalidations in a tight loop add none.
        if entry.state.load().next_refresh != before.next_refresh {
            pool.engine.schedule_next(&entry);
        }
        entry.changed.notify_waiters();
    }

    /// The tenant's state for health checks: its expiry, next refresh, failures and each hop,
    /// the shared ones first. Never contains a secret.
    pub fn status(&self) -> Status {
        let pool = &self.inner.pool;
        let now = pool.time.now();
        // A tenant the pool holds nothing for is shown as new, without taking a place in it.
        let entry = self
            .inner
            .held_entry()
            .unwrap_or_else(|| Arc::new(pool.new_entry(self.inner.key.clone())));
        let mut status = Status::new(&entry.state.load(), &entry.chain, now);
        if let Some(shared) = &pool.shared {
            let mut hops = shared.status().hops;
            hops.append(&mut status.hops);
            status.hops = hops;
        }
        status
    }
}

impl TenantInner {
    /// The credentials, if the cached path can serve them.
    #[inline]
    fn cached(&self) -> Option<Credentials> {
        let guard = self.entry.load();
        let entry = guard.as_ref()?;
        let state = entry.state.load();
        let current = state.current.as_ref()?;
        let now = self.pool.hot_clock.now_or_later(&self.pool.time);
        if now >= state.fast_until || entry.evicted.load(Ordering::Relaxed) {
            return None;
        }
        if entry.touch(now) {
            self.pool.used(entry);
        }
        Some(current.value.clone())
    }

    /// The tenant's entry if the pool holds one: the one this handle holds, else the one the
    /// cache holds for its key. Takes no place in the pool.
    fn held_entry(&self) -> Option<Arc<Entry>> {
        match self.entry.load_full() {
            Some(entry) if !entry.evicted.load(Ordering::Relaxed) => Some(entry),
            _ => self.pool.tenants.get(&self.key),
        }
    }

    /// The tenant's entry in the pool's cache: the one this handle holds, else the one the
    /// cache holds for its key, else a new one (this handle's old one, if it was evicted, so
    /// that a refusal backoff stands).
    fn entry(&self) -> Arc<Entry> {
        if let Some(entry) = self.entry.load_full() {
            if !entry.evicted.load(Ordering::Relaxed) {
                return entry;
            }
        }
        let pool = &self.pool;
        let found =
            pool.tenants
                .entry_by_ref(&self.key)
                .or_insert_with(|| match self.entry.load_full() {
                    Some(old) => old,
                    None => Arc::new(pool.new_entry(self.key.clone())),
                });
        let entry = found.value().clone();
        entry.evicted.store(false, Ordering::Relaxed);
        if found.is_fresh() {
            // Enforces `max_tenants` now rather than at the cache's next housekeeping.
            pool.tenants.run_pending_tasks();
        }
        self.entry.store(Some(entry.clone()));
        entry
    }

    /// The slow path: what [`RefreshPolicy::caller_action`] says, asking the engine for an
    /// attempt when one is due.
    async fn get_or_wait(&self) -> Result<Credentials, Error> {
        let result = self.wait_for_credentials().await;
        if let Err(err) = &result {
            self.pool.context.metrics().error(err.kind());
        }
        result
    }

    async fn wait_for_credentials(&self) -> Result<Credentials, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::no_runtime())?;
        let pool = &self.pool;
        pool.engine.ensure_running(pool, &runtime)?;
        let policy = &pool.policy;
        let asked = pool.time.now();
        let mut waiter = Waiter::default();
        loop {
            let entry = self.entry();
            let changed = entry.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let now = pool.time.now();
            entry.touch(now);
            let mut state = entry.state.load_full();
            if state.stalled(now, policy) {
                // Its attempt died with the engine's runtime.
                entry
                    .state
                    .rcu(|state| state.orphaned(now, policy, fastrand::f64()));
                state = entry.state.load_full();
            }
            let next = state.next(now);
            let attempts = Attempts {
                next,
                failed: state.last_error.is_some(),
                waited: waiter.has_waited(&state),
                restarted: false,
            };
            let current = state.current.as_ref().map(|c| (c.validity(), &c.value));
            let until = match policy.caller_action(now, current, attempts) {
                CallerAction::Serve(value) => {
                    if next == Next::Due {
                        pool.engine.request(&entry, engine::BACKGROUND);
                    }
                    return Ok(value.clone());
                }
                CallerAction::Fail => {
                    // Served from the refusal backoff, not from an attempt it waited for.
                    let refused = entry.refusals.load(Ordering::Relaxed) > 0;
                    if refused && waiter.since_attempts.is_none() {
                        pool.context.metrics().refusal_served();
                    }
                    return Err(state.last_error.clone().unwrap_or_else(Error::outlived));
                }
                CallerAction::Wait { until } => until,
            };
            let turn_by = later(asked, policy.fetch_timeout);
            if next == Next::Due {
                if now >= turn_by {
                    return Err(held_by_the_pool(&pool.settings));
                }
                pool.engine.request(&entry, engine::WAITED);
            }
            waiter.starts_waiting(state.attempts, pool.context.metrics());
            let wake_at = until.map_or(turn_by, |until| until.min(turn_by));
            let limit = wake_at
                .duration_since(now)
                .unwrap_or_default()
                .min(policy.stall_limit())
                .max(Duration::from_millis(1));
            let woken = Timeout::new(changed, pool.sleep.sleep(limit)).await;
            waiter.outlived |= woken.is_err() && until.is_some_and(|u| pool.time.now() >= u);
        }
    }
}

/// A caller whose attempt did not start within the fetch timeout.
fn held_by_the_pool(settings: &PoolSettings) -> Error {
    Error::new(
        ErrorKind::Throttled,
        format!(
            "the pool's own limits on STS calls (max_concurrent_sts_calls {}, sts_rate_limit {} \
             per second) kept this tenant's fetch from starting within \
             RefreshPolicy::fetch_timeout; STS did not refuse it. Fewer tenants fetched at once, \
             or higher limits, let it through",
            settings.max_concurrent_sts_calls, settings.sts_rate_limit
        ),
    )
    .with_source(gate::HeldByThePool)
}

impl ProvideCredentials for Tenant {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        sdk_future(self.inner.cached(), || self.inner.get_or_wait())
    }

    /// The tenant's credentials while they have not expired, for when the SDK gives up waiting.
    fn fallback_on_interrupt(&self) -> Option<Credentials> {
        let entry = self.inner.entry.load_full()?;
        let state = entry.state.load();
        let current = state.current.as_ref()?;
        (self.inner.pool.time.now() < current.expiry).then(|| current.value.clone())
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roles: Vec<&str> = self.inner.key.roles().map(Role::role_arn).collect();
        let expiry = self
            .inner
            .entry
            .load()
            .as_ref()
            .and_then(|entry| entry.state.load().current.as_ref().map(|c| c.expiry));
        f.debug_struct("Tenant")
            .field("roles", &roles)
            .field("expiry", &expiry)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RoleChainPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleChainPool")
            .field("shared", &self.inner.shared)
            .field("settings", &self.inner.settings)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// A [`RoleChainPool`]'s counts, from [`RoleChainPool::status`]: cheap to take, free of
/// secrets.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolStatus {
    tenants: u64,
    active: u64,
    evictions: u64,
    assume_role_calls: u64,
    throttled: u64,
    allowed_rate: f64,
}

impl PoolStatus {
    /// The tenants the pool holds an entry for: at most `max_tenants`.
    pub fn tenants(&self) -> u64 {
        self.tenants
    }

    /// The tenants used within `idle_timeout`: those the pool refreshes ahead of expiry.
    pub fn active(&self) -> u64 {
        self.active
    }

    /// The entries evicted to keep the pool within `max_tenants`.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The `AssumeRole` requests the pool sent, shared hops included.
    pub fn assume_role_calls(&self) -> u64 {
        self.assume_role_calls
    }

    /// The throttling answers STS gave the pool.
    pub fn throttled(&self) -> u64 {
        self.throttled
    }

    /// The `AssumeRole` calls per second the pool allows itself now: `sts_rate_limit`, or less
    /// after throttling answers.
    pub fn allowed_rate(&self) -> f64 {
        self.allowed_rate
    }
}

impl fmt::Display for PoolStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tenants: {} ({} active), evicted: {}; AssumeRole calls: {}, throttled: {}; allowed: {:.1} calls/s",
            self.tenants,
            self.active,
            self.evictions,
            self.assume_role_calls,
            self.throttled,
            self.allowed_rate
        )
    }
}
