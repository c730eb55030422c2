//! The scheduling loop: wake when the pacing says something is due, turn it
//! into records (a sampled batch, sampled messages, replayed records) and send
//! them. Every mode's due times come from [`crate::pacing`]; the send path,
//! drain and metrics are shared.
//!
//! In the interval mode (the default) ticks are anchored to the start time (tick n is due at start + n x interval),
//! so a late batch does not shift later ticks: if sending falls behind, missed
//! ticks fire at once until the loop has caught up, the rate is kept, and the
//! lag is logged. Each tick is waited for with sub-millisecond precision
//! ([`tick_at`]). Deliveries are counted by the producer's polling thread as
//! they arrive (see `sink`), so the loop only enqueues; each batch completes
//! with its last report. On cancellation the current batch finishes
//! enqueuing, no new batch starts, and the drain awaits the batches still in
//! flight together, bounded by one deadline.
//!
//! Time is tokio's, so tests drive it with `tokio::time::pause()`; the
//! shutdown signal is a `CancellationToken` passed in.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::dataset::reload::Live;
use crate::message::MessageBuilder;
use crate::observe::events::{self, Stats, Totals};
use crate::pacing::day::{DaySchedule, ScaledClock};
use crate::pacing::rate::Shape;
use crate::pacing::rate::{Arrivals, Rate};
use crate::pacing::replay::{Replay, ReplayPlan, Speed};
use crate::pacing::replicas::{mix_seed, Replica};
use crate::pacing::sampler::Sampler;
use crate::pacing::{Due, Pacer};
use crate::sink::{Batch, KafkaSink};

/// How the loop paces what it sends (see [`crate::pacing`]).
#[derive(Debug, Clone)]
pub enum Pacing {
    /// Every `interval`, a batch of `min_records..=max_records` (the default).
    Interval,
    Rate {
        rate: Rate,
        arrivals: Arrivals,
    },
    Day {
        schedule: Arc<DaySchedule>,
        time_scale: f64,
        arrivals: Arrivals,
    },
    Replay {
        plan: Arc<ReplayPlan>,
        speed: Speed,
        looping: bool,
    },
}

/// What the loop needs from the configuration.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub pacing: Pacing,
    /// Stop after this long (then drain).
    pub run_duration: Option<Duration>,
    /// This replica's share of the traffic.
    pub replica: Replica,
    pub interval: Duration,
    pub min_records: u32,
    pub max_records: u32,
    pub max_messages: Option<u64>,
    pub shutdown_timeout: Duration,
    pub progress_interval: Duration,
    /// `RANDOM_SEED` (or the seed drawn and logged at startup), mixed with the
    /// replica index; `None`: from the OS.
    pub seed: Option<u64>,
    /// `LOG_BATCHES`: each completed batch logged at info.
    pub log_batches: bool,
}

impl Schedule {
    /// The interval mode with these values, one replica, no run length.
    pub fn interval(interval: Duration, min_records: u32, max_records: u32) -> Self {
        Self {
            pacing: Pacing::Interval,
            run_duration: None,
            replica: Replica::ONE,
            interval,
            min_records,
            max_records,
            max_messages: None,
            shutdown_timeout: Duration::from_secs(20),
            progress_interval: Duration::from_secs(5),
            seed: None,
            log_batches: false,
        }
    }
}

/// How long the producer may go without one successful delivery, while
/// messages are in flight or failing, before the broker is reported as not
/// acknowledging. A stopped or partitioned broker keeps its TCP connections
/// open, so librdkafka itself says nothing until its request timeout (30 s or
/// more); this makes the log say so within seconds.
pub const ACK_STALL_AFTER: Duration = Duration::from_secs(5);
const ACK_CHECK_EVERY: Duration = Duration::from_secs(1);

/// What [`AckWatch::observe`] noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckEvent {
    /// No successful delivery for `quiet` while messages were in flight or failing.
    Stalled { quiet: Duration, in_flight: u64, failed: u64 },
    /// Deliveries succeed again after a stall of `quiet`.
    Resumed { quiet: Duration },
}

/// Watches for a stretch with no successful delivery while the producer has
/// work: messages in flight, or failing (timeouts are failures, not answers).
#[derive(Debug)]
pub struct AckWatch {
    after: Duration,
    delivered: u64,
    failed: u64,
    since: Instant,
    stalled: bool,
}

impl AckWatch {
    pub fn new(after: Duration, now: Instant) -> Self {
        Self { after, delivered: 0, failed: 0, since: now, stalled: false }
    }

