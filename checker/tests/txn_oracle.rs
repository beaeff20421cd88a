//! The transactional checker against an independent brute-force oracle, on thousands of small random
//! list-append histories (`TXN_ORACLE_CASES` raises the count, `TXN_ORACLE_SEED` moves the seeds).
//!
//! The oracle shares nothing with the checker past the history parser. It decides each level by its
//! definition, enumerating which indeterminate transactions took effect and every order of the ones that
//! did:
//! - serializable: some order, run one transaction at a time from empty lists, gives every read;
//! - strict serializable: the same, with an order that respects real time;
//! - snapshot isolation: some commit order and, per transaction, a snapshot (a prefix of that order up to
//!   its own place) such that every read is the snapshot's list followed by the transaction's own appends
//!   so far, and two transactions appending to one key never overlap (the later one's snapshot holds the
//!   earlier);
//! - read committed: some commit order such that every read is the list after some prefix of that order
//!   up to the reader's own place, followed by the reader's own appends so far.
//!
//! With a final transaction that reads every key after all others ended, every append that took effect is
//! observed, and all four must agree exactly. Without it, appends nobody read leave their order open, which
//! the definitions of snapshot isolation and read committed still constrain and the graph cannot; there
//! serializability and strict serializability are compared.

use faultline_checker::format;
use faultline_checker::txn::levels::{Holds, Level};
use faultline_checker::txn::{self, Options};
use faultline_rng::Rng;

#[derive(Clone, Debug)]
enum Mop {
    Append(usize, u32),
    /// A read of a key and what it returned (for `ok` transactions).
    Read(usize, Vec<u32>),
}

#[derive(Clone, Debug)]
struct Txn {
    process: u64,
    invoke: u64,
    end: u64,
    /// 0 ok, 1 fail, 2 info.
    outcome: u8,
    mops: Vec<Mop>,
}

fn chance(rng: &mut Rng, percent: u64) -> bool {
    rng.below(100) < percent
}

/// A random history: transactions run on a few processes, take effect at a point inside their interval,
/// and read what a serial, snapshot or per-read view shows them; sometimes a read is then corrupted, a
/// failed transaction takes effect, or an indeterminate one does not.
fn random_history(rng: &mut Rng, final_read: bool) -> Vec<Txn> {
    let keys = 1 + rng.below(2) as usize;
    let processes = 2 + rng.below(2);
    let count = 2 + rng.below(4) as usize;
    let mode = rng.below(3);
    let mut txns: Vec<Txn> = Vec::new();
    let mut clock = vec![0u64; processes as usize];
    let mut ids: Vec<u64> = (0..processes).collect();
    let mut next_value = 1u32;
    for _ in 0..count {
        let p = rng.below(processes) as usize;
        let invoke = clock[p] + rng.below(10);
        let end = invoke + 1 + rng.below(20);
        clock[p] = end + 1;
        let outcome = match rng.below(10) {
            0 => 1,
            1 => 2,
            _ => 0,
        };
        let mops = (0..1 + rng.below(3))
            .map(|_| {
                let k = rng.below(keys as u64) as usize;
                if chance(rng, 50) {
                    next_value += 1;
                    Mop::Append(k, next_value)
                } else {
                    Mop::Read(k, Vec::new())
                }
            })
            .collect();
        txns.push(Txn { process: ids[p], invoke, end, outcome, mops });
        if outcome == 2 {
            ids[p] += 100;
        }
    }
    // Effects: each transaction at a point in its interval (a failed one sometimes anyway, an info one half
    // the time); reads see the state at that point, at an earlier snapshot, or at a point of their own.
    let mut effect: Vec<(u64, usize, bool)> = txns
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let takes = match t.outcome {
                0 => true,
                1 => chance(rng, 5),
                _ => chance(rng, 50),
            };
            (t.invoke + rng.below(t.end - t.invoke), i, takes)
        })
        .collect();
    effect.sort();
    // States after each effect, in order: states[j] is after the first j effects.
    let mut states: Vec<Vec<Vec<u32>>> = vec![vec![Vec::new(); keys]];
    for &(_, i, takes) in &effect {
        let mut next = states.last().unwrap().clone();
        if takes {
            for m in &txns[i].mops {
                if let Mop::Append(k, v) = m {
                    next[*k].push(*v);
                }
            }
        }
        states.push(next);
    }
    for (j, &(_, i, _)) in effect.iter().enumerate() {
        let snapshot = match mode {
            0 => j,
            _ => rng.below(j as u64 + 1) as usize,
        };
        let mut own: Vec<Vec<u32>> = vec![Vec::new(); keys];
        let mops = &mut txns[i].mops;
        for m in mops.iter_mut() {
            match m {
                Mop::Append(k, v) => own[*k].push(*v),
                Mop::Read(k, result) => {
                    let view = if mode == 2 { rng.below(j as u64 + 1) as usize } else { snapshot };
                    *result = states[view][*k].clone();
                    result.extend_from_slice(&own[*k]);
                }
            }
        }
    }
    if chance(rng, 25) {
        corrupt(rng, &mut txns, states.last().unwrap());
    }
    if final_read {
        let last = txns.iter().map(|t| t.end).max().unwrap_or(0);
        let state = states.last().unwrap();
        txns.push(Txn {
            process: 999,
            invoke: last + 1,
            end: last + 2,
            outcome: 0,
            mops: (0..keys).map(|k| Mop::Read(k, state[k].clone())).collect(),
        });
    }
    txns
}

