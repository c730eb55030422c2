//! The Schema Registry's REST API (Confluent's, which Karapace, Redpanda and
//! Apicurio's ccompat layer also serve): register a schema, read a subject's
//! latest version, test compatibility, read the compatibility level.
//!
//! Calls go through hyper and rustls (with aws-lc-rs and the system's roots
//! plus `SCHEMA_REGISTRY_SSL_CA_LOCATION`), the HTTP stack the AWS SDK brings.
//! Failures are classified: a refused connection, a timeout or a 5xx is
//! retried with backoff for `DATASET_RETRY_TIMEOUT` (a registry that starts
//! after the daemon is waited for) and then is [`RegistryError::Unreachable`],
//! naming the URL; 401/403 names the credentials variable; 409 gives the
//! subject, the compatibility level and the registry's message.

use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::exit;
use crate::message::registry::config::RegistrySettings;
use crate::observe::events;

const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// One request's limit: a registry that accepts the connection and never answers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the Schema Registry at {url} stayed unreachable for {waited_s:.0} s (DATASET_RETRY_TIMEOUT): {cause}; check SCHEMA_REGISTRY_URL and the network, or raise DATASET_RETRY_TIMEOUT")]
    Unreachable { url: String, waited_s: f64, cause: String },
    #[error("the Schema Registry at {url} refused the credentials (HTTP {status}): {message}; check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO")]
    Refused { url: String, status: u16, message: String },
    #[error("the Schema Registry refused the schema for subject {subject}: it is not compatible (compatibility level {level}): {message}")]
    Incompatible { subject: String, level: String, message: String },
    #[error("the Schema Registry refused the schema for subject {subject} as invalid: {message}")]
    InvalidSchema { subject: String, message: String },
    #[error("SCHEMA_AUTO_REGISTER=false, and subject {subject} has no schema in the Schema Registry at {url}; register one, or set SCHEMA_AUTO_REGISTER=true")]
    NoSubject { subject: String, url: String },
    #[error("the Schema Registry at {url} answered {what} with HTTP {status}: {message}")]
    Unexpected { url: String, what: String, status: u16, message: String },
    #[error("cannot use SCHEMA_REGISTRY_SSL_CA_LOCATION={path}: {cause}")]
    Ca { path: String, cause: String },
}

impl RegistryError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RegistryError::Unreachable { .. } => exit::REGISTRY_UNREACHABLE,
            RegistryError::Refused { .. } => exit::ACCESS_DENIED,
            RegistryError::Unexpected { .. } => exit::REGISTRY_UNREACHABLE,
            RegistryError::Incompatible { .. }
            | RegistryError::InvalidSchema { .. }
            | RegistryError::NoSubject { .. }
            | RegistryError::Ca { .. } => exit::CONFIG,
        }
    }
}

/// A subject's version as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub id: u32,
    pub schema: String,
    /// `AVRO`, `JSON` or `PROTOBUF` (the registry omits it for Avro).
    pub schema_type: String,
    /// The schemas it imports (a `.proto`'s imports), each a subject's version.
    pub references: Vec<Reference>,
}

/// A schema to register, look up or test.
#[derive(Debug, Clone, Copy)]
pub struct Submitted<'a> {
    pub schema: &'a str,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub schema_type: &'a str,
    /// The schemas it imports.
    pub references: &'a [Reference],
}

impl Submitted<'_> {
    /// As the registry takes it: `schemaType` left out for Avro (the
    /// default), `references` when there are some.
    fn body(&self) -> Value {
        let mut body = json!({ "schema": self.schema });
        if self.schema_type != "AVRO" {
            body["schemaType"] = json!(self.schema_type);
        }
        if !self.references.is_empty() {
            body["references"] = json!(self.references);
        }
        body
    }
}

/// A schema reference: the file a `.proto` imports (`name`, its import path)
/// held as version `version` of `subject`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

