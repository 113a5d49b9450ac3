//! A run of the whole chain: base credentials, then one `AssumeRole` per hop, each signed with the
//! credentials of the hop before.
//!
//! Each hop's credentials are kept, so that a run starts after the last hop whose credentials
//! stay valid past their mandatory window: refreshing a chain whose earlier hops are still valid
//! costs one STS call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_types::error::display::DisplayErrorContext;
use parking_lot::{Mutex, MutexGuard};
use tracing::debug;

use crate::cache::Freshness;
use crate::error::{Error, ErrorKind};
use crate::hop::Hop;
use crate::metrics::Metrics;
use crate::panic::guarded;
use crate::policy::RefreshPolicy;
use crate::time::later;

/// Who a hop's request is for, where requests queue for their turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Priority {
    /// A caller waits for it, or every other chain does (hops shared by a pool).
    Waited,
    /// A refresh ahead of expiry, which nobody waits for yet.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    Background,
}

/// A request let through a [`Gate`]: in flight until dropped.
pub(crate) type Turn<'a> = Box<dyn Send + 'a>;

/// What each hop's request waits for before it is sent: a limit on the STS calls of many
/// chains (a pool's). Without one, requests are sent at once.
pub(crate) trait Gate: Send + Sync + fmt::Debug {
    /// Waits for the turn of one request, held until the request ends; fails, as the limit's
    /// own refusal, once that turn would come after `deadline`.
    fn admit(
        &self,
        priority: Priority,
        deadline: SystemTime,
    ) -> Pin<Box<dyn Future<Output = Result<Turn<'_>, Error>> + Send + '_>>;
}

#[derive(Clone)]
struct HeldCredentials {
    credentials: Credentials,
    fetched_at: SystemTime,
    expiry: SystemTime,
}

/// What chains run in: the STS client, what signs their first hop, the clock, the policy, the
/// metrics and the gate. A pool's tenants share one.
pub(crate) struct Context {
    sts: aws_sdk_sts::Client,
    base: SharedCredentialsProvider,
    time: SharedTimeSource,
    policy: RefreshPolicy,
    metrics: Metrics,
    gate: Option<Arc<dyn Gate>>,
}

impl Context {
    pub(crate) fn new(
        sts: aws_sdk_sts::Client,
        base: SharedCredentialsProvider,
        time: SharedTimeSource,
        policy: RefreshPolicy,
        metrics: Metrics,
    ) -> Self {
        Context {
            sts,
            base,
            time,
            policy,
            metrics,
            gate: None,
        }
    }

    /// Where the chains' metrics go.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The context, each hop's request waiting for its turn at `gate` first.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn with_gate(mut self, gate: Arc<dyn Gate>) -> Self {
        self.gate = Some(gate);
        self
    }
}

pub(crate) struct Chain {
    context: Arc<Context>,
    hops: Arc<[Hop]>,
    held: Mutex<Vec<Option<HeldCredentials>>>,
}

impl Chain {
    /// A chain of `hops` in `context`.
    pub(crate) fn new(context: impl Into<Arc<Context>>, hops: impl Into<Arc<[Hop]>>) -> Self {
        let hops = hops.into();
        let held = Mutex::new(vec![None; hops.len()]);
        Chain {
            context: context.into(),
            hops,
            held,
        }
    }

    /// The expiry of each hop's held credentials.
    pub(crate) fn hop_expiries(&self) -> Vec<Option<SystemTime>> {
        self.held()
            .iter()
            .map(|h| h.as_ref().map(|h| h.expiry))
            .collect()
    }

