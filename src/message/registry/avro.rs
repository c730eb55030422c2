//! Avro values from the records' JSON, encoded by `apache-avro`.
//!
//! A record's JSON is read into the Avro value its schema asks for (fields in
//! schema order, the union branch that takes the JSON's kind, a missing field
//! its default or null), then `apache-avro` checks the value against the schema
//! and writes the binary datum. A record that does not fit (a null in a
//! non-nullable field, text where a number is wanted, a missing field without
//! a default) is a [`Misfit`] naming the field.
//!
//! Each datum is written in the Confluent wire format: byte 0, the schema id as
//! 4 bytes big-endian, the datum. The id is known only once the schema is
//! registered, after the records are known to fit, so it is written into every
//! record's frame afterwards ([`Encoded::set_id`]).

use std::collections::HashMap;

use apache_avro::schema::{Name, ResolvedSchema, UnionSchema};
use apache_avro::types::Value as Avro;
use apache_avro::{GenericSingleObjectWriter, Schema};
use serde_json::Value as Json;

/// Byte 0 and the 4-byte schema id, before every value of a registry format.
pub const FRAME: usize = 5;

/// Writes the frame for schema `id` at the start of `out`.
pub fn frame(out: &mut [u8], id: u32) {
    out[0] = 0;
    out[1..FRAME].copy_from_slice(&id.to_be_bytes());
}

/// Why a record does not fit the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    /// The field, dotted for nested ones (`user.name`); empty for the record itself.
    pub field: String,
    pub problem: String,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "field {}: {}", self.field, self.problem)
        }
    }
}

impl Misfit {
    fn new(problem: String) -> Self {
        Misfit { field: String::new(), problem }
    }

    fn within(mut self, field: &str) -> Self {
        self.field = if self.field.is_empty() { field.to_owned() } else { format!("{field}.{}", self.field) };
        self
    }
}

/// The `apache-avro` writer's single-object header is 10 to 20 bytes; ours is
/// written as 10 and cut to the 5 of the wire format.
pub(crate) struct Placeholder;

impl apache_avro::headers::HeaderBuilder for Placeholder {
    fn build_header(&self) -> Vec<u8> {
        vec![0; 2 * FRAME]
    }
}

/// Encodes JSON records with one schema.
///
/// An Avro record is its fields' datums end to end, with nothing between. So a
/// record whose fields' schemas stand alone (no reference to a type named
/// elsewhere) is encoded a top-level field at a time, each field's value by
/// `apache-avro` with that field's schema: this skips the lookup tables the
/// crate builds for every record (a third of the time, measured) and the JSON
/// tree of the whole record. Other records are encoded whole.
pub struct AvroEncoder {
    schema: Schema,
    /// Named types, for `Ref`s in a given schema.
    names: HashMap<Name, Schema>,
    writer: GenericSingleObjectWriter,
    fields: Option<Vec<FieldWriter>>,
    /// Each field's raw JSON in the record being encoded.
    raw: Vec<Option<(usize, usize)>>,
    /// Where each field's datum went in the last record encoded field by field.
    spans: Vec<(usize, usize)>,
    scratch: Vec<u8>,
}

/// One top-level field: its name as a JSON key (Avro names need no escapes),
/// schema, default, and a writer for its schema alone.
struct FieldWriter {
    key: Vec<u8>,
    name: String,
    schema: Schema,
    default: Option<Json>,
    writer: GenericSingleObjectWriter,
}

