//! Histories: the events a run recorded, and the operations they pair into.
//!
//! The semantics are Jepsen's. A client process invokes an operation and later completes it with `ok` (it
//! took effect), `fail` (it certainly did not take effect) or `info` (it may or may not have taken effect, at
//! any moment after its invocation). An invocation that never completes means the same as `info`. Real-time
//! order is the order of events in the history: an operation precedes another when it completed before the
//! other was invoked.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventKind {
    pub fn parse(s: &str) -> Option<EventKind> {
        match s {
            "invoke" => Some(EventKind::Invoke),
            "ok" => Some(EventKind::Ok),
            "fail" => Some(EventKind::Fail),
            "info" => Some(EventKind::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Invoke => "invoke",
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            EventKind::Info => "info",
        }
    }
}

/// Who performed an event: a numbered client process, or the nemesis injecting faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Process, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or \"nemesis\"")
            }
            fn visit_u64<E: serde::de::Error>(self, p: u64) -> Result<Process, E> {
                Ok(Process::Client(p))
            }
            fn visit_i64<E: serde::de::Error>(self, p: i64) -> Result<Process, E> {
                u64::try_from(p).map(Process::Client).map_err(|_| E::custom("a process must not be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Process, E> {
                match s {
                    "nemesis" => Ok(Process::Nemesis),
                    _ => Err(E::custom(format!("process {s:?} is neither an integer nor \"nemesis\""))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub index: u64,
    /// Nanoseconds since the start of the run, where the producer recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub process: Process,
    pub f: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    #[serde(default)]
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Arc<str>>,
    /// Marks a final read (`"final": true`; `:final? true` in EDN): see [`History::is_final`].
    #[serde(rename = "final", default, skip_serializing_if = "std::ops::Not::not")]
    pub final_read: bool,
    /// Where the event came from in its source file (1-based line), for messages; not part of the format.
    #[serde(skip)]
    pub line: u32,
}

/// The start of the `error` of an operation that never reached the store (its connection was refused).
/// Such a `fail` observed nothing: even a compare-and-set with it is not read as an observation.
pub const NOT_SENT: &str = "not-sent";
/// The start of the `error` of an operation the store refused to perform without comparing anything (no
/// quorum, a malformed request): like [`NOT_SENT`], a `fail` that observed nothing.
pub const NOT_APPLIED: &str = "not-applied";
/// Client processes numbered from here on are the final readers: after the workload (and the heal), they
/// read every key from every node, for the eventual-consistency checker's convergence and lost writes.
/// This is how faultline's own runs mark their final reads; a history from another tool marks them on the
/// event instead (`"final": true`), see [`History::is_final`].
pub const FINAL_READ_PROCESS_BASE: u64 = 1_000_000_000;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    /// Indeterminate: completed with `info`, or never completed.
    Info,
}

/// An invocation paired with its completion. Its fields are positions in [`History::events`], so an
/// operation costs a few words however large its values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    pub process: u64,
    pub invoke: u32,
    /// The completion event, if any. An `info` completion is recorded here too; `outcome` says what it means.
    pub complete: Option<u32>,
    pub outcome: Outcome,
}

/// A parsed history: events in the order they happened, and the operations they pair into.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// A name for messages, usually the file it was read from.
    pub source: String,
    pub events: Vec<Event>,
    pub operations: Vec<Operation>,
}

impl History {
    /// Pairs client events into operations. Nemesis events are not operations; they stay in `events`.
    ///
    /// Errors (each naming the line): a completion with no outstanding invocation for its process, an
    /// invocation while the same process has one outstanding, an invocation by a process whose last
    /// operation ended with `info` (it may still be in flight: Jepsen gives the client a new process
    /// number), a completion whose `f` differs from its invocation's, an `ok` completion of a write, put,
    /// append or cas that carries a value other than its invocation's (a completion may leave the value out,
    /// as null), and more than 2^32 events.
    pub fn new(source: impl Into<String>, events: Vec<Event>) -> Result<History, Error> {
        let source = source.into();
        if events.len() >= u32::MAX as usize {
            return Err(Error::input(&source, 0, "a history of more than 4294967294 events is not supported"));
        }
        let mut operations: Vec<Operation> = Vec::with_capacity(events.len() / 2 + 1);
        let mut outstanding: rustc_hash::FxHashMap<u64, usize> = Default::default();
        // Processes whose last operation ended with `info`, and the line of that completion.
        let mut crashed: rustc_hash::FxHashMap<u64, u32> = Default::default();
        for (pos, event) in events.iter().enumerate() {
            let Process::Client(process) = event.process else { continue };
            match event.kind {
                EventKind::Invoke => {
                    if let Some(&info_line) = crashed.get(&process) {
                        return Err(Error::input(
                            &source,
                            event.line,
                            format!(
                                "process {process} invokes {:?} after its operation ended with info at line \
                                 {info_line}; that operation may still be in flight, so a process never invokes \
                                 again after an info (continue under a new process number, as Jepsen does)",
                                &*event.f
                            ),
                        ));
                    }
                    if let Some(&open) = outstanding.get(&process) {
                        let open_line = events[operations[open].invoke as usize].line;
                        return Err(Error::input(
                            &source,
                            event.line,
                            format!(
                                "process {process} invokes {:?} while its invocation at line {open_line} is still \
                                 outstanding; a process runs one operation at a time (after an indeterminate \
                                 result, continue under a new process number)",
                                &*event.f
                            ),
                        ));
                    }
                    outstanding.insert(process, operations.len());
                    operations.push(Operation { process, invoke: pos as u32, complete: None, outcome: Outcome::Info });
                }
                kind => {
                    let Some(open) = outstanding.remove(&process) else {
                        return Err(Error::input(
                            &source,
                            event.line,
                            format!(
                                "{} completion for process {process} has no outstanding invocation to complete",
                                kind.as_str()
                            ),
                        ));
                    };
                    let op = &mut operations[open];
                    let invoked = &events[op.invoke as usize];
                    if invoked.f != event.f {
                        return Err(Error::input(
                            &source,
                            event.line,
                            format!(
                                "completion has f {:?} but process {process}'s invocation at line {} has f {:?}",
                                &*event.f, invoked.line, &*invoked.f
                            ),
                        ));
                    }
                    if kind == EventKind::Ok
                        && matches!(&*event.f, "write" | "put" | "append" | "cas")
                        && !event.value.is_null()
                        && event.value != invoked.value
                    {
                        return Err(Error::input(
                            &source,
                            event.line,
                            format!(
                                "this ok {} completes with value {} but process {process}'s invocation at line {} \
                                 has value {}; a completed {} carries the value it was invoked with (or none)",
                                &*event.f, event.value, invoked.line, invoked.value, &*event.f
                            ),
                        ));
                    }
                    if kind == EventKind::Info {
                        crashed.insert(process, event.line);
                    }
                    op.complete = Some(pos as u32);
                    op.outcome = match kind {
                        EventKind::Ok => Outcome::Ok,
                        EventKind::Fail => Outcome::Fail,
                        _ => Outcome::Info,
                    };
                }
            }
        }
        Ok(History { source, events, operations })
    }

    pub fn invocation(&self, op: &Operation) -> &Event {
        &self.events[op.invoke as usize]
    }

    pub fn completion(&self, op: &Operation) -> Option<&Event> {
        op.complete.map(|pos| &self.events[pos as usize])
    }

    /// The position of the event at which the operation is known to have ended, if it has one that
    /// constrains real-time order: only `ok` and `fail` completions do; an `info` one does not.
    pub fn definite_end(&self, op: &Operation) -> Option<u32> {
        match op.outcome {
            Outcome::Info => None,
            _ => op.complete,
        }
    }

    /// The value an operation's completion carries (a read's result), or its invocation's where it has no
    /// completion.
    pub fn result(&self, op: &Operation) -> &Value {
        match self.completion(op) {
            Some(e) => &e.value,
            None => &self.invocation(op).value,
        }
    }

    /// Whether the operation is one of the final reads (the reads of every key from every node after the
    /// workload, which judge convergence and lost writes): its invocation or completion is marked final
    /// (`"final": true`), or its process is numbered from `process_base` on (faultline's own convention,
    /// [`FINAL_READ_PROCESS_BASE`]).
    pub fn is_final(&self, op: &Operation, process_base: u64) -> bool {
        op.process >= process_base
            || self.invocation(op).final_read
            || self.completion(op).is_some_and(|c| c.final_read)
    }

    /// True if the operation failed without the store looking at any state ([`NOT_SENT`], [`NOT_APPLIED`]).
    pub fn observed_nothing(&self, op: &Operation) -> bool {
        op.outcome == Outcome::Fail
            && self
                .completion(op)
                .and_then(|c| c.error.as_ref())
                .and_then(Value::as_str)
                .is_some_and(|e| e.starts_with(NOT_SENT) || e.starts_with(NOT_APPLIED))
    }

    /// Counts of operations by outcome: (ok, fail, info).
    pub fn outcome_counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for op in &self.operations {
            match op.outcome {
                Outcome::Ok => counts.0 += 1,
                Outcome::Fail => counts.1 += 1,
                Outcome::Info => counts.2 += 1,
            }
        }
        counts
    }
}
