//! The `Schema Registry` group of settings: `VALUE_FORMAT`, `KEY_FORMAT`, the
//! registry's URL, credentials and CA, the subject strategy, auto-registration
//! and `VALUE_SCHEMA`. A registry format without `SCHEMA_REGISTRY_URL` is refused
//! here, before anything is loaded.

use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;

use crate::settings as s;
use crate::settings::env::{self as envp, ConfigError, Env, Origin, Show};

/// `VALUE_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueFormat {
    #[default]
    Json,
    Avro,
    JsonSchema,
    Protobuf,
}

impl ValueFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueFormat::Json => "json",
            ValueFormat::Avro => "avro",
            ValueFormat::JsonSchema => "json-schema",
            ValueFormat::Protobuf => "protobuf",
        }
    }

    /// The registry's `schemaType`.
    pub fn schema_type(self) -> &'static str {
        match self {
            ValueFormat::Json | ValueFormat::JsonSchema => "JSON",
            ValueFormat::Avro => "AVRO",
            ValueFormat::Protobuf => "PROTOBUF",
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "json" => Ok(ValueFormat::Json),
            "avro" => Ok(ValueFormat::Avro),
            "json-schema" | "json_schema" | "jsonschema" => Ok(ValueFormat::JsonSchema),
            "protobuf" | "proto" => Ok(ValueFormat::Protobuf),
            _ => Err("unknown format".into()),
        }
    }
}

impl Show for ValueFormat {
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

/// `KEY_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    #[default]
    String,
    Avro,
}

impl Show for KeyFormat {
    fn show(&self) -> String {
        match self {
            KeyFormat::String => "string",
            KeyFormat::Avro => "avro",
        }
        .to_owned()
    }
}

/// `SUBJECT_NAME_STRATEGY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectStrategy {
    #[default]
    Topic,
    Record,
    TopicRecord,
}

impl SubjectStrategy {
    /// The value's subject for `topic` and the schema's name (`None` for a
    /// schema without one: then only the topic strategy applies).
    pub fn value_subject(self, topic: &str, record: &str) -> String {
        match self {
            SubjectStrategy::Topic => format!("{topic}-value"),
            SubjectStrategy::Record => record.to_owned(),
            SubjectStrategy::TopicRecord => format!("{topic}-{record}"),
        }
    }
}

impl Show for SubjectStrategy {
    fn show(&self) -> String {
        match self {
            SubjectStrategy::Topic => "topic",
            SubjectStrategy::Record => "record",
            SubjectStrategy::TopicRecord => "topic_record",
        }
        .to_owned()
    }
}

/// Where `VALUE_SCHEMA` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaSource {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

impl fmt::Display for SchemaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaSource::File(p) => write!(f, "{}", p.display()),
            SchemaSource::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

impl Show for SchemaSource {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl SchemaSource {
    /// The file's name, without its folder.
    pub fn file_name(&self) -> String {
        match self {
            SchemaSource::File(p) => {
                p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
            }
            SchemaSource::S3 { key, .. } => key.rsplit('/').next().unwrap_or(key).to_owned(),
        }
    }

    /// Where `import` (a `.proto` import's path) is beside this file: in its
    /// folder, or under its key's prefix on S3.
    pub fn sibling(&self, import: &str) -> SchemaSource {
        match self {
            SchemaSource::File(p) => SchemaSource::File(p.parent().unwrap_or(std::path::Path::new("")).join(import)),
            SchemaSource::S3 { bucket, key } => {
                let prefix = key.rfind('/').map_or("", |at| &key[..=at]);
                SchemaSource::S3 { bucket: bucket.clone(), key: format!("{prefix}{import}") }
            }
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        if let Some(rest) = raw.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() && !key.ends_with('/') => {
                    Ok(SchemaSource::S3 { bucket: bucket.to_owned(), key: key.to_owned() })
                }
                _ => Err("it names no object (s3://bucket/key)".into()),
            };
        }
        let path = raw.strip_prefix("file://").unwrap_or(raw);
        if path.is_empty() || raw.contains("://") && !raw.starts_with("file://") {
            return Err("the scheme is not s3:// or file://".into());
        }
        Ok(SchemaSource::File(PathBuf::from(path)))
    }
}