/// Replaces one external read's result by a prefix of the key's final list, that list with one element
/// dropped, or reversed.
fn corrupt(rng: &mut Rng, txns: &mut [Txn], last: &[Vec<u32>]) {
    let i = rng.below(txns.len() as u64) as usize;
    let mut appended = vec![false; last.len()];
    for m in &mut txns[i].mops {
        match m {
            Mop::Append(k, _) => appended[*k] = true,
            Mop::Read(k, result) if !appended[*k] => {
                let full = &last[*k];
                *result = match rng.below(3) {
                    0 => full[..rng.below(full.len() as u64 + 1) as usize].to_vec(),
                    1 if !full.is_empty() => {
                        let mut l = full.clone();
                        l.remove(rng.below(full.len() as u64) as usize);
                        l
                    }
                    _ => full.iter().rev().copied().collect(),
                };
                return;
            }
            Mop::Read(..) => {}
        }
    }
}

fn to_jsonl(txns: &[Txn]) -> String {
    let mops = |t: &Txn, complete: bool| -> String {
        let items: Vec<String> = t
            .mops
            .iter()
            .map(|m| match m {
                Mop::Append(k, v) => format!("[\"append\",{k},{v}]"),
                Mop::Read(k, r) if complete && t.outcome == 0 => format!("[\"r\",{k},{r:?}]"),
                Mop::Read(k, _) => format!("[\"r\",{k},null]"),
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        events.push((t.invoke, 1, i));
        events.push((t.end, 0, i));
    }
    // Completions before invocations at the same instant, so a process's next transaction follows its last.
    events.sort();
    let mut out = String::new();
    for (_, invoke, i) in events {
        let t = &txns[i];
        let kind = if invoke == 1 { "invoke" } else { ["ok", "fail", "info"][t.outcome as usize] };
        out += &format!(
            "{{\"type\":\"{kind}\",\"process\":{},\"f\":\"txn\",\"value\":{}}}\n",
            t.process,
            mops(t, invoke == 0)
        );
    }
    out
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Def {
    Serializable,
    Strict,
    Snapshot,
    ReadCommitted,
}

/// The oracle: does some choice of indeterminate transactions and some order satisfy the definition?
fn oracle(txns: &[Txn], def: Def) -> bool {
    let keys = 1 + txns
        .iter()
        .flat_map(|t| &t.mops)
        .map(|m| match m {
            Mop::Append(k, _) | Mop::Read(k, _) => *k,
        })
        .max()
        .unwrap_or(0);
    let info: Vec<usize> = (0..txns.len()).filter(|&i| txns[i].outcome == 2).collect();
    for subset in 0..1u32 << info.len() {
        let chosen: Vec<usize> = (0..txns.len())
            .filter(|&i| {
                txns[i].outcome == 0 || info.iter().position(|&j| j == i).is_some_and(|b| subset & (1 << b) != 0)
            })
            .collect();
        let mut order = Vec::new();
        let mut snaps = Vec::new();
        let mut states = vec![vec![Vec::new(); keys]];
        if search(txns, def, &chosen, &mut order, &mut snaps, &mut states) {
            return true;
        }
    }
    false
}

/// Depth first: extend `order` by each unplaced transaction, with each snapshot the definition allows.
fn search(
    txns: &[Txn],
    def: Def,
    chosen: &[usize],
    order: &mut Vec<usize>,
    snaps: &mut Vec<usize>,
    states: &mut Vec<Vec<Vec<u32>>>,
) -> bool {
    if order.len() == chosen.len() {
        return true;
    }
    for &t in chosen {
        if order.contains(&t) {
            continue;
        }
        // Real time: every chosen ok transaction that ended before t began must already be placed (at one
        // instant, completions come first in the history).
        if def == Def::Strict
            && chosen
                .iter()
                .any(|&u| u != t && txns[u].outcome == 0 && txns[u].end <= txns[t].invoke && !order.contains(&u))
        {
            continue;
        }
        let pos = order.len();
        let snapshots: Vec<usize> = match def {
            Def::Serializable | Def::Strict => vec![pos],
            Def::Snapshot => {
                // First committer wins: the snapshot holds every earlier transaction appending to a key t
                // appends to.
                let writes = |u: usize| -> Vec<usize> {
                    txns[u]
                        .mops
                        .iter()
                        .filter_map(|m| if let Mop::Append(k, _) = m { Some(*k) } else { None })
                        .collect()
                };
                let mine = writes(t);
                let lowest = order
                    .iter()
                    .enumerate()
                    .filter(|(_, &u)| writes(u).iter().any(|k| mine.contains(k)))
                    .map(|(p, _)| p + 1)
                    .max()
                    .unwrap_or(0);
                (lowest..=pos).collect()
            }
            Def::ReadCommitted => vec![pos],
        };
        for snap in snapshots {
            if reads_fit(&txns[t], def, snap, states) {
                let mut next = states[pos].clone();
                for m in &txns[t].mops {
                    if let Mop::Append(k, v) = m {
                        next[*k].push(*v);
                    }
                }
                order.push(t);
                snaps.push(snap);
                states.push(next);
                if search(txns, def, chosen, order, snaps, states) {
                    return true;
                }
                order.pop();
                snaps.pop();
                states.pop();
            }
        }
    }
    false
}

/// Whether each read of an ok transaction is the view's list and then its own appends so far. The view is
/// `states[snap]`, or for read committed any state up to `snap`, per read.
fn reads_fit(t: &Txn, def: Def, snap: usize, states: &[Vec<Vec<u32>>]) -> bool {
    if t.outcome != 0 {
        return true;
    }
    let keys = states[0].len();
    let mut own: Vec<Vec<u32>> = vec![Vec::new(); keys];
    for m in &t.mops {
        match m {
            Mop::Append(k, v) => own[*k].push(*v),
            Mop::Read(k, result) => {
                let fits = |s: &Vec<Vec<u32>>| {
                    let base = &s[*k];
                    result.len() == base.len() + own[*k].len()
                        && result[..base.len()] == base[..]
                        && result[base.len()..] == own[*k][..]
                };
                let ok = match def {
                    Def::ReadCommitted => states[..=snap].iter().any(fits),
                    _ => fits(&states[snap]),
                };
                if !ok {
                    return false;
                }
            }
        }
    }
    true
}

#[test]
fn the_checker_agrees_with_the_oracle_on_random_list_append_histories() {
    let cases: u64 = std::env::var("TXN_ORACLE_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(4000);
    let base: u64 = std::env::var("TXN_ORACLE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut tally = [[0usize; 2]; 4];
    for seed in base..base + cases {
        let mut rng = Rng(seed);
        let final_read = chance(&mut rng, 70);
        let txns = random_history(&mut rng, final_read);
        let text = to_jsonl(&txns);
        let imported = format::parse("random", &text, None).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        let report = txn::check(&imported.history, &Options::default()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        // The fast JSON Lines path reads the same text to the same verdicts.
        let fast = txn::check_text("random", &text, None, &Options::default(), |_| {}).unwrap();
        assert_eq!(fast.levels, report.levels, "seed {seed}: fast path");
        assert_eq!(fast.anomalies, report.anomalies, "seed {seed}: fast path");
        let defs: &[(Def, Level)] = if final_read {
            &[
                (Def::Serializable, Level::Serializable),
                (Def::Strict, Level::StrictSerializable),
                (Def::Snapshot, Level::SnapshotIsolation),
                (Def::ReadCommitted, Level::ReadCommitted),
            ]
        } else {
            &[(Def::Serializable, Level::Serializable), (Def::Strict, Level::StrictSerializable)]
        };
        for (i, &(def, level)) in defs.iter().enumerate() {
            let expected = oracle(&txns, def);
            let got = report.holds(level);
            assert_ne!(got, Holds::Unknown, "seed {seed}: {level} unknown: {:?}\n{text}", report.unknown);
            assert_eq!(
                got == Holds::Holds,
                expected,
                "seed {seed}: {level}: checker says {got:?}, the oracle {expected}; anomalies {:?}\n{text}",
                report.anomalies
            );
            tally[i][expected as usize] += 1;
        }
    }
    // Both verdicts must be common, or the comparison proves little.
    for (i, [invalid, valid]) in tally.iter().enumerate() {
        let compared = invalid + valid;
        assert!(*invalid > compared / 50 && *valid > compared / 50, "definition {i}: {invalid} invalid, {valid} valid");
    }
}
