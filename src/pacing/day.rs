//! A day's rhythm: `PRESET_SCHEDULE="00:00=low,08:00=normal,12:00=high,..."`.
//! From each time of day on (in `SCHEDULE_TZ`), that preset or rate applies;
//! before the first entry of a day, the last one of the day before does.
//!
//! Times of day become instants through the zone's rules: a time the clock
//! skips (a DST gap) takes effect when the clock jumps; a time it repeats (a
//! DST fold) at its first occurrence. `TIME_SCALE=k` runs the schedule's clock
//! k times faster than the wall clock from the start (a demo of a day in
//! 24 minutes at k = 60); rates themselves are not scaled.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use super::rate::Shape;
use super::rate::{MAX_RATE, MIN_RATE};
use super::{after, positive, PacingError};

/// One entry: from `at` on, `shape` applies. `text` is how it was written
/// (`12:00=high`), for the progress line and the gauge.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub at: Time,
    pub shape: Shape,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct DaySchedule {
    /// Sorted by time of day, no two at the same time.
    entries: Vec<Entry>,
    tz: TimeZone,
}

/// Which entry applies at an instant, since when, and what comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Active {
    pub index: usize,
    pub since: Timestamp,
    pub next_index: usize,
    pub next: Timestamp,
}

/// Parses `SCHEDULE_TZ`: an IANA zone name, from the tz database compiled in.
pub fn parse_tz(raw: &str) -> Result<TimeZone, PacingError> {
    TimeZone::get(raw.trim()).map_err(|_| {
        PacingError::TimeZone(
            "unknown time zone: accepted are IANA names like `UTC`, `Europe/Paris`, `America/New_York`".into(),
        )
    })
}

/// Parses `TIME_SCALE`: a factor > 0, at most 100000.
pub fn parse_time_scale(raw: &str) -> Result<f64, PacingError> {
    positive(raw).filter(|&k| k <= 100_000.0).ok_or(PacingError::TimeScale)
}

impl DaySchedule {
    /// Parses `HH:MM[:SS]=<preset>|<r>/s` entries separated by commas. `preset`
    /// maps a preset's name to its shape; the error lists `presets` as accepted.
    pub fn parse(
        raw: &str,
        tz: TimeZone,
        preset: impl Fn(&str) -> Option<Shape>,
        presets: &str,
    ) -> Result<Self, PacingError> {
        let mut entries = Vec::new();
        for (n, text) in raw.split(',').map(str::trim).filter(|t| !t.is_empty()).enumerate() {
            let bad = |reason: String| PacingError::ScheduleEntry { entry: n + 1, text: text.to_owned(), reason };
            let (time, what) = text.split_once('=').ok_or_else(|| bad("expected `HH:MM=<preset or rate>`".into()))?;
            let at = parse_time_of_day(time.trim()).ok_or_else(|| {
                bad(format!("`{}` is not a time of day: accepted is HH:MM or HH:MM:SS, 00:00 to 23:59:59", time.trim()))
            })?;
            let what = what.trim();
            let shape = match what.strip_suffix("/s") {
                Some(rate) => match positive(rate) {
                    Some(r) if (MIN_RATE..=MAX_RATE).contains(&r) => Shape::Rate(super::rate::Rate::PerSecond(r)),
                    _ => {
                        return Err(bad(format!(
                            "`{what}` is not a rate: accepted is messages per second > 0, like `150/s`"
                        )))
                    }
                },
                None => preset(what).ok_or_else(|| {
                    bad(format!("unknown preset `{what}`: accepted are {presets} or a rate like `150/s`"))
                })?,
            };
            entries.push(Entry { at, shape, text: format!("{}={what}", time.trim()) });
        }
        if entries.is_empty() {
            return Err(PacingError::ScheduleEmpty);
        }
        entries.sort_by_key(|e| e.at);
        if let Some(w) = entries.windows(2).find(|w| w[0].at == w[1].at) {
            return Err(PacingError::ScheduleEntry {
                entry: 0,
                text: w[1].text.clone(),
                reason: format!("two entries at {} (`{}` and `{}`): keep one", w[0].at, w[0].text, w[1].text),
            });
        }
        Ok(Self { entries, tz })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The entry in force at `t`: the one whose latest switch is at or before
    /// `t`, and the next switch after `t`.
    pub fn at(&self, t: Timestamp) -> Active {
        let today = self.tz.to_datetime(t).date();
        // Switch instants of the days around t, in order. Entries of day d
        // switch between d 00:00 and the next morning at the latest, so three
        // days before and after cover every zone's offsets.
        let mut switches = Vec::with_capacity(self.entries.len() * 4);
        for day in [-1i32, 0, 1, 2] {
            let Ok(date) = today.checked_add(jiff::Span::new().days(day)) else { continue };
            switches.extend((0..self.entries.len()).map(|i| (self.switch(date, i), i)));
        }
        let after = switches.partition_point(|&(ts, _)| ts <= t);
        // `after` is within 1..len: day -1's entries are all before t, day 2's all after.
        let (since, index) = switches[after.max(1) - 1];
        let (next, next_index) = switches[after.min(switches.len() - 1)];
        Active { index, since, next_index, next }
    }

    /// When entry `i` takes effect on `date`.
    fn switch(&self, date: Date, i: usize) -> Timestamp {
        let dt = DateTime::from_parts(date, self.entries[i].at);
        let ambiguous = self.tz.to_ambiguous_timestamp(dt);
        match ambiguous.offset() {
            // The clock skips this time: from the moment it jumps.
            AmbiguousOffset::Gap { before, after } => {
                // Read with either offset, the time lands on either side of the jump.
                let either = [before.to_timestamp(dt), after.to_timestamp(dt)];
                let before_gap = either.into_iter().flatten().min().unwrap_or(Timestamp::MIN);
                self.tz.following(before_gap).next().map_or(before_gap, |tr| tr.timestamp())
            }
            // Unambiguous, or repeated (fold): the first occurrence.
            _ => ambiguous.earlier().unwrap_or(Timestamp::MIN),
        }
    }
}

fn parse_time_of_day(s: &str) -> Option<Time> {
    let mut parts = s.split(':');
    let mut field = |max: i8| -> Option<Option<i8>> {
        match parts.next() {
            None => Some(None),
            Some(p) if p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
                let v: i8 = p.parse().ok()?;
                (v <= max).then_some(Some(v))
            }
            Some(_) => None,
        }
    };
    let h = field(23)??;
    let m = field(59)??;
    let sec = field(59)?.unwrap_or(0);
    if parts.next().is_some() {
        return None;
    }
    Time::new(h, m, sec, 0).ok()
}

