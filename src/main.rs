//! The `ftsim` command: parse arguments, run, map the outcome to an exit code.

/// mimalloc instead of the system allocator: the explorer's worker threads allocate worlds
/// that other threads free, which glibc's per-thread arenas serialise.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(ftsim::cli::main());
}
