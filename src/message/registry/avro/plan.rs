//! A record's JSON written as Avro by `apache-avro`'s schema-aware serde
//! serializer (what `Writer::append_ser` uses; reached through
//! [`apache_avro::write_avro_datum_ref`]), with no `Value` in between.
//!
//! The serializer writes a value straight to bytes, but it takes what a Rust
//! type gives: an `i64` is refused by a `double` schema, a string by a
//! `timestamp-millis` or an `enum`, and it picks a union's branch by the serde
//! call, not by the JSON's kind. So a [`Plan`], made once from the schema,
//! reads each JSON value as the value path does (the union branch that takes
//! the JSON's kind, a whole number into a `double`, an RFC 3339 text into a
//! timestamp, a symbol into its index) and makes the one serde call that
//! writes it; the crate does the writing (varints, lengths, blocks, union
//! indexes). A value that does not fit is a [`Misfit`] naming the field.
//!
//! Named types referred to elsewhere (`Ref`), `fixed` (and a decimal on
//! one), and the rarer logical types (times, local timestamps, durations)
//! have no plan: such a schema goes through the value path
//! ([`super::value`]).

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Mutex;

use apache_avro::Schema;
use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value as Json;

use super::misfit::{expected, shown, Misfit};

/// A schema compiled for writing JSON values of it.
#[derive(Debug)]
pub struct Plan {
    kind: Kind,
    /// What the schema takes, for a misfit's line.
    expected: Box<str>,
}

#[derive(Debug)]
enum Kind {
    Null,
    Boolean,
    Int,
    Long,
    /// `float` or `double`: the crate narrows an `f64` for a `float`.
    Real,
    String,
    Bytes,
    Uuid,
    Enum(Vec<String>),
    Date,
    Timestamp(Unit),
    /// `bytes` holding the unscaled number, big-endian two's complement.
    Decimal {
        precision: usize,
        scale: usize,
    },
    Array(Box<Plan>),
    Map(Box<Plan>),
    Record(Vec<FieldPlan>),
    Union(Vec<Plan>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Millis,
    Micros,
    Nanos,
}

/// A nested record's field: its name (static, as the serializer's struct
/// fields are), plan and default as JSON text.
#[derive(Debug)]
pub struct FieldPlan {
    name: &'static str,
    plan: Plan,
    default: Option<Box<str>>,
}

impl Plan {
    /// `None` when the schema has a part only the value path writes.
    pub fn new(schema: &Schema) -> Option<Plan> {
        let kind = match schema {
            Schema::Null => Kind::Null,
            Schema::Boolean => Kind::Boolean,
            Schema::Int => Kind::Int,
            Schema::Long => Kind::Long,
            Schema::Float | Schema::Double => Kind::Real,
            Schema::String => Kind::String,
            Schema::Bytes => Kind::Bytes,
            Schema::Uuid => Kind::Uuid,
            Schema::Enum(e) => Kind::Enum(e.symbols.clone()),
            Schema::Date => Kind::Date,
            Schema::TimestampMillis => Kind::Timestamp(Unit::Millis),
            Schema::TimestampMicros => Kind::Timestamp(Unit::Micros),
            Schema::TimestampNanos => Kind::Timestamp(Unit::Nanos),
            Schema::Decimal(d) if matches!(*d.inner, Schema::Bytes) => {
                Kind::Decimal { precision: d.precision, scale: d.scale }
            }
            Schema::Array(a) => Kind::Array(Box::new(Plan::new(&a.items)?)),
            Schema::Map(m) => Kind::Map(Box::new(Plan::new(&m.types)?)),
            Schema::Union(u) => Kind::Union(u.variants().iter().map(Plan::new).collect::<Option<_>>()?),
            Schema::Record(r) => Kind::Record(
                r.fields
                    .iter()
                    .map(|f| {
                        let default = match &f.default {
                            Some(d) => Some(serde_json::to_string(d).ok()?.into_boxed_str()),
                            None => None,
                        };
                        Some(FieldPlan { name: intern(&f.name), plan: Plan::new(&f.schema)?, default })
                    })
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        };
        Some(Plan { kind, expected: expected(schema).into() })
    }

    /// Whether this union branch takes `raw` (the first that does is used).
    fn takes(&self, raw: &Raw<'_>) -> bool {
        match raw {
            Raw::Null => matches!(self.kind, Kind::Null),
            Raw::Bool(_) => matches!(self.kind, Kind::Boolean),
            // The number is read only by a branch whose answer depends on it.
            Raw::Number(n) => match self.kind {
                Kind::Real | Kind::Decimal { .. } => true,
                Kind::Long | Kind::Timestamp(Unit::Millis | Unit::Micros) => n.parse::<i64>().is_ok(),
                Kind::Int => n.parse::<i32>().is_ok(),
                _ => false,
            },
            Raw::Str(_) => matches!(
                self.kind,
                Kind::String | Kind::Bytes | Kind::Enum(_) | Kind::Uuid | Kind::Date | Kind::Timestamp(_)
            ),
            Raw::Object => matches!(self.kind, Kind::Record(_) | Kind::Map(_)),
            Raw::Array => matches!(self.kind, Kind::Array(_)),
        }
    }
}

/// Record field names live as long as the process: the serializer's struct
/// fields are `&'static str`. Each distinct name is kept once, so a schema
/// made again (per thread, per reload of `check`) adds nothing.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let names = names.get_or_insert_with(HashSet::new);
    match names.get(name) {
        Some(n) => n,
        None => {
            let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
            names.insert(n);
            n
        }
    }
}

/// A JSON value as the plan reads it: scalars as written, containers by kind.
enum Raw<'a> {
    Null,
    Bool(bool),
    Number(&'a str),
    Str(std::borrow::Cow<'a, str>),
    Object,
    Array,
}

/// `plain`: the record holds no backslash, so no string needs unescaping.
fn read(raw: &str, plain: bool) -> Result<Raw<'_>, Misfit> {
    let not_json = || Misfit::new(format!("not JSON: {raw}"));
    let bytes = raw.as_bytes();
    Ok(match bytes.first() {
        Some(b'"') if bytes.len() >= 2 && bytes[bytes.len() - 1] == b'"' => {
            // Slicing at the quotes (ASCII) keeps to character boundaries.
            let inner = &raw[1..raw.len() - 1];
            match plain || memchr::memchr(b'\\', inner.as_bytes()).is_none() {
                true => Raw::Str(inner.into()),
                false => Raw::Str(serde_json::from_str::<String>(raw).map_err(|_| not_json())?.into()),
            }
        }
        Some(b'-' | b'0'..=b'9') => Raw::Number(raw),
        Some(b'{') => Raw::Object,
        Some(b'[') => Raw::Array,
        _ => match raw {
            "null" => Raw::Null,
            "true" => Raw::Bool(true),
            "false" => Raw::Bool(false),
            _ => return Err(not_json()),
        },
    })
}

/// One JSON value (`raw`, as written) to write with `plan`; a misfit is left
/// in `misfit` (the serializer's error says less). `plain`: the record it is
/// part of has no backslash (no string in it needs unescaping).
pub struct Datum<'a> {
    pub raw: &'a str,
    pub plain: bool,
    pub plan: &'a Plan,
    pub misfit: &'a RefCell<Option<Misfit>>,
}

