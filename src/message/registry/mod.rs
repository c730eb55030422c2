//! Values and keys in a Schema Registry format (`VALUE_FORMAT=avro` or
//! `json-schema`, `KEY_FORMAT=avro`), set up once, right after loading:
//!
//! 1. the value schema: `VALUE_SCHEMA`, or the subject's latest version when
//!    `SCHEMA_AUTO_REGISTER=false`, or derived from the records ([`schema`]);
//! 2. every record checked against it and, for Avro and Protobuf, encoded
//!    once ([`avro`], [`protobuf`];
//!    a given JSON Schema: [`validate`]); a record that does not fit is
//!    skipped and counted like a malformed row ([`misfits`]), and no fitting
//!    record at all is exit 6 (the same check for a reload: [`reload`]);
//! 3. the schema registered (or, for `check`, tested for compatibility) in the
//!    registry ([`crate::sink::registry`]): its id goes into every frame and is
//!    never fetched again, so the registry going away later does not matter;
//! 4. the [`wire::Wire`] the message builder writes each message through.
//!
//! `preview` takes steps 1 and 2 (the registry only for its latest version)
//! and shows the values as JSON: what a consumer decodes. With
//! `MESSAGE_TEMPLATE` the values are the template's renders: [`template`].

pub mod avro;
pub mod config;
pub mod misfits;
pub mod protobuf;
mod references;
pub mod reload;
pub mod schema;
pub mod template;
pub mod validate;
pub mod wire;

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::dataset::reload::Prepare;
use crate::dataset::{Attached, Dataset, REPORTED_SKIPS};
use crate::exit;
use crate::message::MessageSpec;
use crate::observe::events;
use crate::settings::config::Config;
use crate::sink::registry::{RegistryClient, RegistryError, Submitted};

use self::avro::{AvroEncoder, Encoded, Misfit};
use self::config::{KeyFormat, RegistrySettings, ValueFormat};
use self::misfits::{with_generated_fields, NoneFit};
use self::protobuf::{Generated, ProtoEncoder};
pub use self::reload::Setup;
use self::schema::{Observed, SchemaError, ValueSchema};
use self::validate::JsonValidator;
use self::wire::{KeyWire, ValueWire, Wire};

/// What the setup is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Register, encode, send.
    Run,
    /// Test compatibility instead of registering; nothing is written.
    Check,
    /// No registry unless the schema is the registry's; values shown as JSON.
    Preview,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("no record fits the value schema ({skipped} skipped); the first: record {record}: {reason}")]
    NoRecordFits { skipped: u64, record: usize, reason: String },
    #[error("{misfits} of {samples} messages MESSAGE_TEMPLATE rendered at startup do not fit the value schema; the first: message {sample}: {reason}; make the template render what the schema describes, or fix VALUE_SCHEMA")]
    SampleMisfits { misfits: usize, samples: usize, sample: usize, reason: String },
    #[error("KEY_FORMAT=avro writes each message's key, and MESSAGE_TEMPLATE rendered none in the messages rendered at startup: give the template a `key` (null only now and then), or set KEY_FORMAT=string")]
    NoTemplateKey,
    #[error("the dataset and its {format} values need {needed} bytes of memory, more than DATASET_MAX_BYTES ({max_bytes}); set DATASET_MAX_RECORDS to keep a sample, or raise DATASET_MAX_BYTES")]
    TooLarge { format: &'static str, needed: usize, max_bytes: u64 },
}

impl From<references::ImportError> for FormatError {
    fn from(e: references::ImportError) -> Self {
        match e {
            references::ImportError::Schema(e) => FormatError::Schema(e),
            references::ImportError::Registry(e) => FormatError::Registry(e),
        }
    }
}

impl From<NoneFit> for FormatError {
    fn from(n: NoneFit) -> Self {
        FormatError::NoRecordFits { skipped: n.skipped, record: n.record, reason: n.reason }
    }
}

impl FormatError {
    pub fn exit_code(&self) -> i32 {
        match self {
            FormatError::Schema(_) | FormatError::NoTemplateKey => exit::CONFIG,
            FormatError::Registry(e) => e.exit_code(),
            FormatError::NoRecordFits { .. } | FormatError::SampleMisfits { .. } | FormatError::TooLarge { .. } => {
                exit::DATASET_INVALID
            }
        }
    }
}

