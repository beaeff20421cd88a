//! The linearizability checker against an independent brute-force oracle.
//!
//! The oracle shares no code with the checker past the history parser: it enumerates, depth first and
//! without memoisation, every order of operations that respects real time (choosing which indeterminate
//! operations took effect at all) and runs its own copy of each model's semantics. Thousands of small
//! random histories, with indeterminate operations, failed compare-and-sets in both readings, repeated and
//! unique values and several keys, must get the same verdict from both; every counterexample the checker
//! reports must itself be non-linearizable by the oracle.

use faultline_checker::format::jsonl;
use faultline_checker::linear::{self, Options};
use faultline_checker::model::{CasFail, ModelKind, ModelOptions};
use faultline_checker::Verdict;
use faultline_checker::{History, Outcome, Value};
use faultline_rng::Rng;

fn chance(rng: &mut Rng, percent: u64) -> bool {
    rng.below(100) < percent
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// read/write, values drawn from a tiny domain (the general search).
    Register,
    /// read/write with unique written values (the zone check).
    UniqueRegister,
    CasRegister,
    /// get/put/append over strings.
    Kv,
    /// get/put/append where every put and append writes its own string (the structural check), except
    /// that a process sometimes repeats its last append, as a client retrying would.
    UniqueKv,
}

/// A random history: processes invoke and complete operations at random moments. Results come from a
/// register that really changes at some moment inside each operation most of the time, and are random
/// otherwise, so that valid and invalid histories both occur often.
fn random_history(rng: &mut Rng, shape: Shape, max_ops: usize) -> String {
    let processes = 1 + rng.below(4);
    let keys = if matches!(shape, Shape::Kv | Shape::UniqueKv) || chance(rng, 20) { 1 + rng.below(2) } else { 1 };
    let total = 1 + rng.below(max_ops as u64) as usize;
    let mut lines = Vec::new();
    let mut pending: Vec<Option<(String, String, serde_json::Value)>> = vec![None; processes as usize];
    let mut next_process: Vec<u64> = (0..processes).collect();
    let mut truth: Vec<serde_json::Value> = vec![initial(shape); keys as usize];
    let mut stale: Vec<String> = vec![String::new(); keys as usize];
    let mut invoked = 0;
    let mut unique = 0;
    let mut last_append: Vec<Option<String>> = vec![None; processes as usize];
    let domain = |rng: &mut Rng| serde_json::json!(rng.below(3));
    loop {
        let idle: Vec<usize> = (0..processes as usize).filter(|&p| pending[p].is_none()).collect();
        let busy: Vec<usize> = (0..processes as usize).filter(|&p| pending[p].is_some()).collect();
        let invoke = invoked < total && !idle.is_empty() && (busy.is_empty() || chance(rng, 50));
        if invoke {
            let p = idle[rng.below(idle.len() as u64) as usize];
            let key = format!("k{}", rng.below(keys));
            let (f, value) = match shape {
                Shape::Register | Shape::UniqueRegister | Shape::CasRegister => {
                    match rng.below(if shape == Shape::CasRegister { 3 } else { 2 }) {
                        0 => ("read", serde_json::Value::Null),
                        1 if shape == Shape::UniqueRegister => {
                            unique += 1;
                            ("write", serde_json::json!(unique))
                        }
                        1 => ("write", domain(rng)),
                        _ => ("cas", serde_json::json!([rng.below(3), rng.below(3)])),
                    }
                }
                Shape::UniqueKv => {
                    unique += 1;
                    match rng.below(3) {
                        0 => ("get", serde_json::Value::Null),
                        1 => ("put", serde_json::json!(format!("p{unique};"))),
                        _ if chance(rng, 15) && last_append[p].is_some() => {
                            ("append", serde_json::json!(last_append[p].clone().unwrap()))
                        }
                        _ => {
                            let s = format!("a{unique};");
                            last_append[p] = Some(s.clone());
                            ("append", serde_json::json!(s))
                        }
                    }
                }
                Shape::Kv => match rng.below(3) {
                    0 => ("get", serde_json::Value::Null),
                    1 => ("put", serde_json::json!(["a", "b", ""][rng.below(3) as usize])),
                    _ => ("append", serde_json::json!(["x", "y"][rng.below(2) as usize])),
                },
            };
            let proc_id = next_process[p];
            lines.push(serde_json::json!({"type": "invoke", "process": proc_id, "f": f, "key": key, "value": value}));
            pending[p] = Some((f.to_string(), key, value));
            invoked += 1;
        } else if let Some(&p) = busy.get(rng.below(busy.len().max(1) as u64) as usize) {
            let (f, key, value) = pending[p].take().unwrap();
            let k: usize = key[1..].parse().unwrap();
            let proc_id = next_process[p];
            // Most operations take effect now, against the true state; some results are made up.
            let takes_effect = chance(rng, 85);
            let (kind, result) = match f.as_str() {
                "read" | "get" => {
                    let r = if chance(rng, 80) {
                        truth[k].clone()
                    } else if shape == Shape::UniqueKv {
                        // Another real value: the state's value with its last append dropped, or a stale one.
                        let now = truth[k].as_str().unwrap_or("").to_string();
                        let cut = now[..now.len().saturating_sub(1)].rfind(';').map_or(0, |i| i + 1);
                        serde_json::json!(if chance(rng, 50) { now[..cut].to_string() } else { stale[k].clone() })
                    } else if shape == Shape::Kv {
                        serde_json::json!(["", "x", "ax", "y"][rng.below(4) as usize])
                    } else {
                        domain(rng)
                    };
                    (
                        if chance(rng, 8) {
                            "info"
                        } else if chance(rng, 5) {
                            "fail"
                        } else {
                            "ok"
                        },
                        r,
                    )
                }
                "write" | "put" => {
                    if takes_effect {
                        truth[k] = value.clone();
                    }
                    (
                        if !takes_effect && chance(rng, 50) {
                            "fail"
                        } else if chance(rng, 12) {
                            "info"
                        } else {
                            "ok"
                        },
                        value.clone(),
                    )
                }
                "append" => {
                    if takes_effect && chance(rng, 50) {
                        stale[k] = truth[k].as_str().unwrap_or("").to_string();
                    }
                    if takes_effect {
                        let old = truth[k].as_str().unwrap_or("").to_string();
                        truth[k] = serde_json::json!(format!("{old}{}", value.as_str().unwrap()));
                    }
                    (if chance(rng, 12) { "info" } else { "ok" }, value.clone())
                }
                _ => {
                    let matches = truth[k] == value[0];
                    if matches && takes_effect {
                        truth[k] = value[1].clone();
                    }
                    let kind = if chance(rng, 10) {
                        "info"
                    } else if matches != chance(rng, 10) {
                        "ok"
                    } else {
                        "fail"
                    };
                    (kind, value.clone())
                }
            };
            if kind == "info" && chance(rng, 30) {
                // Never completes: the process is abandoned.
                next_process[p] += processes;
                continue;
            }
            let result = if f == "read" || f == "get" {
                if kind == "ok" {
                    result
                } else {
                    serde_json::Value::Null
                }
            } else {
                result
            };
            lines.push(serde_json::json!({"type": kind, "process": proc_id, "f": f, "key": key, "value": result}));
            if kind == "info" {
                next_process[p] += processes;
            }
        } else {
            break;
        }
    }
    lines.iter().map(|l| l.to_string() + "\n").collect()
}

