//! The validated configuration: one [`Config`] made of one settings struct per
//! group of the settings table, each parsed by its own function.
//!
//! Every variable is described once, in [`crate::settings`]; the raw
//! environment and the typed parse helpers are in [`crate::settings::env`]. The Kafka
//! group and its librdkafka passthrough live with the sink
//! ([`crate::sink::config`]), the dataset and S3 groups with the source
//! ([`crate::dataset::source`]). Validation happens here, before any network call; every
//! failure is a [`ConfigError`] that the binary prints as one line and maps to
//! exit code 2.

use std::time::Duration;

pub use crate::dataset::source::{DatasetSettings, DatasetUri, S3Settings};
pub use crate::message::config::MessageSettings;
pub use crate::message::registry::config::RegistrySettings;
pub use crate::pacing::config::{Mode, PacingSettings, Preset};
use crate::settings as s;
use crate::settings::env::{self as envp, Show};
pub use crate::settings::env::{ConfigError, Env, Origin};
pub use crate::sink::config::{KafkaSettings, EMBEDDED_BROKER, PRODUCER_DEFAULTS};

/// The Python producer slept 0.5 s between batches.
pub const DEFAULT_PRODUCE_INTERVAL: Duration = Duration::from_millis(500);
/// The Python producer's `random.randint(1, 10)`.
pub const DEFAULT_MIN_RECORDS_PER_BATCH: u32 = 1;
pub const DEFAULT_MAX_RECORDS_PER_BATCH: u32 = 10;
/// Below Kubernetes' default 30 s termination grace period, leaving room for the
/// final report before SIGKILL.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);
/// A person tailing `docker logs -f` wants a line every few seconds, not every batch.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_HTTP_PORT: u16 = 8080;
/// Largest batch a tick may ask for.
pub const MAX_BATCH: u64 = 100_000;
/// Shortest interval: below it a tick could not be timed.
pub const MIN_INTERVAL: Duration = Duration::from_micros(100);

/// The `Schedule` group: when batches go out and how large they are.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    pub preset: Option<Preset>,
    pub produce_interval: Duration,
    pub min_records_per_batch: u32,
    pub max_records_per_batch: u32,
    pub max_messages: Option<u64>,
    pub shutdown_timeout: Duration,
}

impl ScheduleSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let preset = env.optional(&s::PRESET, Preset::parse)?;
        // A preset supplies the three values below; a variable set explicitly wins.
        let (preset_values, origin) = match preset {
            Some(p) => (p.values(), Origin::Preset),
            None => (
                (DEFAULT_PRODUCE_INTERVAL, DEFAULT_MIN_RECORDS_PER_BATCH, DEFAULT_MAX_RECORDS_PER_BATCH),
                Origin::Default,
            ),
        };
        let (interval, min, max) = preset_values;
        let produce_interval = env.parse(
            &s::PRODUCE_INTERVAL,
            || (interval, origin),
            |r| {
                let d = envp::seconds(r, false)?;
                if d < MIN_INTERVAL {
                    return Err("below 0.0001 s".into());
                }
                Ok(d)
            },
        )?;
        let min_records_per_batch = env.parse(&s::MIN_RECORDS_PER_BATCH, || (min, origin), batch_size)?;
        let max_records_per_batch = env.parse(&s::MAX_RECORDS_PER_BATCH, || (max, origin), batch_size)?;
        if min_records_per_batch > max_records_per_batch {
            return Err(ConfigError::MinAboveMax { min: min_records_per_batch, max: max_records_per_batch });
        }
        Ok(Self {
            preset,
            produce_interval,
            min_records_per_batch,
            max_records_per_batch,
            max_messages: env.optional(&s::MAX_MESSAGES, envp::positive_u64)?,
            shutdown_timeout: env.parse(
                &s::SHUTDOWN_TIMEOUT,
                || (DEFAULT_SHUTDOWN_TIMEOUT, Origin::Default),
                |r| envp::seconds(r, true),
            )?,
        })
    }
}

