//! The template's functions: generators (a fresh value per message, drawn
//! from the template's seeded stream or read from the message's clock and
//! number), lookups, and time helpers. The same code answers a call made by
//! the expression engine and a simple call the template runs natively.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use minijinja::{Error, ErrorKind, Value};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::SmallRng;
use rand::Rng;

/// Functions whose value changes from one message to the next: an
/// expression that calls one is evaluated per message.
pub const GENERATORS: &[&str] = &[
    "uuid", "now", "now_ms", "now_s", "seq", "int", "uniform", "normal", "chance", "one_of", "weighted", "fake", "pick",
];

/// Functions of their arguments alone (and of the lookups, loaded once).
pub const PURE: &[&str] = &["lookup", "epoch_ms", "format_time", "hour"];

/// What `fake(kind)` knows.
pub const FAKE_KINDS: &[&str] = &[
    "first_name",
    "last_name",
    "name",
    "email",
    "city",
    "country",
    "street",
    "zip",
    "phone",
    "company",
    "word",
    "ipv4",
    "user_agent",
];

/// One `fake(kind)` value, drawn from `rng`; `None` for an unknown kind.
pub fn fake(kind: &str, rng: &mut SmallRng) -> Option<String> {
    use fake::faker::address::en::{CityName, CountryName, StreetName, ZipCode};
    use fake::faker::company::en::CompanyName;
    use fake::faker::internet::en::{IPv4, SafeEmail, UserAgent};
    use fake::faker::lorem::en::Word;
    use fake::faker::name::en::{FirstName, LastName, Name};
    use fake::faker::phone_number::en::PhoneNumber;
    use fake::Fake;
    Some(match kind {
        "first_name" => FirstName().fake_with_rng(rng),
        "last_name" => LastName().fake_with_rng(rng),
        "name" => Name().fake_with_rng(rng),
        "email" => SafeEmail().fake_with_rng(rng),
        "city" => CityName().fake_with_rng(rng),
        "country" => CountryName().fake_with_rng(rng),
        "street" => StreetName().fake_with_rng(rng),
        "zip" => ZipCode().fake_with_rng(rng),
        "phone" => PhoneNumber().fake_with_rng(rng),
        "company" => CompanyName().fake_with_rng(rng),
        "word" => Word().fake_with_rng(rng),
        "ipv4" => IPv4().fake_with_rng(rng),
        "user_agent" => UserAgent().fake_with_rng(rng),
        _ => return None,
    })
}

/// A lookup table: its rows (objects) and the row for each key.
#[derive(Debug)]
pub struct Lookup {
    pub name: String,
    pub key: String,
    pub rows: Vec<Value>,
    by_key: HashMap<String, usize>,
}

impl Lookup {
    /// Indexes `rows` by their `key` column (as text; the first row of a key
    /// wins). `Err` lists the columns when no row has `key`.
    pub fn new(name: &str, key: &str, rows: Vec<Value>) -> Result<Self, Vec<String>> {
        let mut by_key = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            if let Some(k) = row.get_attr(key).ok().as_ref().and_then(key_text) {
                by_key.entry(k).or_insert(i);
            }
        }
        if by_key.is_empty() && !rows.is_empty() {
            let mut columns: Vec<String> = Vec::new();
            for row in &rows {
                for k in row.try_iter().into_iter().flatten() {
                    let k = k.to_string();
                    if !columns.contains(&k) {
                        columns.push(k);
                    }
                }
            }
            return Err(columns);
        }
        Ok(Self { name: name.to_owned(), key: key.to_owned(), rows, by_key })
    }

    pub fn get(&self, key: &Value) -> Value {
        key_text(key).and_then(|k| self.by_key.get(&k)).map_or(Value::from(()), |&i| self.rows[i].clone())
    }
}

/// A key's text: a string as is, a number or boolean as written; none for null.
pub fn key_text(v: &Value) -> Option<String> {
    if v.is_none() || v.is_undefined() {
        return None;
    }
    Some(match v.as_str() {
        Some(s) => s.to_owned(),
        None => v.to_string(),
    })
}

