use std::time::{SystemTime, UNIX_EPOCH};

use super::rules::*;
use super::*;
use crate::testing::cases;

const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn at_ms(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

fn windows((lifetime, advisory, mandatory): (Duration, Duration, Duration)) {
    let policy = RefreshPolicy::default();
    assert_eq!(policy.advisory(lifetime), advisory, "advisory");
    assert_eq!(policy.mandatory(lifetime), mandatory, "mandatory");
}

cases! { windows:
    windows_of_30_seconds_are_halved_and_quartered: (30 * SEC, 15 * SEC, Duration::from_millis(7500));
    windows_of_15_minutes: (15 * MINUTE, 5 * MINUTE, MINUTE);
    windows_of_20_minutes: (20 * MINUTE, 5 * MINUTE, MINUTE);
    windows_of_21_minutes_are_capped_at_half_the_lifetime: (21 * MINUTE, 630 * SEC, MINUTE);
    windows_of_1_hour: (60 * MINUTE, 15 * MINUTE, MINUTE);
    windows_of_89_minutes: (89 * MINUTE, 15 * MINUTE, MINUTE);
    windows_of_90_minutes_are_capped_at_half_the_lifetime: (90 * MINUTE, 45 * MINUTE, MINUTE);
    windows_of_2_hours: (120 * MINUTE, 60 * MINUTE, MINUTE);
    windows_of_12_hours: (12 * HOUR, 60 * MINUTE, MINUTE);
    windows_of_nothing: (Duration::ZERO, Duration::ZERO, Duration::ZERO);
}

fn refresh_point((policy, expiry, draw, expected): (RefreshPolicy, u64, f64, SystemTime)) {
    assert_eq!(policy.refresh_point(at(0), at(expiry), draw), expected);
}

cases! { refresh_point:
    // One hour: the advisory point is 45 min; 40 % is 24 min.
    refresh_point_of_1_hour_without_jitter_is_the_advisory_point: (RefreshPolicy::default(), 3600, 0.0, at(2700));
    refresh_point_of_1_hour_at_mid_draw: (RefreshPolicy::default(), 3600, 0.5, at(2070));
    refresh_point_of_1_hour_at_the_top_draw_is_40_percent_in: (RefreshPolicy::default(), 3600, 1.0, at(1440));
    refresh_point_with_half_the_jitter: (RefreshPolicy::default().jitter(0.5), 3600, 1.0, at(2070));
    refresh_point_with_jitter_off_ignores_the_draw: (RefreshPolicy::default().jitter(0.0), 3600, 0.7, at(2700));
    // Twelve hours: the advisory point is 11 h; 40 % is 4.8 h.
    refresh_point_of_12_hours_at_the_top_draw: (RefreshPolicy::default(), 43_200, 1.0, at(17_280));
    refresh_point_of_12_hours_without_jitter: (RefreshPolicy::default(), 43_200, 0.0, at(39_600));
    // 30 s: the advisory point is 15 s (half); 40 % is 12 s.
    refresh_point_of_30_seconds_without_jitter: (RefreshPolicy::default(), 30, 0.0, at(15));
    refresh_point_of_30_seconds_at_the_top_draw: (RefreshPolicy::default(), 30, 1.0, at(12));
    // A draw out of range is clamped.
    refresh_point_clamps_a_draw_above_one: (RefreshPolicy::default(), 3600, 7.0, at(1440));
    refresh_point_clamps_a_negative_draw: (RefreshPolicy::default(), 3600, -1.0, at(2700));
    // Advisory and mandatory windows of 1 min: the refresh point is the start of the mandatory
    // window at the latest.
    refresh_point_is_never_inside_the_mandatory_window: (
        RefreshPolicy::default().advisory_window(MINUTE).mandatory_window(MINUTE), 3600, 0.0, at(3540));
}

#[test]
fn refresh_point_of_credentials_that_expired_before_the_fetch_is_the_fetch() {
    let policy = RefreshPolicy::default();
    assert_eq!(policy.refresh_point(at(100), at(50), 0.5), at(100));
    assert_eq!(policy.serve_until(at(100), at(50)), at(50));
}

#[test]
fn refresh_points_of_a_fleet_fetched_together_span_at_least_12_minutes_of_an_hour() {
    let policy = RefreshPolicy::default();
    let mut rng = fastrand::Rng::with_seed(7);
    let points: Vec<u64> = (0..200)
        .map(|_| policy.refresh_point(at(0), at(3600), rng.f64()))
        .map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs())
        .collect();
    let (low, high) = (*points.iter().min().unwrap(), *points.iter().max().unwrap());
    assert!(low >= 1440, "none before 40 % of the lifetime: {low}");
    assert!(high <= 2700, "none after the advisory point: {high}");
    assert!(high - low >= 12 * 60, "spread {low}..{high}");
}

