//! The description of one hop of the chain, [`Role`], and the rules STS applies to it.
//!
//! Every rule is checked in [`Role::validate`], which
//! [`build`](crate::RoleChainProviderBuilder::build)
//! runs for each hop, so that a mistake shows up as a [`BuildError`] before the first request
//! instead of as an STS error at run time.

use std::time::Duration;

use crate::error::BuildError;
use crate::limits::{
    CHAINED_MAX_DURATION, EXTERNAL_ID, MAX_ARN, MAX_DURATION, MAX_POLICY_ARNS, MAX_ROLE_PATH,
    MAX_TAGS, MFA_SERIAL, MIN_DURATION, POLICY, ROLE_NAME, SESSION_NAME, TAG_KEY, TAG_VALUE,
};
use crate::redact::Secret;

/// An ExternalId: treated as a secret, so that it never shows in `Debug`, errors or logs.
///
/// AWS calls it an identifier, but whoever learns it can get past the confused-deputy check of
/// the role's trust policy.
pub(crate) type ExternalId = Secret<String>;

/// One role of the chain and the parameters of its `AssumeRole` call.
///
/// Only the ARN is required. Everything set here is checked against STS's limits by
/// [`build`](crate::RoleChainProviderBuilder::build), which refuses a broken setting with a
/// [`BuildError`] naming its `field()` and `hop()`:
///
/// | setter | STS parameter | rule | default |
/// |---|---|---|---|
/// | [`new(arn)`](Role::new) | `RoleArn` | `arn:<partition>:iam::<12 digits>:role/<optional path/>name`, any AWS partition | required |
/// | [`external_id(id)`](Role::external_id) | `ExternalId` | 2–1224 characters of letters, digits, `_+=,.@:/-`; never logged | none |
/// | [`session_name(n)`](Role::session_name) | `RoleSessionName` | 2–64 characters of letters, digits, `_+=,.@-` | `aws-role-chain-<unix millis at build>` |
/// | [`duration(d)`](Role::duration) | `DurationSeconds` | 900–43 200 s on hop 0, 900–3600 s on later hops (role chaining) | STS's, 3600 s |
/// | [`policy(json)`](Role::policy) | `Policy` | 1–2048 characters | none |
/// | [`policy_arns(arns)`](Role::policy_arns) | `PolicyArns` | at most 10 IAM policy ARNs | none |
/// | [`tag(k, v)`](Role::tag) | `Tags` | at most 50; key 1–128, value 0–256 characters; no key twice | none |
/// | [`transitive_tag_keys(keys)`](Role::transitive_tag_keys) | `TransitiveTagKeys` | keys of this role's tags | none |
/// | [`source_identity(id)`](Role::source_identity) | `SourceIdentity` | 2–64 characters of letters, digits, `_+=,.@-`, not starting `aws:` | none |
/// | [`mfa_serial(serial)`](Role::mfa_serial) | `SerialNumber` (with `TokenCode`) | 9–256 characters of letters, digits, `_+=/:,.@-`: an MFA device's ARN or a hardware token's serial number | none |
///
/// ```
/// use std::time::Duration;
/// use aws_role_chain::Role;
///
/// let role = Role::new("arn:aws:iam::111111111111:role/storage-access")
///     .external_id("storage-7f3a9c")
///     .session_name("nightly-export")
///     .duration(Duration::from_secs(3600))
///     .tag("team", "analytics");
/// // The ExternalId is sensitive and never printed.
/// assert!(!format!("{role:?}").contains("storage-7f3a9c"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Role {
    pub(crate) role_arn: String,
    pub(crate) external_id: Option<ExternalId>,
    pub(crate) session_name: Option<String>,
    pub(crate) duration: Option<Duration>,
    pub(crate) policy: Option<String>,
    pub(crate) policy_arns: Vec<String>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) transitive_tag_keys: Vec<String>,
    pub(crate) source_identity: Option<String>,
    pub(crate) mfa_serial: Option<String>,
}

