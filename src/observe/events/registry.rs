//! The Schema Registry formats: the schema in use, records that do not fit
//! it, and a registry that does not answer yet.

use std::time::Duration;

use tracing::{info, warn};

use super::stats::{RateLimit, Stats};

static MISFIT_LOG: RateLimit = RateLimit::new(Duration::from_secs(10));

/// The registry did not answer (or answered 5xx); retried within DATASET_RETRY_TIMEOUT.
pub fn registry_retry(url: &str, cause: &str, waited: Duration, budget: Duration, next_in: Duration) {
    warn!(
        event = "registry_retry",
        url = %url,
        error = %cause,
        waited_s = waited.as_secs_f64().round(),
        budget_s = budget.as_secs_f64(),
        retry_in_s = next_in.as_secs_f64(),
        "Schema Registry not reachable, retrying (bounded by DATASET_RETRY_TIMEOUT)"
    );
}

/// What a schema is for, where it came from, and the schema itself.
#[derive(Debug, Clone, Copy)]
pub struct SchemaInUse<'a> {
    /// `value`, `key`, or `import` (a file a `.proto` imports, registered first).
    pub part: &'a str,
    pub format: &'a str,
    pub subject: &'a str,
    /// `None` before registration (`check`).
    pub id: Option<u32>,
    /// `derived`, `VALUE_SCHEMA <where>`, `registry (latest version)`.
    pub origin: &'a str,
    pub schema: &'a str,
    /// The schemas it imports as registry references (`name (subject S, version V)`, `; ` between); empty for none.
    pub references: &'a str,
}

/// The schema a run writes with, logged once (`check` logs it too).
pub fn schema_in_use(s: &SchemaInUse<'_>) {
    info!(
        event = "schema_in_use",
        part = %s.part,
        format = %s.format,
        subject = %s.subject,
        schema_id = s.id.map_or_else(|| "not registered".to_owned(), |id| id.to_string()),
        origin = %s.origin,
        schema = %s.schema,
        references = %s.references,
        "schema in use"
    );
}

/// A record the schema does not take: skipped, like a malformed row.
pub fn record_misfit(record: usize, problem: &str) {
    warn!(event = "record_skipped", record, reason = %problem, "skipping a record that does not fit the schema");
}

/// More records were skipped than were logged one by one.
pub fn more_records_misfit(count: u64) {
    warn!(event = "records_skipped", count, "more records that do not fit the schema skipped without logging each");
}

/// A message the template rendered at startup does not fit the value schema.
pub fn template_sample_misfit(sample: usize, problem: &str) {
    warn!(event = "template_sample_misfit", sample, reason = %problem, "a message the template rendered at startup does not fit the value schema");
}

/// Messages not sent because their value does not fit (a batch's worth).
pub fn messages_misfit(stats: &Stats, count: u64, problem: &str) {
    stats.metrics.values_skipped.inc_by(count);
    if MISFIT_LOG.check().is_some() {
        let total = stats.metrics.values_skipped.get();
        warn!(event = "values_skipped", count, total, reason = %problem, "messages not sent: their value does not fit the value schema");
    }
}

/// The records, encoded once for the wire.
pub fn values_encoded(format: &str, records: usize, skipped: u64, bytes: usize, json_bytes: usize, elapsed: Duration) {
    info!(
        event = "values_encoded",
        format = %format,
        records,
        skipped,
        bytes,
        json_bytes,
        encode_seconds = elapsed.as_secs_f64(),
        "records encoded for the wire"
    );
}
