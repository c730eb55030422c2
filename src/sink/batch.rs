//! One completion per batch, as the design card's `join_all` over a batch, at
//! the cost of a few atomic operations per message instead of a future each.
//!
//! Every message of a batch carries the batch's shared [`Batch`] as its
//! delivery opaque (an `Arc` clone: a reference count, no allocation). The
//! delivery callback reports each outcome to it, and the report that brings
//! the pending count to zero completes the batch: it returns the
//! [`Completed`] summary (for the `batch complete` line and the duration
//! histogram) and wakes whoever awaits [`Batch::completed`], as the drain
//! does with `join_all` over the batches still in flight.
//!
//! While the batch is being enqueued it holds one extra pending count (the
//! "open" guard), so a batch whose first messages are delivered before the
//! last are enqueued cannot complete early; [`Batch::seal`] drops the guard.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed};
use std::time::Instant;

use tokio::sync::Notify;

pub use crate::observe::events::BatchCompleted as Completed;

/// A batch's messages in flight.
#[derive(Debug)]
pub struct Batch {
    tick: u64,
    started: Instant,
    /// Enqueued and not yet reported, plus one while the batch is open.
    pending: AtomicUsize,
    enqueued: AtomicUsize,
    delivered: AtomicUsize,
    failed: AtomicUsize,
    open: AtomicBool,
    complete: AtomicBool,
    done: Notify,
}

impl Batch {
    /// An open batch for `tick`, started now.
    pub fn new(tick: u64, started: Instant) -> Self {
        Self {
            tick,
            started,
            pending: AtomicUsize::new(1),
            enqueued: AtomicUsize::new(0),
            delivered: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            open: AtomicBool::new(true),
            complete: AtomicBool::new(false),
            done: Notify::new(),
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Called before a message is handed to librdkafka (so its report can never
    /// arrive before it is counted).
    pub fn enqueuing(&self) {
        self.pending.fetch_add(1, Relaxed);
        self.enqueued.fetch_add(1, Relaxed);
    }

    /// librdkafka did not take the message after all (a full queue that will
    /// be retried, or a refusal counted elsewhere as failed).
    pub fn not_enqueued(&self) {
        self.enqueued.fetch_sub(1, Relaxed);
        self.pending.fetch_sub(1, Relaxed);
    }

    /// A message's delivery report; `Some` for the report that completes the batch.
    pub fn report(&self, delivered: bool, now: Instant) -> Option<Completed> {
        if delivered {
            self.delivered.fetch_add(1, Relaxed);
        } else {
            self.failed.fetch_add(1, Relaxed);
        }
        self.release(now)
    }

    /// Every message is enqueued: the batch completes with its last report (or
    /// now, if every report is already in, or it had no message).
    pub fn seal(&self, now: Instant) -> Option<Completed> {
        self.open.store(false, Relaxed);
        self.release(now)
    }

    fn release(&self, now: Instant) -> Option<Completed> {
        if self.pending.fetch_sub(1, AcqRel) != 1 {
            return None;
        }
        self.complete.store(true, std::sync::atomic::Ordering::Release);
        self.done.notify_waiters();
        Some(Completed {
            tick: self.tick,
            size: self.enqueued.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            failed: self.failed.load(Relaxed),
            duration: now.saturating_duration_since(self.started),
        })
    }

    pub fn is_complete(&self) -> bool {
        self.complete.load(Acquire)
    }

    /// Messages enqueued and not yet reported.
    pub fn pending(&self) -> usize {
        // While open, one count is the guard, not a message.
        self.pending.load(Relaxed).saturating_sub(usize::from(self.open.load(Relaxed)))
    }

    /// Resolves once every message of the sealed batch has its report.
    pub async fn completed(&self) {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            // Register before checking, so a completion in between is not missed.
            notified.as_mut().enable();
            if self.is_complete() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_last_report_after_sealing_completes_the_batch_with_its_counts() {
        let t0 = Instant::now();
        let b = Batch::new(7, t0);
        for _ in 0..3 {
            b.enqueuing();
        }
        assert_eq!(b.report(true, t0), None);
        assert_eq!(b.seal(t0), None, "two messages still pending");
        assert!(!b.is_complete());
        assert_eq!(b.report(false, t0), None);
        let done = b.report(true, t0 + Duration::from_millis(40)).expect("the last report completes it");
        assert_eq!(done, Completed { tick: 7, size: 3, delivered: 2, failed: 1, duration: Duration::from_millis(40) });
        assert!(b.is_complete());
    }

    #[test]
    fn reports_before_sealing_do_not_complete_an_open_batch() {
        let t0 = Instant::now();
        let b = Batch::new(1, t0);
        b.enqueuing();
        // Delivered before the rest of the batch is enqueued.
        assert_eq!(b.report(true, t0), None);
        b.enqueuing();
        b.enqueuing();
        b.not_enqueued();
        assert_eq!(b.report(true, t0), None);
        let done = b.seal(t0).expect("sealed with every report in");
        assert_eq!((done.size, done.delivered, done.failed), (2, 2, 0));
    }

    #[test]
    fn an_empty_batch_completes_when_sealed() {
        let b = Batch::new(1, Instant::now());
        assert!(b.seal(Instant::now()).is_some());
        assert!(b.is_complete());
    }

    #[tokio::test]
    async fn completed_resolves_when_the_last_report_arrives_from_another_thread() {
        let b = std::sync::Arc::new(Batch::new(1, Instant::now()));
        for _ in 0..100 {
            b.enqueuing();
        }
        b.seal(Instant::now());
        let reporter = std::sync::Arc::clone(&b);
        let t = std::thread::spawn(move || {
            let completions = (0..100).filter_map(|i| reporter.report(i % 10 != 0, Instant::now())).count();
            assert_eq!(completions, 1);
        });
        tokio::time::timeout(Duration::from_secs(5), b.completed()).await.expect("completed");
        t.join().unwrap();
        assert_eq!(b.pending(), 0);
    }

    #[tokio::test]
    async fn pending_counts_messages_awaiting_a_report_and_completed_waits_for_them() {
        let b = Batch::new(1, Instant::now());
        for _ in 0..3 {
            b.enqueuing();
        }
        b.report(true, Instant::now());
        assert_eq!(b.pending(), 2, "open: the guard is not a message");
        b.seal(Instant::now());
        assert_eq!(b.pending(), 2);
        let early = tokio::time::timeout(Duration::from_millis(50), b.completed()).await;
        assert!(early.is_err(), "completed before its last two reports");
        b.report(false, Instant::now());
        b.report(true, Instant::now());
        assert_eq!(b.pending(), 0);
        tokio::time::timeout(Duration::from_secs(5), b.completed()).await.expect("completed");
    }
}
