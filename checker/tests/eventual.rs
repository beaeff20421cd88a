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

#[test]
fn final_reads_tried_and_all_failed_are_said_as_such_not_as_none() {
    // After the run every final read timed out (the cluster did not answer): that is not "no final reads".
    let mut text = history(&[(0, "w", "x", Some(1), "n1", 0)]);
    for (p, node) in [(FINAL, "n1"), (FINAL + 1, "n2")] {
        text += &format!(
            "{{\"type\":\"invoke\",\"time\":100,\"process\":{p},\"f\":\"read\",\"key\":\"x\",\"node\":\"{node}\"}}\n"
        );
        text += &format!("{{\"type\":\"info\",\"time\":200,\"process\":{p},\"f\":\"read\",\"key\":\"x\",\"error\":\"timeout\",\"node\":\"{node}\"}}\n");
    }
    let a = check(&text);
    assert_eq!((a.verdict, a.final_reads, a.final_reads_tried), (Verdict::Unknown, 0, 2));
    let h = jsonl::parse("h", &text).unwrap();
    let l = ladder::check(&h, &ladder::Options::new(ModelOptions::new(ModelKind::Register)));
    let rung = l.rung(Level::Eventual);
    assert_eq!(rung.status, Status::Unknown);
    assert!(rung.summary.starts_with("unknown: the final reads were tried (2) and none succeeded"), "{}", rung.summary);
}

/// The final reads of `ops` marked on their events (`"final": true`) under ordinary process numbers, as a
/// history from another tool marks them.
fn marked(ops: &[Op]) -> String {
    history(ops)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let p = v["process"].as_u64().unwrap();
            match p.checked_sub(FINAL) {
                Some(n) => {
                    let mut v = v;
                    v["process"] = (100 + n).into();
                    v["final"] = true.into();
                    format!("{v}\n")
                }
                None => format!("{l}\n"),
            }
        })
        .collect()
}

#[test]
fn final_reads_marked_on_the_events_count_as_the_process_convention_does() {
    let converged = [
        (0, "w", "x", Some(1), "n1", 0),
        (1, "w", "x", Some(2), "n2", 100),
        (FINAL, "r", "x", Some(2), "n1", 1000),
        (FINAL + 1, "r", "x", Some(2), "n2", 1000),
    ];
    let by_process = check(&history(&converged));
    let by_mark = check(&marked(&converged));
    assert_eq!(by_mark.verdict, Verdict::Valid);
    assert_eq!((by_mark.final_reads, by_mark.verdict), (by_process.final_reads, by_process.verdict));
    assert_eq!(by_mark.final_reads, 2);
    // Marked final reads that disagree are a divergence, as the process convention's are.
    let diverged = [
        (0, "w", "x", Some(1), "n1", 0),
        (1, "w", "x", Some(2), "n2", 100),
        (FINAL, "r", "x", Some(1), "n1", 1000),
        (FINAL + 1, "r", "x", Some(2), "n2", 1000),
    ];
    let a = check(&marked(&diverged));
    assert_eq!((a.verdict, a.diverged_count), (Verdict::Invalid, 1));
    // Without either marking, the same reads are ordinary reads and eventual consistency is unknown.
    let unmarked = marked(&converged).replace(",\"final\":true", "");
    assert_eq!(check(&unmarked).verdict, Verdict::Unknown);
    // The marking must be a boolean.
    let bad = marked(&converged).replace("\"final\":true", "\"final\":\"yes\"");
    let e = jsonl::parse("h", &bad).unwrap_err().to_string();
    assert!(e.contains("h:") && e.contains("final"), "{e}");
}

#[test]
fn edn_histories_mark_final_reads_with_final_question_mark() {
    let text = r#"{:type :invoke, :f :write, :key "x", :value 1, :process 0, :node "n1"}
{:type :ok, :f :write, :key "x", :value 1, :process 0, :node "n1"}
{:type :invoke, :f :read, :key "x", :value nil, :process 5, :final? true, :node "n1"}
{:type :ok, :f :read, :key "x", :value 1, :process 5, :final? true, :node "n1"}
{:type :invoke, :f :read, :key "x", :value nil, :process 6, :final? true, :node "n2"}
{:type :ok, :f :read, :key "x", :value 7, :process 6, :final? true, :node "n2"}
"#;
    let (h, _) = faultline_checker::format::edn::parse("h.edn", text).unwrap();
    let a = eventual::check(&h, &Options::new(ModelOptions::new(ModelKind::Register))).unwrap();
    // Two final reads, one of a value nobody wrote: judged, and invalid.
    assert_eq!(a.final_reads, 1, "{a:?}");
    assert_eq!((a.final_reads_tried, a.thin_air_count, a.verdict), (2, 1, Verdict::Invalid));
    let bad = text.replace(":final? true", ":final? :yes");
    let e = faultline_checker::format::edn::parse("h.edn", &bad).unwrap_err().to_string();
    assert!(e.contains("h.edn:3") && e.contains(":final? must be true or false"), "{e}");
}