impl Datum<'_> {
    fn fail<E: serde::ser::Error>(&self, m: Misfit) -> E {
        *self.misfit.borrow_mut() = Some(m);
        E::custom("the value does not fit the schema")
    }

    fn wrong<E: serde::ser::Error>(&self) -> E {
        let found = match serde_json::from_str::<Json>(self.raw) {
            Ok(json) => shown(&json),
            Err(_) => self.raw.to_owned(),
        };
        self.fail(Misfit::new(format!("expected {}, found {found}", self.plan.expected)))
    }

    /// A part's failure, with `at` put in front of its field.
    fn within<T, E: serde::ser::Error>(&self, done: Result<T, E>, at: &str) -> Result<T, E> {
        done.inspect_err(|e| {
            let mut slot = self.misfit.borrow_mut();
            let m = slot.take().unwrap_or_else(|| Misfit::new(e.to_string()));
            *slot = Some(m.within(at));
        })
    }

    fn part<'b>(&'b self, raw: &'b str, plan: &'b Plan) -> Datum<'b> {
        Datum { raw, plain: self.plain, plan, misfit: self.misfit }
    }
}

impl Serialize for Datum<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = read(self.raw, self.plain).map_err(|m| self.fail(m))?;
        match (&self.plan.kind, raw) {
            (Kind::Union(branches), raw) => {
                let Some(i) = branches.iter().position(|b| b.takes(&raw)) else {
                    return Err(self.wrong());
                };
                s.serialize_newtype_variant("", i as u32, "", &self.part(self.raw, &branches[i]))
            }
            (Kind::Null, Raw::Null) => s.serialize_unit(),
            (Kind::Boolean, Raw::Bool(b)) => s.serialize_bool(b),
            (Kind::Int, Raw::Number(n)) => match n.parse::<i32>() {
                Ok(v) => s.serialize_i32(v),
                Err(_) => Err(self.wrong()),
            },
            (Kind::Long | Kind::Timestamp(Unit::Millis | Unit::Micros), Raw::Number(n)) => match n.parse::<i64>() {
                Ok(v) => s.serialize_i64(v),
                Err(_) => Err(self.wrong()),
            },
            (Kind::Real, Raw::Number(n)) => s.serialize_f64(n.parse::<f64>().unwrap_or(f64::NAN)),
            (&Kind::Decimal { precision, scale }, Raw::Number(n)) => match decimal_bytes(n, precision, scale) {
                Ok(bytes) => s.serialize_bytes(&bytes),
                Err(problem) => Err(self.fail(Misfit::new(problem))),
            },
            (Kind::String, Raw::Str(t)) => s.serialize_str(&t),
            (Kind::Bytes, Raw::Str(t)) => s.serialize_bytes(t.as_bytes()),
            (Kind::Uuid, Raw::Str(t)) => match apache_avro::Uuid::parse_str(&t) {
                // Written as the value path writes a uuid: hyphenated, lower case.
                Ok(u) => s.serialize_str(u.hyphenated().encode_lower(&mut apache_avro::Uuid::encode_buffer())),
                Err(_) => Err(self.wrong()),
            },
            (Kind::Enum(symbols), Raw::Str(t)) => match symbols.iter().position(|sym| *sym == t) {
                Some(i) => s.serialize_unit_variant("", i as u32, ""),
                None => {
                    let json = Json::String(t.into_owned());
                    Err(self.fail(Misfit::new(format!("{} is not one of the enum's symbols", shown(&json)))))
                }
            },
            (Kind::Date, Raw::Str(t)) => match t.parse::<jiff::civil::Date>() {
                Ok(d) => s.serialize_i32(d.since(jiff::civil::date(1970, 1, 1)).map_or(0, |span| span.get_days())),
                Err(_) => Err(self.wrong()),
            },
            (Kind::Timestamp(unit), Raw::Str(t)) => match t.parse::<jiff::Timestamp>() {
                Ok(t) => {
                    let nanos = t.as_nanosecond();
                    s.serialize_i64(match unit {
                        Unit::Millis => (nanos / 1_000_000) as i64,
                        Unit::Micros => (nanos / 1_000) as i64,
                        Unit::Nanos => nanos as i64,
                    })
                }
                Err(_) => Err(self.wrong()),
            },
            (Kind::Array(items), Raw::Array) => {
                let all: Vec<&RawValue> = serde_json::from_str(self.raw).map_err(|e| self.fail(not_json(e)))?;
                let mut seq = s.serialize_seq(Some(all.len()))?;
                for (i, item) in all.iter().enumerate() {
                    let done = seq.serialize_element(&self.part(item.get(), items));
                    self.within(done, &i.to_string())?;
                }
                seq.end()
            }
            (Kind::Map(values), Raw::Object) => {
                let all = members(self.raw).map_err(|e| self.fail(not_json(e)))?;
                let mut map = s.serialize_map(Some(all.len()))?;
                for (k, v) in &all {
                    let done = map.serialize_entry(k, &self.part(v.get(), values));
                    self.within(done, k)?;
                }
                map.end()
            }
            (Kind::Record(fields), Raw::Object) => {
                let all = members(self.raw).map_err(|e| self.fail(not_json(e)))?;
                let mut record = s.serialize_struct("", fields.len())?;
                for f in fields {
                    // The last of duplicate keys, as a JSON parser keeps it.
                    let raw = match all.iter().rev().find(|(k, _)| k == f.name) {
                        Some((_, v)) => v.get(),
                        None => match &f.default {
                            Some(d) => d,
                            None => {
                                let m = Misfit::new("missing, and it has no default".into()).within(f.name);
                                return Err(self.fail(m));
                            }
                        },
                    };
                    let done = record.serialize_field(f.name, &self.part(raw, &f.plan));
                    self.within(done, f.name)?;
                }
                record.end()
            }
            _ => Err(self.wrong()),
        }
    }
}

