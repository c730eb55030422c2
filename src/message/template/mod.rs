//! `MESSAGE_TEMPLATE`: one JSON document that describes the message (value,
//! key, headers), with vars evaluated in order, lookups into other datasets,
//! and `{{ expression }}` strings that minijinja evaluates.
//!
//! Each expression is evaluated as seldom as its inputs allow. What depends
//! only on the record and the lookups is evaluated once per record, at load,
//! into the record's stored bytes ([`render`]); what draws a generator or
//! reads the clock or `seq()` is evaluated per message into a reused buffer,
//! around slices of those bytes ([`messages`]). Names (`qty`,
//! `product.name`) and generator calls with constant arguments (`int(1, 5)`,
//! `fake('email')`) run natively; everything else goes through the engine,
//! bounded by its fuel. Generators draw from one stream seeded from
//! `RANDOM_SEED` (mixed with the replica index by the caller), so the same
//! seed gives the same messages and `preview` shows what a run sends.
//!
//! - [`doc`]: the document read, members in order, strings split into parts
//! - [`compile`]: expressions compiled, resolved against the columns, classed
//! - [`funcs`]: the functions (generators, lookups, time)
//! - [`render`]: writing values; the record stage
//! - [`messages`]: preparing a dataset's records and building each message
//! - [`load`]: reading the template and its lookups

pub mod compile;
pub mod doc;
pub mod funcs;
pub mod load;
pub mod messages;
pub mod render;

use std::fmt;
use std::path::PathBuf;

pub use doc::Document;
pub use messages::{prepare, Kept, Prepared, TemplateMessages};

use crate::source::SourceError;

/// Why a template cannot be used. All but `Source` and `NoRecords` are
/// configuration errors (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("MESSAGE_TEMPLATE is not valid JSON: {message}")]
    Json { message: String },
    #[error("MESSAGE_TEMPLATE member {path}: {problem}")]
    Member { path: String, problem: String },
    #[error("MESSAGE_TEMPLATE member {path}: expression `{expr}`: {message}")]
    Expression { path: String, expr: String, message: String },
    /// `known`: the hint, then the columns and vars there are.
    #[error("MESSAGE_TEMPLATE member {path}: expression `{expr}`: unknown name `{name}`{known}")]
    UnknownName { path: String, expr: String, name: String, known: String },
    #[error("MESSAGE_TEMPLATE lookup {name:?}: no row has the key column {key:?}; its columns are {}", columns.join(", "))]
    LookupKey { name: String, key: String, columns: Vec<String> },
    #[error("MESSAGE_TEMPLATE {what}: {cause}")]
    Source {
        what: String,
        #[source]
        cause: SourceError,
    },
    /// Every record failed an expression: exit 6, like a dataset with no usable row.
    #[error(
        "MESSAGE_TEMPLATE: no record is usable: all {records} failed (first: record {row}, member {path}: {message})"
    )]
    NoRecords { records: u64, row: u64, path: String, message: String },
}

impl TemplateError {
    pub fn exit_code(&self) -> i32 {
        match self {
            TemplateError::NoRecords { .. } => crate::exit::DATASET_INVALID,
            TemplateError::Source { .. } => crate::exit::NOT_FOUND, // refined by the caller
            _ => crate::exit::CONFIG,
        }
    }
}

/// Where `MESSAGE_TEMPLATE` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// The value itself, when it starts with `{`.
    Inline(String),
    File(PathBuf),
    S3 {
        bucket: String,
        key: String,
    },
}

impl fmt::Display for TemplateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateSource::Inline(_) => f.write_str("inline"),
            TemplateSource::File(p) => write!(f, "{}", p.display()),
            TemplateSource::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

impl crate::env::Show for TemplateSource {
    fn show(&self) -> String {
        match self {
            // Shown whole: a template holds no secret, and the line says what ran.
            TemplateSource::Inline(text) => text.split_whitespace().collect::<Vec<_>>().join(" "),
            other => other.to_string(),
        }
    }
}

/// Parses `MESSAGE_TEMPLATE`'s value. An inline document is read and its
/// expressions compiled now, so a typo stops the daemon before it loads anything.
pub fn parse_setting(raw: &str) -> Result<TemplateSource, String> {
    let raw = raw.trim();
    if raw.starts_with('{') {
        let doc = Document::parse(raw).map_err(|e| e.to_string())?;
        compile::check_syntax(&doc).map_err(|e| e.to_string())?;
        return Ok(TemplateSource::Inline(raw.to_owned()));
    }
    match raw.parse::<crate::source::DatasetUri>()? {
        crate::source::DatasetUri::File(p) => Ok(TemplateSource::File(p)),
        crate::source::DatasetUri::S3 { bucket, key } if !key.is_empty() && !key.ends_with('/') => {
            Ok(TemplateSource::S3 { bucket, key })
        }
        crate::source::DatasetUri::S3 { .. } => Err("an S3 prefix is not a template; name the object".into()),
        _ => Err("not a template document, path, file:// or s3:// URI".into()),
    }
}

#[cfg(test)]
mod tests;
