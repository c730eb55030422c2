//! One type per CSV column. A CSV cell is typed on its own as it is read
//! (number, boolean, null or string), but a typed consumer (a Flink or Spark
//! job with declared columns, an Avro schema) needs a column to keep one type
//! from message to message: `zip` may not be the string `"02134"` in one
//! message and the number `10001` in the next. So once every record is loaded,
//! each CSV column is typed over the records that were *kept*: a number only if
//! every non-empty cell is one, a boolean likewise, otherwise every cell of it
//! is a string (the cell's text, quoted).
//!
//! Records are serialized once, at load, into one buffer, before the column's
//! last cell is seen. The CSV reader counts each column's cell kinds as it
//! writes rows ([`ColumnKinds`]); when no column mixes kinds (the usual case)
//! nothing more is done. When every record is kept, a column is known to be
//! text as soon as it mixes kinds, so from that row on the reader writes its
//! numbers and booleans quoted already; only the cells written before are
//! left. Those are quoted once loading is done, in place: the buffer grows by
//! two bytes per such cell, the records after the last of them move up in one
//! copy, and the ones before are rewritten from the last down, so no bytes are
//! overwritten before they are moved and no second buffer is needed. The
//! growth is checked against the memory guard first.
//!
//! When keeping every record of CSV objects only, the counts are exact. A
//! sample (`DATASET_MAX_RECORDS`) has written records it later dropped, and a
//! prefix mixing CSV with JSON Lines or Parquet has records the CSV counts do
//! not see, so then the suspect columns are counted again over the kept
//! records before anything is rewritten: a column is typed over what is sent.
//! In a mixed prefix a CSV column is typed over every kept record that has a
//! member of that name, whatever its format, so the topic has one type per
//! field.

use std::ops::Range;

/// How many non-empty cells of each kind a column has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    pub numbers: u64,
    pub booleans: u64,
    /// Text, and (in a mixed prefix) nested objects and arrays.
    pub strings: u64,
    pub nulls: u64,
    /// Numbers that are no 64-bit whole number (a fraction, or too long):
    /// an Avro `double` rather than a `long`.
    pub fractions: u64,
    /// Numbers and booleans written without quotes (the others were written
    /// quoted, the column already known to be text).
    pub bare: u64,
    /// Where in the buffer the reader started quoting this column's numbers
    /// and booleans: no record starting there or later has a bare one.
    /// `usize::MAX` if it never did.
    pub quoted_from: usize,
}

impl Default for Kinds {
    fn default() -> Self {
        Kinds { numbers: 0, booleans: 0, strings: 0, nulls: 0, fractions: 0, bare: 0, quoted_from: usize::MAX }
    }
}

impl Kinds {
    /// True when the column holds more than one kind of non-empty value: it is
    /// then a string column and its numbers and booleans are widened.
    pub fn is_mixed(&self) -> bool {
        let kinds = u8::from(self.numbers > 0) + u8::from(self.booleans > 0) + u8::from(self.strings > 0);
        kinds > 1
    }

    /// The cells that a widening still has to quote.
    pub fn widened_cells(&self) -> u64 {
        if self.is_mixed() {
            self.bare
        } else {
            0
        }
    }

    fn add(&mut self, o: &Kinds) {
        self.numbers += o.numbers;
        self.booleans += o.booleans;
        self.strings += o.strings;
        self.nulls += o.nulls;
        self.fractions += o.fractions;
        self.bare += o.bare;
        // An object that never quoted the column left bare cells anywhere.
        self.quoted_from = self.quoted_from.max(o.quoted_from);
    }

    fn count(&mut self, value: &[u8]) {
        match value.first() {
            Some(b'"' | b'{' | b'[') => self.strings += 1,
            Some(b'n') | None => self.nulls += 1,
            Some(b't' | b'f') => {
                self.booleans += 1;
                self.bare += 1;
            }
            Some(_) => {
                self.numbers += 1;
                self.fractions += u64::from(!is_whole(value));
                self.bare += 1;
            }
        }
    }

    /// The cells of this column, null or not: fewer than the records when
    /// some objects of a prefix have no such column.
    pub fn cells(&self) -> u64 {
        self.numbers + self.booleans + self.strings + self.nulls
    }
}