fn initial(shape: Shape) -> serde_json::Value {
    match shape {
        Shape::Kv | Shape::UniqueKv => serde_json::json!(""),
        _ => serde_json::Value::Null,
    }
}

// ---- The oracle ----

#[derive(Clone, Debug)]
struct OracleOp {
    call: u32,
    /// `None`: may take effect at any time after its call, or never.
    ret: Option<u32>,
    f: String,
    value: Value,
    result: Value,
    failed_cas: bool,
}

fn oracle_ops(history: &History, ids: &[usize], cas_fail: CasFail) -> Vec<OracleOp> {
    let mut ops = Vec::new();
    for &id in ids {
        let op = &history.operations[id];
        let inv = history.invocation(op);
        let f = inv.f.to_string();
        let reads = f == "read" || f == "get";
        let (ret, failed_cas) = match op.outcome {
            Outcome::Ok => (op.complete, false),
            Outcome::Fail if f == "cas" && cas_fail == CasFail::Observe => (op.complete, true),
            Outcome::Fail => continue,
            Outcome::Info if reads => continue,
            Outcome::Info => (None, false),
        };
        let result = history.completion(op).map(|c| c.value.clone()).unwrap_or(Value::Null);
        ops.push(OracleOp { call: op.invoke, ret, f, value: inv.value.clone(), result, failed_cas });
    }
    ops
}

