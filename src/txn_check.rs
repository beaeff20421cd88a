//! `faultline check` on transactional histories (list-append, rw-register), and `faultline synth
//! --workload list-append`: the command-line side of the checker's `txn` module.

use std::path::{Path, PathBuf};
use std::time::Instant;

use faultline_checker::format::{self, Format};
use faultline_checker::ladder::Level;
use faultline_checker::model::ModelKind;
use faultline_checker::txn::history::Workload;
use faultline_checker::txn::levels::{self, Holds};
use faultline_checker::txn::{self, register::Assume};

/// `--model`: a register model, or a transactional one.
#[derive(Clone, Copy, Debug)]
pub enum ModelArg {
    Register(ModelKind),
    Txn(Workload),
}

impl std::str::FromStr for ModelArg {
    type Err = String;
    fn from_str(s: &str) -> Result<ModelArg, String> {
        if let Some(w) = Workload::parse(s) {
            return Ok(ModelArg::Txn(w));
        }
        s.parse::<ModelKind>().map(ModelArg::Register).map_err(|_| {
            format!(
                "unknown model {s:?}; expected one of {}, {}",
                ModelKind::NAMES.join(", "),
                Workload::NAMES.join(", ")
            )
        })
    }
}

impl ModelArg {
    pub fn register(self) -> Option<ModelKind> {
        match self {
            ModelArg::Register(kind) => Some(kind),
            ModelArg::Txn(_) => None,
        }
    }
}

/// `--require`: a model of the register ladder, or an isolation level.
#[derive(Clone, Copy, Debug)]
pub enum Require {
    Register(Level),
    Txn(levels::Level),
}

pub fn parse_require(s: &str, register: fn(&str) -> Result<Level, String>) -> Result<Require, String> {
    if let Some(level) = levels::Level::parse(s) {
        return Ok(Require::Txn(level));
    }
    register(s).map(Require::Register).map_err(|e| {
        let names: Vec<&str> = levels::Level::ALL.iter().map(|l| l.as_str()).collect();
        format!("{e}; or, for transactional histories, one of {}", names.join(", "))
    })
}

impl Require {
    /// The register model, for register histories (an isolation level there is an error, said later).
    pub fn register(self) -> Level {
        match self {
            Require::Register(level) => level,
            Require::Txn(_) => Level::Linearizable,
        }
    }
}

pub struct TxnArgs<'a> {
    pub files: &'a [PathBuf],
    pub format: Option<Format>,
    pub model: Option<ModelArg>,
    pub require: Require,
    pub json: bool,
    pub sequential_keys: bool,
    pub linearizable_keys: bool,
    /// Flags of the register checker that transactional checking does not take, by name, if given.
    pub unsupported: Vec<&'static str>,
}

/// The text of a history file (`-`: standard input) and the name it goes by in messages.
fn read(path: &Path) -> Result<(String, String), faultline_checker::Error> {
    let from_stdin = path.as_os_str() == "-";
    let source = if from_stdin { format::STDIN.to_string() } else { path.display().to_string() };
    let io_error = |e: std::io::Error| faultline_checker::Error::Io { source: source.clone(), message: e.to_string() };
    let mut text = String::new();
    if from_stdin {
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text).map_err(io_error)?;
    } else {
        text = std::fs::read_to_string(path).map_err(io_error)?;
    }
    Ok((source, text))
}

/// True if the file's first operation is a transaction (`f` is `txn`). Standard input is not read here
/// (it could be read only once): name `--model` for it.
fn looks_transactional(path: &Path, format: Option<Format>) -> bool {
    use std::io::Read;
    if path.as_os_str() == "-" {
        return false;
    }
    let mut head = Vec::new();
    let Ok(file) = std::fs::File::open(path) else { return false };
    if file.take(64 << 10).read_to_end(&mut head).is_err() {
        return false;
    }
    let head = String::from_utf8_lossy(&head);
    let Some(first) = head.lines().map(str::trim).find(|l| !l.is_empty()) else { return false };
    match format::parse("head", &format!("{first}\n"), format) {
        Ok(imported) => imported.history.events.first().is_some_and(|e| &*e.f == "txn"),
        Err(_) => head.contains(":f :txn") || head.contains("\"f\":\"txn\"") || head.contains("\"f\": \"txn\""),
    }
}

/// Checks the files if they are transactional (by `--model`, or by their first operation); `None` if they
/// are register histories, for the register checker.
pub fn check(args: TxnArgs) -> Option<u8> {
    let workload = match args.model {
        Some(ModelArg::Txn(w)) => Some(w),
        Some(ModelArg::Register(_)) => return None,
        None if args.files.iter().all(|f| looks_transactional(f, args.format)) => None,
        None => return None,
    };
    if !args.unsupported.is_empty() {
        eprintln!("faultline check: {} not supported for transactional histories yet", args.unsupported.join(", "));
        return Some(crate::EXIT_ERROR);
    }
    let require = match args.require {
        Require::Txn(level) => level,
        // The default, linearizable, is strict serializability for transactions.
        Require::Register(Level::Linearizable) => levels::Level::StrictSerializable,
        Require::Register(other) => {
            let names: Vec<&str> = levels::Level::ALL.iter().map(|l| l.as_str()).collect();
            eprintln!(
                "faultline check: --require {} is a register model; a transactional history takes an isolation level: {}",
                serde_json::to_value(other).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                names.join(", ")
            );
            return Some(crate::EXIT_ERROR);
        }
    };
    let opts = txn::Options {
        workload,
        assume: Assume { sequential_keys: args.sequential_keys, linearizable_keys: args.linearizable_keys },
    };
    let mut worst = Holds::Holds;
    let mut json = Vec::new();
    for path in args.files {
        let started = Instant::now();
        let checked = read(path).and_then(|(source, text)| {
            txn::check_text(&source, &text, args.format, &opts, |w| eprintln!("faultline check: {w}"))
        });
        let report = match checked {
            Ok(report) => report,
            Err(e) => {
                eprintln!("faultline check: {e}");
                return Some(crate::EXIT_ERROR);
            }
        };
        let elapsed = started.elapsed();
        let holds = report.verdict(require);
        worst = match (worst, holds) {
            (Holds::Violated, _) | (_, Holds::Violated) => Holds::Violated,
            (Holds::Unknown, _) | (_, Holds::Unknown) => Holds::Unknown,
            _ => Holds::Holds,
        };
        if args.json {
            json.push(txn::report::json(&report, require, elapsed));
        } else {
            crate::emit(&txn::report::text(&report, require, elapsed));
        }
    }
    if args.json {
        let value = if json.len() == 1 { json.remove(0) } else { serde_json::Value::Array(json) };
        crate::emit(&format!("{value}\n"));
    }
    Some(match worst {
        Holds::Holds => crate::EXIT_VALID,
        Holds::Violated => crate::EXIT_INVALID,
        Holds::Unknown => crate::EXIT_UNKNOWN,
    })
}
