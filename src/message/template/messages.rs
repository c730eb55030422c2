//! A dataset's records through the template: [`prepare`] writes each
//! record's stored bytes once (the record stage), and [`TemplateMessages`]
//! builds each message from them (the message stage).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use minijinja::Value;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::compile::{self, Class, Code, Compiled, Node, Scope};
use super::doc::Document;
use super::error::TemplateError;
use super::funcs::{Lookup, Runtime};
use super::render::{self, node_value, render, write_value, Failure, Hole, Mode, NO_KEY};
use crate::dataset::collect::Collected;
use crate::dataset::{Dataset, REPORTED_SKIPS};
use crate::message::{Assemble, Header, Headers, Message, Records};

/// Mixed into the seed for the template's generators, apart from the
/// sampler's and `MESSAGE_FIELDS`' streams.
const TEMPLATE_STREAM: u64 = 0x5851_f42d_4c95_7f2d;

/// One output of the template: the value, the key, a header.
struct Output {
    mode: Mode,
    holes: Vec<Hole>,
}

/// What the record stage made.
pub struct Prepared {
    /// The stored records, one per usable source record.
    pub dataset: Dataset,
    /// Each stored record's index in the source dataset (a replay reads its times there).
    pub kept: Vec<u32>,
    /// Records skipped because an expression failed on them.
    pub skipped: u64,
    /// The first few: (record number from 1, member, message).
    pub skipped_rows: Vec<(u64, String, String)>,
    pub messages: TemplateMessages,
}

/// Evaluates what depends on each record of `records` once, into the stored
/// records a run samples from. `columns`: the dataset's (empty for a
/// synthetic run, whose one record is `{}`). Fails when no record is usable.
pub fn prepare<R: Records + ?Sized>(
    doc: &Document,
    records: &R,
    columns: &[String],
    lookups: Arc<Vec<Lookup>>,
    seed: u64,
) -> Result<Prepared, TemplateError> {
    let runtime = Arc::new(Runtime {
        rng: Mutex::new(SmallRng::seed_from_u64(seed ^ TEMPLATE_STREAM)),
        seq: Default::default(),
        ms: Default::default(),
        lookups,
        clock: Mutex::default(),
    });
    let c = Compiled::new(doc, columns, Arc::clone(&runtime))?;
    let scope = Scope::new(&c.var_names(), &runtime);
    let mut outputs = vec![output(&c, &c.value, Mode::Json)];
    if let Some(k) = &c.key {
        outputs.push(output(&c, k, Mode::Text));
    }
    for (_, h) in &c.headers {
        outputs.push(output(&c, h, Mode::Text));
    }
    let offsets = outputs.iter().map(|o| o.holes.len() + 1).sum::<usize>() + 1;
    let reads_record = !columns.is_empty();

    let mut buf = Vec::new();
    let mut ends = Vec::with_capacity(records.count());
    let mut kept = Vec::with_capacity(records.count());
    let (mut skipped, mut skipped_rows, mut first) = (0u64, Vec::new(), None);
    let mut at = Vec::with_capacity(offsets);
    for i in 0..records.count() {
        let start = buf.len();
        at.clear();
        match store(&c, &scope, &outputs, records.record(i), reads_record, &mut buf, start, offsets, &mut at) {
            Ok(()) => {
                ends.push(buf.len());
                kept.push(i as u32);
            }
            Err(f) => {
                buf.truncate(start);
                skipped += 1;
                if skipped_rows.len() < REPORTED_SKIPS {
                    skipped_rows.push((i as u64 + 1, f.path.clone(), f.message.clone()));
                }
                first.get_or_insert((i as u64 + 1, f));
            }
        }
    }
    if kept.is_empty() {
        let (row, f) = first.unwrap_or((0, Failure { path: "value".into(), message: "no records".into() }));
        return Err(TemplateError::NoRecords { records: skipped, row, path: f.path, message: f.message });
    }
    buf.shrink_to_fit();
    let seen = records.count() as u64;
    let dataset = Dataset::from_collected(Collected { buf, ends, seen });
    let longest = (0..dataset.len()).map(|i| dataset.get(i).len()).max().unwrap_or(0);
    let header_specs = c
        .headers
        .iter()
        .map(|(name, _)| Header { name: name.clone(), value: crate::message::Generator::Const(String::new()) })
        .collect();
    let message_vars = c.vars.iter().enumerate().filter(|(_, v)| v.2 == Class::Message).map(|(i, _)| i).collect();
    let messages = TemplateMessages {
        has_key: c.key.is_some(),
        header_specs,
        message_vars,
        scope,
        outputs,
        offsets,
        c,
        payload: Vec::with_capacity(longest + 256),
        key: Vec::with_capacity(64),
        key_present: false,
        header_values: Vec::new(),
        header_ends: Vec::new(),
        failed: 0,
        first_failure: None,
    };
    Ok(Prepared { dataset, kept, skipped, skipped_rows, messages })
}

