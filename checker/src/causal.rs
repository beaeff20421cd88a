//! Causal consistency, by the bad patterns of Bouajjani, Enea, Guerraoui and Hamza, "On verifying causal
//! consistency" (POPL 2017).
//!
//! Causal consistency has several variants that real stores mean when they say "causal"; a history can
//! satisfy one and not another, so each is reported on its own:
//!
//! - **CC** (weak causal consistency): every process sees the writes in an order that respects causality;
//!   two processes may disagree forever on the order of concurrent writes. Bad patterns: `CyclicCO`,
//!   `ThinAirRead`, `WriteCOInitRead`, `WriteCORead`.
//! - **CM** (causal memory, Ahamad et al.): as CC, and each process's successive views extend one another.
//!   Bad patterns: CC's, plus `WriteHBInitRead` and `CyclicHB`.
//! - **CCv** (causal convergence): as CC, and all processes agree on one arbitration order of conflicting
//!   writes, so replicas converge. Bad patterns: CC's, plus `CyclicCF`.
//!
//! The theorem of the paper: for a *differentiated* history (every value is written at most once per key),
//! a history satisfies a variant exactly when it contains none of that variant's bad patterns. Workloads
//! write unique values, so a read's value names the write it read from; a value written twice to one key is
//! an input error.
//!
//! Definitions. Program order `po` orders each process's operations (per Jepsen process id). Reads-from
//! `rf` maps a write of `v` on `k` to each read of `v` on `k`. Causal order `co = (po ∪ rf)+`.
//!
//! How operations are read: a `fail` write never happened; an `info` write happened if some read observed
//! its value and is ignored otherwise (nothing could tell it apart from one that never happened); `fail` and
//! `info` reads observed nothing. A successful `cas [a, b]` is a read of `a` followed atomically by a write
//! of `b`; an `info` cas is included (as both) when `b` was observed. A failed cas, including one that
//! failed its comparison (`cas-mismatch`), is ignored: it wrote nothing, and the observation "the value was
//! not `a`" names no write, so it cannot be expressed as reads-from. This can only miss violations.
//!
//! Algorithms and cost, for n operations, P process ids, W writers of a key:
//!
//! - `co` is acyclic iff `po ∪ rf` is (Kahn's algorithm, O(n)). Along a topological order every operation
//!   gets a vector clock of its strict causal past (the last operation of each process it depends on); a
//!   causal past is closed under program order, so this represents it exactly. The clocks are stored as
//!   copy-on-write chunks shared between operations (see `Clocks`): O(n·P) time at worst, and memory that
//!   grows with what operations learn, not with n·P (every indeterminate write retires a process, so P grows
//!   with the run: 97 MiB instead of 9 GiB for 1M operations of 2,410 processes). Past
//!   [`Options::memory_limit`], every variant is `unknown`.
//! - `WriteCORead` / `WriteCOInitRead`: for a read of key k, the writes of k in its causal past are, per
//!   process, a prefix of that process's writes of k, so only the last one per process needs testing, and
//!   only for the processes of which the read's past holds more than the past of the write it read (found by
//!   comparing the two clocks, chunk by chunk). O(n·P) at worst, O(n·W·log n) for initial reads.
//! - `CyclicCF`: conflict edges `w1 → w2` (a read of `w2` has `w1` in its causal past) reduced to the last
//!   write per process, then Kahn again, with the same restriction. O(n·W).
//! - `CM`: for each process, the happens-before `hb` of its last operation (the largest one; `hb` only grows
//!   along program order). Most processes are settled without it, in two steps that are each sound on their
//!   own: a process none of whose reads forced an order between concurrent writes (a conflict edge, found by
//!   CC's scan) has `hb` = causal order, and satisfies CM once CC holds; a process for which one shared
//!   order of the whole history (causal order, conflict edges, overlapping writes as later reads ordered
//!   them, else real time), restricted to the causal past of its last operation, is a valid view satisfies
//!   CM by definition (see [`served_by_view`]): one binary search per read, and as many vector-clock
//!   lookups as there are writes of its key between the write it read and itself in that order; then the
//!   same with the order a caller may give ([`Options::view_hint`]: the ladder gives a sequential witness
//!   of the history less the processes of the cycles that refuted sequential consistency). The
//!   processes left (those of a store that is not nearly linearizable) get the exact fixpoint over vector
//!   clocks: its extra edges all end at writes the process read, so it suffices to keep a clock per such
//!   write. O(iterations·reads·W·P²) in the worst case, bounded by [`Options::time_limit`]. Where dense
//!   clocks of every operation would not fit in [`Options::memory_limit`] (many processes), the fixpoint
//!   runs only if a round of it stays under a fixed amount of work (`CM_WORK_LIMIT`), and is `unknown`
//!   otherwise: it joins dense per-process vectors.
//!
//! Reporting: each variant lists CC's anomalies when there are any (they violate CM and CCv too), and only
//! otherwise its own: CCv one conflict cycle, CM at most one anomaly per process. Measured (see the
//! crate's bench): 1M operations of 2,410 processes (issue 14's stale-read history): CC, CM and CCv all
//! decided in about 1.3 s on one core, CM with no process left to the fixpoint.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::Error;
use crate::history::{History, Outcome};
use crate::linear::OpRef;
use crate::model::{cas_pair, CasFail, ModelOptions};
use crate::value::Value;
use crate::worlds;

#[derive(Clone, Debug)]
pub struct Options {
    pub model: ModelOptions,
    /// Wall-clock limit for the CM fixpoint (the only part that is not near-linear); past it, CM is
    /// `unknown`.
    pub time_limit: Option<Duration>,
    /// Bytes the causal vector clocks may take; past it, every variant is `unknown`.
    pub memory_limit: usize,
    /// Anomalies reported per variant in full (the rest are only counted).
    pub max_anomalies: usize,
    /// Whether causal memory may run its fixpoint (the costly part, for the processes no shortcut
    /// settles). Without it such a CM is `unknown` with [`CM_DEFERRED`] as its cause: the ladder first
    /// asks only what is cheap, since sequential consistency, when it holds, implies CM.
    pub cm_fixpoint: bool,
    /// Another candidate view for causal memory, tried on the processes the shared order of
    /// [`view_order`] does not serve before any is left to the fixpoint: history operation ids, in an
    /// order that should extend causal order (the ladder's: a sequential witness of the history less the
    /// processes of the cycles that refuted sequential consistency). Ids it leaves out go after the
    /// rest. Like the shared order, it can only spare the fixpoint work, never decide a verdict.
    pub view_hint: Option<Vec<u32>>,
}

impl Options {
    pub fn new(model: ModelOptions) -> Options {
        Options {
            model,
            time_limit: None,
            memory_limit: 1 << 30,
            max_anomalies: 20,
            cm_fixpoint: true,
            view_hint: None,
        }
    }
}

/// The cause of a causal memory left `unknown` because its fixpoint was not asked for.
pub const CM_DEFERRED: &str = "deferred: causal memory's fixpoint was not run";

/// The causal variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Variant {
    CC,
    CM,
    CCv,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::CC => "causal consistency (CC)",
            Variant::CM => "causal memory (CM)",
            Variant::CCv => "causal convergence (CCv)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Holds,
    Violated,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum AnomalyKind {
    /// CC: causal order has a cycle.
    CyclicCO,
    /// CC: a read returns a value no write wrote to its key.
    ThinAirRead,
    /// CC: a read returns the initial value although a write of its key is in its causal past.
    WriteCOInitRead,
    /// CC: a read returns `w1`'s value although a write `w2` of the key is causally between `w1` and it.
    WriteCORead,
    /// CM: a read returns the initial value although a write of its key happens-before it in its process's
    /// view.
    WriteHBInitRead,
    /// CM: some process's happens-before is cyclic.
    CyclicHB,
    /// CCv: causal order and the conflict (arbitration) order together are cyclic.
    CyclicCF,
}

#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The operations of the pattern, in the order the explanation names them.
    pub ops: Vec<OpRef>,
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct VariantResult {
    pub variant: Variant,
    pub status: Status,
    /// Anomalies found (CC's, if any, else the variant's own); at most `max_anomalies` in full.
    pub anomalies: Vec<Anomaly>,
    pub anomaly_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_cause: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub cc: VariantResult,
    pub cm: VariantResult,
    pub ccv: VariantResult,
    /// Operations the check used (ok reads and writes, observed indeterminate writes).
    pub operations: usize,
    pub processes: usize,
    /// Processes whose causal memory no shared view served, left to the fixpoint (whether it ran or not).
    pub fixpoint_processes: usize,
    pub elapsed_ms: f64,
}

impl Analysis {
    pub fn variant(&self, v: Variant) -> &VariantResult {
        match v {
            Variant::CC => &self.cc,
            Variant::CM => &self.cm,
            Variant::CCv => &self.ccv,
        }
    }
}

