//! Registry formats with `MESSAGE_TEMPLATE`: a template's value is rendered
//! per message, so it is framed (JSON Schema) or encoded (Avro, Protobuf:
//! [`super::protobuf::RenderEncoder`]) per message, into the wire's reused
//! buffer, from the rendered JSON. With `KEY_FORMAT=avro` the template's key
//! is written as Avro (a `long` when every sample's key is a whole number
//! written as such, else a `string`), registered under `<topic>-key`.
//!
//! The schema is `VALUE_SCHEMA` when given (or the registry's latest version
//! with `SCHEMA_AUTO_REGISTER=false`); otherwise it is derived, like a
//! dataset's ([`super::schema::Observed`]), from [`SAMPLES`] messages the
//! template renders at startup with its own RNG (seeded from `RANDOM_SEED`
//! apart from the run's, so the run sends what it would send as JSON). What
//! the samples do not show, the schema does not know: a field that is null
//! only now and then is nullable only if a sample was null; a number that is
//! whole in every sample is a `long`/`integer`.
//!
//! Every sample must fit the schema in use, or the run stops (exit 6, naming
//! the first sample's field). At run time a message that does not fit (Avro or
//! Protobuf cannot encode it; a JSON Schema value fails the check each message
//! gets) is skipped and counted, with a rate-limited warning.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use super::avro::{AvroEncoder, Encoded, Misfit};
use super::config::{KeyFormat, ValueFormat};
use super::protobuf::RenderEncoder;
use super::schema::{Observed, ValueSchema};
use super::validate::JsonValidator;
use super::wire::{ValueWire, Wire};
use super::{invalid, key_wire, register_value, value_schema, FormatError, Purpose};
use crate::dataset::{Dataset, REPORTED_SKIPS};
use crate::message::template::{self, funcs::Lookup, Document, TemplateError};
use crate::message::{Assemble, MessageSpec};
use crate::observe::events;
use crate::settings::config::Config;
use crate::sink::registry::RegistryClient;

/// How many messages are rendered at startup to derive and check the schema.
pub const SAMPLES: usize = 300;

/// How many source records the samples are rendered from, spread over the dataset.
const SAMPLE_RECORDS: usize = 64;

/// Mixed into the seed of the samples' generators: apart from the run's.
const SAMPLE_STREAM: u64 = 0x2545_f491_4f6c_dd1d;

/// What the template rendered at startup: each sample's value and key text.
pub struct Samples {
    pub values: Vec<Vec<u8>>,
    /// `None`: no key (the template has none, or it rendered null).
    pub keys: Vec<Option<Vec<u8>>>,
}

/// [`SAMPLES`] messages as the template renders them, from records spread
/// over `dataset`, with generators seeded apart from the run's.
pub fn samples(
    doc: &Document,
    dataset: &Dataset,
    columns: &[String],
    lookups: Arc<Vec<Lookup>>,
    seed: u64,
) -> Result<Samples, TemplateError> {
    let n = dataset.len().min(SAMPLE_RECORDS);
    let picks: Vec<&[u8]> = (0..n).map(|k| dataset.get(k * dataset.len() / n)).collect();
    let prepared = match template::prepare(doc, &picks[..], columns, Arc::clone(&lookups), seed ^ SAMPLE_STREAM) {
        Ok(p) => p,
        // None of the picked records is usable, but the run found some: take them all.
        Err(_) => template::prepare(doc, dataset, columns, lookups, seed ^ SAMPLE_STREAM)?,
    };
    let (stored, mut messages) = (prepared.dataset, prepared.messages);
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let (mut values, mut keys) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
    for k in 0..SAMPLES {
        let m = messages.assemble(stored.get(k % stored.len()), k as u64 + 1, ms);
        values.push(m.payload.to_vec());
        keys.push(m.key.map(<[u8]>::to_vec));
    }
    Ok(Samples { values, keys })
}

