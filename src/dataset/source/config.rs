//! Where the dataset comes from and how to reach S3: [`DatasetUri`] and
//! [`S3Settings`], parsed from the `Dataset` and `S3` groups of the settings table.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

use crate::dataset::format::Format;
use crate::settings;
use crate::settings::env::{self, ConfigError, Env, Origin, Show};

/// How long transient S3 failures (connection refused, 5xx) are retried at startup:
/// long enough for a MinIO container that starts after us.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(30);
/// The region the AWS SDK needs even when MinIO ignores it.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where the dataset comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetUri {
    S3 {
        bucket: String,
        key: String,
    },
    File(PathBuf),
    /// The sample dataset compiled into the binary (`data/transactions.csv`).
    Bundled,
    /// `none`: no dataset; every message comes from `MESSAGE_TEMPLATE` alone.
    None,
}

impl fmt::Display for DatasetUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetUri::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            DatasetUri::File(p) => write!(f, "{}", p.display()),
            DatasetUri::Bundled => f.write_str("bundled sample (data/transactions.csv)"),
            DatasetUri::None => f.write_str("none"),
        }
    }
}

impl Show for DatasetUri {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl FromStr for DatasetUri {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("it is empty".into());
        }
        if raw == "bundled" {
            return Ok(DatasetUri::Bundled);
        }
        if raw == "none" {
            return Ok(DatasetUri::None);
        }
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').ok_or("it has no key after the bucket")?;
            if bucket.is_empty() {
                return Err("the bucket name is empty".into());
            }
            // A key ending in `/` (or none: the whole bucket) is a prefix.
            return Ok(DatasetUri::S3 { bucket: bucket.to_owned(), key: key.to_owned() });
        }
        if let Some(path) = raw.strip_prefix("file://") {
            if path.is_empty() {
                return Err("the file path is empty".into());
            }
            return Ok(DatasetUri::File(PathBuf::from(path)));
        }
        if raw.contains("://") {
            return Err("the scheme is not s3:// or file://".into());
        }
        Ok(DatasetUri::File(PathBuf::from(raw)))
    }
}

/// The `Dataset` group.
#[derive(Debug, Clone)]
pub struct DatasetSettings {
    pub uri: DatasetUri,
    pub retry_timeout: Duration,
    /// `DATASET_FORMAT`; `None`: by each object's suffix.
    pub format: Option<Format>,
    pub max_records: Option<usize>,
    /// `DATASET_MAX_BYTES`, else half the memory limit ([`crate::dataset::memory`]);
    /// `None` only where no limit can be read.
    pub max_bytes: Option<u64>,
    pub reload_interval: Option<Duration>,
    /// `RANDOM_SEED` (parsed with the pacing group): a seeded
    /// `DATASET_MAX_RECORDS` sample keeps the same records.
    pub sample_seed: Option<u64>,
    /// A value or key schema will be derived from the records (set with the
    /// registry group): the readers note what they hold while loading.
    pub note_fields: bool,
}

impl Show for Format {
    fn show(&self) -> String {
        self.name().to_owned()
    }
}

/// `2G`, `512M`, `64K` (powers of 1024) or plain bytes.
fn byte_size(raw: &str) -> Result<u64, String> {
    let (digits, unit) = match raw.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&raw[..i], c.to_ascii_uppercase()),
        _ => (raw, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return Err(format!("unknown unit {unit:?}")),
    };
    let n = env::positive_u64(digits.trim())?;
    n.checked_mul(1 << shift).ok_or_else(|| "too large".to_owned())
}

