//! The cost of a cached call next to the floor: a provider that returns static credentials.
//!
//! ```text
//! cargo bench --bench cached
//! ```

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_role_chain::test_util::{LocalRole, LocalSts};
use aws_role_chain::{Role, RoleChainProvider};
use aws_types::region::Region;
use criterion::{criterion_group, criterion_main, Criterion};

fn cached(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sts, provider) = runtime.block_on(async {
        let sts = LocalSts::start().await.unwrap();
        let base = sts.add_user("222222222222", "compute");
        sts.add_role(
            LocalRole::new("arn:aws:iam::111111111111:role/storage").external_id("ext-id-1"),
        );
        let provider = RoleChainProvider::builder()
            .base_provider(base)
            .endpoint_url(sts.endpoint_url())
            .region(Region::new("us-east-1"))
            .assume(Role::new("arn:aws:iam::111111111111:role/storage").external_id("ext-id-1"))
            .build()
            .unwrap();
        provider.credentials().await.unwrap();
        (sts, provider)
    });
    let floor = SharedCredentialsProvider::new(Credentials::new(
        "AKID",
        "secret",
        Some("token".into()),
        None,
        "static",
    ));

    let mut group = c.benchmark_group("cached call");
    group.bench_function("floor: static credentials", |b| {
        b.to_async(&runtime)
            .iter(|| async { floor.provide_credentials().await.unwrap() })
    });
    group.bench_function("RoleChainProvider::credentials", |b| {
        b.to_async(&runtime)
            .iter(|| async { provider.credentials().await.unwrap() })
    });
    group.bench_function("RoleChainProvider::provide_credentials", |b| {
        b.to_async(&runtime)
            .iter(|| async { provider.provide_credentials().await.unwrap() })
    });
    group.finish();
    drop(sts);
}

criterion_group!(benches, cached);
criterion_main!(benches);
