//! The `MESSAGE_TEMPLATE` document: its JSON read with members in the order
//! written (vars are evaluated in that order, and a message keeps the order
//! its template shows), then each string split into literal text and
//! `{{ expression }}` parts. Nothing is evaluated here.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::TemplateError;

/// A JSON value of the template, object members in the order written.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out: Vec<(String, Json)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            // A repeated member: the last one wins, as in any JSON reader, in its first place.
            match out.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        Ok(Json::Object(out))
    }
}

/// One lookup table: `lookups.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupSpec {
    pub name: String,
    /// As written (`s3://...`, a path, `file://...`): read like `DATASET_URI`.
    pub uri: String,
    /// The column whose value `lookup(name, key)` matches.
    pub key: String,
}

/// The template document, members checked, expressions not yet compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub value: Json,
    pub key: Option<Json>,
    pub headers: Vec<(String, Json)>,
    pub vars: Vec<(String, Json)>,
    pub lookups: Vec<LookupSpec>,
}

const MEMBERS: &str = "value, key, headers, vars, lookups";

impl Document {
    /// Reads the document. Errors name the member (`headers.trace`) and say
    /// what it should be.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let json: Json = serde_json::from_str(text).map_err(|e| TemplateError::Json { message: e.to_string() })?;
        let Json::Object(members) = json else {
            return Err(member("(document)", format!("is not a JSON object; expected an object with {MEMBERS}")));
        };
        let mut doc =
            Document { value: Json::Null, key: None, headers: Vec::new(), vars: Vec::new(), lookups: Vec::new() };
        let mut has_value = false;
        for (name, v) in members {
            match name.as_str() {
                "value" => {
                    has_value = true;
                    doc.value = v;
                }
                "key" => doc.key = Some(v),
                "headers" => doc.headers = object(v, "headers", "an object of header name to value")?,
                "vars" => doc.vars = object(v, "vars", "an object of name to value, evaluated in order")?,
                "lookups" => {
                    for (lname, spec) in object(v, "lookups", "an object of name to {\"uri\": ..., \"key\": ...}")? {
                        doc.lookups.push(lookup(&lname, spec)?);
                    }
                }
                other => return Err(member(other, format!("is not a template member; expected {MEMBERS}"))),
            }
        }
        if !has_value {
            return Err(member("value", "is missing: the message value is required".into()));
        }
        for (name, _) in &doc.vars {
            if !is_identifier(name) {
                return Err(member(
                    &format!("vars.{name}"),
                    "is not a name expressions can use; expected letters, digits and _ (not first a digit)".into(),
                ));
            }
        }
        if let Some(Json::Object(_) | Json::Array(_)) = &doc.key {
            return Err(member("key", "must be a string, number or `{{ expression }}`, not an object or array".into()));
        }
        for (name, v) in &doc.headers {
            if matches!(v, Json::Object(_) | Json::Array(_)) {
                return Err(member(
                    &format!("headers.{name}"),
                    "must be a string, number or `{{ expression }}`".into(),
                ));
            }
        }
        Ok(doc)
    }
}

fn member(path: &str, problem: String) -> TemplateError {
    TemplateError::Member { path: path.to_owned(), problem }
}

fn object(v: Json, path: &str, expected: &str) -> Result<Vec<(String, Json)>, TemplateError> {
    match v {
        Json::Object(m) => Ok(m),
        _ => Err(member(path, format!("is not an object; expected {expected}"))),
    }
}

