//! Every observable event in one place: each function here logs the event and
//! counts it together, so the log, the final report and the counters can never
//! disagree.
//!
//! [`Stats`] holds the daemon's running totals (lock-free atomics, updated from
//! delivery callbacks on any thread). Noisy events (delivery failures, falling
//! behind schedule, an unreachable broker) go through a [`RateLimit`] so a broker
//! outage produces a handful of lines, each with the count it stands for, not a
//! flood.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{debug, error, info, warn};

use crate::health::Health;
use crate::metrics::{Metrics, ReasonLabel, ResultLabel};

mod template;
pub use template::*;

/// Running totals, the Prometheus metrics and the health state: everything the
/// events below update. `sent` counts messages handed to librdkafka; each ends
/// as exactly one of `delivered` or `failed`, so `sent - delivered - failed` is
/// in flight.
pub struct Stats {
    scheduled: AtomicU64,
    sent: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    batches: AtomicU64,
    bytes_delivered: AtomicU64,
    failures_by_reason: Mutex<BTreeMap<String, u64>>,
    pub metrics: Metrics,
    pub health: Health,
}

/// A consistent-enough copy of [`Stats`] for reporting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Messages the pacing made due (the offered load).
    pub scheduled: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub batches: u64,
    pub bytes_delivered: u64,
}

impl Totals {
    pub fn in_flight(&self) -> u64 {
        self.sent.saturating_sub(self.delivered + self.failed)
    }
}

impl Stats {
    /// `preset` labels `kafka_feeder_build_info`.
    pub fn new(preset: &str) -> Self {
        Self {
            scheduled: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            bytes_delivered: AtomicU64::new(0),
            failures_by_reason: Mutex::default(),
            metrics: Metrics::new(preset),
            health: Health::default(),
        }
    }

    pub fn totals(&self) -> Totals {
        // Read the outcomes before `sent`, so in_flight never underflows.
        let delivered = self.delivered.load(Relaxed);
        let failed = self.failed.load(Relaxed);
        Totals {
            scheduled: self.scheduled.load(Relaxed),
            sent: self.sent.load(Relaxed),
            delivered,
            failed,
            batches: self.batches.load(Relaxed),
            bytes_delivered: self.bytes_delivered.load(Relaxed),
        }
    }

