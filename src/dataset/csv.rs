//! The CSV reader: [`load_csv`] parses RFC 4180 CSV (header row, quoted fields
//! with commas, quotes and newlines, CRLF, a UTF-8 BOM) from any reader,
//! streaming, and types each cell: plain decimal numbers stay numbers with
//! their exact digits, `true`/`false` become booleans, empty cells become null,
//! and everything else (`00M`, `02134`, `1e5`, `NaN`) stays a string. It counts
//! each column's kinds as it goes, so that once loaded a column that mixes them
//! becomes a string column ([`crate::dataset::columns`]). Rows with the wrong
//! number of fields or invalid UTF-8 are skipped and counted, never fatal.

use std::io::{BufRead, BufReader, Read};
use std::time::Instant;

use crate::dataset::collect::{Collector, Limits, Offer};
use crate::dataset::columns::{ColumnKinds, Kinds};
use crate::dataset::records::Known;
use crate::dataset::records::{Dataset, DatasetError, LoadSummary, REPORTED_SKIPS};

/// Parses CSV from `reader` into a [`Dataset`], keeping every row. `source_name`
/// names the object in messages; `size_hint` (the object's length, when known)
/// sizes the buffer once.
pub fn load_csv<R: Read>(
    reader: R,
    source_name: &str,
    size_hint: Option<u64>,
) -> Result<(Dataset, LoadSummary), DatasetError> {
    let started = Instant::now();
    let mut collector = Collector::new(&Limits::default());
    if let Some(n) = size_hint {
        collector.reserve(csv_json_estimate(n));
    }
    let csv = load_csv_into(reader, source_name, &mut collector)?;
    let (collected, widened, exact) = collector
        .finish_typed(&csv.kinds, false)
        .map_err(|cause| DatasetError::Limit { source_name: source_name.into(), cause })?;
    let known = Known { csv: exact.then(|| csv.kinds.clone()), ..Known::default() };
    let dataset = Dataset::from_collected(collected).with_known(known);
    let summary = LoadSummary {
        records: dataset.len() as u64,
        seen: csv.rows,
        skipped: csv.skipped,
        skipped_rows: csv.skipped_rows,
        renamed: csv.renamed,
        widened,
        columns: csv.columns,
        csv_bytes: csv.input_bytes,
        json_bytes: dataset.json_bytes() as u64,
        elapsed: started.elapsed(),
        objects: 1,
        format: "csv".into(),
        version: String::new(),
    };
    Ok((dataset, summary))
}

/// JSON is ~2.35x the CSV for the transactions shape (keys repeat per row);
/// reserving once avoids the doubling copies that would double peak memory.
/// Pages reserved but never written are not resident, and `shrink_to_fit`
/// returns them, so a generous estimate costs address space, not memory.
pub fn csv_json_estimate(csv_bytes: u64) -> usize {
    (csv_bytes as usize).saturating_mul(5) / 2
}

/// What one CSV object held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSummary {
    /// Well-formed rows offered to the collector (kept or not).
    pub rows: u64,
    pub skipped: u64,
    /// The first [`REPORTED_SKIPS`] skipped rows: (line, reason).
    pub skipped_rows: Vec<(u64, String)>,
    /// Duplicate column names and what they were renamed to.
    pub renamed: Vec<(String, String)>,
    pub columns: usize,
    pub input_bytes: u64,
    /// Each column's cell kinds over the rows written (see [`crate::dataset::columns`]).
    pub kinds: ColumnKinds,
}

