//! Checking a request's SigV4 signature the way STS does: recompute it with the caller's secret
//! key (using the SDK's own signer) and compare.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::date_time::{DateTime, Format};

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug)]
pub(crate) struct Authorization<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    pub(crate) signed_headers: Vec<&'a str>,
    pub(crate) signature: &'a str,
}

impl<'a> Authorization<'a> {
    pub(crate) fn parse(header: &'a str) -> Option<Self> {
        let rest = header.strip_prefix("AWS4-HMAC-SHA256 ")?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (key, value) = part.trim().split_once('=')?;
            match key {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed_headers = Some(value),
                "Signature" => signature = Some(value),
                _ => return None,
            }
        }
        let mut scope = credential?.split('/');
        let (access_key_id, _date, region, service, terminator) = (
            scope.next()?,
            scope.next()?,
            scope.next()?,
            scope.next()?,
            scope.next()?,
        );
        if terminator != "aws4_request" || scope.next().is_some() {
            return None;
        }
        Some(Authorization {
            access_key_id,
            region,
            service,
            signed_headers: signed_headers?.split(';').collect(),
            signature: signature?,
        })
    }
}

/// What the signature of a request is recomputed from.
pub(crate) struct SignedRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    /// The headers the client listed in `SignedHeaders`, with their values.
    pub(crate) headers: Vec<(&'a str, &'a str)>,
    pub(crate) body: &'a [u8],
    pub(crate) time: SystemTime,
}

/// Whether `auth.signature` is the signature of `request` made with `secret_access_key`.
pub(crate) fn signature_matches(
    auth: &Authorization<'_>,
    request: SignedRequest<'_>,
    secret_access_key: &str,
    session_token: Option<&str>,
) -> bool {
    let identity: Identity = Credentials::new(
        auth.access_key_id,
        secret_access_key,
        session_token.map(str::to_owned),
        None,
        "LocalSts",
    )
    .into();
    let Ok(params) = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(request.time)
        .settings(SigningSettings::default())
        .build()
    else {
        return false;
    };
    let Ok(signable) = SignableRequest::new(
        request.method,
        request.uri,
        request.headers.into_iter(),
        SignableBody::Bytes(request.body),
    ) else {
        return false;
    };
    sign(signable, &params.into()).is_ok_and(|output| output.signature() == auth.signature)
}

/// Parses an `X-Amz-Date` value, `YYYYMMDD'T'HHMMSS'Z'`.
pub(crate) fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let digits = |range: std::ops::Range<usize>| {
        value
            .get(range)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
    };
    if value.len() != 16
        || !value.is_char_boundary(8)
        || &value[8..9] != "T"
        || !value.ends_with('Z')
    {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        digits(0..4)?,
        digits(4..6)?,
        digits(6..8)?,
        digits(9..11)?,
        digits(11..13)?,
        digits(13..15)?
    );
    let time = DateTime::from_str(&rfc3339, Format::DateTime).ok()?;
    SystemTime::try_from(time).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn authorization_header_parts_are_read() {
        let auth = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/sts/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature=abc123",
        )
        .unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        assert_eq!(auth.region, "us-east-1");
        assert_eq!(auth.service, "sts");
        assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert_eq!(auth.signature, "abc123");
        assert!(Authorization::parse("Bearer token").is_none());
        assert!(Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1/sts, Signature=x"
        )
        .is_none());
    }

    #[test]
    fn amz_dates_are_parsed_to_the_second() {
        let t = parse_amz_date("20261128T033515Z").unwrap();
        assert_eq!(
            aws_smithy_types::DateTime::from(t).to_string(),
            "2026-11-28T03:35:15Z"
        );
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(UNIX_EPOCH));
        let leap = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(
            aws_smithy_types::DateTime::from(leap).to_string(),
            "2024-02-29T23:59:59Z"
        );
        for bad in [
            "",
            "20261128033515Z",
            "20261328T000000Z",
            "2026112xT000000Z",
            "20261128T000000",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
