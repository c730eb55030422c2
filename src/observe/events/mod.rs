//! Every observable event in one place: each function here logs the event and
//! counts it together, so the log, the final report and the counters can never
//! disagree.
//!
//! [`Stats`] holds the daemon's running totals (lock-free atomics, updated from
//! delivery callbacks on any thread). Noisy events (delivery failures, falling
//! behind schedule, an unreachable broker) go through a [`RateLimit`] so a broker
//! outage produces a handful of lines, each with the count it stands for, not a
//! flood.
//!
//! Split by the stage whose facts they report; every function is re-exported
//! here, so a stage calls `events::dataset_loaded(..)` without knowing the file.
//! Every line carries `event`: a stable name that scripts, tests and log
//! queries match on (the message text is for people and may change).

mod dataset;
mod message;
mod pacing;
mod registry;
mod run;
mod sink;
mod stats;
mod template;

pub use dataset::*;
pub use message::*;
pub use pacing::*;
pub use registry::*;
pub use run::*;
pub use sink::*;
pub use stats::{utc, RateLimit, Stats, Totals};
pub use template::*;

#[cfg(test)]
mod tests;