    pub fn observe(&mut self, t: Totals, now: Instant) -> Option<AckEvent> {
        let quiet = now.saturating_duration_since(self.since);
        if t.delivered != self.delivered {
            self.delivered = t.delivered;
            self.failed = t.failed;
            self.since = now;
            return std::mem::replace(&mut self.stalled, false).then_some(AckEvent::Resumed { quiet });
        }
        let failed = t.failed - self.failed.min(t.failed);
        if t.in_flight() == 0 && failed == 0 {
            // Idle, not stalled: nothing is waiting for the broker.
            self.since = now;
            return None;
        }
        if quiet >= self.after {
            self.stalled = true;
            return Some(AckEvent::Stalled { quiet, in_flight: t.in_flight(), failed });
        }
        None
    }
}

/// Why the loop stopped and what was left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub totals: Totals,
    /// Messages neither delivered nor failed when the shutdown deadline passed.
    pub undelivered: u64,
    pub ticks: u64,
    /// A signal stopped the loop (not its own end, nor `MAX_MESSAGES`).
    pub signalled: bool,
}

/// Builds the pacer of `schedule`'s mode, anchored at `start`.
fn pacer(schedule: &Schedule, start: Instant) -> Pacer {
    let (replica, seed) = (schedule.replica, schedule.seed);
    match &schedule.pacing {
        Pacing::Interval => {
            let shape =
                Shape::Interval { interval: schedule.interval, min: schedule.min_records, max: schedule.max_records };
            Pacer::fixed(shape, Arrivals::Steady, start, replica, seed)
        }
        Pacing::Rate { rate, arrivals } => Pacer::fixed(Shape::Rate(*rate), *arrivals, start, replica, seed),
        Pacing::Day { schedule: day, time_scale, arrivals } => {
            let clock = ScaledClock::new(start, jiff::Timestamp::now(), *time_scale);
            Pacer::day(Arc::clone(day), clock, *arrivals, start, replica, seed)
        }
        Pacing::Replay { plan, speed, looping } => {
            Pacer::replay(Replay::new(Arc::clone(plan), start, *speed, *looping))
        }
    }
}

/// How late a batch must be to be worth a `behind_schedule` warning: one
/// interval, or 100 ms of a rate or replay; a burst (`max`) has no schedule to
/// fall behind.
fn behind_after(pacing: &Pacing, interval: Duration) -> Duration {
    match pacing {
        Pacing::Interval => interval,
        Pacing::Rate { rate: Rate::Max, .. } => Duration::MAX,
        _ => BEHIND_A_RATE,
    }
}

const BEHIND_A_RATE: Duration = Duration::from_millis(100);

