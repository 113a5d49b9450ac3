//! The pool's limit on STS calls: [`Rate`], the allowed rate, the spacing of the calls and the
//! window they must fit in, as pure functions of the time; and [`RateGate`], where every hop's
//! request of the pool waits for its turn.
//!
//! STS counts calls as they arrive, and latency can bring calls sent a turn apart together: a
//! request sent before a second began may arrive within it. So a request is sent only while
//! fewer than `rate` others are in flight or ended within the last second; then no second,
//! wherever it starts, sees more than `rate` arrive, whatever the latencies (the last request
//! to arrive in it was sent when every other one arriving in it was in flight or had ended
//! within the second before). Within that window the requests are spaced evenly, one every
//! `1 / rate`. A throttling answer halves the allowed rate (at most once a second: the answers
//! to calls already in flight tell nothing new); it then grows back by a twentieth of the limit
//! per second.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::SharedTimeSource;
use parking_lot::Mutex;

use crate::chain::{Gate, Priority, Turn};
use crate::error::{Error, ErrorKind};
use crate::metrics::Metrics;
use crate::time::{earlier, later};

/// The lowest rate a throttling answer can bring the pool to, in calls per second.
const LOWEST_RATE: f64 = 1.0;
/// How soon after one throttling answer another halves the rate again.
const THROTTLE_MEMORY: Duration = Duration::from_secs(1);
/// The fraction of the limit the allowed rate grows back by per second after a throttling answer.
const RECOVERY_PER_SECOND: f64 = 0.05;
const SECOND: Duration = Duration::from_secs(1);

/// The allowed rate, the next free turn, and the requests in the window.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rate {
    limit: f64,
    /// The rate right after the last throttling answer, and when it came.
    throttled: Option<(f64, SystemTime)>,
    /// The earliest time the next call may be sent.
    next_turn: SystemTime,
    /// Requests sent and not yet ended.
    in_flight: usize,
    /// When the requests that ended within the last second ended, oldest first.
    ended: VecDeque<SystemTime>,
}

impl Rate {
    pub(crate) fn new(calls_per_second: u32) -> Self {
        Rate {
            limit: f64::from(calls_per_second.max(1)),
            throttled: None,
            next_turn: SystemTime::UNIX_EPOCH,
            in_flight: 0,
            ended: VecDeque::new(),
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

    /// The time between two calls at `now`, rounded up so that `rate` turns never fit in less
    /// than a second.
    fn spacing(&self, now: SystemTime) -> Duration {
        let nanos = (1e9 / self.allowed(now)).ceil();
        Duration::from_nanos(nanos as u64)
    }

    /// Takes the turn at `now` if it has come; else how long until it may have. The request
    /// is in flight until [`ended`](Self::ended).
    pub(crate) fn take(&mut self, now: SystemTime) -> Result<(), Duration> {
        let window_start = earlier(now, SECOND);
        while self
            .ended
            .front()
            .is_some_and(|ended| *ended <= window_start)
        {
            self.ended.pop_front();
        }
        let room = self.allowed(now).floor().max(1.0) as usize;
        if self.in_flight + self.ended.len() >= room {
            // Room comes when the oldest end leaves the window; with every request still in
            // flight, look again a turn later.
            let wait = match self.ended.front() {
                Some(oldest) => later(*oldest, SECOND)
                    .duration_since(now)
                    .unwrap_or_default(),
                None => self.spacing(now),
            };
            return Err(wait.max(Duration::from_nanos(1)));
        }
        match self.next_turn.duration_since(now) {
            Ok(wait) if !wait.is_zero() => Err(wait),
            _ => {
                self.next_turn = later(now, self.spacing(now));
                self.in_flight += 1;
                Ok(())
            }
        }
    }

    /// A request taken with [`take`](Self::take) ended at `now` (answered, failed or dropped).
    pub(crate) fn ended(&mut self, now: SystemTime) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.ended.push_back(now);
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
    metrics: Metrics,
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
        metrics: Metrics,
    ) -> Self {
        RateGate {
            metrics,
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

    async fn wait_for_turn(
        &self,
        priority: Priority,
        deadline: SystemTime,
    ) -> Result<Turn<'_>, Error> {
        let _counted = (priority == Priority::Waited).then(|| Waiting::new(&self.waited));
        let asked = self.time.now();
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
                            let waited = now.duration_since(asked).unwrap_or_default();
                            self.metrics.queue_wait(waited.as_secs_f64());
                            return Ok(Box::new(InFlight(self)));
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
    ) -> Pin<Box<dyn Future<Output = Result<Turn<'_>, Error>> + Send + '_>> {
        Box::pin(self.wait_for_turn(priority, deadline))
    }
}

/// A request let through, in flight until dropped.
struct InFlight<'a>(&'a RateGate);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.rate.lock().ended(self.0.time.now());
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

