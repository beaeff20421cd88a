//! Synthetic register histories whose verdict is known by construction, for benchmarks and tests.
//!
//! Clients run operations back to back on random keys. Every operation gets a linearization point inside
//! its interval, and reads return the value their key holds at that point in the order of those points, so
//! the history is linearizable. Writes write values unique per key. A share of writes time out (`info`);
//! each of those takes effect, inside its interval, or not at all, at random; its client goes on under a new
//! process number, as in Jepsen. Optionally one read is planted that returns a value that was provably
//! overwritten before it began (write A completed, then write B of the same key was invoked and completed,
//! then the read began and returned A's value), which makes the history not linearizable.

use std::io::{self, Write};
use std::sync::Arc;

use faultline_rng::Rng;

use crate::history::{Event, EventKind, Process};
use crate::value::Value;

#[derive(Clone, Debug)]
pub struct Spec {
    pub ops: usize,
    pub keys: usize,
    pub clients: usize,
    /// Share of writes that time out, in [0, 1].
    pub info_writes: f64,
    pub stale_read: bool,
    pub seed: u64,
}

struct Op {
    process: u64,
    key: u32,
    write: Option<i64>,
    call: u64,
    lin: u64,
    ret: u64,
    info: bool,
    takes_effect: bool,
    read: Option<i64>,
}

/// Generates the history's events, in order.
pub fn generate(spec: &Spec) -> Vec<Event> {
    let mut rng = Rng(spec.seed);
    let clients = spec.clients.max(1);
    let keys = spec.keys.max(1) as u64;
    let mut free_at = vec![0u64; clients];
    let mut process: Vec<u64> = (0..clients as u64).collect();
    let mut next_value = vec![0i64; keys as usize];
    let mut ops: Vec<Op> = Vec::with_capacity(spec.ops + 1);
    // Times in nanoseconds: operations take 10 µs to 1 ms, so clients overlap heavily.
    for _ in 0..spec.ops {
        let c = (0..clients).min_by_key(|&c| free_at[c]).unwrap_or(0);
        let call = free_at[c] + 1 + rng.below(20_000);
        let ret = call + 10_000 + rng.below(990_000);
        let lin = call + rng.below(ret - call);
        let key = rng.below(keys) as u32;
        let write = rng.below(2) == 0;
        let info = write && rng.unit() < spec.info_writes;
        let value = write.then(|| {
            next_value[key as usize] += 1;
            next_value[key as usize]
        });
        ops.push(Op {
            process: process[c],
            key,
            write: value,
            call,
            lin,
            ret,
            info,
            takes_effect: !info || rng.below(2) == 0,
            read: None,
        });
        free_at[c] = ret;
        if info {
            process[c] += clients as u64;
        }
    }
    // Reads return what their key holds at their linearization point.
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_unstable_by_key(|&i| (ops[i].lin, i));
    let mut state: Vec<Option<i64>> = vec![None; keys as usize];
    for &i in &order {
        let op = &mut ops[i];
        match op.write {
            Some(v) if op.takes_effect => state[op.key as usize] = Some(v),
            Some(_) => {}
            None => op.read = state[op.key as usize],
        }
    }
    if spec.stale_read {
        plant_stale_read(&mut ops, &mut rng, clients as u64);
    }

    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, 1, i));
        events.push((op.ret, 0, i));
    }
    // At equal times completions go first: that orders nothing that the linearization points did not.
    events.sort_unstable();
    let read: Arc<str> = Arc::from("read");
    let write: Arc<str> = Arc::from("write");
    events
        .iter()
        .enumerate()
        .map(|(index, &(time, is_call, i))| {
            let op = &ops[i];
            let (kind, value) = match (is_call == 1, op.write) {
                (true, Some(v)) => (EventKind::Invoke, Value::Int(v)),
                (true, None) => (EventKind::Invoke, Value::Null),
                (false, Some(v)) => (if op.info { EventKind::Info } else { EventKind::Ok }, Value::Int(v)),
                (false, None) => (EventKind::Ok, op.read.map_or(Value::Null, Value::Int)),
            };
            Event {
                index: index as u64,
                time: Some(time),
                kind,
                process: Process::Client(op.process),
                f: if op.write.is_some() { write.clone() } else { read.clone() },
                key: Some(Value::Int(op.key.into())),
                value,
                error: (kind == EventKind::Info).then(|| Value::str("timed-out")),
                node: None,
                final_read: false,
                line: index as u32 + 1,
            }
        })
        .collect()
}

/// Adds a read, by a process of its own, that begins after write B completed, where B began after write A
/// of the same key completed, and returns A's value.
fn plant_stale_read(ops: &mut Vec<Op>, rng: &mut Rng, clients: u64) {
    let writes: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].write.is_some() && !ops[i].info).collect();
    if writes.is_empty() {
        return;
    }
    let start = rng.below(writes.len() as u64) as usize;
    for k in 0..writes.len() {
        let a = writes[(start + k) % writes.len()];
        let later = writes.iter().copied().find(|&b| ops[b].key == ops[a].key && ops[b].call > ops[a].ret);
        if let Some(b) = later {
            let call = ops[b].ret + 1;
            let process = ops.iter().map(|o| o.process).max().unwrap_or(0) + clients;
            ops.push(Op {
                process,
                key: ops[a].key,
                write: None,
                call,
                lin: call,
                ret: call + 10_000,
                info: false,
                takes_effect: true,
                read: ops[a].write,
            });
            return;
        }
    }
}

/// Writes a generated history as JSON Lines.
pub fn write<W: Write>(out: W, spec: &Spec) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    crate::format::jsonl::write_events(&mut out, &generate(spec))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::linear;
    use crate::model::{ModelKind, ModelOptions};
    use crate::verdict::Verdict;

    fn verdict(spec: &Spec) -> Verdict {
        let history = History::new("synth", generate(spec)).unwrap();
        linear::check(&history, &linear::Options::new(ModelOptions::new(ModelKind::Register))).unwrap().verdict
    }

    #[test]
    fn valid_by_construction_and_stale_read_is_caught() {
        for seed in 0..20 {
            let spec = Spec { ops: 2000, keys: 3, clients: 10, info_writes: 0.05, stale_read: false, seed };
            assert_eq!(verdict(&spec), Verdict::Valid, "seed {seed}");
            assert_eq!(verdict(&Spec { stale_read: true, ..spec }), Verdict::Invalid, "seed {seed}");
        }
    }

    #[test]
    fn same_seed_same_history() {
        let spec = Spec { ops: 300, keys: 2, clients: 4, info_writes: 0.1, stale_read: true, seed: 9 };
        assert_eq!(generate(&spec), generate(&spec));
    }
}
