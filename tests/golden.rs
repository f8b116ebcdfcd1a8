//! Golden timelines: the protocol timeline of small scenarios, as `ftsim render --format
//! text` draws it, compared with files under tests/golden/. A change of behaviour shows up
//! here as a readable diff. After an intended change, rewrite them with
//! `UPDATE_GOLDEN=1 cargo test --test golden` and review the diff before committing.

use ftsim::graph::Job;
use ftsim::render::{self, Format, Trace};
use ftsim::scenario;
use std::path::Path;
use std::sync::Arc;

const CASES: [(&str, u64, &str); 4] = [
    ("scenarios/explore/tiny-checkpoint.json", 1, "tiny-checkpoint-seed1.txt"),
    ("scenarios/faults/lost-notify.json", 1, "lost-notify-seed1.txt"),
    ("scenarios/faults/coordinator-crash.json", 2, "coordinator-crash-seed2.txt"),
    ("scenarios/mutations/skip_alignment/scenario.json", 1, "skip-alignment-seed1.txt"),
];

fn timeline(path: &str, seed: u64) -> String {
    let s = scenario::load_file(Path::new(path)).unwrap_or_else(|e| panic!("{e}"));
    let mut buf = Vec::new();
    ftsim::sim::run(Arc::new(Job::new(s)), seed, Some(&mut buf));
    let text = String::from_utf8(buf).expect("traces are UTF-8");
    let trace = Trace::parse(&text, &format!("{path} seed {seed}")).expect("the trace parses");
    render::render(&trace, Format::Text, false)
}

#[test]
fn protocol_timelines_match_their_golden_files() {
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, seed, golden) in CASES {
        let got = timeline(path, seed);
        let file = Path::new("tests/golden").join(golden);
        if update {
            std::fs::write(&file, &got).expect("tests/golden is writable");
            continue;
        }
        let want = std::fs::read_to_string(&file).unwrap_or_default();
        if got != want {
            let line = got.lines().zip(want.lines()).position(|(a, b)| a != b).unwrap_or(0);
            stale.push(format!(
                "{} differs from {path} seed {seed} at line {}:\n  want: {}\n  got:  {}",
                file.display(),
                line + 1,
                want.lines().nth(line).unwrap_or("<end>"),
                got.lines().nth(line).unwrap_or("<end>")
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\n(rewrite with UPDATE_GOLDEN=1 after an intended change)",
        stale.join("\n")
    );
}
