//! Time arithmetic that cannot panic: every sum and difference of instants and durations
//! saturates at the ends of what STS's timestamps can name. And the coarse clock of the cached
//! path.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_async::time::SharedTimeSource;

/// The time from `fetched_at` to `expiry`; zero if it expires first.
pub(crate) fn lifetime(fetched_at: SystemTime, expiry: SystemTime) -> Duration {
    expiry.duration_since(fetched_at).unwrap_or_default()
}

/// `t + d`, or the end of year 9999 if that is later or cannot be represented.
pub(crate) fn later(t: SystemTime, d: Duration) -> SystemTime {
    let end = end_of_time();
    t.checked_add(d).map_or(end, |t| t.min(end))
}

/// `t - d`, or the Unix epoch if that is earlier or cannot be represented.
pub(crate) fn earlier(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_sub(d).map_or(UNIX_EPOCH, |t| t.max(UNIX_EPOCH))
}

/// 9999-12-31T23:59:59Z, the last second STS's timestamps can name.
fn end_of_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

/// How far behind the precise clock the coarse clock's last tick may be, beyond its resolution.
#[cfg(target_os = "linux")]
const COARSE_LAG: Duration = Duration::from_secs(1);

/// How the cached path reads the time: the time source itself, or, when that is the system
/// clock, the system's coarse clock, which gives the same time in a few nanoseconds instead of a
/// few tens, at the cost of a resolution of a few milliseconds.
///
/// The cached path only asks whether now is before an instant no later than the mandatory
/// window before expiry. It reads the coarse clock as an upper bound: the last tick, plus the
/// resolution, plus [`COARSE_LAG`] for a tick that comes late (on a busy virtual machine the
/// coarse clock was seen 6.5 ms behind with a 4-ms resolution). So a coarse read hands calls to
/// the slow path up to a second early, and never serves one late. Every other decision reads
/// the time source.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HotClock {
    /// The time source itself, such as manual time in tests.
    Source,
    /// The system's coarse wall clock, for a time source that is the system clock; `allowance`
    /// is what the last tick is moved on by to bound now from above.
    #[cfg(target_os = "linux")]
    Coarse { allowance: Duration },
}

impl HotClock {
    /// The clock of the cached path; `system` says that the time source is the system clock.
    pub(crate) fn for_source(system: bool) -> Self {
        #[cfg(target_os = "linux")]
        if system {
            use rustix::time::{clock_getres, ClockId};
            let resolution = timespec(clock_getres(ClockId::RealtimeCoarse));
            // A clock coarser than 100 ms would not be a kernel's tick: keep the precise one.
            if resolution <= Duration::from_millis(100) {
                let allowance = resolution.saturating_add(COARSE_LAG);
                return HotClock::Coarse { allowance };
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = system;
        HotClock::Source
    }

    /// Now by `source`, or a little later: never earlier than `source` would say.
    #[inline]
    pub(crate) fn now_or_later(self, source: &SharedTimeSource) -> SystemTime {
        match self {
            HotClock::Source => source.now(),
            #[cfg(target_os = "linux")]
            HotClock::Coarse { allowance } => {
                use rustix::time::{clock_gettime, ClockId};
                let last_tick = timespec(clock_gettime(ClockId::RealtimeCoarse));
                later(UNIX_EPOCH, last_tick.saturating_add(allowance))
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn is_coarse(self) -> bool {
        !matches!(self, HotClock::Source)
    }
}

/// A timespec since the epoch as a `Duration`; zero for a time before 1970.
#[cfg(target_os = "linux")]
fn timespec(ts: rustix::time::Timespec) -> Duration {
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0).min(999_999_999);
    Duration::new(secs, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn time_arithmetic_saturates_at_the_epoch_and_the_year_9999() {
        let end = at(253_402_300_799);
        assert_eq!(end_of_time(), end);
        assert_eq!(later(at(0), Duration::MAX), end);
        assert_eq!(later(end, SEC), end);
        assert_eq!(later(at(10), SEC), at(11));
        assert_eq!(earlier(at(10), Duration::MAX), at(0));
        assert_eq!(earlier(at(10), SEC), at(9));
        assert_eq!(lifetime(at(10), at(5)), Duration::ZERO);
        assert_eq!(lifetime(at(5), at(10)), 5 * SEC);
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // compares the coarse clock with the precise one
    fn the_coarse_clock_is_never_behind_the_system_clock() {
        let system = SharedTimeSource::default();
        let clock = HotClock::for_source(true);
        assert_eq!(clock.is_coarse(), cfg!(target_os = "linux"));
        for _ in 0..10_000 {
            let before = SystemTime::now();
            let coarse = clock.now_or_later(&system);
            assert!(coarse >= before, "{coarse:?} is before {before:?}");
            // Ahead by the allowance for a late tick, its resolution and a little more.
            assert!(coarse <= later(SystemTime::now(), Duration::from_millis(1200)));
        }
    }

    #[test]
    fn a_time_source_that_is_not_the_system_clock_is_read_as_it_is() {
        let manual = aws_smithy_async::time::StaticTimeSource::new(at(42));
        let clock = HotClock::for_source(false);
        assert!(!clock.is_coarse());
        assert_eq!(clock.now_or_later(&SharedTimeSource::new(manual)), at(42));
    }
}
