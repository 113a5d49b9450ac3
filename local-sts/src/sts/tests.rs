//! The rules of `LocalSts`, request by request: trust, ExternalId, durations, every SigV4
//! rejection, faults. Requests are signed with the SDK's own signer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_async::test_util::ManualTimeSource;
use aws_smithy_runtime_api::client::identity::Identity;

use super::*;

const HOUR: Duration = Duration::from_secs(3600);
const STORAGE: &str = "arn:aws:iam::111111111111:role/storage";
const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
const COMPUTE: &str = "arn:aws:iam::222222222222:user/compute";

/// 2026-01-01T00:00:00Z
fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

struct Sts {
    state: State,
    clock: ManualTimeSource,
    /// The compute user's keys.
    compute: (String, String),
}

impl Sts {
    fn new() -> Sts {
        let clock = ManualTimeSource::new(start());
        let state = State::new(SharedTimeSource::new(clock.clone()));
        let compute = state.add_user("222222222222", "compute");
        state.add_role(LocalRole::new(STORAGE).trust(COMPUTE).external_id("ext-1"));
        state.add_role(LocalRole::new(BROKER).trust(COMPUTE));
        Sts {
            state,
            clock,
            compute,
        }
    }

    fn as_compute(&self) -> Signer {
        Signer::new(&self.compute.0, &self.compute.1, None, start())
    }

    fn send(&self, request: &Signed) -> Answer {
        self.state.handle(request.as_request())
    }

    /// Assumes `role_arn` as the compute user with `extra` parameters; the status and code.
    fn assume(&self, role_arn: &str, extra: &[(&str, &str)]) -> (u16, Option<&'static str>) {
        let mut params = vec![("RoleArn", role_arn), ("RoleSessionName", "test")];
        params.extend_from_slice(extra);
        outcome(&self.send(&self.as_compute().assume_role(&params)))
    }
}

/// The status and error code of an answer.
fn outcome(answer: &Answer) -> (u16, Option<&'static str>) {
    let code = [
        "AccessDenied",
        "ValidationError",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "Throttling",
        "InternalFailure",
        "ServiceUnavailable",
        "InvalidIdentityToken",
    ]
    .into_iter()
    .find(|code| answer.body.contains(&format!("<Code>{code}</Code>")));
    (answer.status, code)
}

/// Signs requests with one set of keys, at one time, for one service.
struct Signer {
    credentials: Credentials,
    time: SystemTime,
    service: &'static str,
}

impl Signer {
    fn new(key: &str, secret: &str, token: Option<&str>, time: SystemTime) -> Signer {
        let credentials = Credentials::new(key, secret, token.map(str::to_owned), None, "test");
        Signer {
            credentials,
            time,
            service: "sts",
        }
    }

    fn assume_role(&self, params: &[(&str, &str)]) -> Signed {
        let mut all = vec![("Action", "AssumeRole"), ("Version", "2011-06-15")];
        all.extend_from_slice(params);
        self.sign(&all)
    }

    fn sign(&self, params: &[(&str, &str)]) -> Signed {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut headers = vec![
            ("host".to_owned(), "127.0.0.1:1".to_owned()),
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ];
        let identity: Identity = self.credentials.clone().into();
        let settings = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name(self.service)
            .time(self.time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:1/",
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &settings).unwrap().into_parts();
        for (name, value) in instructions.headers() {
            headers.push((name.to_owned(), value.to_owned()));
        }
        Signed { headers, body }
    }
}

/// A signed request, to send as it is or tampered with.
struct Signed {
    headers: Vec<(String, String)>,
    body: String,
}

impl Signed {
    fn as_request(&self) -> StsRequest<'_> {
        StsRequest {
            method: "POST",
            path_and_query: "/",
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            body: self.body.as_bytes(),
        }
    }

    fn without(mut self, header: &str) -> Signed {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case(header));
        self
    }

    fn with(mut self, header: &str, value: &str) -> Signed {
        self = self.without(header);
        self.headers.push((header.to_owned(), value.to_owned()));
        self
    }
}

