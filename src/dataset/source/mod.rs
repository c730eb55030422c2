//! Where the dataset comes from: an S3 (or MinIO) object or every object under
//! a prefix, a local file or folder, or the sample compiled into the binary.
//!
//! Each object is streamed through its decompressor into its parser (never
//! held whole; Parquet from S3 excepted, see [`crate::dataset::decode`]), on a blocking
//! thread bridged to the async body. Failures are classified so the
//! user gets the endpoint, bucket and key, the cause and a fix, and a distinct
//! exit code per class; transient failures (connection refused, timeouts, 5xx,
//! a body cut off mid-read) are retried with exponential backoff for
//! `DATASET_RETRY_TIMEOUT`, so a MinIO that starts after the daemon is waited for.

mod config;
mod error;
mod objects;
pub mod text;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{Credentials, Region};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::dataset::collect::{Collector, Limits};
use crate::dataset::columns::ColumnKinds;
use crate::dataset::decode::ObjectSummary;
use crate::dataset::format::Format;
use crate::dataset::records::Known;
use crate::dataset::shape::Fields;
use crate::dataset::{Dataset, LoadSummary};
use crate::observe::events;
pub use config::{DatasetSettings, DatasetUri, S3Settings};
pub use error::SourceError;
use error::{classify, Attempt};
pub use objects::CONCURRENCY;

/// The sample dataset, `data/transactions.csv`, made by `scripts/gen_transactions.py`.
pub static BUNDLED_SAMPLE: &[u8] = include_bytes!("../../../data/transactions.csv");

/// The memory guard and sample a load runs under.
pub fn limits(settings: &DatasetSettings) -> Limits {
    Limits {
        max_records: settings.max_records,
        max_bytes: settings.max_bytes,
        seed: settings.sample_seed,
        note_fields: settings.note_fields,
    }
}

/// Loads the whole dataset, retrying transient failures. Cancelling `shutdown`
/// abandons the load (and its retries) promptly.
pub async fn load(
    settings: &DatasetSettings,
    s3: &S3Settings,
    shutdown: &CancellationToken,
) -> Result<(Dataset, LoadSummary), SourceError> {
    events::loading(&settings.uri.to_string());
    let limits = limits(settings);
    let work = async {
        match &settings.uri {
            DatasetUri::Bundled => {
                events::bundled_dataset();
                let collector = Mutex::new(Collector::new(&limits));
                let started = Instant::now();
                let declared = crate::dataset::decode::Declared {
                    compression: crate::dataset::format::Compression::None,
                    by: "name",
                };
                let mut offer = &collector;
                let o = crate::dataset::decode::load_stream(
                    BUNDLED_SAMPLE,
                    "bundled sample",
                    crate::dataset::format::Format::Csv,
                    declared,
                    None,
                    &mut offer,
                )?;
                finish(collector, &[o], "bundled".into(), started, "bundled sample")
            }
            // One empty record: the template writes everything ([`crate::message::template`]).
            DatasetUri::None => {
                let c = crate::dataset::collect::Collected { buf: b"{}".to_vec(), ends: vec![2], seen: 1 };
                Ok(finish_synthetic(crate::dataset::Dataset::from_collected(c)))
            }
            DatasetUri::File(path) => load_files(path.clone(), settings, limits).await,
            DatasetUri::S3 { bucket, key } => load_s3(s3, bucket, key, settings, &limits).await,
        }
    };
    tokio::select! {
        r = work => r,
        () = shutdown.cancelled() => Err(SourceError::Cancelled),
    }
}

fn finish_synthetic(dataset: Dataset) -> (Dataset, LoadSummary) {
    let summary = LoadSummary {
        records: 1,
        seen: 1,
        skipped: 0,
        skipped_rows: Vec::new(),
        renamed: Vec::new(),
        widened: Vec::new(),
        columns: 0,
        csv_bytes: 0,
        json_bytes: 2,
        elapsed: Duration::ZERO,
        objects: 0,
        format: "none".into(),
        version: "none".into(),
    };
    (dataset, summary)
}

