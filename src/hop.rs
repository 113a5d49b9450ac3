//! One hop: a single STS `AssumeRole` call signed with the previous hop's credentials, and when
//! the credentials it brings expire on this host's clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_sts::config::IdentityCache;
use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use parking_lot::Mutex;
use tracing::{debug_span, field, warn, Instrument};

use crate::classify::{attempt_kind, classify, is_chaining_limit};
use crate::error::{Error, ErrorKind};
use crate::limits::CHAINED_MAX_DURATION;
use crate::metrics::{self, Metrics};
use crate::mfa::{Mfa, TokenCode};
use crate::role::{is_account_id, Role};
use crate::time::later;

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
    /// The MFA device and where its code comes from, for a role with `mfa_serial`.
    pub(crate) mfa: Option<(Mfa, String)>,
    /// Set once STS refused this hop's duration for role-chained base credentials, so that later
    /// refreshes ask for one hour at once.
    limited_to_an_hour: AtomicBool,
}

impl Hop {
    /// Hop `index`, assuming `role` with its session name, else `default_session_name`, and
    /// with a code from `mfa` if the role has an MFA serial.
    pub(crate) fn new(
        index: usize,
        role: Role,
        default_session_name: &str,
        mfa: Option<Mfa>,
    ) -> Self {
        let session_name = role
            .session_name
            .clone()
            .unwrap_or_else(|| default_session_name.to_owned());
        let mfa = mfa.zip(role.mfa_serial.clone());
        Hop {
            index,
            role,
            session_name,
            mfa,
            limited_to_an_hour: AtomicBool::new(false),
        }
    }

    /// Calls `AssumeRole` for this hop, signed with `signer`, each request recorded in `metrics`.
    ///
    /// If the first hop asks for more than an hour and STS answers that the base credentials are
    /// themselves a role session (AWS's role-chaining limit), the call is made once more with one
    /// hour, and later calls ask for one hour from the start.
    pub(crate) async fn assume(
        &self,
        sts: &aws_sdk_sts::Client,
        metrics: &Metrics,
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
            let mut duration = match self.limited_to_an_hour.load(Ordering::Relaxed) {
                true => Some(CHAINED_MAX_DURATION),
                false => self.role.duration,
            };
            let code = match &self.mfa {
                Some((mfa, serial)) => {
                    Some(mfa.code(self.index, &self.role.role_arn, serial).await?)
                }
                None => None,
            };
            let sts_date = StsDate::default();
            loop {
                match self
                    .call(
                        sts,
                        metrics,
                        signer.clone(),
                        duration,
                        code.as_ref(),
                        &sts_date,
                    )
                    .await
                {
                    Err(err)
                        if duration > Some(CHAINED_MAX_DURATION) && is_chaining_limit(&err) =>
                    {
                        self.limited_to_an_hour.store(true, Ordering::Relaxed);
                        warn!(
                            requested_seconds = duration.map(|d| d.as_secs()),
                            "STS refused a session longer than 1 hour because the base credentials \
                             are themselves a role session (role chaining); retrying with 3600 s. \
                             Set the first role's duration to at most 1 hour to avoid this call"
                        );
                        duration = Some(CHAINED_MAX_DURATION);
                    }
                    Err(err) => return Err(classify(err, self.index, &self.role.role_arn)),
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
                span.record("outcome", field::display("success"));
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
        metrics: &Metrics,
        signer: Credentials,
        duration: Option<Duration>,
        code: Option<&TokenCode>,
        sts_date: &StsDate,
    ) -> Result<AssumeRoleOutput, SdkError<AssumeRoleError, HttpResponse>> {
        let role = &self.role;
        // `build()` fails only without a key or a value, and both are always set.
        let tags = role
            .tags
            .iter()
            .filter_map(|(key, value)| Tag::builder().key(key).value(value).build().ok())
            .collect::<Vec<_>>();
        let policy_arns = role
            .policy_arns
            .iter()
            .map(|arn| PolicyDescriptorType::builder().arn(arn).build())
            .collect::<Vec<_>>();
        let mut request = sts
            .assume_role()
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
            .set_serial_number(code.and(role.mfa_serial.clone()))
            .set_token_code(code.map(|code| code.expose().to_owned()))
            .customize()
            .interceptor(sts_date.clone());
        if metrics.is_on() {
            request = request.interceptor(AttemptMetrics {
                hop: self.index,
                metrics: metrics.clone(),
                started: Mutex::default(),
            });
        }
        request
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

/// Records each request of a hop (the SDK's retries included) in the metrics: its outcome, as
/// [`classify`] would name it, and how long it took on the client's clock.
#[derive(Debug)]
struct AttemptMetrics {
    hop: usize,
    metrics: Metrics,
    started: Mutex<Option<SystemTime>>,
}

impl Intercept for AttemptMetrics {
    fn name(&self) -> &'static str {
        "AttemptMetrics"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        components: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        *self.started.lock() = components.time_source().map(|time| time.now());
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        components: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(result) = context.output_or_error() else {
            return Ok(());
        };
        let ended = components.time_source().map(|time| time.now());
        let took = ended
            .zip(self.started.lock().take())
            .and_then(|(ended, started)| ended.duration_since(started).ok())
            .unwrap_or_default();
        let kind = attempt_kind(result, context.response(), self.hop);
        self.metrics
            .assume_role_call(self.hop, metrics::outcome(kind), took.as_secs_f64());
        Ok(())
    }
}

/// The account id of `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`.
fn account_of(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    is_account_id(account).then(|| account.to_owned())
}

#[cfg(test)]
mod tests;