impl Role {
    /// The role to assume: `arn:<partition>:iam::<account id>:role/<optional path/>name`.
    pub fn new(role_arn: impl Into<String>) -> Self {
        Role {
            role_arn: role_arn.into(),
            external_id: None,
            session_name: None,
            duration: None,
            policy: None,
            policy_arns: Vec::new(),
            tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
            mfa_serial: None,
        }
    }

    /// The `ExternalId` the role's trust policy requires (`Condition: StringEquals
    /// sts:ExternalId`). 2 to 1224 characters of letters, digits and `_+=,.@:/-`. Default: none.
    /// It is handled as a secret: never logged, never shown in `Debug` or in errors.
    pub fn external_id(mut self, id: impl Into<String>) -> Self {
        self.external_id = Some(ExternalId::new(id.into()));
        self
    }

    /// The `RoleSessionName`, visible in CloudTrail and in the assumed-role ARN. 2 to 64
    /// characters of letters, digits and `_+=,.@-`. Default: one name per provider,
    /// `aws-role-chain-<unix millis at build>`.
    pub fn session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    /// The `DurationSeconds` of the session: 900 s to 43 200 s (12 h) and no more than the role's
    /// `MaxSessionDuration`; at most 3600 s on every hop after the first, AWS's limit for role
    /// chaining. Default: the STS default, 3600 s. Whole seconds; a fraction is dropped.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// An inline session `Policy` (JSON) that further restricts the role's permissions: 1 to 2048
    /// characters. Default: none.
    pub fn policy(mut self, json: impl Into<String>) -> Self {
        self.policy = Some(json.into());
        self
    }

