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
//! reading the records again ([`Observed::of_dataset`]); the JSON Lines and
//! Parquet readers note the same while loading ([`crate::dataset::shape`]).
//! A Parquet column of a
//! logical type (timestamp, date, decimal) gets that type back. The fields
//! `MESSAGE_FIELDS` sets are typed by their generator: `now_ms()`, `now_s()`
//! and `seq()` long, the others string. Fields keep the order of their first
//! appearance (the records are read with a visitor, not into a map that would
//! sort them). The schema is built as JSON and parsed by `apache-avro`, so a
//! name Avro refuses (a column called `amount usd`) is reported as the parser
//! says.

use serde_json::{json, Map, Value};

use crate::dataset::columns::ColumnKinds;
use crate::dataset::records::Logical;
use crate::dataset::Dataset;
use crate::message::{Generator, MessageSpec, Records};
use crate::sink::registry::error_chain;

use super::config::ValueFormat;
use super::protobuf::{compile_files, ProtoFile, ProtoFiles, FILE};
use crate::dataset::shape::{Fields, Shape};
use crate::sink::registry::Reference;

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
    Protobuf {
        /// The values' message (its full name is what the record subject strategies use).
        message: prost_reflect::MessageDescriptor,
        /// As registered: the `.proto` as given.
        text: String,
        /// The files it imports, directly or not (Google's well-known types
        /// aside), each after those it imports: each is registered under its
        /// import path before the schema.
        imported: Vec<ProtoFile>,
        /// The files it imports itself: the references it is registered with.
        imports: Vec<String>,
        /// The references the registry's version has (with `SCHEMA_AUTO_REGISTER=false`).
        registered: Vec<Reference>,
    },
}

impl ValueSchema {
    pub fn text(&self) -> &str {
        match self {
            ValueSchema::Avro { text, .. } | ValueSchema::Json { text, .. } | ValueSchema::Protobuf { text, .. } => {
                text
            }
        }
    }

    /// The name the record subject strategies use.
    pub fn record_name(&self) -> Option<&str> {
        match self {
            ValueSchema::Avro { name, .. } => Some(name),
            ValueSchema::Json { title, .. } => title.as_deref(),
            ValueSchema::Protobuf { message, .. } => Some(message.full_name()),
        }
    }

    /// Compiles a `.proto` and the files it imports; `registered`: the
    /// references of the registry's version they are.
    pub fn protobuf(
        files: ProtoFiles,
        origin: &str,
        message: Option<&str>,
        registered: Vec<Reference>,
    ) -> Result<Self, SchemaError> {
        let invalid = |message: String| SchemaError::Invalid { origin: origin.to_owned(), message };
        let message = compile_files(&files, message).map_err(invalid)?;
        let ProtoFiles { main, imported } = files;
        Ok(ValueSchema::Protobuf { message, text: main.text, imported, imports: main.imports, registered })
    }