fn apply(state: &Value, op: &OracleOp) -> Option<Value> {
    let pair = |v: &Value| v.as_list().map(|l| (l[0].clone(), l[1].clone())).unwrap();
    match op.f.as_str() {
        "read" | "get" => (*state == op.result).then(|| state.clone()),
        "write" | "put" => Some(op.value.clone()),
        "append" => {
            let old = state.as_str().unwrap_or("");
            Some(Value::str(&format!("{old}{}", op.value.as_str().unwrap())))
        }
        "cas" => {
            let (from, to) = pair(&op.value);
            if op.failed_cas {
                (*state != from).then(|| state.clone())
            } else {
                (*state == from).then_some(to)
            }
        }
        other => panic!("oracle does not know {other}"),
    }
}

/// Depth-first over every real-time-respecting order; no memo, no pruning beyond the model.
fn oracle_linearizable(ops: &[OracleOp], initial: &Value) -> bool {
    fn go(ops: &[OracleOp], placed: &mut Vec<bool>, state: &Value) -> bool {
        if ops.iter().zip(placed.iter()).all(|(o, &p)| p || o.ret.is_none()) {
            return true;
        }
        for i in 0..ops.len() {
            if placed[i] {
                continue;
            }
            // Every unplaced operation that returned before i was called must come first.
            let blocked = (0..ops.len()).any(|j| !placed[j] && j != i && ops[j].ret.is_some_and(|r| r < ops[i].call));
            if blocked {
                continue;
            }
            if let Some(next) = apply(state, &ops[i]) {
                placed[i] = true;
                if go(ops, placed, &next) {
                    return true;
                }
                placed[i] = false;
            }
        }
        false
    }
    go(ops, &mut vec![false; ops.len()], initial)
}

fn oracle_verdict(history: &History, opts: &ModelOptions) -> Verdict {
    for (_, ids) in linear::partition(history) {
        if !oracle_linearizable(&oracle_ops(history, &ids, opts.cas_fail), &opts.initial) {
            return Verdict::Invalid;
        }
    }
    Verdict::Valid
}

fn run(shape: Shape, kind: ModelKind, cas_fail: CasFail, seeds: std::ops::Range<u64>, max_ops: usize) {
    let mut counts = [0usize; 2];
    let mut structural = 0;
    for seed in seeds {
        let mut rng = Rng(seed * 7919 + shape as u64);
        let text = random_history(&mut rng, shape, max_ops);
        let history = jsonl::parse("random", &text).unwrap();
        let mut model = ModelOptions::new(kind);
        model.cas_fail = cas_fail;
        model.initial = Value::from_json(&initial(shape));
        let expected = oracle_verdict(&history, &model);
        // Explaining gets all the time it needs: minimality is asserted below, and a machine under load
        // can otherwise cut a small explanation short (the budget's own test is below).
        let opts = Options {
            threads: 1,
            all_keys: true,
            explain_time: std::time::Duration::from_secs(10),
            ..Options::new(model.clone())
        };
        let got = linear::check(&history, &opts).unwrap();
        assert_eq!(got.verdict, expected, "seed {seed}: checker says {:?}, oracle {:?}\n{text}", got.verdict, expected);
        counts[(expected == Verdict::Invalid) as usize] += 1;
        for problem in &got.problems {
            structural += (problem.method == linear::Method::Appends) as usize;
            let anomaly = problem.anomaly.as_ref().expect("invalid keys are explained");
            let ids: Vec<usize> = anomaly.counterexample.iter().map(|o| o.id as usize).collect();
            let ops = oracle_ops(&history, &ids, model.cas_fail);
            assert!(
                !oracle_linearizable(&ops, &model.initial),
                "seed {seed}: counterexample {ids:?} is linearizable by the oracle\n{text}"
            );
            assert!(
                anomaly.counterexample.iter().any(|o| o.id == anomaly.culprit.id),
                "seed {seed}: culprit outside counterexample"
            );
            // Minimal: dropping any one operation leaves it linearizable, judged as the report shows the
            // operations, with their completions in the history (issue 24 item 4: not as of the first bad
            // event, when an operation still running was indeterminate).
            for skip in 0..ids.len() {
                // The removals the checker may make: an op that changes nothing, or a register write (or
                // cas) whose value no remaining op may have seen. Each must leave a linearizable rest.
                let gone = &ops[skip];
                let read_only = matches!(gone.f.as_str(), "read" | "get") || gone.failed_cas;
                let written = match gone.f.as_str() {
                    "write" if shape != Shape::Kv => Some(gone.value.clone()),
                    "cas" if !gone.failed_cas && shape != Shape::Kv => gone.value.as_list().map(|l| l[1].clone()),
                    _ => None,
                };
                let mut rest = ops.clone();
                rest.remove(skip);
                let removable = read_only
                    || written.as_ref().is_some_and(|x| {
                        !rest.iter().any(|o| match o.f.as_str() {
                            "read" | "get" => o.result == *x,
                            "cas" if o.failed_cas => o.value.as_list().unwrap()[0] != *x,
                            "cas" => o.value.as_list().unwrap()[0] == *x,
                            _ => false,
                        })
                    });
                if removable {
                    assert!(
                        oracle_linearizable(&rest, &model.initial),
                        "seed {seed}: counterexample not minimal without op {skip}\n{text}"
                    );
                }
            }
            assert!(!anomaly.explanation.is_empty());
            assert!(anomaly.minimal, "seed {seed}: a small history's explanation finishes shrinking\n{text}");
        }
    }
    // The generator must produce both verdicts often, or the comparison proves little.
    assert!(counts[0] > 100 && counts[1] > 100, "too one-sided: {counts:?} valid/invalid");
    if shape == Shape::UniqueKv {
        // Most invalid keys must be the structural check's, or it is not what is being compared.
        assert!(structural * 2 > counts[1], "only {structural} of {} invalid keys decided by structure", counts[1]);
    }
}

