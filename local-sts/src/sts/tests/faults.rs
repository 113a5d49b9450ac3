//! Scripted faults, outages and session lifetimes.

use super::*;

/// The outcome of a broker `AssumeRole` under `fault`.
fn under(fault: Fault) -> Answer {
    let sts = Sts::new();
    sts.state.push_faults([fault]);
    sts.send(
        &sts.as_compute()
            .assume_role(&[("RoleArn", BROKER), ("RoleSessionName", "s1")]),
    )
}

#[test]
fn fault_throttling_is_a_400_throttling() {
    assert_eq!(
        outcome(&under(Fault::Throttling)),
        (400, Some("Throttling"))
    );
}

#[test]
fn fault_internal_error_is_a_500() {
    assert_eq!(
        outcome(&under(Fault::InternalError)),
        (500, Some("InternalFailure"))
    );
}

#[test]
fn fault_service_unavailable_is_a_503() {
    assert_eq!(
        outcome(&under(Fault::ServiceUnavailable)),
        (503, Some("ServiceUnavailable"))
    );
}

#[test]
fn fault_connection_reset_answers_nothing() {
    let answer = under(Fault::ConnectionReset);
    assert!(answer.reset);
    assert_eq!(answer.status, 0);
}

#[test]
fn fault_delay_adds_to_the_answer_time() {
    let answer = under(Fault::Delay(Duration::from_millis(250)));
    assert_eq!(
        (answer.status, answer.delay),
        (200, Duration::from_millis(250))
    );
}

#[test]
fn fault_truncated_body_halves_a_valid_answer() {
    let answer = under(Fault::TruncatedBody);
    assert_eq!(answer.status, 200);
    assert!(
        answer.body.starts_with("<AssumeRoleResponse"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("</AssumeRoleResponse>"));
}

#[test]
fn fault_garbage_body_is_not_xml() {
    let answer = under(Fault::GarbageBody);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "this is not XML <<<")
    );
}

#[test]
fn fault_missing_credentials_removes_them() {
    let answer = under(Fault::MissingCredentials);
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("<AssumedRoleUser>"));
    assert!(!answer.body.contains("<Credentials>"), "{}", answer.body);
}

#[test]
fn fault_expired_credentials_expire_an_hour_ago() {
    let answer = under(Fault::ExpiredCredentials);
    assert_eq!(
        element(&answer.body, "Expiration"),
        Some("2025-12-31T23:00:00Z")
    );
}

#[test]
fn fault_expires_in_sets_the_lifetime() {
    let answer = under(Fault::ExpiresIn(Duration::from_secs(90)));
    assert_eq!(
        element(&answer.body, "Expiration"),
        Some("2026-01-01T00:01:30Z")
    );
}

#[test]
fn fault_expires_at_sets_the_expiration() {
    let year_9999 = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let answer = under(Fault::ExpiresAt(year_9999));
    assert_eq!(
        element(&answer.body, "Expiration"),
        Some("9999-12-31T23:59:59Z")
    );
}

#[test]
fn faults_apply_in_order_to_authenticated_assume_role_requests_only() {
    let sts = Sts::new();
    sts.state
        .push_faults([Fault::Throttling, Fault::InternalError]);
    let assume = sts
        .as_compute()
        .assume_role(&[("RoleArn", BROKER), ("RoleSessionName", "s1")]);
    let identity = sts.as_compute().sign(&[("Action", "GetCallerIdentity")]);
    assert_eq!(outcome(&sts.send(&identity)), (200, None));
    let stranger = Signer::new("AKIAUNKNOWN", "secret", None, start());
    assert_eq!(
        outcome(&sts.send(&stranger.assume_role(&[]))).1,
        Some("InvalidClientTokenId")
    );
    assert_eq!(outcome(&sts.send(&assume)).1, Some("Throttling"));
    assert_eq!(outcome(&sts.send(&assume)).1, Some("InternalFailure"));
    assert_eq!(outcome(&sts.send(&assume)), (200, None));
}

#[test]
fn an_outage_applies_to_every_assume_role_until_lifted() {
    let sts = Sts::new();
    sts.state.set_outage(Some(Fault::ServiceUnavailable));
    let assume = sts
        .as_compute()
        .assume_role(&[("RoleArn", BROKER), ("RoleSessionName", "s1")]);
    for _ in 0..3 {
        assert_eq!(outcome(&sts.send(&assume)).0, 503);
    }
    sts.state.set_outage(None);
    assert_eq!(outcome(&sts.send(&assume)).0, 200);
}

#[test]
fn a_session_lifetime_overrides_the_duration() {
    let sts = Sts::new();
    sts.state
        .set_session_lifetime(Some(Duration::from_secs(40)));
    let answer = sts.send(
        &sts.as_compute()
            .assume_role(&[("RoleArn", BROKER), ("RoleSessionName", "s1")]),
    );
    assert_eq!(
        element(&answer.body, "Expiration"),
        Some("2026-01-01T00:00:40Z")
    );
}
