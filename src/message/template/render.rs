//! Writing a compiled template: once per record at load (literals and what
//! depends on the record and lookups, written into the record's stored
//! bytes, with the places left for per-message values) and once per message
//! (those places filled, around slices of the stored bytes, in a reused buffer).
//!
//! A stored record is `[offsets][value][key][headers...][carried]`: `offsets`
//! (little-endian u32s, the same count for every record) say where each
//! per-message value goes and where each output ends; `carried` is the JSON
//! object of the columns and vars per-message expressions read, if any.

use std::sync::Arc;

use minijinja::value::Value;

use super::compile::{eval, Class, Compiled, Node, Part, Scope};
use super::doc::Json;
use super::value::{display, write_escaped, write_json};
pub use super::value::{write_value, Mode};

/// Set in an output's end offset when a key is null for this record.
pub const NO_KEY: u32 = 1 << 31;

/// A per-message value's place: which expression, written how.
#[derive(Debug, Clone, Copy)]
pub struct Hole {
    pub expr: usize,
    pub mode: Mode,
}

/// A literal as a value (a var that is written as a literal).
pub fn json_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => n.as_i64().map_or_else(|| Value::from(n.as_f64().unwrap_or(f64::NAN)), Value::from),
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => items.iter().map(json_value).collect(),
        Json::Object(m) => Value::from_pairs(m.iter().map(|(k, v)| (k.as_str(), json_value(v)))),
    }
}

/// A literal as key or header text; `None` for null.
fn json_text(j: &Json) -> Option<String> {
    match j {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => {
            let mut b = Vec::new();
            write_json(&mut b, other);
            Some(String::from_utf8_lossy(&b).into_owned())
        }
    }
}

/// A failure to evaluate: which member, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub path: String,
    pub message: String,
}

/// Evaluates a var's node to its value.
pub fn node_value(c: &Compiled, scope: &Arc<Scope>, node: &Node) -> Result<Value, Failure> {
    Ok(match node {
        Node::Lit(j) => json_value(j),
        Node::Typed(e) => eval_at(c, scope, *e)?,
        Node::Interp(parts) => {
            let mut s = String::new();
            for p in parts {
                match p {
                    Part::Text(t) => s.push_str(t),
                    Part::Expr(e) => {
                        let v = eval_at(c, scope, *e)?;
                        s.push_str(&display(&v).map_err(|m| fail(c, *e, m))?);
                    }
                }
            }
            Value::from(s)
        }
        Node::Array(items) => items.iter().map(|n| node_value(c, scope, n)).collect::<Result<Vec<_>, _>>()?.into(),
        Node::Object(members) => {
            let mut pairs = Vec::with_capacity(members.len());
            for (k, n) in members {
                pairs.push((k.as_str(), node_value(c, scope, n)?));
            }
            Value::from_pairs(pairs)
        }
    })
}

fn fail(c: &Compiled, e: usize, message: String) -> Failure {
    Failure { path: c.exprs[e].path.clone(), message: format!("`{}`: {message}", c.exprs[e].source) }
}

fn eval_at(c: &Compiled, scope: &Arc<Scope>, e: usize) -> Result<Value, Failure> {
    eval(c, scope, e).map_err(|m| fail(c, e, m))
}

/// Collects the holes of `node` written in `mode`, in the order the record
/// stage leaves them (the two walks must agree).
pub fn holes(c: &Compiled, node: &Node, mode: Mode, out: &mut Vec<Hole>) {
    let message = |e: usize| c.exprs[e].class == Class::Message;
    match node {
        Node::Lit(_) => {}
        Node::Typed(e) => {
            if message(*e) {
                out.push(Hole { expr: *e, mode });
            }
        }
        Node::Interp(parts) => {
            let inner = if mode == Mode::Json { Mode::JsonStr } else { Mode::TextPart };
            for p in parts {
                if let Part::Expr(e) = p {
                    if message(*e) {
                        out.push(Hole { expr: *e, mode: inner });
                    }
                }
            }
        }
        Node::Array(items) => items.iter().for_each(|n| holes(c, n, mode, out)),
        Node::Object(members) => members.iter().for_each(|(_, n)| holes(c, n, mode, out)),
    }
}

/// The record stage of one output: writes `node` into `buf`, leaving a hole
/// (its offset from `base` pushed to `at`) for each per-message value.
/// `Ok(false)`: a key or header that is null.
pub fn render(
    c: &Compiled,
    scope: &Arc<Scope>,
    node: &Node,
    mode: Mode,
    buf: &mut Vec<u8>,
    base: usize,
    at: &mut Vec<u32>,
) -> Result<bool, Failure> {
    let message = |e: usize| c.exprs[e].class == Class::Message;
    match node {
        Node::Lit(j) => match mode {
            Mode::Json => write_json(buf, j),
            _ => match json_text(j) {
                Some(t) => buf.extend_from_slice(t.as_bytes()),
                None => return Ok(false),
            },
        },
        Node::Typed(e) if message(*e) => at.push((buf.len() - base) as u32),
        Node::Typed(e) => {
            let v = eval_at(c, scope, *e)?;
            if mode == Mode::Text && v.is_none() {
                return Ok(false);
            }
            write_value(buf, &v, mode).map_err(|m| fail(c, *e, m))?;
        }
        Node::Interp(parts) => {
            let json = mode == Mode::Json;
            if json {
                buf.push(b'"');
            }
            for p in parts {
                match p {
                    Part::Text(t) if json => write_escaped(buf, t.as_bytes()),
                    Part::Text(t) => buf.extend_from_slice(t.as_bytes()),
                    Part::Expr(e) if message(*e) => at.push((buf.len() - base) as u32),
                    Part::Expr(e) => {
                        let v = eval_at(c, scope, *e)?;
                        let inner = if json { Mode::JsonStr } else { Mode::TextPart };
                        write_value(buf, &v, inner).map_err(|m| fail(c, *e, m))?;
                    }
                }
            }
            if json {
                buf.push(b'"');
            }
        }
        Node::Array(items) => {
            buf.push(b'[');
            for (i, n) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                render(c, scope, n, mode, buf, base, at)?;
            }
            buf.push(b']');
        }
        Node::Object(members) => {
            buf.push(b'{');
            for (i, (k, n)) in members.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                crate::dataset::csv::write_json_string(buf, k.as_bytes());
                buf.push(b':');
                render(c, scope, n, mode, buf, base, at)?;
            }
            buf.push(b'}');
        }
    }
    Ok(true)
}
