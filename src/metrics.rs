//! The crate's metrics, through the AWS SDK for Rust's own telemetry layer
//! (`aws-smithy-observability`): the meter comes from the telemetry provider given to the builder,
//! else from the global one, so that an application that wired the SDK to OpenTelemetry sees these
//! instruments next to the SDK's.
//!
//! Every value carries the `chain` attribute (on the value: the OpenTelemetry bridge drops a
//! meter's own attributes) and, where it applies, a bounded set of others (a hop's index, an
//! outcome, an error kind, an HTTP status): never a role ARN, an account, an ExternalId or
//! anything of a tenant's. With the no-op provider (the SDK's default) nothing is created or
//! recorded, and no attribute is built.
//!
//! The cached path records nothing: only waits, errors and what reaches STS are counted.

use std::fmt;
use std::sync::Arc;

use aws_smithy_observability::instruments::{AsyncMeasure, Histogram, MonotonicCounter};
use aws_smithy_observability::meter::Meter;
use aws_smithy_observability::{AttributeValue, Attributes, TelemetryProvider};

use crate::error::ErrorKind;

/// The instrumentation scope under which the crate's meter is created.
const SCOPE: &str = "aws-role-chain";

/// Where the chain's values go: nowhere for the no-op provider.
#[derive(Clone, Default)]
pub(crate) struct Metrics(Option<Arc<Instruments>>);

struct Instruments {
    chain: String,
    meter: Meter,
    calls: Arc<dyn MonotonicCounter>,
    call_duration: Arc<dyn Histogram>,
    refreshes: Arc<dyn MonotonicCounter>,
    waits: Arc<dyn MonotonicCounter>,
    errors: Arc<dyn MonotonicCounter>,
    requests: Arc<dyn MonotonicCounter>,
    evictions: Arc<dyn MonotonicCounter>,
    refusals_served: Arc<dyn MonotonicCounter>,
    queue_wait: Arc<dyn Histogram>,
}

/// What started a refresh, as the `trigger` attribute of `aws_role_chain.refreshes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Ahead of expiry, while the credentials in service are still served.
    Background,
    /// Callers wait for it: there were no credentials to serve.
    Caller,
    /// An invalidation, after a service rejected the credentials.
    Invalidation,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Background => "background",
            Trigger::Caller => "caller",
            Trigger::Invalidation => "invalidation",
        }
    }
}

/// The `outcome` attribute: `ok`, else the error kind's name in snake case.
pub(crate) fn outcome(kind: Option<ErrorKind>) -> &'static str {
    match kind {
        None => "ok",
        Some(kind) => kind_name(kind),
    }
}

/// An error kind as an attribute value: `access_denied`, `throttled`, …
pub(crate) fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::AccessDenied => "access_denied",
        ErrorKind::Throttled => "throttled",
        ErrorKind::InvalidConfiguration => "invalid_configuration",
        ErrorKind::BaseCredentials => "base_credentials",
        ErrorKind::ExpiredToken => "expired_token",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::TimedOut => "timed_out",
        ErrorKind::InvalidResponse => "invalid_response",
        ErrorKind::MfaToken => "mfa_token",
    }
}