/// Parses CSV from `reader` into `collector`, which keeps all rows or a sample.
pub fn load_csv_into<R: Read>(
    reader: R,
    source_name: &str,
    collector: &mut impl Offer,
) -> Result<CsvSummary, DatasetError> {
    let counting = CountingReader { inner: reader, count: 0 };
    let mut input = BufReader::with_capacity(256 * 1024, counting);
    skip_bom(&mut input).map_err(|cause| DatasetError::Read { source_name: source_name.into(), line: 1, cause })?;

    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true) // ragged rows are counted and skipped, not fatal
        .buffer_capacity(256 * 1024)
        .from_reader(input);

    let csv_err = |cause: csv::Error| {
        let line = cause.position().map_or(0, |p| p.line());
        if cause.is_io_error() {
            if let csv::ErrorKind::Io(cause) = cause.into_kind() {
                return DatasetError::Read { source_name: source_name.into(), line, cause };
            }
            unreachable!("is_io_error() means ErrorKind::Io");
        }
        DatasetError::Csv { source_name: source_name.into(), line, cause }
    };

    let header = rdr.byte_headers().map_err(csv_err)?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(DatasetError::Empty { source_name: source_name.into() });
    }
    let mut renamed = Vec::new();
    let keys = json_keys(&header, source_name, &mut renamed)?;

    let mut kinds = vec![Kinds::default(); keys.len()];
    // Keeping every record, a column found to mix kinds is quoted from then on.
    let eager = collector.keeps_all();
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    let mut skipped = 0u64;
    let mut skipped_rows = Vec::new();
    let mut skip = |line: u64, reason: String| {
        skipped += 1;
        if skipped_rows.len() < REPORTED_SKIPS {
            skipped_rows.push((line, reason));
        }
    };
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_err(e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != keys.len() {
            skip(line, format!("{} fields, header has {}", record.len(), keys.len()));
            continue;
        }
        // An all-ASCII row (the common case, checked a word at a time) is valid
        // UTF-8 field by field; only other rows need the per-field check.
        if !record.as_slice().is_ascii() {
            if let Some(field) = record.iter().position(|f| std::str::from_utf8(f).is_err()) {
                skip(line, format!("field {} is not valid UTF-8", field + 1));
                continue;
            }
        }
        rows += 1;
        collector
            .offer(|buf| write_json_object(buf, &keys, &record, &mut kinds, eager))
            .map_err(|cause| DatasetError::Limit { source_name: source_name.into(), cause })?;
    }

    let input_bytes = rdr.into_inner().into_inner().count;
    if rows == 0 {
        if input_bytes == 0 {
            return Err(DatasetError::Empty { source_name: source_name.into() });
        }
        return Err(DatasetError::NoRecords { source_name: source_name.into(), skipped });
    }
    // The key fragments end in `:`; the counts are keyed by the name as written.
    let kinds = keys.iter().map(|k| k[..k.len() - 1].to_vec()).zip(kinds).collect();
    Ok(CsvSummary {
        rows,
        skipped,
        skipped_rows,
        renamed,
        columns: keys.len(),
        input_bytes,
        kinds: ColumnKinds { columns: kinds },
    })
}

fn skip_bom<R: Read>(input: &mut BufReader<R>) -> std::io::Result<()> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    // A short first read could split the BOM; fill until 3 bytes or EOF.
    let buf = input.fill_buf()?;
    if buf.len() >= 3 {
        if buf.starts_with(BOM) {
            input.consume(3);
        }
        return Ok(());
    }
    // Rare: fewer than 3 bytes buffered. Only a whole BOM at the very start counts.
    if !buf.is_empty() && BOM.starts_with(buf) {
        let mut first = [0u8; 3];
        input.read_exact(&mut first).or_else(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    }
    Ok(())
}

/// Header names as pre-serialized `"name":` fragments. Duplicate names get a
/// numeric suffix (`amount`, `amount_2`) so every JSON object has unique keys.
fn json_keys(
    header: &csv::ByteRecord,
    source_name: &str,
    renamed: &mut Vec<(String, String)>,
) -> Result<Vec<Vec<u8>>, DatasetError> {
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for raw in header.iter() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| DatasetError::HeaderNotUtf8 { source_name: source_name.into() })?
            .to_owned();
        let mut unique = name.clone();
        let mut n = 2;
        while names.contains(&unique) {
            unique = format!("{name}_{n}");
            n += 1;
        }
        if unique != name {
            renamed.push((name, unique.clone()));
        }
        names.push(unique);
    }
    Ok(names
        .iter()
        .map(|n| {
            let mut k = serde_json::to_vec(n).expect("a string always serializes");
            k.push(b':');
            k
        })
        .collect())
}

/// Appends one row as a JSON object and counts its cells' kinds. Every field
/// has been checked to be UTF-8. `eager`: every record is kept, so a column
/// that mixes kinds is text for good and its cells are quoted from this row on.
fn write_json_object(buf: &mut Vec<u8>, keys: &[Vec<u8>], record: &csv::ByteRecord, kinds: &mut [Kinds], eager: bool) {
    let start = buf.len();
    buf.push(b'{');
    for (i, ((key, field), kinds)) in keys.iter().zip(record.iter()).zip(kinds.iter_mut()).enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(key);
        write_json_value(buf, field, kinds, eager, start);
    }
    buf.push(b'}');
}