/// Resolves when `at` passes; never without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs until `shutdown` is cancelled, `max_messages` are delivered,
/// `run_duration` has passed or a replay is over, then drains.
pub async fn run(
    schedule: &Schedule,
    dataset: Arc<Live>,
    sink: Arc<KafkaSink>,
    mut messages: MessageBuilder,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) -> Outcome {
    let sampler_seed = schedule.seed.map(|s| mix_seed(s, schedule.replica));
    let mut sampler = Sampler::new(schedule.min_records, schedule.max_records, dataset.current().len(), sampler_seed);
    let start = Instant::now();
    // What is due when: tick n at start + n x interval, message i at start + i / r, ...
    let mut pacer = pacer(schedule, start);
    let replay_plan = match &schedule.pacing {
        Pacing::Replay { plan, .. } => Some(Arc::clone(plan)),
        _ => None,
    };
    let interval_mode = matches!(schedule.pacing, Pacing::Interval);
    let pinned = replay_plan.as_ref().map(|_| dataset.current());
    // The dataset the message builder's index was built for, and a reloaded
    // one it could not be built for.
    let mut indexed = dataset.current();
    let mut rejected: Option<Arc<crate::dataset::Dataset>> = None;
    let behind_after = behind_after(&schedule.pacing, schedule.interval);
    let stop_at = schedule.run_duration.map(|d| start + d);
    let run_end = until(stop_at);
    tokio::pin!(run_end);
    let mut progress = tokio::time::interval_at(start + schedule.progress_interval, schedule.progress_interval);
    progress.set_missed_tick_behavior(MissedTickBehavior::Delay);

    // Cancelled by the delivery callback when MAX_MESSAGES have been delivered.
    let done = CancellationToken::new();
    sink.attach(Arc::clone(&stats), schedule.max_messages, schedule.log_batches, done.clone());
    // Batches sent and maybe not complete yet, oldest first (they mostly complete in order).
    let mut in_flight: VecDeque<Arc<Batch>> = VecDeque::new();
    let mut ticks = 0u64;
    let mut last_progress = (stats.totals(), Instant::now());
    let mut max_lag = Duration::ZERO;
    // Rates and replays may have nothing due for long: the loop proves it is
    // alive at each broker check instead (once a second).
    stats.health.loop_started(if interval_mode { schedule.interval } else { ACK_CHECK_EVERY });
    // Once a second: has the broker stopped acknowledging what is in flight?
    let mut ack_check = tokio::time::interval_at(start + ACK_CHECK_EVERY, ACK_CHECK_EVERY);
    ack_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut ack_watch = AckWatch::new(ACK_STALL_AFTER, Instant::now());
    let entries: Vec<String> = pacer.schedule_entries().iter().map(|e| e.text.clone()).collect();
    let mut entry = pacer.active_entry().map(|e| e.text.clone());
    if let Some(e) = &entry {
        events::schedule_entry_active(&stats, e, &entries);
    }
    let mut last_wake = None;
    let mut signalled = false;

    loop {
        let Some(wake) = pacer.wake_at(last_wake) else {
            events::replay_finished(pacer.replay_position().map_or(0, |p| p.sent));
            break;
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                signalled = true;
                break;
            }
            () = done.cancelled() => break,
            () = &mut run_end => {
                events::run_duration_reached(schedule.run_duration.unwrap_or_default());
                break;
            }
            // Before the sends: a loop catching up or bursting still reports.
            _ = progress.tick() => {
                let now = (stats.totals(), Instant::now());
                let pace = events::PaceProgress { entry: entry.as_deref(), replay: pacer.replay_position() };
                events::progress(&stats, now.0, last_progress.0, now.1 - last_progress.1, max_lag, pace);
                last_progress = now;
                max_lag = Duration::ZERO;
            }
            _ = ack_check.tick() => {
                if !interval_mode {
                    stats.health.tick();
                }
                match ack_watch.observe(stats.totals(), Instant::now()) {
                    Some(AckEvent::Stalled { quiet, in_flight, failed }) => {
                        events::broker_not_acknowledging(quiet, in_flight, failed);
                        sink.check_stuck(quiet, stats.health.broker_age(), Instant::now());
                    }
                    Some(AckEvent::Resumed { quiet }) => events::broker_acknowledging_again(quiet),
                    None => {}
                }
            }
            woke = tick_at(wake) => {
                last_wake = Some(woke);
                // One piece of work per wake-up, so signals and progress are
                // seen between the chunks of a backlog or a burst.
                // Nothing due after RUN_DURATION goes out, even if its timer fires
                // a little late: the count stays within one of r x T.
                let now = Instant::now();
                let Some(due) = pacer.take(stop_at.map_or(now, |s| now.min(s))) else { continue };
                let now_entry = pacer.active_entry().map(|e| &e.text);
                if now_entry != entry.as_ref() {
                    entry = now_entry.cloned();
                    if let Some(e) = &entry {
                        events::schedule_entry_active(&stats, e, &entries);
                    }
                }
                ticks += 1;
                stats.health.tick();
                let limit = match schedule.max_messages {
                    // Never schedule more than MAX_MESSAGES could still need.
                    Some(max) => {
                        let t = stats.totals();
                        max.saturating_sub(t.delivered + t.in_flight())
                    }
                    None => u64::MAX,
                };
                // A reload swaps datasets between batches: this batch uses one
                // version throughout. A replay's plan indexes the records it was
                // built from, so a replay keeps them.
                let mut current = match &pinned {
                    Some(d) => Arc::clone(d),
                    None => dataset.current(),
                };
                // The message index follows the dataset; one that does not fit
                // the new version (its key column is gone) keeps the old one.
                if !Arc::ptr_eq(&current, &indexed) {
                    if rejected.as_ref().is_some_and(|r| Arc::ptr_eq(r, &current)) {
                        current = Arc::clone(&indexed);
                    } else {
                        match messages.reindex(&*current) {
                            Ok(()) => indexed = Arc::clone(&current),
                            Err(e) => {
                                events::messages_reindex_failed(&e);
                                rejected = Some(current);
                                current = Arc::clone(&indexed);
                            }
                        }
                    }
                }
                if current.len() != sampler.records() {
                    sampler.set_records(current.len());
                }
                let indices: &[usize] = match &due {
                    Due::Tick { min, max, .. } => {
                        let k = sampler.batch_size_between(*min, *max, limit);
                        sampler.sample(k)
                    }
                    Due::Sample { count, .. } => sampler.sample((*count).min(limit) as usize),
                    Due::Replay { range, .. } => {
                        let order = replay_plan.as_ref().map_or(&[][..], |p| &p.order[..]);
                        let end = range.end.min(range.start.saturating_add(limit.min(usize::MAX as u64) as usize));
                        &order[range.start..end]
                    }
                };
                if indices.is_empty() {
                    continue;
                }
                events::scheduled(&stats, indices.len() as u64);
                let (batch, sent, bytes) = sink.send_batch(ticks, &mut messages, &current, indices, &stats).await;
                while in_flight.front().is_some_and(|b| b.is_complete()) {
                    in_flight.pop_front();
                }
                if !batch.is_complete() {
                    in_flight.push_back(batch);
                }
                let lag = Instant::now().saturating_duration_since(due.at());
                events::batch_sent(&stats, ticks, sent, bytes, lag);
                max_lag = max_lag.max(lag);
                if lag >= behind_after {
                    events::behind_schedule(lag, behind_after);
                }
            }
        }
    }
    if let Some(max) = schedule.max_messages {
        if stats.delivered() >= max {
            events::max_messages_reached(max);
        }
    }

    drain(in_flight, schedule.shutdown_timeout).await;
    let totals = stats.totals();
    let undelivered = totals.in_flight();
    if undelivered > 0 {
        events::drain_timed_out(undelivered, schedule.shutdown_timeout);
    }
    Outcome { totals, undelivered, ticks, signalled }
}