/// The text of the first `<name>` element of a body.
fn element<'b>(body: &'b str, name: &str) -> Option<&'b str> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = body[start..].find(&format!("</{name}>"))?;
    Some(&body[start..start + end])
}

/// Assumes the broker role as the compute user and returns a signer for its session.
fn broker_session(sts: &Sts, duration: &str) -> Signer {
    let answer = sts.send(&sts.as_compute().assume_role(&[
        ("RoleArn", BROKER),
        ("RoleSessionName", "broker"),
        ("DurationSeconds", duration),
    ]));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = &answer.body;
    Signer::new(
        element(body, "AccessKeyId").unwrap(),
        element(body, "SecretAccessKey").unwrap(),
        element(body, "SessionToken"),
        start(),
    )
}

#[test]
fn a_trusted_caller_with_the_external_id_gets_a_session_of_the_role() {
    let sts = Sts::new();
    let answer = sts.send(&sts.as_compute().assume_role(&[
        ("RoleArn", STORAGE),
        ("RoleSessionName", "nightly"),
        ("ExternalId", "ext-1"),
    ]));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        element(&answer.body, "Arn"),
        Some("arn:aws:sts::111111111111:assumed-role/storage/nightly")
    );
    assert_eq!(
        element(&answer.body, "Expiration"),
        Some("2026-01-01T01:00:00Z")
    );
    assert_eq!(answer.date, "Thu, 01 Jan 2026 00:00:00 GMT");
    let logged = &sts.state.requests()[0];
    assert_eq!(logged.caller_arn(), Some(COMPUTE));
    assert_eq!(logged.param("ExternalId"), Some("ext-1"));
    assert_eq!(sts.state.issued().len(), 1);
}

#[test]
fn an_unknown_role_is_access_denied() {
    let sts = Sts::new();
    let unknown = "arn:aws:iam::111111111111:role/nope";
    assert_eq!(sts.assume(unknown, &[]), (403, Some("AccessDenied")));
}

#[test]
fn a_caller_the_trust_rule_does_not_name_is_access_denied() {
    let sts = Sts::new();
    sts.state
        .add_role(LocalRole::new(STORAGE).trust("arn:aws:iam::222222222222:user/other"));
    assert_eq!(sts.assume(STORAGE, &[]), (403, Some("AccessDenied")));
}

#[test]
fn an_account_root_in_the_trust_rule_admits_every_principal_of_the_account() {
    let sts = Sts::new();
    sts.state
        .add_role(LocalRole::new(STORAGE).trust("arn:aws:iam::222222222222:root"));
    assert_eq!(sts.assume(STORAGE, &[]), (200, None));
}

#[test]
fn a_role_in_the_trust_rule_admits_its_sessions() {
    let sts = Sts::new();
    sts.state.add_role(LocalRole::new(STORAGE).trust(BROKER));
    let broker = broker_session(&sts, "900");
    let answer = sts.send(&broker.assume_role(&[("RoleArn", STORAGE), ("RoleSessionName", "s1")]));
    assert_eq!(outcome(&answer), (200, None), "{}", answer.body);
}

#[test]
fn a_wrong_external_id_is_access_denied() {
    let sts = Sts::new();
    let wrong = [("ExternalId", "ext-2")];
    assert_eq!(sts.assume(STORAGE, &wrong), (403, Some("AccessDenied")));
}

#[test]
fn a_missing_external_id_is_access_denied() {
    let sts = Sts::new();
    assert_eq!(sts.assume(STORAGE, &[]), (403, Some("AccessDenied")));
}

#[test]
fn a_role_session_may_not_ask_for_more_than_an_hour() {
    let sts = Sts::new();
    sts.state
        .add_role(LocalRole::new(STORAGE).max_session_duration(12 * HOUR));
    let broker = broker_session(&sts, "900");
    let too_long = [
        ("RoleArn", STORAGE),
        ("RoleSessionName", "s1"),
        ("DurationSeconds", "3601"),
    ];
    let answer = sts.send(&broker.assume_role(&too_long));
    assert_eq!(outcome(&answer), (400, Some("ValidationError")));
    assert!(answer.body.contains("role chaining"), "{}", answer.body);
    let an_hour = [
        ("RoleArn", STORAGE),
        ("RoleSessionName", "s1"),
        ("DurationSeconds", "3600"),
    ];
    assert_eq!(
        outcome(&sts.send(&broker.assume_role(&an_hour))),
        (200, None)
    );
}

