//! Eventual consistency: the weakest promise a replicated store makes, that once writes stop, every replica
//! ends up with the same value, and that value accounts for the acknowledged writes. It says nothing about
//! what reads return meanwhile, so how stale they were is measured, not judged.
//!
//! Four findings:
//!
//! - **thin-air reads**: a read of a value no `ok` or `info` write (or cas) wrote to its key. Even an
//!   eventually consistent store only returns values someone wrote.
//! - **convergence**: after the run, the final reads read every key from every node (the event's `node`
//!   names it): processes numbered from [`Options::final_process_base`], or events marked `"final": true`
//!   (see [`History::is_final`]). All final reads of a key must agree.
//! - **lost writes**: an acknowledged (`ok`) write that no final read of its key reflects, and that was not
//!   superseded: no final read returns a value whose write may have come after it (one that ended after
//!   this write was invoked, or never ended). Keys with no final read are not judged.
//! - **staleness**: for each read (other than the final ones), the writes of its key with a later version
//!   that had completed before the read began. In time: how long before the read began the first of them
//!   completed (the event `time` field, in nanoseconds, where every event has one; otherwise event
//!   positions); in versions: how many there were. Reported as quantiles over all reads.
//!
//! The version order of a key is the order of its written integers when every written value of the key is
//! an integer and they increase in invocation order (the workloads' convention), and otherwise the order of
//! write completions (an indeterminate write, which has none, by its invocation).
//!
//! Thin-air reads, divergence and lost writes make the verdict invalid; staleness never does. A history
//! with none of those but no final read at all (a run killed before its final reads) is unknown, not valid:
//! convergence, the heart of the promise, was never observed. Cost: O(n log n).

use std::time::Instant;

use serde::Serialize;

use crate::causal::{parse, Meaning, Source};
use crate::error::Error;
use crate::history::History;
use crate::model::ModelOptions;
use crate::op_ref::OpRef;
use crate::value::Value;
use crate::verdict::Verdict;

#[derive(Clone, Debug)]
pub struct Options {
    pub model: ModelOptions,
    /// Processes numbered from here on are the final readers.
    pub final_process_base: u64,
}

