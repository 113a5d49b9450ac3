//! What [`LocalSts`](crate::LocalSts) knows and how it answers a request: authenticate it,
//! apply a scripted fault, act, log.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use parking_lot::{Mutex, MutexGuard};

use crate::actions::Params;
use crate::auth::{authenticate, Principal};
use crate::reply::{Answer, Reply};
use crate::sigv4::Authorization;
use crate::{Fault, LocalRole, RecordedRequest};

/// A request as the HTTP layer hands it over.
pub(crate) struct StsRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) path_and_query: &'a str,
    pub(crate) headers: Vec<(&'a str, &'a str)>,
    pub(crate) body: &'a [u8],
}

impl<'a> StsRequest<'a> {
    pub(crate) fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The query string's and the form body's parameters, in order.
    fn params(&self) -> Params {
        let query = self.path_and_query.split_once('?').map_or("", |(_, q)| q);
        let pairs = form_urlencoded::parse(query.as_bytes())
            .chain(form_urlencoded::parse(self.body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()));
        Params(pairs.collect())
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) principals: HashMap<String, Principal>,
    pub(crate) roles: HashMap<String, LocalRole>,
    log: Vec<RecordedRequest>,
    pub(crate) issued: Vec<Credentials>,
    next_request: u64,
    faults: VecDeque<Fault>,
    outage: Option<Fault>,
    /// Outages of one role each, by role ARN.
    role_outages: HashMap<String, Fault>,
    latency: Duration,
    pub(crate) session_lifetime: Option<Duration>,
    /// The code each MFA device shows now, by serial number.
    pub(crate) mfa_codes: HashMap<String, String>,
    /// The web identity tokens issued, and whose they are.
    pub(crate) web_identities: HashMap<String, WebIdentity>,
}

/// Whose a web identity token is: the identity provider that issued it and its subject.
#[derive(Clone)]
pub(crate) struct WebIdentity {
    pub(crate) provider: String,
    pub(crate) subject: String,
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

    pub(crate) fn set_role_outage(&self, role_arn: &str, fault: Option<Fault>) {
        let outages = &mut self.registry().role_outages;
        match fault {
            Some(fault) => outages.insert(role_arn.to_owned(), fault),
            None => outages.remove(role_arn),
        };
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        self.registry().latency = latency;
    }

    pub(crate) fn set_session_lifetime(&self, lifetime: Option<Duration>) {
        self.registry().session_lifetime = lifetime;
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock()
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
        let mut registry = self.registry();
        if let Some(serial) = &role.mfa_serial {
            registry
                .mfa_codes
                .entry(serial.clone())
                .or_insert_with(new_mfa_code);
        }
        registry.roles.insert(role.arn.clone(), role);
    }

    /// A new token of `provider` for `subject`.
    pub(crate) fn web_identity_token(&self, provider: &str, subject: &str) -> String {
        let token = random_secret(64);
        let identity = WebIdentity {
            provider: provider.to_owned(),
            subject: subject.to_owned(),
        };
        self.registry()
            .web_identities
            .insert(token.clone(), identity);
        token
    }

    pub(crate) fn mfa_code(&self, serial: &str) -> Option<String> {
        self.registry().mfa_codes.get(serial).cloned()
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.registry().log.clone()
    }

    /// Drops the request log, the issued credentials and the sessions that have expired.
    pub(crate) fn forget_history(&self) {
        let now = self.time.now();
        let mut registry = self.registry();
        registry.log = Vec::new();
        registry.issued = Vec::new();
        registry
            .principals
            .retain(|_, p| p.session.as_ref().is_none_or(|(_, ends)| *ends > now));
        registry.principals.shrink_to_fit();
    }

    /// Answers a request as STS would, with the next scripted fault if it is an `AssumeRole`.
    pub(crate) fn handle(&self, request: StsRequest<'_>) -> Answer {
        let now = self.time.now();
        let params = request.params();
        let mut registry = self.registry();
        registry.next_request += 1;
        let request_id = format!("00000000-0000-4000-8000-{:012x}", registry.next_request);
        let mut delay = registry.latency;
        let (reply, caller_arn) = if params.get("Action") == Some("AssumeRoleWithWebIdentity") {
            (
                registry.assume_role_with_web_identity(&params, now, &request_id),
                None,
            )
        } else {
            match authenticate(&registry.principals, &request, now) {
                Err(refusal) => (refusal, None),
                Ok(caller) => {
                    let fault = registry.next_fault(params.get("Action"), params.get("RoleArn"));
                    if let Some(Fault::Delay(extra)) = fault {
                        delay += extra;
                    }
                    let reply = registry.answer(&caller, &params, fault.as_ref(), now, &request_id);
                    (reply, Some(caller.arn))
                }
            }
        };
        registry.record(&request, &params, caller_arn, &reply, now);
        let mut answer = reply.render(request_id);
        answer.delay = delay;
        answer.date = http_date(now);
        answer
    }
}