impl AvroEncoder {
    pub fn new(schema: &Schema) -> Result<Self, String> {
        let names: HashMap<Name, Schema> = ResolvedSchema::try_from(schema)
            .map_err(|e| e.to_string())?
            .get_names()
            .iter()
            .map(|(n, s)| (n.clone(), (*s).clone()))
            .collect();
        let writer = GenericSingleObjectWriter::new_with_capacity_and_header_builder(schema, 1024, Placeholder)
            .map_err(|e| e.to_string())?;
        let fields = match schema {
            Schema::Record(r) => r
                .fields
                .iter()
                .map(|f| {
                    // Fails for a schema that refers to a type named elsewhere.
                    let writer =
                        GenericSingleObjectWriter::new_with_capacity_and_header_builder(&f.schema, 256, Placeholder)
                            .ok()?;
                    let key = serde_json::to_vec(&f.name).ok()?;
                    Some(FieldWriter {
                        key,
                        name: f.name.clone(),
                        schema: f.schema.clone(),
                        default: f.default.clone(),
                        writer,
                    })
                })
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        let raw = vec![None; fields.as_ref().map_or(0, Vec::len)];
        let spans = Vec::with_capacity(raw.len());
        Ok(Self { schema: schema.clone(), names, writer, fields, raw, spans, scratch: Vec::with_capacity(256) })
    }

    /// Appends `json`'s datum, framed with schema `id`, to `out`. On a misfit
    /// `out` is as it was.
    pub fn encode(&mut self, json: &[u8], id: u32, out: &mut Vec<u8>) -> Result<(), Misfit> {
        let start = out.len();
        self.spans.clear();
        let done = match self.fields.is_some() {
            true => self.encode_fields(json, out),
            false => self.encode_whole(json, out),
        };
        if let Err(m) = done {
            out.truncate(start);
            return Err(m);
        }
        frame(&mut out[start..], id);
        Ok(())
    }

    fn encode_whole(&mut self, json: &[u8], out: &mut Vec<u8>) -> Result<(), Misfit> {
        let value: Json = serde_json::from_slice(json).map_err(|e| Misfit::new(format!("not JSON: {e}")))?;
        let avro = to_avro(value, &self.schema, &self.names)?;
        let start = out.len();
        self.writer.write_value_ref(&avro, out).map_err(|e| Misfit::new(e.to_string()))?;
        out.drain(start..start + FRAME);
        Ok(())
    }

    fn encode_fields(&mut self, json: &[u8], out: &mut Vec<u8>) -> Result<(), Misfit> {
        let fields = self.fields.as_mut().expect("checked by the caller");
        self.raw.iter_mut().for_each(|r| *r = None);
        let base = json.as_ptr() as usize;
        let raw = &mut self.raw;
        let mut escaped_key = false;
        crate::dataset::columns::members(json, |key, value| {
            escaped_key |= key.contains(&b'\\');
            if let Some(i) = fields.iter().position(|f| f.key == key) {
                let at = value.as_ptr() as usize - base;
                raw[i] = Some((at, at + value.len()));
            }
        });
        if escaped_key || json.first() != Some(&b'{') {
            // Rare: a key written with escapes is matched by the whole-record path.
            return self.encode_whole(json, out);
        }
        out.extend_from_slice(&[0; FRAME]);
        self.spans.clear();
        for (f, place) in fields.iter_mut().zip(raw.iter()) {
            let start = out.len();
            let value = place.map(|(s, e)| &json[s..e]);
            encode_field(f, &self.names, &mut self.scratch, value, out)?;
            self.spans.push((start, out.len()));
        }
        Ok(())
    }

    /// Field `name`'s position among the record's fields, when the encoder
    /// goes field by field (`None` otherwise, or when there is no such field).
    pub fn field_position(&self, name: &str) -> Option<usize> {
        self.fields.as_ref()?.iter().position(|f| f.name == name)
    }

    /// Where, in the `out` of the last [`Self::encode`] that went field by
    /// field, each field's datum was written.
    pub fn last_spans(&self) -> &[(usize, usize)] {
        &self.spans
    }

    /// Appends field `j`'s datum for its raw JSON value (its default when `None`).
    pub fn encode_field(&mut self, j: usize, raw: Option<&[u8]>, out: &mut Vec<u8>) -> Result<(), Misfit> {
        let Some(f) = self.fields.as_mut().and_then(|f| f.get_mut(j)) else {
            return Err(Misfit::new(format!("no field {j}")));
        };
        encode_field(f, &self.names, &mut self.scratch, raw, out)
    }
}

/// One field's datum, from its raw JSON value (or its default), by its writer.
fn encode_field(
    f: &mut FieldWriter,
    names: &HashMap<Name, Schema>,
    scratch: &mut Vec<u8>,
    raw: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), Misfit> {
    let value = match raw {
        Some(raw) => serde_json::from_slice(raw).map_err(|e| Misfit::new(format!("not JSON: {e}")).within(&f.name))?,
        None => match &f.default {
            Some(d) => d.clone(),
            None => return Err(Misfit::new("missing, and it has no default".into()).within(&f.name)),
        },
    };
    let avro = to_avro(value, &f.schema, names).map_err(|m| m.within(&f.name))?;
    scratch.clear();
    f.writer.write_value_ref(&avro, scratch).map_err(|e| Misfit::new(e.to_string()).within(&f.name))?;
    out.extend_from_slice(&scratch[2 * FRAME..]);
    Ok(())
}

/// Datums in one buffer, an end offset per record (as the dataset holds JSON);
/// with `MESSAGE_FIELDS`, where each generated field's datum sits in each
/// record's (`spans`, `per` pairs of offsets a record), to be replaced per message.
#[derive(Debug, Default)]
pub struct Encoded {
    buf: Vec<u8>,
    ends: Vec<usize>,
    spans: Vec<(u32, u32)>,
    per: usize,
}

impl Encoded {
    pub fn with_capacity(bytes: usize, records: usize) -> Self {
        Encoded { buf: Vec::with_capacity(bytes), ends: Vec::with_capacity(records), spans: Vec::new(), per: 0 }
    }

