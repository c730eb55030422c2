//! Replay: `REPLAY_TIME_FIELD=<column>` sends the records in the order of that
//! field, each at its original offset from the first record divided by
//! `REPLAY_SPEED` (`max`: in order, without waiting). `REPLAY_LOOP` starts
//! again after the last record, the offsets carrying on by one period (the
//! file's span plus one average gap, so the seam looks like any other gap).
//!
//! Accepted times: RFC 3339 / ISO 8601 date-times with an offset or `Z`, the
//! same without a zone (read as UTC: only differences matter here), dates
//! (midnight), and epoch seconds or milliseconds (a magnitude of 1e11 or more
//! is read as milliseconds: 1e11 s is the year 5138, 1e11 ms is 1973). A row
//! whose time does not parse is skipped and counted.
//!
//! Replica i of N replays the records at positions i, i+N, ... of the order,
//! at the same offsets: the N replay the file once between them.

use std::ops::Range;
use std::sync::Arc;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use super::replicas::Replica;
use super::{after, positive, PacingError};

/// `REPLAY_SPEED`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    Factor(f64),
    /// Keep the order, do not wait.
    Max,
}

pub fn parse_speed(raw: &str) -> Result<Speed, PacingError> {
    if raw.trim().eq_ignore_ascii_case("max") {
        return Ok(Speed::Max);
    }
    positive(raw).filter(|&k| k <= 1e9).map(Speed::Factor).ok_or(PacingError::Speed)
}

/// Reads one time field; `None` if it is none of the accepted forms.
pub fn parse_time(raw: &str) -> Option<Timestamp> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || b == b'.' || (i == 0 && b == b'-')) {
        let v: f64 = s.parse().ok()?;
        let secs = if v.abs() >= 1e11 { v / 1000.0 } else { v };
        return Timestamp::from_microsecond((secs * 1e6).round() as i64).ok();
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    if let Ok(dt) = s.parse::<DateTime>() {
        return TimeZone::UTC.to_timestamp(dt).ok();
    }
    let date = s.parse::<Date>().ok()?;
    TimeZone::UTC.to_timestamp(date.to_datetime(jiff::civil::Time::midnight())).ok()
}

/// Why a replay cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("REPLAY_TIME_FIELD={field:?}: the dataset has no such column; its columns are {columns}")]
    NoColumn { field: String, columns: String },
    #[error("REPLAY_TIME_FIELD={field:?}: no row holds a time there (accepted: RFC 3339 / ISO 8601 date-times, dates, epoch seconds or milliseconds; first value {first:?})")]
    NoTimes { field: String, first: String },
}

/// Each JSON record's `field` as text (a string as is, a number as written),
/// `None` where it is absent, null or another type. Read once, at load.
pub fn field_values<'a>(
    records: impl IntoIterator<Item = &'a [u8]>,
    field: &str,
) -> Result<Vec<Option<String>>, ReplayError> {
    let mut columns: Option<Vec<String>> = None;
    let mut found = false;
    let values: Vec<Option<String>> = records
        .into_iter()
        .map(|json| {
            let serde_json::Value::Object(mut record) = serde_json::from_slice(json).unwrap_or_default() else {
                return None;
            };
            if columns.is_none() {
                columns = Some(record.keys().cloned().collect());
            }
            match record.remove(field) {
                Some(serde_json::Value::String(s)) => {
                    found = true;
                    Some(s)
                }
                Some(serde_json::Value::Number(n)) => {
                    found = true;
                    Some(n.to_string())
                }
                Some(_) => {
                    found = true;
                    None
                }
                None => None,
            }
        })
        .collect();
    if !found {
        return Err(ReplayError::NoColumn { field: field.to_owned(), columns: columns.unwrap_or_default().join(", ") });
    }
    Ok(values)
}

/// The records to replay, in time order: this replica's share.
#[derive(Debug, Clone)]
pub struct ReplayPlan {
    /// Record indices (into the dataset) in time order, ties in file order.
    pub order: Vec<usize>,
    /// Each one's offset from the first record of the whole file, in microseconds.
    offsets: Vec<u64>,
    /// The time of the first record of the whole file.
    first: Timestamp,
    /// Microseconds from one pass's first record to the next's.
    period: u64,
    /// Microseconds from the first record to the last (whole file).
    span: u64,
    /// Records with a readable time in the whole file (all replicas).
    pub total: usize,
    /// Rows whose time did not parse.
    pub skipped: u64,
}

