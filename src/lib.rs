//! kafka-feeder: keeps a Kafka topic fed with realistic traffic sampled from a
//! dataset (CSV, JSON Lines or Parquet) held in memory.
//!
//! Modules follow the data flow:
//!
//! - [`settings`]: the table of every environment variable, described once;
//!   [`env`]: reading and parsing them; [`config`]: one validated
//!   [`config::Config`], one settings struct per group; [`docs`]: `--help`,
//!   README.md's tables and `.env.example`, generated from the table
//! - [`source`]: the dataset's objects from S3/MinIO (one, or all under a
//!   prefix), files, or the bundled sample; [`memory`]: the limit the guard
//!   defaults to
//! - [`format`](mod@format): an object's format and compression, and the streaming
//!   decompressor; [`decode`]: one object's bytes through it to a parser:
//!   [`dataset`] (CSV), [`jsonl`], [`parquet_rows`]
//! - [`collect`]: records into one buffer as they stream, all or a reservoir
//!   sample, under the memory guard; [`dataset`]: that buffer, the records sent
//! - [`reload`]: the dataset in use, swapped between batches by a reload
//! - [`sampler`]: batch sizes and record picks for each tick
//! - [`pacing`]: what is due when: interval ticks, rates, a day's schedule,
//!   replay, replica shares (pure, clock injected)
//! - [`message`]: each record → the message sent: generated fields, key and
//!   headers (`MESSAGE_*`), from offsets indexed once after loading
//! - [`schedule`]: the loop: what is due goes out; the drain
//! - [`sink`]: the rdkafka producer; `sink::config` its librdkafka settings
//! - [`shutdown`]: SIGTERM/SIGINT → one cancellation token
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`; [`health`]: liveness and
//!   readiness state; [`metrics`]: the Prometheus metrics; [`status`]:
//!   `/status` and the page at `/`, for a person
//! - [`events`]: every log line and counter, in one place
//! - [`app`]: wires them together for a run; [`commands`]: `check` and
//!   `preview`; [`exit`]: the documented exit codes
//! - [`logging`]: text or JSON log output
//!
//! `src/main.rs` is a thin binary over [`app::run`].

pub mod app;
pub mod collect;
pub mod commands;
pub mod config;
pub mod dataset;
pub mod decode;
pub mod docs;
pub mod env;
pub mod events;
pub mod exit;
pub mod format;
pub mod health;
pub mod http;
pub mod jsonl;
pub mod logging;
pub mod memory;
pub mod message;
pub mod metrics;
pub mod pacing;
pub mod parquet_rows;
pub mod reload;
pub mod sampler;
pub mod schedule;
pub mod settings;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod status;
