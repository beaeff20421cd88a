//! A Markdown summary for a CI step summary (GitHub's `$GITHUB_STEP_SUMMARY`): the verdict, a table of the
//! models per history, and each anomaly's explanation. Text from the target is escaped for tables and
//! fenced so that it cannot turn into markup.

use std::fmt::Write;

use faultline_checker::linear::Verdict;

use crate::junit::Suite;

pub fn render(title: &str, suites: &[Suite]) -> String {
    let verdict = suites.iter().flat_map(|s| &s.rows).map(|r| r.verdict).max().unwrap_or(Verdict::Valid);
    let mut out = String::new();
    let _ = writeln!(out, "## {} {}: {}\n", icon(verdict), cell(title), verdict.as_str().to_uppercase());
    out.push_str("| history | model | verdict | why |\n|---|---|---|---|\n");
    for suite in suites {
        for row in &suite.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} {} | {} |",
                cell(&suite.name),
                cell(&row.model),
                icon(row.verdict),
                row.verdict.as_str(),
                cell(&row.explanation)
            );
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
}