/// The drain: awaits the completions of the batches still in flight together
/// (`join_all`), for at most `timeout`. The producer's polling thread keeps
/// serving delivery reports meanwhile; each batch completes with its last.
async fn drain(in_flight: VecDeque<Arc<Batch>>, timeout: Duration) {
    let waiting: Vec<Arc<Batch>> = in_flight.into_iter().filter(|b| !b.is_complete()).collect();
    let messages: usize = waiting.iter().map(|b| b.pending()).sum();
    events::draining(waiting.len(), messages, timeout);
    let started = std::time::Instant::now();
    let (deadline, _stop_timer) = real_time_deadline(timeout);
    let complete = tokio::select! {
        _ = futures::future::join_all(waiting.iter().map(|b| b.completed())) => true,
        () = deadline.cancelled() => false,
    };
    events::drained(waiting.len(), messages, complete, started.elapsed());
}

/// A token cancelled after `timeout` of real time: deliveries arrive in real
/// time even when tests pause tokio's clock, which would otherwise jump past
/// the deadline at once. Dropping the returned sender ends the timer early.
fn real_time_deadline(timeout: Duration) -> (CancellationToken, std::sync::mpsc::Sender<()>) {
    let token = CancellationToken::new();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let fire = token.clone();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(timeout) {
            fire.cancel();
        }
    });
    (token, stop)
}

