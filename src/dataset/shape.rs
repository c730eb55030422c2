//! What the records were seen to hold, field by field: the [`Shape`] each
//! schema derivation (Avro, JSON Schema, Protobuf) reads. The JSON Lines
//! reader notes it while it validates each line ([`RecordSeed`]), so a
//! derivation over every record loaded reads none again.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// What a Parquet column's JSON values are, beyond their JSON kind
/// ([`crate::dataset::parquet`] writes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logical {
    /// `"2024-01-31T12:00:00.123Z"`: seconds or milliseconds in the file.
    TimestampMillis,
    /// `"2024-01-31T12:00:00.123456Z"`.
    TimestampMicros,
    /// `"2024-01-31T12:00:00.123456789Z"`.
    TimestampNanos,
    /// `"2024-01-31"`.
    Date,
    /// A number with exactly `scale` decimals, at most `precision` digits.
    Decimal { precision: u8, scale: u8 },
}

/// What a field was seen to hold.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shape {
    pub(crate) null: bool,
    pub(crate) boolean: bool,
    pub(crate) long: bool,
    pub(crate) double: bool,
    pub(crate) string: bool,
    pub(crate) object: Option<Box<Fields>>,
    /// The items' shape; `Some` once an array was seen.
    pub(crate) array: Option<Box<Shape>>,
    /// Objects holding the field (a field missing from some is nullable).
    pub(crate) present: u64,
    /// A Parquet column's logical type (top-level fields only).
    pub(crate) logical: Option<Logical>,
}

/// The members of the objects seen at one place, in order of first appearance.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields {
    pub(crate) members: Vec<(String, Shape)>,
    pub(crate) objects: u64,
}

/// Notes what one JSON value holds in a [`Shape`], reading it in document
/// order without building it.
pub(crate) struct Observe<'a>(&'a mut Shape);

impl Shape {
    /// Adds what `other` saw.
    fn merge(&mut self, other: &Shape) {
        self.null |= other.null;
        self.boolean |= other.boolean;
        self.long |= other.long;
        self.double |= other.double;
        self.string |= other.string;
        self.present += other.present;
        if let Some(o) = &other.object {
            self.object.get_or_insert_with(Default::default).merge(o);
        }
        if let Some(items) = &other.array {
            self.array.get_or_insert_with(Default::default).merge(items);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Observe<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Observe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.null = true;
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.0.boolean = true;
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.0.long = true;
        Ok(())
    }

    fn visit_u64<E>(self, n: u64) -> Result<(), E> {
        // Beyond i64 no Avro long holds it.
        if i64::try_from(n).is_ok() {
            self.0.long = true;
        } else {
            self.0.double = true;
        }
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.0.double = true;
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.0.string = true;
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        RecordSeed(self.0.object.get_or_insert_with(Default::default)).visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let items = self.0.array.get_or_insert_with(Default::default);
        while seq.next_element_seed(Observe(items))?.is_some() {
            items.present += 1;
        }
        Ok(())
    }
}

/// Reads one JSON object, noting its members in [`Fields`] (as
/// [`Fields::observe_record`] would from its compact text): the JSON Lines
/// reader's validation. A value that is not JSON fails part-way, with some
/// members already noted: the caller then drops these fields.
pub(crate) struct RecordSeed<'a>(pub(crate) &'a mut Fields);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fields = self.0;
        fields.objects += 1;
        // Objects mostly list their members in one order: the one after the
        // last is tried first, so a member is found with one comparison.
        let mut next = 0;
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            let i = match fields.members.get(next) {
                Some((n, _)) if *n == name => next,
                _ => fields.index(name),
            };
            next = i + 1;
            let shape = &mut fields.members[i].1;
            shape.present += 1;
            map.next_value_seed(Observe(shape))?;
        }
        Ok(())
    }
}

/// A member's name, borrowed from the input when it holds no escape (serde's
/// `Cow<str>` would copy every one).
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(name)))
    }

    fn visit_str<E>(self, name: &str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(name.to_owned())))
    }
}

impl Fields {
    /// The shape of member `name`, added (last) when new.
    fn member(&mut self, name: Cow<'_, str>) -> &mut Shape {
        let i = self.index(name);
        &mut self.members[i].1
    }

    /// Where member `name` is, added (last) when new.
    fn index(&mut self, name: Cow<'_, str>) -> usize {
        match self.members.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.members.push((name.into_owned(), Shape::default()));
                self.members.len() - 1
            }
        }
    }

    /// Adds what `other` saw (records after these: a member new there comes after these ones).
    pub(crate) fn merge(&mut self, other: &Fields) {
        self.objects += other.objects;
        for (name, shape) in &other.members {
            self.member(Cow::Borrowed(name)).merge(shape);
        }
    }

    /// One record's top-level members, read by the readers' own compact-JSON
    /// scanner (a few times faster than a JSON parser); only nested values are
    /// parsed.
    pub(crate) fn observe_record(&mut self, record: &[u8]) {
        self.objects += 1;
        crate::dataset::columns::members(record, |key, value| {
            let plain = &key[1..key.len() - 1];
            let found = match key.contains(&b'\\') {
                false => self.members.iter().position(|(n, _)| n.as_bytes() == plain),
                true => None,
            };
            let i = match found {
                Some(i) => i,
                None => {
                    let Ok(name) = serde_json::from_slice::<String>(key) else { return };
                    match self.members.iter().position(|(n, _)| *n == name) {
                        Some(i) => i,
                        None => {
                            self.members.push((name, Shape::default()));
                            self.members.len() - 1
                        }
                    }
                }
            };
            let shape = &mut self.members[i].1;
            shape.present += 1;
            match value.first() {
                Some(b'"') => shape.string = true,
                Some(b't' | b'f') => shape.boolean = true,
                Some(b'n') => shape.null = true,
                Some(b'{' | b'[') => {
                    let _ = Observe(shape).deserialize(&mut serde_json::Deserializer::from_slice(value));
                }
                // `-0` is a double, as serde_json reads it (and so [`RecordSeed`] and nested values).
                _ => match std::str::from_utf8(value).ok().filter(|&v| v != "-0").and_then(|v| v.parse::<i64>().ok()) {
                    Some(_) => shape.long = true,
                    None => shape.double = true,
                },
            }
        });
    }
}

#[cfg(test)]
mod tests;
