//! Text for people, generated from the settings table and the exit codes:
//! `--help`, docs/configuration.md's settings and exit-code sections, and
//! `.env.example`. The tests below fail when docs/configuration.md or
//! `.env.example` drift from the table, or when docs/observability.md lacks a
//! log event or a metric; `KAFKA_FEEDER_BLESS=1 cargo test --lib docs` rewrites
//! the generated sections in place.

use std::fmt::Write;

use crate::exit;
use crate::settings::{self, Group, Setting};
use crate::sink::config::PRODUCER_DEFAULTS;

/// `kafka-feeder --help`.
pub fn help() -> String {
    let mut out = format!(
        "kafka-feeder {}: keeps a Kafka topic fed with realistic traffic sampled from a dataset.\n\n\
         USAGE\n    \
         kafka-feeder              run until SIGTERM/SIGINT (or MAX_MESSAGES)\n    \
         kafka-feeder check        preflight: configuration, dataset, broker (within CHECK_TIMEOUT),\n                              \
         topic and producer; prints the expected rate; exit 0 or the failure's code\n    \
         kafka-feeder preview [N]  N messages (default 10) as JSON Lines on stdout, exactly as a run\n                              \
         would send them (key, headers, value); no broker needed; logs on stderr\n    \
         kafka-feeder --help, -h   this text\n    \
         kafka-feeder --version    the version\n\n\
         Configured by environment variables only; defaults in brackets.\n",
        env!("CARGO_PKG_VERSION")
    );
    for group in Group::ALL {
        let entries: Vec<&Setting> = in_group(group).collect();
        if entries.is_empty() {
            continue;
        }
        let _ = write!(out, "\n{}\n", group.title().to_uppercase());
        for s in entries {
            let default = match default_text(s) {
                d @ ("required" | "unset") => d.to_owned(),
                d => format!("default: {}", d.trim_start_matches('(').trim_end_matches(')')),
            };
            let _ = writeln!(out, "  {}{}  [{default}]", display_name(s), aliases(s, ", or "));
            let _ = writeln!(out, "      {}", s.meaning);
            let _ = writeln!(out, "      Accepts: {}", s.accepted);
        }
    }
    out.push_str("\nEXIT CODES\n");
    for (code, meaning, fix) in exit::ALL {
        let _ = writeln!(
            out,
            "  {code:<4} {}{}",
            meaning.replace('`', ""),
            if fix.is_empty() { String::new() } else { format!(" {}", fix.replace('`', "")) }
        );
    }
    out.push_str("\nThe repository's docs/ folder has the details: configuration, datasets, messages,\npacing, observability, deployment, reliability.\n");
    out
}

fn in_group(group: Group) -> impl Iterator<Item = &'static Setting> {
    settings::ALL.iter().copied().filter(move |s| s.group == group)
}

fn display_name(s: &Setting) -> String {
    if s.prefix {
        format!("{}<NAME>", s.name)
    } else {
        s.name.to_owned()
    }
}

fn aliases(s: &Setting, sep: &str) -> String {
    s.aliases.iter().map(|a| format!("{sep}{a}")).collect()
}

fn default_text(s: &Setting) -> &'static str {
    match (s.required, s.default) {
        (true, _) => "required",
        (false, "") => "unset",
        (false, d) => d,
    }
}

