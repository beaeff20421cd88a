//! The transactional checker: Elle's inference over list-append and rw-register histories, a dependency
//! graph between transactions, a complete search for every cycle anomaly, and the isolation levels those
//! anomalies rule out.
//!
//! - [`history`]: transactions and micro-ops as integer ids ([`mop`] what micro-ops are made of, [`fast`] a
//!   reader of large JSON Lines histories that skips building values);
//! - [`append`], [`register`]: what the reads say about each key's version order, as ww/wr/rw edges and
//!   anomalies of single reads (G1a, G1b, internal, ...);
//! - [`graph`]: the edges, process order, real-time order (transitively reduced);
//! - [`cycle`]: strongly connected components and the search for each shape of cycle;
//! - [`anomaly`], [`levels`]: the anomaly names and Elle's model graph;
//! - [`explain`]: each reported edge checked again and said in words;
//! - [`report`]: the verdict as text and JSON; [`synth`]: synthetic histories for benchmarks.

pub mod anomaly;
pub mod append;
pub mod cycle;
pub mod explain;
pub mod fast;
pub mod graph;
pub mod history;
pub mod levels;
pub mod mop;
pub mod register;
pub mod report;
pub mod synth;

use serde::Serialize;

use self::anomaly::{Cases, Name};
use self::cycle::{Component, Found, Shape, Variant};
use self::explain::{Step, Verifier};
use self::graph::{Edge, Graph};
use self::history::{Txns, Workload, NONE};
use self::levels::{Holds, Level};
use crate::error::Error;
use crate::history::{History, Outcome};

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// The data model; detected from the micro-ops when not given.
    pub workload: Option<Workload>,
    /// rw-register's optional assumptions.
    pub assume: register::Assume,
}

/// A transaction as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct TxnInfo {
    pub id: u32,
    pub process: u64,
    pub line: u32,
    pub outcome: Outcome,
    pub value: crate::value::Value,
}

/// A cycle anomaly: its transactions, and each edge in words.
#[derive(Clone, Debug, Serialize)]
pub struct CycleAnomaly {
    pub name: Name,
    pub txns: Vec<TxnInfo>,
    pub steps: Vec<Step>,
}

/// A non-cycle anomaly.
#[derive(Clone, Debug, Serialize)]
pub struct CaseAnomaly {
    pub name: Name,
    pub txns: Vec<TxnInfo>,
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Unsure {
    pub anomaly: Name,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub source: String,
    pub workload: Workload,
    pub transactions: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    pub edges: usize,
    /// Transactions in the largest strongly connected component (0: the graph is acyclic).
    pub largest_component: usize,
    /// The anomalies found (not those they imply), each with how many instances were seen (cycles: one is
    /// searched for per anomaly).
    pub anomalies: std::collections::BTreeMap<Name, usize>,
    pub cycles: Vec<CycleAnomaly>,
    pub cases: Vec<CaseAnomaly>,
    /// Anomalies whose search could not be completed, and why.
    pub unknown: Vec<Unsure>,
    pub levels: Vec<(Level, Holds)>,
}

impl Report {
    /// Whether `level` holds in this history, as the checker decided it.
    pub fn holds(&self, level: Level) -> Holds {
        self.levels.iter().find(|(l, _)| *l == level).map_or(Holds::Unknown, |(_, h)| *h)
    }

    /// The verdict for `level` as the exit code and the reports say it: [`Report::holds`], except that a
    /// history in which no transaction completed `ok` shows nothing that took effect, so it is never called
    /// valid (as `faultline check` treats a register history with no `ok`, see [`crate::availability`]);
    /// a violation found still stands.
    pub fn verdict(&self, level: Level) -> Holds {
        match self.holds(level) {
            Holds::Holds if self.too_little().is_some() => Holds::Unknown,
            other => other,
        }
    }

    /// Why the history cannot be judged valid whatever its levels say, if so.
    pub fn too_little(&self) -> Option<&'static str> {
        (self.ok == 0).then_some("no transaction completed ok: nothing that took effect to judge")
    }
}

/// Checks a transactional history given as text: JSON Lines through [`fast`] where it reads, otherwise
/// through the general readers of [`crate::format`]. Warnings (a torn last line skipped) go to `warn`.
pub fn check_text(
    source: &str,
    text: &str,
    format: Option<crate::format::Format>,
    opts: &Options,
    warn: impl Fn(&str),
) -> Result<Report, Error> {
    let jsonl = format.or_else(|| crate::format::Format::detect(text)) == Some(crate::format::Format::Jsonl);
    if let Some((history, raw)) = jsonl.then(|| fast::read(source, text)).flatten() {
        if let Ok(txns) = history::read_with(&history, opts.workload, Some(&raw[..])) {
            return check_txns(&history, txns, opts, Some(&raw[..]));
        }
    }
    let imported = crate::format::parse(source, text, format)?;
    imported.warnings.iter().for_each(|w| warn(w));
    check(&imported.history, opts)
}

/// Checks a transactional history. Errors are bad input, naming the line.
pub fn check(history: &History, opts: &Options) -> Result<Report, Error> {
    let txns = history::read(history, opts.workload)?;
    check_txns(history, txns, opts, None)
}

