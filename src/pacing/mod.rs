//! The pacing layer: pure pieces that, given `now`, say what is due.
//!
//! Every mode is a due-time arithmetic anchored at a start instant, never at
//! the last wake-up, so a late loop catches up instead of drifting:
//!
//! - [`interval`]: tick n due at start + n x interval (the default mode)
//! - [`rate`]: message i due at start + i / r, Poisson arrivals, or `max`
//! - [`day`]: `PRESET_SCHEDULE` entries switched in place at times of day in
//!   `SCHEDULE_TZ`, optionally `TIME_SCALE` times faster
//! - [`replay`]: records in the order of a time field, at their original offsets
//!   divided by `REPLAY_SPEED`
//! - [`replicas`]: which share of the one-replica sequence this replica sends
//!
//! [`Pacer`] puts them together for the scheduling loop ([`schedule`]), which
//! asks [`Pacer::wake_at`] when to wake and [`Pacer::take`] what is due, has
//! the [`sampler`] pick the records, and sends them; the send path, drain and
//! metrics stay the loop's. Nothing but the loop reads a clock: tests drive
//! every piece with explicit instants.

pub mod config;
pub mod day;
pub mod interval;
pub mod pacer;
pub mod rate;
pub mod replay;
pub mod replicas;
pub mod sampler;
pub mod schedule;

use std::time::Duration;

use tokio::time::Instant;

pub use pacer::{Due, Pacer};

/// Invalid pacing values. The settings layer adds the variable's name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PacingError {
    #[error(
        "not a duration: accepted are seconds (`90`, `90s`, `1.5`), minutes (`15m`), hours (`2h`) or days (`1d`), > 0"
    )]
    Duration,
    #[error("not a rate: accepted are a number of messages per second > 0 (`0.2`, `2500`) or `max`")]
    Rate,
    #[error("not an arrival process: accepted are `steady` (evenly spaced) or `poisson`")]
    Arrivals,
    #[error("not a speed: accepted are a factor > 0 (`1`, `0.5`, `20`) or `max`")]
    Speed,
    #[error("not a time scale: accepted is a factor > 0 and <= 100000 (`60` runs a day in 24 minutes)")]
    TimeScale,
    #[error("entry {entry} `{text}`: {reason}")]
    ScheduleEntry { entry: usize, text: String, reason: String },
    #[error("no entry: accepted is a list like `00:00=low,08:00=normal,12:00=150/s`")]
    ScheduleEmpty,
    #[error("{0}")]
    TimeZone(String),
    #[error("{0}")]
    Replica(String),
}

/// How often at most the loop wakes for rate-paced messages: what is due is
/// sent at each tick of this timer, so a high rate costs one wake-up per
/// millisecond, not one per message.
pub const FINE_TICK: Duration = Duration::from_millis(1);

/// At most this many messages per [`Pacer::take`], so the loop stays responsive
/// (progress, shutdown) while catching up or bursting.
pub const MAX_CHUNK: u64 = 10_000;

/// Anything further than this is treated as "not in this run" (~31 years):
/// keeps `Instant` arithmetic from overflowing at absurdly low rates.
const FAR: f64 = 1e9;

/// `anchor + secs`, saturating at [`FAR`] (and at `anchor` for negative input).
pub(crate) fn after(anchor: Instant, secs: f64) -> Instant {
    anchor + Duration::from_secs_f64(secs.clamp(0.0, FAR))
}

/// Parses a run length: `90`, `90s`, `1.5`, `15m`, `2h`, `1d`. Must be > 0.
pub fn parse_duration(raw: &str) -> Result<Duration, PacingError> {
    let s = raw.trim();
    let (number, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => s.split_at(at),
        None => (s, ""),
    };
    let factor = match unit.trim() {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(PacingError::Duration),
    };
    let n: f64 = number.trim().parse().map_err(|_| PacingError::Duration)?;
    let secs = n * factor;
    if !(secs.is_finite() && secs > 0.0 && secs <= FAR) {
        return Err(PacingError::Duration);
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a positive finite factor (rates, speeds, scales); `None` if it is not one.
fn positive(raw: &str) -> Option<f64> {
    let v: f64 = raw.trim().parse().ok()?;
    (v.is_finite() && v > 0.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_durations_in_every_accepted_unit() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("90"), Ok(s(90)));
        assert_eq!(parse_duration("90s"), Ok(s(90)));
        assert_eq!(parse_duration(" 15m "), Ok(s(900)));
        assert_eq!(parse_duration("2h"), Ok(s(7200)));
        assert_eq!(parse_duration("1d"), Ok(s(86_400)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.5m"), Ok(s(30)));
        for bad in ["", "0", "-5", "5x", "m", "1ms", "inf", "NaN", "1e30", "5 m s", "h2"] {
            assert_eq!(parse_duration(bad), Err(PacingError::Duration), "{bad:?}");
        }
    }

    #[test]
    fn far_instants_saturate_instead_of_overflowing() {
        let t0 = Instant::now();
        assert_eq!(after(t0, -1.0), t0);
        assert_eq!(after(t0, f64::INFINITY), t0 + Duration::from_secs_f64(FAR));
        assert_eq!(after(t0, 2.5), t0 + Duration::from_millis(2500));
    }
}