#[test]
fn a_duration_beyond_the_roles_maximum_is_a_validation_error() {
    let sts = Sts::new();
    let long = [("ExternalId", "ext-1"), ("DurationSeconds", "7200")];
    assert_eq!(sts.assume(STORAGE, &long), (400, Some("ValidationError")));
}

#[test]
fn a_duration_outside_900_to_43200_seconds_is_a_validation_error() {
    let sts = Sts::new();
    for duration in ["899", "43201", "soon"] {
        let params = [("ExternalId", "ext-1"), ("DurationSeconds", duration)];
        assert_eq!(
            sts.assume(STORAGE, &params),
            (400, Some("ValidationError")),
            "{duration}"
        );
    }
}

#[test]
fn a_session_name_outside_sts_pattern_is_a_validation_error() {
    let sts = Sts::new();
    let params = [("RoleArn", BROKER), ("RoleSessionName", "a b")];
    let answer = sts.send(&sts.as_compute().assume_role(&params));
    assert_eq!(outcome(&answer), (400, Some("ValidationError")));
}

#[test]
fn a_missing_role_arn_is_a_validation_error() {
    let sts = Sts::new();
    let answer = sts.send(&sts.as_compute().assume_role(&[("RoleSessionName", "s1")]));
    assert_eq!(outcome(&answer), (400, Some("ValidationError")));
}

#[test]
fn get_caller_identity_names_the_caller() {
    let sts = Sts::new();
    let answer = sts.send(&sts.as_compute().sign(&[("Action", "GetCallerIdentity")]));
    assert_eq!(answer.status, 200);
    assert_eq!(element(&answer.body, "Arn"), Some(COMPUTE));
    assert_eq!(element(&answer.body, "Account"), Some("222222222222"));
}

#[test]
fn a_request_without_authorization_is_refused() {
    let sts = Sts::new();
    let request = sts.as_compute().assume_role(&[]).without("authorization");
    assert_eq!(
        outcome(&sts.send(&request)),
        (403, Some("MissingAuthenticationToken"))
    );
    assert_eq!(sts.state.requests()[0].caller_arn(), None);
}

#[test]
fn a_malformed_authorization_header_is_an_incomplete_signature() {
    let sts = Sts::new();
    let request = sts
        .as_compute()
        .assume_role(&[])
        .with("authorization", "Basic abc");
    assert_eq!(
        outcome(&sts.send(&request)),
        (400, Some("IncompleteSignature"))
    );
}

#[test]
fn an_unknown_access_key_is_an_invalid_client_token() {
    let sts = Sts::new();
    let stranger = Signer::new("AKIAUNKNOWN", "secret", None, start());
    let answer = sts.send(&stranger.assume_role(&[("RoleArn", BROKER), ("RoleSessionName", "s1")]));
    assert_eq!(outcome(&answer), (403, Some("InvalidClientTokenId")));
}

#[test]
fn a_session_key_without_its_token_is_an_invalid_client_token() {
    let sts = Sts::new();
    let broker = broker_session(&sts, "900");
    let request = broker
        .sign(&[("Action", "GetCallerIdentity")])
        .without("x-amz-security-token");
    assert_eq!(
        outcome(&sts.send(&request)),
        (403, Some("InvalidClientTokenId"))
    );
}

#[test]
fn a_signature_scoped_to_another_service_does_not_match() {
    let sts = Sts::new();
    let mut signer = sts.as_compute();
    signer.service = "s3";
    let answer = sts.send(&signer.sign(&[("Action", "GetCallerIdentity")]));
    assert_eq!(outcome(&answer), (403, Some("SignatureDoesNotMatch")));
    assert!(
        answer.body.contains("scoped to correct service"),
        "{}",
        answer.body
    );
}