    /// Encodes `json` as the next record; on a misfit nothing is added.
    pub fn push(&mut self, encoder: &mut AvroEncoder, json: &[u8]) -> Result<(), Misfit> {
        encoder.encode(json, 0, &mut self.buf)?;
        self.ends.push(self.buf.len());
        Ok(())
    }

    /// The next record, as `encode` appends it; on a misfit nothing is added.
    pub fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> Result<(), Misfit>) -> Result<(), Misfit> {
        let start = self.buf.len();
        encode(&mut self.buf).inspect_err(|_| self.buf.truncate(start))?;
        self.ends.push(self.buf.len());
        Ok(())
    }

    /// [`Self::push`], noting where the datums of the fields at schema
    /// `positions` went (the encoder goes field by field: see
    /// [`AvroEncoder::field_position`]).
    pub fn push_noting(&mut self, encoder: &mut AvroEncoder, json: &[u8], positions: &[usize]) -> Result<(), Misfit> {
        let start = self.buf.len();
        encoder.encode(json, 0, &mut self.buf)?;
        let spans = encoder.last_spans();
        if spans.len() <= positions.iter().copied().max().unwrap_or(0) {
            // Encoded whole (a key written with escapes): no spans to splice at.
            self.buf.truncate(start);
            return Err(Misfit::new("a field name written with escapes, with MESSAGE_FIELDS".into()));
        }
        self.per = positions.len();
        self.spans.extend(positions.iter().map(|&j| ((spans[j].0 - start) as u32, (spans[j].1 - start) as u32)));
        self.ends.push(self.buf.len());
        Ok(())
    }

