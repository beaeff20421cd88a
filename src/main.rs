//! The `faultline` command: flags in, the pieces wired together, verdicts out as exit codes.
//! Everything it does is a call into the workspace's crates.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use faultline_checker::format::{self, Format};
use faultline_checker::linear::{self, Verdict};
use faultline_checker::model::{CasFail, ModelKind};
use faultline_checker::{synth, Value};
use faultline_reports::results::{CheckResults, FileResult};

/// Exit codes a CI gate can rely on.
const EXIT_VALID: u8 = 0;
const EXIT_INVALID: u8 = 1;
const EXIT_UNKNOWN: u8 = 2;
const EXIT_ERROR: u8 = 3;

#[derive(Parser)]
#[command(name = "faultline", version, about = "A Jepsen-style tester for distributed key-value stores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check histories for linearizability. Exit code: 0 valid, 1 invalid, 2 unknown, 3 bad input.
    Check(CheckArgs),
    /// Write a synthetic register history with a known verdict (for benchmarks and tests) to stdout.
    Synth(SynthArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// History files (faultline JSONL, Jepsen EDN, or Porcupine logs).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Model: register, cas-register or kv. Default: what the format or the operation names imply.
    #[arg(long)]
    model: Option<ModelKind>,
    /// History format: jsonl, edn or porcupine-log. Default: detected from the first line.
    #[arg(long)]
    format: Option<Format>,
    /// Every key's value before its first write, as JSON (e.g. 0, "", null). Default: null, or what the
    /// format implies.
    #[arg(long, value_parser = parse_json_value)]
    initial: Option<Value>,
    /// How to read a cas that failed: observe (it saw a value other than `from`; Porcupine) or drop (it
    /// never happened; Knossos).
    #[arg(long, default_value = "observe")]
    cas_fail: CasFail,
    /// Give up and answer unknown after this long, e.g. 30s, 2m, 500ms.
    #[arg(long, value_parser = parse_duration)]
    time_limit: Option<Duration>,
    /// Memory the search may use for its memo tables, in MiB; past it, unknown.
    #[arg(long, default_value_t = 768)]
    memory_limit: usize,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Decide every key, even after one has made the history invalid (by default the others stop).
    #[arg(long)]
    all_keys: bool,
    /// Print the full results as JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SynthArgs {
    #[arg(long, default_value_t = 1000)]
    ops: usize,
    #[arg(long, default_value_t = 1)]
    keys: usize,
    #[arg(long, default_value_t = 5)]
    clients: usize,
    /// Share of writes whose outcome is unknown (info), e.g. 0.005.
    #[arg(long, default_value_t = 0.0)]
    info_writes: f64,
    /// Plant one read that returns a provably stale value, making the history not linearizable.
    #[arg(long)]
    stale_read: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_VALID };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Check(args) => check(args),
        Command::Synth(args) => {
            let spec = synth::Spec {
                ops: args.ops,
                keys: args.keys,
                clients: args.clients,
                info_writes: args.info_writes,
                stale_read: args.stale_read,
                seed: args.seed,
            };
            match synth::write(std::io::stdout().lock(), &spec) {
                Ok(()) => ExitCode::from(EXIT_VALID),
                Err(e) => {
                    eprintln!("faultline synth: {e}");
                    ExitCode::from(EXIT_ERROR)
                }
            }
        }
    }
}

fn check(args: CheckArgs) -> ExitCode {
    let mut files = Vec::new();
    for path in &args.files {
        let result = format::load(path, args.format).and_then(|imported| {
            let model = imported.model_options(args.model, args.initial.clone(), args.cas_fail);
            let opts = linear::Options {
                time_limit: args.time_limit,
                memory_limit: args.memory_limit << 20,
                threads: args.threads,
                all_keys: args.all_keys,
                ..linear::Options::new(model.clone())
            };
            let analysis = linear::check(&imported.history, &opts)?;
            Ok(FileResult {
                file: path.display().to_string(),
                format: imported.format.to_string(),
                events: imported.history.events.len(),
                operations: imported.history.operations.len(),
                initial: model.initial,
                linearizability: analysis,
            })
        });
        match result {
            Ok(r) => files.push(r),
            Err(e) => {
                eprintln!("faultline check: {e}");
                return ExitCode::from(EXIT_ERROR);
            }
        }
    }
    let results = CheckResults::new(files);
    if args.json {
        println!("{}", results.to_json());
    } else {
        print!("{}", faultline_reports::summary::render(&results));
    }
    ExitCode::from(match results.verdict {
        Verdict::Valid => EXIT_VALID,
        Verdict::Invalid => EXIT_INVALID,
        Verdict::Unknown => EXIT_UNKNOWN,
    })
}

fn parse_json_value(s: &str) -> Result<Value, String> {
    serde_json::from_str::<serde_json::Value>(s)
        .map(|v| Value::from_json(&v))
        .map_err(|e| format!("expected a JSON value such as 0, \"\" or null: {e}"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("expected a duration such as 30s, 2m or 500ms, not {s:?}"))?;
    let seconds = match unit {
        "ms" => n / 1e3,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}; use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{s:?} is not a usable duration"))
}
