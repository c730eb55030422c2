//! A template's rendered values encoded as the values' message, per message,
//! with nothing allocated (`MESSAGE_TEMPLATE` with `VALUE_FORMAT=protobuf`).
//!
//! Reading each render into a `DynamicMessage` (what [`ProtoEncoder`] does
//! at load) allocates its field map, strings and nested messages for every
//! message. A [`MessagePlan`], made once from the descriptor, instead finds
//! each top-level member's raw JSON (the readers' compact-JSON scanner),
//! reads it as the JSON mapping would (a JSON number into the field's numeric
//! type, a string as is, `null` as unset) and writes the field with `prost`'s
//! own encoders, in field-number order as `DynamicMessage` writes them: the
//! same bytes. Nested messages are written into a reused buffer each, then
//! framed by their length.
//!
//! A string written with escapes is decoded into a new `String` (as Avro's
//! plan does). Anything the plan does not read exactly as the JSON mapping
//! does (a number written as a string, a fraction for an integer, an enum,
//! bytes, repeated and map fields, well-known types, a oneof, a key with
//! escapes) goes through [`ProtoEncoder`] for that message, which also names
//! the field of a render that does not fit.

use std::borrow::Cow;

use prost::encoding::{self as pe, WireType};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use super::ProtoEncoder;
use crate::message::registry::avro::{frame, Misfit};

/// Deeper nesting (or a message that holds itself) goes through [`ProtoEncoder`].
const MAX_DEPTH: usize = 8;

/// Encodes rendered JSON values as the values' message, framed.
pub struct RenderEncoder {
    whole: ProtoEncoder,
    plan: MessagePlan,
}

/// Not read by the plan: the message goes through [`ProtoEncoder`].
#[derive(Debug)]
struct Whole;

impl RenderEncoder {
    pub fn new(message: &MessageDescriptor) -> Self {
        let whole = ProtoEncoder::new(message, std::iter::empty());
        RenderEncoder { plan: MessagePlan::new(message, 0), whole }
    }

    /// Appends `json`'s message framed with schema `id` to `out`; on a misfit
    /// `out` is as it was.
    pub fn encode(&mut self, json: &[u8], id: u32, out: &mut Vec<u8>) -> Result<(), Misfit> {
        let start = out.len();
        out.extend_from_slice(&self.whole.prefix);
        if self.plan.write(json, out).is_err() {
            out.truncate(start);
            self.whole.encode(json, out)?;
        }
        frame(&mut out[start..], id);
        Ok(())
    }

    /// Whether every field is read by the plan (a test's question).
    #[cfg(test)]
    pub(super) fn planned(&self) -> bool {
        fn all(p: &MessagePlan) -> bool {
            p.fields.iter().all(|f| match &f.kind {
                Planned::Message(m) => all(m),
                Planned::Other => false,
                _ => true,
            })
        }
        all(&self.plan)
    }
}

/// How one message's fields are written.
struct MessagePlan {
    /// In field-number order (the order `DynamicMessage` writes them).
    fields: Vec<FieldPlan>,
    /// Each field's raw JSON in the object being written.
    raw: Vec<Option<(usize, usize)>>,
    /// A nested message's bytes, before its length is known.
    buf: Vec<u8>,
}

struct FieldPlan {
    /// The proto name and the JSON name as JSON keys (the mapping takes either).
    keys: [Vec<u8>; 2],
    number: u32,
    /// Written even when zero (`optional`, proto2): unset only by `null` or absence.
    presence: bool,
    kind: Planned,
}

enum Planned {
    Int32,
    Sint32,
    Sfixed32,
    Int64,
    Sint64,
    Sfixed64,
    Uint32,
    Fixed32,
    Uint64,
    Fixed64,
    Float,
    Double,
    Bool,
    String,
    Message(Box<MessagePlan>),
    /// Only `null` or absence is planned; anything else goes whole.
    Other,
}

impl MessagePlan {
    fn new(message: &MessageDescriptor, depth: usize) -> Self {
        let mut fields: Vec<FieldPlan> = message.fields().map(|f| FieldPlan::new(&f, depth)).collect();
        fields.sort_by_key(|f| f.number);
        let raw = vec![None; fields.len()];
        MessagePlan { fields, raw, buf: Vec::with_capacity(64) }
    }

