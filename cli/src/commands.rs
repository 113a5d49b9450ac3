//! The three commands: `serve`, `exec` and `credential-process`.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use aws_credential_types::Credentials;
use aws_role_chain::server::CredentialsServer;
use aws_role_chain::RoleChainProvider;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use tokio::signal::unix::{signal, SignalKind};

use crate::chain::ChainArgs;

/// The variables through which AWS SDKs find the endpoint.
const FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
const TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
const TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";

/// Variables that would make a child's SDK use other credentials before the endpoint's.
const SHADOWING: [&str; 9] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    TOKEN_FILE,
];

#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    chain: ChainArgs,

    /// The loopback address and port to listen on; port 0 picks a free one.
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "127.0.0.1:0")]
    address: SocketAddr,

    /// The token file: if it exists, its content is the token, read again when it changes;
    /// otherwise a random token is written to it (mode 0600) and it is removed at exit.
    /// Default: a new file in $XDG_RUNTIME_DIR, else the temporary directory.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ExecArgs {
    #[command(flatten)]
    chain: ChainArgs,

    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ProcessArgs {
    #[command(flatten)]
    chain: ChainArgs,
}

/// The exit status of a command that ran, or of this one: 0, or an error to print.
pub(crate) type Status = Result<u8, String>;

/// The provider of `chain`, with its first credentials fetched: a chain that cannot work fails
/// here, with its error, before anything is served.
async fn ready(chain: &ChainArgs) -> Result<(RoleChainProvider, Credentials), String> {
    let provider = chain.provider().await?;
    let credentials = provider
        .credentials()
        .await
        .map_err(|err| format!("the chain failed: {err}"))?;
    Ok((provider, credentials))
}

pub(crate) async fn serve(args: ServeArgs) -> Status {
    // Listening before anything starts, so that a signal never leaves a token file behind.
    let mut signals = signals()?;
    let (provider, _) = ready(&args.chain).await?;
    let builder = CredentialsServer::builder(provider).address(args.address);
    // An existing token file is the operator's: read, watched, left in place. Otherwise the
    // token is random, in a file of this process's that goes with it.
    let (builder, token_path, ours) = match args.token_file {
        Some(path) if path.exists() => {
            check_token_file(&path)?;
            (builder.token_file(&path), path, false)
        }
        path => (builder, path.unwrap_or_else(default_token_file), true),
    };
    let server = builder
        .start()
        .await
        .map_err(|err| format!("cannot serve: {err}"))?;
    let mut outcome = Ok(0);
    if ours {
        outcome = write_token(&token_path, server.token()).map(|()| 0);
    }
    if outcome.is_ok() {
        let exports = format!(
            "export {FULL_URI}={}\nexport {TOKEN_FILE}={}\n",
            server.url(),
            token_path.display()
        );
        let printed = std::io::stdout()
            .write_all(exports.as_bytes())
            .and_then(|()| std::io::stdout().flush());
        outcome = match printed {
            Ok(()) => {
                signals.next().await;
                Ok(0)
            }
            Err(err) => Err(format!("cannot print the variables: {err}")),
        };
    }
    server.shutdown().await;
    if ours {
        let _ = std::fs::remove_file(&token_path);
    }
    outcome
}

/// An operator's token file must hold the token alone (the SDKs send the file as it is: a
/// newline would make an invalid header) and be readable by its owner only.
fn check_token_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|err| format!("cannot read {shown}: {err}"))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the token file {shown} can be read by other users (mode {mode:o}): chmod 600 it"
        ));
    }
    let token = std::fs::read(path).map_err(|err| format!("cannot read {shown}: {err}"))?;
    if token.trim_ascii() != token.as_slice() {
        return Err(format!(
            "the token file {shown} has spaces or a newline around the token, which AWS SDKs \
             would send as part of it: write it with printf '%s'"
        ));
    }
    Ok(())
}

