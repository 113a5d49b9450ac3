//! The server's connection slots and its budget of refusals: what keeps a local process without
//! the token from crowding out the callers that have it.
//!
//! A connection is accepted first and given a slot after. When every slot is taken, the oldest
//! connection whose caller has not shown the token gives its slot up to the newcomer: a
//! process that holds connections open without the token loses them to every new caller,
//! while a client that sends its request at once (as every SDK does) is served before it can
//! be displaced. When every slot is held by a caller that showed the token, the newcomer is
//! answered `503`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::task::AbortHandle;
use tracing::{debug, warn};

/// The open connections, in the order they were accepted.
pub(crate) struct Slots {
    max: usize,
    open: Mutex<Open>,
}

struct Open {
    next: u64,
    slots: BTreeMap<u64, Slot>,
}

struct Slot {
    admitted: Arc<AtomicBool>,
    task: Option<AbortHandle>,
}

/// A connection's slot, given back when dropped.
pub(crate) struct SlotGuard {
    slots: Arc<Slots>,
    key: u64,
    admitted: Arc<AtomicBool>,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max,
            open: Mutex::new(Open {
                next: 0,
                slots: BTreeMap::new(),
            }),
        })
    }

    /// A slot for a new connection, taken from the oldest connection without the token if
    /// every slot is taken; `None` if every slot's caller showed the token.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<SlotGuard> {
        let mut open = self.open.lock();
        if open.slots.len() >= self.max {
            let oldest = open
                .slots
                .iter()
                .find(|(_, slot)| !slot.admitted.load(Ordering::Acquire))
                .map(|(key, _)| *key)?;
            if let Some(task) = open.slots.remove(&oldest).and_then(|slot| slot.task) {
                task.abort();
            }
            debug!("a connection without the token gave its slot up to a new one");
        }
        let key = open.next;
        open.next = open.next.saturating_add(1);
        let admitted = Arc::new(AtomicBool::new(false));
        let slot = Slot {
            admitted: admitted.clone(),
            task: None,
        };
        open.slots.insert(key, slot);
        Some(SlotGuard {
            slots: self.clone(),
            key,
            admitted,
        })
    }

    /// Records the task serving the connection of `key`, so that it can be ended.
    pub(crate) fn serving(&self, key: u64, task: AbortHandle) {
        match self.open.lock().slots.get_mut(&key) {
            Some(slot) => slot.task = Some(task),
            // Already over.
            None => task.abort(),
        }
    }
}

impl SlotGuard {
    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    /// The flag that says the connection's caller showed the token.
    pub(crate) fn admitted(&self) -> Arc<AtomicBool> {
        self.admitted.clone()
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.open.lock().slots.remove(&self.key);
    }
}

/// Refusals answered per second, over any stretch of time; more are closed unanswered.
const REFUSALS_PER_SECOND: u32 = 50;
/// Refusals answered at once after a quiet spell.
const REFUSAL_BURST: u32 = 100;
/// The shortest time between two warnings about unanswered refusals.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// How many requests without the token get an answer: a generic cell rate (GCRA), so that a
/// flood of them costs the server a closed socket each rather than an answer and a log line.
pub(crate) struct RefusalBudget {
    state: Mutex<Budget>,
}

struct Budget {
    /// When the next refusal would be due if they came evenly: the "theoretical arrival time".
    due: SystemTime,
    unanswered: u64,
    warned: Option<SystemTime>,
}

impl RefusalBudget {
    pub(crate) fn new() -> RefusalBudget {
        RefusalBudget {
            state: Mutex::new(Budget {
                due: SystemTime::UNIX_EPOCH,
                unanswered: 0,
                warned: None,
            }),
        }
    }

    /// Whether a refusal at `now` gets an answer.
    pub(crate) fn answer(&self, now: SystemTime) -> bool {
        let mut budget = self.state.lock();
        let interval = Duration::from_secs(1) / REFUSALS_PER_SECOND;
        let tolerance = interval.saturating_mul(REFUSAL_BURST.saturating_sub(1));
        if let Some(due) = next_due(budget.due, now, interval, tolerance) {
            budget.due = due;
            return true;
        }
        budget.unanswered = budget.unanswered.saturating_add(1);
        let quiet = budget.warned.is_none_or(|warned| {
            now.duration_since(warned)
                .is_ok_and(|since| since >= WARNING_INTERVAL)
        });
        if quiet {
            warn!(
                unanswered = budget.unanswered,
                "the credentials server closes connections without an answer: requests without \
                 its token come faster than {REFUSALS_PER_SECOND} per second"
            );
            budget.warned = Some(now);
            budget.unanswered = 0;
        }
        false
    }
}

/// The GCRA: the next due time if a cell arriving at `now` conforms, `None` if it comes too
/// early. A due time more than one cell ahead of what `now` allows (the clock stepped back) is
/// brought back, so that a clock change does not silence the server for as long as it stepped.
fn next_due(
    due: SystemTime,
    now: SystemTime,
    interval: Duration,
    tolerance: Duration,
) -> Option<SystemTime> {
    let latest = now.checked_add(tolerance)?;
    let due = due.min(latest.checked_add(interval)?);
    if due > latest {
        return None;
    }
    due.max(now).checked_add(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(20);

    fn at(millis: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000) + Duration::from_millis(millis)
    }

    #[test]
    fn a_burst_is_answered_then_one_refusal_per_interval() {
        let budget = RefusalBudget::new();
        let answered = (0..200).filter(|_| budget.answer(at(0))).count();
        assert_eq!(answered, REFUSAL_BURST as usize);
        assert!(!budget.answer(at(10)), "half an interval later");
        assert!(budget.answer(at(20)), "one interval later");
        assert!(!budget.answer(at(20)));
        // Due at 2020 ms now: answered at 40, 60, … 1020 ms, 50 in the next second.
        let next_second = (21..=1020).filter(|ms| budget.answer(at(*ms))).count();
        assert_eq!(next_second, 50, "{REFUSALS_PER_SECOND} a second");
    }

    #[test]
    fn a_due_time_ahead_of_a_clock_that_stepped_back_is_brought_back() {
        let far_ahead = at(3_600_000);
        assert_eq!(next_due(far_ahead, at(0), T, T * 99), None);
        let brought_back = at(0) + T * 100;
        assert_eq!(
            next_due(brought_back, at(20), T, T * 99),
            Some(brought_back + T)
        );
    }

    #[test]
    fn a_time_past_what_the_clock_can_hold_answers_no_more() {
        assert_eq!(next_due(at(0), at(0), Duration::MAX, Duration::MAX), None);
    }

    #[test]
    fn a_full_table_gives_the_oldest_slot_without_the_token_to_a_newcomer() {
        let slots = Slots::new(3);
        let first = slots.admit().unwrap();
        let second = slots.admit().unwrap();
        let third = slots.admit().unwrap();
        first.admitted().store(true, Ordering::Release);

        let fourth = slots.admit().unwrap();

        let open: Vec<u64> = slots.open.lock().slots.keys().copied().collect();
        assert_eq!(open, [first.key(), third.key(), fourth.key()]);
        drop(second);
        assert_eq!(slots.open.lock().slots.len(), 3);
    }

    #[test]
    fn a_table_full_of_callers_with_the_token_admits_nobody() {
        let slots = Slots::new(2);
        let held: Vec<_> = (0..2).map(|_| slots.admit().unwrap()).collect();
        for slot in &held {
            slot.admitted().store(true, Ordering::Release);
        }
        assert!(slots.admit().is_none());
        drop(held);
        assert!(slots.admit().is_some(), "slots come back when dropped");
    }
}
