//! The ladder's implications, tested on the checkers themselves: on random histories, every model weaker
//! than one that holds must hold when checked directly (not only because the ladder says it is implied).
//! Linearizable ⇒ sequential, causal (CC, CM, CCv), every session guarantee, no thin-air reads; sequential
//! ⇒ CC, CM, CCv. Both verdicts of each must occur often, or the property says little.

use faultline_checker::causal::{self, Status};
use faultline_checker::eventual;
use faultline_checker::format::jsonl;
use faultline_checker::ladder::{self, Level};
use faultline_checker::linear;
use faultline_checker::model::{ModelKind, ModelOptions};
use faultline_checker::sequential;
use faultline_checker::session;
use faultline_checker::synth::{self, Spec};
use faultline_checker::History;
use faultline_checker::Verdict;
use faultline_rng::Rng;

/// A random register history with unique written values: processes run concurrent operations; a write takes
/// effect at its completion (or, if indeterminate or failed, maybe never); a read usually returns the
/// current value and sometimes an older one, so that every model both holds and fails often.
fn random(rng: &mut Rng) -> History {
    let processes = 2 + rng.below(3);
    let keys = 1 + rng.below(2);
    let total = 3 + rng.below(8);
    let mut text = String::new();
    let mut pending: Vec<Option<(u64, bool, u64, i64)>> = vec![None; processes as usize];
    let mut ids: Vec<u64> = (0..processes).collect();
    let mut truth = vec![None::<i64>; keys as usize];
    let mut history_of: Vec<Vec<i64>> = vec![Vec::new(); keys as usize];
    let (mut invoked, mut next) = (0, 0);
    loop {
        let idle: Vec<usize> = (0..processes as usize).filter(|&p| pending[p].is_none()).collect();
        let busy: Vec<usize> = (0..processes as usize).filter(|&p| pending[p].is_some()).collect();
        if invoked < total && !idle.is_empty() && (busy.is_empty() || rng.below(2) == 0) {
            let p = idle[rng.below(idle.len() as u64) as usize];
            let k = rng.below(keys);
            let write = rng.below(2) == 0;
            next += 1;
            let f = if write { "write" } else { "read" };
            let v = if write { next.to_string() } else { "null".into() };
            text +=
                &format!("{{\"type\":\"invoke\",\"process\":{},\"f\":\"{f}\",\"key\":{k},\"value\":{v}}}\n", ids[p]);
            pending[p] = Some((k, write, ids[p], next));
            invoked += 1;
        } else if let Some(&p) = busy.get(rng.below(busy.len().max(1) as u64) as usize) {
            let (k, write, id, v) = pending[p].take().unwrap();
            let (kind, value) = if write {
                let kind = ["ok", "ok", "ok", "info", "fail"][rng.below(5) as usize];
                if kind == "ok" || (kind == "info" && rng.below(2) == 0) {
                    truth[k as usize] = Some(v);
                    history_of[k as usize].push(v);
                }
                (kind, v.to_string())
            } else {
                let seen = &history_of[k as usize];
                let value = if rng.below(2) == 0 && !seen.is_empty() {
                    let i = rng.below(seen.len() as u64 + 1) as usize;
                    if i == seen.len() {
                        None
                    } else {
                        Some(seen[i])
                    }
                } else {
                    truth[k as usize]
                };
                ("ok", value.map_or("null".into(), |v| v.to_string()))
            };
            let f = if write { "write" } else { "read" };
            text += &format!("{{\"type\":\"{kind}\",\"process\":{id},\"f\":\"{f}\",\"key\":{k},\"value\":{value}}}\n");
            if kind == "info" {
                ids[p] += processes;
            }
        } else {
            break;
        }
    }
    jsonl::parse("random", &text).unwrap()
}

fn opts() -> ModelOptions {
    ModelOptions::new(ModelKind::Register)
}

