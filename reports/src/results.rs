//! Machine-readable results: the full verdicts and anomalies as JSON, for CI and other tools.

use faultline_checker::availability::Availability;
use faultline_checker::judge::{judge, required_verdict};
use faultline_checker::ladder::{Ladder, Level};
use faultline_checker::linear::Analysis;
use faultline_checker::Verdict;
use serde::{Serialize, Serializer};

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
    /// What succeeded, per kind and node; a history that shows too little is not judged valid.
    pub availability: Availability,
    /// Why the run that recorded the history stopped before its end ("interrupted after 6.2 s of 30 s"):
    /// what it recorded is checked, but a run cut short is never judged valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
}

impl FileResult {
    /// Pass, fail or undecided, as the exit code says: the required model's verdict, except that a history
    /// that shows too little to judge (see [`Availability`]), or that an interrupted run recorded, is never
    /// valid.
    pub fn verdict(&self) -> Verdict {
        judge(self.required_verdict(), Some(&self.availability), self.interrupted.is_some())
    }

    pub fn required_level(&self) -> Level {
        self.required.unwrap_or(Level::Linearizable)
    }

    /// The required model's own verdict.
    pub fn required_verdict(&self) -> Verdict {
        required_verdict(self.required_level(), self.ladder.as_ref(), self.linearizability.verdict)
    }
}

/// The results of one `faultline check`: the worst verdict of its files (for the model each must keep),
/// then each file's.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResults {
    pub verdict: Verdict,
    #[serde(serialize_with = "verdicts_first")]
    pub files: Vec<FileResult>,
}

/// Each file's object starts with what its exit code says, then the model that decided it.
fn verdicts_first<S: Serializer>(files: &[FileResult], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Judged<'a> {
        verdict: Verdict,
        required_model: Level,
        required_verdict: Verdict,
        #[serde(flatten)]
        file: &'a FileResult,
    }
    s.collect_seq(files.iter().map(|f| Judged {
        verdict: f.verdict(),
        required_model: f.required_level(),
        required_verdict: f.required_verdict(),
        file: f,
    }))
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