    /// Record `i`'s spliced spans, relative to its datum's start.
    #[inline]
    pub fn spans(&self, i: usize) -> &[(u32, u32)] {
        &self.spans[i * self.per..(i + 1) * self.per]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Record `i`'s framed datum.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    /// Puts `other`'s records after these.
    pub fn append(&mut self, other: &Encoded) {
        let base = self.buf.len();
        self.buf.extend_from_slice(&other.buf);
        self.ends.extend(other.ends.iter().map(|e| e + base));
        self.spans.extend_from_slice(&other.spans);
        self.per = self.per.max(other.per);
    }

    /// Writes schema `id` into every record's frame.
    pub fn set_id(&mut self, id: u32) {
        let mut start = 0;
        for &end in &self.ends {
            frame(&mut self.buf[start..end], id);
            start = end;
        }
    }

    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn allocated_bytes(&self) -> usize {
        self.buf.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.spans.capacity() * std::mem::size_of::<(u32, u32)>()
    }

    pub fn shrink_to_fit(&mut self) {
        self.buf.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.spans.shrink_to_fit();
    }
}

/// `json` as the Avro value `schema` asks for.
fn to_avro(json: Json, schema: &Schema, names: &HashMap<Name, Schema>) -> Result<Avro, Misfit> {
    let wrong = |json: &Json| Misfit::new(format!("expected {}, found {}", expected(schema), shown(json)));
    Ok(match (schema, json) {
        (Schema::Ref { name }, json) => {
            let named = names.get(name).ok_or_else(|| Misfit::new(format!("unknown type {name:?}")))?;
            return to_avro(json, named, names);
        }
        (Schema::Union(u), json) => {
            let Some((i, branch)) = pick(&json, u, names) else {
                return Err(wrong(&json));
            };
            Avro::Union(i as u32, Box::new(to_avro(json, branch, names)?))
        }
        (Schema::Null, Json::Null) => Avro::Null,
        (Schema::Boolean, Json::Bool(b)) => Avro::Boolean(b),
        (Schema::Int, Json::Number(n)) if n.as_i64().and_then(|i| i32::try_from(i).ok()).is_some() => {
            Avro::Int(n.as_i64().and_then(|i| i32::try_from(i).ok()).expect("checked"))
        }
        (Schema::Long, Json::Number(n)) if n.is_i64() => Avro::Long(n.as_i64().expect("checked")),
        (Schema::Double, Json::Number(n)) => Avro::Double(n.as_f64().unwrap_or(f64::NAN)),
        (Schema::Float, Json::Number(n)) => Avro::Float(n.as_f64().unwrap_or(f64::NAN) as f32),
        (Schema::String, Json::String(s)) => Avro::String(s),
        (Schema::Bytes, Json::String(s)) => Avro::Bytes(s.into_bytes()),
        (Schema::Uuid, Json::String(s)) => match apache_avro::Uuid::parse_str(&s) {
            Ok(u) => Avro::Uuid(u),
            Err(_) => return Err(wrong(&Json::String(s))),
        },
        (Schema::Enum(e), Json::String(s)) => match e.symbols.iter().position(|sym| *sym == s) {
            Some(i) => Avro::Enum(i as u32, s),
            None => return Err(Misfit::new(format!("{} is not one of the enum's symbols", shown(&Json::String(s))))),
        },
        (Schema::Date, Json::String(s)) => match s.parse::<jiff::civil::Date>() {
            Ok(d) => Avro::Date(d.since(jiff::civil::date(1970, 1, 1)).map_or(0, |span| span.get_days())),
            Err(_) => return Err(wrong(&Json::String(s))),
        },
        (Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos, Json::String(s)) => {
            let Ok(t) = s.parse::<jiff::Timestamp>() else {
                return Err(wrong(&Json::String(s)));
            };
            let nanos = t.as_nanosecond();
            match schema {
                Schema::TimestampMillis => Avro::TimestampMillis((nanos / 1_000_000) as i64),
                Schema::TimestampMicros => Avro::TimestampMicros((nanos / 1_000) as i64),
                _ => Avro::TimestampNanos(nanos as i64),
            }
        }
        (Schema::TimestampMillis, Json::Number(n)) if n.is_i64() => Avro::TimestampMillis(n.as_i64().expect("checked")),
        (Schema::TimestampMicros, Json::Number(n)) if n.is_i64() => Avro::TimestampMicros(n.as_i64().expect("checked")),
        (Schema::Array(a), Json::Array(items)) => Avro::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| to_avro(item, &a.items, names).map_err(|m| m.within(&i.to_string())))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Map(m), Json::Object(o)) => Avro::Map(
            o.into_iter()
                .map(|(k, v)| to_avro(v, &m.types, names).map(|v| (k.clone(), v)).map_err(|e| e.within(&k)))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Record(r), Json::Object(mut o)) => {
            let mut fields = Vec::with_capacity(r.fields.len());
            for f in &r.fields {
                let value = match o.remove(&f.name) {
                    Some(v) => to_avro(v, &f.schema, names).map_err(|e| e.within(&f.name))?,
                    None => match &f.default {
                        Some(d) => to_avro(d.clone(), &f.schema, names).map_err(|e| e.within(&f.name))?,
                        None => return Err(Misfit::new("missing, and it has no default".into()).within(&f.name)),
                    },
                };
                fields.push((f.name.clone(), value));
            }
            Avro::Record(fields)
        }
        (_, json) => return Err(wrong(&json)),
    })
}

