//! JUnit XML and the Markdown summary: well-formed whatever the target wrote, one case per model and key
//! group, failures carrying the explanation.

use faultline_checker::availability;
use faultline_checker::format::jsonl;
use faultline_checker::linear::{self, Options};
use faultline_checker::model::{ModelKind, ModelOptions};
use faultline_checker::synth::{self, Spec};
use faultline_checker::Verdict;
use faultline_checker::{sequential, History};
use faultline_reports::junit::{self, Suite};
use faultline_reports::ladder::LadderRow;
use faultline_reports::markdown;
use faultline_reports::results::{CheckResults, FileResult};

const ATTACK: &str = "</x>]]><!-- & \"'<script>alert(1)</script>\u{1}";

/// A minimal XML well-formedness check: declaration, balanced and properly nested elements with quoted
/// attributes, no raw `<` or stray `&` in text or attribute values, one root. Returns the element names
/// in document order.
fn well_formed(doc: &str) -> Result<Vec<String>, String> {
    let rest = doc.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").ok_or("no declaration")?;
    let (mut stack, mut names, mut roots) = (Vec::<String>::new(), Vec::new(), 0);
    let mut s = rest;
    let check_text = |t: &str| -> Result<(), String> {
        let mut parts = t.split('&');
        parts.next();
        for p in parts {
            let entity = p.split(';').next().unwrap_or("");
            if !matches!(entity, "amp" | "lt" | "gt" | "quot" | "#39") || !p.contains(';') {
                return Err(format!("stray & in {t:?}"));
            }
        }
        if t.chars().any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r')) {
            return Err(format!("control character in {t:?}"));
        }
        Ok(())
    };
    while let Some(open) = s.find('<') {
        check_text(&s[..open])?;
        if stack.is_empty() && !s[..open].trim().is_empty() {
            return Err("text outside the root".into());
        }
        let close = s[open..].find('>').ok_or("unclosed tag")? + open;
        let tag = &s[open + 1..close];
        if tag.contains('<') {
            return Err(format!("< inside tag {tag:?}"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name) {
                return Err(format!("</{name}> closes nothing open"));
            }
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().ok_or("empty tag")?.to_string();
            let mut attrs = &tag[name.len()..];
            while !attrs.trim().is_empty() {
                let eq = attrs.find("=\"").ok_or(format!("unquoted attribute in {tag:?}"))?;
                let end = attrs[eq + 2..].find('"').ok_or("unterminated attribute")? + eq + 2;
                check_text(&attrs[eq + 2..end])?;
                attrs = &attrs[end + 1..];
            }
            if stack.is_empty() {
                roots += 1;
            }
            names.push(name.clone());
            if !self_closing {
                stack.push(name);
            }
        }
        s = &s[close + 1..];
    }
    if !stack.is_empty() || roots != 1 || !s.trim().is_empty() {
        return Err(format!("unbalanced: open {stack:?}, {roots} roots"));
    }
    Ok(names)
}

fn hostile() -> History {
    let a = serde_json::to_string(ATTACK).unwrap();
    let text = format!(
        r#"{{"type":"invoke","process":0,"f":"write","key":{a},"value":{a}}}
{{"type":"ok","process":0,"f":"write","key":{a},"value":{a}}}
{{"type":"invoke","process":1,"f":"read","key":{a}}}
{{"type":"ok","process":1,"f":"read","key":{a},"value":"nobody wrote this"}}
{{"type":"invoke","process":1,"f":"read","key":"fine"}}
{{"type":"ok","process":1,"f":"read","key":"fine","value":null}}
"#
    );
    jsonl::parse(ATTACK, &text).unwrap()
}

fn results(h: &History) -> CheckResults {
    let a = linear::check(h, &Options::new(ModelOptions::new(ModelKind::Register))).unwrap();
    CheckResults::new(vec![FileResult {
        file: h.source.clone(),
        format: "jsonl".into(),
        events: h.events.len(),
        operations: h.operations.len(),
        initial: Default::default(),
        linearizability: a,
        ladder: None,
        required: None,
        availability: availability::check(h, &availability::Options::new(availability::Rule::AnyOk)),
        interrupted: None,
    }])
}

/// The same results, as a run interrupted after 6.2 s of 30 s recorded them.
fn interrupted(mut r: CheckResults) -> CheckResults {
    for f in &mut r.files {
        f.interrupted = Some("interrupted after 6.2 s of 30 s".into());
    }
    CheckResults::new(r.files)
}

#[test]
fn an_interrupted_run_is_unknown_in_every_report_unless_it_found_a_violation() {
    let spec = Spec { ops: 200, keys: 2, clients: 4, info_writes: 0.0, stale_read: false, seed: 5 };
    let valid = results(&History::new("synth", synth::generate(&spec)).unwrap());
    assert_eq!(valid.verdict, Verdict::Valid);
    let cut = interrupted(valid);
    assert_eq!(cut.verdict, Verdict::Unknown);
    assert_eq!(cut.files[0].verdict(), Verdict::Unknown);
    let json: serde_json::Value = serde_json::from_str(&cut.to_json()).unwrap();
    assert_eq!(json["verdict"], "unknown");
    assert_eq!(json["files"][0]["interrupted"], "interrupted after 6.2 s of 30 s");
    let xml = junit::render(&Suite::from_results(&cut));
    well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(xml.contains("failures=\"1\"") && xml.contains("type=\"interrupted\""), "{xml}");
    assert!(xml.contains("interrupted after 6.2 s of 30 s"), "{xml}");
    let md = markdown::render("faultline test register", &Suite::from_results(&cut));
    assert!(md.starts_with("## ⚠️ faultline test register: UNKNOWN"), "{md}");
    assert!(md.contains("UNKNOWN — interrupted after 6.2 s of 30 s"), "{md}");
    let text = faultline_reports::summary::render(&cut);
    assert!(text.contains("synth: UNKNOWN — interrupted after 6.2 s of 30 s"), "{text}");

    // A violation found in what was recorded stands: the run is invalid, however early it stopped.
    let h = hostile();
    let cut = interrupted(results(&h));
    assert_eq!(cut.verdict, Verdict::Invalid);
    let xml = junit::render(&Suite::from_results(&cut));
    assert!(xml.contains("type=\"invalid\"") && xml.contains("type=\"interrupted\""), "{xml}");
}

