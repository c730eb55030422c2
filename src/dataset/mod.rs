//! Where records come from and how they are held: the objects ([`source`]: S3,
//! MinIO, files, the bundled sample), their format and compression
//! ([`format`](mod@format)), one reader per format ([`csv`](mod@csv),
//! [`jsonl`], [`parquet`](mod@parquet)) driven by [`decode`], the collector
//! with its reservoir and memory guard ([`collect`], [`memory`]), the
//! [`Dataset`] itself ([`records`]), and the reload that swaps it ([`reload`]).

pub mod collect;
pub mod columns;
pub mod csv;
pub mod decode;
pub mod format;
pub mod jsonl;
pub mod memory;
pub mod parquet;
pub mod records;
pub mod reload;
pub mod shape;
pub mod source;

pub(crate) use self::csv::write_json_string;
pub use self::csv::{csv_json_estimate, is_plain_number, load_csv, load_csv_into, CsvSummary};
pub use records::{Attached, Dataset, DatasetError, LoadSummary, REPORTED_SKIPS};
