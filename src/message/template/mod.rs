//! `MESSAGE_TEMPLATE`: one JSON document that describes the message (value,
//! key, headers), with vars evaluated in order, lookups into other datasets,
//! and `{{ expression }}` strings that minijinja evaluates.
//!
//! Each expression is evaluated as seldom as its inputs allow. What depends
//! only on the record and the lookups is evaluated once per record, at load,
//! into the record's stored bytes ([`render`]); what draws a generator or
//! reads the clock or `seq()` is evaluated per message into a reused buffer,
//! around slices of those bytes ([`messages`]). Names (`qty`,
//! `product.name`) and generator calls with constant arguments (`int(1, 5)`,
//! `fake('email')`) run natively; everything else goes through the engine,
//! bounded by its fuel. Generators draw from one stream seeded from
//! `RANDOM_SEED` (mixed with the replica index by the caller), so the same
//! seed gives the same messages and `preview` shows what a run sends.
//!
//! - [`doc`]: the document read, members in order, strings split into parts
//! - [`compile`]: expressions compiled, resolved against the columns, classed
//! - [`funcs`]: the functions (generators, lookups, time)
//! - [`value`]: writing a value as JSON or text
//! - [`render`]: the record stage
//! - [`messages`]: preparing a dataset's records and building each message
//! - [`load`]: reading the template and its lookups
//! - [`setting`]: `MESSAGE_TEMPLATE`'s value; [`error`]: what can go wrong

pub mod compile;
pub mod doc;
pub mod error;
pub mod funcs;
pub mod load;
pub mod messages;
pub mod render;
pub mod setting;
pub mod value;

pub use doc::Document;
pub use error::TemplateError;
pub use messages::{prepare, Kept, Prepared, TemplateMessages};
pub use setting::{parse_setting, TemplateSource};

#[cfg(test)]
mod tests;