/// The schedule's clock: wall time at the start plus `scale` times the
/// monotonic time elapsed since.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    start: Instant,
    wall: Timestamp,
    scale: f64,
}

impl ScaledClock {
    pub fn new(start: Instant, wall: Timestamp, scale: f64) -> Self {
        Self { start, wall, scale }
    }

    /// The schedule's time at `now`.
    pub fn virtual_at(&self, now: Instant) -> Timestamp {
        let secs = now.saturating_duration_since(self.start).as_secs_f64() * self.scale;
        self.wall.saturating_add(SignedDuration::from_secs_f64(secs)).unwrap_or(Timestamp::MAX)
    }

    /// The instant at which the schedule's clock reads `t` (the start if `t` is before it).
    pub fn real_at(&self, t: Timestamp) -> Instant {
        after(self.start, t.duration_since(self.wall).as_secs_f64() / self.scale)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pacing::rate::Rate;

    fn shape(name: &str) -> Option<Shape> {
        let ms = Duration::from_millis;
        match name {
            "high" => Some(Shape::Interval { interval: ms(200), min: 10, max: 20 }),
            "normal" => Some(Shape::Interval { interval: ms(500), min: 1, max: 10 }),
            "low" => Some(Shape::Interval { interval: ms(2000), min: 1, max: 5 }),
            _ => None,
        }
    }

    fn schedule(raw: &str, tz: &str) -> DaySchedule {
        DaySchedule::parse(raw, parse_tz(tz).unwrap(), shape, "high, normal or low").unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The entry's text at `t` and the next switch.
    fn at(s: &DaySchedule, t: &str) -> (String, Timestamp) {
        let a = s.at(ts(t));
        assert!(a.since <= ts(t) && ts(t) < a.next, "{a:?}");
        (s.entries()[a.index].text.clone(), a.next)
    }

    const DAY: &str = "00:00=low,08:00=normal,12:00=high,14:00=normal,20:00=low";

    #[test]
    fn entries_parse_with_presets_and_rates() {
        let s = schedule(" 12:00=150/s , 08:00:30=normal,00:00=low", "UTC");
        let texts: Vec<_> = s.entries().iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["00:00=low", "08:00:30=normal", "12:00=150/s"]);
        assert_eq!(s.entries()[2].shape, Shape::Rate(Rate::PerSecond(150.0)));
        assert_eq!(s.entries()[1].at, Time::new(8, 0, 30, 0).unwrap());
    }

    #[test]
    fn bad_entries_name_the_entry_and_what_is_accepted() {
        let tz = || parse_tz("UTC").unwrap();
        let err = |raw: &str| DaySchedule::parse(raw, tz(), shape, "high, normal or low").unwrap_err().to_string();
        assert!(err("00:00=low,25:00=high").starts_with("entry 2 `25:00=high`: `25:00` is not a time of day"));
        assert!(err("8:00=high").contains("is not a time of day"), "{}", err("8:00=high"));
        assert!(err("08:60=high").contains("is not a time of day"));
        assert!(err("08:00=fast").contains("unknown preset `fast`: accepted are high, normal or low or a rate"));
        assert!(err("08:00=0/s").contains("is not a rate"));
        assert!(err("08:00").contains("expected `HH:MM=<preset or rate>`"));
        assert!(err("08:00=low,08:00=high").contains("two entries at 08:00:00"));
        assert_eq!(DaySchedule::parse(" , ", tz(), shape, "").unwrap_err(), PacingError::ScheduleEmpty);
        assert!(parse_tz("Mars/Olympus").unwrap_err().to_string().contains("IANA"));
        assert!(parse_tz("Europe/Paris").is_ok());
    }

    #[test]
    fn the_active_entry_switches_at_its_boundaries_and_at_midnight() {
        let s = schedule(DAY, "UTC");
        assert_eq!(at(&s, "2026-06-01T07:59:59.999Z"), ("00:00=low".into(), ts("2026-06-01T08:00Z")));
        assert_eq!(at(&s, "2026-06-01T08:00Z"), ("08:00=normal".into(), ts("2026-06-01T12:00Z")));
        assert_eq!(at(&s, "2026-06-01T13:59:59Z"), ("12:00=high".into(), ts("2026-06-01T14:00Z")));
        assert_eq!(at(&s, "2026-06-01T23:59:59Z"), ("20:00=low".into(), ts("2026-06-02T00:00Z")));
        assert_eq!(at(&s, "2026-06-02T00:00Z"), ("00:00=low".into(), ts("2026-06-02T08:00Z")));
        // Without a midnight entry, the last entry of the day before carries on.
        let s = schedule("08:00=high,20:00=low", "UTC");
        assert_eq!(at(&s, "2026-06-02T03:00Z"), ("20:00=low".into(), ts("2026-06-02T08:00Z")));
        assert_eq!(s.at(ts("2026-06-02T03:00Z")).since, ts("2026-06-01T20:00Z"));
        // One entry: it always applies, switching (to itself) daily.
        let s = schedule("06:00=normal", "UTC");
        assert_eq!(at(&s, "2026-06-02T05:00Z"), ("06:00=normal".into(), ts("2026-06-02T06:00Z")));
    }

    #[test]
    fn times_of_day_follow_the_zone_including_its_dst_changes() {
        let s = schedule(DAY, "America/New_York");
        // Summer: EDT (UTC-4), 08:00 local = 12:00Z.
        assert_eq!(at(&s, "2026-07-01T11:59Z"), ("00:00=low".into(), ts("2026-07-01T12:00Z")));
        // Winter: EST (UTC-5), 08:00 local = 13:00Z.
        assert_eq!(at(&s, "2026-01-15T12:30Z"), ("00:00=low".into(), ts("2026-01-15T13:00Z")));
        // 2026-03-08: the clocks go 02:00 EST -> 03:00 EDT. 20:00 the day
        // before is 01:00Z; the next midnight is 04:00Z, 08:00 is 12:00Z.
        assert_eq!(at(&s, "2026-03-08T06:59Z"), ("00:00=low".into(), ts("2026-03-08T12:00Z")));
        // The day has 23 hours: 20:00 (EDT) is 00:00Z the next day.
        assert_eq!(at(&s, "2026-03-08T20:00Z"), ("14:00=normal".into(), ts("2026-03-09T00:00Z")));
    }

    #[test]
    fn a_time_the_clock_skips_applies_when_it_jumps_one_it_repeats_at_its_first_occurrence() {
        // New York, 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z): 02:30 does not exist.
        let s = schedule("02:30=high,12:00=low", "America/New_York");
        assert_eq!(at(&s, "2026-03-08T06:59Z"), ("12:00=low".into(), ts("2026-03-08T07:00Z")));
        assert_eq!(at(&s, "2026-03-08T07:00Z"), ("02:30=high".into(), ts("2026-03-08T16:00Z")));
        // 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z): 01:30 happens twice
        // (05:30Z and 06:30Z). The switch is at the first; the second changes nothing.
        let s = schedule("01:30=high,12:00=low", "America/New_York");
        assert_eq!(at(&s, "2026-11-01T05:29Z"), ("12:00=low".into(), ts("2026-11-01T05:30Z")));
        assert_eq!(at(&s, "2026-11-01T06:45Z"), ("01:30=high".into(), ts("2026-11-01T17:00Z")));
    }

    #[test]
    fn a_scaled_clock_runs_the_day_faster_and_maps_switches_back_to_instants() {
        let t0 = Instant::now();
        let wall = ts("2026-06-01T07:00Z");
        let clock = ScaledClock::new(t0, wall, 60.0);
        // One real minute is one schedule hour.
        assert_eq!(clock.virtual_at(t0 + Duration::from_secs(60)), ts("2026-06-01T08:00Z"));
        let s = schedule(DAY, "UTC");
        let a = s.at(clock.virtual_at(t0));
        assert_eq!(s.entries()[a.index].text, "00:00=low");
        // 08:00 comes after one real minute, 12:00 after five, a whole day after 24.
        assert_eq!(clock.real_at(a.next), t0 + Duration::from_secs(60));
        assert_eq!(clock.real_at(ts("2026-06-01T12:00Z")), t0 + Duration::from_secs(300));
        assert_eq!(clock.real_at(ts("2026-06-02T07:00Z")), t0 + Duration::from_secs(24 * 60));
        assert_eq!(clock.real_at(ts("2026-06-01T06:00Z")), t0, "the past maps to the start");
        assert!(parse_time_scale("60").is_ok() && parse_time_scale("0.5").is_ok());
        assert!(parse_time_scale("0").is_err() && parse_time_scale("1e6").is_err() && parse_time_scale("x").is_err());
    }
}
