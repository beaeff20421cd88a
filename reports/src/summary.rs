//! The terminal summary: the verdict first, then for each key that is not linearizable the anomaly as a
//! person would tell it: where the history stops making sense, the few operations that show it, and why.

use std::fmt::Write;

use faultline_checker::linear::{KeyResult, Verdict};

use crate::results::{CheckResults, FileResult};

pub fn render(results: &CheckResults) -> String {
    let mut out = String::new();
    for file in &results.files {
        render_file(&mut out, file);
    }
    if results.files.len() > 1 {
        let count = |v: Verdict| results.files.iter().filter(|f| f.linearizability.verdict == v).count();
        let _ = writeln!(
            out,
            "{} files: {} valid, {} invalid, {} unknown",
            results.files.len(),
            count(Verdict::Valid),
            count(Verdict::Invalid),
            count(Verdict::Unknown)
        );
    }
    out
}

fn render_file(out: &mut String, file: &FileResult) {
    let a = &file.linearizability;
    let _ = writeln!(
        out,
        "{}: {} — linearizability, {} model, failed cas: {}; {} {}, {} operations checked, {:.1} ms",
        file.file,
        a.verdict.as_str().to_uppercase(),
        a.model,
        a.cas_fail,
        a.keys,
        if a.keys == 1 { "key" } else { "keys" },
        a.operations,
        a.elapsed_ms
    );
    let shown = a.problems.iter().filter(|p| p.anomaly.is_some()).count();
    let stopped = |p: &&KeyResult| {
        p.verdict == Verdict::Unknown && p.unknown_cause.as_deref().is_some_and(|c| c.starts_with("not decided"))
    };
    for problem in a.problems.iter().filter(|p| !stopped(p)) {
        render_problem(out, problem);
    }
    let undecided = a.problems.iter().filter(stopped).count();
    if undecided > 0 {
        let keys = if undecided == 1 { "key" } else { "keys" };
        let _ = writeln!(
            out,
            "  ({undecided} more {keys} not decided once the history was invalid; --all-keys decides every key)"
        );
    }
    let hidden = a.problems.iter().filter(|p| p.verdict == Verdict::Invalid).count().saturating_sub(shown);
    if hidden > 0 {
        let keys = if hidden == 1 { "key" } else { "keys" };
        let _ = writeln!(out, "  ({hidden} more invalid {keys} not explained)");
    }
}

fn render_problem(out: &mut String, p: &KeyResult) {
    let key = p.key.as_ref().map_or("the register".to_string(), |k| format!("key {k}"));
    match p.verdict {
        Verdict::Unknown => {
            let _ = writeln!(out, "  {key}: unknown: {}", p.unknown_cause.as_deref().unwrap_or("undecided"));
        }
        Verdict::Invalid => {
            let Some(a) = &p.anomaly else {
                let _ = writeln!(out, "  {key}: not linearizable");
                return;
            };
            let _ = writeln!(out, "  {key}: not linearizable ({} operations)", p.operations);
            if let (Some(through), Some(bad)) = (a.linearizable_through_line, a.first_bad_line) {
                let _ = writeln!(out, "    linearizable through line {through}; line {bad} makes it impossible");
            }
            let _ = writeln!(out, "    minimal counterexample ({} operations):", a.counterexample.len());
            for op in &a.counterexample {
                let mark = if op.id == a.culprit.id { "*" } else { "-" };
                let _ = writeln!(out, "      {mark} {} ({})", op.describe(), op.lines());
            }
            for line in a.explanation.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        Verdict::Valid => {}
    }
}

/// The live progress line of a run: elapsed time, rate and outcomes so far.
pub fn progress(elapsed: std::time::Duration, counts: impl Into<(u64, u64, u64)>) -> String {
    let (ok, fail, info) = counts.into();
    let done = ok + fail + info;
    let secs = elapsed.as_secs_f64().max(1e-9);
    format!("{secs:6.1} s  {:8.0} ops/s  ok {ok}  fail {fail}  info {info}   ", done as f64 / secs)
}
