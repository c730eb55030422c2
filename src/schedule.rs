//! The interval loop: on a fixed schedule, sample a batch and send it.
//!
//! Ticks are anchored to the start time (tokio's interval with `Burst`), so a
//! late batch does not shift later ticks: if sending falls behind, missed ticks
//! fire at once until the loop has caught up, the rate is kept, and the lag is
//! logged. Each batch's deliveries are awaited with `join_all` in a task of its
//! own, tracked by a `TaskTracker`, so the loop only enqueues. On cancellation
//! the current batch finishes enqueuing, no new batch starts, and the drain of
//! in-flight deliveries plus librdkafka's flush is bounded by one deadline.
//!
//! Time is tokio's, so tests drive it with `tokio::time::pause()`; the
//! shutdown signal is a `CancellationToken` passed in.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dataset::Dataset;
use crate::events::{self, Stats, Totals};
use crate::sampler::Sampler;
use crate::sink::{failure_reason, KafkaSink};

/// What the loop needs from the configuration.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub interval: Duration,
    pub min_records: u32,
    pub max_records: u32,
    pub max_messages: Option<u64>,
    pub shutdown_timeout: Duration,
    pub progress_interval: Duration,
    /// Fixed RNG seed for reproducible tests; `None` in production.
    pub seed: Option<u64>,
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
}

/// Runs until `shutdown` is cancelled or `max_messages` are delivered, then drains.
pub async fn run(
    schedule: &Schedule,
    dataset: Arc<Dataset>,
    sink: Arc<KafkaSink>,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) -> Outcome {
    let mut sampler = Sampler::new(schedule.min_records, schedule.max_records, dataset.len(), schedule.seed);
    let start = Instant::now();
    let mut ticker = tokio::time::interval_at(start, schedule.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut progress = tokio::time::interval_at(start + schedule.progress_interval, schedule.progress_interval);
    progress.set_missed_tick_behavior(MissedTickBehavior::Delay);

    // Cancelled by a delivery task when MAX_MESSAGES have been delivered.
    let done = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut ticks = 0u64;
    let mut last_progress = (stats.totals(), Instant::now());
    let mut max_lag = Duration::ZERO;
    let mut pending = Vec::with_capacity(schedule.max_records as usize);
    stats.health.loop_started(schedule.interval);
    // Once a second: has the broker stopped acknowledging what is in flight?
    let mut ack_check = tokio::time::interval_at(start + ACK_CHECK_EVERY, ACK_CHECK_EVERY);
    ack_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut ack_watch = AckWatch::new(ACK_STALL_AFTER, Instant::now());

    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = done.cancelled() => break,
            scheduled = ticker.tick() => {
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
                let k = sampler.batch_size(limit);
                if k == 0 {
                    continue;
                }
                let indices = sampler.sample(k);
                let sent_at = Instant::now();
                sink.send_batch(&dataset, indices, &stats, &mut pending).await;
                let lag = Instant::now().saturating_duration_since(scheduled);
                let bytes = pending.iter().map(|(_, size)| size).sum();
                events::batch_sent(&stats, ticks, pending.len(), bytes, lag);
                max_lag = max_lag.max(lag);
                if lag >= schedule.interval {
                    events::behind_schedule(lag, schedule.interval);
                }
                let futures = std::mem::replace(&mut pending, Vec::with_capacity(schedule.max_records as usize));
                tracker.spawn(await_deliveries(futures, sent_at, Arc::clone(&stats), schedule.max_messages, done.clone()));
            }
            _ = progress.tick() => {
                let now = (stats.totals(), Instant::now());
                events::progress(now.0, last_progress.0, now.1 - last_progress.1, max_lag);
                last_progress = now;
                max_lag = Duration::ZERO;
            }
            _ = ack_check.tick() => {
                match ack_watch.observe(stats.totals(), Instant::now()) {
                    Some(AckEvent::Stalled { quiet, in_flight, failed }) => events::broker_not_acknowledging(quiet, in_flight, failed),
                    Some(AckEvent::Resumed { quiet }) => events::broker_acknowledging_again(quiet),
                    None => {}
                }
            }
        }
    }
    if let Some(max) = schedule.max_messages {
        if stats.delivered.load(Relaxed) >= max {
            events::max_messages_reached(max);
        }
    }

    // Drain: every batch already enqueued is awaited, bounded by SHUTDOWN_TIMEOUT.
    tracker.close();
    let deadline = Instant::now() + schedule.shutdown_timeout;
    sink.flush(schedule.shutdown_timeout).await;
    let drained = tokio::time::timeout_at(deadline, tracker.wait()).await.is_ok();
    let totals = stats.totals();
    let undelivered = totals.in_flight();
    if !drained || undelivered > 0 {
        events::drain_timed_out(undelivered, schedule.shutdown_timeout);
    }
    Outcome { totals, undelivered, ticks }
}

async fn await_deliveries(
    futures: Vec<(rdkafka::producer::DeliveryFuture, usize)>,
    sent_at: Instant,
    stats: Arc<Stats>,
    max_messages: Option<u64>,
    done: CancellationToken,
) {
    // Each delivery is timed as it completes, not when the whole batch has.
    let timed = futures.into_iter().map(|(f, size)| async move { (f.await, size, sent_at.elapsed()) });
    let mut any_delivered = false;
    for (result, size, latency) in join_all(timed).await {
        match result {
            Ok(Ok(_delivery)) => {
                any_delivered = true;
                events::delivered(&stats, size, latency);
            }
            Ok(Err((e, _message))) => events::delivery_failed(&stats, &failure_reason(&e), &e.to_string()),
            // The producer was dropped with the message still queued.
            Err(_canceled) => events::delivery_failed(&stats, "ProducerDropped", "producer closed before delivery"),
        }
    }
    if any_delivered {
        stats.health.broker_answered();
    }
    if max_messages.is_some_and(|max| stats.delivered.load(Relaxed) >= max) {
        done.cancel();
    }
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
}