    /// Parses `text` as `format`'s schema; `origin` names where it came from,
    /// `message` the values' message of a `.proto` (`VALUE_SCHEMA_MESSAGE`).
    pub fn parse(format: ValueFormat, text: &str, origin: &str, message: Option<&str>) -> Result<Self, SchemaError> {
        let invalid = |message: String| SchemaError::Invalid { origin: origin.to_owned(), message };
        match format {
            ValueFormat::Protobuf => ValueSchema::protobuf(ProtoFiles::single(FILE, text), origin, message, Vec::new()),
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
    #[error("VALUE_SCHEMA {origin} imports {import}{by}, looked for at {place}: {cause}; imports are read from VALUE_SCHEMA's folder: put the file there")]
    MissingImport { origin: String, import: String, by: String, place: String, cause: String },
    #[error("the Schema Registry's version of subject {subject} imports {import}{by}, and {problem}")]
    UnresolvedReference { subject: String, import: String, by: String, problem: String },
    #[error("the schema derived from the dataset is refused by {format}: {message}; rename the field in the dataset, give a VALUE_SCHEMA, or use VALUE_FORMAT=json-schema")]
    Derived { format: &'static str, message: String },
    #[error("the Schema Registry's latest schema of subject {subject} is {found}, and VALUE_FORMAT={format} needs {expected}")]
    WrongType { subject: String, found: String, format: &'static str, expected: &'static str },
}

fn schema_kind(s: &apache_avro::Schema) -> String {
    serde_json::to_string(s).unwrap_or_default().chars().take(60).collect()
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
    /// What `dataset` and `spec` hold: from the CSV reader's counts, or what
    /// the JSON Lines and Parquet readers noted, when exact over the records
    /// (nothing is read again), else by reading every record ([`Self::of`]).
    pub fn of_dataset(dataset: &Dataset, spec: &MessageSpec) -> Observed {
        let known = dataset.known();
        let mut fields = match (&known.csv, &known.fields) {
            (Some(csv), _) => Fields::of_columns(csv, dataset.len() as u64),
            (None, Some(noted)) => noted.clone(),
            (None, None) => Fields::of_records(dataset),
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
                ValueSchema::parse(ValueFormat::Avro, &text, "derived", None)
                    .map_err(|e| SchemaError::Derived { format: "Avro", message: e.to_string() })
            }
            ValueFormat::Protobuf => {
                let derived = |message: String| SchemaError::Derived { format: "Protobuf", message };
                let text = proto_text(&self.fields, &name, NAMESPACE).map_err(derived)?;
                ValueSchema::parse(ValueFormat::Protobuf, &text, "derived", None).map_err(|e| derived(e.to_string()))
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

/// The proto3 text of the schema derived from what the records hold, the
/// values' message named `name` in package `package`.
///
/// A field ever null or missing is `optional` (explicit presence), not a
/// `google.protobuf.*Value` wrapper: the wrappers need an import the registry
/// must hold as a schema reference, Confluent's deserializers give an unset
/// `optional` field as absent (None in Python, null in its JSON), and Flink's
/// protobuf format and Spark's `from_protobuf` read an unset `optional` scalar
/// as SQL NULL, where a wrapper becomes a nested row `{value}` in Spark.
fn proto_text(fields: &Fields, name: &str, package: &str) -> Result<String, String> {
    let mut out = format!("syntax = \"proto3\";\n\npackage {package};\n\n");
    message_text(fields, name, 0, &mut out)?;
    Ok(out)
}

fn message_text(fields: &Fields, name: &str, depth: usize, out: &mut String) -> Result<(), String> {
    let pad = "  ".repeat(depth);
    out.push_str(&format!("{pad}message {name} {{\n"));
    let mut nested = Vec::new();
    for (number, (field, shape)) in fields.members.iter().enumerate() {
        let nullable = shape.present < fields.objects || shape.null;
        let (repeated, item) = match &shape.array {
            Some(items) if !(shape.boolean || shape.long || shape.double || shape.string || shape.object.is_some()) => {
                (true, &**items)
            }
            _ => (false, shape),
        };
        let ty = match scalar(item) {
            Some(ty) => ty.to_owned(),
            None => match (&item.object, &item.array) {
                (Some(f), None) if !(item.boolean || item.long || item.double || item.string) => {
                    let type_name = camel(field);
                    nested.push((f, type_name.clone()));
                    type_name
                }
                (None, Some(_)) if repeated => return Err(format!("field {field} holds arrays of arrays, which Protobuf has no type for")),
                _ => return Err(format!("field {field} holds values of different kinds (numbers, text, objects...), which one Protobuf field cannot")),
            },
        };
        let label = match (repeated, nullable && item.object.is_none()) {
            (true, _) => "repeated ",
            (false, true) => "optional ",
            (false, false) => "",
        };
        out.push_str(&format!("{pad}  {label}{ty} {field} = {};\n", number + 1));
    }
    for (f, type_name) in nested {
        message_text(f, &type_name, depth + 1, out)?;
    }
    out.push_str(&format!("{pad}}}\n"));
    Ok(())
}

/// The scalar type of a field holding only `shape`'s kinds (a whole number
/// and a fraction together are a `double`); `None` for objects, arrays, a mix.
fn scalar(shape: &Shape) -> Option<&'static str> {
    if shape.object.is_some() || shape.array.is_some() {
        return None;
    }
    match (shape.boolean, shape.long || shape.double, shape.string) {
        (true, false, false) => Some("bool"),
        (false, true, false) => Some(if shape.double { "double" } else { "int64" }),
        // Only ever null: no kind to go by.
        (false, false, true) | (false, false, false) => Some("string"),
        _ => None,
    }
}

/// `line_items` -> `LineItems`: a nested message's name after its field.
fn camel(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = true;
    for c in field.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    if out.is_empty() || out == field {
        out.push_str("Message");
    }
    out
}

#[cfg(test)]
mod tests;
