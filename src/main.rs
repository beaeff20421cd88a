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
    /// Run a register workload against a cluster (by default faultline's own reference cluster), record
    /// the history and check it. Exit code as for check.
    Test(TestArgs),
    /// Run one node of the reference cluster (started by faultline itself).
    #[command(hide = true)]
    Node(NodeArgs),
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
struct TestArgs {
    /// Base URLs of the cluster's nodes, e.g. http://10.0.0.1:2379 (one client port per node). Without
    /// it, faultline starts its own 3-node reference cluster on loopback.
    #[arg(long = "target", num_args = 1.., value_name = "URL")]
    targets: Vec<String>,
    /// The reference cluster's mode, when faultline starts it: linearizable, unsafe, sequential or eventual.
    #[arg(long, default_value = "linearizable")]
    store_mode: faultline_cluster::Mode,
    /// native, etcd-v2, etcd-v2-stale, etcd-v3, etcd-v3-stale, or the path of an adapter file (.toml).
    #[arg(long, default_value = "native")]
    adapter: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// How long the workload runs, e.g. 20s.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    time_limit: Duration,
    /// Stop after this many operations.
    #[arg(long)]
    ops: Option<u64>,
    /// Operations per second across all clients (default: as fast as the target answers).
    #[arg(long)]
    rate: Option<f64>,
    /// Operation weights read:write:cas.
    #[arg(long, default_value = "2:1:1")]
    mix: String,
    /// Keys active at once.
    #[arg(long, default_value_t = 5)]
    keys: usize,
    /// uniform, zipf or zipf:S.
    #[arg(long, default_value = "uniform")]
    key_dist: String,
    /// Operations per key before its slot moves on to a fresh key.
    #[arg(long, default_value_t = 200)]
    ops_per_key: usize,
    /// Seed of the generator (recorded in the run's config; default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Pin client i to node i mod n (default: clients spread operations over all nodes).
    #[arg(long)]
    pin_clients: bool,
    /// Give up on a request after this long: it becomes indeterminate.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Skip reading every key from every node at the end.
    #[arg(long)]
    no_final_reads: bool,
    /// Where runs are stored: STORE/<name>/<timestamp>/.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// The test's name (its folder in the store).
    #[arg(long, default_value = "register")]
    name: String,
}

