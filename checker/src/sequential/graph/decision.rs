//! What the graph method concludes: a witness, a proof with its cycles edge by edge, or why it could not
//! decide. The cycles are part of the checker's results (serialized), so these types stand apart from the
//! graph they are found in.

use crate::op_ref::OpRef;

/// What the graph method concluded.
pub(crate) enum Decision {
    /// The witness: history operation ids in one order that the model accepted, process orders kept.
    Holds(Vec<u32>),
    Violated(Proof),
    /// The method does not apply, or could not finish: why, in words.
    Undecided(String),
}

/// Why no order exists.
pub(crate) struct Proof {
    /// Cycles each write order closes: one alone when the cycle needs no guessed order at all.
    pub cycles: Vec<Cycle>,
    /// In words, for the report.
    pub explanation: String,
}

/// A cycle of "must precede" edges, edge by edge.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Cycle {
    pub edges: Vec<CycleEdge>,
    /// The write orders the cycle assumes (empty when it holds whatever the write order).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assumes: Vec<String>,
}

/// One edge of a cycle: `from` must precede `to`, for `reason`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CycleEdge {
    pub from: OpRef,
    pub to: OpRef,
    pub reason: EdgeReason,
    /// For an anti-dependency: the write whose value `from` read and `to` overwrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<OpRef>,
    /// When the write order this edge rests on is one a process saw for itself: the operation by which it
    /// saw (wrote or read) the earlier value, and the later one by which it saw the later value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_by: Option<(OpRef, OpRef)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeReason {
    ProgramOrder,
    ReadFrom,
    WriteOrder,
    /// The read saw a value that the later write overwrote (or the initial value, which every write
    /// overwrites).
    OverwrittenBeforeRead,
    /// A failed cas and a write of its key: the cas did not find the value it expected (`through`; none
    /// for the initial value), so it came before the write of that value (the cas first), or after a
    /// later write of the key (the write first). Where it stood is one of the cycle's assumptions.
    FailedCas,
}
