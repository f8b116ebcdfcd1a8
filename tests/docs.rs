//! The documentation's examples are real: every ```json scenario block in README.md and
//! docs/scenario-format.md loads, and runs to a pass unless it uses what this build does not
//! simulate yet; every block marked ```json rejected is rejected; the README opens with the two
//! commands that work on a fresh machine; the key-hash examples in docs/scenario-format.md are
//! what the code computes; the format reference shows a checkpointed scenario whose triggered
//! fault really fires; the state counts quoted in docs/model-checking.md are the ones
//! tests/explore.rs pins; every command has a section in docs/cli.md.

use ftsim::check::{self, Verdict};
use ftsim::graph::Job;
use ftsim::record::{key_group_of, key_hash, subtask_of_key_group, Key};
use ftsim::scenario::{self, ScenarioError};
use std::path::Path;
use std::sync::Arc;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// A fenced code block: its info string (`json`, `json rejected`), first line and text.
struct Block {
    info: String,
    line: usize,
    text: String,
}

fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some(Block {
                        info: info.trim().to_string(),
                        line: i + 2,
                        text: String::new(),
                    });
                }
            }
            Some(mut b) => {
                if trimmed.starts_with("```") {
                    blocks.push(b);
                } else {
                    b.text.push_str(line);
                    b.text.push('\n');
                    open = Some(b);
                }
            }
        }
    }
    assert!(open.is_none(), "a code block is never closed");
    blocks
}

/// The ```json blocks of a document that hold a scenario (an object with a "graph" key).
fn scenario_blocks(path: &str) -> Vec<Block> {
    fenced_blocks(&read(path))
        .into_iter()
        .filter(|b| b.info.split_whitespace().next() == Some("json"))
        .filter(|b| {
            let value: serde_json::Value = serde_json::from_str(&b.text).unwrap_or_else(|e| {
                panic!("{path}:{}: the json block does not parse: {e}", b.line)
            });
            value.get("graph").is_some()
        })
        .collect()
}

fn check_examples_of(path: &str) -> usize {
    let blocks = scenario_blocks(path);
    for b in &blocks {
        let origin = format!("{path}:{}", b.line);
        let loaded = scenario::load_bytes(b.text.as_bytes(), &origin);
        if b.info.split_whitespace().any(|w| w == "rejected") {
            match loaded {
                Err(e @ ScenarioError::Invalid { .. }) => {
                    assert!(
                        e.to_string().contains("Fix:"),
                        "{origin}: the rejection suggests a fix: {e}"
                    )
                }
                Err(e) => panic!("{origin}: rejected for the wrong reason: {e}"),
                Ok(_) => panic!("{origin}: marked `json rejected`, but it loads"),
            }
            continue;
        }
        let s = loaded.unwrap_or_else(|e| panic!("{origin}: the example does not load:\n{e}"));
        let seed = s.seed;
        match check::run_once(Arc::new(Job::new(s)), seed, None) {
            Ok(report) => {
                assert_eq!(report.verdict, Verdict::Pass, "{origin}: {:?}", report.failures)
            }
            // A scenario that uses what this build does not simulate yet only has to load.
            Err(e) if e.contains("not simulated") => {}
            Err(e) => panic!("{origin}: the example does not run: {e}"),
        }
    }
    blocks.len()
}

#[test]
fn every_scenario_example_in_the_format_reference_loads_and_runs() {
    let n = check_examples_of("docs/scenario-format.md");
    assert!(n >= 4, "docs/scenario-format.md has at least four scenario examples, found {n}");
}

#[test]
fn every_scenario_example_in_the_readme_loads_and_runs() {
    let n = check_examples_of("README.md");
    assert!(n >= 1, "README.md shows at least one scenario file, found {n}");
}

