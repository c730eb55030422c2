//! The records split among threads for encoding at load, and what each part
//! made of its share.

use serde_json::Value;

use super::avro::{Encoded, Misfit};
use crate::dataset::Dataset;
use crate::message::{Generator, MessageSpec};

/// Runs `encode` over the records, split among the cores: encoding is most of
/// a load's CPU. The parts come back in record order.
pub(super) fn in_parts<F>(dataset: &Dataset, encode: F) -> Vec<Part>
where
    F: Fn(&Dataset, std::ops::Range<usize>) -> Part + Sync,
{
    let len = dataset.len();
    let parts = if len < 50_000 { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) };
    let part_len = len.div_ceil(parts).max(1);
    let encode = &encode;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..parts)
            .map(|p| {
                let range = (p * part_len).min(len)..((p + 1) * part_len).min(len);
                scope.spawn(move || encode(dataset, range))
            })
            .collect();
        // A part that panicked (a bug) is reported as its records not fitting.
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Part::failed())).collect()
    })
}

/// What one thread made of its share of the records.
pub(super) struct Part {
    pub(super) encoded: Encoded,
    /// The first misfits, with their record numbers.
    pub(super) misfits: Vec<(usize, Misfit)>,
    /// Every record that does not fit, in order.
    pub(super) skipped: Vec<usize>,
}

impl Part {
    pub(super) fn failed() -> Self {
        let m = Misfit { field: String::new(), problem: "the encoder failed (a bug: please report it)".into() };
        Part { encoded: Encoded::default(), misfits: vec![(0, m)], skipped: Vec::new() }
    }
}

/// `record` with every `MESSAGE_FIELDS` field set to a value of the kind its
/// generator gives, so the check sees what the messages will hold.
pub(super) fn with_generated_fields(record: &[u8], spec: &MessageSpec) -> Vec<u8> {
    let Ok(Value::Object(mut o)) = serde_json::from_slice::<Value>(record) else {
        return record.to_vec();
    };
    for a in &spec.fields {
        let sample = match &a.value {
            Generator::Uuid => Value::String("00000000-0000-4000-8000-000000000000".into()),
            Generator::Now => Value::String("2026-01-01T00:00:00.000Z".into()),
            Generator::NowMs | Generator::NowS | Generator::Seq => Value::from(1u64),
            Generator::Const(s) => Value::String(s.clone()),
        };
        o.insert(a.name.clone(), sample);
    }
    Value::Object(o).to_string().into_bytes()
}
