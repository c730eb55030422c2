//! Protobuf values (`VALUE_FORMAT=protobuf`): a `.proto` compiled at run time
//! by `protox`, each record's JSON read into a `prost-reflect` message by its
//! serde support (the Protobuf JSON mapping: fields by name or JSON name, an
//! `int64` as a number or a string, a column the message has no field for
//! ignored, as Avro ignores it) and encoded by `prost`.
//!
//! The wire format is Confluent's: byte 0, the schema id as 4 bytes big-endian,
//! the message indexes (which message of the file the value is: its path among
//! the top-level and nested messages, as zigzag varints after their count, or a
//! single 0 byte for the file's first message), then the message.
//!
//! With `MESSAGE_FIELDS` the message encoded at load leaves the generated fields
//! out, and each message's values of them are encoded after it, into a reused
//! buffer ([`Generated`]): a Protobuf decoder merges fields wherever they come
//! in the message (and, for a scalar written twice, keeps the last one).
//!
//! With `MESSAGE_TEMPLATE` each render is encoded per message ([`render`]).

use std::borrow::Cow;

use miette::Diagnostic;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions,
    Value,
};

use super::avro::{Misfit, FRAME};

pub mod imports;
mod render;
pub use self::render::RenderEncoder;

pub use self::imports::{Loader, ProtoFile, ProtoFiles};

/// The name a `.proto` read whole (derived, or a registry version without
/// references) is compiled under (the errors name its origin instead).
pub const FILE: &str = "value.proto";

/// Compiles `text` alone: [`compile_files`].
pub fn compile(text: &str, wanted: Option<&str>) -> Result<MessageDescriptor, String> {
    compile_files(&ProtoFiles::single(FILE, text), wanted)
}

/// Compiles the main file of `files` (its imports served from the others,
/// Google's well-known types from protox) and picks the values' message:
/// `wanted` (`VALUE_SCHEMA_MESSAGE`), else the file's only top-level message.
/// The error is the compiler's message with its line and column (and the
/// file, when it is an imported one), or what names are there.
pub fn compile_files(files: &ProtoFiles, wanted: Option<&str>) -> Result<MessageDescriptor, String> {
    let main = files.main.name.as_str();
    let mut compiler = protox::Compiler::with_file_resolver(files.resolver());
    compiler.open_file(main).map_err(|e| match e.file().filter(|&f| f != main) {
        Some(other) => format!("{other}: {}", with_position(&e, files.text(other).unwrap_or_default())),
        None => with_position(&e, &files.main.text),
    })?;
    let pool: DescriptorPool = compiler.descriptor_pool();
    let file = pool.get_file_by_name(main).ok_or_else(|| "the file did not compile".to_owned())?;
    let all: Vec<MessageDescriptor> = pool.all_messages().filter(|m| m.parent_file().name() == main).collect();
    let top: Vec<&MessageDescriptor> = all.iter().filter(|m| m.parent_message().is_none()).collect();
    let names = |ms: &[&MessageDescriptor]| ms.iter().map(|m| m.full_name()).collect::<Vec<_>>().join(", ");
    match wanted {
        Some(name) => {
            let package = file.package_name();
            let full = if package.is_empty() { name.to_owned() } else { format!("{package}.{name}") };
            let found = all.iter().find(|m| m.full_name() == name || m.full_name() == full);
            found.cloned().ok_or_else(|| {
                let every: Vec<&MessageDescriptor> = all.iter().collect();
                format!(
                    "VALUE_SCHEMA_MESSAGE={name} is no message of it; its messages: {}",
                    if every.is_empty() { "none".into() } else { names(&every) }
                )
            })
        }
        None => match top.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err("it defines no message".into()),
            many => Err(format!(
                "it has {} top-level messages ({}): set VALUE_SCHEMA_MESSAGE to the values' message",
                many.len(),
                names(many)
            )),
        },
    }
}

/// The compiler's message, with the line and column of the place it points at in `text`.
fn with_position(e: &protox::Error, text: &str) -> String {
    let message = crate::sink::registry::error_chain(e);
    let at = e.labels().and_then(|mut l| l.next()).map(|l| l.offset());
    let Some(offset) = at.filter(|&o| o <= text.len()) else {
        return message;
    };
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{message} (line {line}, column {column})")
}