/// tokio's timer counts whole milliseconds and rounds up, so a tick left to it
/// fires up to ~1 ms late, and ~3 ms at p99 on a busy 2-core machine
/// (`scripts/bench/run.sh`). The loop asks tokio to wake it this much early and
/// sleeps the rest with the OS's high-resolution sleep.
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// Waits until `deadline`, to within the OS's sleep precision (~0.1 ms), and
/// returns it. At most `TIMER_SLACK` of the wait blocks the worker thread (a
/// sleep, not a spin: no CPU). A deadline already past returns at once.
async fn tick_at(deadline: Instant) -> Instant {
    if let Some(early) = deadline.checked_sub(TIMER_SLACK) {
        if Instant::now() < early {
            tokio::time::sleep_until(early).await;
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        std::thread::sleep(left);
    }
    if Instant::now() < deadline {
        // Only with tokio's clock paused (tests): move it to the deadline.
        tokio::time::sleep_until(deadline).await;
    }
    deadline
}

#[cfg(test)]
mod ack_watch_tests {
    use super::*;

    fn totals(sent: u64, delivered: u64, failed: u64) -> Totals {
        Totals { sent, delivered, failed, ..Totals::default() }
    }

    #[test]
    fn silence_with_messages_in_flight_is_reported_then_the_recovery() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = AckWatch::new(s(5), t0);
        assert_eq!(w.observe(totals(10, 10, 0), t0 + s(1)), None);
        // The broker stops answering: 20 more sent, no report.
        assert_eq!(w.observe(totals(30, 10, 0), t0 + s(3)), None);
        assert_eq!(w.observe(totals(30, 10, 0), t0 + s(5)), None);
        assert_eq!(
            w.observe(totals(50, 10, 0), t0 + s(6)),
            Some(AckEvent::Stalled { quiet: s(5), in_flight: 40, failed: 0 })
        );
        assert_eq!(
            w.observe(totals(60, 10, 0), t0 + s(9)),
            Some(AckEvent::Stalled { quiet: s(8), in_flight: 50, failed: 0 })
        );
        assert_eq!(w.observe(totals(70, 60, 0), t0 + s(10)), Some(AckEvent::Resumed { quiet: s(9) }));
        assert_eq!(w.observe(totals(80, 70, 0), t0 + s(11)), None);
    }

    #[test]
    fn timeouts_are_not_answers() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = AckWatch::new(s(5), t0);
        assert_eq!(w.observe(totals(10, 10, 0), t0 + s(1)), None);
        // Every message now times out: reports arrive, none is a delivery.
        assert_eq!(w.observe(totals(40, 10, 20), t0 + s(4)), None);
        assert_eq!(
            w.observe(totals(50, 10, 40), t0 + s(6)),
            Some(AckEvent::Stalled { quiet: s(5), in_flight: 0, failed: 40 })
        );
        assert_eq!(w.observe(totals(60, 20, 40), t0 + s(8)), Some(AckEvent::Resumed { quiet: s(7) }));
    }

    #[test]
    fn an_idle_producer_is_not_stalled() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = AckWatch::new(s(5), t0);
        // Nothing in flight for a long time (a slow schedule): no report.
        assert_eq!(w.observe(totals(3, 3, 0), t0 + s(1)), None);
        assert_eq!(w.observe(totals(3, 3, 0), t0 + s(60)), None);
        // One message goes out and is answered within the bound.
        assert_eq!(w.observe(totals(4, 3, 0), t0 + s(62)), None);
        assert_eq!(w.observe(totals(4, 4, 0), t0 + s(63)), None);
    }

    #[test]
    fn behind_schedule_means_an_interval_late_or_100_ms_of_a_rate_and_never_for_a_burst() {
        let interval = Duration::from_secs(4);
        assert_eq!(behind_after(&Pacing::Interval, interval), interval);
        let max = Pacing::Rate { rate: Rate::Max, arrivals: Arrivals::Steady };
        assert_eq!(behind_after(&max, interval), Duration::MAX);
        let rate = Pacing::Rate { rate: Rate::PerSecond(50.0), arrivals: Arrivals::Poisson };
        assert_eq!(behind_after(&rate, interval), Duration::from_millis(100));
    }

    #[test]
    fn old_failures_do_not_make_an_idle_producer_stalled() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = AckWatch::new(s(5), t0);
        // 10 delivered and 5 failed, then nothing in flight and no new failure for a minute.
        assert_eq!(w.observe(totals(15, 10, 5), t0 + s(1)), None);
        assert_eq!(w.observe(totals(15, 10, 5), t0 + s(60)), None);
        // New failures count from the last delivery, quiet from the last idle check: 3 more.
        assert_eq!(
            w.observe(totals(18, 10, 8), t0 + s(70)),
            Some(AckEvent::Stalled { quiet: s(10), in_flight: 0, failed: 3 })
        );
    }
}

#[cfg(test)]
mod tick_tests {
    use super::*;

    #[tokio::test]
    async fn a_tick_never_fires_early_and_a_past_one_fires_at_once() {
        for ms in [0u64, 1, 3, 7] {
            let deadline = Instant::now() + Duration::from_millis(ms);
            assert_eq!(tick_at(deadline).await, deadline);
            assert!(Instant::now() >= deadline, "woke before a deadline {ms} ms ahead");
        }
        let past = Instant::now() - Duration::from_millis(50);
        let t = std::time::Instant::now();
        assert_eq!(tick_at(past).await, past);
        assert!(t.elapsed() < Duration::from_millis(20), "a past deadline waited {:?}", t.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_paused_clock_ticks_land_exactly_on_the_deadline() {
        let start = Instant::now();
        for n in 1..=5u32 {
            let deadline = start + Duration::from_millis(500) * n;
            tick_at(deadline).await;
            assert_eq!(Instant::now(), deadline);
        }
    }

    /// A tick far ahead waits on tokio's timer: only the last `TIMER_SLACK`
    /// blocks the thread, so signals and progress are served meanwhile.
    #[tokio::test(start_paused = true)]
    async fn a_far_tick_waits_on_the_timer_not_by_blocking_the_thread() {
        let real = std::time::Instant::now();
        let start = Instant::now();
        for n in 1..=3u32 {
            tick_at(start + Duration::from_secs(10) * n).await;
        }
        assert!(real.elapsed() < Duration::from_secs(5), "blocked for {:?}", real.elapsed());
    }
}
