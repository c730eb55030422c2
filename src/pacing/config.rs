//! The pacing variables of the settings table: which mode, how long, which
//! replica. Each is parsed by its piece's own function; conflicting modes are
//! refused naming both variables.

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use super::day::{parse_time_scale, parse_tz, DaySchedule};
use super::rate::Shape;
use super::rate::{parse_arrivals, parse_rate, Arrivals, Rate};
use super::replay::{parse_speed, Speed};
use super::replicas::{self, IndexSource, Replica};
use super::{parse_duration, PacingError};
use crate::settings::env::{ConfigError, Env, Origin, Show};
use crate::settings::{self as s, Setting};

/// Volume presets: a shorthand for interval and batch bounds, one per replica kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    High,
    Normal,
    Low,
}

impl Preset {
    /// (interval, min records, max records)
    pub const fn values(self) -> (Duration, u32, u32) {
        match self {
            Preset::High => (Duration::from_millis(200), 10, 20),
            Preset::Normal => (Duration::from_millis(500), 1, 10),
            Preset::Low => (Duration::from_secs(2), 1, 5),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::High => "high",
            Preset::Normal => "normal",
            Preset::Low => "low",
        }
    }

    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "high" => Ok(Preset::High),
            "normal" => Ok(Preset::Normal),
            "low" => Ok(Preset::Low),
            _ => Err("unknown preset".into()),
        }
    }
}

impl Show for Preset {
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

/// How traffic is paced.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Every `PRODUCE_INTERVAL`, a batch of MIN..=MAX records (the default).
    Interval,
    /// `MESSAGES_PER_SECOND`.
    Rate { rate: Rate, arrivals: Arrivals },
    /// `PRESET_SCHEDULE`, read in its zone, `TIME_SCALE` times faster.
    Day { schedule: Arc<DaySchedule>, time_scale: f64, arrivals: Arrivals },
    /// `REPLAY_TIME_FIELD`.
    Replay { field: String, speed: Speed, looping: bool },
}

#[derive(Debug, Clone)]
pub struct PacingSettings {
    pub mode: Mode,
    pub run_duration: Option<Duration>,
    pub replica: Replica,
    pub replica_source: IndexSource,
    pub seed: Option<u64>,
}

impl Show for Rate {
    fn show(&self) -> String {
        match self {
            Rate::PerSecond(r) => r.to_string(),
            Rate::Max => "max".into(),
        }
    }
}

impl Show for Arrivals {
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

impl Show for Speed {
    fn show(&self) -> String {
        match self {
            Speed::Factor(k) => k.to_string(),
            Speed::Max => "max".into(),
        }
    }
}

impl Show for TimeZone {
    fn show(&self) -> String {
        self.iana_name().unwrap_or("UTC").to_owned()
    }
}

impl Show for DaySchedule {
    fn show(&self) -> String {
        self.entries().iter().map(|e| e.text.as_str()).collect::<Vec<_>>().join(",")
    }
}

impl Show for Arc<DaySchedule> {
    fn show(&self) -> String {
        self.as_ref().show()
    }
}

/// A preset's name as a schedule entry's shape.
pub fn preset_shape(name: &str) -> Option<Shape> {
    let name = name.to_ascii_lowercase();
    [Preset::High, Preset::Normal, Preset::Low].into_iter().find(|p| p.as_str() == name).map(|p| {
        let (interval, min, max) = p.values();
        Shape::Interval { interval, min, max }
    })
}

fn text(e: PacingError) -> String {
    e.to_string()
}

/// Refuses `mode` together with any of `others`.
fn exclusive(
    env: &Env,
    mode: &'static Setting,
    others: &[&'static Setting],
    hint: &'static str,
) -> Result<(), ConfigError> {
    if !env.is_set(mode) {
        return Ok(());
    }
    match others.iter().find(|o| env.is_set(o)) {
        Some(o) => Err(ConfigError::Conflict { first: mode.name, second: o.name, hint }),
        None => Ok(()),
    }
}

/// Refuses `s` set without any of the mode variables it tunes (it would be
/// silently ignored).
fn needs(env: &Env, s: &'static Setting, modes: &[&'static Setting]) -> Result<(), ConfigError> {
    match env.get(s) {
        Some((used, raw)) if !modes.iter().any(|m| env.is_set(m)) => {
            let names: Vec<&str> = modes.iter().map(|m| m.name).collect();
            Err(env.invalid(s, used, raw, format!("has no effect without {}", names.join(" or "))))
        }
        _ => Ok(()),
    }
}

impl PacingSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let interval_vars = [&s::PRESET, &s::PRODUCE_INTERVAL, &s::MIN_RECORDS_PER_BATCH, &s::MAX_RECORDS_PER_BATCH];
        exclusive(
            env,
            &s::REPLAY_TIME_FIELD,
            &[
                &s::MESSAGES_PER_SECOND,
                &s::PRESET_SCHEDULE,
                &s::PRESET,
                &s::PRODUCE_INTERVAL,
                &s::MIN_RECORDS_PER_BATCH,
                &s::MAX_RECORDS_PER_BATCH,
            ],
            "a replay is paced by the file's own times; unset the other",
        )?;
        exclusive(
            env,
            &s::PRESET_SCHEDULE,
            &[
                &s::MESSAGES_PER_SECOND,
                &s::PRESET,
                &s::PRODUCE_INTERVAL,
                &s::MIN_RECORDS_PER_BATCH,
                &s::MAX_RECORDS_PER_BATCH,
            ],
            "the schedule's entries say the preset or rate of each time of day; unset the other",
        )?;
        exclusive(
            env,
            &s::MESSAGES_PER_SECOND,
            &interval_vars,
            "MESSAGES_PER_SECOND is rate mode, the other sets the interval mode; set one of them",
        )?;

