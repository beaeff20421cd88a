//! One minimal hand-built history per anomaly the transactional checker names, as Elle's test suite has:
//! each must be found, rule out the levels it should and leave the ones it should, and every cycle must be
//! reported with its edges (re-verified against the history by the checker).

use faultline_checker::format;
use faultline_checker::txn::anomaly::Name;
use faultline_checker::txn::levels::{Holds, Level};
use faultline_checker::txn::{self, history::Workload, register::Assume, Options, Report};

/// A history from lines `P TYPE MOPS`: process, invoke/ok/fail/info, and the micro-ops as JSON.
fn history(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (p, kind, mops) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap_or("null"));
            format!("{{\"type\":\"{kind}\",\"process\":{p},\"f\":\"txn\",\"value\":{mops}}}\n")
        })
        .collect()
}

fn check_with(lines: &[&str], opts: Options) -> Report {
    let text = history(lines);
    let imported = format::parse("t.jsonl", &text, None).unwrap();
    txn::check(&imported.history, &opts).unwrap()
}

fn check(lines: &[&str]) -> Report {
    check_with(lines, Options::default())
}

/// The anomaly is found, `violated` levels are violated and `holding` ones hold.
fn expect(report: &Report, name: Name, violated: &[Level], holding: &[Level]) {
    assert!(report.anomalies.contains_key(&name), "{name} not found in {:?}", report.anomalies);
    for &l in violated {
        assert_eq!(report.holds(l), Holds::Violated, "{l} should be violated by {name}: {:?}", report.anomalies);
    }
    for &l in holding {
        assert_eq!(report.holds(l), Holds::Holds, "{l} should hold despite {name}: {:?}", report.anomalies);
    }
    if let Some(cycle) = report.cycles.iter().find(|c| c.name == name) {
        assert!(cycle.steps.len() >= 2);
        for (i, s) in cycle.steps.iter().enumerate() {
            assert_eq!(s.to, cycle.steps[(i + 1) % cycle.steps.len()].from, "the steps form a cycle");
            assert!(!s.explanation.is_empty());
        }
    }
}

use Level::*;

#[test]
fn a_serial_history_holds_every_level() {
    let r = check(&[
        r#"0 invoke [["append","x",1],["r","x",null]]"#,
        r#"0 ok [["append","x",1],["r","x",[1]]]"#,
        r#"1 invoke [["r","x",null],["append","x",2]]"#,
        r#"1 ok [["r","x",[1]],["append","x",2]]"#,
        r#"0 invoke [["r","x",null]]"#,
        r#"0 ok [["r","x",[1,2]]]"#,
    ]);
    assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    assert!(r.levels.iter().all(|(_, h)| *h == Holds::Holds));
}

#[test]
fn g0_write_cycle() {
    let r = check(&[
        r#"0 invoke [["append","x",1],["append","y",1]]"#,
        r#"1 invoke [["append","x",2],["append","y",2]]"#,
        r#"0 ok [["append","x",1],["append","y",1]]"#,
        r#"1 ok [["append","x",2],["append","y",2]]"#,
        r#"2 invoke [["r","x",null],["r","y",null]]"#,
        r#"2 ok [["r","x",[1,2]],["r","y",[2,1]]]"#,
    ]);
    expect(&r, Name::G0, &[ReadUncommitted, StrictSerializable], &[]);
}

#[test]
fn g1a_aborted_read() {
    let r = check(&[
        r#"0 invoke [["append","x",1]]"#,
        r#"0 fail [["append","x",1]]"#,
        r#"1 invoke [["r","x",null]]"#,
        r#"1 ok [["r","x",[1]]]"#,
    ]);
    expect(&r, Name::G1a, &[ReadCommitted, ReadAtomic], &[ReadUncommitted]);
}

#[test]
fn g1b_intermediate_read() {
    let r = check(&[
        r#"0 invoke [["append","x",1],["append","x",2]]"#,
        r#"1 invoke [["r","x",null]]"#,
        r#"1 ok [["r","x",[1]]]"#,
        r#"0 ok [["append","x",1],["append","x",2]]"#,
    ]);
    expect(&r, Name::G1b, &[ReadCommitted], &[ReadUncommitted]);
}

