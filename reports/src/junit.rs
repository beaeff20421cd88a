//! JUnit XML, for CI systems that show test results: one test suite per history, one test case per model
//! and key group (per key for the keys linearizability found a problem with, one case for the rest; one
//! per model for models that are not checked per key), and one for availability.
//!
//! The XML says what the exit code says. Only the required model fails (a violation is a `<failure>`
//! carrying the explanation; an undecided check an `<error>`), and so does a history in which too little
//! succeeded to judge it. A violated model that is not the required one (a stronger model, say
//! linearizability under `--require sequential`) passes with the violation as information in
//! `<system-out>`; keys or models left undecided without failing the check are `<skipped>` with the reason.
//! A run that was interrupted (Ctrl-C, SIGTERM) fails a case of its own saying so.

use std::fmt::Write;

use faultline_checker::availability::Availability;
use faultline_checker::judge::judge;
use faultline_checker::ladder::Level;
use faultline_checker::Verdict;

use crate::escape::xml;
use crate::ladder::{self, LadderRow, Role};
use crate::results::CheckResults;

/// The models' rows of one history, under the history's name, and what it must keep.
#[derive(Clone, Debug)]
pub struct Suite {
    pub name: String,
    pub rows: Vec<LadderRow>,
    /// The model that must hold for the history to pass.
    pub required: Level,
    /// What succeeded; `None` where it was not counted.
    pub availability: Option<Availability>,
    /// Why the run stopped before its end, when it did (see [`results::FileResult::interrupted`]).
    pub interrupted: Option<String>,
}

impl Suite {
    /// A suite of rows that must keep linearizability.
    pub fn new(name: impl Into<String>, rows: Vec<LadderRow>) -> Suite {
        Suite { name: name.into(), rows, required: Level::Linearizable, availability: None, interrupted: None }
    }

    /// The suites of a `faultline check`: one per file.
    pub fn from_results(results: &CheckResults) -> Vec<Suite> {
        results
            .files
            .iter()
            .map(|f| Suite {
                name: f.file.clone(),
                rows: match &f.ladder {
                    Some(ladder) => LadderRow::from_ladder(ladder, &f.linearizability),
                    None => vec![LadderRow::linearizability(&f.linearizability)],
                },
                required: f.required_level(),
                availability: Some(f.availability.clone()),
                interrupted: f.interrupted.clone(),
            })
            .collect()
    }

    /// What the exit code says of this history.
    pub fn verdict(&self) -> Verdict {
        judge(
            ladder::required_verdict(&self.rows, self.required),
            self.availability.as_ref(),
            self.interrupted.is_some(),
        )
    }
}

/// How one test case ends.
enum Case<'a> {
    Pass,
    /// Passes, with a note (a violation of a model that is not required).
    Note(String),
    Failure {
        kind: &'static str,
        message: String,
        text: String,
    },
    Error(&'a str),
    Skipped(&'a str),
}

pub fn render(suites: &[Suite]) -> String {
    let mut body = String::new();
    let (mut all_tests, mut all_failures, mut all_errors, mut all_skipped) = (0, 0, 0, 0);
    for suite in suites {
        let mut cases: Vec<(String, String, Case)> = Vec::new();
        if let Some(why) = &suite.interrupted {
            // The run did not run to its end: its history says nothing of what the rest would have shown.
            let case = Case::Failure {
                kind: "interrupted",
                message: why.clone(),
                text: format!("{why}: what was recorded was checked, but a run cut short is not judged valid"),
            };
            cases.push(("run".into(), "run: ran to its end".into(), case));
        }
        if let Some(a) = &suite.availability {
            let case = if a.is_available() {
                if a.warnings.is_empty() {
                    Case::Pass
                } else {
                    Case::Note(a.warnings.join("\n"))
                }
            } else {
                Case::Failure {
                    kind: "unavailable",
                    message: "too little succeeded to judge the history".to_string(),
                    text: format!("{}\n{}", a.problems.join("\n"), Availability::ADVICE),
                }
            };
            cases.push(("availability".into(), "availability: operations that succeeded".into(), case));
        }
        for row in &suite.rows {
            let role = Role::of(row, suite.required);
            for group in &row.groups {
                let case = match (group.verdict, role) {
                    (Verdict::Valid, _) => Case::Pass,
                    (Verdict::Invalid, Role::Required) => Case::Failure {
                        kind: "invalid",
                        message: format!("not {}", adjective(&row.model)),
                        text: group.explanation.clone(),
                    },
                    (Verdict::Invalid, role) => Case::Note(format!("{}\n{}", role.violation_note(), group.explanation)),
                    (Verdict::Unknown, Role::Required) if !ladder::not_decided(group) => {
                        Case::Error(&group.explanation)
                    }
                    (Verdict::Unknown, _) => Case::Skipped(&group.explanation),
                };
                cases.push((row.model.replace(' ', "-"), format!("{}: {}", row.model, group.name), case));
            }
        }
        let count = |f: fn(&Case) -> bool| cases.iter().filter(|(_, _, c)| f(c)).count();
        let failures = count(|c| matches!(c, Case::Failure { .. }));
        let errors = count(|c| matches!(c, Case::Error(_)));
        let skipped = count(|c| matches!(c, Case::Skipped(_)));
        let _ = writeln!(
            body,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">",
            xml(&suite.name),
            cases.len()
        );
        for (class, name, case) in &cases {
            let _ = write!(body, "    <testcase classname=\"faultline.{}\" name=\"{}\"", xml(class), xml(name));
            match case {
                Case::Pass => body.push_str("/>\n"),
                Case::Note(text) => {
                    let _ = writeln!(body, ">\n      <system-out>{}</system-out>\n    </testcase>", xml(text));
                }
                Case::Failure { kind, message, text } => {
                    let _ = writeln!(
                        body,
                        ">\n      <failure type=\"{kind}\" message=\"{}\">{}</failure>\n    </testcase>",
                        xml(message),
                        xml(text)
                    );
                }
                Case::Error(text) => {
                    let _ = writeln!(
                        body,
                        ">\n      <error type=\"unknown\" message=\"undecided\">{}</error>\n    </testcase>",
                        xml(text)
                    );
                }
                Case::Skipped(text) => {
                    let _ = writeln!(
                        body,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(text.lines().next().unwrap_or("undecided"))
                    );
                }
            }
        }
        body.push_str("  </testsuite>\n");
        all_tests += cases.len();
        all_failures += failures;
        all_errors += errors;
        all_skipped += skipped;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline\" tests=\"{all_tests}\" \
         failures=\"{all_failures}\" errors=\"{all_errors}\" skipped=\"{all_skipped}\">\n{body}</testsuites>\n"
    )
}

/// "linearizability" → "linearizable", "sequential consistency" → "sequentially consistent".
fn adjective(model: &str) -> String {
    match model {
        "linearizability" => "linearizable".to_string(),
        "sequential consistency" => "sequentially consistent".to_string(),
        m => format!("valid under {m}"),
    }
}
