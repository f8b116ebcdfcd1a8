//! The command line of SPEC §3, through the built binary: output, files and exit codes.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::{assert_exit, ftsim, json, stderr, stdout};

/// A file in the temp directory, unique to this test and process, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(test: &str, ext: &str) -> TempFile {
        let name = format!("ftsim-cli-{test}-{}.{ext}", std::process::id());
        TempFile(std::env::temp_dir().join(name))
    }

    fn with(test: &str, text: &str) -> TempFile {
        let f = TempFile::new(test, "json");
        std::fs::write(&f.0, text).expect("the temp dir is writable");
        f
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "scenarios/ has scenario files");
    files
}

fn is_hex16(s: &str) -> bool {
    s.len() == 16 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn trace_hash(scenario: &str, seed: &str) -> String {
    let o = ftsim(&["run", scenario, "--seed", seed, "--json"]);
    assert_exit(&o, 0);
    json(&o)["trace_hash"].as_str().expect("trace_hash is a string").to_string()
}

/// The word count scenario with `limits.max_events` = 10: the job cannot finish.
fn too_few_events(test: &str) -> TempFile {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/wordcount.json"),
    )
    .expect("wordcount.json is readable");
    let mut v: Value = serde_json::from_str(&text).expect("wordcount.json is JSON");
    v["name"] = "too-few-events".into();
    v["limits"] = serde_json::json!({"max_events": 10});
    TempFile::with(test, &serde_json::to_string_pretty(&v).expect("serializes"))
}

// ---------------------------------------------------------------------------------------------
// run

#[test]
fn run_without_a_scenario_runs_the_built_in_one_and_passes() {
    let o = ftsim(&["run"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.starts_with("PASS"), "{out}");
    assert!(out.contains("progress"), "the report lists the invariants: {out}");
}

#[test]
fn run_json_prints_the_report_of_the_spec() {
    let o = ftsim(&["run", "scenarios/wordcount.json", "--json"]);
    assert_exit(&o, 0);
    let r = json(&o);
    assert_eq!(r["scenario"], "wordcount");
    assert_eq!(r["seed"], 1, "the scenario's seed is the default");
    assert!(r["mutations"].as_array().is_some_and(Vec::is_empty), "{r}");
    assert_eq!(r["verdict"], "pass");
    assert!(r["trace_hash"].as_str().is_some_and(is_hex16), "{r}");
    let stats = &r["stats"];
    for key in
        ["events", "sim_time_ms", "records_processed", "records_replayed", "faults", "restarts"]
    {
        assert!(stats[key].is_u64(), "stats.{key} is a count: {r}");
    }
    for key in ["triggered", "completed", "aborted"] {
        assert!(stats["checkpoints"][key].is_u64(), "stats.checkpoints.{key}: {r}");
    }
    assert!(stats["events"].as_u64() > Some(0));
    // 2 partitions × 500 words, counted once and written once.
    assert!(stats["records_processed"].as_u64() >= Some(1000), "{r}");
    let invariants = r["invariants"].as_array().expect("invariants is an array");
    assert!(!invariants.is_empty());
    for inv in invariants {
        assert!(inv["name"].is_string(), "{inv}");
        assert_eq!(inv["holds"], true, "{inv}");
        assert!(inv["detail"].is_string(), "{inv}");
    }
    let names: Vec<&str> = invariants.iter().filter_map(|i| i["name"].as_str()).collect();
    for want in ["exactly_once", "progress"] {
        assert!(names.contains(&want), "{names:?}");
    }
    assert!(r["counterexample"].is_null(), "{r}");
}

#[test]
fn every_shipped_scenario_runs_to_a_pass() {
    for path in scenario_files() {
        let p = path.to_str().expect("UTF-8 path");
        let o = ftsim(&["run", p, "--json"]);
        assert_exit(&o, 0);
        let r = json(&o);
        assert_eq!(r["verdict"], "pass", "{p}: {r}");
        assert!(r["invariants"].as_array().is_some_and(|a| !a.is_empty()), "{p}: {r}");
    }
}

#[test]
fn a_different_seed_gives_a_different_trace_hash() {
    let a = trace_hash("scenarios/wordcount.json", "1");
    let b = trace_hash("scenarios/wordcount.json", "2");
    assert_ne!(a, b);
}

#[test]
fn the_same_seed_gives_the_same_trace_hash() {
    let a = trace_hash("scenarios/wordcount.json", "42");
    let b = trace_hash("scenarios/wordcount.json", "42");
    assert_eq!(a, b);
    let o = ftsim(&["run", "scenarios/wordcount.json", "--seed", "42"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains(&a), "the text report shows the same hash: {}", stdout(&o));
}

#[test]
fn the_seed_flag_is_reported() {
    let o = ftsim(&["run", "scenarios/wordcount.json", "--seed", "9", "--json"]);
    assert_exit(&o, 0);
    assert_eq!(json(&o)["seed"], 9);
}

#[test]
fn run_trace_writes_one_json_event_per_line_ending_with_job_finished() {
    let trace = TempFile::new("trace", "jsonl");
    let o = ftsim(&["run", "scenarios/wordcount.json", "--trace", trace.path()]);
    assert_exit(&o, 0);
    let text = std::fs::read_to_string(&trace.0).expect("the trace file was written");
    let events: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("line {}: {e}: {l}", i + 1))
        })
        .collect();
    assert!(events.len() > 1, "{text}");
    let mut last_t = 0;
    for e in &events {
        let t = e["t_us"].as_u64().unwrap_or_else(|| panic!("no t_us: {e}"));
        assert!(e["event"].is_string(), "no event: {e}");
        assert!(t >= last_t, "time goes forward: {e}");
        last_t = t;
    }
    assert_eq!(events.last().map(|e| e["event"].clone()), Some("job_finished".into()));
}