// ---- Extraction: the operations as reads and writes ----

/// What one history operation means for the causal, session and eventual checkers.
#[derive(Clone, Debug)]
pub(crate) enum Meaning {
    Read {
        key: u32,
        value: Value,
    },
    /// A write, or a cas (which also reads `from`); `definite` if it completed `ok`.
    Write {
        key: u32,
        value: Value,
        from: Option<Value>,
        definite: bool,
    },
    /// A cas whose comparison failed (read only where failed cas are observations): the key held a value
    /// other than `not`.
    Differs {
        key: u32,
        not: Value,
    },
    Skip,
}

/// Where a read's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    Init,
    /// History operation id of the write.
    Write(u32),
    ThinAir,
}

pub(crate) struct Parsed {
    pub keys: Vec<Option<Value>>,
    /// One per history operation.
    pub meaning: Vec<Meaning>,
    /// For each (key, written value), the (first) writing operation.
    pub writers: FxHashMap<(u32, Value), u32>,
    /// For each (key, value) written more than once, or written although it is the initial value, every
    /// operation writing it (only where [`parse_observing`] allows them).
    pub repeated: FxHashMap<(u32, Value), Vec<u32>>,
    /// Per key, its writing operations in history order.
    pub key_writes: Vec<Vec<u32>>,
}

impl Parsed {
    pub fn source(&self, key: u32, value: &Value, initial: &Value) -> Source {
        if value == initial {
            Source::Init
        } else {
            self.writers.get(&(key, value.clone())).map_or(Source::ThinAir, |&w| Source::Write(w))
        }
    }
}

/// Reads every operation as a read, a write, or nothing; checks that written values are unique per key
/// (and never the initial value), so that every read names its source. A failed cas is left out.
pub(crate) fn parse(history: &History, opts: &ModelOptions) -> Result<Parsed, Error> {
    parse_with(history, opts, false)
}

/// As [`parse`], but a value may be written more than once or be the initial value (its readers' sources
/// are then a choice, see [`crate::worlds`]), and a cas whose comparison failed is, under
/// `--cas-fail observe`, an observation that the key held another value.
pub(crate) fn parse_observing(history: &History, opts: &ModelOptions) -> Result<Parsed, Error> {
    parse_with(history, opts, true)
}

fn parse_with(history: &History, opts: &ModelOptions, observing: bool) -> Result<Parsed, Error> {
    let mut key_ids: FxHashMap<Option<Value>, u32> = FxHashMap::default();
    let mut keys = Vec::new();
    let mut meaning = Vec::with_capacity(history.operations.len());
    let mut writers: FxHashMap<(u32, Value), u32> = FxHashMap::default();
    let mut repeated: FxHashMap<(u32, Value), Vec<u32>> = FxHashMap::default();
    let mut key_writes: Vec<Vec<u32>> = Vec::new();
    for (id, op) in history.operations.iter().enumerate() {
        let inv = history.invocation(op);
        let key = *key_ids.entry(inv.key.clone()).or_insert_with(|| {
            keys.push(inv.key.clone());
            keys.len() as u32 - 1
        });
        let m = match &*inv.f {
            "read" | "get" => match op.outcome {
                Outcome::Ok if opts.nil_read.ignores(history.result(op)) => Meaning::Skip,
                Outcome::Ok => Meaning::Read { key, value: history.result(op).clone() },
                _ => Meaning::Skip,
            },
            "write" | "put" => match op.outcome {
                Outcome::Fail => Meaning::Skip,
                o => Meaning::Write { key, value: inv.value.clone(), from: None, definite: o == Outcome::Ok },
            },
            "cas" => match op.outcome {
                Outcome::Fail if observing && opts.cas_fail == CasFail::Observe && !history.observed_nothing(op) => {
                    Meaning::Differs { key, not: cas_pair(history, id)?.0 }
                }
                Outcome::Fail => Meaning::Skip,
                o => {
                    let (from, to) = cas_pair(history, id)?;
                    Meaning::Write { key, value: to, from: Some(from), definite: o == Outcome::Ok }
                }
            },
            f => {
                return Err(Error::input(
                    &history.source,
                    inv.line,
                    format!(
                        "operation f {f:?} cannot be checked for causal, session or eventual consistency (expected \
                         read, write, cas, get or put: reads must name the write they read from)"
                    ),
                ))
            }
        };
        if let (true, Meaning::Write { value, .. }) = (observing, &m) {
            key_writes.resize(keys.len(), Vec::new());
            key_writes[key as usize].push(id as u32);
            if *value == opts.initial {
                repeated.entry((key, value.clone())).or_default().push(id as u32);
            } else if let Some(&first) = writers.get(&(key, value.clone())) {
                repeated.entry((key, value.clone())).or_insert_with(|| vec![first]).push(id as u32);
            } else {
                writers.insert((key, value.clone()), id as u32);
            }
        } else if let Meaning::Write { value, .. } = &m {
            if *value == opts.initial {
                return Err(Error::input(
                    &history.source,
                    inv.line,
                    format!("this write writes the initial value {value}, so reads of it cannot be told apart"),
                ));
            }
            if let Some(&other) = writers.get(&(key, value.clone())) {
                let line = history.invocation(&history.operations[other as usize]).line;
                return Err(Error::input(
                    &history.source,
                    inv.line,
                    format!(
                        "value {value} is written to this key again (first at line {line}); causal checking needs \
                         every value written at most once per key"
                    ),
                ));
            }
            writers.insert((key, value.clone()), id as u32);
        }
        meaning.push(m);
    }
    key_writes.resize(keys.len(), Vec::new());
    Ok(Parsed { keys, meaning, writers, repeated, key_writes })
}

// ---- The causal graph ----

/// An operation taking part in the causal check.
#[derive(Clone, Debug)]
struct Node {
    /// History operation id.
    id: u32,
    slot: u32,
    /// 1-based position in its process's included operations.
    idx: u32,
    key: u32,
    /// What it read (a read, or a cas's `from`), if it reads.
    read: Option<Src>,
    writes: bool,
}

/// A read's source, as a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    Init,
    Write(u32),
    ThinAir,
}

struct Graph {
    nodes: Vec<Node>,
    slots: usize,
    /// Process id of each slot.
    slot_process: Vec<u64>,
    /// Per key: its writes as (slot, index in the slot, node), by slot and then in program order; one flat
    /// array, so that a read's scan over every writer of its key reads memory in order (see [`writers`]).
    key_writers: Vec<Vec<(u32, u32, u32)>>,
    /// Per (key, slot): that slot's writes of the key, as a range of `key_writers[key]`.
    writer_range: FxHashMap<(u32, u32), (u32, u32)>,
    /// The previous node in the same process.
    po_pred: Vec<Option<u32>>,
}

/// The causal graph of one world: `world[id]` is the source of operation `id`'s observation, `None` where
/// it observes nothing or its observation is left out (see [`crate::worlds`]).
fn build(history: &History, parsed: &Parsed, world: &[Option<Source>]) -> Graph {
    let mut observed = vec![false; history.operations.len()];
    let mut reads: Vec<Option<Source>> = vec![None; history.operations.len()];
    // Operations that certainly happened observe what they read; an indeterminate cas observes its `from`
    // only once it is itself known to have happened (observed), else its read may never have taken place.
    let mut pending = Vec::new();
    for (id, m) in parsed.meaning.iter().enumerate() {
        let definite = match m {
            Meaning::Read { .. } | Meaning::Differs { .. } => true,
            Meaning::Write { from: Some(_), definite, .. } => *definite,
            _ => continue,
        };
        let Some(source) = world[id] else { continue };
        reads[id] = Some(source);
        match source {
            Source::Write(w) if definite => observed[w as usize] = true,
            Source::Write(w) => pending.push((id, w)),
            _ => {}
        }
    }
    // An indeterminate cas observed by someone happened, and so did its read; an indeterminate write or cas
    // nobody observed is left out. Repeat, since an included cas's read can observe another one.
    loop {
        let before = pending.len();
        pending.retain(|&(cas, w)| {
            if observed[cas] {
                observed[w as usize] = true;
            }
            !observed[cas]
        });
        if pending.len() == before {
            break;
        }
    }
    let included = |id: usize, observed: &[bool]| match &parsed.meaning[id] {
        Meaning::Read { .. } | Meaning::Differs { .. } => reads[id].is_some(),
        Meaning::Write { definite, .. } => *definite || observed[id],
        Meaning::Skip => false,
    };
    let mut node_of = vec![u32::MAX; history.operations.len()];
    let mut nodes = Vec::new();
    let mut slot_of: FxHashMap<u64, u32> = FxHashMap::default();
    let mut slot_process = Vec::new();
    let mut slot_len: Vec<u32> = Vec::new();
    let mut slot_last: Vec<u32> = Vec::new();
    let mut po_pred = Vec::new();
    for (id, op) in history.operations.iter().enumerate() {
        if !included(id, &observed) {
            continue;
        }
        let slot = *slot_of.entry(op.process).or_insert_with(|| {
            slot_process.push(op.process);
            slot_len.push(0);
            slot_last.push(u32::MAX);
            slot_process.len() as u32 - 1
        });
        slot_len[slot as usize] += 1;
        let (key, writes) = match &parsed.meaning[id] {
            Meaning::Read { key, .. } | Meaning::Differs { key, .. } => (*key, false),
            Meaning::Write { key, .. } => (*key, true),
            Meaning::Skip => unreachable!(),
        };
        node_of[id] = nodes.len() as u32;
        let last = slot_last[slot as usize];
        po_pred.push((last != u32::MAX).then_some(last));
        slot_last[slot as usize] = nodes.len() as u32;
        nodes.push(Node { id: id as u32, slot, idx: slot_len[slot as usize], key, read: None, writes });
    }
    for n in nodes.iter_mut() {
        n.read = reads[n.id as usize].map(|s| match s {
            Source::Init => Src::Init,
            Source::ThinAir => Src::ThinAir,
            Source::Write(w) => Src::Write(node_of[w as usize]),
        });
    }
    let mut key_writers: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); parsed.keys.len()];
    for (i, n) in nodes.iter().enumerate().filter(|(_, n)| n.writes) {
        key_writers[n.key as usize].push((n.slot, n.idx, i as u32));
    }
    let mut writer_range = FxHashMap::default();
    for (key, list) in key_writers.iter_mut().enumerate() {
        list.sort_unstable();
        let mut start = 0;
        for group in list.chunk_by(|a, b| a.0 == b.0) {
            writer_range.insert((key as u32, group[0].0), (start, start + group.len() as u32));
            start += group.len() as u32;
        }
    }
    Graph { nodes, slots: slot_process.len(), slot_process, key_writers, writer_range, po_pred }
}