#[test]
fn the_format_reference_shows_a_checkpointed_scenario_whose_faults_all_fire() {
    let path = "docs/scenario-format.md";
    let mut shown = 0;
    for b in scenario_blocks(path) {
        if b.info.split_whitespace().any(|w| w == "rejected") {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&b.text).expect("parsed above");
        let checkpointed = value
            .get("checkpointing")
            .is_some_and(|c| c.get("mode").and_then(|m| m.as_str()) != Some("disabled"));
        let faults = value.get("faults").and_then(|f| f.as_array()).cloned().unwrap_or_default();
        let triggered = faults.iter().any(|f| f.get("on").is_some());
        if !(checkpointed && triggered) {
            continue;
        }
        let origin = format!("{path}:{}", b.line);
        let s = scenario::load_bytes(b.text.as_bytes(), &origin).expect("loads (checked above)");
        let seed = s.seed;
        let report = check::run_once(Arc::new(Job::new(s)), seed, None)
            .unwrap_or_else(|e| panic!("{origin}: does not run: {e}"));
        let planned = faults.iter().filter(|f| f.get("kind") != Some(&"random".into())).count();
        assert!(
            report.stats.faults >= planned as u64 && report.stats.checkpoints.completed >= 1,
            "{origin}: every planned fault fires and a checkpoint completes, got {:?}",
            report.stats
        );
        shown += 1;
    }
    assert!(shown >= 1, "{path} shows a checkpointed scenario with a triggered fault");
}

#[test]
fn the_readme_opens_with_the_two_commands_that_work_on_a_fresh_machine() {
    let readme = read("README.md");
    let head: Vec<&str> = readme.lines().take(8).collect();
    assert!(head[0].starts_with("# "), "the README starts with its title");
    let head = head.join("\n");
    for command in ["cargo run --release -- run", "cargo test"] {
        assert!(head.contains(command), "the README's first lines give `{command}`:\n{head}");
    }
}

#[test]
fn the_key_hash_examples_in_the_format_reference_are_what_the_code_computes() {
    let doc = read("docs/scenario-format.md");
    let examples = [
        ("`\"k0\"`", Key::Str("k0".into()), 0xd4bd_bd02_c38a_487c_u64),
        ("`\"k2\"`", Key::Str("k2".into()), 0xd961_a713_cf16_5a0f),
        ("`\"k3\"`", Key::Str("k3".into()), 0x60ab_076e_a4f3_c3bb),
        ("`7` (integer)", Key::Int(7), 0xf1dc_c46f_a0c9_7c22),
    ];
    for (shown, key, hash) in examples {
        assert_eq!(key_hash(&key), hash, "hash of {key}");
        let group = key_group_of(hash);
        let subtasks: Vec<String> =
            [2, 3, 4].iter().map(|&p| subtask_of_key_group(group, p).to_string()).collect();
        let row = format!("| {shown} | `{hash:016x}` | {group} | {} |", subtasks.join(" | "));
        assert!(doc.contains(&row), "docs/scenario-format.md has the row\n{row}");
    }
}

#[test]
fn the_state_counts_quoted_in_the_model_checking_doc_are_the_pinned_ones() {
    // docs/model-checking.md quotes the table of tests/explore.rs; a row there is a tuple
    // (scenario, checkpoints, faults, states, reduced, full) here.
    let doc = read("docs/model-checking.md");
    let tests = read("tests/explore.rs");
    let mut rows = 0;
    for line in doc.lines().filter(|l| l.starts_with("| `scenarios/explore/")) {
        let cells: Vec<&str> =
            line.trim_matches('|').split('|').map(|c| c.trim().trim_matches('`')).collect();
        assert_eq!(cells.len(), 6, "docs/model-checking.md: a pinned row has six cells: {line}");
        let tuple = format!("(\"{}\", {})", cells[0], cells[1..].join(", "));
        assert!(
            tests.contains(&tuple),
            "docs/model-checking.md quotes {tuple}, which tests/explore.rs does not pin"
        );
        rows += 1;
    }
    let pinned =
        tests.lines().filter(|l| l.trim_start().starts_with("(\"scenarios/explore/")).count();
    assert_eq!(rows, pinned, "docs/model-checking.md quotes every pinned row of tests/explore.rs");
}

#[test]
fn every_command_has_a_section_in_the_cli_reference() {
    use clap::CommandFactory;
    let doc = read("docs/cli.md");
    for sub in ftsim::cli::Cli::command().get_subcommands() {
        let heading = format!("## `ftsim {}`", sub.get_name());
        assert!(doc.contains(&heading), "docs/cli.md has no section {heading}");
    }
}