/// Every model weaker than linearizability, checked directly: does each hold?
fn weaker_than_linearizable(h: &History) -> Vec<(&'static str, bool)> {
    let c = causal::check(h, &causal::Options::new(opts())).unwrap();
    let s = session::check(h, &opts()).unwrap();
    let e = eventual::check(h, &eventual::Options::new(opts())).unwrap();
    let mut out = vec![
        ("sequential", sequential::check(h, &sequential::Options::new(opts())).unwrap().verdict == Verdict::Valid),
        ("CC", c.cc.status == Status::Holds),
        ("CM", c.cm.status == Status::Holds),
        ("CCv", c.ccv.status == Status::Holds),
        ("no thin-air reads", e.thin_air_count == 0),
    ];
    for g in &s.guarantees {
        out.push((g.guarantee.name(), g.holds));
    }
    out
}

#[test]
fn what_linearizability_implies_holds_when_checked() {
    let mut rng = Rng(11);
    let (mut lin, mut not_lin, mut seq, mut not_seq) = (0, 0, 0, 0);
    let mut weaker_failed = [0usize; 3];
    for i in 0..4000 {
        let h = random(&mut rng);
        let text: String = h.events.iter().map(|e| jsonl::event_line(e) + "\n").collect();
        let l = linear::check(&h, &linear::Options::new(opts())).unwrap().verdict;
        if l == Verdict::Valid {
            lin += 1;
            for (model, holds) in weaker_than_linearizable(&h) {
                assert!(holds, "history {i} is linearizable but not {model}:\n{text}");
            }
        } else {
            not_lin += 1;
        }
        if sequential::check(&h, &sequential::Options::new(opts())).unwrap().verdict == Verdict::Valid {
            seq += 1;
            let c = causal::check(&h, &causal::Options::new(opts())).unwrap();
            for r in [&c.cc, &c.cm, &c.ccv] {
                assert_eq!(r.status, Status::Holds, "history {i} is sequential but not {:?}:\n{text}", r.variant);
            }
        } else {
            not_seq += 1;
            let c = causal::check(&h, &causal::Options::new(opts())).unwrap();
            for (n, r) in weaker_failed.iter_mut().zip([&c.cc, &c.cm, &c.ccv]) {
                *n += usize::from(r.status == Status::Violated);
            }
        }
    }
    assert!(lin > 500 && not_lin > 500, "linearizable {lin}, not {not_lin}");
    assert!(seq > 300 && not_seq > 300, "sequential {seq}, not {not_seq}");
    assert!(weaker_failed.iter().all(|&n| n > 100), "causal violations among non-sequential: {weaker_failed:?}");
}

#[test]
fn the_ladder_reports_implied_models_and_the_strongest() {
    // Linearizable by construction: everything holds, implied by linearizability.
    let spec = Spec { ops: 3000, keys: 5, clients: 8, info_writes: 0.02, stale_read: false, seed: 4 };
    let h = History::new("synth", synth::generate(&spec)).unwrap();
    let l = ladder::check(&h, &ladder::Options::new(opts()));
    assert_eq!(l.strongest, Some(Level::Linearizable));
    for r in &l.rungs {
        // Convergence needs final reads, which a synthetic history has none of.
        let expected = if r.level == Level::Eventual { Status::Unknown } else { Status::Holds };
        assert_eq!(r.status, expected, "{:?}", r.level);
        if !matches!(r.level, Level::Linearizable | Level::Eventual) {
            assert_eq!(r.implied_by, Some(Level::Linearizable), "{:?}", r.level);
        }
    }
    // Two readers disagreeing on the order of two writes: sequential fails, CC and CM hold, CCv fails.
    let text = r#"{"type":"invoke","process":0,"f":"write","key":"x","value":1}
{"type":"ok","process":0,"f":"write","key":"x","value":1}
{"type":"invoke","process":1,"f":"write","key":"x","value":2}
{"type":"ok","process":1,"f":"write","key":"x","value":2}
{"type":"invoke","process":0,"f":"read","key":"x"}
{"type":"ok","process":0,"f":"read","key":"x","value":2}
{"type":"invoke","process":1,"f":"read","key":"x"}
{"type":"ok","process":1,"f":"read","key":"x","value":1}
"#;
    let l = ladder::check(&jsonl::parse("h", text).unwrap(), &ladder::Options::new(opts()));
    let status = |lv| l.rung(lv).status;
    assert_eq!(status(Level::Linearizable), Status::Violated);
    assert_eq!(status(Level::Sequential), Status::Violated);
    assert_eq!(status(Level::CausalConvergence), Status::Violated);
    assert_eq!(status(Level::CausalMemory), Status::Holds);
    assert_eq!(l.rung(Level::Causal).implied_by, Some(Level::CausalMemory));
    assert_eq!(l.rung(Level::MonotonicReads).implied_by, Some(Level::CausalMemory));
    assert_eq!(l.strongest, Some(Level::CausalMemory));
    assert!(l.rung(Level::CausalConvergence).anomalies[0].starts_with("cyclic conflict order: "));
    assert!(
        l.rung(Level::CausalConvergence).summary.ends_with("(cyclic conflict order)"),
        "{}",
        l.rung(Level::CausalConvergence).summary
    );
    assert!(serde_json::to_string(&l).unwrap().contains("\"implied_by\":\"causal-memory\""));
}

