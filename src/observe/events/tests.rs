use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::*;

#[test]
fn rate_limit_allows_one_per_period_and_counts_the_rest() {
    let rl = RateLimit::new(Duration::from_millis(50));
    assert_eq!(rl.check(), Some(0));
    assert_eq!(rl.check(), None);
    assert_eq!(rl.check(), None);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(rl.check(), Some(2));
}

#[test]
fn failures_are_counted_by_reason() {
    let s = Stats::new("none");
    s.sent.store(5, Relaxed);
    delivery_failed(&s, "MessageTimedOut", "Local: Message timed out");
    delivery_failed(&s, "MessageTimedOut", "Local: Message timed out");
    delivery_failed(&s, "UnknownTopicOrPartition", "Broker: Unknown topic or partition");
    delivered(&s, 10, Duration::from_millis(3));
    let t = s.totals();
    assert_eq!((t.failed, t.delivered, t.in_flight(), t.bytes_delivered), (3, 1, 1, 10));
    let by = s.failures_by_reason();
    assert_eq!(by["MessageTimedOut"], 2);
    assert_eq!(by["UnknownTopicOrPartition"], 1);
    let text = metrics_scraped(&s, crate::observe::metrics::Format::OpenMetrics);
    assert!(text.contains("kafka_feeder_messages_failed_total{reason=\"MessageTimedOut\"} 2"), "{text}");
    assert!(text.contains("kafka_feeder_messages_delivered_total 1"), "{text}");
}
