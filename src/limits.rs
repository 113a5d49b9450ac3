//! STS's limits on the parameters of `AssumeRole`, in one table: [`Role`](crate::Role)'s checks
//! and their messages, the profile reader and the documentation's tables take their numbers from
//! here (a test keeps the tables equal to it).

use std::fmt;
use std::time::Duration;

/// A length in characters, from `min` to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chars {
    pub(crate) min: usize,
    pub(crate) max: usize,
}

/// `ExternalId`.
pub(crate) const EXTERNAL_ID: Chars = Chars { min: 2, max: 1224 };
/// `RoleSessionName`, and `SourceIdentity`.
pub(crate) const SESSION_NAME: Chars = Chars { min: 2, max: 64 };
/// `Policy`, the inline session policy.
pub(crate) const POLICY: Chars = Chars { min: 1, max: 2048 };
/// A session tag's key.
pub(crate) const TAG_KEY: Chars = Chars { min: 1, max: 128 };
/// A session tag's value.
pub(crate) const TAG_VALUE: Chars = Chars { min: 0, max: 256 };
/// `SerialNumber`, an MFA device's ARN or a hardware token's serial number.
pub(crate) const MFA_SERIAL: Chars = Chars { min: 9, max: 256 };
/// The name of a role in its ARN.
pub(crate) const ROLE_NAME: Chars = Chars { min: 1, max: 64 };
/// The longest path of a role in its ARN.
pub(crate) const MAX_ROLE_PATH: usize = 511;
/// The longest ARN, of a role or a policy.
pub(crate) const MAX_ARN: usize = 2048;
/// `PolicyArns`: at most this many.
pub(crate) const MAX_POLICY_ARNS: usize = 10;
/// `Tags` and `TransitiveTagKeys`: at most this many.
pub(crate) const MAX_TAGS: usize = 50;
/// `DurationSeconds`: at least.
pub(crate) const MIN_DURATION: Duration = Duration::from_secs(900);
/// `DurationSeconds` of hop 0: at most (a role's `MaxSessionDuration` may allow less).
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(43_200);
/// `DurationSeconds` of a session assumed with role credentials (role chaining): at most.
pub(crate) const CHAINED_MAX_DURATION: Duration = Duration::from_secs(3600);

impl Chars {
    /// Checks `value`'s length in characters and its character set; on failure says what was
    /// wrong, without the value.
    pub(crate) fn check(self, value: &str, allowed: impl Fn(char) -> bool) -> Result<(), String> {
        let len = value.chars().count();
        if len < self.min {
            return Err(format!("{len} characters is too short"));
        }
        if len > self.max {
            return Err(format!("{len} characters is too long"));
        }
        match value.chars().position(|c| !allowed(c)) {
            Some(at) => Err(format!("character {} is not allowed", at.saturating_add(1))),
            None => Ok(()),
        }
    }
}

/// `2 to 1224`, as the messages say it.
impl fmt::Display for Chars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `2–1224`, as the tables write it (5 digits and more grouped by a space).
    fn range(min: impl Into<u64>, max: impl Into<u64>) -> String {
        format!("{}–{}", grouped(min.into()), grouped(max.into()))
    }

    fn grouped(n: u64) -> String {
        match n {
            10_000.. => format!("{} {:03}", n / 1000, n % 1000),
            _ => n.to_string(),
        }
    }

    fn chars(limit: Chars) -> String {
        range(limit.min as u64, limit.max as u64)
    }

    /// The row of the table in `docs` whose first cell starts with `setter`.
    fn row<'a>(docs: &'a str, setter: &str) -> &'a str {
        let start = format!("/// | [`{setter}");
        docs.lines()
            .find(|line| line.starts_with(&start))
            .unwrap_or_else(|| panic!("no row for {setter}"))
    }

    #[test]
    fn the_role_table_says_what_the_checks_check() {
        let docs = include_str!("role.rs");
        let secs = |d: Duration| d.as_secs();
        let expected = [
            ("external_id(", format!("{} characters", chars(EXTERNAL_ID))),
            (
                "session_name(",
                format!("{} characters", chars(SESSION_NAME)),
            ),
            (
                "source_identity(",
                format!("{} characters", chars(SESSION_NAME)),
            ),
            ("policy(", format!("{} characters", chars(POLICY))),
            (
                "policy_arns(",
                format!("at most {MAX_POLICY_ARNS} IAM policy ARNs"),
            ),
            (
                "tag(",
                format!(
                    "at most {MAX_TAGS}; key {}, value {} characters",
                    chars(TAG_KEY),
                    chars(TAG_VALUE)
                ),
            ),
            ("mfa_serial(", format!("{} characters", chars(MFA_SERIAL))),
            (
                "duration(",
                format!(
                    "{} s on hop 0, {} s on later hops",
                    range(secs(MIN_DURATION), secs(MAX_DURATION)),
                    range(secs(MIN_DURATION), secs(CHAINED_MAX_DURATION))
                ),
            ),
        ];
        for (setter, says) in expected {
            let row = row(docs, setter);
            assert!(row.contains(&says), "{setter}: {says:?} not in\n{row}");
        }
    }

    #[test]
    fn the_config_files_guide_says_the_durations_the_checks_check() {
        let guide = include_str!("guide/config_files.rs");
        let says = format!(
            "{} s on hop 0, at most {} s on later hops",
            range(MIN_DURATION.as_secs(), MAX_DURATION.as_secs()),
            CHAINED_MAX_DURATION.as_secs()
        );
        assert!(guide.contains(&says), "{says:?}");
    }

    #[test]
    fn a_length_check_names_what_is_wrong() {
        let digits = |c: char| c.is_ascii_digit();
        assert_eq!(EXTERNAL_ID.to_string(), "2 to 1224");
        assert_eq!(
            EXTERNAL_ID.check("1", digits),
            Err("1 characters is too short".into())
        );
        assert_eq!(
            SESSION_NAME.check(&"1".repeat(65), digits),
            Err("65 characters is too long".into())
        );
        assert_eq!(
            SESSION_NAME.check("12a", digits),
            Err("character 3 is not allowed".into())
        );
        assert_eq!(SESSION_NAME.check("12", digits), Ok(()));
    }
}
