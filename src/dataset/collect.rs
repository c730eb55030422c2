//! Collecting records into the dataset's shape (one buffer of JSON, an end
//! offset per record) while a loader streams them: every record, or a uniform
//! random sample of `max_records` (reservoir sampling), under a memory guard.
//!
//! Loaders offer each well-formed record with a closure that appends its JSON.
//! The collector decides first and calls the closure only for records it keeps,
//! so a sampled load of a file much larger than the sample serializes little
//! more than the sample. The sample uses Li's Algorithm L (1994): after the
//! reservoir fills, it draws how many records to pass over before the next one
//! is taken, so the cost per passed-over record is one comparison, not one
//! random number.
//!
//! A kept record replaces a random slot. The new JSON is written at the end of
//! the buffer and moved into the old slot when it fits there; otherwise the old
//! slot becomes garbage. When garbage passes an eighth of the buffer, the live
//! records are slid down in place (sorted by position, so every move goes to a
//! lower address), which bounds the buffer at ~1.125x the sample with no second
//! buffer and no per-record allocation.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::dataset::columns::{self, ColumnKinds, Counted, Widened};

/// What to keep and how much memory it may take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Keep a uniform sample of this many records (`DATASET_MAX_RECORDS`); `None` keeps all.
    pub max_records: Option<usize>,
    /// Stop with [`CollectError::TooLarge`] beyond this many bytes of records and offsets.
    pub max_bytes: Option<u64>,
    /// Seeds the sample (`RANDOM_SEED`), so a seeded load keeps the same records.
    pub seed: Option<u64>,
    /// The readers note what the records hold ([`crate::dataset::shape`]): a
    /// value schema will be derived from them.
    pub note_fields: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CollectError {
    #[error("the dataset needs more than {max_bytes} bytes of memory (DATASET_MAX_BYTES) after {records} records; set DATASET_MAX_RECORDS to keep a uniform sample of that many records, or raise DATASET_MAX_BYTES")]
    TooLarge { max_bytes: u64, records: u64 },
    #[error("a sample of {max_records} records needs more than {max_bytes} bytes of memory (DATASET_MAX_BYTES); lower DATASET_MAX_RECORDS or raise DATASET_MAX_BYTES")]
    SampleTooLarge { max_bytes: u64, max_records: usize },
}

/// Where a kept record sits in the buffer while sampling.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    end: usize,
}

impl Slot {
    fn len(self) -> usize {
        self.end - self.start
    }
}

/// Algorithm L state: the reservoir size, the running weight and which record
/// (counted from 0) is taken next.
struct Reservoir {
    k: usize,
    rng: SmallRng,
    w: f64,
    next: u64,
    slots: Vec<Slot>,
    garbage: usize,
}

impl Reservoir {
    /// A uniform draw in (0, 1]: `ln` of it is finite.
    fn unit(rng: &mut SmallRng) -> f64 {
        1.0 - rng.random::<f64>()
    }

    fn shrink_w(&mut self) {
        self.w *= (Self::unit(&mut self.rng).ln() / self.k as f64).exp();
    }

    /// Moves `next` past the records that are not taken: a geometric skip.
    fn advance(&mut self) {
        let skip = (Self::unit(&mut self.rng).ln() / (-self.w).ln_1p()).floor();
        // `as` saturates: a skip past u64::MAX (or NaN from w == 1) is harmless.
        self.next = self.next.saturating_add(skip as u64).saturating_add(1);
    }
}

/// Bytes of offsets per record: one `usize` when keeping all, a slot when sampling.
const ALL_INDEX: usize = std::mem::size_of::<usize>();
const SAMPLE_INDEX: usize = std::mem::size_of::<Slot>();

/// Records gathered so far. See the module documentation.
pub struct Collector {
    buf: Vec<u8>,
    ends: Vec<usize>,
    reservoir: Option<Reservoir>,
    seen: u64,
    max_bytes: usize,
    max_bytes_setting: Option<u64>,
    note_fields: bool,
}

/// The collected records: `buf` holds them back to back, `ends[i]` is where record `i` ends.
#[derive(Debug, Default)]
pub struct Collected {
    pub buf: Vec<u8>,
    pub ends: Vec<usize>,
    /// Well-formed records offered, kept or not (the `M` of `records=N of M`).
    pub seen: u64,
}

