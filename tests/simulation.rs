//! The failure-free simulation must equal the independent reference: for every shipped
//! scenario over several seeds, and for generated graphs and data (proptest). Runs are
//! deterministic: the same seed gives the same trace hash, different seeds differ.

use ftsim::check::{self, Verdict};
use ftsim::graph::Job;
use ftsim::scenario::model::OpKind;
use ftsim::scenario::{self, Scenario};
use ftsim::sim::{self, Ending};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

fn shipped() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("scenarios")
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

fn load(path: &std::path::Path) -> Scenario {
    scenario::load_file(path).unwrap_or_else(|e| panic!("{e}"))
}

fn is_failure_free(s: &Scenario) -> bool {
    s.faults.is_empty() && s.checkpointing.mode == ftsim::scenario::model::CheckpointMode::Disabled
}

#[test]
fn every_shipped_scenario_matches_its_reference_for_several_seeds() {
    let mut checked = 0;
    for path in shipped() {
        let s = load(&path);
        if !is_failure_free(&s) {
            continue;
        }
        let job = Arc::new(Job::new(s));
        for seed in [1, 2, 3, 17, 99] {
            let report = check::run_once(job.clone(), seed, None).expect("runs");
            assert_eq!(
                report.verdict,
                Verdict::Pass,
                "{} seed {seed}: {:?}",
                path.display(),
                report.failures
            );
            assert!(report.invariants.iter().all(|i| i.holds), "{}: {:?}", path.display(), report);
        }
        checked += 1;
    }
    assert!(checked >= 8, "at least 8 failure-free scenarios are shipped, found {checked}");
}

#[test]
fn the_same_seed_gives_the_same_trace_hash_and_different_seeds_differ() {
    for path in shipped() {
        let s = load(&path);
        if !is_failure_free(&s) {
            continue;
        }
        let job = Arc::new(Job::new(s));
        let a = sim::run(job.clone(), 5, None);
        let b = sim::run(job.clone(), 5, None);
        let c = sim::run(job.clone(), 6, None);
        assert_eq!(a.trace_hash, b.trace_hash, "{}", path.display());
        assert_eq!(a.events, b.events);
        assert_eq!(
            a.world,
            b.world,
            "{}: the same seed gives the same final world",
            path.display()
        );
        let l = job.scenario.network.latency;
        if l.min_us != l.max_us {
            assert_ne!(a.trace_hash, c.trace_hash, "{}: seeds 5 and 6 differ", path.display());
        }
    }
}

#[test]
fn the_written_trace_hashes_to_the_same_value_as_an_untraced_run() {
    let job = Arc::new(Job::new(scenario::builtin()));
    let mut buf = Vec::new();
    let traced = sim::run(job.clone(), 3, Some(&mut buf));
    let plain = sim::run(job, 3, None);
    assert_eq!(traced.trace_hash, plain.trace_hash);
    let text = String::from_utf8(buf).expect("utf-8");
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("every line is JSON")).collect();
    // Every event writes at least one line (a step may also write task_finished and more).
    assert!(lines.len() as u64 >= traced.events);
    assert!(lines.iter().all(|l| l["t_us"].is_u64() && l["event"].is_string()));
    let times: Vec<u64> = lines.iter().map(|l| l["t_us"].as_u64().unwrap_or(0)).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time never goes back");
    assert_eq!(lines.last().expect("non-empty")["event"], "job_finished");
}

#[test]
fn a_tiny_event_limit_ends_the_run_cleanly_with_progress_violated() {
    let mut s = scenario::builtin();
    s.limits.max_events = 50;
    let job = Arc::new(Job::new(s));
    let r = sim::run(job.clone(), 1, None);
    assert_eq!(r.ending, Ending::EventLimit);
    assert_eq!(r.events, 50);
    let report = check::run_once(job, 1, None).expect("runs");
    assert_eq!(report.verdict, Verdict::Fail);
    let progress = report.invariants.iter().find(|i| i.name == "progress").expect("reported");
    assert!(!progress.holds && progress.detail.contains("max_events"), "{progress:?}");
}

#[test]
fn a_tiny_time_limit_ends_the_run_cleanly_with_progress_violated() {
    let mut s = scenario::builtin();
    s.limits.max_sim_ms = 10;
    let r = sim::run(Arc::new(Job::new(s)), 1, None);
    assert_eq!(r.ending, Ending::TimeLimit);
    assert_eq!(r.now.as_ms(), 10);
}

