//! `aws-role-chain`: one validated, background-refreshed AWS role chain for every process of a
//! host. `serve` runs a loopback endpoint of the container-credentials protocol that every AWS
//! SDK and the AWS CLI read, `exec` runs a command with it, and `credential-process` prints the
//! credentials for a `credential_process` line of an AWS config file.

mod chain;
mod child;
mod commands;
mod files;
mod prompt;
mod signals;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// One AWS role chain (base credentials → role → role…, each with its ExternalId), validated,
/// cached and refreshed in the background, for every process of a host.
#[derive(Parser, Debug)]
#[command(name = "aws-role-chain", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the chain's credentials on a loopback endpoint until a signal such as SIGINT or
    /// SIGTERM, and print the variables that point AWS SDKs at it.
    Serve(commands::ServeArgs),
    /// Run a command whose AWS SDKs get the chain's credentials from an endpoint that lives as
    /// long as it does; exit with its status.
    Exec(commands::ExecArgs),
    /// Print the chain's credentials as a credential_process prints them.
    CredentialProcess(commands::ProcessArgs),
}

fn main() {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("aws-role-chain: cannot start: {err}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(run());
    // Exits without waiting for the runtime's blocking threads: a prompt for an MFA code that
    // was given up on would otherwise hold the process until Enter is pressed.
    std::process::exit(code);
}

async fn run() -> i32 {
    let cli = Cli::parse();
    // Warnings of a long-running command are its log; a credential process's stderr is shown
    // to the user of the SDK that ran it, where its one error line is what counts.
    let default = match cli.command {
        Command::CredentialProcess(_) => "error",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into()))
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => commands::serve(args).await,
        Command::Exec(args) => commands::exec(args).await,
        Command::CredentialProcess(args) => commands::credential_process(args).await,
    };
    match outcome {
        Ok(code) => i32::from(code),
        Err(message) => {
            eprintln!("aws-role-chain: {message}");
            1
        }
    }
}
