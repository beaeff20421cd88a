//! Eventual consistency: divergent final reads, lost and superseded writes, thin-air reads and staleness.

use faultline_checker::causal::Status;
use faultline_checker::eventual::{self, Options};
use faultline_checker::format::jsonl;
use faultline_checker::ladder::{self, Level};
use faultline_checker::model::{ModelKind, ModelOptions};
use faultline_checker::Verdict;

const FINAL: u64 = 1_000_000_000;

/// `(process, "w"/"r", key, value, node, time)`; each op is invoked and completes 10 ns later.
type Op<'a> = (u64, &'a str, &'a str, Option<i64>, &'a str, u64);

fn history(ops: &[Op]) -> String {
    let mut text = String::new();
    for &(p, op, key, v, node, t) in ops {
        let f = if op == "w" { "write" } else { "read" };
        let v = v.map_or("null".to_string(), |v| v.to_string());
        let inv = if op == "w" { v.clone() } else { "null".to_string() };
        text += &format!(
            "{{\"type\":\"invoke\",\"time\":{t},\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{inv},\"node\":\"{node}\"}}\n"
        );
        text += &format!(
            "{{\"type\":\"ok\",\"time\":{},\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{v},\"node\":\"{node}\"}}\n",
            t + 10
        );
    }
    text
}

fn check(text: &str) -> eventual::Analysis {
    let h = jsonl::parse("h", text).unwrap();
    eventual::check(&h, &Options::new(ModelOptions::new(ModelKind::Register))).unwrap()
}

#[test]
fn converged_final_reads_with_superseded_writes_are_valid() {
    let a = check(&history(&[
        (0, "w", "x", Some(1), "n1", 0),
        (1, "w", "x", Some(2), "n2", 100),
        (FINAL, "r", "x", Some(2), "n1", 1000),
        (FINAL + 1_000_000, "r", "x", Some(2), "n2", 1000),
    ]));
    assert_eq!(a.verdict, Verdict::Valid);
    assert_eq!((a.acknowledged_writes, a.reflected_writes, a.superseded_writes, a.lost_count), (2, 1, 1, 0));
    assert_eq!((a.final_reads, a.keys_with_final_reads), (2, 1));
}

#[test]
fn divergent_final_reads_are_invalid() {
    let a = check(&history(&[
        (0, "w", "x", Some(1), "n1", 0),
        (1, "w", "x", Some(2), "n2", 0),
        (FINAL, "r", "x", Some(1), "n1", 1000),
        (FINAL + 1_000_000, "r", "x", Some(2), "n2", 1000),
    ]));
    assert_eq!(a.verdict, Verdict::Invalid);
    assert_eq!((a.diverged_count, a.lost_count), (1, 0));
    let e = &a.diverged[0].explanation;
    assert!(e.contains("n1 returned 1 (lines 5–6); n2 returned 2 (lines 7–8)"), "{e}");
}

#[test]
fn a_write_no_final_read_reflects_is_lost() {
    // 1 and 3 were acknowledged; every node ends with 2, so 1 was superseded but 3 was lost.
    let a = check(&history(&[
        (0, "w", "x", Some(1), "n1", 0),
        (1, "w", "x", Some(2), "n2", 100),
        (0, "w", "x", Some(3), "n1", 200),
        (FINAL, "r", "x", Some(2), "n1", 1000),
        (FINAL + 1_000_000, "r", "x", Some(2), "n2", 1000),
    ]));
    assert_eq!(a.verdict, Verdict::Invalid);
    assert_eq!((a.diverged_count, a.lost_count, a.superseded_writes), (0, 1, 1));
    assert_eq!(a.lost_writes[0].write.invoke_line, 5);
    assert!(a.lost_writes[0].explanation.contains("write 3 by process 0 (lines 5–6) was acknowledged"));
}

#[test]
fn thin_air_reads_are_invalid() {
    let a = check(&history(&[(0, "w", "x", Some(1), "n1", 0), (1, "r", "x", Some(7), "n1", 100)]));
    assert_eq!((a.verdict, a.thin_air_count), (Verdict::Invalid, 1));
}

#[test]
fn staleness_in_time_and_versions() {
    // Writes of 1, 2, 3 complete at 10, 110, 210. A read starting at 300 that returns 1 is 2 versions
    // behind, stale since 110 (190 ns); a read returning 3 is fresh.
    let a = check(&history(&[
        (0, "w", "x", Some(1), "n1", 0),
        (0, "w", "x", Some(2), "n1", 100),
        (0, "w", "x", Some(3), "n1", 200),
        (1, "r", "x", Some(1), "n2", 300),
        (2, "r", "x", Some(3), "n1", 300),
    ]));
    let s = &a.staleness;
    assert_eq!((s.unit.as_str(), s.reads, s.stale_reads), ("ns", 2, 1));
    assert_eq!((s.time.max, s.versions.max, s.versions.p50), (190.0, 2.0, 0.0));
    // Staleness never makes it invalid; without final reads it is unknown.
    assert_eq!(a.verdict, Verdict::Unknown);
}

#[test]
fn concurrent_writes_may_take_effect_in_either_order() {
    // 2 is invoked after 1 but both overlap; the store may apply 2 first, then 1: the final 1 supersedes
    // 2, even though 2 is the larger value. (Found by a linearizable run of the reference cluster.)
    let text = concat!(
        r#"{"type":"invoke","process":1,"f":"write","key":"x","value":1}"#,
        "\n",
        r#"{"type":"invoke","process":2,"f":"write","key":"x","value":2}"#,
        "\n",
        r#"{"type":"ok","process":2,"f":"write","key":"x","value":2}"#,
        "\n",
        r#"{"type":"ok","process":1,"f":"write","key":"x","value":1}"#,
        "\n",
        r#"{"type":"invoke","process":1000000000,"f":"read","key":"x","value":null,"node":"n1"}"#,
        "\n",
        r#"{"type":"ok","process":1000000000,"f":"read","key":"x","value":1,"node":"n1"}"#,
        "\n"
    );
    let a = check(text);
    assert_eq!(a.verdict, Verdict::Valid, "{:?}", a.lost_writes);
    assert_eq!((a.reflected_writes, a.superseded_writes, a.lost_count), (1, 1, 0));
}

#[test]
fn no_final_reads_is_unknown_not_valid() {
    // A run killed before its final reads: nothing says whether the replicas converged.
    let killed = history(&[(0, "w", "x", Some(1), "n1", 0), (1, "r", "x", Some(1), "n2", 100)]);
    let a = check(&killed);
    assert_eq!((a.verdict, a.final_reads), (Verdict::Unknown, 0));
    let h = jsonl::parse("h", &killed).unwrap();
    let l = ladder::check(&h, &ladder::Options::new(ModelOptions::new(ModelKind::Register)));
    let rung = l.rung(Level::Eventual);
    assert_eq!(rung.status, Status::Unknown);
    assert!(rung.summary.starts_with("unknown: no final reads"), "{}", rung.summary);
    // What is wrong without final reads is still wrong.
    let thin_air = check(&history(&[(0, "w", "x", Some(1), "n1", 0), (1, "r", "x", Some(7), "n2", 100)]));
    assert_eq!(thin_air.verdict, Verdict::Invalid);
}
