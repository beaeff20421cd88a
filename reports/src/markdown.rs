//! A Markdown summary for a CI step summary (GitHub's `$GITHUB_STEP_SUMMARY`): the verdict the exit code
//! gives (the required model's, or unknown where too little succeeded), a table of the models per history
//! with the required one marked, what succeeded per kind and node, and each anomaly's explanation. Text
//! from the target is escaped for tables and fenced so that it cannot turn into markup.

use std::fmt::Write;

use faultline_checker::availability::{thousands, Availability, Tally};
use faultline_checker::Verdict;

use crate::junit::Suite;
use crate::ladder::Role;

pub fn render(title: &str, suites: &[Suite]) -> String {
    let verdict = suites.iter().map(Suite::verdict).max().unwrap_or(Verdict::Valid);
    let mut out = String::new();
    let _ = writeln!(out, "## {} {}: {}\n", icon(verdict), cell(title), verdict.as_str().to_uppercase());
    for suite in suites {
        let why = match (&suite.interrupted, suite.availability.as_ref().filter(|a| !a.is_available())) {
            (Some(why), _) => format!("{why}; what was recorded was checked, {} is required", suite.required.name()),
            (None, Some(a)) => format!("too little succeeded to judge it: {}", a.problems.join("; ")),
            (None, None) => format!("{} is required", suite.required.name()),
        };
        let _ = writeln!(
            out,
            "- {} **{}**: {} — {}",
            icon(suite.verdict()),
            cell(&suite.name),
            suite.verdict().as_str().to_uppercase(),
            cell(&why)
        );
        for warning in suite.availability.iter().flat_map(|a| &a.warnings) {
            let _ = writeln!(out, "  - ⚠️ {}", cell(warning));
        }
    }
    out.push_str("\n| history | model | verdict | why |\n|---|---|---|---|\n");
    for suite in suites {
        for row in &suite.rows {
            let role = Role::of(row, suite.required);
            let (mark, note) = match (role, row.verdict) {
                (Role::Required, _) => (icon(row.verdict), " (required)".to_string()),
                (_, Verdict::Invalid) => ("ℹ️", format!(" ({})", role.violation_note())),
                _ => (icon(row.verdict), String::new()),
            };
            let _ = writeln!(
                out,
                "| {} | {}{} | {mark} {} | {} |",
                cell(&suite.name),
                cell(&row.model),
                cell(&note),
                row.verdict.as_str(),
                cell(&row.explanation)
            );
        }
    }
    for suite in suites {
        if let Some(a) = &suite.availability {
            render_availability(&mut out, &suite.name, a);
        }
    }
    for suite in suites {
        for row in &suite.rows {
            for group in row.groups.iter().filter(|g| g.verdict != Verdict::Valid) {
                let _ = writeln!(
                    out,
                    "\n### {} {}: {}, {}\n",
                    icon(group.verdict),
                    cell(&suite.name),
                    cell(&row.model),
                    cell(&group.name)
                );
                out.push_str(&fenced(&group.explanation));
            }
        }
    }
    out
}

/// The faults of a history, for the end of a run's summary: how many started and how many failed, then
/// one row per fault that failed or was skipped, with why. Nothing when the history records no fault.
pub fn faults(h: &faultline_checker::History) -> String {
    let rows = crate::faults::rows(h, crate::timeline::Clock::of(h));
    if rows.is_empty() {
        return String::new();
    }
    let (started, failed) = crate::faults::tally(&rows);
    let skipped = rows.len() - started;
    let mut out = format!(
        "\n### Faults\n\n{started} started, {failed} failed{}\n",
        if skipped > 0 { format!(", {skipped} skipped") } else { String::new() }
    );
    let troubled: Vec<_> = rows.iter().filter(|r| r.failed || r.skipped).collect();
    if !troubled.is_empty() {
        out.push_str("\n| fault | nodes | outcome | why |\n|---|---|---|---|\n");
        for r in troubled {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&r.name),
                cell(&r.nodes.join(" ")),
                if r.failed { "❌ failed" } else { "skipped" },
                cell(r.problem.as_deref().unwrap_or(""))
            );
        }
    }
    out
}

/// Outcomes per kind of operation and per node.
fn render_availability(out: &mut String, name: &str, a: &Availability) {
    let _ = writeln!(out, "\n### {}: outcomes\n", cell(name));
    out.push_str("| operations | ok | fail | info |\n|---|---|---|---|\n");
    let row = |out: &mut String, what: String, t: &Tally| {
        let _ =
            writeln!(out, "| {} | {} | {} | {} |", cell(&what), thousands(t.ok), thousands(t.fail), thousands(t.info));
    };
    for t in &a.kinds {
        row(out, t.name.clone(), t);
    }
    for t in &a.nodes {
        row(out, format!("node {}", t.name), t);
    }
    if !a.is_available() {
        let _ = writeln!(out, "\n{}", cell(Availability::ADVICE));
    }
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "✅",
        Verdict::Invalid => "❌",
        Verdict::Unknown => "⚠️",
    }
}

/// Text for one table cell or heading: one line, no pipes, no markup.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A fenced block longer than any run of backticks in the text, so the text cannot close it.
fn fenced(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{text}\n{fence}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_fences_hold_hostile_text() {
        assert_eq!(cell("a|b\n<c>"), "a\\|b &lt;c&gt;");
        let f = fenced("x ```` y");
        assert!(f.starts_with("`````text\n"));
    }

    #[test]
    fn a_fault_whose_command_failed_is_counted_and_shown_as_failed() {
        let md = faults(&crate::faults::tests::a_failed_fault());
        assert!(md.contains("2 started, 1 failed, 1 skipped"), "{md}");
        assert!(md.contains("| kill | n1 | ❌ failed | command exited with 7 |"), "{md}");
        assert!(md.contains("| kill |  | skipped | no primary to aim at |"), "{md}");
    }
}
