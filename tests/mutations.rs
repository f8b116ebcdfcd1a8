//! Checking at scale: every protocol mutation is caught by a seed sweep, the correct
//! protocol passes the same scenarios, counterexamples replay, and `--jobs` changes nothing.

use ftsim::check::sweep::{self, CheckSummary, Seeds};
use ftsim::check::{self, counterexample, cut};
use ftsim::graph::Job;
use ftsim::scenario::model::RecoveryCheck;
use ftsim::scenario::{self, model::Mutation};
use ftsim::sim;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn mutation_scenarios() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("scenarios/mutations")
        .expect("scenarios/mutations exists")
        .map(|e| e.expect("entry").path().join("scenario.json"))
        .collect();
    v.sort();
    v
}

fn job(path: &Path) -> Arc<Job> {
    Arc::new(Job::new(scenario::load_file(path).unwrap_or_else(|e| panic!("{e}"))))
}

fn seeds(n: u64) -> Vec<u64> {
    (1..=n).collect()
}

#[test]
fn every_mutation_has_a_scenario_of_its_own() {
    for m in Mutation::ALL {
        let path = PathBuf::from(format!("scenarios/mutations/{}/scenario.json", m.name()));
        let j = job(&path);
        assert_eq!(j.scenario.mutations, vec![m], "{}", path.display());
        assert!(
            !j.scenario.expect.violated.is_empty(),
            "{} declares the violation it must show",
            path.display()
        );
        assert!(
            j.scenario.description.len() > 200,
            "{} explains the real-world failure",
            path.display()
        );
    }
    assert_eq!(mutation_scenarios().len(), Mutation::ALL.len());
}

#[test]
fn a_sweep_finds_every_mutation() {
    for path in mutation_scenarios() {
        let j = job(&path);
        let reports = sweep::run_seeds(&j, &seeds(20), 2, &|| {}).expect("runs");
        let summary = sweep::summarize(&j, &reports, Vec::new());
        assert_eq!(summary.verdict, "pass", "{}: {:?}", path.display(), summary.expectations);
    }
}

#[test]
fn the_correct_protocol_passes_every_mutation_scenario() {
    for path in mutation_scenarios() {
        let mut s = scenario::load_file(&path).expect("loads");
        sweep::without_mutations(&mut s);
        let j = Arc::new(Job::new(s));
        let reports = sweep::run_seeds(&j, &seeds(40), 2, &|| {}).expect("runs");
        let summary = sweep::summarize(&j, &reports, Vec::new());
        assert_eq!(summary.verdict, "pass", "{}: {:?}", path.display(), summary.expectations);
    }
}

