//! One object's bytes → records in the collector: the decompressor in front,
//! then the parser its format calls for, and one summary whatever the format.
//!
//! Parquet needs random access (its index is at the end), so a seekable
//! source (a local file, S3 ranged reads) goes to [`crate::dataset::parquet`]
//! directly; only a *compressed* Parquet object, which has to be read from
//! the start, is decompressed into memory here first, within the memory guard.

use std::io::Read;

use bytes::Bytes;

use crate::dataset::collect::Offer;
use crate::dataset::format::{self, Compression, Format};
use crate::dataset::jsonl::{self, JsonlError};
use crate::dataset::parquet::{self as parquet_rows, ParquetError};
use crate::dataset::{self, DatasetError};

/// What one object held, in every format's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub format: Format,
    pub compression: Compression,
    /// Well-formed records read (kept or not).
    pub records: u64,
    /// Rows or lines skipped as malformed.
    pub skipped: u64,
    /// CSV header fields or Parquet top-level columns; 0 for JSON Lines.
    pub columns: usize,
    /// Bytes parsed, after decompression (Parquet: uncompressed column data).
    pub input_bytes: u64,
    /// The first skipped rows or lines: (line, reason).
    pub skipped_rows: Vec<(u64, String)>,
    /// CSV duplicate column names and what they were renamed to.
    pub renamed: Vec<(String, String)>,
    /// CSV: each column's cell kinds over the rows written.
    pub kinds: crate::dataset::columns::ColumnKinds,
    /// Parquet: the top-level columns of a logical type.
    pub logical: Vec<(String, crate::dataset::records::Logical)>,
    /// JSON Lines and Parquet: what the records hold, when the reader knows
    /// it ([`crate::dataset::shape`]).
    pub fields: Option<crate::dataset::shape::Fields>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Csv(#[from] DatasetError),
    #[error(transparent)]
    Jsonl(#[from] JsonlError),
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    #[error("{source_name} is not valid {compression} data (by its {declared_by}): {cause}")]
    Corrupt {
        source_name: String,
        compression: &'static str,
        declared_by: &'static str,
        #[source]
        cause: std::io::Error,
    },
    #[error("{source_name}: reading failed: {cause}")]
    Read {
        source_name: String,
        #[source]
        cause: std::io::Error,
    },
    #[error("{source_name}: the compressed Parquet file is larger than DATASET_MAX_BYTES ({max_bytes} bytes) once decompressed; store it uncompressed (Parquet compresses its own pages)")]
    ParquetTooLarge { source_name: String, max_bytes: u64 },
}

impl DecodeError {
    /// True when the source failed mid-read (worth a retry from the start);
    /// false when the data is malformed (a retry reads the same bytes).
    pub fn is_read_error(&self) -> bool {
        match self {
            DecodeError::Csv(e) => e.is_read_error(),
            DecodeError::Jsonl(e) => matches!(e, JsonlError::Read { .. }),
            DecodeError::Parquet(e) => e.is_read_error(),
            DecodeError::Read { .. } => true,
            DecodeError::Corrupt { .. } | DecodeError::ParquetTooLarge { .. } => false,
        }
    }
}

/// How the object was recognised, for [`DecodeError::Corrupt`].
#[derive(Debug, Clone, Copy)]
pub struct Declared {
    pub compression: Compression,
    /// `"name"` or `"Content-Encoding"`.
    pub by: &'static str,
}

/// Decompresses and parses `reader` (read from its start, streaming) into
/// `collector`. `max_bytes` bounds a compressed Parquet object held in memory.
pub fn load_stream<R: Read + Send>(
    reader: R,
    source_name: &str,
    format: Format,
    declared: Declared,
    max_bytes: Option<u64>,
    collector: &mut impl Offer,
) -> Result<ObjectSummary, DecodeError> {
    let compression = declared.compression;
    let corrupt_or_read = |cause: std::io::Error| {
        if format::is_source_error(&cause, compression) {
            DecodeError::Read { source_name: source_name.into(), cause }
        } else {
            DecodeError::Corrupt {
                source_name: source_name.into(),
                compression: compression.name(),
                declared_by: declared.by,
                cause,
            }
        }
    };
    let input = format::decompress(reader, compression).map_err(corrupt_or_read)?;
    let mut summary = ObjectSummary {
        format,
        compression,
        records: 0,
        skipped: 0,
        columns: 0,
        input_bytes: 0,
        skipped_rows: Vec::new(),
        renamed: Vec::new(),
        kinds: Default::default(),
        logical: Vec::new(),
        fields: None,
    };
    match format {
        Format::Csv => {
            let csv = dataset::load_csv_into(input, source_name, collector).map_err(|e| match e {
                DatasetError::Read { cause, .. } if !format::is_source_error(&cause, compression) => {
                    corrupt_or_read(cause)
                }
                e => e.into(),
            })?;
            summary.records = csv.rows;
            summary.skipped = csv.skipped;
            summary.columns = csv.columns;
            summary.input_bytes = csv.input_bytes;
            summary.skipped_rows = csv.skipped_rows;
            summary.renamed = csv.renamed;
            summary.kinds = csv.kinds;
        }
        Format::Jsonl => {
            let j = jsonl::load_jsonl(input, source_name, collector).map_err(|e| match e {
                JsonlError::Read { cause, .. } if !format::is_source_error(&cause, compression) => {
                    corrupt_or_read(cause)
                }
                e => e.into(),
            })?;
            summary.records = j.records;
            summary.skipped = j.skipped;
            summary.input_bytes = j.input_bytes;
            summary.skipped_rows = j.first_skips;
            summary.fields = j.fields;
        }
        Format::Parquet => {
            let limit = max_bytes.unwrap_or(u64::MAX);
            let mut bytes = Vec::new();
            input.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(corrupt_or_read)?;
            if bytes.len() as u64 > limit {
                return Err(DecodeError::ParquetTooLarge { source_name: source_name.into(), max_bytes: limit });
            }
            let p = parquet_rows::load_parquet(Bytes::from(bytes), source_name, collector)?;
            summary.records = p.records;
            summary.columns = p.columns;
            summary.input_bytes = p.input_bytes;
            summary.logical = p.logical;
            summary.fields = p.fields;
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::collect::{Collected, Collector, Limits};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn by_name(compression: Compression) -> Declared {
        Declared { compression, by: "name" }
    }

    fn load(data: &[u8], format: Format, compression: Compression) -> Result<(Collected, ObjectSummary), DecodeError> {
        let mut c = Collector::new(&Limits::default());
        let s = load_stream(data, "obj", format, by_name(compression), None, &mut c)?;
        Ok((c.finish(), s))
    }

    fn parquet_file() -> Vec<u8> {
        use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
        use std::sync::Arc;
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("name", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
        ])
        .unwrap();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out
    }

    #[test]
    fn every_format_under_every_compression_gives_the_same_records() {
        let inputs = [
            (Format::Csv, b"id,name\n1,a\n2,b\n".to_vec()),
            (Format::Jsonl, b"{\"id\": 1, \"name\": \"a\"}\n{\"id\":2,\"name\":\"b\"}\n".to_vec()),
            (Format::Parquet, parquet_file()),
        ];
        for (format, plain) in inputs {
            for (compression, data) in [
                (Compression::None, plain.clone()),
                (Compression::Gzip, gzip(&plain)),
                (Compression::Zstd, zstd::stream::encode_all(plain.as_slice(), 3).unwrap()),
            ] {
                let (c, s) = load(&data, format, compression).unwrap();
                assert_eq!(c.buf, br#"{"id":1,"name":"a"}{"id":2,"name":"b"}"#, "{format} {compression:?}");
                assert_eq!((s.records, s.skipped, s.format, s.compression), (2, 0, format, compression));
            }
        }
    }

    #[test]
    fn data_that_is_not_what_its_name_says_is_corrupt_not_retried() {
        for format in [Format::Csv, Format::Jsonl, Format::Parquet] {
            let e = load(b"id,name\n1,a\n", format, Compression::Gzip).unwrap_err();
            assert!(matches!(e, DecodeError::Corrupt { compression: "gzip", .. }), "{format}: {e}");
            assert!(!e.is_read_error());
            assert!(e.to_string().contains("obj is not valid gzip data (by its name)"), "{e}");
        }
        let mut cut = gzip(&b"id\n1\n".repeat(50_000));
        cut.truncate(cut.len() / 2);
        let e = load(&cut, Format::Csv, Compression::Gzip).unwrap_err();
        assert!(matches!(e, DecodeError::Corrupt { .. }), "{e}");
    }

    #[test]
    fn a_connection_dropped_under_the_decompressor_is_retried() {
        struct Drops(Vec<u8>);
        impl Read for Drops {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
                }
                let n = buf.len().min(self.0.len()).min(4096);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
                Ok(n)
            }
        }
        let mut z = gzip(&b"id,name\n1,a\n".repeat(100_000));
        z.truncate(z.len() / 2);
        for format in [Format::Csv, Format::Jsonl, Format::Parquet] {
            let mut c = Collector::new(&Limits::default());
            let e = load_stream(Drops(z.clone()), "obj", format, by_name(Compression::Gzip), None, &mut c).unwrap_err();
            assert!(e.is_read_error(), "{format}: {e}");
        }
    }

    #[test]
    fn a_compressed_parquet_object_is_bounded_by_the_guard() {
        let mut c = Collector::new(&Limits::default());
        let data = gzip(&parquet_file());
        let e = load_stream(
            data.as_slice(),
            "p.parquet.gz",
            Format::Parquet,
            by_name(Compression::Gzip),
            Some(100),
            &mut c,
        )
        .unwrap_err();
        assert!(matches!(e, DecodeError::ParquetTooLarge { max_bytes: 100, .. }), "{e}");
    }
}