    /// Appends the message `json` (an object) holds, unframed.
    fn write(&mut self, json: &[u8], out: &mut Vec<u8>) -> Result<(), Whole> {
        self.raw.iter_mut().for_each(|r| *r = None);
        let (base, fields, raw) = (json.as_ptr() as usize, &self.fields, &mut self.raw);
        let mut end = 1;
        let mut ok = json.first() == Some(&b'{');
        crate::dataset::columns::members(json, |key, value| {
            let at = value.as_ptr() as usize - base;
            end = at + value.len();
            ok &= !key.contains(&b'\\');
            if let Some(i) = fields.iter().position(|f| f.keys[0] == key || f.keys[1] == key) {
                ok &= raw[i].replace((at, end)).is_none();
            }
        });
        // The scanner stops quietly at what it does not read: then the message goes whole.
        if !ok || json.get(end..) != Some(b"}") {
            return Err(Whole);
        }
        for (f, place) in self.fields.iter_mut().zip(self.raw.iter()) {
            match place.map(|(s, e)| &json[s..e]) {
                None | Some(b"null") => {}
                Some(value) => f.write(value, out)?,
            }
        }
        Ok(())
    }
}

impl FieldPlan {
    fn new(f: &FieldDescriptor, depth: usize) -> Self {
        let key = |name: &str| serde_json::to_vec(name).unwrap_or_default();
        let oneof = f.containing_oneof().is_some_and(|o| !o.is_synthetic());
        let kind = match f.kind() {
            // A proto2 group is delimited by tags, not a length.
            _ if f.is_list() || f.is_map() || f.is_group() || oneof => Planned::Other,
            Kind::Int32 => Planned::Int32,
            Kind::Sint32 => Planned::Sint32,
            Kind::Sfixed32 => Planned::Sfixed32,
            Kind::Int64 => Planned::Int64,
            Kind::Sint64 => Planned::Sint64,
            Kind::Sfixed64 => Planned::Sfixed64,
            Kind::Uint32 => Planned::Uint32,
            Kind::Fixed32 => Planned::Fixed32,
            Kind::Uint64 => Planned::Uint64,
            Kind::Fixed64 => Planned::Fixed64,
            Kind::Float => Planned::Float,
            Kind::Double => Planned::Double,
            Kind::Bool => Planned::Bool,
            Kind::String => Planned::String,
            // Well-known types have JSON forms of their own (a Timestamp is text).
            Kind::Message(m) if depth < MAX_DEPTH && !m.full_name().starts_with("google.protobuf.") => {
                Planned::Message(Box::new(MessagePlan::new(&m, depth + 1)))
            }
            Kind::Message(_) | Kind::Enum(_) | Kind::Bytes => Planned::Other,
        };
        let keys = [key(f.name()), key(f.json_name())];
        FieldPlan { keys, number: f.number(), presence: f.supports_presence(), kind }
    }

