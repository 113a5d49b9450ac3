//! STS's failures, classified: each `SdkError` of an `AssumeRole` call becomes an [`Error`] with
//! the [`ErrorKind`] a caller can act on, the hop and role where it happened, and STS's code and
//! message.

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::{ConnectorError, ServiceError};
use aws_smithy_xml::decode::{try_data, Document};

use crate::error::{Error, ErrorKind};

/// The failure of hop `hop`'s `AssumeRole` call on `role_arn`.
pub(crate) fn classify(
    err: SdkError<AssumeRoleError, HttpResponse>,
    hop: usize,
    role_arn: &str,
) -> Error {
    let error = match err {
        SdkError::ServiceError(context) => service_error(context, hop),
        SdkError::TimeoutError(_) => {
            Error::new(ErrorKind::TimedOut, "the call to STS timed out").with_source(source(err))
        }
        SdkError::DispatchFailure(ref failure) => {
            // The failure of a dispatch is its connector's.
            let failure = failure.as_connector_error();
            let (kind, what) = failure.map_or(UNREACHABLE, connector_failure);
            Error::new(kind, what).with_source(source(err))
        }
        SdkError::ResponseError(_) => Error::new(
            ErrorKind::InvalidResponse,
            "the answer from STS could not be read",
        )
        .with_source(source(err)),
        _ => Error::new(
            ErrorKind::InvalidConfiguration,
            "the request to STS could not be built; check the region and endpoint_url",
        )
        .with_source(source(err)),
    };
    error.at_hop(hop, role_arn)
}

/// The kind of one request's failure at hop `hop`, as an interceptor sees it after the attempt:
/// `None` when STS answered with credentials. The same kinds as [`classify`]'s.
pub(crate) fn attempt_kind(
    result: Result<&context::Output, &OrchestratorError<context::Error>>,
    response: Option<&HttpResponse>,
    hop: usize,
) -> Option<ErrorKind> {
    let err = result.err()?;
    Some(if let Some(err) = err.as_operation_error() {
        let status = response.map(|r| r.status().as_u16());
        let (code, _) = code_and_message_of(err.downcast_ref::<AssumeRoleError>(), response);
        kind_for(code.as_deref(), status, hop)
    } else if err.is_timeout_error() {
        ErrorKind::TimedOut
    } else if let Some(failure) = err.as_connector_error() {
        connector_failure(failure).0
    } else if err.is_response_error() {
        ErrorKind::InvalidResponse
    } else {
        ErrorKind::InvalidConfiguration
    })
}

/// An error answer of STS's, by its code, else its HTTP status.
fn service_error(context: ServiceError<AssumeRoleError, HttpResponse>, hop: usize) -> Error {
    let status = context.raw().status().as_u16();
    let (code, message) = code_and_message(&context);
    let kind = kind_for(code.as_deref(), Some(status), hop);
    let code = code.as_deref().unwrap_or("no error code");
    let message = match message {
        Some(message) => format!("STS answered HTTP {status} {code}: {message}"),
        None => format!("STS answered HTTP {status} {code}"),
    };
    Error::new(kind, message).with_source(context.into_err())
}

/// What the SDK keeps under the error: its source, else its description.
fn source(err: SdkError<AssumeRoleError, HttpResponse>) -> BoxError {
    err.into_source()
        .unwrap_or_else(|err| err.to_string().into())
}

/// The error kind for an STS error code, falling back to the HTTP status without one.
fn kind_for(code: Option<&str>, status: Option<u16>, hop: usize) -> ErrorKind {
    match code {
        Some("AccessDenied") => ErrorKind::AccessDenied,
        Some("InvalidClientTokenId" | "SignatureDoesNotMatch" | "IncompleteSignature") => {
            if hop == 0 {
                ErrorKind::BaseCredentials
            } else {
                ErrorKind::AccessDenied
            }
        }
        Some(
            "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded",
        ) => ErrorKind::Throttled,
        Some(
            "MalformedPolicyDocument"
            | "MalformedPolicyDocumentException"
            | "PackedPolicyTooLarge"
            | "PackedPolicyTooLargeException"
            | "RegionDisabledException"
            | "ValidationError"
            | "InvalidParameterValue"
            | "MissingParameter",
        ) => ErrorKind::InvalidConfiguration,
        Some("ExpiredToken" | "ExpiredTokenException" | "RequestExpired") => {
            ErrorKind::ExpiredToken
        }
        Some("ServiceUnavailable" | "InternalFailure" | "InternalError") => ErrorKind::Unavailable,
        _ => match status {
            Some(403) => ErrorKind::AccessDenied,
            Some(429) => ErrorKind::Throttled,
            Some(500..=599) => ErrorKind::Unavailable,
            Some(400..=499) => ErrorKind::InvalidConfiguration,
            _ => ErrorKind::InvalidResponse,
        },
    }
}

/// A connection that STS was not reached through, without more said.
const UNREACHABLE: (ErrorKind, &str) = (ErrorKind::Unavailable, "STS could not be reached");

/// A connection's failure: the kind, and what happened.
fn connector_failure(failure: &ConnectorError) -> (ErrorKind, &'static str) {
    if failure.is_timeout() {
        (ErrorKind::TimedOut, "the connection to STS timed out")
    } else if failure.is_user() {
        (
            ErrorKind::InvalidConfiguration,
            "the request to STS could not be sent as configured",
        )
    } else {
        UNREACHABLE
    }
}

/// The error code and message of an STS error answer.
fn code_and_message(
    context: &ServiceError<AssumeRoleError, HttpResponse>,
) -> (Option<String>, Option<String>) {
    code_and_message_of(Some(context.err()), Some(context.raw()))
}

/// The code and message the SDK parsed, else those in the answer's body: some STS emulators
/// answer in a shape the SDK does not parse.
fn code_and_message_of(
    parsed: Option<&AssumeRoleError>,
    raw: Option<&HttpResponse>,
) -> (Option<String>, Option<String>) {
    match parsed.and_then(|parsed| Some((parsed.code()?, parsed.message()))) {
        Some((code, message)) => (Some(code.to_owned()), message.map(str::to_owned)),
        None => raw
            .and_then(|raw| raw.body().bytes())
            .and_then(code_and_message_in)
            .map_or((None, None), |(code, message)| (Some(code), message)),
    }
}

/// The first `Code` and `Message` elements of an XML error body, wherever they are nested.
fn code_and_message_in(body: &[u8]) -> Option<(String, Option<String>)> {
    let mut doc = Document::new(std::str::from_utf8(body).ok()?);
    let (mut code, mut message) = (None, None);
    while let Some(start) = doc.next_start_element() {
        let slot = match start.local() {
            "Code" if code.is_none() => &mut code,
            "Message" if message.is_none() => &mut message,
            _ => continue,
        };
        *slot = try_data(&mut doc.scoped_to(start))
            .ok()
            .map(|text| text.trim().to_owned());
    }
    Some((code?, message))
}

/// STS's answer when a session assumed with role credentials asks for more than an hour.
pub(crate) fn is_chaining_limit(err: &SdkError<AssumeRoleError, HttpResponse>) -> bool {
    let SdkError::ServiceError(context) = err else {
        return false;
    };
    let (code, message) = code_and_message(context);
    code.as_deref() == Some("ValidationError")
        && message.is_some_and(|m| m.contains("role chaining"))
}

#[cfg(test)]
mod tests;