    /// Drops the held credentials of every hop.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn forget(&self) {
        self.held().iter_mut().for_each(|held| *held = None);
    }

    fn held(&self) -> MutexGuard<'_, Vec<Option<HeldCredentials>>> {
        self.held.lock()
    }

    /// Whether held credentials can still sign the next hop at `now`.
    fn reusable(&self, held: &HeldCredentials, now: SystemTime) -> bool {
        now < self
            .context
            .policy
            .serve_until(held.fetched_at, held.expiry)
    }

    pub(crate) fn hops(&self) -> &[Hop] {
        &self.hops
    }

    #[cfg(test)]
    pub(crate) fn sts(&self) -> &aws_sdk_sts::Client {
        &self.context.sts
    }

    #[cfg(test)]
    pub(crate) fn base(&self) -> &SharedCredentialsProvider {
        &self.context.base
    }

    /// How many hops, before the last, end with the last one that asks for an MFA code.
    fn mfa_hops(&self) -> usize {
        let before_last = self.hops.split_last().map_or(&[][..], |(_, before)| before);
        before_last
            .iter()
            .rposition(|hop| hop.mfa.is_some())
            .map_or(0, |i| i + 1)
    }

    /// Fetches the last hop's credentials and their expiry, reusing the held credentials of
    /// earlier hops while they are fresh, unless the run is [`Freshness::FromScratch`].
    pub(crate) async fn run(
        &self,
        freshness: Freshness,
    ) -> Result<(Credentials, SystemTime), Error> {
        self.run_for(freshness, Priority::Waited).await
    }

    /// [`run`](Self::run), its requests queued at the gate with `priority`.
    pub(crate) async fn run_for(
        &self,
        freshness: Freshness,
        priority: Priority,
    ) -> Result<(Credentials, SystemTime), Error> {
        let now = self.context.time.now();
        let deadline = later(now, self.context.policy.fetch_timeout);
        let held = self.held().clone();
        let reusable_hops = match freshness {
            // An invalidation derives the hops anew, but keeps those up to the last one fetched
            // with an MFA code: asking a person again is the last resort. If such a session was
            // revoked, the hop after it fails as not retryable, which drops it.
            Freshness::FromScratch => self.mfa_hops(),
            Freshness::MayReuse => self.hops.len().saturating_sub(1),
        };
        let reusable = (0..reusable_hops).rev().find_map(|i| {
            held.get(i)
                .and_then(Option::as_ref)
                .filter(|h| self.reusable(h, now))
                .map(|h| (i + 1, h.credentials.clone()))
        });
        let (start, mut signer) = match reusable {
            Some(found) => {
                debug!(
                    from_hop = found.0,
                    "reusing the held credentials of the earlier hops"
                );
                found
            }
            None => (0, self.base_credentials().await?),
        };
        let mut last_hop = None;
        for (position, hop) in self.hops.iter().enumerate().skip(start) {
            let turn = match &self.context.gate {
                Some(gate) => Some(
                    gate.admit(priority, deadline)
                        .await
                        .map_err(|err| err.at_hop(hop.index, hop.role.role_arn()))?,
                ),
                None => None,
            };
            let fetched_at = self.context.time.now();
            let context = &self.context;
            let assumed = hop
                .assume(&context.sts, &context.metrics, signer, fetched_at)
                .await;
            drop(turn);
            let (credentials, expiry) = match assumed {
                Ok(assumed) => assumed,
                Err(err) => {
                    // The signer may have been revoked or rejected: the next run derives it anew.
                    // Not when this hop's MFA code was missing: no request was made.
                    if !err.is_retryable() && err.kind() != ErrorKind::MfaToken {
                        if let Some(signer) = position.checked_sub(1) {
                            self.hold(signer, None);
                        }
                    }
                    return Err(err);
                }
            };
            let held = HeldCredentials {
                credentials: credentials.clone(),
                fetched_at,
                expiry,
            };
            self.hold(position, Some(held));
            signer = credentials.clone();
            last_hop = Some((credentials, expiry));
        }
        // `build()` refuses a chain without a role.
        last_hop.ok_or_else(|| Error::new(ErrorKind::InvalidConfiguration, "the chain has no role"))
    }

    /// Keeps `credentials` as those of the hop at `position` in this chain (or drops them, with
    /// `None`).
    fn hold(&self, position: usize, credentials: Option<HeldCredentials>) {
        if let Some(slot) = self.held().get_mut(position) {
            *slot = credentials;
        }
    }

    /// The base credentials, which sign hop 0: their failure is reported at hop 0.
    /// A panic in the base provider is its failure too.
    async fn base_credentials(&self) -> Result<Credentials, Error> {
        let error = match guarded(|| self.context.base.provide_credentials()).await {
            Ok(Ok(credentials)) => return Ok(credentials),
            Ok(Err(err)) => {
                // A chain's own error, from the hops before this chain's (a pool's shared
                // hops), passes as it is: its hop and kind are the ones to report.
                if let Some(own) = own_error(&err) {
                    return Err(own.clone());
                }
                Error::new(
                    ErrorKind::BaseCredentials,
                    format!(
                        "the base credentials provider failed: {}",
                        DisplayErrorContext(&err)
                    ),
                )
                .with_source(err)
            }
            Err(panic) => Error::new(
                ErrorKind::BaseCredentials,
                format!("the base credentials provider panicked: {panic}"),
            ),
        };
        Err(match self.hops.first() {
            Some(hop) => error.at_hop(hop.index, hop.role.role_arn()),
            None => error,
        })
    }
}

/// The crate's [`Error`] inside a base provider's error, when the base provider is a chain.
fn own_error(err: &aws_credential_types::provider::error::CredentialsError) -> Option<&Error> {
    std::error::Error::source(err).and_then(|source| source.downcast_ref::<Error>())
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("base", &self.context.base)
            .field("hops", &self.hops)
            .finish_non_exhaustive()
    }
}
