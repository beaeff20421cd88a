//! A polynomial check for registers whose writes all write distinct values.
//!
//! When every write writes a value no other write writes, each read names the one write it saw, and
//! linearizability reduces to interval conditions (Gibbons & Korach, "Testing shared memories", 1997; in
//! the form of Golab, Li & Shah, "Analyzing consistency properties for fun and profit", 2011). Group each
//! write with the reads of its value into a *cluster*. Let `f` be the earliest return and `s` the latest
//! call in the cluster. If `f < s`, the cluster's operations must all take effect inside `[f, s]` (a
//! *forward zone*); otherwise its *backward zone* `[s, f]` is the span every operation of it overlaps. The
//! history is linearizable iff every read's value was written by a write invoked before the read returned,
//! no two forward zones overlap, and no backward zone lies inside a forward zone. That is O(n log n) where
//! the general search can be exponential, and it uses the same real-time order: event positions.
//!
//! The initial value is a cluster whose write happened before everything. A write that may not have taken
//! effect (`info`) is left out if no read saw it, and otherwise took effect: it returns at infinity.

use super::search::Outcome;
use crate::model::{Entry, RegisterModel, RegisterOp};

/// Where the zone conditions fail: the operations that show it, as indices into the entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A read of a value that no write wrote.
    NeverWritten { read: u32 },
    /// A read that returned before the only write of its value was invoked.
    ReadBeforeWrite { write: u32, read: u32 },
    /// Two clusters whose zones conflict; each listed by its decisive operations.
    Zones { first: Vec<u32>, second: Vec<u32> },
}

impl Violation {
    /// The operations of the violation: a non-linearizable sub-history.
    pub fn entries(&self) -> Vec<u32> {
        let mut all = match self {
            Violation::NeverWritten { read } => vec![*read],
            Violation::ReadBeforeWrite { write, read } => vec![*write, *read],
            Violation::Zones { first, second } => first.iter().chain(second).copied().collect(),
        };
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// True if the zone check decides this partition: a register with no compare-and-set and no two writes
/// (nor a write and the initial value) sharing a value.
pub fn applies(model: &RegisterModel, entries: &[Entry<RegisterOp>]) -> bool {
    let mut written = vec![false; model.values.len()];
    written[model.initial as usize] = true;
    for e in entries {
        match e.op {
            RegisterOp::Write(v) => {
                if std::mem::replace(&mut written[v as usize], true) {
                    return false;
                }
            }
            RegisterOp::Read(_) => {}
            RegisterOp::Cas(..) | RegisterOp::CasFailed(_) => return false,
        }
    }
    true
}

const INITIAL: i64 = -1;
const NEVER: i64 = i64::MAX;

struct Cluster {
    /// The write (`None` for the initial value).
    write: Option<u32>,
    reads: Vec<u32>,
    /// Earliest return and the operation with it.
    f: (i64, u32),
    /// Latest call and the operation with it.
    s: (i64, u32),
}

impl Cluster {
    fn decisive(&self) -> Vec<u32> {
        let mut ops: Vec<u32> = self.write.into_iter().chain([self.f.1, self.s.1]).filter(|&i| i != u32::MAX).collect();
        ops.sort_unstable();
        ops.dedup();
        ops
    }
}

/// Checks a partition for which [`applies`] holds.
pub fn check(model: &RegisterModel, entries: &[Entry<RegisterOp>]) -> Result<(), Violation> {
    let ret = |e: &Entry<RegisterOp>| e.ret.map_or(NEVER, i64::from);
    let mut cluster_of = vec![u32::MAX; model.values.len()];
    let mut clusters: Vec<Cluster> = Vec::new();
    cluster_of[model.initial as usize] = 0;
    clusters.push(Cluster { write: None, reads: Vec::new(), f: (INITIAL, u32::MAX), s: (INITIAL, u32::MAX) });
    for (i, e) in entries.iter().enumerate() {
        if let RegisterOp::Write(v) = e.op {
            cluster_of[v as usize] = clusters.len() as u32;
            clusters.push(Cluster {
                write: Some(i as u32),
                reads: Vec::new(),
                f: (ret(e), i as u32),
                s: (e.call.into(), i as u32),
            });
        }
    }
    for (i, e) in entries.iter().enumerate() {
        let RegisterOp::Read(v) = e.op else { continue };
        let c = cluster_of[v as usize];
        if c == u32::MAX {
            return Err(Violation::NeverWritten { read: i as u32 });
        }
        let cluster = &mut clusters[c as usize];
        if let Some(w) = cluster.write {
            if ret(e) < i64::from(entries[w as usize].call) {
                return Err(Violation::ReadBeforeWrite { write: w, read: i as u32 });
            }
        }
        cluster.reads.push(i as u32);
        if ret(e) < cluster.f.0 {
            cluster.f = (ret(e), i as u32);
        }
        if i64::from(e.call) > cluster.s.0 {
            cluster.s = (e.call.into(), i as u32);
        }
    }
    // A write that may not have happened, and that nobody read, constrains nothing.
    clusters.retain(|c| c.write.is_none_or(|w| entries[w as usize].ret.is_some() || !c.reads.is_empty()));

    let mut forward: Vec<&Cluster> = clusters.iter().filter(|c| c.f.0 < c.s.0).collect();
    forward.sort_unstable_by_key(|c| c.f.0);
    let mut widest: Option<&Cluster> = None;
    for &c in &forward {
        if let Some(w) = widest {
            if c.f.0 < w.s.0 {
                return Err(Violation::Zones { first: w.decisive(), second: c.decisive() });
            }
        }
        if widest.is_none_or(|w| c.s.0 > w.s.0) {
            widest = Some(c);
        }
    }
    for c in clusters.iter().filter(|c| c.f.0 >= c.s.0) {
        let (a, b) = (c.s.0, c.f.0);
        let at = forward.partition_point(|z| z.f.0 < a);
        if at > 0 {
            let z = forward[at - 1];
            if b < z.s.0 {
                return Err(Violation::Zones { first: z.decisive(), second: c.decisive() });
            }
        }
    }
    Ok(())
}

/// The zone check's verdict in the search's terms.
pub fn outcome(model: &RegisterModel, entries: &[Entry<RegisterOp>]) -> (Outcome, Option<Violation>) {
    match check(model, entries) {
        Ok(()) => (Outcome::Linearizable(Vec::new()), None),
        Err(v) => (Outcome::NotLinearizable, Some(v)),
    }
}
