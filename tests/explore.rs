//! Exhaustive exploration: pinned state counts of tiny scenarios (as stateright's examples
//! pin theirs), every protocol mutation found in a tiny configuration with a counterexample
//! that replays, and partial-order reduction never missing what the full search finds.

use ftsim::explore::{self, Config};
use ftsim::graph::Job;
use ftsim::scenario::{self, model::FaultKindName};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

fn job(path: &str) -> Arc<Job> {
    Arc::new(Job::new(scenario::load_file(Path::new(path)).unwrap_or_else(|e| panic!("{e}"))))
}

fn run(job: &Arc<Job>, config: &Config) -> explore::Outcome {
    explore::explore(job, config, &mut |_| true).expect("explores")
}

fn config(max_checkpoints: u64, max_faults: u32, reduce: bool) -> Config {
    Config {
        max_checkpoints,
        max_faults,
        fault_kinds: vec![FaultKindName::CrashTask],
        reduce,
        stop_at_first: false,
        ..Config::default()
    }
}

/// (scenario, checkpoints, faults) → (states of the full search, states and transitions of the
/// reduced search), breadth first, crash faults.
const PINNED: [(&str, u64, u32, u64, u64, u64); 7] = [
    ("scenarios/explore/tiny-wordcount.json", 1, 0, 20268, 4247, 7156),
    ("scenarios/explore/tiny-pipeline.json", 1, 0, 56, 25, 30),
    ("scenarios/explore/tiny-pipeline.json", 1, 1, 148, 117, 304),
    ("scenarios/explore/tiny-count.json", 1, 0, 121, 54, 88),
    ("scenarios/explore/tiny-count.json", 1, 1, 347, 265, 836),
    ("scenarios/explore/tiny-checkpoint.json", 1, 0, 1006, 516, 769),
    ("scenarios/explore/tiny-checkpoint.json", 1, 1, 2631, 1925, 4580),
];

#[test]
fn the_state_counts_of_the_tiny_scenarios_are_pinned() {
    // Any change to the protocol, the world or the explorer that changes these must be
    // understood: update them knowingly, in the same commit.
    for (path, ck, faults, full, states, transitions) in PINNED {
        let j = job(path);
        let r = run(&j, &config(ck, faults, true));
        let u = run(&j, &config(ck, faults, false));
        assert!(r.complete && u.complete, "{path}");
        assert!(
            r.violations.is_empty(),
            "{path}: the correct protocol violates {:?}",
            r.violations
        );
        assert_eq!(u.states, full, "{path} without reduction, {faults} fault(s)");
        assert_eq!(
            (r.states, r.transitions),
            (states, transitions),
            "{path} with reduction, {faults} fault(s)"
        );
    }
}

/// The terminal states (finished, stuck, or held back by a bound) of a search, by fingerprint.
fn terminals(j: &Arc<Job>, config: &Config) -> (explore::Outcome, BTreeSet<u64>) {
    let o = run(j, &Config { collect_terminals: true, ..config.clone() });
    let set = o.terminals.iter().map(|t| t.fingerprint).collect();
    (o, set)
}

#[test]
fn reduction_reaches_every_terminal_state_of_the_full_search_with_fewer_states() {
    for (path, ck, faults, _, _, _) in PINNED {
        let j = job(path);
        let (r, rt) = terminals(&j, &config(ck, faults, true));
        let (u, ut) = terminals(&j, &config(ck, faults, false));
        assert_eq!(rt, ut, "{path} with {faults} fault(s): the terminal states differ");
        assert!(r.states <= u.states, "{path}");
    }
}

#[test]
fn reduction_reaches_every_terminal_state_of_the_standard_configuration() {
    // scenarios/explore/abs.json with one record per source partition (the benchmark's
    // smallest row), with and without a crash.
    let v = scenario::load_file(Path::new("scenarios/explore/abs.json")).expect("loads");
    let cut = explore::limit_records(&v.json, 1);
    let j = Arc::new(Job::new(scenario::load_value(&cut, &v.origin).expect("valid")));
    for faults in [0, 1] {
        let c = Config { bfs: false, ..config(1, faults, true) };
        let (r, rt) = terminals(&j, &c);
        let (u, ut) = terminals(&j, &Config { reduce: false, ..c });
        assert_eq!(rt, ut, "abs with {faults} fault(s): the terminal states differ");
        assert!(r.states < u.states, "abs: {} of {} states", r.states, u.states);
    }
}