    /// ARNs of managed policies used as session policies (`PolicyArns`): at most 10. Replaces
    /// any given before. Default: none.
    pub fn policy_arns(mut self, arns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.policy_arns = arns.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a session tag (`Tags`): key 1 to 128 characters, value 0 to 256, at most 50 tags, no
    /// key twice (keys are compared without regard to case). Letters, digits, white space and
    /// `_.:/=+-@`.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Keys of this role's session tags that pass on to the next hops of the chain
    /// (`TransitiveTagKeys`). Each must be the key of a tag set with [`Role::tag`]. Replaces any
    /// given before. Default: none.
    pub fn transitive_tag_keys(
        mut self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.transitive_tag_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The `SourceIdentity` recorded in CloudTrail for this session and every session chained
    /// from it: 2 to 64 characters of letters, digits and `_+=,.@-`, not starting with `aws:`.
    /// Default: none.
    pub fn source_identity(mut self, id: impl Into<String>) -> Self {
        self.source_identity = Some(id.into());
        self
    }

    /// The MFA device whose code this hop's `AssumeRole` carries (`SerialNumber`), for a role
    /// whose trust policy requires `aws:MultiFactorAuthPresent`: the device's ARN
    /// (`arn:aws:iam::<account>:mfa/<name>`) or a hardware token's serial number, 9 to 256
    /// characters of letters, digits and `_+=/:,.@-`. The code (`TokenCode`) comes from
    /// [`mfa_token_provider`](crate::RoleChainProviderBuilder::mfa_token_provider), asked each time this
    /// hop is fetched, and only then. Default: none.
    pub fn mfa_serial(mut self, serial: impl Into<String>) -> Self {
        self.mfa_serial = Some(serial.into());
        self
    }

    /// The role's ARN.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// The role's name: the ARN's last path segment, without its account or path.
    pub(crate) fn name(&self) -> &str {
        self.role_arn.rsplit('/').next().unwrap_or(&self.role_arn)
    }

    /// Checks every setting of the role at position `hop` against STS's rules.
    pub(crate) fn validate(&self, hop: usize) -> Result<(), BuildError> {
        self.check_role_arn()
            .and_then(|()| self.check_external_id())
            .and_then(|()| self.check_session_name())
            .and_then(|()| self.check_duration(hop))
            .and_then(|()| self.check_policy())
            .and_then(|()| self.check_policy_arns())
            .and_then(|()| self.check_tags())
            .and_then(|()| self.check_transitive_tag_keys())
            .and_then(|()| self.check_source_identity())
            .and_then(|()| self.check_mfa_serial())
            .map_err(|(field, message)| BuildError::new(Some(hop), field, message))
    }

    fn check_role_arn(&self) -> Rule {
        check_role_arn(&self.role_arn)
            .map_err(|rule| ("role_arn", format!("{rule}; got {:?}", self.role_arn)))
    }

    fn check_external_id(&self) -> Rule {
        let Some(id) = &self.external_id else {
            return Ok(());
        };
        let id = id.expose();
        EXTERNAL_ID.check(id, is_external_id_char).map_err(|rule| {
            let message = format!(
                "must be {EXTERNAL_ID} characters of letters, digits and _+=,.@:/-; {rule} \
                 (value redacted, {} characters)",
                id.chars().count()
            );
            ("external_id", message)
        })
    }

    fn check_session_name(&self) -> Rule {
        let Some(name) = &self.session_name else {
            return Ok(());
        };
        SESSION_NAME.check(name, is_name_char).map_err(|rule| {
            let message = format!(
                "must be {SESSION_NAME} characters of letters, digits and _+=,.@-; {rule}; got \
                 {name:?}"
            );
            ("session_name", message)
        })
    }

    /// 900 s to 12 h on hop 0; at most 1 h on later hops, which are role chaining.
    fn check_duration(&self, hop: usize) -> Rule {
        let Some(duration) = self.duration else {
            return Ok(());
        };
        let (max, why) = match hop {
            0 => (MAX_DURATION, ""),
            _ => (
                CHAINED_MAX_DURATION,
                " (AWS limits role chaining, a session assumed with role credentials, to 1 hour)",
            ),
        };
        if (MIN_DURATION..=max).contains(&duration) {
            return Ok(());
        }
        let message = format!(
            "must be between {} s and {} s{why}; got {} s",
            MIN_DURATION.as_secs(),
            max.as_secs(),
            duration.as_secs()
        );
        Err(("duration", message))
    }

    fn check_policy(&self) -> Rule {
        let Some(policy) = &self.policy else {
            return Ok(());
        };
        POLICY.check(policy, is_policy_char).map_err(|rule| {
            let message = format!("must be {POLICY} characters of printable text; {rule}");
            ("policy", message)
        })
    }

    fn check_policy_arns(&self) -> Rule {
        let count = self.policy_arns.len();
        if count > MAX_POLICY_ARNS {
            let message = format!("at most {MAX_POLICY_ARNS} policy ARNs; got {count}");
            return Err(("policy_arns", message));
        }
        self.policy_arns.iter().try_for_each(|arn| {
            check_policy_arn(arn).map_err(|rule| ("policy_arns", format!("{rule}; got {arn:?}")))
        })
    }

    fn check_tags(&self) -> Rule {
        let fail = |message: String| Err(("tags", message));
        if self.tags.len() > MAX_TAGS {
            return fail(format!("at most {MAX_TAGS} tags; got {}", self.tags.len()));
        }
        for (i, (key, value)) in self.tags.iter().enumerate() {
            if let Err(rule) = TAG_KEY.check(key, is_tag_char) {
                return fail(format!("a tag key must be {TAG_KEY} characters of letters, digits, spaces and _.:/=+-@; {rule}; got {key:?}"));
            }
            if let Err(rule) = TAG_VALUE.check(value, is_tag_char) {
                return fail(format!("the value of tag {key:?} must be {TAG_VALUE} characters of letters, digits, spaces and _.:/=+-@; {rule}"));
            }
            if self
                .tags
                .iter()
                .take(i)
                .any(|(k, _)| k.eq_ignore_ascii_case(key))
            {
                return fail(format!(
                    "tag key {key:?} is given twice (keys are compared without regard to case)"
                ));
            }
        }
        Ok(())
    }

    fn check_transitive_tag_keys(&self) -> Rule {
        let fail = |message: String| Err(("transitive_tag_keys", message));
        let keys = &self.transitive_tag_keys;
        if keys.len() > MAX_TAGS {
            return fail(format!("at most {MAX_TAGS} keys; got {}", keys.len()));
        }
        match keys
            .iter()
            .find(|key| !self.tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)))
        {
            Some(key) => fail(format!(
                "{key:?} is not the key of a session tag of this role; add it with Role::tag"
            )),
            None => Ok(()),
        }
    }

