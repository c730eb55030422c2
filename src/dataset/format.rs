//! What an object holds: its format (CSV, JSON Lines, Parquet) and its
//! compression (gzip, zstd), from its name's suffixes or its `Content-Encoding`,
//! and the streaming decompressor that goes in front of the parser.
//!
//! A decompressor sits between the network and the parser, so an error it
//! returns may be either: the connection dropped (worth a retry) or the data is
//! not what its name says (never worth one). Errors from the source are
//! wrapped on the way in, so [`is_source_error`] tells the two apart.

use std::io::{BufRead, BufReader, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    /// The `DATASET_FORMAT` value.
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// A `Content-Encoding` header value; `identity` or absent is none.
    /// Unknown encodings are `None` here and left to the suffix.
    pub fn from_content_encoding(value: &str) -> Option<Compression> {
        match value.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// An object's format and compression as its name says: `day.csv.gz` is gzip'd
/// CSV, `part-0.zst` is zstd of an unknown format. Case-insensitive.
pub fn from_name(name: &str) -> (Option<Format>, Compression) {
    let lower = name.to_ascii_lowercase();
    let (rest, compression) = if let Some(rest) = lower.strip_suffix(".gz").or_else(|| lower.strip_suffix(".gzip")) {
        (rest, Compression::Gzip)
    } else if let Some(rest) = lower.strip_suffix(".zst").or_else(|| lower.strip_suffix(".zstd")) {
        (rest, Compression::Zstd)
    } else {
        (lower.as_str(), Compression::None)
    };
    let format = match rest.rsplit_once('.').map(|(_, ext)| ext) {
        Some("csv" | "tsv" | "txt") => Some(Format::Csv),
        Some("jsonl" | "ndjson" | "json") => Some(Format::Jsonl),
        Some("parquet" | "parq" | "pq") => Some(Format::Parquet),
        _ => None,
    };
    (format, compression)
}

/// How to read one object: `forced` is `DATASET_FORMAT`; the name decides
/// otherwise; CSV when neither says. `Content-Encoding` wins over the suffix
/// (a server that says gzip sends gzip), and a name with no compression suffix
/// is taken as plain.
pub fn detect(name: &str, forced: Option<Format>, content_encoding: Option<&str>) -> (Format, Compression) {
    let (by_name, compression) = from_name(name);
    let compression = content_encoding.and_then(Compression::from_content_encoding).unwrap_or(compression);
    (forced.or(by_name).unwrap_or(Format::Csv), compression)
}

/// An error the source returned (a dropped connection, a timeout), as opposed
/// to one the decompressor found in the data.
#[derive(Debug)]
struct SourceError(std::io::Error);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Wraps the source's errors so they survive the decompressor recognizably.
struct Tagged<R>(R);

impl<R: Read> Read for Tagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| std::io::Error::new(e.kind(), SourceError(e)))
    }
}

/// True when `e` came from the source below a decompressor, or when there
/// was no decompressor; false when the compressed data itself was bad.
pub fn is_source_error(e: &std::io::Error, compression: Compression) -> bool {
    compression == Compression::None || e.get_ref().is_some_and(|inner| inner.is::<SourceError>())
}

/// `reader` decompressed as `compression` says, streaming. Gzip accepts
/// concatenated members (`cat a.gz b.gz`), zstd concatenated frames.
pub fn decompress<'a, R: Read + Send + 'a>(
    reader: R,
    compression: Compression,
) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    const BUF: usize = 256 * 1024;
    Ok(match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => {
            Box::new(flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(BUF, Tagged(reader))))
        }
        Compression::Zstd => {
            let input: Box<dyn BufRead + Send + 'a> = Box::new(BufReader::with_capacity(BUF, Tagged(reader)));
            Box::new(zstd::stream::read::Decoder::with_buffer(input)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 1).unwrap()
    }

    fn read_all(data: &[u8], c: Compression) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompress(data, c)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn names() {
        use Compression as C;
        use Format as F;
        assert_eq!(from_name("s3://b/day.csv"), (Some(F::Csv), C::None));
        assert_eq!(from_name("day.CSV.GZ"), (Some(F::Csv), C::Gzip));
        assert_eq!(from_name("events.jsonl.zst"), (Some(F::Jsonl), C::Zstd));
        assert_eq!(from_name("events.ndjson"), (Some(F::Jsonl), C::None));
        assert_eq!(from_name("part-00000-abc.snappy.parquet"), (Some(F::Parquet), C::None));
        assert_eq!(from_name("blob.zst"), (None, C::Zstd));
        assert_eq!(from_name("README"), (None, C::None));
        assert_eq!(from_name("dir.gz/file"), (None, C::None));
    }

    #[test]
    fn detection_order() {
        use Compression as C;
        use Format as F;
        assert_eq!(detect("x", None, None), (F::Csv, C::None));
        assert_eq!(detect("x.jsonl", Some(F::Parquet), None), (F::Parquet, C::None));
        assert_eq!(detect("x.jsonl", None, Some("gzip")), (F::Jsonl, C::Gzip));
        assert_eq!(detect("x.jsonl.gz", None, Some("identity")), (F::Jsonl, C::Gzip));
        assert_eq!(detect("x.csv.gz", None, Some("zstd")), (F::Csv, C::Zstd));
        assert_eq!(Format::parse("JSONL"), Some(F::Jsonl));
        assert_eq!(Format::parse("xml"), None);
    }

    #[test]
    fn gzip_and_zstd_round_trip_streaming() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| format!("{i},row\n").into_bytes()).collect();
        assert_eq!(read_all(&gzip(&data), Compression::Gzip).unwrap(), data);
        assert_eq!(read_all(&zstd(&data), Compression::Zstd).unwrap(), data);
        assert_eq!(read_all(&data, Compression::None).unwrap(), data);
    }

    #[test]
    fn concatenated_members_and_frames_are_read_whole() {
        let (a, b) = (b"id\n1\n".as_slice(), b"2\n3\n".as_slice());
        assert_eq!(read_all(&[gzip(a), gzip(b)].concat(), Compression::Gzip).unwrap(), b"id\n1\n2\n3\n");
        assert_eq!(read_all(&[zstd(a), zstd(b)].concat(), Compression::Zstd).unwrap(), b"id\n1\n2\n3\n");
    }

    #[test]
    fn bad_data_is_not_a_source_error() {
        for c in [Compression::Gzip, Compression::Zstd] {
            let e = read_all(b"id,name\n1,plain text\n", c).unwrap_err();
            assert!(!is_source_error(&e, c), "{c:?}: {e}");
        }
        let mut truncated = gzip(&[b'x'; 100_000]);
        truncated.truncate(truncated.len() / 2);
        let e = read_all(&truncated, Compression::Gzip).unwrap_err();
        assert!(!is_source_error(&e, Compression::Gzip), "{e}");
    }

    #[test]
    fn a_dropped_connection_is_a_source_error() {
        struct Drops(Vec<u8>);
        impl Read for Drops {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer"));
                }
                let n = buf.len().min(self.0.len()).min(1000);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
                Ok(n)
            }
        }
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for (c, mut z) in [(Compression::Gzip, gzip(&data)), (Compression::Zstd, zstd(&data))] {
            z.truncate(z.len() / 2);
            let mut out = Vec::new();
            let e = decompress(Drops(z), c).unwrap().read_to_end(&mut out).unwrap_err();
            assert!(is_source_error(&e, c), "{c:?}: {e}");
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
            assert!(e.to_string().contains("reset by peer"), "{e}");
        }
    }
}