/// Windows and a join fed event times at the very end of the i64 range: the window that holds
/// `i64::MAX` is cut there (docs/scenario-format.md, "window").
fn end_of_time(checkpointing: Value, faults: Value) -> Value {
    const MAX: i64 = i64::MAX;
    let r = |key: &str, value: i64, ts: i64| json!({"key": key, "value": value, "ts": ts});
    json!({
        "name": "end-of-time",
        "graph": {
            "operators": [
                {"id": "left", "op": "source", "rate_per_ms": 1, "data": [[
                    r("a", 1, MAX - 17), r("a", 2, MAX - 7), r("a", 3, MAX - 1),
                    r("b", 4, MAX), r("a", 5, MAX)
                ]]},
                {"id": "right", "op": "source", "rate_per_ms": 1, "data": [[
                    r("a", 10, MAX - 6), r("b", 20, MAX), r("a", 30, MAX)
                ]]},
                {"id": "per-10ms", "op": "window", "size_ms": 10, "agg": "sum"},
                {"id": "per-ms", "op": "window", "size_ms": 1, "agg": "count"},
                {"id": "match", "op": "join", "size_ms": 10},
                {"id": "windows", "op": "sink"},
                {"id": "ms", "op": "sink"},
                {"id": "pairs", "op": "sink"}
            ],
            "edges": [
                {"from": "left", "to": "per-10ms"},
                {"from": "left", "to": "per-ms"},
                {"from": "per-10ms", "to": "windows"},
                {"from": "per-ms", "to": "ms"},
                {"from": "left", "to": "match", "side": "left"},
                {"from": "right", "to": "match", "side": "right"},
                {"from": "match", "to": "pairs"}
            ]
        },
        "checkpointing": checkpointing,
        "faults": faults
    })
}

#[test]
fn windows_and_joins_at_the_largest_event_time_match_the_reference_with_and_without_faults() {
    const MAX: i64 = i64::MAX;
    let failure_free = end_of_time(json!({"mode": "disabled"}), json!([]));
    let crash = end_of_time(
        json!({"mode": "aligned", "interval_ms": 2}),
        json!([{"on": {"event": "checkpoint_completed", "checkpoint": 1}, "delay_ms": 2,
                "kind": "crash_task", "task": "match[0]"}]),
    );
    for v in [failure_free, crash] {
        let s = scenario::load_bytes(v.to_string().as_bytes(), "end-of-time.json")
            .unwrap_or_else(|e| panic!("{e}"));
        let reference = ftsim::check::reference::evaluate(&s).expect("small");
        let sink = |name: &str| {
            let op = s.operators.iter().position(|o| o.name == name).expect("a sink");
            let Some(ftsim::check::reference::Expected::Append(v)) = &reference.sinks[op] else {
                panic!("an append sink")
            };
            let mut v: Vec<(i64, i64)> = v.iter().map(|r| (r.value, r.ts)).collect();
            v.sort_unstable();
            v
        };
        // [MAX-17, MAX-7) holds a 1, [MAX-7, MAX] (cut short) holds 2, 3, 4 and 5.
        assert_eq!(sink("windows"), vec![(1, MAX - 8), (4, MAX), (10, MAX)]);
        assert_eq!(sink("ms"), vec![(1, MAX - 17), (1, MAX - 7), (1, MAX - 1), (1, MAX), (1, MAX)]);
        let pairs = [12, 13, 15, 24, 32, 33, 35].map(|v| (v, MAX));
        assert_eq!(sink("pairs"), pairs.to_vec(), "a: 2, 3, 5 × 10, 30; b: 4 × 20");
        let job = Arc::new(Job::new(s));
        for seed in 1..=5 {
            let report = check::run_once(job.clone(), seed, None).expect("runs");
            assert_eq!(report.verdict, Verdict::Pass, "seed {seed}: {:?}", report.failures);
        }
    }
}

