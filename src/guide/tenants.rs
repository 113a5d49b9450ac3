//! # Many tenants
//!
//! The ExternalId exists for one situation above all: a vendor's service, in its own account,
//! reaching into many customers' accounts, each customer's role trusting the vendor's account on
//! condition of the ExternalId the vendor issued to that customer. Such a service holds thousands
//! of chains at once, `base → vendor broker role → customer role`, and a
//! [`RoleChainPool`](crate::RoleChainPool) holds them for it:
//!
//! - **Shared hops once.** The roles given to the pool's builder with `assume` (the vendor's
//!   broker) are fetched once for the whole pool, refreshed once, and sign every tenant's first
//!   hop. A tenant's refresh costs one `AssumeRole` per tenant hop.
//! - **One entry per distinct chain.** Two [`Tenant`](crate::Tenant) handles share credentials
//!   only if every setting of every role is equal (ARN, ExternalId, session name, duration,
//!   policies, tags, transitive tag keys, source identity); equal ones share one entry and one
//!   call.
//! - **Active and idle.** A tenant used within `idle_timeout` (15 min) is refreshed ahead of
//!   expiry exactly as a [`RoleChainProvider`](crate::RoleChainProvider) is, and its callers never
//!   wait while its credentials are valid. An idle tenant is not refreshed; its entry leaves the
//!   pool when its credentials expire, and its next caller waits for a fetch.
//! - **Bounded.** At most `max_tenants` (10,000) entries; beyond, the least recently used is
//!   evicted, so idle tenants go first. A handle to an evicted tenant still works.
//! - **One engine.** One task holds the refresh points of all tenants; at most
//!   `max_concurrent_sts_calls` (16) fetches run at once, each under
//!   [`RefreshPolicy::fetch_timeout`](crate::RefreshPolicy::fetch_timeout), so that one
//!   customer's hanging answer delays no other. Fetches a caller waits for go first.
//! - **Refusals cost nothing.** A tenant refused with `AccessDenied` (the customer removed the
//!   trust or changed the ExternalId) answers with that error at once, without a call, for
//!   `refusal_backoff` (1 min doubling to 15 min); `Tenant::invalidate` ends it.
//!
//! ## STS's quota
//!
//! STS allows about 600 `AssumeRole` calls per second per account and Region, shared by every
//! caller of the account, and the quota cannot be raised. A cold start of 10,000 tenants at full
//! speed would take the whole quota for 17 seconds and throttle the account's other callers; at
//! the pool's default `sts_rate_limit` of 50 it takes 3.5 minutes of 8 % of the quota. In
//! service, 10,000 active tenants with 1-hour credentials refresh about every 40 minutes: 4 calls
//! per second. STS counts calls as they arrive, and latency can bring calls sent apart
//! together, so the pool sends a request only while fewer than `sts_rate_limit` others are in
//! flight or ended within the last second, spaced evenly: then no second, wherever it starts,
//! sees more than the limit arrive, whatever the latencies. A throttling answer halves the rate; it grows back by a twentieth of the limit per
//! second. A caller whose fetch the pool's own limits keep from starting within the fetch
//! timeout gets [`ErrorKind::Throttled`](crate::ErrorKind::Throttled) saying that STS did not
//! refuse it. The pool's STS client does not retry on its own: each request is one turn.
//!
//! ## With SDK clients
//!
//! A [`Tenant`](crate::Tenant) is a `ProvideCredentials`. Either give each tenant a client of its
//! own, or share one client and pass the tenant's credentials per request with
//! `config_override`. The shared client is built with `IdentityCache::no_cache()`: the pool
//! caches, and an SDK identity cache would keep a partition for each override. Measured
//! (BENCHMARKS.md in the repository): a client per tenant holds about 15 KiB per tenant; the
//! shared client costs about 6 µs more per request (1.11× a request on the tenant's own
//! client, against an STS that answers at once).
//!
//! ```rust
//! use aws_role_chain::{Role, RoleChainPool};
//! use aws_sdk_s3::config::IdentityCache;
//! # use aws_role_chain::test_util::{LocalRole, LocalSts};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let sts = LocalSts::start().await?;
//! # let compute = sts.add_user("333333333333", "compute");
//! # sts.add_role(LocalRole::new("arn:aws:iam::333333333333:role/broker").trust("arn:aws:iam::333333333333:user/compute"));
//! # sts.add_role(LocalRole::new("arn:aws:iam::111111111111:role/vendor-access").trust("arn:aws:iam::333333333333:role/broker").external_id("c-7f3a9c"));
//! # let sdk_config = aws_types::SdkConfig::builder()
//! #     .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
//! #     .region(aws_types::region::Region::new("eu-west-1"))
//! #     .build();
//! let pool = RoleChainPool::builder()
//!     .configure(&sdk_config)
//! #   .base_provider(compute).endpoint_url(sts.endpoint_url())
//!     .assume(Role::new("arn:aws:iam::333333333333:role/broker"))
//!     .build()?;
//! let customer = pool.tenant(
//!     Role::new("arn:aws:iam::111111111111:role/vendor-access").external_id("c-7f3a9c"),
//! )?;
//!
//! // A client per tenant.
//! let s3 = aws_sdk_s3::Client::from_conf(
//!     aws_sdk_s3::config::Builder::from(&sdk_config)
//!         .credentials_provider(customer.clone())
//!         .build(),
//! );
//!
//! // One client for all tenants, the tenant's credentials given per request.
//! let shared = aws_sdk_s3::Client::from_conf(
//!     aws_sdk_s3::config::Builder::from(&sdk_config)
//!         .identity_cache(IdentityCache::no_cache())
//!         .build(),
//! );
//! let request = shared
//!     .list_objects_v2()
//!     .bucket("customer-bucket")
//!     .customize()
//!     .config_override(aws_sdk_s3::config::Builder::default().credentials_provider(customer.clone()));
//! # let _ = (s3, request);
//! # assert!(customer.credentials().await.is_ok());
//! println!("{}", pool.status()); // tenants: 1 (1 active), evicted: 0; AssumeRole calls: 2, …
//! # Ok(()) }
//! ```
//!
//! `examples/tenants.rs` in the repository serves three customers' buckets through one pool
//! against `LocalSts`.
