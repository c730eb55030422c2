//! The table of settings: every environment variable kafka-feeder reads, once.
//!
//! Each entry gives the name, its aliases, the group, the default as shown to
//! people, what it accepts, a one-line meaning and whether the value is secret.
//! Parsing (`config` and the stage that owns a group) takes the accepted text for
//! its error messages from here, the effective-configuration line walks the
//! table in order, `--help` prints it, and docs/configuration.md's settings tables and
//! `.env.example` are generated from it ([`crate::settings::docs`]; a test fails when they
//! drift). A new variable is one entry here plus its parse function.
//!
//! Beside the table: [`env`] reads the raw variables and parses them with
//! errors that name the variable, [`config`] builds the one validated
//! [`config::Config`] from each group's settings, and [`docs`] generates
//! `--help`, the reference tables and `.env.example`.

pub mod config;
pub mod docs;
pub mod env;

use std::fmt;

/// What part of the daemon a setting belongs to (the `--help` and docs/configuration.md sections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Kafka,
    Dataset,
    S3,
    Schedule,
    Messages,
    Registry,
    Logs,
}

impl Group {
    pub const ALL: [Group; 7] =
        [Group::Kafka, Group::Dataset, Group::S3, Group::Schedule, Group::Messages, Group::Registry, Group::Logs];

    pub fn title(self) -> &'static str {
        match self {
            Group::Kafka => "Kafka",
            Group::Dataset => "Dataset",
            Group::S3 => "S3 / MinIO",
            Group::Schedule => "Schedule",
            Group::Messages => "Messages",
            Group::Registry => "Schema Registry",
            Group::Logs => "Logs and HTTP",
        }
    }
}

/// One environment variable.
#[derive(Debug, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    /// Other names read for the same setting, in order, after `name` (the
    /// Python producers' `KEY`, `SECRET`, `ENDPOINT_URL`).
    pub aliases: &'static [&'static str],
    pub group: Group,
    /// The default as shown to people and written in `.env.example`: a value,
    /// a description in parentheses (`(AWS default chain)`), or `""` for "unset".
    pub default: &'static str,
    /// A sample value for `.env.example` (written uncommented for a required setting).
    pub example: &'static str,
    /// What the value may be, as quoted by validation errors.
    pub accepted: &'static str,
    pub meaning: &'static str,
    /// Never logged or echoed: shown as `***`.
    pub secret: bool,
    /// Must be set (there is no default).
    pub required: bool,
    /// Not one variable but a prefix (`KAFKA_PRODUCER_<NAME>`).
    pub prefix: bool,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// Declares each setting as a constant and [`ALL`] in table order.