/// `aws-role-chain-<pid>-<random>.token` in `$XDG_RUNTIME_DIR` (private to the user), else in
/// the temporary directory, where another user could otherwise take a name first.
fn default_token_file() -> PathBuf {
    use std::hash::{BuildHasher, Hasher};
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    // A randomly keyed hasher's output: unpredictable enough for a file name.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    dir.join(format!(
        "aws-role-chain-{}-{random:016x}.token",
        std::process::id()
    ))
}

/// Writes `token` alone (no newline: the SDKs send the file as it is) to a new file that only
/// this user can read.
fn write_token(path: &Path, token: &str) -> Result<(), String> {
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(token.as_bytes()));
    written.map_err(|err| format!("cannot write the token file {}: {err}", path.display()))
}

/// SIGINT, SIGTERM and SIGHUP, listened for.
struct Signals([tokio::signal::unix::Signal; 3]);

fn signals() -> Result<Signals, String> {
    let listen = |kind| signal(kind).map_err(|err| format!("cannot listen for signals: {err}"));
    Ok(Signals([
        listen(SignalKind::interrupt())?,
        listen(SignalKind::terminate())?,
        listen(SignalKind::hangup())?,
    ]))
}

impl Signals {
    /// The next of them to arrive.
    async fn next(&mut self) -> libc::c_int {
        let [interrupt, terminate, hangup] = &mut self.0;
        tokio::select! {
            _ = interrupt.recv() => libc::SIGINT,
            _ = terminate.recv() => libc::SIGTERM,
            _ = hangup.recv() => libc::SIGHUP,
        }
    }
}

pub(crate) async fn exec(args: ExecArgs) -> Status {
    let mut signals = signals()?;
    let (provider, _) = ready(&args.chain).await?;
    let server = CredentialsServer::start(provider)
        .await
        .map_err(|err| format!("cannot serve: {err}"))?;
    let Some((program, arguments)) = args.command.split_first() else {
        return Err("no command to run: give it after --".to_owned());
    };
    let mut command = tokio::process::Command::new(program);
    command.args(arguments);
    for name in SHADOWING {
        command.env_remove(name);
    }
    for name in args.chain.secret_variables() {
        command.env_remove(name);
    }
    // The keys of a [default] profile would come before the endpoint in every SDK's chain.
    command.env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    command
        .env(FULL_URI, server.url())
        .env(TOKEN, server.token());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            // As shells do: 127 for a command not found, 126 for one that cannot run.
            eprintln!(
                "aws-role-chain: cannot run {}: {err}",
                program.to_string_lossy()
            );
            return Ok(match err.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            });
        }
    };
    let status = wait_forwarding_signals(&mut child, &mut signals).await;
    server.shutdown().await;
    status.map(exit_code)
}

/// Waits for `child`, passing on the SIGINT, SIGTERM and SIGHUP this process gets.
async fn wait_forwarding_signals(
    child: &mut tokio::process::Child,
    signals: &mut Signals,
) -> Result<std::process::ExitStatus, String> {
    loop {
        let forward = tokio::select! {
            status = child.wait() => {
                return status.map_err(|err| format!("cannot wait for the command: {err}"));
            }
            signal = signals.next() => signal,
        };
        if let Some(pid) = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) {
            // SAFETY: kill(2) with the pid of a child not yet waited for, and a valid signal.
            unsafe {
                libc::kill(pid, forward);
            }
        }
    }
}

/// The command's status, or 128 plus the signal that ended it, as shells report it.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    u8::try_from(code).unwrap_or(1)
}

pub(crate) async fn credential_process(args: ProcessArgs) -> Status {
    let (_, credentials) = ready(&args.chain).await?;
    let mut output = serde_json::json!({
        "Version": 1,
        "AccessKeyId": credentials.access_key_id(),
        "SecretAccessKey": credentials.secret_access_key(),
        "SessionToken": credentials.session_token(),
        "Expiration": credentials
            .expiry()
            .and_then(|expiry| DateTime::from(expiry).fmt(Format::DateTime).ok()),
    });
    if let Some(account) = credentials.account_id() {
        output["AccountId"] = account.as_str().into();
    }
    println!("{output}");
    Ok(0)
}
