//! Shared by the benchmarks: a LocalSts with a chain of roles, this crate's provider and
//! aws-config's `AssumeRoleProvider` over the same chain, and the SDK's lazy identity cache.
#![allow(dead_code)]

use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_role_chain::test_util::{LocalRole, LocalSts};
use aws_role_chain::{Builder, Role, RoleChainProvider};
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource, TimeSource};
use aws_smithy_runtime_api::client::identity::{
    Identity, ResolveCachedIdentity, SharedIdentityCache, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;
use aws_types::SdkConfig;

pub const ROLES: [(&str, &str); 3] = [
    ("arn:aws:iam::333333333333:role/broker", "broker-ext-5b1e"),
    (
        "arn:aws:iam::111111111111:role/storage-access",
        "storage-ext-7f3a9c",
    ),
    ("arn:aws:iam::444444444444:role/audit", "audit-ext-09d2"),
];

/// A LocalSts where each role of [`ROLES`] trusts anyone with its ExternalId.
pub struct Bench {
    pub sts: LocalSts,
    pub base: Credentials,
}

impl Bench {
    pub async fn new() -> Bench {
        Bench::on(LocalSts::start().await.unwrap())
    }

    /// The same roles on a LocalSts with its own clock.
    pub async fn with_clock(time: impl TimeSource + 'static) -> Bench {
        Bench::on(LocalSts::builder().time_source(time).start().await.unwrap())
    }

    fn on(sts: LocalSts) -> Bench {
        let base = sts.add_user("222222222222", "compute");
        for (arn, external_id) in ROLES {
            sts.add_role(LocalRole::new(arn).external_id(external_id));
        }
        Bench { sts, base }
    }

    /// This crate's provider over the first `hops` roles.
    pub fn ours(&self, hops: usize) -> RoleChainProvider {
        self.ours_builder(hops).build().unwrap()
    }

    /// The builder of that provider, for more settings.
    pub fn ours_builder(&self, hops: usize) -> Builder {
        ROLES[..hops].iter().fold(
            RoleChainProvider::builder()
                .base_provider(self.base.clone())
                .endpoint_url(self.sts.endpoint_url())
                .region(Region::new("us-east-1")),
            |builder, (arn, id)| builder.assume(Role::new(*arn).external_id(*id)),
        )
    }

    /// aws-config's providers over the first `hops` roles, each wrapping the one before.
    pub async fn aws_config(&self, hops: usize) -> SharedCredentialsProvider {
        self.aws_config_with(
            hops,
            SharedTimeSource::new(SystemTimeSource::new()),
            SharedAsyncSleep::new(TokioSleep::new()),
        )
        .await
    }

    /// The same, with the given clock and sleep.
    pub async fn aws_config_with(
        &self,
        hops: usize,
        time: SharedTimeSource,
        sleep: SharedAsyncSleep,
    ) -> SharedCredentialsProvider {
        let sdk = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.sts.endpoint_url())
            .time_source(time)
            .sleep_impl(sleep)
            .build();
        let mut provider = SharedCredentialsProvider::new(self.base.clone());
        for (arn, external_id) in &ROLES[..hops] {
            let next = AssumeRoleProvider::builder(*arn)
                .external_id(*external_id)
                .session_name("aws-config")
                .configure(&sdk)
                .build_from_provider(provider)
                .await;
            provider = SharedCredentialsProvider::new(next);
        }
        provider
    }

    pub fn assume_role_calls(&self) -> usize {
        self.sts
            .requests()
            .iter()
            .filter(|r| r.action() == Some("AssumeRole"))
            .count()
    }
}

/// The SDK's default identity cache in front of a provider, resolved as an SDK client does
/// before each request.
#[derive(Clone)]
pub struct SdkCache {
    cache: SharedIdentityCache,
    resolver: SharedIdentityResolver,
    components: RuntimeComponents,
}

impl SdkCache {
    pub fn new(provider: SharedCredentialsProvider) -> SdkCache {
        SdkCache::with(
            provider,
            SharedTimeSource::new(SystemTimeSource::new()),
            SharedAsyncSleep::new(TokioSleep::new()),
        )
    }

    /// The same, with the given clock and sleep.
    pub fn with(
        provider: SharedCredentialsProvider,
        time: SharedTimeSource,
        sleep: SharedAsyncSleep,
    ) -> SdkCache {
        SdkCache {
            cache: IdentityCache::lazy().build(),
            resolver: SharedIdentityResolver::new(provider),
            components: RuntimeComponentsBuilder::for_tests()
                .with_time_source(Some(time))
                .with_sleep_impl(Some(sleep))
                .build()
                .unwrap(),
        }
    }

    pub async fn identity(&self) -> Identity {
        let config = ConfigBag::base();
        self.cache
            .resolve_cached_identity(self.resolver.clone(), &self.components, &config)
            .await
            .unwrap()
    }
}

/// Percentile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}
