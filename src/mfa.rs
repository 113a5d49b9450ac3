//! MFA codes for the hops whose role requires them: asked from the application's token provider
//! each time such a hop is fetched, checked, and never shown.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_async::future::timeout::Timeout;
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use aws_smithy_runtime_api::box_error::BoxError;
use tracing::debug;

use crate::error::{Error, ErrorKind};
use crate::panic::guarded;
use crate::redact::Secret;

/// The future of [`ProvideMfaToken::provide_mfa_token`]: the device's current code, or why
/// there is none.
pub type MfaTokenFuture<'a> = Pin<Box<dyn Future<Output = Result<String, BoxError>> + Send + 'a>>;

/// A source of MFA codes for the hops whose role has [`Role::mfa_serial`](crate::Role::mfa_serial):
/// a person at a prompt, a secrets manager, a hardware token's daemon.
///
/// Any `Fn(MfaRequest) -> impl Future<Output = Result<String, BoxError>>` implements it, so a
/// closure is a token provider (see
/// [`mfa_token_provider`](crate::RoleChainProviderBuilder::mfa_token_provider)); a type of your
/// own implements it to keep state, and is set with
/// [`mfa_token_source`](crate::RoleChainProviderBuilder::mfa_token_source).
///
/// ```
/// use aws_role_chain::{MfaRequest, MfaTokenFuture, ProvideMfaToken};
///
/// /// Codes typed into a channel by another part of the application.
/// #[derive(Debug)]
/// struct FromOperator(tokio::sync::Mutex<tokio::sync::mpsc::Receiver<String>>);
///
/// impl ProvideMfaToken for FromOperator {
///     fn provide_mfa_token(&self, request: MfaRequest) -> MfaTokenFuture<'_> {
///         Box::pin(async move {
///             eprintln!("waiting for the code of {}", request.serial_number());
///             let code = self.0.lock().await.recv().await;
///             code.ok_or_else(|| "the operator's channel is closed".into())
///         })
///     }
/// }
/// ```
pub trait ProvideMfaToken: Send + Sync {
    /// The current code of `request`'s device: 6 digits (surrounding whitespace is trimmed).
    /// Called once per fetch of a hop that needs one, with three quarters of
    /// [`RefreshPolicy::fetch_timeout`](crate::RefreshPolicy::fetch_timeout) to answer.
    fn provide_mfa_token(&self, request: MfaRequest) -> MfaTokenFuture<'_>;
}

impl<F, Fut> ProvideMfaToken for F
where
    F: Fn(MfaRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
{
    fn provide_mfa_token(&self, request: MfaRequest) -> MfaTokenFuture<'_> {
        Box::pin(self(request))
    }
}

/// What an MFA token provider is asked for: the code of one device, for one hop of the chain.
///
/// Given to the function set with
/// [`mfa_token_provider`](crate::RoleChainProviderBuilder::mfa_token_provider) each time a hop with
/// [`Role::mfa_serial`](crate::Role::mfa_serial) must be fetched.
#[derive(Clone, Debug)]
pub struct MfaRequest {
    serial_number: String,
    role_arn: String,
    hop: usize,
}

impl MfaRequest {
    pub(crate) fn new(serial_number: &str, role_arn: &str, hop: usize) -> Self {
        MfaRequest {
            serial_number: serial_number.to_owned(),
            role_arn: role_arn.to_owned(),
            hop,
        }
    }

    /// The MFA device: its ARN or serial number, as set with `Role::mfa_serial`.
    pub fn serial_number(&self) -> &str {
        &self.serial_number
    }

    /// The role the code lets this hop assume.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// The hop's position in the chain, 0 for the role assumed with the base credentials.
    pub fn hop(&self) -> usize {
        self.hop
    }
}

/// The application's source of MFA codes, shared by the provider's clones.
#[derive(Clone)]
pub(crate) struct MfaTokenProvider(Arc<dyn ProvideMfaToken>);