/// Sets up the registry formats for `dataset` (dropping the records that do
/// not fit the value schema). `None`: values and keys go as built (JSON, text),
/// which is also what `check` and `preview` use. With `MESSAGE_TEMPLATE` the
/// values are the template's, set up from its renders ([`template`]).
pub async fn prepare(
    config: &Config,
    dataset: &mut Dataset,
    purpose: Purpose,
    shutdown: &CancellationToken,
) -> Result<Option<Setup>, FormatError> {
    let r = &config.registry;
    if !r.uses_registry() || config.messages.template.is_some() {
        return Ok(None);
    }
    let needs_client = purpose != Purpose::Preview || !r.auto_register;
    let client = match needs_client {
        true => Some(RegistryClient::new(r, config.dataset.retry_timeout)?),
        false => None,
    };
    let spec = &config.messages.spec;
    let observed = Observed::of_dataset(dataset, spec);

    let mut value = ValueWire::Json;
    let mut reload = None;
    if r.value_format != ValueFormat::Json {
        let format = r.value_format;
        let (schema, subject, origin, latest_id) = value_schema(config, &observed, client.as_ref(), shutdown).await?;
        let (encoded, splice) = encode(config, dataset, &schema, spec)?;
        // A derived schema takes every record it was derived from: only a
        // given one (VALUE_SCHEMA, the registry's) is checked at load.
        let validator = json_validator(&schema)?;
        if let (Some(v), false) = (&validator, r.value_schema.is_none() && latest_id.is_none()) {
            misfits::check_dataset(dataset, v, spec)?;
        }
        let id =
            register_value(format, &schema, &subject, &origin, latest_id, client.as_ref(), purpose, shutdown).await?;
        reload = Some(reload_check(config, &schema, id)?);
        value = match schema {
            ValueSchema::Avro { schema, .. } => {
                let mut encoded = encoded;
                encoded.set_id(id);
                // Kept with the records too, so a reloaded dataset's replace them.
                let encoded = Arc::new(encoded);
                dataset.attach(Attached(Arc::clone(&encoded) as _));
                let encoder = Box::new(AvroEncoder::new(&schema).map_err(|message| invalid("derived", message))?);
                let per_message = !spec.fields.is_empty();
                ValueWire::Avro { id, encoded, encoder, per_message, splice }
            }
            ValueSchema::Json { .. } => ValueWire::JsonSchema { id },
            ValueSchema::Protobuf { message, .. } => {
                let mut encoded = encoded;
                encoded.set_id(id);
                // Kept with the records too, so a reloaded dataset's replace them.
                let encoded = Arc::new(encoded);
                dataset.attach(Attached(match purpose {
                    // A message is not its record's JSON (columns it has no field
                    // for, defaults for nulls): preview shows what a consumer
                    // decodes, of the records it shows ([`ReadBack`]).
                    Purpose::Preview => Arc::new(ReadBack { encoded: Arc::clone(&encoded), message: message.clone() }),
                    _ => Arc::clone(&encoded) as _,
                }));
                let generated = Generated::new(&message, spec.fields.iter().map(|a| a.name.as_str()));
                ValueWire::Protobuf { encoded, generated }
            }
        };
    }

    let key = match r.key_format {
        KeyFormat::String => None,
        KeyFormat::Avro => {
            let field = spec.key_field.as_deref().unwrap_or_default();
            let long = match spec.fields.iter().find(|a| a.name == field) {
                Some(a) => a.value.is_number(),
                None => observed.is_whole_number(field),
            };
            let origin = "derived from MESSAGE_KEY_FIELD's values";
            Some(key_wire(config, long, origin, client.as_ref(), purpose, shutdown).await?)
        }
    };
    Ok((purpose == Purpose::Run).then(|| Setup { wire: Wire::new(value, key), reload }))
}

/// A JSON Schema's validator (`None` for Avro).
fn json_validator(schema: &ValueSchema) -> Result<Option<JsonValidator>, SchemaError> {
    match schema {
        ValueSchema::Json { text, .. } => Ok(Some(JsonValidator::new(text).map_err(|m| invalid("in use", m))?)),
        ValueSchema::Avro { .. } | ValueSchema::Protobuf { .. } => Ok(None),
    }
}

