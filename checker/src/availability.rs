//! Availability: what the store answered, per operation kind and per node, as Jepsen's `stats` checker
//! counts it beside the model checkers.
//!
//! A model checker judges only what took effect. A history in which nothing succeeded (a dead target, the
//! wrong adapter) is trivially linearizable, and one whose writes all failed says nothing about reads of
//! written values: a verdict of "valid" on it would be true of the history and false of the store. So a
//! check reports what succeeded, and a history that shows too little is `unknown`, never valid.
//!
//! Two rules, one per kind of input:
//! - [`Rule::EveryKind`], for a run faultline drove itself: every kind of operation the workload issued
//!   (`read`, `write`, `cas`, ...) must succeed at least once;
//! - [`Rule::AnyOk`], for a history from any tool: there must be an operation and at least one `ok`; a kind
//!   that never succeeded is a warning (a Jepsen etcd log may rightly have no successful cas).
//!
//! The final reads (processes from [`Options::final_process_base`] on, or events marked final) are tallied apart: they are not the
//! workload's operations, and they succeeding does not make a workload whose reads all failed available.

use std::fmt::Write;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::history::{History, Outcome};
use crate::value::Value;
use crate::verdict::Verdict;

/// Which histories count as showing enough to be judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Every kind of operation the workload issued succeeded at least once.
    EveryKind,
    /// At least one operation succeeded.
    AnyOk,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub rule: Rule,
    /// Client processes numbered from here on are the final readers.
    pub final_process_base: u64,
}

impl Options {
    pub fn new(rule: Rule) -> Options {
        Options { rule, final_process_base: crate::history::FINAL_READ_PROCESS_BASE }
    }
}

/// Outcomes of a set of operations (one kind, or one node).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// The kind (`read`, `write`, ...; `read (final)` for the final reads) or the node (`-` for none).
    pub name: String,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.ok + self.fail + self.info
    }
}

/// An error a set of operations ended with, and how often, at which node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    /// `fail` or `info`.
    pub outcome: &'static str,
    /// The completion's `error`, or what stands for it (`no completion`, `no error given`).
    pub error: String,
    /// The node the operations were sent to, where the history says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub count: u64,
}

/// A kind of operation that never succeeded, and how it failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unsuccessful {
    pub kind: String,
    pub attempts: u64,
    /// The most common errors, most frequent first (at most [`TOP_ERRORS`]).
    pub errors: Vec<ErrorCount>,
}

/// How many of a kind's errors are named.
pub const TOP_ERRORS: usize = 3;

#[derive(Clone, Debug, Serialize)]
pub struct Availability {
    pub rule: Rule,
    /// `valid` when the history shows enough to be judged, `unknown` otherwise.
    pub verdict: Verdict,
    /// Why the history cannot be judged, in words (empty when valid).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Kinds that never succeeded where the rule lets that pass, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Per kind of operation, in order of first invocation; the final reads last.
    pub kinds: Vec<Tally>,
    /// Per node, in order of first appearance.
    pub nodes: Vec<Tally>,
    /// The kinds that never succeeded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsuccessful: Vec<Unsuccessful>,
}

impl Availability {
    /// What to look at when nothing, or some kind, never succeeded.
    pub const ADVICE: &'static str = "Check that the cluster is up and reachable at the addresses given, and that \
                                      the adapter speaks the store's API (--adapter).";

    pub fn is_available(&self) -> bool {
        self.verdict == Verdict::Valid
    }
}