    /// Messages delivered so far (read on every delivery for `MAX_MESSAGES`).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Relaxed)
    }

    pub fn failures_by_reason(&self) -> BTreeMap<String, u64> {
        self.failures_by_reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Allows one log line per period; counts what it held back.
#[derive(Debug)]
pub struct RateLimit {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimit {
    pub const fn new(period: Duration) -> Self {
        Self { period, state: Mutex::new((None, 0)) }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were suppressed since the last.
    pub fn check(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.period => {
                state.1 += 1;
                None
            }
            _ => {
                let suppressed = state.1;
                *state = (Some(now), 0);
                Some(suppressed)
            }
        }
    }
}

static FAILURE_LOG: RateLimit = RateLimit::new(Duration::from_secs(5));
static BEHIND_LOG: RateLimit = RateLimit::new(Duration::from_secs(5));
static ACK_LOG: RateLimit = RateLimit::new(Duration::from_secs(5));
static BROKER_LOG: RateLimit = RateLimit::new(Duration::from_secs(10));
static REFUSAL_LOG: RateLimit = RateLimit::new(Duration::from_secs(10));

// ---- configuration and startup -------------------------------------------------
//
// Every line carries `event`: a stable name that scripts, tests and log queries
// match on (the message text is for people and may change).

pub fn http_listening(addr: std::net::SocketAddr) {
    info!(event = "http_listening", addr = %addr, "serving /healthz, /readyz and /metrics");
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

// ---- loading -------------------------------------------------------------------

pub fn loading(source: &str) {
    info!(event = "dataset_loading", source = %source, "loading dataset");
}

/// A malformed row the loader skipped (it returns the first few of them).
pub fn row_skipped(source: &str, line: u64, reason: &str) {
    warn!(event = "row_skipped", source = %source, line, reason = %reason, "skipping malformed row");
}

/// More rows were skipped than were logged one by one.
pub fn more_rows_skipped(source: &str, count: u64) {
    warn!(event = "rows_skipped", source = %source, count, "more malformed rows skipped without logging each");
}

pub fn duplicate_column(source: &str, name: &str, renamed: &str) {
    warn!(event = "duplicate_column", source = %source, column = %name, renamed = %renamed, "duplicate column name renamed");
}

pub fn source_retry(what: &str, cause: &str, waited: Duration, budget: Duration, next_in: Duration) {
    warn!(
        event = "dataset_retry",
        source = %what,
        error = %cause,
        waited_s = waited.as_secs_f64().round(),
        budget_s = budget.as_secs_f64(),
        retry_in_s = next_in.as_secs_f64(),
        "dataset source not reachable, retrying (bounded by DATASET_RETRY_TIMEOUT)"
    );
}

/// What the loader reports about a loaded dataset.
#[derive(Debug, Clone, Copy, Default)]
pub struct DatasetLoaded<'a> {
    pub source: &'a str,
    pub records: u64,
    /// Well-formed records read: more than `records` when DATASET_MAX_RECORDS sampled them.
    pub seen: u64,
    pub objects: usize,
    pub format: &'a str,
    pub skipped: u64,
    pub columns: usize,
    pub input_bytes: u64,
    pub json_bytes: u64,
    pub memory_bytes: usize,
    pub elapsed: Duration,
}

pub fn dataset_loaded(stats: &Stats, d: &DatasetLoaded<'_>) {
    let secs = d.elapsed.as_secs_f64();
    stats.metrics.dataset_records.set(d.records as i64);
    stats.metrics.dataset_bytes.set(d.json_bytes as i64);
    stats.metrics.dataset_load_seconds.set(secs);
    stats.health.dataset_loaded();
    info!(
        event = "dataset_loaded",
        source = %d.source,
        // Text reads `records=N of=M`: N kept of M read (M > N when sampled).
        records = d.records,
        of = d.seen,
        objects = d.objects,
        format = %d.format,
        skipped = d.skipped,
        columns = d.columns,
        csv_bytes = d.input_bytes,
        json_bytes = d.json_bytes,
        memory_bytes = d.memory_bytes,
        load_seconds = secs,
        mb_per_s = (d.input_bytes as f64 / 1e6 / secs.max(1e-9)).round(),
        "dataset loaded"
    );
}

/// A reload found a new version and swapped it in (the load line precedes this).
pub fn dataset_reloaded(stats: &Stats, source: &str, trigger: &str) {
    stats.metrics.dataset_reloads.get_or_create(&ResultLabel { result: "swapped".into() }).inc();
    info!(event = "dataset_reloaded", source = %source, trigger = %trigger, "new dataset version in use");
}

/// A reload failed; the dataset in use stays.
pub fn dataset_reload_failed(stats: &Stats, source: &str, trigger: &str, error: &dyn std::error::Error) {
    stats.metrics.dataset_reloads.get_or_create(&ResultLabel { result: "failed".into() }).inc();
    warn!(event = "dataset_reload_failed", source = %source, trigger = %trigger, error = %error, "dataset reload failed, keeping the dataset in use");
}

/// A reload check found the same version: nothing to do.
pub fn dataset_unchanged(source: &str) {
    debug!(event = "dataset_unchanged", source = %source, "dataset unchanged");
}

/// The seed of this run's random choices, so it can be repeated.
pub fn random_seed(seed: u64, from_setting: bool) {
    info!(
        event = "random_seed",
        seed,
        origin = if from_setting { "RANDOM_SEED" } else { "os" },
        "random seed: RANDOM_SEED={seed} repeats this run's batches, records and uuid() values"
    );
}

/// A reloaded dataset does not fit the `MESSAGE_*` settings: the previous
/// version stays in use.
pub fn messages_reindex_failed(error: &dyn std::error::Error) {
    warn!(event = "messages_reindex_failed", error = %error, "reloaded dataset does not fit MESSAGE_*, keeping the dataset in use");
}

/// What `MESSAGE_*` will do to each record, found by indexing the dataset.
pub fn messages_indexed(
    key_field: Option<&str>,
    keyed_records: Option<u64>,
    fields: &[(&str, u64)],
    records: u64,
    headers: &[&str],
    index_bytes: usize,
    elapsed: Duration,
) {
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, present)| match *present {
            p if p == records => format!("{name} (replaced)"),
            0 => format!("{name} (added)"),
            p => format!("{name} (replaced in {p} of {records} records, added to the others)"),
        })
        .collect();
    info!(
        event = "messages_indexed",
        key_field = key_field.unwrap_or("none"),
        keyed_records = keyed_records.map_or_else(|| "generated".to_owned(), |n| n.to_string()),
        fields = %fields.join(", "),
        headers = %headers.join(","),
        index_bytes,
        index_seconds = elapsed.as_secs_f64(),
        "messages: key, generated fields and headers ready"
    );
}

