//! What the tests that run the built binary share: running it, reading its output, and
//! asserting its exit code.

// Each test crate uses its own part of this module.
#![allow(dead_code)]

use std::process::{Command, Output};

/// The variables `check --shard auto` reads; cleared so the tests' own environment cannot
/// choose a shard.
const SHARD_VARS: [&str; 4] = [
    "JOB_COMPLETION_INDEX",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
];

/// Runs `ftsim` with `args` from the crate's root directory.
pub fn ftsim(args: &[&str]) -> Output {
    ftsim_env(args, &[])
}

/// [`ftsim`] with these environment variables set.
pub fn ftsim_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftsim"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for k in SHARD_VARS {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the ftsim binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing the output when it differs, and that nothing panicked.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(o),
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "ftsim panicked:\n{}", stderr(o));
}

/// Parses the stdout of a `--json` command.
#[track_caller]
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(o)))
}
