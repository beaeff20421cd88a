//! Machine-readable results: the full verdicts and anomalies as JSON, for CI and other tools.

use faultline_checker::ladder::{Ladder, Level, Status};
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
    /// Every model of the consistency ladder, when asked for (its linearizability is the field above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ladder: Option<Ladder>,
    /// The model that must hold for the file to pass (the exit code); linearizability when none is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<Level>,
}

impl FileResult {
    /// Pass, fail or undecided, for the model the file is required to keep.
    pub fn verdict(&self) -> Verdict {
        match (self.required, &self.ladder) {
            (Some(level), Some(ladder)) if level != Level::Linearizable => match ladder.rung(level).status {
                Status::Holds => Verdict::Valid,
                Status::Violated => Verdict::Invalid,
                Status::Unknown => Verdict::Unknown,
            },
            _ => self.linearizability.verdict,
        }
    }
}

/// The results of one `faultline check`: the worst verdict of its files (for the model each must keep),
/// then each file's.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResults {
    pub verdict: Verdict,
    pub files: Vec<FileResult>,
}

impl CheckResults {
    pub fn new(files: Vec<FileResult>) -> CheckResults {
        let verdict = files.iter().map(FileResult::verdict).max().unwrap_or(Verdict::Valid);
        CheckResults { verdict, files }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results always serialize")
    }
}