    /// Asks for a turn every ms for `for_ms`, each request lasting `latency_ms`; returns when
    /// each was sent and when it arrived, arriving at a time between its sending and its end
    /// given by `arrival` (0.0: at once, 1.0: as it ends).
    fn calls(rate: &mut Rate, for_ms: u64, latency_ms: u64, arrival: f64) -> Vec<(u64, u64)> {
        let mut in_flight: Vec<(u64, u64)> = Vec::new();
        let mut done = Vec::new();
        for t in 0..for_ms {
            in_flight.retain(|(sent, ends)| {
                if *ends > t {
                    return true;
                }
                rate.ended(at(*ends));
                let arrived = sent + (latency_ms as f64 * arrival) as u64;
                done.push((*sent, arrived));
                false
            });
            if rate.take(at(t)).is_ok() {
                in_flight.push((t, t + latency_ms));
            }
        }
        done
    }

    fn busiest(times: impl Iterator<Item = u64>) -> usize {
        let mut times: Vec<u64> = times.collect();
        times.sort();
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t < times[i] + 1000)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    fn at_most_the_rate_arrives_in_any_second((per_second, latency, arrival): (u32, u64, f64)) {
        let mut rate = Rate::new(per_second);
        let done = calls(&mut rate, 6_000, latency, arrival);
        let arrived = busiest(done.iter().map(|(_, arrived)| *arrived));
        assert!(
            arrived <= per_second as usize,
            "{arrived} arrived in one second"
        );
        // Spaced out, and as many as the window allows: a limit, not a stall.
        let sent = busiest(done.iter().map(|(sent, _)| *sent));
        let expected = (f64::from(per_second) / (1.0 + latency as f64 / 1000.0)) as usize;
        assert!(
            sent + 2 >= expected.min(per_second as usize),
            "{sent} sent in the busiest second"
        );
    }

    cases! { at_most_the_rate_arrives_in_any_second:
        three_a_second_with_instant_answers: (3, 0, 0.0);
        fifty_a_second_with_instant_answers: (50, 0, 0.0);
        a_hundred_a_second_with_instant_answers: (100, 0, 0.0);
        one_a_second_with_instant_answers: (1, 0, 0.0);
        a_hundred_a_second_arriving_as_sent_after_a_300_ms_wait: (100, 300, 0.0);
        a_hundred_a_second_arriving_as_they_end_after_300_ms: (100, 300, 1.0);
        fifty_a_second_arriving_in_a_burst_after_900_ms: (50, 900, 1.0);
    }

    #[test]
    fn a_turn_not_yet_come_says_how_long_to_wait() {
        let mut rate = Rate::new(4);
        assert_eq!(rate.take(at(0)), Ok(()));
        rate.ended(at(10));
        assert_eq!(rate.take(at(100)), Err(Duration::from_millis(150)));
        assert_eq!(rate.take(at(250)), Ok(()));
    }

    #[test]
    fn a_full_window_waits_for_its_oldest_end_to_leave_it() {
        let mut rate = Rate::new(2);
        assert_eq!(rate.take(at(0)), Ok(()));
        rate.ended(at(700));
        assert_eq!(rate.take(at(700)), Ok(()));
        // One in flight, one ended at 700 ms: room again at 1,700 ms.
        assert_eq!(rate.take(at(1_200)), Err(Duration::from_millis(500)));
        rate.ended(at(1_300));
        assert_eq!(rate.take(at(1_699)), Err(Duration::from_millis(1)));
        assert_eq!(rate.take(at(1_700)), Ok(()));
    }

    #[test]
    fn requests_all_in_flight_keep_the_window_full() {
        let mut rate = Rate::new(2);
        assert_eq!(rate.take(at(0)), Ok(()));
        assert_eq!(rate.take(at(500)), Ok(()));
        assert_eq!(rate.take(at(5_000)), Err(Duration::from_millis(500)));
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
    fn a_lowered_rate_lets_fewer_through() {
        let mut rate = Rate::new(10);
        rate.throttled(at(0));
        let done = calls(&mut rate, 1_000, 0, 0.0);
        assert!(done.len() <= 5, "{done:?}");
    }
}
