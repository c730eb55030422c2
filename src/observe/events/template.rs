//! `MESSAGE_TEMPLATE`'s log lines: what the template made of the dataset,
//! the records it skipped, and a per-message value that failed.

use tracing::{info, warn};

/// The template is compiled and every record's stored part written.
pub struct TemplateReady<'a> {
    pub source: &'a str,
    pub records: u64,
    pub skipped: u64,
    pub lookups: &'a [(String, usize)],
    pub expressions: usize,
    pub per_message: usize,
    pub native: usize,
    pub stored_bytes: usize,
    pub elapsed: std::time::Duration,
}

pub fn template_ready(t: &TemplateReady<'_>) {
    let lookups: Vec<String> = t.lookups.iter().map(|(name, rows)| format!("{name} ({rows} rows)")).collect();
    info!(
        event = "template_ready",
        template = %t.source,
        records = t.records,
        skipped = t.skipped,
        lookups = %lookups.join(", "),
        expressions = t.expressions,
        per_message = t.per_message,
        per_record = t.expressions - t.per_message,
        native = t.native,
        stored_bytes = t.stored_bytes,
        seconds = t.elapsed.as_secs_f64(),
        "message template ready: per-record values stored, per-message values left for each message"
    );
}

/// A record an expression failed on, skipped like a malformed row (the first few).
pub fn template_record_skipped(record: u64, member: &str, reason: &str) {
    warn!(event = "template_record_skipped", record, member = %member, reason = %reason, "skipping a record the template fails on");
}

/// More records were skipped than were logged one by one.
pub fn template_records_skipped(count: u64) {
    warn!(event = "template_records_skipped", count, "more records the template fails on skipped without logging each");
}

/// The first per-message value that failed: it is sent as null (later ones are only counted).
pub fn template_value_failed(member: &str, reason: &str) {
    warn!(event = "template_value_failed", member = %member, reason = %reason, "a per-message template value failed and is sent as null; later failures are counted, not logged");
}