#[test]
fn a_run_stopped_by_a_limit_generates_and_judges_only_the_input_it_reached() {
    let v = json!({
        "name": "ten-million",
        "graph": {
            "operators": [
                {"id": "in", "op": "source", "generate": {"records": 10_000_000}},
                {"id": "out", "op": "sink"}
            ],
            "edges": [{"from": "in", "to": "out"}]
        },
        "limits": {"max_sim_ms": 50}
    });
    let s = scenario::load_value(&v, "ten-million.json").unwrap_or_else(|e| panic!("{e}"));
    let job = Arc::new(Job::new(s));
    let report = check::run_once(job.clone(), 1, None).expect("runs");
    let holds = |name: &str| report.invariants.iter().find(|i| i.name == name).expect(name).holds;
    // The verdicts of a stopped run: nothing was committed (the sink commits at end of input).
    assert!(!holds("progress") && !holds("exactly_once") && !holds("no_loss"));
    assert!(holds("no_duplicates") && holds("commit_after_complete"));
    let progress = report.invariants.iter().find(|i| i.name == "progress").expect("listed");
    let covered: usize = progress
        .detail
        .split_once("the input it reached: ")
        .and_then(|(_, rest)| rest.split_once(" of the 10000000 source records"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("the detail says how much input counted: {}", progress.detail));
    let read = report.stats.records_processed as usize;
    assert!(read < covered && covered < 10_000, "{read} records processed, {covered} judged");
    let OpKind::Source(def) = &job.scenario.operators[0].kind else { panic!("a source") };
    let resident = def.partitions[0].resident();
    assert!(resident < 2 * covered, "{resident} records generated for {covered} judged");
}

#[test]
fn a_limit_stopped_run_gets_the_same_output_verdicts_from_the_input_it_reached_as_from_all() {
    let mut stopped = 0;
    for path in shipped().into_iter().chain(
        std::fs::read_dir("scenarios/faults").expect("dir").map(|e| e.expect("entry").path()),
    ) {
        let text = std::fs::read_to_string(&path).expect("readable");
        let mut v: Value = serde_json::from_str(&text).expect("JSON");
        for limits in
            [json!({"max_sim_ms": 20}), json!({"max_sim_ms": 60}), json!({"max_events": 400})]
        {
            v["limits"] = limits;
            let s = scenario::load_value(&v, "limited.json").unwrap_or_else(|e| panic!("{e}"));
            let job = Arc::new(Job::new(s));
            for seed in [1, 2] {
                let run = sim::run(job.clone(), seed, None);
                if !matches!(run.ending, Ending::TimeLimit | Ending::EventLimit) {
                    continue;
                }
                stopped += 1;
                let whole = check::reference::evaluate(&job.scenario).expect("small");
                let report = check::run_once(job.clone(), seed, None).expect("runs");
                let upsert = job.scenario.operators.iter().any(|o| {
                    matches!(
                        o.kind,
                        OpKind::Sink { delivery: ftsim::scenario::model::Delivery::Upsert }
                    )
                });
                if upsert {
                    continue;
                }
                for o in check::invariants::output_invariants(&job, &whole, &run.world) {
                    let got = report.invariants.iter().find(|i| i.name == o.invariant.name());
                    assert_eq!(
                        got.map(|i| i.holds),
                        Some(o.holds),
                        "{} {v} seed {seed}: {} against the whole input: {}",
                        path.display(),
                        o.invariant.name(),
                        o.detail
                    );
                }
            }
        }
    }
    assert!(stopped >= 20, "only {stopped} runs were stopped by a limit");
}

#[test]
fn backpressure_bounds_what_a_fast_source_can_run_ahead_of_a_slow_sink() {
    let s = load(&PathBuf::from("scenarios/backpressure.json"));
    let job = Arc::new(Job::new(s));
    let r = sim::run(job.clone(), 1, None);
    assert_eq!(r.ending, Ending::Finished);
    // 200 records through a sink that takes 2 ms each: at least 400 ms.
    assert!(r.now.as_ms() >= 400, "took {} ms", r.now.as_ms());
}

// ---------------------------------------------------------------------------------------
// Generated graphs and data.

/// One generated record: (key index, value, ts step).
type GenRecord = (u8, i8, u8);

#[derive(Clone, Debug)]
struct Plan {
    /// (parallelism, records per partition, rate-limited?)
    sources: Vec<(u8, Vec<Vec<GenRecord>>, bool)>,
    middle: Vec<(u8, u8, u8, u8)>,
    sinks: Vec<u8>,
    latency: (u8, u8),
    capacity: u8,
    costs: Vec<u8>,
}

fn plan() -> impl Strategy<Value = Plan> {
    let record = (0u8..6, -5i8..20, 0u8..4);
    let partition = prop::collection::vec(record, 0..12);
    let source = (1u8..=3).prop_flat_map(move |p| {
        (Just(p), prop::collection::vec(partition.clone(), p as usize), any::<bool>())
    });
    (
        prop::collection::vec(source, 1..=2),
        prop::collection::vec((0u8..9, 1u8..=3, any::<u8>(), any::<u8>()), 0..=4),
        prop::collection::vec(0u8..3, 1..=2),
        (0u8..3, 0u8..6),
        1u8..6,
        prop::collection::vec(0u8..50, 8),
    )
        .prop_map(|(sources, middle, sinks, latency, capacity, costs)| Plan {
            sources,
            middle,
            sinks,
            latency,
            capacity,
            costs,
        })
}

/// Builds a scenario from a plan: sources, then middle operators each reading one or two
/// earlier operators, then sinks reading whatever has no consumer yet.
fn scenario_of(plan: &Plan) -> Value {
    let mut ops: Vec<Value> = Vec::new();
    let mut par: Vec<u8> = Vec::new();
    let mut edges: Vec<Value> = Vec::new();
    let mut consumed: Vec<bool> = Vec::new();
    for (i, (p, parts, rated)) in plan.sources.iter().enumerate() {
        let mut ts = 0i64;
        let data: Vec<Value> = parts
            .iter()
            .map(|part| {
                ts = 0;
                part.iter()
                    .map(|(k, v, step)| {
                        ts += i64::from(*step);
                        json!({"key": format!("k{k}"), "value": v, "ts": ts})
                    })
                    .collect()
            })
            .collect();
        let mut op =
            json!({"id": format!("src{i}"), "op": "source", "parallelism": p, "data": data});
        if *rated {
            op["rate_per_ms"] = json!(2);
        }
        ops.push(op);
        par.push(*p);
        consumed.push(false);
    }
    for (j, (kind, p, a, b)) in plan.middle.iter().enumerate() {
        let n = ops.len();
        let from = usize::from(*a) % n;
        let other = usize::from(*b) % n;
        let id = format!("m{j}");
        let cost = plan.costs[j % plan.costs.len()];
        let (op, keyed) = match kind {
            0 => (json!({"op": "map", "fn": {"add": 3}}), false),
            1 => (json!({"op": "filter", "fn": {"value_mod": [2, 1]}}), false),
            2 => (json!({"op": "flat_map", "fn": {"repeat": 2}}), false),
            3 => (json!({"op": "reduce", "agg": "count", "emit": "every"}), true),
            4 => (json!({"op": "reduce", "agg": "sum", "emit": "on_end"}), true),
            5 => (json!({"op": "window", "size_ms": 5, "agg": "sum"}), true),
            6 => (json!({"op": "join", "size_ms": 4}), true),
            7 => (json!({"op": "map", "fn": {"rekey_mod": 3}}), false),
            _ => (json!({"op": "reduce", "agg": "max", "emit": "on_end"}), true),
        };
        let mut op = op;
        op["id"] = json!(id);
        op["parallelism"] = json!(p);
        op["cost_us"] = json!(cost);
        let partition = |up: usize, salt: u8| -> &'static str {
            if keyed {
                "hash"
            } else if par[up] == *p && salt % 3 == 0 {
                "forward"
            } else {
                ["rebalance", "hash", "broadcast"][usize::from(salt) % 3]
            }
        };
        if *kind == 6 {
            edges.push(
                json!({"from": ops[from]["id"], "to": id, "partition": "hash", "side": "left"}),
            );
            edges.push(
                json!({"from": ops[other]["id"], "to": id, "partition": "hash", "side": "right"}),
            );
            consumed[other] = true;
        } else {
            edges
                .push(json!({"from": ops[from]["id"], "to": id, "partition": partition(from, *b)}));
            if *b % 4 == 1 && other != from {
                edges.push(
                    json!({"from": ops[other]["id"], "to": id, "partition": partition(other, *a)}),
                );
                consumed[other] = true;
            }
        }
        consumed[from] = true;
        ops.push(op);
        par.push(*p);
        consumed.push(false);
    }
    let producers: Vec<usize> = (0..ops.len()).filter(|&i| !consumed[i]).collect();
    for (s, delivery) in plan.sinks.iter().enumerate() {
        let id = format!("out{s}");
        let delivery = ["exactly_once", "at_least_once", "upsert"][usize::from(*delivery)];
        ops.push(json!({"id": id, "op": "sink", "delivery": delivery, "parallelism": 1}));
        // The first sink takes every unconsumed producer; others take the last operator.
        let inputs = if s == 0 { producers.clone() } else { vec![par.len() - 1] };
        for i in inputs {
            edges.push(json!({"from": ops[i]["id"], "to": id, "partition": "rebalance"}));
        }
    }
    json!({
        "name": "generated",
        "graph": {"operators": ops, "edges": edges},
        "cluster": {"nodes": 2},
        "network": {
            "latency_ms": {"min": plan.latency.0, "max": plan.latency.0 + plan.latency.1},
            "channel_capacity": plan.capacity
        }
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// Property tests draw their cases from a fixed seed, so that a test run is the same on every
/// machine; set `PROPTEST_RNG_SEED` to explore other cases (a failure prints its input).
fn rng_seed() -> proptest::test_runner::RngSeed {
    let seed = std::env::var("PROPTEST_RNG_SEED").ok().and_then(|v| v.parse().ok());
    proptest::test_runner::RngSeed::Fixed(seed.unwrap_or(0x00f7_5131))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_global_rejects: 100_000, rng_seed: rng_seed(), ..ProptestConfig::default() })]

    #[test]
    fn generated_failure_free_jobs_match_the_reference(plan in plan(), seed in 0u64..1000) {
        let text = scenario_of(&plan).to_string();
        // Order-sensitive graphs are rejected by validation; they have no reference.
        let loaded = scenario::load_bytes(text.as_bytes(), "generated.json");
        let s = match loaded {
            Ok(s) => s,
            Err(e) => {
                let msg = e.to_string();
                prop_assume!(!msg.contains("interleav"), "order-sensitive");
                return Err(TestCaseError::fail(format!("generated scenario rejected: {msg}\n{text}")));
            }
        };
        let job = Arc::new(Job::new(s));
        let report = check::run_once(job.clone(), seed, None).expect("runs");
        prop_assert!(report.invariants.iter().all(|i| i.holds), "{:?}\n{}", report, text);
        let again = check::run_once(job, seed, None).expect("runs");
        prop_assert_eq!(report.trace_hash, again.trace_hash);
    }
}

