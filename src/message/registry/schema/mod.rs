//! The value schema: parsed from `VALUE_SCHEMA` or the registry, or derived
//! from the loaded records when unset.
//!
//! Derivation reads every record once and notes, per field (nested objects
//! and array items too), which kinds of JSON value it holds and in how many
//! objects it appears. A field is then: the one kind it holds (a whole number
//! that fits 64 bits is an Avro `long` / JSON Schema `integer`; any other
//! number a `double` / `number`), a union of the kinds when it mixes them, and
//! nullable when it is ever null or missing. CSV columns hold one kind each
//! already ([`crate::dataset::columns`]), and when every record is a kept CSV
//! row the reader's own counts of each column's cells say the same without
//! reading the records again ([`Observed::of_dataset`]). A Parquet column of a
//! logical type (timestamp, date, decimal) gets that type back. The fields
//! `MESSAGE_FIELDS` sets are typed by their generator: `now_ms()`, `now_s()`
//! and `seq()` long, the others string. Fields keep the order of their first
//! appearance (the records are read with a visitor, not into a map that would
//! sort them). The schema is built as JSON and parsed by `apache-avro`, so a
//! name Avro refuses (a column called `amount usd`) is reported as the parser
//! says.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};

use crate::dataset::columns::ColumnKinds;
use crate::dataset::records::Logical;
use crate::dataset::Dataset;
use crate::message::{Generator, MessageSpec, Records};
use crate::sink::registry::error_chain;

use super::config::ValueFormat;

/// The schema the values are written with.
#[derive(Debug, Clone)]
pub enum ValueSchema {
    Avro {
        schema: apache_avro::Schema,
        /// As registered: the schema's JSON, compact.
        text: String,
        /// The record's full name (the record subject strategies use it).
        name: String,
    },
    Json {
        text: String,
        /// The document's `title` (the record subject strategies use it).
        title: Option<String>,
    },
}

impl ValueSchema {
    pub fn text(&self) -> &str {
        match self {
            ValueSchema::Avro { text, .. } | ValueSchema::Json { text, .. } => text,
        }
    }

    /// The name the record subject strategies use.
    pub fn record_name(&self) -> Option<&str> {
        match self {
            ValueSchema::Avro { name, .. } => Some(name),
            ValueSchema::Json { title, .. } => title.as_deref(),
        }
    }

    /// Parses `text` as `format`'s schema; `origin` names where it came from.
    pub fn parse(format: ValueFormat, text: &str, origin: &str) -> Result<Self, SchemaError> {
        let invalid = |message: String| SchemaError::Invalid { origin: origin.to_owned(), message };
        match format {
            ValueFormat::Avro => {
                let schema = apache_avro::Schema::parse_str(text).map_err(|e| invalid(error_chain(&e)))?;
                let name = match &schema {
                    apache_avro::Schema::Record(r) => r.name.fullname(None),
                    other => {
                        return Err(invalid(format!(
                            "the schema is {}, not a record: each value is one record",
                            schema_kind(other)
                        )))
                    }
                };
                // Registered as given (compacted), docs and all.
                let text = serde_json::from_str::<Value>(text).map_err(|e| invalid(e.to_string()))?.to_string();
                Ok(ValueSchema::Avro { schema, text, name })
            }
            ValueFormat::JsonSchema | ValueFormat::Json => {
                let doc: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
                if !doc.is_object() {
                    return Err(invalid("a JSON Schema document is a JSON object".into()));
                }
                let title = doc.get("title").and_then(Value::as_str).map(str::to_owned);
                Ok(ValueSchema::Json { text: doc.to_string(), title })
            }
        }
    }
}

/// Why no schema could be had. All are configuration errors (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("VALUE_SCHEMA {origin} is not a valid schema: {message}")]
    Invalid { origin: String, message: String },
    #[error("cannot read VALUE_SCHEMA {origin}: {cause}")]
    Unreadable { origin: String, cause: String },
    #[error("the schema derived from the dataset is refused by Avro: {message}; rename the field in the dataset, give a VALUE_SCHEMA, or use VALUE_FORMAT=json-schema")]
    Derived { message: String },
    #[error("the Schema Registry's latest schema of subject {subject} is {found}, and VALUE_FORMAT={format} needs {expected}")]
    WrongType { subject: String, found: String, format: &'static str, expected: &'static str },
}

fn schema_kind(s: &apache_avro::Schema) -> String {
    serde_json::to_string(s).unwrap_or_default().chars().take(60).collect()
}

