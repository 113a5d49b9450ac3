//! The one way secrets stay out of `Debug`: ExternalIds, MFA codes and the server's token are
//! kept in a [`Secret`], whose `Debug` shows a fixed mark and nothing of the value.

use std::fmt;

/// A value that `Debug` never shows. Read it with [`expose`](Secret::expose), only where it is
/// sent.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Secret<T>(T);

/// What a secret shows instead of itself, for a field that holds no `Secret` (the server's).
#[cfg_attr(not(feature = "server"), allow(dead_code))]
pub(crate) const REDACTED: Secret<()> = Secret(());

impl<T> Secret<T> {
    pub(crate) fn new(value: T) -> Self {
        Secret(value)
    }

    pub(crate) fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_only_the_mark() {
        let secret = Secret::new("storage-7f3a9c".to_owned());
        assert_eq!(
            format!("{secret:?} {secret:#?} {REDACTED:?}"),
            "** redacted ** ** redacted ** ** redacted **"
        );
        assert_eq!(secret.expose(), "storage-7f3a9c");
    }
}
