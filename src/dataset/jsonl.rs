//! JSON Lines: each line one JSON object, kept as it is (keys in their order,
//! numbers with their exact digits, nested values untouched) but compacted,
//! i.e. whitespace outside strings removed.
//!
//! A line is validated before the collector sees it, so `records=N of M`
//! counts objects, not lines: a line that is not a JSON object (an array, a
//! scalar, broken JSON, two objects, invalid UTF-8) is skipped and counted with
//! its line number; blank lines are ignored. Validation deserializes into
//! `IgnoredAny` (no allocation) or, when a schema will be derived from every
//! record loaded ([`Offer::notes_fields`]), into a visitor that notes what
//! the members hold (`shape::RecordSeed`: a flag set, a count raised; a name is
//! allocated only when first seen), in the same one pass; compaction is one
//! pass over the bytes, done only for records the collector keeps.

use std::io::{BufRead, BufReader, Read};

use serde::de::{DeserializeSeed, IgnoredAny};

use crate::dataset::collect::{CollectError, Offer};
use crate::dataset::shape::{Fields, RecordSeed};
use crate::dataset::REPORTED_SKIPS;

/// A line this long without a newline is skipped, so a file that is not JSON
/// Lines (one huge JSON array, say) fails clearly instead of filling memory.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// What the loader found in one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonlSummary {
    /// Objects offered to the collector (kept or not).
    pub records: u64,
    pub skipped: u64,
    /// The first skipped lines (up to [`REPORTED_SKIPS`]) and why.
    pub first_skips: Vec<(u64, String)>,
    /// Bytes read, uncompressed.
    pub input_bytes: u64,
    /// What the objects hold, noted while each was validated (a schema
    /// derivation then reads none again); `None` after a line that was not
    /// JSON, which may have been noted in part.
    pub fields: Option<Fields>,
}

#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error("{source_name} is empty: expected JSON Lines, one JSON object per line")]
    Empty { source_name: String },
    #[error("{source_name} has no JSON objects: {skipped} lines skipped (first: line {first_line}: {first_reason}); expected one JSON object per line")]
    NoRecords { source_name: String, skipped: u64, first_line: u64, first_reason: String },
    #[error("{source_name}: reading failed at line {line}: {cause}")]
    Read {
        source_name: String,
        line: u64,
        #[source]
        cause: std::io::Error,
    },
    #[error("{source_name}: {cause}")]
    Limit {
        source_name: String,
        #[source]
        cause: CollectError,
    },
}

/// Reads JSON Lines from `reader` (already decompressed) into `collector`.
pub fn load_jsonl<R: Read>(
    reader: R,
    source_name: &str,
    collector: &mut impl Offer,
) -> Result<JsonlSummary, JsonlError> {
    load_jsonl_limited(reader, source_name, collector, MAX_LINE_BYTES)
}

fn load_jsonl_limited<R: Read>(
    reader: R,
    source_name: &str,
    collector: &mut impl Offer,
    max_line: usize,
) -> Result<JsonlSummary, JsonlError> {
    let mut input = BufReader::with_capacity(256 * 1024, reader);
    let fields = collector.notes_fields().then(Fields::default);
    let mut summary = JsonlSummary { fields, ..JsonlSummary::default() };
    let mut line = Vec::with_capacity(4096);
    let mut number = 0u64;
    loop {
        number += 1;
        line.clear();
        let read_err = |cause| JsonlError::Read { source_name: source_name.into(), line: number, cause };
        let n = (&mut input).take(max_line as u64 + 1).read_until(b'\n', &mut line).map_err(read_err)?;
        if n == 0 {
            break;
        }
        summary.input_bytes += n as u64;
        if line.len() > max_line && line.last() != Some(&b'\n') {
            summary.input_bytes += input.skip_until(b'\n').map_err(read_err)? as u64;
            skip(&mut summary, number, format!("longer than {max_line} bytes"));
            continue;
        }
        let mut text = line.as_slice();
        if number == 1 {
            text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        }
        let text = text.trim_ascii();
        if text.is_empty() {
            continue;
        }
        if let Err(reason) = validate(text, &mut summary.fields) {
            skip(&mut summary, number, reason);
            continue;
        }
        summary.records += 1;
        collector
            .offer(|buf| write_compact(buf, text))
            .map_err(|cause| JsonlError::Limit { source_name: source_name.into(), cause })?;
    }
    if summary.records == 0 {
        if let Some((first_line, first_reason)) = summary.first_skips.first().cloned() {
            return Err(JsonlError::NoRecords {
                source_name: source_name.into(),
                skipped: summary.skipped,
                first_line,
                first_reason,
            });
        }
        return Err(JsonlError::Empty { source_name: source_name.into() });
    }
    Ok(summary)
}

fn skip(summary: &mut JsonlSummary, line: u64, reason: String) {
    summary.skipped += 1;
    if summary.first_skips.len() < REPORTED_SKIPS {
        summary.first_skips.push((line, reason));
    }
}

