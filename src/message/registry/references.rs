//! A `.proto` that imports other `.proto` files, and the registry's schema
//! references. The imports of `VALUE_SCHEMA` are read from its folder (the
//! same prefix on S3), each path as the import writes it, as `protoc -I
//! <folder>` would. Each imported file is registered first, under its import
//! path as the subject (what Confluent's serializers do by default, and
//! what their deserializers look up), with references to the files it imports
//! in turn; then the value's schema, with
//! `references: [{name, subject, version}]`. With `SCHEMA_AUTO_REGISTER=false`
//! the latest version's references are followed to the versions they name,
//! so the schema compiles as the registry holds it. Imports of Google's
//! well-known types are neither read nor registered.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use super::config::{SchemaSource, ValueFormat};
use super::protobuf::{Loader, FILE};
use super::schema::{SchemaError, ValueSchema};
use crate::observe::events;
use crate::settings::config::Config;
use crate::sink::registry::{error_chain, Reference, Registered, RegistryClient, RegistryError, Submitted};

const PROTOBUF: &str = "PROTOBUF";

/// Why the imports could not be had or registered.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// `VALUE_SCHEMA`'s `.proto` (`text`, read from `source`) and the files it
/// imports, compiled.
pub(super) async fn value_schema(
    source: &SchemaSource,
    text: &str,
    config: &Config,
    message: Option<&str>,
) -> Result<ValueSchema, SchemaError> {
    let origin = source.to_string();
    let name = source.file_name();
    let invalid = |message: String| SchemaError::Invalid { origin: origin.clone(), message };
    let mut loader = Loader::new(&name, text).map_err(invalid)?;
    while let Some((import, by)) = loader.wanted() {
        let place = source.sibling(&import);
        let text = read_schema(&place, config).await.map_err(|e| match e {
            SchemaError::Unreadable { cause, .. } => SchemaError::MissingImport {
                origin: origin.clone(),
                import: format!("\"{import}\""),
                by: imported_by(&by, &name),
                place: place.to_string(),
                cause,
            },
            other => other,
        })?;
        loader.add(&import, &text).map_err(|m| invalid(format!("its import {m}")))?;
    }
    ValueSchema::protobuf(loader.finish(), &origin, message, Vec::new())
}

/// The registry's `latest` version of `subject` and the versions its
/// references name (theirs too), compiled; each referenced file logged.
pub(super) async fn registered_schema(
    c: &RegistryClient,
    subject: &str,
    latest: &Registered,
    message: Option<&str>,
    shutdown: &CancellationToken,
) -> Result<ValueSchema, ImportError> {
    let origin = format!("registry subject {subject}");
    let invalid = |message: String| SchemaError::Invalid { origin: origin.clone(), message };
    let mut named: BTreeMap<String, Reference> =
        latest.references.iter().map(|r| (r.name.clone(), r.clone())).collect();
    let mut loader = Loader::new(FILE, &latest.schema).map_err(invalid)?;
    while let Some((import, by)) = loader.wanted() {
        let unresolved = |problem: String| SchemaError::UnresolvedReference {
            subject: subject.to_owned(),
            import: format!("\"{import}\""),
            by: imported_by(&by, FILE),
            problem,
        };
        let Some(r) = named.get(&import).cloned() else {
            return Err(unresolved(
                "no reference of it names that file: register it with references [{name, subject, version}]".into(),
            )
            .into());
        };
        let Some(version) = c.version(&r.subject, &r.version.to_string(), shutdown).await? else {
            let problem =
                format!("its reference, version {} of subject {}, is not in the registry", r.version, r.subject);
            return Err(unresolved(problem).into());
        };
        for more in &version.references {
            named.entry(more.name.clone()).or_insert_with(|| more.clone());
        }
        loader.add(&import, &version.schema).map_err(|m| invalid(format!("its reference {m}")))?;
        let shown = shown(&version.references.iter().map(|r| (r.clone(), true)).collect::<Vec<_>>());
        log_import(
            &r.subject,
            Some(version.id),
            &format!("imported by {}", by_name(&by, subject)),
            &version.schema,
            &shown,
        );
    }
    Ok(ValueSchema::protobuf(loader.finish(), &origin, message, latest.references.clone())?)
}

