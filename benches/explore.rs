//! Explorer benchmarks, one core (`cargo bench --bench explore`, release mode). Prints one JSON
//! object per configuration; docs/performance.md records the figures.
//!
//! 1. Throughput on the tiny word count and the tiny checkpointed pipeline: distinct states and
//!    generated states (transitions) per wall-clock second, best of several runs. "Generated
//!    states" are successors computed, new or seen before: the figure TLC ("states generated")
//!    and stateright (`state_count`) report their speed in.
//! 2. The standard asynchronous-barrier-snapshot configuration (`scenarios/explore/abs.json`)
//!    at the (records, checkpoints, crashes) rows, depth first reduced and unreduced,
//!    and breadth first reduced on one and on two threads (`--jobs 2`):
//!    states, transitions, wall time, whether it completed, and the search's own memory figure
//!    (peak resident memory is measured on the whole command with `/usr/bin/time -v`, see
//!    docs/performance.md). A row that does not complete within its time budget is reported as
//!    incomplete with what it reached.
//!
//! `FTSIM_BENCH_ABS_SECONDS` sets the budget per abs row (default 60); `FTSIM_BENCH_ABS_ROWS`
//! (e.g. `1,1,0;2,1,0`) picks rows.

use ftsim::explore::{self, Config};
use ftsim::graph::Job;
use ftsim::scenario::model::FaultKindName;
use std::path::Path;
use std::sync::Arc;

/// As the `ftsim` binary does (src/main.rs), so that the figures are the command's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` run each case once, and
    // only the smallest abs row.
    let bench = std::env::args().any(|a| a == "--bench");
    let runs = if bench { 7 } else { 1 };
    for (file, max_checkpoints) in [
        ("scenarios/explore/tiny-wordcount.json", 0),
        ("scenarios/explore/tiny-checkpoint.json", 1),
    ] {
        let job = job(file, None);
        // The faults the scenario declares, as `ftsim explore` takes them by default.
        let (fault_kinds, max_faults) = explore::scenario_faults(&job);
        for (bfs, reduce) in [(false, true), (true, true), (false, false)] {
            let config = Config {
                bfs,
                reduce,
                max_checkpoints,
                fault_kinds: fault_kinds.clone(),
                max_faults,
                ..Config::default()
            };
            measure(&job, &config, runs);
        }
    }
    let seconds: u64 = std::env::var("FTSIM_BENCH_ABS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if bench { 60 } else { 10 });
    let rows: Vec<(u64, u64, u32)> = match std::env::var("FTSIM_BENCH_ABS_ROWS") {
        Ok(spec) => spec
            .split(';')
            .map(|r| {
                let v: Vec<u64> =
                    r.split(',').map(|x| x.trim().parse().expect("a number")).collect();
                (v[0], v[1], v[2] as u32)
            })
            .collect(),
        Err(_) if bench => {
            vec![(1, 1, 0), (2, 1, 0), (1, 1, 1), (2, 2, 1), (3, 3, 1), (4, 3, 1)]
        }
        Err(_) => vec![(1, 1, 0)],
    };
    for (records, checkpoints, crashes) in rows {
        let job = job("scenarios/explore/abs.json", Some(records));
        for (bfs, reduce, jobs) in
            [(false, true, 1), (false, false, 1), (true, true, 1), (true, true, 2)]
        {
            let config = Config {
                bfs,
                reduce,
                jobs,
                max_checkpoints: checkpoints,
                fault_kinds: vec![FaultKindName::CrashTask],
                max_faults: crashes,
                max_states: u64::MAX,
                ..Config::default()
            };
            abs_row(&job, &config, records, seconds);
        }
    }
}

fn job(file: &str, records: Option<u64>) -> Arc<Job> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scenario = ftsim::scenario::load_file(&root.join(file)).expect("a valid scenario");
    if let Some(n) = records {
        let cut = explore::limit_records(&scenario.json, n);
        scenario = ftsim::scenario::load_value(&cut, &scenario.origin).expect("still valid");
    }
    Arc::new(Job::new(scenario))
}

#[allow(clippy::disallowed_methods)] // wall-clock timing of the benchmark itself
fn measure(job: &Arc<Job>, config: &Config, runs: usize) {
    let mut best = f64::MAX;
    let mut outcome = None;
    for _ in 0..runs {
        let start = std::time::Instant::now();
        let r = explore::explore(job, config, &mut |_| true).expect("explores");
        best = best.min(start.elapsed().as_secs_f64());
        assert!(r.complete && r.violations.is_empty(), "{}: {r:?}", job.scenario.name);
        outcome = Some(r);
    }
    let r = outcome.expect("at least one run");
    println!(
        "{{\"bench\":\"explore\",\"scenario\":\"{}\",\"search\":\"{}\",\"reduction\":{},\"max_checkpoints\":{},\"states\":{},\"transitions\":{},\"wall_s\":{best:.4},\"states_per_s\":{:.0},\"generated_per_s\":{:.0}}}",
        job.scenario.name,
        if config.bfs { "bfs" } else { "dfs" },
        config.reduce,
        config.max_checkpoints,
        r.states,
        r.transitions,
        r.states as f64 / best,
        r.transitions as f64 / best,
    );
}

/// One row of the standard configuration, once, within a wall-clock budget.
#[allow(clippy::disallowed_methods)] // wall-clock timing of the benchmark itself
fn abs_row(job: &Arc<Job>, config: &Config, records: u64, seconds: u64) {
    let start = std::time::Instant::now();
    let budget = std::time::Duration::from_secs(seconds);
    let r = explore::explore(job, config, &mut |_| start.elapsed() < budget).expect("explores");
    let wall = start.elapsed().as_secs_f64();
    assert!(r.violations.is_empty(), "abs: {:?}", r.violations);
    println!(
        "{{\"bench\":\"explore-abs\",\"records\":{records},\"checkpoints\":{},\"crashes\":{},\"search\":\"{}\",\"jobs\":{},\"reduction\":{},\"complete\":{},\"states\":{},\"transitions\":{},\"wall_s\":{wall:.2},\"states_per_s\":{:.0},\"memory_bytes\":{},\"bytes_per_state\":{:.1}}}",
        config.max_checkpoints,
        config.max_faults,
        if config.bfs { "bfs" } else { "dfs" },
        config.jobs,
        config.reduce,
        r.complete,
        r.states,
        r.transitions,
        r.states as f64 / wall.max(1e-9),
        r.memory_bytes,
        r.memory_bytes as f64 / r.states.max(1) as f64,
    );
}