#[test]
fn g1c_circular_information_flow() {
    let r = check(&[
        r#"0 invoke [["append","x",1],["r","y",null]]"#,
        r#"1 invoke [["append","y",1],["r","x",null]]"#,
        r#"0 ok [["append","x",1],["r","y",[1]]]"#,
        r#"1 ok [["append","y",1],["r","x",[1]]]"#,
    ]);
    expect(&r, Name::G1c, &[ReadCommitted], &[ReadUncommitted]);
}

#[test]
fn g_single_read_skew() {
    let r = check(&[
        r#"0 invoke [["append","x",1],["append","y",1]]"#,
        r#"1 invoke [["r","x",null],["r","y",null]]"#,
        r#"0 ok [["append","x",1],["append","y",1]]"#,
        r#"1 ok [["r","x",[]],["r","y",[1]]]"#,
        r#"2 invoke [["r","x",null]]"#,
        r#"2 ok [["r","x",[1]]]"#,
    ]);
    expect(&r, Name::GSingle, &[ConsistentView, SnapshotIsolation, RepeatableRead], &[ReadCommitted, ReadAtomic]);
}

#[test]
fn g_nonadjacent_long_fork() {
    let r = check(&[
        r#"1 invoke [["r","a",null],["r","d",null]]"#,
        r#"2 invoke [["append","a",1],["append","b",1]]"#,
        r#"3 invoke [["r","b",null],["r","c",null]]"#,
        r#"4 invoke [["append","c",1],["append","d",1]]"#,
        r#"1 ok [["r","a",[]],["r","d",[1]]]"#,
        r#"2 ok [["append","a",1],["append","b",1]]"#,
        r#"3 ok [["r","b",[1]],["r","c",[]]]"#,
        r#"4 ok [["append","c",1],["append","d",1]]"#,
        r#"5 invoke [["r","a",null],["r","c",null]]"#,
        r#"5 ok [["r","a",[1]],["r","c",[1]]]"#,
    ]);
    assert!(!r.anomalies.contains_key(&Name::GSingle));
    expect(&r, Name::GNonadjacent, &[SnapshotIsolation, Serializable], &[ConsistentView, ReadCommitted]);
}

#[test]
fn g2_item_write_skew() {
    let r = check(&[
        r#"0 invoke [["r","x",null],["r","y",null],["append","x",1]]"#,
        r#"1 invoke [["r","x",null],["r","y",null],["append","y",1]]"#,
        r#"0 ok [["r","x",[]],["r","y",[]],["append","x",1]]"#,
        r#"1 ok [["r","x",[]],["r","y",[]],["append","y",1]]"#,
        r#"2 invoke [["r","x",null],["r","y",null]]"#,
        r#"2 ok [["r","x",[1]],["r","y",[1]]]"#,
    ]);
    expect(&r, Name::G2Item, &[Serializable, RepeatableRead], &[SnapshotIsolation, ConsistentView]);
}

#[test]
fn g_single_process_needs_process_order() {
    // Process 0 appends, then fails to see its own append.
    let r = check(&[
        r#"0 invoke [["append","x",1]]"#,
        r#"0 ok [["append","x",1]]"#,
        r#"0 invoke [["r","x",null]]"#,
        r#"0 ok [["r","x",[]]]"#,
        r#"1 invoke [["r","x",null]]"#,
        r#"1 ok [["r","x",[1]]]"#,
    ]);
    expect(
        &r,
        Name::GSingleProcess,
        &[StrongSessionSnapshotIsolation, StrictSerializable],
        &[Serializable, SnapshotIsolation],
    );
}

#[test]
fn g_single_realtime_needs_real_time() {
    let r = check(&[
        r#"0 invoke [["append","x",1]]"#,
        r#"0 ok [["append","x",1]]"#,
        r#"1 invoke [["r","x",null]]"#,
        r#"1 ok [["r","x",[]]]"#,
        r#"2 invoke [["r","x",null]]"#,
        r#"2 ok [["r","x",[1]]]"#,
    ]);
    expect(
        &r,
        Name::GSingleRealtime,
        &[StrongSnapshotIsolation, StrictSerializable],
        &[Serializable, StrongSessionSerializable],
    );
}

