//! What an action answers ([`Reply`]) and what the HTTP layer sends back ([`Answer`]).

use std::time::Duration;

use crate::xml;

/// What the HTTP layer sends back.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) request_id: String,
    /// Close the connection instead of answering.
    pub(crate) reset: bool,
    /// Wait this long before answering.
    pub(crate) delay: Duration,
    /// The `Date` header: the server's time as an HTTP date.
    pub(crate) date: String,
}

impl Answer {
    /// An `ErrorResponse` for a request that never reached an action.
    pub(crate) fn error(status: u16, code: &'static str, message: &str) -> Self {
        Reply::error(status, code, message).render(String::new())
    }
}

/// The outcome of an action: a result body, or an error code and message.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) result: Result<String, (&'static str, String)>,
    reset: bool,
}

impl Reply {
    pub(crate) fn ok(body: String) -> Self {
        Reply {
            status: 200,
            result: Ok(body),
            reset: false,
        }
    }

    pub(crate) fn error(status: u16, code: &'static str, message: &str) -> Self {
        Reply {
            status,
            result: Err((code, message.to_owned())),
            reset: false,
        }
    }

    /// No answer at all: the connection is closed. Logged with status 0.
    pub(crate) fn reset() -> Self {
        Reply {
            status: 0,
            result: Ok(String::new()),
            reset: true,
        }
    }

    pub(crate) fn access_denied(caller: &str, role_arn: &str) -> Self {
        Reply::error(
            403,
            "AccessDenied",
            &format!("User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"),
        )
    }

    pub(crate) fn validation(message: &str) -> Self {
        Reply::error(400, "ValidationError", message)
    }

    pub(crate) fn invalid_token() -> Self {
        Reply::error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    }

    pub(crate) fn signature_mismatch() -> Self {
        Reply::error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    }

    pub(crate) fn error_code(&self) -> Option<&'static str> {
        self.result.as_ref().err().map(|(code, _)| *code)
    }

    pub(crate) fn render(self, request_id: String) -> Answer {
        let body = match self.result {
            Ok(body) => body,
            Err((code, message)) => xml::error(self.status, code, &message, &request_id),
        };
        Answer {
            status: self.status,
            body,
            request_id,
            reset: self.reset,
            delay: Duration::ZERO,
            date: String::new(),
        }
    }
}