/// A JSON number as an Avro decimal's bytes: the unscaled number (`number`
/// times 10^`scale`), big-endian two's complement, computed by the
/// `bigdecimal` crate `apache-avro` brings. More decimals than `scale`, or
/// more digits than `precision`, do not fit.
pub fn decimal_bytes(number: &str, precision: usize, scale: usize) -> Result<Vec<u8>, String> {
    let d: apache_avro::BigDecimal = number.parse().map_err(|_| format!("{number} is not a decimal number"))?;
    let (_, decimals) = d.as_bigint_and_exponent();
    if decimals > scale as i64 {
        return Err(format!("{number} has more decimals than the decimal's scale {scale}"));
    }
    let (unscaled, _) = d.with_scale(scale as i64).into_bigint_and_exponent();
    let digits = unscaled.magnitude().to_string().len();
    if digits > precision {
        return Err(format!("{number} has more digits than the decimal's precision {precision}"));
    }
    Ok(unscaled.to_signed_bytes_be())
}

fn not_json(e: serde_json::Error) -> Misfit {
    Misfit::new(format!("not JSON: {e}"))
}

/// An object's members in document order, their values as written.
fn members(raw: &str) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, &'de RawValue)>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut all = Vec::new();
            while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                all.push(entry);
            }
            Ok(all)
        }
    }
    serde_json::Deserializer::from_str(raw).deserialize_map(Members)
}

/// Appends the datum of `raw` (one JSON value) for `schema` and its `plan` to
/// `out`; `plain` as for a [`Datum`].
pub fn write(schema: &Schema, plan: &Plan, raw: &str, plain: bool, out: &mut Vec<u8>) -> Result<(), Misfit> {
    let misfit = RefCell::new(None);
    let start = out.len();
    match apache_avro::write_avro_datum_ref(schema, &Datum { raw, plain, plan, misfit: &misfit }, out) {
        Ok(_) => Ok(()),
        Err(e) => {
            out.truncate(start);
            Err(misfit.into_inner().unwrap_or_else(|| Misfit::new(e.to_string())))
        }
    }
}
