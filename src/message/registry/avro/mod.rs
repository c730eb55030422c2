//! Avro values from the records' JSON, encoded by `apache-avro`.
//!
//! A record is written a top-level field at a time: an Avro record is its
//! fields' datums end to end, with nothing between, so each field's raw JSON
//! (found by the readers' compact-JSON scanner) is written with that field's
//! schema, by the crate's schema-aware serde serializer through a plan
//! (`plan.rs`): no JSON tree and no `Value`. A schema a plan does not cover
//! goes through the crate's `Value` API (`value.rs`): field by field when each
//! field's schema stands alone, else the record whole. Both paths take the
//! same JSON (the union branch that takes the JSON's kind, a whole number into
//! a `double`, RFC 3339 text into a timestamp, a missing field its default). A
//! record that does not fit (a null in a non-nullable field, text where a
//! number is wanted, a missing field without a default) is a [`Misfit`]
//! naming the field.
//!
//! Most records are their schema's fields in its order (a derived schema
//! keeps the records' order): such a record is written in one pass, and a
//! value seen before in a field is copied from the field's [`Memo`] rather
//! than encoded again; any other record goes the general way.
//!
//! Each datum is written in the Confluent wire format: byte 0, the schema id as
//! 4 bytes big-endian, the datum. The id is known only once the schema is
//! registered, after the records are known to fit, so it is written into every
//! record's frame afterwards ([`Encoded::set_id`]).

mod encoded;
mod memo;
mod misfit;
mod plan;
mod value;

use std::collections::HashMap;

use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::{GenericSingleObjectWriter, Schema};
use serde_json::Value as Json;

pub use self::encoded::Encoded;
use self::memo::Memo;
pub use self::misfit::Misfit;
use self::plan::Plan;
use self::value::to_avro;

/// Byte 0 and the 4-byte schema id, before every value of a registry format.
pub const FRAME: usize = 5;

