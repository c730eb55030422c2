//! Records that do not fit the value schema, found at load or at a reload:
//! checked against a JSON Schema ([`check_dataset`]) or by Avro's encoding
//! (`super::encode`), reported and dropped the same way ([`drop_misfits`]):
//! skipped and counted like a malformed row, the first few named with their
//! field; no fitting record at all is an error (exit 6).
//!
//! A JSON Schema value is the record's own JSON, so nothing is encoded: the
//! check is the whole cost (a parse into a `serde_json::Value` and a walk of
//! the schema per record, split among the cores like Avro's encoding).

use std::ops::Range;

use serde_json::Value;

use super::avro::Misfit;
use super::validate::JsonValidator;
use crate::dataset::{Dataset, REPORTED_SKIPS};
use crate::message::{Generator, MessageSpec};
use crate::observe::events;

/// No record fits: how many were skipped, and the first with why.
#[derive(Debug)]
pub struct NoneFit {
    pub skipped: u64,
    pub record: usize,
    pub reason: String,
}

/// The first misfits of a share of the records, with their numbers, and every misfit's number.
type Found = (Vec<(usize, Misfit)>, Vec<usize>);

/// Checks every record of `dataset` against `validator` (with `MESSAGE_FIELDS`,
/// with placeholder values for the generated fields, as for Avro) and drops
/// those that do not fit, reporting them. Returns how many were dropped.
pub fn check_dataset(dataset: &mut Dataset, validator: &JsonValidator, spec: &MessageSpec) -> Result<u64, NoneFit> {
    let started = std::time::Instant::now();
    let records: &Dataset = dataset;
    let done = in_parts(
        records.len(),
        |range| check_part(records, range, validator, spec),
        || {
            let m = Misfit { field: String::new(), problem: "the check failed (a bug: please report it)".into() };
            (vec![(0, m)], Vec::new())
        },
    );
    let (mut misfits, mut skipped_at) = (Vec::new(), Vec::new());
    for (m, s) in done {
        misfits.extend(m);
        skipped_at.extend(s);
    }
    let skipped = drop_misfits(dataset, &misfits, &skipped_at)?;
    let bytes = dataset.json_bytes();
    events::values_encoded("json-schema", dataset.len(), skipped, bytes, bytes, started.elapsed());
    Ok(skipped)
}

/// `work` on the records `0..len`, split among up to 4 threads when there
/// are many (parsing or encoding every record is most of a load's CPU), the
/// parts' results in record order. A part that panicked (a bug) is `failed()`.
pub fn in_parts<T: Send>(len: usize, work: impl Fn(Range<usize>) -> T + Sync, failed: impl Fn() -> T) -> Vec<T> {
    let parts = if len < 50_000 { 1 } else { std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) };
    let part_len = len.div_ceil(parts).max(1);
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..parts)
            .map(|p| scope.spawn(move || work((p * part_len).min(len)..((p + 1) * part_len).min(len))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| failed())).collect()
    })
}

fn check_part(records: &Dataset, range: Range<usize>, validator: &JsonValidator, spec: &MessageSpec) -> Found {
    let (mut misfits, mut skipped) = (Vec::new(), Vec::new());
    for i in range {
        let record = records.get(i);
        let fits = match spec.fields.is_empty() {
            true => validator.check(record),
            false => validator.check(&with_generated_fields(record, spec)),
        };
        if let Err(m) = fits {
            skipped.push(i);
            if misfits.len() < REPORTED_SKIPS {
                misfits.push((i, m));
            }
        }
    }
    (misfits, skipped)
}

/// Reports the records that do not fit (the first [`REPORTED_SKIPS`] one by
/// one, the rest counted) and drops them from `dataset`. `misfits`: the first
/// ones with their record numbers; `skipped_at`: every one, in order. Fails
/// when no record fits. Returns how many were dropped.
pub fn drop_misfits(dataset: &mut Dataset, misfits: &[(usize, Misfit)], skipped_at: &[usize]) -> Result<u64, NoneFit> {
    let skipped = skipped_at.len() as u64;
    for (i, m) in misfits.iter().take(REPORTED_SKIPS) {
        events::record_misfit(*i, &m.to_string());
    }
    if skipped > REPORTED_SKIPS as u64 {
        events::more_records_misfit(skipped - REPORTED_SKIPS as u64);
    }
    if skipped == dataset.len() as u64 {
        let (record, reason) = misfits.first().map(|(i, m)| (*i, m.to_string())).unwrap_or_default();
        return Err(NoneFit { skipped, record, reason });
    }
    if skipped > 0 {
        let mut next = skipped_at.iter().peekable();
        dataset.retain(|i| {
            let drop = next.peek() == Some(&&i);
            if drop {
                next.next();
            }
            !drop
        });
    }
    Ok(skipped)
}

/// `record` with every `MESSAGE_FIELDS` field set to a value of the kind its
/// generator gives, so the check sees what the messages will hold.
pub fn with_generated_fields(record: &[u8], spec: &MessageSpec) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str =
        r#"{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"required":["id","name"]}"#;

    /// The records that do not fit are dropped, the others kept in order;
    /// none fitting is an error naming the first misfit.
    #[test]
    fn misfits_are_dropped_and_none_fitting_is_an_error() {
        let v = JsonValidator::new(SCHEMA).unwrap();
        let rows = "id,name\n1,a\n2,\n3,c\n";
        let (mut dataset, _) = crate::dataset::load_csv(rows.as_bytes(), "t", None).unwrap();
        // `name` of row 2 is empty: null in the JSON, not a string.
        assert_eq!(check_dataset(&mut dataset, &v, &MessageSpec::default()).unwrap(), 1);
        let kept: Vec<&[u8]> = dataset.iter().collect();
        assert_eq!(kept, [&br#"{"id":1,"name":"a"}"#[..], br#"{"id":3,"name":"c"}"#]);
        let (mut dataset, _) = crate::dataset::load_csv("id,name\nx,a\n".as_bytes(), "t", None).unwrap();
        let e = check_dataset(&mut dataset, &v, &MessageSpec::default()).unwrap_err();
        assert_eq!((e.skipped, e.record), (1, 0));
        assert!(e.reason.starts_with("field id: "), "{e:?}");
    }
}