    /// Writes the field for its raw JSON value (not `null`).
    fn write(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), Whole> {
        let tag = self.number;
        let keep = self.presence;
        macro_rules! int {
            ($ty:ty, $enc:ident) => {{
                let v: $ty = integer(raw)?;
                if keep || v != 0 {
                    pe::$enc::encode(tag, &v, out);
                }
            }};
        }
        match &mut self.kind {
            Planned::Int32 => int!(i32, int32),
            Planned::Sint32 => int!(i32, sint32),
            Planned::Sfixed32 => int!(i32, sfixed32),
            Planned::Int64 => int!(i64, int64),
            Planned::Sint64 => int!(i64, sint64),
            Planned::Sfixed64 => int!(i64, sfixed64),
            Planned::Uint32 => int!(u32, uint32),
            Planned::Fixed32 => int!(u32, fixed32),
            Planned::Uint64 => int!(u64, uint64),
            Planned::Fixed64 => int!(u64, fixed64),
            Planned::Double => {
                let v = number(raw)?.as_f64().ok_or(Whole)?;
                if keep || v != 0.0 {
                    pe::double::encode(tag, &v, out);
                }
            }
            Planned::Float => {
                // As the JSON mapping reads a float: integers converted directly, fractions range-checked.
                let n = number(raw)?;
                let v = match (n.as_u64(), n.as_i64(), n.as_f64()) {
                    (Some(u), _, _) => u as f32,
                    (None, Some(i), _) => i as f32,
                    (None, None, Some(f)) if f >= f64::from(f32::MIN) && f <= f64::from(f32::MAX) => f as f32,
                    _ => return Err(Whole),
                };
                if keep || v != 0.0 {
                    pe::float::encode(tag, &v, out);
                }
            }
            Planned::Bool => {
                let v = match raw {
                    b"true" => true,
                    b"false" => false,
                    _ => return Err(Whole),
                };
                if keep || v {
                    pe::bool::encode(tag, &v, out);
                }
            }
            Planned::String => {
                // Written without escapes it is the text between the quotes; else decoded
                // into a new string, as Avro's plan does.
                let text: Cow<[u8]> = match serde_json::from_slice::<&str>(raw) {
                    Ok(text) => Cow::Borrowed(text.as_bytes()),
                    Err(_) => Cow::Owned(serde_json::from_slice::<String>(raw).map_err(|_| Whole)?.into_bytes()),
                };
                if keep || !text.is_empty() {
                    pe::encode_key(tag, WireType::LengthDelimited, out);
                    pe::encode_varint(text.len() as u64, out);
                    out.extend_from_slice(&text);
                }
            }
            Planned::Message(plan) => {
                let mut buf = std::mem::take(&mut plan.buf);
                buf.clear();
                let done = plan.write(raw, &mut buf);
                if done.is_ok() {
                    pe::encode_key(tag, WireType::LengthDelimited, out);
                    pe::encode_varint(buf.len() as u64, out);
                    out.extend_from_slice(&buf);
                }
                plan.buf = buf;
                done?;
            }
            Planned::Other => return Err(Whole),
        }
        Ok(())
    }
}

/// A JSON number (no allocation: serde_json's `Number` holds it inline).
fn number(raw: &[u8]) -> Result<serde_json::Number, Whole> {
    match raw.first() {
        Some(b'-' | b'0'..=b'9') => serde_json::from_slice(raw).map_err(|_| Whole),
        _ => Err(Whole),
    }
}

