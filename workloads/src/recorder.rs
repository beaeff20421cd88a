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

use faultline_checker::format::jsonl::event_line;
use faultline_checker::{Event, EventKind, Process, Value};

pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

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

/// One event to record; the recorder adds `index` and `time`.
impl From<Counts> for (u64, u64, u64) {
    fn from(c: Counts) -> (u64, u64, u64) {
        (c.ok, c.fail, c.info)
    }
}

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
        let mut sink = self.sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let event = Event {
            index: sink.next_index,
            time: Some(self.started.elapsed().as_nanos() as u64),
            kind: r.kind,
            process: r.process,
            f: r.f.into(),
            key: r.key.map(Value::str),
            value: r.value,
            error: r.error.map(|e| Value::str(&e)),
            node: r.node.map(Into::into),
            line: 0,
        };
        sink.next_index += 1;
        match r.kind {
            EventKind::Ok => sink.counts.ok += 1,
            EventKind::Fail => sink.counts.fail += 1,
            EventKind::Info => sink.counts.info += 1,
            EventKind::Invoke => {}
        }
        let line = event_line(&event);
        let written = sink.out.write_all(line.as_bytes()).and_then(|()| sink.out.write_all(b"\n"));
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
