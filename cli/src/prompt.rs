//! MFA codes typed at the controlling terminal, and only while the command starts: once the
//! server or the child runs, the terminal is theirs. A refresh that needs a new code after that
//! fails (the credentials in service are served until they expire) and the command says so
//! once; a command in the terminal's background never reads it.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_role_chain::{MfaRequest, MfaTokenFuture, ProvideMfaToken};
use tokio::sync::Notify;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether the terminal may still be asked, shared with the chain's MFA token provider.
#[derive(Clone, Default)]
pub(crate) struct Prompt(Arc<State>);

#[derive(Default)]
struct State {
    closed: AtomicBool,
    needed: Notify,
}

/// The MFA token provider for the chain: asks at the terminal until [`close`](Prompt::close).
impl ProvideMfaToken for Prompt {
    fn provide_mfa_token(&self, request: MfaRequest) -> MfaTokenFuture<'_> {
        Box::pin(async move {
            if self.0.closed.load(Ordering::Acquire) {
                self.0.needed.notify_one();
                return Err(format!(
                    "{} needs a new MFA code from {}, which aws-role-chain asks only while it \
                     starts: restart it to type one",
                    request.role_arn(),
                    request.serial_number()
                )
                .into());
            }
            tokio::task::spawn_blocking(move || ask_at_terminal(&request)).await?
        })
    }
}

impl Prompt {
    /// No more prompts: the server or the child runs.
    pub(crate) fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
    }

    /// Waits until a refresh after [`close`](Self::close) needs a code.
    pub(crate) async fn code_needed(&self) {
        self.0.needed.notified().await;
    }
}

/// An MFA code typed at the controlling terminal, which stays usable when stdin and stdout are
/// another program's (under `credential_process`, say), if this process is in the terminal's
/// foreground: a background process that read it would be stopped, or take a line typed for
/// another program.
fn ask_at_terminal(request: &MfaRequest) -> Result<String, BoxError> {
    let needs = || {
        format!(
            "{} needs an MFA code from {}",
            request.role_arn(),
            request.serial_number()
        )
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|err| format!("{}, and there is no terminal to ask on ({err})", needs()))?;
    // SAFETY: tcgetpgrp(3) and getpgrp(2) on an open descriptor; neither has other
    // preconditions.
    let foreground = unsafe { libc::tcgetpgrp(tty.as_raw_fd()) == libc::getpgrp() };
    if !foreground {
        return Err(format!(
            "{}, and aws-role-chain is in the background of its terminal: run it in the \
             foreground to type the code",
            needs()
        )
        .into());
    }
    write!(
        &tty,
        "MFA code for {} ({}): ",
        request.serial_number(),
        request.role_arn()
    )?;
    let mut code = String::new();
    BufReader::new(&tty).read_line(&mut code)?;
    Ok(code)
}