/// One summary for all objects (CSV facts come from the first CSV object),
/// once each CSV column has one type over the kept records.
fn finish(
    collector: Mutex<Collector>,
    objects: &[ObjectSummary],
    version: String,
    started: Instant,
    source_name: &str,
) -> Result<(Dataset, LoadSummary), SourceError> {
    let mut kinds = ColumnKinds::default();
    objects.iter().for_each(|o| kinds.merge(&o.kinds));
    let other_formats = objects.iter().any(|o| o.format != Format::Csv) && !kinds.columns.is_empty();
    let collector = collector.into_inner().unwrap_or_else(|e| e.into_inner());
    let (collected, widened, exact) = collector.finish_typed(&kinds, other_formats).map_err(|cause| {
        SourceError::Dataset(crate::dataset::DatasetError::Limit { source_name: source_name.into(), cause })
    })?;
    let seen = collected.seen;
    // Exact over the records when every object's reader noted them and none was left out.
    let noted = objects.iter().try_fold(Fields::default(), |mut all, o| {
        all.merge(o.fields.as_ref()?);
        Some(all)
    });
    let fields = noted.filter(|_| exact && kinds.columns.is_empty() && !objects.is_empty());
    let known = Known { csv: (exact && !kinds.columns.is_empty()).then_some(kinds), logical: logical(objects), fields };
    let dataset = Dataset::from_collected(collected).with_known(known);
    let mut formats: Vec<&str> = objects.iter().map(|o| o.format.name()).collect();
    formats.dedup();
    let summary = LoadSummary {
        records: dataset.len() as u64,
        seen,
        skipped: objects.iter().map(|o| o.skipped).sum(),
        skipped_rows: objects
            .iter()
            .flat_map(|o| o.skipped_rows.iter().cloned())
            .take(crate::dataset::REPORTED_SKIPS)
            .collect(),
        renamed: objects.iter().flat_map(|o| o.renamed.iter().cloned()).collect(),
        widened,
        columns: objects.iter().map(|o| o.columns).max().unwrap_or(0),
        csv_bytes: objects.iter().map(|o| o.input_bytes).sum(),
        json_bytes: dataset.json_bytes() as u64,
        elapsed: started.elapsed(),
        objects: objects.len(),
        format: formats.join("+"),
        version,
    };
    Ok((dataset, summary))
}

/// The Parquet columns of one logical type in every object, when every
/// object is Parquet (a column typed otherwise anywhere is left out).
fn logical(objects: &[ObjectSummary]) -> Vec<(String, crate::dataset::records::Logical)> {
    if objects.iter().any(|o| o.format != Format::Parquet) {
        return Vec::new();
    }
    let Some((first, rest)) = objects.split_first() else {
        return Vec::new();
    };
    first.logical.iter().filter(|column| rest.iter().all(|o| o.logical.contains(column))).cloned().collect()
}

async fn load_files(
    path: std::path::PathBuf,
    settings: &DatasetSettings,
    limits: Limits,
) -> Result<(Dataset, LoadSummary), SourceError> {
    let prefix = settings.uri.is_prefix();
    let forced = settings.format;
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let file_err = |cause| SourceError::File { path: shown.clone(), cause };
        let paths = if prefix { objects::list_folder(&path).map_err(file_err)? } else { vec![path.clone()] };
        if paths.is_empty() {
            return Err(SourceError::EmptyPrefix { prefix: shown.clone() });
        }
        let version = objects::file_version(&paths).map_err(file_err)?;
        let options = objects::ReadOptions {
            forced,
            max_bytes: limits.max_bytes,
            reserve: paths.len() == 1 && limits.max_records.is_none(),
        };
        let collector = Mutex::new(Collector::new(&limits));
        // Local files are read one after another: a disk needs no round trips hidden.
        let summaries =
            paths.iter().map(|p| objects::read_file(p, options, &collector)).collect::<Result<Vec<_>, _>>()?;
        finish(collector, &summaries, version, started, &shown)
    })
    .await
    .map_err(|e| SourceError::File { path: "dataset".into(), cause: std::io::Error::other(e) })?
}

