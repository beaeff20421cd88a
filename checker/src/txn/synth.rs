//! Synthetic list-append histories, strict serializable by construction, for benchmarks and tests.
//!
//! Clients run transactions of 1 to 4 micro-ops back to back, each an append or a read of one of `keys`
//! active keys; a key that has taken `max_writes_per_key` appends is retired and a fresh one takes its slot
//! (Elle's generator). Every transaction gets a point inside its interval, and transactions take effect
//! whole at their points, in order, so the history is strict serializable. A share fails (no effect) and a
//! share times out (`info`: takes effect or not, at random; the client goes on under a new process number).
//! Optionally one read is planted, in the last transaction, that misses the last append to the first key,
//! made long before: strict serializability is then violated, by a cycle through real-time order whose
//! strongly connected component is nearly the whole history.

use std::io::{self, Write};
use std::sync::Arc;

use crate::history::{Event, EventKind, Process};
use crate::value::Value;
use faultline_rng::Rng;

#[derive(Clone, Debug)]
pub struct Spec {
    pub txns: usize,
    pub keys: usize,
    pub max_writes_per_key: usize,
    pub clients: usize,
    /// Shares of transactions that fail and that time out, in [0, 1].
    pub fail: f64,
    pub info: f64,
    pub stale_read: bool,
    pub seed: u64,
}

#[derive(Clone, Copy)]
enum Mop {
    Append(u64, i64),
    /// A read of a key slot, then of the key it resolved to, and the length of what it returned.
    Read(u64, usize),
}

struct Txn {
    process: u64,
    call: u64,
    point: u64,
    ret: u64,
    fail: bool,
    info: bool,
    effect: bool,
    mops: Vec<(u64, Mop)>,
}