/// One key's writes as (slot, index in the slot, node).
type Writes = [(u32, u32, u32)];

/// The writes of one key grouped by writer: (slot, that slot's writes of the key in program order).
fn writers(list: &Writes) -> impl Iterator<Item = (u32, &Writes)> {
    list.chunk_by(|a, b| a.0 == b.0).map(|group| (group[0].0, group))
}

/// Topological order by Kahn's algorithm over predecessor lists; the nodes left out lie on or after a cycle.
fn topological(n: usize, preds: &dyn Fn(u32, &mut Vec<u32>)) -> (Vec<u32>, Vec<bool>) {
    let mut indegree = vec![0u32; n];
    let mut succ_count = vec![0u32; n + 1];
    let mut buf = Vec::new();
    for v in 0..n as u32 {
        buf.clear();
        preds(v, &mut buf);
        indegree[v as usize] = buf.len() as u32;
        for &p in &buf {
            succ_count[p as usize + 1] += 1;
        }
    }
    for i in 0..n {
        succ_count[i + 1] += succ_count[i];
    }
    let mut fill = succ_count.clone();
    let mut succ = vec![0u32; succ_count[n] as usize];
    for v in 0..n as u32 {
        buf.clear();
        preds(v, &mut buf);
        for &p in &buf {
            succ[fill[p as usize] as usize] = v;
            fill[p as usize] += 1;
        }
    }
    let mut order: Vec<u32> = (0..n as u32).filter(|&v| indegree[v as usize] == 0).collect();
    let mut head = 0;
    while head < order.len() {
        let v = order[head] as usize;
        head += 1;
        for &s in &succ[succ_count[v] as usize..succ_count[v + 1] as usize] {
            indegree[s as usize] -= 1;
            if indegree[s as usize] == 0 {
                order.push(s);
            }
        }
    }
    let mut done = vec![false; n];
    for &v in &order {
        done[v as usize] = true;
    }
    (order, done)
}

/// A cycle among the nodes not `done`: walk back along undone predecessors until a node repeats.
fn find_cycle(n: usize, done: &[bool], preds: &dyn Fn(u32, &mut Vec<u32>)) -> Vec<u32> {
    let Some(start) = (0..n).find(|&v| !done[v]) else { return Vec::new() };
    let mut seen_at = vec![usize::MAX; n];
    let mut path = Vec::new();
    let mut v = start as u32;
    let mut buf = Vec::new();
    loop {
        if seen_at[v as usize] != usize::MAX {
            let mut cycle = path[seen_at[v as usize]..].to_vec();
            cycle.reverse();
            return cycle;
        }
        seen_at[v as usize] = path.len();
        path.push(v);
        buf.clear();
        preds(v, &mut buf);
        // A node left over by Kahn has a predecessor left over too.
        match buf.iter().find(|&&p| !done[p as usize]) {
            Some(&p) => v = p,
            None => return Vec::new(),
        }
    }
}

/// The immediate causal predecessors of `v`: its predecessor in program order and the write it read.
fn co_preds(g: &Graph, v: u32, out: &mut Vec<u32>) {
    if let Some(p) = g.po_pred[v as usize] {
        out.push(p);
    }
    if let Some(Src::Write(w)) = g.nodes[v as usize].read {
        out.push(w);
    }
}

/// Entries per chunk of a vector clock.
const CHUNK: usize = 64;

/// Strict causal pasts as vector clocks, stored as copy-on-write chunks of [`CHUNK`] entries.
///
/// Dense rows (one entry per process for every operation) cannot scale: every indeterminate write retires
/// a process and its client goes on under a new one, so the number of processes grows with the run (2,410
/// for a 1M-operation history with 0.5% indeterminate writes: 9 GiB of rows). The rows are the same
/// vectors, shared where they are equal: a row is a list of chunk ids, and an operation that learns nothing
/// new about other processes (every write, and most reads of one's own recent knowledge) shares its
/// predecessor's row outright. A process's own entry is not stored: in the strict causal past of its `i`th
/// operation it is always `i - 1` (its predecessors are in the past, and in an acyclic causal order none of
/// its later operations). Processes that are active at the same time got their numbers close together (slots
/// are numbered as processes first appear), so what an operation learns is mostly within one or two chunks;
/// the entries of retired processes settle and stay shared.
struct Clocks {
    /// Chunks per row.
    width: usize,
    /// Row id of each node.
    row_of: Vec<u32>,
    /// `width` chunk ids per row.
    rows: Vec<u32>,
    /// `CHUNK` entries per chunk; chunk 0 is all zeros, row 0 is all chunk 0.
    chunks: Vec<u32>,
}

impl Clocks {
    /// Bytes one more row and one more chunk take.
    fn bytes(&self) -> usize {
        (self.row_of.len() + self.rows.len() + self.chunks.len()) * 4
    }

    fn chunk(&self, row: u32, c: usize) -> &[u32] {
        let id = self.rows[row as usize * self.width + c] as usize;
        &self.chunks[id * CHUNK..(id + 1) * CHUNK]
    }

    /// Entry `slot` of node `v`'s strict causal past: the number of operations of that slot's process in it.
    fn get(&self, g: &Graph, v: u32, slot: u32) -> u32 {
        let node = &g.nodes[v as usize];
        if node.slot == slot {
            return node.idx - 1;
        }
        let id = self.rows[self.row_of[v as usize] as usize * self.width + slot as usize / CHUNK] as usize;
        self.chunks[id * CHUNK + slot as usize % CHUNK]
    }

    /// Node `v`'s strict causal past as a dense vector of `slots` entries.
    fn dense(&self, g: &Graph, v: u32) -> Vec<u32> {
        let row = self.row_of[v as usize];
        let mut out = Vec::with_capacity(self.width * CHUNK);
        for c in 0..self.width {
            out.extend_from_slice(self.chunk(row, c));
        }
        out.truncate(g.slots);
        let node = &g.nodes[v as usize];
        out[node.slot as usize] = node.idx - 1;
        out
    }

    /// The slots, ascending, of which `a`'s strict causal past holds more operations than `b`'s inclusive
    /// one (`b` and its past). Chunks the two rows share are skipped without reading them.
    fn ahead(&self, g: &Graph, a: u32, b: u32, out: &mut Vec<u32>) {
        out.clear();
        let (ra, rb) = (self.row_of[a as usize] as usize, self.row_of[b as usize] as usize);
        for c in 0..self.width {
            let (ia, ib) = (self.rows[ra * self.width + c], self.rows[rb * self.width + c]);
            if ia == ib {
                continue;
            }
            let (ca, cb) = (self.chunk(ra as u32, c), self.chunk(rb as u32, c));
            for i in 0..CHUNK {
                if ca[i] > cb[i] {
                    out.push((c * CHUNK + i) as u32);
                }
            }
        }
        // The two processes' own entries are not stored: compare them as they are.
        let (sa, sb) = (g.nodes[a as usize].slot, g.nodes[b as usize].slot);
        out.retain(|&s| s != sa && s != sb);
        for s in if sa == sb { vec![sa] } else { vec![sa, sb] } {
            let inclusive_b = self.get(g, b, s) + u32::from(s == sb);
            if self.get(g, a, s) > inclusive_b {
                out.push(s);
            }
        }
        out.sort_unstable();
    }