// ---- broker --------------------------------------------------------------------

pub fn waiting_for_broker(servers: &str, cause: &str, waited: Duration) {
    warn!(
        event = "waiting_for_broker",
        servers = %servers,
        error = %cause,
        waited_s = waited.as_secs(),
        "waiting for the Kafka broker"
    );
}

pub fn broker_ready(stats: &Stats, servers: &str, brokers: usize, partitions: usize, topic: &str) {
    stats.health.broker_answered();
    info!(event = "broker_connected", servers = %servers, brokers, partitions, topic = %topic, "connected to Kafka");
}

/// A broker answered a metadata request while the daemon runs.
pub fn broker_answered(stats: &Stats) {
    stats.health.broker_answered();
}

/// Deliveries succeed (reported from the delivery callback about once a second).
pub fn delivering(stats: &Stats) {
    stats.health.delivering();
}

// ---- producer recovery -----------------------------------------------------------

/// librdkafka's fatal-error path: this producer will never deliver again.
pub fn producer_fatal(detail: &str) {
    error!(event = "producer_fatal", error = %detail, "the Kafka producer failed fatally; building a new one");
}

pub fn producer_rebuilt(stats: &Stats, reason: &str, attempt: u32) {
    stats.metrics.producer_restarts.get_or_create(&ReasonLabel { reason: label(reason) }).inc();
    warn!(
        event = "producer_rebuilt",
        reason = %reason,
        attempt,
        "Kafka producer rebuilt with the same configuration: the old one was broken for good; messages it still held are counted failed"
    );
}

pub fn producer_rebuild_failed(e: &dyn std::error::Error) {
    error!(event = "producer_rebuild_failed", error = %e, "could not build a new Kafka producer; retrying after the next failure");
}

/// Rebuilt, and broken again without a delivery: liveness fails from now on.
pub fn producer_not_healing(stats: &Stats, reason: &str) {
    stats.health.producer_broken(Some(reason.to_owned()));
    error!(event = "producer_not_healing", reason = %reason, "the rebuilt Kafka producer is broken again without one delivery; /healthz now fails");
}

pub fn producer_gave_up(stats: &Stats, reason: &str, attempts: u32) {
    stats.health.producer_broken(Some(reason.to_owned()));
    error!(
        event = "producer_gave_up",
        reason = %reason,
        attempts,
        exit_code = crate::exit::PRODUCER_FATAL,
        "giving up: {attempts} Kafka producer rebuilds in a row without one delivery; stopping so the orchestrator restarts us"
    );
}

