//! One hop: a single STS `AssumeRole` call signed with the previous hop's credentials, and the
//! classification of its failures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_sts::config::IdentityCache;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::ServiceError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use aws_smithy_xml::decode::{try_data, Document};
use parking_lot::Mutex;
use tracing::{debug_span, field, warn, Instrument};

use crate::error::{Error, ErrorKind};
use crate::policy::later;
use crate::role::{Role, CHAINED_MAX_DURATION};

/// The session STS grants when `DurationSeconds` is not given.
const DEFAULT_SESSION: Duration = Duration::from_secs(3600);
/// The resolution of STS's `Date` header.
const DATE_RESOLUTION: Duration = Duration::from_secs(1);

/// The name under which this crate's credentials appear in `Credentials::provider_name`.
pub(crate) const PROVIDER_NAME: &str = "RoleChainProvider";

/// Everything one hop needs: the role and the session name it will use.
#[derive(Debug)]
pub(crate) struct Hop {
    pub(crate) index: usize,
    pub(crate) role: Role,
    pub(crate) session_name: String,
    /// Set once STS refused this hop's duration for role-chained base credentials, so that later
    /// refreshes ask for one hour at once.
    pub(crate) chained: AtomicBool,
}

impl Hop {
    /// Calls `AssumeRole` for this hop, signed with `signer`.
    ///
    /// If the first hop asks for more than an hour and STS answers that the base credentials are
    /// themselves a role session (AWS's role-chaining limit), the call is made once more with one
    /// hour, and later calls ask for one hour from the start.
    pub(crate) async fn assume(
        &self,
        sts: &aws_sdk_sts::Client,
        signer: Credentials,
        now: SystemTime,
    ) -> Result<(Credentials, SystemTime), Error> {
        let span = debug_span!(
            "assume_role",
            hop = self.index,
            role_arn = %self.role.role_arn,
            session_name = %self.session_name,
            expiry = field::Empty,
            outcome = field::Empty,
        );
        let result = async {
            let mut duration = match self.chained.load(Ordering::Relaxed) {
                true => Some(CHAINED_MAX_DURATION),
                false => self.role.duration,
            };
            let sts_date = StsDate::default();
            loop {
                match self.call(sts, signer.clone(), duration, &sts_date).await {
                    Err(err)
                        if duration > Some(CHAINED_MAX_DURATION) && is_chaining_limit(&err) =>
                    {
                        self.chained.store(true, Ordering::Relaxed);
                        warn!(
                            requested_seconds = duration.map(|d| d.as_secs()),
                            "STS refused a session longer than 1 hour because the base credentials \
                             are themselves a role session (role chaining); retrying with 3600 s. \
                             Set the first role's duration to at most 1 hour to avoid this call"
                        );
                        duration = Some(CHAINED_MAX_DURATION);
                    }
                    Err(err) => return Err(self.classify(err)),
                    Ok(output) => {
                        let requested = duration.unwrap_or(DEFAULT_SESSION);
                        return self.credentials_from(output, now, requested, sts_date.get());
                    }
                }
            }
        }
        .instrument(span.clone())
        .await;
        match &result {
            Ok((_, expiry)) => {
                span.record("expiry", field::display(DateTime::from(*expiry)));
                span.record("outcome", "success");
            }
            Err(err) => {
                span.record("outcome", field::display(err.kind()));
            }
        }
        result
    }

    async fn call(
        &self,
        sts: &aws_sdk_sts::Client,
        signer: Credentials,
        duration: Option<Duration>,
        sts_date: &StsDate,
    ) -> Result<AssumeRoleOutput, SdkError<AssumeRoleError, HttpResponse>> {
        let role = &self.role;
        let tags = role
            .tags
            .iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .collect::<Result<Vec<_>, _>>()
            .expect("key and value are always set");
        let policy_arns = role
            .policy_arns
            .iter()
            .map(|arn| PolicyDescriptorType::builder().arn(arn).build())
            .collect::<Vec<_>>();
        sts.assume_role()
            .role_arn(&role.role_arn)
            .role_session_name(&self.session_name)
            .set_external_id(role.external_id.as_ref().map(|id| id.expose().to_owned()))
            .set_duration_seconds(duration.map(|d| d.as_secs() as i32))
            .set_policy(role.policy.clone())
            .set_policy_arns((!policy_arns.is_empty()).then_some(policy_arns))
            .set_tags((!tags.is_empty()).then_some(tags))
            .set_transitive_tag_keys(
                (!role.transitive_tag_keys.is_empty()).then(|| role.transitive_tag_keys.clone()),
            )
            .set_source_identity(role.source_identity.clone())
            .customize()
            .interceptor(sts_date.clone())
            .config_override(
                aws_sdk_sts::Config::builder()
                    .credentials_provider(signer)
                    // A cache per override would keep one partition per refresh forever.
                    .identity_cache(IdentityCache::no_cache()),
            )
            .send()
            .await
    }

