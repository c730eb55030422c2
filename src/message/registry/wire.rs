//! A message in a registry format, from what [`crate::message::MessageBuilder`]
//! built: the value framed (byte 0, the schema id) and, for Avro, the record's
//! datum encoded at load; the key as Avro when `KEY_FORMAT=avro`.
//!
//! Without `MESSAGE_FIELDS` an Avro value is the datum encoded at load, sent
//! as a borrowed slice like a JSON record. With them, the datum encoded at
//! load holds placeholders where the generated fields go: each message's
//! generated values (the builder says where in its JSON it wrote them) are
//! encoded and spliced in, into a reused buffer; a schema the encoder cannot
//! write field by field has the whole message encoded again. A JSON Schema
//! value is the JSON behind the frame, copied into a reused buffer. A
//! Protobuf value is the message encoded at load, and with `MESSAGE_FIELDS`
//! that message copied into a reused buffer with the generated fields after it.
//! A template's render is encoded whole per message (Avro, Protobuf), into
//! the reused buffer.

use std::sync::Arc;

use apache_avro::types::Value as Avro;
use apache_avro::{GenericSingleObjectWriter, Schema};

use super::avro::{frame, AvroEncoder, Encoded, Misfit, Placeholder, FRAME};
use super::protobuf::{Generated, RenderEncoder};
use super::validate::JsonValidator;

/// How values are written.
pub enum ValueWire {
    /// As built (`VALUE_FORMAT=json`).
    Json,
    /// The JSON behind the frame.
    JsonSchema { id: u32 },
    /// The datums encoded at load, framed with their id; `per_message` when
    /// `MESSAGE_FIELDS` changes each message: then each message's generated
    /// fields are encoded and spliced in at `splice` (each field's place in
    /// `MESSAGE_FIELDS` and schema position, in schema order), or, when the
    /// encoder cannot go field by field, the whole message is encoded again.
    /// The datums are those of the dataset in use: [`Wire::follow`] swaps them with it.
    Avro { id: u32, encoded: Arc<Encoded>, encoder: Box<AvroEncoder>, per_message: bool, splice: Vec<(usize, usize)> },
    /// The messages encoded at load, framed with their id and message indexes;
    /// with `MESSAGE_FIELDS`, each message's generated fields encoded after it.
    /// Those of the dataset in use, as for Avro.
    Protobuf { encoded: Arc<Encoded>, generated: Option<Box<Generated>> },
    /// A template's renders, each encoded as the values' message when sent.
    ProtobufRenders { id: u32, encoder: Box<RenderEncoder> },
}

/// An Avro key: a `string` or `long` schema registered under `<topic>-key`.
pub struct KeyWire {
    id: u32,
    long: bool,
    writer: GenericSingleObjectWriter,
    /// A string key's value, its buffer refilled for each key (no allocation per message).
    text: Avro,
}

impl KeyWire {
    pub fn new(id: u32, long: bool) -> Result<Self, String> {
        let schema = if long { Schema::Long } else { Schema::String };
        let writer = GenericSingleObjectWriter::new_with_capacity_and_header_builder(&schema, 64, Placeholder)
            .map_err(|e| e.to_string())?;
        Ok(KeyWire { id, long, writer, text: Avro::String(String::with_capacity(64)) })
    }

    /// The key's text as an Avro datum in `out` (cleared first); `false` when a
    /// `long` key's text is no whole number (sent without a key).
    fn encode(&mut self, text: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        let long;
        let value = if self.long {
            match std::str::from_utf8(text).ok().and_then(|t| t.parse::<i64>().ok()) {
                Some(n) => {
                    long = Avro::Long(n);
                    &long
                }
                None => return false,
            }
        } else {
            if let Avro::String(s) = &mut self.text {
                s.clear();
                s.push_str(&String::from_utf8_lossy(text));
            }
            &self.text
        };
        if self.writer.write_value_ref(value, out).is_err() {
            return false;
        }
        out.drain(..FRAME);
        frame(out, self.id);
        true
    }
}

