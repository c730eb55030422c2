//! [`Pacer`]: one mode's due-time arithmetic behind one interface for the
//! scheduling loop: when to wake ([`Pacer::wake_at`]) and what is due
//! ([`Pacer::take`]). The loop turns a [`Due`] into records and sends them.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::day::{Active, DaySchedule, Entry, ScaledClock};
use super::interval::Ticks;
use super::rate::{Arrivals, Poisson, Rate, Shape, Steady};
use super::replay::{Position, Replay, ReplayPlan};
use super::replicas::{mix_seed, Replica};
use super::{FINE_TICK, MAX_CHUNK};

/// Keeps Poisson gaps independent of the sampler's draws under the same seed.
const POISSON_SALT: u64 = 0x5EED_0FA1_11CE_5EED;

/// Something due now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Tick `tick` of an interval schedule: a batch of `min..=max` sampled records.
    Tick { tick: u64, at: Instant, min: u32, max: u32 },
    /// `count` sampled records.
    Sample { count: u64, at: Instant },
    /// The records at positions `range` of the replay order.
    Replay { range: Range<usize>, at: Instant },
}

impl Due {
    /// When it was due (the first of several): the loop's lag is measured from it.
    pub fn at(&self) -> Instant {
        match *self {
            Due::Tick { at, .. } | Due::Sample { at, .. } | Due::Replay { at, .. } => at,
        }
    }
}

/// One shape paced from an anchor instant.
#[derive(Debug, Clone)]
enum Segment {
    Ticks { ticks: Ticks, min: u32, max: u32 },
    Steady(Steady),
    Poisson(Poisson),
    Max { start: Instant },
}

impl Segment {
    fn new(shape: Shape, arrivals: Arrivals, start: Instant, replica: Replica, seed: Option<u64>) -> Self {
        match shape {
            Shape::Interval { interval, min, max } => {
                Segment::Ticks { ticks: Ticks::new(start, interval, replica), min, max }
            }
            Shape::Rate(Rate::Max) => Segment::Max { start },
            Shape::Rate(Rate::PerSecond(r)) => match arrivals {
                Arrivals::Steady => Segment::Steady(Steady::new(start, r, replica)),
                Arrivals::Poisson => Segment::Poisson(Poisson::new(start, r, replica, seed)),
            },
        }
    }

    fn next_due(&self) -> Instant {
        match self {
            Segment::Ticks { ticks, .. } => ticks.next_due(),
            Segment::Steady(s) => s.next_due(),
            Segment::Poisson(p) => p.next_due(),
            Segment::Max { start } => *start,
        }
    }

    /// Rate-paced: woken at most every [`FINE_TICK`], sending what is due.
    fn is_fine(&self) -> bool {
        !matches!(self, Segment::Ticks { .. })
    }

    fn take(&mut self, until: Instant) -> Option<Due> {
        match self {
            Segment::Ticks { ticks, min, max } => {
                ticks.take(until).map(|(tick, at)| Due::Tick { tick, at, min: *min, max: *max })
            }
            Segment::Steady(s) => s.take(until, MAX_CHUNK).map(|(count, at)| Due::Sample { count, at }),
            Segment::Poisson(p) => p.take(until, MAX_CHUNK).map(|(count, at)| Due::Sample { count, at }),
            Segment::Max { start } => (*start <= until).then_some(Due::Sample { count: MAX_CHUNK, at: until }),
        }
    }
}

/// A `PRESET_SCHEDULE` in force: the active entry's segment, switched in place.
#[derive(Debug, Clone)]
struct Day {
    schedule: Arc<DaySchedule>,
    clock: ScaledClock,
    arrivals: Arrivals,
    replica: Replica,
    seed: Option<u64>,
    active: Active,
    /// When `active.next` takes over, in real time.
    switch_at: Instant,
    segment: Segment,
    switches: u64,
}

