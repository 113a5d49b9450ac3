//! A local STS endpoint for tests: [`LocalSts`], `AssumeRole`, `AssumeRoleWithWebIdentity` and
//! `GetCallerIdentity` on an ephemeral port of 127.0.0.1, answered as STS answers them.
//!
//! It speaks STS's query protocol over HTTP/1.1 (hyper), answers in STS's XML and
//! `ErrorResponse` shapes with STS's HTTP statuses, and authenticates every signed request as STS does:
//! the access key must be known, the session token must match, the SigV4 signature is recomputed
//! with the caller's secret key and compared, and the signing time must be within 15 minutes of
//! its clock (`AssumeRoleWithWebIdentity` is unsigned: its token is checked instead). Roles carry a trust rule (the callers they admit and the ExternalId they require), a
//! maximum session duration, and STS's 1-hour limit for sessions assumed with role-session
//! credentials. Tests of failure handling script faults per request or for a whole outage, and
//! every request is logged for assertions.
//!
//! `aws-role-chain` re-exports it as `aws_role_chain::test_util` (feature `test-util`); any STS
//! client can use it, the AWS SDK's among them:
//!
//! ```
//! use aws_role_chain_local_sts::{LocalRole, LocalSts};
//! use aws_sdk_sts::config::{Region, SharedCredentialsProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sts = LocalSts::start().await?;
//! let compute = sts.add_user("222222222222", "compute");
//! sts.add_role(
//!     LocalRole::new("arn:aws:iam::111111111111:role/storage-access")
//!         .trust("arn:aws:iam::222222222222:user/compute")
//!         .external_id("storage-7f3a9c"),
//! );
//! let client = aws_sdk_sts::Client::from_conf(
//!     aws_sdk_sts::Config::builder()
//!         .credentials_provider(SharedCredentialsProvider::new(compute))
//!         .endpoint_url(sts.endpoint_url())
//!         .region(Region::new("us-east-1"))
//!         .build(),
//! );
//! let assumed = client
//!     .assume_role()
//!     .role_arn("arn:aws:iam::111111111111:role/storage-access")
//!     .role_session_name("test")
//!     .external_id("storage-7f3a9c")
//!     .send()
//!     .await?;
//! assert!(assumed.credentials().is_some());
//! assert_eq!(sts.requests()[0].param("RoleArn"), Some("arn:aws:iam::111111111111:role/storage-access"));
//! sts.stop().await;
//! # Ok(()) }
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

mod actions;
mod auth;
mod reply;
mod server;
mod sigv4;
mod sts;
mod xml;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use self::sts::State;

/// A local STS endpoint for tests: `AssumeRole`, `AssumeRoleWithWebIdentity` and
/// `GetCallerIdentity` on an ephemeral port of 127.0.0.1, with real SigV4 checks, trust rules
/// and a log of every request.
///
/// Start it with [`LocalSts::start`] inside a tokio runtime, stop it with [`LocalSts::stop`] (or
/// by dropping it). See the [crate documentation](crate) for an example.
pub struct LocalSts {
    endpoint_url: String,
    state: Arc<State>,
    server: JoinHandle<()>,
}

impl LocalSts {
    /// Starts a server on an ephemeral port of 127.0.0.1 with the system clock.
    pub async fn start() -> io::Result<LocalSts> {
        LocalSts::builder().start().await
    }

    /// A builder to start a server with other settings, such as its clock.
    pub fn builder() -> LocalStsBuilder {
        LocalStsBuilder::default()
    }

    /// The URL of the endpoint, for an STS client's `endpoint_url`, such as
    /// `http://127.0.0.1:41234`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// Registers an IAM user `arn:aws:iam::<account_id>:user/<user_name>` and returns its new
    /// long-term keys, ready to use as a base provider.
    pub fn add_user(&self, account_id: &str, user_name: &str) -> Credentials {
        let (access_key_id, secret_access_key) = self.state.add_user(account_id, user_name);
        Credentials::new(access_key_id, secret_access_key, None, None, "LocalSts")
    }

    /// Registers a role that callers can assume, replacing one with the same ARN. A role that
    /// requires MFA ([`LocalRole::mfa`]) registers its device.
    pub fn add_role(&self, role: LocalRole) {
        self.state.add_role(role);
    }