#[test]
fn internal_inconsistency() {
    let r = check(&[r#"0 invoke [["append","x",1],["r","x",null]]"#, r#"0 ok [["append","x",1],["r","x",[]]]"#]);
    expect(&r, Name::Internal, &[Serializable, SnapshotIsolation, ReadAtomic], &[ReadCommitted]);
}

#[test]
fn future_read() {
    let r = check(&[r#"0 invoke [["r","x",null],["append","x",1]]"#, r#"0 ok [["r","x",[1]],["append","x",1]]"#]);
    expect(&r, Name::FutureRead, &[ReadCommitted], &[ReadUncommitted]);
}

#[test]
fn dirty_update() {
    let r = check(&[
        r#"0 invoke [["append","x",1]]"#,
        r#"0 fail [["append","x",1]]"#,
        r#"1 invoke [["append","x",2]]"#,
        r#"1 ok [["append","x",2]]"#,
        r#"2 invoke [["r","x",null]]"#,
        r#"2 ok [["r","x",[1,2]]]"#,
    ]);
    expect(&r, Name::DirtyUpdate, &[ReadCommitted], &[ReadUncommitted]);
}

#[test]
fn duplicate_elements() {
    let r = check(&[
        r#"0 invoke [["append","x",1]]"#,
        r#"0 ok [["append","x",1]]"#,
        r#"1 invoke [["r","x",null]]"#,
        r#"1 ok [["r","x",[1,1]]]"#,
    ]);
    expect(&r, Name::DuplicateElements, &[ReadUncommitted], &[]);
}

#[test]
fn incompatible_order() {
    let r = check(&[
        r#"0 invoke [["append","x",1]]"#,
        r#"1 invoke [["append","x",2]]"#,
        r#"0 ok [["append","x",1]]"#,
        r#"1 ok [["append","x",2]]"#,
        r#"2 invoke [["r","x",null]]"#,
        r#"2 ok [["r","x",[1]]]"#,
        r#"3 invoke [["r","x",null]]"#,
        r#"3 ok [["r","x",[2]]]"#,
    ]);
    expect(&r, Name::IncompatibleOrder, &[ReadCommitted], &[ReadUncommitted]);
}

#[test]
fn lost_update_list_append() {
    let r = check(&[
        r#"0 invoke [["r","x",null],["append","x",1]]"#,
        r#"1 invoke [["r","x",null],["append","x",2]]"#,
        r#"0 ok [["r","x",[]],["append","x",1]]"#,
        r#"1 ok [["r","x",[]],["append","x",2]]"#,
    ]);
    expect(
        &r,
        Name::LostUpdate,
        &[CursorStability, RepeatableRead, SnapshotIsolation],
        &[ReadCommitted, MonotonicAtomicView],
    );
}

#[test]
fn garbage_read() {
    let r = check(&[r#"0 invoke [["r","x",null]]"#, r#"0 ok [["r","x",[9]]]"#]);
    expect(&r, Name::GarbageRead, &[ReadCommitted], &[ReadUncommitted]);
}

#[test]
fn rw_register_lost_update_and_g_single() {
    let r = check(&[
        r#"0 invoke [["r","x",null],["w","x",1]]"#,
        r#"1 invoke [["r","x",null],["w","x",2]]"#,
        r#"0 ok [["r","x",null],["w","x",1]]"#,
        r#"1 ok [["r","x",null],["w","x",2]]"#,
    ]);
    assert_eq!(r.workload, Workload::RwRegister);
    expect(&r, Name::LostUpdate, &[CursorStability, SnapshotIsolation], &[ReadCommitted]);

    let r = check(&[
        r#"0 invoke [["w","x",1],["w","y",1]]"#,
        r#"1 invoke [["r","x",null],["r","y",null]]"#,
        r#"0 ok [["w","x",1],["w","y",1]]"#,
        r#"1 ok [["r","x",null],["r","y",1]]"#,
    ]);
    expect(&r, Name::GSingle, &[SnapshotIsolation], &[ReadCommitted]);
}

#[test]
fn rw_register_g1a_g1b_internal_cyclic_versions() {
    let r = check(&[
        r#"0 invoke [["w","x",1],["w","x",2]]"#,
        r#"1 invoke [["r","x",null]]"#,
        r#"1 ok [["r","x",1]]"#,
        r#"0 ok [["w","x",1],["w","x",2]]"#,
        r#"2 invoke [["w","y",1]]"#,
        r#"2 fail [["w","y",1]]"#,
        r#"3 invoke [["r","y",null],["w","z",5],["r","z",null]]"#,
        r#"3 ok [["r","y",1],["w","z",5],["r","z",6]]"#,
    ]);
    expect(&r, Name::G1b, &[ReadCommitted], &[]);
    expect(&r, Name::G1a, &[ReadCommitted], &[]);
    expect(&r, Name::Internal, &[Serializable], &[]);

    let r = check(&[
        r#"0 invoke [["r","x",null],["w","x",2]]"#,
        r#"1 invoke [["r","x",null],["w","x",1]]"#,
        r#"0 ok [["r","x",1],["w","x",2]]"#,
        r#"1 ok [["r","x",2],["w","x",1]]"#,
    ]);
    expect(&r, Name::CyclicVersions, &[ReadUncommitted], &[]);
}

#[test]
fn rw_register_assumptions_order_versions() {
    // Process 0 writes 1 then 2; process 1 reads 2 then 1. Only --sequential-keys orders 1 before 2 for
    // process 0, which makes process 1's second read stale in a process-order cycle.
    let lines = [
        r#"0 invoke [["w","x",1]]"#,
        r#"0 ok [["w","x",1]]"#,
        r#"0 invoke [["w","x",2]]"#,
        r#"0 ok [["w","x",2]]"#,
        r#"1 invoke [["r","x",null]]"#,
        r#"1 ok [["r","x",2]]"#,
        r#"1 invoke [["r","x",null]]"#,
        r#"1 ok [["r","x",1]]"#,
    ];
    let plain = check(&lines);
    assert_eq!(plain.holds(Serializable), Holds::Holds, "{:?}", plain.anomalies);
    for assume in
        [Assume { sequential_keys: true, ..Assume::default() }, Assume { linearizable_keys: true, ..Assume::default() }]
    {
        let r = check_with(&lines, Options { assume, ..Options::default() });
        assert_eq!(r.holds(StrictSerializable), Holds::Violated, "{assume:?}: {:?}", r.anomalies);
    }
}

#[test]
fn edn_histories_read_as_jsonl_ones() {
    let edn = "{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0}\n\
               {:type :ok, :f :txn, :value [[:append :x 1] [:r :y [1]]], :process 0}\n\
               {:type :invoke, :f :txn, :value [[:append :y 1] [:r :x nil]], :process 1}\n\
               {:type :ok, :f :txn, :value [[:append :y 1] [:r :x [1]]], :process 1}\n";
    let imported = format::parse("t.edn", edn, None).unwrap();
    let r = txn::check(&imported.history, &Options::default()).unwrap();
    assert_eq!(r.workload, Workload::ListAppend);
    // Sequential, yet process 0 read y's append by process 1, which began later: G1c through real time.
    assert_eq!(r.holds(ReadCommitted), Holds::Violated, "{:?}", r.anomalies);
}

#[test]
fn a_long_cycle_in_one_large_component_is_found() {
    // A chain of 20,000 transactions, each reading the previous one's append and appending its own, and a
    // last one that missed the first one's append to z: one component of them all.
    let n = 20_000;
    let mut lines = vec![r#"0 invoke [["append","z",1],["append","k0",0]]"#.to_string()];
    lines.push(r#"0 ok [["append","z",1],["append","k0",0]]"#.to_string());
    for i in 1..n {
        let p = i % 7;
        lines.push(format!(r#"{p} invoke [["r","k{}",null],["append","k{i}",0]]"#, i - 1));
        lines.push(format!(r#"{p} ok [["r","k{}",[0]],["append","k{i}",0]]"#, i - 1));
    }
    lines.push(format!(r#"9 invoke [["r","k{}",null],["r","z",null]]"#, n - 1));
    lines.push(format!(r#"9 ok [["r","k{}",[0]],["r","z",[]]]"#, n - 1));
    lines.push(r#"9 invoke [["r","z",null]]"#.to_string());
    lines.push(r#"9 ok [["r","z",[1]]]"#.to_string());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let r = check(&refs);
    expect(&r, Name::GSingle, &[Serializable], &[ReadCommitted]);
    assert!(r.largest_component > n / 2, "{}", r.largest_component);
    assert!(r.cycles.iter().any(|c| c.steps.len() > n / 2), "the cycle goes through the chain");
}
