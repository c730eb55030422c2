//! What the records were seen to hold, field by field: the [`Shape`] each
//! derivation (Avro, JSON Schema, Protobuf) reads.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::dataset::records::Logical;

/// What a field was seen to hold.
#[derive(Debug, Default, Clone)]
pub(super) struct Shape {
    pub(super) null: bool,
    pub(super) boolean: bool,
    pub(super) long: bool,
    pub(super) double: bool,
    pub(super) string: bool,
    pub(super) object: Option<Box<Fields>>,
    /// The items' shape; `Some` once an array was seen.
    pub(super) array: Option<Box<Shape>>,
    /// Objects holding the field (a field missing from some is nullable).
    pub(super) present: u64,
    /// A Parquet column's logical type (top-level fields only).
    pub(super) logical: Option<Logical>,
}

/// The members of the objects seen at one place, in order of first appearance.
#[derive(Debug, Default, Clone)]
pub(super) struct Fields {
    pub(super) members: Vec<(String, Shape)>,
    pub(super) objects: u64,
}

/// Notes what one JSON value holds in a [`Shape`], reading it in document
/// order without building it.
pub(super) struct Observe<'a>(&'a mut Shape);

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

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fields = self.0.object.get_or_insert_with(Default::default);
        fields.objects += 1;
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let i = match fields.members.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None => {
                    fields.members.push((name.into_owned(), Shape::default()));
                    fields.members.len() - 1
                }
            };
            let shape = &mut fields.members[i].1;
            shape.present += 1;
            map.next_value_seed(Observe(shape))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let items = self.0.array.get_or_insert_with(Default::default);
        while seq.next_element_seed(Observe(items))?.is_some() {
            items.present += 1;
        }
        Ok(())
    }
}

impl Fields {
    /// One record's top-level members, read by the readers' own compact-JSON
    /// scanner (a few times faster than a JSON parser); only nested values are
    /// parsed.
    pub(super) fn observe_record(&mut self, record: &[u8]) {
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
                _ => match std::str::from_utf8(value).ok().and_then(|v| v.parse::<i64>().ok()) {
                    Some(_) => shape.long = true,
                    None => shape.double = true,
                },
            }
        });
    }
}