#[test]
fn a_counterexample_of_every_mutation_replays_to_the_same_trace_and_violations() {
    let dir = std::env::temp_dir().join(format!("ftsim-cx-{}", std::process::id()));
    for path in mutation_scenarios() {
        let j = job(&path);
        let reports = sweep::run_seeds(&j, &seeds(10), 1, &|| {}).expect("runs");
        let failing =
            reports.iter().find(|r| r.invariants.iter().any(|i| !i.holds)).expect("a violation");
        let file = counterexample::save(&dir, &j, failing).expect("saved");
        let cx = counterexample::load(&file).expect("loads");
        assert_eq!(cx.seed, failing.seed);
        let replay = counterexample::replay(&cx, "cx", None).expect("replays");
        assert!(
            replay.reproduced(),
            "{}: {} vs {}",
            path.display(),
            cx.trace_hash,
            replay.report.trace_hash
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_counterexample_of_random_faults_records_them_as_explicit_faults_and_replays() {
    let text = r#"{"name": "random", "graph": {"operators": [
        {"id": "s", "op": "source", "parallelism": 2, "generate": {"records": 60, "keys": 4}, "rate_per_ms": 2},
        {"id": "c", "op": "reduce", "agg": "count", "parallelism": 2},
        {"id": "o", "op": "sink", "delivery": "at_least_once"}],
      "edges": [{"from": "s", "to": "c"}, {"from": "c", "to": "o"}]},
      "cluster": {"nodes": 2}, "checkpointing": {"interval_ms": 10},
      "faults": [{"kind": "random", "mean_interval_ms": 12, "kinds": ["crash_task", "crash_node"], "max_faults": 2, "until_ms": 40}]}"#;
    let j =
        Arc::new(Job::new(scenario::load_bytes(text.as_bytes(), "random.json").expect("valid")));
    let dir = std::env::temp_dir().join(format!("ftsim-cx-random-{}", std::process::id()));
    let reports = sweep::run_seeds(&j, &seeds(30), 1, &|| {}).expect("runs");
    let failing = reports
        .iter()
        .find(|r| r.invariants.iter().any(|i| !i.holds))
        .expect("duplicates after a crash");
    let cx = counterexample::load(&counterexample::save(&dir, &j, failing).expect("saved"))
        .expect("loads");
    let faults = cx.scenario["faults"].as_array().expect("faults");
    assert!(!faults.is_empty() && faults.iter().all(|f| f["at_ms"].is_u64()), "{faults:?}");
    assert!(counterexample::replay(&cx, "cx", None).expect("replays").reproduced());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_and_two_worker_threads_give_identical_results() {
    for path in [
        PathBuf::from("scenarios/faults/crash-after-checkpoint.json"),
        mutation_scenarios()[0].clone(),
    ] {
        let j = job(&path);
        let one = sweep::run_seeds(&j, &seeds(16), 1, &|| {}).expect("runs");
        let two = sweep::run_seeds(&j, &seeds(16), 2, &|| {}).expect("runs");
        let hashes = |r: &[ftsim::check::Report]| {
            r.iter().map(|r| (r.seed, r.trace_hash.clone())).collect::<Vec<_>>()
        };
        assert_eq!(hashes(&one), hashes(&two));
        assert_eq!(sweep::summarize(&j, &one, vec![]), sweep::summarize(&j, &two, vec![]));
    }
}

#[test]
fn shards_cover_the_range_once_and_their_summaries_merge_into_the_whole() {
    let path = mutation_scenarios()[1].clone();
    let j = job(&path);
    let all = Seeds { from: 3, to: 17, shard: (0, 1) };
    let parts: Vec<Seeds> = (0..3).map(|i| Seeds { shard: (i, 3), ..all }).collect();
    let mut covered: Vec<u64> = parts.iter().flat_map(|p| p.list()).collect();
    covered.sort_unstable();
    assert_eq!(covered, all.list());
    let summary_of = |seeds: Seeds| {
        let reports = sweep::run_seeds(&j, &seeds.list(), 1, &|| {}).expect("runs");
        CheckSummary::new(seeds, vec![sweep::summarize(&j, &reports, vec![])], 0.0)
    };
    let whole = summary_of(all);
    let named: Vec<(String, CheckSummary)> =
        parts.iter().map(|p| (format!("shard {}", p.shard.0), summary_of(*p))).collect();
    let merged = sweep::merge(&named).expect("merges");
    assert_eq!(merged.scenarios, whole.scenarios, "the merge is the whole sweep");
    assert_eq!(merged.runs, whole.runs);
    assert_eq!(merged.failed_seeds, whole.failed_seeds);
    assert_eq!(merged.per_invariant, whole.per_invariant);
    assert_eq!(merged.verdict, whole.verdict);
    let exp = |c: &CheckSummary| {
        c.scenarios[0]
            .expectations
            .iter()
            .map(|e| (e.invariant.clone(), e.violated_by, e.met))
            .collect::<Vec<_>>()
    };
    assert_eq!(exp(&merged), exp(&whole));
}

fn all_scenarios() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir).expect("readable").map(|e| e.expect("entry").path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(Path::new("scenarios"), &mut v);
    v
}

/// `recoverable_checkpoints` on one run: (holds, detail).
fn recoverable(s: &scenario::Scenario, how: RecoveryCheck, seed: u64) -> (bool, String) {
    let mut s = s.clone();
    s.recovery_check = how;
    let r = check::run_once(Arc::new(Job::new(s)), seed, None).expect("runs");
    let o = r.invariants.iter().find(|i| i.name == "recoverable_checkpoints");
    o.map(|o| (o.holds, o.detail.clone())).unwrap_or((true, String::new()))
}

