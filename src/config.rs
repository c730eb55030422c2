//! Configuration: every setting comes from an environment variable.
//!
//! [`EnvConfig`] is what envy reads (raw strings, so that every parse error can
//! name its variable and say what is accepted); [`Config::from_env`] turns it into
//! the typed, validated [`Config`] the rest of the daemon uses. Validation happens
//! here, before any network call, and every failure is a [`ConfigError`] that
//! the binary prints as one line and maps to exit code 2. The config also owns
//! its conversion into an rdkafka [`ClientConfig`], including the
//! `KAFKA_PRODUCER_*` passthrough and the redaction of secrets for logging.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::Deserialize;

/// The value of `KAFKA_BOOTSTRAP_SERVERS` that starts librdkafka's in-process mock cluster.
pub const EMBEDDED_BROKER: &str = "embedded";

/// Prefix of the variables passed through to librdkafka as producer properties.
pub const PASSTHROUGH_PREFIX: &str = "KAFKA_PRODUCER_";

/// The topic the Python producers wrote to.
fn default_topic() -> String {
    "transactions".to_owned()
}
/// The Python producer slept 0.5 s between batches.
const fn default_produce_interval_secs() -> f64 {
    0.5
}
/// The Python producer's `random.randint(1, 10)`.
const fn default_min_records_per_batch() -> u32 {
    1
}
const fn default_max_records_per_batch() -> u32 {
    10
}
/// Below Kubernetes' default 30 s termination grace period, leaving room for the
/// final report before SIGKILL.
const fn default_shutdown_timeout_secs() -> f64 {
    20.0
}
/// How long transient S3 failures (connection refused, 5xx) are retried at startup:
/// long enough for a MinIO container that starts after us.
const fn default_dataset_retry_timeout_secs() -> f64 {
    30.0
}
/// A person tailing `docker logs -f` wants a line every few seconds, not every batch.
const fn default_progress_interval_secs() -> f64 {
    5.0
}
/// The region the AWS SDK needs even when MinIO ignores it.
fn default_region() -> String {
    "us-east-1".to_owned()
}
/// Port of the health and metrics server.
const fn default_http_port() -> u16 {
    8080
}

/// Volume presets: a shorthand for interval and batch bounds, one per replica kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    High,
    Normal,
    Low,
}

impl Preset {
    pub const ACCEPTED: &'static str = "high, normal or low";

    /// (interval in seconds, min records, max records)
    pub const fn values(self) -> (f64, u32, u32) {
        match self {
            Preset::High => (0.2, 10, 20),
            Preset::Normal => (0.5, 1, 10),
            Preset::Low => (2.0, 1, 5),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::High => "high",
            Preset::Normal => "normal",
            Preset::Low => "low",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" => Some(Preset::High),
            "normal" => Some(Preset::Normal),
            "low" => Some(Preset::Low),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the dataset comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetUri {
    S3 {
        bucket: String,
        key: String,
    },
    File(PathBuf),
    /// The sample dataset compiled into the binary (`data/transactions.csv`).
    Bundled,
}

impl fmt::Display for DatasetUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetUri::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            DatasetUri::File(p) => write!(f, "{}", p.display()),
            DatasetUri::Bundled => f.write_str("bundled sample (data/transactions.csv)"),
        }
    }
}

impl DatasetUri {
    fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("it is empty");
        }
        if raw == "bundled" {
            return Ok(DatasetUri::Bundled);
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').ok_or("it has no key after the bucket")?;
            if bucket.is_empty() {
                return Err("the bucket name is empty");
            }
            if key.is_empty() || key.ends_with('/') {
                return Err("the key is empty or names a folder");
            }
            return Ok(DatasetUri::S3 { bucket: bucket.to_owned(), key: key.to_owned() });
        }
        if let Some(path) = raw.strip_prefix("file://") {
            if path.is_empty() {
                return Err("the file path is empty");
            }
            return Ok(DatasetUri::File(PathBuf::from(path)));
        }
        if raw.contains("://") {
            return Err("the scheme is not s3:// or file://");
        }
        Ok(DatasetUri::File(PathBuf::from(raw)))
    }
}

