//! A two-hop role chain, step by step.
//!
//! With no arguments it starts a LocalSts on 127.0.0.1 and runs compute → broker → storage, each
//! role with its own ExternalId:
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! With `ROLE_ARN` (and `EXTERNAL_ID` if the role's trust policy requires one) it assumes that
//! role in real AWS, with base credentials from the default chain (environment, profile, SSO,
//! container or instance role); with `BROKER_ROLE_ARN` (and `BROKER_EXTERNAL_ID`) too, it goes
//! through that role first:
//!
//! ```text
//! ROLE_ARN=arn:aws:iam::111111111111:role/storage-access EXTERNAL_ID=... cargo run --example quickstart
//! ```

use std::time::SystemTime;

use aws_config::BehaviorVersion;
use aws_role_chain::test_util::{LocalRole, LocalSts};
use aws_role_chain::{Role, RoleChainProvider};
use aws_smithy_async::time::{SystemTimeSource, TimeSource};
use aws_types::region::Region;

const COMPUTE_USER: &str = "arn:aws:iam::222222222222:user/compute";
const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
const STORAGE: &str = "arn:aws:iam::111111111111:role/storage-access";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var("ROLE_ARN") {
        Ok(role_arn) => real_aws(role_arn).await,
        Err(_) => local().await,
    }
}

async fn local() -> Result<(), Box<dyn std::error::Error>> {
    let sts = LocalSts::start().await?;
    println!("LocalSts listening on {}", sts.endpoint_url());
    let compute = sts.add_user("222222222222", "compute");
    sts.add_role(
        LocalRole::new(BROKER)
            .trust(COMPUTE_USER)
            .external_id("broker-5b1e"),
    );
    sts.add_role(
        LocalRole::new(STORAGE)
            .trust(BROKER)
            .external_id("storage-7f3a9c"),
    );
    println!(
        "  base credentials: {COMPUTE_USER} (access key {})",
        compute.access_key_id()
    );
    println!("  {BROKER} trusts the compute user and requires its ExternalId");
    println!("  {STORAGE} trusts the broker role and requires its own ExternalId\n");

    let provider = RoleChainProvider::builder()
        .base_provider(compute)
        .endpoint_url(sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .assume(Role::new(BROKER).external_id("broker-5b1e"))
        .assume(Role::new(STORAGE).external_id("storage-7f3a9c"))
        .build()?;

    println!("First call: the chain runs, one AssumeRole per hop");
    let credentials = provider.credentials().await?;
    for (hop, call) in sts.requests().iter().enumerate() {
        println!(
            "  hop {hop}: {} assumed {} with its ExternalId -> HTTP {}",
            call.caller_arn().unwrap_or("?"),
            call.param("RoleArn").unwrap_or("?"),
            call.status()
        );
    }
    print_credentials(&credentials);

    println!("\nSecond call:");
    let requests_before = sts.requests().len();
    let again = provider.credentials().await?;
    let from_cache = again.access_key_id() == credentials.access_key_id()
        && sts.requests().len() == requests_before;
    println!(
        "  {}",
        if from_cache {
            "served from cache: same credentials, no STS request"
        } else {
            "fetched again"
        }
    );

    println!("\nAn AWS SDK client with the provider as its credentials provider:");
    let client = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(sts.endpoint_url())
            .credentials_provider(provider)
            .build(),
    );
    let identity = client.get_caller_identity().send().await?;
    println!("  GetCallerIdentity: {}", identity.arn().unwrap_or("?"));
    sts.stop().await;
    Ok(())
}

async fn real_aws(role_arn: String) -> Result<(), Box<dyn std::error::Error>> {
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let role = |arn: String, external_id: &str| {
        let role = Role::new(arn);
        match std::env::var(external_id) {
            Ok(id) => role.external_id(id),
            Err(_) => role,
        }
    };
    let mut builder = RoleChainProvider::builder().configure(&config);
    if let Ok(broker) = std::env::var("BROKER_ROLE_ARN") {
        builder = builder.assume(role(broker, "BROKER_EXTERNAL_ID"));
    }
    let provider = builder.assume(role(role_arn, "EXTERNAL_ID")).build()?;

    println!("First call: the chain runs with the default credentials chain as base");
    let credentials = provider.credentials().await?;
    for hop in provider.status().hops() {
        let expiry = hop.expiry().map(aws_smithy_types::DateTime::from);
        println!(
            "  hop {}: assumed {}, expires {}",
            hop.hop(),
            hop.role_arn(),
            expiry.map_or("?".into(), |e| e.to_string())
        );
    }
    print_credentials(&credentials);

    let client = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&config)
            .credentials_provider(provider.clone())
            .build(),
    );
    let identity = client.get_caller_identity().send().await?;
    println!("  GetCallerIdentity: {}", identity.arn().unwrap_or("?"));
    let again = provider.credentials().await?;
    if again.access_key_id() == credentials.access_key_id() {
        println!(
            "\nSecond call: served from cache; next refresh at {:?}",
            provider
                .status()
                .next_refresh()
                .map(aws_smithy_types::DateTime::from)
                .map(|t| t.to_string())
        );
    }
    Ok(())
}

fn print_credentials(credentials: &aws_credential_types::Credentials) {
    let account = credentials.account_id().map_or("?", |a| a.as_str());
    let expiry = credentials.expiry().unwrap_or(SystemTime::UNIX_EPOCH);
    let minutes = expiry
        .duration_since(SystemTimeSource::new().now())
        .map_or(0, |d| d.as_secs() / 60);
    println!(
        "  credentials for account {account}: access key {}, expire {} (in {minutes} min)",
        credentials.access_key_id(),
        aws_smithy_types::DateTime::from(expiry)
    );
}
