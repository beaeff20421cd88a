//! History formats: faultline's JSON Lines, and imports from Jepsen's EDN and Porcupine's logs.
//!
//! Every importer produces the same [`History`]; the checkers never know where a history came from. An
//! importer may also say which model and initial value its format implies (a Porcupine etcd log is a
//! compare-and-set register starting at nil), which the caller uses unless told otherwise.

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
}

/// Parses a history from text, in the given format or the detected one.
pub fn parse(source: &str, text: &str, format: Option<Format>) -> Result<Imported, Error> {
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
    let (history, hints) = match format {
        Format::Jsonl => (jsonl::parse(source, text)?, Hints::default()),
        Format::Edn => edn::parse(source, text)?,
        Format::PorcupineLog => porcupine::parse(source, text)?,
    };
    Ok(Imported { history, format, hints })
}

/// Reads and parses a history file.
pub fn load(path: &std::path::Path, format: Option<Format>) -> Result<Imported, Error> {
    let source = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Io { source: source.clone(), message: e.to_string() })?;
    parse(&source, &text, format)
}

impl Imported {
    /// The model options for this history: what the caller named, else what its format implies, else what
    /// its operation names imply.
    pub fn model_options(
        &self,
        kind: Option<ModelKind>,
        initial: Option<Value>,
        cas_fail: crate::model::CasFail,
    ) -> crate::model::ModelOptions {
        let kind = kind.or(self.hints.model).unwrap_or_else(|| ModelKind::infer(&self.history));
        let initial = initial.or_else(|| self.hints.initial.clone()).unwrap_or(Value::Null);
        crate::model::ModelOptions { kind, initial, cas_fail }
    }
}
