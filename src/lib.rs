//! kafka-feeder: keeps a Kafka topic fed with realistic traffic sampled from a
//! dataset (CSV, JSON Lines or Parquet) held in memory.
//!
//! The folders follow the path a record takes:
//!
//! - [`dataset`]: where the objects come from (S3, MinIO, files, the bundled
//!   sample), their format and compression, one reader per format (CSV, JSON
//!   Lines, Parquet), the collector with its reservoir and memory guard, the
//!   [`dataset::Dataset`] itself (every record serialized once, in one
//!   buffer, each CSV column with one type), and the reload that swaps it
//!   between batches
//! - [`message`]: what a record becomes on the wire: generated fields, key and
//!   headers (`MESSAGE_*`), from offsets indexed once after loading;
//!   `message::template`: a `MESSAGE_TEMPLATE` evaluated per record at load and per message;
//!   Avro, JSON Schema and Protobuf values, Avro keys ([`message::registry`]: the schema,
//!   each record checked and encoded once; a template's values per message)
//! - [`pacing`]: what is due when: interval ticks, rates, a day's schedule,
//!   replay, replica shares (pure, clock injected), the sampler, and the loop
//!   that turns due work into sends and drains at the end
//! - [`sink`]: the rdkafka producer, its librdkafka settings, the preflight,
//!   the recovery of a stuck producer, the `AWS_MSK_IAM` token, and the Schema
//!   Registry's REST API
//! - [`observe`]: every log line and counter ([`observe::events`], split by
//!   stage), the Prometheus metrics, health, the HTTP server, the status page
//!   for a person, log output
//!
//! Beside them: [`settings`] (the table of every environment variable,
//! described once; reading it into one [`settings::config::Config`]; the docs
//! generated from it), the commands [`run`], [`check`] and [`preview`],
//! [`exit`] (the documented exit codes) and [`shutdown`] (SIGTERM/SIGINT → one
//! cancellation token).
//!
//! `src/main.rs` is a thin binary over [`run::run`].

pub mod check;
pub mod dataset;
pub mod exit;
pub mod message;
pub mod observe;
pub mod pacing;
pub mod preview;
pub mod run;
pub mod settings;
pub mod shutdown;
pub mod sink;