fn lookup(name: &str, spec: Json) -> Result<LookupSpec, TemplateError> {
    let path = format!("lookups.{name}");
    let Json::Object(members) = spec else {
        return Err(member(&path, "is not an object; expected {\"uri\": \"<dataset>\", \"key\": \"<column>\"}".into()));
    };
    let (mut uri, mut key) = (None, None);
    for (m, v) in members {
        let Json::String(text) = v else {
            return Err(member(&format!("{path}.{m}"), "is not a string".into()));
        };
        match m.as_str() {
            "uri" => uri = Some(text),
            "key" => key = Some(text),
            _ => return Err(member(&format!("{path}.{m}"), "is not a lookup member; expected uri and key".into())),
        }
    }
    let uri = uri.filter(|u| !u.trim().is_empty());
    let key = key.filter(|k| !k.trim().is_empty());
    match (uri, key) {
        (Some(uri), Some(key)) => Ok(LookupSpec { name: name.to_owned(), uri, key }),
        (None, _) => Err(member(&format!("{path}.uri"), "is missing: where the lookup's dataset is".into())),
        (_, None) => Err(member(&format!("{path}.key"), "is missing: the column lookup(name, key) matches".into())),
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A template string, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// The expression inside `{{ }}`, trimmed.
    Expr(String),
}

/// Splits a string into literal text and `{{ expression }}` parts. `Ok(None)`:
/// no expression, the string is a literal.
pub fn split(s: &str, path: &str) -> Result<Option<Vec<Piece>>, TemplateError> {
    if !s.contains("{{") {
        return Ok(None);
    }
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(TemplateError::Expression {
                path: path.to_owned(),
                expr: after.trim().to_owned(),
                message: "`{{` is not closed by `}}`".into(),
            });
        };
        let expr = after[..close].trim();
        if expr.is_empty() {
            return Err(TemplateError::Expression {
                path: path.to_owned(),
                expr: String::new(),
                message: "`{{ }}` holds no expression".into(),
            });
        }
        out.push(Piece::Expr(expr.to_owned()));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_their_written_order() {
        let d = Document::parse(r#"{"vars":{"b":1,"a":2},"value":{"z":1,"y":{"k":[1,"x"]}}}"#).unwrap();
        assert_eq!(d.vars.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        let Json::Object(v) = &d.value else { panic!() };
        assert_eq!(v[0].0, "z");
        assert_eq!(v[1].0, "y");
    }

    #[test]
    fn strings_split_into_text_and_expressions() {
        assert_eq!(split("plain", "p").unwrap(), None);
        assert_eq!(split("{{ x }}", "p").unwrap(), Some(vec![Piece::Expr("x".into())]));
        assert_eq!(
            split("EVT_{{ a }}_{{b}}", "p").unwrap(),
            Some(vec![
                Piece::Text("EVT_".into()),
                Piece::Expr("a".into()),
                Piece::Text("_".into()),
                Piece::Expr("b".into())
            ])
        );
        let e = split("a {{ x", "value.id").unwrap_err().to_string();
        assert_eq!(e, "MESSAGE_TEMPLATE member value.id: expression `x`: `{{` is not closed by `}}`");
        assert!(split("{{ }}", "value.id").unwrap_err().to_string().contains("holds no expression"));
    }

    #[test]
    fn bad_documents_name_the_member() {
        let cases = [
            ("[1]", "MESSAGE_TEMPLATE member (document): is not a JSON object"),
            (r#"{"key":"x"}"#, "MESSAGE_TEMPLATE member value: is missing"),
            (
                r#"{"value":1,"valeu":2}"#,
                "MESSAGE_TEMPLATE member valeu: is not a template member; expected value, key",
            ),
            (r#"{"value":1,"vars":[1]}"#, "MESSAGE_TEMPLATE member vars: is not an object"),
            (r#"{"value":1,"vars":{"a-b":1}}"#, "MESSAGE_TEMPLATE member vars.a-b: is not a name"),
            (r#"{"value":1,"key":{"a":1}}"#, "MESSAGE_TEMPLATE member key: must be a string"),
            (r#"{"value":1,"headers":{"h":[1]}}"#, "MESSAGE_TEMPLATE member headers.h: must be a string"),
            (r#"{"value":1,"lookups":{"s":{"uri":"x.csv"}}}"#, "MESSAGE_TEMPLATE member lookups.s.key: is missing"),
            (r#"{"value":1,"lookups":{"s":{"key":"id"}}}"#, "MESSAGE_TEMPLATE member lookups.s.uri: is missing"),
            (r#"{"value":1,"lookups":{"s":{"uri":"x","key":"id","k":"v"}}}"#, "MESSAGE_TEMPLATE member lookups.s.k:"),
        ];
        for (doc, want) in cases {
            let e = Document::parse(doc).unwrap_err().to_string();
            assert!(e.starts_with(want), "{doc}: {e}");
        }
        let e = Document::parse(r#"{"value": }"#).unwrap_err().to_string();
        assert!(e.starts_with("MESSAGE_TEMPLATE is not valid JSON: expected value at line 1 column 11"), "{e}");
    }
}