#[test]
fn junit_is_well_formed_with_hostile_text_and_has_one_case_per_key_group() {
    let h = hostile();
    let r = results(&h);
    assert_eq!(r.verdict, Verdict::Invalid);
    let xml = junit::render(&Suite::from_results(&r));
    let names = well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    // The bad key fails with its explanation; the good key passes in "1 other key"; availability passes.
    assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 3, "{xml}");
    assert_eq!(names.iter().filter(|n| *n == "failure").count(), 1, "{xml}");
    assert!(xml.contains("failures=\"1\""));
    assert!(xml.contains("cannot be placed"), "{xml}");
    assert!(xml.contains("1 other key"));
    assert!(!xml.contains("<script>"));
}

#[test]
fn junit_adds_a_case_per_further_model() {
    let spec = Spec { ops: 200, keys: 2, clients: 4, info_writes: 0.0, stale_read: false, seed: 5 };
    let h = History::new("synth", synth::generate(&spec)).unwrap();
    let a = linear::check(&h, &Options::new(ModelOptions::new(ModelKind::Register))).unwrap();
    let s = sequential::check(&h, &sequential::Options::new(ModelOptions::new(ModelKind::Register))).unwrap();
    let suites = vec![Suite::new("synth", vec![LadderRow::linearizability(&a), LadderRow::sequential(&s)])];
    let xml = junit::render(&suites);
    let names = well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert_eq!(names.iter().filter(|n| *n == "testcase").count(), 2, "{xml}");
    assert!(xml.contains("name=\"linearizability: all keys\""), "{xml}");
    assert!(xml.contains("name=\"sequential consistency: all keys\""), "{xml}");
    assert!(xml.contains("failures=\"0\""));
}

#[test]
fn markdown_summary_has_the_verdict_the_table_and_the_anomaly() {
    let h = hostile();
    let md = markdown::render("faultline check", &Suite::from_results(&results(&h)));
    assert!(md.starts_with("## ❌ faultline check: INVALID"), "{md}");
    assert!(md.contains("| history | model | verdict | why |"));
    assert!(md.contains("cannot be placed"));
    // Outside code blocks (where text cannot become markup) nothing from the target is raw.
    let mut outside = String::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            outside.push_str(line);
        }
    }
    assert!(!outside.contains("<script>") && outside.contains("&lt;script&gt;"), "{md}");
    // Table rows stay one line each: the models' table (header, rule, one model) and the outcomes' (header,
    // rule, write, read, and the one node "-").
    let table: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 3 + 5, "{md}");
}

#[test]
fn junit_fails_only_the_required_model_and_skips_what_was_left_undecided() {
    use faultline_checker::ladder::Level;
    use faultline_reports::ladder::KeyGroup;
    let group = |name: &str, verdict, explanation: &str| KeyGroup {
        name: name.into(),
        verdict,
        explanation: explanation.into(),
    };
    let linear = LadderRow {
        model: "linearizability".into(),
        verdict: Verdict::Invalid,
        explanation: "1 of 3 keys not linearizable.".into(),
        ops: Vec::new(),
        groups: vec![
            group("key \"a\"", Verdict::Invalid, "stale read"),
            group("key \"b\"", Verdict::Unknown, "not decided: another key already made the history invalid"),
            group("key \"c\"", Verdict::Unknown, "the time limit was reached"),
        ],
    };
    let sequential = LadderRow {
        model: "sequential consistency".into(),
        verdict: Verdict::Unknown,
        explanation: "the memo table is full".into(),
        ops: Vec::new(),
        groups: vec![group("all keys", Verdict::Unknown, "the memo table is full")],
    };
    let rows = vec![linear, sequential];

    // Required linearizability: the invalid key fails, the key left undecided after it is skipped, the key
    // the search could not decide is an error, and the unrequired model's unknown is skipped.
    let xml = junit::render(&[Suite::new("h", rows.clone())]);
    well_formed(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(xml.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"2\""), "{xml}");
    assert!(xml.contains("<skipped message=\"not decided: another key"), "{xml}");

    // Required sequential consistency: linearizability's violation is information; sequential's unknown
    // is the error the exit code (2) stands for.
    let suite = Suite { required: Level::Sequential, ..Suite::new("h", rows) };
    assert_eq!(suite.verdict(), Verdict::Unknown);
    let xml = junit::render(&[suite]);
    assert!(xml.contains("tests=\"4\" failures=\"0\" errors=\"1\" skipped=\"2\""), "{xml}");
    assert!(xml.contains("<system-out>stronger than the required model"), "{xml}");
}
