//! The AWS SDK for Rust's own container-credentials provider and its default credentials chain,
//! pointed at the credentials server through the environment as any process would be, acting as
//! the chain's last role on LocalSts.
//!
//! The SDK reads these variables from the process environment: this binary holds one test, which
//! sets them before any thread starts.

mod common;

use aws_credential_types::provider::ProvideCredentials;
use aws_role_chain::server::CredentialsServer;
use aws_types::region::Region;
use common::*;

#[test]
fn the_sdks_container_provider_and_default_chain_act_as_the_last_role() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (world, server) = runtime.block_on(async {
        let world = World::new().await;
        let server = CredentialsServer::start(world.two_hops()).await.unwrap();
        (world, server)
    });
    for (name, value) in [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", server.url()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            server.token().to_owned(),
        ),
    ] {
        // SAFETY of the environment: no other thread of this binary reads it concurrently;
        // the runtime's threads are idle.
        std::env::set_var(name, value);
    }
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        std::env::remove_var(name);
    }
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/aws-role-chain/config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/aws-role-chain/credentials",
    );
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");

    runtime.block_on(async {
        let ecs = aws_config::ecs::EcsCredentialsProvider::builder().build();
        let from_ecs = ecs.provide_credentials().await.unwrap();
        let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(world.sts.endpoint_url())
            .load()
            .await;
        let sts = aws_sdk_sts::Client::new(&sdk_config);

        let identity = sts.get_caller_identity().send().await.unwrap();

        assert_eq!(
            identity.arn().unwrap().rsplit_once('/').unwrap().0,
            "arn:aws:sts::111111111111:assumed-role/storage-access"
        );
        let caller = world
            .sts
            .requests()
            .last()
            .unwrap()
            .access_key_id()
            .unwrap()
            .to_owned();
        assert_eq!(
            caller,
            from_ecs.access_key_id(),
            "the default chain found the server"
        );
        assert!(from_ecs.expiry().is_some());
        assert_eq!(
            world.assume_role_requests().len(),
            2,
            "one chain run for both"
        );
    });
    runtime.block_on(server.shutdown());
}
