//! Errors: [`Error`] for a failed chain run, [`BuildError`] for a chain described wrongly.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;

/// What went wrong while fetching credentials, as a category a caller can act on.
///
/// Each kind says whether trying again can help ([`ErrorKind::is_retryable`]) and, through
/// [`Error`]'s message, what to check when it cannot. [`as_str`](ErrorKind::as_str) gives a
/// stable name for logs and metrics.
///
/// | kind | from | what to do |
/// |---|---|---|
/// | `AccessDenied` | `AccessDenied`; HTTP 403 without a known code; `InvalidClientTokenId`, `SignatureDoesNotMatch`, `IncompleteSignature` after hop 0; a wrong MFA code | check the role's trust policy `Principal`, its `sts:ExternalId` condition, and the caller's `sts:AssumeRole` permission |
/// | `Throttled` | `Throttling`, `ThrottlingException`, `TooManyRequestsException`, `RequestLimitExceeded`; HTTP 429 | retry later (retryable) |
/// | `InvalidConfiguration` | `MalformedPolicyDocument(Exception)`, `PackedPolicyTooLarge(Exception)`, `RegionDisabledException`, `ValidationError`, `InvalidParameterValue`, `MissingParameter`; other 4xx; a request that cannot be built or sent as configured; a call outside any tokio runtime; a chain run that panicked (in the HTTP client, time source, sleep or an interceptor) | fix the setting the message names; activate STS in the region; call from within a tokio runtime |
/// | `BaseCredentials` | the base provider failed or panicked (reported at hop 0, its source kept); `InvalidClientTokenId`, `SignatureDoesNotMatch`, `IncompleteSignature` at hop 0 | fix the base credentials |
/// | `ExpiredToken` | `ExpiredToken`, `ExpiredTokenException`, `RequestExpired` | check the clock and the base provider's refresh |
/// | `Unavailable` | `ServiceUnavailable`, `InternalFailure`, `InternalError`; HTTP 5xx with any other code; connection and I/O errors | retry later (retryable) |
/// | `TimedOut` | connect or operation timeout; a chain run longer than [`RefreshPolicy::fetch_timeout`](crate::RefreshPolicy::fetch_timeout); a run cut off with its runtime; credentials that expired while a caller waited for their refresh | retry later (retryable) |
/// | `InvalidResponse` | a 200 without credentials or unreadable; credentials that had expired by STS's own clock; credentials that arrive inside their mandatory window | check the endpoint and the clock |
/// | `MfaToken` | the [MFA token provider](crate::RoleChainProviderBuilder::mfa_token_provider) failed, panicked, did not answer within three quarters of `fetch_timeout`, or answered other than 6 digits (no request is sent) | check the token provider; it is asked again at the next attempt |
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// STS refused the `AssumeRole` call, or the credentials of a hop after the first.
    AccessDenied,
    /// STS throttled the request.
    Throttled,
    /// The request can never succeed as configured.
    InvalidConfiguration,
    /// The base credentials could not be loaded, or STS rejected them at hop 0.
    BaseCredentials,
    /// STS said the credentials that signed the request have expired.
    ExpiredToken,
    /// STS or the network failed.
    Unavailable,
    /// The request to STS, or the whole chain run, took too long.
    TimedOut,
    /// STS answered 200 but the answer holds no usable credentials.
    InvalidResponse,
    /// The MFA token provider gave no usable code. A wrong code is `AccessDenied`: STS judges it.
    MfaToken,
}