        let arrivals =
            env.parse(&s::ARRIVALS, || (Arrivals::Steady, Origin::Default), |r| parse_arrivals(r).map_err(text))?;
        let rate = env.optional(&s::MESSAGES_PER_SECOND, |r| parse_rate(r).map_err(text))?;
        let run_duration = env.optional(&s::RUN_DURATION, |r| parse_duration(r).map_err(text))?;
        let tz = env.parse(&s::SCHEDULE_TZ, || (TimeZone::UTC, Origin::Default), |r| parse_tz(r).map_err(text))?;
        let time_scale = env.parse(&s::TIME_SCALE, || (1.0, Origin::Default), |r| parse_time_scale(r).map_err(text))?;
        let schedule = env.optional(&s::PRESET_SCHEDULE, |r| {
            DaySchedule::parse(r, tz.clone(), preset_shape, "high, normal, low").map(Arc::new).map_err(text)
        })?;
        let field = env.optional(&s::REPLAY_TIME_FIELD, |r| Ok(r.to_owned()))?;
        let speed =
            env.parse(&s::REPLAY_SPEED, || (Speed::Factor(1.0), Origin::Default), |r| parse_speed(r).map_err(text))?;
        let looping = env.parse(
            &s::REPLAY_LOOP,
            || (false, Origin::Default),
            |r| match r.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err("not a boolean".into()),
            },
        )?;
        let count = env.parse(&s::REPLICAS, || (1, Origin::Default), |r| replicas::parse_count(r).map_err(text))?;
        let explicit = env.get(&s::REPLICA_INDEX).map(|(_, v)| v.trim().to_owned());
        let (replica, replica_source) =
            replicas::resolve(count, explicit.as_deref(), env.raw("JOB_COMPLETION_INDEX"), env.raw("HOSTNAME"))
                .map_err(|e| ConfigError::Invalid {
                    var: s::REPLICA_INDEX.name.to_owned(),
                    value: explicit.clone().unwrap_or_default(),
                    problem: e.to_string(),
                    accepted: s::REPLICA_INDEX.accepted.to_owned(),
                })?;
        let origin = if replica_source == IndexSource::ReplicaIndex { Origin::Variable } else { Origin::Default };
        env.show(&s::REPLICA_INDEX, format!("{} (from {replica_source})", replica.index), origin);
        let seed =
            env.optional(&s::RANDOM_SEED, |r| r.parse::<u64>().map_err(|_| "not a whole number >= 0".to_owned()))?;

        // A value that only tunes another mode would be silently ignored.
        needs(env, &s::ARRIVALS, &[&s::MESSAGES_PER_SECOND, &s::PRESET_SCHEDULE])?;
        needs(env, &s::SCHEDULE_TZ, &[&s::PRESET_SCHEDULE])?;
        needs(env, &s::TIME_SCALE, &[&s::PRESET_SCHEDULE])?;
        needs(env, &s::REPLAY_SPEED, &[&s::REPLAY_TIME_FIELD])?;
        needs(env, &s::REPLAY_LOOP, &[&s::REPLAY_TIME_FIELD])?;
        let mode = if let Some(field) = field {
            Mode::Replay { field, speed, looping }
        } else if let Some(schedule) = schedule {
            Mode::Day { schedule, time_scale, arrivals }
        } else if let Some(rate) = rate {
            Mode::Rate { rate, arrivals }
        } else {
            Mode::Interval
        };
        Ok(Self { mode, run_duration, replica, replica_source, seed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    fn parse(vars: &[(&str, &str)]) -> Result<PacingSettings, ConfigError> {
        PacingSettings::from_env(&env(vars))
    }

    fn err(vars: &[(&str, &str)]) -> String {
        parse(vars).unwrap_err().to_string()
    }

    #[test]
    fn the_mode_follows_the_variables_set() {
        assert!(matches!(parse(&[]).unwrap().mode, Mode::Interval));
        let p = parse(&[("MESSAGES_PER_SECOND", "37.5"), ("ARRIVALS", "poisson"), ("RUN_DURATION", "20")]).unwrap();
        assert!(matches!(p.mode, Mode::Rate { rate: Rate::PerSecond(r), arrivals: Arrivals::Poisson } if r == 37.5));
        assert_eq!(p.run_duration, Some(Duration::from_secs(20)));
        let p = parse(&[
            ("PRESET_SCHEDULE", "00:00=low,12:00=150/s"),
            ("SCHEDULE_TZ", "Europe/Paris"),
            ("TIME_SCALE", "60"),
        ])
        .unwrap();
        let Mode::Day { schedule, time_scale, .. } = p.mode else { panic!("not a day schedule") };
        assert_eq!((schedule.entries().len(), time_scale), (2, 60.0));
        assert_eq!(schedule.tz().iana_name(), Some("Europe/Paris"));
        let p = parse(&[("REPLAY_TIME_FIELD", "ts"), ("REPLAY_SPEED", "max"), ("REPLAY_LOOP", "true")]).unwrap();
        assert!(matches!(p.mode, Mode::Replay { ref field, speed: Speed::Max, looping: true } if field == "ts"));
    }

    #[test]
    fn two_modes_at_once_are_refused_naming_both() {
        let e = err(&[("MESSAGES_PER_SECOND", "10"), ("PRODUCE_INTERVAL", "0.5")]);
        assert!(e.starts_with("MESSAGES_PER_SECOND and PRODUCE_INTERVAL are both set"), "{e}");
        assert!(err(&[("MESSAGES_PER_SECOND", "10"), ("PRESET", "high")]).contains("MESSAGES_PER_SECOND and PRESET"));
        assert!(err(&[("PRESET_SCHEDULE", "00:00=low"), ("PRESET", "high")]).contains("PRESET_SCHEDULE and PRESET"));
        assert!(err(&[("REPLAY_TIME_FIELD", "t"), ("MESSAGES_PER_SECOND", "1")])
            .contains("REPLAY_TIME_FIELD and MESSAGES_PER_SECOND"));
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_accepted() {
        for (var, bad) in [
            ("MESSAGES_PER_SECOND", "0"),
            ("MESSAGES_PER_SECOND", "fast"),
            ("ARRIVALS", "bursty"),
            ("RUN_DURATION", "5x"),
            ("PRESET_SCHEDULE", "25:00=low"),
            ("SCHEDULE_TZ", "Mars/Base"),
            ("TIME_SCALE", "0"),
            ("REPLAY_SPEED", "-1"),
            ("REPLAY_LOOP", "maybe"),
            ("REPLICAS", "0"),
            ("RANDOM_SEED", "-4"),
        ] {
            let e = err(&[(var, bad)]);
            assert!(e.starts_with(&format!("{var}={bad:?} is invalid: ")), "{var}={bad}: {e}");
            assert!(e.contains("; expected "), "{e}");
        }
        let e = err(&[("REPLAY_SPEED", "10")]);
        assert!(e.contains("REPLAY_SPEED=\"10\" is invalid: has no effect without REPLAY_TIME_FIELD"), "{e}");
        let e = err(&[("ARRIVALS", "poisson"), ("PRESET", "high")]);
        assert!(e.contains("has no effect without MESSAGES_PER_SECOND or PRESET_SCHEDULE"), "{e}");
        let e = err(&[("REPLICAS", "3"), ("REPLICA_INDEX", "3")]);
        assert!(e.starts_with("REPLICA_INDEX=\"3\" is invalid") && e.contains("out of range"), "{e}");
        let e = err(&[("REPLICAS", "3"), ("HOSTNAME", "feeder-5")]);
        assert!(e.contains("HOSTNAME=\"feeder-5\" is out of range"), "{e}");
    }

    #[test]
    fn the_replica_index_defaults_from_the_orchestrator() {
        let p = parse(&[("REPLICAS", "3"), ("JOB_COMPLETION_INDEX", "2")]).unwrap();
        assert_eq!((p.replica, p.replica_source), (Replica { index: 2, count: 3 }, IndexSource::JobCompletionIndex));
        let p = parse(&[("REPLICAS", "3"), ("HOSTNAME", "kafka-feeder-1")]).unwrap();
        assert_eq!(p.replica, Replica { index: 1, count: 3 });
        let e = env(&[("REPLICAS", "3"), ("HOSTNAME", "kafka-feeder-1")]);
        PacingSettings::from_env(&e).unwrap();
        let shown = e.effective();
        assert!(shown.iter().any(|(n, v, _)| *n == "REPLICA_INDEX" && v == "1 (from HOSTNAME)"), "{shown:?}");
    }
}
