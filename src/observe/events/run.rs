//! Configuration, startup, `check`, `/metrics` scrapes and shutdown: the
//! run's own facts.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::{error, info, warn};

use super::stats::{Stats, Totals};

// ---- configuration and startup -------------------------------------------------

pub fn http_listening(addr: std::net::SocketAddr) {
    info!(event = "http_listening", addr = %addr, "serving /healthz, /readyz, /metrics, /status and the status page at /");
}

pub fn http_failed(e: &dyn std::error::Error) {
    error!(event = "http_failed", error = %e, "the HTTP server stopped: /healthz, /readyz and /metrics no longer answer");
}

pub fn config_invalid(e: &dyn std::error::Error) {
    error!(event = "config_invalid", error = %e, exit_code = 2, "invalid configuration");
}

/// A variable that looks like a misspelling of a known one: it is ignored.
pub fn unknown_variable(name: &str, closest: &str) {
    warn!(
        event = "unknown_variable",
        variable = %name,
        closest = %closest,
        "{name} is not a kafka-feeder variable and is ignored; did you mean {closest}?"
    );
}

/// `settings` are (name, value with origin) pairs, secrets already redacted.
pub fn effective_config(settings: &[(String, String)]) {
    let settings: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    info!(event = "effective_config", settings = %settings.join(" "), "effective configuration");
}

/// The banner: what this replica is and what it will do.
pub fn starting(servers: &str, topic: &str, mode: &str) {
    info!(
        event = "starting",
        version = env!("CARGO_PKG_VERSION"),
        servers = %servers,
        topic = %topic,
        mode = %mode,
        "kafka-feeder starting"
    );
}

pub fn embedded_broker(bootstrap: &str) {
    warn!(
        event = "embedded_broker",
        bootstrap = %bootstrap,
        "KAFKA_BOOTSTRAP_SERVERS=embedded: using librdkafka's IN-PROCESS MOCK broker; messages stay in this process and are lost on exit. Set KAFKA_BOOTSTRAP_SERVERS to real brokers for real use"
    );
}

pub fn bundled_dataset() {
    warn!(event = "bundled_dataset", "DATASET_URI is not set: using the bundled sample dataset (data/transactions.csv); set DATASET_URI=s3://bucket/key or a file path for your own data");
}

// ---- check ---------------------------------------------------------------------

/// What `kafka-feeder check` found.
#[derive(Debug, Clone, Copy)]
pub struct CheckPassed<'a> {
    pub servers: &'a str,
    pub topic: &'a str,
    pub brokers: usize,
    pub partitions: usize,
    pub producer_id_assigned: bool,
    pub records: usize,
    /// `None` where the mode does not fix a rate (max, a day's schedule, a replay).
    pub messages_per_s: Option<f64>,
    pub bytes_per_s: Option<f64>,
    pub elapsed: Duration,
}

pub fn check_passed(c: &CheckPassed<'_>) {
    info!(
        event = "check_passed",
        servers = %c.servers,
        topic = %c.topic,
        brokers = c.brokers,
        partitions = c.partitions,
        producer_id_assigned = c.producer_id_assigned,
        records = c.records,
        expected_messages_per_s = c.messages_per_s.map(|r| (r * 100.0).round() / 100.0),
        expected_bytes_per_s = c.bytes_per_s.map(f64::round),
        check_seconds = (c.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "check passed: ready to run"
    );
}

// ---- metrics -------------------------------------------------------------------

/// A scrape of `/metrics`: in flight is derived from the totals at scrape time
/// rather than tracked per message.
pub fn metrics_scraped(stats: &Stats, format: crate::observe::metrics::Format) -> String {
    stats.metrics.in_flight.set(stats.totals().in_flight() as i64);
    stats.metrics.encode(format)
}

// ---- shutdown ------------------------------------------------------------------

pub fn shutdown_requested(signal: &str) {
    info!(event = "shutdown_requested", signal = %signal, "shutdown requested: no new batches, draining in-flight messages (a second signal exits at once)");
}

pub fn second_signal(signal: &str) {
    warn!(event = "forced_exit", signal = %signal, exit_code = crate::exit::FORCED, "second signal: exiting now without draining");
}

pub fn max_messages_reached(max: u64) {
    info!(event = "max_messages_reached", max_messages = max, "MAX_MESSAGES delivered: stopping");
}

pub fn drain_timed_out(in_flight: u64, timeout: Duration) {
    error!(
        event = "drain_timed_out",
        in_flight,
        timeout_s = timeout.as_secs_f64(),
        "SHUTDOWN_TIMEOUT passed with messages still undelivered"
    );
}

/// Stopped by a signal before the loop started: a clean exit.
/// A signal stopped a run that has an end before it: exit 11, not 0.
pub fn stopped_before_end(end: &str) {
    warn!(
        event = "stopped_before_end",
        end = %end,
        exit_code = crate::exit::INTERRUPTED,
        "stopped by a signal before the run's end ({end}); exiting {} so that a Job does not count this run as done",
        crate::exit::INTERRUPTED
    );
}

pub fn cancelled_before_start(what: &dyn std::error::Error) {
    info!(event = "cancelled", "{what}");
}

/// The run failed: the whole cause chain, and the exit code it maps to.
pub fn run_failed(e: &dyn std::error::Error, exit_code: i32) {
    let mut chain = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        cur = c.source();
    }
    error!(event = "failed", error = %chain, exit_code, "{e}");
}

pub fn final_report(t: Totals, failures: &BTreeMap<String, u64>, elapsed: Duration) {
    let undelivered = t.in_flight();
    let reasons: Vec<String> = failures.iter().map(|(k, v)| format!("{k}={v}")).collect();
    info!(
        event = "stopped",
        scheduled = t.scheduled,
        delivered = t.delivered,
        failed = t.failed,
        undelivered,
        batches = t.batches,
        bytes = t.bytes_delivered,
        uptime_s = elapsed.as_secs_f64().round(),
        failure_reasons = %reasons.join(","),
        "stopped"
    );
}
