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
use std::sync::{Arc, Weak};

use aws_smithy_observability::instruments::{AsyncMeasure, Histogram, MonotonicCounter};
use aws_smithy_observability::meter::Meter;
use aws_smithy_observability::{AttributeValue, Attributes, TelemetryProvider};
use parking_lot::Mutex;

use crate::error::ErrorKind;

/// The instrumentation scope under which the crate's meter is created.
const SCOPE: &str = "aws-role-chain";

/// Where the chain's values go: the instruments of the builder's telemetry provider, else of the
/// global one, looked up at each record (as the SDK's own metrics do) so that a provider
/// installed after `build()` is used too; nothing for the no-op provider. `Default`: nowhere.
#[derive(Clone, Default)]
pub(crate) struct Metrics(Option<Arc<Sink>>);

struct Sink {
    chain: String,
    given: Option<Arc<TelemetryProvider>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The telemetry provider `instruments` come from.
    provider: Option<Arc<TelemetryProvider>>,
    /// `None` for the no-op provider.
    instruments: Option<Arc<Instruments>>,
    /// The gauges, registered with `provider` while their handles live.
    gauges: Vec<Weak<GaugeSpec>>,
}

/// A gauge: what it reads, and its registration with the current provider.
struct GaugeSpec {
    name: &'static str,
    units: &'static str,
    description: &'static str,
    read: Box<dyn Fn() -> Option<f64> + Send + Sync>,
    registered: Mutex<Option<Arc<dyn AsyncMeasure<Value = f64>>>>,
}

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
    /// The metrics of the chain named `chain`, recorded through `given`, else through the
    /// global telemetry provider.
    pub(crate) fn new(given: Option<Arc<TelemetryProvider>>, chain: &str) -> Self {
        Metrics(Some(Arc::new(Sink {
            chain: chain.to_owned(),
            given,
            state: Mutex::default(),
        })))
    }

    /// The instruments of the current provider, if it records.
    fn current(&self) -> Option<Arc<Instruments>> {
        let sink = self.0.as_ref()?;
        let provider = match &sink.given {
            Some(provider) => provider.clone(),
            // Fails only while another thread holds the slot's lock to replace it.
            None => aws_smithy_observability::global::get_telemetry_provider().ok()?,
        };
        let mut state = sink.state.lock();
        if !state
            .provider
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, &provider))
        {
            state.instruments = Instruments::new(&provider, &sink.chain).map(Arc::new);
            state.provider = Some(provider);
            state.gauges.retain(|gauge| gauge.strong_count() > 0);
            for gauge in state.gauges.iter().filter_map(Weak::upgrade) {
                gauge.register(state.instruments.as_deref());
            }
        }
        state.instruments.clone()
    }

    /// Whether values are recorded now.
    pub(crate) fn is_on(&self) -> bool {
        self.current().is_some()
    }

    /// One `AssumeRole` request of hop `hop`, with its outcome and how long it took.
    pub(crate) fn assume_role_call(&self, hop: usize, outcome: &'static str, seconds: f64) {
        if let Some(m) = self.current() {
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
        if let Some(m) = self.current() {
            let attributes = [
                ("trigger", text(trigger.as_str())),
                ("outcome", text(outcome)),
            ];
            m.refreshes.add(1, Some(&m.attributes(attributes)), None);
        }
    }

    /// One call that waited for a chain run.
    pub(crate) fn waited(&self) {
        if let Some(m) = self.current() {
            m.waits.add(1, Some(&m.attributes([])), None);
        }
    }

    /// One call answered with an error of `kind`.
    pub(crate) fn error(&self, kind: ErrorKind) {
        if let Some(m) = self.current() {
            let attributes = [("kind", text(kind_name(kind)))];
            m.errors.add(1, Some(&m.attributes(attributes)), None);
        }
    }

    /// One request answered by the credentials endpoint with `status`.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn server_request(&self, status: u16) {
        if let Some(m) = self.current() {
            let attributes = [("status", AttributeValue::I64(i64::from(status)))];
            m.requests.add(1, Some(&m.attributes(attributes)), None);
        }
    }

    /// `n` tenants evicted from a pool.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn evicted(&self, n: u64) {
        if let Some(m) = self.current() {
            m.evictions.add(n, Some(&m.attributes([])), None);
        }
    }

    /// One call answered with a tenant's refusal, without a request.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn refusal_served(&self) {
        if let Some(m) = self.current() {
            m.refusals_served.add(1, Some(&m.attributes([])), None);
        }
    }

    /// How long one of a pool's requests waited for its turn.
    #[cfg_attr(not(feature = "pool"), allow(dead_code))]
    pub(crate) fn queue_wait(&self, seconds: f64) {
        if let Some(m) = self.current() {
            m.queue_wait.record(seconds, Some(&m.attributes([])), None);
        }
    }

    /// A gauge named `name` in `units`, whose value `read` gives when the meter collects
    /// (nothing while it gives `None`), registered while the returned handle lives.
    pub(crate) fn gauge(
        &self,
        name: &'static str,
        units: &'static str,
        description: &'static str,
        read: impl Fn() -> Option<f64> + Send + Sync + 'static,
    ) -> Gauge {
        let Some(sink) = &self.0 else {
            return Gauge(None);
        };
        let gauge = Arc::new(GaugeSpec {
            name,
            units,
            description,
            read: Box::new(read),
            registered: Mutex::default(),
        });
        let instruments = self.current();
        sink.state.lock().gauges.push(Arc::downgrade(&gauge));
        gauge.register(instruments.as_deref());
        Gauge(Some(gauge))
    }
}

impl GaugeSpec {
    /// Registers the gauge with `instruments`' meter (none: nowhere), ending the registration
    /// it had.
    fn register(self: &Arc<Self>, instruments: Option<&Instruments>) {
        let measure = instruments.map(|m| {
            let attributes = m.attributes([]);
            let gauge = Arc::downgrade(self);
            m.meter
                .create_gauge(self.name, move |measure: &dyn AsyncMeasure<Value = f64>| {
                    if let Some(value) = gauge.upgrade().and_then(|gauge| (gauge.read)()) {
                        measure.record(value, Some(&attributes), None);
                    }
                })
                .set_units(self.units)
                .set_description(self.description)
                .build()
        });
        if let Some(old) = std::mem::replace(&mut *self.registered.lock(), measure) {
            old.stop();
        }
    }
}

impl Instruments {
    /// The crate's instruments on `provider`'s meter; none for the no-op provider.
    fn new(provider: &TelemetryProvider, chain: &str) -> Option<Instruments> {
        let meters = provider.meter_provider();
        if meters.provider_name() == "noop" {
            return None;
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
        Some(Instruments {
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
        })
    }

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
            Some(sink) => f
                .debug_struct("Metrics")
                .field("chain", &sink.chain)
                .finish(),
            None => f.write_str("Metrics(off)"),
        }
    }
}

/// A gauge, registered until dropped.
#[derive(Default)]
pub(crate) struct Gauge(Option<Arc<GaugeSpec>>);

impl Drop for Gauge {
    fn drop(&mut self) {
        if let Some(measure) = self.0.as_ref().and_then(|g| g.registered.lock().take()) {
            measure.stop();
        }
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Gauge").field(&self.0.is_some()).finish()
    }
}
