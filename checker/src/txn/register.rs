//! Read-write register inference (Elle's). A register's reads reveal little of its version order, so the
//! order is assembled from what is certain: null (the initial state) comes before every write; a transaction
//! that read `a` and then wrote `b` puts `a` before `b`; and, when asked, each process's successive
//! transactions (`--sequential-keys`) or real time (`--linearizable-keys`) order the versions they touch.
//! From every pair `a < b` of that order: ww between their writers, rw from each reader of `a` to `b`'s
//! writer; and wr from each version's writer to its readers. A cyclic order is `cyclic-versions`.

use rustc_hash::FxHashMap;

use super::anomaly::{Cases, Name};
use super::graph::{realtime_edges, Edge, Kind, Why};
use super::history::{MopKind, Txns, NIL, NONE};
use crate::history::Outcome;

#[derive(Clone, Copy, Debug, Default)]
pub struct Assume {
    pub sequential_keys: bool,
    pub linearizable_keys: bool,
}

/// One fact of a key's version order: `a` before `b` (`a` may be NIL).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Before {
    key: u32,
    a: u32,
    b: u32,
    why: u8,
    witness: u32,
}

const WHYS: [Why; 4] = [Why::Initial, Why::WriteFollowsRead, Why::Sequential, Why::Linearizable];

/// A transaction's external read of a key (before it wrote it) and its final write of it.
fn touches(txns: &Txns, t: u32) -> impl Iterator<Item = (u32, Option<u32>, Option<u32>)> + '_ {
    let mops = txns.mops(t);
    mops.iter().enumerate().filter(move |(i, m)| !mops[..*i].iter().any(|p| p.key == m.key)).map(move |(i, m)| {
        let rest = &mops[i..];
        let read = rest
            .iter()
            .take_while(|p| !(p.key == m.key && p.kind == MopKind::Write))
            .find(|p| p.key == m.key && p.known())
            .map(|p| p.value);
        let write = rest.iter().rev().find(|p| p.key == m.key && p.kind == MopKind::Write).map(|p| p.value);
        (m.key, read, write)
    })
}

pub fn infer(txns: &Txns, assume: Assume, events: usize, edges: &mut Vec<Edge>, cases: &mut Cases) {
    let n = txns.txns.len() as u32;
    let ok = |t: u32| txns.txns[t as usize].outcome == Outcome::Ok;
    let mut facts: Vec<Before> = Vec::new();
    // Null first: before every version a transaction that did not fail wrote.
    for (v, &(key, _)) in txns.versions.iter().enumerate() {
        let w = txns.writer[v];
        if w != NONE && txns.happened(w) {
            facts.push(Before { key, a: NIL, b: v as u32, why: 0, witness: NONE });
        }
    }
    // Readers of each version (NIL of key k at versions.len() + k), external reads of ok transactions only.
    let slots = txns.versions.len() + txns.keys.len();
    let slot = |key: u32, v: u32| if v == NIL { txns.versions.len() + key as usize } else { v as usize };
    let mut readers: Vec<Vec<(u32, bool)>> = vec![Vec::new(); slots];
    let mut last_seen: FxHashMap<(u64, u32), u32> = Default::default();
    let mut per_key_txns: Vec<Vec<(u32, u32)>> = vec![Vec::new(); txns.keys.len()];
    for t in 0..n {
        if !ok(t) {
            continue;
        }
        internal(txns, t, cases);
        for (key, read, write) in touches(txns, t) {
            if let Some(a) = read {
                readers[slot(key, a)].push((t, write.is_some()));
                if let Some(b) = write.filter(|&b| b != a) {
                    facts.push(Before { key, a, b, why: 1, witness: t });
                }
            }
            let Some(touched) = write.or(read) else { continue };
            if assume.sequential_keys {
                if let Some(prev) = last_seen.insert((txns.txns[t as usize].process, key), touched) {
                    if prev != touched {
                        facts.push(Before { key, a: prev, b: touched, why: 2, witness: t });
                    }
                }
            }
            if assume.linearizable_keys {
                per_key_txns[key as usize].push((t, touched));
            }
        }
    }
    if assume.linearizable_keys {
        for (key, list) in per_key_txns.iter().enumerate() {
            let items = list.iter().enumerate().map(|(i, &(t, _))| {
                let txn = &txns.txns[t as usize];
                (i as u32, txn.invoke, txn.end)
            });
            realtime_edges(events, items, |i, j| {
                let ((_, a), (t, b)) = (list[i as usize], list[j as usize]);
                if a != b {
                    facts.push(Before { key: key as u32, a, b, why: 3, witness: t });
                }
            });
        }
    }
    facts.sort_unstable();
    facts.dedup_by(|x, y| (x.key, x.a, x.b) == (y.key, y.a, y.b));

    // Reads of single versions: wr edges, and the anomalies of a read.
    for (s, list) in readers.iter().enumerate() {
        if s >= txns.versions.len() {
            continue;
        }
        let (key, v) = (txns.versions[s].0, s as u32);
        let w = txns.writer[s];
        for &(r, _) in list {
            if w == NONE {
                cases.add(Name::GarbageRead, vec![r], || {
                    format!("T{r} read {} from key {}, a value nobody wrote", txns.value(v), txns.key(key))
                });
            } else if w == r {
                cases.add(Name::FutureRead, vec![r], || {
                    format!("T{r} read {} from key {} before writing it itself", txns.value(v), txns.key(key))
                });
            } else if !txns.happened(w) {
                cases.add(Name::G1a, vec![w, r], || {
                    format!("T{r} read {} from key {}, written by T{w}, which failed", txns.value(v), txns.key(key))
                });
            } else {
                edges.push(Edge {
                    from: w,
                    to: r,
                    key,
                    v1: v,
                    v2: NONE,
                    witness: NONE,
                    kind: Kind::Wr,
                    why: Why::Read,
                });
                let last =
                    txns.mops(w).iter().rev().find(|m| m.key == key && m.kind == MopKind::Write).map(|m| m.value);
                if last != Some(v) {
                    cases.add(Name::G1b, vec![w, r], || {
                        format!(
                            "T{r} read {} from key {}, which T{w} wrote but then overwrote with {}",
                            txns.value(v),
                            txns.key(key),
                            txns.value(last.unwrap_or(NONE))
                        )
                    });
                }
            }
        }
        lost_update(txns, key, v, list, cases);
    }
    for k in 0..txns.keys.len() {
        let s = txns.versions.len() + k;
        lost_update(txns, k as u32, NIL, &readers[s], cases);
    }

    // Each key's order must be acyclic; then ww and rw from every fact.
    let mut i = 0;
    while i < facts.len() {
        let key = facts[i].key;
        let j = i + facts[i..].iter().take_while(|f| f.key == key).count();
        let group = &facts[i..j];
        i = j;
        if let Some(cycle) = version_cycle(group) {
            cases.add(Name::CyclicVersions, Vec::new(), || {
                let shown: Vec<String> = cycle.iter().map(|&v| txns.value(v)).collect();
                format!("the versions of key {} are ordered in a cycle: {}", txns.key(key), shown.join(" < "))
            });
            continue;
        }
        for f in group {
            let wb = txns.writer[f.b as usize];
            if wb == NONE || !txns.happened(wb) {
                continue;
            }
            let why = WHYS[f.why as usize];
            if f.a != NIL {
                let wa = txns.writer[f.a as usize];
                if wa != NONE && txns.happened(wa) && wa != wb {
                    edges.push(Edge {
                        from: wa,
                        to: wb,
                        key,
                        v1: f.a,
                        v2: f.b,
                        witness: f.witness,
                        kind: Kind::Ww,
                        why,
                    });
                }
            }
            for &(r, _) in &readers[slot(key, f.a)] {
                if r != wb {
                    edges.push(Edge {
                        from: r,
                        to: wb,
                        key,
                        v1: f.a,
                        v2: f.b,
                        witness: f.witness,
                        kind: Kind::Rw,
                        why,
                    });
                }
            }
        }
    }
}

