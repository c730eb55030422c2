//! What the feeder is doing, for a person: `GET /status` (JSON) and `GET /`
//! (a page built from it that refreshes itself).
//!
//! The facts come from the events that already count everything ([`Facts`] is
//! updated by `events`, beside the log line for the same event), the run's
//! settings ([`RunInfo`], once at startup), a once-a-second sample of the
//! delivered total ([`series`], for the rates and the chart) and the last
//! warning lines ([`recent`], a layer beside the log output).
//!
//! The page (`page.html`) is compiled into the binary: no external assets, no
//! framework, under 30 KB. It fetches `status` relative to its own path, so it
//! works unchanged behind `kubectl port-forward` and behind a path prefix. The
//! handlers read no request body; the router's 404, 405 and timeout apply.

pub mod recent;
pub mod series;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::observe::events::{utc, Stats};
use crate::observe::health::{Status as Health, BROKER_FRESHNESS};
use crate::pacing::config::Mode;
use crate::settings::config::Config;
use series::Series;

/// The page, with `/*STATUS*/` where the first snapshot goes.
pub const PAGE: &str = include_str!("page.html");
const PLACEHOLDER: &str = "/*STATUS*/";

/// Everything the page may load: itself, its inline style and script, and `status`.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:";

/// The run's settings that the page shows, fixed at startup.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunInfo {
    /// interval, rate, day or replay.
    pub mode: &'static str,
    /// The banner's words for it.
    pub description: String,
    pub preset: Option<&'static str>,
    pub interval_s: Option<f64>,
    pub batch: Option<[u32; 2]>,
    /// Messages per second, or `max`.
    pub rate: Option<String>,
    pub arrivals: Option<&'static str>,
    pub replay_field: Option<String>,
    pub replica: String,
    pub max_messages: Option<u64>,
    pub run_duration_s: Option<f64>,
    pub seed: u64,
    pub seed_from: &'static str,
    pub source: String,
    pub servers: String,
    pub topic: String,
    pub sasl_mechanism: Option<&'static str>,
}

impl RunInfo {
    pub fn new(c: &Config, seed: u64) -> Self {
        let s = &c.schedule;
        let p = &c.pacing;
        let mut info = RunInfo {
            mode: "interval",
            description: c.mode(),
            preset: None,
            interval_s: None,
            batch: None,
            rate: None,
            arrivals: None,
            replay_field: None,
            replica: format!("{} of {}", p.replica.index, p.replica.count),
            max_messages: s.max_messages,
            run_duration_s: p.run_duration.map(|d| d.as_secs_f64()),
            seed,
            seed_from: if p.seed.is_some() { "RANDOM_SEED" } else { "os" },
            source: c.dataset.uri.to_string(),
            servers: c.kafka.bootstrap_servers.clone(),
            topic: c.kafka.topic.clone(),
            sasl_mechanism: c.kafka.msk_iam.as_ref().map(|_| crate::sink::msk_iam::MECHANISM),
        };
        match &p.mode {
            Mode::Interval => {
                info.preset = s.preset.map(|p| p.as_str());
                info.interval_s = Some(s.produce_interval.as_secs_f64());
                info.batch = Some([s.min_records_per_batch, s.max_records_per_batch]);
            }
            Mode::Rate { rate, arrivals } => {
                info.mode = "rate";
                info.rate = Some(crate::settings::env::Show::show(rate));
                info.arrivals = Some(arrivals.as_str());
            }
            Mode::Day { arrivals, .. } => {
                info.mode = "day";
                info.arrivals = Some(arrivals.as_str());
            }
            Mode::Replay { field, .. } => {
                info.mode = "replay";
                info.replay_field = Some(field.clone());
            }
        }
        info
    }
}

/// What the dataset load said.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatasetFacts {
    pub records: u64,
    pub objects: usize,
    pub formats: String,
    pub loaded_at: String,
}

/// The last reload that did something (swapped or failed).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReloadFacts {
    pub at: String,
    pub result: &'static str,
    pub trigger: String,
}

/// Where the replay is.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReplayFacts {
    pub sent: usize,
    pub of: usize,
    pub pass: u64,
    pub record_time: Option<String>,
}

/// Facts the events record as they happen (see `events`).
#[derive(Debug)]
pub struct Facts {
    started: Instant,
    started_at: SystemTime,
    run: OnceLock<RunInfo>,
    dataset: Mutex<Option<DatasetFacts>>,
    reload: Mutex<Option<ReloadFacts>>,
    /// (brokers, partitions) when the broker first answered.
    broker: Mutex<Option<(usize, usize)>>,
    entry: Mutex<Option<String>>,
    replay: Mutex<Option<ReplayFacts>>,
    rebuilds: AtomicU64,
    series: Mutex<Series>,
}