/// What generators draw from and read: the template's seeded stream, the
/// message's number and send time, and the lookups. One per builder.
pub struct Runtime {
    pub rng: Mutex<SmallRng>,
    pub seq: AtomicU64,
    pub ms: AtomicU64,
    pub lookups: std::sync::Arc<Vec<Lookup>>,
    /// `now()`'s text, formatted once per millisecond.
    pub(in crate::message) clock: Mutex<super::super::Clock>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("seq", &self.seq).field("ms", &self.ms).field("lookups", &self.lookups).finish()
    }
}

impl Runtime {
    pub fn lookup_index(&self, name: &str) -> Option<usize> {
        self.lookups.iter().position(|l| l.name == name)
    }

    pub fn unknown_lookup(&self, name: &str) -> String {
        let known: Vec<&str> = self.lookups.iter().map(|l| l.name.as_str()).collect();
        format!(
            "no lookup is named {name:?}; the template's lookups are {}",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )
    }
}

impl minijinja::value::Object for Runtime {}

/// A generator call with its arguments checked: what a message's value is drawn from.
#[derive(Debug)]
pub enum Gen {
    Uuid,
    Now,
    NowMs,
    NowS,
    Seq,
    Int(i64, i64),
    Uniform(f64, f64),
    Normal(rand_distr::Normal<f64>),
    Chance(f64),
    OneOf(Vec<Value>),
    Weighted(Vec<Value>, WeightedIndex<f64>),
    Fake(&'static str),
    Pick(usize),
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), Error> {
    if args.len() != n {
        return Err(invalid(format!(
            "{name}() takes {n} argument{}, not {}",
            if n == 1 { "" } else { "s" },
            args.len()
        )));
    }
    Ok(())
}

fn number(name: &str, v: &Value) -> Result<f64, Error> {
    if v.is_number() {
        if let Ok(f) = f64::try_from(v.clone()) {
            if f.is_finite() {
                return Ok(f);
            }
        }
    }
    Err(invalid(format!("{name}(): {v:?} is not a number")))
}

fn integer(name: &str, v: &Value) -> Result<i64, Error> {
    v.as_i64().filter(|_| v.is_integer()).ok_or_else(|| invalid(format!("{name}(): {v:?} is not a whole number")))
}

fn list(name: &str, v: &Value) -> Result<Vec<Value>, Error> {
    if !matches!(v.kind(), minijinja::value::ValueKind::Seq) {
        return Err(invalid(format!("{name}(): {v:?} is not a list")));
    }
    Ok(v.try_iter()?.collect())
}

impl Gen {
    /// The generator `name` called with `args`, checked (`Ok(None)`: not a generator).
    pub fn new(name: &str, args: &[Value], rt: &Runtime) -> Result<Option<Gen>, Error> {
        let no_args = |g: Gen| arity(name, args, 0).map(|()| g);
        Ok(Some(match name {
            "uuid" => no_args(Gen::Uuid)?,
            "now" => no_args(Gen::Now)?,
            "now_ms" => no_args(Gen::NowMs)?,
            "now_s" => no_args(Gen::NowS)?,
            "seq" => no_args(Gen::Seq)?,
            "int" => {
                arity(name, args, 2)?;
                let (a, b) = (integer(name, &args[0])?, integer(name, &args[1])?);
                if a > b {
                    return Err(invalid(format!("int({a}, {b}): the first bound is above the second")));
                }
                Gen::Int(a, b)
            }
            "uniform" => {
                arity(name, args, 2)?;
                let (a, b) = (number(name, &args[0])?, number(name, &args[1])?);
                if a > b {
                    return Err(invalid(format!("uniform({a}, {b}): the first bound is above the second")));
                }
                Gen::Uniform(a, b)
            }
            "normal" => {
                arity(name, args, 2)?;
                let (mean, sd) = (number(name, &args[0])?, number(name, &args[1])?);
                let d = rand_distr::Normal::new(mean, sd)
                    .map_err(|_| invalid(format!("normal({mean}, {sd}): the standard deviation must be >= 0")))?;
                Gen::Normal(d)
            }
            "chance" => {
                arity(name, args, 1)?;
                let p = number(name, &args[0])?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(invalid(format!("chance({p}): a probability is from 0 to 1")));
                }
                Gen::Chance(p)
            }
            "one_of" => {
                arity(name, args, 1)?;
                let items = list(name, &args[0])?;
                if items.is_empty() {
                    return Err(invalid("one_of([]): the list is empty".into()));
                }
                Gen::OneOf(items)
            }
            "weighted" => {
                arity(name, args, 2)?;
                let values = list(name, &args[0])?;
                let weights: Vec<f64> =
                    list(name, &args[1])?.iter().map(|w| number(name, w)).collect::<Result<_, _>>()?;
                if values.len() != weights.len() {
                    return Err(invalid(format!(
                        "weighted(): {} values but {} weights; give one weight per value",
                        values.len(),
                        weights.len()
                    )));
                }
                let index = WeightedIndex::new(&weights)
                    .map_err(|e| invalid(format!("weighted(): the weights must be >= 0 with a sum > 0 ({e})")))?;
                Gen::Weighted(values, index)
            }
            "fake" => {
                arity(name, args, 1)?;
                let kind = args[0].as_str().unwrap_or_default();
                let Some(known) = FAKE_KINDS.iter().find(|k| **k == kind) else {
                    return Err(invalid(format!(
                        "fake({:?}): unknown kind; known kinds are {}",
                        args[0].to_string(),
                        FAKE_KINDS.join(", ")
                    )));
                };
                Gen::Fake(known)
            }
            "pick" => {
                arity(name, args, 1)?;
                let lookup = args[0].as_str().unwrap_or_default();
                let i =
                    rt.lookup_index(lookup).ok_or_else(|| invalid(format!("pick(): {}", rt.unknown_lookup(lookup))))?;
                if rt.lookups[i].rows.is_empty() {
                    return Err(invalid(format!("pick({lookup:?}): the lookup has no rows")));
                }
                Gen::Pick(i)
            }
            _ => return Ok(None),
        }))
    }

