//! Sans-io protocol machines: operators, sinks, barrier handlers, the checkpoint
//! coordinator and restart strategies. They take inputs (with `now` as an argument where time
//! matters) and return outputs or commands. They never name the world, the event queue, a
//! clock, an RNG or any I/O: the architecture test in tests/architecture.rs checks it.

pub mod barrier;
pub mod checkpointer;
pub mod coordinator;
pub mod operator;
pub mod reasons;
pub mod restart;
pub mod sink;