#[test]
fn a_request_without_a_signing_time_is_an_incomplete_signature() {
    let sts = Sts::new();
    let request = sts
        .as_compute()
        .sign(&[("Action", "GetCallerIdentity")])
        .without("x-amz-date");
    assert_eq!(
        outcome(&sts.send(&request)),
        (400, Some("IncompleteSignature"))
    );
}

/// The outcome of a `GetCallerIdentity` signed `offset` seconds from the server's time.
fn signed_at_offset(offset: i64) -> (u16, Option<&'static str>) {
    let sts = Sts::new();
    let mut signer = sts.as_compute();
    signer.time = match offset {
        ahead @ 0.. => start() + Duration::from_secs(ahead.unsigned_abs()),
        behind => start() - Duration::from_secs(behind.unsigned_abs()),
    };
    outcome(&sts.send(&signer.sign(&[("Action", "GetCallerIdentity")])))
}

#[test]
fn a_signing_time_15_minutes_away_either_way_is_accepted() {
    assert_eq!(signed_at_offset(15 * 60), (200, None));
    assert_eq!(signed_at_offset(-15 * 60), (200, None));
}

#[test]
fn a_signing_time_more_than_15_minutes_ahead_does_not_match() {
    assert_eq!(
        signed_at_offset(15 * 60 + 1),
        (403, Some("SignatureDoesNotMatch"))
    );
}

#[test]
fn a_signing_time_more_than_15_minutes_behind_does_not_match() {
    assert_eq!(
        signed_at_offset(-15 * 60 - 1),
        (403, Some("SignatureDoesNotMatch"))
    );
}

#[test]
fn a_wrong_secret_does_not_match() {
    let sts = Sts::new();
    let forger = Signer::new(&sts.compute.0, "not-the-secret", None, start());
    let answer = sts.send(&forger.sign(&[("Action", "GetCallerIdentity")]));
    assert_eq!(outcome(&answer), (403, Some("SignatureDoesNotMatch")));
}

#[test]
fn a_body_changed_after_signing_does_not_match() {
    let sts = Sts::new();
    let mut request = sts
        .as_compute()
        .assume_role(&[("RoleArn", BROKER), ("RoleSessionName", "s1")]);
    request.body = request
        .body
        .replace("RoleSessionName=s1", "RoleSessionName=t1");
    assert_eq!(
        outcome(&sts.send(&request)),
        (403, Some("SignatureDoesNotMatch"))
    );
}

#[test]
fn an_expired_session_is_an_expired_token() {
    let sts = Sts::new();
    let broker = broker_session(&sts, "900");
    sts.clock.set_time(start() + Duration::from_secs(900));
    let mut late = broker;
    late.time = start() + Duration::from_secs(900);
    let answer = sts.send(&late.sign(&[("Action", "GetCallerIdentity")]));
    assert_eq!(outcome(&answer), (400, Some("ExpiredToken")));
}

#[test]
fn forgetting_history_drops_the_log_and_expired_sessions_and_keeps_live_ones() {
    let sts = Sts::new();
    let short = broker_session(&sts, "900");
    let long = broker_session(&sts, "3600");
    sts.clock.set_time(start() + Duration::from_secs(900));
    sts.state.forget_history();
    assert!(sts.state.requests().is_empty());
    assert!(sts.state.issued().is_empty());
    let whoami = |signer: Signer| {
        let mut signer = signer;
        signer.time = start() + Duration::from_secs(900);
        outcome(&sts.send(&signer.sign(&[("Action", "GetCallerIdentity")])))
    };
    assert_eq!(whoami(long), (200, None), "a live session stays");
    assert_eq!(
        whoami(short),
        (403, Some("InvalidClientTokenId")),
        "an expired session is forgotten"
    );
    assert_eq!(sts.state.requests().len(), 2);
}

mod faults;

const DEVICE: &str = "arn:aws:iam::222222222222:mfa/compute";