/// What a field was seen to hold.
#[derive(Debug, Default, Clone)]
struct Shape {
    null: bool,
    boolean: bool,
    long: bool,
    double: bool,
    string: bool,
    object: Option<Box<Fields>>,
    /// The items' shape; `Some` once an array was seen.
    array: Option<Box<Shape>>,
    /// Objects holding the field (a field missing from some is nullable).
    present: u64,
    /// A Parquet column's logical type (top-level fields only).
    logical: Option<Logical>,
}

/// The members of the objects seen at one place, in order of first appearance.
#[derive(Debug, Default, Clone)]
struct Fields {
    members: Vec<(String, Shape)>,
    objects: u64,
}

/// Notes what one JSON value holds in a [`Shape`], reading it in document
/// order without building it.
struct Observe<'a>(&'a mut Shape);

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
    fn observe_record(&mut self, record: &[u8]) {
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

impl Fields {
    fn of_records<R: Records + ?Sized>(records: &R) -> Fields {
        let mut fields = Fields::default();
        for i in 0..records.count() {
            fields.observe_record(records.record(i));
        }
        fields
    }

    /// The top-level fields of `records` CSV rows, from the reader's cell
    /// counts: what [`Fields::observe_record`] finds in them, as a column
    /// that mixed kinds was written as text.
    fn of_columns(csv: &ColumnKinds, records: u64) -> Fields {
        let members = csv
            .columns
            .iter()
            .map(|(key, k)| {
                let name =
                    serde_json::from_slice::<String>(key).unwrap_or_else(|_| String::from_utf8_lossy(key).into());
                let text = k.is_mixed();
                let shape = Shape {
                    null: k.nulls > 0,
                    boolean: !text && k.booleans > 0,
                    long: !text && k.numbers > k.fractions,
                    double: !text && k.fractions > 0,
                    string: k.strings > 0 || text,
                    present: k.cells(),
                    ..Shape::default()
                };
                (name, shape)
            })
            .collect();
        Fields { members, objects: records }
    }
}

impl Shape {
    fn of_generator(g: &Generator) -> Shape {
        let mut s = Shape { present: 1, ..Shape::default() };
        if g.is_number() {
            s.long = true;
        } else {
            s.string = true;
        }
        s
    }

    /// The Avro type; `name` is the record name for an object here.
    fn avro(&self, name: &str, nullable: bool) -> Value {
        let mut kinds: Vec<Value> = Vec::new();
        if nullable || self.null {
            kinds.push(json!("null"));
        }
        if let Some(logical) = self.logical_avro() {
            kinds.push(logical);
        } else {
            if self.boolean {
                kinds.push(json!("boolean"));
            }
            if self.double {
                kinds.push(json!("double"));
            } else if self.long {
                kinds.push(json!("long"));
            }
            if self.string {
                kinds.push(json!("string"));
            }
        }
        if let Some(f) = &self.object {
            kinds.push(f.avro_record(name));
        }
        if let Some(items) = &self.array {
            kinds.push(json!({"type": "array", "items": items.avro(&format!("{name}_item"), false)}));
        }
        match kinds.len() {
            0 => json!("null"),
            1 => kinds.pop().expect("one kind"),
            _ => Value::Array(kinds),
        }
    }

    /// The Avro logical type of a Parquet column, when its values are all of
    /// the one JSON kind that type is written as (and null): a timestamp or
    /// date is text, a decimal a number. Nanosecond timestamps stay text
    /// (not every Avro reader takes `timestamp-nanos`).
    fn logical_avro(&self) -> Option<Value> {
        let containers = self.object.is_some() || self.array.is_some() || self.boolean;
        let text = self.string && !self.long && !self.double && !containers;
        let number = (self.long || self.double) && !self.string && !containers;
        match self.logical? {
            Logical::TimestampMillis if text => Some(json!({"type": "long", "logicalType": "timestamp-millis"})),
            Logical::TimestampMicros if text => Some(json!({"type": "long", "logicalType": "timestamp-micros"})),
            Logical::Date if text => Some(json!({"type": "int", "logicalType": "date"})),
            Logical::Decimal { precision, scale } if number => {
                Some(json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}))
            }
            _ => None,
        }
    }

    fn json_schema(&self, nullable: bool) -> Value {
        let mut types: Vec<&str> = Vec::new();
        let mut out = Map::new();
        match self.logical {
            Some(Logical::TimestampMillis | Logical::TimestampMicros | Logical::TimestampNanos) if self.string => {
                out.insert("format".into(), json!("date-time"));
            }
            Some(Logical::Date) if self.string => {
                out.insert("format".into(), json!("date"));
            }
            _ => {}
        }
        if self.boolean {
            types.push("boolean");
        }
        if self.double {
            types.push("number");
        } else if self.long {
            types.push("integer");
        }
        if self.string {
            types.push("string");
        }
        if let Some(f) = &self.object {
            types.push("object");
            let (properties, required) = f.json_properties();
            out.insert("properties".into(), properties);
            out.insert("required".into(), required);
        }
        if let Some(items) = &self.array {
            types.push("array");
            out.insert("items".into(), items.json_schema(false));
        }
        if nullable || self.null || types.is_empty() {
            types.push("null");
        }
        let ty = if types.len() == 1 { json!(types[0]) } else { json!(types) };
        out.insert("type".into(), ty);
        Value::Object(out)
    }
}