macro_rules! settings {
    ($( $(#[$doc:meta])* $id:ident { $($field:ident : $value:expr),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            pub const $id: Setting = Setting { name: stringify!($id), $($field: $value,)* ..BASE };
        )*
        /// Every setting, in the order of `--help` and the effective-configuration line.
        pub const ALL: &[&Setting] = &[$(&$id),*];
    };
}

const BASE: Setting = Setting {
    name: "",
    aliases: &[],
    group: Group::Kafka,
    default: "",
    example: "",
    accepted: "",
    meaning: "",
    secret: false,
    required: false,
    prefix: false,
};

/// Shown for a secret that is set.
pub const REDACTED: &str = "***";

settings! {
    KAFKA_BOOTSTRAP_SERVERS {
        group: Group::Kafka, required: true, example: "embedded",
        accepted: "a comma-separated list of host:port, or `embedded`",
        meaning: "The brokers. `embedded` starts librdkafka's in-process mock broker and says so loudly (messages never leave the process).",
    }
    KAFKA_TOPIC {
        group: Group::Kafka, default: "transactions",
        accepted: "1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'",
        meaning: "Topic to produce to. It must exist unless the broker auto-creates topics.",
    }
    KAFKA_PRODUCER_ {
        group: Group::Kafka, prefix: true,
        default: "(librdkafka's, except enable.idempotence=true, compression.type=lz4, linger.ms=20, message.timeout.ms=60000, partitioner=murmur2_random, client.id=kafka-feeder)",
        accepted: "a property and value from librdkafka's CONFIGURATION.md (KAFKA_PRODUCER_<NAME> sets <name> lowercased with _ as .)",
        meaning: "Sets librdkafka producer property <name>: KAFKA_PRODUCER_COMPRESSION_TYPE=zstd, KAFKA_PRODUCER_SECURITY_PROTOCOL=SASL_SSL. librdkafka validates each at startup; values of properties named like password, secret, token or .pem are secret.",
    }
    KAFKA_SASL_MECHANISM {
        group: Group::Kafka, example: "AWS_MSK_IAM",
        accepted: "AWS_MSK_IAM, or unset (librdkafka's own mechanisms go in KAFKA_PRODUCER_SASL_MECHANISM)",
        meaning: "AWS_MSK_IAM: Amazon MSK's IAM access control. librdkafka's OAUTHBEARER carries a SigV4-signed token made from the AWS credentials S3 uses (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, web identity/IRSA, a container or instance role) for AWS_REGION, else the region in the broker host name, and renewed before it expires. security.protocol defaults to SASL_SSL. The role needs kafka-cluster:Connect, WriteData, DescribeTopic and, for the idempotent producer, WriteDataIdempotently (docs/msk-iam.md).",
    }
    CHECK_TIMEOUT {
        group: Group::Kafka, default: "10",
        accepted: "a number of seconds > 0, e.g. 10",
        meaning: "How long `kafka-feeder check` waits for a broker to answer and accept the producer before failing (a run waits for the broker as long as it takes).",
    }
    DATASET_URI {
        group: Group::Dataset, default: "bundled", example: "s3://datasets/transactions.csv",
        accepted: "s3://bucket/key, a local file path, file:///path, `bundled`, or `none`",
        meaning: "Where the dataset is. Unset: the sample compiled into the binary, with a warning. `none`: no dataset, every message from MESSAGE_TEMPLATE alone (any pacing but replay).",
    }
    DATASET_RETRY_TIMEOUT {
        group: Group::Dataset, default: "30",
        accepted: "a number of seconds >= 0, e.g. 30",
        meaning: "Seconds to keep retrying transient S3 failures (connection refused, timeouts, HTTP 5xx/429, a body cut off), backing off from 0.25 s to 5 s.",
    }
    DATASET_FORMAT {
        group: Group::Dataset, default: "(by suffix, else csv)",
        accepted: "csv, jsonl or parquet",
        meaning: "Format of every object. Unset: each object's suffix decides (.csv, .jsonl/.ndjson/.json, .parquet, each optionally .gz or .zst), and CSV when it says nothing.",
    }
    DATASET_MAX_RECORDS {
        group: Group::Dataset, example: "1000000",
        accepted: "a whole number >= 1, or unset to keep every record",
        meaning: "Keep a uniform random sample of this many records, chosen while streaming (reservoir sampling), so a dataset of any size loads in memory for N records. The load line says records=N of=M.",
    }
    DATASET_MAX_BYTES {
        group: Group::Dataset, default: "(half the memory limit)",
        accepted: "a number of bytes >= 1, optionally with K, M or G (powers of 1024), e.g. 2G",
        meaning: "Memory guard: a dataset needing more (JSON plus offsets) stops the load with exit 6 and a hint to set DATASET_MAX_RECORDS, instead of being killed by the kernel. Default: half the cgroup memory limit, else half of physical memory.",
    }
    DATASET_RELOAD_INTERVAL {
        group: Group::Dataset, example: "300",
        accepted: "a number of seconds > 0, e.g. 300, or unset for no reload",
        meaning: "Check the dataset's ETag (a file's modification time) this often; when it changed, load the new version in the background and swap it in between two batches. SIGHUP reloads at once. A failed reload keeps the old dataset.",
    }
    AWS_ACCESS_KEY_ID {
        group: Group::S3, aliases: &["KEY"], default: "(AWS default chain)",
        accepted: "an access key id (with AWS_SECRET_ACCESS_KEY)",
        meaning: "Static AWS credentials, for S3 and AWS_MSK_IAM. Unset: the standard AWS chain (profile, web identity/IRSA, instance role).",
    }
    AWS_SECRET_ACCESS_KEY {
        group: Group::S3, aliases: &["SECRET"], secret: true, default: "(AWS default chain)",
        accepted: "the secret of AWS_ACCESS_KEY_ID",
        meaning: "The secret of the static AWS credentials.",
    }
    AWS_SESSION_TOKEN {
        group: Group::S3, secret: true,
        accepted: "a session token",
        meaning: "Session token of temporary static credentials.",
    }
    AWS_REGION {
        group: Group::S3, aliases: &["AWS_DEFAULT_REGION"], default: "us-east-1",
        accepted: "an AWS region name",
        meaning: "S3 region (MinIO ignores it, the SDK needs one), and the region AWS_MSK_IAM tokens are signed for (unset: the one in the broker host name).",
    }
    AWS_ENDPOINT_URL {
        group: Group::S3, aliases: &["ENDPOINT_URL"], default: "(AWS)", example: "http://minio:9000",
        accepted: "an http(s) URL, e.g. http://minio:9000",
        meaning: "Custom S3 endpoint (MinIO). With one, requests use path-style addressing.",
    }
    AWS_ENDPOINT_URL_S3 {
        group: Group::S3,
        accepted: "an http(s) URL, e.g. http://minio:9000",
        meaning: "S3-only endpoint; wins over AWS_ENDPOINT_URL when both are set.",
    }
    PRESET {
        group: Group::Schedule,
        accepted: "high, normal or low",
        meaning: "high (0.2 s, 10-20 records), normal (0.5 s, 1-10), low (2.0 s, 1-5). Variables set explicitly override the preset's values.",
    }
    PRODUCE_INTERVAL {
        group: Group::Schedule, default: "0.5",
        accepted: "a number of seconds > 0, e.g. 0.5",
        meaning: "Seconds between batches, fractional, at least 0.0001.",
    }
    MIN_RECORDS_PER_BATCH {
        group: Group::Schedule, default: "1",
        accepted: "a whole number from 1 to 100000",
        meaning: "Smallest batch.",
    }
    MAX_RECORDS_PER_BATCH {
        group: Group::Schedule, default: "10",
        accepted: "a whole number from 1 to 100000",
        meaning: "Largest batch, >= MIN_RECORDS_PER_BATCH.",
    }
    MAX_MESSAGES {
        group: Group::Schedule,
        accepted: "a whole number of messages >= 1, or unset to run until stopped",
        meaning: "Stop after this many delivered messages, drain, exit 0 (a signal before then: exit 11). Unset: run until signalled.",
    }
    MESSAGES_PER_SECOND {
        group: Group::Schedule, example: "37.5",
        accepted: "a number of messages per second from 0.000001 to 10000000 (e.g. 0.2, 37.5, 2500), or `max`",
        meaning: "Rate mode instead of the interval variables: message i is due at start + i / r, so the count after T s is within one of r x T. `max`: as fast as the broker takes them.",
    }
    ARRIVALS {
        group: Group::Schedule, default: "steady",
        accepted: "steady or poisson",
        meaning: "With a rate: evenly spaced messages, or a Poisson process (exponential gaps of mean 1 / r).",
    }
    RUN_DURATION {
        group: Group::Schedule, example: "15m",
        accepted: "a duration > 0: seconds (90, 90s), minutes (15m), hours (2h) or days (1d)",
        meaning: "Stop after this long (wall clock, even with TIME_SCALE), drain, exit 0 (a signal before then: exit 11). With MAX_MESSAGES, whichever comes first.",
    }
    PRESET_SCHEDULE {
        group: Group::Schedule, example: "00:00=low,08:00=normal,12:00=high,14:00=normal,20:00=low",
        accepted: "comma-separated HH:MM=<high, normal, low or a rate like 150/s>",
        meaning: "A day's rhythm: from each time of day on, that preset or rate applies, switched in place. Instead of PRESET, the interval variables and MESSAGES_PER_SECOND.",
    }
    SCHEDULE_TZ {
        group: Group::Schedule, default: "UTC",
        accepted: "an IANA time zone name, e.g. UTC, Europe/Paris, America/New_York",
        meaning: "The zone of PRESET_SCHEDULE's times of day (DST included; the zone database is built in).",
    }
    TIME_SCALE {
        group: Group::Schedule, default: "1",
        accepted: "a factor > 0 and <= 100000",
        meaning: "Runs PRESET_SCHEDULE's day this many times faster (60: a day in 24 minutes). Rates are not scaled.",
    }
    REPLAY_TIME_FIELD {
        group: Group::Schedule, example: "timestamp",
        accepted: "a column name of the dataset",
        meaning: "Replay mode: records in the order of this column (RFC 3339 / ISO 8601 date-times with or without zone, dates, epoch seconds or milliseconds), each at its original offset from the first. Rows whose time does not parse are skipped. Exits 0 after the last record.",
    }
    REPLAY_SPEED {
        group: Group::Schedule, default: "1",
        accepted: "a factor > 0 (e.g. 0.5, 1, 20), or `max`",
        meaning: "Replay this many times faster than the original; `max` keeps the order without waiting.",
    }
    REPLAY_LOOP {
        group: Group::Schedule, default: "false",
        accepted: "true or false",
        meaning: "Start again after the last record, the time offsets carrying on, instead of exiting.",
    }
    REPLICAS {
        group: Group::Schedule, default: "1",
        accepted: "a whole number from 1 to 10000",
        meaning: "How many replicas share the configured traffic: each sends its share (ticks, messages or replayed records i, i+N, ...) so together they give the total once.",
    }
    REPLICA_INDEX {
        group: Group::Schedule, default: "(JOB_COMPLETION_INDEX, else HOSTNAME's -<n>, else 0)",
        accepted: "a whole number from 0 to REPLICAS - 1",
        meaning: "This replica's index. Unset: a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, else the trailing -<n> of HOSTNAME (a StatefulSet pod), else 0.",
    }
    RANDOM_SEED {
        group: Group::Schedule, default: "(from the OS, logged)", example: "42",
        accepted: "a whole number from 0 to 18446744073709551615",
        meaning: "Seeds batch sizes, record picks, Poisson gaps, uuid() values and the DATASET_MAX_RECORDS sample: the same seed, dataset and settings repeat a run (times aside). Mixed with REPLICA_INDEX so replicas differ (the sample is not: every replica keeps the same records). Unset: drawn from the OS and logged at startup (random_seed line) so a run can be repeated.",
    }
    SHUTDOWN_TIMEOUT {
        group: Group::Schedule, default: "20",
        accepted: "a number of seconds >= 0, e.g. 20",
        meaning: "Seconds for drain and flush after a signal (below Kubernetes' 30 s grace period).",
    }
    MESSAGE_KEY_FIELD {
        group: Group::Messages, example: "account_id",
        accepted: "a column of the dataset, or a field set by MESSAGE_FIELDS",
        meaning: "Each message's key is this field's value as text (a JSON string without quotes, a number as written); a null or missing value sends no key. Unset: no keys.",
    }
    MESSAGE_FIELDS {
        group: Group::Messages, example: "transaction_id=uuid(),timestamp=now()",
        accepted: "name=value[,name=value...] with values uuid(), now(), now_ms(), now_s(), seq() or a constant string (\\, for a comma in it)",
        meaning: "Sets or adds top-level fields in each message as it is sent: uuid() a new UUID v4, now() the send time (RFC 3339 UTC, milliseconds), now_ms()/now_s() epoch numbers, seq() 1, 2, 3, ... per run, anything else that text.",
    }
    MESSAGE_HEADERS {
        group: Group::Messages, example: "source=kafka-feeder,message_id=uuid()",
        accepted: "name=value[,name=value...] with values uuid(), now_ms(), seq() or a constant string (\\, for a comma in it)",
        meaning: "Kafka headers on each message, with the same generators as MESSAGE_FIELDS (text values): a run id or a source tag lets a consumer tell test traffic apart.",
    }
    MESSAGE_TEMPLATE {
        group: Group::Messages, example: "examples/templates/sales.json",
        accepted: "a JSON template document inline (starting with {), a file path, file:///path or s3://bucket/key",
        meaning: "The message as a JSON template: `value` (required), `key`, `headers`, ordered `vars` and `lookups` ({\"uri\", \"key\"}); strings hold {{ minijinja expressions }} over the record's columns, vars and functions (uuid, now, seq, int, uniform, normal, chance, one_of, weighted, fake, lookup, pick, epoch_ms, format_time, hour). What depends only on the record is computed once at load. Instead of MESSAGE_FIELDS, MESSAGE_KEY_FIELD and MESSAGE_HEADERS; see docs/messages-templates.md.",
    }
    VALUE_FORMAT {
        group: Group::Registry, default: "json", example: "avro",
        accepted: "json, avro, json-schema or protobuf",
        meaning: "How each value is written. json: the record's JSON. avro, json-schema and protobuf: Confluent's wire format (byte 0, the schema id as 4 bytes big-endian, then the Avro binary datum, the JSON, or the Protobuf message indexes and message), with the schema registered in SCHEMA_REGISTRY_URL; each record is checked and encoded once, at load and at each reload (against the schema in use); a template's values are encoded per message.",
    }
    KEY_FORMAT {
        group: Group::Registry, default: "string",
        accepted: "string or avro",
        meaning: "How MESSAGE_KEY_FIELD's value (or MESSAGE_TEMPLATE's `key`) is written: its text, or Avro in the wire format with a string or long schema (long when every key is a whole number; a template's: in its startup renders) registered under <topic>-key.",
    }
    SCHEMA_REGISTRY_URL {
        group: Group::Registry, example: "http://schema-registry:8081",
        accepted: "an http:// or https:// URL of a Confluent-compatible Schema Registry",
        meaning: "The Schema Registry (Confluent, Karapace, Apicurio's ccompat API, Redpanda). Needed by VALUE_FORMAT avro, json-schema or protobuf and KEY_FORMAT=avro. The schema id is fetched once at startup (retried for DATASET_RETRY_TIMEOUT), so the registry going away later does not stop sending.",
    }
    SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO {
        group: Group::Registry, secret: true,
        accepted: "user:password",
        meaning: "HTTP basic credentials for the registry (Confluent Cloud: the API key and secret).",
    }
    SCHEMA_REGISTRY_SSL_CA_LOCATION {
        group: Group::Registry, default: "(the system's roots)",
        accepted: "the path of a PEM file of CA certificates",
        meaning: "CA certificates to trust for an https:// registry, in addition to the system's.",
    }
    SUBJECT_NAME_STRATEGY {
        group: Group::Registry, default: "topic",
        accepted: "topic, record or topic_record",
        meaning: "The value's subject: topic is <topic>-value, record the schema's full name (Avro, Protobuf: package.Message) or title (JSON Schema), topic_record <topic>-<that name>.",
    }
    SCHEMA_AUTO_REGISTER {
        group: Group::Registry, default: "true",
        accepted: "true or false",
        meaning: "true registers the schema (an incompatible one is refused by the registry: exit 2). false uses the subject's latest version as it is and checks that the records fit it before sending.",
    }
    VALUE_SCHEMA {
        group: Group::Registry, example: "/schemas/transaction.avsc",
        accepted: "a path, file:///path or s3://bucket/key of an Avro schema (.avsc), a JSON Schema document or a .proto file",
        meaning: "The value schema. Unset: derived from the loaded records (a column ever empty or missing is nullable) and the fields MESSAGE_FIELDS adds, or from 300 messages MESSAGE_TEMPLATE renders at startup; logged once and printed by `kafka-feeder check`. Records that do not fit (Avro, Protobuf, or this JSON Schema) are skipped and counted like malformed rows, at load and at each reload. A .proto's imports are read from its folder (the same prefix on S3) and registered first, each under its import path, as the schema's references; Google's well-known types are built in.",
    }
    VALUE_SCHEMA_MESSAGE {
        group: Group::Registry, default: "(the .proto's only top-level message)", example: "shop.Transaction",
        accepted: "a message name of the .proto, short (Transaction, Order.Line) or full (package.Transaction)",
        meaning: "With VALUE_FORMAT=protobuf, the message each value is. Needed when the .proto (VALUE_SCHEMA or the subject's latest version) has more than one top-level message; a name it does not define is exit 2 listing the messages it does.",
    }
    LOG_LEVEL {
        group: Group::Logs, default: "info",
        accepted: "trace, debug, info, warn, error or off (or RUST_LOG for per-module filters)",
        meaning: "debug and trace apply to kafka-feeder and librdkafka (the HTTP and AWS libraries stay at info).",
    }
    RUST_LOG {
        group: Group::Logs,
        accepted: "a tracing filter, e.g. info or kafka_feeder=debug,info",
        meaning: "Per-module log filter, used when LOG_LEVEL is unset.",
    }
    LOG_FORMAT {
        group: Group::Logs, default: "text",
        accepted: "text or json",
        meaning: "text for people, json for one JSON object per line.",
    }
    LOG_BATCHES {
        group: Group::Logs, default: "false",
        accepted: "true or false",
        meaning: "Log each completed batch (`batch complete: sent 5/5 records`, with tick, failed and duration) at info instead of debug.",
    }
    NOT_DELIVERING_AFTER {
        group: Group::Logs, default: "30",
        accepted: "a number of seconds > 0, e.g. 30",
        meaning: "/readyz turns 503 (`not delivering: N failed in 30 s, last reason X`) once messages have failed for this long with none delivered.",
    }
    PROGRESS_INTERVAL {
        group: Group::Logs, default: "5",
        accepted: "a number of seconds > 0, e.g. 5",
        meaning: "Seconds between progress lines.",
    }
    HTTP_PORT {
        group: Group::Logs, default: "8080",
        accepted: "a TCP port from 0 to 65535 (0 picks any free port)",
        meaning: "Port of /healthz, /readyz, /metrics, /status and the status page (/), on all interfaces.",
    }
}

/// The setting called `name` (or with that alias), if any.
pub fn find(name: &str) -> Option<&'static Setting> {
    ALL.iter().copied().find(|s| s.name == name || s.aliases.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_entries_complete() {
        let mut seen = std::collections::BTreeSet::new();
        for s in ALL {
            for n in std::iter::once(&s.name).chain(s.aliases) {
                assert!(seen.insert(*n), "{n} appears twice");
            }
            assert!(!s.meaning.is_empty() && !s.accepted.is_empty(), "{} lacks its meaning or accepted text", s.name);
            assert!(!s.required || s.default.is_empty(), "{} is required and has a default", s.name);
        }
        assert_eq!(find("KEY"), Some(&AWS_ACCESS_KEY_ID));
        assert_eq!(find("NOPE"), None);
    }
}