/// Where a setting's value came from, shown in the effective-configuration log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Variable,
    Preset,
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Variable => "env",
            Origin::Preset => "preset",
            Origin::Default => "default",
        })
    }
}

/// The environment exactly as envy reads it. Everything is a string so that
/// parse errors are ours and name the variable.
#[derive(Default, Deserialize)]
pub struct EnvConfig {
    pub kafka_bootstrap_servers: Option<String>,
    pub kafka_topic: Option<String>,
    pub dataset_uri: Option<String>,
    pub dataset_retry_timeout: Option<String>,
    pub preset: Option<String>,
    pub produce_interval: Option<String>,
    pub min_records_per_batch: Option<String>,
    pub max_records_per_batch: Option<String>,
    pub max_messages: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub progress_interval: Option<String>,
    pub log_level: Option<String>,
    pub rust_log: Option<String>,
    pub log_format: Option<String>,
    pub http_port: Option<String>,
    pub aws_region: Option<String>,
    pub aws_default_region: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    pub aws_endpoint_url: Option<String>,
    pub aws_endpoint_url_s3: Option<String>,
    /// Python producer alias of `AWS_ACCESS_KEY_ID`.
    pub key: Option<String>,
    /// Python producer alias of `AWS_SECRET_ACCESS_KEY`.
    pub secret: Option<String>,
    /// Python producer alias of `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// `KAFKA_PRODUCER_*`, filled separately (envy cannot collect a prefix into a map
    /// beside named fields).
    #[serde(skip)]
    pub producer_properties: BTreeMap<String, String>,
}

impl EnvConfig {
    /// Reads the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| {
            // A non-UTF-8 value can only be reported if its variable is one of ours.
            let k = k.into_string().ok()?;
            Some((k, v.into_string().unwrap_or_else(|_| "\u{FFFD}".to_owned())))
        }))
    }

    /// Reads any set of variables (tests pass their own).
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        // A map: the last value of a repeated variable wins, as in a shell.
        let vars: BTreeMap<String, String> = vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let mut env: EnvConfig = envy::from_iter(vars.clone()).map_err(|e| ConfigError::Unreadable(e.to_string()))?;
        env.producer_properties = envy::prefixed(PASSTHROUGH_PREFIX)
            .from_iter::<_, BTreeMap<String, String>>(vars)
            .map_err(|e| ConfigError::Unreadable(e.to_string()))?;
        Ok(env)
    }
}

/// A configuration error: names the variable, the value given (unless secret) and
/// what is accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var}={value:?} is invalid: {problem}; expected {accepted}")]
    Invalid { var: String, value: String, problem: String, accepted: String },
    #[error("MIN_RECORDS_PER_BATCH={min} is greater than MAX_RECORDS_PER_BATCH={max}; set MIN_RECORDS_PER_BATCH <= MAX_RECORDS_PER_BATCH")]
    MinAboveMax { min: u32, max: u32 },
    #[error("could not read the environment: {0}")]
    Unreadable(String),
}

/// S3 settings, with the Python producer's aliases already resolved.
#[derive(Clone, PartialEq)]
pub struct S3Settings {
    pub region: String,
    pub endpoint_url: Option<String>,
    /// Static credentials from `AWS_ACCESS_KEY_ID`/`KEY`; `None` means the default
    /// AWS chain (profile, web identity, instance role).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

// Hand-written so that a `{:?}` anywhere can never print a secret.
impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| REDACTED))
            .field("session_token", &self.session_token.as_ref().map(|_| REDACTED))
            .finish()
    }
}

pub const REDACTED: &str = "***";

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bootstrap_servers: String,
    pub topic: String,
    pub dataset: DatasetUri,
    pub dataset_retry_timeout: Duration,
    pub preset: Option<Preset>,
    pub produce_interval: Duration,
    pub min_records_per_batch: u32,
    pub max_records_per_batch: u32,
    pub max_messages: Option<u64>,
    pub shutdown_timeout: Duration,
    pub progress_interval: Duration,
    pub log_filter: String,
    pub log_format: LogFormat,
    pub http_port: u16,
    pub s3: S3Settings,
    /// librdkafka properties from `KAFKA_PRODUCER_*`, already translated to dotted names.
    pub producer_properties: ProducerProperties,
    /// The variables that were set, so each setting can say where it came from.
    pub explicit: BTreeSet<&'static str>,
}

