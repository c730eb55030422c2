//! Prometheus metrics, through the `prometheus-client` crate (OpenMetrics text).
//!
//! The metric handles live in [`Metrics`], owned by `events::Stats`; only the
//! functions in `events` update them, next to the log line for the same event.
//! Names follow Prometheus conventions: a `kafka_feeder_` prefix, `_total` for
//! counters, the unit (`_seconds`, `_bytes`) in the name, help text on each.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EntryLabel {
    pub entry: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub preset: String,
}

pub struct Metrics {
    registry: Registry,
    pub delivered: Counter,
    pub scheduled: Counter,
    pub schedule_entry: Family<EntryLabel, Gauge>,
    pub failed: Family<ReasonLabel, Counter>,
    pub batches: Counter,
    pub producer_restarts: Family<ReasonLabel, Counter>,
    pub sent_bytes: Counter,
    pub delivery_latency: Histogram,
    pub batch_size: Histogram,
    pub batch_duration: Histogram,
    pub schedule_lag: Gauge<f64, AtomicU64>,
    pub in_flight: Gauge,
    pub dataset_records: Gauge,
    pub dataset_bytes: Gauge,
    pub dataset_load_seconds: Gauge<f64, AtomicU64>,
    pub dataset_reloads: Family<ResultLabel, Counter>,
    pub values_skipped: Counter,
}

impl Metrics {
    pub fn new(preset: &str) -> Self {
        let mut root = Registry::default();
        let r = root.sub_registry_with_prefix("kafka_feeder");
        let m = Self {
            registry: Registry::default(),
            delivered: Counter::default(),
            scheduled: Counter::default(),
            schedule_entry: Family::default(),
            failed: Family::default(),
            batches: Counter::default(),
            producer_restarts: Family::default(),
            sent_bytes: Counter::default(),
            // 0.5 ms .. ~16 s
            delivery_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            // 1 .. 65536 records
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 17)),
            // 0.5 ms .. ~16 s, like the delivery latency
            batch_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            schedule_lag: Gauge::default(),
            in_flight: Gauge::default(),
            dataset_records: Gauge::default(),
            dataset_bytes: Gauge::default(),
            dataset_load_seconds: Gauge::default(),
            dataset_reloads: Family::default(),
            values_skipped: Counter::default(),
        };
        r.register("messages_delivered", "Messages the broker acknowledged", m.delivered.clone());
        r.register(
            "messages_scheduled",
            "Messages the pacing made due and the loop handed to the send path: the offered load",
            m.scheduled.clone(),
        );
        r.register(
            "schedule_entry_active",
            "1 for the PRESET_SCHEDULE entry in force, 0 for the others",
            m.schedule_entry.clone(),
        );
        r.register("messages_failed", "Messages that failed permanently, by librdkafka error code", m.failed.clone());
        r.register("batches", "Batches sent (one per handled tick)", m.batches.clone());
        r.register(
            "producer_restarts",
            "Kafka producers rebuilt after a fatal error, by the error",
            m.producer_restarts.clone(),
        );
        r.register_with_unit("sent", "Payload bytes handed to the producer", Unit::Bytes, m.sent_bytes.clone());
        r.register_with_unit(
            "delivery_latency",
            "Time from enqueue to broker acknowledgement",
            Unit::Seconds,
            m.delivery_latency.clone(),
        );
        r.register_with_unit("batch_size", "Records per batch", Unit::Other("records".into()), m.batch_size.clone());
        r.register_with_unit(
            "batch_duration",
            "Time from a batch's first enqueue to its last delivery report",
            Unit::Seconds,
            m.batch_duration.clone(),
        );
        r.register_with_unit(
            "schedule_lag",
            "How late the last batch was enqueued after its scheduled tick",
            Unit::Seconds,
            m.schedule_lag.clone(),
        );
        r.register("messages_in_flight", "Messages sent and not yet delivered or failed", m.in_flight.clone());
        r.register("dataset_records", "Records held in memory", m.dataset_records.clone());
        r.register_with_unit("dataset", "Bytes of JSON records held in memory", Unit::Bytes, m.dataset_bytes.clone());
        r.register_with_unit(
            "dataset_load",
            "Seconds the dataset took to load",
            Unit::Seconds,
            m.dataset_load_seconds.clone(),
        );
        r.register(
            "dataset_reloads",
            "Dataset reloads: swapped (a new version is in use), failed (the old one kept)",
            m.dataset_reloads.clone(),
        );
        r.register(
            "values_skipped",
            "Messages not sent because their value does not fit the value schema (a template's renders)",
            m.values_skipped.clone(),
        );
        let build: Family<BuildLabels, Gauge> = Family::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION").into(), preset: preset.into() }).set(1);
        r.register("build_info", "Version and preset of this kafka-feeder (always 1)", build);
        Self { registry: root, ..m }
    }

    /// The exposition in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an empty scrape would show it if it did.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        match format {
            Format::OpenMetrics => out,
            Format::Prometheus => to_prometheus_text(&out),
        }
    }
}

