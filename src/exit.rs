//! The process exit codes, one per failure class, documented in docs/configuration.md and
//! `--help` (both from [`ALL`]).
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
/// `check`: no broker answered within CHECK_TIMEOUT, the topic does not exist,
/// or the broker refuses this producer.
pub const KAFKA_UNAVAILABLE: i32 = 9;
/// Stopped with messages failed or still undelivered at the SHUTDOWN_TIMEOUT deadline.
pub const UNDELIVERED: i32 = 8;
/// The Kafka producer failed fatally and rebuilding it did not help.
pub const PRODUCER_FATAL: i32 = 10;
/// A signal stopped a run that has an end (`MAX_MESSAGES`, `RUN_DURATION`, a
/// replay without `REPLAY_LOOP`) before it: what was sent was delivered, but the
/// run did not do what it was asked, so a Job must not count it as done.
pub const INTERRUPTED: i32 = 11;
/// A second SIGTERM/SIGINT: exited at once without draining.
pub const FORCED: i32 = 130;

/// Every code with its meaning and what to do, for `--help` and docs/configuration.md.
pub const ALL: &[(i32, &str, &str)] = &[
    (OK, "Stopped with every message delivered: at the run's end (`MAX_MESSAGES`, `RUN_DURATION`, the end of a replay), or by a signal if the run has no end; or a run without an end stopped by a signal before starting.", ""),
    (INTERNAL, "Internal error.", "Please report it with the log."),
    (CONFIG, "Invalid configuration.", "The line names the variable and what it accepts."),
    (NOT_FOUND, "Dataset not found: no such bucket, key or file.", "Check `DATASET_URI` and the endpoint."),
    (
        ACCESS_DENIED,
        "Access denied: wrong key or secret, unknown access key, expired token, missing credentials, or an unreadable file.",
        "Check `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (or `KEY`/`SECRET`) and the bucket policy.",
    ),
    (
        UNREACHABLE,
        "S3 endpoint unreachable for `DATASET_RETRY_TIMEOUT`, or the object could not be read.",
        "Check `AWS_ENDPOINT_URL`/`ENDPOINT_URL`, the network, or raise `DATASET_RETRY_TIMEOUT`.",
    ),
    (DATASET_INVALID, "Dataset invalid: empty, header only, every row malformed, header not UTF-8.", "Fix the file."),
    (KAFKA_SETUP, "The Kafka producer could not be created.", "Check the `KAFKA_PRODUCER_*` settings."),
    (
        KAFKA_UNAVAILABLE,
        "`check` only: no broker answered within `CHECK_TIMEOUT`, the topic does not exist, or the broker refuses this producer.",
        "The line names the servers or the topic and what to fix.",
    ),
    (
        UNDELIVERED,
        "Stopped with messages failed during the run or still undelivered at the `SHUTDOWN_TIMEOUT` deadline.",
        "The final line gives the counts and the failure reasons.",
    ),
    (
        PRODUCER_FATAL,
        "The Kafka producer failed fatally (idempotence or authorization) and 5 rebuilds in a row brought no delivery.",
        "The `producer_gave_up` line gives the reason; check the broker's ACLs and logs. An orchestrator restarts the pod.",
    ),
    (
        INTERRUPTED,
        "A signal stopped a run that has an end (`MAX_MESSAGES`, `RUN_DURATION`, a replay without `REPLAY_LOOP`) before it; every message sent was delivered.",
        "The `stopped_before_end` line says which end. Run it again; a Job retries it (a retried replay sends its share again).",
    ),
    (FORCED, "A second SIGTERM/SIGINT: exited at once without draining.", ""),
];
