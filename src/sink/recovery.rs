//! Healing a fatally broken producer: never alive but silent.
//!
//! An idempotent producer can end up in a state only a new producer clears:
//! librdkafka raises a fatal error (its `rd_kafka_fatal_error` path), or the
//! broker keeps refusing its epoch or sequence (`ProducerFenced` after an
//! outage longer than the message timeout on some brokers,
//! `InvalidProducerEpoch`, `OutOfOrderSequenceNumber`, `UnknownProducerId`).
//! From then on every message fails while the process looks fine. The
//! [`FatalSignal`] is raised by the producer's callbacks; the sink's recovery
//! task ([`super::KafkaSink::recover`]) asks the pure [`Recovery`] policy what
//! to do: rebuild the producer after a backoff, or give up after
//! [`MAX_REBUILDS_IN_A_ROW`] rebuilds without one successful delivery, so that
//! the process exits with [`crate::exit::PRODUCER_FATAL`] and the orchestrator
//! restarts it.

use std::sync::atomic::{AtomicBool, Ordering::AcqRel, Ordering::Acquire};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::error::RDKafkaErrorCode;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Rebuilds in a row, without a successful delivery between them, before giving up.
pub const MAX_REBUILDS_IN_A_ROW: u32 = 5;
/// The backoff before the second rebuild in a row; it doubles with each
/// one after. The first rebuild is immediate: deliveries have stopped already.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Errors a delivery can fail with that only a new producer clears.
pub fn needs_new_producer(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Fatal
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::OutOfOrderSequenceNumber
            | RDKafkaErrorCode::UnknownProducerId
            | RDKafkaErrorCode::InvalidProducerIdMapping
    )
}

/// No delivery for this long while the broker answers metadata: the producer
/// is stuck (a restarted broker that forgot its producer id answers
/// `UNKNOWN_PRODUCER_ID`, which librdkafka retries silently, with neither a
/// delivery report nor a fatal error).
pub const STUCK_AFTER: Duration = Duration::from_secs(5);
/// The broker counts as answering when a metadata probe (every
/// [`super::PROBE_EVERY`]) or a delivery came back this recently. Shorter than
/// `STUCK_AFTER` less a second, so a broker that went down with the last
/// delivery never counts as answering by the time the producer looks stuck.
pub const BROKER_ANSWERING: Duration = Duration::from_secs(3);

/// Is a producer with no delivery for `quiet` (counted from its last rebuild
/// at the latest) stuck, given the broker last answered `broker_age` ago? A
/// broker that is down is not: a new producer would not help it.
pub fn stuck(quiet: Duration, broker_age: Option<Duration>) -> bool {
    quiet >= STUCK_AFTER && broker_age.is_some_and(|age| age <= BROKER_ANSWERING)
}

/// Raised from librdkafka's threads when the producer is broken for good.
#[derive(Debug, Default)]
pub struct FatalSignal {
    raised: AtomicBool,
    reason: Mutex<String>,
    notify: Notify,
}

impl FatalSignal {
    /// Records the first reason since the last [`Self::take`] and wakes the recovery task.
    pub fn raise(&self, reason: &str) {
        if !self.raised.swap(true, AcqRel) {
            *self.reason.lock().unwrap_or_else(|p| p.into_inner()) = reason.to_owned();
            self.notify.notify_one();
        }
    }

    pub fn is_raised(&self) -> bool {
        self.raised.load(Acquire)
    }

    /// The reason it was raised for.
    pub fn reason(&self) -> String {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The reason, clearing the signal (a new producer starts clean).
    pub fn take(&self) -> String {
        let reason = std::mem::take(&mut *self.reason.lock().unwrap_or_else(|p| p.into_inner()));
        self.raised.store(false, std::sync::atomic::Ordering::Release);
        reason
    }

    /// Resolves when the signal is raised (at once if it already is).
    pub async fn raised(&self) {
        while !self.is_raised() {
            self.notify.notified().await;
        }
    }
}

/// What to do about a broken producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Build a new producer at this time (after the backoff); `attempt` counts
    /// the rebuilds in a row, from 1.
    Rebuild { at: Instant, attempt: u32 },
    /// Rebuilding has not helped: exit and let the orchestrator restart us.
    GiveUp { attempts: u32 },
}

/// The rebuild policy: the first rebuild at once, then a backoff doubling from [`FIRST_BACKOFF`] to
/// [`MAX_BACKOFF`], reset by a successful delivery; give up after
/// [`MAX_REBUILDS_IN_A_ROW`].
#[derive(Debug, Default)]
pub struct Recovery {
    in_a_row: u32,
    /// Messages delivered in all when the producer was last rebuilt.
    delivered_at_rebuild: u64,
}

