//! Shrinking: the result is never larger than the input and still fails the same way; every
//! mutation scenario shrinks to at most 2 faults and 10 records; the saved counterexample
//! replays.

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
    counterexample::write_atomically(&file, serde_json::to_string(&cx).expect("json").as_bytes())
        .expect("saved");
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
