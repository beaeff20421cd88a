//! Machine-readable results: the full verdicts and anomalies as JSON, for CI and other tools.

use faultline_checker::linear::{Analysis, Verdict};
use serde::Serialize;

/// The check of one history file.
#[derive(Clone, Debug, Serialize)]
pub struct FileResult {
    pub file: String,
    pub format: String,
    pub events: usize,
    pub operations: usize,
    /// The initial value every key was checked from.
    pub initial: faultline_checker::Value,
    pub linearizability: Analysis,
}

/// The results of one `faultline check`: the worst verdict of its files, then each file's.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResults {
    pub verdict: Verdict,
    pub files: Vec<FileResult>,
}

impl CheckResults {
    pub fn new(files: Vec<FileResult>) -> CheckResults {
        let verdict = files.iter().map(|f| f.linearizability.verdict).max().unwrap_or(Verdict::Valid);
        CheckResults { verdict, files }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results always serialize")
    }
}
