//! The `Messages` group of settings: `MESSAGE_KEY_FIELD`, `MESSAGE_FIELDS` and
//! `MESSAGE_HEADERS` (`RANDOM_SEED`, shared with the sampler and the pacing
//! layer, is read with the pacing settings). Whether the key names a column is
//! only known once the dataset is loaded ([`super::MessageBuilder::new`] checks it).

use crate::settings as s;
use crate::settings::env::{ConfigError, Env, Origin, Show, UNSET};

use super::{parse_fields, parse_headers, Assignment, MessageSpec};

/// What the messages should carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageSettings {
    pub spec: MessageSpec,
    /// `MESSAGE_TEMPLATE`: instead of `spec`.
    pub template: Option<super::template::TemplateSource>,
}

impl MessageSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let key_field = env.optional(&s::MESSAGE_KEY_FIELD, |raw| Ok(raw.to_owned()))?;
        let list = |setting, parse: fn(&str) -> Result<Vec<Assignment>, super::SpecError>| {
            env.parse(setting, || (Vec::new(), Origin::Default), |raw| parse(raw).map_err(|e| e.to_string()))
        };
        let fields = list(&s::MESSAGE_FIELDS, parse_fields)?;
        let headers = list(&s::MESSAGE_HEADERS, parse_headers)?;
        let template = env.optional(&s::MESSAGE_TEMPLATE, super::template::parse_setting)?;
        if template.is_some() {
            for other in [&s::MESSAGE_FIELDS, &s::MESSAGE_KEY_FIELD, &s::MESSAGE_HEADERS] {
                if env.is_set(other) {
                    return Err(ConfigError::Conflict {
                        first: s::MESSAGE_TEMPLATE.name,
                        second: other.name,
                        hint: "the template describes the whole message (its key, headers and generated values); unset one",
                    });
                }
            }
        }
        Ok(Self { spec: MessageSpec { key_field, fields, headers }, template })
    }

    /// What a template needs from the other groups: `DATASET_URI=none` needs a
    /// template and cannot be replayed.
    pub fn check_with(
        &self,
        dataset: &crate::dataset::source::DatasetSettings,
        replay: bool,
    ) -> Result<(), ConfigError> {
        let none = matches!(dataset.uri, crate::dataset::source::DatasetUri::None);
        if none && self.template.is_none() {
            return Err(ConfigError::Missing {
                var: s::MESSAGE_TEMPLATE.name,
                hint:
                    "DATASET_URI=none sends messages made from a template alone; set MESSAGE_TEMPLATE or a DATASET_URI",
            });
        }
        if none && replay {
            return Err(ConfigError::Conflict {
                first: s::REPLAY_TIME_FIELD.name,
                second: s::DATASET_URI.name,
                hint: "a replay sends a dataset's records in time order and DATASET_URI=none has none; choose a rate or interval pacing, or a dataset",
            });
        }
        Ok(())
    }
}

