//! One request of the container-credentials protocol and its answer: the checks a credential
//! server owes its host (the `Host`, the token, the method and path, no body), then the
//! provider's cached credentials as the JSON every AWS SDK reads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};

use aws_credential_types::Credentials;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use bytes::Bytes;
use http::header::{
    HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use tracing::warn;

use super::token::Token;
use crate::error::Error;
use crate::provider::RoleChainProvider;

/// What a request must match besides the token.
#[derive(Clone)]
pub(crate) struct Rules {
    pub(crate) path: String,
    /// Answered without the token: the state of the credentials only.
    pub(crate) health_path: String,
    /// Whether the listener serves the health path only (and to any `Host`): one for probes
    /// from outside the host, which never sees a credentials request.
    pub(crate) health_only: bool,
    /// An address other than loopback that the server was allowed to bind, which a `Host`
    /// header may then name.
    pub(crate) bound_ip: Option<IpAddr>,
}

/// A response, and whether the caller showed the token.
pub(crate) struct Answer {
    pub(crate) response: Response<Full<Bytes>>,
    pub(crate) admitted: bool,
}

/// The answer to `request`. Nothing but the refusal leaves before the token is checked, and a
/// refusal closes the connection. `shown` is set as soon as the caller has shown the token,
/// before the credentials are awaited: a connection waiting for a refresh has the token.
pub(crate) async fn respond<B>(
    request: &Request<B>,
    provider: &RoleChainProvider,
    token: &Token,
    rules: &Rules,
    shown: &AtomicBool,
) -> Answer {
    let probe = request.uri().path() == rules.health_path
        && matches!(*request.method(), Method::GET | Method::HEAD);
    if probe && (rules.health_only || check_host(request, rules).is_none()) {
        return Answer {
            response: health(provider),
            admitted: true,
        };
    }
    if rules.health_only {
        let refusal = (StatusCode::NOT_FOUND, "only the health path is served here");
        return Answer {
            response: refuse(refusal),
            admitted: false,
        };
    }
    let caller = check_caller(request, token, rules);
    if caller.is_none() {
        shown.store(true, Ordering::Release);
    }
    let (response, admitted) = if let Some(refusal) = caller {
        (refuse(refusal), false)
    } else if let Some(refusal) = check_request(request, rules) {
        (refuse(refusal), true)
    } else {
        let response = match provider.credentials().await {
            Ok(credentials) => success(&credentials),
            Err(err) => failure(&err),
        };
        (response, true)
    };
    Answer { response, admitted }
}

type Refusal = (StatusCode, &'static str);

/// Why the caller is refused, if it is: a `Host` of this machine's and the token.
fn check_caller<B>(request: &Request<B>, token: &Token, rules: &Rules) -> Option<Refusal> {
    if let Some(refusal) = check_host(request, rules) {
        return Some(refusal);
    }
    match request.headers().get(AUTHORIZATION) {
        None => Some((
            StatusCode::UNAUTHORIZED,
            "an Authorization header is required",
        )),
        Some(presented) if !token.admits(presented.as_bytes()) => Some((
            StatusCode::FORBIDDEN,
            "the Authorization token is not this server's",
        )),
        Some(_) => None,
    }
}

/// Why a request is refused for its `Host`, if it is: it must name this machine.
fn check_host<B>(request: &Request<B>, rules: &Rules) -> Option<Refusal> {
    let host = request.headers().get(HOST).and_then(|h| h.to_str().ok());
    (!host.is_some_and(|host| is_local_host(host, rules.bound_ip))).then_some((
        StatusCode::FORBIDDEN,
        "the Host header must name this machine's loopback address or localhost",
    ))
}

/// Why a caller with the token is refused, if it is: a `GET` of the path, without a body.
fn check_request<B>(request: &Request<B>, rules: &Rules) -> Option<Refusal> {
    let headers = request.headers();
    if request.method() != Method::GET {
        return Some((StatusCode::METHOD_NOT_ALLOWED, "only GET is served"));
    }
    if request.uri().path() != rules.path {
        return Some((StatusCode::NOT_FOUND, "no credentials at this path"));
    }
    let has_body = headers
        .get(CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() != b"0")
        || headers.contains_key(http::header::TRANSFER_ENCODING);
    if has_body {
        return Some((
            StatusCode::PAYLOAD_TOO_LARGE,
            "a credentials request has no body",
        ));
    }
    None
}

/// Whether a `Host` header names a loopback address, `localhost`, or `bound_ip`, with an
/// optional port: `127.0.0.1:8080`, `[::1]:8080`, `localhost`. Anything else, such as
/// `[::1]evil.example`, is not.
fn is_local_host(host: &str, bound_ip: Option<IpAddr>) -> bool {
    let Some((name, bracketed)) = host_name(host) else {
        return false;
    };
    let ip = match bracketed {
        true => name.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        false if name.eq_ignore_ascii_case("localhost") => return true,
        false => name.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    };
    ip.is_some_and(|ip| ip.is_loopback() || Some(ip) == bound_ip)
}

/// The name of a `Host` header, and whether it was in brackets, if the rest is a port or
/// nothing.
fn host_name(host: &str) -> Option<(&str, bool)> {
    let (name, port, bracketed) = match host.strip_prefix('[') {
        Some(rest) => {
            let (name, after) = rest.split_once(']')?;
            match after {
                "" => (name, None, true),
                _ => (name, Some(after.strip_prefix(':')?), true),
            }
        }
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port), false),
            None => (host, None, false),
        },
    };
    let port_ok = port.is_none_or(|port| {
        port.bytes().all(|byte| byte.is_ascii_digit()) && port.parse::<u16>().is_ok()
    });
    port_ok.then_some((name, bracketed))
}

