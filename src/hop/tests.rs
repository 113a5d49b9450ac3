use super::*;
use crate::testing::cases;

fn at(secs: u64) -> SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(secs)
}

/// (requested at, requested, Expiration, Date) → expiry on this host.
fn expiry(
    (requested_at, requested, expiration, date, expected): (
        u64,
        u64,
        u64,
        Option<u64>,
        Option<u64>,
    ),
) {
    assert_eq!(
        expiry_on_this_host(
            at(requested_at),
            Duration::from_secs(requested),
            at(expiration),
            date.map(at)
        ),
        expected.map(at)
    );
}

cases! { expiry:
    // This host at 1000 s; STS grants 900 s.
    expiry_with_clocks_that_agree_is_the_lifetime_less_the_date_resolution: (1000, 900, 1900, Some(1000), Some(1899));
    expiry_with_sts_10_minutes_ahead_is_the_requested_duration: (1000, 900, 2500, Some(1600), Some(1899));
    expiry_with_sts_10_minutes_behind_is_the_requested_duration: (1000, 900, 1300, Some(400), Some(1899));
    expiry_is_never_past_the_requested_duration: (1000, 900, 9000, Some(1000), Some(1900));
    expiry_of_a_session_shorter_than_requested_follows_sts: (1000, 3600, 1060, Some(1000), Some(1059));
    expiry_without_a_date_counts_from_this_host: (1000, 900, 1500, None, Some(1500));
    expiry_without_a_date_is_capped_at_the_requested_duration: (1000, 900, 2500, None, Some(1900));
    expiry_in_the_past_by_sts_time_is_refused: (1000, 900, 1500, Some(1600), None);
    expiry_at_sts_time_is_refused: (1000, 900, 1001, Some(1000), None);
    expiry_before_this_host_without_a_date_is_refused: (1000, 900, 999, None, None);
    expiry_in_the_year_9999_is_the_requested_duration: (1000, 43_200, 253_402_300_799, Some(1000), Some(44_200));
    expiry_at_the_epoch_is_refused: (1000, 900, 0, Some(1000), None);
}

#[test]
fn account_id_comes_from_the_assumed_role_arn() {
    assert_eq!(
        account_of("arn:aws:sts::111111111111:assumed-role/storage/s").as_deref(),
        Some("111111111111")
    );
    assert_eq!(
        account_of("arn:aws-cn:sts::222222222222:assumed-role/r/s").as_deref(),
        Some("222222222222")
    );
    assert_eq!(account_of("arn:aws:sts::nope:assumed-role/r/s"), None);
    assert_eq!(account_of("garbage"), None);
}
