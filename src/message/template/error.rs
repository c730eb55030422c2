//! Why a template cannot be used, and the exit code of each case.

use crate::dataset::source::SourceError;

/// Why a template cannot be used. All but `Source` (the dataset's codes) and
/// `NoRecords` (6) are configuration errors (exit 2).
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
            // A missing, denied or unreadable object: the dataset's codes.
            TemplateError::Source { cause, .. } => cause.exit_code(),
            _ => crate::exit::CONFIG,
        }
    }
}
