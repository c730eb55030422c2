//! Where the dataset comes from: an S3 (or MinIO) object, a local file, or the
//! sample compiled into the binary.
//!
//! The object is streamed straight into the CSV parser (never held whole), on a
//! blocking thread bridged to the async body. Failures are classified so the
//! user gets the endpoint, bucket and key, the cause and a fix, and a distinct
//! exit code per class; transient failures (connection refused, timeouts, 5xx,
//! a body cut off mid-read) are retried with exponential backoff for
//! `DATASET_RETRY_TIMEOUT`, so a MinIO that starts after the daemon is waited for.

mod config;

use std::time::{Duration, Instant};

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use secrecy::ExposeSecret;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::CancellationToken;

use crate::dataset::{self, Dataset, DatasetError, LoadSummary};
use crate::events;
pub use config::{DatasetSettings, DatasetUri, S3Settings};

/// The sample dataset, `data/transactions.csv`, made by `scripts/gen_transactions.py`.
pub static BUNDLED_SAMPLE: &[u8] = include_bytes!("../../data/transactions.csv");

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{what} not found at {endpoint}: {fix}")]
    NotFound { what: String, endpoint: String, fix: &'static str },
    #[error("access denied to {object} at {endpoint} ({code}: {message}): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or KEY/SECRET) and the bucket policy")]
    AccessDenied { object: String, endpoint: String, code: String, message: String },
    #[error("no credentials for {object}: {cause}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or KEY and SECRET), a profile, or a web identity")]
    NoCredentials { object: String, cause: String },
    #[error("{object} at {endpoint} unreachable after retrying for {waited_s:.0}s (DATASET_RETRY_TIMEOUT): {cause}")]
    Unreachable { object: String, endpoint: String, waited_s: f64, cause: String },
    #[error("cannot read {path}: {cause}")]
    File { path: String, cause: std::io::Error },
    #[error("S3 request for {object} at {endpoint} failed: {cause}")]
    Other { object: String, endpoint: String, cause: String },
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("stopped by a signal while loading the dataset")]
    Cancelled,
}

/// Loads the whole dataset, retrying transient failures. Cancelling `shutdown`
/// abandons the load (and its retries) promptly.
pub async fn load(
    uri: &DatasetUri,
    s3: &S3Settings,
    retry_timeout: Duration,
    shutdown: &CancellationToken,
) -> Result<(Dataset, LoadSummary), SourceError> {
    events::loading(&uri.to_string());
    let work = async {
        match uri {
            DatasetUri::Bundled => {
                events::bundled_dataset();
                Ok(dataset::load_csv(BUNDLED_SAMPLE, "bundled sample", Some(BUNDLED_SAMPLE.len() as u64))?)
            }
            DatasetUri::File(path) => load_file(path.clone()).await,
            DatasetUri::S3 { bucket, key } => load_s3(s3, bucket, key, retry_timeout).await,
        }
    };
    tokio::select! {
        r = work => r,
        () = shutdown.cancelled() => Err(SourceError::Cancelled),
    }
}

async fn load_file(path: std::path::PathBuf) -> Result<(Dataset, LoadSummary), SourceError> {
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        let file_err = |cause| SourceError::File { path: shown.clone(), cause };
        let file = std::fs::File::open(&path).map_err(file_err)?;
        let meta = file.metadata().map_err(file_err)?;
        if meta.is_dir() {
            return Err(file_err(std::io::Error::other("it is a directory, expected a CSV file")));
        }
        Ok(dataset::load_csv(file, &shown, Some(meta.len()))?)
    })
    .await
    .map_err(|e| SourceError::File { path: "dataset".into(), cause: std::io::Error::other(e) })?
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
    if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            id,
            secret.expose_secret(),
            s3.session_token.as_ref().map(|t| t.expose_secret().to_owned()),
            None,
            "kafka-feeder-env",
        ));
    }
    if let Some(url) = &s3.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    let conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(s3.endpoint_url.is_some()).build();
    aws_sdk_s3::Client::from_conf(conf)
}

enum Attempt {
    Retry(String),
    Fatal(SourceError),
}

async fn load_s3(
    s3: &S3Settings,
    bucket: &str,
    key: &str,
    retry_timeout: Duration,
) -> Result<(Dataset, LoadSummary), SourceError> {
    let client = s3_client(s3).await;
    let endpoint = s3.endpoint_url.clone().unwrap_or_else(|| format!("AWS S3 ({})", s3.region));
    let object = format!("s3://{bucket}/{key}");
    let started = Instant::now();
    let mut backoff = Duration::from_millis(250);
    loop {
        let cause = match attempt_s3(&client, bucket, key, &object, &endpoint).await {
            Ok(loaded) => return Ok(loaded),
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(cause)) => cause,
        };
        let waited = started.elapsed();
        if waited + backoff > retry_timeout {
            return Err(SourceError::Unreachable { object, endpoint, waited_s: waited.as_secs_f64(), cause });
        }
        events::source_retry(&format!("{object} at {endpoint}"), &cause, waited, retry_timeout, backoff);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn attempt_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    object: &str,
    endpoint: &str,
) -> Result<(Dataset, LoadSummary), Attempt> {
    let resp = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(resp) => resp,
        Err(e) => {
            let attempt = classify(e, bucket, object, endpoint);
            // Some servers (s3s, MinIO in some setups) answer NoSuchKey for a
            // missing bucket too; one HEAD tells the user which of the two it is.
            if let Attempt::Fatal(SourceError::NotFound { what, .. }) = &attempt {
                if what.starts_with("key ") && bucket_is_missing(client, bucket).await {
                    return Err(Attempt::Fatal(missing_bucket(bucket, object, endpoint)));
                }
            }
            return Err(attempt);
        }
    };
    let size_hint = resp.content_length().and_then(|n| u64::try_from(n).ok());
    // The bridge must be made on the runtime; the parse runs on a blocking thread.
    let reader = SyncIoBridge::new(resp.body.into_async_read());
    let object_name = object.to_owned();
    let parsed =
        tokio::task::spawn_blocking(move || dataset::load_csv(reader, &object_name, size_hint)).await.map_err(|e| {
            Attempt::Fatal(SourceError::Other {
                object: object.into(),
                endpoint: endpoint.into(),
                cause: e.to_string(),
            })
        })?;
    match parsed {
        Ok(loaded) => Ok(loaded),
        // The connection dropped mid-body: the next attempt starts over.
        Err(e) if e.is_read_error() => Err(Attempt::Retry(e.to_string())),
        Err(e) => Err(Attempt::Fatal(e.into())),
    }
}

