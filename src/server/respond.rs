//! One request of the container-credentials protocol and its answer: the checks a credential
//! server owes its host (the `Host`, the token, the method and path, no body), then the
//! provider's cached credentials as the JSON every AWS SDK reads.

use std::net::IpAddr;

use aws_credential_types::Credentials;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use tracing::debug;

use super::token::Token;
use crate::{Error, RoleChainProvider};

/// What a request must match besides the token.
pub(crate) struct Rules {
    pub(crate) path: String,
    /// An address other than loopback that the server was allowed to bind, which a `Host`
    /// header may then name.
    pub(crate) bound_ip: Option<IpAddr>,
}

/// The answer to `request`. Nothing but the refusal leaves before the token is checked.
pub(crate) async fn respond<B>(
    request: Request<B>,
    provider: &RoleChainProvider,
    token: &Token,
    rules: &Rules,
) -> Response<Full<Bytes>> {
    let refusal = check(&request, token, rules);
    let response = match refusal {
        Some((status, message)) => error(status, status.canonical_reason().unwrap_or(""), message),
        None => match provider.credentials().await {
            Ok(credentials) => success(&credentials),
            Err(err) => failure(&err),
        },
    };
    debug!(
        method = %request.method(),
        path = request.uri().path(),
        status = response.status().as_u16(),
        "credentials request"
    );
    response
}

/// Why `request` is refused, if it is.
fn check<B>(
    request: &Request<B>,
    token: &Token,
    rules: &Rules,
) -> Option<(StatusCode, &'static str)> {
    let headers = request.headers();
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(|host| is_local_host(host, rules.bound_ip)) {
        return Some((
            StatusCode::FORBIDDEN,
            "the Host header must name this machine's loopback address or localhost",
        ));
    }
    match headers.get(AUTHORIZATION) {
        None => {
            return Some((
                StatusCode::UNAUTHORIZED,
                "an Authorization header is required",
            ))
        }
        Some(presented) if !token.admits(presented.as_bytes()) => {
            return Some((
                StatusCode::FORBIDDEN,
                "the Authorization token is not this server's",
            ))
        }
        Some(_) => {}
    }
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

/// Whether a `Host` header names a loopback address, `localhost`, or `bound_ip`, with any port.
fn is_local_host(host: &str, bound_ip: Option<IpAddr>) -> bool {
    let name = match host.strip_prefix('[') {
        // [::1]:port
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || Some(ip) == bound_ip)
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

/// The provider's error: 503 when a later request may succeed, else 500. SDKs retry both.
fn failure(err: &Error) -> Response<Full<Bytes>> {
    let status = match err.is_retryable() {
        true => StatusCode::SERVICE_UNAVAILABLE,
        false => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, &format!("{:?}", err.kind()), &err.to_string())
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
        localhost_in_any_case_is_local: ("LocalHost:80", None, true);
        a_name_is_not_local: ("attacker.example:8080", None, false);
        a_name_ending_in_localhost_is_not_local: ("evil.localhost.example", None, false);
        another_address_is_not_local: ("10.0.0.5:8080", None, false);
        the_allowed_bound_address_is_local: ("10.0.0.5:8080", Some("10.0.0.5"), true);
        an_empty_host_is_not_local: ("", None, false);
    }
}