    fn check_source_identity(&self) -> Rule {
        let Some(id) = &self.source_identity else {
            return Ok(());
        };
        let fail = |message: String| Err(("source_identity", message));
        if id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return fail(format!(
                "must not start with \"aws:\", a prefix AWS reserves; got {id:?}"
            ));
        }
        match SESSION_NAME.check(id, is_name_char) {
            Ok(()) => Ok(()),
            Err(rule) => fail(format!(
                "must be {SESSION_NAME} characters of letters, digits and _+=,.@-; {rule}; got \
                 {id:?}"
            )),
        }
    }

    fn check_mfa_serial(&self) -> Rule {
        let Some(serial) = &self.mfa_serial else {
            return Ok(());
        };
        MFA_SERIAL
            .check(serial, |c| {
                c.is_ascii_alphanumeric() || "_+=/:,.@-".contains(c)
            })
            .map_err(|rule| {
                let message = format!(
                    "must be {MFA_SERIAL} characters of letters, digits and _+=/:,.@- (an MFA \
                     device's ARN or serial number); {rule}; got {serial:?}"
                );
                ("mfa_serial", message)
            })
    }
}

/// The outcome of one rule: the field at fault and the message, on failure.
type Rule = Result<(), (&'static str, String)>;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

fn is_external_id_char(c: char) -> bool {
    is_name_char(c) || c == ':' || c == '/'
}

fn is_policy_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}')
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// `arn:<partition>:iam::<12 digits>:role/<optional path/>name`
fn check_role_arn(arn: &str) -> Result<(), &'static str> {
    const RULE: &str =
        "must be arn:<partition>:iam::<12-digit account id>:role/<optional path/>name";
    let resource = iam_resource(arn, is_account_id).ok_or(RULE)?;
    let path_and_name = resource.strip_prefix("role/").ok_or(RULE)?;
    // The path keeps its final slash: `/team/` of `role/team/storage`.
    let (path, name) = match path_and_name.rfind('/') {
        Some(i) => path_and_name
            .split_at_checked(i + 1)
            .unwrap_or(("", path_and_name)),
        None => ("", path_and_name),
    };
    let path_ok =
        path.len() <= MAX_ROLE_PATH && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    let name_ok = ROLE_NAME.check(name, is_name_char).is_ok();
    if !path_ok || !name_ok || arn.len() > MAX_ARN {
        return Err(RULE);
    }
    Ok(())
}

/// `arn:<partition>:iam::<12 digits or "aws">:policy/<optional path/>name`
fn check_policy_arn(arn: &str) -> Result<(), &'static str> {
    const RULE: &str =
        "a policy ARN must be arn:<partition>:iam::<account id or aws>:policy/<optional path/>name";
    let resource =
        iam_resource(arn, |account| account == "aws" || is_account_id(account)).ok_or(RULE)?;
    let name = resource.strip_prefix("policy/").ok_or(RULE)?;
    if name.is_empty() || name.ends_with('/') || arn.len() > MAX_ARN {
        return Err(RULE);
    }
    Ok(())
}