/// A low-cardinality metric label from a reason that may carry detail.
fn label(reason: &str) -> String {
    reason.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("Other").to_owned()
}

pub fn topic_missing(topic: &str) {
    warn!(event = "topic_missing", topic = %topic, "topic {topic:?} does not exist on the broker; deliveries will fail unless the broker auto-creates topics. Create it, or set KAFKA_TOPIC");
}

/// librdkafka's error callback: a broker down, all brokers down, authentication failed.
pub fn broker_error(code: &str, reason: &str) {
    if let Some(suppressed) = BROKER_LOG.check() {
        warn!(event = "kafka_client_error", code = %code, reason = %reason, suppressed, "Kafka client error (broker unreachable or refusing us)");
    }
}

/// Why a broker refuses us, when it is a setting of ours that the operator can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The broker closed the connection during the first request: a plaintext
    /// client against a TLS or SASL listener.
    ProtocolMismatch,
    /// SASL authentication failed: wrong user name, password or mechanism.
    Authentication,
    /// The broker's certificate is not trusted: an unknown CA, or a host name it does not name.
    Certificate,
    /// The TLS handshake failed otherwise: a TLS client against a plaintext listener.
    Tls,
}

impl Refusal {
    /// What `/readyz` says while no broker has answered.
    pub fn summary(self) -> &'static str {
        match self {
            Refusal::ProtocolMismatch => "the broker hangs up on our first request (security protocol mismatch)",
            Refusal::Authentication => "the broker refuses our SASL credentials",
            Refusal::Certificate => "the broker's TLS certificate is not trusted",
            Refusal::Tls => "the TLS handshake with the broker fails",
        }
    }
}

/// A broker refuses us for a reason the operator can fix: one error line (at
/// most one per 10 s) naming the setting, in place of librdkafka's retry
/// loop, and the reason in `/readyz`.
pub fn broker_refused(stats: Option<&Stats>, refusal: Refusal, detail: &str) {
    if let Some(stats) = stats {
        stats.health.broker_refused(refusal.summary());
    }
    let Some(suppressed) = REFUSAL_LOG.check() else { return };
    match refusal {
        Refusal::ProtocolMismatch => error!(
            event = "broker_protocol_mismatch",
            detail = %detail,
            suppressed,
            "the broker closed the connection during the first request: its listener probably expects TLS or SASL; set KAFKA_PRODUCER_SECURITY_PROTOCOL=SSL (or SASL_SSL, SASL_PLAINTEXT) to match it"
        ),
        Refusal::Authentication => error!(
            event = "broker_authentication_failed",
            detail = %detail,
            suppressed,
            "the broker refused our SASL credentials: check KAFKA_PRODUCER_SASL_USERNAME, KAFKA_PRODUCER_SASL_PASSWORD and KAFKA_PRODUCER_SASL_MECHANISM"
        ),
        Refusal::Certificate => error!(
            event = "broker_certificate_rejected",
            detail = %detail,
            suppressed,
            "the broker's TLS certificate could not be verified: set KAFKA_PRODUCER_SSL_CA_LOCATION to the CA file that signed it, and connect by a host name the certificate names"
        ),
        Refusal::Tls => error!(
            event = "broker_tls_failed",
            detail = %detail,
            suppressed,
            "the TLS handshake with the broker failed: if its listener is plaintext, set KAFKA_PRODUCER_SECURITY_PROTOCOL=PLAINTEXT (or SASL_PLAINTEXT)"
        ),
    }
}

/// librdkafka's own log lines, at their own level, under the `librdkafka` target
/// (so `LOG_LEVEL=debug` and `RUST_LOG=librdkafka=...` reach them).
pub fn librdkafka_log(level: tracing::Level, facility: &str, message: &str) {
    match level {
        tracing::Level::ERROR => error!(target: "librdkafka", event = "librdkafka", facility, "{message}"),
        tracing::Level::WARN => warn!(target: "librdkafka", event = "librdkafka", facility, "{message}"),
        tracing::Level::INFO => info!(target: "librdkafka", event = "librdkafka", facility, "{message}"),
        _ => debug!(target: "librdkafka", event = "librdkafka", facility, "{message}"),
    }
}