/// What a search's terminal states show (every sink's output with the records of each
/// transaction as a multiset, and the violations), each path replayed and hashed with the
/// order-free hash whatever the search used.
fn outcomes(j: &Arc<Job>, config: &Config) -> (explore::Outcome, BTreeSet<u64>) {
    let o = run(j, &Config { collect_terminals: true, ..config.clone() });
    ftsim::record::set_exact_order(false);
    let set = o
        .terminals
        .iter()
        .map(|t| {
            let (w, _) = explore::replay(j, config, &t.choices).expect("a terminal path replays");
            explore::outputs_hash(&w)
        })
        .collect();
    (o, set)
}

#[test]
fn fingerprints_that_forget_the_order_inside_a_transaction_lose_no_outcome() {
    // The explorer's fingerprints hash the records of one transaction as a multiset (nothing
    // reads their order). The same searches with the order kept must reach the same outcomes
    // and verdicts in no fewer states, on every pinned fixture and on the standard
    // configuration with two records per partition; and find the same first violation on every
    // mutation fixture.
    let mut cases: Vec<(Arc<Job>, Config)> = PINNED
        .iter()
        .map(|&(path, ck, faults, ..)| (job(path), config(ck, faults, false)))
        .collect();
    for (name, bfs, ck) in MUTATIONS {
        let j = job(&format!("tests/explore/{name}.json"));
        let c = mutation_config(&j, bfs, ck, true);
        cases.push((j, c));
    }
    let v = scenario::load_file(Path::new("scenarios/explore/abs.json")).expect("loads");
    let cut = explore::limit_records(&v.json, 2);
    let abs = Arc::new(Job::new(scenario::load_value(&cut, &v.origin).expect("valid")));
    cases.push((abs, Config { bfs: false, ..config(1, 0, true) }));
    let mut merged = 0;
    for (j, c) in &cases {
        let name = &j.scenario.name;
        ftsim::record::set_exact_order(true);
        let (exact, exact_outcomes) = outcomes(j, c);
        let (free, free_outcomes) = outcomes(j, c);
        let verdicts = |o: &explore::Outcome| {
            o.violations.iter().map(|v| v.invariant).collect::<BTreeSet<_>>()
        };
        assert_eq!(verdicts(&exact), verdicts(&free), "{name}: the verdicts differ");
        if !c.stop_at_first {
            assert!(exact.complete && free.complete, "{name}");
            assert_eq!(exact_outcomes, free_outcomes, "{name}: the outcomes differ");
            assert!(free.states <= exact.states, "{name}");
            merged += exact.states - free.states;
        }
    }
    assert!(
        merged > 0,
        "the abstraction must merge states somewhere for this test to mean anything"
    );
}

#[test]
fn the_number_of_threads_changes_no_count_verdict_or_counterexample() {
    // Breadth first with several threads expands a level's nodes at once and merges them in
    // order: everything it reports must be what one thread reports.
    let summary = |o: &explore::Outcome| {
        let found: Vec<_> = o.violations.iter().map(|v| (v.invariant, v.choices.clone())).collect();
        let terminals: BTreeSet<(u64, u64)> =
            o.terminals.iter().map(|t| (t.fingerprint, t.outputs)).collect();
        (
            o.states,
            o.transitions,
            o.finished_states,
            o.bounded_states,
            o.proviso_states,
            found,
            terminals,
        )
    };
    let mut cases: Vec<(Arc<Job>, Config)> = PINNED
        .iter()
        .map(|&(path, ck, faults, ..)| {
            (job(path), Config { collect_terminals: true, ..config(ck, faults, true) })
        })
        .collect();
    for (name, _, ck) in MUTATIONS {
        let j = job(&format!("tests/explore/{name}.json"));
        let c = mutation_config(&j, true, ck, true);
        cases.push((j, c));
    }
    let v = scenario::load_file(Path::new("scenarios/explore/abs.json")).expect("loads");
    let cut = explore::limit_records(&v.json, 1);
    let abs = Arc::new(Job::new(scenario::load_value(&cut, &v.origin).expect("valid")));
    for reduce in [true, false] {
        cases.push((abs.clone(), Config { reduce, ..config(1, 0, true) }));
    }
    for (j, c) in &cases {
        let one = run(j, &Config { jobs: 1, ..c.clone() });
        for jobs in [2, 3] {
            let many = run(j, &Config { jobs, ..c.clone() });
            assert_eq!(summary(&one), summary(&many), "{} with {jobs} threads", j.scenario.name);
        }
    }
}