/// How a reloaded dataset is checked against `schema`, the one in use, with
/// id `id` (see [`reload`]): Avro and Protobuf encode its records again, and
/// the values go with the dataset; a JSON Schema, even a derived one,
/// validates them (the new version's records are not those it was derived from).
fn reload_check(config: &Config, schema: &ValueSchema, id: u32) -> Result<Prepare, FormatError> {
    let spec = config.messages.spec.clone();
    Ok(match schema {
        ValueSchema::Avro { .. } | ValueSchema::Protobuf { .. } => {
            let (config, schema) = (config.clone(), schema.clone());
            Arc::new(move |mut dataset| {
                let (mut encoded, _) = encode(&config, &mut dataset, &schema, &spec).map_err(|e| e.to_string())?;
                encoded.set_id(id);
                dataset.attach(Attached(Arc::new(encoded)));
                Ok(dataset)
            })
        }
        ValueSchema::Json { text, .. } => {
            let v = JsonValidator::new(text).map_err(|m| invalid("in use", m))?;
            Arc::new(move |mut dataset| {
                misfits::check_dataset(&mut dataset, &v, &spec).map_err(|e| FormatError::from(e).to_string())?;
                Ok(dataset)
            })
        }
    })
}

/// The value schema's id: registered for a run, tested for compatibility by
/// `check` (0: none yet), and logged once.
#[allow(clippy::too_many_arguments)]
async fn register_value(
    format: ValueFormat,
    schema: &ValueSchema,
    subject: &str,
    origin: &str,
    latest_id: Option<u32>,
    client: Option<&RegistryClient>,
    purpose: Purpose,
    shutdown: &CancellationToken,
) -> Result<u32, FormatError> {
    // A .proto's imports first: the value's schema names them as references.
    let references = references::register_imports(schema, origin, client, purpose == Purpose::Run, shutdown).await?;
    let plain: Vec<_> = references.iter().map(|(r, _)| r.clone()).collect();
    let submitted = Submitted { schema: schema.text(), schema_type: format.schema_type(), references: &plain };
    let id = match (purpose, client, latest_id) {
        (_, _, Some(id)) => Some(id),
        (Purpose::Run, Some(c), None) => Some(c.register(subject, &submitted, shutdown).await?),
        // An import not registered yet has no version to refer to: the
        // registration tests the value's compatibility (its references say so).
        (Purpose::Check, Some(c), None) if references.iter().all(|(_, known)| *known) => {
            c.compatible(subject, &submitted, shutdown).await?;
            None
        }
        _ => None,
    };
    events::schema_in_use(&events::SchemaInUse {
        part: "value",
        format: format.as_str(),
        subject,
        id,
        origin,
        schema: schema.text(),
        references: &references::shown(&references),
    });
    Ok(id.unwrap_or(0))
}

/// The value schema, its subject, where it came from, and the id when the
/// registry's latest version is used as it is.
async fn value_schema(
    config: &Config,
    observed: &Observed,
    client: Option<&RegistryClient>,
    shutdown: &CancellationToken,
) -> Result<(ValueSchema, String, String, Option<u32>), FormatError> {
    let r = &config.registry;
    let format = r.value_format;
    let topic = &config.kafka.topic;
    if let Some(source) = &r.value_schema {
        let text = references::read_schema(source, config).await?;
        let message = r.value_schema_message.as_deref();
        let schema = match format {
            ValueFormat::Protobuf => references::value_schema(source, &text, config, message).await?,
            _ => ValueSchema::parse(format, &text, &source.to_string(), message)?,
        };
        let subject = subject(r, topic, &schema)?;
        return Ok((schema, subject, format!("VALUE_SCHEMA {source}"), None));
    }
    let derived = observed.derive(format, topic)?;
    let subject = subject(r, topic, &derived)?;
    match (r.auto_register, client) {
        (false, Some(c)) => {
            let latest = c
                .latest(&subject, shutdown)
                .await?
                .ok_or_else(|| RegistryError::NoSubject { subject: subject.clone(), url: c.url().to_owned() })?;
            if latest.schema_type != format.schema_type() {
                return Err(SchemaError::WrongType {
                    subject,
                    found: latest.schema_type,
                    format: format.as_str(),
                    expected: format.schema_type(),
                }
                .into());
            }
            let message = r.value_schema_message.as_deref();
            let schema = match format {
                ValueFormat::Protobuf => references::registered_schema(c, &subject, &latest, message, shutdown).await?,
                _ => ValueSchema::parse(format, &latest.schema, &format!("registry subject {subject}"), message)?,
            };
            Ok((schema, subject, "the registry's latest version".into(), Some(latest.id)))
        }
        _ => Ok((derived, subject, "derived from the dataset".into(), None)),
    }
}

