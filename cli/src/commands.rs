//! The three commands: `serve`, `exec` and `credential-process`.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use aws_credential_types::Credentials;
use aws_role_chain::server::CredentialsServer;
use aws_role_chain::RoleChainProvider;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use crate::chain::ChainArgs;
use crate::child;
use crate::files::{private_path, Created};
use crate::prompt::Prompt;
use crate::signals::{status_of, Signals};

/// The variables through which AWS SDKs find the endpoint.
const FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
const TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
const TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";

#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    chain: ChainArgs,

    /// The loopback address and port to listen on; port 0 picks a free one.
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "127.0.0.1:0")]
    address: SocketAddr,

    /// Also answer the health path, /healthz, on this address, which may be any (such as
    /// 0.0.0.0:9912 in a pod, for the kubelet's probes): GET /healthz answers 200 while the
    /// credentials are valid, else 503, with no token and nothing but the state and the seconds
    /// left. Nothing else is served there. /healthz is always answered on --address too.
    #[arg(long, value_name = "ADDRESS:PORT")]
    health_address: Option<SocketAddr>,

    /// The token file: if it exists, its content is the token, read again when it changes (a
    /// regular file of this user's, mode 0600, 32 to 4096 visible characters and nothing
    /// around them); otherwise a random token is written to it (mode 0600) and it is removed
    /// at exit. Default: a new file in $XDG_RUNTIME_DIR, else the temporary directory.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ExecArgs {
    #[command(flatten)]
    chain: ChainArgs,

    /// Run even inside another `aws-role-chain exec`, whose last role then signs this chain's
    /// first hop.
    #[arg(long)]
    nested: bool,

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

/// A chain ready to serve, with the MFA prompt that it may still use.
struct Ready {
    provider: RoleChainProvider,
    credentials: Credentials,
    prompt: Prompt,
}

/// The provider of `chain`, with its first credentials fetched: a chain that cannot work fails
/// here, with its error, before anything is served. The terminal is asked for MFA codes until
/// then, and no more.
async fn ready(chain: &ChainArgs) -> Result<Ready, String> {
    let prompt = Prompt::default();
    let provider = chain.provider(&prompt).await?;
    let credentials = provider
        .credentials()
        .await
        .map_err(|err| format!("the chain failed: {err}"))?;
    prompt.close();
    Ok(Ready {
        provider,
        credentials,
        prompt,
    })
}

/// What `starting` gives, or the status of a signal that came first: a signal while a command
/// starts ends it at once, and whatever `starting` made is dropped (its files removed, its
/// server stopped).
async fn unless_signalled<T>(
    starting: impl std::future::Future<Output = Result<T, String>>,
    signals: &mut Signals,
) -> Result<T, Status> {
    tokio::select! {
        started = starting => started.map_err(Err),
        signal = signals.next_stop() => Err(Ok(status_of(signal))),
    }
}

pub(crate) async fn serve(args: ServeArgs) -> Status {
    let mut signals = Signals::listen()?;
    let started = unless_signalled(start_serving(&args), &mut signals).await;
    let (ready, server, _token_file) = match started {
        Ok(started) => started,
        Err(status) => return status,
    };
    loop {
        tokio::select! {
            _ = signals.next_stop() => break,
            () = ready.prompt.code_needed() => say_once_when_credentials_end(&ready.provider),
        }
    }
    server.shutdown().await;
    Ok(0)
}