impl Fields {
    fn avro_record(&self, name: &str) -> Value {
        let fields: Vec<Value> = self
            .members
            .iter()
            .map(|(field, shape)| {
                let nullable = shape.present < self.objects;
                let ty = shape.avro(&format!("{name}_{field}"), nullable);
                let mut f = json!({"name": field, "type": ty});
                if ty_starts_with_null(&f["type"]) {
                    f["default"] = Value::Null;
                }
                f
            })
            .collect();
        json!({"type": "record", "name": name, "fields": fields})
    }

    fn json_properties(&self) -> (Value, Value) {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for (field, shape) in &self.members {
            let present = shape.present >= self.objects;
            properties.insert(field.clone(), shape.json_schema(!present));
            if present {
                required.push(json!(field));
            }
        }
        (Value::Object(properties), Value::Array(required))
    }
}

fn ty_starts_with_null(ty: &Value) -> bool {
    match ty {
        Value::String(s) => s == "null",
        Value::Array(kinds) => kinds.first().is_some_and(|k| k == "null"),
        _ => false,
    }
}

/// A name Avro takes for a record derived for `topic`: letters, digits and
/// `_`, not starting with a digit.
pub fn record_name(topic: &str) -> String {
    let mut name: String = topic.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    name
}

/// The namespace of derived Avro records.
pub const NAMESPACE: &str = "kafka_feeder";

/// What the records and `spec` hold, for [`derive`] and the key's schema.
pub struct Observed {
    fields: Fields,
}

impl Observed {
    /// What `dataset` and `spec` hold: from the CSV reader's counts when they
    /// are exact over the records (nothing is read again), else by reading
    /// every record ([`Self::of`]).
    pub fn of_dataset(dataset: &Dataset, spec: &MessageSpec) -> Observed {
        let mut fields = match &dataset.known().csv {
            Some(csv) => Fields::of_columns(csv, dataset.len() as u64),
            None => Fields::of_records(dataset),
        };
        for (name, logical) in &dataset.known().logical {
            if let Some((_, shape)) = fields.members.iter_mut().find(|(n, _)| n == name) {
                shape.logical = Some(*logical);
            }
        }
        Observed::with_generated(fields, spec)
    }

    /// Reads every record (each a JSON object, as every reader writes them)
    /// and the fields `spec` sets on each message.
    pub fn of<R: Records + ?Sized>(records: &R, spec: &MessageSpec) -> Observed {
        Observed::with_generated(Fields::of_records(records), spec)
    }

    fn with_generated(mut fields: Fields, spec: &MessageSpec) -> Observed {
        for a in &spec.fields {
            // Set on every message: the generator's kind, whatever the column held.
            let shape = Shape { present: fields.objects, ..Shape::of_generator(&a.value) };
            match fields.members.iter_mut().find(|(n, _)| *n == a.name) {
                Some((_, s)) => *s = shape,
                None => fields.members.push((a.name.clone(), shape)),
            }
        }
        Observed { fields }
    }

    /// The value schema for `format`, named after `topic`.
    pub fn derive(&self, format: ValueFormat, topic: &str) -> Result<ValueSchema, SchemaError> {
        let name = record_name(topic);
        match format {
            ValueFormat::Avro => {
                let mut record = self.fields.avro_record(&name);
                record["namespace"] = json!(NAMESPACE);
                let text = record.to_string();
                ValueSchema::parse(ValueFormat::Avro, &text, "derived")
                    .map_err(|e| SchemaError::Derived { message: e.to_string() })
            }
            ValueFormat::JsonSchema | ValueFormat::Json => {
                let (properties, required) = self.fields.json_properties();
                let doc = json!({
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "title": name,
                    "type": "object",
                    "properties": properties,
                    "required": required,
                });
                Ok(ValueSchema::Json { text: doc.to_string(), title: Some(name) })
            }
        }
    }

    /// Whether every non-null value of top-level `field` is a whole number
    /// (an Avro key is then a `long`, else a `string`).
    pub fn is_whole_number(&self, field: &str) -> bool {
        self.fields.members.iter().find(|(n, _)| n == field).is_some_and(|(_, s)| {
            s.long && !(s.double || s.boolean || s.string || s.object.is_some() || s.array.is_some())
        })
    }
}

#[cfg(test)]
mod tests;
