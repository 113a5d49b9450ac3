//! The pool's one engine: a timer queue over the tenants' refresh points and expiries, two
//! queues of attempts (those a caller waits for first), and the attempts themselves, each a task
//! of its own while fewer than `max_concurrent_sts_calls` run.
//!
//! The engine task holds no reference to the pool, which aborts it on drop; it looks the pool up
//! for each round of work. A caller that finds it gone with its runtime starts it anew on its
//! own, as a provider's caller restarts its worker.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use aws_smithy_async::future::timeout::Timeout;
use aws_smithy_async::rt::sleep::AsyncSleep;
use parking_lot::Mutex;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tracing::{debug_span, Instrument};

use super::{Entry, PoolInner};
use crate::cache::{attempt_within, log_outcome, Failure, Freshness};
use crate::chain::Priority;
use crate::error::{Error, ErrorKind};
use crate::metrics::Trigger;
use crate::time::later;

/// Queued for an attempt a caller waits for.
pub(crate) const WAITED: u8 = 1;
/// Queued for a background refresh.
pub(crate) const BACKGROUND: u8 = 2;

/// The longest the engine sleeps before it looks at the clock again.
const LONGEST_SLEEP: Duration = Duration::from_secs(5 * 60);

pub(crate) struct Engine {
    shared: Arc<Shared>,
    task: Mutex<Option<AbortOnDrop>>,
}

struct Shared {
    queues: Mutex<Queues>,
    /// Wakes the engine: a new timer or job, an attempt done.
    wake: Notify,
    permits: Arc<Semaphore>,
}

#[derive(Default)]
struct Queues {
    timers: BinaryHeap<Reverse<Timer>>,
    waited: VecDeque<Arc<Entry>>,
    background: VecDeque<Arc<Entry>>,
    /// Orders timers due at the same time.
    sequence: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// The entry's next attempt is due: a refresh, or a retry after a failure.
    Refresh,
    /// The entry's credentials expire: an idle entry leaves the pool.
    Expiry,
}