/// docs/configuration.md's settings tables, one per group.
pub fn settings_tables() -> String {
    let mut out = String::new();
    for group in Group::ALL {
        let entries: Vec<&Setting> = in_group(group).collect();
        if entries.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "\n### {}\n\n| Variable | Default | Accepted values | Meaning |\n| --- | --- | --- | --- |\n",
            group.title()
        );
        for s in entries {
            let name = format!(
                "`{}`{}",
                display_name(s),
                s.aliases.iter().map(|a| format!(" (or `{a}`)")).collect::<String>()
            );
            let default = match default_text(s) {
                d if s.required || d == "unset" || d.starts_with('(') => {
                    d.trim_matches(|c| c == '(' || c == ')').to_owned()
                }
                d => format!("`{d}`"),
            };
            let secret = if s.secret { " Secret: never logged." } else { "" };
            let _ = writeln!(out, "| {name} | {default} | {} | {}{secret} |", cell(s.accepted), cell(s.meaning));
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

/// docs/configuration.md's exit-code table.
pub fn exit_code_table() -> String {
    let mut out = String::from("\n| Code | Meaning | What to do |\n| --- | --- | --- |\n");
    for (code, meaning, fix) in exit::ALL {
        let _ = writeln!(out, "| {code} | {meaning} | {fix} |");
    }
    out
}

/// The settings part of `.env.example`: every variable, commented out at its default.
pub fn env_example() -> String {
    let mut out = String::new();
    for group in Group::ALL {
        let entries: Vec<&Setting> = in_group(group).collect();
        if entries.is_empty() {
            continue;
        }
        let _ = write!(out, "\n# --- {} {}\n", group.title(), "-".repeat(74 - group.title().len()));
        for s in entries {
            let _ = writeln!(out, "\n# {}", s.meaning);
            let _ = writeln!(out, "# Accepts: {}", s.accepted);
            if !s.aliases.is_empty() {
                let _ = writeln!(out, "# Also read as:{}", aliases(s, " "));
            }
            if s.prefix {
                out.push_str("# Defaults chosen by kafka-feeder:\n");
                for (k, v) in PRODUCER_DEFAULTS {
                    let _ = writeln!(out, "# {}{}={v}", s.name, k.to_ascii_uppercase().replace('.', "_"));
                }
                continue;
            }
            if s.required {
                let _ = writeln!(out, "# Required.\n{}={}", s.name, s.example);
                continue;
            }
            if !s.example.is_empty() {
                let _ = writeln!(out, "# e.g. {}={}", s.name, s.example);
            }
            match s.default {
                d if d.starts_with('(') => {
                    let _ = writeln!(out, "# Default: {}\n# {}=", d.trim_matches(|c| c == '(' || c == ')'), s.name);
                }
                d => {
                    let _ = writeln!(out, "# {}={d}", s.name);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIGURATION: &str = "docs/configuration.md";
    const ENV_EXAMPLE: &str = ".env.example";
    const OBSERVABILITY: &str = "docs/observability.md";

    fn path(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
    }

    /// Checks (or with `KAFKA_FEEDER_BLESS=1` rewrites) the text between the
    /// `BEGIN generated: <tag>` and `END generated: <tag>` lines of `file`.
    fn check_section(file: &str, tag: &str, expected: &str) {
        let text = std::fs::read_to_string(path(file)).unwrap();
        let begin = text
            .find(&format!("BEGIN generated: {tag}"))
            .unwrap_or_else(|| panic!("{file} lacks 'BEGIN generated: {tag}'"));
        let start = begin + text[begin..].find('\n').unwrap() + 1;
        let end_marker = text
            .find(&format!("END generated: {tag}"))
            .unwrap_or_else(|| panic!("{file} lacks 'END generated: {tag}'"));
        let end = text[..end_marker].rfind('\n').unwrap() + 1;
        if text[start..end] == *expected {
            return;
        }
        if std::env::var_os("KAFKA_FEEDER_BLESS").is_some() {
            std::fs::write(path(file), format!("{}{expected}{}", &text[..start], &text[end..])).unwrap();
            return;
        }
        let actual = &text[start..end];
        let first_diff = actual.lines().zip(expected.lines()).find(|(a, e)| a != e);
        panic!(
            "{file}'s generated section {tag:?} differs from the settings table (first difference: {first_diff:?}); \
             run `KAFKA_FEEDER_BLESS=1 cargo test --lib docs` to regenerate it"
        );
    }

    #[test]
    fn configuration_settings_match_the_table() {
        check_section(CONFIGURATION, "settings", &settings_tables());
    }

    #[test]
    fn configuration_exit_codes_match() {
        check_section(CONFIGURATION, "exit codes", &exit_code_table());
    }

    #[test]
    fn env_example_matches_the_table() {
        check_section(ENV_EXAMPLE, "settings", &env_example());
    }

    /// Independent of the generator: every variable appears in
    /// docs/configuration.md's settings section and `.env.example` with its default.
    #[test]
    fn every_variable_is_documented_with_its_default() {
        let page = std::fs::read_to_string(path(CONFIGURATION)).unwrap();
        let start = page.find("\n## Settings").expect("docs/configuration.md has a Settings section");
        let page = &page[start..start + 1 + page[start + 1..].find("\n## ").unwrap_or(page.len() - start - 1)];
        let env_example = std::fs::read_to_string(path(ENV_EXAMPLE)).unwrap();
        let help = help();
        for s in settings::ALL {
            let row = page
                .lines()
                .find(|l| l.starts_with(&format!("| `{}", display_name(s))))
                .unwrap_or_else(|| panic!("docs/configuration.md has no row for {}", s.name));
            let default_cell = row.split(" | ").nth(1).unwrap();
            assert_eq!(
                default_cell.trim_matches(|c| c == '`'),
                default_text(s).trim_matches(|c| c == '(' || c == ')'),
                "docs/configuration.md default of {}",
                s.name
            );
            assert!(help.contains(&display_name(s)), "--help lacks {}", s.name);
            if s.prefix {
                continue;
            }
            let line = env_example
                .lines()
                .find(|l| l.trim_start_matches("# ").starts_with(&format!("{}=", s.name)))
                .unwrap_or_else(|| panic!(".env.example has no line for {}", s.name));
            let value = line.trim_start_matches("# ").split_once('=').unwrap().1;
            let expected = if s.required {
                s.example
            } else if s.default.starts_with('(') {
                ""
            } else {
                s.default
            };
            assert_eq!(value, expected, ".env.example default of {}", s.name);
        }
    }

    #[test]
    fn help_lists_every_setting_every_exit_code_and_the_commands() {
        let help = help();
        for s in settings::ALL {
            assert!(help.contains(&format!("  {}", display_name(s))), "--help lacks {}", s.name);
            assert!(help.contains(s.accepted), "--help lacks what {} accepts", s.name);
        }
        for (code, ..) in exit::ALL {
            assert!(help.contains(&format!("\n  {code:<4} ")), "--help lacks exit code {code}");
        }
        for command in ["--version", "--help", "kafka-feeder check", "kafka-feeder preview [N]"] {
            assert!(help.contains(command), "--help lacks {command}");
        }
    }

    /// docs/configuration.md's table of producer defaults, written by hand
    /// for the reasons beside each value, says what the code sets.
    #[test]
    fn configuration_producer_defaults_are_the_ones_in_force() {
        let page = std::fs::read_to_string(path(CONFIGURATION)).unwrap();
        let rows = page.lines().filter(|l| l.starts_with("| `") && l.matches(" | ").count() == 2);
        let rows: Vec<&str> = rows.filter(|l| !l.starts_with("| `KAFKA") && !l.contains("generated")).collect();
        for (k, v) in PRODUCER_DEFAULTS {
            assert!(rows.iter().any(|r| r.starts_with(&format!("| `{k}` | `{v}` |"))), "{CONFIGURATION} lacks {k}={v}");
        }
        assert_eq!(
            rows.len(),
            PRODUCER_DEFAULTS.len(),
            "{CONFIGURATION} names a producer default the code does not set"
        );
    }

    /// Every `event` value the code logs has a row in docs/observability.md.
    /// Reads the sources, not a list, so a new or renamed event fails here.
    #[test]
    fn observability_lists_every_log_event() {
        fn events_in(dir: &std::path::Path, found: &mut std::collections::BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    events_in(&p, found);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for (i, _) in text.match_indices("event = \"") {
                        let name = &text[i + 9..];
                        let name = &name[..name.find('"').unwrap()];
                        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                            found.insert(name.to_owned());
                        }
                    }
                }
            }
        }
        let mut events = std::collections::BTreeSet::new();
        events_in(&path("src"), &mut events);
        assert!(events.len() > 40, "found only {} events in src/", events.len());
        let page = std::fs::read_to_string(path(OBSERVABILITY)).unwrap();
        // The first cell of the event table's rows: "| `row_skipped`, `rows_skipped` (warn) | ...".
        let first_cells: Vec<&str> =
            page.lines().filter_map(|l| l.strip_prefix("| `")).filter_map(|l| l.split(" | ").next()).collect();
        let missing: Vec<_> = events
            .iter()
            .filter(|e| !first_cells.iter().any(|c| format!("`{c}").contains(&format!("`{e}`"))))
            .collect();
        assert!(missing.is_empty(), "{OBSERVABILITY} has no row for the events {missing:?}");
    }

    /// Every metric `/metrics` exposes has a row in docs/observability.md.
    #[test]
    fn observability_lists_every_metric() {
        let text = crate::observe::metrics::Metrics::new("none").encode(crate::observe::metrics::Format::OpenMetrics);
        let page = std::fs::read_to_string(path(OBSERVABILITY)).unwrap();
        let mut names = 0;
        for line in text.lines() {
            let Some((name, kind)) = line.strip_prefix("# TYPE ").and_then(|l| l.split_once(' ')) else { continue };
            let name = if kind == "counter" { format!("{name}_total") } else { name.to_owned() };
            assert!(page.contains(&format!("| `{name}` |")), "{OBSERVABILITY} has no row for the metric {name}");
            names += 1;
        }
        assert!(names > 10, "found only {names} metrics");
    }
}
