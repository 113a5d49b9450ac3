//! What [`LocalSts`](super::LocalSts) knows and how it answers: principals, roles and their trust
//! rules, and the `AssumeRole` and `GetCallerIdentity` actions.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use super::sigv4::{parse_amz_date, signature_matches, Authorization, SignedRequest};
use super::xml;
use super::{Fault, LocalRole, RecordedRequest};

const ROLE_CHAINING_LIMIT: Duration = Duration::from_secs(3600);
const DEFAULT_DURATION: Duration = Duration::from_secs(3600);
/// How far a request's signing time may be from the server's clock.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// A request as the HTTP layer hands it over.
pub(crate) struct StsRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) path_and_query: &'a str,
    pub(crate) headers: Vec<(&'a str, &'a str)>,
    pub(crate) body: &'a [u8],
}

impl StsRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

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
struct Reply {
    status: u16,
    result: Result<String, (&'static str, String)>,
    reset: bool,
}

impl Reply {
    fn ok(body: String) -> Self {
        Reply {
            status: 200,
            result: Ok(body),
            reset: false,
        }
    }

    fn error(status: u16, code: &'static str, message: &str) -> Self {
        Reply {
            status,
            result: Err((code, message.to_owned())),
            reset: false,
        }
    }

    /// No answer at all: the connection is closed. Logged with status 0.
    fn reset() -> Self {
        Reply {
            status: 0,
            result: Ok(String::new()),
            reset: true,
        }
    }

    fn access_denied(caller: &str, role_arn: &str) -> Self {
        Reply::error(
            403,
            "AccessDenied",
            &format!("User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"),
        )
    }

    fn validation(message: &str) -> Self {
        Reply::error(400, "ValidationError", message)
    }

    fn error_code(&self) -> Option<&'static str> {
        self.result.as_ref().err().map(|(code, _)| *code)
    }