impl Recovery {
    /// The producer is broken (again) at `now`, `delivered` messages having
    /// been delivered in all: one delivered since the last rebuild means the
    /// producer worked, and the count starts over.
    pub fn on_broken(&mut self, now: Instant, delivered: u64) -> Decision {
        if delivered > self.delivered_at_rebuild {
            self.in_a_row = 0;
        }
        if self.in_a_row >= MAX_REBUILDS_IN_A_ROW {
            return Decision::GiveUp { attempts: self.in_a_row };
        }
        let backoff = match self.in_a_row {
            0 => Duration::ZERO,
            n => FIRST_BACKOFF.saturating_mul(1 << (n - 1).min(16)).min(MAX_BACKOFF),
        };
        self.in_a_row += 1;
        Decision::Rebuild { at: now + backoff, attempt: self.in_a_row }
    }

    /// A new producer is in place, `delivered` messages having been delivered in all.
    pub fn rebuilt(&mut self, delivered: u64) {
        self.delivered_at_rebuild = delivered;
    }

    /// A rebuild has been made and the producer is broken again without a
    /// delivery in between: liveness should fail.
    pub fn rebuilding_has_not_helped(&self) -> bool {
        self.in_a_row > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_resets_on_delivery_and_gives_up_after_the_bound() {
        let t0 = Instant::now();
        let mut r = Recovery::default();
        let s = Duration::from_secs;
        assert_eq!(r.on_broken(t0, 0), Decision::Rebuild { at: t0, attempt: 1 });
        assert!(!r.rebuilding_has_not_helped());
        r.rebuilt(0);
        assert_eq!(r.on_broken(t0, 0), Decision::Rebuild { at: t0 + s(1), attempt: 2 });
        assert!(r.rebuilding_has_not_helped());
        r.rebuilt(0);
        // The new producer delivered 10 before it broke: it worked, start over.
        let mut ats = Vec::new();
        for _ in 0..MAX_REBUILDS_IN_A_ROW {
            match r.on_broken(t0, 10) {
                Decision::Rebuild { at, .. } => ats.push(at - t0),
                d => panic!("gave up early: {d:?}"),
            }
            r.rebuilt(10);
        }
        assert_eq!(ats, [s(0), s(1), s(2), s(4), s(8)]);
        assert!(r.rebuilding_has_not_helped());
        assert_eq!(r.on_broken(t0, 10), Decision::GiveUp { attempts: MAX_REBUILDS_IN_A_ROW });
        // A delivery before a rebuild counts only past what was delivered at it.
        let mut r = Recovery::default();
        r.rebuilt(7);
        assert_eq!(r.on_broken(t0, 7), Decision::Rebuild { at: t0, attempt: 1 });
        r.rebuilt(7);
        assert_eq!(r.on_broken(t0, 7), Decision::Rebuild { at: t0 + s(1), attempt: 2 });
    }

    #[test]
    fn backoff_is_capped() {
        let mut r = Recovery { in_a_row: 4, delivered_at_rebuild: 0 };
        let t0 = Instant::now();
        // Not reachable with the default bound, but the cap holds for any bound.
        assert!(matches!(r.on_broken(t0, 0), Decision::Rebuild { at, .. } if at - t0 <= MAX_BACKOFF));
    }

    #[test]
    fn only_errors_a_new_producer_clears_trigger_a_rebuild() {
        for code in
            [RDKafkaErrorCode::Fatal, RDKafkaErrorCode::ProducerFenced, RDKafkaErrorCode::OutOfOrderSequenceNumber]
        {
            assert!(needs_new_producer(code), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::AllBrokersDown,
        ] {
            assert!(!needs_new_producer(code), "{code:?}: a broker problem, not the producer's");
        }
    }

    #[test]
    fn stuck_only_when_the_broker_answers_and_nothing_is_acknowledged_for_long() {
        let s = Duration::from_secs;
        assert!(stuck(s(5), Some(s(2))));
        assert!(!stuck(s(4), Some(s(2))), "not yet");
        assert!(!stuck(s(60), None), "no broker ever answered: a broker problem");
        assert!(!stuck(s(60), Some(s(4))), "the broker is down: a new producer would not help");
        // A broker that went down with the last delivery (refreshed about once
        // a second) is never taken for answering when the producer looks stuck.
        assert!(BROKER_ANSWERING + s(1) < STUCK_AFTER);
    }

    #[tokio::test]
    async fn the_signal_keeps_the_first_reason_and_clears_on_take() {
        let s = FatalSignal::default();
        let quiet = tokio::time::timeout(Duration::from_millis(20), s.raised()).await;
        assert!(quiet.is_err(), "raised() resolved with nothing raised");
        s.raise("ProducerFenced");
        s.raise("Fatal");
        s.raised().await;
        assert_eq!(s.reason(), "ProducerFenced");
        assert_eq!(s.take(), "ProducerFenced");
        assert!(!s.is_raised());
        s.raise("Fatal");
        assert_eq!(s.take(), "Fatal");
    }
}