/// Whether a JSON number (as the CSV reader checks them: no exponent) is a
/// whole number that fits 64 bits.
pub fn is_whole(number: &[u8]) -> bool {
    !number.contains(&b'.')
        && (number.len() <= 18 || std::str::from_utf8(number).is_ok_and(|n| n.parse::<i64>().is_ok()))
}

/// Each CSV column's kinds, by name: the serialized key (`"zip"`, quotes and
/// escapes as the reader writes it) and its counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnKinds {
    pub columns: Vec<(Vec<u8>, Kinds)>,
}

impl ColumnKinds {
    /// Adds another object's counts; columns are matched by name.
    pub fn merge(&mut self, other: &ColumnKinds) {
        for (key, kinds) in &other.columns {
            match self.columns.iter_mut().find(|(k, _)| k == key) {
                Some((_, mine)) => mine.add(kinds),
                None => self.columns.push((key.clone(), *kinds)),
            }
        }
    }

    fn mixed(&self) -> impl Iterator<Item = &(Vec<u8>, Kinds)> {
        self.columns.iter().filter(|(_, k)| k.is_mixed())
    }
}

/// A column whose cells are all sent as strings because its kept cells mixed
/// kinds, for the load's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widened {
    pub column: String,
    pub kinds: Kinds,
}

/// How the CSV counts relate to the kept records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Every record was kept and every object was CSV: the counts are exact.
    Exact,
    /// A sample of CSV objects: the counts include rows written and later
    /// dropped, so a column they call mixed is counted again over the kept ones.
    Sample,
    /// A prefix mixing CSV with other formats: every CSV column is counted
    /// again over every kept record.
    MixedFormats,
}

/// Types the CSV columns of the kept records (`buf`, `ends` as the collector
/// holds them). Returns the widened columns, or the growth in bytes that the
/// memory guard `room` (bytes the buffer may grow by) does not allow.
pub fn unify(
    buf: &mut Vec<u8>,
    ends: &mut [usize],
    counts: &ColumnKinds,
    counted: Counted,
    room: usize,
) -> Result<Vec<Widened>, usize> {
    let recounted;
    let exact = match counted {
        Counted::Exact => counts,
        Counted::Sample | Counted::MixedFormats => {
            // Only a column that mixed kinds among the rows written can mix
            // among the rows kept; with other formats in, any CSV column can.
            let suspects: Vec<&[u8]> = counts
                .columns
                .iter()
                .filter(|(_, k)| counted == Counted::MixedFormats || k.is_mixed())
                .map(|(key, _)| key.as_slice())
                .collect();
            if suspects.is_empty() {
                return Ok(Vec::new());
            }
            recounted = recount(buf, ends, &suspects);
            &recounted
        }
    };
    let widened: Vec<&(Vec<u8>, Kinds)> = exact.mixed().collect();
    if widened.is_empty() {
        return Ok(Vec::new());
    }
    let growth = 2 * widened.iter().map(|(_, k)| k.widened_cells()).sum::<u64>() as usize;
    if growth > room {
        return Err(growth);
    }
    let keys: Vec<&[u8]> = widened.iter().map(|(k, _)| k.as_slice()).collect();
    let quoted_from = widened.iter().map(|(_, k)| k.quoted_from).max().unwrap_or(usize::MAX);
    quote_cells(buf, ends, &keys, growth, quoted_from);
    Ok(widened
        .iter()
        .map(|(key, kinds)| Widened {
            column: serde_json::from_slice(key).unwrap_or_else(|_| String::from_utf8_lossy(key).into_owned()),
            kinds: *kinds,
        })
        .collect())
}

/// Counts the kinds of the `keys` members over every kept record.
fn recount(buf: &[u8], ends: &[usize], keys: &[&[u8]]) -> ColumnKinds {
    let mut kinds = vec![Kinds::default(); keys.len()];
    let mut start = 0;
    for &end in ends {
        members(&buf[start..end], |key, value| {
            if let Some(i) = keys.iter().position(|k| *k == key) {
                kinds[i].count(value);
            }
        });
        start = end;
    }
    ColumnKinds { columns: keys.iter().map(|k| k.to_vec()).zip(kinds).collect() }
}

