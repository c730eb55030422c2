//! The raw environment and the typed parse helpers every group's parse
//! function uses.
//!
//! envy reads the variables (names are matched case-insensitively, as envy
//! always did here); [`Env`] looks a [`Setting`] up under its name and aliases,
//! parses it with a typed function, and turns a failure into a [`ConfigError`]
//! that names the variable, the value and the setting's accepted text. Every
//! value it resolves is recorded with its [`Origin`], which is all the
//! effective-configuration line needs.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::settings::{self, Setting, REDACTED};

/// A configuration error: names the variable, the value given (unless secret) and
/// what is accepted. All of them exit with code 2.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var}={value:?} is invalid: {problem}; expected {accepted}")]
    Invalid { var: String, value: String, problem: String, accepted: String },
    #[error("MIN_RECORDS_PER_BATCH={min} is greater than MAX_RECORDS_PER_BATCH={max}; set MIN_RECORDS_PER_BATCH <= MAX_RECORDS_PER_BATCH")]
    MinAboveMax { min: u32, max: u32 },
    #[error("{first} and {second} are both set: {hint}")]
    Conflict { first: &'static str, second: &'static str, hint: &'static str },
    #[error("could not read the environment: {0}")]
    Unreadable(String),
}

impl ConfigError {
    pub const EXIT_CODE: i32 = crate::exit::CONFIG;
}

/// Where a setting's value came from, shown in the effective-configuration log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Variable,
    Preset,
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Variable => "env",
            Origin::Preset => "preset",
            Origin::Default => "default",
        })
    }
}

/// The variables as read, and what parsing made of each setting.
#[derive(Debug, Default)]
pub struct Env {
    /// Lowercased names (envy's convention) to values.
    vars: BTreeMap<String, String>,
    /// Setting name → (shown value, origin), filled as settings are parsed.
    shown: RefCell<BTreeMap<&'static str, (String, Origin)>>,
}

impl Env {
    /// Reads the process environment.
    pub fn from_process() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| {
            // A non-UTF-8 value can only be reported if its variable is one of ours.
            let k = k.into_string().ok()?;
            Some((k, v.into_string().unwrap_or_else(|_| "\u{FFFD}".to_owned())))
        }))
    }

    /// Reads any set of variables (tests pass their own). The last value of a
    /// repeated variable wins, as in a shell.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: Vec<(String, String)> = vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let vars: BTreeMap<String, String> =
            envy::from_iter(vars).map_err(|e| ConfigError::Unreadable(e.to_string()))?;
        Ok(Self { vars, shown: RefCell::default() })
    }

    /// The value of `s` under its name or the first alias set, with the name
    /// it was found under; blank values count as unset.
    pub fn get(&self, s: &Setting) -> Option<(&'static str, &str)> {
        std::iter::once(&s.name).chain(s.aliases).find_map(|n| {
            self.vars.get(&n.to_ascii_lowercase()).filter(|v| !v.trim().is_empty()).map(|v| (*n, v.as_str()))
        })
    }

    /// A variable that is not one of our settings but that the orchestrator
    /// sets (`HOSTNAME`, `JOB_COMPLETION_INDEX`); blank counts as unset.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(&name.to_ascii_lowercase()).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    pub fn is_set(&self, s: &Setting) -> bool {
        self.get(s).is_some()
    }

    /// Parses `s` with `parse` when set, else takes `fallback` (a default or a
    /// preset's value). The error names the variable (and the alias used), the
    /// value (unless secret) and `s.accepted`.
    pub fn parse<T: Show>(
        &self,
        s: &'static Setting,
        fallback: impl FnOnce() -> (T, Origin),
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (value, origin) = match self.get(s) {
            None => fallback(),
            Some((used, raw)) => match parse(raw.trim()) {
                Ok(v) => (v, Origin::Variable),
                Err(problem) => return Err(self.invalid(s, used, raw, problem)),
            },
        };
        self.show(s, value.show(), origin);
        Ok(value)
    }

    /// A value that must be set: `Missing` with `hint` otherwise.
    pub fn required<T: Show>(
        &self,
        s: &'static Setting,
        hint: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let Some((used, raw)) = self.get(s) else {
            return Err(ConfigError::Missing { var: s.name, hint });
        };
        let value = parse(raw.trim()).map_err(|problem| self.invalid(s, used, raw, problem))?;
        self.show(s, value.show(), Origin::Variable);
        Ok(value)
    }

    /// An optional value: `None` (shown as `unset`) when the variable is not set.
    pub fn optional<T: Show>(
        &self,
        s: &'static Setting,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.parse(s, || (None, Origin::Default), |raw| parse(raw).map(Some))
    }

    /// The error for `s`'s value, as [`Env::parse`] reports it.
    pub fn invalid(&self, s: &Setting, used: &str, raw: &str, problem: String) -> ConfigError {
        let var = if used == s.name { s.name.to_owned() } else { format!("{} (or {used})", s.name) };
        let value = if s.secret { REDACTED.to_owned() } else { raw.trim().to_owned() };
        ConfigError::Invalid { var, value, problem, accepted: s.accepted.to_owned() }
    }

    /// Records what the effective-configuration line shows for `s`.
    pub fn show(&self, s: &'static Setting, value: String, origin: Origin) {
        let value = if s.secret && value != UNSET { REDACTED.to_owned() } else { value };
        self.shown.borrow_mut().insert(s.name, (value, origin));
    }

    /// Every variable starting with `prefix` (uppercase), keyed by the rest of its
    /// name lowercased: `KAFKA_PRODUCER_LINGER_MS` → `linger_ms`.
    pub fn prefixed(&self, prefix: &str) -> BTreeMap<String, String> {
        let prefix = prefix.to_ascii_lowercase();
        self.vars
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(&prefix).filter(|rest| !rest.is_empty()).map(|rest| (rest.to_owned(), v.clone()))
            })
            .collect()
    }

    /// The effective configuration: every parsed setting in table order, with
    /// its shown value and origin.
    pub fn effective(&self) -> Vec<(&'static str, String, Origin)> {
        let shown = self.shown.borrow();
        settings::ALL.iter().filter_map(|s| shown.get(s.name).map(|(v, o)| (s.name, v.clone(), *o))).collect()
    }

    /// Variables that look like a misspelling of a known one
    /// (`PRODUCE_INTERVALL`), each with the closest known name.
    pub fn near_misses(&self) -> Vec<(String, &'static str)> {
        let known: Vec<&'static str> =
            settings::ALL.iter().flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied())).collect();
        let mut out = Vec::new();
        for name in self.vars.keys().map(|k| k.to_ascii_uppercase()) {
            if name.starts_with(settings::KAFKA_PRODUCER_.name) || known.contains(&name.as_str()) {
                continue;
            }
            let closest =
                known.iter().filter(|k| k.len() >= 6).map(|k| (strsim::damerau_levenshtein(&name, k), *k)).min();
            if let Some((distance, k)) = closest {
                if distance <= 2 {
                    out.push((name, k));
                }
            }
        }
        out
    }
}