/// A JSON integer that fits `T` (a fraction, or a number as text, goes whole).
fn integer<T: TryFrom<i64> + TryFrom<u64>>(raw: &[u8]) -> Result<T, Whole> {
    let n = number(raw)?;
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => T::try_from(u).map_err(|_| Whole),
        (None, Some(i)) => T::try_from(i).map_err(|_| Whole),
        _ => Err(Whole),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::registry::protobuf::compile;

    const PROTO: &str = r#"syntax = "proto3";
package t;
message R {
  int64 n = 3;
  string city = 1;
  optional double temp = 2;
  bool ok = 4;
  optional int64 zero = 5;
  int32 small = 6;
  uint64 big = 7;
  sint32 s = 8;
  float f = 9;
  fixed64 fx = 10;
  sfixed32 sfx = 11;
  Place place = 12;
  optional string memo = 13;
  string line_note = 14;
  message Place { string name = 1; optional int64 at = 2; Spot inner = 3; }
  message Spot { string name = 1; optional int64 at = 2; }
}
message E {
  string a = 1;
  repeated string tags = 2;
  Kind kind = 3;
  enum Kind { NONE = 0; BIG = 1; }
  oneof pick { string one = 4; int64 two = 5; }
}
"#;

    const PROTO2: &str = r#"syntax = "proto2";
message G {
  optional string a = 1;
  optional int64 b = 2 [default = 5];
  optional group Inner = 3 { optional string c = 4; }
}
"#;

    fn both(message: &str, renders: &[&str]) {
        let m = compile(if message == "G" { PROTO2 } else { PROTO }, Some(message)).unwrap();
        let mut plan = RenderEncoder::new(&m);
        let whole = ProtoEncoder::new(&m, std::iter::empty());
        for r in renders {
            let (mut got, mut want) = (vec![7], vec![7]);
            let fits = plan.encode(r.as_bytes(), 300, &mut got);
            match whole.encode(r.as_bytes(), &mut want) {
                Ok(()) => {
                    frame(&mut want[1..], 300);
                    assert!(fits.is_ok(), "{r}: {fits:?}");
                    assert_eq!(got, want, "{r}");
                }
                Err(m) => {
                    assert_eq!(fits.unwrap_err().to_string(), m.to_string(), "{r}");
                    assert_eq!(got, [7], "{r}: out as it was");
                }
            }
        }
    }

    /// Whatever the plan writes is what the JSON mapping reads and `prost`
    /// encodes from a `DynamicMessage`, byte for byte; what it does not read
    /// (numbers as text, fractions for integers, enums, repeated fields) goes
    /// whole, and a misfit is the whole path's, naming the field.
    #[test]
    fn a_render_is_the_bytes_the_json_mapping_gives() {
        let m = compile(PROTO, Some("R")).unwrap();
        assert!(RenderEncoder::new(&m).planned());
        both(
            "R",
            &[
                r#"{"n":1,"city":"Oslo","temp":20,"ok":true}"#,
                r#"{"ok":false,"n":0,"city":"","temp":0.0,"zero":0,"small":-3,"big":18446744073709551615}"#,
                r#"{"n":-9223372036854775808,"s":-2,"f":1.5,"fx":7,"sfx":-1,"memo":null,"temp":null}"#,
                r#"{"f":16777217,"temp":-0.0,"place":{"name":"x","at":0,"inner":{"name":"y"}},"other":[1,{"a":2}]}"#,
                r#"{"place":{},"lineNote":"json name","line_note":null}"#,
                r#"{"city":"a \"quoted\" \u00e9","n":"12","small":1.0,"f":1e39}"#,
                r#"{"city":"a \"quoted\" \u00e9","memo":"tab\tx","place":{"name":"\\"}}"#,
                r#"{"n":1.5}"#,
                r#"{"small":2147483648}"#,
                r#"{"big":-1}"#,
                r#"{"ok":"yes"}"#,
                r#"{"place":{"at":"x"}}"#,
                r#"{"city":3}"#,
                r#"{}"#,
                r#"{"n":1,"n":2}"#,
            ],
        );
        let m = compile(PROTO, Some("E")).unwrap();
        assert!(!RenderEncoder::new(&m).planned());
        both(
            "E",
            &[
                r#"{"a":"x","tags":null,"kind":null}"#,
                r#"{"a":"x","tags":["p","q"],"kind":"BIG"}"#,
                r#"{"kind":"NOPE"}"#,
                r#"{"a":"","two":0}"#,
            ],
        );
        // proto2: every singular field has presence (a zero is written); a group is tag-delimited.
        both("G", &[r#"{"a":"","b":0}"#, r#"{"b":5,"inner":{"c":"x"}}"#, r#"{"Inner":{"c":"y"}}"#]);
    }

    /// A misfit names the field, as at load.
    #[test]
    fn a_render_that_does_not_fit_names_the_field() {
        let mut plan = RenderEncoder::new(&compile(PROTO, Some("R")).unwrap());
        let e = plan.encode(br#"{"city":"x","n":"many"}"#, 1, &mut Vec::new()).unwrap_err();
        assert_eq!(e.field, "n", "{e}");
    }

    /// A planned message allocates nothing (its buffers are reused).
    #[test]
    fn encoding_a_planned_render_allocates_nothing() {
        use crate::message::tests::alloc_count;
        let mut plan = RenderEncoder::new(&compile(PROTO, Some("R")).unwrap());
        let renders = [
            r#"{"n":1,"city":"Oslo","temp":20.25,"ok":true,"place":{"name":"x","inner":{"at":3}},"memo":null}"#,
            r#"{"n":2,"city":"Rome","temp":null,"ok":false,"place":null,"memo":"m","big":5}"#,
        ];
        let mut out = Vec::with_capacity(4096);
        for r in renders {
            out.clear();
            plan.encode(r.as_bytes(), 1, &mut out).unwrap();
        }
        let before = alloc_count::count();
        let mut bytes = 0;
        for k in 0..2_000 {
            out.clear();
            plan.encode(renders[k % 2].as_bytes(), 1, &mut out).unwrap();
            bytes += out.len();
        }
        assert_eq!(alloc_count::count() - before, 0);
        assert!(bytes > 2_000 * 10);
    }
}