pub fn check(history: &History, opts: &Options) -> Availability {
    let mut kinds: Vec<Tally> = Vec::new();
    let mut kind_index: FxHashMap<&str, usize> = FxHashMap::default();
    let mut final_reads = Tally { name: "read (final)".to_string(), ..Tally::default() };
    let mut nodes: Vec<Tally> = Vec::new();
    let mut node_index: FxHashMap<Option<&str>, usize> = FxHashMap::default();
    for op in &history.operations {
        let invoke = history.invocation(op);
        let node = history.completion(op).and_then(|c| c.node.as_deref()).or(invoke.node.as_deref());
        let tally = if history.is_final(op, opts.final_process_base) {
            &mut final_reads
        } else {
            let i = *kind_index.entry(&invoke.f).or_insert_with(|| {
                kinds.push(Tally { name: invoke.f.to_string(), ..Tally::default() });
                kinds.len() - 1
            });
            &mut kinds[i]
        };
        bump(tally, op.outcome);
        let n = *node_index.entry(node).or_insert_with(|| {
            nodes.push(Tally { name: node.unwrap_or("-").to_string(), ..Tally::default() });
            nodes.len() - 1
        });
        bump(&mut nodes[n], op.outcome);
    }

    let unsuccessful: Vec<Unsuccessful> = kinds
        .iter()
        .filter(|k| k.ok == 0)
        .map(|k| Unsuccessful { kind: k.name.clone(), attempts: k.total(), errors: top_errors(history, opts, &k.name) })
        .collect();
    let total: u64 = kinds.iter().map(Tally::total).sum::<u64>() + final_reads.total();
    let ok: u64 = kinds.iter().map(|k| k.ok).sum::<u64>() + final_reads.ok;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if total == 0 {
        problems.push("the history holds no operation: there is nothing to judge".to_string());
    } else if ok == 0 {
        problems.push(format!(
            "no operation succeeded ({} operations: {} failed, {} indeterminate): a store that answers nothing \
             satisfies every model{}",
            thousands(total),
            thousands(kinds.iter().map(|k| k.fail).sum::<u64>() + final_reads.fail),
            thousands(kinds.iter().map(|k| k.info).sum::<u64>() + final_reads.info),
            describe_all(&unsuccessful)
        ));
    } else {
        for u in &unsuccessful {
            let text = format!("no {} succeeded{}", u.kind, describe(u));
            match opts.rule {
                Rule::EveryKind => problems.push(text),
                Rule::AnyOk => warnings.push(text),
            }
        }
    }
    if final_reads.total() > 0 {
        kinds.push(final_reads);
    }
    let verdict = if problems.is_empty() { Verdict::Valid } else { Verdict::Unknown };
    Availability { rule: opts.rule, verdict, problems, warnings, kinds, nodes, unsuccessful }
}

fn bump(t: &mut Tally, outcome: Outcome) {
    match outcome {
        Outcome::Ok => t.ok += 1,
        Outcome::Fail => t.fail += 1,
        Outcome::Info => t.info += 1,
    }
}

