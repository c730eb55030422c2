//! Turning a dataset record into the message that is sent: fresh field values
//! (`MESSAGE_FIELDS`), a key (`MESSAGE_KEY_FIELD`) and headers
//! (`MESSAGE_HEADERS`).
//!
//! Records stay as serialized at load. [`RecordIndex`] has found, once, where
//! each replaced value and the key sit in every record's bytes; per message,
//! [`MessageBuilder::build`] copies the record's slices around those values
//! into one reused buffer and writes the fresh values between them (librdkafka
//! copies the payload on send, so the buffer is free again at once). Nothing
//! is parsed, re-serialized or allocated per message. With no fields
//! configured the payload is the record itself, not a copy.
//!
//! `uuid()` values come from their own RNG, seeded from `RANDOM_SEED` apart
//! from the sampler's, so a run is repeatable and adding a `uuid()` field does
//! not change which records are picked.

pub mod config;
pub mod index;
mod records;
pub mod registry;
pub mod spec;
pub mod template;

use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use index::ABSENT;
pub use index::{IndexError, RecordIndex};
pub use records::Records;
pub use spec::{parse_fields, parse_headers, Assignment, Generator, SpecError};

/// Builds whole messages from records stored for it (a template's): the
/// builder hands each message over, with its number in the run and send time.
pub trait Assemble: Send {
    fn assemble(&mut self, record: &[u8], seq: u64, ms: u64) -> Message<'_>;
    /// Whether a message needs the send time.
    fn needs_time(&self) -> bool;
}

/// What the message settings ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageSpec {
    /// `MESSAGE_KEY_FIELD`: a column, or a field set by `fields`.
    pub key_field: Option<String>,
    /// `MESSAGE_FIELDS`.
    pub fields: Vec<Assignment>,
    /// `MESSAGE_HEADERS`.
    pub headers: Vec<Assignment>,
}

/// A seed from the OS, for runs without `RANDOM_SEED` (logged so they can be repeated).
pub fn os_seed() -> u64 {
    rand::random()
}

/// Mixed into `RANDOM_SEED` for the `uuid()` stream, so it differs from the sampler's.
const UUID_STREAM: u64 = 0x9e37_79b9_7f4a_7c15;

struct Field {
    value: Generator,
    /// `"name":`, serialized once (names may need escaping).
    member: Vec<u8>,
    /// A constant's JSON string, serialized once.
    json: Vec<u8>,
}

/// A header's name and value form, as configured.
#[derive(Debug)]
pub struct Header {
    name: String,
    value: Generator,
}

#[derive(Debug, Clone, Copy)]
enum KeyFrom {
    None,
    /// A dataset column: looked up in the index.
    Record,
    /// A generated field (its position in `MESSAGE_FIELDS`).
    Field(usize),
}

/// Where this message's key is, found while writing it.
#[derive(Clone, Copy)]
enum KeyAt {
    None,
    Record,
    Payload(usize, usize),
    Const(usize),
}

/// Builds each message into reused buffers. One per send loop.
pub struct MessageBuilder {
    index: RecordIndex,
    /// What the index is built for, to rebuild it for a reloaded dataset.
    names: Vec<String>,
    index_key: Option<String>,
    fields: Vec<Field>,
    headers: Vec<Header>,
    key: KeyFrom,
    rng: SmallRng,
    seq: u64,
    clock: Clock,
    payload: Vec<u8>,
    header_values: Vec<u8>,
    header_ends: Vec<usize>,
    /// Where each `MESSAGE_FIELDS` value's JSON is in `payload` (a registry
    /// format encodes them without reading the message again).
    generated: Vec<(usize, usize)>,
    /// A registry format's framing and encoding (`VALUE_FORMAT`, `KEY_FORMAT`).
    wire: Option<registry::wire::Wire>,
    /// `MESSAGE_TEMPLATE`: the records are the template's stored records, and it builds each message.
    template: Option<Box<dyn Assemble>>,
}

/// One message, borrowed from the builder until the next `build`.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub payload: &'a [u8],
    /// `None`: no key (no key field, or a null or missing value).
    pub key: Option<&'a [u8]>,
    pub headers: Headers<'a>,
}