fn far_expiry((fetched_at, expiry): (SystemTime, SystemTime)) {
    let policy = RefreshPolicy::default();
    for draw in [0.0, 0.5, 1.0] {
        let point = policy.refresh_point(fetched_at, expiry, draw);
        let serve_until = policy.serve_until(fetched_at, expiry);
        assert!(point >= fetched_at.min(expiry) && point <= serve_until.max(fetched_at));
    }
}

cases! { far_expiry:
    expiry_at_the_epoch_does_not_panic: (at(1_000), UNIX_EPOCH);
    expiry_in_the_year_9999_does_not_panic: (at(1_000), at(253_402_300_799));
    expiry_now_does_not_panic: (at(1_000), at(1_000));
    expiry_and_fetch_at_the_epoch_do_not_panic: (UNIX_EPOCH, UNIX_EPOCH);
}

#[test]
fn retry_backoff_doubles_from_5_seconds_to_5_minutes_with_full_jitter() {
    let policy = RefreshPolicy::default();
    let ceilings: Vec<u64> = (1..=9)
        .map(|n| policy.retry_delay(n, true, 1.0).as_secs())
        .collect();
    assert_eq!(ceilings, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(policy.retry_delay(3, true, 0.0), Duration::ZERO);
    assert_eq!(policy.retry_delay(3, true, 0.5), 10 * SEC);
    assert_eq!(policy.retry_delay(1000, true, 1.0), 300 * SEC);
    assert_eq!(policy.retry_delay(u32::MAX, true, 1.0), 300 * SEC);
}

#[test]
fn non_retryable_failures_wait_the_cap() {
    let policy = RefreshPolicy::default();
    for n in [1, 2, 10] {
        assert_eq!(policy.retry_delay(n, false, 0.0), 5 * MINUTE);
    }
}

#[test]
fn urgent_backoff_doubles_from_1_second_to_30_seconds() {
    let policy = RefreshPolicy::default();
    let delays: Vec<u64> = (1..=8)
        .map(|n| policy.urgent_retry_delay(n).as_secs())
        .collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
}

/// A value valid from 0 to 3600 s, served without waiting until 3540 s.
fn hour() -> Option<Validity> {
    Some(Validity {
        serve_until: at(3540),
        expiry: at(3600),
    })
}

fn retry(
    (now, valid, retryable, failures, draw, expected): (
        u64,
        Option<Validity>,
        bool,
        u32,
        f64,
        (u64, u32),
    ),
) {
    // `failures` counts this failure; two came since the value expired or went missing.
    let before = Failures {
        consecutive: failures - 1,
        since_valid: 2,
    };
    let retry =
        RefreshPolicy::default().retry_after_failure(at(now), valid, retryable, before, draw);
    assert_eq!(
        (retry.at, retry.failures.since_valid),
        (at(expected.0), expected.1)
    );
    assert_eq!(retry.failures.consecutive, failures);
}

cases! { retry:
    retry_while_valid_after_a_throttle_backs_off_with_jitter: (2700, hour(), true, 3, 0.5, (2710, 0));
    retry_while_valid_after_a_throttle_comes_as_the_mandatory_window_starts_at_the_latest: (3500, hour(), true, 9, 1.0, (3540, 0));
    retry_after_a_throttle_as_the_mandatory_window_starts_comes_at_expiry_at_the_latest: (3540, hour(), true, 9, 1.0, (3600, 0));
    retry_inside_the_mandatory_window_comes_at_expiry_at_the_latest: (3550, hour(), true, 9, 1.0, (3600, 0));
    retry_while_valid_after_a_denial_waits_the_cap: (2700, hour(), false, 1, 0.0, (3000, 0));
    retry_while_valid_after_a_denial_comes_at_expiry_at_the_latest: (3400, hour(), false, 1, 0.0, (3600, 0));
    retry_once_expired_uses_the_urgent_backoff: (3600, hour(), true, 30, 0.5, (3604, 3));
    retry_without_a_value_uses_the_urgent_backoff: (10, None, false, 3, 0.5, (14, 3));
}

#[test]
fn retry_with_the_largest_backoffs_saturates() {
    let policy = RefreshPolicy::default()
        .retry_backoff(LONGEST_SETTING, LONGEST_SETTING)
        .urgent_retry_backoff(LONGEST_SETTING, LONGEST_SETTING);
    let end = at(253_402_300_799);
    let most = Failures {
        consecutive: u32::MAX,
        since_valid: u32::MAX,
    };
    let retry = policy.retry_after_failure(end, None, true, most, 1.0);
    assert_eq!((retry.at, retry.failures), (end, most));
    let valid = Some(Validity {
        serve_until: end,
        expiry: end,
    });
    let retry = policy.retry_after_failure(at(0), valid, true, most, 1.0);
    assert_eq!(retry.at, at(12 * 3600));
}

fn caller((now, valid, attempts, expected): (u64, Option<Validity>, Attempts, CallerAction<()>)) {
    let value = valid.map(|v| (v, ()));
    assert_eq!(
        RefreshPolicy::default().caller_action(at(now), value, attempts),
        expected
    );
}

const IDLE: Attempts = Attempts {
    next: Next::Scheduled,
    failed: false,
    waited: false,
    restarted: false,
};
const IN_FLIGHT: Attempts = Attempts {
    next: Next::InFlight,
    ..IDLE
};
const DUE: Attempts = Attempts {
    next: Next::Due,
    ..IDLE
};
const FAILED: Attempts = Attempts {
    failed: true,
    ..IDLE
};

cases! { caller:
    caller_is_served_outside_the_mandatory_window: (100, hour(), IDLE, CallerAction::Serve(()));
    caller_is_served_outside_the_mandatory_window_during_a_refresh: (3000, hour(), IN_FLIGHT, CallerAction::Serve(()));
    caller_is_served_outside_the_mandatory_window_when_an_attempt_is_due: (3000, hour(), DUE, CallerAction::Serve(()));
    caller_that_restarted_a_dead_worker_waits_for_the_due_attempt: (3000, hour(), Attempts { restarted: true, ..DUE }, until_expiry());
    caller_that_restarted_a_dead_worker_during_a_backoff_is_served: (3000, hour(), Attempts { restarted: true, ..FAILED }, CallerAction::Serve(()));
    caller_inside_the_mandatory_window_waits_for_the_attempt_in_flight: (3550, hour(), IN_FLIGHT, until_expiry());
    caller_inside_the_mandatory_window_waits_for_the_attempt_due: (3550, hour(), DUE, until_expiry());
    caller_inside_the_mandatory_window_between_attempts_is_served: (3550, hour(), FAILED, CallerAction::Serve(()));
    caller_inside_the_mandatory_window_is_served_after_waiting: (3550, hour(), Attempts { waited: true, ..IN_FLIGHT }, CallerAction::Serve(()));
    caller_without_a_value_waits_for_the_first_attempt: (0, None, DUE, CallerAction::Wait { until: None });
    caller_without_a_value_waits_for_the_attempt_in_flight_despite_an_error: (0, None, Attempts { failed: true, ..IN_FLIGHT }, CallerAction::Wait { until: None });
    caller_without_a_value_waits_for_a_due_attempt_despite_an_error: (0, None, Attempts { failed: true, ..DUE }, CallerAction::Wait { until: None });
    caller_without_a_value_gets_the_error_during_the_backoff: (0, None, FAILED, CallerAction::Fail);
    caller_without_a_value_gets_the_error_of_the_attempt_it_waited_for: (0, None, Attempts { waited: true, ..Attempts { failed: true, ..DUE } }, CallerAction::Fail);
    caller_with_an_expired_value_gets_the_error: (3600, hour(), FAILED, CallerAction::Fail);
    caller_with_an_expired_value_waits_for_the_attempt_in_flight: (3600, hour(), IN_FLIGHT, CallerAction::Wait { until: None });
    caller_that_waited_past_the_expiry_of_its_value_is_released: (3600, hour(), Attempts { waited: true, ..IN_FLIGHT }, CallerAction::Fail);
}

fn until_expiry() -> CallerAction<()> {
    CallerAction::Wait {
        until: Some(at(3600)),
    }
}

/// Some valid value: an invalidation looks only at whether there is one.
fn a_value() -> Option<Validity> {
    Some(Validity {
        serve_until: at(3540),
        expiry: at(3600),
    })
}

const FIRST: Invalidations = Invalidations {
    pending: false,
    last_run: None,
    interval: Duration::ZERO,
};

fn invalidate(
    (now, state, in_flight, has_value, expected): (
        u64,
        Invalidations,
        bool,
        bool,
        (Invalidation, Invalidations),
    ),
) {
    let policy = RefreshPolicy::default();
    let next = if in_flight {
        Next::InFlight
    } else {
        Next::Scheduled
    };
    let got = policy.invalidation(at_ms(now), state, next, a_value().filter(|_| has_value));
    assert_eq!(got, expected);
}

cases! { invalidate:
    invalidation_with_none_before_runs_now: (5_000, FIRST, false, true,
        (Invalidation::RunNow, Invalidations { pending: true, last_run: None, interval: SEC }));
    invalidation_joins_a_pending_one: (5_000, Invalidations { pending: true, ..FIRST }, false, true,
        (Invalidation::Coalesced, Invalidations { pending: true, ..FIRST }));
    invalidation_during_an_attempt_drops_the_value_for_it: (5_000, FIRST, true, true,
        (Invalidation::DropValue, FIRST));
    invalidation_without_a_value_changes_nothing: (5_000, FIRST, false, false,
        (Invalidation::Coalesced, FIRST));
    invalidation_without_a_value_during_an_attempt_changes_nothing: (5_000, FIRST, true, false,
        (Invalidation::Coalesced, FIRST));
    invalidation_inside_a_grown_interval_is_deferred_to_its_end: (
        6_000, Invalidations { last_run: Some(at(5)), interval: 4 * SEC, ..FIRST }, false, true,
        (Invalidation::Defer(at(9)), Invalidations { pending: true, last_run: Some(at(5)), interval: 8 * SEC }));
    invalidation_right_after_a_run_is_deferred_and_doubles_the_interval: (
        5_050, Invalidations { last_run: Some(at(5)), interval: SEC, ..FIRST }, false, true,
        (Invalidation::Defer(at(6)), Invalidations { pending: true, last_run: Some(at(5)), interval: 2 * SEC }));
    invalidation_a_full_interval_after_the_last_run_runs_now: (
        9_000, Invalidations { last_run: Some(at(5)), interval: 4 * SEC, ..FIRST }, false, true,
        (Invalidation::RunNow, Invalidations { pending: true, last_run: Some(at(5)), interval: SEC }));
    invalidation_interval_stops_growing_at_the_cap: (
        5_050, Invalidations { last_run: Some(at(5)), interval: 50 * SEC, ..FIRST }, false, true,
        (Invalidation::Defer(at(55)), Invalidations { pending: true, last_run: Some(at(5)), interval: MINUTE }));
}

/// `invalidate()` and a fresh fetch in a loop, every 10 ms for 10 s: runs start at 0, 1, 3 and
/// 7 s, not 1,000 times.
#[test]
fn an_invalidation_storm_starts_few_runs() {
    let policy = RefreshPolicy::default();
    let mut state = FIRST;
    let mut runs = Vec::new();
    let mut scheduled: Option<u64> = None;
    for now in (0..10_000).step_by(10) {
        let (what, next) = policy.invalidation(at_ms(now), state, Next::Scheduled, a_value());
        state = next;
        match what {
            Invalidation::RunNow => scheduled = Some(now),
            Invalidation::Defer(t) => {
                scheduled = Some(t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
            }
            Invalidation::Coalesced | Invalidation::DropValue => {}
        }
        // The worker starts the scheduled run when it is due.
        if scheduled.is_some_and(|due| now >= due) {
            scheduled = None;
            runs.push(now);
            state = Invalidations {
                pending: false,
                last_run: Some(at_ms(now)),
                ..state
            };
        }
    }
    assert_eq!(runs, [0, 1_000, 3_000, 7_000]);
}

fn refused(policy: RefreshPolicy) {
    let err = policy.validate().unwrap_err();
    assert_eq!((err.field(), err.hop()), ("refresh_policy", None));
    assert!(
        err.to_string().contains("at most")
            || err.to_string().contains("at least")
            || err.to_string().contains("must"),
        "{err}"
    );
}

cases! { refused:
    jitter_above_one_is_refused: RefreshPolicy::default().jitter(1.5);
    negative_jitter_is_refused: RefreshPolicy::default().jitter(-0.1);
    jitter_nan_is_refused: RefreshPolicy::default().jitter(f64::NAN);
    mandatory_window_above_the_advisory_window_is_refused: RefreshPolicy::default().advisory_window(SEC).mandatory_window(2 * SEC);
    mandatory_window_above_the_shortest_default_advisory_window_is_refused: RefreshPolicy::default().mandatory_window(5 * MINUTE + SEC);
    advisory_window_of_duration_max_is_refused: RefreshPolicy::default().advisory_window(Duration::MAX);
    mandatory_window_of_duration_max_is_refused: RefreshPolicy::default().mandatory_window(Duration::MAX);
    retry_backoff_of_zero_is_refused: RefreshPolicy::default().retry_backoff(Duration::ZERO, SEC);
    retry_backoff_of_1_ns_is_refused: RefreshPolicy::default().retry_backoff(Duration::from_nanos(1), SEC);
    retry_backoff_of_duration_max_is_refused: RefreshPolicy::default().retry_backoff(Duration::MAX, Duration::MAX);
    urgent_retry_backoff_decreasing_is_refused: RefreshPolicy::default().urgent_retry_backoff(10 * SEC, SEC);
    urgent_retry_backoff_of_duration_max_is_refused: RefreshPolicy::default().urgent_retry_backoff(Duration::MAX, Duration::MAX);
    invalidation_backoff_of_zero_is_refused: RefreshPolicy::default().invalidation_backoff(Duration::ZERO, Duration::ZERO);
    invalidation_backoff_of_duration_max_is_refused: RefreshPolicy::default().invalidation_backoff(SEC, Duration::MAX);
    fetch_timeout_of_zero_is_refused: RefreshPolicy::default().fetch_timeout(Duration::ZERO);
    fetch_timeout_of_1_ns_is_refused: RefreshPolicy::default().fetch_timeout(Duration::from_nanos(1));
    fetch_timeout_of_duration_max_is_refused: RefreshPolicy::default().fetch_timeout(Duration::MAX);
}

fn accepted(policy: RefreshPolicy) {
    assert_eq!(policy.validate(), Ok(()));
}

cases! { accepted:
    the_default_policy_is_accepted: RefreshPolicy::default();
    a_mandatory_window_of_the_shortest_default_advisory_window_is_accepted: RefreshPolicy::default().mandatory_window(5 * MINUTE);
    the_largest_settings_are_accepted: RefreshPolicy::default()
        .advisory_window(LONGEST_SETTING)
        .mandatory_window(LONGEST_SETTING)
        .retry_backoff(LONGEST_SETTING, LONGEST_SETTING)
        .urgent_retry_backoff(LONGEST_SETTING, LONGEST_SETTING)
        .invalidation_backoff(LONGEST_SETTING, LONGEST_SETTING)
        .fetch_timeout(LONGEST_SETTING);
    the_smallest_settings_are_accepted: RefreshPolicy::default()
        .advisory_window(Duration::ZERO)
        .mandatory_window(Duration::ZERO)
        .jitter(0.0)
        .retry_backoff(SHORTEST_DELAY, SHORTEST_DELAY)
        .urgent_retry_backoff(SHORTEST_DELAY, SHORTEST_DELAY)
        .invalidation_backoff(SHORTEST_DELAY, SHORTEST_DELAY)
        .fetch_timeout(SHORTEST_DELAY);
}

fn stalled((now, in_flight_since, due_since, expected): (u64, Option<u64>, Option<u64>, bool)) {
    let policy = RefreshPolicy::default();
    let stalled = policy.stalled(at(now), in_flight_since.or(due_since).map(at));
    assert_eq!(stalled, expected);
}

cases! { stalled:
    // The stall limit is 60 s with the default 30-s fetch timeout.
    a_worker_with_nothing_due_is_not_stalled: (1000, None, None, false);
    a_worker_with_an_attempt_due_for_59_seconds_is_not_stalled: (1059, None, Some(1000), false);
    a_worker_with_an_attempt_due_for_60_seconds_is_stalled: (1060, None, Some(1000), true);
    a_worker_with_an_attempt_in_flight_for_59_seconds_is_not_stalled: (1059, Some(1000), None, false);
    a_worker_with_an_attempt_in_flight_for_60_seconds_is_stalled: (1060, Some(1000), Some(900), true);
    a_worker_with_an_attempt_in_flight_since_it_came_due_counts_from_the_start: (1059, Some(1000), Some(900), false);
}

#[test]
fn the_stall_limit_outlasts_an_attempt() {
    let policy = RefreshPolicy::default();
    assert_eq!(policy.stall_limit(), 60 * SEC);
    let short = RefreshPolicy::default().fetch_timeout(SHORTEST_DELAY);
    assert_eq!(short.stall_limit(), SHORTEST_DELAY + SEC);
    let long = RefreshPolicy::default().fetch_timeout(LONGEST_SETTING);
    assert_eq!(long.stall_limit(), 2 * LONGEST_SETTING);
}

/// The MFA token provider gets three quarters of the fetch timeout.
fn mfa_timeout((fetch_timeout, expected): (Duration, Duration)) {
    let policy = RefreshPolicy::default().fetch_timeout(fetch_timeout);
    assert_eq!(policy.mfa_timeout(), expected);
}

cases! { mfa_timeout:
    the_token_provider_gets_22_5_s_of_the_default_30: (Duration::from_secs(30), Duration::from_millis(22_500));
    the_token_provider_gets_7_5_ms_of_the_least_timeout: (Duration::from_millis(10), Duration::from_micros(7_500));
    the_token_provider_gets_9_h_of_the_longest_timeout: (Duration::from_secs(12 * 3600), Duration::from_secs(9 * 3600));
}
