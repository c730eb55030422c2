//! Where, in each record's JSON bytes, sit the values that every message
//! replaces, and what each record's key is: found once, after loading, so a
//! message is assembled from slices without parsing the record again.
//!
//! The scan uses serde_json (so any valid JSON object is read correctly,
//! whitespace and escapes included) with a visitor that borrows: each value the
//! scan cares about comes back as a `RawValue` pointing into the record, and
//! its offset is where it sits. Other values are skipped.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::records::Records;

/// A replaced value's place in its record: `start..end` are byte offsets; an
/// absent field has `start == ABSENT` and is appended before the closing brace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub end: u32,
    /// Which of the replaced fields (its position in `MESSAGE_FIELDS`).
    pub field: u32,
}

pub(crate) const ABSENT: u32 = u32::MAX;

/// A record's key, when `MESSAGE_KEY_FIELD` names a column that is not
/// generated: its text sits in the record (a string with no escapes, or a
/// number, boolean or nested value as written), or, for the rare string with
/// escapes, in `RecordIndex::key_text` unescaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySpan {
    None,
    InRecord(u32, u32),
    Unescaped(u32, u32),
}

/// The positions for every record of one dataset.
#[derive(Debug, Default)]
pub struct RecordIndex {
    /// How many fields each record has a span for (`MESSAGE_FIELDS`' length).
    per_record: usize,
    /// `per_record` spans per record, present ones in byte order, absent ones last.
    spans: Vec<Span>,
    /// One per record when the key comes from the dataset; empty otherwise.
    keys: Vec<KeySpan>,
    key_text: Vec<u8>,
    /// How many records hold each replaced field (the rest get it appended).
    present: Vec<u64>,
    /// How many records hold the key field with a non-null value.
    keyed: u64,
}

/// Why a dataset cannot be indexed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("record {record} is not a JSON object: {cause}")]
    NotAnObject {
        record: usize,
        #[source]
        cause: serde_json::Error,
    },
    #[error("record {record} is {len} bytes; at most 4 GiB is supported")]
    TooLarge { record: usize, len: usize },
    /// Checked right after loading: exit 2, like any invalid setting.
    #[error("MESSAGE_KEY_FIELD={field:?} is invalid: no record has this field; expected a column of the dataset ({}) or a field set by MESSAGE_FIELDS", columns.join(", "))]
    UnknownColumn { field: String, columns: Vec<String> },
}

impl RecordIndex {
    /// Indexes `dataset` for the replaced `fields` and the `key` column (`None`
    /// when there is no key or it is one of `fields`, hence generated). A key
    /// column that no record has is an error listing the columns there are.
    pub fn build<R: Records + ?Sized>(dataset: &R, fields: &[&str], key: Option<&str>) -> Result<Self, IndexError> {
        let mut names: Vec<&str> = fields.to_vec();
        let key_slot = key.map(|k| {
            names.push(k);
            names.len() - 1
        });
        let mut index = RecordIndex {
            per_record: fields.len(),
            spans: Vec::with_capacity(dataset.count() * fields.len()),
            keys: Vec::with_capacity(if key.is_some() { dataset.count() } else { 0 }),
            present: vec![0; fields.len()],
            ..RecordIndex::default()
        };
        if names.is_empty() {
            return Ok(index);
        }
        let mut found: Vec<Option<(u32, u32)>> = vec![None; names.len()];
        let mut key_seen = false;
        for r in 0..dataset.count() {
            let record = dataset.record(r);
            if u32::try_from(record.len()).is_err() {
                return Err(IndexError::TooLarge { record: r, len: record.len() });
            }
            found.iter_mut().for_each(|f| *f = None);
            scan(record, &names, &mut found).map_err(|cause| IndexError::NotAnObject { record: r, cause })?;

            let first = index.spans.len();
            for (field, place) in found[..fields.len()].iter().enumerate() {
                let (start, end) = match place {
                    Some((s, e)) => {
                        index.present[field] += 1;
                        (*s, *e)
                    }
                    None => (ABSENT, ABSENT),
                };
                index.spans.push(Span { start, end, field: field as u32 });
            }
            index.spans[first..].sort_unstable_by_key(|s| s.start);

            if let Some(slot) = key_slot {
                key_seen |= found[slot].is_some();
                let span = match found[slot] {
                    None => KeySpan::None,
                    Some((s, e)) => index.key_span(&record[s as usize..e as usize], s),
                };
                index.keyed += u64::from(span != KeySpan::None);
                index.keys.push(span);
            }
        }
        if let (Some(k), false) = (key, key_seen) {
            return Err(IndexError::UnknownColumn { field: k.to_owned(), columns: columns(dataset) });
        }
        index.spans.shrink_to_fit();
        index.key_text.shrink_to_fit();
        Ok(index)
    }