/// The test STS with a role that requires MFA with `DEVICE`.
fn with_mfa_role() -> Sts {
    let sts = Sts::new();
    sts.state
        .add_role(LocalRole::new(STORAGE).trust(COMPUTE).mfa(DEVICE));
    sts
}

#[test]
fn the_devices_current_code_admits_the_caller_once() {
    let sts = with_mfa_role();
    let code = sts.state.mfa_code(DEVICE).unwrap();
    let with_code = [("SerialNumber", DEVICE), ("TokenCode", code.as_str())];
    assert_eq!(sts.assume(STORAGE, &with_code), (200, None));
    assert_ne!(
        sts.state.mfa_code(DEVICE).unwrap(),
        code,
        "a used code is replaced"
    );
    assert_eq!(sts.assume(STORAGE, &with_code), (403, Some("AccessDenied")));
}

#[test]
fn a_wrong_code_is_access_denied_as_sts_words_it() {
    let sts = with_mfa_role();
    let code = sts.state.mfa_code(DEVICE).unwrap();
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let answer = sts.send(&sts.as_compute().assume_role(&[
        ("RoleArn", STORAGE),
        ("RoleSessionName", "test"),
        ("SerialNumber", DEVICE),
        ("TokenCode", wrong.as_str()),
    ]));
    assert_eq!(outcome(&answer), (403, Some("AccessDenied")));
    assert!(
        answer
            .body
            .contains("MultiFactorAuthentication failed with invalid MFA one time pass code"),
        "{}",
        answer.body
    );
    assert_eq!(
        sts.state.mfa_code(DEVICE).unwrap(),
        code,
        "a failed attempt uses no code"
    );
}

#[test]
fn a_call_without_mfa_or_with_another_device_is_access_denied() {
    let sts = with_mfa_role();
    let code = sts.state.mfa_code(DEVICE).unwrap();
    assert_eq!(sts.assume(STORAGE, &[]), (403, Some("AccessDenied")));
    let serial_only = [("SerialNumber", DEVICE)];
    assert_eq!(
        sts.assume(STORAGE, &serial_only),
        (403, Some("AccessDenied"))
    );
    let other = [
        ("SerialNumber", "arn:aws:iam::222222222222:mfa/other"),
        ("TokenCode", code.as_str()),
    ];
    assert_eq!(sts.assume(STORAGE, &other), (403, Some("AccessDenied")));
}

#[test]
fn a_code_of_other_than_six_digits_is_a_validation_error() {
    let sts = with_mfa_role();
    for code in ["12345", "1234567", "12a456"] {
        let params = [("SerialNumber", DEVICE), ("TokenCode", code)];
        assert_eq!(
            sts.assume(STORAGE, &params),
            (400, Some("ValidationError")),
            "{code}"
        );
    }
}

#[test]
fn the_log_records_the_device_and_that_a_code_came_never_the_code() {
    let sts = with_mfa_role();
    let code = sts.state.mfa_code(DEVICE).unwrap();
    sts.assume(
        STORAGE,
        &[("SerialNumber", DEVICE), ("TokenCode", code.as_str())],
    );
    sts.assume(STORAGE, &[]);
    let log = sts.state.requests();
    assert_eq!(log[0].mfa_serial_number(), Some(DEVICE));
    assert!(log[0].carried_mfa_code());
    assert_eq!(log[0].param("TokenCode"), Some("** redacted **"));
    assert!(!format!("{:?}", log[0]).contains(&format!("\"{code}\"")));
    assert_eq!(
        (log[1].mfa_serial_number(), log[1].carried_mfa_code()),
        (None, false)
    );
}

const OIDC: &str = "arn:aws:iam::222222222222:oidc-provider/oidc.example.com";
const WORKLOAD: &str = "arn:aws:iam::222222222222:role/workload";

/// An unsigned `AssumeRoleWithWebIdentity` of `role_arn` with `token`.
fn with_web_identity(role_arn: &str, token: &str) -> Signed {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", "pod"),
            ("WebIdentityToken", token),
        ])
        .finish();
    Signed {
        headers: vec![("host".to_owned(), "127.0.0.1:1".to_owned())],
        body,
    }
}