#[test]
fn depth_first_and_breadth_first_search_reach_the_same_states() {
    let j = job("scenarios/explore/tiny-checkpoint.json");
    let bfs = run(&j, &config(1, 0, false));
    let dfs = run(&j, &Config { bfs: false, ..config(1, 0, false) });
    assert_eq!((bfs.states, bfs.transitions), (dfs.states, dfs.transitions));
}

#[test]
fn under_a_depth_bound_depth_first_search_reaches_every_state_breadth_first_reaches() {
    let j = job("scenarios/explore/tiny-checkpoint.json");
    let bound = Config { max_depth: 20, ..config(1, 0, false) };
    let bfs = run(&j, &bound);
    let dfs = run(&j, &Config { bfs: false, ..bound.clone() });
    assert!(bfs.complete && dfs.complete);
    assert!(bfs.bounded_states > 0, "the bound must cut for this test to mean anything");
    assert_eq!(bfs.states, dfs.states);
}

#[test]
fn a_state_budget_ends_the_search_cleanly_as_incomplete() {
    let j = job("scenarios/explore/tiny-checkpoint.json");
    let r = run(&j, &Config { max_states: 100, ..config(1, 1, true) });
    assert!(!r.complete);
    assert_eq!(r.states, 100);
}

/// (mutation fixture, breadth first?, checkpoint budget): the cheapest search that finds it.
const MUTATIONS: [(&str, bool, u64); 8] = [
    ("commit_on_snapshot", true, 1),
    ("no_recommit_on_restore", true, 1),
    ("ack_before_upload", true, 1),
    ("complete_on_first_ack", true, 1),
    ("no_source_rewind", false, 1),
    ("skip_alignment", false, 1),
    ("snapshot_after_barrier_records", false, 1),
    ("restore_older_checkpoint", false, 2),
];

fn mutation_config(job: &Job, bfs: bool, ck: u64, reduce: bool) -> Config {
    let (kinds, faults) = explore::scenario_faults(job);
    Config {
        bfs,
        max_checkpoints: ck,
        fault_kinds: kinds,
        max_faults: faults,
        reduce,
        ..Config::default()
    }
}

#[test]
fn the_explorer_finds_every_mutation_in_a_tiny_configuration_and_the_path_replays() {
    for (name, bfs, ck) in MUTATIONS {
        let j = job(&format!("tests/explore/{name}.json"));
        let s = &j.scenario;
        let records: usize = s
            .operators
            .iter()
            .filter_map(|o| match &o.kind {
                ftsim::scenario::model::OpKind::Source(d) => {
                    Some(d.partitions.iter().map(|p| p.len()).sum::<usize>())
                }
                _ => None,
            })
            .sum();
        assert!(records <= 6 && s.faults.len() <= 1, "{name} is tiny");
        let config = mutation_config(&j, bfs, ck, true);
        let r = run(&j, &config);
        let found = r
            .violations
            .first()
            .unwrap_or_else(|| panic!("{name}: not found in {} states", r.states));
        let (world, _) = explore::replay(&j, &config, &found.choices).expect("the path replays");
        let verdicts = explore::judge(&j, &config, &world).expect("judged");
        assert!(
            verdicts.iter().any(|(i, _)| *i == found.invariant),
            "{name}: the replayed path shows {:?}, not {:?}",
            verdicts,
            found.invariant
        );
    }
}

#[test]
fn the_correct_protocol_passes_every_tiny_mutation_configuration_completely() {
    // Several fixtures share a configuration; explore each distinct one once.
    let mut seen: Vec<serde_json::Value> = Vec::new();
    for (name, _, _) in MUTATIONS {
        let mut correct =
            scenario::load_file(Path::new(&format!("tests/explore/{name}.json"))).expect("loads");
        correct.mutations.clear();
        let mut key = (*correct.json).clone();
        key["mutations"] = serde_json::json!([]);
        key["name"] = serde_json::json!("");
        key["description"] = serde_json::json!("");
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let cj = Arc::new(Job::new(correct));
        let c = run(&cj, &Config { stop_at_first: false, ..mutation_config(&cj, false, 1, true) });
        assert!(c.complete, "{name}: the search completes");
        assert!(c.violations.is_empty(), "{name} without the mutation: {:?}", c.violations);
        // The reduced search reaches every terminal state the full one does. These
        // configurations have faults, restarts and checkpoints, so messages with the same
        // content get different ids on different paths (sleep sets must not care).
        let full = Config { stop_at_first: false, ..mutation_config(&cj, false, 1, false) };
        let (u, ut) = terminals(&cj, &full);
        let (r, rt) = terminals(&cj, &Config { reduce: true, ..full });
        assert_eq!(rt, ut, "{name}: the terminal states differ");
        assert!(r.states <= u.states && r.transitions <= u.transitions, "{name}");
    }
}