impl DatasetSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            uri: env.parse(&settings::DATASET_URI, || (DatasetUri::Bundled, Origin::Default), DatasetUri::from_str)?,
            retry_timeout: env.parse(
                &settings::DATASET_RETRY_TIMEOUT,
                || (DEFAULT_RETRY_TIMEOUT, Origin::Default),
                |r| env::seconds(r, true),
            )?,
            format: env
                .optional(&settings::DATASET_FORMAT, |r| Format::parse(r).ok_or_else(|| "unknown format".into()))?,
            max_records: env.optional(&settings::DATASET_MAX_RECORDS, |r| {
                env::positive_u64(r).and_then(|n| usize::try_from(n).map_err(|_| "too large".into()))
            })?,
            // Unset: half the memory limit seen now, shown in the effective configuration.
            max_bytes: env.parse(
                &settings::DATASET_MAX_BYTES,
                || (crate::dataset::memory::detect().map(|l| l.default_max_bytes()), Origin::Default),
                |r| byte_size(r).map(Some),
            )?,
            reload_interval: env.optional(&settings::DATASET_RELOAD_INTERVAL, |r| env::seconds(r, false))?,
            sample_seed: None,
            note_fields: false,
        })
    }
}

/// S3 settings, with the Python producer's aliases already resolved. Secrets
/// are [`SecretString`]s: their `Debug` prints `[REDACTED]`, and reading one
/// takes an explicit `expose_secret()`.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub region: String,
    pub endpoint_url: Option<String>,
    /// Static credentials from `AWS_ACCESS_KEY_ID`/`KEY`; `None` means the default
    /// AWS chain (profile, web identity, instance role).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub session_token: Option<SecretString>,
}

impl S3Settings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let text = |r: &str| Ok(r.to_owned());
        let region = env.parse(&settings::AWS_REGION, || (DEFAULT_REGION.to_owned(), Origin::Default), text)?;
        let endpoint_s3 = env.optional(&settings::AWS_ENDPOINT_URL_S3, endpoint)?;
        let endpoint_any = env.optional(&settings::AWS_ENDPOINT_URL, endpoint)?;
        let access_key_id = env.optional(&settings::AWS_ACCESS_KEY_ID, text)?;
        let secret_access_key = env.optional(&settings::AWS_SECRET_ACCESS_KEY, text)?;
        let session_token = env.optional(&settings::AWS_SESSION_TOKEN, text)?;
        match (&access_key_id, &secret_access_key) {
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    var: settings::AWS_SECRET_ACCESS_KEY.name,
                    hint: "an access key id is set (AWS_ACCESS_KEY_ID or KEY) without its secret; set AWS_SECRET_ACCESS_KEY (or SECRET)",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    var: settings::AWS_ACCESS_KEY_ID.name,
                    hint: "a secret is set (AWS_SECRET_ACCESS_KEY or SECRET) without its access key id; set AWS_ACCESS_KEY_ID (or KEY)",
                })
            }
            _ => {}
        }
        Ok(Self {
            region,
            endpoint_url: endpoint_s3.or(endpoint_any),
            access_key_id,
            secret_access_key: secret_access_key.map(SecretString::from),
            session_token: session_token.map(SecretString::from),
        })
    }
}

fn endpoint(url: &str) -> Result<String, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= "https://".len() {
        return Err("not an http(s) URL".into());
    }
    Ok(url.to_owned())
}

impl DatasetUri {
    /// An S3 prefix or a local folder (ending in `/`): every object under it is loaded.
    pub fn is_prefix(&self) -> bool {
        match self {
            DatasetUri::S3 { key, .. } => key.is_empty() || key.ends_with('/'),
            DatasetUri::File(p) => p.as_os_str().to_string_lossy().ends_with('/'),
            DatasetUri::Bundled | DatasetUri::None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(byte_size("2G"), Ok(2 << 30));
        assert_eq!(byte_size("512m"), Ok(512 << 20));
        assert_eq!(byte_size("1000"), Ok(1000));
        assert_eq!(byte_size("64 K"), Ok(64 << 10));
        assert!(byte_size("0").is_err() && byte_size("2X").is_err() && byte_size("G").is_err());
        assert!(byte_size("99999999999T").is_err());
    }

    #[test]
    fn prefixes_end_with_a_slash() {
        let p = |s: &str| s.parse::<DatasetUri>().unwrap();
        assert!(p("s3://b/daily/").is_prefix());
        assert!(p("s3://b/").is_prefix());
        assert!(!p("s3://b/daily/part-0.csv").is_prefix());
        assert!(p("/data/parts/").is_prefix());
        assert!(!p("/data/parts.csv").is_prefix());
    }
}