/// The most common (outcome, error, node) of a kind's operations.
fn top_errors(history: &History, opts: &Options, kind: &str) -> Vec<ErrorCount> {
    let mut counts: FxHashMap<(&'static str, String, Option<&str>), u64> = FxHashMap::default();
    for op in &history.operations {
        let invoke = history.invocation(op);
        if history.is_final(op, opts.final_process_base) || &*invoke.f != kind || op.outcome == Outcome::Ok {
            continue;
        }
        let completion = history.completion(op);
        let node = completion.and_then(|c| c.node.as_deref()).or(invoke.node.as_deref());
        let error = match completion {
            None => "no completion".to_string(),
            Some(c) => c.error.as_ref().map_or_else(|| "no error given".to_string(), error_text),
        };
        let outcome = if op.outcome == Outcome::Fail { "fail" } else { "info" };
        *counts.entry((outcome, error, node)).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
        .into_iter()
        .take(TOP_ERRORS)
        .map(|((outcome, error, node), count)| ErrorCount { outcome, error, node: node.map(String::from), count })
        .collect()
}

/// An error value as one short line (strings without quotes; long ones cut).
fn error_text(v: &Value) -> String {
    let text = match v.as_str() {
        Some(s) => s.to_string(),
        None => v.to_string(),
    };
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(160) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// ": 45,000 attempts, fail `not-sent: connection refused` x 45,000 at n1, ..."
fn describe(u: &Unsuccessful) -> String {
    let mut out = format!(" ({} attempts", thousands(u.attempts));
    for e in &u.errors {
        let _ = write!(out, "; {} {:?} x {}", e.outcome, e.error, thousands(e.count));
        if let Some(node) = &e.node {
            let _ = write!(out, " at {node}");
        }
    }
    out.push(')');
    out
}

fn describe_all(unsuccessful: &[Unsuccessful]) -> String {
    unsuccessful.iter().map(|u| format!("; {}{}", u.kind, describe(u))).collect()
}

/// 91459 -> "91,459".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, EventKind, Process};

    fn event(index: u64, kind: EventKind, process: u64, f: &str, error: Option<&str>, node: &str) -> Event {
        Event {
            index,
            time: None,
            kind,
            process: Process::Client(process),
            f: f.into(),
            key: None,
            value: Value::Null,
            error: error.map(|e| Value::from_json(&serde_json::json!(e))),
            node: Some(node.into()),
            final_read: false,
            line: index as u32 + 1,
        }
    }

    /// `ops`: (process, f, outcome, error, node); each operation is invoked and completed in turn.
    fn history(ops: &[(u64, &str, EventKind, Option<&str>, &str)]) -> History {
        let mut events = Vec::new();
        for &(p, f, kind, error, node) in ops {
            events.push(event(events.len() as u64, EventKind::Invoke, p, f, None, node));
            events.push(event(events.len() as u64, kind, p, f, error, node));
        }
        History::new("test", events).unwrap()
    }

    #[test]
    fn an_empty_history_is_unknown_under_both_rules() {
        for rule in [Rule::EveryKind, Rule::AnyOk] {
            let a = check(&History::new("empty", Vec::new()).unwrap(), &Options::new(rule));
            assert_eq!(a.verdict, Verdict::Unknown);
            assert!(a.problems[0].contains("no operation"), "{:?}", a.problems);
        }
    }

    #[test]
    fn nothing_succeeded_names_the_errors_and_nodes() {
        let refused = Some("not-sent: connection refused");
        let h = history(&[
            (0, "read", EventKind::Fail, refused, "n1"),
            (1, "write", EventKind::Fail, refused, "n1"),
            (0, "read", EventKind::Fail, refused, "n2"),
            (1, "write", EventKind::Info, Some("timeout"), "n2"),
            (0, "read", EventKind::Fail, refused, "n1"),
        ]);
        for rule in [Rule::EveryKind, Rule::AnyOk] {
            let a = check(&h, &Options::new(rule));
            assert_eq!(a.verdict, Verdict::Unknown);
            let text = &a.problems[0];
            assert!(text.contains("no operation succeeded (5 operations: 4 failed, 1 indeterminate)"), "{text}");
            assert!(text.contains("read (3 attempts; fail \"not-sent: connection refused\" x 2 at n1"), "{text}");
            assert_eq!(a.unsuccessful.len(), 2);
            assert_eq!(a.unsuccessful[1].errors[0].count, 1);
        }
    }

    #[test]
    fn a_kind_that_never_succeeded_fails_a_run_and_warns_on_an_import() {
        let h = history(&[
            (0, "read", EventKind::Ok, None, "n1"),
            (1, "cas", EventKind::Fail, Some("cas-mismatch"), "n2"),
            (1, "write", EventKind::Ok, None, "n2"),
        ]);
        let run = check(&h, &Options::new(Rule::EveryKind));
        assert_eq!(run.verdict, Verdict::Unknown);
        assert_eq!(run.problems, vec!["no cas succeeded (1 attempts; fail \"cas-mismatch\" x 1 at n2)".to_string()]);
        let import = check(&h, &Options::new(Rule::AnyOk));
        assert_eq!(import.verdict, Verdict::Valid);
        assert!(import.problems.is_empty());
        assert_eq!(import.warnings, run.problems);
    }

    #[test]
    fn tallies_per_kind_and_node_keep_final_reads_apart() {
        let base = Options::new(Rule::EveryKind).final_process_base;
        let h = history(&[
            (0, "read", EventKind::Fail, Some("not-sent: refused"), "n1"),
            (0, "write", EventKind::Ok, None, "n2"),
            (base, "read", EventKind::Ok, None, "n1"),
        ]);
        let a = check(&h, &Options::new(Rule::EveryKind));
        // The workload's reads all failed: the final read's success does not make up for them.
        assert_eq!(a.verdict, Verdict::Unknown);
        let names: Vec<&str> = a.kinds.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["read", "write", "read (final)"]);
        assert_eq!((a.kinds[0].ok, a.kinds[0].fail, a.kinds[2].ok), (0, 1, 1));
        assert_eq!(
            a.nodes,
            vec![
                Tally { name: "n1".into(), ok: 1, fail: 1, info: 0 },
                Tally { name: "n2".into(), ok: 1, fail: 0, info: 0 }
            ]
        );
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(91_459), "91,459");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