#[test]
fn a_violated_causal_model_rules_out_sequential_consistency_without_its_search() {
    // Process 2 sees 2 and then the overwritten 1 (write-co-read): not causal, so not sequential either.
    let text = r#"{"type":"invoke","process":0,"f":"write","key":"x","value":1}
{"type":"ok","process":0,"f":"write","key":"x","value":1}
{"type":"invoke","process":1,"f":"read","key":"x"}
{"type":"ok","process":1,"f":"read","key":"x","value":1}
{"type":"invoke","process":1,"f":"write","key":"x","value":2}
{"type":"ok","process":1,"f":"write","key":"x","value":2}
{"type":"invoke","process":2,"f":"read","key":"x"}
{"type":"ok","process":2,"f":"read","key":"x","value":2}
{"type":"invoke","process":2,"f":"read","key":"x"}
{"type":"ok","process":2,"f":"read","key":"x","value":1}
"#;
    let h = jsonl::parse("h", text).unwrap();
    let l = ladder::check(&h, &ladder::Options::new(opts()));
    let sequential = l.rung(Level::Sequential);
    assert_eq!(sequential.status, Status::Violated);
    assert!(
        sequential.summary.contains("is violated, and sequential consistency implies it"),
        "{}",
        sequential.summary
    );
    assert!(!sequential.anomalies.is_empty(), "the weaker model's anomaly is carried");
    assert!(l.sequential.is_none(), "the search did not run");
    // And the search, run directly, agrees.
    let direct = sequential::check(&h, &sequential::Options::new(opts())).unwrap();
    assert_eq!(direct.verdict, Verdict::Invalid);
}

/// The ladder asks the causal checker first without causal memory's fixpoint (sequential consistency,
/// when it holds, implies CM); its CM rung must still be what the full causal check says: implied when
/// sequential consistency holds, decided again when it does not. Both paths must occur.
#[test]
fn causal_memory_left_for_sequential_consistency_matches_the_full_check() {
    let mut rng = Rng(29);
    let (mut implied, mut rerun) = (0, 0);
    for i in 0..12000 {
        let h = random(&mut rng);
        let text: String = h.events.iter().map(|e| jsonl::event_line(e) + "\n").collect();
        let quick = causal::check(&h, &causal::Options { cm_fixpoint: false, ..causal::Options::new(opts()) }).unwrap();
        let deferred = quick.cm.unknown_cause.as_deref() == Some(causal::CM_DEFERRED);
        let full = causal::check(&h, &causal::Options::new(opts())).unwrap();
        let l = ladder::check(&h, &ladder::Options::new(opts()));
        if l.rung(Level::Linearizable).status == Status::Holds {
            continue;
        }
        let cm = l.rung(Level::CausalMemory);
        assert_eq!(cm.status, full.cm.status, "history {i}: the ladder's CM against the full check:\n{text}");
        let reported = l.causal.as_ref().expect("the causal analysis is reported");
        assert_eq!(reported.cm.status, full.cm.status, "history {i}: the reported analysis's CM:\n{text}");
        if deferred && full.cm.unknown_cause.is_none() {
            if l.rung(Level::Sequential).status == Status::Holds {
                assert_eq!(cm.implied_by, Some(Level::Sequential), "history {i}:\n{text}");
                implied += 1;
            } else {
                assert_eq!(cm.implied_by, None, "history {i}: decided by the causal check itself:\n{text}");
                rerun += 1;
            }
        }
    }
    assert!(implied > 20 && rerun > 20, "deferred CM implied by sequential {implied}, decided again {rerun}");
}

