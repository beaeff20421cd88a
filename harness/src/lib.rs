//! One `faultline test` run, start to finish, in three steps a reader can follow top to bottom:
//!
//! 1. [`TestPlan`]: what the user asked for (the binary only turns flags into one);
//! 2. [`prepare`] → [`Prepared`]: every check, refusal and default, before anything exists ([`plan`]);
//! 3. [`run`]: carries the prepared plan out (the run folder, the cluster, the workload and the nemesis,
//!    the check, the files a run leaves) and decides nothing more ([`mod@run`], with [`start`] for the
//!    cluster, [`progress`] for what the run shows and records of the nemesis, [`config`] for its
//!    `config.json`).
//!
//! `faultline check` shares the check with it ([`check`]); cluster specs live in [`spec`].

pub mod check;
pub mod config;
pub mod plan;
pub mod progress;
pub mod reach;
pub mod run;
pub mod spec;
pub mod start;

pub use plan::{prepare, Prepared, TestPlan};
pub use run::{run, RunError, TestOutcome};
pub use start::clean_remote;