    /// A web identity token of identity provider `provider_arn` for `subject`, as an OIDC
    /// provider (an EKS cluster's, say) would issue it, for `AssumeRoleWithWebIdentity`: a role
    /// that trusts `provider_arn` ([`LocalRole::trust`], the trust policy's `Federated`
    /// principal) answers it with a session, unsigned as STS takes it. An unknown token gets 400
    /// `InvalidIdentityToken`, a role that does not trust the provider 403 `AccessDenied`. The
    /// token is opaque, not a JWT, and does not expire.
    pub fn web_identity_token(&self, provider_arn: &str, subject: &str) -> String {
        self.state.web_identity_token(provider_arn, subject)
    }

    /// The code that MFA device `serial_number` shows now, as a person would read it from the
    /// device; `None` for a device no role names. A code is good for one `AssumeRole`: after a
    /// request that used it, the device shows a new one.
    pub fn mfa_code(&self, serial_number: &str) -> Option<String> {
        self.state.mfa_code(serial_number)
    }

    /// MFA device `serial_number`, to read its codes from anywhere, as from a phone: a token
    /// provider that outlives this borrow, say. `None` for a device no role names.
    pub fn mfa_device(&self, serial_number: &str) -> Option<MfaDevice> {
        self.state.mfa_code(serial_number)?;
        Some(MfaDevice {
            serial_number: serial_number.to_owned(),
            state: self.state.clone(),
        })
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Every temporary credential issued so far, oldest first, for tests that look for leaks.
    pub fn issued(&self) -> Vec<Credentials> {
        self.state.issued()
    }

    /// Forgets the requests answered and the credentials issued so far, and the role sessions
    /// that have expired (a request signed by one is then refused as an unknown key, not as
    /// expired): for long runs, so that LocalSts's memory stays flat however many requests it
    /// answers.
    pub fn forget_history(&self) {
        self.state.forget_history();
    }

    /// Scripts the answers to the next `AssumeRole` requests: one fault per request, in order.
    /// Faults are applied to authenticated requests only.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.push_faults(faults);
    }

    /// Applies `fault` to every `AssumeRole` request with no scripted fault, until set back to
    /// `None`: an outage.
    pub fn set_outage(&self, fault: Option<Fault>) {
        self.state.set_outage(fault);
    }

    /// Applies `fault` to every `AssumeRole` request for `role_arn` with no scripted fault, until
    /// set back to `None`: one customer's role throttled, failing or slow (`Fault::Delay`)
    /// while the others answer.
    pub fn set_role_outage(&self, role_arn: &str, fault: Option<Fault>) {
        self.state.set_role_outage(role_arn, fault);
    }

    /// Delays every answer by `latency`. Default: none.
    pub fn set_latency(&self, latency: Duration) {
        self.state.set_latency(latency);
    }

    /// Makes every session last `lifetime`, whatever its `DurationSeconds`: short-lived
    /// credentials for tests of refreshing. `None` restores `DurationSeconds`.
    pub fn set_session_lifetime(&self, lifetime: Option<Duration>) {
        self.state.set_session_lifetime(lifetime);
    }

    /// Stops accepting connections and closes the open ones.
    pub async fn stop(mut self) {
        self.server.abort();
        let _ = (&mut self.server).await;
    }
}

impl Drop for LocalSts {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl fmt::Debug for LocalSts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSts")
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

/// An MFA device of a [`LocalSts`]: see [`LocalSts::mfa_device`]. Cheap to clone.
#[derive(Clone)]
pub struct MfaDevice {
    serial_number: String,
    state: Arc<State>,
}

impl MfaDevice {
    /// The code the device shows now.
    pub fn code(&self) -> String {
        self.state.mfa_code(&self.serial_number).unwrap_or_default()
    }
}

impl fmt::Debug for MfaDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaDevice")
            .field("serial_number", &self.serial_number)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`LocalSts`] before it starts.
#[derive(Debug, Default)]
pub struct LocalStsBuilder {
    time_source: Option<SharedTimeSource>,
    offset: Option<(Skew, Duration)>,
}

