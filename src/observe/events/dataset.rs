//! Loading and reloading the dataset.

use std::time::Duration;

use tracing::{debug, info, warn};

use super::stats::Stats;
use crate::observe::metrics::ResultLabel;

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

/// A CSV column whose kept cells mixed numbers, booleans and text: every
/// cell of it is sent as a string, so its type does not change between messages.
pub fn column_as_text(source: &str, c: &crate::dataset::columns::Widened) {
    info!(
        event = "column_as_text",
        source = %source,
        column = %c.column,
        numbers = c.kinds.numbers,
        booleans = c.kinds.booleans,
        strings = c.kinds.strings,
        "column mixes kinds of values: every cell of it is sent as a string"
    );
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
    stats.status.dataset_loaded(d.records, d.objects, d.format);
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
    stats.status.reloaded("swapped", trigger);
    info!(event = "dataset_reloaded", source = %source, trigger = %trigger, "new dataset version in use");
}

/// A reload failed; the dataset in use stays.
pub fn dataset_reload_failed(stats: &Stats, source: &str, trigger: &str, error: &dyn std::error::Error) {
    stats.metrics.dataset_reloads.get_or_create(&ResultLabel { result: "failed".into() }).inc();
    stats.status.reloaded("failed", trigger);
    warn!(event = "dataset_reload_failed", source = %source, trigger = %trigger, error = %error, "dataset reload failed, keeping the dataset in use");
}

/// SIGHUP in a replay, which plays the records loaded at startup.
pub fn sighup_ignored() {
    warn!(event = "sighup_ignored", "SIGHUP ignored: a replay (REPLAY_TIME_FIELD) plays the dataset loaded at startup; restart to play a new version");
}

/// A reload check found the same version: nothing to do.
pub fn dataset_unchanged(source: &str) {
    debug!(event = "dataset_unchanged", source = %source, "dataset unchanged");
}
