//! A violation's proof: the cycles that every write order closes, each edge with its reason, in words.

use super::build::{Graph, Role};
use super::decision::{Cycle, CycleEdge, EdgeReason, Proof};
use super::sat::{Assumption, Learned};
use crate::graph::Edge;
use crate::history::Outcome as OpOutcome;
use crate::model::{Model, Problem};
use crate::op_ref::OpRef;

pub(super) fn prove<M: Model>(g: &Graph<'_, M::Op>, problems: &[Problem<M>], cycles: Vec<Learned>) -> Proof {
    let cycles: Vec<Cycle> = cycles.iter().map(|(c, assumed)| narrate(g, problems, c, assumed)).collect();
    let mut text = String::new();
    if cycles.len() == 1 && cycles[0].assumes.is_empty() {
        text.push_str(
            "No single order of the operations exists: each operation below must precede the next, and the last \
             the first:",
        );
        text.push_str(&words(&cycles[0]));
    } else {
        text.push_str(&format!(
            "No single order of the operations exists: every order of the writes of each key (and every place each \
             failed cas may have stood) closes one of these {} cycles (each operation must precede the next, and \
             the last the first):",
            cycles.len()
        ));
        const SHOWN: usize = 4;
        for (i, c) in cycles.iter().take(SHOWN).enumerate() {
            text.push_str(&format!("\n cycle {} (if {}):", i + 1, c.assumes.join(" and ")));
            text.push_str(&words(c));
        }
        if cycles.len() > SHOWN {
            text.push_str(&format!("\n ... and {} more cycles.", cycles.len() - SHOWN));
        }
    }
    Proof { cycles, explanation: text }
}

fn words(c: &Cycle) -> String {
    let mut text = String::new();
    for e in &c.edges {
        let at = |o: &OpRef| format!("{} ({})", o.describe(), o.lines());
        let why = match e.reason {
            EdgeReason::ProgramOrder => {
                format!("program order: process {} did the one and then the other", e.to.process)
            }
            EdgeReason::ReadFrom => "read-from: the latter read what the former wrote".to_string(),
            EdgeReason::WriteOrder => "write order: the latter overwrote the former".to_string(),
            EdgeReason::OverwrittenBeforeRead => match &e.through {
                Some(w) => format!(
                    "overwritten before read: the former read the value of {}, which the latter overwrote",
                    at(w)
                ),
                None => "overwritten before read: the former read the initial value, which every write overwrites"
                    .to_string(),
            },
            EdgeReason::FailedCas => {
                let expected = e.through.as_ref().map_or("the initial value".to_string(), at);
                if e.from.outcome == OpOutcome::Fail {
                    format!("failed cas: the former did not find the value of {expected}, and came before that write")
                } else {
                    format!(
                        "failed cas: the latter did not find the value of {expected}, and came after the former, a \
                         later write"
                    )
                }
            }
        };
        let why = match &e.seen_by {
            Some((x, y)) => format!("{why} (as process {} saw: {}, then {})", x.process, at(x), at(y)),
            None => why,
        };
        text.push_str(&format!("\n  - {} precedes {}: {why}", at(&e.from), at(&e.to)));
    }
    text
}

/// A cycle of graph edges as operation-to-operation edges with reasons: a read-by node is folded into
/// the edge from a read to the write that overwrote what it read.
fn narrate<M: Model>(g: &Graph<'_, M::Op>, _problems: &[Problem<M>], c: &[Edge], assumed: &[Assumption]) -> Cycle {
    let op = |v: u32| OpRef::new(g.history, g.ops[v as usize].id);
    let describe_write = |v: u32| {
        if g.nodes.is_init(v) {
            "the initial value".to_string()
        } else {
            let o = op(v);
            format!("{} ({})", o.describe(), o.lines())
        }
    };
    // The operations by which a process saw `a`'s value and then `b`'s, when that fixed their order.
    let seen = |a: u32, b: u32| g.forced.get(&(a, b)).filter(|&&(x, y)| x != y).map(|&(x, y)| (op(x), op(y)));
    // Rotate so that the cycle starts at an operation node.
    let start = c.iter().position(|&(a, _, _)| g.nodes.is_op(a)).unwrap_or(0);
    let rotated: Vec<Edge> = c[start..].iter().chain(&c[..start]).copied().collect();
    let mut edges = Vec::new();
    let mut i = 0;
    while i < rotated.len() {
        let (a, b, _) = rotated[i];
        if g.nodes.is_op(b) {
            let (oa, ob) = (&g.ops[a as usize], &g.ops[b as usize]);
            let reads_a = matches!(ob.role, Role::Read(s) | Role::Cas(s) if s == a);
            let outside = |f: u32, w: u32| assumed.contains(&Assumption::Outside(f, w));
            // Before its forbidden value's write, or after a later write.
            let failed_cas = match (oa.role, ob.role) {
                (Role::FailedCas(x), _) if x == b && outside(a, b) => Some(x),
                (_, Role::FailedCas(x)) if x != a && outside(b, a) => Some(x),
                _ => None,
            };
            let reason = if reads_a {
                EdgeReason::ReadFrom
            } else if failed_cas.is_some() {
                EdgeReason::FailedCas
            } else if oa.process == ob.process && a + 1 == b {
                EdgeReason::ProgramOrder
            } else if matches!(oa.role, Role::Cas(_) | Role::Write) && oa.key == ob.key {
                EdgeReason::WriteOrder
            } else {
                // A cas that read a value precedes what overwrote it.
                EdgeReason::OverwrittenBeforeRead
            };
            let (through, earlier) = match (reason, oa.role, failed_cas) {
                (EdgeReason::OverwrittenBeforeRead, Role::Cas(s), _) => ((!g.nodes.is_init(s)).then(|| op(s)), s),
                (EdgeReason::FailedCas, _, Some(x)) => ((!g.nodes.is_init(x)).then(|| op(x)), a),
                _ => (None, a),
            };
            let seen_by = match reason {
                EdgeReason::WriteOrder | EdgeReason::OverwrittenBeforeRead => seen(earlier, b),
                _ => None,
            };
            edges.push(CycleEdge { from: op(a), to: op(b), reason, through, seen_by });
            i += 1;
        } else {
            // a → read-by(w) → b: a read of w, before b overwrote it.
            let (_, b2, _) = rotated[(i + 1) % rotated.len()];
            let w = g.nodes.read_of(b).expect("a read-by node");
            let through = (!g.nodes.is_init(w)).then(|| op(w));
            let seen_by = seen(w, b2);
            edges.push(CycleEdge {
                from: op(a),
                to: op(b2),
                reason: EdgeReason::OverwrittenBeforeRead,
                through,
                seen_by,
            });
            i += 2;
        }
    }
    let assumes = assumed
        .iter()
        .map(|&a| match a {
            Assumption::Order(a, b) => format!("{} is overwritten by {}", describe_write(a), describe_write(b)),
            Assumption::Outside(f, w) if w == g.forbidden(f) => {
                format!("{} came before {}", describe_write(f), describe_write(w))
            }
            Assumption::Outside(f, w) => format!(
                "{} came after {}, written after {}",
                describe_write(f),
                describe_write(w),
                describe_write(g.forbidden(f))
            ),
        })
        .collect();
    Cycle { edges, assumes }
}