/// The message indexes of `message` in Confluent's framing: the file's first
/// message is the single byte 0; any other its count and path as zigzag varints.
pub fn message_indexes(message: &MessageDescriptor) -> Vec<u8> {
    // path() is [4, i, 3, j, 3, k...]: message_type i, its nested_type j, ...
    let path: Vec<i64> = message.path().iter().skip(1).step_by(2).map(|&i| i64::from(i)).collect();
    if path == [0] {
        return vec![0];
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for n in std::iter::once(path.len() as i64).chain(path) {
        prost::encoding::encode_varint(((n << 1) ^ (n >> 63)) as u64, &mut out);
    }
    out
}

/// The values encoded at load read back as JSON, for `preview`: what a
/// consumer decodes (every field of the message by its proto name, defaults
/// included, 64-bit integers as numbers; a column the message has no field
/// for is gone). `None` for a value that does not decode (none is expected).
pub fn read_back(value: &[u8], message: &MessageDescriptor) -> Option<Vec<u8>> {
    let skip = FRAME + message_indexes(message).len();
    let decoded = DynamicMessage::decode(message.clone(), value.get(skip..)?).ok()?;
    let options =
        SerializeOptions::new().use_proto_field_name(true).stringify_64_bit_integers(false).skip_default_fields(false);
    let mut out = Vec::with_capacity(value.len() * 2);
    decoded.serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options).ok()?;
    Some(out)
}

/// Reads records' JSON into the values' message and encodes it, framed.
pub struct ProtoEncoder {
    message: MessageDescriptor,
    /// The frame with id 0 (written later: [`Encoded::set_id`]) and the message indexes.
    prefix: Vec<u8>,
    /// Left out of the message encoded at load: `MESSAGE_FIELDS` sets them per message.
    generated: Vec<FieldDescriptor>,
    options: DeserializeOptions,
}

impl ProtoEncoder {
    /// `generated`: the names of the fields `MESSAGE_FIELDS` sets.
    pub fn new<'a>(message: &MessageDescriptor, generated: impl IntoIterator<Item = &'a str>) -> Self {
        let mut prefix = vec![0; FRAME];
        prefix.extend(message_indexes(message));
        let generated = generated.into_iter().filter_map(|name| field(message, name)).collect();
        let options = DeserializeOptions::new().deny_unknown_fields(false);
        ProtoEncoder { message: message.clone(), prefix, generated, options }
    }

    /// Appends `json`'s framed message to `out`; on a misfit `out` is as it was.
    pub fn encode(&self, json: &[u8], out: &mut Vec<u8>) -> Result<(), Misfit> {
        let mut message = self.read(json).map_err(|e| self.misfit(json, e))?;
        for f in &self.generated {
            message.clear_field(f);
        }
        out.extend_from_slice(&self.prefix);
        message.encode(out).map_err(|e| Misfit { field: String::new(), problem: e.to_string() })
    }

    fn read(&self, json: &[u8]) -> Result<DynamicMessage, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let message = DynamicMessage::deserialize_with_options(self.message.clone(), &mut de, &self.options)?;
        de.end()?;
        Ok(message)
    }

    /// Why `json` does not fit: the first top-level member that does not fit
    /// alone names the field.
    fn misfit(&self, json: &[u8], whole: serde_json::Error) -> Misfit {
        let mut found = None;
        crate::dataset::columns::members(json, |key, value| {
            if found.is_some() {
                return;
            }
            let one = [b"{", key, b":", value, b"}"].concat();
            if let Err(e) = self.read(&one) {
                let name = serde_json::from_slice::<String>(key).unwrap_or_default();
                let shown = String::from_utf8_lossy(value);
                let shown = match shown.chars().count() > 40 {
                    true => format!("{}...", shown.chars().take(37).collect::<String>()),
                    false => shown.into_owned(),
                };
                found = Some(Misfit { field: name, problem: format!("{}, found {shown}", without_position(&e)) });
            }
        });
        found.unwrap_or_else(|| Misfit { field: String::new(), problem: without_position(&whole) })
    }
}

