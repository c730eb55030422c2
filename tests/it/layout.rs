//! The house rules of `src/` (issue 21): no file over 600 lines, no import
//! cycle between files, a layout note in lib.rs that names every module, and
//! events that flow one way (only `observe/events/` logs).
//!
//! An import is a `use` or a `crate::`/`super::`/`self::`/child-module path in
//! code, resolved to the file that defines the deepest module it names. A
//! folder's `mod.rs` re-exporting its own children (`pub use child::X`) is a
//! declaration, not a dependency. Test modules (`tests.rs`, anything after
//! `#[cfg(test)]`) may import what they test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module path of a library file: `dataset/source/mod.rs` → `[dataset, source]`.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// `a::{b, c::{d, self}}` → `a::b`, `a::c::d`, `a::c`.
fn expand(path: &str) -> Vec<String> {
    let path: String = path.split_whitespace().collect::<Vec<_>>().join(" ");
    let (Some(open), Some(close)) = (path.find('{'), path.rfind('}')) else { return vec![path] };
    let base = path[..open].trim_end_matches("::");
    let inner = &path[open + 1..close];
    let (mut items, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for ch in inner.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    items.push(cur);
    items
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .flat_map(|i| if i == "self" { vec![base.to_owned()] } else { expand(&format!("{base}::{i}")) })
        .collect()
}

/// Code without comments and test modules.
fn code(text: &str) -> String {
    let text = text.find("#[cfg(test)]").map_or(text, |i| &text[..i]);
    text.lines().map(|l| l.find("//").map_or(l, |i| &l[..i])).collect::<Vec<_>>().join("\n")
}

/// Paths used by `text`, each with whether it is a `pub use` (a re-export).
fn paths(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = String::new();
    let mut s = text;
    while let Some(i) = s.find("use ") {
        let before = &s[..i];
        let line_start = before.rfind('\n').map_or(0, |n| n + 1);
        let lead = before[line_start..].trim();
        // rustfmt puts each `use` at the start of its line, after any `pub`.
        let at_start = lead.is_empty() || lead == "pub" || (lead.starts_with("pub(") && lead.ends_with(')'));
        let Some(end) = s[i..].find(';') else { break };
        if !at_start {
            rest.push_str(&s[..i + 4]);
            s = &s[i + 4..];
            continue;
        }
        let public = !lead.is_empty();
        for p in expand(&s[i + 4..i + end]) {
            let p = p.split(" as ").next().unwrap().trim().to_owned();
            out.push((p, public));
        }
        rest.push_str(&s[..line_start]);
        s = &s[i + end + 1..];
    }
    rest.push_str(s);
    // Qualified paths in code: `a::b::c` not preceded by `::` or a word character.
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        if word(bytes[i]) && (i == 0 || !(word(bytes[i - 1]) || bytes[i - 1] == b':')) {
            let mut j = i;
            while j < bytes.len() && (word(bytes[j]) || (bytes[j] == b':' && bytes.get(j + 1) == Some(&b':'))) {
                j += if bytes[j] == b':' { 2 } else { 1 };
            }
            let p = rest[i..j].trim_end_matches(':');
            if p.contains("::") {
                out.push((p.to_owned(), false));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// File → files it imports.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut all = Vec::new();
    rust_files(&root, &mut all);
    let modules: BTreeMap<Vec<String>, String> = all
        .iter()
        .map(|p| p.strip_prefix(&root).unwrap().to_string_lossy().into_owned())
        .filter(|rel| rel != "main.rs" && !rel.ends_with("tests.rs"))
        .map(|rel| (module_of(&rel), rel))
        .collect();
    let mut edges = BTreeMap::<String, BTreeSet<String>>::new();
    for (module, rel) in &modules {
        let folder = rel.ends_with("mod.rs") || rel == "lib.rs";
        let text = code(&std::fs::read_to_string(root.join(rel)).unwrap());
        for (path, public) in paths(&text) {
            let mut segs: Vec<&str> = path.split("::").collect();
            let mut cur: Vec<String> = match segs[0] {
                "crate" => {
                    segs.remove(0);
                    vec![]
                }
                "super" => {
                    let mut m = module.clone();
                    while segs.first() == Some(&"super") {
                        m.pop();
                        segs.remove(0);
                    }
                    m
                }
                "self" => {
                    segs.remove(0);
                    module.clone()
                }
                child if folder && modules.contains_key(&[module.clone(), vec![child.to_owned()]].concat()) => {
                    module.clone()
                }
                _ => continue,
            };
            for s in segs {
                let next = [cur.clone(), vec![s.to_owned()]].concat();
                if !modules.contains_key(&next) {
                    break;
                }
                cur = next;
            }
            if public && cur.starts_with(module) {
                continue; // a folder re-exporting its own children
            }
            if &cur != module {
                if let Some(target) = modules.get(&cur) {
                    edges.entry(rel.clone()).or_default().insert(target.clone());
                }
            }
        }
    }
    edges
}

/// A cycle through `start`, if any: the files in order.
fn cycle_from(edges: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in edges.get(&node).into_iter().flatten() {
            if next == start {
                return Some(path.clone());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    assert!(files.len() > 40, "found only {} files", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: move tests beside the file as tests.rs, or split: {long:?}");
}

#[test]
fn no_two_files_import_each_other_even_through_others() {
    let edges = imports();
    // The graph is real: the loop imports the sampler, the run imports the sink.
    assert!(edges["pacing/schedule.rs"].contains("pacing/sampler.rs"), "{edges:?}");
    assert!(edges["run.rs"].contains("sink/mod.rs"), "{edges:?}");
    let cycles: Vec<String> = edges.keys().filter_map(|f| cycle_from(&edges, f)).map(|c| c.join(" -> ")).collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn the_cycle_check_finds_a_cycle_and_a_child_import() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a.rs".to_owned(), BTreeSet::from(["b.rs".to_owned()])),
        ("b.rs".to_owned(), BTreeSet::from(["c.rs".to_owned()])),
        ("c.rs".to_owned(), BTreeSet::from(["a.rs".to_owned()])),
    ]
    .into();
    assert_eq!(cycle_from(&edges, "a.rs").unwrap(), ["a.rs", "b.rs", "c.rs"]);
    let found = paths("use super::{day::{Active, self}, rate::Shape};\npub use child::X;\nlet x = crate::a::b(1);");
    assert!(found.contains(&("super::day::Active".into(), false)), "{found:?}");
    assert!(found.contains(&("super::day".into(), false)), "{found:?}");
    assert!(found.contains(&("child::X".into(), true)), "{found:?}");
    assert!(found.contains(&("crate::a::b".into(), false)), "{found:?}");
}

#[test]
fn the_layout_note_in_lib_rs_names_every_module() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let note: String = lib.lines().filter(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
    let modules: Vec<&str> =
        lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|m| m.trim_end_matches(';')).collect();
    assert!(modules.len() >= 8, "{modules:?}");
    for m in modules {
        assert!(note.contains(&format!("[`{m}`]")), "lib.rs's layout note does not name `{m}`");
        let folder = src().join(m);
        if folder.is_dir() {
            let own = std::fs::read_to_string(folder.join("mod.rs")).unwrap();
            assert!(own.starts_with("//!"), "src/{m}/mod.rs has no //! note on what the folder holds");
        }
    }
}

/// Every log macro in the events files names its `event`, and no other file
/// under src/ logs by itself: events flow one way, through here.
#[test]
fn every_line_has_an_event_field_and_only_events_logs() {
    let root = src();
    let events_dir = root.join("observe/events");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 40, "found only {} files under src/", files.len());
    let mut calls = 0;
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        if path.starts_with(&events_dir) && !name.ends_with("tests.rs") {
            for (i, _) in src
                .match_indices('!')
                .filter(|(i, _)| ["info", "warn", "error", "debug", "trace"].iter().any(|m| src[..*i].ends_with(m)))
            {
                let call = &src[i..i + src[i..].find(';').unwrap()];
                assert!(call.contains("event = \""), "{name}: a log line without an event field: {call}");
                calls += 1;
            }
        } else if !path.starts_with(&events_dir) {
            for m in ["info!(", "warn!(", "error!(", "debug!(", "trace!("] {
                assert!(!src.contains(m), "{name} logs by itself ({m}); add a function to observe/events/");
            }
        }
    }
    assert!(calls > 30, "found only {calls} log macros");
}
