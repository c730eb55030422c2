//! What can go wrong fetching the dataset's objects, and how an S3 error is
//! classified: retried (unreachable, throttled, 5xx) or fatal with a fix.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::dataset::decode::DecodeError;
use crate::dataset::DatasetError;

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
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("no objects under {prefix}: check the prefix in DATASET_URI (a prefix ends with /) or upload the files")]
    EmptyPrefix { prefix: String },
    #[error("stopped by a signal while loading the dataset")]
    Cancelled,
}

impl SourceError {
    /// The exit code of a dataset (or lookup, or template object) that could not be read.
    pub fn exit_code(&self) -> i32 {
        use crate::dataset::DatasetError as D;
        use crate::exit;
        match self {
            SourceError::NotFound { .. } => exit::NOT_FOUND,
            SourceError::File { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => exit::NOT_FOUND,
            SourceError::File { cause, .. } if cause.kind() == std::io::ErrorKind::PermissionDenied => {
                exit::ACCESS_DENIED
            }
            SourceError::AccessDenied { .. } | SourceError::NoCredentials { .. } => exit::ACCESS_DENIED,
            SourceError::Unreachable { .. } | SourceError::File { .. } => exit::UNREACHABLE,
            SourceError::Dataset(D::Read { .. }) => exit::UNREACHABLE,
            SourceError::Dataset(_) => exit::DATASET_INVALID,
            SourceError::Decode(e) if e.is_read_error() => exit::UNREACHABLE,
            SourceError::Decode(_) => exit::DATASET_INVALID,
            SourceError::EmptyPrefix { .. } => exit::NOT_FOUND,
            SourceError::Other { .. } => exit::INTERNAL,
            SourceError::Cancelled => exit::OK,
        }
    }

    /// The data is malformed or too large (exit 6), as opposed to unreachable or missing.
    pub fn is_dataset_invalid(&self) -> bool {
        match self {
            SourceError::Dataset(e) => !e.is_read_error(),
            SourceError::Decode(e) => !e.is_read_error(),
            _ => false,
        }
    }
}

pub(crate) enum Attempt {
    Retry(String),
    Fatal(SourceError),
}

/// Some servers (s3s, MinIO in some setups) answer NoSuchKey for a missing
/// bucket too; one HEAD tells the user which of the two it is.
pub(super) async fn refine_not_found(
    client: &aws_sdk_s3::Client,
    attempt: Attempt,
    bucket: &str,
    object: &str,
    endpoint: &str,
) -> Attempt {
    if let Attempt::Fatal(SourceError::NotFound { what, .. }) = &attempt {
        if what.starts_with("key ") && bucket_is_missing(client, bucket).await {
            return Attempt::Fatal(missing_bucket(bucket, object, endpoint));
        }
    }
    attempt
}

pub(super) fn missing_bucket(bucket: &str, object: &str, endpoint: &str) -> SourceError {
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

pub(super) fn classify<E>(err: SdkError<E>, bucket: &str, object: &str, endpoint: &str) -> Attempt
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
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
