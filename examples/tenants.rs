//! A vendor's service acting in three customers' accounts through one `RoleChainPool`.
//!
//! It starts a LocalSts on 127.0.0.1 where the vendor's compute user may assume the vendor's
//! broker role, and each customer's role trusts the broker with the ExternalId the vendor issued
//! to that customer:
//!
//! ```text
//! cargo run --example tenants
//! ```
//!
//! One SDK client serves every customer, each request carrying its tenant's credentials; the
//! broker is assumed once for all of them, and a customer that refuses the vendor costs one STS
//! call per backoff, not one per request.

use aws_role_chain::test_util::{LocalRole, LocalSts};
use aws_role_chain::{Role, RoleChainPool, Tenant};
use aws_sdk_sts::config::{BehaviorVersion, IdentityCache};
use aws_types::region::Region;

const VENDOR_USER: &str = "arn:aws:iam::333333333333:user/compute";
const BROKER: &str = "arn:aws:iam::333333333333:role/broker";
/// Each customer's account and the ExternalId the vendor issued to it.
const CUSTOMERS: [(&str, &str); 3] = [
    ("111111111111", "c-7f3a9c"),
    ("444444444444", "c-09d2e1"),
    ("555555555555", "c-5b1e40"),
];

fn customer_role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/vendor-access")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sts = LocalSts::start().await?;
    let compute = sts.add_user("333333333333", "compute");
    sts.add_role(LocalRole::new(BROKER).trust(VENDOR_USER));
    for (account, external_id) in CUSTOMERS {
        sts.add_role(
            LocalRole::new(customer_role(account))
                .trust(BROKER)
                .external_id(external_id),
        );
    }
    println!(
        "LocalSts on {}: the vendor's broker, and three customers' roles trusting it\n",
        sts.endpoint_url()
    );

    let pool = RoleChainPool::builder()
        .base_provider(compute)
        .endpoint_url(sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .assume(Role::new(BROKER)) // the shared hop: assumed once for the pool
        .sts_rate_limit(50)
        .build()?;
    let tenants: Vec<(&str, Tenant)> = CUSTOMERS
        .iter()
        .map(|(account, external_id)| {
            let role = Role::new(customer_role(account)).external_id(*external_id);
            Ok((*account, pool.tenant(role)?))
        })
        .collect::<Result<_, aws_role_chain::BuildError>>()?;

    // One client for every customer: the pool caches, so the client's own cache is off.
    let client = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(sts.endpoint_url())
            .identity_cache(IdentityCache::no_cache())
            .build(),
    );
    for round in 1..=2 {
        println!("Round {round}:");
        for (account, tenant) in &tenants {
            let identity = client
                .get_caller_identity()
                .customize()
                .config_override(
                    aws_sdk_sts::Config::builder().credentials_provider(tenant.clone()),
                )
                .send()
                .await?;
            println!(
                "  customer {account}: acting as {}",
                identity.arn().unwrap_or("?")
            );
        }
        println!("  pool: {}", pool.status());
    }
    let assumed: Vec<String> = sts
        .requests()
        .iter()
        .filter(|r| r.action() == Some("AssumeRole"))
        .filter_map(|r| r.param("RoleArn").map(str::to_owned))
        .collect();
    println!("\nAssumeRole calls, in order: {assumed:#?}");
    assert_eq!(assumed.len(), 4, "the broker once, each customer once");

    println!("\nA customer that no longer trusts the vendor's ExternalId:");
    let rotated = pool.tenant(Role::new(customer_role(CUSTOMERS[0].0)).external_id("c-old-id"))?;
    for attempt in 1..=3 {
        let err = rotated.credentials().await.unwrap_err();
        println!("  call {attempt}: {:?} at hop {:?}", err.kind(), err.hop());
    }
    println!("  pool: {} (one call for three refusals)", pool.status());
    assert_eq!(pool.status().assume_role_calls(), 5);
    sts.stop().await;
    Ok(())
}