/// Settings a preset provides.
const PRESET_VARS: [&str; 3] = ["PRODUCE_INTERVAL", "MIN_RECORDS_PER_BATCH", "MAX_RECORDS_PER_BATCH"];

/// Throughput-minded producer defaults; any of them can be overridden with
/// `KAFKA_PRODUCER_*`.
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    // Exactly-once per partition on retries: a broker hiccup never duplicates records.
    ("enable.idempotence", "true"),
    // lz4 costs little CPU and halves JSON on the wire; zstd is available too.
    ("compression.type", "lz4"),
    // Batches fill for up to 20 ms: far below any interval, large enough to batch a tick.
    ("linger.ms", "20"),
    // Fail a message after 60 s of broker outage instead of librdkafka's 300 s, so
    // failures surface while someone is still watching the log.
    ("message.timeout.ms", "60000"),
    ("client.id", "kafka-feeder"),
];

/// librdkafka properties whose values are credentials (passwords, private keys,
/// OAuth secrets): never logged, never echoed in an error.
pub fn is_secret_property(name: &str) -> bool {
    ["password", "secret", "token", ".pem", "oauthbearer.config"].iter().any(|s| name.contains(s))
}

/// librdkafka properties from `KAFKA_PRODUCER_*`, keyed by dotted name. Its `Debug`
/// redacts secret values, so the derived `Debug` of [`Config`] is safe to print.
#[derive(Clone, Default, PartialEq)]
pub struct ProducerProperties(pub BTreeMap<String, String>);

impl fmt::Debug for ProducerProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, if is_secret_property(k) { REDACTED } else { v.as_str() })))
            .finish()
    }
}

impl Config {
    /// Reads and validates the process environment.
    pub fn from_process_env() -> Result<Self, ConfigError> {
        Self::from_env(EnvConfig::from_process_env()?)
    }

    /// Validates raw variables into a typed config.
    pub fn from_env(env: EnvConfig) -> Result<Self, ConfigError> {
        let explicit: BTreeSet<&'static str> = [
            ("KAFKA_TOPIC", &env.kafka_topic),
            ("DATASET_URI", &env.dataset_uri),
            ("DATASET_RETRY_TIMEOUT", &env.dataset_retry_timeout),
            ("PRESET", &env.preset),
            ("PRODUCE_INTERVAL", &env.produce_interval),
            ("MIN_RECORDS_PER_BATCH", &env.min_records_per_batch),
            ("MAX_RECORDS_PER_BATCH", &env.max_records_per_batch),
            ("MAX_MESSAGES", &env.max_messages),
            ("SHUTDOWN_TIMEOUT", &env.shutdown_timeout),
            ("PROGRESS_INTERVAL", &env.progress_interval),
            ("LOG_LEVEL", &env.log_level),
            ("RUST_LOG", &env.rust_log),
            ("LOG_FORMAT", &env.log_format),
            ("HTTP_PORT", &env.http_port),
            ("AWS_REGION", &env.aws_region),
        ]
        .into_iter()
        .filter(|(_, v)| v.as_deref().is_some_and(|s| !s.trim().is_empty()))
        .map(|(k, _)| k)
        .collect();
        let bootstrap_servers = non_empty(env.kafka_bootstrap_servers).ok_or(ConfigError::Missing {
            var: "KAFKA_BOOTSTRAP_SERVERS",
            hint: "set it to your brokers (host:port[,host:port]) or to `embedded` for the in-process test broker",
        })?;
        let bootstrap_servers = bootstrap_servers.trim().to_owned();
        if bootstrap_servers != EMBEDDED_BROKER {
            for server in bootstrap_servers.split(',') {
                let server = server.trim();
                let host_port = server.rsplit_once("://").map_or(server, |(_, hp)| hp);
                let ok = match host_port.rsplit_once(':') {
                    Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
                    None => false,
                };
                if !ok {
                    return Err(invalid(
                        "KAFKA_BOOTSTRAP_SERVERS",
                        &bootstrap_servers,
                        format!("{server:?} is not host:port"),
                        "a comma-separated list of host:port, or `embedded`",
                    ));
                }
            }
        }