    /// The clocks of every node along a topological order of causal order; `None` past `memory_limit` bytes.
    fn build(g: &Graph, order: &[u32], memory_limit: usize) -> Option<Clocks> {
        let width = g.slots.div_ceil(CHUNK).max(1);
        let n = g.nodes.len();
        let mut clocks = Clocks { width, row_of: vec![0; n], rows: vec![0; width], chunks: vec![0; CHUNK] };
        let mut buf = [0u32; CHUNK];
        for &v in order {
            let node = &g.nodes[v as usize];
            let po = g.po_pred[v as usize];
            // The source of a read, when it is another process's: it may bring news of other processes.
            let src = match node.read {
                Some(Src::Write(w)) if g.nodes[w as usize].slot != node.slot => Some(w),
                _ => None,
            };
            let base = po.map_or(0, |p| clocks.row_of[p as usize]);
            let Some(w) = src else {
                // Nothing but its own process's past: the row of its predecessor (or the empty one).
                clocks.row_of[v as usize] = base;
                continue;
            };
            let wrow = clocks.row_of[w as usize];
            let wn = &g.nodes[w as usize];
            let mut fresh: Option<u32> = None;
            for c in 0..width {
                let a = clocks.rows[base as usize * width + c];
                let b = clocks.rows[wrow as usize * width + c];
                let has_w_slot = wn.slot as usize / CHUNK == c;
                if a == b && !has_w_slot {
                    continue;
                }
                let (ca, cb) = (a as usize * CHUNK, b as usize * CHUNK);
                for (i, x) in buf.iter_mut().enumerate() {
                    *x = clocks.chunks[ca + i].max(clocks.chunks[cb + i]);
                }
                if has_w_slot {
                    let i = wn.slot as usize % CHUNK;
                    buf[i] = buf[i].max(wn.idx);
                }
                // Its own entry is implicit: keep the predecessor's, so that rows stay shared.
                if node.slot as usize / CHUNK == c {
                    let i = node.slot as usize % CHUNK;
                    buf[i] = clocks.chunks[ca + i];
                }
                let id = if buf[..] == clocks.chunks[ca..ca + CHUNK] {
                    continue;
                } else if buf[..] == clocks.chunks[cb..cb + CHUNK] {
                    b
                } else {
                    clocks.chunks.extend_from_slice(&buf);
                    (clocks.chunks.len() / CHUNK - 1) as u32
                };
                let row = *fresh.get_or_insert_with(|| {
                    clocks.rows.extend_from_within(base as usize * width..(base as usize + 1) * width);
                    (clocks.rows.len() / width - 1) as u32
                });
                clocks.rows[row as usize * width + c] = id;
            }
            clocks.row_of[v as usize] = fresh.unwrap_or(base);
            if clocks.bytes() > memory_limit {
                return None;
            }
        }
        Some(clocks)
    }
}

struct Checker<'a> {
    history: &'a History,
    parsed: &'a Parsed,
    g: Graph,
    clocks: Clocks,
    max: usize,
}

impl Checker<'_> {
    fn op(&self, v: u32) -> OpRef {
        OpRef::new(self.history, self.g.nodes[v as usize].id)
    }

    /// `a` is strictly causally before `b`.
    fn co(&self, a: u32, b: u32) -> bool {
        let na = &self.g.nodes[a as usize];
        a != b && self.past(b, na.slot) >= na.idx
    }

    /// The writer groups of `r`'s key (as [`writers`] gives them) that may hold a write in `r`'s causal past
    /// that is not `w` nor causally before it: all of them if `r` read the initial value, else only the slots
    /// of which `r`'s past holds more than `w`'s, since the last write of a slot in `r`'s past is otherwise in
    /// `w`'s past or `w` itself.
    fn candidates(&self, r: u32, w: Option<u32>, buf: &mut Vec<u32>) -> Vec<(u32, &Writes)> {
        let key = self.g.nodes[r as usize].key;
        let list = &self.g.key_writers[key as usize];
        let Some(w) = w else { return writers(list).collect() };
        self.clocks.ahead(&self.g, r, w, buf);
        buf.iter()
            .filter_map(|&slot| {
                let &(a, b) = self.g.writer_range.get(&(key, slot))?;
                Some((slot, &list[a as usize..b as usize]))
            })
            .collect()
    }

    /// How many operations of `slot`'s process are in `v`'s strict causal past.
    fn past(&self, v: u32, slot: u32) -> u32 {
        self.clocks.get(&self.g, v, slot)
    }

    /// The last write of `key` by the writer entry `list` whose index is at most `bound`.
    fn last_write(&self, list: &Writes, bound: u32) -> Option<u32> {
        let n = list.partition_point(|&(_, idx, _)| idx <= bound);
        n.checked_sub(1).map(|i| list[i].2)
    }

    fn key(&self, v: u32) -> Option<Value> {
        self.parsed.keys[self.g.nodes[v as usize].key as usize].clone()
    }

    fn key_words(&self, v: u32) -> String {
        self.key(v).map_or(String::new(), |k| format!(" of key {k}"))
    }

    /// What `v` observed, in words: the value it read, or for a failed cas "a value other than 1".
    fn value_read(&self, v: u32) -> String {
        match &self.parsed.meaning[self.g.nodes[v as usize].id as usize] {
            Meaning::Read { value, .. } => value.to_string(),
            Meaning::Write { from: Some(f), .. } => f.to_string(),
            Meaning::Differs { not, .. } => format!("a value other than {not}"),
            _ => Value::Null.to_string(),
        }
    }

    /// "process 2 read the initial value of key "x" (line 9)", or for a failed cas, what it is read as.
    fn saw_initial(&self, r: u32) -> String {
        match &self.parsed.meaning[self.g.nodes[r as usize].id as usize] {
            Meaning::Differs { not, .. } => format!(
                "process {}'s cas{} ({}) failed its comparison with {not}, so it saw another value: the initial \
                 value here",
                self.process(r),
                self.key_words(r),
                self.at(r)
            ),
            _ => format!("process {} read the initial value{} ({})", self.process(r), self.key_words(r), self.at(r)),
        }
    }

    fn value_written(&self, v: u32) -> Value {
        match &self.parsed.meaning[self.g.nodes[v as usize].id as usize] {
            Meaning::Write { value, .. } => value.clone(),
            _ => Value::Null,
        }
    }

    fn process(&self, v: u32) -> u64 {
        self.g.slot_process[self.g.nodes[v as usize].slot as usize]
    }

    fn anomaly(&self, kind: AnomalyKind, nodes: &[u32], explanation: String) -> Anomaly {
        Anomaly {
            kind,
            key: nodes.first().and_then(|&v| self.key(v)),
            ops: nodes.iter().map(|&v| self.op(v)).collect(),
            explanation,
        }
    }

    fn at(&self, v: u32) -> String {
        self.op(v).lines()
    }

    /// "write 2 to key "x" by process 1 (lines 3–4)", "read of key "x" by process 2 returned 1 (line 9)".
    fn describe(&self, v: u32) -> String {
        let o = self.op(v);
        let key = self.key(v).map_or(String::new(), |k| format!(" key {k}"));
        let what = match &self.parsed.meaning[o.id as usize] {
            Meaning::Write { value, from: None, .. } => format!("write {value} to{key} by process {}", o.process),
            Meaning::Write { value, from: Some(f), .. } => {
                format!("cas{key} from {f} to {value} by process {}", o.process)
            }
            Meaning::Differs { not, .. } => {
                format!("failed cas{key} from {not} by process {} (it saw another value)", o.process)
            }
            _ => format!("read of{key} by process {} returned {}", o.process, self.value_read(v)),
        };
        format!("{what} ({})", o.lines())
    }

    fn thin_air(&self, r: u32) -> Anomaly {
        if let Meaning::Differs { not, .. } = &self.parsed.meaning[self.g.nodes[r as usize].id as usize] {
            let text = format!(
                "process {}'s cas{} ({}) failed its comparison, so the key held a value other than {not}, but it \
                 never held another value: the initial value and every write of it are {not}.",
                self.process(r),
                self.key_words(r),
                self.at(r)
            );
            return self.anomaly(AnomalyKind::ThinAirRead, &[r], text);
        }
        let text = format!(
            "process {} read {}{} ({}), but no operation wrote that value to that key.",
            self.process(r),
            self.value_read(r),
            self.key_words(r),
            self.at(r)
        );
        self.anomaly(AnomalyKind::ThinAirRead, &[r], text)
    }

    fn cycle_text(&self, cycle: &[u32], edge: &dyn Fn(u32, u32) -> String) -> String {
        let mut text = String::new();
        for (i, &v) in cycle.iter().enumerate() {
            let next = cycle[(i + 1) % cycle.len()];
            text.push_str(&format!("\n  - {}; {}", self.describe(v), edge(v, next)));
        }
        if let Some(&first) = cycle.first() {
            text.push_str(&format!(" the first one again ({}).", self.at(first)));
        }
        text
    }

    fn edge_words(&self, a: u32, b: u32) -> String {
        if self.g.po_pred[b as usize] == Some(a) {
            format!("then process {} did", self.process(b))
        } else if self.g.nodes[b as usize].read == Some(Src::Write(a)) {
            "its value was read by".to_string()
        } else {
            "it is ordered before".to_string()
        }
    }
}

