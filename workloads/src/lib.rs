//! faultline's workloads: the [`workload`] a run drives (one value naming its operations, generator and
//! model; a new workload plugs in there), target adapters that turn register operations into HTTP requests
//! and answers into history outcomes, the register workload's generator, the recorder that streams the
//! history to disk, and the runner that drives concurrent clients. Workloads know targets and load, not faults.

pub mod adapter;
pub mod generator;
pub mod outcome;
pub mod recorder;
pub mod runner;
pub mod tls;
pub mod transport;
pub mod workload;