// ---- the loop ------------------------------------------------------------------

pub fn batch_sent(stats: &Stats, tick: u64, size: usize, bytes: usize, lag: Duration) {
    stats.batches.fetch_add(1, Relaxed);
    stats.sent.fetch_add(size as u64, Relaxed);
    stats.metrics.batches.inc();
    stats.metrics.batch_size.observe(size as f64);
    stats.metrics.sent_bytes.inc_by(bytes as u64);
    stats.metrics.schedule_lag.set(lag.as_secs_f64());
    debug!(event = "batch_sent", tick, size, lag_ms = lag.as_secs_f64() * 1e3, "batch sent");
}

/// What a batch came to, once every message has its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchCompleted {
    pub tick: u64,
    pub size: usize,
    pub delivered: usize,
    pub failed: usize,
    /// From the first enqueue to the last report.
    pub duration: Duration,
}

/// Every message of a batch has its report. `info` is `LOG_BATCHES=true`.
pub fn batch_complete(stats: &Stats, c: &BatchCompleted, info: bool) {
    stats.metrics.batch_duration.observe(c.duration.as_secs_f64());
    let duration_ms = (c.duration.as_secs_f64() * 1e4).round() / 10.0;
    // The same line at one of two levels (tracing's level is fixed per call site).
    macro_rules! line {
        ($level:ident) => {
            $level!(
                event = "batch_complete",
                tick = c.tick,
                delivered = c.delivered,
                size = c.size,
                failed = c.failed,
                duration_ms,
                "batch complete: sent {}/{} records",
                c.delivered,
                c.size
            )
        };
    }
    if info {
        line!(info);
    } else {
        line!(debug);
    }
}

/// The drain awaits the batches still in flight.
pub fn draining(batches: usize, messages: usize, timeout: Duration) {
    info!(
        event = "draining",
        batches,
        messages,
        timeout_s = timeout.as_secs_f64(),
        "draining: awaiting the batches in flight"
    );
}

/// The drain is over: how many batches and messages it waited for, and whether all completed.
pub fn drained(batches: usize, messages: usize, complete: bool, waited: Duration) {
    info!(event = "drained", batches, messages, complete, waited_ms = (waited.as_secs_f64() * 1e3).round(), "drained");
}

pub fn behind_schedule(lag: Duration, interval: Duration) {
    if let Some(suppressed) = BEHIND_LOG.check() {
        let ticks = lag.as_secs_f64() / interval.as_secs_f64();
        warn!(
            event = "behind_schedule",
            lag_ms = (lag.as_secs_f64() * 1e3).round(),
            ticks_behind = ticks.floor(),
            suppressed,
            "falling behind schedule: the broker or the producer queue is slower than the configured rate"
        );
    }
}

pub fn delivered(stats: &Stats, bytes: usize, latency: Duration) {
    stats.delivered.fetch_add(1, Relaxed);
    stats.bytes_delivered.fetch_add(bytes as u64, Relaxed);
    stats.metrics.delivered.inc();
    stats.metrics.delivery_latency.observe(latency.as_secs_f64());
}

/// `reason` is a stable label (librdkafka's error code name); `detail` the broker's text.
pub fn delivery_failed(stats: &Stats, reason: &str, detail: &str) {
    stats.failed.fetch_add(1, Relaxed);
    stats.health.delivery_failed(reason);
    stats.metrics.failed.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    *stats.failures_by_reason.lock().unwrap_or_else(|p| p.into_inner()).entry(reason.to_owned()).or_default() += 1;
    if let Some(suppressed) = FAILURE_LOG.check() {
        error!(
            event = "delivery_failed",
            reason = %reason,
            error = %detail,
            failed_total = stats.failed.load(Relaxed),
            suppressed,
            "delivery failed"
        );
    }
}

