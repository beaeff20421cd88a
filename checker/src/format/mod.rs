//! History formats: faultline's JSON Lines, and imports from Jepsen's EDN and Porcupine's logs.
//!
//! Every importer produces the same [`History`]; the checkers never know where a history came from. An
//! importer may also say which model and initial value its format implies (a Porcupine etcd log is a
//! compare-and-set register starting at nil), which the caller uses unless told otherwise.
//!
//! Common to every format: a UTF-8 byte-order mark at the start is ignored, and a torn final line (no
//! newline at its end, and it does not read as an event: what a recorder that was killed mid-write leaves)
//! is skipped with a warning. A line that does not read anywhere else is an error.

pub mod edn;
pub mod jsonl;
pub mod porcupine;

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::history::History;
use crate::model::ModelKind;
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// faultline's JSON Lines.
    Jsonl,
    /// Jepsen EDN: one op map per line, or a vector of them; independent `[key value]` tuples detected.
    Edn,
    /// Porcupine's Jepsen etcd log (`INFO  jepsen.util - 3 :invoke :cas [1 4]`).
    PorcupineLog,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["jsonl", "edn", "porcupine-log"];

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::PorcupineLog => "porcupine-log",
        }
    }

    /// Guesses the format from the first non-blank line.
    pub fn detect(text: &str) -> Option<Format> {
        let first = text.lines().map(str::trim_start).find(|l| !l.is_empty())?;
        if first.starts_with("INFO") && first.contains(" - ") {
            Some(Format::PorcupineLog)
        } else if first.starts_with("{\"") || first.starts_with("{ \"") {
            Some(Format::Jsonl)
        } else if first.starts_with('{') || first.starts_with('[') || first.starts_with("#jepsen") {
            Some(Format::Edn)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "jsonl" | "json" => Ok(Format::Jsonl),
            "edn" | "jepsen" => Ok(Format::Edn),
            "porcupine-log" | "porcupine" => Ok(Format::PorcupineLog),
            _ => Err(format!("unknown history format {s:?}; expected one of {}", Format::NAMES.join(", "))),
        }
    }
}

/// What a format implies about how to check it, where the history itself cannot say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hints {
    pub model: Option<ModelKind>,
    pub initial: Option<Value>,
}

#[derive(Clone, Debug)]
pub struct Imported {
    pub history: History,
    pub format: Format,
    pub hints: Hints,
    /// What was read but not taken, each naming its file and line (a torn final line), for stderr.
    pub warnings: Vec<String>,
}

/// Parses a history from text, in the given format or the detected one.
pub fn parse(source: &str, text: &str, format: Option<Format>) -> Result<Imported, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = match format.or_else(|| Format::detect(text)) {
        Some(f) => f,
        None if text.trim().is_empty() => Format::Jsonl,
        None => {
            return Err(Error::input(
                source,
                1 + text.lines().take_while(|l| l.trim().is_empty()).count() as u32,
                format!(
                    "cannot tell the history format from this line; expected a JSON event ({{\"type\": ...}}), a \
                     Jepsen EDN op ({{:type ...}}) or a Porcupine log line (INFO  jepsen.util - ...); name it with \
                     --format ({})",
                    Format::NAMES.join(", ")
                ),
            ))
        }
    };
    let read = |text: &str| match format {
        Format::Jsonl => jsonl::read_lines(source, text).map(|events| (events, Hints::default())),
        Format::Edn => edn::parse_events(source, text),
        Format::PorcupineLog => porcupine::parse_events(source, text),
    };
    let mut warnings = Vec::new();
    let (events, hints) = match (read(text), torn_tail(text)) {
        (Err(Error::Input { line, message, .. }), Some((start, tail))) if line == tail => {
            warnings.push(format!(
                "{source}:{line}: skipped the last line: it has no newline at its end and does not read ({message}); \
                 a recorder stopped while writing it"
            ));
            read(&text[..start])?
        }
        (read, _) => read?,
    };
    let events = match format {
        Format::Jsonl => jsonl::number(source, events)?,
        _ => events,
    };
    Ok(Imported { history: History::new(source, events)?, format, hints, warnings })
}