/// What a compatibility test said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compatibility {
    /// The subject has no version yet: anything may be registered.
    NewSubject,
    Compatible,
    Incompatible {
        level: String,
        messages: Vec<String>,
    },
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client for one registry.
#[derive(Clone)]
pub struct RegistryClient {
    url: String,
    auth: Option<HeaderValue>,
    http: Client<Https, Full<Bytes>>,
    retry_timeout: Duration,
}

/// One attempt's failure: worth another try, or final.
enum Attempt {
    Retry(String),
    Fatal(RegistryError),
}

impl RegistryClient {
    /// A client for `settings.url` (which must be set); transient failures are
    /// retried for `retry_timeout`.
    pub fn new(settings: &RegistrySettings, retry_timeout: Duration) -> Result<Self, RegistryError> {
        let url = settings.url.clone().unwrap_or_default();
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system certificates are skipped, as every TLS client does.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = &settings.ca_location {
            use rustls_pki_types::pem::PemObject;
            let shown = path.display().to_string();
            let ca_err = |cause: String| RegistryError::Ca { path: shown.clone(), cause };
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| ca_err(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ca_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("it holds no PEM certificate".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| RegistryError::Ca { path: "(TLS setup)".into(), cause: e.to_string() })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        let http = Client::builder(TokioExecutor::new()).build(connector);
        let auth = settings.user_info.as_ref().map(|u| {
            let token = base64::engine::general_purpose::STANDARD.encode(u.expose_secret());
            let mut v = HeaderValue::from_str(&format!("Basic {token}")).unwrap_or(HeaderValue::from_static(""));
            v.set_sensitive(true);
            v
        });
        Ok(Self { url, auth, http, retry_timeout })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Registers `schema` under `subject`, or finds it registered, and returns its id.
    pub async fn register(
        &self,
        subject: &str,
        schema: &Submitted<'_>,
        shutdown: &CancellationToken,
    ) -> Result<u32, RegistryError> {
        let body = schema.body();
        let path = format!("/subjects/{}/versions", encode(subject));
        let (status, answer) = self.call(Method::POST, &path, Some(&body), shutdown).await?;
        match status {
            StatusCode::OK => id_of(&answer).ok_or_else(|| self.unexpected("the registration", status, &answer)),
            StatusCode::CONFLICT => {
                let level = self.level(subject, shutdown).await.unwrap_or_else(|_| "unknown".into());
                Err(RegistryError::Incompatible { subject: subject.into(), level, message: message(&answer) })
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                Err(RegistryError::InvalidSchema { subject: subject.into(), message: message(&answer) })
            }
            _ => Err(self.unexpected("the registration", status, &answer)),
        }
    }

    /// The subject's latest version; `None` when the subject has none.
    pub async fn latest(
        &self,
        subject: &str,
        shutdown: &CancellationToken,
    ) -> Result<Option<Registered>, RegistryError> {
        self.version(subject, "latest", shutdown).await
    }

    /// Version `version` (a number or `latest`) of the subject; `None` when it has no such version.
    pub async fn version(
        &self,
        subject: &str,
        version: &str,
        shutdown: &CancellationToken,
    ) -> Result<Option<Registered>, RegistryError> {
        let path = format!("/subjects/{}/versions/{}", encode(subject), encode(version));
        let what = format!("version {version} of subject {subject}");
        let (status, answer) = self.call(Method::GET, &path, None, shutdown).await?;
        match status {
            StatusCode::OK => {
                let id = id_of(&answer).ok_or_else(|| self.unexpected(&what, status, &answer))?;
                let schema = answer["schema"].as_str().unwrap_or_default().to_owned();
                let schema_type = answer["schemaType"].as_str().unwrap_or("AVRO").to_owned();
                let references = serde_json::from_value(answer["references"].clone()).unwrap_or_default();
                Ok(Some(Registered { id, schema, schema_type, references }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.unexpected(&what, status, &answer)),
        }
    }

    /// The version of `subject` that holds `schema` (with its references);
    /// `None` when none does (or the subject has no version).
    pub async fn lookup(
        &self,
        subject: &str,
        schema: &Submitted<'_>,
        shutdown: &CancellationToken,
    ) -> Result<Option<u32>, RegistryError> {
        let path = format!("/subjects/{}", encode(subject));
        let body = schema.body();
        let (status, answer) = self.call(Method::POST, &path, Some(&body), shutdown).await?;
        match status {
            StatusCode::OK => match answer["version"].as_u64().and_then(|v| u32::try_from(v).ok()) {
                Some(version) => Ok(Some(version)),
                None => Err(self.unexpected("the schema lookup", status, &answer)),
            },
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::UNPROCESSABLE_ENTITY => {
                Err(RegistryError::InvalidSchema { subject: subject.into(), message: message(&answer) })
            }
            _ => Err(self.unexpected("the schema lookup", status, &answer)),
        }
    }

    /// Whether `schema` could be registered under `subject` now.
    pub async fn compatibility(
        &self,
        subject: &str,
        schema: &Submitted<'_>,
        shutdown: &CancellationToken,
    ) -> Result<Compatibility, RegistryError> {
        let body = schema.body();
        let path = format!("/compatibility/subjects/{}/versions/latest?verbose=true", encode(subject));
        let (status, answer) = self.call(Method::POST, &path, Some(&body), shutdown).await?;
        match status {
            StatusCode::OK if answer["is_compatible"].as_bool() == Some(true) => Ok(Compatibility::Compatible),
            StatusCode::OK => {
                let messages = match &answer["messages"] {
                    Value::Array(m) => {
                        m.iter().map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned)).collect()
                    }
                    _ => Vec::new(),
                };
                let level = self.level(subject, shutdown).await.unwrap_or_else(|_| "unknown".into());
                Ok(Compatibility::Incompatible { level, messages })
            }
            StatusCode::NOT_FOUND => Ok(Compatibility::NewSubject),
            StatusCode::UNPROCESSABLE_ENTITY => {
                Err(RegistryError::InvalidSchema { subject: subject.into(), message: message(&answer) })
            }
            _ => Err(self.unexpected("the compatibility test", status, &answer)),
        }
    }

    /// A compatibility test's failure as the registration would give it.
    pub async fn compatible(
        &self,
        subject: &str,
        schema: &Submitted<'_>,
        shutdown: &CancellationToken,
    ) -> Result<(), RegistryError> {
        match self.compatibility(subject, schema, shutdown).await? {
            Compatibility::NewSubject | Compatibility::Compatible => Ok(()),
            Compatibility::Incompatible { level, messages } => {
                Err(RegistryError::Incompatible { subject: subject.into(), level, message: messages.join("; ") })
            }
        }
    }

    /// The subject's compatibility level (its own, else the registry's).
    pub async fn level(&self, subject: &str, shutdown: &CancellationToken) -> Result<String, RegistryError> {
        for path in [format!("/config/{}", encode(subject)), "/config".to_owned()] {
            let (status, answer) = self.call(Method::GET, &path, None, shutdown).await?;
            if let (StatusCode::OK, Some(level)) = (status, answer["compatibilityLevel"].as_str()) {
                return Ok(level.to_owned());
            }
        }
        Ok("unknown".into())
    }

    fn unexpected(&self, what: &str, status: StatusCode, answer: &Value) -> RegistryError {
        RegistryError::Unexpected {
            url: self.url.clone(),
            what: what.into(),
            status: status.as_u16(),
            message: message(answer),
        }
    }

    /// One call, retried while the failure is transient and the budget lasts.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        shutdown: &CancellationToken,
    ) -> Result<(StatusCode, Value), RegistryError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(250);
        loop {
            let attempt = tokio::select! {
                r = self.attempt(method.clone(), path, body) => r,
                () = shutdown.cancelled() => Err(Attempt::Retry("stopped by a signal".into())),
            };
            let cause = match attempt {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(cause)) => cause,
            };
            let waited = started.elapsed();
            if shutdown.is_cancelled() || waited + backoff > self.retry_timeout {
                return Err(RegistryError::Unreachable {
                    url: self.url.clone(),
                    waited_s: waited.as_secs_f64(),
                    cause,
                });
            }
            events::registry_retry(&self.url, &cause, waited, self.retry_timeout, backoff);
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn attempt(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(StatusCode, Value), Attempt> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url))
            .header(ACCEPT, MEDIA_TYPE)
            .header(CONTENT_TYPE, MEDIA_TYPE);
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let request = request.body(Full::new(body)).map_err(|e| {
            Attempt::Fatal(RegistryError::Unexpected {
                url: self.url.clone(),
                what: path.into(),
                status: 0,
                message: e.to_string(),
            })
        })?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| error_chain(&e))?;
            let status = response.status();
            let bytes = response.into_body().collect().await.map_err(|e| error_chain(&e))?.to_bytes();
            Ok::<_, String>((status, bytes))
        };
        let (status, bytes) = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Err(_) => return Err(Attempt::Retry(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))),
            Ok(Err(cause)) => return Err(Attempt::Retry(cause)),
            Ok(Ok(answer)) => answer,
        };
        let answer: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).chars().take(200).collect()));
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Attempt::Retry(format!("HTTP {status}: {}", message(&answer))));
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Attempt::Fatal(RegistryError::Refused {
                url: self.url.clone(),
                status: status.as_u16(),
                message: message(&answer),
            }));
        }
        Ok((status, answer))
    }
}