    fn credentials_from(
        &self,
        output: AssumeRoleOutput,
        requested_at: SystemTime,
        requested: Duration,
        sts_date: Option<SystemTime>,
    ) -> Result<(Credentials, SystemTime), Error> {
        let invalid = |message: &str| {
            Error::new(ErrorKind::InvalidResponse, message).at_hop(self.index, &self.role.role_arn)
        };
        let sts = output
            .credentials
            .ok_or_else(|| invalid("STS answered without credentials"))?;
        let expiration = SystemTime::try_from(sts.expiration).map_err(|_| {
            invalid("STS answered with an expiration time this system cannot represent")
        })?;
        let expiry = expiry_on_this_host(requested_at, requested, expiration, sts_date)
            .ok_or_else(|| {
                let clock = match sts_date {
                    Some(date) => format!("STS's own time {}", DateTime::from(date)),
                    None => format!("this machine's time {}", DateTime::from(requested_at)),
                };
                invalid(&format!(
                    "STS answered with credentials that expired at {}, before {clock}",
                    sts.expiration
                ))
            })?;
        let account_id = output
            .assumed_role_user
            .as_ref()
            .and_then(|user| account_of(&user.arn));
        let mut builder = Credentials::builder()
            .access_key_id(sts.access_key_id)
            .secret_access_key(sts.secret_access_key)
            .session_token(sts.session_token)
            .expiry(expiry)
            .provider_name(PROVIDER_NAME);
        builder.set_account_id(account_id.map(Into::into));
        // No `AwsCredentialFeature` property: properties make every clone allocate, and a clone
        // is all a cached call costs.
        Ok((builder.build(), expiry))
    }