/// Registers (`register`: a run) or tests (`check`) each file `schema` imports, each
/// after those it imports, under its import path, and logs it. Returns the
/// references the value's schema is registered with, and whether each one's
/// version is known (`check`: a file not registered yet has none).
pub(super) async fn register_imports(
    schema: &ValueSchema,
    origin: &str,
    client: Option<&RegistryClient>,
    register: bool,
    shutdown: &CancellationToken,
) -> Result<Vec<(Reference, bool)>, ImportError> {
    let ValueSchema::Protobuf { imported, imports, registered, .. } = schema else {
        return Ok(Vec::new());
    };
    if !registered.is_empty() {
        return Ok(registered.iter().map(|r| (r.clone(), true)).collect());
    }
    // Each file's version once registered (or found), by import path.
    let mut versions: BTreeMap<&str, Option<u32>> = BTreeMap::new();
    let references_of = |names: &[String], versions: &BTreeMap<&str, Option<u32>>| -> Vec<(Reference, bool)> {
        names
            .iter()
            .map(|n| {
                let version = versions.get(n.as_str()).copied().flatten();
                (Reference { name: n.clone(), subject: n.clone(), version: version.unwrap_or(0) }, version.is_some())
            })
            .collect()
    };
    for file in imported {
        let refs = references_of(&file.imports, &versions);
        let known = refs.iter().all(|(_, k)| *k);
        let plain: Vec<Reference> = refs.iter().map(|(r, _)| r.clone()).collect();
        let submitted = Submitted { schema: &file.text, schema_type: PROTOBUF, references: &plain };
        let subject = file.name.as_str();
        let (id, version) = match (client, register) {
            (Some(c), true) => {
                let id = c.register(subject, &submitted, shutdown).await?;
                let found = c.lookup(subject, &submitted, shutdown).await?;
                let version = found.ok_or_else(|| RegistryError::Unexpected {
                    url: c.url().to_owned(),
                    what: format!("the lookup of {subject} just registered"),
                    status: 404,
                    message: "not found".into(),
                })?;
                (Some(id), Some(version))
            }
            (Some(c), false) if known => match c.lookup(subject, &submitted, shutdown).await? {
                Some(version) => (None, Some(version)),
                None => {
                    c.compatible(subject, &submitted, shutdown).await?;
                    (None, None)
                }
            },
            _ => (None, None),
        };
        versions.insert(subject, version);
        let by = imported.iter().find(|f| f.imports.contains(&file.name)).map_or(origin, |f| f.name.as_str());
        log_import(subject, id, &format!("imported by {by}"), &file.text, &shown(&refs));
    }
    Ok(references_of(imports, &versions))
}

/// `VALUE_SCHEMA`'s text, from a file or S3.
pub(super) async fn read_schema(source: &SchemaSource, config: &Config) -> Result<String, SchemaError> {
    let unreadable = |cause: String| SchemaError::Unreadable { origin: source.to_string(), cause };
    match source {
        SchemaSource::File(path) => tokio::fs::read_to_string(path).await.map_err(|e| unreadable(e.to_string())),
        SchemaSource::S3 { bucket, key } => {
            let client = crate::dataset::source::s3_client(&config.s3).await;
            let object = client.get_object().bucket(bucket).key(key).send().await;
            let object = object.map_err(|e| unreadable(error_chain(&e)))?;
            let bytes = object.body.collect().await.map_err(|e| unreadable(e.to_string()))?.into_bytes();
            String::from_utf8(bytes.to_vec()).map_err(|_| unreadable("it is not UTF-8 text".into()))
        }
    }
}

/// References as the `schema_in_use` line shows them.
pub(super) fn shown(references: &[(Reference, bool)]) -> String {
    let one = |(r, known): &(Reference, bool)| match known {
        true => format!("{} (subject {}, version {})", r.name, r.subject, r.version),
        false => format!("{} (subject {}, not registered yet)", r.name, r.subject),
    };
    references.iter().map(one).collect::<Vec<_>>().join("; ")
}

fn log_import(subject: &str, id: Option<u32>, origin: &str, schema: &str, references: &str) {
    let format = ValueFormat::Protobuf.as_str();
    events::schema_in_use(&events::SchemaInUse { part: "import", format, subject, id, origin, schema, references });
}

/// ` (imported by b.proto)` when `by` is not the main file.
fn imported_by(by: &str, main: &str) -> String {
    match by == main {
        true => String::new(),
        false => format!(" (imported by {by})"),
    }
}

fn by_name<'a>(by: &'a str, subject: &'a str) -> &'a str {
    if by == FILE {
        subject
    } else {
        by
    }
}
