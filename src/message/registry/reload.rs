//! A reloaded dataset with a registry format (`DATASET_RELOAD_INTERVAL`,
//! SIGHUP): its records are checked against the schema in use, the one whose
//! id every frame carries (nothing is registered again), and Avro's encoded
//! again. A record that does not fit is dropped and reported as at load; a
//! version with no fitting record is refused like any bad reload, and the
//! dataset in use stays.
//!
//! Avro datums are attached to the dataset they were encoded from
//! ([`crate::dataset::Dataset::attach`]): the message builder takes them when
//! it indexes the dataset swapped in ([`super::wire::Wire::follow`]), so a
//! batch's values always come from the batch's dataset. The check itself is
//! set up with the schema (`reload_check` in [`super`]).

use super::wire::Wire;
use crate::dataset::reload::Prepare;

/// What a run writes with, and what a reloaded dataset goes through.
pub struct Setup {
    pub wire: Wire,
    /// `None`: nothing to check (only the key is Avro).
    pub reload: Option<Prepare>,
}
