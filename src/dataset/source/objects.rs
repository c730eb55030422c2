//! Many objects into one dataset: the objects a URI names (one, or every one
//! under a prefix or folder), each read with its own format, compression and
//! CSV header into one shared collector, a bounded number at a time; and the
//! version of what the URI names, so a reload can tell whether it changed.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::{StreamExt, TryStreamExt};
use tokio_util::io::SyncIoBridge;

use super::error::{classify, refine_not_found, Attempt, SourceError};
use crate::dataset::collect::Collector;
use crate::dataset::decode::{self, Declared, ObjectSummary};
use crate::dataset::format::{self, Compression, Format};
use crate::dataset::parquet as parquet_rows;

/// Objects read at once under a prefix: enough to hide a round trip each,
/// few enough that two cores are not buried in parsers.
pub const CONCURRENCY: usize = 4;

/// What a load reads with, the same for every object.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    pub forced: Option<Format>,
    /// Bounds a compressed Parquet object held in memory ([`decode`]).
    pub max_bytes: Option<u64>,
    /// Reserve for the JSON up front (one object, not sampled).
    pub reserve: bool,
}

/// A file under a folder, or the file itself. Hidden and marker files (`.x`,
/// `_SUCCESS`, as Spark and Hadoop write them) are not data.
pub fn list_folder(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if is_hidden(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

pub fn is_hidden(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.starts_with('.') || base.starts_with('_')
}

/// A file's version: its length and modification time.
pub fn file_version(paths: &[PathBuf]) -> std::io::Result<String> {
    let mut h = DefaultHasher::new();
    for p in paths {
        let meta = std::fs::metadata(p)?;
        (p, meta.len(), meta.modified()?).hash(&mut h);
    }
    Ok(format!("{:016x}", h.finish()))
}

/// S3 objects' version: their keys and ETags.
pub fn etags_version(objects: &[(String, String)]) -> String {
    if let [(_, etag)] = objects {
        return etag.clone();
    }
    let mut h = DefaultHasher::new();
    objects.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Reads one local file into `collector`.
pub fn read_file(
    path: &Path,
    options: ReadOptions,
    collector: &Mutex<Collector>,
) -> Result<ObjectSummary, SourceError> {
    let shown = path.display().to_string();
    let file_err = |cause| SourceError::File { path: shown.clone(), cause };
    let file = std::fs::File::open(path).map_err(file_err)?;
    let meta = file.metadata().map_err(file_err)?;
    if meta.is_dir() {
        return Err(file_err(std::io::Error::other(
            "it is a directory; end DATASET_URI with / to load every file in it",
        )));
    }
    let (format, compression) = format::detect(&shown, options.forced, None);
    reserve(collector, options, format, compression, meta.len());
    let mut offer = collector;
    if format == Format::Parquet && compression == Compression::None {
        let p = parquet_rows::load_parquet(file, &shown, &mut offer).map_err(decode::DecodeError::from)?;
        return Ok(ObjectSummary {
            format,
            compression,
            records: p.records,
            skipped: 0,
            columns: p.columns,
            input_bytes: p.input_bytes,
            skipped_rows: Vec::new(),
            renamed: Vec::new(),
            kinds: Default::default(),
            logical: p.logical,
            fields: p.fields,
        });
    }
    let declared = Declared { compression, by: "name" };
    Ok(decode::load_stream(file, &shown, format, declared, options.max_bytes, &mut offer)?)
}

fn reserve(collector: &Mutex<Collector>, options: ReadOptions, format: Format, compression: Compression, len: u64) {
    if !options.reserve || compression != Compression::None {
        return;
    }
    let json = match format {
        Format::Csv => crate::dataset::csv_json_estimate(len),
        Format::Jsonl => len as usize,
        Format::Parquet => return,
    };
    collector.lock().unwrap_or_else(|e| e.into_inner()).reserve(json);
}

/// Every object under `prefix` with its ETag, in key order (markers and hidden names skipped).
pub async fn list_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    endpoint: &str,
) -> Result<Vec<(String, String)>, Attempt> {
    let shown = format!("s3://{bucket}/{prefix}");
    let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    let mut objects = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify(e, bucket, &shown, endpoint))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            if key.ends_with('/') || is_hidden(key) {
                continue;
            }
            objects.push((key.to_owned(), o.e_tag().unwrap_or_default().to_owned()));
        }
    }
    objects.sort();
    Ok(objects)
}