    fn classify(&self, err: SdkError<AssumeRoleError, HttpResponse>) -> Error {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let error = match err {
            SdkError::ServiceError(context) => {
                let (code, message) = code_and_message(&context);
                let service_error = context.into_err();
                let kind = kind_for(code.as_deref(), status, self.index);
                let code = code.as_deref().unwrap_or("no error code");
                let message = match (status, message) {
                    (Some(status), Some(msg)) => {
                        format!("STS answered HTTP {status} {code}: {msg}")
                    }
                    (Some(status), None) => format!("STS answered HTTP {status} {code}"),
                    (None, _) => format!("STS answered {code}"),
                };
                Error::new(kind, message).with_source(service_error)
            }
            SdkError::TimeoutError(_) => {
                Error::new(ErrorKind::TimedOut, "the call to STS timed out")
                    .with_source(err.into_source().expect("timeout errors have a source"))
            }
            SdkError::DispatchFailure(ref failure) => {
                let (kind, what) = if failure.is_timeout() {
                    (ErrorKind::TimedOut, "the connection to STS timed out")
                } else if failure.is_user() {
                    (
                        ErrorKind::InvalidConfiguration,
                        "the request to STS could not be sent as configured",
                    )
                } else {
                    (ErrorKind::Unavailable, "STS could not be reached")
                };
                Error::new(kind, what)
                    .with_source(err.into_source().expect("dispatch failures have a source"))
            }
            SdkError::ResponseError(_) => Error::new(
                ErrorKind::InvalidResponse,
                "the answer from STS could not be read",
            )
            .with_source(err.into_source().expect("response errors have a source")),
            _ => Error::new(
                ErrorKind::InvalidConfiguration,
                "the request to STS could not be built; check the region and endpoint_url",
            )
            .with_source(err.into_source().unwrap_or_else(|e| e.to_string().into())),
        };
        error.at_hop(self.index, &self.role.role_arn)
    }
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

/// The error code and message of an STS error answer.
fn code_and_message(
    context: &ServiceError<AssumeRoleError, HttpResponse>,
) -> (Option<String>, Option<String>) {
    let parsed = context.err();
    match parsed.code() {
        Some(code) => (Some(code.to_owned()), parsed.message().map(str::to_owned)),
        // Some STS emulators answer in a shape the SDK does not parse; read it ourselves.
        None => context
            .raw()
            .body()
            .bytes()
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
fn is_chaining_limit(err: &SdkError<AssumeRoleError, HttpResponse>) -> bool {
    let SdkError::ServiceError(context) = err else {
        return false;
    };
    let (code, message) = code_and_message(context);
    code.as_deref() == Some("ValidationError")
        && message.is_some_and(|m| m.contains("role chaining"))
}

/// When credentials expire on this host's clock: `requested_at` (this host's time as the request
/// started) plus the lifetime STS granted, which is the `requested` duration, or STS's
/// `expiration` minus its `sts_date` (the `Date` header of its answer) when that is shorter.
/// So neither a clock of STS's ahead of this host's nor one behind makes credentials last
/// longer than granted here. `None` if they had expired by STS's time.
///
/// The `Date` header names whole seconds: the lifetime is counted from the end of that second,
/// so that it is never overstated. Without the header, the lifetime is counted from
/// `requested_at`.
fn expiry_on_this_host(
    requested_at: SystemTime,
    requested: Duration,
    expiration: SystemTime,
    sts_date: Option<SystemTime>,
) -> Option<SystemTime> {
    let since = sts_date.map_or(requested_at, |date| later(date, DATE_RESOLUTION));
    let granted = expiration.duration_since(since).ok()?;
    (!granted.is_zero()).then(|| later(requested_at, granted.min(requested)))
}

/// Records the `Date` header of STS's last answer: STS's clock, against which its `Expiration`
/// is measured.
#[derive(Clone, Debug, Default)]
struct StsDate(Arc<Mutex<Option<SystemTime>>>);

impl StsDate {
    fn get(&self) -> Option<SystemTime> {
        *self.0.lock()
    }
}

impl Intercept for StsDate {
    fn name(&self) -> &'static str {
        "StsDate"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = context
            .response()
            .headers()
            .get("date")
            .and_then(|date| DateTime::from_str(date, Format::HttpDate).ok())
            .and_then(|date| SystemTime::try_from(date).ok());
        *self.0.lock() = date;
        Ok(())
    }
}

/// The account id of `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`.
fn account_of(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_kinds_and_fall_back_to_the_status() {
        use ErrorKind::*;
        let cases = [
            (Some("AccessDenied"), Some(403), 1, AccessDenied),
            (Some("InvalidClientTokenId"), Some(403), 0, BaseCredentials),
            (Some("SignatureDoesNotMatch"), Some(403), 0, BaseCredentials),
            (Some("InvalidClientTokenId"), Some(403), 2, AccessDenied),
            (Some("SignatureDoesNotMatch"), Some(403), 1, AccessDenied),
            (Some("Throttling"), Some(400), 0, Throttled),
            (Some("TooManyRequestsException"), Some(400), 0, Throttled),
            (
                Some("MalformedPolicyDocument"),
                Some(400),
                0,
                InvalidConfiguration,
            ),
            (
                Some("PackedPolicyTooLarge"),
                Some(400),
                0,
                InvalidConfiguration,
            ),
            (
                Some("RegionDisabledException"),
                Some(403),
                0,
                InvalidConfiguration,
            ),
            (Some("ValidationError"), Some(400), 0, InvalidConfiguration),
            (Some("ExpiredToken"), Some(400), 1, ExpiredToken),
            (Some("ExpiredTokenException"), Some(400), 1, ExpiredToken),
            (None, Some(403), 0, AccessDenied),
            (None, Some(429), 0, Throttled),
            (None, Some(500), 0, Unavailable),
            (None, Some(503), 0, Unavailable),
            (None, Some(400), 0, InvalidConfiguration),
            (Some("SomethingNew"), Some(502), 0, Unavailable),
            (None, None, 0, InvalidResponse),
        ];
        for (code, status, hop, kind) in cases {
            assert_eq!(
                kind_for(code, status, hop),
                kind,
                "{code:?} {status:?} at hop {hop}"
            );
        }
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

    macro_rules! expiry_cases {
        ($($name:ident: $args:expr;)+) => { $(#[test] fn $name() { expiry($args) })+ };
    }

    expiry_cases! {
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
}
