//! Explorer throughput on one core: distinct states and generated states (transitions) per
//! wall-clock second, on the tiny word count and on the tiny checkpointed pipeline.
//!
//! `cargo bench --bench explore` (release mode). Prints one JSON object per configuration,
//! each the best of several runs; docs/performance.md records the figures.
//!
//! "Generated states" are successors computed, whether new or seen before: the figure that
//! TLC ("states generated") and stateright (`state_count`) report their speed in. "Distinct
//! states" are the states that the visited set holds at the end.

use ftsim::explore::{self, Config};
use ftsim::graph::Job;
use std::path::Path;
use std::sync::Arc;

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --benches` run each case once.
    let runs = if std::env::args().any(|a| a == "--bench") { 7 } else { 1 };
    for (file, max_checkpoints) in [
        ("scenarios/explore/tiny-wordcount.json", 0),
        ("scenarios/explore/tiny-checkpoint.json", 1),
    ] {
        let job = job(file);
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
}

fn job(file: &str) -> Arc<Job> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenario = ftsim::scenario::load_file(&root.join(file)).expect("a valid scenario");
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
