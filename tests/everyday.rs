//! Everyday use through the built binary: the frictions a newcomer met and the inputs that
//! broke a command (issue 11), each pinned by a test.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{assert_exit, ftsim, ftsim_env, json as json_of, stderr, stdout};

/// A directory of its own under the temp directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("ftsim-everyday-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("the temp dir is writable");
        Dir(d)
    }

    fn join(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8 temp paths").to_string()
    }

    fn write(&self, name: &str, v: &Value) -> String {
        let p = self.join(name);
        std::fs::write(&p, serde_json::to_string_pretty(v).expect("serializes")).expect("writes");
        p
    }

    fn files(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.0.join(sub))
            .map(|r| r.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()))
            .into_iter()
            .flatten()
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scenario(path: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .expect("a shipped scenario");
    serde_json::from_str(&text).expect("JSON")
}

/// The word count that runs out of events: `progress` and the output invariants fail.
fn starved() -> Value {
    let mut v = scenario("scenarios/wordcount.json");
    v["name"] = "starved".into();
    v["limits"] = json!({"max_events": 50});
    v
}

const MUTATION: &str = "scenarios/mutations/no_recommit_on_restore/scenario.json";

// --- check: counterexample files ---

#[test]
fn check_says_where_it_wrote_counterexamples_and_a_later_check_of_the_directory_skips_them() {
    let d = Dir::new("cx-skip");
    d.write("starved.json", &starved());
    let o = ftsim(&["check", &d.join(""), "--seeds", "1..2", "--out", &d.join("cx")]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.contains(&format!("wrote 2 counterexample file(s) to {}/", d.join("cx"))), "{out}");
    assert_eq!(d.files("cx"), vec!["starved-seed1.json", "starved-seed2.json"]);
    // The counterexamples now sit under the directory checked: they are not scenarios.
    let again = ftsim(&["check", &d.join(""), "--seeds", "1..1", "--save", "none"]);
    assert_exit(&again, 1);
    assert!(stderr(&again).contains("skipped 2 counterexample file(s)"), "{}", stderr(&again));
}

#[test]
fn check_saves_no_files_for_violations_the_scenario_expects_unless_asked() {
    let d = Dir::new("cx-expected");
    let o = ftsim(&["check", MUTATION, "--seeds", "1..3", "--out", &d.join("cx")]);
    assert_exit(&o, 0);
    assert!(d.files("cx").is_empty(), "{:?}", d.files("cx"));
    assert!(stdout(&o).contains("violating run(s) not saved as files"), "{}", stdout(&o));
    let o = ftsim(&[
        "check",
        MUTATION,
        "--seeds",
        "1..3",
        "--save",
        "violations",
        "--out",
        &d.join("cx"),
    ]);
    assert_exit(&o, 0);
    assert_eq!(d.files("cx").len(), 3);
}

#[test]
fn a_counterexample_given_as_a_scenario_is_refused_with_the_command_that_reads_it() {
    let d = Dir::new("cx-as-scenario");
    d.write("starved.json", &starved());
    let o = ftsim(&["check", &d.join("starved.json"), "--seeds", "1..1", "--out", &d.join("cx")]);
    assert_exit(&o, 1);
    let cx = d.join("cx/starved-seed1.json");
    for cmd in ["run", "validate", "check"] {
        let o = ftsim(&[cmd, &cx]);
        assert_exit(&o, 2);
        let err = stderr(&o);
        assert!(err.contains("a counterexample, not a scenario"), "{cmd}: {err}");
        assert!(err.contains(&format!("ftsim replay {cx}")), "{cmd}: {err}");
    }
}

// --- words ---

#[test]
fn the_sweep_summary_shows_violations_of_invariants_it_does_not_check() {
    let d = Dir::new("unchecked");
    let mut s = starved();
    s["expect"] = json!({"holds": ["no_duplicates"]});
    d.write("s.json", &s);
    let o = ftsim(&["check", &d.join("s.json"), "--seeds", "1..2", "--out", &d.join("cx")]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("note progress violated by 2 seed(s), first seed 1 (not checked"),
        "{out}"
    );
    let o = ftsim(&["check", &d.join("s.json"), "--seeds", "1..2", "--json", "--save", "none"]);
    let v = json_of(&o);
    let unchecked = &v["scenarios"][0]["not_checked"];
    assert!(
        unchecked.as_array().expect("a list").iter().any(|u| u["invariant"] == "progress"),
        "{v}"
    );
}