/// Checks a history for CC, CM and CCv: in its one world where every observation names its source, else
/// in every world while they are few (a model holds if it holds in some world), else in the likeliest world
/// and the one without the ambiguous observations (see [`crate::worlds`]).
pub fn check(history: &History, opts: &Options) -> Result<Analysis, Error> {
    let started = Instant::now();
    let parsed = parse_observing(history, &opts.model)?;
    let sources = worlds::sources(history, &parsed, &opts.model.initial);
    let first = check_world(history, &parsed, &sources.world(0), opts, started)?;
    if sources.ambiguous() == 0 {
        return Ok(first);
    }
    let mut best = first;
    let settled = |a: &Analysis| [&a.cc, &a.cm, &a.ccv].iter().all(|r| r.status == Status::Holds);
    // A variant's result in another world replaces the first world's where it is better: holds over unknown
    // over violated.
    let rank = |s: Status| match s {
        Status::Holds => 2,
        Status::Unknown => 1,
        Status::Violated => 0,
    };
    let merge = |best: &mut Analysis, other: Analysis| {
        for (b, o) in [(&mut best.cc, other.cc), (&mut best.cm, other.cm), (&mut best.ccv, other.ccv)] {
            if rank(o.status) > rank(b.status) {
                *b = o;
            }
        }
    };
    let operations = history.operations.len();
    if worlds::exact(sources.worlds, operations) {
        for n in 1..sources.worlds {
            if settled(&best) {
                break;
            }
            let other = check_world(history, &parsed, &sources.world(n), opts, started)?;
            merge(&mut best, other);
        }
        for r in [&mut best.cc, &mut best.cm, &mut best.ccv] {
            if r.status == Status::Violated {
                let note = format!(
                    " (The history can be read in {} ways, its repeated values or failed cas having more than \
                     one possible source; this is one of them, and every one is violated.)",
                    sources.worlds
                );
                r.anomalies.iter_mut().for_each(|a| a.explanation.push_str(&note));
            }
        }
    } else if !settled(&best) {
        // Leaving the ambiguous observations out can only drop constraints: what it violates, every world does.
        let relaxed = check_world(history, &parsed, &sources.relaxed(), opts, started)?;
        let cause = worlds::beyond_cause(sources.ambiguous(), sources.worlds, operations);
        for (b, r) in [(&mut best.cc, relaxed.cc), (&mut best.cm, relaxed.cm), (&mut best.ccv, relaxed.ccv)] {
            if b.status == Status::Holds {
                continue;
            }
            if r.status == Status::Violated {
                *b = r;
            } else {
                *b = VariantResult {
                    variant: b.variant,
                    status: Status::Unknown,
                    anomalies: vec![],
                    anomaly_count: 0,
                    unknown_cause: Some(b.unknown_cause.clone().unwrap_or_else(|| cause.clone())),
                };
            }
        }
    }
    best.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(best)
}