/// `raw`: each event's value as JSON text, where the events do not hold it (the fast path).
fn check_txns(history: &History, txns: Txns, opts: &Options, raw: Option<&[&str]>) -> Result<Report, Error> {
    let mut edges: Vec<Edge> = Vec::new();
    let mut cases = Cases::default();
    match txns.workload {
        Workload::ListAppend => append::infer(&txns, &mut edges, &mut cases),
        Workload::RwRegister => register::infer(&txns, opts.assume, history.events.len(), &mut edges, &mut cases),
    }
    graph::process_edges(&txns, &mut edges);
    graph::txn_realtime_edges(&txns, history.events.len(), &mut edges);
    let graph = Graph::new(txns.txns.len(), edges);
    let components = cycle::components(&graph);

    let mut verifier = Verifier::new(&txns, history);
    let mut found: Vec<Name> = cases.counts.keys().copied().collect();
    let mut cycles: Vec<CycleAnomaly> = Vec::new();
    let mut unknown: Vec<Unsure> = Vec::new();
    let mut local = vec![NONE; txns.txns.len()];
    for members in &components {
        let component = Component::new(&graph, members, &mut local);
        for variant in [Variant::Plain, Variant::Process, Variant::Realtime] {
            let mut no_rw_cycle = false;
            for shape in [Shape::G0, Shape::G1c, Shape::GSingle, Shape::G2Item, Shape::GNonadjacent] {
                let name = shape.name(variant);
                // A cycle with no two adjacent rw edges has rw edges: if there is none, there is no such cycle.
                if Name::closure(found.iter().copied()).contains(&name) || (shape == Shape::GNonadjacent && no_rw_cycle)
                {
                    continue;
                }
                match component.search(shape, variant) {
                    Found::None => no_rw_cycle |= shape == Shape::G2Item,
                    Found::Unknown(reason) => unknown.push(Unsure { anomaly: name, reason }),
                    Found::Cycle(ids) => match explain_cycle(&txns, history, raw, &graph, &ids, &mut verifier) {
                        Ok(anomaly) if Name::closure([anomaly.name]).contains(&name) => {
                            found.push(anomaly.name);
                            cycles.push(anomaly);
                        }
                        Ok(anomaly) => unknown.push(Unsure {
                            anomaly: name,
                            reason: format!("the search for {name} found a cycle that is {}, not {name}", anomaly.name),
                        }),
                        Err(reason) => unknown.push(Unsure { anomaly: name, reason }),
                    },
                }
            }
        }
    }
    // An anomaly found in one component settles what another could not.
    let settled = Name::closure(found.iter().copied());
    unknown.retain(|u| !settled.contains(&u.anomaly));

    let unsure: Vec<Name> = unknown.iter().map(|u| u.anomaly).collect();
    let levels = levels::judge(&found, &unsure);
    let mut anomalies: std::collections::BTreeMap<Name, usize> = cases.counts.clone();
    for c in &cycles {
        *anomalies.entry(c.name).or_insert(0) += 1;
    }
    let info = |t: u32| txn_info(&txns, history, raw, t);
    let (ok, fail, info_count) = txns.txns.iter().fold((0, 0, 0), |(o, f, i), t| match t.outcome {
        Outcome::Ok => (o + 1, f, i),
        Outcome::Fail => (o, f + 1, i),
        Outcome::Info => (o, f, i + 1),
    });
    Ok(Report {
        source: history.source.clone(),
        workload: txns.workload,
        transactions: txns.txns.len(),
        ok,
        fail,
        info: info_count,
        edges: graph.edges.len(),
        largest_component: components.iter().map(Vec::len).max().unwrap_or(0),
        anomalies,
        cases: cases
            .kept
            .iter()
            .map(|c| CaseAnomaly {
                name: c.name,
                txns: c.txns.iter().map(|&t| info(t)).collect(),
                explanation: c.explanation.clone(),
            })
            .collect(),
        cycles,
        unknown,
        levels,
    })
}

fn txn_info(txns: &Txns, history: &History, raw: Option<&[&str]>, t: u32) -> TxnInfo {
    let txn = &txns.txns[t as usize];
    let value = match raw {
        Some(raw) => serde_json::from_str::<serde_json::Value>(raw[txn.event as usize])
            .map_or(crate::value::Value::Null, |v| crate::value::Value::from_json(&v)),
        None => history.events[txn.event as usize].value.clone(),
    };
    TxnInfo { id: t, process: txn.process, line: txn.line, outcome: txn.outcome, value }
}

/// Each edge of a cycle checked against the micro-ops and said in words; the cycle named by its edges.
fn explain_cycle(
    txns: &Txns,
    history: &History,
    raw: Option<&[&str]>,
    graph: &Graph,
    ids: &[u32],
    verifier: &mut Verifier,
) -> Result<CycleAnomaly, String> {
    let edges: Vec<&Edge> = ids.iter().map(|&e| &graph.edges[e as usize]).collect();
    for (i, e) in edges.iter().enumerate() {
        if e.to != edges[(i + 1) % edges.len()].from {
            return Err("the edges found do not form a cycle".into());
        }
    }
    let steps = edges.iter().map(|e| verifier.step(e)).collect::<Result<Vec<Step>, String>>()?;
    let kinds: Vec<graph::Kind> = edges.iter().map(|e| e.kind).collect();
    Ok(CycleAnomaly {
        name: cycle::classify(&kinds),
        txns: edges.iter().map(|e| txn_info(txns, history, raw, e.from)).collect(),
        steps,
    })
}