    fn render(self, request_id: String) -> Answer {
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

/// Someone who can sign requests: an IAM user with long-term keys, or a role session.
#[derive(Clone)]
struct Principal {
    secret_access_key: String,
    session_token: Option<String>,
    arn: String,
    user_id: String,
    account: String,
    /// For a role session: the role and when the session ends.
    session: Option<(String, SystemTime)>,
}

#[derive(Default)]
struct Registry {
    principals: HashMap<String, Principal>,
    roles: HashMap<String, LocalRole>,
    log: Vec<RecordedRequest>,
    issued: Vec<Credentials>,
    next_request: u64,
    faults: VecDeque<Fault>,
    outage: Option<Fault>,
    latency: Duration,
    session_lifetime: Option<Duration>,
}

pub(crate) struct State {
    time: SharedTimeSource,
    registry: Mutex<Registry>,
}

impl State {
    pub(crate) fn new(time: SharedTimeSource) -> Self {
        State {
            time,
            registry: Mutex::default(),
        }
    }

    pub(crate) fn issued(&self) -> Vec<Credentials> {
        self.registry().issued.clone()
    }

    pub(crate) fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.registry().faults.extend(faults);
    }

    pub(crate) fn set_outage(&self, fault: Option<Fault>) {
        self.registry().outage = fault;
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        self.registry().latency = latency;
    }

    pub(crate) fn set_session_lifetime(&self, lifetime: Option<Duration>) {
        self.registry().session_lifetime = lifetime;
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an IAM user and returns its (access key id, secret access key).
    pub(crate) fn add_user(&self, account: &str, name: &str) -> (String, String) {
        let access_key_id = random_id("AKIA", 16);
        let secret = random_secret(40);
        self.registry().principals.insert(
            access_key_id.clone(),
            Principal {
                secret_access_key: secret.clone(),
                session_token: None,
                arn: format!("arn:aws:iam::{account}:user/{name}"),
                user_id: random_id("AIDA", 17),
                account: account.to_owned(),
                session: None,
            },
        );
        (access_key_id, secret)
    }

    pub(crate) fn add_role(&self, role: LocalRole) {
        self.registry().roles.insert(role.arn.clone(), role);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.registry().log.clone()
    }

    pub(crate) fn handle(&self, request: StsRequest<'_>) -> Answer {
        let now = self.time.now();
        let query = request
            .path_and_query
            .split_once('?')
            .map_or("", |(_, q)| q);
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .chain(form_urlencoded::parse(request.body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };

        let mut registry = self.registry();
        registry.next_request += 1;
        let request_id = format!("00000000-0000-4000-8000-{:012x}", registry.next_request);
        let fault = match param("Action") {
            Some("AssumeRole") => registry
                .faults
                .pop_front()
                .or_else(|| registry.outage.clone()),
            _ => None,
        };
        let mut delay = registry.latency;
        let reply = match registry.authenticate(&request, now) {
            Err(refusal) => Err(refusal),
            Ok(caller) => {
                let reply = match &fault {
                    Some(Fault::Throttling) => Reply::error(400, "Throttling", "Rate exceeded"),
                    Some(Fault::InternalError) => Reply::error(
                        500,
                        "InternalFailure",
                        "The request processing has failed because of an unknown error, exception or failure.",
                    ),
                    Some(Fault::ServiceUnavailable) => Reply::error(503, "ServiceUnavailable", "Service is unavailable."),
                    Some(Fault::ConnectionReset) => Reply::reset(),
                    Some(Fault::GarbageBody) => Reply::ok("this is not XML <<<".to_owned()),
                    _ => {
                        let expiry = match &fault {
                            Some(Fault::ExpiredCredentials) => Some(now - Duration::from_secs(3600)),
                            Some(Fault::ExpiresIn(lifetime)) => Some(now + *lifetime),
                            Some(Fault::ExpiresAt(expiration)) => Some(*expiration),
                            _ => None,
                        };
                        let mut reply = registry.act(&caller, &param, now, expiry, &request_id);
                        if let Ok(body) = &mut reply.result {
                            match &fault {
                                Some(Fault::TruncatedBody) => body.truncate(body.len() / 2),
                                Some(Fault::MissingCredentials) => {
                                    if let (Some(start), Some(end)) = (body.find("<Credentials>"), body.find("</Credentials>")) {
                                        body.replace_range(start..end + "</Credentials>".len(), "");
                                    }
                                }
                                _ => {}
                            }
                        }
                        reply
                    }
                };
                if let Some(Fault::Delay(extra)) = fault {
                    delay += extra;
                }
                Ok((reply, caller.arn))
            }
        };
        let (reply, caller_arn) = match reply {
            Ok((reply, caller)) => (reply, Some(caller)),
            Err(refusal) => (refusal, None),
        };
        registry.log.push(RecordedRequest {
            action: param("Action").map(str::to_owned),
            access_key_id: request
                .header("authorization")
                .and_then(Authorization::parse)
                .map(|a| a.access_key_id.to_owned()),
            caller_arn,
            params: params.clone(),
            status: reply.status,
            error_code: reply.error_code().map(str::to_owned),
        });
        let mut answer = reply.render(request_id);
        answer.delay = delay;
        answer.date = http_date(now);
        answer
    }
}

impl Registry {
    /// Answers the action; `expiry` replaces the normal expiry of issued credentials.
    fn act<'p>(
        &mut self,
        caller: &Principal,
        param: &impl Fn(&str) -> Option<&'p str>,
        now: SystemTime,
        expiry: Option<SystemTime>,
        request_id: &str,
    ) -> Reply {
        match param("Action") {
            Some("AssumeRole") => self.assume_role(caller, param, now, expiry, request_id),
            Some("GetCallerIdentity") => Reply::ok(xml::get_caller_identity(
                &caller.arn,
                &caller.user_id,
                &caller.account,
                request_id,
            )),
            Some(action) => Reply::error(
                400,
                "InvalidAction",
                &format!("Could not find operation {action} for version 2011-06-15"),
            ),
            None => Reply::error(400, "MissingAction", "Missing Action"),
        }
    }

    /// Checks the request's signature and credentials as STS does.
    fn authenticate(&self, request: &StsRequest<'_>, now: SystemTime) -> Result<Principal, Reply> {
        let header = request.header("authorization").ok_or_else(|| {
            Reply::error(
                403,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            )
        })?;
        let auth = Authorization::parse(header).ok_or_else(|| {
            Reply::error(
                400,
                "IncompleteSignature",
                "Authorization header is not a valid AWS4-HMAC-SHA256 header",
            )
        })?;
        let invalid_token = || {
            Reply::error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        };
        let mismatch = || {
            Reply::error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            )
        };
        let principal = self
            .principals
            .get(auth.access_key_id)
            .ok_or_else(invalid_token)?;
        if request.header("x-amz-security-token") != principal.session_token.as_deref() {
            return Err(invalid_token());
        }
        if auth.service != "sts" {
            return Err(Reply::error(
                403,
                "SignatureDoesNotMatch",
                &format!(
                    "Credential should be scoped to correct service: 'sts', not '{}'.",
                    auth.service
                ),
            ));
        }
        let signed_at = request
            .header("x-amz-date")
            .and_then(parse_amz_date)
            .ok_or_else(|| {
                Reply::error(
                    400,
                    "IncompleteSignature",
                    "Authorization header requires existence of a valid 'X-Amz-Date' header.",
                )
            })?;
        let skew = now
            .duration_since(signed_at)
            .or_else(|e| Ok::<_, ()>(e.duration()))
            .unwrap_or_default();
        if skew > MAX_SKEW {
            return Err(Reply::error(
                403,
                "SignatureDoesNotMatch",
                &format!(
                    "Signature expired: {} is more than 15 minutes away from the server's time {}.",
                    fmt_time(signed_at),
                    fmt_time(now)
                ),
            ));
        }
        let mut headers = Vec::with_capacity(auth.signed_headers.len());
        for name in &auth.signed_headers {
            let value = request.header(name).ok_or_else(mismatch)?;
            // The signer adds the session token from the identity; passed as a header it would
            // also be in the signer's trace log.
            if !name.eq_ignore_ascii_case("x-amz-security-token") {
                headers.push((*name, value));
            }
        }
        let host = request.header("host").unwrap_or("localhost");
        let uri = format!("http://{host}{}", request.path_and_query);
        let signed = SignedRequest {
            method: request.method,
            uri: &uri,
            headers,
            body: request.body,
            time: signed_at,
        };
        if !signature_matches(
            &auth,
            signed,
            &principal.secret_access_key,
            principal.session_token.as_deref(),
        ) {
            return Err(mismatch());
        }
        if principal
            .session
            .as_ref()
            .is_some_and(|(_, expiry)| now >= *expiry)
        {
            return Err(Reply::error(
                400,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
        Ok(principal.clone())
    }

    fn assume_role<'p>(
        &mut self,
        caller: &Principal,
        param: &impl Fn(&str) -> Option<&'p str>,
        now: SystemTime,
        expiry: Option<SystemTime>,
        request_id: &str,
    ) -> Reply {
        let Some(role_arn) = param("RoleArn") else {
            return Reply::validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
        };
        let Some(session_name) = param("RoleSessionName") else {
            return Reply::validation(
                "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
            );
        };
        if !(2..=64).contains(&session_name.len())
            || !session_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        {
            return Reply::validation(&format!(
                "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            ));
        }
        let duration = match param("DurationSeconds").map(str::parse::<u64>) {
            None => DEFAULT_DURATION,
            Some(Ok(secs)) if (900..=43_200).contains(&secs) => Duration::from_secs(secs),
            Some(_) => {
                return Reply::validation(
                    "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: \
                     Member must have value between 900 and 43200",
                )
            }
        };
        let Some(role) = self.roles.get(role_arn) else {
            return Reply::access_denied(&caller.arn, role_arn);
        };
        if !role.trusts(caller) {
            return Reply::access_denied(&caller.arn, role_arn);
        }
        if let Some(required) = &role.external_id {
            if param("ExternalId") != Some(required.as_str()) {
                return Reply::access_denied(&caller.arn, role_arn);
            }
        }
        if caller.session.is_some() && duration > ROLE_CHAINING_LIMIT {
            return Reply::validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            );
        }
        if duration > role.max_session_duration {
            return Reply::validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            );
        }

        let (partition, account) = {
            let mut parts = role_arn.split(':');
            (
                parts.nth(1).unwrap_or("aws"),
                parts.nth(2).unwrap_or_default(),
            )
        };
        let role_name = role_arn.rsplit('/').next().unwrap_or_default();
        let assumed_role_arn =
            format!("arn:{partition}:sts::{account}:assumed-role/{role_name}/{session_name}");
        let assumed_role_id = format!("{}:{session_name}", role.role_id);
        let access_key_id = random_id("ASIA", 16);
        let secret_access_key = random_secret(40);
        let session_token = random_secret(356);
        let expiry = expiry.unwrap_or_else(|| now + self.session_lifetime.unwrap_or(duration));
        let expiration = fmt_time(expiry);
        let body = xml::assume_role(
            &xml::AssumedRole {
                assumed_role_arn: &assumed_role_arn,
                assumed_role_id: &assumed_role_id,
                access_key_id: &access_key_id,
                secret_access_key: &secret_access_key,
                session_token: &session_token,
                expiration: &expiration,
                source_identity: param("SourceIdentity"),
                packed_policy_size: (param("Policy").is_some()
                    || param("Tags.member.1.Key").is_some())
                .then_some(6),
            },
            request_id,
        );
        self.issued.push(Credentials::new(
            &access_key_id,
            &secret_access_key,
            Some(session_token.clone()),
            Some(expiry),
            "LocalSts",
        ));
        self.principals.insert(
            access_key_id,
            Principal {
                secret_access_key,
                session_token: Some(session_token),
                arn: assumed_role_arn,
                user_id: assumed_role_id,
                account: account.to_owned(),
                session: Some((role_arn.to_owned(), expiry)),
            },
        );
        Reply::ok(body)
    }
}

impl LocalRole {
    /// Whether the trust rule admits `caller`: no rule admits everyone; otherwise the caller's own
    /// ARN, its role's ARN (for a role session) or its account root must be listed.
    fn trusts(&self, caller: &Principal) -> bool {
        let root = format!("arn:aws:iam::{}:root", caller.account);
        self.trusted.is_empty()
            || self.trusted.iter().any(|p| {
                *p == caller.arn
                    || *p == root
                    || caller.session.as_ref().is_some_and(|(role, _)| p == role)
            })
    }
}

fn http_date(t: SystemTime) -> String {
    DateTime::from(t).fmt(Format::HttpDate).unwrap_or_default()
}

fn fmt_time(t: SystemTime) -> String {
    let whole_seconds = DateTime::from_secs(DateTime::from(t).secs());
    whole_seconds.fmt(Format::DateTime).unwrap_or_default()
}

pub(crate) fn random_id(prefix: &str, len: usize) -> String {
    let chars: Vec<char> = ('A'..='Z').chain('2'..='7').collect();
    let mut id = String::from(prefix);
    id.extend((0..len).map(|_| chars[fastrand::usize(..chars.len())]));
    id
}

fn random_secret(len: usize) -> String {
    (0..len).map(|_| fastrand::alphanumeric()).collect()
}