/// Turns built messages into what the registry formats put on the wire.
pub struct Wire {
    value: ValueWire,
    key: Option<KeyWire>,
    value_buf: Vec<u8>,
    key_buf: Vec<u8>,
    /// Messages whose value could not be encoded or does not fit (not sent),
    /// since [`Self::take_misfits`]; none are expected from records checked
    /// at load, some may come from a template's renders.
    pub unencodable: u64,
    /// The last of them, and why.
    last_misfit: Option<Misfit>,
    /// Checks each JSON Schema value (a template's: its records were not checked at load).
    validator: Option<JsonValidator>,
}

impl Wire {
    pub fn new(value: ValueWire, key: Option<KeyWire>) -> Self {
        Wire {
            value,
            key,
            value_buf: Vec::with_capacity(4096),
            key_buf: Vec::with_capacity(64),
            unencodable: 0,
            last_misfit: None,
            validator: None,
        }
    }

    /// Whether each value is the datum encoded at load with the generated
    /// values spliced in: then only those values are needed, not the JSON.
    pub fn splices(&self) -> bool {
        matches!(&self.value, ValueWire::Avro { per_message: true, splice, .. } if !splice.is_empty())
    }

    /// Takes the values a reloaded dataset carries, encoded against the schema
    /// in use ([`crate::dataset::Dataset::attach`]), when it is put in use.
    pub fn follow(&mut self, attached: &crate::dataset::Attached) {
        let (ValueWire::Avro { encoded, .. } | ValueWire::Protobuf { encoded, .. }) = &mut self.value else {
            return;
        };
        if let Ok(values) = Arc::clone(&attached.0).downcast::<Encoded>() {
            *encoded = values;
        }
    }

    /// Checks each JSON Schema value against `validator` before it is sent.
    pub fn checking(mut self, validator: JsonValidator) -> Self {
        self.validator = Some(validator);
        self
    }

    /// How many values were not sent since the last call, and why the last was not.
    pub fn take_misfits(&mut self) -> Option<(u64, Misfit)> {
        let n = std::mem::take(&mut self.unencodable);
        self.last_misfit.take().filter(|_| n > 0).map(|m| (n, m))
    }

    /// Whether the value is the JSON as built (then only the key may change).
    pub fn is_json(&self) -> bool {
        matches!(self.value, ValueWire::Json)
    }

    /// Record `i`'s message: `built` is its JSON as the builder made it,
    /// `generated` where in it each `MESSAGE_FIELDS` value's JSON is, `key` its
    /// key text. An empty value is a message not to send (counted in
    /// [`Self::take_misfits`]): a framed value is never empty.
    pub fn apply<'a>(
        &'a mut self,
        i: usize,
        built: &'a [u8],
        generated: &[(usize, usize)],
        key: Option<&'a [u8]>,
    ) -> (&'a [u8], Option<&'a [u8]>) {
        let key = match (&mut self.key, key) {
            (Some(k), Some(text)) => k.encode(text, &mut self.key_buf).then_some(self.key_buf.as_slice()),
            (_, key) => key,
        };
        let value: &'a [u8] = match &mut self.value {
            ValueWire::Json => built,
            ValueWire::JsonSchema { id } => {
                if let Some(Err(m)) = self.validator.as_ref().map(|v| v.check(built)) {
                    misfit(&mut self.unencodable, &mut self.last_misfit, &mut self.value_buf, m);
                    return (&self.value_buf, key);
                }
                self.value_buf.clear();
                self.value_buf.extend_from_slice(&[0; FRAME]);
                frame(&mut self.value_buf, *id);
                self.value_buf.extend_from_slice(built);
                &self.value_buf
            }
            ValueWire::ProtobufRenders { id, encoder } => {
                self.value_buf.clear();
                if let Err(m) = encoder.encode(built, *id, &mut self.value_buf) {
                    misfit(&mut self.unencodable, &mut self.last_misfit, &mut self.value_buf, m);
                }
                &self.value_buf
            }
            ValueWire::Avro { encoded, per_message: false, .. } => encoded.get(i),
            ValueWire::Protobuf { encoded, generated: None } => encoded.get(i),
            ValueWire::Protobuf { encoded, generated: Some(fields) } => {
                self.value_buf.clear();
                self.value_buf.extend_from_slice(encoded.get(i));
                if fields.append(built, &mut self.value_buf).is_err() {
                    self.unencodable += 1;
                }
                &self.value_buf
            }
            ValueWire::Avro { encoded, encoder, per_message: true, splice, .. } if !splice.is_empty() => {
                // The builder said where it wrote each value: the message is not read again.
                let (datum, spans) = (encoded.get(i), encoded.spans(i));
                self.value_buf.clear();
                let mut pos = 0;
                for (&(start, end), &(field, position)) in spans.iter().zip(splice.iter()) {
                    self.value_buf.extend_from_slice(&datum[pos..start as usize]);
                    let value = generated.get(field).and_then(|&(s, e)| built.get(s..e));
                    if let Err(m) = encoder.encode_field(position, value, &mut self.value_buf) {
                        misfit(&mut self.unencodable, &mut self.last_misfit, &mut self.value_buf, m);
                        return (&self.value_buf, key);
                    }
                    pos = end as usize;
                }
                self.value_buf.extend_from_slice(&datum[pos..]);
                &self.value_buf
            }
            ValueWire::Avro { id, encoder, per_message: true, .. } => {
                self.value_buf.clear();
                if let Err(m) = encoder.encode(built, *id, &mut self.value_buf) {
                    misfit(&mut self.unencodable, &mut self.last_misfit, &mut self.value_buf, m);
                }
                &self.value_buf
            }
        };
        (value, key)
    }
}