/// Ok when `text` (trimmed, non-empty) is exactly one JSON object, read
/// once: its members noted in `fields`, which are dropped when it is not JSON.
fn validate(text: &[u8], fields: &mut Option<Fields>) -> Result<(), String> {
    let s = std::str::from_utf8(text).map_err(|e| format!("not valid UTF-8 at byte {}", e.valid_up_to() + 1))?;
    if text[0] != b'{' {
        let what = match text[0] {
            b'[' => "an array",
            b'"' => "a string",
            b'-' | b'0'..=b'9' => "a number",
            b't' | b'f' => "a boolean",
            b'n' => "null",
            _ => "not JSON",
        };
        return Err(format!("not a JSON object ({what})"));
    }
    let read = match fields {
        Some(f) => {
            let mut de = serde_json::Deserializer::from_str(s);
            RecordSeed(f).deserialize(&mut de).and_then(|()| de.end())
        }
        None => serde_json::from_str::<IgnoredAny>(s).map(drop),
    };
    read.map_err(|e| {
        *fields = None;
        format!("not valid JSON: {e}")
    })
}

/// Appends `json` (valid, checked by [`validate`]) with the whitespace outside
/// strings removed; runs of kept bytes are copied whole.
fn write_compact(buf: &mut Vec<u8>, json: &[u8]) {
    buf.reserve(json.len());
    let (mut i, mut run) = (0, 0);
    while i < json.len() {
        match json[i] {
            b' ' | b'\t' | b'\n' | b'\r' => {
                buf.extend_from_slice(&json[run..i]);
                i += 1;
                run = i;
            }
            b'"' => {
                i += 1;
                while i < json.len() {
                    match json[i] {
                        b'"' => break,
                        b'\\' => i += 2,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    buf.extend_from_slice(&json[run..json.len().min(i)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::collect::{Collected, Collector, Limits};
    use serde_json::{json, Value};

    fn load(input: &[u8]) -> Result<(Collected, JsonlSummary), JsonlError> {
        let mut c = Collector::new(&Limits::default());
        let s = load_jsonl(input, "t.jsonl", &mut c)?;
        Ok((c.finish(), s))
    }

    fn records(c: &Collected) -> Vec<&[u8]> {
        let mut start = 0;
        c.ends
            .iter()
            .map(|&end| {
                let r = &c.buf[start..end];
                start = end;
                r
            })
            .collect()
    }

    #[test]
    fn objects_are_compacted_and_otherwise_kept() {
        let input = r#"{ "id" : 1, "amount": 12.50, "big": 123456789012345678901234567890, "e": 1E+5 }
{"nested": {"a": [1, {"b": null}], "s": "two  spaces, a \"quote\" and \\"}, "t": true}
  {"unicode":"Caf\u00e9 Zürich 🍕",   "tab":"a\tb"}
"#
        .as_bytes();
        let (c, s) = load(input).unwrap();
        let r = records(&c);
        assert_eq!(r[0], br#"{"id":1,"amount":12.50,"big":123456789012345678901234567890,"e":1E+5}"#);
        assert_eq!(r[1], br#"{"nested":{"a":[1,{"b":null}],"s":"two  spaces, a \"quote\" and \\"},"t":true}"#);
        assert_eq!(r[2], r#"{"unicode":"Caf\u00e9 Zürich 🍕","tab":"a\tb"}"#.as_bytes());
        assert_eq!((s.records, s.skipped, s.input_bytes), (3, 0, input.len() as u64));
    }

    #[test]
    fn compaction_matches_serde_json_for_any_spacing() {
        let values = [
            json!({"a": [1, 2, {"b": "x y"}], "c": {"d": null, "e": false}, "f": "\\\" {\"not\": 1} "}),
            json!({}),
            json!({"k": []}),
        ];
        for v in values {
            for pretty in [serde_json::to_string(&v).unwrap(), serde_json::to_string_pretty(&v).unwrap()] {
                let one_line = pretty.replace('\n', " \t");
                let mut out = Vec::new();
                write_compact(&mut out, one_line.as_bytes());
                assert_eq!(out, serde_json::to_vec(&v).unwrap(), "{one_line}");
            }
        }
    }

    #[test]
    fn lines_that_are_not_objects_are_skipped_with_their_line_numbers() {
        let input =
            b"{\"a\":1}\n[1,2]\n\n42\n\"s\"\n{\"a\":\n{\"a\":1} {\"b\":2}\n\xff{\"a\":1}\n  \n{\"a\":2}\nnull\n";
        let (c, s) = load(input).unwrap();
        assert_eq!(records(&c), vec![br#"{"a":1}"#.as_slice(), br#"{"a":2}"#]);
        assert_eq!((s.records, s.skipped), (2, 7));
        let lines: Vec<u64> = s.first_skips.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 4, 5, 6, 7], "blank lines 3 and 9 are neither records nor skips");
        assert!(s.first_skips[0].1.contains("an array"), "{:?}", s.first_skips);
        assert!(s.first_skips[3].1.contains("not valid JSON"), "{:?}", s.first_skips);
        assert!(s.first_skips[4].1.contains("trailing"), "{:?}", s.first_skips);
    }

    #[test]
    fn invalid_utf8_inside_a_string_is_skipped() {
        let (c, s) = load(b"{\"a\":\"\xc3\"}\n{\"a\":\"\xc3\xa9\"}\n").unwrap();
        assert_eq!(records(&c), vec!["{\"a\":\"é\"}".as_bytes()]);
        assert_eq!(s.first_skips, vec![(1, "not valid UTF-8 at byte 7".to_owned())]);
    }

    #[test]
    fn crlf_bom_and_no_final_newline() {
        let (c, s) = load(b"\xEF\xBB\xBF{\"a\": 1}\r\n\r\n{\"b\": 2}").unwrap();
        assert_eq!(records(&c), vec![br#"{"a":1}"#.as_slice(), br#"{"b":2}"#]);
        assert_eq!(s.skipped, 0);
    }

    #[test]
    fn every_record_parses_back_to_the_same_value() {
        let input = b"{\"x\": [1.5, -0, 1e-7, \"\\u0000\\n\"], \"y\": {\"z\": {}}}\n";
        let (c, _) = load(input).unwrap();
        let want: Value = serde_json::from_slice(input).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(records(&c)[0]).unwrap(), want);
    }

    #[test]
    fn empty_and_nothing_usable_are_clear_errors() {
        assert!(matches!(load(b""), Err(JsonlError::Empty { .. })));
        assert!(matches!(load(b"\n  \n"), Err(JsonlError::Empty { .. })));
        let e = load(b"[1]\n2\n").unwrap_err();
        assert!(matches!(e, JsonlError::NoRecords { skipped: 2, first_line: 1, .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("t.jsonl") && msg.contains("line 1") && msg.contains("an array"), "{msg}");
    }

    #[test]
    fn a_read_error_names_the_line() {
        struct Breaks(&'static [u8]);
        impl Read for Breaks {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
                }
                let n = buf.len().min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut c = Collector::new(&Limits::default());
        let e = load_jsonl(Breaks(b"{}\n{}\n{\"a\""), "s3://b/k.jsonl", &mut c).unwrap_err();
        assert!(matches!(e, JsonlError::Read { line: 3, .. }), "{e}");
        assert!(e.to_string().contains("s3://b/k.jsonl"), "{e}");
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_next_line_read() {
        let mut c = Collector::new(&Limits::default());
        let input = b"{\"a\":1}\n{\"long\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n{\"b\":2}\n";
        let s = load_jsonl_limited(&input[..], "t", &mut c, 16).unwrap();
        assert_eq!(records(&c.finish()), vec![br#"{"a":1}"#.as_slice(), br#"{"b":2}"#]);
        assert_eq!(s.first_skips, vec![(2, "longer than 16 bytes".to_owned())]);
        assert_eq!(s.input_bytes, input.len() as u64);
    }

    #[test]
    fn the_memory_guard_names_the_object() {
        let mut c = Collector::new(&Limits { max_bytes: Some(100), ..Limits::default() });
        let input = "{\"a\":1}\n".repeat(100);
        let e = load_jsonl(input.as_bytes(), "big.jsonl", &mut c).unwrap_err();
        assert!(matches!(e, JsonlError::Limit { cause: CollectError::TooLarge { .. }, .. }), "{e}");
        assert!(e.to_string().starts_with("big.jsonl: "), "{e}");
    }

    #[test]
    fn a_sample_counts_every_object_and_keeps_n() {
        let input: String = (0..1000).map(|i| format!("{{\"i\": {i}}}\n")).collect::<String>() + "[]\n";
        let mut c = Collector::new(&Limits { max_records: Some(10), seed: Some(1), ..Limits::default() });
        let s = load_jsonl(input.as_bytes(), "t", &mut c).unwrap();
        let c = c.finish();
        assert_eq!((s.records, s.skipped, c.seen, c.ends.len()), (1000, 1, 1000, 10));
        for r in records(&c) {
            assert!(serde_json::from_slice::<Value>(r).unwrap()["i"].is_u64());
        }
    }

    #[test]
    fn gzip_and_zstd_input() {
        use crate::dataset::format::{decompress, Compression};
        use std::io::Write;
        let input = b"{\"a\": 1}\n{\"b\": [2]}\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(input).unwrap();
        for (data, c) in [
            (gz.finish().unwrap(), Compression::Gzip),
            (zstd::stream::encode_all(&input[..], 3).unwrap(), Compression::Zstd),
        ] {
            let mut col = Collector::new(&Limits::default());
            let s = load_jsonl(decompress(data.as_slice(), c).unwrap(), "t", &mut col).unwrap();
            assert_eq!((s.records, s.input_bytes), (2, input.len() as u64));
            assert_eq!(records(&col.finish()), vec![br#"{"a":1}"#.as_slice(), br#"{"b":[2]}"#]);
        }
    }
}