        let topic = non_empty(env.kafka_topic).unwrap_or_else(default_topic);
        let topic = topic.trim().to_owned();
        if topic.len() > 249
            || !topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            || topic == "."
            || topic == ".."
        {
            return Err(invalid(
                "KAFKA_TOPIC",
                &topic,
                "not a legal Kafka topic name".into(),
                "1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'",
            ));
        }

        let dataset = match non_empty(env.dataset_uri) {
            None => DatasetUri::Bundled,
            Some(raw) => DatasetUri::parse(&raw).map_err(|problem| {
                invalid(
                    "DATASET_URI",
                    &raw,
                    problem.into(),
                    "s3://bucket/key, a local file path, file:///path, or `bundled`",
                )
            })?,
        };

        let dataset_retry_timeout =
            seconds("DATASET_RETRY_TIMEOUT", env.dataset_retry_timeout, default_dataset_retry_timeout_secs(), true)?;

        let preset = match non_empty(env.preset) {
            None => None,
            Some(raw) => Some(
                Preset::parse(&raw)
                    .ok_or_else(|| invalid("PRESET", &raw, "unknown preset".into(), Preset::ACCEPTED))?,
            ),
        };
        let (p_interval, p_min, p_max) = preset.map_or(
            (default_produce_interval_secs(), default_min_records_per_batch(), default_max_records_per_batch()),
            Preset::values,
        );
        let produce_interval = seconds("PRODUCE_INTERVAL", env.produce_interval, p_interval, false)?;
        if produce_interval < Duration::from_micros(100) {
            return Err(invalid(
                "PRODUCE_INTERVAL",
                &format!("{}", produce_interval.as_secs_f64()),
                "below 0.0001 s".into(),
                "a number of seconds > 0, at least 0.0001, e.g. 0.5",
            ));
        }
        let min_records_per_batch = count("MIN_RECORDS_PER_BATCH", env.min_records_per_batch, p_min)?;
        let max_records_per_batch = count("MAX_RECORDS_PER_BATCH", env.max_records_per_batch, p_max)?;
        if min_records_per_batch > max_records_per_batch {
            return Err(ConfigError::MinAboveMax { min: min_records_per_batch, max: max_records_per_batch });
        }

        let max_messages = match non_empty(env.max_messages) {
            None => None,
            Some(raw) => Some(parse_positive_u64(
                "MAX_MESSAGES",
                &raw,
                "a whole number of messages >= 1, or unset to run until stopped",
            )?),
        };

        let shutdown_timeout =
            seconds("SHUTDOWN_TIMEOUT", env.shutdown_timeout, default_shutdown_timeout_secs(), true)?;
        let progress_interval =
            seconds("PROGRESS_INTERVAL", env.progress_interval, default_progress_interval_secs(), false)?;

        let log_filter = match (non_empty(env.log_level), non_empty(env.rust_log)) {
            (Some(level), _) => {
                let level = level.trim().to_ascii_lowercase();
                if !matches!(level.as_str(), "trace" | "debug" | "info" | "warn" | "error" | "off") {
                    return Err(invalid(
                        "LOG_LEVEL",
                        &level,
                        "unknown level".into(),
                        "trace, debug, info, warn, error or off (or RUST_LOG for per-module filters)",
                    ));
                }
                // Verbose levels apply to kafka-feeder and librdkafka; the HTTP and
                // AWS stacks stay at info (their debug output is noise, and request
                // dumps are no place for credentials). RUST_LOG reaches them if needed.
                if matches!(level.as_str(), "trace" | "debug") {
                    format!("info,kafka_feeder={level},librdkafka={level}")
                } else {
                    level
                }
            }
            (None, Some(filter)) => {
                if tracing_subscriber::EnvFilter::try_new(&filter).is_err() {
                    return Err(invalid(
                        "RUST_LOG",
                        &filter,
                        "not a tracing filter".into(),
                        "e.g. info or kafka_feeder=debug,info",
                    ));
                }
                filter
            }
            (None, None) => "info".to_owned(),
        };