impl Show for Vec<Assignment> {
    fn show(&self) -> String {
        if self.is_empty() {
            return UNSET.to_owned();
        }
        self.iter().map(|a| format!("{}={}", a.name, a.value)).collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Generator;

    fn settings(vars: &[(&str, &str)]) -> Result<MessageSettings, ConfigError> {
        MessageSettings::from_env(&Env::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap())
    }

    #[test]
    fn unset_is_plain_messages() {
        assert_eq!(settings(&[]).unwrap(), MessageSettings::default());
    }

    #[test]
    fn every_variable_is_read() {
        let m = settings(&[
            ("MESSAGE_KEY_FIELD", "transaction_id"),
            ("MESSAGE_FIELDS", "transaction_id=uuid(),timestamp=now()"),
            ("MESSAGE_HEADERS", "source=feeder"),
        ])
        .unwrap();
        assert_eq!(m.spec.key_field.as_deref(), Some("transaction_id"));
        assert_eq!(m.spec.fields.len(), 2);
        assert_eq!(m.spec.headers[0].value, Generator::Const("feeder".into()));
    }

    #[test]
    fn errors_name_the_variable_the_value_the_problem_and_what_is_accepted() {
        let e = settings(&[("MESSAGE_FIELDS", "id=uuid4()")]).unwrap_err().to_string();
        assert_eq!(
            e,
            "MESSAGE_FIELDS=\"id=uuid4()\" is invalid: `id=uuid4()`: unknown generator; expected name=value[,name=value...] \
             with values uuid(), now(), now_ms(), now_s(), seq() or a constant string (\\, for a comma in it)"
        );
        let e = settings(&[("MESSAGE_HEADERS", "at=now()")]).unwrap_err().to_string();
        assert!(e.starts_with("MESSAGE_HEADERS=\"at=now()\" is invalid: `at=now()`: headers take now_ms()"), "{e}");
        let e = settings(&[("MESSAGE_FIELDS", "id")]).unwrap_err().to_string();
        assert!(e.starts_with("MESSAGE_FIELDS=\"id\" is invalid: `id` has no `=`;"), "{e}");
    }

    #[test]
    fn lists_are_shown_normalized() {
        let env = Env::from_vars([("MESSAGE_FIELDS", " id = uuid() , src = feeder ")]).unwrap();
        MessageSettings::from_env(&env).unwrap();
        let shown = env.effective();
        assert!(shown.contains(&("MESSAGE_FIELDS", "id=uuid(),src=feeder".to_owned(), Origin::Variable)), "{shown:?}");
        assert!(shown.contains(&("MESSAGE_HEADERS", "unset".to_owned(), Origin::Default)), "{shown:?}");
    }

    #[test]
    fn a_template_excludes_the_other_message_settings_and_names_both() {
        let t = ("MESSAGE_TEMPLATE", r#"{"value": {"id": "{{ uuid() }}"}}"#);
        assert!(matches!(settings(&[t]).unwrap().template, Some(crate::message::template::TemplateSource::Inline(_))));
        for other in ["MESSAGE_FIELDS", "MESSAGE_KEY_FIELD", "MESSAGE_HEADERS"] {
            let e = settings(&[t, (other, "a=b")]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("MESSAGE_TEMPLATE and {other} are both set: ")), "{e}");
        }
        let e = settings(&[("MESSAGE_TEMPLATE", r#"{"value": "{{ a + }}"}"#)]).unwrap_err().to_string();
        assert!(e.starts_with("MESSAGE_TEMPLATE=\"{\\\"value\\\": \\\"{{ a + }}\\\"}\" is invalid: MESSAGE_TEMPLATE member value: expression `a +`: syntax error"), "{e}");
    }

    #[test]
    fn a_synthetic_run_needs_a_template_and_no_replay() {
        let cfg = |vars: &[(&str, &str)]| {
            let mut all = vec![("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")];
            all.extend_from_slice(vars);
            crate::settings::config::Config::from_vars(all.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        };
        let t = ("MESSAGE_TEMPLATE", r#"{"value": 1}"#);
        assert!(cfg(&[("DATASET_URI", "none"), t]).is_ok());
        let e = cfg(&[("DATASET_URI", "none")]).unwrap_err();
        assert_eq!(
            (e.to_string().starts_with("MESSAGE_TEMPLATE is not set: DATASET_URI=none"), ConfigError::EXIT_CODE),
            (true, 2),
            "{e}"
        );
        let e = cfg(&[("DATASET_URI", "none"), t, ("REPLAY_TIME_FIELD", "ts")]).unwrap_err().to_string();
        assert!(e.starts_with("REPLAY_TIME_FIELD and DATASET_URI are both set: a replay"), "{e}");
        assert!(cfg(&[t, ("DATASET_RELOAD_INTERVAL", "60")]).is_ok(), "a templated dataset reloads");
    }
}
