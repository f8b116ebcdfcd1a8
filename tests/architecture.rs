//! Architecture invariants (docs/ARCHITECTURE.md), checked on the source text.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The code of a file without comments (line comments and doc comments), and without its
/// `#[cfg(test)]` module, which may use anything.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable file");
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_never_names(dir: &str, forbidden: &[&str], why: &str) {
    let files = rust_files_in(dir);
    assert!(!files.is_empty(), "{dir} has Rust files");
    for file in files {
        let code = code_of(&file);
        for word in forbidden {
            assert!(!code.contains(word), "{} names `{word}`: {why}", file.display());
        }
    }
}

#[test]
fn protocol_code_names_no_simulator_clock_rng_or_io() {
    assert_never_names(
        "src/protocol",
        &[
            "crate::world",
            "crate::sim",
            "crate::rng",
            "crate::check",
            "crate::trace",
            "rand",
            "std::time",
            "Instant",
            "SystemTime",
            "std::io",
            "std::fs",
            "std::net",
            "std::thread",
            "std::env",
            "println!",
            "eprintln!",
            "Env",
        ],
        "protocol machines are sans-io: inputs (with `now`) in, commands out",
    );
}

#[test]
fn the_reference_evaluator_shares_no_execution_code_with_the_simulator() {
    assert_never_names(
        "src/check/reference.rs",
        &["crate::protocol", "crate::world", "crate::sim", "crate::graph", "operator::"],
        "the reference must be an independent interpretation of the job",
    );
}

#[test]
fn no_source_file_uses_hash_maps_wall_clocks_or_unseeded_randomness() {
    for file in rust_files(Path::new("src")) {
        let code = code_of(&file);
        for word in ["HashMap", "HashSet", "thread_rng", "StdRng", "SmallRng", "rand::random"] {
            assert!(!code.contains(word), "{} uses `{word}`", file.display());
        }
        // The command line measures wall time for seeds/s and states/s, outside any run.
        let wall_clock_ok = file.starts_with("src/cli");
        if !wall_clock_ok {
            for word in ["Instant::now", "SystemTime::now"] {
                assert!(!code.contains(word), "{} reads the wall clock", file.display());
            }
        }
    }
}

fn rust_files_in(path: &str) -> Vec<PathBuf> {
    let p = Path::new(path);
    if p.is_dir() {
        rust_files(p)
    } else {
        vec![p.to_path_buf()]
    }
}

#[test]
fn source_files_stay_reviewable() {
    // Unit tests at the bottom of a file do not count: only the code above them.
    for file in rust_files_in("src") {
        let lines = code_of(&file).lines().count();
        assert!(lines <= 700, "{} has {lines} lines of code; split it by concept", file.display());
    }
}