impl MfaTokenProvider {
    pub(crate) fn new(provider: impl ProvideMfaToken + 'static) -> Self {
        MfaTokenProvider(Arc::new(provider))
    }

    /// Asks for the code of `request`'s device.
    pub(crate) fn ask(&self, request: MfaRequest) -> MfaTokenFuture<'_> {
        self.0.provide_mfa_token(request)
    }
}

impl fmt::Debug for MfaTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaTokenProvider")
    }
}

/// The token provider of a chain, with the time it gets to answer.
#[derive(Clone, Debug)]
pub(crate) struct Mfa {
    pub(crate) provider: MfaTokenProvider,
    pub(crate) sleep: SharedAsyncSleep,
    /// How long an answer may take: three quarters of `RefreshPolicy::fetch_timeout`, so that
    /// a token provider that does not answer is named as the cause before the run times out.
    pub(crate) timeout: Duration,
}

impl Mfa {
    /// Asks for the code of device `serial` to assume `role_arn` at hop `hop`, and checks it.
    pub(crate) async fn code(
        &self,
        hop: usize,
        role_arn: &str,
        serial: &str,
    ) -> Result<TokenCode, Error> {
        let failed =
            |message: String| Error::new(ErrorKind::MfaToken, message).at_hop(hop, role_arn);
        debug!(
            hop,
            serial_number = serial,
            "asking the MFA token provider for a code"
        );
        let request = MfaRequest::new(serial, role_arn, hop);
        // A panic in the application's function is its failure, as with the base provider.
        let sleep = self.sleep.sleep(self.timeout);
        let answer = Timeout::new(guarded(|| self.provider.ask(request)), sleep).await;
        match answer {
            Ok(Ok(Ok(answer))) => TokenCode::parse(&answer).map_err(failed),
            Ok(Ok(Err(err))) => {
                Err(failed(format!("the MFA token provider failed: {err}")).with_source(err))
            }
            Ok(Err(panic)) => Err(failed(format!("the MFA token provider panicked: {panic}"))),
            Err(_) => Err(failed(format!(
                "the MFA token provider did not answer within {:?} (three quarters of \
                 RefreshPolicy::fetch_timeout)",
                self.timeout
            ))),
        }
    }
}

/// A code as STS takes it (`TokenCode`): six digits. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TokenCode(Secret<String>);

impl TokenCode {
    /// The code in `answer`, or why it is not one, without its value.
    pub(crate) fn parse(answer: &str) -> Result<TokenCode, String> {
        let code = answer.trim();
        match code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            true => Ok(TokenCode(Secret::new(code.to_owned()))),
            false => Err(format!(
                "the MFA token provider answered with something other than 6 digits (value \
                 redacted, {} characters)",
                code.chars().count()
            )),
        }
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for TokenCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::cases;

    fn accepted((answer, code): (&str, &str)) {
        assert_eq!(TokenCode::parse(answer).unwrap().expose(), code);
    }

    cases! { accepted:
        six_digits_are_a_code: ("123456", "123456");
        a_code_typed_with_a_newline_is_trimmed: (" 012345\n", "012345");
    }

    fn refused((answer, says): (&str, &str)) {
        let err = TokenCode::parse(answer).unwrap_err();
        assert!(err.contains(says), "{err}");
        assert!(
            answer.trim().is_empty() || !err.contains(answer.trim()),
            "{err}"
        );
    }

    cases! { refused:
        five_digits_are_refused: ("12345", "redacted, 5 characters");
        seven_digits_are_refused: ("1234567", "redacted, 7 characters");
        letters_are_refused: ("12a456", "other than 6 digits");
        nothing_is_refused: ("", "redacted, 0 characters");
        other_digits_are_refused: ("١٢٣٤٥٦", "redacted, 6 characters");
    }

    #[test]
    fn a_code_never_shows_in_debug() {
        let code = TokenCode::parse("987654").unwrap();
        assert_eq!(format!("{code:?}"), "** redacted **");
    }
}