#[derive(Args)]
struct NodeArgs {
    #[arg(long)]
    id: usize,
    /// Address to serve clients and peers on, e.g. 127.0.0.1:7000.
    #[arg(long)]
    listen: std::net::SocketAddr,
    /// Every node, this one included: 0=127.0.0.1:7000,1=127.0.0.1:7001,...
    #[arg(long, value_parser = faultline_cluster::parse_peers)]
    peers: std::vec::Vec<(usize, String)>,
    #[arg(long)]
    data_dir: PathBuf,
    /// linearizable, unsafe, sequential or eventual.
    #[arg(long, default_value = "linearizable")]
    mode: faultline_cluster::Mode,
    /// The primary's id (default: the lowest).
    #[arg(long)]
    primary: Option<usize>,
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// How often unsafe mode writes its log out.
    #[arg(long, default_value = "200ms", value_parser = parse_duration)]
    flush_interval: Duration,
    /// How long sequential mode's primary waits before each shipment to its followers.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    replication_delay: Duration,
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
        Command::Test(args) => test(args),
        Command::Node(args) => {
            let primary = args.primary.unwrap_or_else(|| args.peers.iter().map(|(id, _)| *id).min().unwrap_or(0));
            let config = faultline_cluster::Config {
                id: args.id,
                listen: args.listen,
                peers: args.peers,
                data_dir: args.data_dir,
                mode: args.mode,
                primary,
                request_timeout: args.request_timeout,
                flush_interval: args.flush_interval,
                replication_delay: args.replication_delay,
            };
            match faultline_cluster::run(config) {
                Ok(()) => ExitCode::from(EXIT_VALID),
                Err(e) => {
                    eprintln!("faultline node: {e}");
                    ExitCode::from(EXIT_ERROR)
                }
            }
        }
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

fn test(args: TestArgs) -> ExitCode {
    match run_test(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("faultline test: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run_test(args: &TestArgs) -> Result<u8, String> {
    use faultline_workloads::generator::{KeyDistribution, Mix, RegisterWorkload};
    use faultline_workloads::runner::{Node, RunSpec};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    // Every flag is checked before anything is created.
    let adapter = faultline_workloads::adapter::Adapter::by_name_or_file(&args.adapter)?;
    let (mix, distribution) = (Mix::parse(&args.mix)?, KeyDistribution::parse(&args.key_dist)?);
    let run_dir = faultline_workloads::store::RunDir::create(&args.store, &args.name)
        .map_err(|e| format!("cannot create a run folder in {}: {e}", args.store.display()))?;
    // Without targets, faultline starts its own reference cluster; it stops when `_cluster` is dropped.
    let (_cluster, targets) = if args.targets.is_empty() {
        let binary = std::env::current_exe().map_err(|e| format!("cannot find the faultline executable: {e}"))?;
        let cluster = faultline_cluster::launch::LocalCluster::start(&binary, 3, args.store_mode, &run_dir.path)?;
        let urls = cluster.urls.clone();
        (Some(cluster), urls)
    } else {
        (None, args.targets.clone())
    };
    // Keys carry the run's name and seed, so that no run sees what another one left in the store.
    let run_id = run_dir.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().to_string());
    let spec = RunSpec {
        nodes: targets
            .iter()
            .enumerate()
            .map(|(i, url)| Node { name: format!("n{}", i + 1), url: url.trim_end_matches('/').to_string() })
            .collect(),
        adapter,
        workload: RegisterWorkload {
            mix,
            keys: args.keys,
            distribution,
            ops_per_key: args.ops_per_key,
            seed,
            key_prefix: format!("{run_id}-{:06x}-", seed & 0xff_ffff),
        },
        clients: args.clients,
        rate: args.rate,
        time_limit: args.time_limit,
        op_limit: args.ops,
        request_timeout: args.request_timeout,
        pin_clients: args.pin_clients,
        final_reads: !args.no_final_reads,
    };
    let config = serde_json::json!({
        "name": args.name, "targets": targets, "store_mode": args.targets.is_empty().then(|| format!("{:?}", args.store_mode)), "adapter": args.adapter, "clients": args.clients,
        "time_limit_ms": args.time_limit.as_millis() as u64, "ops": args.ops, "rate": args.rate, "mix": args.mix,
        "keys": args.keys, "key_dist": args.key_dist, "ops_per_key": args.ops_per_key, "seed": seed,
        "pin_clients": args.pin_clients, "request_timeout_ms": args.request_timeout.as_millis() as u64,
        "final_reads": !args.no_final_reads,
    });
    let write = |name: &str, text: String| {
        std::fs::write(run_dir.file(name), text)
            .map_err(|e| format!("cannot write {}: {e}", run_dir.file(name).display()))
    };
    write("config.json", serde_json::to_string_pretty(&config).expect("JSON"))?;
    let recorder = faultline_workloads::recorder::Recorder::create(&run_dir.history())
        .map_err(|e| format!("cannot create {}: {e}", run_dir.history().display()))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let summary = runtime.block_on(async {
        let interrupt = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nfaultline test: interrupted; stopping clients and keeping the history");
                interrupt.store(true, Ordering::Relaxed);
            }
        });
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let recorder = recorder.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    eprint!("\r{}", faultline_reports::summary::progress(recorder.elapsed(), recorder.counts()));
                }
            });
        }
        faultline_workloads::runner::run(&spec, &recorder, stop.clone()).await
    });
    runtime.shutdown_background();
    recorder.finish().map_err(|e| format!("writing {}: {e}", run_dir.history().display()))?;
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!();
    }

    let imported = format::load(&run_dir.history(), Some(Format::Jsonl)).map_err(|e| e.to_string())?;
    let model = imported.model_options(Some(ModelKind::CasRegister), None, CasFail::Observe);
    let analysis = linear::check(&imported.history, &linear::Options::new(model.clone())).map_err(|e| e.to_string())?;
    let results = CheckResults::new(vec![FileResult {
        file: run_dir.history().display().to_string(),
        format: imported.format.to_string(),
        events: imported.history.events.len(),
        operations: imported.history.operations.len(),
        initial: model.initial,
        linearizability: analysis,
    }]);
    write("results.json", results.to_json())?;
    print!("{}", faultline_reports::summary::render(&results));
    println!(
        "{} operations on {} keys in {:.1} s; run folder {}",
        summary.operations,
        summary.keys,
        summary.elapsed.as_secs_f64(),
        run_dir.path.display()
    );
    if stop.load(Ordering::Relaxed) {
        return Ok(EXIT_ERROR);
    }
    Ok(match results.verdict {
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
