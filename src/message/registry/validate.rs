//! `VALUE_FORMAT=json-schema`: a JSON value checked against the value schema
//! by the `jsonschema` crate. A value that does not fit is a [`Misfit`]
//! naming the first field at fault. The records are checked once, at load
//! and at each reload ([`super::misfits`]); a template's renders, per message
//! ([`super::wire`]).

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde_json::Value;

use super::avro::Misfit;

/// A compiled JSON Schema.
pub struct JsonValidator {
    validator: Validator,
}

impl JsonValidator {
    /// Compiles `schema` (a JSON Schema document); `Err` says why it is no schema.
    pub fn new(schema: &str) -> Result<Self, String> {
        let doc: Value = serde_json::from_str(schema).map_err(|e| e.to_string())?;
        let validator = jsonschema::validator_for(&doc).map_err(|e| e.to_string())?;
        Ok(JsonValidator { validator })
    }

    /// Whether `json` fits; else the first problem, naming its field.
    pub fn check(&self, json: &[u8]) -> Result<(), Misfit> {
        let value: Value = serde_json::from_slice(json)
            .map_err(|e| Misfit { field: String::new(), problem: format!("not JSON: {e}") })?;
        let Some(error) = self.validator.iter_errors(&value).next() else {
            return Ok(());
        };
        let mut field: Vec<String> = error.instance_path().as_str().split('/').skip(1).map(unescape).collect();
        let problem = match error.kind() {
            ValidationErrorKind::Required { property } => {
                field.push(property.as_str().map_or_else(|| property.to_string(), str::to_owned));
                "missing, and the schema requires it".to_owned()
            }
            _ => shorten(error.to_string()),
        };
        Err(Misfit { field: field.join("."), problem })
    }
}

/// A JSON Pointer segment as written in the record.
fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// The crate's message quotes the offending value, which may be a whole
/// nested object: a warning line keeps its first 200 characters.
fn shorten(mut message: String) -> String {
    if let Some((at, _)) = message.char_indices().nth(200) {
        message.truncate(at);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},
        "user":{"type":"object","properties":{"age":{"type":"integer"}},"required":["age"]}},"required":["id","name"]}"#;

    fn misfit(json: &str) -> Misfit {
        JsonValidator::new(SCHEMA).unwrap().check(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_record_that_fits_passes() {
        let v = JsonValidator::new(SCHEMA).unwrap();
        assert_eq!(v.check(br#"{"id":1,"name":"a","user":{"age":3},"extra":true}"#), Ok(()));
    }

    #[test]
    fn a_misfit_names_the_field_and_what_is_wrong() {
        let m = misfit(r#"{"id":null,"name":"a"}"#);
        assert_eq!(m.field, "id");
        assert!(m.problem.contains("null is not of type \"integer\""), "{}", m.problem);
        let m = misfit(r#"{"id":"seven","name":"a"}"#);
        assert_eq!(m.field, "id");
        assert!(m.problem.contains("\"seven\""), "{}", m.problem);
        let m = misfit(r#"{"id":1}"#);
        assert_eq!((m.field.as_str(), m.problem.as_str()), ("name", "missing, and the schema requires it"));
        let m = misfit(r#"{"id":1,"name":"a","user":{"age":"x"}}"#);
        assert_eq!(m.field, "user.age");
        let m = misfit(r#"{"id":1,"name":"a","user":{}}"#);
        assert_eq!(m.field, "user.age");
        assert_eq!(misfit("[1").problem.split(':').next(), Some("not JSON"));
    }

    #[test]
    fn a_document_that_is_no_schema_is_refused() {
        let e = JsonValidator::new(r#"{"type":"integr"}"#).err().unwrap();
        assert!(e.contains("integr"), "{e}");
    }
}