struct Timer {
    at: SystemTime,
    sequence: u64,
    kind: TimerKind,
    entry: Weak<Entry>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.sequence).cmp(&(other.at, other.sequence))
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Engine {
    pub(crate) fn new(max_concurrent_sts_calls: usize) -> Self {
        Engine {
            shared: Arc::new(Shared {
                queues: Mutex::default(),
                wake: Notify::new(),
                permits: Arc::new(Semaphore::new(max_concurrent_sts_calls)),
            }),
            task: Mutex::new(None),
        }
    }

    /// Starts the engine task on `runtime` unless it runs.
    pub(crate) fn ensure_running(
        &self,
        pool: &Arc<PoolInner>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(), Error> {
        let mut task = self.task.lock();
        if task.as_ref().is_some_and(|t| !t.0.is_finished()) {
            return Ok(());
        }
        let spawned = runtime.spawn(run(self.shared.clone(), Arc::downgrade(pool)));
        if spawned.is_finished() {
            return Err(Error::no_runtime());
        }
        *task = Some(AbortOnDrop(spawned));
        Ok(())
    }

    /// Queues an attempt for `entry` (`WAITED` or `BACKGROUND`), once.
    pub(crate) fn request(&self, entry: &Arc<Entry>, queue: u8) {
        if self.shared.enqueue(entry, queue) {
            self.shared.wake.notify_waiters();
        }
    }

    /// Puts the entry's next attempt in the timer queue, if one is scheduled.
    pub(crate) fn schedule_next(&self, entry: &Arc<Entry>) {
        if let Some(at) = entry.state.load().next_refresh {
            self.shared.add_timer(at, TimerKind::Refresh, entry);
        }
    }
}

impl Shared {
    /// Queues an attempt for `entry` (`WAITED` or `BACKGROUND`) unless it is queued there
    /// already; returns whether it queued one.
    fn enqueue(&self, entry: &Arc<Entry>, queue: u8) -> bool {
        if entry.queued.fetch_or(queue, Ordering::AcqRel) & queue != 0 {
            return false;
        }
        let mut queues = self.queues.lock();
        match queue {
            WAITED => queues.waited.push_back(entry.clone()),
            _ => queues.background.push_back(entry.clone()),
        }
        true
    }

    fn add_timer(&self, at: SystemTime, kind: TimerKind, entry: &Arc<Entry>) {
        let mut queues = self.queues.lock();
        queues.sequence = queues.sequence.wrapping_add(1);
        let timer = Timer {
            at,
            sequence: queues.sequence,
            kind,
            entry: Arc::downgrade(entry),
        };
        queues.timers.push(Reverse(timer));
        drop(queues);
        self.wake.notify_waiters();
    }

    /// One round: the timers due at `now`, then as many attempts as may start. Returns when the
    /// next timer is due.
    fn round(self: &Arc<Self>, pool: &Arc<PoolInner>, now: SystemTime) -> Option<SystemTime> {
        let mut due = Vec::new();
        {
            let mut queues = self.queues.lock();
            while queues.timers.peek().is_some_and(|t| t.0.at <= now) {
                if let Some(Reverse(timer)) = queues.timers.pop() {
                    due.push(timer);
                }
            }
        }
        for timer in due {
            if let Some(entry) = timer.entry.upgrade() {
                match timer.kind {
                    TimerKind::Refresh => self.refresh_point(pool, &entry, timer.at, now),
                    TimerKind::Expiry => expiry(pool, &entry, now),
                }
            }
        }
        self.start_attempts(pool, now);
        self.queues.lock().timers.peek().map(|t| t.0.at)
    }

    /// The entry's refresh point (or retry) at `at` has come: a background attempt for an
    /// entry in use; an idle one is left to expire.
    fn refresh_point(&self, pool: &PoolInner, entry: &Arc<Entry>, at: SystemTime, now: SystemTime) {
        let state = entry.state.load();
        let current = state.next_refresh == Some(at) && state.in_flight.is_none();
        if !current || entry.evicted.load(Ordering::Relaxed) {
            return;
        }
        if entry.is_idle(now, pool.settings.idle_timeout) {
            if let Some(value) = &state.current {
                self.add_timer(value.expiry, TimerKind::Expiry, entry);
            }
            return;
        }
        // Within a round: the attempts are started right after.
        self.enqueue(entry, BACKGROUND);
    }

    /// Starts the queued attempts, callers' first, while permits last.
    fn start_attempts(self: &Arc<Self>, pool: &Arc<PoolInner>, now: SystemTime) {
        loop {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                return;
            };
            let job = {
                let mut queues = self.queues.lock();
                match queues.waited.pop_front() {
                    Some(entry) => Some((entry, WAITED)),
                    None => queues.background.pop_front().map(|e| (e, BACKGROUND)),
                }
            };
            let Some((entry, queue)) = job else { return };
            entry.queued.fetch_and(!queue, Ordering::AcqRel);
            let state = entry.state.load();
            if state.in_flight.is_some() || !state.due(now) || entry.evicted.load(Ordering::Relaxed)
            {
                continue;
            }
            let priority = match queue {
                WAITED => Priority::Waited,
                _ => Priority::Background,
            };
            let before = entry.state.rcu(|state| state.started(now, &pool.policy));
            let freshness = match before.invalidations.pending {
                true => Freshness::FromScratch,
                false => Freshness::MayReuse,
            };
            let attempt = Attempt {
                id: before.next_attempt(),
                trigger: before.trigger(now),
                entry,
                freshness,
                priority,
                _permit: permit,
            };
            tokio::spawn(attempt.run(pool.clone(), self.clone()));
        }
    }
}