impl LocalStsBuilder {
    /// The server's clock, for session expiry and the signing-time check. Default: the system
    /// clock. A clock apart from the client's simulates clock skew.
    pub fn time_source(mut self, time_source: impl TimeSource + 'static) -> Self {
        self.time_source = Some(SharedTimeSource::new(time_source));
        self
    }

    /// Runs the server's clock this much ahead of its time source (the system clock unless
    /// set): its signing window, the `Expiration` of the credentials it issues and its `Date`
    /// header move together, as with an STS whose clock is ahead of the caller's.
    pub fn clock_ahead(mut self, by: Duration) -> Self {
        self.offset = Some((Skew::Ahead, by));
        self
    }

    /// Runs the server's clock this much behind its time source; see
    /// [`clock_ahead`](LocalStsBuilder::clock_ahead).
    pub fn clock_behind(mut self, by: Duration) -> Self {
        self.offset = Some((Skew::Behind, by));
        self
    }

    /// Binds an ephemeral port of 127.0.0.1 and starts serving on the current tokio runtime.
    pub async fn start(self) -> io::Result<LocalSts> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let endpoint_url = format!("http://{}", listener.local_addr()?);
        let mut time = self.time_source.unwrap_or_default();
        if let Some((skew, by)) = self.offset {
            time = SharedTimeSource::new(Offset { time, skew, by });
        }
        let state = Arc::new(State::new(time));
        let sleep = SharedAsyncSleep::new(TokioSleep::new());
        let server = tokio::spawn(server::serve(listener, state.clone(), sleep));
        Ok(LocalSts {
            endpoint_url,
            state,
            server,
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Skew {
    Ahead,
    Behind,
}

/// A clock that runs ahead of or behind another.
#[derive(Debug)]
struct Offset {
    time: SharedTimeSource,
    skew: Skew,
    by: Duration,
}

impl TimeSource for Offset {
    fn now(&self) -> SystemTime {
        let now = self.time.now();
        let shifted = match self.skew {
            Skew::Ahead => now.checked_add(self.by),
            Skew::Behind => now.checked_sub(self.by),
        };
        shifted.unwrap_or(now)
    }
}

/// A scripted failure of an `AssumeRole` request, for [`LocalSts::push_faults`] and
/// [`LocalSts::set_outage`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 400 `Throttling`: "Rate exceeded".
    Throttling,
    /// HTTP 500 `InternalFailure`.
    InternalError,
    /// HTTP 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// The connection is closed without an answer.
    ConnectionReset,
    /// The answer comes this much later than the normal latency.
    Delay(Duration),
    /// HTTP 200 with the first half of a valid answer.
    TruncatedBody,
    /// HTTP 200 with a body that is not XML.
    GarbageBody,
    /// HTTP 200 with an `AssumeRoleResponse` that holds no `Credentials`.
    MissingCredentials,
    /// HTTP 200 with credentials whose `Expiration` is an hour in the past.
    ExpiredCredentials,
    /// HTTP 200 with credentials that expire this long after the server's time, whatever the
    /// requested duration: far in the future, say.
    ExpiresIn(Duration),
    /// HTTP 200 with credentials whose `Expiration` is this time, whatever the server's clock:
    /// in the past, now, or in the year 9999.
    ExpiresAt(SystemTime),
}

/// A role registered with [`LocalSts`], with the trust rule that decides who may assume it.
///
/// ```
/// use aws_role_chain_local_sts::LocalRole;
///
/// // Only the broker role's sessions may assume it, and only with this ExternalId.
/// let role = LocalRole::new("arn:aws:iam::111111111111:role/storage")
///     .trust("arn:aws:iam::333333333333:role/broker")
///     .external_id("storage-7f3a9c");
/// assert!(!format!("{role:?}").contains("storage-7f3a9c"));
/// ```
#[derive(Clone)]
pub struct LocalRole {
    arn: String,
    role_id: String,
    external_id: Option<String>,
    trusted: Vec<String>,
    max_session_duration: Duration,
    mfa_serial: Option<String>,
}

impl LocalRole {
    /// A role with this ARN that admits any caller, requires no ExternalId and allows sessions
    /// of up to one hour (IAM's default `MaxSessionDuration`).
    pub fn new(arn: impl Into<String>) -> Self {
        LocalRole {
            arn: arn.into(),
            role_id: sts::random_id("AROA", 17),
            external_id: None,
            trusted: Vec::new(),
            max_session_duration: Duration::from_secs(3600),
            mfa_serial: None,
        }
    }

    /// Requires MFA with device `serial_number` (`Condition: Bool aws:MultiFactorAuthPresent`):
    /// a call must carry this `SerialNumber` and the device's current code
    /// ([`LocalSts::mfa_code`]) as `TokenCode`. Without them the call gets 403 `AccessDenied`,
    /// with a wrong code 403 `AccessDenied` "MultiFactorAuthentication failed with invalid MFA
    /// one time pass code", with another device 403 `AccessDenied` "MultiFactorAuthentication
    /// failed, unable to validate MFA code".
    pub fn mfa(mut self, serial_number: impl Into<String>) -> Self {
        self.mfa_serial = Some(serial_number.into());
        self
    }

    /// Admits a principal, like the trust policy's `Principal`: an IAM user ARN, a role ARN (its
    /// sessions are admitted), an account root `arn:aws:iam::<account>:root`, or an identity
    /// provider's ARN for `AssumeRoleWithWebIdentity` ([`LocalSts::web_identity_token`]).
    /// Repeatable; once one is given, callers not listed get 403 `AccessDenied`; a role that
    /// lists no identity provider refuses every web identity.
    pub fn trust(mut self, principal_arn: impl Into<String>) -> Self {
        self.trusted.push(principal_arn.into());
        self
    }

    /// Requires this ExternalId (`Condition: StringEquals sts:ExternalId`): a call with another
    /// one or none gets 403 `AccessDenied`.
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(id.into());
        self
    }

    /// The role's `MaxSessionDuration`, between 1 and 12 hours in IAM. A longer
    /// `DurationSeconds` gets 400 `ValidationError`.
    pub fn max_session_duration(mut self, duration: Duration) -> Self {
        self.max_session_duration = duration;
        self
    }
}

impl fmt::Debug for LocalRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRole")
            .field("arn", &self.arn)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "** redacted **"),
            )
            .field("trusted", &self.trusted)
            .field("max_session_duration", &self.max_session_duration)
            .field("mfa_serial", &self.mfa_serial)
            .finish()
    }
}