/// Issue 24 item 4: a cas [2, 3] that succeeds from the initial null, with a read of 3 inside it. As of the
/// read's completion (the first bad event) the cas was still running, and only the read forced it in; but
/// the report shows the cas as it completed, and that alone is impossible: the minimal counterexample is
/// the cas, not the read.
#[test]
fn a_minimal_counterexample_is_minimal_as_the_history_has_its_operations() {
    let text = r#"{"type":"invoke","process":0,"f":"cas","key":"x","value":[2,3]}
{"type":"invoke","process":1,"f":"read","key":"x","value":null}
{"type":"ok","process":1,"f":"read","key":"x","value":3}
{"type":"ok","process":0,"f":"cas","key":"x","value":[2,3]}
"#;
    let history = jsonl::parse("h", text).unwrap();
    let got =
        linear::check(&history, &Options { threads: 1, ..Options::new(ModelOptions::new(ModelKind::CasRegister)) })
            .unwrap();
    let anomaly = got.problems[0].anomaly.as_ref().unwrap();
    let ids: Vec<u32> = anomaly.counterexample.iter().map(|o| o.id).collect();
    assert_eq!((ids, anomaly.minimal), (vec![0], true), "{anomaly:#?}");
    assert_eq!(anomaly.culprit.id, 0);
}

#[test]
fn register_with_repeated_values_matches_oracle() {
    run(Shape::Register, ModelKind::Register, CasFail::Observe, 0..3000, 8);
}

#[test]
fn register_with_unique_values_matches_oracle() {
    run(Shape::UniqueRegister, ModelKind::Register, CasFail::Observe, 0..3000, 8);
}

#[test]
fn cas_register_observing_failed_cas_matches_oracle() {
    run(Shape::CasRegister, ModelKind::CasRegister, CasFail::Observe, 0..3000, 8);
}

#[test]
fn cas_register_dropping_failed_cas_matches_oracle() {
    run(Shape::CasRegister, ModelKind::CasRegister, CasFail::Drop, 0..3000, 8);
}

#[test]
fn kv_append_matches_oracle() {
    run(Shape::Kv, ModelKind::Kv, CasFail::Observe, 0..3000, 8);
}

/// The structural check (and the search where a repeated append leaves it undecided) against the oracle,
/// with its counterexamples: larger histories than elsewhere, since the check is polynomial.
#[test]
fn kv_unique_appends_match_oracle() {
    run(Shape::UniqueKv, ModelKind::Kv, CasFail::Observe, 0..3000, 9);
}