impl Options {
    pub fn new(model: ModelOptions) -> Options {
        Options { model, final_process_base: crate::history::FINAL_READ_PROCESS_BASE }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ThinAirRead {
    pub read: OpRef,
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeValue {
    pub node: String,
    pub value: Value,
    pub read: OpRef,
}

#[derive(Clone, Debug, Serialize)]
pub struct Divergence {
    pub key: Option<Value>,
    pub reads: Vec<NodeValue>,
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct LostWrite {
    pub key: Option<Value>,
    pub write: OpRef,
    /// The values the final reads of the key returned.
    pub final_values: Vec<Value>,
    pub explanation: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Quantiles {
    /// Nearest-rank quantiles.
    pub fn of(mut values: Vec<f64>) -> Quantiles {
        if values.is_empty() {
            return Quantiles::default();
        }
        values.sort_by(f64::total_cmp);
        let q = |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        Quantiles { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: values[values.len() - 1] }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Staleness {
    /// "ns" when every event has a time, otherwise "events" (positions in the history).
    pub unit: String,
    pub reads: usize,
    /// Reads that returned a version older than some write completed before they began.
    pub stale_reads: usize,
    pub time: Quantiles,
    pub versions: Quantiles,
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub verdict: Verdict,
    pub thin_air_count: usize,
    pub thin_air: Vec<ThinAirRead>,
    /// Final reads that succeeded (`ok`), which are what convergence and lost writes are judged on.
    pub final_reads: usize,
    /// Final reads attempted, whatever their outcome: some attempted and none succeeded is not "no final
    /// reads" (the cluster did not answer them).
    pub final_reads_tried: usize,
    pub keys_with_final_reads: usize,
    pub diverged_count: usize,
    pub diverged: Vec<Divergence>,
    /// Acknowledged writes of keys that have final reads, by fate.
    pub acknowledged_writes: usize,
    pub reflected_writes: usize,
    pub superseded_writes: usize,
    pub lost_count: usize,
    pub lost_writes: Vec<LostWrite>,
    pub staleness: Staleness,
    pub elapsed_ms: f64,
}

/// How many findings of each kind are reported in full.
const EXAMPLES: usize = 20;

/// Checks eventual consistency.
pub fn check(history: &History, opts: &Options) -> Result<Analysis, Error> {
    let started = Instant::now();
    let parsed = parse(history, &opts.model)?;
    let nkeys = parsed.keys.len();
    let key_words = |k: u32| parsed.keys[k as usize].as_ref().map_or(String::new(), |k| format!(" of key {k}"));

    // Version ranks per key.
    let mut ints: Vec<Option<Option<i64>>> = vec![Some(None); nkeys];
    for m in &parsed.meaning {
        if let Meaning::Write { key, value, .. } = m {
            let slot = &mut ints[*key as usize];
            *slot = match (*slot, value) {
                (Some(prev), Value::Int(v)) if prev.is_none_or(|p| p < *v) => Some(Some(*v)),
                _ => None,
            };
        }
    }
    let rank = |w: u32| -> i64 {
        let o = &history.operations[w as usize];
        match &parsed.meaning[w as usize] {
            Meaning::Write { key, value: Value::Int(v), .. } if ints[*key as usize].is_some() => *v,
            _ => i64::from(history.definite_end(o).unwrap_or(o.invoke)),
        }
    };
    let timed = history.events.iter().all(|e| e.time.is_some());
    let time_at = |pos: u32| -> u64 {
        if timed {
            history.events[pos as usize].time.unwrap_or(0)
        } else {
            u64::from(pos)
        }
    };

    let mut thin_air = Vec::new();
    let mut thin_air_count = 0;
    // Final reads per key: (node, value, op); ordinary reads per key: (invoke time, rank read, op).
    let mut finals: Vec<Vec<(String, Value, u32)>> = vec![Vec::new(); nkeys];
    let mut reads: Vec<Vec<(u64, i64)>> = vec![Vec::new(); nkeys];
    // Acknowledged writes per key: (completion time, rank, op).
    let mut writes: Vec<Vec<(u64, i64, u32)>> = vec![Vec::new(); nkeys];
    let mut final_reads = 0;
    for (id, op) in history.operations.iter().enumerate() {
        match &parsed.meaning[id] {
            Meaning::Read { key, value } => {
                let source = parsed.source(*key, value, &opts.model.initial);
                if source == Source::ThinAir {
                    thin_air_count += 1;
                    if thin_air.len() < EXAMPLES {
                        let r = OpRef::new(history, id as u32);
                        let explanation = format!(
                            "process {} read {value}{} ({}), a value no operation wrote to that key.",
                            op.process,
                            key_words(*key),
                            r.lines()
                        );
                        thin_air.push(ThinAirRead { read: r, explanation });
                    }
                    continue;
                }
                if history.is_final(op, opts.final_process_base) {
                    final_reads += 1;
                    let node = history
                        .completion(op)
                        .and_then(|c| c.node.clone())
                        .or_else(|| history.invocation(op).node.clone())
                        .map_or_else(|| format!("process {}", op.process), |n| n.to_string());
                    finals[*key as usize].push((node, value.clone(), id as u32));
                } else {
                    let r = match source {
                        Source::Write(w) => rank(w),
                        _ => i64::MIN,
                    };
                    reads[*key as usize].push((time_at(op.invoke), r));
                }
            }
            Meaning::Write { key, definite: true, .. } => {
                let end = op.complete.expect("an ok operation has a completion");
                writes[*key as usize].push((time_at(end), rank(id as u32), id as u32));
            }
            _ => {}
        }
    }

    // Convergence and lost writes.
    let mut diverged = Vec::new();
    let mut diverged_count = 0;
    let mut lost_writes = Vec::new();
    let (mut lost_count, mut acknowledged, mut reflected, mut superseded) = (0, 0, 0, 0);
    let mut keys_with_final_reads = 0;
    for k in 0..nkeys {
        let f = &finals[k];
        if f.is_empty() {
            continue;
        }
        keys_with_final_reads += 1;
        let mut values: Vec<Value> = f.iter().map(|(_, v, _)| v.clone()).collect();
        values.sort();
        values.dedup();
        if values.len() > 1 {
            diverged_count += 1;
            if diverged.len() < EXAMPLES {
                let per_node: Vec<String> = f
                    .iter()
                    .map(|(n, v, id)| format!("{n} returned {v} ({})", OpRef::new(history, *id).lines()))
                    .collect();
                diverged.push(Divergence {
                    key: parsed.keys[k].clone(),
                    reads: f
                        .iter()
                        .map(|(n, v, id)| NodeValue {
                            node: n.clone(),
                            value: v.clone(),
                            read: OpRef::new(history, *id),
                        })
                        .collect(),
                    explanation: format!(
                        "The final reads{} disagree after the run: {}. The replicas did not converge.",
                        key_words(k as u32),
                        per_node.join("; ")
                    ),
                });
            }
        }
        // A write the final value's write may have followed supersedes it: that write ended after this one
        // began (or never ended). Versions are not compared by value: concurrent writes may take effect in
        // either order. A final write that ended before this one was invoked cannot have replaced it, in any
        // order a store could pick, unless the store ordered by something other than time (a skewed clock).
        let latest_final_end = f
            .iter()
            .filter_map(|(_, v, _)| match parsed.source(k as u32, v, &opts.model.initial) {
                Source::Write(s) => {
                    let o = &history.operations[s as usize];
                    Some(history.definite_end(o).unwrap_or(u32::MAX))
                }
                _ => None,
            })
            .max();
        for &(_, _, w) in &writes[k] {
            acknowledged += 1;
            let Meaning::Write { value, .. } = &parsed.meaning[w as usize] else { continue };
            let invoked = history.operations[w as usize].invoke;
            if values.contains(value) {
                reflected += 1;
            } else if latest_final_end.is_some_and(|end| end > invoked) {
                superseded += 1;
            } else {
                lost_count += 1;
                if lost_writes.len() < EXAMPLES {
                    let o = OpRef::new(history, w);
                    let shown: Vec<String> = values.iter().map(Value::to_string).collect();
                    lost_writes.push(LostWrite {
                        key: parsed.keys[k].clone(),
                        write: o.clone(),
                        final_values: values.clone(),
                        explanation: format!(
                            "{} ({}) was acknowledged, but the final reads{} returned {}: neither it nor any later \
                             version survived. The write was lost.",
                            o.describe(),
                            o.lines(),
                            key_words(k as u32),
                            shown.join(", ")
                        ),
                    });
                }
            }
        }
    }

    let staleness = staleness(&mut reads, &mut writes, if timed { "ns" } else { "events" });
    let invalid = thin_air_count > 0 || diverged_count > 0 || lost_count > 0;
    let verdict = match (invalid, final_reads) {
        (true, _) => Verdict::Invalid,
        (false, 0) => Verdict::Unknown,
        (false, _) => Verdict::Valid,
    };
    Ok(Analysis {
        verdict,
        thin_air_count,
        thin_air,
        final_reads,
        final_reads_tried: history.operations.iter().filter(|op| history.is_final(op, opts.final_process_base)).count(),
        keys_with_final_reads,
        diverged_count,
        diverged,
        acknowledged_writes: acknowledged,
        reflected_writes: reflected,
        superseded_writes: superseded,
        lost_count,
        lost_writes,
        staleness,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// Sweeps each key's reads in order of their start, adding writes as they complete, with Fenwick trees over
/// version ranks for how many later versions had completed and when the first of them did.
fn staleness(reads: &mut [Vec<(u64, i64)>], writes: &mut [Vec<(u64, i64, u32)>], unit: &str) -> Staleness {
    let mut times = Vec::new();
    let mut versions = Vec::new();
    let mut stale = 0;
    for (rs, ws) in reads.iter_mut().zip(writes.iter_mut()) {
        if rs.is_empty() {
            continue;
        }
        rs.sort_unstable();
        ws.sort_unstable();
        let mut ranks: Vec<i64> = ws.iter().map(|w| w.1).collect();
        ranks.sort_unstable();
        ranks.dedup();
        let m = ranks.len();
        // Indexed from the newest rank down, so "ranks above ρ" is a prefix.
        let mut count = vec![0u32; m + 1];
        let mut first = vec![u64::MAX; m + 1];
        let mut next = 0;
        for &(t, rho) in rs.iter() {
            while next < ws.len() && ws[next].0 < t {
                let (done, r, _) = ws[next];
                let mut i = m - ranks.partition_point(|&x| x < r);
                while i <= m {
                    count[i] += 1;
                    first[i] = first[i].min(done);
                    i += i & i.wrapping_neg();
                }
                next += 1;
            }
            // Ranks strictly above rho: the newest `m - partition_point(<= rho)` of them.
            let mut i = m - ranks.partition_point(|&x| x <= rho);
            let (mut c, mut f) = (0u32, u64::MAX);
            while i > 0 {
                c += count[i];
                f = f.min(first[i]);
                i -= i & i.wrapping_neg();
            }
            versions.push(f64::from(c));
            if c > 0 {
                stale += 1;
                times.push((t - f) as f64);
            } else {
                times.push(0.0);
            }
        }
    }
    Staleness {
        unit: unit.to_string(),
        reads: versions.len(),
        stale_reads: stale,
        time: Quantiles::of(times),
        versions: Quantiles::of(versions),
    }
}
