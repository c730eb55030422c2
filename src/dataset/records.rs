//! The dataset in memory: every record serialized once, at load, to the JSON
//! bytes that will be sent, in one contiguous buffer with an end offset per
//! record, so a dataset of millions of rows is two allocations, and the send
//! loop hands librdkafka a borrowed slice with no serialization and no
//! per-record allocation.

use std::time::Duration;

use crate::dataset::collect::{CollectError, Collected};

pub use crate::dataset::shape::Logical;

/// How many skipped rows are reported one by one (with line and reason) before
/// the rest are only counted.
pub const REPORTED_SKIPS: usize = 5;

/// Records as JSON bytes, in one buffer.
#[derive(Debug, Default)]
pub struct Dataset {
    buf: Vec<u8>,
    /// `ends[i]` is where record `i` ends in `buf`; it starts where `i - 1` ends.
    ends: Vec<usize>,
    known: Known,
    /// What a later stage made of these records, kept with them so it follows
    /// a reload (a registry format's values encoded at load).
    attached: Option<Attached>,
}

/// A later stage's data about a dataset's records, opaque here.
#[derive(Clone)]
pub struct Attached(pub std::sync::Arc<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attached")
    }
}

/// What the readers learned of the records' top-level fields while loading,
/// so a value schema can be derived without reading every record again.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Every record is a kept CSV row: each column's cell kinds, exact over
    /// the records ([`crate::dataset::columns`]; a column that mixed kinds is
    /// text).
    pub csv: Option<crate::dataset::columns::ColumnKinds>,
    /// Top-level Parquet columns whose JSON text stands for a logical type,
    /// when every object is Parquet and each such column has that type in
    /// every object.
    pub logical: Vec<(String, Logical)>,
    /// Every record is a JSON Lines object or a Parquet row, every one kept:
    /// what they hold, noted by the readers ([`crate::dataset::shape`]).
    pub fields: Option<crate::dataset::shape::Fields>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The JSON bytes of record `i`. Panics if `i >= len()`, like slice indexing.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Bytes of JSON held (payloads only).
    pub fn json_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes allocated for records and offsets: what the dataset costs in memory.
    pub fn allocated_bytes(&self) -> usize {
        self.buf.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }

    /// Keeps the records `keep(i)` says yes to, in their order, in place (the
    /// ones a value schema does not take).
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        // The counts were of the records before.
        self.known.csv = None;
        self.known.fields = None;
        let (mut to, mut start, mut kept) = (0, 0, 0);
        for i in 0..self.ends.len() {
            let end = self.ends[i];
            if keep(i) {
                self.buf.copy_within(start..end, to);
                to += end - start;
                self.ends[kept] = to;
                kept += 1;
            }
            start = end;
        }
        self.buf.truncate(to);
        self.ends.truncate(kept);
        // It was made for the records as they were.
        self.attached = None;
    }

    /// The records a [`Collector`] gathered (any format, all or a sample).
    pub fn from_collected(c: Collected) -> Self {
        Dataset { buf: c.buf, ends: c.ends, known: Known::default(), attached: None }
    }

    /// The dataset, with what its readers learned of it.
    pub fn with_known(self, known: Known) -> Self {
        Dataset { known, ..self }
    }

    pub fn known(&self) -> &Known {
        &self.known
    }

    /// Keeps `data` with these records (see [`Attached`]).
    pub fn attach(&mut self, data: Attached) {
        self.attached = Some(data);
    }

    pub fn attached(&self) -> Option<&Attached> {
        self.attached.as_ref()
    }
}

/// What loading found, for the one summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// Records kept (the `N` of `records=N of M`).
    pub records: u64,
    /// Well-formed records read (the `M`); more than `records` when sampled.
    pub seen: u64,
    pub skipped: u64,
    /// The first [`REPORTED_SKIPS`] skipped rows: (line, reason).
    pub skipped_rows: Vec<(u64, String)>,
    /// Duplicate column names and what they were renamed to.
    pub renamed: Vec<(String, String)>,
    /// CSV columns sent as strings because their kept cells mixed kinds.
    pub widened: Vec<crate::dataset::columns::Widened>,
    pub columns: usize,
    pub csv_bytes: u64,
    pub json_bytes: u64,
    pub elapsed: Duration,
    /// Objects read (1 unless DATASET_URI is a prefix or folder).
    pub objects: usize,
    /// Formats read, `+`-joined when a prefix mixes them.
    pub format: String,
    /// ETag(s) or file length and mtime: what a reload compares.
    pub version: String,
}

/// Why a dataset could not be loaded. `source` names the object or file.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{source_name} is empty: expected a CSV file with a header row")]
    Empty { source_name: String },
    #[error("{source_name} has no data rows: {skipped} rows skipped as malformed; expected a header row followed by at least one well-formed row")]
    NoRecords { source_name: String, skipped: u64 },
    #[error("{source_name}: the header row is not valid UTF-8")]
    HeaderNotUtf8 { source_name: String },
    #[error("{source_name}: reading failed at line {line}: {cause}")]
    Read { source_name: String, line: u64, cause: std::io::Error },
    #[error("{source_name}: CSV error at line {line}: {cause}")]
    Csv { source_name: String, line: u64, cause: csv::Error },
    #[error("{source_name}: {cause}")]
    Limit {
        source_name: String,
        #[source]
        cause: CollectError,
    },
}

impl DatasetError {
    /// A read error (the connection dropped mid-object) may succeed if retried;
    /// malformed data never will.
    pub fn is_read_error(&self) -> bool {
        matches!(self, DatasetError::Read { .. })
    }
}