/// The polynomial checks against the general search, on histories too large for the brute-force oracle
/// (up to 40 operations over one or two keys): the same verdict for every key either decides, and where the
/// structure (or the zones) found a violation, the search agrees its counterexample has no linearization.
#[test]
fn polynomial_checks_match_the_search_on_larger_histories() {
    let mut compared = [0usize; 2];
    for (shape, kind, method) in [
        (Shape::UniqueKv, ModelKind::Kv, linear::Method::Appends),
        (Shape::UniqueRegister, ModelKind::Register, linear::Method::Zones),
    ] {
        for seed in 0..600 {
            let mut rng = Rng(seed * 104_729 + shape as u64);
            let text = random_history(&mut rng, shape, 40);
            let history = jsonl::parse("random", &text).unwrap();
            let mut model = ModelOptions::new(kind);
            model.initial = Value::from_json(&initial(shape));
            let opts = Options {
                threads: 1,
                all_keys: true,
                time_limit: Some(std::time::Duration::from_secs(2)),
                ..Options::new(model.clone())
            };
            let fast = linear::check(&history, &opts).unwrap();
            let searched =
                linear::check(&history, &Options { search_only: true, explain_keys: 0, ..opts.clone() }).unwrap();
            // Keys are reported in the same order; valid ones are not reported, so compare by key.
            let verdict = |a: &linear::Analysis, key: &Option<Value>| {
                a.problems.iter().find(|p| p.key == *key).map_or(Verdict::Valid, |p| p.verdict)
            };
            let keys: Vec<Option<Value>> = linear::partition(&history).into_iter().map(|(k, _)| k).collect();
            for key in &keys {
                let (f, s) = (verdict(&fast, key), verdict(&searched, key));
                if f == Verdict::Unknown || s == Verdict::Unknown {
                    continue;
                }
                assert_eq!(f, s, "seed {seed} key {key:?}: {method:?} says {f:?}, the search {s:?}\n{text}");
                compared[usize::from(f == Verdict::Invalid)] += 1;
            }
            for problem in fast.problems.iter().filter(|p| p.method == method) {
                let Some(anomaly) = &problem.anomaly else { continue };
                // The counterexample alone, as a history of its own: the search finds no linearization.
                let ids: Vec<usize> = anomaly.counterexample.iter().map(|o| o.id as usize).collect();
                let alone = sub_history(&history, &ids);
                let again = linear::check(&alone, &Options { search_only: true, explain_keys: 0, ..opts.clone() });
                assert_eq!(again.unwrap().verdict, Verdict::Invalid, "seed {seed}: counterexample {ids:?}\n{text}");
            }
        }
    }
    assert!(compared[0] > 300 && compared[1] > 300, "too one-sided: {compared:?} valid/invalid keys compared");
}

/// The events of the operations `ids`, as a history of their own.
fn sub_history(history: &History, ids: &[usize]) -> History {
    let mut text = String::new();
    let mut events: Vec<&faultline_checker::Event> = Vec::new();
    for &id in ids {
        let op = &history.operations[id];
        events.push(history.invocation(op));
        events.extend(history.completion(op));
    }
    events.sort_by_key(|e| e.line);
    let mut out = Vec::new();
    faultline_checker::format::jsonl::write_events(
        &mut out,
        events.into_iter().cloned().collect::<Vec<_>>().as_slice(),
    )
    .unwrap();
    text.push_str(std::str::from_utf8(&out).unwrap());
    jsonl::parse("counterexample", &text).unwrap()
}

// ---- Sequential consistency ----

/// Each process's operations in invocation order, with their keys, as the oracle reads them.
fn oracle_chains(history: &History, cas_fail: CasFail) -> Vec<Vec<(Option<Value>, OracleOp)>> {
    let mut chains: std::collections::BTreeMap<u64, Vec<(Option<Value>, OracleOp)>> = Default::default();
    for (id, op) in history.operations.iter().enumerate() {
        let key = history.invocation(op).key.clone();
        for o in oracle_ops(history, &[id], cas_fail) {
            chains.entry(op.process).or_default().push((key.clone(), o));
        }
    }
    chains.into_values().collect()
}

/// Depth first over every interleaving of the processes' sequences, indeterminate ops applied or skipped.
fn oracle_sequential(chains: &[Vec<(Option<Value>, OracleOp)>], initial: &Value) -> bool {
    fn go(
        chains: &[Vec<(Option<Value>, OracleOp)>],
        pos: &mut Vec<usize>,
        state: &mut std::collections::HashMap<Option<Value>, Value>,
        initial: &Value,
    ) -> bool {
        if pos.iter().zip(chains).all(|(&p, c)| p == c.len()) {
            return true;
        }
        for p in 0..chains.len() {
            let Some((key, op)) = chains[p].get(pos[p]) else { continue };
            pos[p] += 1;
            let current = state.get(key).cloned().unwrap_or_else(|| initial.clone());
            if let Some(next) = apply(&current, op) {
                let before = state.insert(key.clone(), next);
                if go(chains, pos, state, initial) {
                    return true;
                }
                match before {
                    Some(b) => state.insert(key.clone(), b),
                    None => state.remove(key),
                };
            }
            if op.ret.is_none() && go(chains, pos, state, initial) {
                return true;
            }
            pos[p] -= 1;
        }
        false
    }
    go(chains, &mut vec![0; chains.len()], &mut Default::default(), initial)
}

