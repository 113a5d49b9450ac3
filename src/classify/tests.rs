use super::*;
use crate::testing::cases;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use ErrorKind::*;

fn kind((code, status, hop, kind): (Option<&str>, Option<u16>, usize, ErrorKind)) {
    assert_eq!(kind_for(code, status, hop), kind);
}

cases! { kind:
    access_denied_is_access_denied: (Some("AccessDenied"), Some(403), 1, AccessDenied);
    an_invalid_token_at_hop_0_is_the_base_credentials: (Some("InvalidClientTokenId"), Some(403), 0, BaseCredentials);
    a_bad_signature_at_hop_0_is_the_base_credentials: (Some("SignatureDoesNotMatch"), Some(403), 0, BaseCredentials);
    an_incomplete_signature_at_hop_0_is_the_base_credentials: (Some("IncompleteSignature"), Some(400), 0, BaseCredentials);
    an_invalid_token_after_hop_0_is_access_denied: (Some("InvalidClientTokenId"), Some(403), 2, AccessDenied);
    a_bad_signature_after_hop_0_is_access_denied: (Some("SignatureDoesNotMatch"), Some(403), 1, AccessDenied);
    throttling_is_throttled: (Some("Throttling"), Some(400), 0, Throttled);
    throttling_exception_is_throttled: (Some("ThrottlingException"), Some(400), 0, Throttled);
    too_many_requests_is_throttled: (Some("TooManyRequestsException"), Some(400), 0, Throttled);
    request_limit_exceeded_is_throttled: (Some("RequestLimitExceeded"), Some(400), 0, Throttled);
    a_malformed_policy_is_invalid_configuration: (Some("MalformedPolicyDocument"), Some(400), 0, InvalidConfiguration);
    a_malformed_policy_exception_is_invalid_configuration: (Some("MalformedPolicyDocumentException"), Some(400), 0, InvalidConfiguration);
    a_packed_policy_too_large_is_invalid_configuration: (Some("PackedPolicyTooLarge"), Some(400), 0, InvalidConfiguration);
    a_packed_policy_too_large_exception_is_invalid_configuration: (Some("PackedPolicyTooLargeException"), Some(400), 0, InvalidConfiguration);
    a_disabled_region_is_invalid_configuration: (Some("RegionDisabledException"), Some(403), 0, InvalidConfiguration);
    a_validation_error_is_invalid_configuration: (Some("ValidationError"), Some(400), 0, InvalidConfiguration);
    an_invalid_parameter_is_invalid_configuration: (Some("InvalidParameterValue"), Some(400), 0, InvalidConfiguration);
    a_missing_parameter_is_invalid_configuration: (Some("MissingParameter"), Some(400), 0, InvalidConfiguration);
    an_expired_token_is_expired_token: (Some("ExpiredToken"), Some(400), 1, ExpiredToken);
    an_expired_token_exception_is_expired_token: (Some("ExpiredTokenException"), Some(400), 1, ExpiredToken);
    an_expired_request_is_expired_token: (Some("RequestExpired"), Some(400), 1, ExpiredToken);
    service_unavailable_is_unavailable: (Some("ServiceUnavailable"), Some(503), 0, Unavailable);
    an_internal_failure_is_unavailable: (Some("InternalFailure"), Some(500), 0, Unavailable);
    an_internal_error_is_unavailable: (Some("InternalError"), Some(500), 0, Unavailable);
    a_403_without_a_code_is_access_denied: (None, Some(403), 0, AccessDenied);
    a_429_without_a_code_is_throttled: (None, Some(429), 0, Throttled);
    a_500_without_a_code_is_unavailable: (None, Some(500), 0, Unavailable);
    a_503_without_a_code_is_unavailable: (None, Some(503), 0, Unavailable);
    a_400_without_a_code_is_invalid_configuration: (None, Some(400), 0, InvalidConfiguration);
    an_unknown_code_with_a_5xx_is_unavailable: (Some("SomethingNew"), Some(502), 0, Unavailable);
    an_unknown_code_with_a_4xx_is_invalid_configuration: (Some("SomethingNew"), Some(409), 0, InvalidConfiguration);
    no_code_and_no_status_is_an_invalid_response: (None, None, 0, InvalidResponse);
    access_denied_is_access_denied_whatever_the_status: (Some("AccessDenied"), Some(400), 1, AccessDenied);
    access_denied_without_a_status_is_access_denied: (Some("AccessDenied"), None, 1, AccessDenied);
    service_unavailable_without_a_status_is_unavailable: (Some("ServiceUnavailable"), None, 0, Unavailable);
    an_internal_failure_with_a_4xx_is_unavailable: (Some("InternalFailure"), Some(400), 0, Unavailable);
}

#[test]
fn error_code_and_message_are_found_in_either_error_body_shape() {
    let sts = b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>\
                <Message>not authorized</Message></Error></ErrorResponse>";
    let nested = b"<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code>\
                   <Message>The security token is invalid</Message></Error></Errors></ErrorResponse>";
    assert_eq!(
        code_and_message_in(sts),
        Some(("AccessDenied".to_owned(), Some("not authorized".to_owned())))
    );
    assert_eq!(
        code_and_message_in(nested),
        Some((
            "InvalidClientTokenId".to_owned(),
            Some("The security token is invalid".to_owned())
        ))
    );
    assert_eq!(code_and_message_in(b"<html>503</html>"), None);
    assert_eq!(code_and_message_in(&[0xff, 0xfe]), None);
}

const ROLE: &str = "arn:aws:iam::111111111111:role/storage";

/// A failure before or around STS's answer, at hop 1.
fn failure((err, expected): (SdkError<AssumeRoleError, HttpResponse>, ErrorKind)) {
    let error = classify(err, 1, ROLE);
    assert_eq!(
        (error.kind(), error.hop(), error.role_arn()),
        (expected, Some(1), Some(ROLE))
    );
    assert!(std::error::Error::source(&error).is_some(), "{error}");
}

fn connector(error: ConnectorError) -> SdkError<AssumeRoleError, HttpResponse> {
    SdkError::dispatch_failure(error)
}

cases! { failure:
    an_operation_timeout_is_timed_out: (SdkError::timeout_error("slow"), TimedOut);
    a_connect_timeout_is_timed_out: (connector(ConnectorError::timeout("connect".into())), TimedOut);
    a_request_that_cannot_be_sent_as_configured_is_invalid_configuration: (connector(ConnectorError::user("bad URI".into())), InvalidConfiguration);
    a_broken_connection_is_unavailable: (connector(ConnectorError::io("reset".into())), Unavailable);
    an_unreadable_answer_is_an_invalid_response: (
        SdkError::response_error("garbled", HttpResponse::new(200.try_into().unwrap(), SdkBody::empty())),
        InvalidResponse);
    a_request_that_cannot_be_built_is_invalid_configuration: (SdkError::construction_failure("no region"), InvalidConfiguration);
}

#[test]
fn the_first_code_and_message_of_an_error_body_count() {
    let two = b"<ErrorResponse><Errors><Error><Code>Throttling</Code><Message>Rate exceeded</Message>\
                </Error><Error><Code>InternalFailure</Code><Message>later</Message></Error></Errors>\
                </ErrorResponse>";
    assert_eq!(
        code_and_message_in(two),
        Some(("Throttling".to_owned(), Some("Rate exceeded".to_owned())))
    );
}