fn id_of(answer: &Value) -> Option<u32> {
    answer["id"].as_u64().and_then(|id| u32::try_from(id).ok())
}

/// The registry's error message (`{"error_code": 409, "message": "..."}`), or the body.
fn message(answer: &Value) -> String {
    match answer {
        Value::Object(o) => o.get("message").and_then(Value::as_str).map_or_else(|| answer.to_string(), str::to_owned),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A subject in a URL path: unreserved characters as they are, the rest %-encoded.
fn encode(subject: &str) -> String {
    subject
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An error and its causes, on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_encoded_for_the_path() {
        assert_eq!(encode("tx-value"), "tx-value");
        assert_eq!(encode("kafka_feeder.tx"), "kafka_feeder.tx");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn a_ca_file_that_holds_no_certificate_is_a_configuration_error_naming_it() {
        let settings = |path: &std::path::Path| RegistrySettings {
            url: Some("https://sr.example".into()),
            ca_location: Some(path.to_owned()),
            ..RegistrySettings::default()
        };
        let missing = std::path::Path::new("/nonexistent/ca.pem");
        let e = RegistryClient::new(&settings(missing), Duration::ZERO).err().expect("no such file");
        assert!(e.to_string().starts_with("cannot use SCHEMA_REGISTRY_SSL_CA_LOCATION=/nonexistent/ca.pem:"), "{e}");
        assert_eq!(e.exit_code(), exit::CONFIG);
        let empty = tempfile::NamedTempFile::new().unwrap();
        let e = RegistryClient::new(&settings(empty.path()), Duration::ZERO).err().expect("no certificate");
        assert!(e.to_string().ends_with("it holds no PEM certificate"), "{e}");
        // The system's roots alone make a client.
        let ok = RegistrySettings { url: Some("https://sr.example".into()), ..RegistrySettings::default() };
        assert!(RegistryClient::new(&ok, Duration::ZERO).is_ok());
    }

    #[test]
    fn a_schema_is_sent_with_its_type_unless_avro_and_its_references_if_any() {
        let none = Submitted { schema: "\"long\"", schema_type: "AVRO", references: &[] };
        assert_eq!(none.body(), json!({"schema": "\"long\""}));
        let r = [Reference { name: "common/m.proto".into(), subject: "common/m.proto".into(), version: 3 }];
        let proto = Submitted { schema: "syntax = \"proto3\";", schema_type: "PROTOBUF", references: &r };
        assert_eq!(
            proto.body(),
            json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF",
                   "references": [{"name": "common/m.proto", "subject": "common/m.proto", "version": 3}]})
        );
    }

    #[test]
    fn the_registrys_message_is_quoted() {
        assert_eq!(message(&json!({"error_code": 409, "message": "Incompatible"})), "Incompatible");
        assert_eq!(message(&json!("plain text")), "plain text");
    }
}
