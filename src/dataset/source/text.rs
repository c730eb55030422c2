//! A small text object (a `MESSAGE_TEMPLATE` document) from a file or S3,
//! with the dataset's credentials, classification and retry budget.

use std::path::Path;
use std::time::Duration;

use super::error::{classify, refine_not_found};
use super::{endpoint_name, retrying, s3_client, Attempt, S3Settings, SourceError};

/// Reads a whole local file as UTF-8.
pub fn read_file(path: &Path) -> Result<String, SourceError> {
    std::fs::read_to_string(path).map_err(|cause| SourceError::File { path: path.display().to_string(), cause })
}

/// Reads `s3://bucket/key` as UTF-8, retrying transient failures for `retry_timeout`.
pub async fn read_s3(s3: &S3Settings, bucket: &str, key: &str, retry_timeout: Duration) -> Result<String, SourceError> {
    let client = s3_client(s3).await;
    let endpoint = endpoint_name(s3);
    let object = format!("s3://{bucket}/{key}");
    retrying(&object, &endpoint, retry_timeout, || async {
        let out = match client.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => o,
            Err(e) => {
                let a = classify(e, bucket, &object, &endpoint);
                return Err(refine_not_found(&client, a, bucket, &object, &endpoint).await);
            }
        };
        let bytes = out.body.collect().await.map_err(|e| Attempt::Retry(e.to_string()))?.into_bytes();
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            Attempt::Fatal(SourceError::Other {
                object: object.clone(),
                endpoint: endpoint.clone(),
                cause: format!("not UTF-8 text: {e}"),
            })
        })
    })
    .await
}