/// A value not sent: counted, its reason kept, and the buffer left empty.
fn misfit(count: &mut u64, last: &mut Option<Misfit>, buf: &mut Vec<u8>, m: Misfit) {
    *count += 1;
    *last = Some(m);
    buf.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avro_wire(per_message: bool) -> Wire {
        let schema =
            Schema::parse_str(r#"{"type":"record","name":"T","fields":[{"name":"a","type":"long"}]}"#).unwrap();
        let mut encoder = AvroEncoder::new(&schema).unwrap();
        let mut encoded = Encoded::default();
        encoded.push(&mut encoder, br#"{"a":1}"#).unwrap();
        encoded.set_id(9);
        let (encoded, encoder) = (Arc::new(encoded), Box::new(encoder));
        let splice = Vec::new();
        Wire::new(
            ValueWire::Avro { id: 9, encoded, encoder, per_message, splice },
            Some(KeyWire::new(3, true).unwrap()),
        )
    }

    #[test]
    fn an_avro_value_is_the_datum_encoded_at_load_and_the_key_avro_too() {
        let mut w = avro_wire(false);
        let (value, key) = w.apply(0, br#"{"a":5}"#, &[], Some(b"-2"));
        assert_eq!(value, [0, 0, 0, 0, 9, 2], "record 0 as loaded, whatever was built");
        assert_eq!(key, Some(&[0, 0, 0, 0, 3, 3][..]), "long -2, zigzag");
        let (_, key) = w.apply(0, br#"{"a":5}"#, &[], None);
        assert_eq!(key, None);
    }

    /// A reloaded dataset's datums replace the first's; anything else attached is not datums.
    #[test]
    fn follow_takes_the_datums_a_reloaded_dataset_carries() {
        let mut w = avro_wire(false);
        let schema =
            Schema::parse_str(r#"{"type":"record","name":"T","fields":[{"name":"a","type":"long"}]}"#).unwrap();
        let mut other = Encoded::default();
        other.push(&mut AvroEncoder::new(&schema).unwrap(), br#"{"a":3}"#).unwrap();
        other.set_id(9);
        w.follow(&crate::dataset::Attached(Arc::new(other)));
        assert_eq!(w.apply(0, b"{}", &[], None).0, [0, 0, 0, 0, 9, 6], "long 3, zigzag");
        w.follow(&crate::dataset::Attached(Arc::new(1u8)));
        assert_eq!(w.apply(0, b"{}", &[], None).0, [0, 0, 0, 0, 9, 6]);
    }

    #[test]
    fn with_message_fields_each_value_is_encoded_again() {
        let mut w = avro_wire(true);
        let (value, key) = w.apply(0, br#"{"a":5}"#, &[], Some(b"x"));
        assert_eq!(value, [0, 0, 0, 0, 9, 10]);
        assert_eq!(key, None, "a long key that is no number is left out");
        assert_eq!(w.unencodable, 0);
    }

    /// With MESSAGE_FIELDS the generated fields are spliced into the datum
    /// encoded at load: the same bytes as the message encoded whole.
    #[test]
    fn generated_fields_are_spliced_into_the_datum_encoded_at_load() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"T","fields":[{"name":"id","type":"string"},{"name":"a","type":"long"},{"name":"memo","type":["null","string"]},{"name":"seq","type":"long"}]}"#,
        )
        .unwrap();
        let mut encoder = AvroEncoder::new(&schema).unwrap();
        let positions = [encoder.field_position("id").unwrap(), encoder.field_position("seq").unwrap()];
        let mut encoded = Encoded::default();
        encoded.push_noting(&mut encoder, br#"{"id":"","a":7,"memo":"m","seq":1}"#, &positions).unwrap();
        encoded.push_noting(&mut encoder, br#"{"id":"","a":-1,"memo":null,"seq":1}"#, &positions).unwrap();
        encoded.set_id(5);
        let encoded = Arc::new(encoded);
        // MESSAGE_FIELDS=seq=seq(),id=uuid(): seq is field 0, id field 1.
        let splice = vec![(1, positions[0]), (0, positions[1])];
        let per_message = true;
        let value = ValueWire::Avro { id: 5, encoded, encoder: Box::new(encoder), per_message, splice };
        let mut w = Wire::new(value, None);
        let mut whole = AvroEncoder::new(&schema).unwrap();
        for (i, built) in [
            r#"{"id":"0b6c2c4e-6c1f-4b8e-9a43-2f7b1d0b9c11","a":7,"memo":"m","seq":123456}"#,
            r#"{"a":-1,"memo":null,"id":"x","seq":2}"#,
        ]
        .iter()
        .enumerate()
        {
            let mut expected = Vec::new();
            whole.encode(built.as_bytes(), 5, &mut expected).unwrap();
            // Where the builder wrote each generated value (seq, id).
            let at = |key: &str| {
                let start = built.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
                let len = built[start..].find([',', '}']).unwrap();
                (start, start + len)
            };
            let generated = [at("seq"), at("id")];
            assert_eq!(w.apply(i, built.as_bytes(), &generated, None).0, expected, "{built}");
        }
        assert_eq!(w.unencodable, 0);
    }

    /// A key, string or long, is written into the reused buffer with nothing allocated.
    #[test]
    fn an_avro_key_allocates_nothing() {
        use crate::message::tests::alloc_count;
        let mut w = Wire::new(ValueWire::Json, Some(KeyWire::new(4, false).unwrap()));
        let mut l = Wire::new(ValueWire::Json, Some(KeyWire::new(4, true).unwrap()));
        let keys: [&[u8]; 3] = [b"acct-17", "a longer key, with \u{e9}".as_bytes(), b"k"];
        let _ = (w.apply(0, b"{}", &[], Some(keys[1])), l.apply(0, b"{}", &[], Some(b"12")));
        let before = alloc_count::count();
        let mut bytes = 0;
        for k in 0..3_000 {
            bytes += w.apply(0, b"{}", &[], Some(keys[k % 3])).1.map_or(0, <[u8]>::len);
            bytes += l.apply(0, b"{}", &[], Some(b"-123456789")).1.map_or(0, <[u8]>::len);
        }
        assert_eq!(alloc_count::count() - before, 0);
        assert!(bytes > 3_000 * 10);
        assert_eq!(w.apply(0, b"{}", &[], Some(b"k1")).1, Some(&[0, 0, 0, 0, 4, 4, b'k', b'1'][..]));
    }

    #[test]
    fn a_json_schema_value_is_the_json_behind_the_frame() {
        let mut w = Wire::new(ValueWire::JsonSchema { id: 258 }, Some(KeyWire::new(4, false).unwrap()));
        let (value, key) = w.apply(0, br#"{"a":1}"#, &[], Some(b"k1"));
        assert_eq!(value, b"\0\0\0\x01\x02{\"a\":1}");
        assert_eq!(key, Some(&[0, 0, 0, 0, 4, 4, b'k', b'1'][..]));
    }
}