#[test]
fn the_trace_is_the_same_for_the_same_seed() {
    let a = TempFile::new("trace-same-a", "jsonl");
    let b = TempFile::new("trace-same-b", "jsonl");
    for f in [&a, &b] {
        assert_exit(
            &ftsim(&["run", "scenarios/union.json", "--seed", "5", "--trace", f.path()]),
            0,
        );
    }
    let read = |f: &TempFile| std::fs::read(&f.0).expect("the trace was written");
    assert!(read(&a) == read(&b), "two runs with one seed write the same trace");
}

#[test]
fn a_failed_expectation_exits_1_and_says_how_to_reproduce() {
    let f = too_few_events("fail-text");
    let o = ftsim(&["run", f.path(), "--seed", "3"]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.starts_with("FAIL"), "{out}");
    let progress = out.lines().find(|l| l.contains("progress")).expect("progress is listed");
    assert!(progress.contains("VIOL"), "{out}");
    let reproduce = out.lines().find(|l| l.starts_with("reproduce:")).expect("a reproduce line");
    assert!(reproduce.contains(f.path()) && reproduce.contains("--seed 3"), "{out}");
    let last = out.lines().last().expect("a report");
    assert!(last.starts_with("shrink:") && last.contains("ftsim shrink"), "{out}");
    assert!(last.contains(f.path()) && last.contains("--seed 3"), "{out}");
}

#[test]
fn a_failed_expectation_is_a_fail_verdict_in_json() {
    let f = too_few_events("fail-json");
    let o = ftsim(&["run", f.path(), "--json"]);
    assert_exit(&o, 1);
    let r = json(&o);
    assert_eq!(r["verdict"], "fail");
    let progress = r["invariants"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == "progress"))
        .cloned()
        .unwrap_or_else(|| panic!("no progress invariant: {r}"));
    assert_eq!(progress["holds"], false, "{r}");
    assert!(progress["detail"].as_str().is_some_and(|d| !d.is_empty()), "{r}");
}

#[test]
fn an_expected_violation_that_happens_does_not_fail_a_run() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/wordcount.json"),
    )
    .expect("readable");
    let mut v: Value = serde_json::from_str(&text).expect("JSON");
    v["limits"] = serde_json::json!({"max_events": 10});
    v["expect"] = serde_json::json!({"holds": [], "violated": ["progress"]});
    let f = TempFile::with("expected-violation", &v.to_string());
    let o = ftsim(&["run", f.path(), "--json"]);
    assert_exit(&o, 0);
    assert_eq!(json(&o)["verdict"], "pass");
}