impl Collector {
    /// `max_records` of `Some(0)` is refused by configuration; it is treated as 1.
    pub fn new(limits: &Limits) -> Self {
        let reservoir = limits.max_records.map(|k| {
            let k = k.max(1);
            let rng = match limits.seed {
                Some(s) => SmallRng::seed_from_u64(s),
                None => SmallRng::from_os_rng(),
            };
            Reservoir { k, rng, w: 1.0, next: 0, slots: Vec::new(), garbage: 0 }
        });
        let max_bytes = limits.max_bytes.map_or(usize::MAX, |b| usize::try_from(b).unwrap_or(usize::MAX));
        let (buf, ends, note_fields) = (Vec::new(), Vec::new(), limits.note_fields);
        Self { buf, ends, reservoir, seen: 0, max_bytes, max_bytes_setting: limits.max_bytes, note_fields }
    }

    /// Reserves for `json_bytes` of records up front (a loader's estimate from
    /// the object's size), so the buffer is not regrown by doubling. Capped by
    /// the memory guard; ignored when sampling, where the size is the sample's.
    pub fn reserve(&mut self, json_bytes: usize) {
        if self.reservoir.is_none() {
            self.buf.reserve(json_bytes.min(self.max_bytes));
        }
    }

    /// Offers the next well-formed record. `write` appends its JSON to the
    /// buffer it is given and is called only when the record is kept.
    #[inline]
    pub fn offer(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), CollectError> {
        let seen = self.seen;
        self.seen += 1;
        let Some(r) = &mut self.reservoir else {
            write(&mut self.buf);
            self.ends.push(self.buf.len());
            return self.check(ALL_INDEX * self.ends.len());
        };
        if seen < r.k as u64 {
            let start = self.buf.len();
            write(&mut self.buf);
            r.slots.push(Slot { start, end: self.buf.len() });
            if r.slots.len() == r.k {
                r.shrink_w();
                r.next = seen;
                r.advance();
            }
        } else if seen == r.next {
            let start = self.buf.len();
            write(&mut self.buf);
            let new = Slot { start, end: self.buf.len() };
            let j = r.rng.random_range(0..r.k);
            let old = r.slots[j];
            if new.len() <= old.len() {
                self.buf.copy_within(new.start..new.end, old.start);
                self.buf.truncate(new.start);
                r.slots[j].end = old.start + new.len();
                r.garbage += old.len() - new.len();
            } else {
                r.slots[j] = new;
                r.garbage += old.len();
            }
            if r.garbage > 64 * 1024 && r.garbage > self.buf.len() / 8 {
                compact(&mut self.buf, &mut r.slots);
                r.garbage = 0;
            }
            r.shrink_w();
            r.advance();
        } else {
            return Ok(());
        }
        let index = SAMPLE_INDEX * r.slots.len();
        self.check(index)
    }

    fn check(&self, index_bytes: usize) -> Result<(), CollectError> {
        if self.buf.len().saturating_add(index_bytes) <= self.max_bytes {
            return Ok(());
        }
        let max_bytes = self.max_bytes_setting.unwrap_or(u64::MAX);
        Err(match &self.reservoir {
            Some(r) => CollectError::SampleTooLarge { max_bytes, max_records: r.k },
            None => CollectError::TooLarge { max_bytes, records: self.seen },
        })
    }

    /// True when every record offered is kept (no sample): a record is then
    /// written at the end of the buffer and never moves or leaves until the
    /// load is done, so where it starts is the buffer's length when it is written.
    pub fn keeps_all(&self) -> bool {
        self.reservoir.is_none()
    }

    /// Whether a reader should note what the records hold: a schema will be
    /// derived from them, and every one is kept (what it noted is then exact).
    pub fn notes_fields(&self) -> bool {
        self.note_fields && self.keeps_all()
    }

    /// Well-formed records offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Records kept so far.
    pub fn kept(&self) -> usize {
        match &self.reservoir {
            Some(r) => r.slots.len(),
            None => self.ends.len(),
        }
    }

    /// The kept records, contiguous, with spare capacity returned. A sample
    /// comes out in buffer order (deterministic for a seeded load).
    pub fn finish(self) -> Collected {
        let mut collected = self.into_collected();
        collected.shrink();
        collected
    }

