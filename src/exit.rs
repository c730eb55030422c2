//! The process exit codes, one per failure class, documented in the README.
//!
//! Orchestrators and scripts branch on these, so they never change meaning.

/// Ran and stopped with every message delivered.
pub const OK: i32 = 0;
/// An unexpected internal error (a bug: please report it).
pub const INTERNAL: i32 = 1;
/// A configuration variable is missing or invalid; nothing was sent.
pub const CONFIG: i32 = 2;
/// The dataset object, bucket or file does not exist.
pub const NOT_FOUND: i32 = 3;
/// S3 refused the credentials or the access (or none were found).
pub const ACCESS_DENIED: i32 = 4;
/// The S3 endpoint stayed unreachable for DATASET_RETRY_TIMEOUT, or the file is unreadable.
pub const UNREACHABLE: i32 = 5;
/// The dataset has no usable records (empty, header only, every row malformed).
pub const DATASET_INVALID: i32 = 6;
/// The Kafka producer could not be created (e.g. a property librdkafka accepts
/// alone but not in combination).
pub const KAFKA_SETUP: i32 = 7;
/// Stopped with messages failed or still undelivered at the SHUTDOWN_TIMEOUT deadline.
pub const UNDELIVERED: i32 = 8;
/// A second SIGTERM/SIGINT: exited at once without draining.
pub const FORCED: i32 = 130;
