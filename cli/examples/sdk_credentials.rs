//! Prints the access key id and account of the credentials that the AWS SDK for Rust's default
//! credentials chain finds here: run it under `aws-role-chain exec` to see which principal a child
//! process gets.
//!
//! ```sh
//! aws-role-chain exec --profile storage -- cargo run -p aws-role-chain-cli --example sdk_credentials
//! ```

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let Some(provider) = config.credentials_provider() else {
        eprintln!("no credentials provider");
        std::process::exit(1);
    };
    match provider.provide_credentials().await {
        Ok(credentials) => println!(
            "{} {}",
            credentials.access_key_id(),
            credentials
                .account_id()
                .map(|account| account.as_str())
                .unwrap_or("-")
        ),
        Err(err) => {
            eprintln!(
                "no credentials: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            );
            std::process::exit(1);
        }
    }
}