        let log_format = match non_empty(env.log_format).map(|s| s.trim().to_ascii_lowercase()) {
            None => LogFormat::Text,
            Some(s) if s == "text" => LogFormat::Text,
            Some(s) if s == "json" => LogFormat::Json,
            Some(s) => return Err(invalid("LOG_FORMAT", &s, "unknown format".into(), "text or json")),
        };

        let http_port = match non_empty(env.http_port) {
            None => default_http_port(),
            Some(raw) => raw.trim().parse::<u16>().map_err(|e| {
                invalid("HTTP_PORT", &raw, e.to_string(), "a TCP port from 0 to 65535 (0 picks any free port)")
            })?,
        };

        let s3 = S3Settings {
            region: non_empty(env.aws_region).or(non_empty(env.aws_default_region)).unwrap_or_else(default_region),
            endpoint_url: non_empty(env.aws_endpoint_url_s3)
                .or(non_empty(env.aws_endpoint_url))
                .or(non_empty(env.endpoint_url)),
            access_key_id: non_empty(env.aws_access_key_id).or(non_empty(env.key)),
            secret_access_key: non_empty(env.aws_secret_access_key).or(non_empty(env.secret)),
            session_token: non_empty(env.aws_session_token),
        };
        if let Some(url) = &s3.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= "https://".len() {
                let var = "AWS_ENDPOINT_URL (or ENDPOINT_URL)";
                return Err(invalid(var, url, "not an http(s) URL".into(), "e.g. http://minio:9000"));
            }
        }
        match (&s3.access_key_id, &s3.secret_access_key) {
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    var: "AWS_SECRET_ACCESS_KEY",
                    hint: "an access key id is set (AWS_ACCESS_KEY_ID or KEY) without its secret; set AWS_SECRET_ACCESS_KEY (or SECRET)",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    var: "AWS_ACCESS_KEY_ID",
                    hint: "a secret is set (AWS_SECRET_ACCESS_KEY or SECRET) without its access key id; set AWS_ACCESS_KEY_ID (or KEY)",
                })
            }
            _ => {}
        }

        let producer_properties = ProducerProperties(
            env.producer_properties.into_iter().map(|(k, v)| (k.to_ascii_lowercase().replace('_', "."), v)).collect(),
        );

        let config = Config {
            bootstrap_servers,
            topic,
            dataset,
            dataset_retry_timeout,
            preset,
            produce_interval,
            min_records_per_batch,
            max_records_per_batch,
            max_messages,
            shutdown_timeout,
            progress_interval,
            log_filter,
            log_format,
            http_port,
            s3,
            producer_properties,
            explicit,
        };
        config.validate_producer_properties()?;
        Ok(config)
    }

    pub fn is_embedded_broker(&self) -> bool {
        self.bootstrap_servers == EMBEDDED_BROKER
    }

    /// The rdkafka producer configuration: our defaults, then the passthrough.
    /// `bootstrap` is the address actually used (the mock cluster's, when embedded).
    pub fn client_config(&self, bootstrap: &str) -> ClientConfig {
        let mut cc = ClientConfig::new();
        for (k, v) in PRODUCER_DEFAULTS {
            cc.set(*k, *v);
        }
        for (k, v) in &self.producer_properties.0 {
            cc.set(k, v);
        }
        cc.set("bootstrap.servers", bootstrap);
        cc
    }

    /// Asks librdkafka itself to accept every property, without creating a client,
    /// so that a typo fails at startup with the variable's name and no network call.
    fn validate_producer_properties(&self) -> Result<(), ConfigError> {
        for (name, value) in &self.producer_properties.0 {
            let mut cc = ClientConfig::new();
            cc.set(name, value);
            if let Err(e) = cc.create_native_config() {
                let var = format!("{PASSTHROUGH_PREFIX}{}", name.to_ascii_uppercase().replace('.', "_"));
                let secret = is_secret_property(name);
                let mut problem = format!("librdkafka rejects property {name:?}: {e}");
                let shown = if secret {
                    problem = problem.replace(value.as_str(), REDACTED);
                    REDACTED.to_owned()
                } else {
                    value.clone()
                };
                return Err(ConfigError::Invalid {
                    var,
                    value: shown,
                    problem,
                    accepted: "a property and value from librdkafka's CONFIGURATION.md (KAFKA_PRODUCER_<NAME> sets <name> lowercased with _ as .)".into(),
                });
            }
        }
        Ok(())
    }

    /// Where a setting's value came from.
    pub fn origin(&self, var: &str) -> Origin {
        if self.explicit.contains(var) {
            Origin::Variable
        } else if self.preset.is_some() && PRESET_VARS.contains(&var) {
            Origin::Preset
        } else {
            Origin::Default
        }
    }

    /// Every setting with its value and origin, secrets redacted: the
    /// effective-configuration log line.
    pub fn effective(&self) -> Vec<(String, String)> {
        let secs = |d: Duration| format!("{}s", d.as_secs_f64());
        let mut out: Vec<(String, String)> = [
            ("KAFKA_BOOTSTRAP_SERVERS", self.bootstrap_servers.clone()),
            ("KAFKA_TOPIC", self.topic.clone()),
            ("DATASET_URI", self.dataset.to_string()),
            ("DATASET_RETRY_TIMEOUT", secs(self.dataset_retry_timeout)),
            ("PRESET", self.preset.map_or("none", Preset::as_str).to_owned()),
            ("PRODUCE_INTERVAL", secs(self.produce_interval)),
            ("MIN_RECORDS_PER_BATCH", self.min_records_per_batch.to_string()),
            ("MAX_RECORDS_PER_BATCH", self.max_records_per_batch.to_string()),
            ("MAX_MESSAGES", self.max_messages.map_or("unlimited".into(), |n| n.to_string())),
            ("SHUTDOWN_TIMEOUT", secs(self.shutdown_timeout)),
            ("PROGRESS_INTERVAL", secs(self.progress_interval)),
            ("LOG_LEVEL", self.log_filter.clone()),
            ("LOG_FORMAT", format!("{:?}", self.log_format).to_ascii_lowercase()),
            ("HTTP_PORT", self.http_port.to_string()),
            ("AWS_REGION", self.s3.region.clone()),
        ]
        .into_iter()
        .map(|(k, v)| {
            let origin = match k {
                "KAFKA_BOOTSTRAP_SERVERS" => Origin::Variable,
                "LOG_LEVEL" if self.explicit.contains("RUST_LOG") => Origin::Variable,
                _ => self.origin(k),
            };
            (k.to_owned(), format!("{v} ({origin})"))
        })
        .collect();
        let s3 = &self.s3;
        out.push(("AWS_ENDPOINT_URL".into(), s3.endpoint_url.clone().unwrap_or_else(|| "aws default".into())));
        out.push((
            "AWS_ACCESS_KEY_ID".into(),
            s3.access_key_id.clone().unwrap_or_else(|| "default credential chain".into()),
        ));
        out.push(("AWS_SECRET_ACCESS_KEY".into(), s3.secret_access_key.as_ref().map_or("unset", |_| REDACTED).into()));
        out.push(("AWS_SESSION_TOKEN".into(), s3.session_token.as_ref().map_or("unset", |_| REDACTED).into()));
        for (k, v) in &self.producer_properties.0 {
            let shown = if is_secret_property(k) { REDACTED.to_owned() } else { v.clone() };
            out.push((format!("producer.{k}"), format!("{shown} (env)")));
        }
        for (k, v) in PRODUCER_DEFAULTS {
            if !self.producer_properties.0.contains_key(*k) {
                out.push((format!("producer.{k}"), format!("{v} (default)")));
            }
        }
        out
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

fn invalid(var: &str, value: &str, problem: String, accepted: &str) -> ConfigError {
    ConfigError::Invalid { var: var.to_owned(), value: value.to_owned(), problem, accepted: accepted.to_owned() }
}

/// Parses a number of seconds: finite, > 0 (or >= 0 when `zero_ok`), at most a day.
fn seconds(var: &str, raw: Option<String>, default: f64, zero_ok: bool) -> Result<Duration, ConfigError> {
    let Some(raw) = non_empty(raw) else {
        return Ok(Duration::from_secs_f64(default));
    };
    let accepted = if zero_ok { "a number of seconds >= 0, e.g. 0.5" } else { "a number of seconds > 0, e.g. 0.5" };
    let v: f64 = raw.trim().parse().map_err(|_| invalid(var, &raw, "not a number".into(), accepted))?;
    if !v.is_finite() {
        return Err(invalid(var, &raw, "not a finite number".into(), accepted));
    }
    if v < 0.0 || (v == 0.0 && !zero_ok) {
        return Err(invalid(var, &raw, "must be positive".into(), accepted));
    }
    if v > 86_400.0 {
        return Err(invalid(var, &raw, "longer than a day".into(), accepted));
    }
    Ok(Duration::from_secs_f64(v))
}

fn count(var: &str, raw: Option<String>, default: u32) -> Result<u32, ConfigError> {
    let Some(raw) = non_empty(raw) else {
        return Ok(default);
    };
    const ACCEPTED: &str = "a whole number from 1 to 100000";
    let v = parse_positive_u64(var, &raw, ACCEPTED)?;
    if v > 100_000 {
        return Err(invalid(var, &raw, "too large for one batch".into(), ACCEPTED));
    }
    Ok(v as u32)
}

fn parse_positive_u64(var: &str, raw: &str, accepted: &str) -> Result<u64, ConfigError> {
    let v: u64 = raw.trim().parse().map_err(|_| invalid(var, raw, "not a whole number".into(), accepted))?;
    if v == 0 {
        return Err(invalid(var, raw, "must be at least 1".into(), accepted));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut all = vec![("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")];
        all.extend_from_slice(vars);
        Config::from_env(EnvConfig::from_vars(all.iter().map(|(k, v)| (k.to_string(), v.to_string())))?)
    }

    fn err_var(vars: &[(&str, &str)]) -> String {
        match cfg(vars).expect_err("expected a config error") {
            ConfigError::Invalid { var, .. } => var,
            ConfigError::Missing { var, .. } => var.to_owned(),
            ConfigError::MinAboveMax { .. } => "MIN_RECORDS_PER_BATCH".into(),
            ConfigError::Unreadable(s) => panic!("unreadable: {s}"),
        }
    }

    #[test]
    fn defaults_match_the_python_producer() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.topic, "transactions");
        assert_eq!(c.produce_interval, Duration::from_millis(500));
        assert_eq!((c.min_records_per_batch, c.max_records_per_batch), (1, 10));
        assert_eq!(c.dataset, DatasetUri::Bundled);
        assert_eq!(c.max_messages, None);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(20));
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.s3.region, "us-east-1");
        assert_eq!(c.origin("PRODUCE_INTERVAL"), Origin::Default);
    }

    #[test]
    fn bootstrap_servers_is_required() {
        let e = Config::from_env(EnvConfig::default()).unwrap_err();
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
        assert_eq!(c.produce_interval, Duration::from_millis(200));
        assert_eq!((c.min_records_per_batch, c.max_records_per_batch), (10, 20));
        assert_eq!(c.origin("PRODUCE_INTERVAL"), Origin::Preset);
        let c = cfg(&[("PRESET", "LOW")]).unwrap();
        assert_eq!(c.produce_interval, Duration::from_secs(2));
        assert_eq!((c.min_records_per_batch, c.max_records_per_batch), (1, 5));
        let c = cfg(&[("PRESET", "normal")]).unwrap();
        assert_eq!((c.min_records_per_batch, c.max_records_per_batch), (1, 10));
        let c = cfg(&[("PRESET", "high"), ("PRODUCE_INTERVAL", "0.05"), ("MAX_RECORDS_PER_BATCH", "30")]).unwrap();
        assert_eq!(c.produce_interval, Duration::from_millis(50));
        assert_eq!((c.min_records_per_batch, c.max_records_per_batch), (10, 30));
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
        assert_eq!(cfg(&[("SHUTDOWN_TIMEOUT", "0")]).unwrap().shutdown_timeout, Duration::ZERO);
        assert_eq!(cfg(&[("PRODUCE_INTERVAL", "0.25")]).unwrap().produce_interval, Duration::from_millis(250));
        for var in ["MIN_RECORDS_PER_BATCH", "MAX_RECORDS_PER_BATCH"] {
            for bad in ["0", "-3", "2.5", "ten", "100001", "99999999999999999999"] {
                assert_eq!(err_var(&[(var, bad)]), var, "{var}={bad}");
            }
        }
        for bad in ["0", "-1", "many", "1.5"] {
            assert_eq!(err_var(&[("MAX_MESSAGES", bad)]), "MAX_MESSAGES", "{bad}");
        }
        assert_eq!(cfg(&[("MAX_MESSAGES", "500")]).unwrap().max_messages, Some(500));
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
        assert_eq!(c.dataset, DatasetUri::S3 { bucket: "datasets".into(), key: "path/to/transactions.csv".into() });
        assert_eq!(cfg(&[("DATASET_URI", "data/t.csv")]).unwrap().dataset, DatasetUri::File("data/t.csv".into()));
        assert_eq!(
            cfg(&[("DATASET_URI", "file:///tmp/t.csv")]).unwrap().dataset,
            DatasetUri::File("/tmp/t.csv".into())
        );
        for bad in ["s3://", "s3://bucket", "s3://bucket/", "s3:///key", "http://x/y.csv", "gs://b/k"] {
            assert_eq!(err_var(&[("DATASET_URI", bad)]), "DATASET_URI", "{bad}");
        }
    }

    #[test]
    fn log_settings() {
        assert_eq!(cfg(&[("LOG_FORMAT", "JSON")]).unwrap().log_format, LogFormat::Json);
        assert_eq!(err_var(&[("LOG_FORMAT", "xml")]), "LOG_FORMAT");
        assert_eq!(err_var(&[("LOG_LEVEL", "loud")]), "LOG_LEVEL");
        assert_eq!(cfg(&[("LOG_LEVEL", "DEBUG")]).unwrap().log_filter, "info,kafka_feeder=debug,librdkafka=debug");
        assert_eq!(cfg(&[("LOG_LEVEL", "warn")]).unwrap().log_filter, "warn");
        assert_eq!(cfg(&[("RUST_LOG", "kafka_feeder=trace")]).unwrap().log_filter, "kafka_feeder=trace");
        assert_eq!(cfg(&[("LOG_LEVEL", "warn"), ("RUST_LOG", "trace")]).unwrap().log_filter, "warn");
        assert_eq!(err_var(&[("RUST_LOG", "kafka_feeder=[")]), "RUST_LOG");
    }

    #[test]
    fn python_aliases_for_s3() {
        let c = cfg(&[("KEY", "minio"), ("SECRET", "minio123"), ("ENDPOINT_URL", "http://minio:9000")]).unwrap();
        assert_eq!(c.s3.access_key_id.as_deref(), Some("minio"));
        assert_eq!(c.s3.secret_access_key.as_deref(), Some("minio123"));
        assert_eq!(c.s3.endpoint_url.as_deref(), Some("http://minio:9000"));
        // The standard AWS names win over the aliases.
        let c =
            cfg(&[("KEY", "a"), ("SECRET", "b"), ("AWS_ACCESS_KEY_ID", "c"), ("AWS_SECRET_ACCESS_KEY", "d")]).unwrap();
        assert_eq!(c.s3.access_key_id.as_deref(), Some("c"));
        assert_eq!(c.s3.secret_access_key.as_deref(), Some("d"));
        assert_eq!(cfg(&[("AWS_REGION", "eu-west-1")]).unwrap().s3.region, "eu-west-1");
        assert_eq!(err_var(&[("KEY", "only-the-key")]), "AWS_SECRET_ACCESS_KEY");
        assert_eq!(err_var(&[("SECRET", "only-the-secret")]), "AWS_ACCESS_KEY_ID");
        assert_eq!(err_var(&[("ENDPOINT_URL", "minio:9000")]), "AWS_ENDPOINT_URL (or ENDPOINT_URL)");
    }

    #[test]
    fn topic_names() {
        assert_eq!(cfg(&[("KAFKA_TOPIC", "my.topic-1_x")]).unwrap().topic, "my.topic-1_x");
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
        let cc = c.client_config("b:9092");
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
}
