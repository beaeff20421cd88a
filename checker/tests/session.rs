//! Session guarantees: one hand-built violation per guarantee, asserting that exactly that guarantee is
//! reported with the violating pair, and that reads going back across overlapping writes are not reported.

use faultline_checker::format::jsonl;
use faultline_checker::model::{ModelKind, ModelOptions};
use faultline_checker::session::{self, Guarantee};

fn line(kind: &str, p: u64, f: &str, key: &str, value: Option<i64>) -> String {
    let v = value.map_or("null".to_string(), |v| v.to_string());
    format!("{{\"type\":\"{kind}\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{v}}}\n")
}

/// Operations one after another: `(process, "w"/"r", key, value)`.
fn sequential(ops: &[(u64, &str, &str, Option<i64>)]) -> String {
    ops.iter()
        .map(|&(p, op, key, v)| {
            let f = if op == "w" { "write" } else { "read" };
            line("invoke", p, f, key, if op == "w" { v } else { None }) + &line("ok", p, f, key, v)
        })
        .collect()
}

fn violated(text: &str) -> Vec<(Guarantee, Vec<u32>)> {
    let history = jsonl::parse("h", text).unwrap();
    let a = session::check(&history, &ModelOptions::new(ModelKind::Register)).unwrap();
    a.guarantees
        .iter()
        .filter(|g| !g.holds)
        .map(|g| (g.guarantee, g.examples[0].ops.iter().map(|o| o.invoke_line).collect()))
        .collect()
}

#[test]
fn read_your_writes() {
    let text = sequential(&[(0, "w", "x", Some(1)), (1, "w", "x", Some(2)), (1, "r", "x", Some(1))]);
    assert_eq!(violated(&text), vec![(Guarantee::ReadYourWrites, vec![3, 5])]);
}

#[test]
fn monotonic_reads() {
    let text =
        sequential(&[(0, "w", "x", Some(1)), (0, "w", "x", Some(2)), (1, "r", "x", Some(2)), (1, "r", "x", Some(1))]);
    let v = violated(&text);
    assert_eq!(v, vec![(Guarantee::MonotonicReads, vec![5, 7])]);
    let history = jsonl::parse("h", &text).unwrap();
    let a = session::check(&history, &ModelOptions::new(ModelKind::Register)).unwrap();
    let e = &a.result(Guarantee::MonotonicReads).examples[0].explanation;
    assert!(e.contains("process 1 read 2 (written by process 0 at lines 3–4) from key \"x\" at lines 5–6, then read the older 1 (written by process 0 at lines 1–2) at lines 7–8"), "{e}");
}

#[test]
fn monotonic_writes() {
    let text =
        sequential(&[(0, "w", "x", Some(1)), (0, "w", "y", Some(1)), (1, "r", "y", Some(1)), (1, "r", "x", None)]);
    assert_eq!(violated(&text), vec![(Guarantee::MonotonicWrites, vec![1, 7, 3, 5])]);
}

#[test]
fn writes_follow_reads() {
    let text = sequential(&[
        (0, "w", "x", Some(1)),
        (1, "r", "x", Some(1)),
        (1, "w", "y", Some(1)),
        (2, "r", "y", Some(1)),
        (2, "r", "x", None),
    ]);
    assert_eq!(violated(&text), vec![(Guarantee::WritesFollowReads, vec![3, 9, 5, 7])]);
}

#[test]
fn going_back_across_overlapping_writes_is_not_a_violation() {
    let text = [
        line("invoke", 0, "write", "x", Some(1)),
        line("invoke", 1, "write", "x", Some(2)),
        line("ok", 0, "write", "x", Some(1)),
        line("ok", 1, "write", "x", Some(2)),
    ]
    .concat()
        + &sequential(&[(2, "r", "x", Some(2)), (2, "r", "x", Some(1))]);
    assert_eq!(violated(&text), vec![]);
    // The same reads after writes that did not overlap are a violation.
    let text =
        sequential(&[(0, "w", "x", Some(1)), (1, "w", "x", Some(2)), (2, "r", "x", Some(2)), (2, "r", "x", Some(1))]);
    assert_eq!(violated(&text), vec![(Guarantee::MonotonicReads, vec![5, 7])]);
}