/// The entry's credentials have expired at `now`: an idle entry leaves the pool.
fn expiry(pool: &PoolInner, entry: &Arc<Entry>, now: SystemTime) {
    let state = entry.state.load();
    let refreshed = state.current.as_ref().is_some_and(|c| now < c.expiry);
    if refreshed || state.in_flight.is_some() || !entry.is_idle(now, pool.settings.idle_timeout) {
        return;
    }
    let held = pool.tenants.get(&entry.key);
    if held.is_some_and(|held| Arc::ptr_eq(&held, entry)) {
        pool.tenants.invalidate(&entry.key);
    }
    entry.forget();
}

/// One attempt for one entry, holding a permit until it ends.
struct Attempt {
    id: u64,
    trigger: Trigger,
    entry: Arc<Entry>,
    freshness: Freshness,
    priority: Priority,
    _permit: OwnedSemaphorePermit,
}

impl Attempt {
    async fn run(self, pool: Arc<PoolInner>, engine: Arc<Shared>) {
        let Attempt {
            id,
            trigger,
            entry,
            freshness,
            priority,
            _permit,
        } = self;
        let span = debug_span!("tenant_refresh", role_arn = %entry.key.roles().last().map_or("", |r| r.role_arn()));
        let run = || entry.chain.run_for(freshness, priority);
        let result = attempt_within(run, &pool.sleep, pool.policy.fetch_timeout)
            .instrument(span.clone())
            .await;
        pool.gate.record(result.as_ref().map(|_| ()));
        let outcome = result.as_ref().err().map_or("ok", Failure::outcome);
        pool.context.metrics().refresh(trigger, outcome);
        let now = pool.time.now();
        let policy = &pool.policy;
        let previous = entry
            .state
            .rcu(|state| state.finished(result.clone(), id, now, policy, fastrand::f64()));
        match &result {
            Ok(_) => entry.refusals.store(0, Ordering::Relaxed),
            // A refusal of the tenant's own hops; the shared hops have their own backoff.
            Err(error)
                if error.kind() == ErrorKind::AccessDenied
                    && error.hop().is_some_and(|hop| hop >= pool.shared_hops) =>
            {
                refused(&pool, &entry, now);
            }
            Err(_) => {}
        }
        let state = entry.state.load();
        span.in_scope(|| log_outcome(&previous, &state, now));
        // A tenant without credentials is retried when a caller asks, not in the background.
        if let (Some(at), Some(_)) = (state.next_refresh, &state.current) {
            engine.add_timer(at, TimerKind::Refresh, &entry);
        }
        entry.changed.notify_waiters();
        drop(_permit);
        engine.wake.notify_waiters();
    }
}

/// The tenant's role refused it at `now`: without credentials, it answers with the refusal
/// until the refusal backoff passes.
fn refused(pool: &PoolInner, entry: &Entry, now: SystemTime) {
    if entry.state.load().current.is_some() {
        return;
    }
    let refusals = entry
        .refusals
        .fetch_add(1, Ordering::Relaxed)
        .saturating_add(1);
    let at = later(now, pool.settings.refusal_backoff.nth(refusals));
    entry.state.rcu(|state| state.retry_at(at, &pool.policy));
}

/// The engine: a round of work whenever woken or a timer is due.
async fn run(shared: Arc<Shared>, pool: Weak<PoolInner>) {
    loop {
        let woken = shared.wake.notified();
        let mut woken = std::pin::pin!(woken);
        woken.as_mut().enable();
        let Some(strong) = pool.upgrade() else { return };
        let now = strong.time.now();
        let next = shared.round(&strong, now);
        let sleep = strong.sleep.clone();
        drop(strong);
        let nap = next
            .map_or(LONGEST_SLEEP, |at| {
                at.duration_since(now).unwrap_or_default()
            })
            .min(LONGEST_SLEEP);
        if nap.is_zero() {
            continue;
        }
        let _ = Timeout::new(woken, sleep.sleep(nap)).await;
    }
}
