//! Shrinking: the result is never larger than the input and still fails the same way; every
//! mutation scenario shrinks to at most 2 faults and 10 records; the saved counterexample
//! replays. Explorer counterexamples shrink in faults, records and choices, never grow in
//! any, and replay.

use ftsim::check::{counterexample, shrink};
use ftsim::graph::Job;
use ftsim::scenario;
use std::path::Path;
use std::sync::Arc;

fn job(path: &str) -> Arc<Job> {
    Arc::new(Job::new(scenario::load_file(Path::new(path)).unwrap_or_else(|e| panic!("{e}"))))
}

fn check_shrunk(path: &str, seed: u64, max_faults: usize, max_records: u64) {
    let j = job(path);
    let s = shrink::shrink(&j, seed, None).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(s.after.faults <= s.before.faults, "{path}: {s:?}");
    assert!(s.after.records <= s.before.records, "{path}: {s:?}");
    assert!(s.after.tasks <= s.before.tasks, "{path}: {s:?}");
    assert!(
        s.after.faults <= max_faults && s.after.records <= max_records,
        "{path}: {:?} after {:?}",
        s.after,
        s.steps
    );
    let still = s.report.invariants.iter().find(|i| i.name == s.invariant).expect("reported");
    assert!(!still.holds, "{path}: the shrunk scenario still violates {}", s.invariant);
    // Saved as a counterexample, it replays to the same trace and violations.
    let dir = std::env::temp_dir().join(format!("ftsim-shrink-{}", std::process::id()));
    let file = dir.join("cx.json");
    let mut cx = counterexample::build(&j, &s.report, &file);
    cx.scenario = s.scenario.clone();
    counterexample::write(&file, &cx).expect("saved");
    let replay = counterexample::replay(&counterexample::load(&file).expect("loads"), "cx", None)
        .expect("replays");
    assert!(replay.reproduced(), "{path}: the shrunk counterexample replays");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_mutation_scenario_shrinks_to_at_most_two_faults_and_ten_records() {
    let mut dirs: Vec<_> = std::fs::read_dir("scenarios/mutations")
        .expect("exists")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    for d in dirs {
        check_shrunk(d.join("scenario.json").to_str().expect("utf-8"), 1, 2, 10);
    }
}

#[test]
fn a_failing_seed_of_a_correct_but_weak_pipeline_shrinks_too() {
    // An at-least-once sink duplicates after a crash: not a protocol bug, but a violation to
    // shrink all the same.
    check_shrunk("scenarios/faults/at-least-once-duplicates.json", 3, 1, 300);
}

#[test]
fn shrinking_a_passing_seed_is_an_error_not_a_result() {
    let j = job("scenarios/wordcount.json");
    let err = shrink::shrink(&j, 1, None).expect_err("nothing to shrink");
    assert!(err.contains("violates no invariant"), "{err}");
}

#[test]
fn the_seeded_summary_puts_a_run_of_record_cuts_on_one_line() {
    let j = job("scenarios/mutations/no_recommit_on_restore/scenario.json");
    let s = shrink::shrink(&j, 1, None).expect("shrinks");
    let summary = s.summary();
    assert!(summary.len() < s.steps.len(), "{summary:?} from {:?}", s.steps);
    assert!(
        summary.iter().any(|l| l.starts_with("events: 120 → ") && l.contains(" steps")),
        "{summary:?}"
    );
}

/// An explorer counterexample found depth first, with the fixture's crash budget: a long path
/// with a crash it does not need.
fn explored_depth_first(path: &str) -> (Arc<Job>, counterexample::Counterexample) {
    use ftsim::explore;
    let j = job(path);
    let (fault_kinds, max_faults) = explore::scenario_faults(&j);
    let config = explore::Config {
        bfs: false,
        max_checkpoints: 1,
        fault_kinds,
        max_faults,
        ..explore::Config::default()
    };
    let found = explore::explore(&j, &config, &mut |_| true).expect("explores");
    let choices = &found.violations.first().expect("the mutation is found").choices;
    let file = Path::new("cx.json");
    let cx = counterexample::build_explore(&j, &config, choices, file).expect("builds");
    (j, cx)
}

#[test]
fn an_explorer_counterexample_shrinks_to_no_more_faults_records_or_choices_and_replays() {
    use ftsim::check::path_shrink;
    let (_, cx) = explored_depth_first("tests/explore/no_recommit_on_restore.json");
    let out = std::env::temp_dir().join(format!("ftsim-shrink-path-{}", std::process::id()));
    let file = out.join("shrunk.json");
    let s = path_shrink::shrink_path(&cx, "cx", None, 100_000, &|_| file.clone()).expect("shrinks");
    assert_eq!(s.invariant, "recoverable_checkpoints");
    let (b, a) = (s.before, s.after);
    assert!(a.faults <= b.faults && a.records <= b.records && a.choices <= b.choices, "{s:?}");
    // Depth first found a path with a crash; breadth first needs none, and fewer choices.
    assert_eq!((b.faults, a.faults), (1, 0), "{s:?}");
    assert!(a.choices < b.choices, "{s:?}");
    assert_eq!(s.counterexample.explore.as_ref().map(|e| e.choices.len()), Some(a.choices));
    counterexample::write(&file, &s.counterexample).expect("saved");
    let replay = counterexample::replay(&counterexample::load(&file).expect("loads"), "cx", None)
        .expect("replays");
    let _ = std::fs::remove_dir_all(&out);
    assert!(replay.reproduced(), "the shrunk counterexample replays");
    assert!(replay.report.invariants.iter().any(|i| i.name == s.invariant && !i.holds));
}

/// Breadth first with one checkpoint and the fixture's crash budget (none for
/// commit_on_snapshot, one for no_recommit_on_restore).
fn explored_breadth_first(path: &str) -> counterexample::Counterexample {
    use ftsim::explore;
    let j = job(path);
    let (fault_kinds, max_faults) = explore::scenario_faults(&j);
    let config = explore::Config {
        max_checkpoints: 1,
        fault_kinds,
        max_faults,
        ..explore::Config::default()
    };
    let found = explore::explore(&j, &config, &mut |_| true).expect("explores");
    let choices = &found.violations[0].choices;
    counterexample::build_explore(&j, &config, choices, Path::new("cx.json")).expect("builds")
}

#[test]
fn a_shortest_explorer_counterexample_that_needs_its_records_is_left_as_it_is() {
    use ftsim::check::path_shrink;
    let cx = explored_breadth_first("tests/explore/no_recommit_on_restore.json");
    let s =
        path_shrink::shrink_path(&cx, "cx", None, 100_000, &|_| "cx.json".into()).expect("shrinks");
    assert_eq!(s.before, s.after);
    assert!(s.steps.is_empty(), "{:?}", s.steps);
    assert_eq!(s.counterexample.explore, cx.explore);
}

#[test]
fn an_explorer_counterexample_loses_the_records_the_violation_does_not_need() {
    use ftsim::check::path_shrink;
    // The broken sink commits at the snapshot, before the checkpoint completed: with no
    // record at all, it commits an empty transaction too early.
    let cx = explored_breadth_first("tests/explore/commit_on_snapshot.json");
    let s =
        path_shrink::shrink_path(&cx, "cx", None, 100_000, &|_| "cx.json".into()).expect("shrinks");
    assert_eq!(s.invariant, "commit_after_complete");
    assert_eq!((s.before.records, s.after.records), (1, 0), "{s:?}");
    assert!(s.after.choices <= s.before.choices);
    let records = &s.counterexample.scenario["graph"]["operators"][0]["data"][0];
    assert_eq!(records.as_array().map(Vec::len), Some(0), "{records}");
}