/// The two text formats a scraper may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
    /// `text/plain; version=0.0.4`, for scrapers that do not accept OpenMetrics.
    Prometheus,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// OpenMetrics only for a scraper that says it accepts it (Prometheus does);
    /// anything else (curl, older parsers) gets the classic text format.
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }
}

/// prometheus-client writes only OpenMetrics. The 0.0.4 text format differs
/// in what matters to its parsers: a counter's family is named with its
/// `_total` suffix in `# HELP`/`# TYPE` (else parsers see an untyped
/// `_total` metric), and there are no `# UNIT` or `# EOF` lines.
fn to_prometheus_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(name) = line.strip_prefix("# TYPE ").and_then(|r| r.strip_suffix(" counter")) {
            counters.insert(name.to_owned());
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let rest = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or(line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        match rest {
            Some((tag, r)) => {
                let (name, tail) = r.split_once(' ').unwrap_or((r, ""));
                let suffix = if counters.contains(name) { "_total" } else { "" };
                out.push_str(&format!("{tag}{name}{suffix} {tail}"));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_conventional_names_and_help() {
        let m = Metrics::new("high");
        m.delivered.inc();
        m.failed.get_or_create(&ReasonLabel { reason: "MessageTimedOut".into() }).inc_by(2);
        m.delivery_latency.observe(0.003);
        let text = m.encode(Format::OpenMetrics);
        for line in [
            "kafka_feeder_messages_delivered_total 1",
            "kafka_feeder_messages_failed_total{reason=\"MessageTimedOut\"} 2",
            "kafka_feeder_delivery_latency_seconds_count 1",
            "kafka_feeder_build_info{version=\"",
            "# HELP kafka_feeder_schedule_lag_seconds ",
            "# TYPE kafka_feeder_sent_bytes counter",
            "kafka_feeder_dataset_bytes 0",
            "kafka_feeder_batch_size_records_count 0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn prometheus_text_names_counter_families_with_total_and_drops_openmetrics_lines() {
        let m = Metrics::new("high");
        m.delivered.inc_by(3);
        let text = m.encode(Format::Prometheus);
        for line in [
            "# TYPE kafka_feeder_messages_delivered_total counter",
            "# HELP kafka_feeder_messages_delivered_total Messages the broker acknowledged.",
            "kafka_feeder_messages_delivered_total 3",
            "# TYPE kafka_feeder_sent_bytes_total counter",
            "# TYPE kafka_feeder_delivery_latency_seconds histogram",
            "# TYPE kafka_feeder_schedule_lag_seconds gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
        assert_eq!(Format::negotiate(Some("text/plain;version=0.0.4")), Format::Prometheus);
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")),
            Format::OpenMetrics
        );
    }
}
