//! List-append inference (Elle's, and one step further). Every read of a key returns a prefix of the key's
//! one true list, so the longest read is the version order of everything ever seen, and reads that are not
//! prefixes of one another are an `incompatible-order` (reads after the transaction's own appends show those
//! before they committed, so only reads before them count). From that order: ww between consecutive appends, wr
//! from the writer of a read's last element, rw from a reader to the writer of the element after its last.
//! Beyond Elle: an append that no read ever saw (by a transaction known to have committed) can only come
//! after the longest read, so it follows that read's last writer (ww) and every reader of the whole list
//! missed it (rw). Without these edges a cycle through such an append goes unseen.

use super::anomaly::{Cases, Name};
use super::graph::{Edge, Kind, Why};
use super::history::{MopKind, Txns, NONE};
use crate::history::Outcome;

/// A read of a key: the transaction and the index of its micro-op in `Txns::mops`.
#[derive(Clone, Copy)]
struct Read {
    txn: u32,
    mop: u32,
    /// Before any append of the same key by the same transaction.
    external: bool,
    /// The transaction's first read of the key.
    first: bool,
    /// How much of the list others' appends make up: a read after the transaction's own appends ends with
    /// them, uncommitted, after the state it saw. NONE if the list holds its own appends elsewhere too.
    view: u32,
}

impl Read {
    fn view<'t>(&self, txns: &'t Txns) -> Option<&'t [u32]> {
        (self.view != NONE).then(|| &txns.list(&txns.mops[self.mop as usize])[..self.view as usize])
    }
}