fn missing_bucket(bucket: &str, object: &str, endpoint: &str) -> SourceError {
    SourceError::NotFound {
        what: format!("bucket {bucket:?} (for {object})"),
        endpoint: endpoint.into(),
        fix: "check the bucket in DATASET_URI and AWS_ENDPOINT_URL/ENDPOINT_URL, or create the bucket",
    }
}

/// True only when the server says the bucket does not exist (404 on HEAD).
async fn bucket_is_missing(client: &aws_sdk_s3::Client, bucket: &str) -> bool {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => false,
        Err(SdkError::ServiceError(se)) => se.raw().status().as_u16() == 404,
        Err(_) => false,
    }
}

fn classify(err: SdkError<GetObjectError>, bucket: &str, object: &str, endpoint: &str) -> Attempt {
    let full = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("").to_owned();
            let message = se.err().message().unwrap_or("").to_owned();
            match (code.as_str(), status) {
                ("NoSuchKey", _) => Attempt::Fatal(SourceError::NotFound {
                    what: format!("key {object}"),
                    endpoint: endpoint.into(),
                    fix: "check the key in DATASET_URI (keys are case-sensitive) or upload the file",
                }),
                ("NoSuchBucket", _) => Attempt::Fatal(missing_bucket(bucket, object, endpoint)),
                (
                    "AccessDenied"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
                    | "InvalidToken"
                    | "InvalidSecurity"
                    | "AuthorizationHeaderMalformed",
                    _,
                )
                | (_, 401 | 403) => Attempt::Fatal(SourceError::AccessDenied {
                    object: object.into(),
                    endpoint: endpoint.into(),
                    code: if code.is_empty() { status.to_string() } else { code },
                    message,
                }),
                (_, 404) => Attempt::Fatal(SourceError::NotFound {
                    what: object.into(),
                    endpoint: endpoint.into(),
                    fix: "check DATASET_URI and AWS_ENDPOINT_URL/ENDPOINT_URL",
                }),
                (_, 429 | 500..=599) | ("SlowDown" | "InternalError" | "ServiceUnavailable", _) => {
                    Attempt::Retry(format!("HTTP {status} {code}: {message}"))
                }
                _ => {
                    Attempt::Fatal(SourceError::Other { object: object.into(), endpoint: endpoint.into(), cause: full })
                }
            }
        }
        SdkError::DispatchFailure(df) if !df.is_io() && !df.is_timeout() && full.contains("credentials") => {
            Attempt::Fatal(SourceError::NoCredentials { object: object.into(), cause: full })
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Attempt::Retry(full),
        _ if full.contains("credentials") => {
            Attempt::Fatal(SourceError::NoCredentials { object: object.into(), cause: full })
        }
        _ => Attempt::Fatal(SourceError::Other { object: object.into(), endpoint: endpoint.into(), cause: full }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bundled_sample_loads_every_row() {
        let (d, s) = load(&DatasetUri::Bundled, &no_s3(), Duration::ZERO, &CancellationToken::new()).await.unwrap();
        let rows = BUNDLED_SAMPLE.iter().filter(|&&b| b == b'\n').count() as u64 - 1;
        assert_eq!((s.records, s.skipped), (rows, 0));
        let first: serde_json::Value = serde_json::from_slice(d.get(0)).unwrap();
        assert!(first["transaction_id"].is_string() && first["amount"].is_number(), "{first}");
    }

    #[tokio::test]
    async fn missing_file_names_the_path() {
        let uri = DatasetUri::File("/nonexistent/t.csv".into());
        let e = load(&uri, &no_s3(), Duration::ZERO, &CancellationToken::new()).await.unwrap_err();
        assert!(matches!(&e, SourceError::File { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound));
        assert!(e.to_string().contains("/nonexistent/t.csv"), "{e}");
    }

    #[tokio::test]
    async fn unreachable_endpoint_retries_within_the_budget_then_fails() {
        let (port, s3, uri) = closed_endpoint();
        let t = Instant::now();
        let e = load(&uri, &s3, Duration::from_secs(1), &CancellationToken::new()).await.unwrap_err();
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
        let e = load(&uri, &s3, Duration::from_secs(60), &token).await.unwrap_err();
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