fn write_json_value(buf: &mut Vec<u8>, field: &[u8], kinds: &mut Kinds, eager: bool, record_start: usize) {
    if field.is_empty() {
        kinds.nulls += 1;
        buf.extend_from_slice(b"null");
        return;
    }
    let text = if field == b"true" || field == b"false" {
        kinds.booleans += 1;
        false
    } else if is_plain_number(field) {
        kinds.numbers += 1;
        kinds.fractions += u64::from(!crate::dataset::columns::is_whole(field));
        false
    } else {
        kinds.strings += 1;
        true
    };
    if eager && kinds.quoted_from == usize::MAX && kinds.is_mixed() {
        kinds.quoted_from = record_start;
    }
    if text {
        write_json_string(buf, field);
    } else if kinds.quoted_from != usize::MAX {
        // A number or boolean of a text column: its text, quoted (no escapes needed).
        buf.push(b'"');
        buf.extend_from_slice(field);
        buf.push(b'"');
    } else {
        // Already valid JSON, and the cell's exact digits are kept (no float round trip).
        kinds.bare += 1;
        buf.extend_from_slice(field);
    }
}

/// How each byte is written inside a JSON string: 0 as is, `u` as `\u00XX`,
/// anything else as a backslash and that letter. The same escapes as
/// serde_json: `"`, `\\`, and the control characters below 0x20.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0A] = b'n';
    t[0x0C] = b'f';
    t[0x0D] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `field` (valid UTF-8, checked by the caller) as a JSON string. Bytes