    /// This message's value.
    pub fn value(&self, rt: &Runtime) -> Value {
        match self {
            Gen::Uuid => Value::from(new_uuid(rt).hyphenated().to_string()),
            Gen::Now => Value::from(String::from_utf8_lossy(lock(&rt.clock).rfc3339(rt.ms.load(Ordering::Relaxed)))),
            Gen::NowMs => Value::from(rt.ms.load(Ordering::Relaxed)),
            Gen::NowS => Value::from(rt.ms.load(Ordering::Relaxed) / 1000),
            Gen::Seq => Value::from(rt.seq.load(Ordering::Relaxed)),
            Gen::Int(a, b) => Value::from(rng(rt).random_range(*a..=*b)),
            Gen::Uniform(a, b) => Value::from(if a == b { *a } else { rng(rt).random_range(*a..=*b) }),
            Gen::Normal(d) => Value::from(d.sample(&mut *rng(rt))),
            Gen::Chance(p) => Value::from(rng(rt).random_bool(*p)),
            Gen::OneOf(items) => items[rng(rt).random_range(0..items.len())].clone(),
            Gen::Weighted(values, index) => values[index.sample(&mut *rng(rt))].clone(),
            Gen::Fake(kind) => Value::from(fake(kind, &mut rng(rt)).unwrap_or_default()),
            Gen::Pick(i) => {
                let rows = &rt.lookups[*i].rows;
                rows[rng(rt).random_range(0..rows.len())].clone()
            }
        }
    }

    /// Writes this message's value as JSON (`text`: as text, for a key or a
    /// header), without a `Value` for the common cases.
    pub fn write(&self, rt: &Runtime, buf: &mut Vec<u8>, text: bool) {
        let quote = |buf: &mut Vec<u8>| {
            if !text {
                buf.push(b'"');
            }
        };
        match self {
            Gen::Uuid => {
                quote(buf);
                buf.extend_from_slice(
                    new_uuid(rt).hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).as_bytes(),
                );
                quote(buf);
            }
            Gen::Now => {
                quote(buf);
                buf.extend_from_slice(lock(&rt.clock).rfc3339(rt.ms.load(Ordering::Relaxed)));
                quote(buf);
            }
            Gen::NowMs => buf.extend_from_slice(itoa::Buffer::new().format(rt.ms.load(Ordering::Relaxed)).as_bytes()),
            Gen::NowS => {
                buf.extend_from_slice(itoa::Buffer::new().format(rt.ms.load(Ordering::Relaxed) / 1000).as_bytes())
            }
            Gen::Seq => buf.extend_from_slice(itoa::Buffer::new().format(rt.seq.load(Ordering::Relaxed)).as_bytes()),
            Gen::Int(a, b) => {
                buf.extend_from_slice(itoa::Buffer::new().format(rng(rt).random_range(*a..=*b)).as_bytes())
            }
            Gen::Fake(kind) => {
                let s = fake(kind, &mut rng(rt)).unwrap_or_default();
                if text {
                    buf.extend_from_slice(s.as_bytes());
                } else {
                    crate::dataset::csv::write_json_string(buf, s.as_bytes());
                }
            }
            other => {
                let v = other.value(rt);
                super::value::write_value(
                    buf,
                    &v,
                    if text { super::value::Mode::Text } else { super::value::Mode::Json },
                )
                .expect("a generator's value is JSON");
            }
        }
    }
}

