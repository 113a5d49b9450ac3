//! Account B's worker reads and writes account A's bucket through a role in account A.
//!
//! ```text
//! ROLE_ARN=arn:aws:iam::111111111111:role/storage-access \
//! EXTERNAL_ID=... BUCKET=storage-a cargo run --example cross_account_s3
//! ```
//!
//! Base credentials come from the default chain. `STS_ENDPOINT_URL` and `S3_ENDPOINT_URL` point
//! the example at an emulator instead of AWS (S3 then uses path-style addressing).

use aws_config::BehaviorVersion;
use aws_role_chain::{Role, RoleChainProvider};
use aws_sdk_s3::primitives::ByteStream;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (Ok(role_arn), Ok(bucket)) = (std::env::var("ROLE_ARN"), std::env::var("BUCKET")) else {
        eprintln!(
            "Set ROLE_ARN (the role in the bucket's account), BUCKET, and EXTERNAL_ID if the role's \
             trust policy requires one.\nFor a run without AWS, see `cargo run --example quickstart`."
        );
        std::process::exit(2);
    };
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;

    // The worker's own credentials (account B) assume the role in the data's account (A).
    let mut role = Role::new(role_arn).session_name("cross-account-s3-example");
    if let Ok(external_id) = std::env::var("EXTERNAL_ID") {
        role = role.external_id(external_id);
    }
    let mut provider = RoleChainProvider::builder().configure(&config).assume(role);
    if let Ok(url) = std::env::var("STS_ENDPOINT_URL") {
        provider = provider.endpoint_url(url);
    }
    let provider = provider.build()?;

    let mut s3_config = aws_sdk_s3::config::Builder::from(&config).credentials_provider(provider);
    if let Ok(url) = std::env::var("S3_ENDPOINT_URL") {
        s3_config = s3_config.endpoint_url(url).force_path_style(true);
    }
    let s3 = aws_sdk_s3::Client::from_conf(s3_config.build());

    let key = "aws-role-chain-example.txt";
    s3.put_object()
        .bucket(&bucket)
        .key(key)
        .body(ByteStream::from_static(
            b"written by account B as a role of account A",
        ))
        .send()
        .await?;
    println!("put s3://{bucket}/{key}");

    let listing = s3.list_objects_v2().bucket(&bucket).send().await?;
    for object in listing.contents() {
        println!("  listed {}", object.key().unwrap_or("?"));
    }

    let object = s3.get_object().bucket(&bucket).key(key).send().await?;
    let body = object.body.collect().await?.into_bytes();
    println!("got back: {}", String::from_utf8_lossy(&body));
    Ok(())
}