/// Sequential consistency refuted by a few processes alone (store buffering on keys of their own) leaves
/// causal memory's fixpoint every process that read a value no shared real-time view explains; a
/// sequential witness of the rest serves them instead, and the fixpoint has nothing left to do.
#[test]
fn a_sequential_witness_of_the_rest_spares_causal_memorys_fixpoint() {
    let op = |p: u64, f: &str, key: &str, value: &str| {
        let inv = if f == "write" { value } else { "null" };
        format!(
            "{{\"type\":\"invoke\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{inv}}}\n\
             {{\"type\":\"ok\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{value}}}\n"
        )
    };
    // Sequential, but process 1 read 2 after process 0's write of 3 completed: the real-time view does not
    // serve it (found by the causal oracle's random histories).
    let mut text = [
        op(0, "write", "y", "1"),
        op(2, "write", "x", "2"),
        op(0, "write", "x", "3"),
        op(1, "read", "x", "2"),
        op(1, "read", "x", "3"),
        op(2, "read", "x", "3"),
        op(1, "read", "x", "3"),
        op(0, "write", "y", "4"),
    ]
    .concat();
    let h = jsonl::parse("h", &text).unwrap();
    let plain = causal::check(&h, &causal::Options::new(opts())).unwrap();
    assert!(plain.fixpoint_processes > 0, "the real-time view serves every process: the test says nothing");
    // Store buffering between processes 7 and 8, and again between 9 and 10: each proof names one pair,
    // so the rest is refuted once more before it holds.
    for (p, q, a, b) in [(7, 8, "a", "b"), (9, 10, "c", "d")] {
        text += &[op(p, "write", a, "1"), op(q, "write", b, "1"), op(p, "read", b, "null"), op(q, "read", a, "null")]
            .concat();
    }
    let h = jsonl::parse("h", &text).unwrap();
    let l = ladder::check(&h, &ladder::Options::new(opts()));
    assert_eq!(l.rung(Level::Sequential).status, Status::Violated);
    assert_eq!(l.rung(Level::CausalMemory).status, Status::Holds);
    assert_eq!(l.causal.as_ref().unwrap().fixpoint_processes, 0);
}

/// `--all-keys` reaches the ladder's linearizability rung: every key of a history with three bad keys is
/// decided, none left "not decided" (issue 24, item 3). A value written twice keeps the keys from the
/// polynomial check, which decides every key anyway: the search is what stops at the first bad key.
#[test]
fn all_keys_decides_every_key_under_the_ladder() {
    let mut text = String::new();
    let op = |p: u64, f: &str, key: &str, value: &str| {
        let inv = if f == "write" { value } else { "null" };
        format!(
            "{{\"type\":\"invoke\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{inv}}}\n\
             {{\"type\":\"ok\",\"process\":{p},\"f\":\"{f}\",\"key\":\"{key}\",\"value\":{value}}}\n"
        )
    };
    for key in ["a", "b", "c"] {
        text += &[op(0, "write", key, "1"), op(0, "write", key, "1"), op(1, "read", key, "null")].concat();
    }
    let h = jsonl::parse("h", &text).unwrap();
    let undecided = |all_keys: bool| {
        let l = ladder::check(&h, &ladder::Options { all_keys, threads: 1, ..ladder::Options::new(opts()) });
        let a = l.linear.expect("the ladder ran linearizability");
        assert_eq!(a.verdict, Verdict::Invalid);
        a.problems.iter().filter(|p| p.verdict == Verdict::Unknown).count()
    };
    assert!(undecided(false) > 0, "without --all-keys the history stops at its first bad key");
    assert_eq!(undecided(true), 0, "with --all-keys every key is decided");
}