fn subject(r: &RegistrySettings, topic: &str, schema: &ValueSchema) -> Result<String, SchemaError> {
    match (r.subject_strategy, schema.record_name()) {
        (config::SubjectStrategy::Topic, _) => Ok(r.subject_strategy.value_subject(topic, "")),
        (strategy, Some(name)) => Ok(strategy.value_subject(topic, name)),
        (_, None) => Err(SchemaError::Invalid {
            origin: "(in use)".into(),
            message: "SUBJECT_NAME_STRATEGY record and topic_record name the subject after the JSON Schema's `title`, and it has none".into(),
        }),
    }
}

fn invalid(origin: &str, message: String) -> SchemaError {
    SchemaError::Invalid { origin: origin.into(), message }
}

/// The generated fields spliced into each record's datum: each field's place
/// in `MESSAGE_FIELDS` and its schema position, in schema order.
type Splice = Vec<(usize, usize)>;

/// Checks every record against an Avro or Protobuf schema, keeps the encoded
/// values and drops the records that do not fit. With `MESSAGE_FIELDS` an Avro
/// datum holds placeholder values of the generated fields, at the places the
/// [`Splice`] says (empty when the encoder cannot go field by field: each
/// message is then encoded whole); a Protobuf message leaves them out. A JSON
/// Schema value needs nothing: it is the record's JSON.
fn encode(
    config: &Config,
    dataset: &mut Dataset,
    schema: &ValueSchema,
    spec: &MessageSpec,
) -> Result<(Encoded, Splice), FormatError> {
    let started = Instant::now();
    let len = dataset.len();
    let records: &Dataset = dataset;
    let (format, splice, done) = match schema {
        ValueSchema::Json { .. } => return Ok((Encoded::default(), Vec::new())),
        ValueSchema::Avro { schema, .. } => {
            let probe = AvroEncoder::new(schema).map_err(|message| invalid("in use", message))?;
            let per_message = !spec.fields.is_empty();
            let mut splice: Splice =
                spec.fields.iter().enumerate().filter_map(|(k, a)| Some((k, probe.field_position(&a.name)?))).collect();
            splice.sort_by_key(|(_, position)| *position);
            splice.dedup_by_key(|(_, position)| *position);
            let whole = per_message && splice.is_empty();
            let positions: Vec<usize> = splice.iter().map(|(_, p)| *p).collect();
            let work = |range| encode_part(records, range, schema, spec, &positions, whole);
            let done: Vec<Part> = misfits::in_parts(len, work, Part::failed);
            ("avro", splice, done)
        }
        ValueSchema::Protobuf { message, .. } => {
            let encoder = ProtoEncoder::new(message, spec.fields.iter().map(|a| a.name.as_str()));
            let work = |range| encode_proto_part(records, range, &encoder, message, spec);
            ("protobuf", Vec::new(), misfits::in_parts(len, work, Part::failed))
        }
    };
    let mut encoded = Encoded::default();
    let mut misfits: Vec<(usize, Misfit)> = Vec::new();
    let mut skipped_at: Vec<usize> = Vec::new();
    for part in done {
        encoded.append(part.encoded);
        misfits.extend(part.misfits);
        skipped_at.extend(part.skipped);
    }
    let skipped = misfits::drop_misfits(dataset, &misfits, &skipped_at)?;
    encoded.shrink_to_fit();
    let needed = dataset.allocated_bytes() + encoded.allocated_bytes();
    if let Some(max_bytes) = config.dataset.max_bytes.filter(|&m| needed as u64 > m) {
        return Err(FormatError::TooLarge { format, needed, max_bytes });
    }
    events::values_encoded(format, dataset.len(), skipped, encoded.bytes(), dataset.json_bytes(), started.elapsed());
    Ok((encoded, splice))
}

