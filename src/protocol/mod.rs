//! Sans-io protocol machines: operators, sinks (and, with checkpointing, the coordinator and
//! barrier handlers). They take inputs (with `now` as an argument where time matters) and
//! return outputs or commands. They never name the world, the event queue, a clock, an RNG
//! or any I/O: the architecture test in tests/architecture.rs checks it.

pub mod operator;
pub mod sink;
