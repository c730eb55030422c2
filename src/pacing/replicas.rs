//! Replicas that add up: replica i of N sends its share of the sequence one
//! replica would send (ticks, messages or records at positions i, i+N, ...),
//! so N pods together give the total asked for instead of N times it.
//!
//! The index comes from `REPLICA_INDEX`, else a Kubernetes Indexed Job's
//! `JOB_COMPLETION_INDEX`, else the trailing `-<n>` of `HOSTNAME` (how a
//! StatefulSet names its pods), else 0.

use std::fmt;

use super::PacingError;

/// This process's place among the replicas: `index < count`, `count >= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replica {
    pub index: u64,
    pub count: u64,
}

impl Replica {
    pub const ONE: Replica = Replica { index: 0, count: 1 };
}

/// Where the replica index came from (for the effective-configuration line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexSource {
    ReplicaIndex,
    JobCompletionIndex,
    Hostname,
    /// One replica, or nothing set: 0.
    Default,
}

impl fmt::Display for IndexSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IndexSource::ReplicaIndex => "REPLICA_INDEX",
            IndexSource::JobCompletionIndex => "JOB_COMPLETION_INDEX",
            IndexSource::Hostname => "HOSTNAME",
            IndexSource::Default => "default",
        })
    }
}

/// Parses `REPLICAS`: a whole number from 1 to 10000.
pub fn parse_count(raw: &str) -> Result<u64, PacingError> {
    match raw.trim().parse::<u64>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(PacingError::Replica("accepted is a whole number from 1 to 10000".into())),
    }
}

/// Resolves this replica's index among `count`. `explicit` is `REPLICA_INDEX`;
/// the other two are the environment's `JOB_COMPLETION_INDEX` and `HOSTNAME`.
/// The error names the variable the index came from.
pub fn resolve(
    count: u64,
    explicit: Option<&str>,
    job_completion_index: Option<&str>,
    hostname: Option<&str>,
) -> Result<(Replica, IndexSource), PacingError> {
    let bad = |var: &str, value: &str, what: &str| {
        PacingError::Replica(format!("{var}={value:?} {what} (REPLICAS={count}: accepted are 0 to {})", count - 1))
    };
    let (index, source, var, value) = if let Some(v) = explicit {
        let i = v.trim().parse::<u64>().map_err(|_| bad("REPLICA_INDEX", v, "is not a whole number"))?;
        (i, IndexSource::ReplicaIndex, "REPLICA_INDEX", v)
    } else if count == 1 {
        // One replica: the orchestrator's numbering says nothing about a share.
        return Ok((Replica::ONE, IndexSource::Default));
    } else if let Some(v) = job_completion_index.filter(|v| !v.trim().is_empty()) {
        let i = v.trim().parse::<u64>().map_err(|_| bad("JOB_COMPLETION_INDEX", v, "is not a whole number"))?;
        (i, IndexSource::JobCompletionIndex, "JOB_COMPLETION_INDEX", v)
    } else if let Some(i) = hostname.and_then(trailing_ordinal) {
        (i, IndexSource::Hostname, "HOSTNAME", hostname.unwrap_or_default())
    } else {
        (0, IndexSource::Default, "", "")
    };
    if index >= count {
        return Err(bad(var, value, "is out of range"));
    }
    Ok((Replica { index, count }, source))
}

/// The `n` of a StatefulSet pod name `<name>-<n>`.
fn trailing_ordinal(host: &str) -> Option<u64> {
    let (_, n) = host.trim().rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// The seed replica `r` uses for a configured `seed`: the same for one replica
/// (so a seeded single run is unchanged), different for each index otherwise.
pub fn mix_seed(seed: u64, r: Replica) -> u64 {
    if r.count == 1 {
        return seed;
    }
    // splitmix64's finalizer over seed and index: neighbouring indices give
    // unrelated seeds.
    let mut z = seed ^ r.index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(count: u64, explicit: Option<&str>, job: Option<&str>, host: Option<&str>) -> (u64, IndexSource) {
        let (r, source) = resolve(count, explicit, job, host).unwrap();
        assert_eq!(r.count, count);
        (r.index, source)
    }

    #[test]
    fn the_index_comes_from_replica_index_then_the_job_then_the_hostname() {
        use IndexSource::*;
        assert_eq!(ok(3, Some("2"), Some("1"), Some("feeder-0")), (2, ReplicaIndex));
        assert_eq!(ok(3, None, Some("1"), Some("feeder-0")), (1, JobCompletionIndex));
        assert_eq!(ok(3, None, None, Some("kafka-feeder-2")), (2, Hostname));
        assert_eq!(ok(3, None, Some(""), Some("kafka-feeder-2")), (2, Hostname));
        assert_eq!(ok(3, None, None, Some("laptop")), (0, Default));
        assert_eq!(ok(3, None, None, Some("feeder-7d9f8b6c5-xkq2z")), (0, Default));
        assert_eq!(ok(3, None, None, None), (0, Default));
        // One replica: the pod's ordinal means nothing.
        assert_eq!(ok(1, None, Some("4"), Some("kafka-feeder-4")), (0, Default));
        assert_eq!(ok(1, Some("0"), None, None), (0, ReplicaIndex));
    }

    #[test]
    fn an_index_out_of_range_names_where_it_came_from() {
        let err = |explicit, job, host| resolve(3, explicit, job, host).unwrap_err().to_string();
        assert!(
            err(Some("3"), None, None).contains("REPLICA_INDEX=\"3\" is out of range"),
            "{}",
            err(Some("3"), None, None)
        );
        assert!(err(Some("x"), None, None).contains("REPLICA_INDEX=\"x\" is not a whole number"));
        assert!(err(None, Some("5"), None).contains("JOB_COMPLETION_INDEX=\"5\" is out of range"));
        let host = err(None, None, Some("kafka-feeder-4"));
        assert!(host.contains("HOSTNAME=\"kafka-feeder-4\"") && host.contains("accepted are 0 to 2"), "{host}");
        assert!(resolve(1, Some("1"), None, None).is_err());
    }

    #[test]
    fn replica_counts() {
        assert_eq!(parse_count("1"), Ok(1));
        assert_eq!(parse_count(" 12 "), Ok(12));
        for bad in ["0", "-1", "1.5", "", "10001", "three"] {
            assert!(parse_count(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seeds_are_mixed_with_the_index_only_when_there_are_several() {
        assert_eq!(mix_seed(42, Replica::ONE), 42);
        let seeds: Vec<u64> = (0..8).map(|index| mix_seed(42, Replica { index, count: 8 })).collect();
        let mut distinct = seeds.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 8, "{seeds:?}");
        assert_ne!(mix_seed(42, Replica { index: 1, count: 2 }), mix_seed(43, Replica { index: 1, count: 2 }));
    }
}