/// What one thread made of its share of the records.
struct Part {
    encoded: Encoded,
    /// The first misfits, with their record numbers.
    misfits: Vec<(usize, Misfit)>,
    /// Every record that does not fit, in order.
    skipped: Vec<usize>,
}

impl Part {
    fn failed() -> Self {
        let m = Misfit { field: String::new(), problem: "the encoder failed (a bug: please report it)".into() };
        Part { encoded: Encoded::default(), misfits: vec![(0, m)], skipped: Vec::new() }
    }
}

/// Checks and encodes the records of `range`: with `MESSAGE_FIELDS`, with
/// placeholders for the generated fields, noting where the fields at
/// `positions` went; or, `whole`, only checks them.
fn encode_part(
    records: &Dataset,
    range: std::ops::Range<usize>,
    schema: &apache_avro::Schema,
    spec: &MessageSpec,
    positions: &[usize],
    whole: bool,
) -> Part {
    let Ok(mut encoder) = AvroEncoder::new(schema) else {
        return Part::failed();
    };
    let per_message = !spec.fields.is_empty();
    let json_bytes: usize = match range.is_empty() {
        true => 0,
        false => range.clone().map(|i| records.get(i).len()).sum(),
    };
    // Datums are ~40% of the JSON for the transactions shape (no keys, binary numbers).
    let mut encoded = if whole { Encoded::default() } else { Encoded::with_capacity(json_bytes / 2, range.len()) };
    let mut part = Part { encoded: Encoded::default(), misfits: Vec::new(), skipped: Vec::new() };
    let mut scratch = Vec::new();
    for i in range {
        let record = records.get(i);
        let fits = match (per_message, whole) {
            (false, false) => encoded.push(&mut encoder, record),
            (true, false) => encoded.push_noting(&mut encoder, &with_generated_fields(record, spec), positions),
            (false, true) => {
                scratch.clear();
                encoder.encode(record, 0, &mut scratch)
            }
            (true, true) => {
                scratch.clear();
                encoder.encode(&with_generated_fields(record, spec), 0, &mut scratch)
            }
        };
        if let Err(m) = fits {
            part.skipped.push(i);
            if part.misfits.len() < REPORTED_SKIPS {
                part.misfits.push((i, m));
            }
        }
    }
    part.encoded = encoded;
    part
}

/// Checks and encodes the records of `range` (with `MESSAGE_FIELDS`, checked
/// with values of the generated fields' kinds, encoded without them). Without
/// them a record is written as a template's render is: by the message's plan,
/// with `prost`'s encoders and no `DynamicMessage` unless the plan cannot read it.
fn encode_proto_part(
    records: &Dataset,
    range: std::ops::Range<usize>,
    encoder: &ProtoEncoder,
    message: &prost_reflect::MessageDescriptor,
    spec: &MessageSpec,
) -> Part {
    let json_bytes: usize = range.clone().map(|i| records.get(i).len()).sum();
    let mut part =
        Part { encoded: Encoded::with_capacity(json_bytes / 2, range.len()), misfits: Vec::new(), skipped: Vec::new() };
    let mut planned = protobuf::RenderEncoder::new(message);
    for i in range {
        let record = records.get(i);
        let fits = match spec.fields.is_empty() {
            true => part.encoded.push_with(|out| planned.encode(record, 0, out)),
            false => part.encoded.push_with(|out| encoder.encode(&with_generated_fields(record, spec), out)),
        };
        if let Err(m) = fits {
            part.skipped.push(i);
            if part.misfits.len() < REPORTED_SKIPS {
                part.misfits.push((i, m));
            }
        }
    }
    part
}

/// A dataset's Protobuf values, for `preview` to read back the ones it shows.
pub struct ReadBack {
    encoded: Arc<Encoded>,
    message: prost_reflect::MessageDescriptor,
}

impl ReadBack {
    /// The values of `dataset`'s records, if they are Protobuf's.
    pub fn of(dataset: &Dataset) -> Option<&ReadBack> {
        dataset.attached()?.0.downcast_ref::<ReadBack>()
    }

