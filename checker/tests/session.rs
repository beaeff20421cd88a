//! Session guarantees: one hand-built violation per guarantee, asserting that exactly that guarantee is
//! reported, with the two reads no order of versions can serve and the operations that explain why; and
//! that reads going back are no violation where some order of the versions explains them (no real-time
//! order is assumed: see the module's comment and the weak oracle test).

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
    // Process 1 wrote 1 and 2, then read 1 (so 2 comes first in its view) and 2 (so 1 does).
    let text =
        sequential(&[(1, "w", "x", Some(1)), (1, "w", "x", Some(2)), (1, "r", "x", Some(1)), (1, "r", "x", Some(2))]);
    assert_eq!(violated(&text), vec![(Guarantee::ReadYourWrites, vec![5, 7, 3, 1])]);
    // Reading the initial value after one's own write.
    let text = sequential(&[(1, "w", "x", Some(1)), (1, "r", "x", None)]);
    let v = violated(&text);
    assert_eq!(v[0], (Guarantee::ReadYourWrites, vec![3, 1]));
}

#[test]
fn monotonic_reads() {
    // 1, then 2, then 1 again: no order of the two versions serves the session.
    let text = sequential(&[
        (0, "w", "x", Some(1)),
        (1, "w", "x", Some(2)),
        (2, "r", "x", Some(1)),
        (2, "r", "x", Some(2)),
        (2, "r", "x", Some(1)),
    ]);
    assert_eq!(violated(&text), vec![(Guarantee::MonotonicReads, vec![9, 7, 5])]);
    let history = jsonl::parse("h", &text).unwrap();
    let a = session::check(&history, &ModelOptions::new(ModelKind::Register)).unwrap();
    let e = &a.result(Guarantee::MonotonicReads).examples[0].explanation;
    assert!(e.contains("process 2 read 1 (written by process 0 at lines 1–2) of key \"x\" at lines 9–10 after reading 2 at lines 7–8"), "{e}");
}

#[test]
fn monotonic_writes() {
    // Process 2 saw 2 (after 1, both of process 0) and 4 (after 3, both of process 1), then read 3 and 1:
    // 1 must precede 3 and 3 must precede 1.
    let text = sequential(&[
        (0, "w", "x", Some(1)),
        (0, "w", "x", Some(2)),
        (1, "w", "x", Some(3)),
        (1, "w", "x", Some(4)),
        (2, "r", "x", Some(2)),
        (2, "r", "x", Some(4)),
        (2, "r", "x", Some(3)),
        (2, "r", "x", Some(1)),
    ]);
    assert_eq!(violated(&text), vec![(Guarantee::MonotonicWrites, vec![15, 13, 5, 7, 11, 1, 3, 9])]);
}

#[test]
fn writes_follow_reads() {
    // Process 1 read 1 before writing 2, process 4 read 3 before writing 4; process 2 saw 2 and 4, then read
    // 3 and 1.
    let text = sequential(&[
        (0, "w", "x", Some(1)),
        (3, "w", "x", Some(3)),
        (1, "r", "x", Some(1)),
        (1, "w", "x", Some(2)),
        (4, "r", "x", Some(3)),
        (4, "w", "x", Some(4)),
        (2, "r", "x", Some(2)),
        (2, "r", "x", Some(4)),
        (2, "r", "x", Some(3)),
        (2, "r", "x", Some(1)),
    ]);
    assert_eq!(violated(&text), vec![(Guarantee::WritesFollowReads, vec![19, 17, 9, 11, 15, 5, 7, 13])]);
}

#[test]
fn going_back_is_no_violation_where_an_order_explains_it() {
    // Reading 2 and then 1: 1 may be the newer version, whether or not the writes overlapped in real time.
    let text = [
        line("invoke", 0, "write", "x", Some(1)),
        line("invoke", 1, "write", "x", Some(2)),
        line("ok", 0, "write", "x", Some(1)),
        line("ok", 1, "write", "x", Some(2)),
    ]
    .concat()
        + &sequential(&[(2, "r", "x", Some(2)), (2, "r", "x", Some(1))]);
    assert_eq!(violated(&text), vec![]);
    let text =
        sequential(&[(0, "w", "x", Some(1)), (1, "w", "x", Some(2)), (2, "r", "x", Some(2)), (2, "r", "x", Some(1))]);
    assert_eq!(violated(&text), vec![]);
}
