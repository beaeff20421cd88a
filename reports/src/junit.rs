//! JUnit XML, for CI systems that show test results: one test suite per history, one test case per model
//! and key group (per key for the keys linearizability found a problem with, one case for the rest; one
//! per model for models that are not checked per key). A failure carries the explanation.

use std::fmt::Write;

use faultline_checker::linear::Verdict;

use crate::escape::xml;
use crate::ladder::LadderRow;
use crate::results::CheckResults;

/// The models' rows of one history, under the history's name.
#[derive(Clone, Debug)]
pub struct Suite {
    pub name: String,
    pub rows: Vec<LadderRow>,
}

impl Suite {
    /// The suites of a `faultline check`: one per file, linearizability only.
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
            })
            .collect()
    }
}

pub fn render(suites: &[Suite]) -> String {
    let mut body = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for suite in suites {
        let cases: Vec<_> = suite.rows.iter().flat_map(|r| r.groups.iter().map(move |g| (r, g))).collect();
        let count = |v: Verdict| cases.iter().filter(|(_, g)| g.verdict == v).count();
        let (f, e) = (count(Verdict::Invalid), count(Verdict::Unknown));
        let _ = writeln!(
            body,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" errors=\"{e}\" skipped=\"0\">",
            xml(&suite.name),
            cases.len()
        );
        for (row, group) in &cases {
            let _ = write!(
                body,
                "    <testcase classname=\"faultline.{}\" name=\"{}\"",
                xml(&row.model.replace(' ', "-")),
                xml(&format!("{}: {}", row.model, group.name))
            );
            match group.verdict {
                Verdict::Valid => body.push_str("/>\n"),
                Verdict::Invalid => {
                    let _ = writeln!(
                        body,
                        ">\n      <failure type=\"invalid\" message=\"not {}\">{}</failure>\n    </testcase>",
                        xml(&adjective(&row.model)),
                        xml(&group.explanation)
                    );
                }
                Verdict::Unknown => {
                    let _ = writeln!(
                        body,
                        ">\n      <error type=\"unknown\" message=\"undecided\">{}</error>\n    </testcase>",
                        xml(&group.explanation)
                    );
                }
            }
        }
        body.push_str("  </testsuite>\n");
        tests += cases.len();
        failures += f;
        errors += e;
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline\" tests=\"{tests}\" \
         failures=\"{failures}\" errors=\"{errors}\">\n{body}</testsuites>\n"
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
