//! The HTML report: untrusted text stays text, anomalies are told and drawn, every corpus history renders,
//! and a million operations fit in a file a browser can open.

use std::path::{Path, PathBuf};
use std::time::Instant;

use faultline_checker::format::{self, jsonl};
use faultline_checker::linear::{self, Options};
use faultline_checker::model::{CasFail, ModelKind, ModelOptions};
use faultline_checker::synth::{self, Spec};
use faultline_checker::Verdict;

#[path = "../../tests/common/skip.rs"]
mod skip;
use faultline_checker::{sequential, History};
use faultline_reports::html::{render, ReportInput};

const ATTACK: &str = "</script><script>alert(1)</script>";

fn check(h: &History) -> linear::Analysis {
    linear::check(h, &Options::new(ModelOptions::new(ModelKind::infer(h)))).unwrap()
}

/// A stale read whose key, values, error, node and fault name are all script injections.
fn hostile() -> String {
    let a = serde_json::to_string(ATTACK).unwrap();
    format!(
        r#"{{"index":0,"time":1000,"type":"invoke","process":0,"f":"write","key":{a},"value":{a}}}
{{"index":1,"time":2000,"type":"ok","process":0,"f":"write","key":{a},"value":{a},"node":{a}}}
{{"index":2,"time":2500,"type":"info","process":"nemesis","f":"start-{ATTACK}","value":{a}}}
{{"index":3,"time":3000,"type":"invoke","process":1,"f":"write","key":{a},"value":"b"}}
{{"index":4,"time":4000,"type":"ok","process":1,"f":"write","key":{a},"value":"b"}}
{{"index":5,"time":5000,"type":"invoke","process":2,"f":"read","key":{a},"value":null}}
{{"index":6,"time":6000,"type":"ok","process":2,"f":"read","key":{a},"value":{a},"error":{a}}}
{{"index":7,"time":7000,"type":"invoke","process":3,"f":"write","key":{a},"value":"c"}}
{{"index":8,"time":8000,"type":"fail","process":3,"f":"write","key":{a},"value":"c","error":{a}}}
{{"index":9,"time":9000,"type":"info","process":"nemesis","f":"stop","value":null}}
"#
    )
}

#[test]
fn script_injection_from_the_target_is_shown_as_text() {
    let text = hostile();
    let h = jsonl::parse("hostile.jsonl", &text).unwrap();
    let a = check(&h);
    assert_eq!(a.verdict, Verdict::Invalid);
    let mut input = ReportInput::new(ATTACK, &h, &a);
    input.parameters.push((ATTACK.to_string(), ATTACK.to_string()));
    input.source = Some(&text);
    let page = render(&input);
    assert!(!page.contains("<script>alert"), "an injected script survived");
    // Exactly the report's own two scripts: the data and the code.
    assert_eq!(page.matches("<script").count(), 2);
    assert_eq!(page.matches("</script>").count(), 2);
    assert!(page.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), "the text itself is shown");
    // Inside the JSON data, `<` is \u003c and the JSON still parses back to the original text.
    let start = page.find("id=\"timeline-data\">").unwrap() + "id=\"timeline-data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    let data: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
    assert_eq!(data["K"][1].as_str(), Some(ATTACK));
    assert!(data["lines"][0].as_str().unwrap().contains(ATTACK));
    assert_eq!(data["faultNames"][1].as_str().unwrap(), ATTACK.to_lowercase().trim_end_matches('-'));
}

fn stale_read(ops: usize, seed: u64) -> History {
    let spec = Spec { ops, keys: 3, clients: 6, info_writes: 0.05, stale_read: true, seed };
    History::new("synth", synth::generate(&spec)).unwrap()
}