/// Shown for an optional setting that is not set.
pub const UNSET: &str = "unset";

/// How a parsed value is shown in the effective-configuration line.
pub trait Show {
    fn show(&self) -> String;
}

impl Show for Duration {
    fn show(&self) -> String {
        format!("{}s", self.as_secs_f64())
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        self.as_ref().map_or_else(|| UNSET.to_owned(), Show::show)
    }
}

macro_rules! show_display {
    ($($t:ty),*) => { $(impl Show for $t { fn show(&self) -> String { self.to_string() } })* };
}
show_display!(String, u16, u32, u64, usize, f64, bool);

/// A number of seconds: finite, > 0 (or >= 0 when `zero_ok`), at most a day.
pub fn seconds(raw: &str, zero_ok: bool) -> Result<Duration, String> {
    let v: f64 = raw.parse().map_err(|_| "not a number".to_owned())?;
    if !v.is_finite() {
        return Err("not a finite number".into());
    }
    if v < 0.0 || (v == 0.0 && !zero_ok) {
        return Err("must be positive".into());
    }
    if v > 86_400.0 {
        return Err("longer than a day".into());
    }
    Ok(Duration::from_secs_f64(v))
}

/// `true` or `false` (also `1`/`0`, `yes`/`no`, any case).
pub fn boolean(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("not a boolean".into()),
    }
}

/// A whole number >= 1.
pub fn positive_u64(raw: &str) -> Result<u64, String> {
    let v: u64 = raw.parse().map_err(|_| "not a whole number".to_owned())?;
    if v == 0 {
        return Err("must be at least 1".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{KAFKA_TOPIC, PRODUCE_INTERVAL};

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn misspellings_name_the_closest_known_variable() {
        let e = env(&[
            ("PRODUCE_INTERVALL", "1"),
            ("MIN_RECORD_PER_BATCH", "2"),
            ("PATH", "/bin"),
            ("HOSTNAME", "feeder-0"),
            ("KAFKA_PRODUCER_LINGER_MS", "5"),
            ("KAFKA_TOPIC", "t"),
        ]);
        let mut got = e.near_misses();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("MIN_RECORD_PER_BATCH".to_owned(), "MIN_RECORDS_PER_BATCH"),
                ("PRODUCE_INTERVALL".to_owned(), "PRODUCE_INTERVAL")
            ]
        );
    }

    #[test]
    fn values_are_recorded_with_their_origin_in_table_order() {
        let e = env(&[("produce_interval", "0.25")]);
        let d =
            e.parse(&PRODUCE_INTERVAL, || (Duration::from_secs(1), Origin::Default), |r| seconds(r, false)).unwrap();
        assert_eq!(d, Duration::from_millis(250));
        e.parse(&KAFKA_TOPIC, || ("transactions".to_owned(), Origin::Default), |r| Ok(r.to_owned())).unwrap();
        assert_eq!(
            e.effective(),
            vec![
                ("KAFKA_TOPIC", "transactions".to_owned(), Origin::Default),
                ("PRODUCE_INTERVAL", "0.25s".to_owned(), Origin::Variable)
            ]
        );
    }
}