impl ErrorKind {
    /// The kind's name, as in the table above (`"AccessDenied"`, `"Throttled"`, …): stable
    /// across releases, for logs, metrics and the credentials server's JSON `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::AccessDenied => "AccessDenied",
            ErrorKind::Throttled => "Throttled",
            ErrorKind::InvalidConfiguration => "InvalidConfiguration",
            ErrorKind::BaseCredentials => "BaseCredentials",
            ErrorKind::ExpiredToken => "ExpiredToken",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::TimedOut => "TimedOut",
            ErrorKind::InvalidResponse => "InvalidResponse",
            ErrorKind::MfaToken => "MfaToken",
        }
    }

    /// Whether a later attempt may succeed without any change to the configuration.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Throttled | ErrorKind::Unavailable | ErrorKind::TimedOut
        )
    }

    fn describe(self) -> &'static str {
        match self {
            ErrorKind::AccessDenied => "access denied",
            ErrorKind::Throttled => "throttled by STS",
            ErrorKind::InvalidConfiguration => "invalid configuration",
            ErrorKind::BaseCredentials => "base credentials failed",
            ErrorKind::ExpiredToken => "signing credentials expired",
            ErrorKind::Unavailable => "STS unavailable",
            ErrorKind::TimedOut => "timed out",
            ErrorKind::InvalidResponse => "invalid response from STS",
            ErrorKind::MfaToken => "no MFA code",
        }
    }

    fn advice(self) -> Option<&'static str> {
        match self {
            ErrorKind::AccessDenied => Some(
                "check that the role's trust policy names the caller as Principal, that its \
                 sts:ExternalId condition matches this hop's external_id, and that the caller \
                 may call sts:AssumeRole on the role",
            ),
            ErrorKind::BaseCredentials => Some(
                "check the base credentials (base_provider, or the credentials provider of the \
                 SdkConfig given to configure)",
            ),
            ErrorKind::ExpiredToken => Some("check this machine's clock"),
            ErrorKind::MfaToken => Some(
                "check the MFA token provider (RoleChainProviderBuilder::mfa_token_provider); it is \
                 asked again at the next attempt",
            ),
            // Retryable, or explained by the message itself.
            ErrorKind::Throttled
            | ErrorKind::InvalidConfiguration
            | ErrorKind::Unavailable
            | ErrorKind::TimedOut
            | ErrorKind::InvalidResponse => None,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A failure to fetch credentials through the role chain.
///
/// Cheap to clone, so that one failed chain run reaches every caller that waited for it. It names
/// the hop (0-based position of the role in the chain) and the role ARN where it happened, and
/// keeps the underlying error as its [`source`](StdError::source). Its text never contains a
/// secret key, a session token or an ExternalId.
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

/// Shared by an error's clones. `Clone`, with its source behind an `Arc`, so that the error can
/// be completed (`at_hop`, `with_source`) even if it was cloned first.
#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    hop: Option<usize>,
    role_arn: Option<String>,
    message: String,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

// Not `thiserror`: its `#[source]` would hand out the `Arc` rather than the error inside it,
// which callers downcast to (the SDK's `CredentialsError`, say).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let (place, advice) = (Where(&inner.hop, &inner.role_arn), Advice(&inner.kind));
        write!(f, "{place}{}: {}{advice}", inner.kind, inner.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        let source = self.inner.source.as_deref()?;
        Some(source)
    }
}

/// `hop 1 (arn:…): ` before the message of an error at a hop.
struct Where<'a>(&'a Option<usize>, &'a Option<String>);

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(hop), Some(arn)) => write!(f, "hop {hop} ({arn}): "),
            (Some(hop), None) => write!(f, "hop {hop}: "),
            _ => Ok(()),
        }
    }
}

/// `; check …` after the message, for the kinds that need a human.
struct Advice<'a>(&'a ErrorKind);

impl fmt::Display for Advice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.advice() {
            Some(advice) => write!(f, "; {advice}"),
            None => Ok(()),
        }
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind,
                hop: None,
                role_arn: None,
                message: message.into(),
                source: None,
            }),
        }
    }

    pub(crate) fn at_hop(mut self, hop: usize, role_arn: &str) -> Self {
        // Copies the error only if it was shared before it was complete.
        let inner = Arc::make_mut(&mut self.inner);
        inner.hop = Some(hop);
        inner.role_arn = Some(role_arn.to_owned());
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        Arc::make_mut(&mut self.inner).source = Some(Arc::from(source.into()));
        self
    }

    /// The category of the failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The 0-based position in the chain of the role whose hop failed; `None` when the failure
    /// did not belong to one hop.
    pub fn hop(&self) -> Option<usize> {
        self.inner.hop
    }

    /// The ARN of the role whose hop failed.
    pub fn role_arn(&self) -> Option<&str> {
        self.inner.role_arn.as_deref()
    }

    /// Whether a later attempt may succeed without a change to the configuration.
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Error")
            .field("kind", &inner.kind)
            .field("hop", &inner.hop)
            .field("role_arn", &inner.role_arn)
            .field("message", &inner.message)
            .field("source", &inner.source)
            .finish()
    }
}

/// A role chain that cannot be built: a missing piece or a value STS would refuse.
///
/// [`field`](BuildError::field) names the setting and [`hop`](BuildError::hop) the role it belongs
/// to; the message states the rule and the offending value (an ExternalId only by its length).
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{field}: {message}", Role(.hop))]
pub struct BuildError {
    hop: Option<usize>,
    field: &'static str,
    message: String,
}

impl BuildError {
    pub(crate) fn new(hop: Option<usize>, field: &'static str, message: impl Into<String>) -> Self {
        BuildError {
            hop,
            field,
            message: message.into(),
        }
    }

    /// The same error, saying which profile of the AWS config files the role came from.
    pub(crate) fn in_profile(mut self, profile: &str) -> Self {
        self.message = format!(
            "{} (in profile {profile:?} of the AWS config files)",
            self.message
        );
        self
    }

    /// The 0-based position of the offending role in the chain; `None` for a setting of the whole
    /// chain (see [`field`](Self::field)).
    pub fn hop(&self) -> Option<usize> {
        self.hop
    }