/// Puts quotes around every bare number and boolean of the `keys` members:
/// grows `buf` by `growth` (two bytes per such cell, counted before) and moves
/// each record up to its new place. Records starting at `quoted_from` or later
/// have no such cell and move in one copy; the others are rewritten from the
/// last down, so bytes not yet moved are never overwritten.
fn quote_cells(buf: &mut Vec<u8>, ends: &mut [usize], keys: &[&[u8]], growth: usize, quoted_from: usize) {
    let len = buf.len();
    // Exactly: a doubling here would reserve what the memory guard did not allow.
    buf.reserve_exact(growth);
    buf.resize(len + growth, 0);
    // The records starting before `quoted_from`: record i starts where i - 1 ends.
    let settled = match quoted_from {
        0 => 0,
        q => (ends.partition_point(|&end| end < q) + 1).min(ends.len()),
    };
    let settled_start = if settled == 0 { 0 } else { ends[settled - 1] };
    buf.copy_within(settled_start..len, settled_start + growth);
    ends[settled..].iter_mut().for_each(|e| *e += growth);
    // `shift`: how far record `i` ends up from where it is = the growth of records 0..=i.
    let mut shift = growth;
    let mut cells: Vec<Range<usize>> = Vec::new();
    for i in (0..settled).rev() {
        if shift == 0 {
            break; // no record before this one has a cell to quote
        }
        let start = if i == 0 { 0 } else { ends[i - 1] };
        let end = ends[i];
        cells.clear();
        let base = buf[start..end].as_ptr() as usize;
        members(&buf[start..end], |key, value| {
            let quoted = matches!(value.first(), Some(b'"' | b'{' | b'[' | b'n') | None);
            if !quoted && keys.contains(&key) {
                let at = start + (value.as_ptr() as usize - base);
                cells.push(at..at + value.len());
            }
        });
        let mut src_end = end;
        let mut dst = end + shift;
        for c in cells.iter().rev() {
            let tail = c.end..src_end;
            dst -= tail.len();
            buf.copy_within(tail, dst);
            dst -= 1;
            buf[dst] = b'"';
            dst -= c.len();
            buf.copy_within(c.clone(), dst);
            dst -= 1;
            buf[dst] = b'"';
            src_end = c.start;
        }
        dst -= src_end - start;
        buf.copy_within(start..src_end, dst);
        ends[i] = end + shift;
        shift -= 2 * cells.len();
        debug_assert_eq!(dst, start + shift, "record {i} moved to where the records before it end");
    }
    assert_eq!(shift, 0, "the widened cells were counted before the rewrite");
}

/// Calls `f(key, value)` for each top-level member of a JSON object written
/// without whitespace (as every reader writes records): `key` with its quotes
/// as written, `value` the raw value. Stops early on anything else; records
/// are the readers' own output, so that does not happen.
pub(crate) fn members<'a>(record: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8])) {
    let mut i = 1;
    if record.first() != Some(&b'{') || record.get(i) == Some(&b'}') {
        return;
    }
    while i < record.len() {
        let Some(key_end) = skip_string(record, i) else { return };
        if record.get(key_end) != Some(&b':') {
            return;
        }
        let Some(value_end) = skip_value(record, key_end + 1) else { return };
        f(&record[i..key_end], &record[key_end + 1..value_end]);
        match record.get(value_end) {
            Some(b',') => i = value_end + 1,
            _ => return,
        }
    }
}

/// Where the string starting (with its quote) at `i` ends, after its closing quote.
fn skip_string(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        // A word at a time to the next quote or backslash.
        j += memchr::memchr2(b'"', b'\\', s.get(j..)?)?;
        match s[j] {
            b'"' => return Some(j + 1),
            _ => j += 2,
        }
    }
}