/// Two transactions that read the same version of a key and both wrote it.
fn lost_update(txns: &Txns, key: u32, v: u32, readers: &[(u32, bool)], cases: &mut Cases) {
    let writers: Vec<u32> = readers.iter().filter(|(_, wrote)| *wrote).map(|(t, _)| *t).collect();
    if let [a, b, ..] = writers[..] {
        cases.add(Name::LostUpdate, vec![a, b], || {
            format!(
                "T{a} and T{b} both read {} from key {} and both wrote it: one of the writes was lost",
                txns.value(v),
                txns.key(key)
            )
        });
    }
}

/// A cycle among one key's order facts, if any (Kahn's algorithm, then a walk inside what is left).
fn version_cycle(group: &[Before]) -> Option<Vec<u32>> {
    let mut ids: FxHashMap<u32, usize> = Default::default();
    for f in group {
        let next = ids.len();
        ids.entry(f.a).or_insert(next);
        let next = ids.len();
        ids.entry(f.b).or_insert(next);
    }
    let mut indegree = vec![0usize; ids.len()];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); ids.len()];
    let mut names = vec![0u32; ids.len()];
    for f in group {
        let (a, b) = (ids[&f.a], ids[&f.b]);
        names[a] = f.a;
        names[b] = f.b;
        out[a].push(b);
        indegree[b] += 1;
    }
    let mut queue: Vec<usize> = (0..ids.len()).filter(|&v| indegree[v] == 0).collect();
    let mut done = 0;
    while let Some(v) = queue.pop() {
        done += 1;
        for &w in &out[v] {
            indegree[w] -= 1;
            if indegree[w] == 0 {
                queue.push(w);
            }
        }
    }
    if done == ids.len() {
        return None;
    }
    // Every vertex left has a predecessor that is left: walk backwards until a vertex repeats.
    let left: Vec<bool> = indegree.iter().map(|&d| d > 0).collect();
    let mut pred = vec![usize::MAX; ids.len()];
    for (a, targets) in out.iter().enumerate() {
        for &b in targets {
            if left[a] && left[b] {
                pred[b] = a;
            }
        }
    }
    let mut v = (0..ids.len()).find(|&v| left[v])?;
    let mut seen = vec![false; ids.len()];
    while !seen[v] {
        seen[v] = true;
        v = pred[v];
    }
    let mut cycle = vec![names[v]];
    let mut u = pred[v];
    while u != v {
        cycle.push(names[u]);
        u = pred[u];
    }
    cycle.reverse();
    cycle.push(names[v]);
    Some(cycle)
}

/// Internal consistency: a read after the transaction's own write of the key returns that write; a read
/// after its own read (no write between) returns the same.
fn internal(txns: &Txns, t: u32, cases: &mut Cases) {
    let mops = txns.mops(t);
    for (i, m) in mops.iter().enumerate() {
        if !m.known() {
            continue;
        }
        let Some(prev) = mops[..i].iter().rev().find(|p| p.key == m.key && (p.kind == MopKind::Write || p.known()))
        else {
            continue;
        };
        if prev.value != m.value {
            cases.add(Name::Internal, vec![t], || {
                let what = if prev.kind == MopKind::Write { "wrote" } else { "read" };
                format!(
                    "T{t} {what} {} for key {} and then read {}",
                    txns.value(prev.value),
                    txns.key(m.key),
                    txns.value(m.value)
                )
            });
        }
    }
}
