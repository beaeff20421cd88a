//! faultline's nemesis: the faults a run injects, and the machinery that applies and heals them.
//!
//! - [`fault`]: what a fault is (partition shapes and grudges, loss, delay, kill, pause, clock skew, crash)
//!   and which nodes it is aimed at.
//! - [`primary`]: who leads, asked of the cluster right before a fault aimed at the primary.
//! - [`target`]: the one seam every fault goes through: [`FaultTarget`], which the local lab, the remote lab
//!   and the command backend implement, each with its own table of the faults it can take.
//! - [`lab`]: clusters faultline starts itself: their processes and network, every fault applied to them.
//!   [`netns`] is the namespaced network (root), [`proxy`] the userspace one (anyone), [`clock`] libfaketime.
//!   The words every lab shares have modules of their own: [`node`] (addresses, specs, readiness),
//!   [`net`] (networks and the network faults in force), [`probe`] (ports, processes, logs), and
//!   [`clean`] removes what a killed run left.
//! - [`lazyfs`]: power loss: a FUSE filesystem over a node's data directory that keeps writes in memory
//!   until they are synced, so the `crash` fault can drop them.
//! - [`remote`]: the lab on remote hosts, over SSH ([`ssh`]): one node per host.
//! - [`command`]: clusters faultline does not start: faults as shell commands from a file.
//! - [`schedule`]: when faults start and stop, recorded in the history.
//!
//! The nemesis knows nothing of the workload: it reports what it did through a callback that the run
//! turns into `process: "nemesis"` events of the same history.

pub mod clean;
pub mod clock;
pub mod command;
pub mod fault;
pub mod lab;
pub mod lazyfs;
pub mod net;
pub mod netns;
pub mod node;
pub mod primary;
pub mod probe;
pub mod proxy;
pub mod remote;
pub mod schedule;
pub mod ssh;
pub mod target;

pub use fault::{Fault, FaultKind, PartitionShape, TargetChoice, Targets};
pub use lab::Lab;
pub use net::Network;
pub use node::{NodeAddress, NodeSpec, Readiness};
pub use target::{FaultTarget, NodeLab};