/// What a reload compares: the ETag(s) of the object(s), or the file(s)'
/// lengths and modification times.
pub async fn version(settings: &DatasetSettings, s3: &S3Settings) -> Result<String, SourceError> {
    match &settings.uri {
        DatasetUri::Bundled => Ok("bundled".into()),
        DatasetUri::None => Ok("none".into()),
        DatasetUri::File(path) => {
            let (path, prefix) = (path.clone(), settings.uri.is_prefix());
            let shown = path.display().to_string();
            tokio::task::spawn_blocking(move || {
                let paths = if prefix { objects::list_folder(&path)? } else { vec![path] };
                objects::file_version(&paths)
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|cause| SourceError::File { path: shown, cause })
        }
        DatasetUri::S3 { bucket, key } => {
            let client = s3_client(s3).await;
            let endpoint = endpoint_name(s3);
            let object = format!("s3://{bucket}/{key}");
            let fatal = |a: Attempt| match a {
                Attempt::Fatal(e) => e,
                Attempt::Retry(cause) => SourceError::Unreachable {
                    object: object.clone(),
                    endpoint: endpoint.clone(),
                    waited_s: 0.0,
                    cause,
                },
            };
            if settings.uri.is_prefix() {
                let listed = objects::list_s3(&client, bucket, key, &endpoint).await.map_err(fatal)?;
                return Ok(objects::etags_version(&listed));
            }
            let head = client.head_object().bucket(bucket).key(key).send().await;
            let head = head.map_err(|e| fatal(classify(e, bucket, &object, &endpoint)))?;
            Ok(head.e_tag().unwrap_or_default().to_owned())
        }
    }
}

fn endpoint_name(s3: &S3Settings) -> String {
    s3.endpoint_url.clone().unwrap_or_else(|| format!("AWS S3 ({})", s3.region))
}

/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) when
/// set: used before the default chain, by S3 and by `AWS_MSK_IAM` alike.
pub fn static_credentials(s3: &S3Settings) -> Option<Credentials> {
    let (id, secret) = (s3.access_key_id.as_ref()?, s3.secret_access_key.as_ref()?);
    Some(Credentials::new(
        id,
        secret.expose_secret(),
        s3.session_token.as_ref().map(|t| t.expose_secret().to_owned()),
        None,
        "kafka-feeder-env",
    ))
}

/// Builds an S3 client from our settings. With a custom endpoint (MinIO, s3s)
/// path-style addressing is used, since such servers rarely have per-bucket DNS.
pub async fn s3_client(s3: &S3Settings) -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(s3.region.clone()))
        // Our own loop retries with a documented budget; the SDK's retries would
        // multiply it.
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .read_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(credentials) = static_credentials(s3) {
        loader = loader.credentials_provider(credentials);
    }
    if let Some(url) = &s3.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    let conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(s3.endpoint_url.is_some()).build();
    aws_sdk_s3::Client::from_conf(conf)
}

async fn load_s3(
    s3: &S3Settings,
    bucket: &str,
    key: &str,
    settings: &DatasetSettings,
    limits: &Limits,
) -> Result<(Dataset, LoadSummary), SourceError> {
    let client = s3_client(s3).await;
    let endpoint = endpoint_name(s3);
    let object = format!("s3://{bucket}/{key}");
    retrying(&object, &endpoint, settings.retry_timeout, || {
        attempt_s3(&client, bucket, key, &endpoint, settings, limits)
    })
    .await
}