#[test]
fn the_cut_check_finds_whatever_restoring_every_checkpoint_finds_in_every_shipped_scenario() {
    for path in all_scenarios() {
        let shipped = scenario::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut correct = shipped.clone();
        sweep::without_mutations(&mut correct);
        for seed in 1..=10 {
            for s in [&shipped, &correct] {
                let full = recoverable(s, RecoveryCheck::Full, seed);
                let cut = recoverable(s, RecoveryCheck::Cut, seed);
                let at = format!("{} seed {seed} {:?}", path.display(), s.mutations);
                if s.mutations.is_empty() || !full.0 {
                    assert_eq!(cut.0, full.0, "{at}: cut: {} / full: {}", cut.1, full.1);
                } else if !cut.0 {
                    assert!(cut.1.contains("is not a consistent cut"), "{at}: {}", cut.1);
                }
            }
        }
    }
}

#[test]
fn the_cut_check_alone_sees_every_mutation_without_restoring_a_run() {
    for path in mutation_scenarios() {
        let j = job(&path);
        let exactly_once = check::applicable(&j, ftsim::scenario::model::Invariant::ExactlyOnce);
        let found = (1..=10).find_map(|seed| {
            let r = sim::run(j.clone(), seed, None);
            let mut logs = cut::LogBags::new(j.scenario.operators.len());
            (0..r.world.store.completed.len())
                .find_map(|i| cut::violation(&j, &r.world, i, exactly_once, &mut logs))
        });
        assert!(
            found.is_some(),
            "{}: no checkpoint of seeds 1..=10 fails the cut check",
            path.display()
        );
    }
}

#[test]
fn comparing_sink_outputs_by_hash_first_reports_what_sorting_both_sides_reports() {
    let outcomes = |s: &scenario::Scenario, seed: u64, exact: bool| {
        check::invariants::set_exact_diff(exact);
        let r = check::run_once(Arc::new(Job::new(s.clone())), seed, None).expect("runs");
        check::invariants::set_exact_diff(false);
        r.invariants.iter().map(|i| (i.name, i.holds, i.detail.clone())).collect::<Vec<_>>()
    };
    let mut violations = 0;
    for path in all_scenarios() {
        let shipped = scenario::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut correct = shipped.clone();
        sweep::without_mutations(&mut correct);
        for seed in 1..=5 {
            for s in [&shipped, &correct] {
                let fast = outcomes(s, seed, false);
                violations += fast.iter().filter(|o| !o.1).count();
                assert_eq!(fast, outcomes(s, seed, true), "{} seed {seed}", path.display());
            }
        }
    }
    assert!(violations > 0, "the fixtures include violations");
}

#[test]
fn a_counterexample_found_with_full_restores_records_it_and_replays_the_same_way() {
    let dir = std::env::temp_dir().join(format!("ftsim-cx-full-{}", std::process::id()));
    let path = PathBuf::from("scenarios/mutations/skip_alignment/scenario.json");
    for (how, recorded) in [(RecoveryCheck::Full, Some("full")), (RecoveryCheck::Cut, None)] {
        let mut s = scenario::load_file(&path).expect("loads");
        s.recovery_check = how;
        let j = Arc::new(Job::new(s));
        let report = check::run_once(j.clone(), 1, None).expect("runs");
        let file = counterexample::save(&dir, &j, &report).expect("saved");
        let cx = counterexample::load(&file).expect("loads");
        assert_eq!(cx.recovery_check.as_deref(), recorded);
        let replay = counterexample::replay(&cx, "cx", None).expect("replays");
        assert!(replay.reproduced(), "{how:?}");
        let detail = |r: &check::Report| {
            r.invariants
                .iter()
                .find(|i| i.name == "recoverable_checkpoints")
                .map(|i| i.detail.clone())
        };
        assert_eq!(detail(&replay.report), detail(&report), "{how:?}: judged the same way");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
