//! The run's seed and the messages indexed from the dataset.

use std::time::Duration;

use tracing::{info, warn};

/// The seed of this run's random choices, so it can be repeated.
pub fn random_seed(seed: u64, from_setting: bool) {
    info!(
        event = "random_seed",
        seed,
        origin = if from_setting { "RANDOM_SEED" } else { "os" },
        "random seed: RANDOM_SEED={seed} repeats this run's batches, records and uuid() values"
    );
}

/// A reloaded dataset does not fit the `MESSAGE_*` settings: the previous
/// version stays in use.
pub fn messages_reindex_failed(error: &dyn std::error::Error) {
    warn!(event = "messages_reindex_failed", error = %error, "reloaded dataset does not fit MESSAGE_*, keeping the dataset in use");
}

/// What `MESSAGE_*` will do to each record, found by indexing the dataset.
pub fn messages_indexed(
    key_field: Option<&str>,
    keyed_records: Option<u64>,
    fields: &[(&str, u64)],
    records: u64,
    headers: &[&str],
    index_bytes: usize,
    elapsed: Duration,
) {
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, present)| match *present {
            p if p == records => format!("{name} (replaced)"),
            0 => format!("{name} (added)"),
            p => format!("{name} (replaced in {p} of {records} records, added to the others)"),
        })
        .collect();
    info!(
        event = "messages_indexed",
        key_field = key_field.unwrap_or("none"),
        keyed_records = keyed_records.map_or_else(|| "generated".to_owned(), |n| n.to_string()),
        fields = %fields.join(", "),
        headers = %headers.join(","),
        index_bytes,
        index_seconds = elapsed.as_secs_f64(),
        "messages: key, generated fields and headers ready"
    );
}