    /// The setting at fault: `role_arn`, `external_id`, `session_name`, `duration`, `policy`,
    /// `policy_arns`, `tags`, `transitive_tag_keys`, `source_identity`, `mfa_serial` or
    /// `mfa_token_provider` for a role, and `roles`, `base_provider`, `endpoint_url`,
    /// `sleep_impl`, `refresh_policy` or `profile` for the chain.
    pub fn field(&self) -> &str {
        self.field
    }
}

/// `role 2 in the chain: ` before the field of a role's setting.
struct Role<'a>(&'a Option<usize>);

impl fmt::Display for Role<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(hop) => write!(f, "role {hop} in the chain: "),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildError")
            .field("hop", &self.hop)
            .field("field", &self.field)
            .field("message", &self.message)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cases;

    const KINDS: [ErrorKind; 9] = [
        ErrorKind::AccessDenied,
        ErrorKind::Throttled,
        ErrorKind::InvalidConfiguration,
        ErrorKind::BaseCredentials,
        ErrorKind::ExpiredToken,
        ErrorKind::Unavailable,
        ErrorKind::TimedOut,
        ErrorKind::InvalidResponse,
        ErrorKind::MfaToken,
    ];

    #[test]
    fn each_kind_has_a_stable_name_and_a_row_of_the_table_under_it() {
        let docs = include_str!("error.rs");
        for kind in KINDS {
            // The name is the variant's, as the server's JSON `code` always said.
            assert_eq!(kind.as_str(), format!("{kind:?}"));
            let row = format!("/// | `{}` | ", kind.as_str());
            assert_eq!(docs.matches(&row).count(), 1, "{row}");
        }
    }

    fn retryable((kind, expected): (ErrorKind, bool)) {
        assert_eq!(kind.is_retryable(), expected);
        let err = Error::new(kind, "message");
        assert_eq!(err.is_retryable(), expected);
    }

    cases! { retryable:
        access_denied_is_not_retryable: (ErrorKind::AccessDenied, false);
        throttled_is_retryable: (ErrorKind::Throttled, true);
        invalid_configuration_is_not_retryable: (ErrorKind::InvalidConfiguration, false);
        base_credentials_is_not_retryable: (ErrorKind::BaseCredentials, false);
        expired_token_is_not_retryable: (ErrorKind::ExpiredToken, false);
        unavailable_is_retryable: (ErrorKind::Unavailable, true);
        timed_out_is_retryable: (ErrorKind::TimedOut, true);
        invalid_response_is_not_retryable: (ErrorKind::InvalidResponse, false);
        mfa_token_is_not_retryable: (ErrorKind::MfaToken, false);
    }

    #[test]
    fn display_is_one_sentence_naming_hop_and_role() {
        let err = Error::new(ErrorKind::AccessDenied, "STS said no")
            .at_hop(1, "arn:aws:iam::111111111111:role/storage");
        let text = err.to_string();
        assert!(
            text.starts_with(
                "hop 1 (arn:aws:iam::111111111111:role/storage): access denied: STS said no; check"
            ),
            "{text}"
        );
        assert!(text.contains("sts:ExternalId"), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn clones_share_kind_hop_role_and_source() {
        let err = Error::new(ErrorKind::Unavailable, "HTTP 503")
            .at_hop(0, "arn:aws:iam::111111111111:role/a")
            .with_source(std::io::Error::other("reset"));
        let copy = err.clone();
        assert_eq!(copy.kind(), ErrorKind::Unavailable);
        assert_eq!(copy.hop(), Some(0));
        assert_eq!(copy.role_arn(), Some("arn:aws:iam::111111111111:role/a"));
        assert_eq!(copy.source().unwrap().to_string(), "reset");
        assert!(copy.is_retryable());
    }

    #[test]
    fn an_error_cloned_before_it_is_complete_is_completed_apart_from_its_clone() {
        let err = Error::new(ErrorKind::Unavailable, "HTTP 503");
        let early = err.clone();
        let done = err
            .at_hop(1, "arn:aws:iam::111111111111:role/a")
            .with_source(std::io::Error::other("reset"));
        assert_eq!((done.hop(), early.hop()), (Some(1), None));
        assert_eq!(done.source().unwrap().to_string(), "reset");
        assert!(early.source().is_none());
    }

    #[test]
    fn build_error_display_names_role_and_field() {
        let err = BuildError::new(Some(2), "duration", "must be at most 3600 s; got 7200 s");
        assert_eq!(
            err.to_string(),
            "role 2 in the chain: duration: must be at most 3600 s; got 7200 s"
        );
        assert_eq!(err.field(), "duration");
        assert_eq!(err.hop(), Some(2));
    }
}