/// Runs `attempt` until it succeeds or fails for good, backing off from
/// 0.25 s to 5 s between transient failures, for at most `budget`.
pub(crate) async fn retrying<T, F, Fut>(
    object: &str,
    endpoint: &str,
    budget: Duration,
    mut attempt: F,
) -> Result<T, SourceError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Attempt>>,
{
    let started = Instant::now();
    let mut backoff = Duration::from_millis(250);
    loop {
        let cause = match attempt().await {
            Ok(done) => return Ok(done),
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(cause)) => cause,
        };
        let waited = started.elapsed();
        if waited + backoff > budget {
            return Err(SourceError::Unreachable {
                object: object.to_owned(),
                endpoint: endpoint.to_owned(),
                waited_s: waited.as_secs_f64(),
                cause,
            });
        }
        events::source_retry(&format!("{object} at {endpoint}"), &cause, waited, budget, backoff);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One attempt at the whole load: a failure part-way starts every object over
/// (records already collected cannot be taken back out of a sample).
async fn attempt_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    endpoint: &str,
    settings: &DatasetSettings,
    limits: &Limits,
) -> Result<(Dataset, LoadSummary), Attempt> {
    let started = Instant::now();
    let keys: Vec<String> = if settings.uri.is_prefix() {
        let listed = objects::list_s3(client, bucket, key, endpoint).await?;
        if listed.is_empty() {
            return Err(Attempt::Fatal(SourceError::EmptyPrefix { prefix: format!("s3://{bucket}/{key}") }));
        }
        listed.into_iter().map(|(k, _)| k).collect()
    } else {
        vec![key.to_owned()]
    };
    let options = objects::ReadOptions {
        forced: settings.format,
        max_bytes: limits.max_bytes,
        reserve: keys.len() == 1 && limits.max_records.is_none(),
    };
    let collector = Arc::new(Mutex::new(Collector::new(limits)));
    let read = objects::read_s3_all(client, bucket, &keys, endpoint, options, &collector).await?;
    let etags: Vec<(String, String)> = keys.iter().cloned().zip(read.iter().map(|(_, e)| e.clone())).collect();
    let summaries: Vec<ObjectSummary> = read.into_iter().map(|(s, _)| s).collect();
    let collector = Arc::try_unwrap(collector).map_err(|_| {
        Attempt::Fatal(SourceError::Other {
            object: key.into(),
            endpoint: endpoint.into(),
            cause: "a reader outlived the load".into(),
        })
    })?;
    let object = format!("s3://{bucket}/{key}");
    finish(collector, &summaries, objects::etags_version(&etags), started, &object).map_err(Attempt::Fatal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bundled_sample_loads_every_row() {
        let (d, s) = load(&ds(DatasetUri::Bundled, Duration::ZERO), &no_s3(), &CancellationToken::new()).await.unwrap();
        let rows = BUNDLED_SAMPLE.iter().filter(|&&b| b == b'\n').count() as u64 - 1;
        assert_eq!((s.records, s.skipped), (rows, 0));
        let first: serde_json::Value = serde_json::from_slice(d.get(0)).unwrap();
        assert!(first["transaction_id"].is_string() && first["amount"].is_number(), "{first}");
    }

    #[tokio::test]
    async fn missing_file_names_the_path() {
        let uri = DatasetUri::File("/nonexistent/t.csv".into());
        let e = load(&ds(uri, Duration::ZERO), &no_s3(), &CancellationToken::new()).await.unwrap_err();
        assert!(matches!(&e, SourceError::File { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound));
        assert!(e.to_string().contains("/nonexistent/t.csv"), "{e}");
    }

    #[tokio::test]
    async fn unreachable_endpoint_retries_within_the_budget_then_fails() {
        let (port, s3, uri) = closed_endpoint();
        let t = Instant::now();
        let e = load(&ds(uri, Duration::from_secs(1)), &s3, &CancellationToken::new()).await.unwrap_err();
        assert!(matches!(e, SourceError::Unreachable { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }

    #[tokio::test]
    async fn cancellation_stops_a_retrying_load() {
        let (_, s3, uri) = closed_endpoint();
        let token = CancellationToken::new();
        let t2 = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            t2.cancel();
        });
        let e = load(&ds(uri, Duration::from_secs(60)), &s3, &token).await.unwrap_err();
        assert!(matches!(e, SourceError::Cancelled), "{e}");
    }

    /// S3 settings pointing at a local port nothing listens on (bound, then closed).
    fn closed_endpoint() -> (u16, S3Settings, DatasetUri) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let s3 = S3Settings {
            endpoint_url: Some(format!("http://127.0.0.1:{port}")),
            access_key_id: Some("a".into()),
            secret_access_key: Some("b".into()),
            ..no_s3()
        };
        (port, s3, DatasetUri::S3 { bucket: "b".into(), key: "k.csv".into() })
    }

    fn ds(uri: DatasetUri, retry_timeout: Duration) -> DatasetSettings {
        DatasetSettings {
            uri,
            retry_timeout,
            format: None,
            max_records: None,
            max_bytes: None,
            reload_interval: None,
            sample_seed: None,
            note_fields: false,
        }
    }

    fn no_s3() -> S3Settings {
        S3Settings {
            region: "us-east-1".into(),
            endpoint_url: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
        }
    }
}
