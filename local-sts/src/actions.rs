//! The actions: `AssumeRole`, with the checks STS makes of its parameters and of the role's trust
//! rule, `AssumeRoleWithWebIdentity`, with the token's, and `GetCallerIdentity`.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

use crate::auth::Principal;
use crate::reply::Reply;
use crate::sts::{fmt_time, random_id, random_secret, Registry, WebIdentity};
use crate::{xml, LocalRole};

const ROLE_CHAINING_LIMIT: Duration = Duration::from_secs(3600);
const DEFAULT_DURATION: Duration = Duration::from_secs(3600);

/// The parameters of a request: its query string's and its form body's, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Registry {
    /// Answers the action; `expiry` replaces the normal expiry of issued credentials.
    pub(crate) fn act(
        &mut self,
        caller: &Principal,
        params: &Params,
        now: SystemTime,
        expiry: Option<SystemTime>,
        request_id: &str,
    ) -> Reply {
        match params.get("Action") {
            Some("AssumeRole") => match self.check_assume_role(caller, params) {
                Ok((role_arn, duration)) => {
                    self.use_mfa_code(params);
                    let expiry =
                        expiry.unwrap_or_else(|| now + self.session_lifetime.unwrap_or(duration));
                    self.issue(&role_arn, params, expiry, None, request_id)
                }
                Err(refusal) => refusal,
            },
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

    /// `AssumeRoleWithWebIdentity`, which STS takes unsigned: the token is the credential. It
    /// must be one [`LocalSts::web_identity_token`](crate::LocalSts::web_identity_token) issued,
    /// and the role must trust its identity provider.
    pub(crate) fn assume_role_with_web_identity(
        &mut self,
        params: &Params,
        now: SystemTime,
        request_id: &str,
    ) -> Reply {
        let checked = (|| {
            let role_arn = required(params, "RoleArn", "roleArn")?;
            let session_name = required(params, "RoleSessionName", "roleSessionName")?;
            check_session_name(session_name)?;
            let token = required(params, "WebIdentityToken", "webIdentityToken")?;
            let duration = duration(params)?;
            let identity = self.web_identities.get(token).cloned().ok_or_else(|| {
                Reply::error(
                    400,
                    "InvalidIdentityToken",
                    "The web identity token that was passed could not be validated by AWS. Get a \
                     new identity token from the identity provider and then retry the request.",
                )
            })?;
            let role = self
                .roles
                .get(role_arn)
                .filter(|role| role.trusted.contains(&identity.provider))
                .filter(|role| role.admits_external_id(None))
                .ok_or_else(|| {
                    Reply::error(
                        403,
                        "AccessDenied",
                        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                    )
                })?;
            if duration > role.max_session_duration {
                return Err(Reply::validation(
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                ));
            }
            Ok((role_arn.to_owned(), duration, identity))
        })();
        match checked {
            Ok((role_arn, duration, identity)) => {
                let expiry = now + self.session_lifetime.unwrap_or(duration);
                self.issue(&role_arn, params, expiry, Some(&identity), request_id)
            }
            Err(refusal) => refusal,
        }
    }

    /// The role and duration of a valid `AssumeRole` request that `caller` may make.
    fn check_assume_role(
        &self,
        caller: &Principal,
        params: &Params,
    ) -> Result<(String, Duration), Reply> {
        let role_arn = required(params, "RoleArn", "roleArn")?;
        let session_name = required(params, "RoleSessionName", "roleSessionName")?;
        check_session_name(session_name)?;
        let duration = duration(params)?;
        let role = self
            .roles
            .get(role_arn)
            .ok_or_else(|| Reply::access_denied(&caller.arn, role_arn))?;
        if !role.trusts(caller) || !role.admits_external_id(params.get("ExternalId")) {
            return Err(Reply::access_denied(&caller.arn, role_arn));
        }
        self.check_mfa(role, caller, params)?;
        check_duration(role, caller, duration)?;
        Ok((role_arn.to_owned(), duration))
    }

    /// The MFA a role requires: its device's serial number and current code. As in STS, a
    /// `TokenCode` of other than 6 digits is a validation error.
    fn check_mfa(
        &self,
        role: &LocalRole,
        caller: &Principal,
        params: &Params,
    ) -> Result<(), Reply> {
        let code = params.get("TokenCode");
        if code.is_some_and(|c| c.len() != 6 || !c.bytes().all(|b| b.is_ascii_digit())) {
            return Err(Reply::validation(
                "1 validation error detected: Value at 'tokenCode' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: [\\d]*",
            ));
        }
        let Some(required) = &role.mfa_serial else {
            return Ok(());
        };
        match (params.get("SerialNumber"), code) {
            (Some(serial), Some(code)) if serial == required => {
                match self
                    .mfa_codes
                    .get(serial)
                    .is_some_and(|current| current == code)
                {
                    true => Ok(()),
                    false => Err(Reply::error(
                        403,
                        "AccessDenied",
                        "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
                    )),
                }
            }
            (Some(_), Some(_)) => Err(Reply::error(
                403,
                "AccessDenied",
                "MultiFactorAuthentication failed, unable to validate MFA code. Please verify \
                 your MFA serial number is valid and associated with this user.",
            )),
            _ => Err(Reply::access_denied(&caller.arn, &role.arn)),
        }
    }

    /// A code is good once: the device of a request that used one shows a new one.
    fn use_mfa_code(&mut self, params: &Params) {
        if let (Some(serial), Some(_)) = (params.get("SerialNumber"), params.get("TokenCode")) {
            if let Some(code) = self.mfa_codes.get_mut(serial) {
                *code = crate::sts::new_mfa_code();
            }
        }
    }

    /// Issues a session of `role_arn`, expiring at `expiry`, to the holder of a web identity
    /// token if `identity` is given.
    fn issue(
        &mut self,
        role_arn: &str,
        params: &Params,
        expiry: SystemTime,
        identity: Option<&WebIdentity>,
        request_id: &str,
    ) -> Reply {
        let session_name = params.get("RoleSessionName").unwrap_or_default();
        let (partition, account) = partition_and_account(role_arn);
        let role_name = role_arn.rsplit('/').next().unwrap_or_default();
        let assumed_role_arn =
            format!("arn:{partition}:sts::{account}:assumed-role/{role_name}/{session_name}");
        let role_id = self.roles.get(role_arn).map_or("", |r| r.role_id.as_str());
        let assumed_role_id = format!("{role_id}:{session_name}");
        let access_key_id = random_id("ASIA", 16);
        let secret_access_key = random_secret(40);
        let session_token = random_secret(356);
        let body = xml::assume_role(
            &xml::AssumedRole {
                assumed_role_arn: &assumed_role_arn,
                assumed_role_id: &assumed_role_id,
                access_key_id: &access_key_id,
                secret_access_key: &secret_access_key,
                session_token: &session_token,
                expiration: &fmt_time(expiry),
                source_identity: params.get("SourceIdentity"),
                packed_policy_size: (params.get("Policy").is_some()
                    || params.get("Tags.member.1.Key").is_some())
                .then_some(6),
                web_identity: identity,
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
        let session = Principal {
            secret_access_key,
            session_token: Some(session_token),
            arn: assumed_role_arn,
            user_id: assumed_role_id,
            account: account.to_owned(),
            session: Some((role_arn.to_owned(), expiry)),
        };
        self.principals.insert(access_key_id, session);
        Reply::ok(body)
    }
}

fn required<'p>(params: &'p Params, name: &str, member: &str) -> Result<&'p str, Reply> {
    params.get(name).ok_or_else(|| {
        Reply::validation(&format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn check_session_name(name: &str) -> Result<(), Reply> {
    let valid = (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    match valid {
        true => Ok(()),
        false => Err(Reply::validation(&format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        ))),
    }
}

/// `DurationSeconds`, 900 to 43,200; one hour if absent.
fn duration(params: &Params) -> Result<Duration, Reply> {
    match params.get("DurationSeconds").map(str::parse::<u64>) {
        None => Ok(DEFAULT_DURATION),
        Some(Ok(secs)) if (900..=43_200).contains(&secs) => Ok(Duration::from_secs(secs)),
        Some(_) => Err(Reply::validation(
            "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: \
             Member must have value between 900 and 43200",
        )),
    }
}

/// The 1-hour limit for role sessions assuming roles, and the role's `MaxSessionDuration`.
fn check_duration(role: &LocalRole, caller: &Principal, duration: Duration) -> Result<(), Reply> {
    if caller.session.is_some() && duration > ROLE_CHAINING_LIMIT {
        return Err(Reply::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    if duration > role.max_session_duration {
        return Err(Reply::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    Ok(())
}

fn partition_and_account(role_arn: &str) -> (&str, &str) {
    let mut parts = role_arn.split(':');
    (
        parts.nth(1).unwrap_or("aws"),
        parts.nth(2).unwrap_or_default(),
    )
}

impl LocalRole {
    /// Whether the trust rule admits `caller`: no rule admits everyone; otherwise the caller's own
    /// ARN, its role's ARN (for a role session) or its account root must be listed.
    pub(crate) fn trusts(&self, caller: &Principal) -> bool {
        let root = format!("arn:aws:iam::{}:root", caller.account);
        self.trusted.is_empty()
            || self.trusted.iter().any(|p| {
                *p == caller.arn
                    || *p == root
                    || caller.session.as_ref().is_some_and(|(role, _)| p == role)
            })
    }

    /// Whether `given` satisfies the role's ExternalId condition, if it has one.
    pub(crate) fn admits_external_id(&self, given: Option<&str>) -> bool {
        self.external_id
            .as_deref()
            .is_none_or(|required| given == Some(required))
    }
}