/// librdkafka refused a message outright (too large, say): it counts as sent
/// and failed, so the totals stay consistent.
pub fn send_refused(stats: &Stats, reason: &str, detail: &str) {
    stats.sent.fetch_add(1, Relaxed);
    delivery_failed(stats, reason, detail);
}

/// What the pacing adds to the progress line: the active schedule entry, the
/// replay position.
#[derive(Debug, Default, Clone, Copy)]
pub struct PaceProgress<'a> {
    pub entry: Option<&'a str>,
    pub replay: Option<crate::pacing::replay::Position>,
}

/// The line a person tailing the log watches. `scheduled` beside `delivered`
/// and the lag tell whether the broker held the offered load.
pub fn progress(now: Totals, before: Totals, window: Duration, max_lag: Duration, pace: PaceProgress<'_>) {
    let secs = window.as_secs_f64().max(1e-9);
    let rate = (now.delivered - before.delivered) as f64 / secs;
    let scheduled_rate = (now.scheduled - before.scheduled) as f64 / secs;
    let replay_time = pace.replay.and_then(|p| p.record_time).map(|t| t.to_string());
    let replay_pct = pace.replay.map(|p| ((p.sent as f64 / p.of.max(1) as f64) * 1000.0).round() / 10.0);
    info!(
        event = "progress",
        scheduled = now.scheduled,
        delivered = now.delivered,
        failed = now.failed,
        in_flight = now.in_flight(),
        batches = now.batches,
        scheduled_per_s = (scheduled_rate * 10.0).round() / 10.0,
        rate_per_s = (rate * 10.0).round() / 10.0,
        max_lag_ms = (max_lag.as_secs_f64() * 1e3).round(),
        entry = pace.entry,
        replay_time = replay_time.as_deref(),
        replay_pct,
        replay_pass = pace.replay.map(|p| p.pass),
        "progress"
    );
}

/// The pacing made `count` messages due and the loop is sending them.
pub fn scheduled(stats: &Stats, count: u64) {
    stats.scheduled.fetch_add(count, Relaxed);
    stats.metrics.scheduled.inc_by(count);
}

/// A `PRESET_SCHEDULE` entry took over (or applies from the start).
pub fn schedule_entry_active(stats: &Stats, entry: &str, entries: &[String]) {
    for e in entries {
        let active = i64::from(e == entry);
        stats.metrics.schedule_entry.get_or_create(&crate::metrics::EntryLabel { entry: e.clone() }).set(active);
    }
    info!(event = "schedule_entry", entry, "schedule entry in force");
}

/// `REPLAY_TIME_FIELD` was read: how many records will be replayed, over what span.
pub fn replay_ready(field: &str, records: usize, share: usize, skipped: u64, first: &str, last: &str) {
    info!(event = "replay_ready", field, records, share, skipped, first, last, "replay ready");
    if skipped > 0 {
        warn!(event = "replay_rows_skipped", field, skipped, "rows whose time field does not parse are skipped");
    }
}

/// The replay sent its last record (no `REPLAY_LOOP`).
pub fn replay_finished(records: usize) {
    info!(event = "replay_finished", records, "replay finished: draining and stopping");
}

pub fn run_duration_reached(d: Duration) {
    info!(event = "run_duration_reached", run_duration_s = d.as_secs_f64(), "RUN_DURATION reached: stopping");
}

/// No successful delivery for `quiet` while messages were in flight or failing:
/// a stopped, partitioned or overloaded broker (whose TCP connection may still
/// look open).
pub fn broker_not_acknowledging(quiet: Duration, in_flight: u64, failed: u64) {
    if let Some(suppressed) = ACK_LOG.check() {
        warn!(
            event = "broker_not_acknowledging",
            stalled_s = quiet.as_secs(),
            in_flight,
            failed_since_last_delivery = failed,
            suppressed,
            "Kafka broker not acknowledging: no successful delivery while messages are in flight (broker unreachable, stopped or overloaded); they are retried until message.timeout.ms"
        );
    }
}