pub fn infer(txns: &Txns, edges: &mut Vec<Edge>, cases: &mut Cases) {
    let keys = txns.keys.len();
    // Reads grouped by key (counting sort).
    let mut start = vec![0u32; keys + 1];
    for t in 0..txns.txns.len() as u32 {
        if txns.txns[t as usize].outcome == Outcome::Ok {
            for m in txns.mops(t).iter().filter(|m| m.known()) {
                start[m.key as usize + 1] += 1;
            }
        }
    }
    for k in 0..keys {
        start[k + 1] += start[k];
    }
    let mut fill = start.clone();
    let mut reads = vec![Read { txn: 0, mop: 0, external: false, first: false, view: 0 }; start[keys] as usize];
    for (t, txn) in txns.txns.iter().enumerate() {
        if txn.outcome != Outcome::Ok {
            continue;
        }
        for i in txn.mops.0..txn.mops.1 {
            let m = &txns.mops[i as usize];
            if m.known() {
                let before = &txns.mops[txn.mops.0 as usize..i as usize];
                let external = !before.iter().any(|p| p.kind == MopKind::Append && p.key == m.key);
                let first = !before.iter().any(|p| p.known() && p.key == m.key);
                let list = txns.list(m);
                let mut view = list.len();
                if !external {
                    while view > 0 && txns.writer[list[view - 1] as usize] == t as u32 {
                        view -= 1;
                    }
                    if list[..view].iter().any(|&v| txns.writer[v as usize] == t as u32) {
                        view = NONE as usize;
                    }
                }
                reads[fill[m.key as usize] as usize] =
                    Read { txn: t as u32, mop: i, external, first, view: view as u32 };
                fill[m.key as usize] += 1;
            }
        }
        internal(txns, t as u32, cases);
    }

    // Pass 1: each key's version order (its longest read), the position of every version in it, and which
    // transactions were seen to take effect.
    let mut longest: Vec<Option<Read>> = vec![None; keys];
    let mut pos = vec![NONE; txns.versions.len()];
    let mut stamp = vec![NONE; txns.versions.len()];
    let mut seen_txn = vec![false; txns.txns.len()];
    for k in 0..keys {
        let reads = &reads[start[k] as usize..start[k + 1] as usize];
        let mut best: Option<Read> = None;
        for (i, r) in reads.iter().enumerate() {
            let list = txns.list(&txns.mops[r.mop as usize]);
            let mut duplicate = None;
            for &v in list {
                if stamp[v as usize] == i as u32 + start[k] {
                    duplicate = Some(v);
                }
                stamp[v as usize] = i as u32 + start[k];
            }
            if let Some(v) = duplicate {
                cases.add(Name::DuplicateElements, vec![r.txn], || {
                    format!(
                        "T{} read key {} as {} with {} in it twice",
                        r.txn,
                        txns.key(k as u32),
                        show(txns, list),
                        txns.value(v)
                    )
                });
                continue;
            }
            if r.view != NONE && best.is_none_or(|b| b.view < r.view) {
                best = Some(*r);
            }
        }
        let Some(best) = best else { continue };
        let order = best.view(txns).expect("the best read has a view");
        let incompatible = reads.iter().find(|r| r.view(txns).is_some_and(|list| list != &order[..list.len()]));
        if let Some(r) = incompatible {
            let list = r.view(txns).expect("found by its view");
            cases.add(Name::IncompatibleOrder, vec![r.txn, best.txn], || {
                format!(
                    "T{} read key {} as {} and T{} read it as {}: neither is a prefix of the other, so the key \
                     has no single order of appends",
                    r.txn,
                    txns.key(k as u32),
                    show(txns, list),
                    best.txn,
                    show(txns, order)
                )
            });
            continue;
        }
        longest[k] = Some(best);
        for (i, &v) in order.iter().enumerate() {
            pos[v as usize] = i as u32;
            if txns.writer[v as usize] != NONE {
                seen_txn[txns.writer[v as usize] as usize] = true;
            }
        }
    }

    // Appends never seen, by transactions known to have happened: they come after the longest read.
    let mut tail_start = vec![0u32; keys + 1];
    let mut tails: Vec<(u32, u32)> = Vec::new();
    {
        let mut per_key: Vec<Vec<(u32, u32)>> = Vec::new();
        per_key.resize_with(keys, Vec::new);
        for (t, txn) in txns.txns.iter().enumerate() {
            let committed = txn.outcome == Outcome::Ok || (txn.outcome == Outcome::Info && seen_txn[t]);
            if !committed {
                continue;
            }
            for m in txns.mops(t as u32) {
                if m.kind == MopKind::Append && pos[m.value as usize] == NONE && longest[m.key as usize].is_some() {
                    per_key[m.key as usize].push((t as u32, m.value));
                }
            }
        }
        for (k, list) in per_key.into_iter().enumerate() {
            tails.extend(list);
            tail_start[k + 1] = tails.len() as u32;
        }
    }

    // Pass 2: edges and the anomalies of single reads.
    for k in 0..keys {
        let Some(best) = longest[k] else { continue };
        let key = k as u32;
        let order = best.view(txns).expect("the best read has a view");
        let tail = &tails[tail_start[k] as usize..tail_start[k + 1] as usize];
        for pair in order.windows(2) {
            let (w1, w2) = (txns.writer[pair[0] as usize], txns.writer[pair[1] as usize]);
            // One transaction's appends, side by side but in the other order than it made them.
            if w1 != NONE && w1 == w2 && append_index(txns, w1, pair[1]) < append_index(txns, w1, pair[0]) {
                cases.add(Name::IncompatibleOrder, vec![w1, best.txn], || {
                    format!(
                        "T{} read key {} as {}, with {} before {}, which T{w1} appended in the other order",
                        best.txn,
                        txns.key(key),
                        show(txns, order),
                        txns.value(pair[0]),
                        txns.value(pair[1])
                    )
                });
            }
            if w1 != NONE && w2 != NONE && w1 != w2 {
                edges.push(Edge {
                    from: w1,
                    to: w2,
                    key,
                    v1: pair[0],
                    v2: pair[1],
                    witness: best.txn,
                    kind: Kind::Ww,
                    why: Why::Read,
                });
            }
        }
        if let Some(&last) = order.last() {
            let w1 = txns.writer[last as usize];
            for &(t, v) in tail {
                if w1 != NONE && w1 != t {
                    edges.push(Edge {
                        from: w1,
                        to: t,
                        key,
                        v1: last,
                        v2: v,
                        witness: best.txn,
                        kind: Kind::Ww,
                        why: Why::Tail,
                    });
                }
            }
        }
        // Aborted appends in the order: read by whoever read that far, and followed by committed ones.
        let aborted =
            order.iter().position(|&v| txns.writer[v as usize] != NONE && !txns.happened(txns.writer[v as usize]));
        if let Some(p) = aborted {
            let (v, w) = (order[p], txns.writer[order[p] as usize]);
            if let Some(later) = order[p + 1..]
                .iter()
                .find(|&&u| txns.writer[u as usize] != NONE && txns.happened(txns.writer[u as usize]))
            {
                let w2 = txns.writer[*later as usize];
                cases.add(Name::DirtyUpdate, vec![w, w2], || {
                    format!(
                        "T{w} failed, yet its append of {} to key {} was followed by T{w2}'s append of {}",
                        txns.value(v),
                        txns.key(key),
                        txns.value(*later)
                    )
                });
            }
        }
        let reads_k = &reads[start[k] as usize..start[k + 1] as usize];
        lost_updates(txns, key, reads_k, cases);
        for r in reads_k {
            let list = txns.list(&txns.mops[r.mop as usize]);
            if let Some(&v) = list.iter().find(|&&v| txns.writer[v as usize] == NONE) {
                cases.add(Name::GarbageRead, vec![r.txn], || {
                    format!(
                        "T{} read {} from key {}, a value no transaction appended",
                        r.txn,
                        txns.value(v),
                        txns.key(key)
                    )
                });
            }
            let failed = |v: &u32| txns.writer[*v as usize] != NONE && !txns.happened(txns.writer[*v as usize]);
            if let Some(&v) = list.iter().find(|v| failed(v)) {
                let w = txns.writer[v as usize];
                cases.add(Name::G1a, vec![w, r.txn], || {
                    format!(
                        "T{} read key {} as {}, which holds {} appended by T{w}, a transaction that failed",
                        r.txn,
                        txns.key(key),
                        show(txns, list),
                        txns.value(v)
                    )
                });
            }
            if r.external {
                if let Some(&own) = list.iter().find(|&&v| txns.writer[v as usize] == r.txn) {
                    cases.add(Name::FutureRead, vec![r.txn], || {
                        format!(
                            "T{} read key {} as {} before appending {} itself",
                            r.txn,
                            txns.key(key),
                            show(txns, list),
                            txns.value(own)
                        )
                    });
                }
            }
            // The first read of a key places its transaction in the order, by the state it saw.
            let Some(list) = r.view(txns).filter(|_| r.first) else { continue };
            let len = list.len();
            let last = list.last().copied().unwrap_or(NONE);
            if last != NONE {
                let w = txns.writer[last as usize];
                if w != NONE && w != r.txn {
                    edges.push(Edge {
                        from: w,
                        to: r.txn,
                        key,
                        v1: last,
                        v2: NONE,
                        witness: NONE,
                        kind: Kind::Wr,
                        why: Why::Read,
                    });
                    if !final_append(txns, w, key, last) {
                        cases.add(Name::G1b, vec![w, r.txn], || {
                            format!(
                                "T{} read key {} as {}, ending in {}, which T{w} appended but followed with another append to the same key",
                                r.txn,
                                txns.key(key),
                                show(txns, list),
                                txns.value(last)
                            )
                        });
                    }
                }
            }
            if len < order.len() {
                let next = order[len];
                let w2 = txns.writer[next as usize];
                if w2 != NONE && w2 != r.txn {
                    edges.push(Edge {
                        from: r.txn,
                        to: w2,
                        key,
                        v1: last,
                        v2: next,
                        witness: best.txn,
                        kind: Kind::Rw,
                        why: Why::Read,
                    });
                }
            } else {
                for &(t, v) in tail.iter().filter(|(t, _)| *t != r.txn) {
                    edges.push(Edge {
                        from: r.txn,
                        to: t,
                        key,
                        v1: last,
                        v2: v,
                        witness: best.txn,
                        kind: Kind::Rw,
                        why: Why::Tail,
                    });
                }
            }
        }
    }
}