// ---------------------------------------------------------------------------------------------
// Bad input and usage: exit 2.

#[test]
fn an_invalid_scenario_exits_2_naming_the_file_path_and_position() {
    let f = TempFile::with(
        "invalid",
        "{\n  \"name\": \"bad\",\n  \"graph\": {\"operators\": [\n    {\"id\": \"src\", \"op\": \
         \"source\", \"parallelism\": 0, \"generate\": {\"records\": 5}},\n    {\"id\": \"out\", \
         \"op\": \"sink\"}],\n  \"edges\": [{\"from\": \"src\", \"to\": \"out\"}]}\n}\n",
    );
    let o = ftsim(&["run", f.path()]);
    assert_exit(&o, 2);
    assert!(o.stdout.is_empty(), "nothing on stdout: {}", stdout(&o));
    let err = stderr(&o);
    // `    {"id": "src", "op": "source", "parallelism": 0` — the 0 is at column 50 of line 4.
    let want = format!("{}:4:50: at graph.operators[0].parallelism:", f.path());
    assert!(err.contains(&want), "expected `{want}` in:\n{err}");
}

#[test]
fn a_syntax_error_exits_2_naming_the_file_line_and_column() {
    let f = TempFile::with("syntax", "{\n  \"name\": \"bad\"\n  \"graph\": {}\n}\n");
    let o = ftsim(&["run", f.path()]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    let want = format!("{}:3:", f.path());
    assert!(err.contains(&want) && err.contains("syntax error"), "expected `{want}` in:\n{err}");
}

#[test]
fn a_type_error_exits_2_naming_the_json_path() {
    let f = TempFile::with(
        "type",
        r#"{"name": "bad", "graph": {"operators": [{"id": "src", "op": "source",
            "generate": {"records": -1}}]}}"#,
    );
    let o = ftsim(&["run", f.path()]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains(f.path()), "{err}");
    assert!(err.contains("graph.operators[0].generate.records"), "{err}");
    assert!(err.contains(":2:"), "the position of the value: {err}");
}

#[test]
fn binary_garbage_exits_2() {
    let f = TempFile::new("garbage", "json");
    std::fs::write(&f.0, [0xff, 0x00, 0xfe, 0x80, 0x7b, 0xc3]).expect("writable");
    let o = ftsim(&["run", f.path()]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains(f.path()), "{}", stderr(&o));
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    let missing = TempFile::new("missing", "json");
    let o = ftsim(&["run", missing.path()]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains(missing.path()), "{}", stderr(&o));
}

#[test]
fn a_directory_instead_of_a_file_exits_2() {
    let o = ftsim(&["run", "scenarios"]);
    assert_exit(&o, 2);
}