/// Generates the history's events, in order.
pub fn generate(spec: &Spec) -> Vec<Event> {
    let mut rng = Rng(spec.seed);
    let clients = spec.clients.max(1);
    let slots = spec.keys.max(1) as u64;
    let mut free_at = vec![0u64; clients];
    let mut process: Vec<u64> = (0..clients as u64).collect();
    let mut txns: Vec<Txn> = Vec::with_capacity(spec.txns);
    for _ in 0..spec.txns {
        let c = (0..clients).min_by_key(|&c| free_at[c]).unwrap_or(0);
        let call = free_at[c] + 1 + rng.below(20_000);
        let ret = call + 10_000 + rng.below(990_000);
        let point = call + rng.below(ret - call);
        let roll = rng.unit();
        let (fail, info) = (roll < spec.fail, roll >= spec.fail && roll < spec.fail + spec.info);
        let len = 1 + rng.below(4) as usize;
        let mops = (0..len)
            .map(|_| (rng.below(slots), if rng.below(2) == 0 { Mop::Read(0, 0) } else { Mop::Append(0, 0) }))
            .collect();
        txns.push(Txn {
            process: process[c],
            call,
            point,
            ret,
            fail,
            info,
            effect: !fail && (!info || rng.below(2) == 0),
            mops,
        });
        free_at[c] = ret;
        if info {
            process[c] += clients as u64;
        }
    }
    // Take effect in order of points: resolve each slot to its key, append, read.
    let mut order: Vec<usize> = (0..txns.len()).collect();
    order.sort_unstable_by_key(|&i| (txns[i].point, i));
    let mut slot_key: Vec<u64> = (0..slots).collect();
    let mut next_key = slots;
    let mut lists: Vec<Vec<i64>> = vec![Vec::new(); slots as usize];
    let mut key_of_list: Vec<u64> = (0..slots).collect();
    let mut next_value = 1i64;
    let mut stored: rustc_hash::FxHashMap<u64, Vec<i64>> = Default::default();
    let mut appender: rustc_hash::FxHashMap<(u64, i64), usize> = Default::default();
    for &i in &order {
        let txn = &mut txns[i];
        for (slot, mop) in txn.mops.iter_mut() {
            let s = *slot as usize;
            if lists[s].len() >= spec.max_writes_per_key.max(1) {
                stored.insert(key_of_list[s], std::mem::take(&mut lists[s]));
                slot_key[s] = next_key;
                key_of_list[s] = next_key;
                next_key += 1;
            }
            match mop {
                Mop::Append(k, v) => {
                    (*k, *v) = (slot_key[s], next_value);
                    next_value += 1;
                    if txn.effect {
                        lists[s].push(*v);
                        appender.insert((*k, *v), i);
                    }
                }
                Mop::Read(k, len) => (*k, *len) = (slot_key[s], lists[s].len()),
            }
        }
    }
    for (s, list) in lists.into_iter().enumerate() {
        stored.insert(key_of_list[s], list);
    }
    if spec.stale_read {
        plant_stale_read(&mut txns, &stored, &appender);
    }

    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(txns.len() * 2);
    for (i, t) in txns.iter().enumerate() {
        events.push((t.call, 1, i));
        events.push((t.ret, 0, i));
    }
    events.sort_unstable();
    let txn_f: Arc<str> = Arc::from("txn");
    let (append, read): (Value, Value) = (Value::str("append"), Value::str("r"));
    events
        .into_iter()
        .enumerate()
        .map(|(index, (time, invoke, i))| {
            let t = &txns[i];
            let complete = invoke == 0 && !t.fail && !t.info;
            let mops: Vec<Value> = t
                .mops
                .iter()
                .map(|(_, m)| {
                    let items = match *m {
                        Mop::Append(k, v) => [append.clone(), Value::Int(k as i64), Value::Int(v)],
                        Mop::Read(k, len) => {
                            let result = if complete {
                                Value::List(stored[&k][..len].iter().map(|&v| Value::Int(v)).collect())
                            } else {
                                Value::Null
                            };
                            [read.clone(), Value::Int(k as i64), result]
                        }
                    };
                    Value::List(Arc::from(items))
                })
                .collect();
            let kind = match (invoke, t.fail, t.info) {
                (1, _, _) => EventKind::Invoke,
                (_, true, _) => EventKind::Fail,
                (_, _, true) => EventKind::Info,
                _ => EventKind::Ok,
            };
            Event {
                index: index as u64,
                time: Some(time),
                kind,
                process: Process::Client(t.process),
                f: txn_f.clone(),
                key: None,
                value: Value::List(mops.into()),
                error: None,
                node: None,
                line: 0,
                final_read: false,
            }
        })
        .collect()
}

/// Adds to the last `ok` transaction a read of the first key whose last append was made by an `ok`
/// transaction, returning that key's list without its last element: a read that missed an append completed
/// long before it began. Real-time order leads from that append through nearly every transaction to the
/// read, so the cycle's strongly connected component is nearly the whole history.
fn plant_stale_read(
    txns: &mut [Txn],
    stored: &rustc_hash::FxHashMap<u64, Vec<i64>>,
    appender: &rustc_hash::FxHashMap<(u64, i64), usize>,
) {
    let Some(reader) = txns.iter().rposition(|t| !t.fail && !t.info) else { return };
    let mut keys: Vec<&u64> = stored.keys().collect();
    keys.sort_unstable();
    for &k in keys {
        let Some(&last) = stored[&k].last() else { continue };
        let w = appender[&(k, last)];
        let touched =
            txns[reader].mops.iter().any(|(_, m)| matches!(m, Mop::Read(k2, _) | Mop::Append(k2, _) if *k2 == k));
        if !txns[w].info && txns[w].ret < txns[reader].call && !touched {
            let len = stored[&k].len() - 1;
            txns[reader].mops.push((0, Mop::Read(k, len)));
            return;
        }
    }
}

/// Writes a synthetic history as JSON Lines.
pub fn write<W: Write>(out: W, spec: &Spec) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    crate::format::jsonl::write_events(&mut out, &generate(spec))?;
    out.flush()
}
