//! A meter provider of `aws-smithy-observability` that records every value with its attributes,
//! and collects its gauges when asked, as an exporter would.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use aws_smithy_observability::instruments::{
    AsyncInstrumentBuilder, AsyncMeasure, Histogram, InstrumentBuilder, MonotonicCounter,
    ProvideInstrument, UpDownCounter,
};
use aws_smithy_observability::meter::{Meter, ProvideMeter};
use aws_smithy_observability::{AttributeValue, Attributes, Context, TelemetryProvider};
use parking_lot::Mutex;

/// One recorded value: its instrument, its value and its attributes as text.
#[derive(Clone, Debug)]
pub struct Value {
    pub name: String,
    pub value: f64,
    pub attributes: BTreeMap<String, String>,
}

type Callback = Arc<dyn Fn(&dyn AsyncMeasure<Value = f64>) + Send + Sync>;
type Gauges = Arc<Mutex<Vec<(Arc<Instrument>, Callback)>>>;

/// Every value recorded, and the gauges registered (with whether they were stopped).
#[derive(Clone, Default)]
pub struct Recorder {
    values: Arc<Mutex<Vec<Value>>>,
    gauges: Gauges,
}

impl Recorder {
    /// A telemetry provider whose meters record here.
    pub fn provider(&self) -> TelemetryProvider {
        TelemetryProvider::builder()
            .meter_provider(Arc::new(self.clone()))
            .build()
    }

    /// Every value recorded so far.
    pub fn values(&self) -> Vec<Value> {
        self.values.lock().clone()
    }

    /// Calls every gauge that is not stopped, as a collection does.
    pub fn collect(&self) {
        let gauges = self.gauges.lock().clone();
        for (gauge, callback) in gauges {
            if !*gauge.stopped.lock() {
                callback(gauge.as_ref());
            }
        }
    }

    /// The values of `name` whose attributes include `with`.
    pub fn of(&self, name: &str, with: &[(&str, &str)]) -> Vec<f64> {
        self.values()
            .into_iter()
            .filter(|v| v.name == name)
            .filter(|v| {
                with.iter()
                    .all(|(k, want)| v.attributes.get(*k).is_some_and(|got| got == want))
            })
            .map(|v| v.value)
            .collect()
    }

    /// The sum of [`of`](Self::of).
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.of(name, with).iter().sum()
    }

    /// The last value a collection gave gauge `name`.
    pub fn gauge(&self, name: &str) -> Option<f64> {
        self.of(name, &[]).last().copied()
    }

    /// Whether a gauge named `name` was registered and then stopped.
    pub fn stopped(&self, name: &str) -> bool {
        let gauges = self.gauges.lock();
        let named = gauges.iter().filter(|(g, _)| g.name == name);
        named.clone().count() > 0 && named.into_iter().all(|(g, _)| *g.stopped.lock())
    }

    fn instrument(&self, name: &str) -> Arc<Instrument> {
        Arc::new(Instrument {
            name: name.to_owned(),
            values: self.values.clone(),
            stopped: Mutex::new(false),
        })
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl ProvideMeter for Recorder {
    fn get_meter(&self, _scope: &'static str, _attributes: Option<&Attributes>) -> Meter {
        Meter::new(Arc::new(self.clone()))
    }

    fn provider_name(&self) -> &'static str {
        "recorder"
    }
}

impl ProvideInstrument for Recorder {
    fn create_gauge(
        &self,
        builder: AsyncInstrumentBuilder<'_, Arc<dyn AsyncMeasure<Value = f64>>, f64>,
    ) -> Arc<dyn AsyncMeasure<Value = f64>> {
        let gauge = self.instrument(builder.get_name());
        self.gauges
            .lock()
            .push((gauge.clone(), builder.get_callback()));
        gauge
    }

    fn create_up_down_counter(
        &self,
        builder: InstrumentBuilder<'_, Arc<dyn UpDownCounter>>,
    ) -> Arc<dyn UpDownCounter> {
        self.instrument(builder.get_name())
    }

    fn create_async_up_down_counter(
        &self,
        builder: AsyncInstrumentBuilder<'_, Arc<dyn AsyncMeasure<Value = i64>>, i64>,
    ) -> Arc<dyn AsyncMeasure<Value = i64>> {
        unimplemented!("{} is not an instrument of the crate's", builder.get_name())
    }

    fn create_monotonic_counter(
        &self,
        builder: InstrumentBuilder<'_, Arc<dyn MonotonicCounter>>,
    ) -> Arc<dyn MonotonicCounter> {
        self.instrument(builder.get_name())
    }

    fn create_async_monotonic_counter(
        &self,
        builder: AsyncInstrumentBuilder<'_, Arc<dyn AsyncMeasure<Value = u64>>, u64>,
    ) -> Arc<dyn AsyncMeasure<Value = u64>> {
        unimplemented!("{} is not an instrument of the crate's", builder.get_name())
    }

    fn create_histogram(
        &self,
        builder: InstrumentBuilder<'_, Arc<dyn Histogram>>,
    ) -> Arc<dyn Histogram> {
        self.instrument(builder.get_name())
    }
}

/// One instrument of any kind, recording into the recorder's values.
pub struct Instrument {
    name: String,
    values: Arc<Mutex<Vec<Value>>>,
    stopped: Mutex<bool>,
}

impl Instrument {
    fn push(&self, value: f64, attributes: Option<&Attributes>) {
        let attributes = attributes
            .map(|a| {
                a.attributes()
                    .iter()
                    .map(|(k, v)| (k.clone(), text(v)))
                    .collect()
            })
            .unwrap_or_default();
        self.values.lock().push(Value {
            name: self.name.clone(),
            value,
            attributes,
        });
    }
}

fn text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::I64(n) => n.to_string(),
        AttributeValue::F64(n) => n.to_string(),
        AttributeValue::String(s) => s.clone(),
        AttributeValue::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

impl fmt::Debug for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Instrument").field(&self.name).finish()
    }
}

impl MonotonicCounter for Instrument {
    fn add(&self, value: u64, attributes: Option<&Attributes>, _: Option<&dyn Context>) {
        self.push(value as f64, attributes);
    }
}

impl UpDownCounter for Instrument {
    fn add(&self, value: i64, attributes: Option<&Attributes>, _: Option<&dyn Context>) {
        self.push(value as f64, attributes);
    }
}

impl Histogram for Instrument {
    fn record(&self, value: f64, attributes: Option<&Attributes>, _: Option<&dyn Context>) {
        self.push(value, attributes);
    }
}

impl AsyncMeasure for Instrument {
    type Value = f64;

    fn record(&self, value: f64, attributes: Option<&Attributes>, _: Option<&dyn Context>) {
        self.push(value, attributes);
    }

    fn stop(&self) {
        *self.stopped.lock() = true;
    }
}