/// This message's headers, in configured order.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    specs: &'a [Header],
    values: &'a [u8],
    ends: &'a [usize],
}

impl<'a> Headers<'a> {
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let (specs, values, ends) = (self.specs, self.values, self.ends);
        specs.iter().enumerate().map(move |(i, h)| {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            (h.name.as_str(), &values[start..ends[i]])
        })
    }
}

impl MessageBuilder {
    /// Indexes `records` for `spec`. Fails when a record is not a JSON object or
    /// the key names a column no record has.
    pub fn new<R: Records + ?Sized>(spec: &MessageSpec, records: &R, seed: u64) -> Result<Self, IndexError> {
        let names: Vec<&str> = spec.fields.iter().map(|a| a.name.as_str()).collect();
        let key_field = spec.key_field.as_deref();
        let key = match key_field {
            None => KeyFrom::None,
            Some(k) => names.iter().position(|n| *n == k).map_or(KeyFrom::Record, KeyFrom::Field),
        };
        let index_key = if matches!(key, KeyFrom::Record) { key_field } else { None };
        let index = RecordIndex::build(records, &names, index_key)?;
        let (names, index_key) = (names.iter().map(|n| n.to_string()).collect(), index_key.map(str::to_owned));

        let fields: Vec<Field> = spec
            .fields
            .iter()
            .map(|a| {
                let mut member = serde_json::to_vec(&a.name).expect("a string always serializes");
                member.push(b':');
                let json = match &a.value {
                    Generator::Const(s) => serde_json::to_vec(s).expect("a string always serializes"),
                    _ => Vec::new(),
                };
                Field { value: a.value.clone(), member, json }
            })
            .collect();
        let headers: Vec<Header> =
            spec.headers.iter().map(|a| Header { name: a.name.clone(), value: a.value.clone() }).collect();

        // Sized once for the largest message, so no send ever grows them.
        let payload = Vec::with_capacity(payload_capacity(&fields, records));
        let header_values = Vec::with_capacity(headers.iter().map(|h| h.value.to_string().len() + 40).sum());
        let header_ends = Vec::with_capacity(headers.len());
        let generated = vec![(0, 0); fields.len()];

        Ok(Self {
            index,
            names,
            index_key,
            fields,
            headers,
            key,
            rng: SmallRng::seed_from_u64(seed ^ UUID_STREAM),
            seq: 0,
            clock: Clock::default(),
            payload,
            header_values,
            header_ends,
            generated,
            wire: None,
            template: None,
        })
    }

    /// Writes values and keys in a registry format from now on.
    pub fn set_wire(&mut self, wire: registry::wire::Wire) {
        self.wire = Some(wire);
    }

    /// Whether values go in a registry format: then an empty value is one
    /// not to send (see [`registry::wire::Wire::apply`]).
    pub fn framed(&self) -> bool {
        self.wire.as_ref().is_some_and(|w| !w.is_json())
    }

    /// The values not sent since the last call (they do not fit the schema), and why the last was not.
    pub fn take_misfits(&mut self) -> Option<(u64, registry::avro::Misfit)> {
        self.wire.as_mut()?.take_misfits()
    }

    /// A builder for the records [`template::prepare`] stored: `messages` builds each message.
    pub fn from_template(messages: Box<dyn Assemble>) -> Self {
        let none: &[&[u8]] = &[];
        let mut b = Self::new(&MessageSpec::default(), none, 0).expect("nothing to index");
        b.template = Some(messages);
        b
    }

    /// Indexes a reloaded dataset in place of the one before. On an error
    /// (the key column is gone, a record is no object) the builder is
    /// unchanged and still fits the previous dataset.
    pub fn reindex<R: Records + ?Sized>(&mut self, records: &R) -> Result<(), IndexError> {
        if self.template.is_some() {
            return Ok(()); // a template's stored records carry their own offsets
        }
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        self.index = RecordIndex::build(records, &names, self.index_key.as_deref())?;
        if let (Some(wire), Some(attached)) = (&mut self.wire, records.attached()) {
            wire.follow(attached);
        }
        let capacity = payload_capacity(&self.fields, records);
        self.payload.reserve(capacity.saturating_sub(self.payload.len()));
        Ok(())
    }

