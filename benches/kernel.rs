//! Kernel throughput: simulated events per wall-clock second on a one-million-record word
//! count (parallelism 4, no trace), and the process's peak memory.
//!
//! Then `ftsim run` as a user waits for it (reference, simulation, every check) beside the bare
//! simulation, at checkpoint intervals of 4,000, 1,000 and 250 ms.
//!
//! `cargo bench --bench kernel` (release mode). Prints one JSON object per configuration;
//! docs/performance.md records the figures. Set `FTSIM_BENCH_RECORDS` to change the size.

use ftsim::graph::Job;
use ftsim::sim;
use std::sync::Arc;

fn wordcount(records_per_partition: u64, checkpoint_interval_ms: Option<u64>) -> String {
    let checkpointing = match checkpoint_interval_ms {
        Some(ms) => format!(r#","checkpointing": {{"mode": "aligned", "interval_ms": {ms}}}"#),
        None => String::new(),
    };
    format!(
        r#"{{
  "name": "bench-wordcount",
  "graph": {{
    "operators": [
      {{"id": "words", "op": "source", "parallelism": 4,
       "generate": {{"records": {records_per_partition}, "keys": 1000, "distribution": "zipf", "ts_step_ms": 1}},
       "rate_per_ms": 50}},
      {{"id": "count", "op": "reduce", "agg": "count", "emit": "every", "parallelism": 4, "cost_us": 2}},
      {{"id": "out", "op": "sink", "delivery": "exactly_once", "parallelism": 4}}
    ],
    "edges": [
      {{"from": "words", "to": "count", "partition": "hash"}},
      {{"from": "count", "to": "out", "partition": "forward"}}
    ]
  }},
  "cluster": {{"nodes": 4}},
  "network": {{"latency_ms": {{"min": 1, "max": 5}}, "channel_capacity": 64}},
  "limits": {{"max_events": 100000000, "max_sim_ms": 100000000}}{checkpointing}
}}"#
    )
}

/// Peak resident memory of this process in MiB (Linux), from /proc/self/status.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the process's peak resident memory (Linux: writing 5 to clear_refs), so that each
/// row reports its own peak.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing special. Run a
    // small size under test so that the bench target is exercised without taking long.
    let is_bench = std::env::args().any(|a| a == "--bench");
    let total: u64 = std::env::var("FTSIM_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if is_bench { 1_000_000 } else { 20_000 });
    let per_partition = total / 4;
    let runs = if is_bench { 3 } else { 1 };
    // `FTSIM_BENCH_ONLY=kernel` runs the bare kernel rows alone (for a profiler).
    let only_kernel = std::env::var("FTSIM_BENCH_ONLY").is_ok_and(|v| v == "kernel");
    for checkpoint_ms in [None, Some(100)] {
        measure(per_partition, checkpoint_ms, runs);
    }
    if only_kernel {
        return;
    }
    // What a user waits for: `ftsim run` (reference, simulation and every check) beside the
    // bare simulation of the same run.
    for checkpoint_ms in [None, Some(4000), Some(1000), Some(250)] {
        measure_run(per_partition, checkpoint_ms, runs);
    }
}

#[allow(clippy::disallowed_methods)] // wall-clock timing of the benchmark itself
fn measure_run(per_partition: u64, checkpoint_ms: Option<u64>, runs: usize) {
    let text = wordcount(per_partition, checkpoint_ms);
    let scenario = ftsim::scenario::load_bytes(text.as_bytes(), "bench").expect("valid");
    let job = Arc::new(Job::new(scenario));
    let (mut kernel, mut whole) = (f64::MAX, f64::MAX);
    let mut events = 0;
    let mut completed = 0;
    reset_peak();
    for _ in 0..runs {
        let start = std::time::Instant::now();
        let r = sim::run(job.clone(), 1, None);
        kernel = kernel.min(start.elapsed().as_secs_f64());
        (events, completed) = (r.events, r.world.counters.checkpoints_completed);
    }
    let kernel_rss = peak_rss_mib().unwrap_or(f64::NAN);
    reset_peak();
    for _ in 0..runs {
        let start = std::time::Instant::now();
        let report = ftsim::check::run_once(job.clone(), 1, None).expect("runs");
        whole = whole.min(start.elapsed().as_secs_f64());
        assert_eq!(report.verdict, ftsim::check::Verdict::Pass, "{:?}", report.failures);
    }
    let mode = match checkpoint_ms {
        Some(ms) => format!("aligned every {ms} ms"),
        None => "disabled".to_string(),
    };
    println!(
        "{{\"bench\":\"run-wordcount\",\"records\":{},\"checkpointing\":\"{mode}\",\"checkpoints_completed\":{completed},\"events\":{events},\"kernel_s\":{kernel:.3},\"kernel_events_per_s\":{:.0},\"kernel_peak_rss_mib\":{kernel_rss:.1},\"run_with_checks_s\":{whole:.3},\"ratio\":{:.2},\"run_peak_rss_mib\":{:.1}}}",
        per_partition * 4,
        events as f64 / kernel,
        whole / kernel,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}

#[allow(clippy::disallowed_methods)] // wall-clock timing of the benchmark itself
fn measure(per_partition: u64, checkpoint_ms: Option<u64>, runs: usize) {
    let text = wordcount(per_partition, checkpoint_ms);
    let scenario = ftsim::scenario::load_bytes(text.as_bytes(), "bench").expect("valid");
    let job = Arc::new(Job::new(scenario));
    let mut best = f64::MAX;
    let mut result = None;
    for _ in 0..runs {
        drop(result.take()); // one world alive at a time: the peak is one run's
        let start = std::time::Instant::now();
        let r = sim::run(job.clone(), 1, None);
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(r.ending, sim::Ending::Finished);
        best = best.min(secs);
        result = Some(r);
    }
    let r = result.expect("at least one run");
    let mode = match checkpoint_ms {
        Some(ms) => format!("aligned every {ms} ms"),
        None => "disabled".to_string(),
    };
    println!(
        "{{\"bench\":\"kernel-wordcount\",\"records\":{},\"parallelism\":4,\"checkpointing\":\"{mode}\",\"checkpoints_completed\":{},\"events\":{},\"sim_time_ms\":{},\"wall_s\":{best:.3},\"events_per_s\":{:.0},\"peak_rss_mib\":{:.1}}}",
        per_partition * 4,
        r.world.counters.checkpoints_completed,
        r.events,
        r.now.as_ms(),
        r.events as f64 / best,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