impl Registry {
    /// The fault for this request: a scripted one, else the outage of its role, else the
    /// outage's; only for `AssumeRole`.
    fn next_fault(&mut self, action: Option<&str>, role_arn: Option<&str>) -> Option<Fault> {
        if action != Some("AssumeRole") {
            return None;
        }
        let role_outage = role_arn.and_then(|arn| self.role_outages.get(arn)).cloned();
        self.faults
            .pop_front()
            .or(role_outage)
            .or_else(|| self.outage.clone())
    }

    /// The reply to an authenticated request, as `fault` makes it.
    fn answer(
        &mut self,
        caller: &Principal,
        params: &Params,
        fault: Option<&Fault>,
        now: SystemTime,
        request_id: &str,
    ) -> Reply {
        let expiry = match fault {
            Some(Fault::Throttling) => return Reply::error(400, "Throttling", "Rate exceeded"),
            Some(Fault::InternalError) => {
                return Reply::error(
                    500,
                    "InternalFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                )
            }
            Some(Fault::ServiceUnavailable) => {
                return Reply::error(503, "ServiceUnavailable", "Service is unavailable.")
            }
            Some(Fault::ConnectionReset) => return Reply::reset(),
            Some(Fault::GarbageBody) => return Reply::ok("this is not XML <<<".to_owned()),
            Some(Fault::ExpiredCredentials) => Some(now - Duration::from_secs(3600)),
            Some(Fault::ExpiresIn(lifetime)) => Some(now + *lifetime),
            Some(Fault::ExpiresAt(expiration)) => Some(*expiration),
            _ => None,
        };
        let mut reply = self.act(caller, params, now, expiry, request_id);
        if let Ok(body) = &mut reply.result {
            corrupt(body, fault);
        }
        reply
    }

    fn record(
        &mut self,
        request: &StsRequest<'_>,
        params: &Params,
        caller_arn: Option<String>,
        reply: &Reply,
        received_at: SystemTime,
    ) {
        let access_key_id = request
            .header("authorization")
            .and_then(Authorization::parse)
            .map(|a| a.access_key_id.to_owned());
        // An MFA code is never kept.
        let kept = params.0.iter().map(|(name, value)| match name.as_str() {
            "TokenCode" => (name.clone(), "** redacted **".to_owned()),
            _ => (name.clone(), value.clone()),
        });
        self.log.push(RecordedRequest {
            action: params.get("Action").map(str::to_owned),
            access_key_id,
            caller_arn,
            params: kept.collect(),
            status: reply.status,
            error_code: reply.error_code().map(str::to_owned),
            received_at,
        });
    }
}

/// Truncates a successful answer's body, or removes its credentials, as `fault` says.
fn corrupt(body: &mut String, fault: Option<&Fault>) {
    match fault {
        Some(Fault::TruncatedBody) => body.truncate(body.len() / 2),
        Some(Fault::MissingCredentials) => {
            if let (Some(start), Some(end)) =
                (body.find("<Credentials>"), body.find("</Credentials>"))
            {
                body.replace_range(start..end + "</Credentials>".len(), "");
            }
        }
        _ => {}
    }
}

pub(crate) fn http_date(t: SystemTime) -> String {
    DateTime::from(t).fmt(Format::HttpDate).unwrap_or_default()
}

pub(crate) fn fmt_time(t: SystemTime) -> String {
    let whole_seconds = DateTime::from_secs(DateTime::from(t).secs());
    whole_seconds.fmt(Format::DateTime).unwrap_or_default()
}

/// A new six-digit code for an MFA device.
pub(crate) fn new_mfa_code() -> String {
    format!("{:06}", fastrand::u32(..1_000_000))
}

pub(crate) fn random_id(prefix: &str, len: usize) -> String {
    let chars: Vec<char> = ('A'..='Z').chain('2'..='7').collect();
    let mut id = String::from(prefix);
    id.extend((0..len).map(|_| chars[fastrand::usize(..chars.len())]));
    id
}

pub(crate) fn random_secret(len: usize) -> String {
    (0..len).map(|_| fastrand::alphanumeric()).collect()
}

#[cfg(test)]
mod tests;