/// The chain, the server and, unless the operator gave one, the token file; the two variables
/// printed.
async fn start_serving(
    args: &ServeArgs,
) -> Result<(Ready, CredentialsServer, Option<Created>), String> {
    let ready = ready(&args.chain).await?;
    let builder = CredentialsServer::builder(ready.provider.clone()).address(args.address);
    let builder = match args.health_address {
        Some(address) => builder.health_address(address),
        None => builder,
    };
    // SDKs read the file from their own directories.
    let given = args
        .token_file
        .as_deref()
        .map(std::path::absolute)
        .transpose()
        .map_err(|err| format!("cannot resolve --token-file: {err}"))?;
    // An existing token file is the operator's: read, watched, left in place. Otherwise the
    // token is random, in a file of this process's that goes with it.
    let operators = given
        .clone()
        .filter(|path| std::fs::symlink_metadata(path).is_ok());
    let builder = match &operators {
        Some(path) => builder.token_file(path),
        None => builder,
    };
    let server = builder
        .start()
        .await
        .map_err(|err| format!("cannot serve: {err}"))?;
    let (token_path, ours) = match operators {
        Some(path) => (path, None),
        None => {
            let path = given.unwrap_or_else(|| private_path("token"));
            let ours = Created::write(path, server.token().as_bytes())?;
            (ours.path().to_owned(), Some(ours))
        }
    };
    let exports = format!(
        "export {FULL_URI}={}\nexport {TOKEN_FILE}={}\n",
        shell_quoted(&server.url()),
        shell_quoted(&token_path.display().to_string())
    );
    std::io::stdout()
        .write_all(exports.as_bytes())
        .and_then(|()| std::io::stdout().flush())
        .map_err(|err| format!("cannot print the variables: {err}"))?;
    Ok((ready, server, ours))
}

/// `value` in single quotes for a POSIX shell, each `'` in it written `'\''`.
fn shell_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Says, the first time a refresh needs an MFA code that will not be asked, when the
/// credentials in service end.
fn say_once_when_credentials_end(provider: &RoleChainProvider) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let until = provider
            .status()
            .expiry()
            .and_then(|expiry| DateTime::from(expiry).fmt(Format::DateTime).ok())
            .unwrap_or_else(|| "now".to_owned());
        eprintln!(
            "aws-role-chain: a refresh needs a new MFA code, which is asked only at start: the \
             credentials in service last until {until}; restart aws-role-chain to type a code"
        );
    });
}

pub(crate) async fn exec(args: ExecArgs) -> Status {
    let mut signals = Signals::listen()?;
    if let Some(outer) = std::env::var_os(child::NESTED).filter(|_| !args.nested) {
        return Err(format!(
            "this is inside another aws-role-chain exec (process {}, in {}), whose role would \
             sign this chain's first hop: pass --nested if that is meant",
            outer.to_string_lossy(),
            child::NESTED
        ));
    }
    let starting = async {
        let ready = ready(&args.chain).await?;
        let config = child::config(args.chain.profile()).await?;
        let config = Created::write(private_path("config"), config.as_bytes())?;
        let server = CredentialsServer::start(ready.provider.clone())
            .await
            .map_err(|err| format!("cannot serve: {err}"))?;
        Ok((ready, config, server))
    };
    let (ready, config, server) = match unless_signalled(starting, &mut signals).await {
        Ok(started) => started,
        Err(status) => return status,
    };
    let Some((program, arguments)) = args.command.split_first() else {
        return Err("no command to run: give it after --".to_owned());
    };
    let mut command = tokio::process::Command::new(program);
    command.args(arguments);
    for name in child::SHADOWING {
        command.env_remove(name);
    }
    for name in args.chain.secret_variables() {
        command.env_remove(name);
    }
    command
        .env("AWS_CONFIG_FILE", config.path())
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        // The credentials files of the AWS SDK for Java 1.x and of boto's legacy config.
        .env("AWS_CREDENTIAL_PROFILES_FILE", "/dev/null")
        .env("BOTO_CONFIG", "/dev/null")
        .env(child::NESTED, std::process::id().to_string())
        .env(FULL_URI, server.url())
        .env(TOKEN, server.token());
    child::die_with_parent(&mut command);
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
    let status = loop {
        tokio::select! {
            status = child.wait() => {
                break status.map_err(|err| format!("cannot wait for the command: {err}"));
            }
            signal = signals.next() => forward(&child, signal),
            () = ready.prompt.code_needed() => say_once_when_credentials_end(&ready.provider),
        }
    };
    server.shutdown().await;
    drop(config);
    status.map(exit_code)
}

/// Passes `signal` on to `child`, if it has not been waited for.
fn forward(child: &tokio::process::Child, signal: libc::c_int) {
    if let Some(pid) = child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) {
        // SAFETY: kill(2) with the pid of a child not yet waited for, and a valid signal.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// The command's status, or 128 plus the signal that ended it, as shells report it.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => status_of(signal),
        (None, None) => 1,
    }
}

pub(crate) async fn credential_process(args: ProcessArgs) -> Status {
    let Ready { credentials, .. } = ready(&args.chain).await?;
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
