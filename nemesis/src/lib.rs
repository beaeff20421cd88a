//! faultline's nemesis: the faults a run injects, and the machinery that applies and heals them.
//!
//! - [`fault`]: what a fault is (partition shapes and grudges, loss, delay, kill, pause, clock skew, crash)
//!   and which nodes it is aimed at.
//! - [`primary`]: who leads, asked of the cluster right before a fault aimed at the primary.
//! - [`lab`]: clusters faultline starts itself: their processes and network, every fault applied to them.
//!   [`netns`] is the namespaced network (root), [`proxy`] the userspace one (anyone), [`clock`] libfaketime.
//! - [`lazyfs`]: power loss: a FUSE filesystem over a node's data directory that keeps writes in memory
//!   until they are synced, so the `crash` fault can drop them.
//! - [`remote`]: the lab on remote hosts, over SSH ([`ssh`]): one node per host.
//! - [`command`]: clusters faultline does not start: faults as shell commands from a file.
//! - [`schedule`]: when faults start and stop, recorded in the history.
//!
//! The nemesis knows nothing of the workload: it reports what it did through a callback that the run
//! turns into `process: "nemesis"` events of the same history.

pub mod clock;
pub mod command;
pub mod fault;
pub mod lab;
pub mod lazyfs;
pub mod netns;
pub mod primary;
pub mod proxy;
pub mod remote;
pub mod schedule;
pub mod ssh;

pub use fault::{Fault, FaultKind, PartitionShape, TargetChoice, Targets};
pub use lab::{Lab, Network, NodeAddress, NodeSpec, Readiness};
