//! # Metrics
//!
//! The crate records its metrics through `aws-smithy-observability`, the telemetry layer of the
//! AWS SDK for Rust itself. A provider or pool takes its meter from the telemetry provider given
//! to its builder (`telemetry_provider`), else from the global one, looked up at each record as
//! the SDK's own metrics do (so a provider installed after `build()` is used from then on). An
//! application that wired the SDK to OpenTelemetry with `aws-smithy-observability-otel` sees
//! these instruments next to the SDK's, with nothing else to configure:
//!
//! ```no_run
//! use std::sync::Arc;
//! use aws_smithy_observability::TelemetryProvider;
//! use aws_smithy_observability_otel::meter::OtelMeterProvider;
//!
//! # fn example(otel: opentelemetry_sdk::metrics::SdkMeterProvider) {
//! // Once, at start-up.
//! let meters = Arc::new(OtelMeterProvider::new(otel));
//! let telemetry = TelemetryProvider::builder().meter_provider(meters).build();
//! aws_smithy_observability::global::set_telemetry_provider(telemetry).unwrap();
//! # }
//! ```
//!
//! With the no-op provider, the default of both, nothing is created or recorded. The cached
//! path records nothing in any case: only waits, errors and what reaches STS are counted, so a
//! call served from the cache costs the same with metrics on (BENCHMARKS.md measures both).
//! `examples/metrics.rs` exports them through OpenTelemetry and prints them.
//!
//! ## Instruments
//!
//! | name | kind, unit | attributes | what |
//! |---|---|---|---|
//! | `aws_role_chain.assume_role.calls` | counter | `hop`, `outcome` | `AssumeRole` requests sent to STS, each retry of the SDK's included |
//! | `aws_role_chain.assume_role.duration` | histogram, s | `hop` | how long each request took |
//! | `aws_role_chain.refreshes` | counter | `trigger`, `outcome` | chain runs: `background` (ahead of expiry), `caller` (no credentials to serve), `invalidation` |
//! | `aws_role_chain.credentials.waits` | counter | | calls that waited for a chain run (counted once per call) |
//! | `aws_role_chain.credentials.errors` | counter | `kind` | calls answered with an error |
//! | `aws_role_chain.credentials.time_to_expiry` | gauge, s | | how long the credentials in service stay valid (0 once expired), read when the meter collects |
//! | `aws_role_chain.server.requests` | counter | `status` | requests the credentials endpoint answered |
//! | `aws_role_chain.pool.tenants`, `aws_role_chain.pool.active` | gauges | | tenants held, and used within the idle timeout |
//! | `aws_role_chain.pool.evictions` | counter | | tenants evicted to stay within `max_tenants` |
//! | `aws_role_chain.pool.refusals_served` | counter | | calls answered with a tenant's refusal, without a request |
//! | `aws_role_chain.pool.allowed_rate` | gauge, requests/s | | the rate of `AssumeRole` requests the pool allows itself now |
//! | `aws_role_chain.pool.queue_wait` | histogram, s | | how long each request of a pool waited for its turn |
//!
//! `outcome` is `ok` or the error kind in snake case (`throttled`, `access_denied`,
//! `expired_token`, `unavailable`, `timed_out`, `invalid_response`, `invalid_configuration`,
//! `base_credentials`, `mfa_token`), as [`ErrorKind`](crate::ErrorKind) names it; `kind` too.
//! A request's outcome is that of its answer, so a retry the SDK makes after a `503` is
//! counted as `unavailable`, then `ok`.
//!
//! ## Attributes
//!
//! Every value carries `chain`: the builder's `name("storage")`, by default the last role's name
//! (a pool's: `"pool"`), on each value rather than on the meter, since the OpenTelemetry bridge
//! drops a meter's own attributes. The others are bounded: a hop's index, an outcome, an error
//! kind, an HTTP status, a trigger. No attribute ever holds a role ARN, an account, an ExternalId,
//! a key or a token, and a pool's tenants have no attribute of their own: thousands of customer
//! roles would make the series unbounded, and reveal them.
//!
//! ## Health
//!
//! For probes that cannot call `status()`, the credentials endpoint answers a health path
//! without the token: see [Sharing](crate::guide::sharing#health).