    /// [`finish`](Self::finish), with each CSV column given one type over the
    /// kept records ([`columns`]): `counts` are the CSV readers' cell counts,
    /// `other_formats` says whether records of other formats were offered too.
    /// The quotes a widened column adds count against the memory guard. The
    /// `bool` says whether `counts` are exact over the kept records (every
    /// record kept, every one CSV), as a schema derivation may then use them.
    pub fn finish_typed(
        self,
        counts: &ColumnKinds,
        other_formats: bool,
    ) -> Result<(Collected, Vec<Widened>, bool), CollectError> {
        let counted = match (other_formats, &self.reservoir) {
            (true, _) => Counted::MixedFormats,
            (false, Some(_)) => Counted::Sample,
            (false, None) => Counted::Exact,
        };
        let too_large = match &self.reservoir {
            Some(r) => {
                CollectError::SampleTooLarge { max_bytes: self.max_bytes_setting.unwrap_or(u64::MAX), max_records: r.k }
            }
            None => {
                CollectError::TooLarge { max_bytes: self.max_bytes_setting.unwrap_or(u64::MAX), records: self.seen }
            }
        };
        let max_bytes = self.max_bytes;
        let mut collected = self.into_collected();
        let used = collected.buf.len().saturating_add(ALL_INDEX * collected.ends.len());
        let room = max_bytes.saturating_sub(used);
        let widened = columns::unify(&mut collected.buf, &mut collected.ends, counts, counted, room)
            .map_err(|_growth| too_large)?;
        collected.shrink();
        Ok((collected, widened, counted == Counted::Exact))
    }

    fn into_collected(mut self) -> Collected {
        let ends = match self.reservoir.take() {
            None => self.ends,
            Some(mut r) => {
                compact(&mut self.buf, &mut r.slots);
                // Collecting from `into_iter` reuses the slots' allocation.
                r.slots.into_iter().map(|s| s.end).collect()
            }
        };
        Collected { buf: self.buf, ends, seen: self.seen }
    }
}