/// Reads one S3 object into `collector`; returns its summary and ETag.
pub async fn read_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    endpoint: &str,
    options: ReadOptions,
    collector: &std::sync::Arc<Mutex<Collector>>,
) -> Result<(ObjectSummary, String), Attempt> {
    let object = format!("s3://{bucket}/{key}");
    let resp =
        client.get_object().bucket(bucket).key(key).send().await.map_err(|e| classify(e, bucket, &object, endpoint));
    let resp = match resp {
        Ok(r) => r,
        Err(attempt) => return Err(refine_not_found(client, attempt, bucket, &object, endpoint).await),
    };
    let etag = resp.e_tag().unwrap_or_default().to_owned();
    let by_header = resp.content_encoding().and_then(Compression::from_content_encoding);
    let (format, compression) = format::detect(key, options.forced, resp.content_encoding());
    let declared = Declared { compression, by: if by_header.is_some() { "Content-Encoding" } else { "name" } };
    let len = resp.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    reserve(collector, options, format, compression, len);
    // The bridge must be made on the runtime; the parse runs on a blocking thread.
    let reader = SyncIoBridge::new(resp.body.into_async_read());
    let collector = std::sync::Arc::clone(collector);
    let name = object.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let mut offer = &*collector;
        decode::load_stream(reader, &name, format, declared, options.max_bytes, &mut offer)
    })
    .await
    .map_err(|e| {
        Attempt::Fatal(SourceError::Other { object: object.clone(), endpoint: endpoint.into(), cause: e.to_string() })
    })?;
    match parsed {
        Ok(summary) => Ok((summary, etag)),
        // The connection dropped mid-body: the next attempt starts over.
        Err(e) if e.is_read_error() => Err(Attempt::Retry(e.to_string())),
        Err(e) => Err(Attempt::Fatal(e.into())),
    }
}

/// Reads `keys` into `collector`, [`CONCURRENCY`] at a time.
pub async fn read_s3_all(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
    endpoint: &str,
    options: ReadOptions,
    collector: &std::sync::Arc<Mutex<Collector>>,
) -> Result<Vec<(ObjectSummary, String)>, Attempt> {
    // The futures are made before the stream: a closure held across the await
    // would make this future not `Send` for every lifetime (rust#102211).
    let reads: Vec<_> = keys.iter().map(|key| read_s3(client, bucket, key, endpoint, options, collector)).collect();
    futures::stream::iter(reads).buffered(CONCURRENCY).try_collect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_list_data_files_recursively_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.csv", "a.csv.gz", "sub/c.jsonl", "_SUCCESS", ".hidden.csv", "sub/.crc", "_tmp/x.csv"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let got: Vec<String> = list_folder(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(got, ["a.csv.gz", "b.csv", "sub/c.jsonl"]);
    }

    #[test]
    fn versions_change_with_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "a\n1\n").unwrap();
        let v1 = file_version(std::slice::from_ref(&p)).unwrap();
        assert_eq!(v1, file_version(std::slice::from_ref(&p)).unwrap());
        std::fs::write(&p, "a\n1\n2\n").unwrap();
        assert_ne!(v1, file_version(std::slice::from_ref(&p)).unwrap());
        let one = vec![("k".to_owned(), "\"e1\"".to_owned())];
        assert_eq!(etags_version(&one), "\"e1\"");
        let two = vec![("k".to_owned(), "\"e1\"".to_owned()), ("l".to_owned(), "\"e2\"".to_owned())];
        let changed = vec![("k".to_owned(), "\"e1\"".to_owned()), ("l".to_owned(), "\"e3\"".to_owned())];
        assert_ne!(etags_version(&two), etags_version(&changed));
    }
}