/// The Schema Registry group, validated.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings {
    pub value_format: ValueFormat,
    pub key_format: KeyFormat,
    /// Without a trailing `/`.
    pub url: Option<String>,
    pub user_info: Option<SecretString>,
    pub ca_location: Option<PathBuf>,
    pub subject_strategy: SubjectStrategy,
    pub auto_register: bool,
    pub value_schema: Option<SchemaSource>,
    /// `VALUE_SCHEMA_MESSAGE`: the message of a `.proto` the values are.
    pub value_schema_message: Option<String>,
}

impl RegistrySettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let value_format = env.parse(&s::VALUE_FORMAT, || (ValueFormat::Json, Origin::Default), ValueFormat::parse)?;
        let key_format = env.parse(
            &s::KEY_FORMAT,
            || (KeyFormat::String, Origin::Default),
            |raw| match raw.to_ascii_lowercase().as_str() {
                "string" => Ok(KeyFormat::String),
                "avro" => Ok(KeyFormat::Avro),
                _ => Err("unknown format".into()),
            },
        )?;
        let url = env.optional(&s::SCHEMA_REGISTRY_URL, parse_url)?;
        let user_info = env.optional(&s::SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO, |raw| {
            if !raw.contains(':') {
                return Err("it has no `:` between the user and the password".into());
            }
            Ok(Secret(SecretString::from(raw.to_owned())))
        })?;
        let ca_location = env.optional(&s::SCHEMA_REGISTRY_SSL_CA_LOCATION, |raw| Ok(ShownPath(PathBuf::from(raw))))?;
        let subject_strategy = env.parse(
            &s::SUBJECT_NAME_STRATEGY,
            || (SubjectStrategy::Topic, Origin::Default),
            |raw| match raw.to_ascii_lowercase().as_str() {
                "topic" | "topicnamestrategy" => Ok(SubjectStrategy::Topic),
                "record" | "recordnamestrategy" => Ok(SubjectStrategy::Record),
                "topic_record" | "topicrecordnamestrategy" => Ok(SubjectStrategy::TopicRecord),
                _ => Err("unknown strategy".into()),
            },
        )?;
        let auto_register = env.parse(&s::SCHEMA_AUTO_REGISTER, || (true, Origin::Default), envp::boolean)?;
        let value_schema = env.optional(&s::VALUE_SCHEMA, SchemaSource::parse)?;
        let value_schema_message = env.optional(&s::VALUE_SCHEMA_MESSAGE, |raw| {
            let name = raw.trim().trim_start_matches('.');
            let ident = |part: &str| {
                part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            };
            match name.split('.').all(ident) {
                true => Ok(name.to_owned()),
                false => Err("it is not a message name (Name, or package.Name for a full name)".into()),
            }
        })?;
        let settings = RegistrySettings {
            value_format,
            key_format,
            url,
            user_info: user_info.map(|s| s.0),
            ca_location: ca_location.map(|p| p.0),
            subject_strategy,
            auto_register,
            value_schema,
            value_schema_message,
        };
        if settings.uses_registry() && settings.url.is_none() {
            return Err(ConfigError::Missing {
                var: s::SCHEMA_REGISTRY_URL.name,
                hint:
                    "VALUE_FORMAT=avro, json-schema or protobuf (or KEY_FORMAT=avro) registers its schema in a Schema Registry; \
                       set SCHEMA_REGISTRY_URL (e.g. http://schema-registry:8081), or VALUE_FORMAT=json",
            });
        }
        // A template's key is its `key` member (checked once it renders).
        if key_format == KeyFormat::Avro && !env.is_set(&s::MESSAGE_KEY_FIELD) && !env.is_set(&s::MESSAGE_TEMPLATE) {
            return Err(ConfigError::Missing {
                var: s::MESSAGE_KEY_FIELD.name,
                hint: "KEY_FORMAT=avro writes each message's key, and without MESSAGE_KEY_FIELD (or a MESSAGE_TEMPLATE with a key) messages have none: set it, or KEY_FORMAT=string",
            });
        }
        if settings.value_schema.is_some() && !auto_register {
            return Err(ConfigError::Conflict {
                first: s::VALUE_SCHEMA.name,
                second: s::SCHEMA_AUTO_REGISTER.name,
                hint: "with SCHEMA_AUTO_REGISTER=false the schema is the subject's latest version in the registry: unset VALUE_SCHEMA, or set SCHEMA_AUTO_REGISTER=true",
            });
        }
        if settings.value_schema.is_some() && settings.value_format == ValueFormat::Json {
            return Err(ConfigError::Conflict {
                first: s::VALUE_SCHEMA.name,
                second: s::VALUE_FORMAT.name,
                hint: "VALUE_SCHEMA is the schema of VALUE_FORMAT avro, json-schema or protobuf; with json (the default) no schema is used: set VALUE_FORMAT or unset VALUE_SCHEMA",
            });
        }
        if settings.value_schema_message.is_some() && settings.value_format != ValueFormat::Protobuf {
            return Err(ConfigError::Conflict {
                first: s::VALUE_SCHEMA_MESSAGE.name,
                second: s::VALUE_FORMAT.name,
                hint: "VALUE_SCHEMA_MESSAGE names the message of a .proto, which only VALUE_FORMAT=protobuf uses: set VALUE_FORMAT=protobuf or unset VALUE_SCHEMA_MESSAGE",
            });
        }
        Ok(settings)
    }

    /// Whether anything is registered (a registry format for values or keys).
    pub fn uses_registry(&self) -> bool {
        self.value_format != ValueFormat::Json || self.key_format == KeyFormat::Avro
    }
}