    /// Records `shown`, in that order, as a consumer decodes their values
    /// ([`protobuf::read_back`]).
    pub fn records(&self, shown: &[usize]) -> Dataset {
        let (mut buf, mut ends) = (Vec::new(), Vec::with_capacity(shown.len()));
        for &i in shown {
            let back = protobuf::read_back(self.encoded.get(i), &self.message);
            buf.extend(back.unwrap_or_else(|| b"{}".to_vec()));
            ends.push(buf.len());
        }
        let seen = ends.len() as u64;
        Dataset::from_collected(crate::dataset::collect::Collected { buf, ends, seen })
    }
}

/// `KEY_FORMAT=avro`: a `long` schema when every key is a whole number
/// (`long`, as `origin` says it was found), else `string`, under
/// `<topic>-key`; with `SCHEMA_AUTO_REGISTER=false` the subject's latest.
async fn key_wire(
    config: &Config,
    mut long: bool,
    mut origin: &str,
    client: Option<&RegistryClient>,
    purpose: Purpose,
    shutdown: &CancellationToken,
) -> Result<KeyWire, FormatError> {
    let subject = format!("{}-key", config.kafka.topic);
    let mut id = None;
    if let (false, Some(c)) = (config.registry.auto_register, client) {
        let latest = c
            .latest(&subject, shutdown)
            .await?
            .ok_or_else(|| RegistryError::NoSubject { subject: subject.clone(), url: c.url().to_owned() })?;
        long = match serde_json::from_str::<Value>(&latest.schema).ok() {
            Some(v) if v == "long" || v["type"] == "long" => true,
            Some(v) if v == "string" || v["type"] == "string" => false,
            _ => {
                return Err(SchemaError::WrongType {
                    subject,
                    found: latest.schema,
                    format: "avro",
                    expected: "a \"string\" or \"long\" key schema",
                }
                .into())
            }
        };
        origin = "the registry's latest version";
        id = Some(latest.id);
    }
    let schema = if long { "\"long\"" } else { "\"string\"" };
    if id.is_none() {
        let submitted = Submitted { schema, schema_type: "AVRO", references: &[] };
        match (purpose, client) {
            (Purpose::Run, Some(c)) => id = Some(c.register(&subject, &submitted, shutdown).await?),
            (Purpose::Check, Some(c)) => c.compatible(&subject, &submitted, shutdown).await?,
            _ => {}
        }
    }
    let (part, format, references) = ("key", "avro", "");
    events::schema_in_use(&events::SchemaInUse { part, format, subject: &subject, id, origin, schema, references });
    KeyWire::new(id.unwrap_or(0), long).map_err(|message| invalid("key", message).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split among threads, the records come out in order, the misfits are the
    /// first ones in record order, and the dataset keeps exactly the others.
    #[test]
    fn records_encoded_in_parts_are_in_order_and_misfits_dropped() {
        let n = 120_000;
        let csv: String = std::iter::once("id,v\n".to_owned())
            .chain((0..n).map(|i| if i % 10_007 == 3 { format!("{i},\n") } else { format!("{i},{i}\n") }))
            .collect();
        let (mut dataset, _) = crate::dataset::load_csv(csv.as_bytes(), "t", None).unwrap();
        let config = Config::from_vars([("KAFKA_BOOTSTRAP_SERVERS", "embedded")]).unwrap();
        let text = r#"{"type":"record","name":"T","fields":[{"name":"id","type":"long"},{"name":"v","type":"long"}]}"#;
        let schema = ValueSchema::parse(ValueFormat::Avro, text, "t", None).unwrap();
        let (encoded, _) = encode(&config, &mut dataset, &schema, &MessageSpec::default()).unwrap();
        let dropped: Vec<usize> = (0..n).filter(|i| i % 10_007 == 3).collect();
        assert_eq!(dataset.len(), n - dropped.len());
        assert_eq!(encoded.len(), dataset.len());
        let ValueSchema::Avro { schema, .. } = &schema else { unreachable!() };
        let mut expected = Vec::new();
        for (k, i) in (0..n).filter(|i| !dropped.contains(i)).enumerate() {
            assert_eq!(dataset.get(k), format!(r#"{{"id":{i},"v":{i}}}"#).as_bytes());
            expected.clear();
            AvroEncoder::new(schema).unwrap().encode(dataset.get(k), 0, &mut expected).unwrap();
            assert_eq!(encoded.get(k), expected, "record {k}");
        }
    }
}