/// The union branch for `json`'s kind: the first that takes it.
fn pick<'s>(json: &Json, u: &'s UnionSchema, names: &'s HashMap<Name, Schema>) -> Option<(usize, &'s Schema)> {
    let takes = |s: &Schema| -> bool {
        let s = match s {
            Schema::Ref { name } => match names.get(name) {
                Some(s) => s,
                None => return false,
            },
            s => s,
        };
        match json {
            Json::Null => matches!(s, Schema::Null),
            Json::Bool(_) => matches!(s, Schema::Boolean),
            Json::Number(n) if n.is_i64() => {
                matches!(
                    s,
                    Schema::Long | Schema::Double | Schema::Float | Schema::TimestampMillis | Schema::TimestampMicros
                ) || matches!(s, Schema::Int if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()))
            }
            Json::Number(_) => matches!(s, Schema::Double | Schema::Float),
            Json::String(_) => matches!(
                s,
                Schema::String
                    | Schema::Bytes
                    | Schema::Enum(_)
                    | Schema::Uuid
                    | Schema::Date
                    | Schema::TimestampMillis
                    | Schema::TimestampMicros
                    | Schema::TimestampNanos
            ),
            Json::Object(_) => matches!(s, Schema::Record(_) | Schema::Map(_)),
            Json::Array(_) => matches!(s, Schema::Array(_)),
        }
    };
    u.variants().iter().enumerate().find(|(_, s)| takes(s))
}

fn expected(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => format!("record {}", r.name.fullname(None)),
        Schema::Union(u) => {
            let kinds: Vec<String> = u.variants().iter().map(expected).collect();
            kinds.join(" or ")
        }
        s => serde_json::to_string(s).unwrap_or_default().trim_matches('"').chars().take(40).collect(),
    }
}