#[test]
fn an_unknown_subcommand_exits_2() {
    let o = ftsim(&["frobnicate"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("frobnicate"), "{}", stderr(&o));
}

#[test]
fn no_subcommand_exits_2() {
    assert_exit(&ftsim(&[]), 2);
}

#[test]
fn an_unknown_flag_exits_2() {
    let o = ftsim(&["run", "scenarios/wordcount.json", "--fast"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--fast"), "{}", stderr(&o));
}

#[test]
fn a_seed_that_is_not_a_number_exits_2() {
    assert_exit(&ftsim(&["run", "scenarios/wordcount.json", "--seed", "seven"]), 2);
    assert_exit(&ftsim(&["run", "scenarios/wordcount.json", "--seed", "-1"]), 2);
}

#[test]
fn an_unknown_mutation_exits_2() {
    let o = ftsim(&["run", "scenarios/wordcount.json", "--mutation", "nope"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
}

#[test]
fn a_trace_into_a_missing_directory_exits_2() {
    let dir = TempFile::new("no-such-dir", "d");
    let trace = dir.0.join("trace.jsonl");
    let o = ftsim(&["run", "scenarios/wordcount.json", "--trace", trace.to_str().expect("UTF-8")]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains(&format!("{}: cannot write", trace.display())), "{err}");
    assert!(!err.contains(".tmp"), "the error names the trace file, not a temporary one: {err}");
}

#[test]
fn help_and_version_exit_0() {
    assert_exit(&ftsim(&["--help"]), 0);
    assert_exit(&ftsim(&["run", "--help"]), 0);
    let o = ftsim(&["--version"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).starts_with("ftsim"), "{}", stdout(&o));
}

// ---------------------------------------------------------------------------------------------
// validate and mutations

#[test]
fn validate_accepts_a_good_file() {
    let o = ftsim(&["validate", "scenarios/wordcount.json"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("wordcount"), "{}", stdout(&o));
}

#[test]
fn validate_accepts_every_shipped_scenario() {
    for path in scenario_files() {
        assert_exit(&ftsim(&["validate", path.to_str().expect("UTF-8 path")]), 0);
    }
}

#[test]
fn validate_json_prints_a_summary() {
    let o = ftsim(&["validate", "scenarios/wordcount.json", "--json"]);
    assert_exit(&o, 0);
    let v = json(&o);
    assert_eq!(v["name"], "wordcount");
    assert!(v["operators"].is_u64(), "{v}");
}

#[test]
fn validate_rejects_a_bad_file_with_exit_2() {
    let f = TempFile::with(
        "validate-bad",
        r#"{"name": "bad", "graph": {"operators": [{"id": "src", "op": "source",
            "generate": {"records": 5}}, {"id": "out", "op": "sink"}],
            "edges": [{"from": "src", "to": "nowhere"}]}}"#,
    );
    let o = ftsim(&["validate", f.path()]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains(f.path()) && err.contains("graph.edges[0].to"), "{err}");
    assert!(err.contains("unknown operator `nowhere`"), "{err}");
}

#[test]
fn validate_without_a_file_exits_2() {
    assert_exit(&ftsim(&["validate"]), 2);
}

#[test]
fn mutations_lists_them_and_exits_0() {
    let o = ftsim(&["mutations"]);
    assert_exit(&o, 0);
    assert!(!stdout(&o).trim().is_empty(), "it prints the list or says it is empty");
}

// ---------------------------------------------------------------------------------------
// check, replay, merge

fn temp_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ftsim-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn check_meets_the_expectations_of_a_mutation_scenario_and_saves_replayable_counterexamples() {
    let out = temp_dir("check-mutation");
    let o = ftsim(&[
        "check",
        "scenarios/mutations/no_recommit_on_restore",
        "--seeds",
        "1..5",
        "--save",
        "violations",
        "--json",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_exit(&o, 0);
    let r = json(&o);
    for key in ["runs", "failed_seeds", "per_invariant", "counterexamples", "seeds_per_sec"] {
        assert!(r.get(key).is_some(), "missing {key}: {r}");
    }
    assert_eq!(r["runs"], 5);
    assert!(r["per_invariant"]["no_loss"].as_u64().is_some_and(|n| n > 0), "{r}");
    let files = r["counterexamples"].as_array().expect("a list");
    assert_eq!(files.len(), 5, "every violating seed is saved");
    let replay = ftsim(&["replay", files[0].as_str().expect("a path")]);
    assert_exit(&replay, 0);
    assert!(stdout(&replay).contains("reproduced"), "{}", stdout(&replay));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn check_fails_with_exit_1_when_an_expectation_fails_and_points_at_the_replay() {
    let out = temp_dir("check-fail");
    let o = ftsim(&[
        "check",
        "scenarios/wordcount.json",
        "--mutation",
        "commit_on_snapshot",
        "--seeds",
        "1..3",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    // The built-in word count has no checkpoints: this mutation changes nothing there.
    assert_exit(&o, 0);
    let o = ftsim(&[
        "check",
        "scenarios/faults/crash-after-checkpoint.json",
        "--mutation",
        "no_source_rewind",
        "--seeds",
        "1..3",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_exit(&o, 1);
    let text = stdout(&o);
    assert!(text.contains("FAIL") && text.contains("ftsim replay"), "{text}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn check_with_no_mutations_runs_the_correct_protocol_on_a_mutation_scenario() {
    let out = temp_dir("check-correct");
    let o = ftsim(&[
        "check",
        "scenarios/mutations/restore_older_checkpoint",
        "--no-mutations",
        "--seeds",
        "1..10",
        "--json",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_exit(&o, 0);
    assert_eq!(json(&o)["failed_seeds"].as_array().map(Vec::len), Some(0));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn check_summaries_do_not_depend_on_the_number_of_jobs() {
    let out = temp_dir("check-jobs");
    let run = |jobs: &str| {
        let o = ftsim(&[
            "check",
            "scenarios/faults",
            "--seeds",
            "1..6",
            "--jobs",
            jobs,
            "--json",
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        assert_exit(&o, 0);
        let mut v = json(&o);
        v["seeds_per_sec"] = Value::Null;
        v
    };
    assert_eq!(run("1"), run("2"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn shard_summaries_merge_into_the_summary_of_the_whole_range() {
    let out = temp_dir("check-shards");
    let dir = out.to_str().expect("utf-8").to_string();
    let mut files = Vec::new();
    for shard in ["0/2", "1/2"] {
        let o = ftsim(&[
            "check",
            "scenarios/mutations/skip_alignment",
            "--seeds",
            "1..8",
            "--shard",
            shard,
            "--json",
            "--out",
            &dir,
        ]);
        let f = TempFile::with(&format!("shard-{}", &shard[..1]), &stdout(&o));
        files.push(f);
    }
    let merged = ftsim(&["merge", files[0].path(), files[1].path()]);
    assert_exit(&merged, 0);
    let whole = ftsim(&[
        "check",
        "scenarios/mutations/skip_alignment",
        "--seeds",
        "1..8",
        "--json",
        "--out",
        &dir,
    ]);
    let (m, w) = (json(&merged), json(&whole));
    assert_eq!(m["runs"], w["runs"]);
    assert_eq!(m["per_invariant"], w["per_invariant"]);
    assert_eq!(m["verdict"], w["verdict"]);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_seed_ranges_and_shards_exit_2() {
    assert_exit(&ftsim(&["check", "scenarios/wordcount.json", "--seeds", "9..3"]), 2);
    assert_exit(&ftsim(&["check", "scenarios/wordcount.json", "--shard", "2/2"]), 2);
    assert_exit(&ftsim(&["check", "no/such/dir"]), 2);
    assert_exit(&ftsim(&["replay", "scenarios/wordcount.json"]), 2);
}

#[test]
fn explore_saves_a_counterexample_that_replay_reproduces() {
    let dir = std::env::temp_dir().join(format!("ftsim-cli-explore-cx-{}", std::process::id()));
    let dir_s = dir.to_str().expect("temp paths are UTF-8");
    // Without reduction, breadth first finds a shortest path (stubborn sets may put some
    // events first and find a longer one).
    let o = ftsim(&[
        "explore",
        "tests/explore/commit_on_snapshot.json",
        "--max-checkpoints",
        "1",
        "--no-reduction",
        "--json",
        "--out",
        dir_s,
    ]);
    assert_exit(&o, 1);
    let v = json(&o);
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["violations"][0]["invariant"], "commit_after_complete");
    assert!(v["states"].as_u64().is_some_and(|n| n > 0));
    assert!(v["transitions_per_sec"].as_f64().is_some_and(|r| r > 0.0));
    let cx = v["counterexample"].as_str().expect("a counterexample file").to_string();
    // Choices say what happens, in the order it happens.
    let choices = counterexample_file(&cx)["explore"]["choices"].clone();
    let r = ftsim(&["replay", &cx]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        choices,
        serde_json::json!([
            "timer: periodic trigger",
            "trigger of checkpoint 1 reaches src[0]",
            "deliver barrier 1 on src[0]->out[0]",
            "out[0] takes barrier 1 from src[0]->out[0]"
        ])
    );
    assert_exit(&r, 0);
    assert!(stdout(&r).contains("reproduced"), "{}", stdout(&r));
    // The simulated time is the explorer's clock at the end of the path: the trigger is due at
    // 0, each message and item takes the lower bound of its latency (1 ms).
    assert!(stdout(&r).contains("4 events, 2 ms simulated"), "{}", stdout(&r));
}

#[test]
fn replay_of_a_choice_that_names_nothing_exits_2_naming_it_and_what_could_happen() {
    let dir = TempDir::new("replay-diverged");
    let o = ftsim(&[
        "explore",
        "tests/explore/commit_on_snapshot.json",
        "--max-checkpoints",
        "1",
        "--no-reduction",
        "--json",
        "--out",
        dir.path(),
    ]);
    assert_exit(&o, 1);
    let cx = json(&o)["counterexample"].as_str().expect("a file").to_string();
    let mut file = counterexample_file(&cx);
    file["explore"]["choices"][1] = "trigger of checkpoint 7 reaches src[0]".into();
    let bad = TempFile::with("replay-diverged", &serde_json::to_string(&file).expect("json"));
    let r = ftsim(&["replay", bad.path()]);
    assert_exit(&r, 2);
    let err = stderr(&r);
    assert!(err.contains(bad.path()), "{err}");
    assert!(err.contains("explore.choices[1] `trigger of checkpoint 7 reaches src[0]`"), "{err}");
    assert!(err.contains("trigger of checkpoint 1 reaches src[0]"), "{err}");
    // The id forms of older files still replay.
    file["explore"]["choices"] =
        serde_json::json!(["timer 1", "control 4", "deliver src[0]->out[0]", "step out[0]"]);
    let old = TempFile::with("replay-old-ids", &serde_json::to_string(&file).expect("json"));
    let r = ftsim(&["replay", old.path()]);
    assert_exit(&r, 0);
}

#[test]
fn explore_max_records_shortens_every_source_partition() {
    let states = |n: &str| {
        let o = ftsim(&[
            "explore",
            "scenarios/wordcount.json",
            "--max-records",
            n,
            "--max-checkpoints",
            "1",
            "--dfs",
            "--json",
        ]);
        assert_exit(&o, 0);
        let v = json(&o);
        assert_eq!(v["complete"], true, "{v}");
        v["states"].as_u64().expect("a state count")
    };
    // Pinned: 500 generated records per partition cut to 0 and to 1.
    assert_eq!(states("0"), 67);
    assert_eq!(states("1"), 333);
    // `data` partitions are cut too.
    let o = ftsim(&[
        "explore",
        "scenarios/union.json",
        "--max-records",
        "1",
        "--max-checkpoints",
        "1",
        "--dfs",
    ]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("complete"), "{}", stdout(&o));
}

#[test]
fn explore_of_an_invalid_scenario_exits_2() {
    let f = TempFile::with("explore-invalid", "{\"name\": 3}");
    let o = ftsim(&["explore", f.path()]);
    assert_exit(&o, 2);
}

/// A directory in the temp directory, unique to this test and process, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        TempDir(std::env::temp_dir().join(format!("ftsim-cli-{test}-{}", std::process::id())))
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads a counterexample file written by a command.
fn counterexample_file(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn explore_mutation_runs_the_broken_protocol_and_its_counterexample_replays_on_its_own() {
    let dir = TempDir::new("explore-mutation");
    let o = ftsim(&[
        "explore",
        "scenarios/explore/tiny-checkpoint.json",
        "--mutation",
        "commit_on_snapshot",
        "--max-checkpoints",
        "1",
        "--json",
        "--out",
        dir.path(),
    ]);
    assert_exit(&o, 1);
    let v = json(&o);
    assert_eq!(v["violations"][0]["invariant"], "commit_after_complete");
    let cx = v["counterexample"].as_str().expect("a counterexample file");
    // The mutation is in the file's scenario, not only on this command line.
    assert_eq!(counterexample_file(cx)["scenario"]["mutations"][0], "commit_on_snapshot");
    let r = ftsim(&["replay", cx]);
    assert_exit(&r, 0);
    assert!(stdout(&r).contains("reproduced"), "{}", stdout(&r));
    // Unknown names are usage errors, as for `run`.
    let o = ftsim(&["explore", "scenarios/explore/tiny-checkpoint.json", "--mutation", "nope"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("unknown mutation `nope`"), "{}", stderr(&o));
}

#[test]
fn explore_invariant_looks_past_other_violations_and_the_replay_judges_only_it() {
    // commit_on_snapshot commits before the checkpoint completes at depth 4; with a crash,
    // that commit is duplicated later. Asked for exactly_once only, the search goes past the
    // first violation and finds the duplicate.
    let dir = TempDir::new("explore-invariant");
    let o = ftsim(&[
        "explore",
        "tests/explore/commit_on_snapshot.json",
        "--invariant",
        "exactly_once",
        "--fault-kinds",
        "crash_task",
        "--max-faults",
        "1",
        "--max-checkpoints",
        "1",
        "--json",
        "--out",
        dir.path(),
    ]);
    assert_exit(&o, 1);
    let v = json(&o);
    assert_eq!(v["invariants"], serde_json::json!(["exactly_once"]));
    assert_eq!(v["violations"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["violations"][0]["invariant"], "exactly_once");
    assert!(v["violations"][0]["depth"].as_u64().is_some_and(|d| d > 4), "{v}");
    let cx = v["counterexample"].as_str().expect("a counterexample file");
    let file = counterexample_file(cx);
    assert_eq!(file["explore"]["invariants"], serde_json::json!(["exactly_once"]));
    assert_eq!(file["violated"].as_array().map(Vec::len), Some(1), "{file}");
    let r = ftsim(&["replay", cx, "--json"]);
    assert_exit(&r, 0);
    let names: Vec<Value> = json(&r)["invariants"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(names, vec![Value::from("exactly_once")], "the replay judges what was checked");
}

#[test]
fn explore_invariant_progress_ignores_a_commit_after_complete_violation() {
    let o = ftsim(&[
        "explore",
        "tests/explore/commit_on_snapshot.json",
        "--invariant",
        "progress",
        "--max-checkpoints",
        "1",
        "--json",
    ]);
    assert_exit(&o, 0);
    let v = json(&o);
    assert_eq!(
        (v["complete"].clone(), v["violations"].clone()),
        (true.into(), serde_json::json!([]))
    );
}

#[test]
fn explore_rejects_unknown_invariants_and_zero_jobs_with_exit_2() {
    let o = ftsim(&["explore", "tests/explore/commit_on_snapshot.json", "--invariant", "fast"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("unknown invariant `fast`") && err.contains("exactly_once"), "{err}");
    let o = ftsim(&["explore", "tests/explore/commit_on_snapshot.json", "--jobs", "0"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--jobs"), "{}", stderr(&o));
}

#[test]
fn explore_json_reports_jobs_memory_and_the_reduction_by_name() {
    let run = |extra: &[&str]| {
        let mut args = vec!["explore", "scenarios/explore/tiny-pipeline.json", "--json"];
        args.extend_from_slice(extra);
        let o = ftsim(&args);
        assert_exit(&o, 0);
        json(&o)
    };
    let v = run(&["--jobs", "2"]);
    for field in ["states", "transitions", "max_depth", "complete", "violations", "states_per_sec"]
    {
        assert!(v.get(field).is_some(), "the SPEC field `{field}` is there: {v}");
    }
    assert!(v.get("counterexample").is_some(), "{v}");
    assert_eq!(v["jobs"], 2);
    assert!(v["memory_bytes"].is_u64(), "{v}");
    assert_eq!(v["reduction"], "stubborn+sleep");
    assert_eq!(run(&["--max-depth", "50"])["reduction"], "sleep");
    assert_eq!(run(&["--no-reduction"])["reduction"], "none");
    let human = ftsim(&["explore", "scenarios/explore/tiny-pipeline.json", "--jobs", "2"]);
    assert_exit(&human, 0);
    assert!(stdout(&human).contains("2 jobs"), "{}", stdout(&human));
}

#[test]
fn shrink_of_an_explorer_counterexample_saves_a_smaller_one_that_replays() {
    let dir = TempDir::new("shrink-explore");
    // Depth first, with the fixture's crash budget: a long path that crashes src[0] first.
    let o = ftsim(&[
        "explore",
        "tests/explore/no_recommit_on_restore.json",
        "--dfs",
        "--max-checkpoints",
        "1",
        "--json",
        "--out",
        dir.path(),
    ]);
    assert_exit(&o, 1);
    let cx = json(&o)["counterexample"].as_str().expect("a file").to_string();
    let original = counterexample_file(&cx)["explore"]["choices"].as_array().map(Vec::len);
    let o = ftsim(&["shrink", &cx, "--json", "--out", dir.path()]);
    assert_exit(&o, 0);
    let v = json(&o);
    assert_eq!(v["invariant"], "recoverable_checkpoints");
    assert_eq!(v["before"]["choices"].as_u64().map(|n| n as usize), original);
    for measure in ["faults", "records", "choices"] {
        assert!(v["after"][measure].as_u64() <= v["before"][measure].as_u64(), "{v}");
    }
    assert!(v["after"]["choices"].as_u64() < v["before"]["choices"].as_u64(), "{v}");
    let shrunk = v["counterexample"].as_str().expect("a file").to_string();
    assert!(shrunk.ends_with("-shrunk.json"), "{shrunk}");
    let r = ftsim(&["replay", &shrunk]);
    assert_exit(&r, 0);
    assert!(stdout(&r).contains("reproduced"), "{}", stdout(&r));
    // The human summary: sizes before and after, the steps, the file.
    let o = ftsim(&["shrink", &cx, "--out", dir.path()]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    assert!(text.contains("keeping recoverable_checkpoints violated"), "{text}");
    assert!(text.contains("faults 1 → 0"), "{text}");
    assert!(text.contains(&format!("reproduce: ftsim replay {shrunk}")), "{text}");
}

#[test]
fn shrink_refuses_what_it_cannot_shrink_with_exit_2() {
    let dir = TempDir::new("shrink-refuses");
    let o = ftsim(&[
        "explore",
        "tests/explore/commit_on_snapshot.json",
        "--max-checkpoints",
        "1",
        "--no-reduction",
        "--json",
        "--out",
        dir.path(),
    ]);
    let cx = json(&o)["counterexample"].as_str().expect("a file").to_string();
    // An explorer counterexample has no seed, and its mutations are in it.
    assert_exit(&ftsim(&["shrink", &cx, "--seed", "1"]), 2);
    assert_exit(&ftsim(&["shrink", &cx, "--mutation", "skip_alignment"]), 2);
    // It does not violate progress, and `fast` is no invariant.
    let o = ftsim(&["shrink", &cx, "--invariant", "progress"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("does not violate progress"), "{}", stderr(&o));
    assert_exit(&ftsim(&["shrink", &cx, "--invariant", "fast"]), 2);
    // A scenario needs a seed.
    let o = ftsim(&["shrink", "tests/explore/commit_on_snapshot.json"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--seed"), "{}", stderr(&o));
    // A file that is not there is named.
    let o = ftsim(&["shrink", "no/such/counterexample.json"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no/such/counterexample.json"), "{}", stderr(&o));
}

#[test]
fn shrink_of_a_seeded_counterexample_shrinks_its_scenario_at_its_seed() {
    let dir = TempDir::new("shrink-seeded-cx");
    let o = ftsim(&[
        "check",
        "scenarios/mutations/commit_on_snapshot/scenario.json",
        "--seeds",
        "1..1",
        "--save",
        "violations",
        "--json",
        "--out",
        dir.path(),
    ]);
    let seeded = json(&o)["counterexamples"][0].as_str().expect("a file").to_string();
    let o = ftsim(&["shrink", &seeded, "--json", "--out", dir.path()]);
    assert_exit(&o, 0);
    let v = json(&o);
    assert!(v["after"]["records"].as_u64() < v["before"]["records"].as_u64(), "{v}");
    let shrunk = v["counterexample"].as_str().expect("a file");
    // The file still names the scenario file the sweep ran.
    let file = counterexample_file(shrunk);
    assert_eq!(file["scenario_file"], "scenarios/mutations/commit_on_snapshot/scenario.json");
    assert_exit(&ftsim(&["replay", shrunk]), 0);
    // Its seed and mutations are its own.
    assert_exit(&ftsim(&["shrink", &seeded, "--seed", "2"]), 2);
}
