//! The one seam every fault goes through: [`FaultTarget`], which the local lab ([`crate::lab::Lab`]), the
//! remote lab ([`crate::remote::RemoteLab`]) and the command backend ([`crate::command::CommandBackend`])
//! implement, each with its own table of the faults it can take. The schedule drives any of them alike;
//! a new way of reaching nodes (containers, say) is one more implementation, not another dispatch.

use futures_util::future::LocalBoxFuture;
use serde_json::Value;

use crate::fault::{Fault, FaultKind};
use crate::node::NodeAddress;

/// What faults are applied to.
pub trait FaultTarget {
    /// The nodes' names, as faults and the history name them.
    fn node_names(&self) -> Vec<String>;

    /// Why this target cannot take `kind` of fault, if it cannot: the target's own table.
    fn refuses(&self, kind: FaultKind) -> Option<String>;

    /// Puts `fault` in force; the finding of its probe (what was checked once it was applied). A finding
    /// may say what applying alone cost ([`APPLIED_MS`], [`ROUND_TRIPS`]).
    fn start_fault<'a>(&'a mut self, fault: &'a Fault) -> LocalBoxFuture<'a, Result<Value, String>>;

    /// Undoes `fault`; the finding, as [`FaultTarget::start_fault`]'s.
    fn stop_fault<'a>(&'a mut self, fault: &'a Fault) -> LocalBoxFuture<'a, Result<Value, String>>;

    /// Heals everything once the faults are over (network, clocks, paused and dead nodes), or `None` for
    /// a target with no heal of its own: the command backend's stop commands are all it knows.
    fn heal_all(&mut self) -> Option<LocalBoxFuture<'_, Result<Value, String>>>;
}

/// A fault target that runs the cluster's nodes itself (the local and the remote lab), and so knows
/// where each listens.
pub trait NodeLab: FaultTarget {
    fn nodes(&self) -> &[NodeAddress];
}

/// In a finding: how long applying took, its probe excluded, in ms. The schedule makes it the step's
/// `applied_ms` (and the whole step's time `step_ms`).
pub const APPLIED_MS: &str = "applied_ms";
/// In a finding: the commands each host ran for the step, by host. The schedule makes it the step's.
pub const ROUND_TRIPS: &str = "round_trips";
