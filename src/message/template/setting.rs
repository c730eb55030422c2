//! `MESSAGE_TEMPLATE`'s value: where the document is, or the document itself.

use std::fmt;
use std::path::PathBuf;

use super::doc::Document;

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

impl crate::settings::env::Show for TemplateSource {
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
        super::compile::check_syntax(&doc).map_err(|e| e.to_string())?;
        return Ok(TemplateSource::Inline(raw.to_owned()));
    }
    match raw.parse::<crate::dataset::source::DatasetUri>()? {
        crate::dataset::source::DatasetUri::File(p) => Ok(TemplateSource::File(p)),
        crate::dataset::source::DatasetUri::S3 { bucket, key } if !key.is_empty() && !key.ends_with('/') => {
            Ok(TemplateSource::S3 { bucket, key })
        }
        crate::dataset::source::DatasetUri::S3 { .. } => Err("an S3 prefix is not a template; name the object".into()),
        _ => Err("not a template document, path, file:// or s3:// URI".into()),
    }
}