fn batch_size(raw: &str) -> Result<u32, String> {
    let v = envp::positive_u64(raw)?;
    if v > MAX_BATCH {
        return Err("too large for one batch".into());
    }
    Ok(v as u32)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Show for LogFormat {
    fn show(&self) -> String {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
        .to_owned()
    }
}

/// The `Logs and HTTP` group.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// A level or a `RUST_LOG`-style filter, as `tracing_subscriber` takes it.
    pub filter: String,
    pub format: LogFormat,
    /// Each completed batch at info.
    pub batches: bool,
    /// Failing with no delivery for this long: not ready.
    pub not_delivering_after: Duration,
    pub progress_interval: Duration,
    pub http_port: u16,
}

impl LogSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let rust_log = env.optional(&s::RUST_LOG, |filter| {
            tracing_subscriber::EnvFilter::try_new(filter).map_err(|_| "not a tracing filter".to_owned())?;
            Ok(filter.to_owned())
        })?;
        let level = env.parse(
            &s::LOG_LEVEL,
            || ("info".to_owned(), Origin::Default),
            |raw| {
                let level = raw.to_ascii_lowercase();
                if !matches!(level.as_str(), "trace" | "debug" | "info" | "warn" | "error" | "off") {
                    return Err("unknown level".into());
                }
                Ok(level)
            },
        )?;
        let filter = match rust_log {
            Some(filter) if !env.is_set(&s::LOG_LEVEL) => filter,
            // Verbose levels apply to kafka-feeder and librdkafka; the HTTP and
            // AWS stacks stay at info (their debug output is noise, and request
            // dumps are no place for credentials). RUST_LOG reaches them if needed.
            _ if matches!(level.as_str(), "trace" | "debug") => format!("info,kafka_feeder={level},librdkafka={level}"),
            _ => level,
        };
        Ok(Self {
            filter,
            format: env.parse(
                &s::LOG_FORMAT,
                || (LogFormat::Text, Origin::Default),
                |raw| match raw.to_ascii_lowercase().as_str() {
                    "text" => Ok(LogFormat::Text),
                    "json" => Ok(LogFormat::Json),
                    _ => Err("unknown format".into()),
                },
            )?,
            batches: env.parse(&s::LOG_BATCHES, || (false, Origin::Default), envp::boolean)?,
            not_delivering_after: env.parse(
                &s::NOT_DELIVERING_AFTER,
                || (crate::observe::health::DEFAULT_NOT_DELIVERING_AFTER, Origin::Default),
                |r| envp::seconds(r, false),
            )?,
            progress_interval: env.parse(
                &s::PROGRESS_INTERVAL,
                || (DEFAULT_PROGRESS_INTERVAL, Origin::Default),
                |r| envp::seconds(r, false),
            )?,
            http_port: env.parse(
                &s::HTTP_PORT,
                || (DEFAULT_HTTP_PORT, Origin::Default),
                |raw| raw.parse::<u16>().map_err(|e| e.to_string()),
            )?,
        })
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub kafka: KafkaSettings,
    pub dataset: DatasetSettings,
    pub s3: S3Settings,
    pub schedule: ScheduleSettings,
    pub pacing: PacingSettings,
    pub messages: MessageSettings,
    pub registry: RegistrySettings,
    pub logs: LogSettings,
    /// Variables that look like misspellings of known ones, with the closest name.
    pub near_misses: Vec<(String, &'static str)>,
    /// Every setting's shown value and origin, in table order.
    effective: Vec<(&'static str, String, Origin)>,
}

impl Config {
    /// Reads and validates the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(Env::from_process()?)
    }

    /// Reads and validates any set of variables (tests pass their own).
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from_env(Env::from_vars(vars)?)
    }

    /// Validates raw variables into a typed config, one group at a time.
    pub fn from_env(env: Env) -> Result<Self, ConfigError> {
        let kafka = KafkaSettings::from_env(&env)?;
        let mut dataset = DatasetSettings::from_env(&env)?;
        let s3 = S3Settings::from_env(&env)?;
        let schedule = ScheduleSettings::from_env(&env)?;
        let pacing = PacingSettings::from_env(&env)?;
        let messages = MessageSettings::from_env(&env)?;
        let registry = RegistrySettings::from_env(&env)?;
        let logs = LogSettings::from_env(&env)?;
        messages.check_with(&dataset, matches!(pacing.mode, Mode::Replay { .. }))?;
        dataset.sample_seed = pacing.seed;
        // What the records hold is observed for a registry format (schema or key kind), not for JSON.
        dataset.note_fields = registry.uses_registry() && messages.template.is_none();
        Ok(Config {
            kafka,
            dataset,
            s3,
            schedule,
            pacing,
            messages,
            registry,
            logs,
            near_misses: env.near_misses(),
            effective: env.effective(),
        })
    }

    pub fn is_embedded_broker(&self) -> bool {
        self.kafka.is_embedded_broker()
    }

    /// The end this run has, in words, if it has one: it stops by itself there,
    /// and a signal before it means the run was cut short.
    pub fn end(&self) -> Option<String> {
        if let Some(max) = self.schedule.max_messages {
            return Some(format!("MAX_MESSAGES={max}"));
        }
        if let Some(d) = self.pacing.run_duration {
            return Some(format!("RUN_DURATION={}s", d.as_secs_f64()));
        }
        match self.pacing.mode {
            Mode::Replay { looping: false, .. } => Some("the replay's last record".to_owned()),
            _ => None,
        }
    }

    /// Messages per second the interval settings ask for on average, all replicas together.
    fn interval_rate(&self) -> f64 {
        let s = &self.schedule;
        f64::from(s.min_records_per_batch + s.max_records_per_batch) / 2.0 / s.produce_interval.as_secs_f64()
    }

    /// Messages per second this replica is asked for on average, where the mode
    /// fixes it: `None` for `MESSAGES_PER_SECOND=max`, a day's schedule and a
    /// replay, whose rate depends on the broker, the hour or the data.
    pub fn expected_rate(&self) -> Option<f64> {
        let share = self.pacing.replica.count as f64;
        match &self.pacing.mode {
            Mode::Interval => Some(self.interval_rate() / share),
            Mode::Rate { rate: crate::pacing::rate::Rate::PerSecond(r), .. } => Some(r / share),
            Mode::Rate { .. } | Mode::Day { .. } | Mode::Replay { .. } => None,
        }
    }

    /// What this replica does, in a few words: the banner's `mode` field.
    pub fn mode(&self) -> String {
        let s = &self.schedule;
        let p = &self.pacing;
        let mut mode = match &p.mode {
            Mode::Interval => format!(
                "interval {}s x {}-{} records (preset {}), expected {:.1} msg/s",
                s.produce_interval.as_secs_f64(),
                s.min_records_per_batch,
                s.max_records_per_batch,
                s.preset.map_or("none", Preset::as_str),
                self.interval_rate()
            ),
            Mode::Rate { rate: crate::pacing::rate::Rate::Max, .. } => {
                "rate max (as fast as the broker takes them)".into()
            }
            Mode::Rate { rate: crate::pacing::rate::Rate::PerSecond(r), arrivals } => {
                format!("rate {r} msg/s ({})", arrivals.as_str())
            }
            Mode::Day { schedule, time_scale, .. } => format!(
                "day schedule {} entries in {}{}",
                schedule.entries().len(),
                schedule.tz().iana_name().unwrap_or("UTC"),
                if *time_scale == 1.0 { String::new() } else { format!(", {time_scale}x faster") }
            ),
            Mode::Replay { field, speed, looping } => format!(
                "replay by {field} at speed {}{}",
                crate::settings::env::Show::show(speed),
                if *looping { ", looping" } else { "" }
            ),
        };
        if p.replica.count > 1 {
            mode += &format!(", replica {} of {} (share 1/{})", p.replica.index, p.replica.count, p.replica.count);
        }
        if let Some(d) = p.run_duration {
            mode += &format!(", for {}s", d.as_secs_f64());
        }
        mode
    }

    /// Where a setting's value came from.
    pub fn origin(&self, var: &str) -> Origin {
        self.effective.iter().find(|(name, ..)| *name == var).map_or(Origin::Default, |(_, _, o)| *o)
    }

    /// Every setting with its value and origin, secrets redacted, then the
    /// producer properties in force: the effective-configuration log line.
    pub fn effective(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> =
            self.effective.iter().map(|(name, v, o)| ((*name).to_owned(), format!("{v} ({o})"))).collect();
        out.extend(self.kafka.effective_properties());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")];
        all.extend_from_slice(vars);
        Config::from_vars(all.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    /// `check` reports the rate this replica is asked for, from the mode in force.
    #[test]
    fn the_expected_rate_follows_the_mode_and_the_replica_share() {
        let rate = |vars: &[(&str, &str)]| cfg(vars).unwrap().expected_rate();
        assert_eq!(rate(&[]), Some(11.0)); // (1 + 10) / 2 every 0.5 s
        assert_eq!(rate(&[("MESSAGES_PER_SECOND", "250")]), Some(250.0));
        assert_eq!(rate(&[("MESSAGES_PER_SECOND", "300"), ("REPLICAS", "3"), ("REPLICA_INDEX", "1")]), Some(100.0));
        assert_eq!(rate(&[("REPLICAS", "2"), ("REPLICA_INDEX", "0")]), Some(5.5));
        assert_eq!(rate(&[("MESSAGES_PER_SECOND", "max")]), None);
        assert_eq!(rate(&[("REPLAY_TIME_FIELD", "timestamp")]), None);
        assert_eq!(rate(&[("PRESET_SCHEDULE", "00:00=low,12:00=high")]), None);
    }

    fn err_var(vars: &[(&str, &str)]) -> String {
        match cfg(vars).expect_err("expected a config error") {
            ConfigError::Invalid { var, .. } => var,
            ConfigError::Missing { var, .. } => var.to_owned(),
            ConfigError::MinAboveMax { .. } => "MIN_RECORDS_PER_BATCH".into(),
            ConfigError::Conflict { first, .. } => first.to_owned(),
            ConfigError::Unreadable(s) => panic!("unreadable: {s}"),
        }
    }

    #[test]
    fn defaults_match_the_python_producer() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.kafka.topic, "transactions");
        assert_eq!(c.schedule.produce_interval, Duration::from_millis(500));
        assert_eq!((c.schedule.min_records_per_batch, c.schedule.max_records_per_batch), (1, 10));
        assert_eq!(c.dataset.uri, DatasetUri::Bundled);
        assert_eq!(c.schedule.max_messages, None);
        assert_eq!(c.schedule.shutdown_timeout, Duration::from_secs(20));
        assert_eq!(c.logs.format, LogFormat::Text);
        assert_eq!(c.s3.region, "us-east-1");
        assert_eq!(c.origin("PRODUCE_INTERVAL"), Origin::Default);
    }

    #[test]
    fn bootstrap_servers_is_required() {
        let e = Config::from_vars(Vec::<(String, String)>::new()).unwrap_err();
        assert!(e.to_string().contains("KAFKA_BOOTSTRAP_SERVERS is not set"), "{e}");
        assert_eq!(err_var(&[("KAFKA_BOOTSTRAP_SERVERS", "   ")]), "KAFKA_BOOTSTRAP_SERVERS");
        assert_eq!(err_var(&[("KAFKA_BOOTSTRAP_SERVERS", "localhost")]), "KAFKA_BOOTSTRAP_SERVERS");
        assert_eq!(err_var(&[("KAFKA_BOOTSTRAP_SERVERS", "a:9092,b:notaport")]), "KAFKA_BOOTSTRAP_SERVERS");
        assert!(cfg(&[("KAFKA_BOOTSTRAP_SERVERS", "a:9092, b:9093")]).is_ok());
        assert!(cfg(&[("KAFKA_BOOTSTRAP_SERVERS", "embedded")]).unwrap().is_embedded_broker());
    }

    #[test]
    fn presets_set_values_and_explicit_variables_win() {
        let c = cfg(&[("PRESET", "high")]).unwrap();
        assert_eq!(c.schedule.produce_interval, Duration::from_millis(200));
        assert_eq!((c.schedule.min_records_per_batch, c.schedule.max_records_per_batch), (10, 20));
        assert_eq!(c.origin("PRODUCE_INTERVAL"), Origin::Preset);
        let c = cfg(&[("PRESET", "LOW")]).unwrap();
        assert_eq!(c.schedule.produce_interval, Duration::from_secs(2));
        assert_eq!((c.schedule.min_records_per_batch, c.schedule.max_records_per_batch), (1, 5));
        let c = cfg(&[("PRESET", "normal")]).unwrap();
        assert_eq!((c.schedule.min_records_per_batch, c.schedule.max_records_per_batch), (1, 10));
        let c = cfg(&[("PRESET", "high"), ("PRODUCE_INTERVAL", "0.05"), ("MAX_RECORDS_PER_BATCH", "30")]).unwrap();
        assert_eq!(c.schedule.produce_interval, Duration::from_millis(50));
        assert_eq!((c.schedule.min_records_per_batch, c.schedule.max_records_per_batch), (10, 30));
        assert_eq!(c.origin("PRODUCE_INTERVAL"), Origin::Variable);
        assert_eq!(c.origin("MIN_RECORDS_PER_BATCH"), Origin::Preset);
        assert_eq!(c.origin("KAFKA_TOPIC"), Origin::Default);
        let shown = format!("{:?}", c.effective());
        assert!(shown.contains("\"0.05s (env)\"") && shown.contains("\"10 (preset)\""), "{shown}");
        // The preset's MIN must still respect an explicit MAX.
        assert!(matches!(
            cfg(&[("PRESET", "high"), ("MAX_RECORDS_PER_BATCH", "5")]),
            Err(ConfigError::MinAboveMax { min: 10, max: 5 })
        ));
        assert_eq!(err_var(&[("PRESET", "extreme")]), "PRESET");
    }

    #[test]
    fn every_bad_number_names_its_variable() {
        for var in ["PRODUCE_INTERVAL", "SHUTDOWN_TIMEOUT", "DATASET_RETRY_TIMEOUT", "PROGRESS_INTERVAL"] {
            for bad in ["abc", "NaN", "inf", "-1", "1e9", "0,5"] {
                assert_eq!(err_var(&[(var, bad)]), var, "{var}={bad}");
            }
        }
        for bad in ["0", "0.0", "0.00001"] {
            assert_eq!(err_var(&[("PRODUCE_INTERVAL", bad)]), "PRODUCE_INTERVAL", "{bad}");
        }
        assert_eq!(cfg(&[("SHUTDOWN_TIMEOUT", "0")]).unwrap().schedule.shutdown_timeout, Duration::ZERO);
        assert_eq!(cfg(&[("PRODUCE_INTERVAL", "0.25")]).unwrap().schedule.produce_interval, Duration::from_millis(250));
        for var in ["MIN_RECORDS_PER_BATCH", "MAX_RECORDS_PER_BATCH"] {
            for bad in ["0", "-3", "2.5", "ten", "100001", "99999999999999999999"] {
                assert_eq!(err_var(&[(var, bad)]), var, "{var}={bad}");
            }
        }
        for bad in ["0", "-1", "many", "1.5"] {
            assert_eq!(err_var(&[("MAX_MESSAGES", bad)]), "MAX_MESSAGES", "{bad}");
        }
        assert_eq!(cfg(&[("MAX_MESSAGES", "500")]).unwrap().schedule.max_messages, Some(500));
        for bad in ["http", "-1", "65536"] {
            assert_eq!(err_var(&[("HTTP_PORT", bad)]), "HTTP_PORT", "{bad}");
        }
    }

    #[test]
    fn min_above_max_is_rejected_with_both_names() {
        let e = cfg(&[("MIN_RECORDS_PER_BATCH", "8"), ("MAX_RECORDS_PER_BATCH", "3")]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("MIN_RECORDS_PER_BATCH=8") && msg.contains("MAX_RECORDS_PER_BATCH=3"), "{msg}");
        assert!(cfg(&[("MIN_RECORDS_PER_BATCH", "3"), ("MAX_RECORDS_PER_BATCH", "3")]).is_ok());
    }

    #[test]
    fn error_message_names_value_and_what_is_accepted() {
        let msg = cfg(&[("PRODUCE_INTERVAL", "fast")]).unwrap_err().to_string();
        assert_eq!(
            msg,
            "PRODUCE_INTERVAL=\"fast\" is invalid: not a number; expected a number of seconds > 0, e.g. 0.5"
        );
    }

    #[test]
    fn dataset_uris() {
        let c = cfg(&[("DATASET_URI", "s3://datasets/path/to/transactions.csv")]).unwrap();
        assert_eq!(c.dataset.uri, DatasetUri::S3 { bucket: "datasets".into(), key: "path/to/transactions.csv".into() });
        assert_eq!(cfg(&[("DATASET_URI", "data/t.csv")]).unwrap().dataset.uri, DatasetUri::File("data/t.csv".into()));
        assert_eq!(
            cfg(&[("DATASET_URI", "file:///tmp/t.csv")]).unwrap().dataset.uri,
            DatasetUri::File("/tmp/t.csv".into())
        );
        // A key ending in / (or none, the whole bucket) is a prefix.
        assert!(cfg(&[("DATASET_URI", "s3://bucket/")]).unwrap().dataset.uri.is_prefix());
        for bad in ["s3://", "s3://bucket", "s3:///key", "http://x/y.csv", "gs://b/k"] {
            assert_eq!(err_var(&[("DATASET_URI", bad)]), "DATASET_URI", "{bad}");
        }
    }

    #[test]
    fn log_settings() {
        assert_eq!(cfg(&[("LOG_FORMAT", "JSON")]).unwrap().logs.format, LogFormat::Json);
        assert_eq!(err_var(&[("LOG_FORMAT", "xml")]), "LOG_FORMAT");
        assert_eq!(err_var(&[("LOG_LEVEL", "loud")]), "LOG_LEVEL");
        assert_eq!(cfg(&[("LOG_LEVEL", "DEBUG")]).unwrap().logs.filter, "info,kafka_feeder=debug,librdkafka=debug");
        assert_eq!(cfg(&[("LOG_LEVEL", "warn")]).unwrap().logs.filter, "warn");
        assert_eq!(cfg(&[("RUST_LOG", "kafka_feeder=trace")]).unwrap().logs.filter, "kafka_feeder=trace");
        assert_eq!(cfg(&[("LOG_LEVEL", "warn"), ("RUST_LOG", "trace")]).unwrap().logs.filter, "warn");
        assert_eq!(err_var(&[("RUST_LOG", "kafka_feeder=[")]), "RUST_LOG");
    }

    #[test]
    fn python_aliases_for_s3() {
        let c = cfg(&[("KEY", "minio"), ("SECRET", "minio123"), ("ENDPOINT_URL", "http://minio:9000")]).unwrap();
        assert_eq!(c.s3.access_key_id.as_deref(), Some("minio"));
        assert_eq!(c.s3.secret_access_key.as_ref().map(|s| s.expose_secret()), Some("minio123"));
        assert_eq!(c.s3.endpoint_url.as_deref(), Some("http://minio:9000"));
        // The standard AWS names win over the aliases.
        let c =
            cfg(&[("KEY", "a"), ("SECRET", "b"), ("AWS_ACCESS_KEY_ID", "c"), ("AWS_SECRET_ACCESS_KEY", "d")]).unwrap();
        assert_eq!(c.s3.access_key_id.as_deref(), Some("c"));
        assert_eq!(c.s3.secret_access_key.as_ref().map(|s| s.expose_secret()), Some("d"));
        assert_eq!(cfg(&[("AWS_REGION", "eu-west-1")]).unwrap().s3.region, "eu-west-1");
        assert_eq!(err_var(&[("KEY", "only-the-key")]), "AWS_SECRET_ACCESS_KEY");
        assert_eq!(err_var(&[("SECRET", "only-the-secret")]), "AWS_ACCESS_KEY_ID");
        assert_eq!(err_var(&[("ENDPOINT_URL", "minio:9000")]), "AWS_ENDPOINT_URL (or ENDPOINT_URL)");
    }

    #[test]
    fn topic_names() {
        assert_eq!(cfg(&[("KAFKA_TOPIC", "my.topic-1_x")]).unwrap().kafka.topic, "my.topic-1_x");
        for bad in ["has space", "ümlaut", "..", &"x".repeat(250)] {
            assert_eq!(err_var(&[("KAFKA_TOPIC", bad)]), "KAFKA_TOPIC", "{bad}");
        }
    }

    #[test]
    fn passthrough_becomes_dotted_librdkafka_properties() {
        let c = cfg(&[
            ("KAFKA_PRODUCER_COMPRESSION_TYPE", "zstd"),
            ("KAFKA_PRODUCER_LINGER_MS", "5"),
            ("KAFKA_PRODUCER_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_PRODUCER_SASL_MECHANISM", "PLAIN"),
            ("KAFKA_PRODUCER_SASL_PASSWORD", "hunter2"),
        ])
        .unwrap();
        let cc = c.kafka.client_config("b:9092");
        assert_eq!(cc.get("compression.type"), Some("zstd"));
        assert_eq!(cc.get("linger.ms"), Some("5"));
        assert_eq!(cc.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(cc.get("sasl.password"), Some("hunter2"));
        assert_eq!(cc.get("enable.idempotence"), Some("true"));
        assert_eq!(cc.get("bootstrap.servers"), Some("b:9092"));
        let shown = format!("{:?}", c.effective());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("zstd"));
    }

    #[test]
    fn passthrough_rejected_by_librdkafka_names_the_variable() {
        let e = cfg(&[("KAFKA_PRODUCER_LINGER_MS", "soon")]).unwrap_err().to_string();
        assert!(e.starts_with("KAFKA_PRODUCER_LINGER_MS=\"soon\" is invalid"), "{e}");
        let e = cfg(&[("KAFKA_PRODUCER_NO_SUCH_THING", "1")]).unwrap_err().to_string();
        assert!(e.starts_with("KAFKA_PRODUCER_NO_SUCH_THING="), "{e}");
        let e = cfg(&[("KAFKA_PRODUCER_COMPRESSION_TYPE", "brotli")]).unwrap_err().to_string();
        assert!(e.contains("compression.type"), "{e}");
    }

    #[test]
    fn secrets_never_in_debug_or_effective_output() {
        let c = cfg(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-value"),
            ("AWS_SESSION_TOKEN", "sess-token-value"),
            ("KAFKA_PRODUCER_SSL_KEY_PASSWORD", "keypass-value"),
        ])
        .unwrap();
        let all = format!("{c:?} {:?}", c.effective());
        for secret in ["s3cr3t-value", "sess-token-value", "keypass-value"] {
            assert!(!all.contains(secret), "{secret} leaked: {all}");
        }
        assert!(all.contains("AKIAEXAMPLE"));
    }

    #[test]
    fn a_run_has_an_end_with_max_messages_run_duration_or_a_replay_that_does_not_loop() {
        assert_eq!(cfg(&[]).unwrap().end(), None);
        assert_eq!(cfg(&[("MAX_MESSAGES", "500")]).unwrap().end().as_deref(), Some("MAX_MESSAGES=500"));
        assert_eq!(cfg(&[("RUN_DURATION", "90")]).unwrap().end().as_deref(), Some("RUN_DURATION=90s"));
        let replay = [("REPLAY_TIME_FIELD", "ts")];
        assert_eq!(cfg(&replay).unwrap().end().as_deref(), Some("the replay's last record"));
        assert_eq!(cfg(&[replay[0], ("REPLAY_LOOP", "true")]).unwrap().end(), None);
    }
}