/// Checks one world of a history (`world[id]`: operation `id`'s source, see [`build`]).
fn check_world(
    history: &History,
    parsed: &Parsed,
    world: &[Option<Source>],
    opts: &Options,
    started: Instant,
) -> Result<Analysis, Error> {
    let g = build(history, parsed, world);
    let n = g.nodes.len();
    let processes = g.slots;
    let result = |variant, status, anomalies: Vec<Anomaly>, count, cause: Option<String>| VariantResult {
        variant,
        status,
        anomalies,
        anomaly_count: count,
        unknown_cause: cause,
    };
    let finish = |cc: VariantResult, cm: VariantResult, ccv: VariantResult| Analysis {
        cc,
        cm,
        ccv,
        operations: n,
        processes,
        fixpoint_processes: 0,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    let (order, done) = topological(n, &|v, out| co_preds(&g, v, out));
    let empty = Clocks { width: 1, row_of: vec![], rows: vec![0], chunks: vec![0; CHUNK] };
    let mut checker = Checker { history, parsed, g, clocks: empty, max: opts.max_anomalies };
    let mut cc: Vec<Anomaly> = Vec::new();
    let mut cc_count = 0;
    let push = |list: &mut Vec<Anomaly>, count: &mut usize, a: Anomaly, max: usize| {
        *count += 1;
        if list.len() < max {
            list.push(a);
        }
    };
    for v in 0..n as u32 {
        if checker.g.nodes[v as usize].read == Some(Src::ThinAir) {
            let a = checker.thin_air(v);
            push(&mut cc, &mut cc_count, a, checker.max);
        }
    }
    if order.len() < n {
        let cycle = find_cycle(n, &done, &|v, out| co_preds(&checker.g, v, out));
        let text = format!(
            "Causal order is cyclic: each operation below causally precedes the next, and the last precedes the \
             first, so some read returned a value that depends on its own future:{}",
            checker.cycle_text(&cycle, &|a, b| checker.edge_words(a, b))
        );
        let a = checker.anomaly(AnomalyKind::CyclicCO, &cycle, text);
        push(&mut cc, &mut cc_count, a, checker.max);
        let v = result(Variant::CC, Status::Violated, cc.clone(), cc_count, None);
        return Ok(finish(
            v.clone(),
            VariantResult { variant: Variant::CM, ..v.clone() },
            VariantResult { variant: Variant::CCv, ..v },
        ));
    }
    // Vector clocks of strict causal pasts, along the topological order.
    let Some(clocks) = Clocks::build(&checker.g, &order, opts.memory_limit) else {
        let cause = format!(
            "the causal vector clocks ({n} operations × {} processes) took more than the limit of {} MiB",
            checker.g.slots,
            opts.memory_limit >> 20
        );
        return Ok(finish(
            result(Variant::CC, Status::Unknown, vec![], 0, Some(cause.clone())),
            result(Variant::CM, Status::Unknown, vec![], 0, Some(cause.clone())),
            result(Variant::CCv, Status::Unknown, vec![], 0, Some(cause)),
        ));
    };
    checker.clocks = clocks;

    // WriteCOInitRead and WriteCORead, and CCv's conflict edges from the same scan (used only if CC holds,
    // that is, when no read's scan stopped early at an anomaly).
    let mut conflicts = Conflicts::new(n, checker.g.slots);
    let mut buf = Vec::new();
    for r in 0..n as u32 {
        let node = &checker.g.nodes[r as usize];
        let source = match node.read {
            Some(Src::Init) => None,
            Some(Src::Write(w)) => Some(w),
            _ => continue,
        };
        let src = node.read.expect("a read");
        for (slot, list) in checker.candidates(r, source, &mut buf) {
            let Some(z) = checker.last_write(list, checker.past(r, slot)) else { continue };
            if let Some(w) = source {
                conflicts.add(&checker, r, w, z);
            }
            match src {
                Src::Init => {
                    let text = format!(
                        "{}, but it had already causally seen {} ({}), which overwrote it.",
                        checker.saw_initial(r),
                        checker.op(z).describe(),
                        checker.at(z)
                    );
                    let a = checker.anomaly(AnomalyKind::WriteCOInitRead, &[r, z], text);
                    push(&mut cc, &mut cc_count, a, checker.max);
                    break;
                }
                Src::Write(w) if z != w && checker.co(w, z) => {
                    let text = format!(
                        "process {} read {}{} ({}), written by process {} ({}), but it had already causally seen \
                         {} written by process {} ({}), which was itself written causally after {}: the read \
                         returned an overwritten value.",
                        checker.process(r),
                        checker.value_read(r),
                        checker.key_words(r),
                        checker.at(r),
                        checker.process(w),
                        checker.at(w),
                        checker.value_written(z),
                        checker.process(z),
                        checker.at(z),
                        checker.value_written(w),
                    );
                    let a = checker.anomaly(AnomalyKind::WriteCORead, &[r, w, z], text);
                    push(&mut cc, &mut cc_count, a, checker.max);
                    break;
                }
                _ => {}
            }
        }
    }
    if cc_count > 0 {
        let v = result(Variant::CC, Status::Violated, cc.clone(), cc_count, None);
        return Ok(finish(
            v.clone(),
            VariantResult { variant: Variant::CM, ..v.clone() },
            VariantResult { variant: Variant::CCv, ..v },
        ));
    }
    let cc_result = result(Variant::CC, Status::Holds, vec![], 0, None);
    // Causal memory needs its fixpoint only for the processes whose reads forced a conflict edge (for the
    // others happens-before is causal order, which CC has just found sound), and among those only for the
    // ones one shared order of the whole history does not already serve as a valid view.
    let mut forced = conflicts.forced.clone();
    let view = view_order(&checker, &conflicts);
    served_by_view(&checker, &view, &mut forced);
    if let Some(hint) = opts.view_hint.as_deref().filter(|_| opts.cm_fixpoint && forced.iter().any(|&f| f)) {
        let position = hinted_order(&checker, hint, &view);
        served_by_view(&checker, &position, &mut forced);
    }
    let ccv_result = check_ccv(&checker, conflicts);
    let deadline = opts.time_limit.map(|t| started + t);
    // Where dense clocks would have fitted, causal memory runs as it always has; past that, only if its
    // dense fixpoint over the forced processes stays within a bounded amount of work.
    let dense_fits = n.saturating_mul(checker.g.slots).saturating_mul(4) <= opts.memory_limit;
    let cm_work = cm_work(&checker, &forced);
    let cm_result = if !opts.cm_fixpoint && forced.iter().any(|&f| f) {
        result(Variant::CM, Status::Unknown, vec![], 0, Some(CM_DEFERRED.into()))
    } else if dense_fits || cm_work <= CM_WORK_LIMIT {
        check_cm(&checker, &forced, deadline)
    } else {
        let cause = format!(
            "the causal-memory fixpoint would join about {} million vector-clock entries per round ({} of {} \
             processes' views, each a vector of one entry per process), over its limit of {} million",
            cm_work / 1_000_000,
            forced.iter().filter(|&&f| f).count(),
            checker.g.slots,
            CM_WORK_LIMIT / 1_000_000
        );
        result(Variant::CM, Status::Unknown, vec![], 0, Some(cause))
    };
    Ok(Analysis {
        fixpoint_processes: forced.iter().filter(|&&f| f).count(),
        ..finish(cc_result, cm_result, ccv_result)
    })
}

/// CCv's conflict edges, reduced to the last write of each process in the read's past and to those not
/// already implied by causal order: `cf[w]` lists the writes `z` that must be arbitrated before `w`, and
/// `witness` the read that forced each.
///
/// The same edges, read per reading process, are causal memory's extra happens-before edges of its first
/// round: `forced[slot]` says whether any read of that slot's process forced one (see [`check_cm`]).
struct Conflicts {
    cf: Vec<Vec<u32>>,
    witness: FxHashMap<(u32, u32), u32>,
    forced: Vec<bool>,
}

impl Conflicts {
    fn new(n: usize, slots: usize) -> Conflicts {
        Conflicts { cf: vec![Vec::new(); n], witness: FxHashMap::default(), forced: vec![false; slots] }
    }

    /// Read `r` of `w` has `z`, a write of the same key, in its causal past.
    fn add(&mut self, c: &Checker<'_>, r: u32, w: u32, z: u32) {
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
fn check_ccv(c: &Checker<'_>, conflicts: Conflicts) -> VariantResult {
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

/// One total order of all nodes that extends causal order, and the conflict order too where that is
/// acyclic, taking nodes in real-time order wherever causality leaves a choice: the candidate view of every
/// process for [`served_by_view`]. Returned as each node's position.
///
/// The conflict edges are every process's first extra happens-before edges, so a view that follows them
/// serves most processes; following real time makes it close to the order in which a store that is nearly
/// linearizable served its reads. The choice of order only decides how many processes are left to the
/// fixpoint, never a verdict: [`served_by_view`] tests the view it gives exactly.
fn view_order(c: &Checker<'_>, conflicts: &Conflicts) -> Vec<u32> {
    let n = c.g.nodes.len();
    let co = |v: u32, out: &mut Vec<u32>| co_preds(&c.g, v, out);
    let co_cf = |v: u32, out: &mut Vec<u32>| {
        co_preds(&c.g, v, out);
        out.extend_from_slice(&conflicts.cf[v as usize]);
    };
    // A read where it was invoked, a write where it completed: of a read and a write that overlap, the
    // read that did not see the write comes first, as a store that serves reads in real time would have
    // ordered them. An indeterminate write has no completion worth the name: where it was invoked.
    let rank: Vec<(u32, u32)> =
        c.g.nodes
            .iter()
            .enumerate()
            .map(|(v, node)| {
                let op = &c.history.operations[node.id as usize];
                let at = match op.complete {
                    Some(done) if node.writes && op.outcome == Outcome::Ok => done,
                    _ => op.invoke,
                };
                (at, v as u32)
            })
            .collect();
    // Of two writes of a key that overlap, the one a later read did not return was overwritten by the one
    // it did: `overwritten[w]` lists the writes `z` ordered before `w` so, taken from reads that began after
    // `z` completed.
    let span = |v: u32| {
        let op = &c.history.operations[c.g.nodes[v as usize].id as usize];
        (op.invoke, op.complete.filter(|_| op.outcome == Outcome::Ok).unwrap_or(u32::MAX))
    };
    let mut by_completion: Vec<Vec<(u32, u32)>> = vec![Vec::new(); c.g.key_writers.len()];
    for (key, list) in c.g.key_writers.iter().enumerate() {
        by_completion[key] = list.iter().map(|&(_, _, v)| (span(v).1, v)).collect();
        by_completion[key].sort_unstable();
    }
    let mut overwritten: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (r, node) in c.g.nodes.iter().enumerate() {
        let Some(Src::Write(w)) = node.read else { continue };
        let ((w_invoke, w_complete), r_invoke) = (span(w), span(r as u32).0);
        let list = &by_completion[node.key as usize];
        let start = list.partition_point(|&(done, _)| done <= w_invoke);
        for &(done, z) in &list[start..] {
            if done >= r_invoke {
                break;
            }
            if z != w && span(z).0 < w_complete && !overwritten[w as usize].contains(&z) {
                overwritten[w as usize].push(z);
            }
        }
    }
    let co_cf_ww = |v: u32, out: &mut Vec<u32>| {
        co_cf(v, out);
        out.extend_from_slice(&overwritten[v as usize]);
    };
    let order = history_topological(&rank, &co_cf_ww)
        .or_else(|| history_topological(&rank, &co_cf))
        .unwrap_or_else(|| history_topological(&rank, &co).expect("causal order is acyclic when CM is checked"));
    positions(&order)
}

/// The candidate view `hint` gives (history operation ids in order), as each node's position: causal order
/// taken with the hint's order wherever causality leaves a choice, nodes it leaves out after the rest in
/// `view`'s order. Where the hint extends causal order, that is the hint's own order.
fn hinted_order(c: &Checker<'_>, hint: &[u32], view: &[u32]) -> Vec<u32> {
    let mut at = vec![u32::MAX; c.history.operations.len()];
    for (i, &id) in hint.iter().enumerate() {
        if let Some(a) = at.get_mut(id as usize) {
            *a = i as u32;
        }
    }
    let rank: Vec<(u64, u32)> =
        c.g.nodes
            .iter()
            .enumerate()
            .map(|(v, node)| match at[node.id as usize] {
                u32::MAX => ((1 << 32) + u64::from(view[v]), v as u32),
                i => (u64::from(i), v as u32),
            })
            .collect();
    positions(&history_topological(&rank, &|v, out| co_preds(&c.g, v, out)).expect("causal order is acyclic here"))
}

/// Each node's place in `order`, a permutation of the nodes.
fn positions(order: &[u32]) -> Vec<u32> {
    let mut position = vec![0u32; order.len()];
    for (i, &v) in order.iter().enumerate() {
        position[v as usize] = i as u32;
    }
    position
}

/// A topological order over predecessor lists that takes the ready node of smallest `rank` first (`rank[v]`
/// ends with `v`); `None` if there is a cycle.
fn history_topological<R: Ord + Copy>(rank: &[(R, u32)], preds: &dyn Fn(u32, &mut Vec<u32>)) -> Option<Vec<u32>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = rank.len();
    let mut indegree = vec![0u32; n];
    let mut succ: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut buf = Vec::new();
    for v in 0..n as u32 {
        buf.clear();
        preds(v, &mut buf);
        indegree[v as usize] = buf.len() as u32;
        for &p in &buf {
            succ[p as usize].push(v);
        }
    }
    let mut ready: BinaryHeap<Reverse<(R, u32)>> =
        (0..n).filter(|&v| indegree[v] == 0).map(|v| Reverse(rank[v])).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse((_, v))) = ready.pop() {
        order.push(v);
        for &s in &succ[v as usize] {
            indegree[s as usize] -= 1;
            if indegree[s as usize] == 0 {
                ready.push(Reverse(rank[s as usize]));
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// Clears `forced` for each process for which the order `position` (extending causal order), restricted to
/// the causal past of the process's last operation, is a valid causal-memory view: every read of the
/// process returns the last write of its key before it. Such an order restricted further to the causal past
/// of any earlier operation of the process is still valid for the reads up to it (it loses writes, never the
/// one a read returned, which is in the read's past), so the process satisfies CM, and its happens-before,
/// which every valid view extends, is acyclic with no write before a read of the initial value.
///
/// Cost: per read, the writes of its key between the write it returned (or the start) and itself in the
/// order, each tested against one vector clock.
fn served_by_view(c: &Checker<'_>, position: &[u32], forced: &mut [bool]) {
    // Per key, its writes by position.
    let mut by_position: Vec<Vec<(u32, u32)>> = vec![Vec::new(); c.g.key_writers.len()];
    for (key, list) in c.g.key_writers.iter().enumerate() {
        by_position[key] = list.iter().map(|&(_, _, v)| (position[v as usize], v)).collect();
        by_position[key].sort_unstable();
    }
    let mut last = vec![u32::MAX; c.g.slots];
    for (v, node) in c.g.nodes.iter().enumerate() {
        last[node.slot as usize] = v as u32;
    }
    let mut unserved = vec![false; c.g.slots];
    for (v, node) in c.g.nodes.iter().enumerate() {
        let slot = node.slot as usize;
        if !forced[slot] || unserved[slot] {
            continue;
        }
        let from = match node.read {
            Some(Src::Init) => 0,
            Some(Src::Write(w)) => position[w as usize] + 1,
            _ => continue,
        };
        let to = position[v];
        let list = &by_position[node.key as usize];
        let start = list.partition_point(|&(p, _)| p < from);
        let end = list.partition_point(|&(p, _)| p < to);
        let l = last[slot];
        let in_view = |z: u32| {
            let zn = &c.g.nodes[z as usize];
            zn.slot == node.slot || c.past(l, zn.slot) >= zn.idx
        };
        if list[start..end.max(start)].iter().any(|&(_, z)| in_view(z)) {
            unserved[slot] = true;
        }
    }
    for (f, u) in forced.iter_mut().zip(unserved) {
        *f = *f && u;
    }
}

/// Entries of vector clocks the causal-memory fixpoint may join in one round, where dense clocks of every
/// operation would not have fitted in memory (a round costs about a second per few billion).
const CM_WORK_LIMIT: u64 = 4_000_000_000;

/// The entries [`check_cm`] joins in one round of its fixpoint, at most: per process, every read and target
/// joins the last target of each writer process of its targets, a vector of one entry per process.
fn cm_work(c: &Checker<'_>, forced: &[bool]) -> u64 {
    let mut reads = vec![0u64; c.g.slots];
    let mut targets: Vec<Vec<u32>> = vec![Vec::new(); c.g.slots];
    for node in c.g.nodes.iter().filter(|node| forced[node.slot as usize]) {
        if let Some(src) = node.read {
            reads[node.slot as usize] += 1;
            if let Src::Write(w) = src {
                targets[node.slot as usize].push(w);
            }
        }
    }
    let mut work = 0u64;
    for (slot, t) in targets.iter_mut().enumerate() {
        t.sort_unstable();
        t.dedup();
        let mut groups: Vec<u32> = t.iter().map(|&w| c.g.nodes[w as usize].slot).collect();
        groups.sort_unstable();
        groups.dedup();
        let joins = (reads[slot] + t.len() as u64) * groups.len() as u64;
        work = work.saturating_add(joins.saturating_mul(c.g.slots as u64));
    }
    work
}

/// CM: per process, the happens-before of its last operation, as a fixpoint.
///
/// `hb` is the smallest transitive relation containing causal order (within the causal past) and, for each
/// read `r` of this process of `w` on key k, an edge `z → w` for every other write `z` of k with `z hb r`.
/// Every extra edge ends at a write the process read (a *target*), so the strict `hb`-past of any operation
/// is its causal past joined with the `hb`-pasts of the targets causally before it, plus, for a target, the
/// extra edges into it. `hb`-pasts are closed under program order, so they are vector clocks too.
///
/// Only the processes `forced` are computed. For any other process, the first round adds no extra edge: a
/// read `r` of `w` adds `z → w` only for a write `z` of its key in its (then causal) past that is not `w`
/// nor causally before it, and the scan of CC's patterns has found none (per writer, only the last write
/// in `r`'s past needs looking at, as there). With no extra edge `hb` is causal order, which is acyclic,
/// and a read of the initial value with a write of its key in its `hb`-past is CC's `WriteCOInitRead`; CC
/// holds when this runs, so such a process satisfies CM.
fn check_cm(c: &Checker<'_>, forced: &[bool], deadline: Option<Instant>) -> VariantResult {
    let n = c.g.nodes.len();
    let slots = c.g.slots;
    let mut by_slot: Vec<Vec<u32>> = vec![Vec::new(); slots];
    for v in 0..n as u32 {
        let slot = c.g.nodes[v as usize].slot as usize;
        if forced[slot] {
            by_slot[slot].push(v);
        }
    }
    let mut anomalies = Vec::new();
    for reads_of in &by_slot {
        let reads: Vec<u32> = reads_of.iter().copied().filter(|&v| c.g.nodes[v as usize].read.is_some()).collect();
        if reads.is_empty() {
            continue;
        }
        // Targets and their hb-pasts, grouped by slot in program order.
        let mut targets: Vec<u32> = reads
            .iter()
            .filter_map(|&r| if let Some(Src::Write(w)) = c.g.nodes[r as usize].read { Some(w) } else { None })
            .collect();
        targets.sort_unstable_by_key(|&t| (c.g.nodes[t as usize].slot, c.g.nodes[t as usize].idx));
        targets.dedup();
        let mut h: FxHashMap<u32, Vec<u32>> = targets.iter().map(|&t| (t, c.clocks.dense(&c.g, t))).collect();
        let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
        for &t in &targets {
            let s = c.g.nodes[t as usize].slot;
            match groups.last_mut() {
                Some((gs, list)) if *gs == s => list.push(t),
                _ => groups.push((s, vec![t])),
            }
        }
        // Inclusive hb-past of any node: its causal past, joined with the targets before it, to a fixpoint.
        let hb = |v: u32, h: &FxHashMap<u32, Vec<u32>>, inclusive: bool| -> Vec<u32> {
            let mut row = match h.get(&v) {
                Some(r) => r.clone(),
                None => c.clocks.dense(&c.g, v),
            };
            let nv = &c.g.nodes[v as usize];
            if inclusive {
                row[nv.slot as usize] = row[nv.slot as usize].max(nv.idx);
            }
            loop {
                let mut grew = false;
                for (s, list) in &groups {
                    let bound = row[*s as usize];
                    let k = list.partition_point(|&t| c.g.nodes[t as usize].idx <= bound);
                    let k = if k > 0 && list[k - 1] == v { k - 1 } else { k };
                    if k == 0 {
                        continue;
                    }
                    let t = list[k - 1];
                    for (a, b) in row.iter_mut().zip(&h[&t]) {
                        if *b > *a {
                            *a = *b;
                            grew = true;
                        }
                    }
                }
                if !grew {
                    return row;
                }
            }
        };
        // Extra edges into each target, with the read that forced each.
        let mut into: FxHashMap<u32, Vec<(u32, u32)>> = FxHashMap::default();
        let mut because: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
        let mut violated: Option<Anomaly> = None;
        loop {
            if deadline.is_some_and(|d| Instant::now() > d) {
                return VariantResult {
                    variant: Variant::CM,
                    status: Status::Unknown,
                    anomalies,
                    anomaly_count: 0,
                    unknown_cause: Some("the time limit was reached during the causal-memory fixpoint".into()),
                };
            }
            let mut changed = false;
            for &r in &reads {
                let node = &c.g.nodes[r as usize];
                let Some(Src::Write(w)) = node.read else { continue };
                let mut hr = hb(r, &h, true);
                // A cas reads before it writes: its own write is not in the past of its read.
                if node.writes {
                    hr[node.slot as usize] = node.idx - 1;
                }
                for (slot, list) in writers(&c.g.key_writers[node.key as usize]) {
                    let Some(z) = c.last_write(list, hr[slot as usize]) else { continue };
                    let zn = &c.g.nodes[z as usize];
                    if z == w || h[&w][zn.slot as usize] >= zn.idx {
                        continue;
                    }
                    let edges = into.entry(w).or_default();
                    if !edges.iter().any(|&(e, _)| e == z) {
                        edges.push((z, r));
                    }
                }
            }
            for &t in &targets {
                // A target's strict hb-past: its own and the targets' before it, and the extra edges into it.
                let mut acc = hb(t, &h, false);
                for &(z, r) in into.get(&t).map_or(&[][..], |e| &e[..]) {
                    // Already in t's hb-past: then so is z's (hb-pasts are closed), up to the fixpoint, which
                    // the joins of targets in `hb` reach.
                    let zn = &c.g.nodes[z as usize];
                    if acc[zn.slot as usize] >= zn.idx {
                        continue;
                    }
                    let hz = hb(z, &h, true);
                    let mut grew = false;
                    for (a, b) in acc.iter_mut().zip(&hz) {
                        if *b > *a {
                            *a = *b;
                            grew = true;
                        }
                    }
                    if grew {
                        because.entry(t).or_insert((z, r));
                    }
                }
                let ht = h.get_mut(&t).expect("target");
                if acc.iter().zip(ht.iter()).any(|(a, b)| a > b) {
                    for (a, b) in ht.iter_mut().zip(&acc) {
                        *a = (*a).max(*b);
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
            let cyclic = targets.iter().any(|&t| {
                let tn = &c.g.nodes[t as usize];
                h[&t][tn.slot as usize] >= tn.idx
            });
            if cyclic {
                break;
            }
        }
        if violated.is_none() {
            for &t in &targets {
                let tn = &c.g.nodes[t as usize];
                if h[&t][tn.slot as usize] >= tn.idx {
                    let Some(&(z, r)) = because.get(&t) else { continue };
                    let text = format!(
                        "process {}'s happens-before order is cyclic: {} must precede {} (because of its read at {}) \
                         and also follows it.",
                        c.process(r),
                        c.describe(z),
                        c.describe(t),
                        c.at(r)
                    );
                    violated = Some(c.anomaly(AnomalyKind::CyclicHB, &[r, t, z], text));
                    break;
                }
            }
        }
        if violated.is_none() {
            for &r in &reads {
                let node = &c.g.nodes[r as usize];
                if node.read != Some(Src::Init) {
                    continue;
                }
                let hr = hb(r, &h, true);
                let own = &mut hr.clone();
                own[node.slot as usize] = node.idx - 1;
                for (slot, list) in writers(&c.g.key_writers[node.key as usize]) {
                    if let Some(z) = c.last_write(list, own[slot as usize]) {
                        // Which forced order put z before the read: a target before the read whose view has z.
                        let zn = &c.g.nodes[z as usize];
                        let why = targets
                            .iter()
                            .filter(|&&t| {
                                let tn = &c.g.nodes[t as usize];
                                own[tn.slot as usize] >= tn.idx && h[&t][zn.slot as usize] >= zn.idx
                            })
                            .find_map(|&t| because.get(&t).map(|&(y, by)| (t, y, by)));
                        let mut text = format!(
                            "{}, but in its view {} ({}) happened before that read.",
                            c.saw_initial(r),
                            c.op(z).describe(),
                            c.at(z)
                        );
                        let mut nodes = vec![r, z];
                        if let Some((t, y, by)) = why {
                            text.push_str(&format!(
                                " Its view must place {} ({}) before {} ({}), since it read {} ({}) while the former \
                                 was already in its view; the write of {} comes after {}, and {} before the read of \
                                 the initial value.",
                                c.op(y).describe(),
                                c.at(y),
                                c.op(t).describe(),
                                c.at(t),
                                c.value_read(by),
                                c.at(by),
                                c.value_written(y),
                                c.value_written(z),
                                c.value_written(t),
                            ));
                            nodes.extend([t, y, by]);
                        }
                        violated = Some(c.anomaly(AnomalyKind::WriteHBInitRead, &nodes, text));
                        break;
                    }
                }
                if violated.is_some() {
                    break;
                }
            }
        }
        if let Some(a) = violated {
            anomalies.push(a);
        }
    }
    let count = anomalies.len();
    anomalies.truncate(c.max);
    VariantResult {
        variant: Variant::CM,
        status: if count > 0 { Status::Violated } else { Status::Holds },
        anomalies,
        anomaly_count: count,
        unknown_cause: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_rng::Rng;

    /// A random acyclic causal graph: `clients` clients run operations in turn, each a write (of one of
    /// `keys` keys) or a read of an earlier write or of the initial value; after an operation a client goes
    /// on under a new process with probability `retire`, as after an indeterminate result.
    fn random_graph(rng: &mut Rng, n: usize, clients: u64, keys: u32, retire: f64) -> Graph {
        let mut process_of: Vec<u32> = (0..clients as u32).collect();
        let mut slots = clients as usize;
        let mut slot_len = vec![0u32; slots];
        let mut last: Vec<Option<u32>> = vec![None; slots];
        let mut nodes = Vec::new();
        let mut po_pred = Vec::new();
        let mut writes: Vec<u32> = Vec::new();
        for v in 0..n as u32 {
            let client = rng.below(clients) as usize;
            let slot = process_of[client];
            slot_len[slot as usize] += 1;
            let writes_now = writes.is_empty() || rng.below(2) == 0;
            let (key, read) = if writes_now {
                (rng.below(keys as u64) as u32, None)
            } else if rng.below(10) == 0 {
                (rng.below(keys as u64) as u32, Some(Src::Init))
            } else {
                // Mostly recent writes, sometimes any earlier one.
                let back = if rng.below(4) == 0 { writes.len() } else { writes.len().min(30) };
                let w = writes[writes.len() - 1 - rng.below(back as u64) as usize];
                (nodes.get(w as usize).map_or(0, |n: &Node| n.key), Some(Src::Write(w)))
            };
            nodes.push(Node { id: v, slot, idx: slot_len[slot as usize], key, read, writes: writes_now });
            po_pred.push(last[slot as usize]);
            last[slot as usize] = Some(v);
            if writes_now {
                writes.push(v);
            }
            if rng.unit() < retire {
                process_of[client] = slots as u32;
                slots += 1;
                slot_len.push(0);
                last.push(None);
            }
        }
        Graph {
            nodes,
            slots,
            slot_process: (0..slots as u64).collect(),
            key_writers: vec![],
            writer_range: FxHashMap::default(),
            po_pred,
        }
    }

    /// The dense clocks, one full row per node, as the checker computed them before they were chunked.
    fn dense_clocks(g: &Graph, order: &[u32]) -> Vec<Vec<u32>> {
        let mut rows = vec![vec![0u32; g.slots]; g.nodes.len()];
        let mut preds = Vec::new();
        for &v in order {
            preds.clear();
            co_preds(g, v, &mut preds);
            let mut row = vec![0u32; g.slots];
            for &p in &preds {
                for (a, b) in row.iter_mut().zip(&rows[p as usize]) {
                    *a = (*a).max(*b);
                }
                let pn = &g.nodes[p as usize];
                row[pn.slot as usize] = row[pn.slot as usize].max(pn.idx);
            }
            rows[v as usize] = row;
        }
        rows
    }

    #[test]
    fn chunked_clocks_equal_dense_clocks_with_many_retired_processes() {
        let mut rng = Rng(14);
        let mut most_slots = 0;
        for round in 0..300 {
            let n = 50 + rng.below(1500) as usize;
            let clients = 1 + rng.below(30);
            let keys = 1 + rng.below(40) as u32;
            let retire = [0.0, 0.01, 0.05, 0.2, 0.6][round % 5];
            let g = random_graph(&mut rng, n, clients, keys, retire);
            most_slots = most_slots.max(g.slots);
            let (order, _) = topological(g.nodes.len(), &|v, out| co_preds(&g, v, out));
            assert_eq!(order.len(), g.nodes.len(), "reads read earlier writes, so causal order is acyclic");
            let dense = dense_clocks(&g, &order);
            let clocks = Clocks::build(&g, &order, usize::MAX).expect("no memory limit");
            let mut ahead = Vec::new();
            for v in 0..g.nodes.len() as u32 {
                assert_eq!(clocks.dense(&g, v), dense[v as usize], "round {round}, node {v}");
                // Which slots v's past holds more of than another node's inclusive past.
                let u = rng.below(g.nodes.len() as u64) as u32;
                let un = &g.nodes[u as usize];
                let expected: Vec<u32> = (0..g.slots as u32)
                    .filter(|&s| {
                        dense[v as usize][s as usize] > dense[u as usize][s as usize] + u32::from(s == un.slot)
                    })
                    .collect();
                clocks.ahead(&g, v, u, &mut ahead);
                assert_eq!(ahead, expected, "round {round}, nodes {v} and {u}");
                for s in 0..g.slots as u32 {
                    assert_eq!(clocks.get(&g, v, s), dense[v as usize][s as usize], "round {round}, node {v}");
                }
            }
        }
        assert!(most_slots > 4 * CHUNK, "rows of several chunks were tested ({most_slots} processes at most)");
    }

    #[test]
    fn chunked_clocks_give_up_past_their_memory_limit() {
        let g = random_graph(&mut Rng(3), 3000, 20, 10, 0.3);
        let (order, _) = topological(g.nodes.len(), &|v, out| co_preds(&g, v, out));
        assert!(Clocks::build(&g, &order, 64 << 10).is_none());
        assert!(Clocks::build(&g, &order, usize::MAX).is_some());
    }
}