/// Sets up the value and key formats for a template's messages from
/// `samples` (see the module's note). `None`: no registry format, or not a run.
pub async fn prepare(
    config: &Config,
    samples: &Samples,
    purpose: Purpose,
    shutdown: &CancellationToken,
) -> Result<Option<Wire>, FormatError> {
    let r = &config.registry;
    if !r.uses_registry() {
        return Ok(None);
    }
    let client = match purpose != Purpose::Preview || !r.auto_register {
        true => Some(RegistryClient::new(r, config.dataset.retry_timeout)?),
        false => None,
    };
    let (value, check) = match r.value_format {
        ValueFormat::Json => (ValueWire::Json, None),
        _ => value_wire(config, &samples.values, client.as_ref(), purpose, shutdown).await?,
    };
    let key = match r.key_format {
        KeyFormat::String => None,
        KeyFormat::Avro => {
            let keys: Vec<&[u8]> = samples.keys.iter().flatten().map(Vec::as_slice).collect();
            if keys.is_empty() {
                return Err(FormatError::NoTemplateKey);
            }
            // Written as such: `0150` is text, kept as text (a long would send 150).
            let whole =
                |k: &[u8]| std::str::from_utf8(k).is_ok_and(|t| t.parse::<i64>().is_ok_and(|n| n.to_string() == t));
            let long = keys.iter().all(|k| whole(k));
            let origin = "derived from the keys MESSAGE_TEMPLATE rendered at startup";
            Some(key_wire(config, long, origin, client.as_ref(), purpose, shutdown).await?)
        }
    };
    let mut wire = Wire::new(value, key);
    if let Some(validator) = check {
        wire = wire.checking(validator);
    }
    Ok((purpose == Purpose::Run).then_some(wire))
}

/// The value's wire for the renders `samples`: its schema given or derived
/// from them, every sample checked against it, registered; and, for JSON
/// Schema, the validator each message goes through.
async fn value_wire(
    config: &Config,
    samples: &[Vec<u8>],
    client: Option<&RegistryClient>,
    purpose: Purpose,
    shutdown: &CancellationToken,
) -> Result<(ValueWire, Option<JsonValidator>), FormatError> {
    let r = &config.registry;
    let renders: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    let observed = Observed::of(&renders[..], &MessageSpec::default());
    let (schema, subject, origin, latest_id) = value_schema(config, &observed, client, shutdown).await?;
    let origin = match r.value_schema.is_none() && latest_id.is_none() {
        true => format!("derived from {} renders of MESSAGE_TEMPLATE", samples.len()),
        false => origin,
    };
    let mut check = Check::new(&schema)?;
    let misfits: Vec<(usize, Misfit)> =
        renders.iter().enumerate().filter_map(|(k, s)| check.fits(s).err().map(|m| (k + 1, m))).collect();
    for (k, m) in misfits.iter().take(REPORTED_SKIPS) {
        events::template_sample_misfit(*k, &m.to_string());
    }
    if let Some((sample, m)) = misfits.first() {
        let (misfits, samples, sample, reason) = (misfits.len(), samples.len(), *sample, m.to_string());
        return Err(FormatError::SampleMisfits { misfits, samples, sample, reason });
    }
    let id = register_value(r.value_format, &schema, &subject, &origin, latest_id, client, purpose, shutdown).await?;
    Ok(match check {
        Check::Avro(encoder, _) => {
            let encoded = std::sync::Arc::new(Encoded::default());
            (ValueWire::Avro { id, encoded, encoder, per_message: true, splice: Vec::new() }, None)
        }
        Check::Protobuf(encoder, _) => (ValueWire::ProtobufRenders { id, encoder }, None),
        Check::Json(validator) => (ValueWire::JsonSchema { id }, Some(validator)),
    })
}

/// Whether a rendered value fits the schema in use.
enum Check {
    Avro(Box<AvroEncoder>, Vec<u8>),
    Protobuf(Box<RenderEncoder>, Vec<u8>),
    Json(JsonValidator),
}

impl Check {
    fn new(schema: &ValueSchema) -> Result<Self, FormatError> {
        Ok(match schema {
            ValueSchema::Avro { schema, .. } => {
                Check::Avro(Box::new(AvroEncoder::new(schema).map_err(|m| invalid("in use", m))?), Vec::new())
            }
            ValueSchema::Json { text, .. } => Check::Json(JsonValidator::new(text).map_err(|m| invalid("in use", m))?),
            ValueSchema::Protobuf { message, .. } => Check::Protobuf(Box::new(RenderEncoder::new(message)), Vec::new()),
        })
    }

    fn fits(&mut self, value: &[u8]) -> Result<(), Misfit> {
        match self {
            Check::Avro(encoder, buf) => {
                buf.clear();
                encoder.encode(value, 0, buf)
            }
            Check::Protobuf(encoder, buf) => {
                buf.clear();
                encoder.encode(value, 0, buf)
            }
            Check::Json(validator) => validator.check(value),
        }
    }
}
