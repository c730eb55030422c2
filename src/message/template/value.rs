//! Writing a value: as JSON, inside a JSON string, or as a key's or header's text.

use minijinja::value::{Value, ValueKind};

use super::doc::Json;

/// How a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A JSON value (a typed member).
    Json,
    /// Inside a JSON string: the value's text, escaped.
    JsonStr,
    /// A key's or header's whole value: its text; null is no key.
    Text,
    /// Text inside a key or header with other text.
    TextPart,
}

/// Writes `v` in `mode`. `Err` for a value JSON cannot hold (undefined, not
/// a finite number).
pub fn write_value(buf: &mut Vec<u8>, v: &Value, mode: Mode) -> Result<(), String> {
    if v.is_undefined() {
        return Err("undefined value".into());
    }
    match mode {
        Mode::Json => {
            check_finite(v)?;
            serde_json::to_writer(&mut *buf, v).map_err(|e| e.to_string())
        }
        Mode::JsonStr => {
            write_escaped(buf, display(v)?.as_bytes());
            Ok(())
        }
        Mode::Text | Mode::TextPart => {
            buf.extend_from_slice(text(v)?.as_bytes());
            Ok(())
        }
    }
}

/// `text` escaped as inside a JSON string, without the quotes.
pub fn write_escaped(buf: &mut Vec<u8>, text: &[u8]) {
    let start = buf.len();
    crate::dataset::csv::write_json_string(buf, text);
    buf.pop();
    buf.remove(start);
}

/// How interpolation shows a value: a string as is, anything else as minijinja renders it.
pub fn display(v: &Value) -> Result<String, String> {
    check_finite(v)?;
    Ok(v.as_str().map_or_else(|| v.to_string(), str::to_owned))
}

/// A key's or header's text: a string as is, a number or boolean as
/// written, a list or object as JSON.
fn text(v: &Value) -> Result<String, String> {
    check_finite(v)?;
    match v.kind() {
        ValueKind::String => Ok(v.as_str().unwrap_or_default().to_owned()),
        ValueKind::Seq | ValueKind::Map => serde_json::to_string(v).map_err(|e| e.to_string()),
        ValueKind::None => Ok(String::new()),
        _ => Ok(v.to_string()),
    }
}

fn check_finite(v: &Value) -> Result<(), String> {
    if v.is_number() && !v.is_integer() {
        if let Ok(f) = f64::try_from(v.clone()) {
            if !f.is_finite() {
                return Err(format!("{f} is not a number JSON can hold"));
            }
        }
    }
    Ok(())
}

/// A literal's JSON.
pub fn write_json(buf: &mut Vec<u8>, j: &Json) {
    match j {
        Json::Null => buf.extend_from_slice(b"null"),
        Json::Bool(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
        Json::Number(n) => buf.extend_from_slice(n.to_string().as_bytes()),
        Json::String(s) => crate::dataset::csv::write_json_string(buf, s.as_bytes()),
        Json::Array(items) => {
            buf.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_json(buf, v);
            }
            buf.push(b']');
        }
        Json::Object(members) => {
            buf.push(b'{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                crate::dataset::csv::write_json_string(buf, k.as_bytes());
                buf.push(b':');
                write_json(buf, v);
            }
            buf.push(b'}');
        }
    }
}