fn parse_url(raw: &str) -> Result<String, String> {
    let rest = raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"))
        .ok_or_else(|| "the scheme is not http:// or https://".to_owned())?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if host.contains('@') {
        return Err("credentials go in SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO, not the URL".into());
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// A secret as the effective-configuration line shows it (the table marks it secret).
struct Secret(SecretString);

impl Show for Secret {
    fn show(&self) -> String {
        crate::settings::REDACTED.to_owned()
    }
}

struct ShownPath(PathBuf);

impl Show for ShownPath {
    fn show(&self) -> String {
        self.0.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<RegistrySettings, ConfigError> {
        RegistrySettings::from_env(&Env::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap())
    }

    #[test]
    fn an_import_is_beside_the_schema_in_its_folder_or_under_its_prefix() {
        let file = SchemaSource::parse("file:///schemas/shop/orders.proto").unwrap();
        assert_eq!(file.file_name(), "orders.proto");
        assert_eq!(file.sibling("common/money.proto").to_string(), "/schemas/shop/common/money.proto");
        let s3 = SchemaSource::parse("s3://bucket/schemas/orders.proto").unwrap();
        assert_eq!(s3.file_name(), "orders.proto");
        assert_eq!(s3.sibling("common/money.proto").to_string(), "s3://bucket/schemas/common/money.proto");
        let top = SchemaSource::parse("s3://bucket/orders.proto").unwrap();
        assert_eq!(top.sibling("money.proto").to_string(), "s3://bucket/money.proto");
        assert_eq!(SchemaSource::parse("orders.proto").unwrap().sibling("m.proto").to_string(), "m.proto");
    }

    #[test]
    fn unset_is_plain_json_and_no_registry() {
        let r = settings(&[]).unwrap();
        assert_eq!((r.value_format, r.key_format, r.auto_register), (ValueFormat::Json, KeyFormat::String, true));
        assert!(!r.uses_registry());
    }

    #[test]
    fn every_variable_is_read() {
        let r = settings(&[
            ("VALUE_FORMAT", "json-schema"),
            ("KEY_FORMAT", "avro"),
            ("MESSAGE_KEY_FIELD", "id"),
            ("SCHEMA_REGISTRY_URL", "https://sr.example:8081/"),
            ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "key:secret"),
            ("SCHEMA_REGISTRY_SSL_CA_LOCATION", "/etc/ca.pem"),
            ("SUBJECT_NAME_STRATEGY", "topic_record"),
            ("SCHEMA_AUTO_REGISTER", "false"),
        ])
        .unwrap();
        assert_eq!(r.value_format, ValueFormat::JsonSchema);
        assert_eq!(r.url.as_deref(), Some("https://sr.example:8081"));
        assert_eq!(r.subject_strategy, SubjectStrategy::TopicRecord);
        assert!(!r.auto_register);
        let r = settings(&[
            ("VALUE_FORMAT", "avro"),
            ("SCHEMA_REGISTRY_URL", "http://sr"),
            ("VALUE_SCHEMA", "s3://schemas/t.avsc"),
        ])
        .unwrap();
        assert_eq!(r.value_schema, Some(SchemaSource::S3 { bucket: "schemas".into(), key: "t.avsc".into() }));
        assert_eq!(SubjectStrategy::TopicRecord.value_subject("tx", "ns.Tx"), "tx-ns.Tx");
    }

    #[test]
    fn a_registry_format_without_a_url_names_both_variables() {
        for vars in [&[("VALUE_FORMAT", "avro")][..], &[("KEY_FORMAT", "avro")][..]] {
            let e = settings(vars).unwrap_err();
            assert_eq!(e.to_string().matches("SCHEMA_REGISTRY_URL").count(), 2, "{e}");
            assert!(e.to_string().contains("VALUE_FORMAT"), "{e}");
        }
    }

    #[test]
    fn bad_values_name_the_variable_and_never_show_a_secret() {
        let e = settings(&[("VALUE_FORMAT", "protobuf")]).unwrap_err().to_string();
        assert!(e.starts_with("SCHEMA_REGISTRY_URL is not set"), "{e}");
        assert!(e.contains("protobuf"), "{e}");
        let e = settings(&[("VALUE_FORMAT", "xml")]).unwrap_err().to_string();
        assert!(e.starts_with("VALUE_FORMAT=\"xml\" is invalid: unknown format"), "{e}");
        let e =
            settings(&[("VALUE_FORMAT", "avro"), ("SCHEMA_REGISTRY_URL", "http://sr"), ("VALUE_SCHEMA_MESSAGE", "T")])
                .unwrap_err()
                .to_string();
        assert!(e.starts_with("VALUE_SCHEMA_MESSAGE and VALUE_FORMAT are both set"), "{e}");
        let proto = [("VALUE_FORMAT", "protobuf"), ("SCHEMA_REGISTRY_URL", "http://sr")];
        let e = settings(&[&proto[..], &[("VALUE_SCHEMA_MESSAGE", "a b")]].concat()).unwrap_err().to_string();
        assert!(e.starts_with("VALUE_SCHEMA_MESSAGE=\"a b\" is invalid"), "{e}");
        let r = settings(&[&proto[..], &[("VALUE_SCHEMA_MESSAGE", ".shop.Tx")]].concat()).unwrap();
        assert_eq!((r.value_format.schema_type(), r.value_schema_message.as_deref()), ("PROTOBUF", Some("shop.Tx")));
        let e = settings(&[("SCHEMA_REGISTRY_URL", "sr:8081")]).unwrap_err().to_string();
        assert!(e.starts_with("SCHEMA_REGISTRY_URL=\"sr:8081\" is invalid: the scheme"), "{e}");
        let e = settings(&[("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "hunter2")]).unwrap_err().to_string();
        assert!(e.contains("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=\"***\""), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = settings(&[("VALUE_SCHEMA", "/s.avsc")]).unwrap_err().to_string();
        assert!(e.contains("VALUE_SCHEMA and VALUE_FORMAT"), "{e}");
        let registry = [("VALUE_FORMAT", "avro"), ("SCHEMA_REGISTRY_URL", "http://sr")];
        assert!(
            settings(&[&registry[..], &[("DATASET_RELOAD_INTERVAL", "60")]].concat()).is_ok(),
            "reloads are checked"
        );
        assert!(
            settings(&[&registry[..], &[("MESSAGE_TEMPLATE", "t.json")]].concat()).is_ok(),
            "templates are encoded"
        );
        let proto = [("VALUE_FORMAT", "protobuf"), ("SCHEMA_REGISTRY_URL", "http://sr")];
        assert!(settings(&[&proto[..], &[("MESSAGE_TEMPLATE", "t.json")]].concat()).is_ok(), "renders are encoded");
        assert!(settings(&[&proto[..], &[("DATASET_RELOAD_INTERVAL", "60")]].concat()).is_ok(), "reloads are encoded");
        let key = [("VALUE_FORMAT", "json"), ("KEY_FORMAT", "avro"), ("SCHEMA_REGISTRY_URL", "http://r:8081")];
        let r = settings(&[&key[..], &[("MESSAGE_TEMPLATE", "t.json")]].concat()).unwrap();
        assert_eq!(r.key_format, KeyFormat::Avro, "the template's key, without MESSAGE_KEY_FIELD");
        let e = settings(&[&registry[..], &[("KEY_FORMAT", "avro")]].concat()).unwrap_err().to_string();
        assert!(e.starts_with("MESSAGE_KEY_FIELD is not set"), "{e}");
        let e = settings(&[&registry[..], &[("VALUE_SCHEMA", "s.avsc"), ("SCHEMA_AUTO_REGISTER", "false")]].concat())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("VALUE_SCHEMA and SCHEMA_AUTO_REGISTER are both set"), "{e}");
    }
}
