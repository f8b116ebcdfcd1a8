//! The `ftsim` command: parse arguments, run, map the outcome to an exit code.

fn main() {
    std::process::exit(ftsim::cli::main());
}
