//! # ftsim
//!
//! A deterministic fault-tolerance simulator for Flink-style dataflow jobs.
//!
//! The pipeline, module by module:
//!
//! * [`scenario`] reads a scenario file, validates it and reports bad input precisely;
//! * [`graph`] expands it into a [`graph::Job`]: tasks, FIFO channels, placement, key groups,
//!   and decides how each sink's output is compared with the reference;
//! * [`protocol`] holds the sans-io machines: operators and sinks;
//! * [`world`] is the whole simulated system as one value, with its events;
//! * [`sim`] is the timed seeded driver that runs a world to its end, and resolves fault
//!   schedules;
//! * [`explore`] is the exhaustive explorer over the same world (model checking);
//! * [`check`] holds the independent reference evaluator, the invariants, the reports, seed
//!   sweeps, counterexample files and the shrinker;
//! * [`trace`] holds trace events, their JSON form and the trace hash;
//! * [`render`] draws a trace file for people: a timeline in words, a space-time diagram (SVG,
//!   HTML) or a Mermaid sequence diagram;
//! * [`cli`] is the command line.
//!
//! ```
//! use std::sync::Arc;
//! let scenario = ftsim::scenario::builtin();
//! let job = Arc::new(ftsim::graph::Job::new(scenario));
//! let report = ftsim::check::run_once(job, 7, None).expect("the built-in scenario runs");
//! assert_eq!(report.verdict, ftsim::check::Verdict::Pass);
//! assert_eq!(report.trace_hash.len(), 16);
//! ```

/// `Clone` for a struct, field by field, with a `clone_from` that clones each field in
/// place: a `Vec` or `VecDeque` keeps its allocation. The explorer computes every successor in
/// a recycled world, so this is what makes a transition allocation-free. Fields listed after
/// `if_changed:` (maps, whose own `clone_from` drops and rebuilds) are compared first and
/// cloned only if they differ: one transition changes little of a world. Both methods name
/// every field: a field added to the struct and not here is a compile error.
macro_rules! clone_fields {
    ($ty:ident { $($f:ident),* $(,)? $(; if_changed: $($g:ident),* $(,)?)? }) => {
        impl Clone for $ty {
            fn clone(&self) -> Self {
                $ty { $($f: self.$f.clone(),)* $($($g: self.$g.clone(),)*)? }
            }

            fn clone_from(&mut self, src: &Self) {
                let $ty { $($f,)* $($($g,)*)? } = self;
                $( $f.clone_from(&src.$f); )*
                $($(
                    if *$g != src.$g {
                        $g.clone_from(&src.$g);
                    }
                )*)?
            }
        }
    };
}

pub mod check;
pub mod cli;
pub mod explore;
pub mod files;
pub mod graph;
pub mod ids;
pub mod protocol;
pub mod record;
pub mod render;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod trace;
pub mod world;