/// Writes the frame for schema `id` at the start of `out`.
pub fn frame(out: &mut [u8], id: u32) {
    out[0] = 0;
    out[1..FRAME].copy_from_slice(&id.to_be_bytes());
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
pub struct AvroEncoder {
    schema: Schema,
    /// Named types, for `Ref`s in a given schema.
    names: HashMap<Name, Schema>,
    writer: GenericSingleObjectWriter,
    /// The top-level fields, when the record goes field by field.
    fields: Option<Vec<FieldWriter>>,
    /// Each field's raw JSON in the record being encoded.
    raw: Vec<Option<(usize, usize)>>,
    /// Where each field's datum went in the last record encoded field by field.
    spans: Vec<(usize, usize)>,
    scratch: Vec<u8>,
    in_order: Tries,
}

/// How often records came with their members in the schema's order; the
/// one-pass path is given up when most do not (a given schema in another
/// order would otherwise cost each record a second start).
#[derive(Debug, Default)]
struct Tries {
    hits: u64,
    misses: u64,
}

impl Tries {
    fn worth_trying(&self) -> bool {
        self.misses < 32 || self.misses < self.hits
    }

    fn hit(&mut self) {
        self.hits += 1;
    }

    fn miss(&mut self) {
        self.misses += 1;
    }
}

/// One top-level field: its name as a JSON key (Avro names need no escapes),
/// schema, default, and how its value is written.
struct FieldWriter {
    key: Vec<u8>,
    name: String,
    schema: Schema,
    default: Option<Json>,
    /// The default as JSON text, for the plan.
    default_raw: Option<String>,
    write: Write,
    memo: Memo,
}

/// How a top-level field's value is written.
enum Write {
    /// By the serde serializer (the schema has a plan).
    Planned(Plan),
    /// By a `Value` and a writer for the field's schema alone.
    Value(Box<GenericSingleObjectWriter>),
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
                    let write = match Plan::new(&f.schema) {
                        Some(plan) => Write::Planned(plan),
                        // Fails for a schema that refers to a type named elsewhere.
                        None => Write::Value(Box::new(
                            GenericSingleObjectWriter::new_with_capacity_and_header_builder(
                                &f.schema,
                                256,
                                Placeholder,
                            )
                            .ok()?,
                        )),
                    };
                    Some(FieldWriter {
                        key: serde_json::to_vec(&f.name).ok()?,
                        name: f.name.clone(),
                        schema: f.schema.clone(),
                        default: f.default.clone(),
                        default_raw: f.default.as_ref().and_then(|d| serde_json::to_string(d).ok()),
                        write,
                        memo: Memo::default(),
                    })
                })
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        let raw = vec![None; fields.as_ref().map_or(0, Vec::len)];
        let spans = Vec::with_capacity(raw.len());
        Ok(Self {
            schema: schema.clone(),
            names,
            writer,
            fields,
            raw,
            spans,
            scratch: Vec::with_capacity(256),
            in_order: Tries::default(),
        })
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
        if self.in_order.worth_trying() {
            let start = out.len();
            match self.encode_in_order(json, out) {
                Some(done) => {
                    self.in_order.hit();
                    return done;
                }
                None => {
                    self.in_order.miss();
                    out.truncate(start);
                }
            }
        }
        let fields = self.fields.as_mut().expect("checked by the caller");
        self.raw.iter_mut().for_each(|r| *r = None);
        let base = json.as_ptr() as usize;
        let raw = &mut self.raw;
        let mut escaped_key = false;
        // Members usually come in schema order (a derived schema keeps the
        // records' order): the next field is tried first.
        let mut next = 0;
        crate::dataset::columns::members(json, |key, value| {
            escaped_key |= key.contains(&b'\\');
            let found = match fields.get(next) {
                Some(f) if f.key == key => Some(next),
                _ => fields.iter().position(|f| f.key == key),
            };
            if let Some(i) = found {
                let at = value.as_ptr() as usize - base;
                raw[i] = Some((at, at + value.len()));
                next = i + 1;
            }
        });
        let text = std::str::from_utf8(json);
        let Some(text) = text.ok().filter(|_| !escaped_key && json.first() == Some(&b'{')) else {
            // Rare: a key written with escapes is matched by the whole-record path.
            return self.encode_whole(json, out);
        };
        // Checked once here rather than for each string.
        let plain = memchr::memchr(b'\\', json).is_none();
        out.extend_from_slice(&[0; FRAME]);
        self.spans.clear();
        for (f, place) in fields.iter_mut().zip(raw.iter()) {
            let start = out.len();
            // The scanner's members start and end at ASCII bytes: character boundaries.
            let value = place.map(|(s, e)| &text[s..e]);
            encode_field(f, &self.names, &mut self.scratch, value, plain, out)?;
            self.spans.push((start, out.len()));
        }
        Ok(())
    }

    /// The common case in one pass: the record's members are the schema's
    /// fields in its order (a derived schema keeps the records' order), each
    /// value written as it is found. `None` when the record is not like that
    /// (a member missing, moved or extra, a key written with escapes): the
    /// caller starts again on the general path, which also knows defaults.
    fn encode_in_order(&mut self, json: &[u8], out: &mut Vec<u8>) -> Option<Result<(), Misfit>> {
        let fields = self.fields.as_mut()?;
        if json.first() != Some(&b'{') || fields.is_empty() {
            return None;
        }
        out.extend_from_slice(&[0; FRAME]);
        self.spans.clear();
        let last = fields.len() - 1;
        let mut i = 1;
        for (j, f) in fields.iter_mut().enumerate() {
            let key_end = i + f.key.len();
            if json.get(i..key_end) != Some(&f.key[..]) || json.get(key_end) != Some(&b':') {
                return None;
            }
            let at = key_end + 1;
            // `plain`: no backslash in the value, so nothing in it to unescape.
            let (end, plain) = match json.get(at)? {
                b'"' => match memchr::memchr2(b'"', b'\\', json.get(at + 1..)?)? {
                    n if json[at + 1 + n] == b'"' => (at + 2 + n, true),
                    _ => (crate::dataset::columns::skip_value(json, at)?, false),
                },
                b'{' | b'[' => {
                    let end = crate::dataset::columns::skip_value(json, at)?;
                    (end, memchr::memchr(b'\\', &json[at..end]).is_none())
                }
                _ => (at + json[at..].iter().position(|&b| b == b',' || b == b'}')?, true),
            };
            let follows = if j == last { b'}' } else { b',' };
            if json.get(end) != Some(&follows) {
                return None;
            }
            let start = out.len();
            let raw = &json[at..end];
            if !f.memo.replay(raw, out) {
                let text = std::str::from_utf8(raw).ok()?;
                if let Err(m) = encode_field(f, &self.names, &mut self.scratch, Some(text), plain, out) {
                    return Some(Err(m));
                }
                f.memo.keep(raw, &out[start..]);
            }
            self.spans.push((start, out.len()));
            i = end + 1;
        }
        (i == json.len()).then_some(Ok(()))
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
        let raw = match raw.map(std::str::from_utf8) {
            Some(Err(_)) => return Err(Misfit::new("not UTF-8 text".into()).within(&f.name)),
            Some(Ok(raw)) => Some(raw),
            None => None,
        };
        let plain = raw.is_none_or(|r| memchr::memchr(b'\\', r.as_bytes()).is_none());
        encode_field(f, &self.names, &mut self.scratch, raw, plain, out)
    }
}

/// One field's datum, from its raw JSON value (or its default).
fn encode_field(
    f: &mut FieldWriter,
    names: &HashMap<Name, Schema>,
    scratch: &mut Vec<u8>,
    raw: Option<&str>,
    plain: bool,
    out: &mut Vec<u8>,
) -> Result<(), Misfit> {
    let missing = || Misfit::new("missing, and it has no default".into()).within(&f.name);
    match &mut f.write {
        Write::Planned(plan) => {
            let raw = match raw {
                Some(raw) => raw,
                None => f.default_raw.as_deref().ok_or_else(missing)?,
            };
            plan::write(&f.schema, plan, raw, plain, out).map_err(|m| m.within(&f.name))
        }
        Write::Value(writer) => {
            let value = match raw {
                Some(raw) => {
                    serde_json::from_str(raw).map_err(|e| Misfit::new(format!("not JSON: {e}")).within(&f.name))?
                }
                None => f.default.clone().ok_or_else(missing)?,
            };
            let avro = to_avro(value, &f.schema, names).map_err(|m| m.within(&f.name))?;
            scratch.clear();
            writer.write_value_ref(&avro, scratch).map_err(|e| Misfit::new(e.to_string()).within(&f.name))?;
            out.extend_from_slice(&scratch[2 * FRAME..]);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