    /// Whether any value is a time (`now()`, `now_ms()`, `now_s()`): if not,
    /// the sender need not read the clock for each message.
    pub fn needs_time(&self) -> bool {
        if let Some(t) = &self.template {
            return t.needs_time();
        }
        let time = |g: &Generator| matches!(g, Generator::Now | Generator::NowMs | Generator::NowS);
        self.fields.iter().any(|f| time(&f.value)) || self.headers.iter().any(|h| time(&h.value))
    }

    /// The index built for the dataset (for the load summary).
    pub fn index(&self) -> &RecordIndex {
        &self.index
    }

    /// The message for record `i` of `records` (the same records the builder
    /// was made with), sent at `now`. Each call is one message: `seq()` counts
    /// up and every `uuid()` is new.
    pub fn build<'a, R: Records + ?Sized>(&'a mut self, records: &'a R, i: usize, now: SystemTime) -> Message<'a> {
        let record = records.record(i);
        self.seq += 1;
        let ms = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        if let Some(t) = self.template.as_deref_mut() {
            let m = t.assemble(record, self.seq, ms);
            return match &mut self.wire {
                Some(wire) => {
                    let (payload, key) = wire.apply(i, m.payload, &[], m.key);
                    Message { payload, key, headers: m.headers }
                }
                None => m,
            };
        }
        let mut gen = Gen { rng: &mut self.rng, clock: &mut self.clock, seq: self.seq, ms };

        let mut key_at = match self.key {
            KeyFrom::None => KeyAt::None,
            KeyFrom::Record => KeyAt::Record,
            KeyFrom::Field(_) => KeyAt::None, // set below, where the field is written
        };
        let values_only = self.wire.as_ref().is_some_and(registry::wire::Wire::splices);
        if values_only {
            // The wire splices the generated values into the datum encoded at
            // load: it needs them alone, drawn in the order the JSON draws them.
            let buf = &mut self.payload;
            buf.clear();
            for s in self.index.spans(i) {
                let start = buf.len();
                let at = gen.field(buf, &self.fields[s.field as usize]);
                self.generated[s.field as usize] = (start, buf.len());
                note_key(&mut key_at, self.key, s.field as usize, &self.fields, at);
            }
        } else if !self.fields.is_empty() {
            let buf = &mut self.payload;
            buf.clear();
            let close = closing_brace(record);
            let mut pos = 0;
            let spans = self.index.spans(i);
            let present = spans.iter().take_while(|s| s.start != ABSENT).count();
            for s in &spans[..present] {
                buf.extend_from_slice(&record[pos..s.start as usize]);
                let start = buf.len();
                let at = gen.field(buf, &self.fields[s.field as usize]);
                self.generated[s.field as usize] = (start, buf.len());
                note_key(&mut key_at, self.key, s.field as usize, &self.fields, at);
                pos = s.end as usize;
            }
            buf.extend_from_slice(&record[pos..close]);
            let mut comma = present > 0 || has_members(&record[..close]);
            for s in &spans[present..] {
                let f = &self.fields[s.field as usize];
                if comma {
                    buf.push(b',');
                }
                comma = true;
                buf.extend_from_slice(&f.member);
                let start = buf.len();
                let at = gen.field(buf, f);
                self.generated[s.field as usize] = (start, buf.len());
                note_key(&mut key_at, self.key, s.field as usize, &self.fields, at);
            }
            buf.extend_from_slice(&record[close..]);
        }

        self.header_values.clear();
        self.header_ends.clear();
        for h in &self.headers {
            gen.header(&mut self.header_values, &h.value);
            self.header_ends.push(self.header_values.len());
        }

        let payload: &[u8] = if self.fields.is_empty() { record } else { &self.payload };
        let key = match key_at {
            KeyAt::None => None,
            KeyAt::Record => self.index.key(record, i),
            KeyAt::Payload(s, e) => Some(&self.payload[s..e]),
            KeyAt::Const(f) => match &self.fields[f].value {
                Generator::Const(s) => Some(s.as_bytes()),
                _ => unreachable!("KeyAt::Const is only noted for constants"),
            },
        };
        let (payload, key) = match &mut self.wire {
            Some(wire) => wire.apply(i, payload, &self.generated, key),
            None => (payload, key),
        };
        Message {
            payload,
            key,
            headers: Headers { specs: &self.headers, values: &self.header_values, ends: &self.header_ends },
        }
    }
}

