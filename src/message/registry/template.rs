//! Registry formats with `MESSAGE_TEMPLATE`: a template's value is rendered
//! per message, so it is framed (JSON Schema) or encoded (Avro) per message,
//! into the wire's reused buffer, from the rendered JSON.
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
//! the first sample's field). At run time a message that does not fit (Avro
//! cannot encode it; a JSON Schema value fails the check each message gets) is
//! skipped and counted, with a rate-limited warning.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use super::avro::{AvroEncoder, Encoded, Misfit};
use super::config::ValueFormat;
use super::schema::{Observed, ValueSchema};
use super::validate::JsonValidator;
use super::wire::{ValueWire, Wire};
use super::{invalid, register_value, value_schema, FormatError, Purpose};
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

/// [`SAMPLES`] values as the template renders them, from records spread over
/// `dataset`, with generators seeded apart from the run's.
pub fn samples(
    doc: &Document,
    dataset: &Dataset,
    columns: &[String],
    lookups: Arc<Vec<Lookup>>,
    seed: u64,
) -> Result<Vec<Vec<u8>>, TemplateError> {
    let n = dataset.len().min(SAMPLE_RECORDS);
    let picks: Vec<&[u8]> = (0..n).map(|k| dataset.get(k * dataset.len() / n)).collect();
    let prepared = match template::prepare(doc, &picks[..], columns, Arc::clone(&lookups), seed ^ SAMPLE_STREAM) {
        Ok(p) => p,
        // None of the picked records is usable, but the run found some: take them all.
        Err(_) => template::prepare(doc, dataset, columns, lookups, seed ^ SAMPLE_STREAM)?,
    };
    let (stored, mut messages) = (prepared.dataset, prepared.messages);
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Ok((0..SAMPLES)
        .map(|k| messages.assemble(stored.get(k % stored.len()), k as u64 + 1, ms).payload.to_vec())
        .collect())
}

/// Sets up the value format for a template's messages from `samples` (see
/// the module's note). `None`: not a registry format, or not a run.
pub async fn prepare(
    config: &Config,
    samples: &[Vec<u8>],
    purpose: Purpose,
    shutdown: &CancellationToken,
) -> Result<Option<Wire>, FormatError> {
    let r = &config.registry;
    let format = r.value_format;
    // KEY_FORMAT=avro with a template is refused with the settings.
    if format == ValueFormat::Json {
        return Ok(None);
    }
    let client = match purpose != Purpose::Preview || !r.auto_register {
        true => Some(RegistryClient::new(r, config.dataset.retry_timeout)?),
        false => None,
    };
    let renders: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    let observed = Observed::of(&renders[..], &MessageSpec::default());
    let (schema, subject, origin, latest_id) = value_schema(config, &observed, client.as_ref(), shutdown).await?;
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
    let id = register_value(format, &schema, &subject, &origin, latest_id, client.as_ref(), purpose, shutdown).await?;
    let wire = match check {
        Check::Avro(encoder, _) => {
            let encoded = std::sync::Arc::new(Encoded::default());
            Wire::new(ValueWire::Avro { id, encoded, encoder, per_message: true, splice: Vec::new() }, None)
        }
        Check::Json(validator) => Wire::new(ValueWire::JsonSchema { id }, None).checking(validator),
    };
    Ok((purpose == Purpose::Run).then_some(wire))
}

/// Whether a rendered value fits the schema in use.
enum Check {
    Avro(Box<AvroEncoder>, Vec<u8>),
    Json(JsonValidator),
}

impl Check {
    fn new(schema: &ValueSchema) -> Result<Self, FormatError> {
        Ok(match schema {
            ValueSchema::Avro { schema, .. } => {
                Check::Avro(Box::new(AvroEncoder::new(schema).map_err(|m| invalid("in use", m))?), Vec::new())
            }
            ValueSchema::Json { text, .. } => Check::Json(JsonValidator::new(text).map_err(|m| invalid("in use", m))?),
            // Refused by the configuration (MESSAGE_TEMPLATE with protobuf).
            ValueSchema::Protobuf { .. } => {
                return Err(invalid("in use", "a template's values are not encoded as Protobuf yet".into()).into())
            }
        })
    }

    fn fits(&mut self, value: &[u8]) -> Result<(), Misfit> {
        match self {
            Check::Avro(encoder, buf) => {
                buf.clear();
                encoder.encode(value, 0, buf)
            }
            Check::Json(validator) => validator.check(value),
        }
    }
}