fn rng(rt: &Runtime) -> std::sync::MutexGuard<'_, SmallRng> {
    lock(&rt.rng)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn new_uuid(rt: &Runtime) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng(rt).random()).into_uuid()
}

/// `epoch_ms(t)`: a date-time text in a form `REPLAY_TIME_FIELD` accepts (no
/// zone: UTC) or an epoch number (seconds, or milliseconds from 1e11 on).
pub fn epoch_ms(v: &Value) -> Result<Value, Error> {
    let t = match v.as_str() {
        Some(s) => crate::pacing::replay::parse_time(s),
        None if v.is_number() => crate::pacing::replay::parse_time(&v.to_string()),
        None => None,
    };
    let t = t.ok_or_else(|| {
        invalid(format!(
            "epoch_ms({v:?}): not a date-time (RFC 3339 / ISO 8601, a date, or epoch seconds or milliseconds)"
        ))
    })?;
    Ok(Value::from(t.as_millisecond()))
}

fn millis(name: &str, v: &Value) -> Result<jiff::Timestamp, Error> {
    let ms = number(name, v)?;
    jiff::Timestamp::from_millisecond(ms as i64).map_err(|e| invalid(format!("{name}({ms}): {e}")))
}

/// `format_time(ms, pattern)`: strftime in UTC.
pub fn format_time(ms: &Value, pattern: &Value) -> Result<Value, Error> {
    let t = millis("format_time", ms)?;
    let pattern = pattern.as_str().ok_or_else(|| invalid("format_time(): the pattern is not a string".into()))?;
    jiff::fmt::strtime::format(pattern, t)
        .map(Value::from)
        .map_err(|e| invalid(format!("format_time(): pattern {pattern:?}: {e}")))
}

/// `hour(ms)`: the hour of the day, 0 to 23, in UTC.
pub fn hour(ms: &Value) -> Result<Value, Error> {
    let t = millis("hour", ms)?;
    Ok(Value::from(jiff::tz::TimeZone::UTC.to_datetime(t).hour()))
}

/// Registers every function on the engine. Each finds the builder's
/// [`Runtime`] in the evaluation's scope.
pub fn register(env: &mut minijinja::Environment<'static>) {
    use minijinja::value::Rest;
    use minijinja::State;
    for &name in GENERATORS {
        env.add_function(name, move |state: &State, args: Rest<Value>| -> Result<Value, Error> {
            let rt = runtime(state)?;
            let g = Gen::new(name, &args, &rt)?.expect("registered as a generator");
            Ok(g.value(&rt))
        });
    }
    env.add_function("lookup", |state: &State, name: String, key: Value| -> Result<Value, Error> {
        let rt = runtime(state)?;
        let i = rt.lookup_index(&name).ok_or_else(|| invalid(format!("lookup(): {}", rt.unknown_lookup(&name))))?;
        Ok(rt.lookups[i].get(&key))
    });
    env.add_function("epoch_ms", |t: Value| epoch_ms(&t));
    env.add_function("format_time", |ms: Value, pattern: Value| format_time(&ms, &pattern));
    env.add_function("hour", |ms: Value| hour(&ms));
}

/// The name the runtime is found under in a scope (not a valid identifier
/// in a template, so no column or var can hide it).
pub const RUNTIME: &str = "\u{0}runtime";

fn runtime(state: &minijinja::State) -> Result<std::sync::Arc<Runtime>, Error> {
    state
        .lookup(RUNTIME)
        .and_then(|v| v.downcast_object::<Runtime>())
        .ok_or_else(|| invalid("the template's functions are evaluated by kafka-feeder only".into()))
}