/// Room for the largest record with every field spliced in or appended.
fn payload_capacity<R: Records + ?Sized>(fields: &[Field], records: &R) -> usize {
    if fields.is_empty() {
        return 0;
    }
    let longest = (0..records.count()).map(|i| records.record(i).len()).max().unwrap_or(0);
    longest + fields.iter().map(|f| f.member.len() + f.json.len() + 40).sum::<usize>()
}

/// Records the key's place when `field` is the key field.
fn note_key(key_at: &mut KeyAt, key: KeyFrom, field: usize, fields: &[Field], text: (usize, usize)) {
    if let KeyFrom::Field(k) = key {
        if k == field {
            *key_at = match fields[field].value {
                Generator::Const(_) => KeyAt::Const(field),
                _ => KeyAt::Payload(text.0, text.1),
            };
        }
    }
}

/// Where the record's closing `}` is (records are objects, checked by the index).
fn closing_brace(record: &[u8]) -> usize {
    record.iter().rposition(|&b| b == b'}').expect("an indexed record is a JSON object")
}

/// Whether an object (up to, not including, its closing brace) has a member.
fn has_members(open: &[u8]) -> bool {
    let after = open.iter().position(|&b| b == b'{').map_or(open.len(), |p| p + 1);
    open[after..].iter().any(|b| !b.is_ascii_whitespace())
}

/// One message's generated values.
struct Gen<'a> {
    rng: &'a mut SmallRng,
    clock: &'a mut Clock,
    seq: u64,
    ms: u64,
}

impl Gen<'_> {
    /// Writes `f`'s value as JSON; returns where its text (without quotes) is.
    fn field(&mut self, buf: &mut Vec<u8>, f: &Field) -> (usize, usize) {
        let quoted = matches!(f.value, Generator::Uuid | Generator::Now);
        if quoted {
            buf.push(b'"');
        }
        let start = buf.len();
        match &f.value {
            Generator::Const(_) => buf.extend_from_slice(&f.json),
            g => self.text(buf, g),
        }
        let end = buf.len();
        if quoted {
            buf.push(b'"');
        }
        (start, end)
    }

    /// Writes a header's value: the text, as bytes.
    fn header(&mut self, buf: &mut Vec<u8>, g: &Generator) {
        match g {
            Generator::Const(s) => buf.extend_from_slice(s.as_bytes()),
            g => self.text(buf, g),
        }
    }

    fn text(&mut self, buf: &mut Vec<u8>, g: &Generator) {
        match g {
            Generator::Uuid => {
                let id = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
                buf.extend_from_slice(id.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).as_bytes());
            }
            Generator::Now => buf.extend_from_slice(self.clock.rfc3339(self.ms)),
            Generator::NowMs => buf.extend_from_slice(itoa::Buffer::new().format(self.ms).as_bytes()),
            Generator::NowS => buf.extend_from_slice(itoa::Buffer::new().format(self.ms / 1000).as_bytes()),
            Generator::Seq => buf.extend_from_slice(itoa::Buffer::new().format(self.seq).as_bytes()),
            Generator::Const(s) => buf.extend_from_slice(s.as_bytes()),
        }
    }
}

/// `now()`'s text, formatted once per millisecond (a batch is sent within one).
struct Clock {
    ms: u64,
    text: [u8; 24],
}

impl Default for Clock {
    fn default() -> Self {
        Self { ms: u64::MAX, text: [0; 24] }
    }
}

impl Clock {
    fn rfc3339(&mut self, ms: u64) -> &[u8] {
        if ms != self.ms {
            const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            // 24 bytes for years 0000-9999 (the only ones `[year]` writes without `large-dates`).
            let mut out = &mut self.text[..];
            let _ = t.format_into(&mut out, FORMAT);
            self.ms = ms;
        }
        &self.text
    }
}

#[cfg(test)]
mod tests;