/// The resource part of an IAM ARN whose partition is well formed and whose account passes
/// `account_ok`.
fn iam_resource(arn: &str, account_ok: impl Fn(&str) -> bool) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (scheme, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let partition_ok = partition == "aws"
        || partition.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty()
                && !rest.ends_with('-')
                && rest.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        });
    (scheme == "arn"
        && partition_ok
        && service == "iam"
        && region.is_empty()
        && account_ok(account))
    .then_some(resource)
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cases;

    const ARN: &str = "arn:aws:iam::111111111111:role/storage";

    fn mfa_serial((serial, accepted): (&str, bool)) {
        let checked = Role::new(ARN).mfa_serial(serial).check_mfa_serial();
        match accepted {
            true => assert_eq!(checked, Ok(())),
            false => assert_eq!(checked.unwrap_err().0, "mfa_serial"),
        }
    }

    cases! { mfa_serial:
        an_mfa_device_arn_is_accepted: ("arn:aws:iam::222222222222:mfa/alice", true);
        a_hardware_serial_of_9_characters_is_accepted: ("GAHT12345", true);
        every_allowed_character_is_accepted: ("aZ9_+=/:,.@-", true);
        a_serial_of_256_characters_is_accepted: (&"s".repeat(256), true);
        a_serial_of_8_characters_is_refused: ("GAHT1234", false);
        a_serial_of_257_characters_is_refused: (&"s".repeat(257), false);
        a_serial_with_a_space_is_refused: ("arn:aws:iam::2:mfa/a b", false);
        a_serial_with_a_non_ascii_letter_is_refused: ("arn:aws:iam::2:mfa/é", false);
    }

    #[test]
    fn a_role_tells_its_arn() {
        assert_eq!(Role::new(ARN).external_id("ext-1").role_arn(), ARN);
    }

    /// The name a chain's metrics carry unless one is set.
    #[test]
    fn a_role_tells_its_name_without_its_account_or_path() {
        assert_eq!(Role::new(ARN).name(), "storage");
        assert_eq!(
            Role::new("arn:aws:iam::111111111111:role/teams/data/reader").name(),
            "reader"
        );
    }

    fn accepted(arn: &str) {
        assert_eq!(check_role_arn(arn), Ok(()));
    }

    cases! { accepted:
        a_role_arn_of_the_aws_partition_is_accepted: ARN;
        a_role_arn_of_aws_cn_is_accepted: "arn:aws-cn:iam::111111111111:role/a";
        a_role_arn_of_aws_us_gov_is_accepted: "arn:aws-us-gov:iam::111111111111:role/a";
        a_role_arn_of_aws_iso_is_accepted: "arn:aws-iso:iam::111111111111:role/a";
        a_role_arn_of_aws_iso_b_is_accepted: "arn:aws-iso-b:iam::111111111111:role/a";
        a_role_arn_of_aws_iso_f_is_accepted: "arn:aws-iso-f:iam::111111111111:role/a";
        a_role_arn_of_aws_eusc_is_accepted: "arn:aws-eusc:iam::111111111111:role/a";
        a_role_arn_with_a_path_and_every_name_character_is_accepted: "arn:aws:iam::111111111111:role/service-role/team/x+=,.@_-1";
        a_path_of_511_characters_is_accepted: &format!("arn:aws:iam::111111111111:role/{}/a", "p".repeat(510));
        a_name_of_64_characters_is_accepted: &format!("arn:aws:iam::111111111111:role/{}", "n".repeat(64));
        a_role_arn_of_2048_characters_is_accepted: &long_arn("role/a", 2048);
    }

    /// An ARN of `len` characters ending in `resource`, made long by its partition.
    fn long_arn(resource: &str, len: usize) -> String {
        let short = format!("arn:aws-:iam::111111111111:{resource}");
        let arn = format!(
            "arn:aws-{}:iam::111111111111:{resource}",
            "x".repeat(len - short.len())
        );
        assert_eq!(arn.len(), len);
        arn
    }

    fn refused(arn: &str) {
        assert!(check_role_arn(arn).is_err());
    }

    cases! { refused:
        an_empty_role_arn_is_refused: "";
        a_role_name_alone_is_refused: "storage";
        an_account_of_11_digits_is_refused: "arn:aws:iam::11111111111:role/a";
        an_account_of_13_digits_is_refused: "arn:aws:iam::1111111111111:role/a";
        an_account_with_a_letter_is_refused: "arn:aws:iam::11111111111x:role/a";
        an_sts_arn_is_refused: "arn:aws:sts::111111111111:role/a";
        a_regional_iam_arn_is_refused: "arn:aws:iam:us-east-1:111111111111:role/a";
        a_foreign_partition_is_refused: "arn:azure:iam::111111111111:role/a";
        a_partition_ending_in_a_dash_is_refused: "arn:aws-:iam::111111111111:role/a";
        a_user_arn_is_refused: "arn:aws:iam::111111111111:user/a";
        a_role_without_a_name_is_refused: "arn:aws:iam::111111111111:role/";
        a_path_without_a_name_is_refused: "arn:aws:iam::111111111111:role/path/";
        a_name_with_a_space_is_refused: "arn:aws:iam::111111111111:role/has space";
        a_name_of_65_characters_is_refused: &format!("arn:aws:iam::111111111111:role/{}", "n".repeat(65));
        a_path_of_512_characters_is_refused: &format!("arn:aws:iam::111111111111:role/{}/a", "p".repeat(511));
        a_path_with_a_space_is_refused: "arn:aws:iam::111111111111:role/my path/a";
        a_path_with_a_non_ascii_character_is_refused: "arn:aws:iam::111111111111:role/é/a";
        a_role_arn_of_2049_characters_is_refused: &long_arn("role/a", 2049);
    }

    fn policy_arn((arn, accepted): (&str, bool)) {
        assert_eq!(check_policy_arn(arn).is_ok(), accepted, "{arn}");
    }

    cases! { policy_arn:
        an_aws_managed_policy_arn_is_accepted: ("arn:aws:iam::aws:policy/ReadOnlyAccess", true);
        a_customer_policy_arn_with_a_path_is_accepted: ("arn:aws:iam::111111111111:policy/team/p", true);
        a_policy_arn_of_2048_characters_is_accepted: (&long_arn("policy/p", 2048), true);
        a_policy_arn_of_2049_characters_is_refused: (&long_arn("policy/p", 2049), false);
        a_policy_arn_without_a_name_is_refused: ("arn:aws:iam::aws:policy/", false);
        a_policy_arn_ending_in_a_slash_is_refused: ("arn:aws:iam::aws:policy/team/", false);
        a_role_arn_as_a_policy_arn_is_refused: ("arn:aws:iam::aws:role/p", false);
        a_policy_arn_of_another_service_is_refused: ("arn:aws:s3::aws:policy/p", false);
    }

    #[test]
    fn external_id_never_appears_in_debug_or_in_its_build_error() {
        let secret = "confused-deputy-guard-42";
        let role = Role::new(ARN).external_id(secret);
        assert!(!format!("{role:?}").contains(secret));
        let bad = Role::new(ARN).external_id(format!("{secret} with spaces"));
        let err = bad.validate(0).unwrap_err();
        assert_eq!(err.field(), "external_id");
        assert!(!err.to_string().contains(secret), "{err}");
        assert!(!format!("{err:?}").contains(secret), "{err:?}");
    }

    #[test]
    fn error_names_the_rule_and_the_offending_value() {
        let err = Role::new("arn:aws:iam::123:role/x")
            .validate(3)
            .unwrap_err();
        assert_eq!((err.field(), err.hop()), ("role_arn", Some(3)));
        let text = err.to_string();
        assert!(text.contains("12-digit account id"), "{text}");
        assert!(text.contains("arn:aws:iam::123:role/x"), "{text}");
    }
}