fn run_sequential(shape: Shape, kind: ModelKind, cas_fail: CasFail, seeds: std::ops::Range<u64>) {
    use faultline_checker::sequential;
    let mut counts = [0usize; 2];
    let mut sequential_only = 0;
    for seed in seeds {
        let mut rng = Rng(seed * 104_729 + shape as u64);
        let text = random_history(&mut rng, shape, 7);
        let history = jsonl::parse("random", &text).unwrap();
        let mut model = ModelOptions::new(kind);
        model.cas_fail = cas_fail;
        model.initial = Value::from_json(&initial(shape));
        let expected = if oracle_sequential(&oracle_chains(&history, cas_fail), &model.initial) {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        let got = sequential::check(&history, &sequential::Options::new(model.clone())).unwrap();
        assert_eq!(
            got.verdict, expected,
            "seed {seed}: sequential checker says {:?}, oracle {expected:?}\n{text}",
            got.verdict
        );
        if got.verdict == Verdict::Invalid {
            // The search: either every process is stuck, or one operation is stranded (its value
            // overwritten for good). The graph method (unique written values): the cycles that prove it, or
            // an operation that needs a value nobody wrote.
            let explained = |e: &str| {
                e.contains("no process can go on")
                    || e.contains("can never take effect")
                    || e.contains("No single order of the operations exists")
                    || e.contains("can take effect in no order")
            };
            assert!(got.explanation.as_deref().is_some_and(explained), "seed {seed}: {:?}", got.explanation);
        }
        // Linearizable implies sequentially consistent.
        let lin = linear::check(&history, &Options { threads: 1, ..Options::new(model) }).unwrap().verdict;
        assert!(
            !(lin == Verdict::Valid && expected == Verdict::Invalid),
            "seed {seed}: linearizable but not sequential\n{text}"
        );
        sequential_only += usize::from(lin == Verdict::Invalid && expected == Verdict::Valid);
        counts[(expected == Verdict::Invalid) as usize] += 1;
    }
    assert!(counts[0] > 100 && counts[1] > 100, "too one-sided: {counts:?} valid/invalid");
    assert!(sequential_only > 10, "too few histories that are sequential but not linearizable: {sequential_only}");
}

#[test]
fn sequential_register_matches_oracle() {
    run_sequential(Shape::Register, ModelKind::Register, CasFail::Observe, 0..2000);
}

#[test]
fn sequential_cas_register_matches_oracle() {
    run_sequential(Shape::CasRegister, ModelKind::CasRegister, CasFail::Observe, 0..2000);
}

#[test]
fn sequential_kv_matches_oracle() {
    run_sequential(Shape::Kv, ModelKind::Kv, CasFail::Drop, 0..2000);
}

/// An explanation cut short by its budget (here: none beyond ten times the verdict's few microseconds) is
/// still sound: every counterexample it shows is non-linearizable by the oracle, minimal or not.
#[test]
fn explanations_cut_short_are_still_counterexamples() {
    let mut explained = 0;
    for (shape, kind) in
        [(Shape::Register, ModelKind::Register), (Shape::Kv, ModelKind::Kv), (Shape::UniqueKv, ModelKind::Kv)]
    {
        for seed in 0..1500 {
            let mut rng = Rng(seed * 7919 + shape as u64);
            let text = random_history(&mut rng, shape, 12);
            let history = jsonl::parse("random", &text).unwrap();
            let mut model = ModelOptions::new(kind);
            model.initial = Value::from_json(&initial(shape));
            let opts = Options {
                threads: 1,
                all_keys: true,
                explain_time: std::time::Duration::ZERO,
                ..Options::new(model.clone())
            };
            for problem in linear::check(&history, &opts).unwrap().problems {
                let Some(anomaly) = problem.anomaly else { continue };
                explained += 1;
                let ids: Vec<usize> = anomaly.counterexample.iter().map(|o| o.id as usize).collect();
                assert!(
                    !oracle_linearizable(&oracle_ops(&history, &ids, model.cas_fail), &model.initial),
                    "seed {seed}: cut-short counterexample {ids:?} is linearizable\n{text}"
                );
            }
        }
    }
    assert!(explained > 300, "only {explained} explanations");
}
