//! The terminal summary: the verdict first, then for each key that is not linearizable the anomaly as a
//! person would tell it: where the history stops making sense, the few operations that show it, and why.

use std::fmt::Write;

use faultline_checker::availability::{thousands, Availability, Tally};
use faultline_checker::ladder::{Ladder, Level, Status};
use faultline_checker::linear::KeyResult;
use faultline_checker::Verdict;

use crate::results::{CheckResults, FileResult};

pub fn render(results: &CheckResults) -> String {
    let mut out = String::new();
    for file in &results.files {
        render_file(&mut out, file);
    }
    if results.files.len() > 1 {
        let count = |v: Verdict| results.files.iter().filter(|f| f.verdict() == v).count();
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

/// The first line says what the exit code says: the required model's verdict, or that too little
/// succeeded to judge; linearizability's own line follows when it is not the required model.
fn render_file(out: &mut String, file: &FileResult) {
    let a = &file.linearizability;
    let availability = &file.availability;
    let required = file.required_level();
    let verdict = file.verdict().as_str().to_uppercase();
    let linear_head = if let Some(why) = &file.interrupted {
        let _ = writeln!(out, "{}: {verdict} — {why}", file.file);
        let _ = writeln!(out, "  what was recorded was checked; a run cut short is not judged valid");
        format!("  linearizability: {}", a.verdict.as_str())
    } else if !availability.is_available() {
        let _ = writeln!(out, "{}: {verdict} — too little succeeded to judge it", file.file);
        for problem in &availability.problems {
            let _ = writeln!(out, "  {problem}");
        }
        let _ = writeln!(out, "  {}", Availability::ADVICE);
        format!("  linearizability: {}", a.verdict.as_str())
    } else if required == Level::Linearizable {
        format!("{}: {verdict} — linearizability", file.file)
    } else {
        let _ = writeln!(out, "{}: {verdict} — {} (required)", file.file, required.name());
        let note = if a.verdict == Verdict::Invalid {
            " (stronger than the required model: information, not a failure)"
        } else {
            ""
        };
        format!("  linearizability: {}{note}", a.verdict.as_str())
    };
    for warning in &availability.warnings {
        let _ = writeln!(out, "  warning: {warning}");
    }
    let _ = writeln!(
        out,
        "{linear_head}, {} model, failed cas: {}{}; {} {}, {} operations checked, {:.1} ms",
        a.model,
        a.cas_fail,
        if a.nil_read == "any" { ", nil reads: any" } else { "" },
        a.keys,
        if a.keys == 1 { "key" } else { "keys" },
        a.operations,
        a.elapsed_ms
    );
    let shown = a.problems.iter().filter(|p| p.anomaly.is_some()).count();
    for problem in a.problems.iter().filter(|p| !p.left_undecided()) {
        render_problem(out, problem);
    }
    let undecided = a.problems.iter().filter(|p| p.left_undecided()).count();
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
    if let Some(ladder) = &file.ladder {
        render_ladder(out, ladder, file.required, file.verdict());
    }
    render_outcomes(out, availability);
}

/// Outcomes per kind of operation and per node, two lines.
fn render_outcomes(out: &mut String, a: &Availability) {
    let list = |tallies: &[Tally], prefix: &str| {
        tallies
            .iter()
            .map(|t| format!("{prefix}{} {}/{}/{}", t.name, thousands(t.ok), thousands(t.fail), thousands(t.info)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !a.kinds.is_empty() {
        let _ = writeln!(out, "  ok/fail/info by operation: {}", list(&a.kinds, ""));
        let _ = writeln!(out, "  ok/fail/info by node: {}", list(&a.nodes, ""));
    }
}

/// The consistency ladder: one line per model, strongest first, then the anomaly of each violated model.
/// The header names the strongest models that hold only for a history that was judged: of an unknown one
/// (too little succeeded, an interrupted run) it would claim more than the run showed.
fn render_ladder(out: &mut String, ladder: &Ladder, required: Option<Level>, verdict: Verdict) {
    let strongest: Vec<&str> = crate::ladder::strongest_holding(ladder).into_iter().map(Level::name).collect();
    let strongest = match strongest.len() {
        _ if verdict == Verdict::Unknown => "each model on what was recorded; the verdict is unknown".to_string(),
        0 => "no model holds".to_string(),
        1 => format!("the strongest model that holds: {}", strongest[0]),
        _ => format!("the strongest models that hold, none implying another: {}", strongest.join(", ")),
    };
    let _ = writeln!(out, "  consistency ladder ({strongest}):");
    for rung in &ladder.rungs {
        let status = match rung.status {
            Status::Holds => "holds",
            Status::Violated => "VIOLATED",
            Status::Unknown => "unknown",
        };
        let required = required.unwrap_or(Level::Linearizable);
        let gate = match rung.status {
            _ if rung.level == required => "  <- required",
            Status::Violated if crate::ladder::implies(rung.level, required) => {
                "  (stronger than required: information)"
            }
            Status::Violated => "  (not required: information)",
            _ => "",
        };
        let why = match (rung.status, rung.implied_by) {
            (Status::Holds, Some(by)) => format!("implied by {}", by.name()),
            (Status::Holds, None) => "checked".to_string(),
            _ => rung.summary.lines().next().unwrap_or("").to_string(),
        };
        let _ = writeln!(out, "    {:<28} {status:<9} {why}{gate}", rung.level.name());
    }
    for rung in ladder.rungs.iter().filter(|r| r.status == Status::Violated && r.level != Level::Linearizable) {
        if let Some(first) = rung.anomalies.first() {
            let _ = writeln!(out, "  {} is violated:", rung.level.name());
            for line in first.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
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
            if a.minimal {
                let _ = writeln!(out, "    minimal counterexample ({} operations):", a.counterexample.len());
            } else {
                let _ = writeln!(
                    out,
                    "    counterexample ({} operations; not shrunk to a minimal one within the explanation's time, \
                     --explain-budget gives it more):",
                    a.counterexample.len()
                );
            }
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

/// The live progress line of a run on a terminal (rewritten in place): elapsed time, rate, outcomes so
/// far and the fault in force, in fixed-width columns.
pub fn progress(elapsed: std::time::Duration, counts: impl Into<(u64, u64, u64)>, fault: &str) -> String {
    let (ok, fail, info) = counts.into();
    let done = ok + fail + info;
    let secs = elapsed.as_secs_f64().max(1e-9);
    format!("{secs:6.1} s  {:8.0} ops/s  ok {ok}  fail {fail}  info {info}  fault: {fault}   ", done as f64 / secs)
}

/// The same as one line of a log (stderr that is not a terminal, as in CI).
pub fn progress_line(elapsed: std::time::Duration, counts: impl Into<(u64, u64, u64)>, fault: &str) -> String {
    let (ok, fail, info) = counts.into();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = (ok + fail + info) as f64 / secs;
    format!("{secs:.1} s, {rate:.0} ops/s, ok {ok}, fail {fail}, info {info}, fault in force: {fault}")
}