impl Collected {
    fn shrink(&mut self) {
        self.buf.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// Where loaders put records: a [`Collector`], or one shared by the loaders of
/// several objects read at once (`&Mutex<Collector>`, locked per record).
pub trait Offer {
    /// See [`Collector::offer`].
    fn offer(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), CollectError>;

    /// See [`Collector::keeps_all`].
    fn keeps_all(&self) -> bool;

    /// See [`Collector::notes_fields`].
    fn notes_fields(&self) -> bool;
}

impl Offer for Collector {
    #[inline]
    fn offer(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), CollectError> {
        Collector::offer(self, write)
    }

    fn keeps_all(&self) -> bool {
        Collector::keeps_all(self)
    }

    fn notes_fields(&self) -> bool {
        Collector::notes_fields(self)
    }
}

impl Offer for &std::sync::Mutex<Collector> {
    #[inline]
    fn offer(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), CollectError> {
        // A loader that panicked mid-record left no broken invariant worth refusing.
        self.lock().unwrap_or_else(|e| e.into_inner()).offer(write)
    }

    fn keeps_all(&self) -> bool {
        self.lock().unwrap_or_else(|e| e.into_inner()).keeps_all()
    }

    fn notes_fields(&self) -> bool {
        self.lock().unwrap_or_else(|e| e.into_inner()).notes_fields()
    }
}

/// Slides the live records down over the garbage, in place, in buffer order.
fn compact(buf: &mut Vec<u8>, slots: &mut [Slot]) {
    slots.sort_unstable_by_key(|s| s.start);
    let mut to = 0;
    for s in slots.iter_mut() {
        let len = s.len();
        if s.start != to {
            buf.copy_within(s.start..s.end, to);
        }
        *s = Slot { start: to, end: to + len };
        to += len;
    }
    buf.truncate(to);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offers records `0..n`, each written as its decimal digits padded to a
    /// length that varies with the number (so slots are reused and outgrown).
    fn run(limits: &Limits, n: u64) -> Collected {
        let mut c = Collector::new(limits);
        for i in 0..n {
            c.offer(|buf| buf.extend_from_slice(record(i).as_bytes())).unwrap();
        }
        assert_eq!(c.seen(), n);
        c.finish()
    }

    fn record(i: u64) -> String {
        format!("{i:0width$}", width = 1 + (i as usize * 7) % 23)
    }

    fn ids(c: &Collected) -> Vec<u64> {
        let mut start = 0;
        c.ends
            .iter()
            .map(|&end| {
                let s = std::str::from_utf8(&c.buf[start..end]).unwrap();
                let id = s.parse().unwrap();
                assert_eq!(s, record(id), "record {id} intact");
                start = end;
                id
            })
            .collect()
    }

    fn sample(k: usize, seed: u64) -> Limits {
        Limits { max_records: Some(k), max_bytes: None, seed: Some(seed), note_fields: false }
    }

    #[test]
    fn keeps_everything_in_order_without_a_limit() {
        let c = run(&Limits::default(), 1000);
        assert_eq!(ids(&c), (0..1000).collect::<Vec<_>>());
        assert_eq!(c.seen, 1000);
        assert_eq!(c.buf.capacity(), c.buf.len(), "spare capacity returned");
    }

    #[test]
    fn a_sample_of_more_than_the_stream_keeps_everything() {
        let c = run(&sample(50, 1), 20);
        assert_eq!(ids(&c), (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn a_sample_has_exactly_k_distinct_intact_records() {
        for n in [100u64, 10_000, 200_000] {
            let c = run(&sample(64, n), n);
            let mut got = ids(&c);
            assert_eq!(got.len(), 64);
            assert_eq!(c.seen, n);
            got.sort_unstable();
            got.dedup();
            assert_eq!(got.len(), 64, "no record kept twice");
            assert!(got.iter().all(|&i| i < n));
        }
    }

    #[test]
    fn a_seed_reproduces_the_sample_and_another_seed_does_not() {
        let a = ids(&run(&sample(100, 7), 50_000));
        assert_eq!(a, ids(&run(&sample(100, 7), 50_000)));
        assert_ne!(a, ids(&run(&sample(100, 8), 50_000)));
    }

    /// Every record of the stream should be kept with probability k/n. Counts
    /// over many seeded runs are compared with their expectation within 5
    /// standard deviations: a biased sampler fails, a fair one essentially never.
    #[test]
    fn the_sample_is_uniform_over_the_stream() {
        let (n, k, runs) = (200u64, 10usize, 20_000u64);
        let mut kept = vec![0u64; n as usize];
        for seed in 0..runs {
            for id in ids(&run(&sample(k, seed), n)) {
                kept[id as usize] += 1;
            }
        }
        let p = k as f64 / n as f64;
        let (mean, sd) = (runs as f64 * p, (runs as f64 * p * (1.0 - p)).sqrt());
        for (id, &c) in kept.iter().enumerate() {
            assert!((c as f64 - mean).abs() < 5.0 * sd, "record {id} kept {c} times, expected {mean:.0} ± {sd:.0}");
        }
        // Position bias (early vs late records) would show up in halves too.
        // Per run the first half holds k/2 on average (hypergeometric, variance < k/4).
        let first: u64 = kept[..n as usize / 2].iter().sum();
        let (half, sd) = (runs as f64 * k as f64 / 2.0, (runs as f64 * k as f64 / 4.0).sqrt());
        assert!((first as f64 - half).abs() < 5.0 * sd, "first half kept {first}, expected {half:.0} ± {sd:.0}");
    }

    #[test]
    fn long_streams_stay_uniform_past_the_skips() {
        // Algorithm L's skips matter once n >> k: check deciles of a long stream.
        let (n, k, runs) = (100_000u64, 20usize, 400u64);
        let mut deciles = [0u64; 10];
        for seed in 0..runs {
            for id in ids(&run(&sample(k, 1000 + seed), n)) {
                deciles[(id * 10 / n) as usize] += 1;
            }
        }
        // Per run a decile holds ~k/10 = 2 records (hypergeometric, variance <= k*0.09).
        let mean = runs as f64 * k as f64 / 10.0;
        let sd = (runs as f64 * k as f64 * 0.09).sqrt();
        for (d, &c) in deciles.iter().enumerate() {
            assert!((c as f64 - mean).abs() < 5.0 * sd, "decile {d}: {c}, expected {mean:.0} ± {sd:.0}");
        }
    }

    #[test]
    fn sampling_serializes_only_kept_records() {
        let mut c = Collector::new(&sample(10, 3));
        let mut written = 0u64;
        for i in 0..100_000u64 {
            c.offer(|buf| {
                written += 1;
                buf.extend_from_slice(record(i).as_bytes());
            })
            .unwrap();
        }
        // Expected k + k*ln(n/k) ~ 10 + 92; far below n.
        assert!(written < 400, "{written} records serialized");
        assert_eq!(c.kept(), 10);
    }

    #[test]
    fn sampling_memory_stays_near_the_sample_size() {
        // Records of 1..=23 bytes; a sample of 1000 holds ~12 kB. Compaction
        // must keep the buffer from growing with the stream.
        let mut c = Collector::new(&sample(1000, 5));
        let mut peak = 0;
        for i in 0..1_000_000u64 {
            c.offer(|buf| buf.extend_from_slice(record(i).as_bytes())).unwrap();
            peak = peak.max(c.buf.len());
        }
        let live: usize = {
            let done = c.finish();
            done.buf.len()
        };
        // Garbage is compacted away past 64 KiB (the floor for tiny samples).
        assert!(peak <= live + 64 * 1024 + 1024, "peak {peak}, live {live}");
    }

    #[test]
    fn the_guard_stops_a_load_that_would_not_fit() {
        let limits = Limits { max_records: None, max_bytes: Some(10_000), seed: None, note_fields: false };
        let mut c = Collector::new(&limits);
        let mut err = None;
        for i in 0..10_000u64 {
            if let Err(e) = c.offer(|buf| buf.extend_from_slice(record(i).as_bytes())) {
                err = Some((i, e));
                break;
            }
        }
        let (at, e) = err.expect("the guard fires");
        assert!(matches!(e, CollectError::TooLarge { max_bytes: 10_000, .. }), "{e}");
        assert!(at < 1000, "fired at record {at}");
        assert!(e.to_string().contains("DATASET_MAX_RECORDS"), "{e}");
        // The same stream sampled fits.
        let c = run(&Limits { max_records: Some(100), ..limits.clone() }, 10_000);
        assert_eq!(c.ends.len(), 100);
        // A sample too large for the guard names the other fix.
        let mut c = Collector::new(&Limits { max_records: Some(5_000), ..limits });
        let e = (0..10_000u64).find_map(|i| c.offer(|buf| buf.extend_from_slice(record(i).as_bytes())).err());
        assert!(matches!(e, Some(CollectError::SampleTooLarge { max_records: 5_000, .. })), "{e:?}");
    }

    /// The quotes a mixed column gets count against the guard: records that
    /// fit as written do not fit once widened, and the load says so.
    #[test]
    fn widening_a_column_counts_against_the_guard() {
        use crate::dataset::columns::Kinds;
        let rows: Vec<String> =
            (0..100).map(|i| if i == 0 { r#"{"z":"x"}"#.into() } else { format!(r#"{{"z":{i}}}"#) }).collect();
        let bytes: usize = rows.iter().map(String::len).sum::<usize>() + ALL_INDEX * rows.len();
        let kinds = ColumnKinds {
            columns: vec![(br#""z""#.to_vec(), Kinds { numbers: 99, strings: 1, bare: 99, ..Kinds::default() })],
        };
        let collect = |max_bytes: usize| {
            let mut c = Collector::new(&Limits { max_bytes: Some(max_bytes as u64), ..Limits::default() });
            for r in &rows {
                c.offer(|buf| buf.extend_from_slice(r.as_bytes())).unwrap();
            }
            c.finish_typed(&kinds, false)
        };
        let e = collect(bytes + 2 * 99 - 1).unwrap_err();
        assert!(matches!(e, CollectError::TooLarge { records: 100, .. }), "{e}");
        let (c, widened, exact) = collect(bytes + 2 * 99).unwrap();
        assert!(exact, "every record kept, all CSV");
        assert_eq!(widened.len(), 1);
        assert_eq!(&c.buf[..20], br#"{"z":"x"}{"z":"1"}{""#);
        assert_eq!(c.buf.len(), bytes - ALL_INDEX * rows.len() + 2 * 99);
    }

    #[test]
    fn reserve_is_capped_by_the_guard() {
        let mut c = Collector::new(&Limits { max_bytes: Some(1 << 20), ..Limits::default() });
        c.reserve(1 << 30);
        assert!(c.buf.capacity() <= 1 << 20);
    }
}
