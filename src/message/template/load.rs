//! Reading the template (inline, a file, or an S3 object with the dataset's
//! credentials and retries) and loading its lookups, each a dataset of any
//! format and source `DATASET_URI` accepts, once, at startup.

use minijinja::Value;
use tokio_util::sync::CancellationToken;

use super::doc::Document;
use super::error::TemplateError;
use super::funcs::Lookup;
use super::setting::TemplateSource;
use crate::dataset::source::{self, DatasetSettings, DatasetUri, S3Settings};

/// The template read and its lookups loaded.
pub struct Loaded {
    pub doc: Document,
    pub lookups: Vec<Lookup>,
}

/// Reads the document `source` names.
pub async fn read(
    source: &TemplateSource,
    dataset: &DatasetSettings,
    s3: &S3Settings,
) -> Result<Document, TemplateError> {
    let text = match source {
        TemplateSource::Inline(text) => Ok(text.clone()),
        TemplateSource::File(path) => source::text::read_file(path),
        TemplateSource::S3 { bucket, key } => source::text::read_s3(s3, bucket, key, dataset.retry_timeout).await,
    }
    .map_err(|cause| TemplateError::Source { what: format!("document {source}"), cause })?;
    Document::parse(&text)
}

/// Reads the template and loads its lookups.
pub async fn load(
    source: &TemplateSource,
    dataset: &DatasetSettings,
    s3: &S3Settings,
    shutdown: &CancellationToken,
) -> Result<Loaded, TemplateError> {
    let doc = read(source, dataset, s3).await?;
    super::compile::check_syntax(&doc)?;
    let mut lookups = Vec::with_capacity(doc.lookups.len());
    for spec in &doc.lookups {
        let uri: DatasetUri = spec.uri.parse().map_err(|problem| TemplateError::Member {
            path: format!("lookups.{}.uri", spec.name),
            problem: format!(
                "{:?} is invalid: {problem}; expected s3://bucket/key, a local file path or file:///path",
                spec.uri
            ),
        })?;
        if matches!(uri, DatasetUri::None) {
            return Err(TemplateError::Member {
                path: format!("lookups.{}.uri", spec.name),
                problem: "is `none`; a lookup needs a dataset".into(),
            });
        }
        let settings = DatasetSettings {
            uri,
            retry_timeout: dataset.retry_timeout,
            format: None,
            max_records: None,
            max_bytes: dataset.max_bytes,
            reload_interval: None,
            sample_seed: None,
            note_fields: false,
        };
        let (records, _) = source::load(&settings, s3, shutdown)
            .await
            .map_err(|cause| TemplateError::Source { what: format!("lookup {:?}", spec.name), cause })?;
        let rows: Vec<Value> = records.iter().filter_map(|r| serde_json::from_slice(r).ok()).collect();
        let lookup = Lookup::new(&spec.name, &spec.key, rows).map_err(|columns| TemplateError::LookupKey {
            name: spec.name.clone(),
            key: spec.key.clone(),
            columns,
        })?;
        lookups.push(lookup);
    }
    Ok(Loaded { doc, lookups })
}
