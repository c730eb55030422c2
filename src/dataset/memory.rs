//! How much memory the process may use, for the dataset's memory guard
//! (`DATASET_MAX_BYTES` defaults to half of it).
//!
//! In a container the limit is the cgroup's, not the machine's: a pod with a
//! 512 MiB limit on a 64 GiB node is killed at 512 MiB. So the limit is the
//! smallest `memory.max` (cgroup v2) or `memory.limit_in_bytes` (cgroup v1) on
//! the path from the process's cgroup up to the root, capped by physical
//! memory; with no limit set anywhere, physical memory. Detection reads files
//! under a root directory so tests can lay out any hierarchy.

use std::path::{Path, PathBuf};

/// Where the limit came from, for the effective-configuration line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    CgroupV2,
    CgroupV1,
    Physical,
}

impl std::fmt::Display for LimitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitSource::CgroupV2 => "cgroup v2 memory.max",
            LimitSource::CgroupV1 => "cgroup v1 memory.limit_in_bytes",
            LimitSource::Physical => "physical memory",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    pub bytes: u64,
    pub source: LimitSource,
}

impl MemoryLimit {
    /// The default for `DATASET_MAX_BYTES`: half the limit, leaving the other
    /// half for the producer's queue, buffers and a reload's second dataset.
    pub fn default_max_bytes(&self) -> u64 {
        self.bytes / 2
    }
}

/// The memory limit of this process, or `None` when nothing can be read
/// (not Linux, or `/proc` not mounted): then there is no default guard.
pub fn detect() -> Option<MemoryLimit> {
    detect_in(Path::new("/"))
}

/// [`detect`] with `/proc` and `/sys/fs/cgroup` under `root`.
pub fn detect_in(root: &Path) -> Option<MemoryLimit> {
    let physical = std::fs::read_to_string(root.join("proc/meminfo")).ok().and_then(|s| parse_meminfo(&s));
    let cgroups = std::fs::read_to_string(root.join("proc/self/cgroup")).unwrap_or_default();
    let cgroup = cgroup_v2_limit(root, &cgroups)
        .map(|b| (b, LimitSource::CgroupV2))
        .or_else(|| cgroup_v1_limit(root, &cgroups).map(|b| (b, LimitSource::CgroupV1)));
    match (cgroup, physical) {
        (Some((b, source)), Some(p)) if b < p => Some(MemoryLimit { bytes: b, source }),
        (_, Some(p)) => Some(MemoryLimit { bytes: p, source: LimitSource::Physical }),
        (Some((b, source)), None) => Some(MemoryLimit { bytes: b, source }),
        (None, None) => None,
    }
}

