//! # Refresh: lifetimes, windows, backoff, invalidation and runtimes
//!
//! The first call runs the chain; concurrent callers share that run (10,000 simultaneous first
//! callers cost one `AssumeRole` per hop), and a caller that gives up does not cancel it. From then
//! on a background task on the caller's tokio runtime keeps the credentials fresh, and ends when the
//! last clone of the provider is dropped. Every window, the spread and the backoffs below are
//! settings of [`RefreshPolicy`](crate::RefreshPolicy), whose page has the table of them.
//!
//! - **Lifetimes on this host's clock**: each hop's credentials expire, for every purpose
//!   (`Credentials::expiry()`, [`status()`](crate::RoleChainProvider::status), the refresh point,
//!   both windows, per-hop reuse), at this host's time when the request started plus the lifetime
//!   STS granted: the requested `DurationSeconds` (3600 s when none is set), or STS's `Expiration`
//!   minus the `Date` header of its answer (less that header's one-second resolution) when that is
//!   shorter. An STS clock ahead of or behind this host's makes credentials neither outlive their
//!   grant nor expire early.
//! - **Refresh point**: drawn at random between 40 % of the lifetime and the advisory point, expiry
//!   minus the advisory window (5 min for lifetimes up to 20 min, 15 min below 90 min, 60 min
//!   otherwise, never more than half the lifetime): for 1-hour credentials, between 24 and 45
//!   minutes after the fetch, so that a fleet started together spreads its refreshes over 21
//!   minutes instead of refreshing in lockstep. An idle process refreshes too, so an SDK client
//!   that asks only seconds before expiry finds new credentials ready.
//! - **Callers never wait** while the credentials are outside the mandatory window (60 s before
//!   expiry, at most a quarter of the lifetime) and the background task is alive (see
//!   [Runtimes](#runtimes)): they get the cached credentials at once, during a refresh too. Inside
//!   it they wait for an attempt in flight (no longer than the credentials stay valid) and, between
//!   attempts, get the still-valid credentials. **Expired credentials are never returned.**
//! - **Failures back off**: while valid credentials remain, retries follow 5 s doubling up to 5 min
//!   with full jitter after a throttle, 5xx or timeout (with one attempt as the mandatory window
//!   starts), and come every 5 min after any other error; one attempt is made at expiry at the
//!   latest. Once the credentials have expired, or were never fetched, attempts come 1 s doubling
//!   up to 30 s apart and callers get the last error at once until the next attempt is due, then
//!   wait for it: a storm of callers cannot hammer STS, and a process works again within about
//!   30 s of STS answering again (plus `RefreshPolicy::fetch_timeout` if STS hangs rather than
//!   fails). A panic in a chain run (in the base provider, say) is a failure like any other.
//!   Credentials that arrive already inside their mandatory window count as an `InvalidResponse`
//!   failure for the backoff, though they are served while valid.
//! - **Per hop**: each hop's credentials are kept; a refresh starts after the last hop whose
//!   credentials stay valid past their mandatory window. Refreshing a 3-hop chain whose first two
//!   hops are still valid costs one STS call. After a non-retryable failure at a hop, the
//!   credentials that signed it are fetched anew next time.
//! - **Role chaining's hour**: if hop 0 asks for more than an hour and STS answers that the base
//!   credentials are themselves a role session (an instance profile, for example), the hop is
//!   retried once at 3600 s and a warning is logged; later refreshes ask for one hour from the
//!   start. Later hops over an hour are refused by `build()`.
//! - **Invalidation**: [`invalidate()`](crate::RoleChainProvider::invalidate) drops the cached
//!   credentials after a service rejected them (see
//!   [Errors](crate::guide::errors#after-a-service-rejects-the-credentials)): the next callers
//!   share one fresh run, which derives every hop anew (any of them may have been revoked), and so
//!   do concurrent invalidations and those that arrive while it runs. Invalidations start at most
//!   one run a second (`RefreshPolicy::invalidation_backoff`), and the interval doubles up to 1 min
//!   while they keep arriving right after fresh credentials; an invalidation that must wait leaves
//!   the credentials in service until its run, and if that run fails they are not served again:
//!   callers get its error. An invalidation that arrives while an ordinary refresh is in flight
//!   drops the credentials at once and is served by that refresh, which may reuse earlier hops:
//!   its credentials are new, and STS would have refused the call had a hop it reused been
//!   revoked. A loop of `invalidate()` and `credentials()` runs
//!   the chain about 4 times in 10 s, not thousands. With no credentials to drop (the first fetch
//!   failed, say), an invalidation changes nothing and the failure backoff stands.
//!
//! Every clock read goes through the `TimeSource` and every sleep through the `AsyncSleep` given to
//! the builder (or brought by `configure`), so tests can drive the refresh with manual time.
//!
//! ## Runtimes
//!
//! The background task runs on the tokio runtime of the call that started it and dies with it;
//! whoever finds it dead starts another on its own runtime, which resumes the schedule where the
//! dead one left it (a restart never skips a backoff).
//!
//! - **A multi-thread runtime** that lives as long as the provider: everything above holds.
//! - **A current-thread runtime** runs the task only while something on it awaits: in an
//!   application that lives on it, as usual. On a runtime kept only for `block_on` of single
//!   calls, a cached call returns before the task can run, so a refresh that comes due is made by
//!   whichever call comes first of: one inside the mandatory window, which waits for it; or one
//!   after the task counts as stuck (twice `RefreshPolicy::fetch_timeout` after the refresh point,
//!   60 s by default), which starts the task anew on that runtime and waits for the refresh. Until
//!   then the cached calls take one more look each (a lock and a wake-up), and the credentials
//!   stay valid throughout.
//! - **A runtime per call** (a synchronous wrapper that builds a runtime, `block_on`s one call and
//!   drops it): the first call that finds an attempt due (the refresh point passed, or a failure's
//!   backoff over) starts the task on its runtime and waits for that attempt, which would
//!   otherwise die with the runtime. So the credentials are still refreshed ahead of expiry, one
//!   chain run per refresh and not per call, and after a failure the calls get the last error at
//!   once until the backoff ends. An attempt cut off with its runtime (a caller's timeout) counts
//!   as a `TimedOut` failure, with its backoff. Calls in between are served from the cache without
//!   waiting.
//! - **Several runtimes**: when the task's runtime shuts down, the next call that needs it (from
//!   any runtime) starts it on its own. A task whose runtime no longer runs (kept, but idle) is
//!   found stuck once an attempt has been due or in flight for twice `RefreshPolicy::fetch_timeout`
//!   (60 s by default), and the next call starts another on its own runtime and waits for that
//!   attempt.
//! - **No runtime**: a call fails at once with `InvalidConfiguration`.
//!
//! ## The cached call
//!
//! It loads one immutable snapshot, reads the clock once and clones the `Credentials` (an `Arc`):
//! no lock, no allocation, a 24-byte future; the slow path is boxed out of line. When the time
//! source is the system clock (the default, and what `aws_config::load_from_env()` brings), that
//! one read is of the system's coarse clock (on Linux), taken as an upper bound: it can hand a
//! call to the slow path up to a second early, never serve one late. Every other decision reads
//! the time source itself. An SDK client
//! behind the SDK's identity cache costs what that cache costs, whichever provider is behind it.
//! The credentials carry no `AwsCredentialFeature` property, which would make every clone
//! allocate. BENCHMARKS.md, in the repository, measures the cached call next to a static provider
//! and to aws-config's cached path, and a fleet of 10,000 providers on simulated time.
