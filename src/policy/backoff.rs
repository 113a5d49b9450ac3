//! Backoffs as values: a first delay that doubles, up to a maximum, and the delays it yields.

use std::time::Duration;

/// A first delay that doubles after each use, up to a maximum: the shape of every backoff of
/// [`RefreshPolicy`](super::RefreshPolicy). Jitter is the rules' to apply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Backoff {
    pub(crate) first: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    pub(crate) const fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, max }
    }

    /// The delays, first to last: `first`, `2·first`, `4·first`, … capped at `max`, forever.
    pub(crate) fn delays(self) -> Delays {
        Delays {
            next: self.first,
            max: self.max,
        }
    }

    /// The `n`-th delay, 1 for the first: `first · 2^(n-1)`, capped at `max`.
    pub(crate) fn nth(self, n: u32) -> Duration {
        let skip = usize::try_from(n.saturating_sub(1)).unwrap_or(usize::MAX);
        self.delays().nth(skip).unwrap_or(self.max)
    }

    /// The delay that follows `previous` (taken as at least `first`).
    pub(crate) fn after(self, previous: Duration) -> Duration {
        let mut delays = Delays {
            next: previous.max(self.first),
            max: self.max,
        };
        delays.nth(1).unwrap_or(self.max)
    }
}

/// The delays of a [`Backoff`]; never ends.
#[derive(Clone, Debug)]
pub(crate) struct Delays {
    next: Duration,
    max: Duration,
}

/// After this many doublings a delay of at least 1 ns is past any `Duration` that a maximum
/// can be, so every later delay equals the maximum.
const DOUBLINGS_TO_ANY_MAX: usize = 96;

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next.min(self.max);
        self.next = delay.saturating_mul(2);
        Some(delay)
    }

    fn nth(&mut self, n: usize) -> Option<Duration> {
        for _ in 0..n.min(DOUBLINGS_TO_ANY_MAX) {
            self.next();
        }
        self.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_from_the_first_up_to_the_maximum_and_stay_there() {
        let delays: Vec<_> = Backoff::new(10 * MS, 70 * MS).delays().take(5).collect();
        assert_eq!(delays, [10 * MS, 20 * MS, 40 * MS, 70 * MS, 70 * MS]);
    }

    #[test]
    fn the_nth_delay_is_the_nth_of_the_iterator() {
        let backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(300));
        for n in 1..=12u32 {
            let by_iterator = backoff.delays().nth(n as usize - 1).unwrap();
            assert_eq!(backoff.nth(n), by_iterator, "n = {n}");
        }
        assert_eq!(backoff.nth(0), Duration::from_secs(5));
        assert_eq!(backoff.nth(4), Duration::from_secs(40));
        assert_eq!(backoff.nth(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn the_largest_settings_saturate_instead_of_overflowing() {
        let backoff = Backoff::new(Duration::from_nanos(1), Duration::MAX);
        assert_eq!(backoff.nth(u32::MAX), Duration::MAX);
        assert_eq!(backoff.after(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn the_delay_after_another_doubles_it_from_at_least_the_first() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff.after(Duration::ZERO), Duration::from_secs(2));
        assert_eq!(
            backoff.after(Duration::from_secs(8)),
            Duration::from_secs(16)
        );
        assert_eq!(
            backoff.after(Duration::from_secs(45)),
            Duration::from_secs(60)
        );
    }
}
