//! Why a record does not fit the schema, and how a value and a schema are
//! named in that line.

use apache_avro::Schema;
use serde_json::Value as Json;

/// Why a record does not fit the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    /// The field, dotted for nested ones (`user.name`); empty for the record itself.
    pub field: String,
    pub problem: String,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "field {}: {}", self.field, self.problem)
        }
    }
}

impl Misfit {
    pub fn new(problem: String) -> Self {
        Misfit { field: String::new(), problem }
    }

    pub fn within(mut self, field: &str) -> Self {
        self.field = if self.field.is_empty() { field.to_owned() } else { format!("{field}.{}", self.field) };
        self
    }

    /// `expected {schema}, found {json}`.
    pub fn wrong(schema: &Schema, json: &Json) -> Self {
        Misfit::new(format!("expected {}, found {}", expected(schema), shown(json)))
    }
}

/// What a schema takes, as a misfit line says it.
pub fn expected(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => format!("record {}", r.name.fullname(None)),
        Schema::Union(u) => {
            let kinds: Vec<String> = u.variants().iter().map(expected).collect();
            kinds.join(" or ")
        }
        s => serde_json::to_string(s).unwrap_or_default().trim_matches('"').chars().take(40).collect(),
    }
}

/// A JSON value in an error line: its kind, and short values as they are.
pub fn shown(json: &Json) -> String {
    let kind = match json {
        Json::Null => return "null".into(),
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Object(_) => return "an object".into(),
        Json::Array(_) => return "an array".into(),
    };
    let text = json.to_string();
    if text.len() <= 40 {
        format!("{kind} {text}")
    } else {
        format!("{kind} {}...", text.chars().take(37).collect::<String>())
    }
}
