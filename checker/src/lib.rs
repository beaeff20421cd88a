//! faultline's checker: history types and formats, models, and the consistency checkers.
//!
//! A pure library: it reads the history it is handed and returns verdicts. No async runtime, no network,
//! nothing of faultline's other crates but its random numbers (`faultline-rng`); everything it concludes can be reproduced from the file.

pub mod availability;
pub mod budget;
pub mod causal;
pub mod error;
pub mod eventual;
pub mod format;
pub mod graph;
pub mod history;
pub mod judge;
pub mod ladder;
pub mod linear;
pub mod model;
pub mod nemesis_action;
pub mod op_ref;
pub mod sequential;
pub mod session;
pub mod synth;
pub mod txn;
pub mod value;
pub mod verdict;
pub mod worlds;

pub use error::Error;
pub use history::{Event, EventKind, History, Operation, Outcome, Process};
pub use value::Value;
pub use verdict::Verdict;