#[test]
fn the_trace_hashes_of_reference_runs_are_pinned() {
    // Any change of behaviour changes these. When a change is intended, update them in the
    // same commit and say why; an unexplained change is a determinism bug.
    let builtin = Arc::new(Job::new(scenario::builtin()));
    assert_eq!(check::run_once(builtin, 1, None).expect("runs").trace_hash, "8f0652d865d677d2");
    let lost = load(std::path::Path::new("scenarios/faults/lost-notify.json"));
    assert_eq!(
        check::run_once(Arc::new(Job::new(lost)), 3, None).expect("runs").trace_hash,
        "182eaaebf422e207"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 2, max_global_rejects: 100_000, rng_seed: rng_seed(), ..ProptestConfig::default() })]

    #[test]
    fn generated_jobs_under_random_faults_keep_every_applicable_invariant(
        plan in plan(),
        seed in 0u64..1000,
        interval in 4u64..25,
        kinds in prop::collection::vec(0usize..5, 1..=3),
    ) {
        let mut v = scenario_of(&plan);
        // Slow sources, so that faults fall while data still flows.
        for op in v["graph"]["operators"].as_array_mut().expect("operators") {
            if op["op"] == "source" {
                op["rate_per_ms"] = json!(1);
            }
        }
        // The timeout is long next to the time the slowest generated job needs to drain its
        // channels (hundreds of records over credit-1 channels, milliseconds a hop): with a
        // shorter one no checkpoint could ever complete, and since a finishing task waits for
        // a final checkpoint, the job would restart forever (as Flink would).
        v["checkpointing"] = json!({"mode": "aligned", "interval_ms": interval, "timeout_ms": 10000, "tolerable_failures": 20});
        v["recovery"] = json!({"restart": {"strategy": "fixed_delay", "attempts": 1000, "delay_ms": 3}});
        let names = ["crash_node", "crash_task", "partition", "storage_fail", "crash_coordinator"];
        let kinds: Vec<&str> = kinds.iter().map(|k| names[*k]).collect();
        v["faults"] = json!([{"kind": "random", "mean_interval_ms": 4, "kinds": kinds, "max_faults": 3, "until_ms": 30}]);
        v["limits"] = json!({"max_sim_ms": 600000});
        let text = v.to_string();
        let s = match scenario::load_bytes(text.as_bytes(), "generated.json") {
            Ok(s) => s,
            Err(e) => {
                let msg = e.to_string();
                prop_assume!(!msg.contains("interleav"), "order-sensitive");
                return Err(TestCaseError::fail(format!("generated scenario rejected: {msg}\n{text}")));
            }
        };
        let report = check::run_once(Arc::new(Job::new(s)), seed, None).expect("runs");
        prop_assert_eq!(report.verdict, Verdict::Pass, "seed {}: {:?}\n{}", seed, report.failures, text);
    }
}