#[test]
fn a_web_identity_token_of_a_trusted_provider_gets_a_session_that_signs_the_next_hop() {
    let sts = Sts::new();
    sts.state.add_role(
        LocalRole::new(WORKLOAD)
            .trust(OIDC)
            .max_session_duration(2 * HOUR),
    );
    sts.state.add_role(LocalRole::new(STORAGE).trust(WORKLOAD));
    let token = sts
        .state
        .web_identity_token(OIDC, "system:serviceaccount:jobs:export");

    let answer = sts.send(&with_web_identity(WORKLOAD, &token));

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer
            .body
            .starts_with("<AssumeRoleWithWebIdentityResponse"),
        "{}",
        answer.body
    );
    assert_eq!(
        element(&answer.body, "SubjectFromWebIdentityToken"),
        Some("system:serviceaccount:jobs:export")
    );
    assert_eq!(element(&answer.body, "Provider"), Some(OIDC));
    assert_eq!(
        element(&answer.body, "Arn"),
        Some("arn:aws:sts::222222222222:assumed-role/workload/pod")
    );
    assert_eq!(
        element(&answer.body, "Expiration"),
        Some("2026-01-01T01:00:00Z")
    );
    let session = Signer::new(
        element(&answer.body, "AccessKeyId").unwrap(),
        element(&answer.body, "SecretAccessKey").unwrap(),
        element(&answer.body, "SessionToken"),
        start(),
    );
    let next = sts.send(&session.assume_role(&[("RoleArn", STORAGE), ("RoleSessionName", "next")]));
    assert_eq!(outcome(&next), (200, None), "{}", next.body);
    let chained = sts.send(&session.assume_role(&[
        ("RoleArn", STORAGE),
        ("RoleSessionName", "next"),
        ("DurationSeconds", "3601"),
    ]));
    assert_eq!(outcome(&chained), (400, Some("ValidationError")));
}

#[test]
fn a_web_identity_is_refused_for_an_unknown_token_an_untrusted_provider_or_a_role_that_trusts_only_users(
) {
    let sts = Sts::new();
    sts.state.add_role(LocalRole::new(WORKLOAD).trust(OIDC));
    let other = "arn:aws:iam::222222222222:oidc-provider/other.example.com";
    let foreign = sts.state.web_identity_token(other, "someone");
    let token = sts
        .state
        .web_identity_token(OIDC, "system:serviceaccount:jobs:export");

    let unknown = sts.send(&with_web_identity(WORKLOAD, "not-a-token"));
    let untrusted = sts.send(&with_web_identity(WORKLOAD, &foreign));
    let users_only = sts.send(&with_web_identity(BROKER, &token));
    let no_role = sts.send(&with_web_identity(
        "arn:aws:iam::222222222222:role/none",
        &token,
    ));

    assert_eq!(outcome(&unknown), (400, Some("InvalidIdentityToken")));
    assert_eq!(outcome(&untrusted), (403, Some("AccessDenied")));
    assert_eq!(outcome(&users_only), (403, Some("AccessDenied")));
    assert_eq!(outcome(&no_role), (403, Some("AccessDenied")));
    assert!(sts.state.issued().is_empty());
    let log = sts.state.requests();
    assert_eq!(log.len(), 4);
    assert!(log
        .iter()
        .all(|r| r.caller_arn().is_none() && r.access_key_id().is_none()));
}

#[test]
fn a_web_identity_keeps_to_the_roles_maximum_and_sts_limits() {
    let sts = Sts::new();
    sts.state.add_role(LocalRole::new(WORKLOAD).trust(OIDC));
    let token = sts.state.web_identity_token(OIDC, "sub");
    let with_duration = |secs: &str| {
        let mut request = with_web_identity(WORKLOAD, &token);
        request.body.push_str(&format!("&DurationSeconds={secs}"));
        outcome(&sts.send(&request))
    };

    assert_eq!(with_duration("3600"), (200, None));
    assert_eq!(with_duration("3601"), (400, Some("ValidationError")));
    assert_eq!(with_duration("899"), (400, Some("ValidationError")));
}
