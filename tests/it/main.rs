//! The integration tests, one binary (one link of the whole dependency tree):
//! shared helpers in [`common`], one module per area.

mod common;
mod datasets;
mod layout;
mod messages;
mod msk_iam;
mod observability;
mod pacing;
mod pipeline;
mod process;
mod recovery;
mod registry;
mod registry_checks;
mod registry_refs;
mod registry_templates;
mod status;
mod templates;