impl ReplayPlan {
    /// `times` yields each record's time field, in dataset order (`None`: absent).
    pub fn build<'a>(times: impl IntoIterator<Item = Option<&'a str>>, replica: Replica) -> Self {
        let mut skipped = 0;
        let mut timed: Vec<(i64, usize)> = times
            .into_iter()
            .enumerate()
            .filter_map(|(i, t)| match t.and_then(parse_time) {
                Some(t) => Some((t.as_microsecond(), i)),
                None => {
                    skipped += 1;
                    None
                }
            })
            .collect();
        timed.sort_by_key(|&(t, _)| t); // stable: ties keep file order
        let total = timed.len();
        let first_us = timed.first().map_or(0, |&(t, _)| t);
        let span = timed.last().map_or(0, |&(t, _)| t.abs_diff(first_us));
        // One average gap after the last record; a file with no span replays once a second.
        let period = if total > 1 && span > 0 { span + span / (total as u64 - 1) } else { 1_000_000 };
        let (stride, index) = (replica.count as usize, replica.index as usize);
        let share = timed.into_iter().skip(index).step_by(stride);
        let (offsets, order) = share.map(|(t, i)| (t.abs_diff(first_us), i)).unzip();
        let first = Timestamp::from_microsecond(first_us).unwrap_or(Timestamp::UNIX_EPOCH);
        Self { order, offsets, first, period, span, total, skipped }
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The original times of the first and last record of the whole file.
    pub fn span(&self) -> (Timestamp, Timestamp) {
        let last = self.first.saturating_add(SignedDuration::from_micros(self.span as i64)).unwrap_or(self.first);
        (self.first, last)
    }

    /// The original time of position `k` of this share in pass `pass`,
    /// the offsets carrying on across passes.
    pub fn time_of(&self, pass: u64, k: usize) -> Timestamp {
        let us = pass.saturating_mul(self.period).saturating_add(self.offsets[k]);
        self.first.saturating_add(SignedDuration::from_micros(us as i64)).unwrap_or(Timestamp::MAX)
    }
}

/// Where a replay stands, for the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Passes completed (with `REPLAY_LOOP`).
    pub pass: u64,
    /// Records of this share sent in this pass, of `of`.
    pub sent: usize,
    pub of: usize,
    /// The original time of the last record sent.
    pub record_time: Option<Timestamp>,
}

/// Paces a [`ReplayPlan`] from `start`.
#[derive(Debug, Clone)]
pub struct Replay {
    plan: Arc<ReplayPlan>,
    start: Instant,
    speed: Speed,
    looping: bool,
    pass: u64,
    next: usize,
}

impl Replay {
    pub fn new(plan: Arc<ReplayPlan>, start: Instant, speed: Speed, looping: bool) -> Self {
        Self { plan, start, speed, looping, pass: 0, next: 0 }
    }

    pub fn plan(&self) -> &ReplayPlan {
        &self.plan
    }

    fn due(&self, pass: u64, k: usize) -> Instant {
        match self.speed {
            Speed::Max => self.start,
            Speed::Factor(f) => {
                let us = pass as f64 * self.plan.period as f64 + self.plan.offsets[k] as f64;
                after(self.start, us / 1e6 / f)
            }
        }
    }

    /// When the next record is due; `None` when the replay is over.
    pub fn next_due(&self) -> Option<Instant> {
        if self.next < self.plan.order.len() {
            Some(self.due(self.pass, self.next))
        } else if self.looping && !self.plan.is_empty() {
            Some(self.due(self.pass + 1, 0))
        } else {
            None
        }
    }

    pub fn is_finished(&self) -> bool {
        self.next_due().is_none()
    }

    /// The positions (in [`ReplayPlan::order`]) due at `now`, at most `max`,
    /// and when the first was due. A range never spans two passes.
    pub fn take(&mut self, now: Instant, max: u64) -> Option<(Range<usize>, Instant)> {
        let len = self.plan.order.len();
        if self.next == len && self.looping && len > 0 {
            self.pass += 1;
            self.next = 0;
        }
        if self.next == len || max == 0 {
            return None;
        }
        let first = self.due(self.pass, self.next);
        if first > now {
            return None;
        }
        let limit = len.min(self.next.saturating_add(usize::try_from(max).unwrap_or(usize::MAX)));
        let mut end = self.next + 1;
        while end < limit && self.due(self.pass, end) <= now {
            end += 1;
        }
        let range = self.next..end;
        self.next = end;
        Some((range, first))
    }

