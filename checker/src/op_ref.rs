//! An operation as a report names it: its process, what it did and found, and the lines of the history
//! file it came from. Every checker's explanation points at operations this way, so they all read alike.

use serde::Serialize;

use crate::history::{History, Outcome as OpOutcome};
use crate::value::Value;

/// An operation, as a report shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpRef {
    /// Index into the history's operations.
    pub id: u32,
    pub process: u64,
    pub f: String,
    pub value: Value,
    /// What the completion carried, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    pub outcome: OpOutcome,
    /// The `index` field of the invocation event.
    pub index: u64,
    pub invoke_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_line: Option<u32>,
}

impl OpRef {
    pub fn new(history: &History, id: u32) -> OpRef {
        let op = &history.operations[id as usize];
        let invocation = history.invocation(op);
        let completion = history.completion(op);
        OpRef {
            id,
            process: op.process,
            f: invocation.f.to_string(),
            value: invocation.value.clone(),
            result: completion.map(|c| c.value.clone()),
            outcome: op.outcome,
            index: invocation.index,
            invoke_line: invocation.line,
            complete_line: completion.map(|c| c.line),
        }
    }

    /// "read by process 3 returned 1", "write 2 by process 1", "cas [1, 2] by process 0 failed".
    pub fn describe(&self) -> String {
        let reads = matches!(self.f.as_str(), "read" | "get");
        let what = if reads || self.value.is_null() {
            format!("{} by process {}", self.f, self.process)
        } else {
            format!("{} {} by process {}", self.f, self.value, self.process)
        };
        match (self.outcome, &self.result) {
            (OpOutcome::Ok, Some(r)) if reads => format!("{what} returned {r}"),
            (OpOutcome::Ok, _) => what,
            (OpOutcome::Fail, _) => format!("{what} failed"),
            (OpOutcome::Info, Some(_)) => format!("{what} (indeterminate: may or may not have taken effect)"),
            (OpOutcome::Info, None) => format!("{what} (never completed: may or may not have taken effect)"),
        }
    }

    /// "line 12" or "lines 12–15".
    pub fn lines(&self) -> String {
        match self.complete_line {
            Some(c) if c != self.invoke_line => format!("lines {}–{}", self.invoke_line, c),
            _ => format!("line {}", self.invoke_line),
        }
    }
}
