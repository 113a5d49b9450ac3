//! Who signed a request: [`Principal`]s and the checks STS makes before any action.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::reply::Reply;
use crate::sigv4::{parse_amz_date, signature_matches, Authorization, SignedRequest};
use crate::sts::{fmt_time, StsRequest};

/// How far a request's signing time may be from the server's clock.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Someone who can sign requests: an IAM user with long-term keys, or a role session.
#[derive(Clone)]
pub(crate) struct Principal {
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
    pub(crate) arn: String,
    pub(crate) user_id: String,
    pub(crate) account: String,
    /// For a role session: the role and when the session ends.
    pub(crate) session: Option<(String, SystemTime)>,
}

/// Checks the request's signature and credentials as STS does: a well-formed `Authorization`
/// header, a known access key with its session token, the `sts` scope, a signing time within 15
/// minutes, the signature recomputed with the principal's secret key, a session not expired.
pub(crate) fn authenticate(
    principals: &HashMap<String, Principal>,
    request: &StsRequest<'_>,
    now: SystemTime,
) -> Result<Principal, Reply> {
    let auth = authorization(request)?;
    let principal = principals
        .get(auth.access_key_id)
        .ok_or_else(Reply::invalid_token)?;
    if request.header("x-amz-security-token") != principal.session_token.as_deref() {
        return Err(Reply::invalid_token());
    }
    check_scope(&auth)?;
    let signed_at = signing_time(request, now)?;
    check_signature(request, &auth, principal, signed_at)?;
    check_session(principal, now)?;
    Ok(principal.clone())
}

fn authorization<'r>(request: &StsRequest<'r>) -> Result<Authorization<'r>, Reply> {
    let header = request.header("authorization").ok_or_else(|| {
        Reply::error(
            403,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
    })?;
    Authorization::parse(header).ok_or_else(|| {
        Reply::error(
            400,
            "IncompleteSignature",
            "Authorization header is not a valid AWS4-HMAC-SHA256 header",
        )
    })
}

fn check_scope(auth: &Authorization<'_>) -> Result<(), Reply> {
    if auth.service == "sts" {
        return Ok(());
    }
    Err(Reply::error(
        403,
        "SignatureDoesNotMatch",
        &format!(
            "Credential should be scoped to correct service: 'sts', not '{}'.",
            auth.service
        ),
    ))
}

/// The `X-Amz-Date` of the request, if it is within 15 minutes of `now`.
fn signing_time(request: &StsRequest<'_>, now: SystemTime) -> Result<SystemTime, Reply> {
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
        .unwrap_or_else(|early| early.duration());
    if skew <= MAX_SKEW {
        return Ok(signed_at);
    }
    Err(Reply::error(
        403,
        "SignatureDoesNotMatch",
        &format!(
            "Signature expired: {} is more than 15 minutes away from the server's time {}.",
            fmt_time(signed_at),
            fmt_time(now)
        ),
    ))
}

fn check_signature(
    request: &StsRequest<'_>,
    auth: &Authorization<'_>,
    principal: &Principal,
    signed_at: SystemTime,
) -> Result<(), Reply> {
    let mut headers = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let value = request.header(name).ok_or_else(Reply::signature_mismatch)?;
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
    let secret = &principal.secret_access_key;
    match signature_matches(auth, signed, secret, principal.session_token.as_deref()) {
        true => Ok(()),
        false => Err(Reply::signature_mismatch()),
    }
}

fn check_session(principal: &Principal, now: SystemTime) -> Result<(), Reply> {
    match &principal.session {
        Some((_, expiry)) if now >= *expiry => Err(Reply::error(
            400,
            "ExpiredToken",
            "The security token included in the request is expired",
        )),
        _ => Ok(()),
    }
}
