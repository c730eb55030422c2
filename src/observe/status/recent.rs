//! The last few warning and error lines, for the status page: a `tracing`
//! layer beside the log output, so the page shows what the log said (every
//! line is written by `events`, which never puts a secret in one).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// How many lines the page lists.
pub const KEPT: usize = 8;
/// A line is cut to this many characters (librdkafka's can be long).
const MAX_TEXT: usize = 400;

/// One warning or error line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Line {
    /// RFC 3339, UTC.
    pub at: String,
    pub level: &'static str,
    pub event: String,
    pub message: String,
}

#[derive(Default)]
struct Kept {
    lines: VecDeque<Line>,
    last_error: Option<Line>,
}

/// The process's log is global, and so is what it said last.
static KEPT_LINES: Mutex<Kept> = Mutex::new(Kept { lines: VecDeque::new(), last_error: None });

fn kept() -> std::sync::MutexGuard<'static, Kept> {
    KEPT_LINES.lock().unwrap_or_else(|p| p.into_inner())
}

/// The last [`KEPT`] warning and error lines, newest first.
pub fn lines() -> Vec<Line> {
    kept().lines.iter().rev().cloned().collect()
}

/// The last error line.
pub fn last_error() -> Option<Line> {
    kept().last_error.clone()
}

/// Keeps warning and error lines that pass the log filter.
pub struct RecentLines;

impl<S: Subscriber> Layer<S> for RecentLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = Line {
            at: jiff::Timestamp::now().round(jiff::Unit::Second).map_or_else(|_| String::new(), |t| t.to_string()),
            level: if level == Level::ERROR { "error" } else { "warn" },
            event: fields.event,
            message: fields.text,
        };
        let mut k = kept();
        if level == Level::ERROR {
            k.last_error = Some(line.clone());
        }
        k.lines.push_back(line);
        while k.lines.len() > KEPT {
            k.lines.pop_front();
        }
    }
}

/// The `event` field, and the message followed by the other fields (`reason`,
/// `error`, `detail`: what a person needs), as the text log shows them.
#[derive(Default)]
struct Fields {
    event: String,
    text: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.text.len() >= MAX_TEXT {
            return;
        }
        match field.name() {
            "event" => self.event = format!("{value:?}").trim_matches('"').to_owned(),
            "message" => {
                let rest = std::mem::take(&mut self.text);
                self.text = format!("{value:?}");
                if !rest.is_empty() {
                    let _ = write!(self.text, " {rest}");
                }
            }
            name => {
                let sep = if self.text.is_empty() { "" } else { " " };
                let _ = write!(self.text, "{sep}{name}={value:?}");
            }
        }
        if self.text.len() > MAX_TEXT {
            let cut = (0..=MAX_TEXT).rev().find(|&i| self.text.is_char_boundary(i)).unwrap_or(0);
            self.text.truncate(cut);
            self.text.push('…');
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "event" => self.event = value.to_owned(),
            _ => self.record_debug(field, &format_args!("{value}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn warnings_and_errors_are_kept_newest_first_and_the_last_error_remembered() {
        use crate::observe::events;
        let subscriber = tracing_subscriber::registry().with(RecentLines);
        tracing::subscriber::with_default(subscriber, || {
            events::random_seed(7, true); // info: not kept
            let e = std::io::Error::other("PRODUCE_INTERVAL=\"fast\" is invalid");
            events::config_invalid(&e);
            for i in 0..KEPT {
                events::unknown_variable(&format!("PRODUCE_INTERVALL{i}"), "PRODUCE_INTERVAL");
            }
        });
        let lines = lines();
        assert_eq!(lines.len(), KEPT);
        assert_eq!(lines[0].event, "unknown_variable");
        let newest = format!("PRODUCE_INTERVALL{} is not a kafka-feeder variable", KEPT - 1);
        assert!(lines[0].message.starts_with(&newest), "{lines:?}");
        assert!(lines[0].message.contains("closest=PRODUCE_INTERVAL"), "{lines:?}");
        assert!(lines.iter().all(|l| l.event != "random_seed" && l.level == "warn"), "{lines:?}");
        let e = last_error().unwrap();
        assert_eq!((e.level, e.event.as_str()), ("error", "config_invalid"));
        assert!(e.message.starts_with("invalid configuration") && e.message.contains("exit_code=2"), "{e:?}");
    }
}
