//! The sink's recovery task and its producer rebuild: what the pure
//! [`Recovery`] policy in [`super::recovery`] decides, carried out on the
//! [`KafkaSink`].

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{Producer, ThreadedProducer};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::recovery::{stuck, Decision, Recovery};
use super::{FeederContext, KafkaSink, SinkError};
use crate::observe::events::{self, Stats};

impl KafkaSink {
    /// The recovery task: runs until `stop`; on a broken producer, rebuilds it
    /// after the policy's backoff, or gives up by cancelling `give_up` (the run
    /// then ends with [`crate::exit::PRODUCER_FATAL`]).
    pub async fn recover(self: Arc<Self>, stats: Arc<Stats>, stop: CancellationToken, give_up: CancellationToken) {
        let mut policy = Recovery::default();
        policy.rebuilt(stats.delivered());
        loop {
            tokio::select! {
                () = self.shared.fatal.raised() => {}
                () = stop.cancelled() => return,
            }
            let reason = self.shared.fatal.reason();
            match policy.on_broken(Instant::now(), stats.delivered()) {
                Decision::GiveUp { attempts } => {
                    events::producer_gave_up(&stats, &reason, attempts);
                    self.gave_up.store(true, std::sync::atomic::Ordering::Relaxed);
                    give_up.cancel();
                    return;
                }
                Decision::Rebuild { at, attempt } => {
                    if policy.rebuilding_has_not_helped() {
                        events::producer_not_healing(&stats, &reason);
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = stop.cancelled() => return,
                    }
                    match self.rebuild() {
                        Ok(old) => {
                            self.shared.fatal.take();
                            policy.rebuilt(stats.delivered());
                            events::producer_rebuilt(&stats, &reason, attempt);
                            // Dropping a producer purges what it still holds (each
                            // message is counted failed, with its reason, by the
                            // shared delivery callback) and joins its thread.
                            tokio::task::spawn_blocking(move || drop(old));
                        }
                        Err(e) => events::producer_rebuild_failed(&e),
                    }
                }
            }
        }
    }

    /// Called by the loop while deliveries have stalled for `quiet`: raises the
    /// signal when the producer is [`stuck`]. A rebuild restarts the count.
    pub fn check_stuck(&self, quiet: Duration, broker_age: Option<Duration>, now: Instant) {
        let since_rebuild = self.last_rebuild.lock().unwrap_or_else(|p| p.into_inner()).map(|t| now - t);
        let quiet = since_rebuild.map_or(quiet, |s| s.min(quiet));
        if stuck(quiet, broker_age) {
            self.shared.fatal.raise("NotAcknowledging");
        }
    }

    /// Builds a new producer with the same configuration and swaps it in;
    /// returns the old one.
    fn rebuild(&self) -> Result<Arc<ThreadedProducer<FeederContext>>, SinkError> {
        let new = super::build(&self.client_config, &self.shared, &self.servers)?;
        *self.last_rebuild.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Ok(self.producer.swap(Arc::new(new)))
    }

    /// Makes librdkafka raise a fatal error on the current producer, as an
    /// idempotence failure would (`rd_kafka_test_fatal_error`): for tests.
    #[doc(hidden)]
    pub fn inject_fatal_error(&self, reason: &str) {
        let reason = std::ffi::CString::new(reason).unwrap_or_default();
        let producer = self.producer.load();
        // SAFETY: the client pointer is valid while `producer` is held; librdkafka
        // copies the reason.
        unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                producer.client().native_ptr(),
                rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                reason.as_ptr(),
            );
        }
    }
}