impl Day {
    fn segment(&self, index: usize, start: Instant) -> Segment {
        // Each segment's Poisson arrivals get their own seed.
        let seed = self.seed.map(|s| s ^ self.switches.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Segment::new(self.schedule.entries()[index].shape, self.arrivals, start, self.replica, seed)
    }

    fn take(&mut self, now: Instant) -> Option<Due> {
        loop {
            // What the old entry had due before the switch goes first.
            let until = if now >= self.switch_at { self.switch_at - Duration::from_nanos(1) } else { now };
            if let Some(due) = self.segment.take(until) {
                return Some(due);
            }
            if now < self.switch_at {
                return None;
            }
            // The new entry's ticks are anchored at the switch itself: none is
            // dropped, none doubled, and the next one is due at once.
            let at = self.switch_at;
            self.active = self.schedule.at(self.active.next);
            self.switches += 1;
            self.segment = self.segment(self.active.index, at);
            self.switch_at = self.clock.real_at(self.active.next).max(at);
        }
    }

    fn next_due(&self) -> Instant {
        self.segment.next_due().min(self.switch_at)
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Fixed(Segment),
    Day(Box<Day>),
    Replay(Replay),
}

/// What the loop asks what to send and when.
#[derive(Debug, Clone)]
pub struct Pacer {
    kind: Kind,
}

impl Pacer {
    /// One shape for the whole run, from `start`. `seed` is the configured
    /// seed; it is mixed with the replica's index here.
    pub fn fixed(shape: Shape, arrivals: Arrivals, start: Instant, replica: Replica, seed: Option<u64>) -> Self {
        let seed = seed.map(|s| mix_seed(s, replica) ^ POISSON_SALT);
        Self { kind: Kind::Fixed(Segment::new(shape, arrivals, start, replica, seed)) }
    }

    /// A day's schedule, read on `clock` (which starts at `start`).
    pub fn day(
        schedule: Arc<DaySchedule>,
        clock: ScaledClock,
        arrivals: Arrivals,
        start: Instant,
        replica: Replica,
        seed: Option<u64>,
    ) -> Self {
        let active = schedule.at(clock.virtual_at(start));
        let seed = seed.map(|s| mix_seed(s, replica) ^ POISSON_SALT);
        let switch_at = clock.real_at(active.next).max(start);
        let segment = Segment::new(schedule.entries()[active.index].shape, arrivals, start, replica, seed);
        let day = Day { schedule, clock, arrivals, replica, seed, active, switch_at, segment, switches: 0 };
        Self { kind: Kind::Day(Box::new(day)) }
    }

    pub fn replay(replay: Replay) -> Self {
        Self { kind: Kind::Replay(replay) }
    }

    /// When something is next due; `None` when the pacing is over (a replay
    /// without loop after its last record).
    pub fn next_due(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Fixed(s) => Some(s.next_due()),
            Kind::Day(d) => Some(d.next_due()),
            Kind::Replay(r) => r.next_due(),
        }
    }

    /// When the loop should wake after waking at `last` (`None`: it has not
    /// woken yet): when the next thing is due, but for rate pacing no sooner
    /// than [`FINE_TICK`] after `last` (what falls due in between goes out together).
    pub fn wake_at(&self, last: Option<Instant>) -> Option<Instant> {
        let fine = match &self.kind {
            Kind::Fixed(s) => s.is_fine(),
            Kind::Day(d) => d.segment.is_fine(),
            Kind::Replay(_) => false,
        };
        let next = self.next_due()?;
        Some(match last {
            Some(last) if fine => next.max(last + FINE_TICK),
            _ => next,
        })
    }

    /// What is due at `now`, if anything. Call again until `None`: a backlog
    /// comes in chunks (at most [`MAX_CHUNK`] messages or one tick each).
    pub fn take(&mut self, now: Instant) -> Option<Due> {
        match &mut self.kind {
            Kind::Fixed(s) => s.take(now),
            Kind::Day(d) => d.take(now),
            Kind::Replay(r) => r.take(now, MAX_CHUNK).map(|(range, at)| Due::Replay { range, at }),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.next_due().is_none()
    }

    /// The `PRESET_SCHEDULE` entry in force, if there is a schedule.
    pub fn active_entry(&self) -> Option<&Entry> {
        match &self.kind {
            Kind::Day(d) => d.schedule.entries().get(d.active.index),
            _ => None,
        }
    }

    /// Every `PRESET_SCHEDULE` entry (empty without a schedule).
    pub fn schedule_entries(&self) -> &[Entry] {
        match &self.kind {
            Kind::Day(d) => d.schedule.entries(),
            _ => &[],
        }
    }

    pub fn replay_position(&self) -> Option<Position> {
        match &self.kind {
            Kind::Replay(r) => Some(r.position()),
            _ => None,
        }
    }

    pub fn replay_plan(&self) -> Option<&ReplayPlan> {
        match &self.kind {
            Kind::Replay(r) => Some(r.plan()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::pacing::day::parse_tz;

    const ONE: Replica = Replica::ONE;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn preset(name: &str) -> Option<Shape> {
        match name {
            "high" => Some(Shape::Interval { interval: ms(200), min: 10, max: 20 }),
            "normal" => Some(Shape::Interval { interval: ms(500), min: 1, max: 10 }),
            "low" => Some(Shape::Interval { interval: ms(2000), min: 1, max: 5 }),
            _ => None,
        }
    }

    /// Drives `p` like the loop does, waking exactly at `wake_at`, until `end`:
    /// every Due with the instant the loop woke for it.
    fn drive(p: &mut Pacer, start: Instant, end: Instant) -> Vec<(Instant, Due)> {
        let mut out = Vec::new();
        let mut last = None;
        while let Some(wake) = p.wake_at(last).filter(|&w| w <= end) {
            assert!(wake >= last.unwrap_or(start), "woke backwards");
            last = Some(wake);
            while let Some(due) = p.take(wake) {
                assert!(due.at() <= wake, "sent before it was due");
                out.push((wake, due));
            }
        }
        out
    }

    #[test]
    fn the_interval_mode_ticks_as_before() {
        let t0 = Instant::now();
        let shape = Shape::Interval { interval: ms(500), min: 1, max: 10 };
        let mut p = Pacer::fixed(shape, Arrivals::Steady, t0, ONE, None);
        let got = drive(&mut p, t0, t0 + ms(2000));
        let ticks: Vec<_> = got.iter().map(|(w, d)| (*w - t0, d.clone())).collect();
        let expected: Vec<_> = (0..=4)
            .map(|n| (ms(500) * n, Due::Tick { tick: n as u64, at: t0 + ms(500) * n, min: 1, max: 10 }))
            .collect();
        assert_eq!(ticks, expected);
    }

    #[test]
    fn a_high_rate_wakes_once_a_millisecond_and_sends_what_is_due() {
        let t0 = Instant::now();
        let mut p = Pacer::fixed(Shape::Rate(Rate::PerSecond(20_000.0)), Arrivals::Steady, t0, ONE, None);
        let got = drive(&mut p, t0, t0 + Duration::from_secs(1));
        // One wake-up per millisecond (plus the one at the start), 20 messages each.
        assert_eq!(got.len(), 1001);
        assert!(got.windows(2).all(|w| w[1].0 - w[0].0 == FINE_TICK));
        let total: u64 = got.iter().map(|(_, d)| if let Due::Sample { count, .. } = d { *count } else { 0 }).sum();
        assert_eq!(total, 20_001);
        // A low rate wakes exactly when each message is due.
        let mut p = Pacer::fixed(Shape::Rate(Rate::PerSecond(0.5)), Arrivals::Steady, t0, ONE, None);
        let wakes: Vec<_> = drive(&mut p, t0, t0 + Duration::from_secs(10)).iter().map(|(w, _)| *w - t0).collect();
        assert_eq!(wakes, (0..=5).map(|n| Duration::from_secs(2 * n)).collect::<Vec<_>>());
    }

    #[test]
    fn max_is_always_due_in_chunks() {
        let t0 = Instant::now();
        let mut p = Pacer::fixed(Shape::Rate(Rate::Max), Arrivals::Steady, t0, ONE, None);
        let later = t0 + ms(5);
        assert_eq!(p.wake_at(Some(t0 + ms(3))), Some(t0 + ms(4)), "a burst still yields once a millisecond");
        assert_eq!(p.take(later), Some(Due::Sample { count: MAX_CHUNK, at: later }));
        assert_eq!(p.take(later), Some(Due::Sample { count: MAX_CHUNK, at: later }));
    }

    /// A schedule starting at `wall` on the real clock from `t0`, scaled by `k`.
    fn day(raw: &str, wall: &str, k: f64, t0: Instant) -> Pacer {
        let schedule = DaySchedule::parse(raw, parse_tz("UTC").unwrap(), preset, "high, normal or low").unwrap();
        let clock = ScaledClock::new(t0, wall.parse::<Timestamp>().unwrap(), k);
        Pacer::day(Arc::new(schedule), clock, Arrivals::Steady, t0, ONE, Some(1))
    }

    #[test]
    fn a_schedule_switches_in_place_at_midnight_without_dropping_a_tick() {
        let t0 = Instant::now();
        // 23:59:55: low (2 s) until midnight, then normal (0.5 s).
        let mut p = day("00:00=normal,12:00=low", "2026-06-01T23:59:55Z", 1.0, t0);
        assert_eq!(p.active_entry().unwrap().text, "12:00=low");
        let got = drive(&mut p, t0, t0 + ms(6000));
        let at: Vec<_> = got.iter().map(|(_, d)| d.at() - t0).collect();
        // Low ticks at 0, 2, 4 s; midnight at 5 s: normal ticks from there on.
        assert_eq!(at, [0, 2000, 4000, 5000, 5500, 6000].map(ms));
        assert_eq!(p.active_entry().unwrap().text, "00:00=normal");
        let sizes: Vec<_> = got.iter().map(|(_, d)| if let Due::Tick { max, .. } = d { *max } else { 0 }).collect();
        assert_eq!(sizes, [5, 5, 5, 10, 10, 10]);
    }

    #[test]
    fn a_late_loop_sends_the_old_entrys_backlog_before_the_new_one() {
        let t0 = Instant::now();
        let mut p = day("00:00=normal,12:00=low", "2026-06-01T23:59:55Z", 1.0, t0);
        assert!(p.take(t0).is_some());
        // The loop wakes only at 5.6 s: low's ticks at 2 and 4 s, then normal's at 5 and 5.5 s.
        let late = t0 + ms(5600);
        let got: Vec<_> =
            std::iter::from_fn(|| p.take(late)).map(|d| (d.at() - t0, matches!(d, Due::Tick { max: 5, .. }))).collect();
        assert_eq!(got, [(ms(2000), true), (ms(4000), true), (ms(5000), false), (ms(5500), false)]);
    }

    #[test]
    fn time_scale_runs_the_schedule_faster_and_rates_apply_per_entry() {
        let t0 = Instant::now();
        // At 60x, 07:59 to 08:00 takes one real second; 08:00 to 08:01 another.
        let mut p = day("08:00=10/s,08:01=normal,20:00=low", "2026-06-01T07:59:00Z", 60.0, t0);
        assert_eq!(p.active_entry().unwrap().text, "20:00=low");
        let got = drive(&mut p, t0, t0 + ms(2000));
        let low: Vec<_> =
            got.iter().filter(|(_, d)| matches!(d, Due::Tick { max: 5, .. })).map(|(_, d)| d.at() - t0).collect();
        assert_eq!(low, [ms(0)]);
        // 10/s from 1 s to 2 s: messages due at 1.0, 1.1, ..., 1.9 s.
        let rate: Vec<_> = got
            .iter()
            .filter_map(|(_, d)| match d {
                Due::Sample { count, at } => Some((*count, *at - t0)),
                _ => None,
            })
            .collect();
        assert_eq!(rate, (0..10).map(|i| (1, ms(1000 + 100 * i))).collect::<Vec<_>>());
        // Then normal's first tick exactly at 2 s.
        assert_eq!(got.last().map(|(_, d)| d.clone()), Some(Due::Tick { tick: 0, at: t0 + ms(2000), min: 1, max: 10 }));
        assert_eq!(p.active_entry().unwrap().text, "08:01=normal");
    }

    #[test]
    fn a_replay_is_over_after_its_last_record() {
        let t0 = Instant::now();
        let plan = Arc::new(ReplayPlan::build([Some("10"), Some("0"), Some("5")], ONE));
        let replay = Replay::new(Arc::clone(&plan), t0, super::super::replay::Speed::Factor(5.0), false);
        let mut p = Pacer::replay(replay);
        let got = drive(&mut p, t0, t0 + Duration::from_secs(60));
        let sent: Vec<_> = got
            .iter()
            .flat_map(|(w, d)| match d {
                Due::Replay { range, .. } => {
                    plan.order[range.clone()].iter().map(|&i| (*w - t0, i)).collect::<Vec<_>>()
                }
                _ => vec![],
            })
            .collect();
        assert_eq!(sent, [(ms(0), 1), (ms(1000), 2), (ms(2000), 0)]);
        assert!(p.is_finished());
        assert_eq!(p.replay_position().unwrap().sent, 3);
    }
}
