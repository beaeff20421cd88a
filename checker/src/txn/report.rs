//! A transactional verdict as terminal text (in the register checker's style: a verdict line, then what
//! explains it) and as JSON.

use std::fmt::Write;
use std::time::Duration;

use super::levels::{weakest_violated, Holds, Level};
use super::{Report, TxnInfo};
use crate::availability::thousands;

/// Transactions and edges shown at each end of a long cycle.
const SHOWN: usize = 10;

pub fn verdict_word(holds: Holds) -> &'static str {
    match holds {
        Holds::Holds => "VALID",
        Holds::Violated => "INVALID",
        Holds::Unknown => "UNKNOWN",
    }
}

fn txn_line(t: &TxnInfo) -> String {
    let outcome = match t.outcome {
        crate::history::Outcome::Ok => "ok",
        crate::history::Outcome::Fail => "fail",
        crate::history::Outcome::Info => "info",
    };
    format!("T{} (process {}, line {}, {outcome}): {}", t.id, t.process, t.line, t.value)
}

fn list(levels: &[Level]) -> String {
    levels.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", ")
}

/// The verdict for `require` and its explanation.
pub fn text(report: &Report, require: Level, elapsed: Duration) -> String {
    let mut out = String::new();
    let holds = report.verdict(require);
    let _ = writeln!(
        out,
        "{}: {} — {require}, {} model; {} transactions checked (ok/fail/info {}/{}/{}), {:.1} ms",
        report.source,
        verdict_word(holds),
        report.workload.name(),
        thousands(report.transactions as u64),
        thousands(report.ok as u64),
        thousands(report.fail as u64),
        thousands(report.info as u64),
        elapsed.as_secs_f64() * 1000.0
    );
    if let Some(why) = report.too_little() {
        let _ = writeln!(out, "  too little succeeded to judge it: {why}");
    }
    let violated: Vec<Level> = report.levels.iter().filter(|(_, h)| *h == Holds::Violated).map(|(l, _)| *l).collect();
    let weakest = weakest_violated(&report.levels);
    if !violated.is_empty() {
        let also: Vec<Level> = violated.iter().copied().filter(|l| !weakest.contains(l)).collect();
        let _ = write!(out, "  ruled out: {}", list(&weakest));
        if !also.is_empty() {
            let _ = write!(out, "; and so also {}", list(&also));
        }
        out.push('\n');
    }
    let by = |h: Holds| report.levels.iter().filter(|(_, x)| *x == h).map(|(l, _)| *l).collect::<Vec<_>>();
    for (label, h) in [("holds", Holds::Holds), ("unknown", Holds::Unknown)] {
        let levels = by(h);
        if !levels.is_empty() {
            let _ = writeln!(out, "  {label}: {}", list(&levels));
        }
    }
    for c in &report.cycles {
        let _ = writeln!(out, "  {} ({}): a cycle of {} transactions", c.name, c.name.meaning(), c.txns.len());
        for (i, t) in c.txns.iter().enumerate() {
            if c.txns.len() <= 2 * SHOWN || i < SHOWN || i >= c.txns.len() - SHOWN {
                let _ = writeln!(out, "    {}", txn_line(t));
            }
        }
        // A cycle through a large component can be long: its ends say what closes it; JSON has all of it.
        for (i, s) in c.steps.iter().enumerate() {
            if c.steps.len() > 2 * SHOWN && i == SHOWN {
                let _ = writeln!(out, "    ... {} more edges (all of them in --json) ...", c.steps.len() - 2 * SHOWN);
            }
            if c.steps.len() <= 2 * SHOWN || i < SHOWN || i >= c.steps.len() - SHOWN {
                let _ = writeln!(out, "    T{} -{}-> T{}: {}", s.from, s.kind.name(), s.to, s.explanation);
            }
        }
    }
    let mut shown = std::collections::BTreeMap::new();
    for c in &report.cases {
        let n = shown.entry(c.name).or_insert(0usize);
        if *n == 0 {
            let total = report.anomalies.get(&c.name).copied().unwrap_or(0);
            let _ = writeln!(out, "  {} ({}): {} found", c.name, c.name.meaning(), thousands(total as u64));
        }
        *n += 1;
        let _ = writeln!(out, "    {}", c.explanation);
        for t in &c.txns {
            let _ = writeln!(out, "      {}", txn_line(t));
        }
    }
    for u in &report.unknown {
        let _ = writeln!(out, "  {}: unknown: {}", u.anomaly, u.reason);
    }
    if report.largest_component > 0 {
        let _ = writeln!(
            out,
            "  dependency graph: {} edges; largest strongly connected component {} transactions",
            thousands(report.edges as u64),
            thousands(report.largest_component as u64)
        );
    }
    out
}

/// The report as JSON, with the verdict for `require`.
pub fn json(report: &Report, require: Level, elapsed: Duration) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("require".into(), require.as_str().into());
        map.insert("verdict".into(), verdict_word(report.verdict(require)).to_lowercase().into());
        if let Some(why) = report.too_little() {
            map.insert("too_little".into(), why.into());
        }
        map.insert("elapsed_ms".into(), (elapsed.as_secs_f64() * 1000.0).into());
        map.insert(
            "not".into(),
            weakest_violated(&report.levels).iter().map(|l| l.as_str()).collect::<Vec<_>>().into(),
        );
        let levels: serde_json::Map<String, serde_json::Value> = report
            .levels
            .iter()
            .map(|(l, h)| (l.as_str().to_string(), serde_json::to_value(h).unwrap_or_default()))
            .collect();
        map.insert("levels".into(), levels.into());
        let anomalies: serde_json::Map<String, serde_json::Value> =
            report.anomalies.iter().map(|(n, c)| (n.as_str().to_string(), (*c).into())).collect();
        map.insert("anomalies".into(), anomalies.into());
    }
    value
}
