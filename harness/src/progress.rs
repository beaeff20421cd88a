//! What a run shows while it runs, and the nemesis's side of its history: the progress line on stderr
//! (elapsed time, operation counts, the fault in force), and the recorder of the nemesis's steps, which
//! writes them to the history and counts the faults for the summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_checker::nemesis_action::NemesisAction;
use faultline_checker::{EventKind, Process, Value};
use faultline_nemesis::schedule::Step;
use faultline_workloads::recorder::{Record, Recorder};

/// The progress line's state, shared between the task that draws it and the nemesis recorder.
pub struct Progress {
    /// The fault in force, for the progress line: set once a fault has started, cleared as it stops.
    in_force: Arc<Mutex<String>>,
    /// The nemesis's completions are recorded as `info` events; the progress line counts operations.
    nemesis_infos: Arc<AtomicU64>,
    terminal: bool,
}

impl Progress {
    /// Starts drawing the progress line, on the current runtime, until the runtime ends: a terminal gets a
    /// live line, a CI log one line every 5 s, so a long run shows life.
    pub fn start(recorder: &Recorder) -> Progress {
        let progress = Progress {
            in_force: Arc::new(Mutex::new(String::new())),
            nemesis_infos: Arc::new(AtomicU64::new(0)),
            terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        };
        let (recorder, in_force, nemesis_infos) =
            (recorder.clone(), progress.in_force.clone(), progress.nemesis_infos.clone());
        let terminal = progress.terminal;
        let every = Duration::from_secs(if terminal { 1 } else { 5 });
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let fault = in_force.lock().map(|f| f.clone()).unwrap_or_default();
                let fault = if fault.is_empty() { "none".to_string() } else { fault };
                let (elapsed, all) = (recorder.elapsed(), recorder.counts());
                let counts = (all.ok, all.fail, all.info.saturating_sub(nemesis_infos.load(Ordering::Relaxed)));
                if terminal {
                    eprint!("\r{}", faultline_reports::summary::progress(elapsed, counts, &fault));
                } else {
                    eprintln!("faultline test: {}", faultline_reports::summary::progress_line(elapsed, counts, &fault));
                }
            }
        });
        progress
    }

    /// Ends the live line of a terminal, so that what follows starts on a line of its own.
    pub fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }

    /// A recorder of the nemesis's steps into `recorder`, which keeps this progress line's fault current.
    pub fn nemesis<'a>(&'a self, recorder: &'a Recorder) -> NemesisRecorder<'a> {
        NemesisRecorder { progress: self, recorder, faults: 0, failed_faults: 0 }
    }
}

/// Records each step of the nemesis in the history, and counts the faults started and failed.
pub struct NemesisRecorder<'a> {
    progress: &'a Progress,
    recorder: &'a Recorder,
    /// Faults started during the run.
    pub faults: usize,
    /// Faults whose command or action erred: they may never have acted.
    pub failed_faults: usize,
}

impl NemesisRecorder<'_> {
    /// Records one step (`start-kill` invoked, done with what it did, ...), as `schedule::run` reports it.
    pub fn record(&mut self, step: Step, action: &NemesisAction, value: serde_json::Value) {
        let starts = matches!(action, NemesisAction::Start(_));
        self.faults += usize::from(step == Step::Invoke && starts);
        let failed = step == Step::Done && starts && value.get("error").is_some();
        self.failed_faults += usize::from(failed);
        if let Ok(mut current) = self.progress.in_force.lock() {
            match (step, action) {
                (Step::Done, NemesisAction::Start(kind)) if !failed => *current = describe_fault(kind, &value),
                (Step::Invoke, _) if !starts => current.clear(),
                _ => {}
            }
        }
        if step != Step::Invoke {
            self.progress.nemesis_infos.fetch_add(1, Ordering::Relaxed);
        }
        self.recorder.record(Record {
            kind: if step == Step::Invoke { EventKind::Invoke } else { EventKind::Info },
            process: Process::Nemesis,
            f: &action.to_string(),
            key: None,
            value: Value::from_json(&value),
            error: None,
            node: None,
        });
    }
}

/// "partition (halves)", "kill n2", "delay n1 n3": a fault as the progress line names it.
fn describe_fault(kind: &str, value: &serde_json::Value) -> String {
    if let Some(shape) = value["shape"].as_str() {
        return format!("{kind} ({shape})");
    }
    let nodes: Vec<&str> = value["nodes"].as_array().into_iter().flatten().filter_map(|n| n.as_str()).collect();
    if nodes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} {}", nodes.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn faults_are_named_by_shape_or_nodes() {
        assert_eq!(describe_fault("partition", &json!({"shape": "halves", "nodes": ["n1"]})), "partition (halves)");
        assert_eq!(describe_fault("delay", &json!({"nodes": ["n1", "n3"]})), "delay n1 n3");
        assert_eq!(describe_fault("clock", &json!({})), "clock");
    }
}
