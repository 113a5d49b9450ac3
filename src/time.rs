//! Time arithmetic that cannot panic: every sum and difference of instants and durations
//! saturates at the ends of what STS's timestamps can name.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
}
