//! The three commands: `serve`, `exec` and `credential-process`.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

pub(crate) async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let (provider, _) = ready(&args.chain).await?;
    let builder = CredentialsServer::builder(provider).address(args.address);
    // An existing token file is the operator's: read, watched, left in place. Otherwise the
    // token is random, in a file of this process's that goes with it.
    let (builder, token_path, ours) = match args.token_file {
        Some(path) if path.exists() => (builder.token_file(&path), path, false),
        path => (builder, path.unwrap_or_else(default_token_file), true),
    };
    let server = builder
        .start()
        .await
        .map_err(|err| format!("cannot serve: {err}"))?;
    if ours {
        write_token(&token_path, server.token())?;
    }
    let exports = format!(
        "export {FULL_URI}={}\nexport {TOKEN_FILE}={}\n",
        server.url(),
        token_path.display()
    );
    let printed = std::io::stdout()
        .write_all(exports.as_bytes())
        .and_then(|()| std::io::stdout().flush());
    let outcome = match printed {
        Ok(()) => wait_for_signal().await,
        Err(err) => Err(format!("cannot print the variables: {err}")),
    };
    server.shutdown().await;
    if ours {
        let _ = std::fs::remove_file(&token_path);
    }
    outcome.map(|()| ExitCode::SUCCESS)
}

/// `aws-role-chain-<pid>.token` in `$XDG_RUNTIME_DIR` (private to the user), else in the
/// temporary directory.
fn default_token_file() -> PathBuf {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("aws-role-chain-{}.token", std::process::id()))
}

/// Writes `token` to a new file that only this user can read.
fn write_token(path: &Path, token: &str) -> Result<(), String> {
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| writeln!(file, "{token}"));
    written.map_err(|err| format!("cannot write the token file {}: {err}", path.display()))
}

async fn wait_for_signal() -> Result<(), String> {
    let (mut interrupt, mut terminate) = signals()?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

fn signals() -> Result<(tokio::signal::unix::Signal, tokio::signal::unix::Signal), String> {
    let listen = |kind| signal(kind).map_err(|err| format!("cannot listen for signals: {err}"));
    Ok((
        listen(SignalKind::interrupt())?,
        listen(SignalKind::terminate())?,
    ))
}

pub(crate) async fn exec(args: ExecArgs) -> Result<ExitCode, String> {
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
    command
        .env(FULL_URI, server.url())
        .env(TOKEN, server.token());
    let mut child = command
        .spawn()
        .map_err(|err| format!("cannot run {}: {err}", program.to_string_lossy()))?;
    let status = wait_forwarding_signals(&mut child).await;
    server.shutdown().await;
    status.map(exit_code)
}

/// Waits for `child`, passing on the SIGINT and SIGTERM this process gets.
async fn wait_forwarding_signals(
    child: &mut tokio::process::Child,
) -> Result<std::process::ExitStatus, String> {
    let (mut interrupt, mut terminate) = signals()?;
    loop {
        let forward = tokio::select! {
            status = child.wait() => {
                return status.map_err(|err| format!("cannot wait for the command: {err}"));
            }
            _ = interrupt.recv() => libc::SIGINT,
            _ = terminate.recv() => libc::SIGTERM,
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
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

pub(crate) async fn credential_process(args: ProcessArgs) -> Result<ExitCode, String> {
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
    Ok(ExitCode::SUCCESS)
}