impl Default for Facts {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            started_at: SystemTime::now(),
            run: OnceLock::new(),
            dataset: Mutex::default(),
            reload: Mutex::default(),
            broker: Mutex::default(),
            entry: Mutex::default(),
            replay: Mutex::default(),
            rebuilds: AtomicU64::new(0),
            series: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Facts {
    pub fn set_run(&self, info: RunInfo) {
        let _ = self.run.set(info);
    }

    pub fn dataset_loaded(&self, records: u64, objects: usize, formats: &str) {
        *lock(&self.dataset) =
            Some(DatasetFacts { records, objects, formats: formats.to_owned(), loaded_at: utc(SystemTime::now()) });
    }

    pub fn reloaded(&self, result: &'static str, trigger: &str) {
        *lock(&self.reload) = Some(ReloadFacts { at: utc(SystemTime::now()), result, trigger: trigger.to_owned() });
    }

    pub fn broker_ready(&self, brokers: usize, partitions: usize) {
        *lock(&self.broker) = Some((brokers, partitions));
    }

    pub fn schedule_entry(&self, entry: &str) {
        *lock(&self.entry) = Some(entry.to_owned());
    }

    pub fn replay(&self, p: Option<crate::pacing::replay::Position>) {
        *lock(&self.replay) = p.map(|p| ReplayFacts {
            sent: p.sent,
            of: p.of,
            pass: p.pass,
            record_time: p.record_time.map(|t| t.to_string()),
        });
    }

    pub fn rebuilt(&self) {
        self.rebuilds.fetch_add(1, Relaxed);
    }

    /// One sample of the delivered total (the sampler, once a second).
    pub fn sample(&self, at: Instant, delivered: u64) {
        lock(&self.series).push(at, delivered);
    }
}

/// Samples the delivered total every second until `stop`.
pub async fn sample(stats: Arc<Stats>, stop: CancellationToken) {
    let mut every = tokio::time::interval(series::STEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => stats.status.sample(Instant::now(), stats.delivered()),
            () = stop.cancelled() => return,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub ok: bool,
    pub text: String,
}

impl From<Health> for Check {
    fn from(h: Health) -> Self {
        match h {
            Health::Ok(t) => Check { ok: true, text: t.to_owned() },
            Health::Failing(t) => Check { ok: false, text: t },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Kafka {
    pub servers: Option<String>,
    pub topic: Option<String>,
    pub sasl_mechanism: Option<&'static str>,
    pub brokers: Option<usize>,
    pub partitions: Option<usize>,
    /// A metadata answer or a delivery within the last 30 s.
    pub answered_recently: bool,
    pub last_answer_s_ago: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Totals {
    pub scheduled: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Sent and neither delivered nor failed yet.
    pub undelivered: u64,
    pub bytes: u64,
}

/// Messages delivered per second.
#[derive(Debug, Serialize)]
pub struct Rates {
    pub last_10s: Option<f64>,
    pub last_1m: Option<f64>,
    pub since_start: f64,
}

#[derive(Debug, Serialize)]
pub struct Chart {
    pub step_s: u64,
    /// Messages delivered in each second, oldest first, up to 5 minutes.
    pub delivered_per_s: Vec<f64>,
}

/// `GET /status`.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub version: &'static str,
    pub started_at: String,
    pub uptime_s: f64,
    pub run: Option<RunInfo>,
    pub schedule_entry: Option<String>,
    pub replay: Option<ReplayFacts>,
    pub dataset: Option<DatasetFacts>,
    pub last_reload: Option<ReloadFacts>,
    pub kafka: Kafka,
    pub live: Check,
    pub ready: Check,
    pub totals: Totals,
    pub rates: Rates,
    pub failures_by_reason: BTreeMap<String, u64>,
    pub producer_rebuilds: u64,
    pub last_error: Option<recent::Line>,
    pub warnings: Vec<recent::Line>,
    pub chart: Chart,
}

/// Everything `/status` says, now.
pub fn snapshot(stats: &Stats) -> Snapshot {
    let f = &stats.status;
    let t = stats.totals();
    let uptime = f.started.elapsed();
    let run = f.run.get().cloned();
    let broker = *lock(&f.broker);
    let age = stats.health.broker_age();
    let series = lock(&f.series);
    Snapshot {
        version: env!("CARGO_PKG_VERSION"),
        started_at: utc(f.started_at),
        uptime_s: round1(uptime.as_secs_f64()),
        kafka: Kafka {
            servers: run.as_ref().map(|r| r.servers.clone()),
            topic: run.as_ref().map(|r| r.topic.clone()),
            sasl_mechanism: run.as_ref().and_then(|r| r.sasl_mechanism),
            brokers: broker.map(|b| b.0),
            partitions: broker.map(|b| b.1),
            answered_recently: age.is_some_and(|a| a <= BROKER_FRESHNESS),
            last_answer_s_ago: age.map(|a| round1(a.as_secs_f64())),
        },
        run,
        schedule_entry: lock(&f.entry).clone(),
        replay: lock(&f.replay).clone(),
        dataset: lock(&f.dataset).clone(),
        last_reload: lock(&f.reload).clone(),
        live: stats.health.liveness().into(),
        ready: stats.health.readiness().into(),
        totals: Totals {
            scheduled: t.scheduled,
            sent: t.sent,
            delivered: t.delivered,
            failed: t.failed,
            undelivered: t.in_flight(),
            bytes: t.bytes_delivered,
        },
        rates: Rates {
            last_10s: series.rate(Duration::from_secs(10)).map(round1),
            last_1m: series.rate(Duration::from_secs(60)).map(round1),
            since_start: round1(t.delivered as f64 / uptime.as_secs_f64().max(1e-3)),
        },
        failures_by_reason: stats.failures_by_reason(),
        producer_rebuilds: f.rebuilds.load(Relaxed),
        last_error: recent::last_error(),
        warnings: recent::lines(),
        chart: Chart { step_s: series::STEP.as_secs(), delivered_per_s: series.per_second() },
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The snapshot as JSON that may sit inside a `<script>` element: no `<`, `>`
/// or `&` outside of escapes (they only occur in strings).
fn json(s: &Snapshot) -> String {
    serde_json::to_string(s)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The page with the current snapshot in it (shown at once, then refreshed).
pub fn page(s: &Snapshot) -> String {
    PAGE.replacen(PLACEHOLDER, &json(s), 1)
}

/// `/status` and `/`, for the HTTP server's router.
pub fn routes() -> Router<Arc<Stats>> {
    Router::new().route("/status", get(status_json)).route("/", get(status_page))
}

async fn status_json(State(stats): State<Arc<Stats>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], json(&snapshot(&stats)))
        .into_response()
}

async fn status_page(State(stats): State<Arc<Stats>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        page(&snapshot(&stats)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_small_self_contained_and_relative() {
        assert!(PAGE.len() < 30 * 1024, "page.html is {} bytes", PAGE.len());
        assert_eq!(PAGE.matches(PLACEHOLDER).count(), 1);
        let lower = PAGE.to_ascii_lowercase();
        for absolute in ["http://", "https://", "src=", "href=", "@import", "url(", "fetch('/", "fetch(\"/"] {
            assert!(!lower.contains(absolute), "page.html loads something ({absolute})");
        }
        // With five minutes of chart and a full warning list, still under 30 KB.
        let stats = Stats::new("none");
        for i in 0..400 {
            stats.status.sample(Instant::now() + Duration::from_secs(i), i * 12_345);
        }
        assert!(page(&snapshot(&stats)).len() < 30 * 1024);
    }

    #[test]
    fn a_snapshot_can_sit_in_the_page_whatever_its_strings_say() {
        let stats = Stats::new("none");
        stats.status.reloaded("failed", "</script><script>alert(1)</script>&");
        let html = page(&snapshot(&stats));
        let script = &html[html.find("id=\"initial\"").unwrap()..];
        let body = &script[script.find('>').unwrap() + 1..script.find("</script>").unwrap()];
        let back: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(back["last_reload"]["trigger"], "</script><script>alert(1)</script>&");
    }

    #[test]
    fn the_snapshot_reports_the_facts_the_events_recorded() {
        let stats = Stats::new("none");
        let c = Config::from_vars([("KAFKA_BOOTSTRAP_SERVERS", "b:9092"), ("PRESET", "high"), ("RANDOM_SEED", "7")])
            .unwrap();
        stats.status.set_run(RunInfo::new(&c, 7));
        stats.status.broker_ready(1, 6);
        stats.status.rebuilt();
        let t0 = Instant::now();
        stats.status.sample(t0, 0);
        stats.status.sample(t0 + Duration::from_secs(10), 500);
        let s = snapshot(&stats);
        let run = s.run.as_ref().unwrap();
        assert_eq!(
            (run.mode, run.preset, run.interval_s, run.batch),
            ("interval", Some("high"), Some(0.2), Some([10, 20]))
        );
        assert_eq!((run.seed, run.seed_from, run.topic.as_str()), (7, "RANDOM_SEED", "transactions"));
        assert_eq!((s.kafka.partitions, s.kafka.answered_recently), (Some(6), false));
        assert_eq!((s.rates.last_10s, s.producer_rebuilds), (Some(50.0), 1));
        assert_eq!(s.chart.delivered_per_s.len(), 1);
    }
}
