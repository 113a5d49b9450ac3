//! A role chain read from AWS config files, with an MFA hop.
//!
//! It writes a config file and a credentials file to a temporary directory, starts a LocalSts on
//! 127.0.0.1 whose broker role requires MFA, and runs the `storage` profile: compute (static
//! keys) → broker (MFA, 12 hours) → storage (1 hour). The MFA code is asked once, when the broker
//! hop is fetched; the storage hop then refreshes from the broker session without a new code.
//!
//! ```text
//! cargo run --example profile            # the code is answered by a closure
//! cargo run --example profile -- --prompt  # the code is typed at the terminal
//! ```
//!
//! With your own files, drop `profile_files` (the files are then found as every AWS SDK finds
//! them: `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/config`, `~/.aws/credentials`)
//! and `endpoint_url`.

use std::io::{BufRead, Write};
use std::time::Duration;

use aws_role_chain::test_util::{LocalRole, LocalSts};
use aws_role_chain::{MfaRequest, RefreshPolicy, RoleChainProvider};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};

const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
const STORAGE: &str = "arn:aws:iam::111111111111:role/storage-access";
const DEVICE: &str = "arn:aws:iam::222222222222:mfa/compute";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args().any(|arg| arg == "--prompt");

    // An STS with a compute user, a broker role that requires MFA, and the storage role.
    let sts = LocalSts::start().await?;
    let compute = sts.add_user("222222222222", "compute");
    sts.add_role(
        LocalRole::new(BROKER)
            .trust("arn:aws:iam::222222222222:user/compute")
            .external_id("broker-ext-5b1e")
            .max_session_duration(Duration::from_secs(12 * 3600))
            .mfa(DEVICE),
    );
    sts.add_role(
        LocalRole::new(STORAGE)
            .trust(BROKER)
            .external_id("storage-ext-7f3a9c"),
    );

    // The files, as an operator would write them.
    let dir = std::env::temp_dir().join(format!("aws-role-chain-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config");
    let credentials = dir.join("credentials");
    std::fs::write(
        &config,
        format!(
            "[profile storage]\n\
             role_arn = {STORAGE}\n\
             source_profile = broker\n\
             external_id = storage-ext-7f3a9c\n\
             role_session_name = nightly-export\n\
             region = eu-west-1\n\
             \n\
             [profile broker]\n\
             role_arn = {BROKER}\n\
             source_profile = compute\n\
             external_id = broker-ext-5b1e\n\
             mfa_serial = {DEVICE}\n\
             duration_seconds = 43200\n"
        ),
    )?;
    std::fs::write(
        &credentials,
        format!(
            "[compute]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            compute.access_key_id(),
            compute.secret_access_key()
        ),
    )?;
    println!("config and credentials files written to {}", dir.display());

    // Where the MFA code comes from: a person at the terminal, or (to run unattended) the
    // device itself.
    let device = sts
        .mfa_device(DEVICE)
        .expect("the broker role names the device");
    let token_provider = move |request: MfaRequest| {
        let device = device.clone();
        async move {
            if !prompt {
                println!(
                    "MFA code for hop {} asked; answered by the closure",
                    request.hop()
                );
                return Ok::<_, BoxError>(device.code());
            }
            println!(
                "(LocalSts's device {} shows {})",
                request.serial_number(),
                device.code()
            );
            // Reading a terminal blocks: off the async threads.
            tokio::task::spawn_blocking(move || {
                print!("MFA code for {}: ", request.role_arn());
                std::io::stdout().flush()?;
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                Ok(line)
            })
            .await?
        }
    };

    let provider = RoleChainProvider::builder()
        .profile("storage")
        .profile_files(
            EnvConfigFiles::builder()
                .with_file(EnvConfigFileKind::Config, &config)
                .with_file(EnvConfigFileKind::Credentials, &credentials)
                .build(),
        )
        .endpoint_url(sts.endpoint_url())
        .mfa_token_provider(token_provider)
        // A person needs longer than the default 30 s: the token provider gets three quarters.
        .refresh_policy(RefreshPolicy::default().fetch_timeout(Duration::from_secs(120)))
        .build()?;

    // Fetch once before handing the provider to SDK clients, so that the prompt comes now
    // rather than inside a client's 5-second identity timeout.
    let creds = provider.credentials().await?;
    println!(
        "storage credentials {} in account {}",
        creds.access_key_id(),
        creds.account_id().map(|a| a.as_str()).unwrap_or("?")
    );

    // An invalidation renews the storage hop from the broker session: no new code.
    provider.invalidate();
    let renewed = provider.credentials().await?;
    println!("renewed without a code: {}", renewed.access_key_id());

    for request in sts.requests() {
        println!(
            "{:<55} signed by {:<20} MFA code sent: {}",
            request.param("RoleArn").unwrap_or("-"),
            request.access_key_id().unwrap_or("-"),
            request.carried_mfa_code()
        );
    }
    let mfa_requests = sts
        .requests()
        .iter()
        .filter(|r| r.carried_mfa_code())
        .count();
    assert_eq!(mfa_requests, 1, "one code for the whole run");
    std::fs::remove_dir_all(&dir)?;
    sts.stop().await;
    Ok(())
}