    /// The key's bytes for a value found at `start` in its record.
    fn key_span(&mut self, raw: &[u8], start: u32) -> KeySpan {
        let end = start + raw.len() as u32;
        match raw.first() {
            Some(b'n') => KeySpan::None, // null: the only value starting with `n`
            Some(b'"') if !raw.contains(&b'\\') => KeySpan::InRecord(start + 1, end - 1),
            Some(b'"') => {
                let text: String = serde_json::from_slice(raw).expect("validated by the scan");
                let at = self.key_text.len() as u32;
                self.key_text.extend_from_slice(text.as_bytes());
                KeySpan::Unescaped(at, self.key_text.len() as u32)
            }
            _ => KeySpan::InRecord(start, end),
        }
    }

    /// Record `i`'s spans, present ones first in byte order.
    #[inline]
    pub(crate) fn spans(&self, i: usize) -> &[Span] {
        &self.spans[i * self.per_record..(i + 1) * self.per_record]
    }

    /// Record `i`'s key, if the key comes from the dataset and the record has one.
    #[inline]
    pub(crate) fn key<'a>(&'a self, record: &'a [u8], i: usize) -> Option<&'a [u8]> {
        match *self.keys.get(i)? {
            KeySpan::None => None,
            KeySpan::InRecord(s, e) => Some(&record[s as usize..e as usize]),
            KeySpan::Unescaped(s, e) => Some(&self.key_text[s as usize..e as usize]),
        }
    }

    /// How many records hold each replaced field; the others get it appended.
    pub fn present(&self) -> &[u64] {
        &self.present
    }

    /// How many records have a non-null key value.
    pub fn keyed(&self) -> u64 {
        self.keyed
    }

    /// Bytes the index costs in memory.
    pub fn allocated_bytes(&self) -> usize {
        self.spans.capacity() * std::mem::size_of::<Span>()
            + self.keys.capacity() * std::mem::size_of::<KeySpan>()
            + self.key_text.capacity()
    }
}

/// Finds the last occurrence of each of `names` among `record`'s top-level
/// members (the one a JSON reader keeps) and stores its value's byte range.
fn scan(record: &[u8], names: &[&str], found: &mut [Option<(u32, u32)>]) -> Result<(), serde_json::Error> {
    let base = record.as_ptr() as usize;
    let mut de = serde_json::Deserializer::from_slice(record);
    de.deserialize_map(Members { names, found, base })?;
    de.end()
}

struct Members<'n, 'f> {
    names: &'n [&'n str],
    found: &'f mut [Option<(u32, u32)>],
    base: usize,
}

impl<'de> Visitor<'de> for Members<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(which) = map.next_key_seed(Name(self.names))? {
            match which {
                Some(slot) => {
                    let raw: &'de RawValue = map.next_value()?;
                    let start = raw.get().as_ptr() as usize - self.base;
                    self.found[slot] = Some((start as u32, (start + raw.get().len()) as u32));
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A member name, compared with the wanted names without allocating (an
/// escaped name is unescaped into serde_json's scratch buffer).
struct Name<'n>(&'n [&'n str]);

impl<'de> DeserializeSeed<'de> for Name<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|n| *n == v))
    }
}

/// The dataset's column names (the union over its records, in first-seen
/// order), for the error that names an unknown one. Error path only.
pub(crate) fn columns<R: Records + ?Sized>(dataset: &R) -> Vec<String> {
    let mut out = Vec::new();
    for r in 0..dataset.count() {
        let mut de = serde_json::Deserializer::from_slice(dataset.record(r));
        let _ = de.deserialize_map(Columns(&mut out));
    }
    out
}

struct Columns<'a>(&'a mut Vec<String>);

impl<'de> Visitor<'de> for Columns<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if !self.0.contains(&name) {
                self.0.push(name);
            }
        }
        Ok(())
    }
}