fn output(c: &Compiled, node: &Node, mode: Mode) -> Output {
    let mut holes = Vec::new();
    render::holes(c, node, mode, &mut holes);
    Output { mode, holes }
}

fn node_of(c: &Compiled, o: usize) -> &Node {
    match o {
        0 => &c.value,
        1 if c.key.is_some() => c.key.as_ref().expect("checked"),
        n => &c.headers[n - 1 - usize::from(c.key.is_some())].1,
    }
}

/// The record stage for one record: `[offsets][outputs...][carried]` appended to `buf`.
#[allow(clippy::too_many_arguments)]
fn store(
    c: &Compiled,
    scope: &Arc<Scope>,
    outputs: &[Output],
    record: &[u8],
    reads_record: bool,
    buf: &mut Vec<u8>,
    base: usize,
    offsets: usize,
    at: &mut Vec<u32>,
) -> Result<(), Failure> {
    let row = if reads_record {
        serde_json::from_slice::<Value>(record)
            .map_err(|e| Failure { path: "(record)".into(), message: format!("not a JSON object: {e}") })?
    } else {
        Value::from(())
    };
    {
        let mut frame = scope.frame();
        frame.record = row;
        frame.vars.iter_mut().for_each(|v| *v = Value::UNDEFINED);
    }
    for (slot, (_, node, class)) in c.vars.iter().enumerate() {
        if *class == Class::Record {
            let v = node_value(c, scope, node)?;
            scope.frame().vars[slot] = v;
        }
    }
    buf.resize(base + 4 * offsets, 0);
    for (o, out) in outputs.iter().enumerate() {
        let present = render(c, scope, node_of(c, o), out.mode, buf, base, at)?;
        let end = (buf.len() - base) as u32;
        at.push(if present { end } else { end | NO_KEY });
    }
    if !c.carried.is_empty() {
        let frame = scope.frame();
        let pairs: Vec<(String, Value)> = c
            .carried
            .iter()
            .map(|r| match r {
                compile::Root::Var(slot) => (c.vars[*slot].0.clone(), frame.vars[*slot].clone()),
                compile::Root::Column(col) => (col.clone(), frame.record.get_attr(col).unwrap_or(Value::UNDEFINED)),
            })
            .filter(|(_, v)| !v.is_undefined())
            .collect();
        serde_json::to_writer(&mut *buf, &Value::from_pairs(pairs))
            .map_err(|e| Failure { path: "(record)".into(), message: e.to_string() })?;
    }
    at.push((buf.len() - base) as u32);
    debug_assert_eq!(at.len(), offsets);
    for (j, off) in at.iter().enumerate() {
        buf[base + 4 * j..base + 4 * j + 4].copy_from_slice(&off.to_le_bytes());
    }
    Ok(())
}

/// Builds each message from a stored record. One per send loop.
pub struct TemplateMessages {
    c: Compiled,
    scope: Arc<Scope>,
    outputs: Vec<Output>,
    offsets: usize,
    has_key: bool,
    header_specs: Vec<Header>,
    message_vars: Vec<usize>,
    payload: Vec<u8>,
    key: Vec<u8>,
    key_present: bool,
    header_values: Vec<u8>,
    header_ends: Vec<usize>,
    /// Per-message values that failed (written as null), and the first failure.
    pub failed: u64,
    pub first_failure: Option<Failure>,
}

impl TemplateMessages {
    /// (expressions, evaluated per message, run without the engine): for the startup line.
    pub fn counts(&self) -> (usize, usize, usize) {
        compile::classes(&self.c)
    }

    /// Counts a per-message value that failed; the first is logged.
    fn note(&mut self, f: Failure) {
        self.failed += 1;
        if self.first_failure.is_none() {
            crate::observe::events::template_value_failed(&f.path, &f.message);
            self.first_failure = Some(f);
        }
    }

    /// The message for stored record `entry`, the `seq`-th of the run, sent at `ms`.
    pub fn build(&mut self, entry: &[u8], seq: u64, ms: u64) -> Message<'_> {
        self.assemble(entry, seq, ms)
    }
}