#[test]
fn a_passing_run_words_an_unchecked_violation_apart_from_a_failure() {
    let d = Dir::new("words");
    let mut s = starved();
    s["expect"] = json!({"holds": ["no_duplicates"]});
    d.write("s.json", &s);
    let o = ftsim(&["run", &d.join("s.json")]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.starts_with("PASS"), "{out}");
    assert!(!out.contains("VIOL"), "no word in capitals says violated in a pass: {out}");
    assert!(out.contains("violated progress  (not checked"), "{out}");
}

#[test]
fn a_replay_that_reproduces_a_failure_says_so_first_and_exits_0() {
    let d = Dir::new("replay-words");
    d.write("starved.json", &starved());
    ftsim(&["check", &d.join("starved.json"), "--seeds", "1..1", "--out", &d.join("cx")]);
    let o = ftsim(&["replay", &d.join("cx/starved-seed1.json")]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.starts_with("REPRODUCED  starved  seed 1"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn replay_follows_the_top_level_mutations_of_a_counterexample() {
    let d = Dir::new("replay-mutations");
    let o = ftsim(&[
        "check",
        MUTATION,
        "--seeds",
        "1..1",
        "--save",
        "violations",
        "--out",
        &d.join("cx"),
        "--json",
    ]);
    let file = json_of(&o)["counterexamples"][0].as_str().expect("saved").to_string();
    assert_exit(&ftsim(&["replay", &file]), 0);
    // Without its mutation the protocol is correct: the failure does not come back.
    let mut cx: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("readable")).expect("JSON");
    cx["mutations"] = json!([]);
    let edited = d.write("edited.json", &cx);
    let o = ftsim(&["replay", &edited]);
    assert_exit(&o, 1);
    assert!(stdout(&o).starts_with("NOT REPRODUCED"), "{}", stdout(&o));
    cx["mutations"] = json!(["no_such_mutation"]);
    let bad = d.write("bad.json", &cx);
    let o = ftsim(&["replay", &bad]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("at mutations[0]: unknown mutation"), "{}", stderr(&o));
}

// --- inputs that broke it ---

#[test]
fn a_seed_range_as_large_as_u64_is_counted_not_listed() {
    let max = u64::MAX.to_string();
    let all = format!("0..{max}");
    // Shard 0 of 2^64 - 1 holds two seeds: 0 and 2^64 - 1.
    let shard = format!("0/{max}");
    let o = ftsim(&["check", "scenarios/union.json", "--seeds", &all, "--shard", &shard, "--json"]);
    assert_exit(&o, 0);
    assert_eq!(json_of(&o)["runs"], 2);
    let last = format!("{max}..{max}");
    let o = ftsim(&["check", "scenarios/union.json", "--seeds", &last, "--json"]);
    assert_exit(&o, 0);
    assert_eq!(json_of(&o)["runs"], 1);
}

#[test]
fn zero_threads_and_a_zero_state_budget_are_refused() {
    for args in [
        &["check", "scenarios/union.json", "--jobs", "0"][..],
        &["explore", "scenarios/explore/tiny-count.json", "--jobs", "0"][..],
        &["explore", "scenarios/explore/tiny-count.json", "--max-states", "0"][..],
    ] {
        let o = ftsim(args);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("must be at least 1"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_state_budget_of_one_explores_one_state() {
    for order in [None, Some("--dfs")] {
        let mut args = vec!["explore", "scenarios/explore/tiny-count.json", "--max-states", "1"];
        args.extend(order);
        args.push("--json");
        let o = ftsim(&args);
        assert_exit(&o, 0);
        let v = json_of(&o);
        assert_eq!(v["states"], 1, "{order:?}: {v}");
        assert_eq!(v["complete"], false, "{v}");
    }
}

#[test]
fn validate_of_an_endless_file_stops_at_the_size_cap_and_says_so() {
    let o = ftsim(&["validate", "/dev/zero"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("/dev/zero: larger than 64 MiB"), "{}", stderr(&o));
    for cmd in ["replay", "merge"] {
        let o = ftsim(&[cmd, "/dev/zero"]);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("larger than 64 MiB"), "{cmd}: {}", stderr(&o));
    }
}

#[test]
fn errors_in_counterexample_and_summary_files_give_a_json_path_and_a_real_column() {
    let d = Dir::new("file-errors");
    let cx = d.write("cx.json", &json!({"ftsim_counterexample": 1, "seed": "one"}));
    let o = ftsim(&["replay", &cx]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains(&format!("{cx}:1:")) || err.contains(&format!("{cx}:3:")), "{err}");
    assert!(err.contains("at seed: invalid type"), "{err}");
    assert!(!err.contains(":0:"), "columns count from 1: {err}");
    let summary = d.write("s.json", &json!({"verdict": "pass", "seeds": {"from": 1, "to": "x"}}));
    let o = ftsim(&["merge", &summary]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("at seeds.to: invalid type"), "{}", stderr(&o));
    let empty = d.write("empty.json", &json!(null));
    std::fs::write(&empty, "").expect("writes");
    let o = ftsim(&["merge", &empty]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains(&format!("{empty}:1:1:")), "{}", stderr(&o));
}

#[test]
fn error_paths_escape_odd_keys_and_long_values_are_cut() {
    let d = Dir::new("escape");
    let mut s = scenario("scenarios/faults/crash-after-checkpoint.json");
    s["faults"][0]["on"]["a.b[0]"] = json!(1);
    let file = d.write("keys.json", &s);
    let o = ftsim(&["validate", &file]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains(r#"at faults[0].on["a.b[0]"]:"#), "{}", stderr(&o));
    let mut s = scenario("scenarios/wordcount.json");
    let long = "x".repeat(100_000);
    s["graph"]["operators"][1]["op"] = json!(long);
    s["graph"]["operators"][0]["id"] = json!(long);
    let file = d.write("long.json", &s);
    let o = ftsim(&["validate", &file]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.len() < 2_000, "{} bytes of error", err.len());
    assert!(err.contains("(100000 characters)"), "{err}");
}

// --- merge ---

fn shard_summary(d: &Dir, shard: &str, scenario: &str) -> String {
    let o = ftsim(&[
        "check", scenario, "--seeds", "1..4", "--shard", shard, "--json", "--save", "none",
    ]);
    let name = format!("{}-{}.json", shard.replace('/', "of"), scenario.len());
    let p = d.join(&name);
    std::fs::write(&p, &o.stdout).expect("writes");
    p
}

#[test]
fn merge_refuses_what_is_not_one_sweep() {
    let d = Dir::new("merge-refuse");
    let a0 = shard_summary(&d, "0/2", MUTATION);
    let a1 = shard_summary(&d, "1/2", MUTATION);
    let b1 = shard_summary(&d, "1/2", "scenarios/union.json");
    let cases: [(&[&str], &str); 3] = [
        (&[&a0, &a0], "are both shard 0/2"),
        (&[&a0, &b1], "checked different scenarios"),
        (&[&a1], "shard(s) 0/2 missing"),
    ];
    for (files, says) in cases {
        let mut args = vec!["merge"];
        args.extend(files);
        let o = ftsim(&args);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains(says), "{files:?}: {}", stderr(&o));
    }
    // Another mutation set is another sweep.
    let o = ftsim(&[
        "check",
        MUTATION,
        "--seeds",
        "1..4",
        "--shard",
        "1/2",
        "--json",
        "--save",
        "none",
        "--mutation",
        "skip_alignment",
    ]);
    let other = d.join("other.json");
    std::fs::write(&other, &o.stdout).expect("writes");
    let o = ftsim(&["merge", &a0, &other]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("checked different scenarios"), "{}", stderr(&o));
    // Counts that would wrap around.
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&a1).expect("readable")).expect("JSON");
    v["scenarios"][0]["runs"] = json!(u64::MAX);
    let huge = d.write("huge.json", &v);
    let o = ftsim(&["merge", &a0, &huge]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("overflow"), "{}", stderr(&o));
}

/// Runs `check` as shard processes with the batch system's variables set, merges, and checks
/// the result equals the unsharded sweep, counterexamples (in seed order) included.
fn sharded_equals_whole(test: &str, shards: &[Vec<(&str, &str)>], extra: &[&str]) {
    let d = Dir::new(test);
    let out = d.join("cx");
    let base = ["check", MUTATION, "--seeds", "1..9", "--save", "violations", "--json", "--out"];
    let mut files = Vec::new();
    for (k, env) in shards.iter().enumerate() {
        let mut args: Vec<&str> = base.to_vec();
        args.push(&out);
        args.extend(["--shard", "auto"]);
        args.extend(extra);
        let o = ftsim_env(&args, env);
        assert_exit(&o, 0);
        assert!(stderr(&o).contains(" from "), "the shard says where it came from: {}", stderr(&o));
        let p = d.join(&format!("shard{k}.json"));
        std::fs::write(&p, &o.stdout).expect("writes");
        files.push(p);
    }
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    let merged = ftsim(&args);
    assert_exit(&merged, 0);
    let mut whole_args: Vec<&str> = base.to_vec();
    whole_args.push(&out);
    let whole = ftsim(&whole_args);
    assert_exit(&whole, 0);
    let (mut m, mut w) = (json_of(&merged), json_of(&whole));
    m["seeds_per_sec"] = Value::Null;
    w["seeds_per_sec"] = Value::Null;
    assert_eq!(m, w);
    assert_eq!(w["counterexamples"].as_array().expect("a list").len(), 9);
}

#[test]
fn shards_of_a_kubernetes_indexed_job_merge_into_the_whole_sweep() {
    let shards: Vec<Vec<(&str, &str)>> =
        ["2", "0", "1"].iter().map(|i| vec![("JOB_COMPLETION_INDEX", *i)]).collect();
    sharded_equals_whole("k8s", &shards, &["--shard-count", "3"]);
}

#[test]
fn shards_of_a_slurm_job_array_merge_into_the_whole_sweep() {
    // An array numbered from 1, as `--array=1-2` makes it.
    let shards: Vec<Vec<(&str, &str)>> = ["1", "2"]
        .iter()
        .map(|i| {
            vec![
                ("SLURM_ARRAY_TASK_ID", *i),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "2"),
            ]
        })
        .collect();
    sharded_equals_whole("slurm", &shards, &[]);
}

#[test]
fn shard_auto_without_a_batch_system_says_what_it_looked_for() {
    let o = ftsim(&["check", "scenarios/union.json", "--shard", "auto"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("JOB_COMPLETION_INDEX") && err.contains("SLURM_ARRAY_TASK_ID"), "{err}");
    let o = ftsim_env(
        &["check", "scenarios/union.json", "--shard", "auto"],
        &[("JOB_COMPLETION_INDEX", "1")],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--shard-count"), "{}", stderr(&o));
    let o = ftsim_env(
        &["check", "scenarios/union.json", "--shard", "auto", "--shard-count", "2"],
        &[("JOB_COMPLETION_INDEX", "2")],
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("shard 2 of 2 does not exist"), "{}", stderr(&o));
}

// --- files left behind ---

#[test]
fn an_interrupted_run_leaves_no_temporary_trace_file() {
    let d = Dir::new("sigint");
    let mut s = scenario("scenarios/wordcount.json");
    s["graph"]["operators"][0]["generate"]["records"] = json!(2_000_000);
    s["limits"] = json!({"max_events": 100_000_000u64, "max_sim_ms": 100_000_000u64});
    let file = d.write("big.json", &s);
    let trace = d.join("trace.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftsim"))
        .args(["run", &file, "--trace", &trace])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawns");
    // Wait (by polling, not by timing) until the temporary trace file exists.
    let temp = || d.files("").into_iter().find(|f| f.contains(".tmp"));
    let mut polls = 0;
    while temp().is_none() {
        assert!(polls < 6_000, "the temporary trace file never appeared");
        assert!(
            child.try_wait().expect("waits").is_none(),
            "the run ended before it was interrupted"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
        polls += 1;
    }
    let kill =
        Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let status = child.wait().expect("waits");
    assert_eq!(status.code(), Some(130));
    assert_eq!(d.files(""), vec!["big.json"], "no trace, whole or partial, is left");
}