/// `MemTotal:  16318480 kB` → bytes.
fn parse_meminfo(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    let unit = match words.next() {
        Some("kB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    n.checked_mul(unit)
}

/// The directories from the process's cgroup up to the mount's root, deepest first.
/// Inside a cgroup namespace the path is `/` and only the root is read.
fn ancestors(mount: &Path, cgroup_path: &str) -> Vec<PathBuf> {
    let rel = cgroup_path.trim_start_matches('/');
    let mut dirs = vec![];
    let mut p = Path::new(rel);
    loop {
        dirs.push(mount.join(p));
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    dirs
}

/// cgroup v2: the `0::/path` line; `memory.max` is `max` or a byte count.
fn cgroup_v2_limit(root: &Path, cgroups: &str) -> Option<u64> {
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let mount = root.join("sys/fs/cgroup");
    ancestors(&mount, path)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("memory.max")).ok())
        .filter_map(|s| s.trim().parse::<u64>().ok()) // "max" is no limit
        .min()
}

/// cgroup v1: the `N:memory:/path` line (the controller may share its line,
/// `N:cpu,memory:/path`). No limit reads as a huge page-rounded i64::MAX.
fn cgroup_v1_limit(root: &Path, cgroups: &str) -> Option<u64> {
    let path = cgroups.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == "memory").then_some(path)
    })?;
    let mount = root.join("sys/fs/cgroup/memory");
    ancestors(&mount, path)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("memory.limit_in_bytes")).ok())
        .filter_map(|s| s.trim().parse::<u64>().ok())
        .filter(|&b| b < 1 << 62)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       16318480 kB\nMemFree:         1000 kB\n";
    const PHYSICAL: u64 = 16318480 * 1024;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, body) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        dir
    }

    fn limit(files: &[(&str, &str)]) -> Option<MemoryLimit> {
        detect_in(tree(files).path())
    }

    #[test]
    fn physical_memory_without_cgroups() {
        let l = limit(&[("proc/meminfo", MEMINFO)]).unwrap();
        assert_eq!(l, MemoryLimit { bytes: PHYSICAL, source: LimitSource::Physical });
        assert_eq!(l.default_max_bytes(), PHYSICAL / 2);
    }

    #[test]
    fn cgroup_v2_in_a_namespace() {
        let l = limit(&[
            ("proc/meminfo", MEMINFO),
            ("proc/self/cgroup", "0::/\n"),
            ("sys/fs/cgroup/memory.max", "536870912\n"),
        ]);
        assert_eq!(l, Some(MemoryLimit { bytes: 512 << 20, source: LimitSource::CgroupV2 }));
    }

    #[test]
    fn cgroup_v2_max_means_physical() {
        let l =
            limit(&[("proc/meminfo", MEMINFO), ("proc/self/cgroup", "0::/\n"), ("sys/fs/cgroup/memory.max", "max\n")]);
        assert_eq!(l.unwrap().source, LimitSource::Physical);
    }

    #[test]
    fn cgroup_v2_the_tightest_ancestor_wins() {
        let l = limit(&[
            ("proc/meminfo", MEMINFO),
            ("proc/self/cgroup", "0::/kubepods/pod1/c1\n"),
            ("sys/fs/cgroup/kubepods/pod1/c1/memory.max", "max\n"),
            ("sys/fs/cgroup/kubepods/pod1/memory.max", "268435456\n"),
            ("sys/fs/cgroup/kubepods/memory.max", "1073741824\n"),
        ]);
        assert_eq!(l.unwrap().bytes, 256 << 20);
    }

    #[test]
    fn cgroup_v1_memory_controller() {
        let l = limit(&[
            ("proc/meminfo", MEMINFO),
            ("proc/self/cgroup", "12:pids:/\n7:cpuacct,memory:/\n1:name=systemd:/\n"),
            ("sys/fs/cgroup/memory/memory.limit_in_bytes", "1073741824\n"),
        ]);
        assert_eq!(l, Some(MemoryLimit { bytes: 1 << 30, source: LimitSource::CgroupV1 }));
    }

    #[test]
    fn cgroup_v1_unlimited_means_physical() {
        let l = limit(&[
            ("proc/meminfo", MEMINFO),
            ("proc/self/cgroup", "7:memory:/\n"),
            ("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"),
        ]);
        assert_eq!(l.unwrap().source, LimitSource::Physical);
    }

    #[test]
    fn a_cgroup_limit_above_physical_memory_is_physical() {
        let l = limit(&[
            ("proc/meminfo", MEMINFO),
            ("proc/self/cgroup", "0::/\n"),
            ("sys/fs/cgroup/memory.max", &(PHYSICAL * 4).to_string()),
        ]);
        assert_eq!(l.unwrap().bytes, PHYSICAL);
    }

    #[test]
    fn nothing_readable_is_no_limit() {
        assert_eq!(limit(&[]), None);
        assert_eq!(parse_meminfo("MemTotal: lots\n"), None);
    }

    #[test]
    fn this_machine_has_a_limit() {
        // Linux CI and containers always have /proc/meminfo.
        let l = detect().expect("a memory limit on Linux");
        assert!(l.bytes > 64 << 20, "{l:?}");
    }
}