/// Where the value starting at `i` ends.
pub(crate) fn skip_value(s: &[u8], i: usize) -> Option<usize> {
    match s.get(i)? {
        b'"' => skip_string(s, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match s.get(j)? {
                    b'"' => {
                        j = skip_string(s, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => Some(i + s[i..].iter().position(|&b| b == b',' || b == b'}' || b == b']')?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts as a reader that quoted nothing leaves them.
    fn kinds(numbers: u64, booleans: u64, strings: u64) -> Kinds {
        Kinds { numbers, booleans, strings, bare: numbers + booleans, ..Kinds::default() }
    }

    fn records(rs: &[&str]) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        for r in rs {
            buf.extend_from_slice(r.as_bytes());
            ends.push(buf.len());
        }
        (buf, ends)
    }

    fn split(buf: &[u8], ends: &[usize]) -> Vec<String> {
        let mut start = 0;
        ends.iter()
            .map(|&e| {
                let r = String::from_utf8(buf[start..e].to_vec()).unwrap();
                start = e;
                r
            })
            .collect()
    }

    fn counts(cols: &[(&str, Kinds)]) -> ColumnKinds {
        ColumnKinds { columns: cols.iter().map(|(n, k)| (serde_json::to_vec(n).unwrap(), *k)).collect() }
    }

    #[test]
    fn a_column_is_mixed_only_with_two_kinds_of_non_empty_cells() {
        assert!(!kinds(5, 0, 0).is_mixed());
        assert!(!Kinds { nulls: 9, ..kinds(0, 3, 0) }.is_mixed());
        assert_eq!(Kinds { bare: 1, ..kinds(3, 0, 1) }.widened_cells(), 1, "the reader quoted the others");
        assert!(kinds(1, 0, 1).is_mixed());
        assert!(kinds(1, 1, 0).is_mixed(), "numbers and booleans make a string column too");
        assert_eq!(kinds(3, 2, 1).widened_cells(), 5);
        assert_eq!(kinds(3, 0, 0).widened_cells(), 0);
    }

    #[test]
    fn every_number_and_boolean_of_a_mixed_column_is_quoted_in_place() {
        let (mut buf, mut ends) = records(&[
            r#"{"zip":10001,"n":1,"f":true}"#,
            r#"{"zip":"02134","n":2,"f":"x"}"#,
            r#"{"zip":null,"n":3,"f":false}"#,
            r#"{"zip":94105,"n":4,"f":null}"#,
        ]);
        let c = counts(&[("zip", kinds(2, 0, 1)), ("n", kinds(4, 0, 0)), ("f", kinds(0, 2, 1))]);
        let w = unify(&mut buf, &mut ends, &c, Counted::Exact, 100).unwrap();
        assert_eq!(
            split(&buf, &ends),
            [
                r#"{"zip":"10001","n":1,"f":"true"}"#,
                r#"{"zip":"02134","n":2,"f":"x"}"#,
                r#"{"zip":null,"n":3,"f":"false"}"#,
                r#"{"zip":"94105","n":4,"f":null}"#,
            ]
        );
        assert_eq!(buf.len(), *ends.last().unwrap());
        let names: Vec<&str> = w.iter().map(|w| w.column.as_str()).collect();
        assert_eq!(names, ["zip", "f"]);
    }

    /// Records from where the reader began quoting move in one copy; only the
    /// ones before are rewritten.
    #[test]
    fn records_the_reader_quoted_already_only_move() {
        let rs = [r#"{"zip":10001,"b":true}"#, r#"{"zip":"02134","b":false}"#, r#"{"zip":"94105","b":true}"#];
        let (mut buf, mut ends) = records(&rs);
        let zip = Kinds { bare: 1, quoted_from: ends[0], ..kinds(2, 0, 1) };
        let c = ColumnKinds { columns: vec![(br#""zip""#.to_vec(), zip), (br#""b""#.to_vec(), kinds(0, 3, 0))] };
        unify(&mut buf, &mut ends, &c, Counted::Exact, 100).unwrap();
        assert_eq!(
            split(&buf, &ends),
            [r#"{"zip":"10001","b":true}"#, r#"{"zip":"02134","b":false}"#, r#"{"zip":"94105","b":true}"#]
        );
        assert_eq!(buf.len(), *ends.last().unwrap());
        // From the very first record: only a move of zero bytes is left.
        let (mut buf, mut ends) = records(&rs[1..]);
        let before = buf.clone();
        let zip = Kinds { bare: 0, quoted_from: 0, ..kinds(1, 0, 1) };
        unify(&mut buf, &mut ends, &ColumnKinds { columns: vec![(br#""zip""#.to_vec(), zip)] }, Counted::Exact, 0)
            .unwrap();
        assert_eq!(buf, before);
    }

    #[test]
    fn nothing_mixed_is_nothing_done() {
        let (mut buf, mut ends) = records(&[r#"{"a":1}"#, r#"{"a":"x"}"#]);
        let before = buf.clone();
        // Counts that see no mix leave the buffer alone (they are exact when keeping all).
        let w = unify(&mut buf, &mut ends, &counts(&[("a", kinds(1, 0, 0))]), Counted::Exact, 100).unwrap();
        assert!(w.is_empty());
        assert_eq!(buf, before);
    }

    #[test]
    fn a_sample_is_typed_over_the_records_kept_not_those_written() {
        // The rows written mixed kinds, but the string row was dropped from the sample.
        let (mut buf, mut ends) = records(&[r#"{"zip":10001}"#, r#"{"zip":94105}"#]);
        let before = buf.clone();
        let w = unify(&mut buf, &mut ends, &counts(&[("zip", kinds(3, 0, 1))]), Counted::Sample, 100).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(buf, before);
        // Kept, it widens the rest.
        let (mut buf, mut ends) = records(&[r#"{"zip":10001}"#, r#"{"zip":"02134"}"#]);
        let w = unify(&mut buf, &mut ends, &counts(&[("zip", kinds(3, 0, 1))]), Counted::Sample, 100).unwrap();
        assert_eq!(w, [Widened { column: "zip".into(), kinds: kinds(1, 0, 1) }]);
        assert_eq!(split(&buf, &ends), [r#"{"zip":"10001"}"#, r#"{"zip":"02134"}"#]);
    }

    #[test]
    fn a_mixed_prefix_types_a_csv_column_over_every_format() {
        // CSV rows counted only numbers; a JSON Lines record has text there.
        let (mut buf, mut ends) =
            records(&[r#"{"zip":10001,"x":{"zip":1}}"#, r#"{"a":[1,"]"],"zip":"02134"}"#, r#"{"zip":7}"#]);
        let w = unify(&mut buf, &mut ends, &counts(&[("zip", kinds(2, 0, 0))]), Counted::MixedFormats, 100).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(
            split(&buf, &ends),
            [r#"{"zip":"10001","x":{"zip":1}}"#, r#"{"a":[1,"]"],"zip":"02134"}"#, r#"{"zip":"7"}"#]
        );
    }

    #[test]
    fn the_growth_is_refused_beyond_the_room_left() {
        let (mut buf, mut ends) = records(&[r#"{"a":1}"#, r#"{"a":"x"}"#, r#"{"a":2}"#]);
        let before = buf.clone();
        let c = counts(&[("a", kinds(2, 0, 1))]);
        assert_eq!(unify(&mut buf, &mut ends, &c, Counted::Exact, 3), Err(4));
        assert_eq!(buf, before, "nothing rewritten");
        assert!(unify(&mut buf, &mut ends, &c, Counted::Exact, 4).is_ok());
    }

    #[test]
    fn keys_and_strings_with_escapes_are_read_right() {
        let (mut buf, mut ends) = records(&[r#"{"q\"":"a\\","z\\":1,"k":"\"}"}"#, r#"{"z\\":"x","q\"":2}"#]);
        let c = ColumnKinds { columns: vec![(br#""z\\""#.to_vec(), kinds(1, 0, 1))] };
        unify(&mut buf, &mut ends, &c, Counted::Exact, 100).unwrap();
        assert_eq!(split(&buf, &ends), [r#"{"q\"":"a\\","z\\":"1","k":"\"}"}"#, r#"{"z\\":"x","q\"":2}"#]);
    }

    #[test]
    fn merging_adds_counts_by_name() {
        let mut a = counts(&[("x", kinds(1, 0, 0)), ("y", kinds(0, 1, 0))]);
        a.merge(&counts(&[("y", kinds(0, 2, 0)), ("z", kinds(0, 0, 1))]));
        assert_eq!(a, counts(&[("x", kinds(1, 0, 0)), ("y", kinds(0, 3, 0)), ("z", kinds(0, 0, 1))]));
    }
}