#[test]
fn reduction_never_misses_a_violation_that_the_full_search_finds() {
    for (name, bfs, ck) in MUTATIONS {
        let j = job(&format!("tests/explore/{name}.json"));
        let full = run(&j, &mutation_config(&j, bfs, ck, false));
        let reduced = run(&j, &mutation_config(&j, bfs, ck, true));
        let kinds =
            |o: &explore::Outcome| o.violations.iter().map(|v| v.invariant).collect::<Vec<_>>();
        assert!(!full.violations.is_empty(), "{name}: the full search finds it");
        assert_eq!(kinds(&reduced), kinds(&full), "{name}");
        // The reduced path replays to the same violation (it may be longer than the full
        // search's shortest one: the reduction puts some events first).
        let config = mutation_config(&j, bfs, ck, true);
        let (world, _) = explore::replay(&j, &config, &reduced.violations[0].choices)
            .expect("the reduced path replays");
        let verdicts = explore::judge(&j, &config, &world).expect("judged");
        assert!(verdicts.iter().any(|(i, _)| *i == reduced.violations[0].invariant), "{name}");
    }
}

/// Along many pseudo-random paths through fixtures with faults, restarts and checkpoints,
/// every event that can happen in a state has a name no other event of that state has, and
/// the name reads back to the event in that state; every step of the path replays by name.
#[test]
fn every_choice_has_a_name_of_its_own_that_reads_back_to_it_in_its_state() {
    use ftsim::explore::{
        choices, event_name, initial_world, names, parse_event, step, ExploreEnv,
    };
    // Two edges between the same operators: two channels with the same ends, and records
    // that read the same on both.
    let twin_edges = r#"{"name": "twin-edges",
        "graph": {"operators": [
            {"id": "src", "op": "source", "data": [[{"key": "a", "value": 1, "ts": 0}]]},
            {"id": "out", "op": "sink", "delivery": "at_least_once"}],
          "edges": [{"from": "src", "to": "out"}, {"from": "src", "to": "out"}]},
        "checkpointing": {"mode": "aligned", "interval_ms": 10}}"#;
    let twin = scenario::load_bytes(twin_edges.as_bytes(), "twin-edges").expect("loads");
    let (mut named, mut twins) = (0, 0);
    let files = [
        "scenarios/explore/tiny-checkpoint.json",
        "scenarios/explore/tiny-wordcount.json",
        "tests/explore/restore_older_checkpoint.json",
        "tests/explore/no_recommit_on_restore.json",
        "tests/explore/skip_alignment.json",
    ];
    let jobs = files.iter().map(|f| (*f, job(f))).chain([("twin-edges", Arc::new(Job::new(twin)))]);
    for (file, j) in jobs {
        let config = Config {
            fault_kinds: FaultKindName::ALL.to_vec(),
            max_faults: 2,
            ..config(2, 0, true)
        };
        for seed in 0..30u64 {
            let mut w = initial_world(&j, &config);
            let mut now = ftsim::ids::SimTime::ZERO;
            let mut env = ExploreEnv { hasher: None, lines: None };
            let mut path = Vec::new();
            for depth in 0..150u64 {
                let all = names(&j, &w);
                for (k, (e, name)) in all.iter().enumerate() {
                    assert!(
                        all[..k].iter().all(|(_, other)| other != name),
                        "{file}: two events named `{name}`"
                    );
                    assert_eq!(parse_event(&j, &w, name), Some(*e), "{file}: `{name}`");
                    assert_eq!(&event_name(&j, &w, *e), name);
                    named += 1;
                    twins += usize::from(name.ends_with(" #2"));
                }
                let (events, _) = choices(&w, &config);
                if events.is_empty() {
                    break;
                }
                let pick = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7).wrapping_add(depth * 31);
                let e = events[(pick % events.len() as u64) as usize];
                path.push(event_name(&j, &w, e));
                assert!(step(&mut w, &mut now, e, &mut env), "{file}: a choice is enabled");
            }
            let replayed = explore::replay_names(&j, &config, &path, false)
                .unwrap_or_else(|d| panic!("{file}: {d}"));
            assert!(replayed.world == w, "{file}: the path replayed by name ends elsewhere");
            assert_eq!(replayed.now, now);
        }
    }
    assert!(named > 10_000, "only {named} names checked");
    assert!(twins > 0, "the twin edges gave two events the same base name");
}