pub fn broker_acknowledging_again(quiet: Duration) {
    info!(event = "broker_acknowledging", stalled_s = quiet.as_secs(), "Kafka broker acknowledging again");
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
    pub messages_per_s: f64,
    pub bytes_per_s: f64,
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
        expected_messages_per_s = (c.messages_per_s * 100.0).round() / 100.0,
        expected_bytes_per_s = c.bytes_per_s.round(),
        check_seconds = (c.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "check passed: ready to run"
    );
}

// ---- metrics -------------------------------------------------------------------

/// A scrape of `/metrics`: in flight is derived from the totals at scrape time
/// rather than tracked per message.
pub fn metrics_scraped(stats: &Stats, format: crate::metrics::Format) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_one_per_period_and_counts_the_rest() {
        let rl = RateLimit::new(Duration::from_millis(50));
        assert_eq!(rl.check(), Some(0));
        assert_eq!(rl.check(), None);
        assert_eq!(rl.check(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(rl.check(), Some(2));
    }

    #[test]
    fn failures_are_counted_by_reason() {
        let s = Stats::new("none");
        s.sent.store(5, Relaxed);
        delivery_failed(&s, "MessageTimedOut", "Local: Message timed out");
        delivery_failed(&s, "MessageTimedOut", "Local: Message timed out");
        delivery_failed(&s, "UnknownTopicOrPartition", "Broker: Unknown topic or partition");
        delivered(&s, 10, Duration::from_millis(3));
        let t = s.totals();
        assert_eq!((t.failed, t.delivered, t.in_flight(), t.bytes_delivered), (3, 1, 1, 10));
        let by = s.failures_by_reason();
        assert_eq!(by["MessageTimedOut"], 2);
        assert_eq!(by["UnknownTopicOrPartition"], 1);
        let text = metrics_scraped(&s, crate::metrics::Format::OpenMetrics);
        assert!(text.contains("kafka_feeder_messages_failed_total{reason=\"MessageTimedOut\"} 2"), "{text}");
        assert!(text.contains("kafka_feeder_messages_delivered_total 1"), "{text}");
    }

    /// Every log macro in this file names its `event`, and no other module logs
    /// by itself: events flow one way, through here.
    #[test]
    fn every_line_has_an_event_field_and_only_events_logs() {
        let src = include_str!("events.rs");
        let body = &src[..src.find("#[cfg(test)]").unwrap()];
        let mut calls = 0;
        for (i, _) in body
            .match_indices('!')
            .filter(|(i, _)| ["info", "warn", "error", "debug", "trace"].iter().any(|m| body[..*i].ends_with(m)))
        {
            let call = &body[i..i + body[i..].find(';').unwrap()];
            assert!(call.contains("event = \""), "a log line without an event field: {call}");
            calls += 1;
        }
        assert!(calls > 30, "found only {calls} log macros");
        for (name, src) in [
            ("app.rs", include_str!("app.rs")),
            ("main.rs", include_str!("main.rs")),
            ("sink/mod.rs", include_str!("sink/mod.rs")),
            ("source/mod.rs", include_str!("source/mod.rs")),
            ("dataset.rs", include_str!("dataset.rs")),
            ("schedule.rs", include_str!("schedule.rs")),
            ("shutdown.rs", include_str!("shutdown.rs")),
            ("http.rs", include_str!("http.rs")),
        ] {
            for m in ["info!(", "warn!(", "error!(", "debug!(", "trace!("] {
                assert!(!src.contains(m), "{name} logs by itself ({m}); add a function to events.rs");
            }
        }
    }
}
