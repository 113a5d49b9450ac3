//! The chain's metrics exported through OpenTelemetry, as an application that wired the AWS SDK
//! to OpenTelemetry gets them: `aws-smithy-observability-otel` bridges the SDK's telemetry layer
//! to an OpenTelemetry meter provider, installed once in the global slot, where the provider's
//! builder finds it. After a refresh that meets a 503 and an invalidation, against a LocalSts on
//! 127.0.0.1, the OpenTelemetry reader collects and the example prints what it exported:
//!
//! ```text
//! cargo run --example metrics
//! ```
//!
//! Any OpenTelemetry exporter takes the place of the in-memory one (OTLP to a collector, say).

use std::sync::Arc;

use aws_role_chain::test_util::{Fault, LocalRole, LocalSts};
use aws_role_chain::{Role, RoleChainProvider};
use aws_smithy_observability::TelemetryProvider;
use aws_smithy_observability_otel::meter::OtelMeterProvider;
use aws_types::region::Region;
use opentelemetry_sdk::metrics::data::{Gauge, Histogram, Sum};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::testing::metrics::InMemoryMetricsExporter;

const COMPUTE_USER: &str = "arn:aws:iam::222222222222:user/compute";
const STORAGE: &str = "arn:aws:iam::111111111111:role/storage-access";

// The periodic reader exports from a task of its own while `flush` blocks: two threads.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The application's OpenTelemetry pipeline, bridged into the SDK's global slot.
    let exporter = InMemoryMetricsExporter::default();
    let reader = PeriodicReader::builder(exporter.clone(), Tokio).build();
    let meters = Arc::new(OtelMeterProvider::new(
        SdkMeterProvider::builder().with_reader(reader).build(),
    ));
    let telemetry = TelemetryProvider::builder()
        .meter_provider(meters.clone())
        .build();
    aws_smithy_observability::global::set_telemetry_provider(telemetry)?;

    let sts = LocalSts::start().await?;
    let compute = sts.add_user("222222222222", "compute");
    sts.add_role(
        LocalRole::new(STORAGE)
            .trust(COMPUTE_USER)
            .external_id("7f3a9c"),
    );
    let provider = RoleChainProvider::builder()
        .base_provider(compute)
        .endpoint_url(sts.endpoint_url())
        .region(Region::new("us-east-1"))
        .assume(Role::new(STORAGE).external_id("7f3a9c"))
        .name("storage")
        .build()?;

    // STS answers the first request with a 503; the SDK's retry gets the credentials.
    sts.push_faults([Fault::ServiceUnavailable]);
    provider.credentials().await?;
    // A service rejected them, say: one more run, from scratch.
    provider.invalidate();
    provider.credentials().await?;

    meters.flush()?;
    // The crate's instruments, and the SDK's own (`smithy.client.*`) next to them.
    let mut seen = Vec::new();
    for resource in exporter.get_finished_metrics()? {
        for scope in resource.scope_metrics {
            for metric in scope.metrics {
                let data = metric.data.as_any();
                let points: Vec<(String, String)> =
                    if let Some(sum) = data.downcast_ref::<Sum<u64>>() {
                        sum.data_points
                            .iter()
                            .map(|p| (attributes(&p.attributes), p.value.to_string()))
                            .collect()
                    } else if let Some(gauge) = data.downcast_ref::<Gauge<f64>>() {
                        gauge
                            .data_points
                            .iter()
                            .map(|p| (attributes(&p.attributes), format!("{:.0}", p.value)))
                            .collect()
                    } else if let Some(histogram) = data.downcast_ref::<Histogram<f64>>() {
                        histogram
                            .data_points
                            .iter()
                            .map(|p| {
                                let summary = format!("{} values, sum {:.3}", p.count, p.sum);
                                (attributes(&p.attributes), summary)
                            })
                            .collect()
                    } else {
                        continue;
                    };
                for (attributes, value) in points {
                    println!("{:<44} {attributes:<55} {value}", metric.name);
                    seen.push(format!("{} {attributes}", metric.name));
                }
            }
        }
    }
    for wanted in [
        "aws_role_chain.assume_role.calls chain=storage hop=0 outcome=unavailable",
        "aws_role_chain.assume_role.calls chain=storage hop=0 outcome=ok",
        "aws_role_chain.refreshes chain=storage outcome=ok trigger=invalidation",
        "aws_role_chain.credentials.time_to_expiry chain=storage",
    ] {
        if !seen.iter().any(|s| s == wanted) {
            return Err(format!("OpenTelemetry did not export {wanted}").into());
        }
    }
    Ok(())
}

/// `key=value` pairs, sorted by key.
fn attributes(attributes: &[opentelemetry::KeyValue]) -> String {
    let mut pairs: Vec<String> = attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    pairs.sort();
    pairs.join(" ")
}