/// The credentials as the container-credentials protocol has them.
fn success(credentials: &Credentials) -> Response<Full<Bytes>> {
    let mut body = serde_json::json!({
        "AccessKeyId": credentials.access_key_id(),
        "SecretAccessKey": credentials.secret_access_key(),
        "Token": credentials.session_token().unwrap_or_default(),
        "Expiration": credentials
            .expiry()
            .and_then(|expiry| DateTime::from(expiry).fmt(Format::DateTime).ok())
            .unwrap_or_default(),
    });
    if let Some(account) = credentials.account_id() {
        body["AccountId"] = account.as_str().into();
    }
    json(StatusCode::OK, &body)
}

/// The health answer: `200` with the seconds left while the provider holds valid credentials,
/// else `503`; nothing else (no ARN, account or error), since it needs no token.
fn health(provider: &RoleChainProvider) -> Response<Full<Bytes>> {
    match provider.time_to_expiry() {
        Some(left) if !left.is_zero() => json(
            StatusCode::OK,
            &serde_json::json!({ "state": "valid", "expires_in": left.as_secs() }),
        ),
        Some(_) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "state": "expired" }),
        ),
        None => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "state": "none" }),
        ),
    }
}

/// The provider's error: 503 when a later request may succeed, else 500. SDKs retry both. The
/// body names the kind and the hop only: STS's message, or a credential process's output, is
/// for the server's log, not for every holder of the token.
fn failure(err: &Error) -> Response<Full<Bytes>> {
    warn!(error = %err, "the credentials server answers a request with the chain's error");
    let status = match err.is_retryable() {
        true => StatusCode::SERVICE_UNAVAILABLE,
        false => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let at = err
        .hop()
        .map(|hop| format!(" at hop {hop}"))
        .unwrap_or_default();
    let message = format!(
        "the role chain failed{at}: {}; the credentials server's log has the details",
        err.kind()
    );
    error(status, err.kind().as_str(), &message)
}

/// A refusal, after which the connection closes: a caller without the token gets one answer
/// per connection.
fn refuse((status, message): Refusal) -> Response<Full<Bytes>> {
    let mut response = error(status, status.canonical_reason().unwrap_or(""), message);
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        &serde_json::json!({ "code": code, "message": message }),
    )
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cases;

    fn host((host, bound, local): (&str, Option<&str>, bool)) {
        let bound = bound.map(|ip| ip.parse().unwrap());
        assert_eq!(is_local_host(host, bound), local);
    }

    cases! { host:
        ipv4_loopback_with_a_port_is_local: ("127.0.0.1:8080", None, true);
        any_127_address_is_local: ("127.1.2.3", None, true);
        ipv6_loopback_is_local: ("[::1]:8080", None, true);
        ipv6_loopback_without_a_port_is_local: ("[::1]", None, true);
        localhost_in_any_case_is_local: ("LocalHost:80", None, true);
        a_name_is_not_local: ("attacker.example:8080", None, false);
        a_name_ending_in_localhost_is_not_local: ("evil.localhost.example", None, false);
        localhost_with_a_suffix_is_not_local: ("localhost.evil.example", None, false);
        another_address_is_not_local: ("10.0.0.5:8080", None, false);
        the_allowed_bound_address_is_local: ("10.0.0.5:8080", Some("10.0.0.5"), true);
        an_empty_host_is_not_local: ("", None, false);
        a_name_after_ipv6_brackets_is_not_local: ("[::1]evil.example", None, false);
        a_name_as_the_port_of_ipv6_is_not_local: ("[::1]:evil.example", None, false);
        a_name_as_the_port_is_not_local: ("localhost:evil.example", None, false);
        a_port_past_65535_is_not_local: ("127.0.0.1:65536", None, false);
        an_empty_port_is_not_local: ("127.0.0.1:", None, false);
        a_signed_port_is_not_local: ("127.0.0.1:+80", None, false);
        an_unbracketed_ipv6_address_is_not_local: ("::1", None, false);
        a_loopback_ipv4_in_brackets_is_not_local: ("[127.0.0.1]:80", None, false);
        an_ipv4_mapped_address_is_not_local: ("[::ffff:127.0.0.1]:80", None, false);
        a_user_before_the_host_is_not_local: ("user@127.0.0.1", None, false);
    }
}