/// Two committed transactions that read the same state of a key and both appended to it after: whichever
/// came second overwrote a state it never saw.
fn lost_updates(txns: &Txns, key: u32, reads: &[Read], cases: &mut Cases) {
    let mut by_state: rustc_hash::FxHashMap<(u32, u32), u32> = Default::default();
    for r in reads.iter().filter(|r| r.external) {
        let appends = txns.mops(r.txn).iter().any(|m| m.kind == MopKind::Append && m.key == key);
        if !appends {
            continue;
        }
        let list = txns.list(&txns.mops[r.mop as usize]);
        let state = (list.len() as u32, list.last().copied().unwrap_or(NONE));
        match by_state.get(&state) {
            Some(&other) if other != r.txn => cases.add(Name::LostUpdate, vec![other, r.txn], || {
                format!(
                    "T{other} and T{} both read key {} as {} and both appended to it: one did not see the other's append",
                    r.txn,
                    txns.key(key),
                    show(txns, list)
                )
            }),
            Some(_) => {}
            None => {
                by_state.insert(state, r.txn);
            }
        }
    }
}

/// Where among its micro-ops `t` appended `version`.
fn append_index(txns: &Txns, t: u32, version: u32) -> usize {
    txns.mops(t).iter().position(|m| m.kind == MopKind::Append && m.value == version).unwrap_or(usize::MAX)
}

