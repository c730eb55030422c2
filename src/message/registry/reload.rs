//! A reloaded dataset with a registry format (`DATASET_RELOAD_INTERVAL`,
//! SIGHUP): its records are checked against the schema in use, the one whose
//! id every frame carries (nothing is registered again). A record that does
//! not fit is dropped and reported as at load; a version with no fitting
//! record is refused like any bad reload, and the dataset in use stays.
//!
//! Avro values encoded once at load belong to the first dataset; so with
//! `DATASET_RELOAD_INTERVAL` they are encoded per message instead
//! ([`super::encodes_per_message`]), and without it SIGHUP is refused
//! ([`super::refuse_reloads`]). The check itself is set up with the schema
//! (`reload_check` in [`super`]).

use super::wire::Wire;
use crate::dataset::reload::Prepare;

/// What a run writes with, and what a reloaded dataset goes through.
pub struct Setup {
    pub wire: Wire,
    pub reloads: Reloads,
}

/// Whether a reload can be taken, and the check its records go through first.
pub enum Reloads {
    /// Avro datums encoded at load: SIGHUP is answered with a line.
    Refused,
    /// Taken after the check (`None`: nothing to check, only the key is Avro).
    Checked(Option<Prepare>),
}
