//! The integration tests, one binary (one link of the whole dependency tree):
//! shared helpers in [`common`], one module per area.

mod common;
mod datasets;
mod messages;
mod observability;
mod pacing;
mod pipeline;
mod process;
mod recovery;
mod templates;