/// of 0x80 and above are parts of multi-byte characters and are copied as they
/// are, so the work is one table look-up per byte and one copy per run of
/// plain bytes, with no second UTF-8 validation.
pub(crate) fn write_json_string(buf: &mut Vec<u8>, field: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.reserve(field.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    for (i, &b) in field.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        buf.extend_from_slice(&field[start..i]);
        if esc == b'u' {
            buf.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xF) as usize]]);
        } else {
            buf.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&field[start..]);
    buf.push(b'"');
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`: a decimal that JSON can carry digit for digit.
/// Leading zeros (`02134`), exponents (`1e5`), `NaN`, `+1`, `.5` and `1.` are not.
pub fn is_plain_number(s: &[u8]) -> bool {
    let s = s.strip_prefix(b"-").unwrap_or(s);
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], Some(&s[dot + 1..])),
        None => (s, None),
    };
    let int_ok = match int {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => int.iter().all(u8::is_ascii_digit),
    };
    int_ok && frac.is_none_or(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::collect::Collected;
    use serde_json::{json, Value};

    fn load(csv: &[u8]) -> Result<(Dataset, LoadSummary), DatasetError> {
        load_csv(csv, "test.csv", None)
    }

    fn records(csv: &[u8]) -> Vec<Value> {
        let (d, _) = load(csv).unwrap();
        d.iter().map(|r| serde_json::from_slice(r).unwrap()).collect()
    }

    #[test]
    fn types_cells() {
        let r = records(
            b"id,amount,zip,flag,f2,note,neg,exp,nan,zero,dec0,lead\n7,12.50,02134,true,false,,-3,1e5,NaN,0,0.5,00M\n",
        );
        assert_eq!(
            r[0],
            json!({"id":7,"amount":12.50,"zip":"02134","flag":true,"f2":false,"note":null,"neg":-3,
                   "exp":"1e5","nan":"NaN","zero":0,"dec0":0.5,"lead":"00M"})
        );
    }

    /// A column is one type over the records: `zip` mixes `02134` (text) and
    /// `10001` (a number), so every zip is a string; `n` stays a number and
    /// `flag` a boolean with its empty cell null.
    #[test]
    fn a_column_mixing_numbers_and_text_is_text_in_every_record() {
        let (d, s) = load(
            b"zip,n,flag,mix
10001,1,true,1
02134,2,,true
,3,false,
94105,4.5,true,x
",
        )
        .unwrap();
        let r: Vec<Value> = d.iter().map(|r| serde_json::from_slice(r).unwrap()).collect();
        assert_eq!(
            r,
            [
                json!({"zip":"10001","n":1,"flag":true,"mix":"1"}),
                json!({"zip":"02134","n":2,"flag":null,"mix":"true"}),
                json!({"zip":null,"n":3,"flag":false,"mix":null}),
                json!({"zip":"94105","n":4.5,"flag":true,"mix":"x"}),
            ]
        );
        // The cell's exact text, quoted.
        assert_eq!(d.get(3), br#"{"zip":"94105","n":4.5,"flag":true,"mix":"x"}"#);
        let widened: Vec<&str> = s.widened.iter().map(|w| w.column.as_str()).collect();
        assert_eq!(widened, ["zip", "mix"]);
        assert_eq!(s.json_bytes, d.json_bytes() as u64);
    }

    #[test]
    fn numbers_keep_their_exact_digits() {
        let (d, _) = load(b"a,b,c\n12.50,123456789012345678901234567890,-0.000\n").unwrap();
        assert_eq!(d.get(0), br#"{"a":12.50,"b":123456789012345678901234567890,"c":-0.000}"#);
    }

    #[test]
    fn plain_number_grammar() {
        for ok in ["0", "-0", "7", "10", "3.14", "-2.50", "0.0"] {
            assert!(is_plain_number(ok.as_bytes()), "{ok}");
        }
        for no in
            ["", "-", "01", "-01", "1.", ".5", "+1", "1e5", "1E5", "NaN", "inf", " 1", "1 ", "1,0", "0x10", "1.2.3"]
        {
            assert!(!is_plain_number(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn quotes_commas_and_newlines_inside_fields() {
        let r = records(b"name,memo\n\"Smith, J\",\"said \"\"hi\"\"\nthen left\"\n");
        assert_eq!(r[0], json!({"name":"Smith, J","memo":"said \"hi\"\nthen left"}));
    }

    #[test]
    fn bom_and_crlf() {
        let r = records(b"\xEF\xBB\xBFid,city\r\n1,Oslo\r\n2,\"Bergen\r\nNorway\"\r\n");
        assert_eq!(r, vec![json!({"id":1,"city":"Oslo"}), json!({"id":2,"city":"Bergen\r\nNorway"})]);
    }

    #[test]
    fn non_ascii_text_is_kept() {
        let r = records("merchant,emoji\nCafé Zürich,🍕\n東京,\"\"\n".as_bytes());
        assert_eq!(r[0], json!({"merchant":"Café Zürich","emoji":"🍕"}));
        assert_eq!(r[1], json!({"merchant":"東京","emoji":null}));
    }

    #[test]
    fn control_characters_are_escaped() {
        let (d, _) = load(b"a\n\"tab\there\x01\"\n").unwrap();
        assert_eq!(d.get(0), br#"{"a":"tab\there\u0001"}"#);
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_does() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("Café \u{7f} 東京 🍕 \\ \" / end");
        for s in [all.as_str(), "", "plain", "\"", "\\", "\u{1}x\u{1f}"] {
            let mut ours = Vec::new();
            write_json_string(&mut ours, s.as_bytes());
            assert_eq!(ours, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn a_character_split_across_two_fields_is_still_invalid() {
        // The ASCII fast path must not let the per-field UTF-8 check be skipped:
        // "\xC3" + "\xA9" is "é" only when joined.
        let (d, s) = load(b"a,b\n\xC3,\xA9\n1,2\n").unwrap();
        assert_eq!((s.records, s.skipped), (1, 1));
        assert_eq!(d.get(0), br#"{"a":1,"b":2}"#);
    }

    #[test]
    fn ragged_and_non_utf8_rows_are_skipped_and_counted() {
        let (d, s) = load(b"a,b\n1,2\n3\n4,5,6\n\xff\xfe,7\n8,9\n").unwrap();
        assert_eq!((s.records, s.skipped, s.columns), (2, 3, 2));
        assert_eq!(d.get(1), br#"{"a":8,"b":9}"#);
        let lines: Vec<u64> = s.skipped_rows.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [3, 4, 5]);
        assert!(s.skipped_rows[2].1.contains("not valid UTF-8"), "{:?}", s.skipped_rows);
        // Only the first few are reported one by one; all are counted.
        let many = format!("a,b\n{}1,2\n", "x\n".repeat(12));
        let (_, s) = load(many.as_bytes()).unwrap();
        assert_eq!((s.skipped, s.skipped_rows.len()), (12, REPORTED_SKIPS));
    }

    #[test]
    fn duplicate_header_names_are_made_unique() {
        let r = records(b"x,x,y,x\n1,2,3,4\n");
        assert_eq!(r[0], json!({"x":1,"x_2":2,"y":3,"x_3":4}));
        let (_, s) = load(b"x,x,y,x\n1,2,3,4\n").unwrap();
        assert_eq!(s.renamed, [("x".to_owned(), "x_2".to_owned()), ("x".to_owned(), "x_3".to_owned())]);
    }

    #[test]
    fn empty_and_header_only_are_clear_errors() {
        assert!(matches!(load(b""), Err(DatasetError::Empty { .. })));
        assert!(matches!(load(b"\xEF\xBB\xBF"), Err(DatasetError::Empty { .. })));
        let e = load(b"a,b\n").unwrap_err();
        assert!(matches!(e, DatasetError::NoRecords { skipped: 0, .. }), "{e}");
        let e = load(b"a,b\n1\n2\n").unwrap_err();
        assert!(matches!(e, DatasetError::NoRecords { skipped: 2, .. }), "{e}");
        assert!(e.to_string().contains("test.csv"));
    }

    #[test]
    fn non_utf8_header_is_an_error() {
        assert!(matches!(load(b"a,\xff\n1,2\n"), Err(DatasetError::HeaderNotUtf8 { .. })));
    }

    #[test]
    fn summary_counts_bytes() {
        let csv = b"a\n1\n2\n";
        let (d, s) = load(csv).unwrap();
        assert_eq!(s.csv_bytes, csv.len() as u64);
        assert_eq!(s.json_bytes, d.json_bytes() as u64);
        assert_eq!(d.json_bytes(), br#"{"a":1}{"a":2}"#.len());
    }

    /// A reader that returns one byte at a time, so the BOM and every record straddle reads.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn streaming_reads_of_any_size_give_the_same_result() {
        let csv = b"\xEF\xBB\xBFid,memo\r\n1,\"a,b\"\r\n2,\"x\ny\"\r\n";
        let (whole, _) = load(csv).unwrap();
        let (trickled, _) = load_csv(Trickle(csv), "t", None).unwrap();
        assert_eq!(whole.iter().collect::<Vec<_>>(), trickled.iter().collect::<Vec<_>>());
        assert_eq!(whole.get(0), br#"{"id":1,"memo":"a,b"}"#);
    }

    #[test]
    fn read_errors_are_retryable_and_name_the_source() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer"))
            }
        }
        let e = load_csv(Broken, "s3://b/k", None).unwrap_err();
        assert!(e.is_read_error(), "{e}");
        assert!(e.to_string().contains("s3://b/k"));
    }

    #[test]
    fn malformed_data_is_not_a_read_error() {
        let e = load(b"a,\xff\n1,2\n").unwrap_err();
        assert!(!e.is_read_error(), "retrying cannot fix {e}");
        assert!(!load(b"").unwrap_err().is_read_error());
    }

    #[test]
    fn emptiness_and_memory_are_what_the_records_hold() {
        assert!(Dataset::default().is_empty());
        let (d, _) = load(b"a\n1\n").unwrap();
        assert!(!d.is_empty());
        let c = Collected { buf: Vec::with_capacity(100), ends: Vec::with_capacity(10), seen: 0 };
        let d = Dataset::from_collected(c);
        assert_eq!(d.allocated_bytes(), 100 + 10 * std::mem::size_of::<usize>());
    }

    /// The reservation covers the JSON of the transactions shape (one
    /// allocation, no doubling copy) without reserving wildly more.
    #[test]
    fn the_json_estimate_covers_the_sample_without_overreaching() {
        let csv = crate::dataset::source::BUNDLED_SAMPLE;
        let (d, _) = load(csv).unwrap();
        let estimate = csv_json_estimate(csv.len() as u64);
        assert!(estimate >= d.json_bytes(), "{estimate} < {}", d.json_bytes());
        assert!(estimate <= 3 * csv.len(), "{estimate} reserves more than 3x the CSV");
    }

    #[test]
    fn a_file_of_blank_lines_is_empty_and_an_unnamed_column_is_kept() {
        assert!(matches!(load(b"\n\n"), Err(DatasetError::Empty { .. })));
        assert_eq!(records(b",b\n1,2\n")[0], json!({"":1,"b":2}));
    }

    #[test]
    fn a_first_read_shorter_than_a_bom_is_not_taken_for_one() {
        // One byte at a time: the first bytes are neither dropped nor a BOM.
        let (d, _) = load_csv(Trickle(b"ab\n1\n"), "t", None).unwrap();
        assert_eq!(d.get(0), br#"{"ab":1}"#);
        // A truncated BOM and nothing else is an empty file, not a read error.
        let e = load_csv(Trickle(b"\xEF\xBB"), "t", None).unwrap_err();
        assert!(matches!(e, DatasetError::Empty { .. }), "{e}");
    }
}