/// A JSON value in an error line: its kind, and short values as they are.
fn shown(json: &Json) -> String {
    let kind = match json {
        Json::Null => return "null".into(),
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Object(_) => return "an object".into(),
        Json::Array(_) => return "an array".into(),
    };
    let text = json.to_string();
    if text.len() <= 40 {
        format!("{kind} {text}")
    } else {
        format!("{kind} {}...", text.chars().take(37).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &str) -> Schema {
        Schema::parse_str(&format!(r#"{{"type":"record","name":"T","fields":{fields}}}"#)).unwrap()
    }

    fn encode(s: &Schema, json: &str) -> Result<Vec<u8>, Misfit> {
        let mut out = vec![9];
        AvroEncoder::new(s).unwrap().encode(json.as_bytes(), 0x01020304, &mut out)?;
        Ok(out)
    }

    #[test]
    fn a_record_is_framed_and_decodes_to_the_same_values() {
        let s = schema(
            r#"[{"name":"id","type":"long"},{"name":"zip","type":"string"},{"name":"memo","type":["null","string"],"default":null},{"name":"amount","type":"double"},{"name":"ok","type":"boolean"}]"#,
        );
        let out = encode(&s, r#"{"zip":"02134","id":-3,"amount":12.5,"ok":true}"#).unwrap();
        assert_eq!(&out[..6], &[9, 0, 1, 2, 3, 4], "kept what was there, then byte 0 and the id big-endian");
        let decoded = apache_avro::from_avro_datum(&s, &mut &out[6..], None).unwrap();
        assert_eq!(
            decoded,
            Avro::Record(vec![
                ("id".into(), Avro::Long(-3)),
                ("zip".into(), Avro::String("02134".into())),
                ("memo".into(), Avro::Union(0, Box::new(Avro::Null))),
                ("amount".into(), Avro::Double(12.5)),
                ("ok".into(), Avro::Boolean(true)),
            ])
        );
    }

    #[test]
    fn a_record_that_does_not_fit_names_the_field() {
        let s = schema(
            r#"[{"name":"id","type":"long"},{"name":"user","type":{"type":"record","name":"U","fields":[{"name":"name","type":"string"}]}}]"#,
        );
        let e = encode(&s, r#"{"id":null,"user":{"name":"a"}}"#).unwrap_err();
        assert_eq!(e.to_string(), "field id: expected long, found null");
        let e = encode(&s, r#"{"id":"7","user":{"name":"a"}}"#).unwrap_err();
        assert_eq!(e.to_string(), "field id: expected long, found string \"7\"");
        let e = encode(&s, r#"{"id":1,"user":{"name":2}}"#).unwrap_err();
        assert_eq!(e.to_string(), "field user.name: expected string, found number 2");
        let e = encode(&s, r#"{"id":1}"#).unwrap_err();
        assert_eq!(e.to_string(), "field user: missing, and it has no default");
        let mut out = vec![1, 2];
        assert!(AvroEncoder::new(&s).unwrap().encode(b"{\"id\":1}", 0, &mut out).is_err());
        assert_eq!(out, [1, 2], "nothing written for a misfit");
    }

    #[test]
    fn unions_take_the_branch_of_the_value_and_defaults_fill_missing_fields() {
        let s = schema(
            r#"[{"name":"v","type":["null","long","string"]},{"name":"d","type":"string","default":"x"},{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}]"#,
        );
        let out = encode(&s, r#"{"v":"a","t":"2024-01-01T00:00:01Z"}"#).unwrap();
        let decoded = apache_avro::from_avro_datum(&s, &mut &out[6..], None).unwrap();
        assert_eq!(
            decoded,
            Avro::Record(vec![
                ("v".into(), Avro::Union(2, Box::new(Avro::String("a".into())))),
                ("d".into(), Avro::String("x".into())),
                ("t".into(), Avro::TimestampMillis(1_704_067_201_000)),
            ])
        );
    }

    /// Field by field and whole, the same record gives the same bytes.
    #[test]
    fn a_record_encoded_field_by_field_is_the_record_encoded_whole() {
        let s = schema(
            r#"[{"name":"id","type":"long"},{"name":"u","type":{"type":"record","name":"U","fields":[{"name":"n","type":["null","string"]}]}},{"name":"xs","type":{"type":"array","items":"double"}},{"name":"memo","type":["null","string"],"default":null},{"name":"d","type":"string","default":"x"}]"#,
        );
        let mut enc = AvroEncoder::new(&s).unwrap();
        assert!(enc.fields.is_some());
        for json in [
            r#"{"id":1,"u":{"n":"a\"b"},"xs":[1,2.5],"memo":"m"}"#,
            r#"{"xs":[],"extra":{"k":[1]},"u":{"n":null},"id":-7}"#,
            r#"{"id":2,"u":{"n":"é"},"xs":[0],"d":"y","memo":null}"#,
        ] {
            let (mut whole, mut fields) = (Vec::new(), Vec::new());
            enc.encode_whole(json.as_bytes(), &mut whole).unwrap();
            enc.encode_fields(json.as_bytes(), &mut fields).unwrap();
            assert_eq!(fields, whole, "{json}");
        }
        // A key written with an escape is still the field it names.
        let mut out = Vec::new();
        enc.encode(br#"{"id":3,"u":{"n":null},"xs":[]}"#, 1, &mut out).unwrap();
        assert_eq!(&out[5..6], &[6], "id 3, zigzag");
        // A type named elsewhere: the record is encoded whole.
        let s = schema(r#"[{"name":"a","type":{"type":"fixed","name":"F","size":1}},{"name":"b","type":"F"}]"#);
        assert!(AvroEncoder::new(&s).unwrap().fields.is_none());
    }

    #[test]
    fn the_id_is_written_into_every_frame_later() {
        let s = schema(r#"[{"name":"a","type":"long"}]"#);
        let mut enc = AvroEncoder::new(&s).unwrap();
        let mut e = Encoded::default();
        e.push(&mut enc, br#"{"a":1}"#).unwrap();
        assert!(e.push(&mut enc, br#"{"a":"x"}"#).is_err());
        e.push(&mut enc, br#"{"a":-1}"#).unwrap();
        e.set_id(7);
        assert_eq!(e.len(), 2);
        assert_eq!(e.get(0), [0, 0, 0, 0, 7, 2]);
        assert_eq!(e.get(1), [0, 0, 0, 0, 7, 1]);
    }
}
