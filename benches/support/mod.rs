//! Shared by the benchmarks: a LocalSts with a chain of roles, this crate's provider and
//! aws-config's `AssumeRoleProvider` over the same chain, and the SDK's lazy identity cache.
#![allow(dead_code)]

use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_role_chain::RoleChainProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_runtime_api::client::identity::{
    Identity, ResolveCachedIdentity, SharedIdentityCache, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;
use aws_types::SdkConfig;

pub mod chart;
pub mod sim;

#[path = "../../tests/common/mod.rs"]
mod common;

// Each benchmark uses some of them.
#[allow(unused_imports)]
pub use common::{eventually, now, stopwatch, World, ROLES};

/// The benchmarks' view of the shared test world.
pub trait Bench {
    /// This crate's provider over the first `hops` roles.
    fn ours(&self, hops: usize) -> RoleChainProvider;
    /// aws-config's providers over the first `hops` roles, each wrapping the one before.
    async fn aws_config(&self, hops: usize) -> SharedCredentialsProvider;
    /// The same, with the given clock and sleep.
    async fn aws_config_with(
        &self,
        hops: usize,
        time: SharedTimeSource,
        sleep: SharedAsyncSleep,
    ) -> SharedCredentialsProvider;
    fn assume_role_calls(&self) -> usize;
}

impl Bench for World {
    fn ours(&self, hops: usize) -> RoleChainProvider {
        self.chain(hops).build().unwrap()
    }

    async fn aws_config(&self, hops: usize) -> SharedCredentialsProvider {
        self.aws_config_with(
            hops,
            SharedTimeSource::new(SystemTimeSource::new()),
            SharedAsyncSleep::new(TokioSleep::new()),
        )
        .await
    }

    async fn aws_config_with(
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
        let mut provider = SharedCredentialsProvider::new(self.compute.clone());
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

    fn assume_role_calls(&self) -> usize {
        self.assume_role_requests().len()
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