/// Where the last line starts and its number, if the text does not end with a newline and that line is not
/// blank: a line that may have been cut short.
fn torn_tail(text: &str) -> Option<(usize, u32)> {
    if text.ends_with('\n') {
        return None;
    }
    let start = text.rfind('\n').map_or(0, |nl| nl + 1);
    let line = 1 + text.as_bytes().iter().filter(|&&b| b == b'\n').count() as u32;
    (!text[start..].trim().is_empty()).then_some((start, line))
}

/// The name standard input goes by in messages.
pub const STDIN: &str = "<stdin>";

/// Reads and parses a history file; `-` reads standard input.
pub fn load(path: &std::path::Path, format: Option<Format>) -> Result<Imported, Error> {
    let from_stdin = path.as_os_str() == "-";
    let source = if from_stdin { STDIN.to_string() } else { path.display().to_string() };
    let io_error = |e: std::io::Error| Error::Io { source: source.clone(), message: e.to_string() };
    let text = if from_stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text).map_err(io_error)?;
        text
    } else {
        std::fs::read_to_string(path).map_err(io_error)?
    };
    parse(&source, &text, format)
}

impl Imported {
    /// The model options for this history: what the caller named, else what its format implies, else what
    /// its operation names imply. Nil reads are read as [`crate::model::NilRead::Absent`]; set the field to
    /// change that.
    pub fn model_options(
        &self,
        kind: Option<ModelKind>,
        initial: Option<Value>,
        cas_fail: crate::model::CasFail,
    ) -> crate::model::ModelOptions {
        let kind = kind.or(self.hints.model).unwrap_or_else(|| ModelKind::infer(&self.history));
        let initial = initial.or_else(|| self.hints.initial.clone()).unwrap_or(Value::Null);
        crate::model::ModelOptions { kind, initial, cas_fail, nil_read: crate::model::NilRead::Absent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSONL: &str = "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}\n\
                         {\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1}\n";
    const EDN: &str =
        "{:type :invoke, :f :write, :value 1, :process 0}\n{:type :ok, :f :write, :value 1, :process 0}\n";
    const LOG: &str = "INFO  jepsen.util - 0 :invoke :write 1\nINFO  jepsen.util - 0 :ok :write 1\n";

    #[test]
    fn a_torn_final_line_is_skipped_with_a_warning() {
        for (good, torn) in [
            (JSONL, "{\"type\":\"invoke\",\"process\":1,\"f\":\"re"),
            (EDN, "{:type :invoke, :f :read, :pro"),
            (LOG, "INFO  jepsen.util - 1 :invoke :cas [1"),
        ] {
            let imported = parse("t", &format!("{good}{torn}"), None).unwrap();
            assert_eq!(imported.history.events.len(), 2);
            assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
            assert!(imported.warnings[0].starts_with("t:3: skipped the last line"), "{:?}", imported.warnings);
            // With its newline the line is complete, so it is an error; so is the same line anywhere else.
            for text in [format!("{good}{torn}\n"), format!("{torn}\n{good}")] {
                let e = parse("t", &text, None).unwrap_err().to_string();
                assert!(e.starts_with("t:3: ") || e.starts_with("t:1: "), "{e}");
            }
            // A final line that reads but does not fit the history is no torn line.
            let orphan = match good {
                JSONL => "{\"type\":\"ok\",\"process\":7,\"f\":\"read\"}",
                EDN => "{:type :ok, :f :read, :process 7}",
                _ => "INFO  jepsen.util - 7 :ok :read nil",
            };
            let e = parse("t", &format!("{good}{orphan}"), None).unwrap_err().to_string();
            assert!(e.starts_with("t:3: ok completion for process 7"), "{e}");
            assert!(parse("t", good, None).unwrap().warnings.is_empty());
        }
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        for text in [JSONL, EDN, LOG] {
            let imported = parse("b", &format!("\u{feff}{text}"), None).unwrap();
            assert_eq!(imported.history.events.len(), 2);
            assert_eq!(imported.history.events[1].line, 2);
        }
    }
}
