//! `--nil-read`: a read of nil is the key's absence (the default), or, as Knossos reads it, nothing known,
//! so it constrains nothing. Every checker that reads values takes the option.

use faultline_checker::causal::{self, Status};
use faultline_checker::eventual;
use faultline_checker::format;
use faultline_checker::linear;
use faultline_checker::model::{ModelKind, ModelOptions, NilRead};
use faultline_checker::sequential;
use faultline_checker::session;
use faultline_checker::History;
use faultline_checker::Verdict;

const FINAL: u64 = 1_000_000_000;

/// Process 0 writes 1, then reads nil; the final reads see 1 on n1 and nil on n2.
fn history() -> History {
    let line = |kind: &str, p: u64, f: &str, v: &str, node: &str| {
        format!(
            "{{\"type\":\"{kind}\",\"process\":{p},\"f\":\"{f}\",\"key\":\"x\",\"value\":{v},\"node\":\"{node}\"}}\n"
        )
    };
    let mut text = String::new();
    text += &line("invoke", 0, "write", "1", "n1");
    text += &line("ok", 0, "write", "1", "n1");
    text += &line("invoke", 0, "read", "null", "n1");
    text += &line("ok", 0, "read", "null", "n1");
    text += &line("invoke", FINAL, "read", "null", "n1");
    text += &line("ok", FINAL, "read", "1", "n1");
    text += &line("invoke", FINAL + 1_000_000, "read", "null", "n2");
    text += &line("ok", FINAL + 1_000_000, "read", "null", "n2");
    format::parse("h", &text, None).unwrap().history
}

fn verdicts(h: &History, kind: ModelKind, nil_read: NilRead) -> Vec<(&'static str, bool)> {
    let model = ModelOptions { nil_read, ..ModelOptions::new(kind) };
    let linear = linear::check(h, &linear::Options::new(model.clone())).unwrap().verdict;
    let sequential = sequential::check(h, &sequential::Options::new(model.clone())).unwrap().verdict;
    let c = causal::check(h, &causal::Options::new(model.clone())).unwrap();
    let s = session::check(h, &model).unwrap();
    let e = eventual::check(h, &eventual::Options::new(model.clone())).unwrap();
    let mut out = vec![
        ("linearizable", linear == Verdict::Valid),
        ("sequential", sequential == Verdict::Valid),
        ("causal", c.ccv.status == Status::Holds && c.cm.status == Status::Holds),
        ("eventual", e.verdict == Verdict::Valid),
    ];
    out.extend(s.guarantees.iter().filter(|g| g.guarantee.name() == "read-your-writes").map(|g| ("ryw", g.holds)));
    out
}

#[test]
fn a_nil_read_is_absence_by_default_and_nothing_with_any() {
    let h = history();
    for kind in [ModelKind::Register, ModelKind::CasRegister, ModelKind::Kv] {
        let absent = verdicts(&h, kind, NilRead::Absent);
        assert_eq!(absent.len(), 5);
        assert!(absent.iter().all(|(_, holds)| !holds), "{kind}: reading nil after writing 1 violates all: {absent:?}");
        let any = verdicts(&h, kind, NilRead::Any);
        assert!(any.iter().all(|(_, holds)| *holds), "{kind}: nil reads constrain nothing: {any:?}");
    }
}

#[test]
fn any_only_drops_reads_of_nil() {
    // A stale read of a value is still a stale read with --nil-read any.
    let text = "{:type :invoke, :f :write, :value [7 1], :process 0}\n{:type :ok, :f :write, :value [7 1], :process 0}\n\
                {:type :invoke, :f :write, :value [7 2], :process 0}\n{:type :ok, :f :write, :value [7 2], :process 0}\n\
                {:type :invoke, :f :read, :value [7 nil], :process 1}\n{:type :ok, :f :read, :value [7 1], :process 1}\n";
    let imported = format::parse("stale.edn", text, None).unwrap();
    let mut model = imported.model_options(Some(ModelKind::CasRegister), None, Default::default());
    model.nil_read = NilRead::Any;
    assert_eq!(linear::check(&imported.history, &linear::Options::new(model)).unwrap().verdict, Verdict::Invalid);
}
