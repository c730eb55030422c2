//! The value path: a record's JSON read into the `apache-avro` value its
//! schema asks for (fields in schema order, the union branch that takes the
//! JSON's kind, a missing field its default), then checked and written by the
//! crate. It is the slower path ([`super::plan`] writes without a value) and
//! is used for what a plan does not cover: types named in one place and used
//! in another, `fixed` and the rarer logical types. (Its decimals are read
//! through an `f64`, so beyond 15 digits they may round where a plan's do
//! not.)

use std::collections::HashMap;

use apache_avro::schema::{Name, UnionSchema};
use apache_avro::types::Value as Avro;
use apache_avro::Schema;
use serde_json::Value as Json;

use super::misfit::{shown, Misfit};
use super::plan::decimal_bytes;

/// `json` as the Avro value `schema` asks for.
pub fn to_avro(json: Json, schema: &Schema, names: &HashMap<Name, Schema>) -> Result<Avro, Misfit> {
    let wrong = |json: &Json| Misfit::wrong(schema, json);
    Ok(match (schema, json) {
        (Schema::Ref { name }, json) => {
            let named = names.get(name).ok_or_else(|| Misfit::new(format!("unknown type {name:?}")))?;
            return to_avro(json, named, names);
        }
        (Schema::Union(u), json) => {
            let Some((i, branch)) = pick(&json, u, names) else {
                return Err(wrong(&json));
            };
            Avro::Union(i as u32, Box::new(to_avro(json, branch, names)?))
        }
        (Schema::Null, Json::Null) => Avro::Null,
        (Schema::Boolean, Json::Bool(b)) => Avro::Boolean(b),
        (Schema::Int, Json::Number(n)) if n.as_i64().and_then(|i| i32::try_from(i).ok()).is_some() => {
            Avro::Int(n.as_i64().and_then(|i| i32::try_from(i).ok()).expect("checked"))
        }
        (Schema::Long, Json::Number(n)) if n.is_i64() => Avro::Long(n.as_i64().expect("checked")),
        (Schema::Decimal(d), Json::Number(n)) => match decimal_bytes(&n.to_string(), d.precision, d.scale) {
            Ok(bytes) => Avro::Decimal(apache_avro::Decimal::from(bytes)),
            Err(problem) => return Err(Misfit::new(problem)),
        },
        (Schema::Double, Json::Number(n)) => Avro::Double(n.as_f64().unwrap_or(f64::NAN)),
        (Schema::Float, Json::Number(n)) => Avro::Float(n.as_f64().unwrap_or(f64::NAN) as f32),
        (Schema::String, Json::String(s)) => Avro::String(s),
        (Schema::Bytes, Json::String(s)) => Avro::Bytes(s.into_bytes()),
        (Schema::Uuid, Json::String(s)) => match apache_avro::Uuid::parse_str(&s) {
            Ok(u) => Avro::Uuid(u),
            Err(_) => return Err(wrong(&Json::String(s))),
        },
        (Schema::Enum(e), Json::String(s)) => match e.symbols.iter().position(|sym| *sym == s) {
            Some(i) => Avro::Enum(i as u32, s),
            None => return Err(Misfit::new(format!("{} is not one of the enum's symbols", shown(&Json::String(s))))),
        },
        (Schema::Date, Json::String(s)) => match s.parse::<jiff::civil::Date>() {
            Ok(d) => Avro::Date(d.since(jiff::civil::date(1970, 1, 1)).map_or(0, |span| span.get_days())),
            Err(_) => return Err(wrong(&Json::String(s))),
        },
        (Schema::TimestampMillis | Schema::TimestampMicros | Schema::TimestampNanos, Json::String(s)) => {
            let Ok(t) = s.parse::<jiff::Timestamp>() else {
                return Err(wrong(&Json::String(s)));
            };
            let nanos = t.as_nanosecond();
            match schema {
                Schema::TimestampMillis => Avro::TimestampMillis((nanos / 1_000_000) as i64),
                Schema::TimestampMicros => Avro::TimestampMicros((nanos / 1_000) as i64),
                _ => Avro::TimestampNanos(nanos as i64),
            }
        }
        (Schema::TimestampMillis, Json::Number(n)) if n.is_i64() => Avro::TimestampMillis(n.as_i64().expect("checked")),
        (Schema::TimestampMicros, Json::Number(n)) if n.is_i64() => Avro::TimestampMicros(n.as_i64().expect("checked")),
        (Schema::Array(a), Json::Array(items)) => Avro::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| to_avro(item, &a.items, names).map_err(|m| m.within(&i.to_string())))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Map(m), Json::Object(o)) => Avro::Map(
            o.into_iter()
                .map(|(k, v)| to_avro(v, &m.types, names).map(|v| (k.clone(), v)).map_err(|e| e.within(&k)))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Record(r), Json::Object(mut o)) => {
            let mut fields = Vec::with_capacity(r.fields.len());
            for f in &r.fields {
                let value = match o.remove(&f.name) {
                    Some(v) => to_avro(v, &f.schema, names).map_err(|e| e.within(&f.name))?,
                    None => match &f.default {
                        Some(d) => to_avro(d.clone(), &f.schema, names).map_err(|e| e.within(&f.name))?,
                        None => return Err(Misfit::new("missing, and it has no default".into()).within(&f.name)),
                    },
                };
                fields.push((f.name.clone(), value));
            }
            Avro::Record(fields)
        }
        (_, json) => return Err(wrong(&json)),
    })
}

/// The union branch for `json`'s kind: the first that takes it.
fn pick<'s>(json: &Json, u: &'s UnionSchema, names: &'s HashMap<Name, Schema>) -> Option<(usize, &'s Schema)> {
    let takes = |s: &Schema| -> bool {
        let s = match s {
            Schema::Ref { name } => match names.get(name) {
                Some(s) => s,
                None => return false,
            },
            s => s,
        };
        match json {
            Json::Null => matches!(s, Schema::Null),
            Json::Bool(_) => matches!(s, Schema::Boolean),
            Json::Number(n) if n.is_i64() => {
                matches!(
                    s,
                    Schema::Long
                        | Schema::Double
                        | Schema::Float
                        | Schema::Decimal(_)
                        | Schema::TimestampMillis
                        | Schema::TimestampMicros
                ) || matches!(s, Schema::Int if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()))
            }
            Json::Number(_) => matches!(s, Schema::Double | Schema::Float | Schema::Decimal(_)),
            Json::String(_) => matches!(
                s,
                Schema::String
                    | Schema::Bytes
                    | Schema::Enum(_)
                    | Schema::Uuid
                    | Schema::Date
                    | Schema::TimestampMillis
                    | Schema::TimestampMicros
                    | Schema::TimestampNanos
            ),
            Json::Object(_) => matches!(s, Schema::Record(_) | Schema::Map(_)),
            Json::Array(_) => matches!(s, Schema::Array(_)),
        }
    };
    u.variants().iter().enumerate().find(|(_, s)| takes(s))
}