#[test]
fn an_anomaly_is_told_and_drawn() {
    let h = stale_read(400, 3);
    let a = check(&h);
    assert_eq!(a.verdict, Verdict::Invalid);
    let seq_opts = sequential::Options {
        memory_limit: 64 << 20,
        time_limit: Some(std::time::Duration::from_secs(2)),
        ..sequential::Options::new(ModelOptions::new(ModelKind::Register))
    };
    let seq = sequential::check(&h, &seq_opts).unwrap();
    let mut input = ReportInput::new("stale read", &h, &a);
    input.sequential = Some(&seq);
    let page = render(&input);
    assert!(page.contains(">INVALID</div>"));
    assert!(page.contains("sequential consistency"));
    assert!(page.contains("cannot be placed"));
    assert!(page.contains("<svg class=\"counterexample\""));
    assert!(page.contains("class=\"op culprit\""));
    assert!(page.contains("linearizable through line"));
    let legend_marks = page.matches("<li><svg width=\"14\"").count();
    assert!(legend_marks >= 3 + 4 + 3, "each plot's legend beside it: {legend_marks}");
    assert_eq!(page.matches("<svg").count() - legend_marks, 4, "one counterexample and three plots");
    // A valid report offers no zoom to an anomaly; this one does.
    assert!(page.contains("zoom to the first anomaly"));
}

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/porcupine");
    if dir.join("EXPECTED.tsv").exists() {
        return Some(dir);
    }
    skip::skip(&format!("the Porcupine corpus is not at {} (a clone without ../shared)", dir.display()));
    None
}

#[test]
fn every_corpus_history_renders() {
    let Some(dir) = corpus() else { return };
    let text = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    let mut rendered = 0;
    for line in text.lines().skip(1) {
        let file = line.split('\t').next().unwrap();
        let path = dir.join(file);
        let imported = format::load(&path, None).unwrap();
        let source = std::fs::read_to_string(&path).unwrap();
        let opts = Options::new(imported.model_options(None, None, CasFail::Observe));
        let a = linear::check(&imported.history, &opts).unwrap();
        let mut input = ReportInput::new(file, &imported.history, &a);
        input.source = Some(&source);
        let page = render(&input);
        let banner = format!(">{}</div>", a.verdict.as_str().to_uppercase());
        assert!(page.contains(&banner), "{file}: no {banner}");
        if a.problems.iter().any(|p| p.anomaly.is_some()) {
            assert!(page.contains("<svg class=\"counterexample\""), "{file}: anomaly not drawn");
        }
        assert_eq!(page.matches("</script>").count(), 2, "{file}");
        rendered += 1;
    }
    assert_eq!(rendered, 108);
}

#[test]
fn a_million_operations_fit() {
    let started = Instant::now();
    let spec = Spec { ops: 1_000_000, keys: 100, clients: 16, info_writes: 0.02, stale_read: true, seed: 7 };
    let h = History::new("synth-1m", synth::generate(&spec)).unwrap();
    let generated = started.elapsed();
    let a = check(&h);
    let checked = started.elapsed();
    let page = render(&ReportInput::new("a million operations", &h, &a));
    let rendered = started.elapsed();
    eprintln!(
        "1,000,000 operations: generated in {:.2} s, checked in {:.2} s, rendered in {:.2} s: {:.1} MB of HTML",
        generated.as_secs_f64(),
        (checked - generated).as_secs_f64(),
        (rendered - checked).as_secs_f64(),
        page.len() as f64 / 1e6
    );
    assert!(page.len() < 60_000_000, "{} bytes", page.len());
    assert!(!page.contains("\"lines\":["), "a million operations' lines are not embedded");
    assert!(page.contains(">INVALID</div>"));
    if let Ok(out) = std::env::var("FAULTLINE_REPORT_OUT") {
        std::fs::write(out, &page).unwrap();
    }
}

#[test]
fn empty_and_untimed_histories_render() {
    let empty = History::default();
    let a = check(&empty);
    let page = render(&ReportInput::new("empty", &empty, &a));
    assert!(page.contains(">VALID</div>") && page.contains("\"s\":[]"));
    assert!(!page.contains("zoom to the first anomaly"), "no anomaly to zoom to");
    // With availability counted (as every check does), an empty history is unknown, never valid.
    let none = faultline_checker::availability::check(
        &empty,
        &faultline_checker::availability::Options::new(faultline_checker::availability::Rule::AnyOk),
    );
    let mut input = ReportInput::new("empty", &empty, &a);
    input.availability = Some(&none);
    let page = render(&input);
    assert!(page.contains(">UNKNOWN</div>") && page.contains("Too little succeeded to judge this history"));
    let text = "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
                {\"type\":\"info\",\"process\":\"nemesis\",\"f\":\"start\"}\n\
                {\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
                {\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n";
    let h = jsonl::parse("untimed", text).unwrap();
    let a = check(&h);
    let page = render(&ReportInput::new("untimed", &h, &a));
    assert!(page.contains("\"unit\":\"event\"") && page.contains("no times recorded"));
    assert!(page.contains("\"faults\":[[1,3,1]]"), "the fault lasts to the end of the history");
}
