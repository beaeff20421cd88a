//! Checking a history file and writing what a check leaves: the same for `faultline check` on an
//! imported history and for the end of `faultline test`.

use std::path::Path;
use std::time::Duration;

use faultline_checker::availability::{self, Rule};
use faultline_checker::format::{self, Format};
use faultline_checker::ladder::{self, Level};
use faultline_checker::linear;
use faultline_checker::model::{CasFail, ModelKind, NilRead};
use faultline_checker::{History, Value};
use faultline_reports::html::{self, ReportInput};
use faultline_reports::junit::{self, Suite};
use faultline_reports::ladder::LadderRow;
use faultline_reports::markdown;
use faultline_reports::results::{CheckResults, FileResult};

/// How a history is checked.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub model: Option<ModelKind>,
    pub format: Option<Format>,
    pub initial: Option<Value>,
    pub cas_fail: CasFail,
    pub nil_read: NilRead,
    pub time_limit: Option<Duration>,
    /// Bytes the searches may use for their memo tables.
    pub memory_limit: usize,
    pub threads: usize,
    pub all_keys: bool,
    /// The least time explaining invalid keys may take (see `linear::Options::explain_time`).
    pub explain_time: Duration,
    /// Check every model of the consistency ladder, not only linearizability.
    pub ladder: bool,
    /// The model that must hold for the check to pass (the exit code).
    pub required: Level,
    /// What must have succeeded for the history to be judged at all: every kind of operation for a run
    /// faultline drove, any operation for a history from elsewhere.
    pub availability: Rule,
}

/// The ladder's slower checkers (sequential, causal memory) get this long each unless told otherwise.
pub const LADDER_TIME_LIMIT: Duration = Duration::from_secs(60);

impl CheckOptions {
    pub fn new() -> CheckOptions {
        CheckOptions {
            model: None,
            format: None,
            initial: None,
            cas_fail: CasFail::Observe,
            nil_read: NilRead::Absent,
            time_limit: None,
            memory_limit: 768 << 20,
            threads: 0,
            all_keys: false,
            explain_time: linear::EXPLAIN_TIME,
            ladder: false,
            required: Level::Linearizable,
            availability: Rule::AnyOk,
        }
    }
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions::new()
    }
}

/// A checked file: its result and the history it was read into (for the reports).
pub struct Checked {
    pub result: FileResult,
    pub history: History,
}

pub fn check_file(path: &Path, opts: &CheckOptions) -> Result<Checked, String> {
    let imported = format::load(path, opts.format).map_err(|e| e.to_string())?;
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    let mut model = imported.model_options(opts.model, opts.initial.clone(), opts.cas_fail);
    model.nil_read = opts.nil_read;
    let (linearizability, ladder) = if opts.ladder || opts.required != Level::Linearizable {
        let ladder_opts = ladder::Options {
            time_limit: opts.time_limit.or(Some(LADDER_TIME_LIMIT)),
            memory_limit: opts.memory_limit,
            threads: opts.threads,
            all_keys: opts.all_keys,
            ..ladder::Options::new(model.clone())
        };
        let mut ladder = ladder::check(&imported.history, &ladder_opts);
        // The ladder's own linearizability analysis becomes the file's; a ladder that could not run it
        // (an error) falls back to a direct check, which reports the error.
        let linear = match ladder.linear.take() {
            Some(a) => a,
            None => linear_check(&imported.history, &model, opts)?,
        };
        (linear, Some(ladder))
    } else {
        (linear_check(&imported.history, &model, opts)?, None)
    };
    let result = FileResult {
        // As messages name it: standard input is `<stdin>`, not `-`.
        file: imported.history.source.clone(),
        format: imported.format.to_string(),
        events: imported.history.events.len(),
        operations: imported.history.operations.len(),
        initial: model.initial,
        linearizability,
        ladder,
        required: Some(opts.required),
        availability: availability::check(&imported.history, &availability::Options::new(opts.availability)),
        interrupted: None,
    };
    Ok(Checked { result, history: imported.history })
}

fn linear_check(
    history: &History,
    model: &faultline_checker::model::ModelOptions,
    opts: &CheckOptions,
) -> Result<linear::Analysis, String> {
    let lo = linear::Options {
        time_limit: opts.time_limit,
        memory_limit: opts.memory_limit,
        threads: opts.threads,
        all_keys: opts.all_keys,
        explain_time: opts.explain_time,
        ..linear::Options::new(model.clone())
    };
    linear::check(history, &lo).map_err(|e| e.to_string())
}

/// The self-contained HTML report of one checked file; `parameters` are the run's, as shown, and
/// `node_logs` links to its nodes' logs, relative to where the report is written.
pub fn html_report(checked: &Checked, parameters: Vec<(String, String)>, node_logs: Vec<String>) -> String {
    let r = &checked.result;
    let mut input = ReportInput::new(format!("faultline — {}", r.file), &checked.history, &r.linearizability);
    input.parameters = parameters;
    input.required = r.required_level();
    input.availability = Some(&r.availability);
    input.interrupted = r.interrupted.as_deref();
    input.node_logs = node_logs;
    if let Some(ladder) = &r.ladder {
        input.more = LadderRow::from_ladder(ladder, &r.linearizability).into_iter().skip(1).collect();
    }
    let source = std::fs::read_to_string(&r.file).ok();
    input.source = source.as_deref();
    html::render(&input)
}

pub fn junit_report(results: &CheckResults) -> String {
    junit::render(&Suite::from_results(results))
}

pub fn markdown_report(title: &str, results: &CheckResults) -> String {
    markdown::render(title, &Suite::from_results(results))
}

/// Writes `text` to `path`, naming the file in the error.
pub fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
