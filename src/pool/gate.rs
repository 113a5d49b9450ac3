//! The pool's limit on STS calls: [`Rate`], the allowed rate and the spacing of the calls as pure
//! functions of the time, and [`RateGate`], where every hop's request of the pool waits for its
//! turn.
//!
//! Calls are spaced evenly, one every `1 / (0.95 · rate)` (a cell rate with a burst of one), so
//! that no second, wherever it starts, holds more than `rate` calls, even as STS counts them on
//! arrival, after latencies that differ by up to 5 % of a second. A throttling answer from STS halves
//! the allowed rate (at most once a second: the answers to calls already in flight tell nothing
//! new); it then grows back by a twentieth of the limit per second.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::SharedTimeSource;
use parking_lot::Mutex;

use crate::chain::{Gate, Priority};
use crate::error::{Error, ErrorKind};
use crate::time::later;

/// The lowest rate a throttling answer can bring the pool to, in calls per second.
const LOWEST_RATE: f64 = 1.0;
/// How soon after one throttling answer another halves the rate again.
const THROTTLE_MEMORY: Duration = Duration::from_secs(1);
/// The fraction of the limit the allowed rate grows back by per second after a throttling answer.
const RECOVERY_PER_SECOND: f64 = 0.05;
/// The share of the allowed rate the calls are spaced for: STS counts calls as they arrive, and
/// the spread of network latency brings some closer together than they were sent.
const HEADROOM: f64 = 0.95;

/// The allowed rate and the next free turn.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rate {
    limit: f64,
    /// The rate right after the last throttling answer, and when it came.
    throttled: Option<(f64, SystemTime)>,
    /// The earliest time the next call may be sent.
    next_turn: SystemTime,
}

impl Rate {
    pub(crate) fn new(calls_per_second: u32) -> Self {
        Rate {
            limit: f64::from(calls_per_second.max(1)),
            throttled: None,
            next_turn: SystemTime::UNIX_EPOCH,
        }
    }

    /// The calls per second allowed at `now`: the limit, or less after a throttling answer.
    pub(crate) fn allowed(&self, now: SystemTime) -> f64 {
        match self.throttled {
            None => self.limit,
            Some((rate, at)) => {
                let since = now.duration_since(at).unwrap_or_default().as_secs_f64();
                (rate + since * self.limit * RECOVERY_PER_SECOND).min(self.limit)
            }
        }
    }

    /// The time between two calls at `now`: for 95 % of the allowed rate, rounded up.
    fn spacing(&self, now: SystemTime) -> Duration {
        let nanos = (1e9 / (self.allowed(now) * HEADROOM)).ceil();
        Duration::from_nanos(nanos as u64)
    }

    /// Takes the turn at `now` if it has come; else how long until it does.
    pub(crate) fn take(&mut self, now: SystemTime) -> Result<(), Duration> {
        match self.next_turn.duration_since(now) {
            Ok(wait) if !wait.is_zero() => Err(wait),
            _ => {
                self.next_turn = later(now, self.spacing(now));
                Ok(())
            }
        }
    }

    /// How long a request that gives way waits before it looks again: one turn.
    pub(crate) fn turn(&self, now: SystemTime) -> Duration {
        self.spacing(now)
    }

    /// STS answered a call with a throttling error at `now`: halves the allowed rate, unless it
    /// was halved less than a second ago.
    pub(crate) fn throttled(&mut self, now: SystemTime) {
        let recent = self
            .throttled
            .is_some_and(|(_, at)| now < later(at, THROTTLE_MEMORY));
        if !recent {
            let halved = (self.allowed(now) / 2.0).max(LOWEST_RATE.min(self.limit));
            self.throttled = Some((halved, now));
            // The turn already given stands; the ones after it are spaced at the new rate.
        }
    }
}

/// Where the requests of a pool's hops wait for their turn: the shared hops' and those asked
/// for by a waiting caller go before background refreshes.
pub(crate) struct RateGate {
    rate: Mutex<Rate>,
    /// Requests with [`Priority::Waited`] waiting for their turn.
    waited: AtomicUsize,
    calls: AtomicU64,
    throttled: AtomicU64,
    time: SharedTimeSource,
    sleep: SharedAsyncSleep,
}

/// The error of a request the gate held past its deadline: the pool's own limit, not STS.
#[derive(Debug)]
pub(crate) struct HeldByThePool;

impl fmt::Display for HeldByThePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("held by the pool's own limit on STS calls")
    }
}

impl std::error::Error for HeldByThePool {}

impl RateGate {
    pub(crate) fn new(
        calls_per_second: u32,
        time: SharedTimeSource,
        sleep: SharedAsyncSleep,
    ) -> Self {
        RateGate {
            rate: Mutex::new(Rate::new(calls_per_second)),
            waited: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            time,
            sleep,
        }
    }

    /// The requests let through: each is one AssumeRole call (a pool's STS client does not
    /// retry on its own).
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The throttling answers STS gave.
    pub(crate) fn throttling_answers(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    pub(crate) fn allowed_rate(&self) -> f64 {
        self.rate.lock().allowed(self.time.now())
    }

    /// Takes note of the outcome of a chain run: a throttling answer from STS lowers the rate.
    pub(crate) fn record(&self, outcome: Result<(), &Error>) {
        let Err(error) = outcome else { return };
        if error.kind() == ErrorKind::Throttled && !is_held_by_the_pool(error) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            self.rate.lock().throttled(self.time.now());
        }
    }

