//! STS's response bodies, written with the SDK's own XML writer.

use aws_smithy_xml::encode::{ScopeWriter, XmlWriter};

use crate::sts::WebIdentity;

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The result of a successful `AssumeRole`.
pub(crate) struct AssumedRole<'a> {
    pub(crate) assumed_role_arn: &'a str,
    pub(crate) assumed_role_id: &'a str,
    pub(crate) access_key_id: &'a str,
    pub(crate) secret_access_key: &'a str,
    pub(crate) session_token: &'a str,
    pub(crate) expiration: &'a str,
    pub(crate) source_identity: Option<&'a str>,
    pub(crate) packed_policy_size: Option<u32>,
    /// For `AssumeRoleWithWebIdentity`: the token's subject and identity provider.
    pub(crate) web_identity: Option<&'a WebIdentity>,
}

/// The answer to `AssumeRole`, or to `AssumeRoleWithWebIdentity` for a web identity.
pub(crate) fn assume_role(result: &AssumedRole<'_>, request_id: &str) -> String {
    let action = match result.web_identity {
        Some(_) => "AssumeRoleWithWebIdentity",
        None => "AssumeRole",
    };
    response(action, request_id, |out| {
        if let Some(identity) = result.web_identity {
            element(out, "SubjectFromWebIdentityToken", &identity.subject);
            element(out, "Provider", &identity.provider);
        }
        if let Some(id) = result.source_identity {
            element(out, "SourceIdentity", id);
        }
        let mut user = out.start_el("AssumedRoleUser").finish();
        element(&mut user, "Arn", result.assumed_role_arn);
        element(&mut user, "AssumedRoleId", result.assumed_role_id);
        user.finish();
        let mut creds = out.start_el("Credentials").finish();
        element(&mut creds, "AccessKeyId", result.access_key_id);
        element(&mut creds, "SecretAccessKey", result.secret_access_key);
        element(&mut creds, "SessionToken", result.session_token);
        element(&mut creds, "Expiration", result.expiration);
        creds.finish();
        if let Some(size) = result.packed_policy_size {
            element(out, "PackedPolicySize", &size.to_string());
        }
    })
}

pub(crate) fn get_caller_identity(
    arn: &str,
    user_id: &str,
    account: &str,
    request_id: &str,
) -> String {
    response("GetCallerIdentity", request_id, |out| {
        element(out, "Arn", arn);
        element(out, "UserId", user_id);
        element(out, "Account", account);
    })
}

/// An `ErrorResponse`; `Type` is `Sender` for a 4xx status and `Receiver` for a 5xx.
pub(crate) fn error(status: u16, code: &str, message: &str, request_id: &str) -> String {
    let mut doc = String::new();
    let mut writer = XmlWriter::new(&mut doc);
    let mut root = writer
        .start_el("ErrorResponse")
        .write_ns(NAMESPACE, None)
        .finish();
    let mut error = root.start_el("Error").finish();
    element(
        &mut error,
        "Type",
        if status >= 500 { "Receiver" } else { "Sender" },
    );
    element(&mut error, "Code", code);
    element(&mut error, "Message", message);
    error.finish();
    element(&mut root, "RequestId", request_id);
    root.finish();
    doc
}

fn response(
    action: &str,
    request_id: &str,
    result: impl FnOnce(&mut ScopeWriter<'_, '_>),
) -> String {
    let (response_tag, result_tag) = (format!("{action}Response"), format!("{action}Result"));
    let mut doc = String::new();
    let mut writer = XmlWriter::new(&mut doc);
    let mut root = writer
        .start_el(&response_tag)
        .write_ns(NAMESPACE, None)
        .finish();
    let mut inner = root.start_el(&result_tag).finish();
    result(&mut inner);
    inner.finish();
    let mut metadata = root.start_el("ResponseMetadata").finish();
    element(&mut metadata, "RequestId", request_id);
    metadata.finish();
    root.finish();
    doc
}

fn element(parent: &mut ScopeWriter<'_, '_>, tag: &str, text: &str) {
    parent.start_el(tag).finish().data(text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_response_has_sts_shape_and_escapes_text() {
        let body = error(403, "AccessDenied", "User: a<b> is not authorized", "req-1");
        assert_eq!(
            body,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>AccessDenied</Code><Message>User: a&lt;b&gt; is not authorized</Message>\
             </Error><RequestId>req-1</RequestId></ErrorResponse>"
        );
        assert!(error(503, "ServiceUnavailable", "m", "r").contains("<Type>Receiver</Type>"));
    }

    #[test]
    fn get_caller_identity_response_nests_result_and_metadata() {
        let body = get_caller_identity("arn:aws:iam::1:user/u", "AIDA1", "1", "r");
        assert_eq!(
            body,
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Arn>arn:aws:iam::1:user/u</Arn><UserId>AIDA1</UserId>\
             <Account>1</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId>\
             </ResponseMetadata></GetCallerIdentityResponse>"
        );
    }
}