impl Assemble for TemplateMessages {
    /// Whether a message needs the send time (any per-message value).
    fn needs_time(&self) -> bool {
        self.outputs.iter().any(|o| !o.holes.is_empty()) || !self.message_vars.is_empty()
    }

    fn assemble(&mut self, entry: &[u8], seq: u64, ms: u64) -> Message<'_> {
        let rt = &self.c.runtime;
        rt.seq.store(seq, Ordering::Relaxed);
        rt.ms.store(ms, Ordering::Relaxed);
        let off = |j: usize| u32::from_le_bytes(entry[4 * j..4 * j + 4].try_into().expect("4 bytes"));
        let last_output = off(self.offsets - 2) & !NO_KEY;
        if !self.c.carried.is_empty() {
            let carried: Value = serde_json::from_slice(&entry[last_output as usize..off(self.offsets - 1) as usize])
                .unwrap_or_else(|_| Value::from(()));
            let mut frame = self.scope.frame();
            for r in &self.c.carried {
                if let compile::Root::Var(slot) = r {
                    frame.vars[*slot] = carried.get_attr(&self.c.vars[*slot].0).unwrap_or(Value::UNDEFINED);
                }
            }
            frame.record = carried;
        }
        // The last message's values must not answer for a var not evaluated yet.
        {
            let mut frame = self.scope.frame();
            for &slot in &self.message_vars {
                frame.vars[slot] = Value::UNDEFINED;
            }
        }
        for i in 0..self.message_vars.len() {
            let slot = self.message_vars[i];
            let v = match node_value(&self.c, &self.scope, &self.c.vars[slot].1) {
                Ok(v) => v,
                Err(f) => {
                    self.note(f);
                    Value::from(())
                }
            };
            self.scope.frame().vars[slot] = v;
        }

        let (mut pos, mut j) = (4 * self.offsets, 0usize);
        self.payload.clear();
        self.key.clear();
        self.header_values.clear();
        self.header_ends.clear();
        let mut failures = Vec::new();
        let mut fill = |out: &Output, buf: &mut Vec<u8>| -> bool {
            let mut present = true;
            for h in &out.holes {
                let at = off(j) as usize;
                buf.extend_from_slice(&entry[pos..at]);
                pos = at;
                j += 1;
                present &= hole(&self.c, &self.scope, *h, buf, &mut failures);
            }
            let end = off(j);
            j += 1;
            buf.extend_from_slice(&entry[pos..(end & !NO_KEY) as usize]);
            pos = (end & !NO_KEY) as usize;
            present && end & NO_KEY == 0
        };
        let mut outputs = self.outputs.iter();
        fill(outputs.next().expect("the value"), &mut self.payload);
        self.key_present = self.has_key && fill(outputs.next().expect("the key"), &mut self.key);
        for out in outputs {
            fill(out, &mut self.header_values);
            self.header_ends.push(self.header_values.len());
        }
        for f in failures {
            self.note(f);
        }
        Message {
            payload: &self.payload,
            key: self.key_present.then_some(&self.key[..]),
            headers: Headers { specs: &self.header_specs, values: &self.header_values, ends: &self.header_ends },
        }
    }
}

/// Fills one per-message place; `false` when a whole key or header is null.
fn hole(c: &Compiled, scope: &Arc<Scope>, h: Hole, buf: &mut Vec<u8>, failures: &mut Vec<Failure>) -> bool {
    let e = &c.exprs[h.expr];
    if let (Code::Gen(g), Mode::Json | Mode::Text) = (&e.code, h.mode) {
        g.write(&c.runtime, buf, h.mode == Mode::Text);
        return true;
    }
    let start = buf.len();
    let result = compile::eval(c, scope, h.expr).and_then(|v| {
        if h.mode == Mode::Text && v.is_none() {
            return Ok(false);
        }
        write_value(buf, &v, h.mode).map(|()| true)
    });
    match result {
        Ok(present) => present,
        Err(message) => {
            buf.truncate(start);
            if h.mode == Mode::Json {
                buf.extend_from_slice(b"null");
            }
            failures.push(Failure { path: e.path.clone(), message: format!("`{}`: {message}", e.source) });
            true
        }
    }
}

/// The source records a template kept, in the order of its stored records (a replay reads its times there).
pub struct Kept<'a, R: ?Sized> {
    pub records: &'a R,
    pub kept: &'a [u32],
}

impl<R: Records + ?Sized> Records for Kept<'_, R> {
    fn count(&self) -> usize {
        self.kept.len()
    }
    fn record(&self, i: usize) -> &[u8] {
        self.records.record(self.kept[i] as usize)
    }
}