    pub fn position(&self) -> Position {
        Position {
            pass: self.pass,
            sent: self.next,
            of: self.plan.order.len(),
            record_time: self.next.checked_sub(1).map(|k| self.plan.time_of(self.pass, k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn every_accepted_time_form_parses() {
        let noon = Some(ts("2024-03-01T12:00:00Z"));
        for s in [
            "2024-03-01T12:00:00Z",
            "2024-03-01T12:00:00+00:00",
            "2024-03-01T13:00:00+01:00",
            "2024-03-01T07:00:00-05:00",
            "2024-03-01T13:00:00+01:00[Europe/Paris]",
            "2024-03-01T12:00:00",
            "2024-03-01 12:00:00",
            "2024-03-01T12:00",
            " 2024-03-01T12:00:00.000Z ",
            "1709294400",
            "1709294400000",
            "1709294400.0",
        ] {
            assert_eq!(parse_time(s), noon, "{s:?}");
        }
        assert_eq!(parse_time("2024-03-01"), Some(ts("2024-03-01T00:00:00Z")));
        assert_eq!(parse_time("2012-03-01 00:05:00"), Some(ts("2012-03-01T00:05:00Z")));
        assert_eq!(parse_time("1709294400.25"), Some(ts("2024-03-01T12:00:00.25Z")));
        assert_eq!(parse_time("1709294400250"), Some(ts("2024-03-01T12:00:00.25Z")));
        assert_eq!(parse_time("0"), Some(Timestamp::UNIX_EPOCH));
        for bad in ["", "  ", "yesterday", "2024-13-01", "2024-02-30T00:00:00Z", "12:00", "1.2.3", "--5", "1e9", "NaN"]
        {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_time_field_is_read_from_each_json_record() {
        let records: [&[u8]; 4] = [
            br#"{"id":1,"ts":"2024-01-01T00:00:00Z"}"#,
            br#"{"id":2,"ts":1704067200}"#,
            br#"{"id":3,"ts":null}"#,
            br#"{"id":4}"#,
        ];
        let values = field_values(records, "ts").unwrap();
        assert_eq!(values, [Some("2024-01-01T00:00:00Z".into()), Some("1704067200".into()), None, None]);
        let plan = ReplayPlan::build(values.iter().map(Option::as_deref), Replica::ONE);
        assert_eq!((plan.order.clone(), plan.skipped), (vec![0, 1], 2));
        let err = field_values(records, "time").unwrap_err().to_string();
        assert!(
            err.contains("REPLAY_TIME_FIELD=\"time\": the dataset has no such column; its columns are id, ts"),
            "{err}"
        );
    }

    #[test]
    fn speeds_parse() {
        assert_eq!(parse_speed("1"), Ok(Speed::Factor(1.0)));
        assert_eq!(parse_speed("0.5"), Ok(Speed::Factor(0.5)));
        assert_eq!(parse_speed("Max"), Ok(Speed::Max));
        for bad in ["0", "-2", "", "fast"] {
            assert_eq!(parse_speed(bad), Err(PacingError::Speed), "{bad:?}");
        }
    }

    /// A file of (time, record index) with the times out of order, a tie and unreadable rows.
    const FILE: [Option<&str>; 7] = [
        Some("2024-01-01T00:00:10Z"),
        Some("not a time"),
        Some("2024-01-01T00:00:00Z"),
        Some("2024-01-01T00:00:30Z"),
        None,
        Some("2024-01-01T00:00:10Z"),
        Some("2024-01-01T00:01:00Z"),
    ];

    #[test]
    fn records_are_ordered_by_time_ties_in_file_order_unreadable_ones_skipped() {
        let plan = ReplayPlan::build(FILE, Replica::ONE);
        assert_eq!(plan.order, [2, 0, 5, 3, 6]);
        assert_eq!(plan.skipped, 2);
        assert_eq!(plan.total, 5);
        assert_eq!(plan.time_of(0, 0), ts("2024-01-01T00:00:00Z"));
        assert_eq!(plan.time_of(0, 4), ts("2024-01-01T00:01:00Z"));
        // Span 60 s over 4 gaps: the next pass starts one average gap (15 s) later.
        assert_eq!(plan.time_of(1, 0), ts("2024-01-01T00:01:15Z"));
    }

    /// (first due, positions) of every take, waking exactly when the next is due.
    fn run(r: &mut Replay, until: Instant) -> Vec<(Instant, Range<usize>)> {
        let mut out = Vec::new();
        while let Some(at) = r.next_due().filter(|&at| at <= until) {
            let (range, first) = r.take(at, u64::MAX).unwrap();
            assert_eq!(first, at);
            out.push((at, range));
        }
        out
    }

    #[test]
    fn records_are_sent_at_their_offsets_divided_by_the_speed() {
        let t0 = Instant::now();
        let plan = Arc::new(ReplayPlan::build(FILE, Replica::ONE));
        let s = Duration::from_millis;
        let mut r = Replay::new(Arc::clone(&plan), t0, Speed::Factor(20.0), false);
        // Offsets 0, 10, 10, 30, 60 s at speed 20: 0, 0.5 (two at once), 1.5, 3 s.
        let got = run(&mut r, t0 + Duration::from_secs(3600));
        assert_eq!(got, [(t0, 0..1), (t0 + s(500), 1..3), (t0 + s(1500), 3..4), (t0 + s(3000), 4..5)]);
        assert!(r.is_finished());
        assert_eq!(r.take(t0 + Duration::from_secs(7200), 10), None);
        assert_eq!(r.position(), Position { pass: 0, sent: 5, of: 5, record_time: Some(ts("2024-01-01T00:01:00Z")) });
        // Slower than real time: a large gap is waited out.
        let mut r = Replay::new(Arc::clone(&plan), t0, Speed::Factor(0.5), false);
        assert_eq!(r.take(t0, 10), Some((0..1, t0)));
        assert_eq!(r.next_due(), Some(t0 + Duration::from_secs(20)));
        assert_eq!(r.take(t0 + Duration::from_secs(19), 10), None);
        // A late wake-up takes everything due, capped at `max`.
        assert_eq!(r.take(t0 + Duration::from_secs(61), 1), Some((1..2, t0 + Duration::from_secs(20))));
        assert_eq!(r.take(t0 + Duration::from_secs(61), 10), Some((2..4, t0 + Duration::from_secs(20))));
        assert_eq!(r.take(t0 + Duration::from_secs(61), 10), None);
    }

    #[test]
    fn max_speed_keeps_the_order_without_waiting() {
        let t0 = Instant::now();
        let plan = Arc::new(ReplayPlan::build(FILE, Replica::ONE));
        let mut r = Replay::new(plan, t0, Speed::Max, false);
        assert_eq!(r.take(t0, 2), Some((0..2, t0)));
        assert_eq!(r.take(t0, 10), Some((2..5, t0)));
        assert!(r.is_finished());
    }

    #[test]
    fn a_loop_starts_again_with_the_offsets_carrying_on() {
        let t0 = Instant::now();
        let plan = Arc::new(ReplayPlan::build(FILE, Replica::ONE));
        let mut r = Replay::new(plan, t0, Speed::Factor(1.0), true);
        let got = run(&mut r, t0 + Duration::from_secs(155));
        let secs: Vec<u64> = got.iter().map(|(at, _)| (*at - t0).as_secs()).collect();
        // Pass 0 at 0, 10, 30, 60; pass 1 at 75 + the same; pass 2 at 150.
        assert_eq!(secs, [0, 10, 30, 60, 75, 85, 105, 135, 150]);
        assert_eq!(r.position().pass, 2);
        assert_eq!(r.position().record_time, Some(ts("2024-01-01T00:02:30Z")));
        assert!(!r.is_finished());
    }

    #[test]
    fn the_shares_of_n_replicas_replay_every_record_once_at_the_single_replica_times() {
        let t0 = Instant::now();
        // 100 records a second apart, shuffled in the file.
        let times: Vec<String> = (0..100).map(|i| format!("{}", 1_700_000_000 + (i * 37) % 100)).collect();
        let file = || times.iter().map(|t| Some(t.as_str()));
        let sends = |replica| {
            let plan = Arc::new(ReplayPlan::build(file(), replica));
            let mut r = Replay::new(Arc::clone(&plan), t0, Speed::Factor(10.0), false);
            let got = run(&mut r, t0 + Duration::from_secs(3600));
            assert!(r.is_finished());
            got.into_iter()
                .flat_map(|(at, range)| plan.order[range].iter().map(move |&i| (at, i)).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        let single = sends(Replica::ONE);
        assert_eq!(single.len(), 100);
        for n in [2u64, 3, 7] {
            let mut union: Vec<_> = (0..n).flat_map(|index| sends(Replica { index, count: n })).collect();
            union.sort();
            let mut expected = single.clone();
            expected.sort();
            assert_eq!(union, expected, "{n} replicas");
        }
        // More replicas than records: the extra ones have nothing to do and finish at once.
        let plan = Arc::new(ReplayPlan::build([Some("1"), Some("2")], Replica { index: 2, count: 3 }));
        assert!(Replay::new(plan, t0, Speed::Max, true).is_finished());
    }
}