/// A serde_json error without its " at line 1 column 17" (of a one-line record).
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The field `name` (the proto name or its JSON name, as the JSON mapping takes either).
fn field(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message.get_field_by_name(name).or_else(|| message.get_field_by_json_name(name))
}

/// The `MESSAGE_FIELDS` fields of each message, encoded after the message
/// encoded at load. One message holding only them is reused: a string's
/// buffer is refilled in place, so a message allocates nothing.
pub struct Generated {
    scratch: DynamicMessage,
    /// Each generated field's JSON key in the built message, and its field.
    fields: Vec<(Vec<u8>, FieldDescriptor)>,
    raw: Vec<Option<(usize, usize)>>,
}

impl Generated {
    /// `None` when `MESSAGE_FIELDS` (the names in `generated`) sets no field the message has.
    pub fn new<'a>(message: &MessageDescriptor, generated: impl IntoIterator<Item = &'a str>) -> Option<Box<Self>> {
        let fields: Vec<(Vec<u8>, FieldDescriptor)> = generated
            .into_iter()
            .filter_map(|name| Some((serde_json::to_vec(name).ok()?, field(message, name)?)))
            // A generated value is one scalar: a repeated or map field took no
            // record at load (the check puts that scalar in it), and setting
            // one to a scalar would panic.
            .filter(|(_, f)| !f.is_list() && !f.is_map())
            .collect();
        let raw = vec![None; fields.len()];
        (!fields.is_empty()).then(|| Box::new(Generated { scratch: DynamicMessage::new(message.clone()), fields, raw }))
    }

    /// Appends the generated fields' values in `built` (the message's JSON) to `out`.
    pub fn append(&mut self, built: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let raw = &mut self.raw;
        raw.iter_mut().for_each(|r| *r = None);
        let base = built.as_ptr() as usize;
        let fields = &self.fields;
        crate::dataset::columns::members(built, |key, value| {
            if let Some(x) = fields.iter().position(|(k, _)| k == key) {
                let at = value.as_ptr() as usize - base;
                raw[x] = Some((at, at + value.len()));
            }
        });
        for ((_, f), place) in self.fields.iter().zip(self.raw.iter()) {
            match place {
                Some((s, e)) => set(&mut self.scratch, f, &built[*s..*e])?,
                None => self.scratch.clear_field(f),
            }
        }
        self.scratch.encode(out).map_err(|e| e.to_string())
    }
}

/// Sets field `f` of `m` to the raw JSON value, reusing a string's buffer.
fn set(m: &mut DynamicMessage, f: &FieldDescriptor, raw: &[u8]) -> Result<(), String> {
    let wrong = || format!("field {}: {} does not fit a {:?}", f.name(), String::from_utf8_lossy(raw), f.kind());
    let value = match f.kind() {
        Kind::String => {
            // Borrowed when written without escapes (serde's Cow<str> would always copy).
            let text: Cow<str> = match serde_json::from_slice::<&str>(raw) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => Cow::Owned(serde_json::from_slice::<String>(raw).map_err(|_| wrong())?),
            };
            if let Value::String(s) = m.get_field_mut(f) {
                s.clear();
                s.push_str(&text);
                return Ok(());
            }
            Value::String(text.into_owned())
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(parse(raw).ok_or_else(wrong)?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(parse(raw).ok_or_else(wrong)?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(parse(raw).ok_or_else(wrong)?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(parse(raw).ok_or_else(wrong)?),
        Kind::Double => Value::F64(parse(raw).ok_or_else(wrong)?),
        Kind::Float => Value::F32(parse(raw).ok_or_else(wrong)?),
        _ => return Err(wrong()),
    };
    m.set_field(f, value);
    Ok(())
}

/// A whole number written as a JSON number or (the JSON mapping's 64-bit form) a string.
fn parse<T: std::str::FromStr>(raw: &[u8]) -> Option<T> {
    let text = std::str::from_utf8(raw).ok()?;
    text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text).parse().ok()
}

#[cfg(test)]
mod tests;
