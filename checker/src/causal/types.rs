//! The causal checker's options and results: the variants, their statuses and anomalies.

use std::time::Duration;

use serde::Serialize;

use crate::model::ModelOptions;
use crate::op_ref::OpRef;
use crate::value::Value;

#[derive(Clone, Debug)]
pub struct Options {
    pub model: ModelOptions,
    /// Wall-clock limit for the CM fixpoint (the only part that is not near-linear); past it, CM is
    /// `unknown`.
    pub time_limit: Option<Duration>,
    /// Bytes the causal vector clocks may take; past it, every variant is `unknown`.
    pub memory_limit: usize,
    /// Anomalies reported per variant in full (the rest are only counted).
    pub max_anomalies: usize,
    /// Whether causal memory may run its fixpoint (the costly part, for the processes no shortcut
    /// settles). Without it such a CM is `unknown` with [`CM_DEFERRED`] as its cause: the ladder first
    /// asks only what is cheap, since sequential consistency, when it holds, implies CM.
    pub cm_fixpoint: bool,
    /// Another candidate view for causal memory, tried on the processes the shared order of
    /// [`super::cm::view_order`] does not serve before any is left to the fixpoint: history operation ids, in an
    /// order that should extend causal order (the ladder's: a sequential witness of the history less the
    /// processes of the cycles that refuted sequential consistency). Ids it leaves out go after the
    /// rest. Like the shared order, it can only spare the fixpoint work, never decide a verdict.
    pub view_hint: Option<Vec<u32>>,
}

impl Options {
    pub fn new(model: ModelOptions) -> Options {
        Options {
            model,
            time_limit: None,
            memory_limit: 1 << 30,
            max_anomalies: 20,
            cm_fixpoint: true,
            view_hint: None,
        }
    }
}

/// The cause of a causal memory left `unknown` because its fixpoint was not asked for.
pub const CM_DEFERRED: &str = "deferred: causal memory's fixpoint was not run";

/// The causal variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Variant {
    CC,
    CM,
    CCv,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::CC => "causal consistency (CC)",
            Variant::CM => "causal memory (CM)",
            Variant::CCv => "causal convergence (CCv)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Holds,
    Violated,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AnomalyKind {
    /// CC: causal order has a cycle.
    CyclicCO,
    /// CC: a read returns a value no write wrote to its key.
    ThinAirRead,
    /// CC: a read returns the initial value although a write of its key is in its causal past.
    WriteCOInitRead,
    /// CC: a read returns `w1`'s value although a write `w2` of the key is causally between `w1` and it.
    WriteCORead,
    /// CM: a read returns the initial value although a write of its key happens-before it in its process's
    /// view.
    WriteHBInitRead,
    /// CM: some process's happens-before is cyclic.
    CyclicHB,
    /// CCv: causal order and the conflict (arbitration) order together are cyclic.
    CyclicCF,
}

#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The operations of the pattern, in the order the explanation names them.
    pub ops: Vec<OpRef>,
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct VariantResult {
    pub variant: Variant,
    pub status: Status,
    /// Anomalies found (CC's, if any, else the variant's own); at most `max_anomalies` in full.
    pub anomalies: Vec<Anomaly>,
    pub anomaly_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_cause: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub cc: VariantResult,
    pub cm: VariantResult,
    pub ccv: VariantResult,
    /// Operations the check used (ok reads and writes, observed indeterminate writes).
    pub operations: usize,
    pub processes: usize,
    /// Processes whose causal memory no shared view served, left to the fixpoint (whether it ran or not).
    pub fixpoint_processes: usize,
    pub elapsed_ms: f64,
}

impl Analysis {
    pub fn variant(&self, v: Variant) -> &VariantResult {
        match v {
            Variant::CC => &self.cc,
            Variant::CM => &self.cm,
            Variant::CCv => &self.ccv,
        }
    }
}