/// One request [`LocalSts`] answered, for assertions.
#[derive(Clone)]
pub struct RecordedRequest {
    action: Option<String>,
    access_key_id: Option<String>,
    caller_arn: Option<String>,
    params: Vec<(String, String)>,
    status: u16,
    error_code: Option<String>,
    received_at: SystemTime,
}

impl RecordedRequest {
    /// When the request arrived, on the server's clock (the test's, with
    /// [`LocalStsBuilder::time_source`]): for counting requests per second.
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }

    /// The `Action` parameter, such as `AssumeRole`.
    pub fn action(&self) -> Option<&str> {
        self.action.as_deref()
    }

    /// The access key id of the `Authorization` header.
    pub fn access_key_id(&self) -> Option<&str> {
        self.access_key_id.as_deref()
    }

    /// The ARN of the authenticated caller; `None` when authentication failed.
    pub fn caller_arn(&self) -> Option<&str> {
        self.caller_arn.as_deref()
    }

    /// Every query and form parameter of the request, in the order sent; the value of a
    /// `TokenCode` (an MFA code) is never kept, and shows as `** redacted **`.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// A query parameter of the request, such as `RoleArn`, `ExternalId` or `DurationSeconds`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `SerialNumber` of the MFA device the request named, if any.
    pub fn mfa_serial_number(&self) -> Option<&str> {
        self.param("SerialNumber")
    }

    /// Whether the request carried an MFA code (`TokenCode`); the code itself is not kept.
    pub fn carried_mfa_code(&self) -> bool {
        self.param("TokenCode").is_some()
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The error code of the answer, such as `AccessDenied`; `None` on success.
    pub fn error_code(&self) -> Option<&str> {
        self.error_code.as_deref()
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if k == "ExternalId" {
                        "** redacted **"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("RecordedRequest")
            .field("caller_arn", &self.caller_arn)
            .field("params", &params)
            .field("status", &self.status)
            .field("error_code", &self.error_code)
            .finish()
    }
}
