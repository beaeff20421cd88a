//! Causal convergence: causal order and the conflict (arbitration) order together must be acyclic.

use rustc_hash::FxHashMap;

use super::checker::Checker;
use super::graph::{find_cycle, topological, Src};
use super::types::{AnomalyKind, Status, Variant, VariantResult};

/// CCv's conflict edges, reduced to the last write of each process in the read's past and to those not
/// already implied by causal order: `cf[w]` lists the writes `z` that must be arbitrated before `w`, and
/// `witness` the read that forced each.
///
/// The same edges, read per reading process, are causal memory's extra happens-before edges of its first
/// round: `forced[slot]` says whether any read of that slot's process forced one (see [`super::cm::check_cm`]).
pub(super) struct Conflicts {
    pub(super) cf: Vec<Vec<u32>>,
    pub(super) witness: FxHashMap<(u32, u32), u32>,
    pub(super) forced: Vec<bool>,
}

impl Conflicts {
    pub(super) fn new(n: usize, slots: usize) -> Conflicts {
        Conflicts { cf: vec![Vec::new(); n], witness: FxHashMap::default(), forced: vec![false; slots] }
    }

    /// Read `r` of `w` has `z`, a write of the same key, in its causal past.
    pub(super) fn add(&mut self, c: &Checker<'_>, r: u32, w: u32, z: u32) {
        if z != w && !c.co(z, w) {
            self.forced[c.g.nodes[r as usize].slot as usize] = true;
            if !self.cf[w as usize].contains(&z) {
                self.cf[w as usize].push(z);
                self.witness.insert((z, w), r);
            }
        }
    }
}

/// CCv: is `co ∪ cf` acyclic, where `cf` orders `w1` before `w2` (same key) when some read of `w2` has `w1`
/// in its causal past?
pub(super) fn check_ccv(c: &Checker<'_>, conflicts: Conflicts) -> VariantResult {
    let n = c.g.nodes.len();
    let Conflicts { cf, witness, .. } = conflicts;
    let preds = |v: u32, out: &mut Vec<u32>| {
        if let Some(p) = c.g.po_pred[v as usize] {
            out.push(p);
        }
        if let Some(Src::Write(w)) = c.g.nodes[v as usize].read {
            out.push(w);
        }
        out.extend_from_slice(&cf[v as usize]);
    };
    let (order, done) = topological(n, &preds);
    if order.len() == n {
        return VariantResult {
            variant: Variant::CCv,
            status: Status::Holds,
            anomalies: vec![],
            anomaly_count: 0,
            unknown_cause: None,
        };
    }
    let cycle = find_cycle(n, &done, &preds);
    let mut nodes = cycle.clone();
    let mut reasons = String::new();
    for (i, &a) in cycle.iter().enumerate() {
        let b = cycle[(i + 1) % cycle.len()];
        if let Some(&r) = witness.get(&(a, b)) {
            nodes.push(r);
            reasons.push_str(&format!(
                "\n{} must be arbitrated before {}: process {} read {} ({}) after causally seeing {}.",
                c.describe(a),
                c.describe(b),
                c.process(r),
                c.value_read(r),
                c.at(r),
                c.value_written(a)
            ));
        }
    }
    let text = format!(
        "No single arbitration order of conflicting writes exists: following causal order and the order in which \
         reads force writes to be arbitrated leads in a circle:{}{reasons}",
        c.cycle_text(&cycle, &|a, b| if witness.contains_key(&(a, b)) {
            "it must be arbitrated before".to_string()
        } else {
            c.edge_words(a, b)
        })
    );
    let a = c.anomaly(AnomalyKind::CyclicCF, &nodes, text);
    VariantResult {
        variant: Variant::CCv,
        status: Status::Violated,
        anomalies: vec![a],
        anomaly_count: 1,
        unknown_cause: None,
    }
}