impl Metrics {
    /// The instruments of the chain named `chain`, from `provider`: none for the no-op one.
    pub(crate) fn new(provider: &TelemetryProvider, chain: &str) -> Self {
        let meters = provider.meter_provider();
        if meters.provider_name() == "noop" {
            return Metrics(None);
        }
        let meter = meters.get_meter(SCOPE, None);
        let counter = |name: &'static str, units: &'static str, description: &'static str| {
            meter
                .create_monotonic_counter(name)
                .set_units(units)
                .set_description(description)
                .build()
        };
        let histogram = |name: &'static str, description: &'static str| {
            meter
                .create_histogram(name)
                .set_units("s")
                .set_description(description)
                .build()
        };
        let instruments = Instruments {
            calls: counter(
                "aws_role_chain.assume_role.calls",
                "{request}",
                "AssumeRole requests sent to STS, retries included, by hop and outcome",
            ),
            call_duration: histogram(
                "aws_role_chain.assume_role.duration",
                "How long each AssumeRole request took, by hop",
            ),
            refreshes: counter(
                "aws_role_chain.refreshes",
                "{refresh}",
                "Chain runs, by what started them and their outcome",
            ),
            waits: counter(
                "aws_role_chain.credentials.waits",
                "{call}",
                "Calls for credentials that waited for a chain run",
            ),
            errors: counter(
                "aws_role_chain.credentials.errors",
                "{call}",
                "Calls for credentials answered with an error, by its kind",
            ),
            requests: counter(
                "aws_role_chain.server.requests",
                "{request}",
                "Requests the credentials endpoint answered, by HTTP status",
            ),
            evictions: counter(
                "aws_role_chain.pool.evictions",
                "{tenant}",
                "Tenants dropped from a pool to keep it within max_tenants",
            ),
            refusals_served: counter(
                "aws_role_chain.pool.refusals_served",
                "{call}",
                "Calls answered with a tenant's refusal by AccessDenied, without a request to STS",
            ),
            queue_wait: histogram(
                "aws_role_chain.pool.queue_wait",
                "How long a pool's AssumeRole requests waited for their turn under the rate limit",
            ),
            chain: chain.to_owned(),
            meter,
        };
        Metrics(Some(Arc::new(instruments)))
    }

    /// Whether values are recorded at all.
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// One `AssumeRole` request of hop `hop`, with its outcome and how long it took.
    pub(crate) fn assume_role_call(&self, hop: usize, outcome: &'static str, seconds: f64) {
        if let Some(m) = &self.0 {
            let hop = i64::try_from(hop).unwrap_or(i64::MAX);
            m.calls.add(
                1,
                Some(&m.attributes([
                    ("hop", AttributeValue::I64(hop)),
                    ("outcome", text(outcome)),
                ])),
                None,
            );
            m.call_duration.record(
                seconds,
                Some(&m.attributes([("hop", AttributeValue::I64(hop))])),
                None,
            );
        }
    }

    /// One chain run, with what started it and its outcome.
    pub(crate) fn refresh(&self, trigger: Trigger, outcome: &'static str) {
        if let Some(m) = &self.0 {
            let attributes = [
                ("trigger", text(trigger.as_str())),
                ("outcome", text(outcome)),
            ];
            m.refreshes.add(1, Some(&m.attributes(attributes)), None);
        }
    }

    /// One call that waited for a chain run.
    pub(crate) fn waited(&self) {
        if let Some(m) = &self.0 {
            m.waits.add(1, Some(&m.attributes([])), None);
        }
    }

    /// One call answered with an error of `kind`.
    pub(crate) fn error(&self, kind: ErrorKind) {
        if let Some(m) = &self.0 {
            let attributes = [("kind", text(kind_name(kind)))];
            m.errors.add(1, Some(&m.attributes(attributes)), None);
        }
    }

    /// One request answered by the credentials endpoint with `status`.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn server_request(&self, status: u16) {
        if let Some(m) = &self.0 {
            let attributes = [("status", AttributeValue::I64(i64::from(status)))];
            m.requests.add(1, Some(&m.attributes(attributes)), None);
        }
    }

    /// `n` tenants evicted from a pool.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn evicted(&self, n: u64) {
        if let Some(m) = &self.0 {
            m.evictions.add(n, Some(&m.attributes([])), None);
        }
    }

    /// One call answered with a tenant's refusal, without a request.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn refusal_served(&self) {
        if let Some(m) = &self.0 {
            m.refusals_served.add(1, Some(&m.attributes([])), None);
        }
    }

    /// How long one of a pool's requests waited for its turn.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn queue_wait(&self, seconds: f64) {
        if let Some(m) = &self.0 {
            m.queue_wait.record(seconds, Some(&m.attributes([])), None);
        }
    }

    /// A gauge named `name` in `units`, whose value `read` gives when the meter is collected
    /// (nothing while it gives `None`); it stops when the returned handle is dropped.
    pub(crate) fn gauge(
        &self,
        name: &'static str,
        units: &'static str,
        description: &'static str,
        read: impl Fn() -> Option<f64> + Send + Sync + 'static,
    ) -> Gauge {
        let Some(m) = &self.0 else {
            return Gauge(None);
        };
        let attributes = m.attributes([]);
        let measure = m
            .meter
            .create_gauge(name, move |measure: &dyn AsyncMeasure<Value = f64>| {
                if let Some(value) = read() {
                    measure.record(value, Some(&attributes), None);
                }
            })
            .set_units(units)
            .set_description(description)
            .build();
        Gauge(Some(measure))
    }
}

impl Instruments {
    /// `chain` and `more`.
    fn attributes<const N: usize>(&self, more: [(&'static str, AttributeValue); N]) -> Attributes {
        let mut attributes = Attributes::new();
        attributes.set("chain", text(&self.chain));
        for (key, value) in more {
            attributes.set(key, value);
        }
        attributes
    }
}

fn text(value: &str) -> AttributeValue {
    AttributeValue::String(value.to_owned())
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(m) => f.debug_struct("Metrics").field("chain", &m.chain).finish(),
            None => f.write_str("Metrics(off)"),
        }
    }
}

/// A gauge's registration, stopped on drop.
#[derive(Default)]
pub(crate) struct Gauge(Option<Arc<dyn AsyncMeasure<Value = f64>>>);

impl Drop for Gauge {
    fn drop(&mut self) {
        if let Some(measure) = &self.0 {
            measure.stop();
        }
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Gauge").field(&self.0.is_some()).finish()
    }
}
