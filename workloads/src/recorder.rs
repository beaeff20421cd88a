//! The recorder: every event of a run, appended to `history.jsonl` as it happens.
//!
//! Clients record an invocation before they send the request and a completion after the answer, under one
//! lock that also assigns `index` and `time`, so the order of lines is the real-time order the checker
//! relies on. Lines go through a buffer that is flushed at least every [`FLUSH_EVERY`], so a crash of
//! faultline loses at most that moment of history.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline_checker::{EventKind, Process, Value};
use serde::Serialize;

pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// An event's line without its index and time: the fields of `faultline_checker::Event` after them, in
/// its order and format, borrowed from the record rather than copied into an `Event` (the unit test holds
/// the two formats together).
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: EventKind,
    process: Process,
    f: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    value: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
}

struct Sink {
    out: BufWriter<File>,
    next_index: u64,
    last_flush: Instant,
    counts: Counts,
    error: Option<io::Error>,
}

/// Completions so far, for the progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

#[derive(Clone)]
pub struct Recorder {
    sink: Arc<Mutex<Sink>>,
    started: Instant,
}

impl From<Counts> for (u64, u64, u64) {
    fn from(c: Counts) -> (u64, u64, u64) {
        (c.ok, c.fail, c.info)
    }
}

/// One event to record; the recorder adds `index` and `time`.
pub struct Record<'a> {
    pub kind: EventKind,
    pub process: Process,
    pub f: &'a str,
    pub key: Option<&'a str>,
    pub value: Value,
    pub error: Option<String>,
    pub node: Option<&'a str>,
}

impl Recorder {
    pub fn create(path: &Path) -> io::Result<Recorder> {
        let out = BufWriter::with_capacity(1 << 16, File::create(path)?);
        let sink = Sink { out, next_index: 0, last_flush: Instant::now(), counts: Counts::default(), error: None };
        Ok(Recorder { sink: Arc::new(Mutex::new(sink)), started: Instant::now() })
    }

    pub fn record(&self, r: Record<'_>) {
        // The line is serialized before taking the lock; under the lock only its index and time are written
        // in front of it. Clients on several threads record two lines per operation each, so the time the
        // lock is held bounds the runner's throughput.
        let line = serde_json::to_string(&Line {
            kind: r.kind,
            process: r.process,
            f: r.f,
            key: r.key,
            value: &r.value,
            error: r.error.as_deref(),
            node: r.node,
        })
        .expect("events always serialize");
        let rest = &line[1..];
        let mut sink = self.sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (index, time) = (sink.next_index, self.started.elapsed().as_nanos() as u64);
        sink.next_index += 1;
        match r.kind {
            EventKind::Ok => sink.counts.ok += 1,
            EventKind::Fail => sink.counts.fail += 1,
            EventKind::Info => sink.counts.info += 1,
            EventKind::Invoke => {}
        }
        let written = write!(sink.out, "{{\"index\":{index},\"time\":{time},")
            .and_then(|()| sink.out.write_all(rest.as_bytes()))
            .and_then(|()| sink.out.write_all(b"\n"));
        let flushed = if sink.last_flush.elapsed() >= FLUSH_EVERY {
            sink.last_flush = Instant::now();
            sink.out.flush()
        } else {
            Ok(())
        };
        if let Err(e) = written.and(flushed) {
            sink.error.get_or_insert(e);
        }
    }

    /// Writes buffered lines out; the runner calls it periodically so that a quiet moment loses nothing.
    pub fn flush(&self) {
        let mut sink = self.sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        sink.last_flush = Instant::now();
        if let Err(e) = sink.out.flush() {
            sink.error.get_or_insert(e);
        }
    }

    pub fn counts(&self) -> Counts {
        self.sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).counts
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Flushes everything to disk; the first write error of the run, if any, is returned here.
    pub fn finish(&self) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(e) = sink.error.take() {
            return Err(e);
        }
        sink.out.flush()?;
        sink.out.get_ref().sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checker::format::jsonl;

    #[test]
    fn lines_are_whole_events_in_order() {
        let path = std::env::temp_dir().join(format!("faultline-recorder-{}.jsonl", std::process::id()));
        let recorder = Recorder::create(&path).unwrap();
        let record = |kind, process, key, value, error: Option<&str>, node| Record {
            kind,
            process,
            f: "cas",
            key,
            value,
            error: error.map(Into::into),
            node,
        };
        let cas = Value::List(vec![Value::Int(1), Value::str("\"two\"")].into());
        recorder.record(record(EventKind::Invoke, Process::Client(7), Some("k\n1"), cas.clone(), None, Some("n1")));
        recorder.record(record(EventKind::Fail, Process::Client(7), Some("k\n1"), cas, Some("cas-mismatch"), None));
        recorder.record(record(EventKind::Info, Process::Nemesis, None, Value::Null, Some("probe: {}"), None));
        recorder.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let history = jsonl::parse("recorded", &text).unwrap();
        assert_eq!(history.events.iter().map(|e| e.index).collect::<Vec<_>>(), [0, 1, 2]);
        let times: Vec<u64> = history.events.iter().map(|e| e.time.unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        // Each line is exactly the line of the event it parses to: nothing lost or doubled at the seam.
        for (line, event) in text.lines().zip(&history.events) {
            assert_eq!(line, jsonl::event_line(event));
        }
        assert_eq!(history.events[1].error, Some(Value::str("cas-mismatch")));
        assert_eq!(history.events[0].key, Some(Value::str("k\n1")));
        assert_eq!(recorder.counts(), Counts { ok: 0, fail: 1, info: 1 });
    }
}