    async fn wait_for_turn(&self, priority: Priority, deadline: SystemTime) -> Result<(), Error> {
        let _counted = (priority == Priority::Waited).then(|| Waiting::new(&self.waited));
        loop {
            let now = self.time.now();
            let wait = {
                let mut rate = self.rate.lock();
                let give_way =
                    priority == Priority::Background && self.waited.load(Ordering::Relaxed) > 0;
                match give_way {
                    true => rate.turn(now),
                    false => match rate.take(now) {
                        Ok(()) => {
                            self.calls.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                        Err(wait) => wait,
                    },
                }
            };
            if later(now, wait) > deadline {
                return Err(self.held(now));
            }
            self.sleep.sleep(wait).await;
        }
    }

    fn held(&self, now: SystemTime) -> Error {
        let rate = self.rate.lock().allowed(now);
        Error::new(
            ErrorKind::Throttled,
            format!(
                "the pool's own limit on STS calls (sts_rate_limit, {rate:.1} calls per second \
                 now) held this request until RefreshPolicy::fetch_timeout ran out; STS did not \
                 refuse it. Fewer tenants fetched at once, or a higher sts_rate_limit, let it through"
            ),
        )
        .with_source(HeldByThePool)
    }
}

/// Whether `error` is the gate's own refusal rather than STS's.
pub(crate) fn is_held_by_the_pool(error: &Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<HeldByThePool>())
}

impl Gate for RateGate {
    fn admit(
        &self,
        priority: Priority,
        deadline: SystemTime,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + '_>> {
        Box::pin(self.wait_for_turn(priority, deadline))
    }
}

impl fmt::Debug for RateGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateGate")
            .field("allowed_rate", &self.allowed_rate())
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

/// Counts a waiting request for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cases;

    fn at(millis: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000) + Duration::from_millis(millis)
    }

    /// The times, in ms from the start, of the calls let through when one is asked for every
    /// `every` ms for `for_ms`.
    fn turns(rate: &mut Rate, every: u64, for_ms: u64) -> Vec<u64> {
        (0..for_ms / every)
            .map(|i| i * every)
            .filter(|t| rate.take(at(*t)).is_ok())
            .collect()
    }

    fn at_most_the_rate_in_any_second(calls_per_second: u32) {
        let mut rate = Rate::new(calls_per_second);
        let taken = turns(&mut rate, 1, 5_000);
        for start in 0..4_000 {
            let in_second = taken
                .iter()
                .filter(|t| (start..start + 1000).contains(*t))
                .count();
            assert!(
                in_second <= calls_per_second as usize,
                "{in_second} from {start} ms"
            );
        }
        // Evenly spaced, and as many as allowed but the headroom: a limit, not a stall.
        let in_first = taken.iter().filter(|t| **t < 1000).count();
        // Asked for once a millisecond, each turn is taken up to 1 ms late.
        let spacing_ms = (1000.0 / (f64::from(calls_per_second) * HEADROOM)).ceil();
        let floor = (1000.0 / spacing_ms).floor() as usize;
        assert!(
            in_first >= floor,
            "{in_first} in the first second, {floor} expected"
        );
    }

    cases! { at_most_the_rate_in_any_second:
        three_per_second_never_four_in_a_second: 3;
        fifty_per_second_never_fifty_one_in_a_second: 50;
        a_hundred_per_second_never_more_in_a_second: 100;
        one_per_second_never_two_in_a_second: 1;
    }

    #[test]
    fn a_turn_not_yet_come_says_how_long_to_wait() {
        let mut rate = Rate::new(4);
        // 4 per second at 95 %: one every 263.16 ms.
        assert_eq!(rate.take(at(0)), Ok(()));
        assert_eq!(rate.take(at(100)), Err(Duration::from_nanos(163_157_895)));
        assert_eq!(rate.take(at(263)), Err(Duration::from_nanos(157_895)));
        assert_eq!(rate.take(at(264)), Ok(()));
    }

    #[test]
    fn a_throttling_answer_halves_the_rate_which_grows_back_by_a_twentieth_per_second() {
        let mut rate = Rate::new(100);
        rate.throttled(at(0));
        assert_eq!(rate.allowed(at(0)), 50.0);
        assert_eq!(rate.allowed(at(2_000)), 60.0);
        assert_eq!(rate.allowed(at(10_000)), 100.0);
        assert_eq!(rate.allowed(at(60_000)), 100.0);
    }

    #[test]
    fn answers_within_a_second_of_a_throttling_answer_halve_nothing_more() {
        let mut rate = Rate::new(100);
        rate.throttled(at(0));
        rate.throttled(at(500));
        assert_eq!(rate.allowed(at(500)), 52.5);
        rate.throttled(at(1_000));
        assert_eq!(rate.allowed(at(1_000)), 27.5);
    }

    #[test]
    fn throttling_never_brings_the_rate_below_one_call_per_second() {
        let mut rate = Rate::new(2);
        for second in 0..10 {
            rate.throttled(at(second * 1_000));
        }
        assert!(
            rate.allowed(at(9_000)) >= 1.0,
            "{}",
            rate.allowed(at(9_000))
        );
    }

    #[test]
    fn a_lowered_rate_spaces_the_calls_further() {
        let mut rate = Rate::new(10);
        rate.throttled(at(0));
        let taken = turns(&mut rate, 1, 1_000);
        assert!(taken.len() <= 6, "{taken:?}");
    }
}