#[test]
fn choices_written_with_ids_by_older_files_still_read() {
    let j = job("scenarios/explore/tiny-checkpoint.json");
    let config = config(1, 1, true);
    let w = explore::initial_world(&j, &config);
    let old = ["step src[0]", "timer 1", "inject 0"];
    for name in old {
        let e = explore::parse_event(&j, &w, name).unwrap_or_else(|| panic!("`{name}` reads"));
        assert!(explore::names(&j, &w).iter().any(|(x, _)| *x == e), "`{name}` can happen");
    }
    assert_eq!(explore::parse_event(&j, &w, "trigger of checkpoint 9 reaches src[0]"), None);
}

/// Every successor of every state on many paths, computed in one copy of the state and put
/// back with `reset_to` each time, equals the state again — in value and fingerprint — and
/// the successor's cached fingerprint equals the fingerprint of a fresh copy of it.
#[test]
fn a_successor_put_back_with_reset_to_equals_its_parent_again() {
    use ftsim::explore::{choices, fingerprint, initial_world, step, ExploreEnv};
    let mut checked = 0;
    for file in [
        "scenarios/explore/tiny-checkpoint.json",
        "tests/explore/restore_older_checkpoint.json",
        "tests/explore/no_recommit_on_restore.json",
    ] {
        let j = job(file);
        let (fault_kinds, max_faults) = explore::scenario_faults(&j);
        let config = Config { fault_kinds, max_faults, ..config(2, 0, true) };
        for seed in 0..40u64 {
            let mut w = initial_world(&j, &config);
            let mut now = ftsim::ids::SimTime::ZERO;
            let mut env = ExploreEnv { hasher: None, lines: None };
            let _ = fingerprint(&w);
            for depth in 0..200u64 {
                let (events, _) = choices(&w, &config);
                if events.is_empty() {
                    break;
                }
                let before = fingerprint(&w);
                let mut next = w.clone();
                for &e in &events {
                    let mut t = now;
                    step(&mut next, &mut t, e, &mut env);
                    let cached = fingerprint(&next);
                    assert_eq!(cached, fingerprint(&next.clone()), "{file}: a stale cached hash");
                    next.reset_to(&w);
                    assert!(next == w, "{file}: reset_to left a difference after {e:?}");
                    assert_eq!(fingerprint(&next), before);
                    checked += 1;
                }
                // Go on along a pseudo-random successor.
                let pick = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7).wrapping_add(depth * 31);
                let e = events[(pick % events.len() as u64) as usize];
                step(&mut w, &mut now, e, &mut env);
            }
        }
    }
    assert!(checked > 1000, "only {checked} successors checked");
}

/// The verification mode (`explore::check`) over every state of the tiny fixtures: the
/// dependency relation, the footprints and the stubborn sets hold on each.
#[test]
fn the_dependency_relation_and_the_stubborn_sets_hold_on_every_state_of_the_tiny_fixtures() {
    let mut checked = 0;
    // (checkpoints, faults, fixture)
    for (ck, faults, path) in [
        (1, 1, "scenarios/explore/tiny-checkpoint.json"),
        (1, 1, "scenarios/explore/tiny-count.json"),
        (1, 1, "scenarios/explore/tiny-pipeline.json"),
        (2, 1, "tests/explore/no_recommit_on_restore.json"),
        (1, 1, "tests/explore/restore_older_checkpoint.json"),
    ] {
        let j = job(path);
        let r = explore::check::verify_all(&j, &config(ck, faults, true), 20_000, 2);
        assert!(r.problems.is_empty(), "{path}: {:#?}", r.problems);
        assert!(r.pairs > 0 && r.reduced > 0, "{path}: nothing was checked ({r:?})");
        checked += r.states;
    }
    assert!(checked > 5_000, "only {checked} states checked");
}

/// The same along long random walks of the shipped fault scenarios, with the faults they use
/// injected by the explorer.
#[test]
fn the_dependency_relation_holds_along_random_walks_of_the_shipped_fault_scenarios() {
    let mut files: Vec<_> = std::fs::read_dir("scenarios/faults")
        .expect("scenarios/faults")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    for file in files {
        let j = job(file.to_str().expect("utf-8"));
        let (fault_kinds, max_faults) = explore::scenario_faults(&j);
        let c = Config { fault_kinds, max_faults, ..config(2, 0, true) };
        let r = explore::check::verify_walks(&j, &c, 3, 400, 1);
        assert!(r.problems.is_empty(), "{}: {:#?}", file.display(), r.problems);
        assert!(r.pairs > 0, "{}: nothing checked", file.display());
    }
}