/// True if `version` is the last thing `t` appended to `key`.
fn final_append(txns: &Txns, t: u32, key: u32, version: u32) -> bool {
    txns.mops(t).iter().rev().find(|m| m.kind == MopKind::Append && m.key == key).is_some_and(|m| m.value == version)
}

/// Internal consistency: a read of a key the transaction already read or appended to must show that: the
/// earlier read followed by its appends since, or (with no earlier read) end with its appends.
fn internal(txns: &Txns, t: u32, cases: &mut Cases) {
    let mops = txns.mops(t);
    for (i, m) in mops.iter().enumerate() {
        if !m.known() {
            continue;
        }
        let before = &mops[..i];
        let Some(first) = before.iter().position(|p| p.key == m.key) else { continue };
        let prior_read = before.iter().rposition(|p| p.key == m.key && p.known());
        let appends_since: Vec<u32> = before[prior_read.map_or(first, |r| r + 1)..]
            .iter()
            .filter(|p| p.key == m.key && p.kind == MopKind::Append)
            .map(|p| p.value)
            .collect();
        let list = txns.list(m);
        let ok = match prior_read {
            Some(r) => {
                let earlier = txns.list(&before[r]);
                list.len() == earlier.len() + appends_since.len()
                    && &list[..earlier.len()] == earlier
                    && list[earlier.len()..] == appends_since[..]
            }
            None => list.ends_with(&appends_since),
        };
        if !ok {
            let expected = match prior_read {
                Some(r) => format!("{} followed by its appends", show(txns, txns.list(&before[r]))),
                None => format!("a list ending in its own appends {}", show(txns, &appends_since)),
            };
            cases.add(Name::Internal, vec![t], || {
                format!(
                    "T{t} read key {} as {}, but its own earlier micro-ops say {expected}",
                    txns.key(m.key),
                    show(txns, list)
                )
            });
        }
    }
}

pub fn show(txns: &Txns, list: &[u32]) -> String {
    let shown: Vec<String> = list.iter().map(|&v| txns.value(v)).collect();
    format!("[{}]", shown.join(" "))
}
