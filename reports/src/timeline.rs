//! Where operations and faults sit in time, for every view that draws a history: the HTML timelines and
//! the plots share one clock, so that a fault shaded in one lines up with the others.
//!
//! A history's `time` is optional. When every event has one, the clock is nanoseconds since the start of
//! the run; when any event lacks it, the clock is the event's position in the file, which still orders
//! everything correctly (real-time order *is* the order of lines) but says nothing about durations.

use faultline_checker::{EventKind, History, Outcome, Process};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// True: nanoseconds from `time`; false: event positions.
    pub timed: bool,
}

impl Clock {
    pub fn of(history: &History) -> Clock {
        Clock { timed: !history.events.is_empty() && history.events.iter().all(|e| e.time.is_some()) }
    }

    /// The clock reading of the event at position `pos`.
    pub fn at(&self, history: &History, pos: usize) -> u64 {
        match self.timed {
            true => history.events[pos].time.unwrap_or(0),
            false => pos as u64,
        }
    }

    /// The reading of the last event: where operations that never completed and faults never healed end.
    pub fn end(&self, history: &History) -> u64 {
        match self.timed {
            true => history.events.iter().filter_map(|e| e.time).max().unwrap_or(0),
            false => history.events.len().saturating_sub(1) as u64,
        }
    }

    /// A reading in display units: seconds when timed, events otherwise.
    pub fn display(&self, t: u64) -> f64 {
        match self.timed {
            true => t as f64 / 1e9,
            false => t as f64,
        }
    }

    /// The display unit's name, for axes.
    pub fn unit(&self) -> &'static str {
        match self.timed {
            true => "s",
            false => "event",
        }
    }
}

/// One operation's interval on the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Index into the history's operations.
    pub op: u32,
    pub start: u64,
    /// The completion's reading; for an operation that never completed, the end of the history.
    pub end: u64,
    pub completed: bool,
}

/// Every operation's span, in the order of the history's operations.
pub fn spans(history: &History, clock: Clock) -> Vec<Span> {
    let end_of_history = clock.end(history);
    history
        .operations
        .iter()
        .enumerate()
        .map(|(id, op)| {
            let start = clock.at(history, op.invoke as usize);
            let end = op.complete.map_or(end_of_history, |c| clock.at(history, c as usize));
            Span { op: id as u32, start, end: end.max(start), completed: op.complete.is_some() }
        })
        .collect()
}

/// True if the operation has a latency to plot: it completed (an `info` completion included).
pub fn has_latency(span: &Span) -> bool {
    span.completed
}

/// A period during which the nemesis had a fault in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultPeriod {
    /// The fault, as the nemesis named it without "start" ("partition" for "start-partition").
    pub name: String,
    pub start: u64,
    pub end: u64,
}

/// Fault periods from the nemesis's events, read leniently: an event whose `f` contains "start" opens a
/// period named by the rest of `f`; one containing "stop" or "heal" closes the open period of the same
/// name, or else the latest one still open. A second start of a fault already open (Jepsen logs invoke and
/// info for each) changes nothing; a period still open at the end lasts until the end of the history.
pub fn fault_periods(history: &History, clock: Clock) -> Vec<FaultPeriod> {
    let mut open: Vec<(String, u64)> = Vec::new();
    let mut done = Vec::new();
    for (pos, e) in history.events.iter().enumerate() {
        if e.process != Process::Nemesis || e.kind == EventKind::Fail {
            continue;
        }
        let f = e.f.to_ascii_lowercase();
        let t = clock.at(history, pos);
        if f.contains("start") {
            let name = fault_name(&f, &["start"]);
            if !open.iter().any(|(n, _)| *n == name) {
                open.push((name, t));
            }
        } else if f.contains("stop") || f.contains("heal") {
            let name = fault_name(&f, &["stop", "heal"]);
            let which = open.iter().rposition(|(n, _)| *n == name).or(open.len().checked_sub(1));
            if let Some(i) = which {
                let (name, start) = open.remove(i);
                done.push(FaultPeriod { name, start, end: t.max(start) });
            }
        }
    }
    let end = clock.end(history);
    done.extend(open.into_iter().map(|(name, start)| FaultPeriod { name, start, end: end.max(start) }));
    done.sort_by_key(|p| (p.start, p.end));
    done
}

fn fault_name(f: &str, words: &[&str]) -> String {
    let mut name = f.to_string();
    for w in words {
        name = name.replace(w, "");
    }
    let name = name.trim_matches(|c: char| c == '-' || c == '_' || c == ' ' || c == ':').to_string();
    if name.is_empty() {
        "fault".to_string()
    } else {
        name
    }
}

/// A short name for an outcome, as the reports show it.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Info => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checker::format::jsonl;

    #[test]
    fn fault_periods_are_read_leniently() {
        let text = r#"{"type":"info","process":"nemesis","f":"partition-start","time":10}
{"type":"invoke","process":0,"f":"read","time":11}
{"type":"invoke","process":"nemesis","f":"start-kill","time":12}
{"type":"info","process":"nemesis","f":"start-kill","time":13}
{"type":"info","process":"nemesis","f":"partition-stop","time":20}
{"type":"info","process":"nemesis","f":"heal","time":25}
{"type":"info","process":"nemesis","f":"start","time":30}
{"type":"ok","process":0,"f":"read","time":40}
"#;
        let h = jsonl::parse("t", text).unwrap();
        let clock = Clock::of(&h);
        assert!(clock.timed);
        let periods = fault_periods(&h, clock);
        let got: Vec<(&str, u64, u64)> = periods.iter().map(|p| (p.name.as_str(), p.start, p.end)).collect();
        assert_eq!(got, vec![("partition", 10, 20), ("kill", 12, 25), ("fault", 30, 40)]);
        assert_eq!(spans(&h, clock)[0], Span { op: 0, start: 11, end: 40, completed: true });
    }

    #[test]
    fn without_time_the_clock_is_the_event_position() {
        let text = "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"time\":5}\n{\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n";
        let h = jsonl::parse("t", text).unwrap();
        let clock = Clock::of(&h);
        assert!(!clock.timed);
        let s = spans(&h, clock);
        assert_eq!((s[0].start, s[0].end, s[0].completed), (0, 1, false));
        assert_eq!(fault_periods(&h, clock), vec![]);
    }
}
