//! The `faultline` command: flags in, the pieces wired together, verdicts out as exit codes.
//! Everything it does is a call into the workspace's crates.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use faultline_checker::format::Format;
use faultline_checker::ladder::Level;
use faultline_checker::model::{CasFail, NilRead};
use faultline_checker::Verdict;
use faultline_checker::{synth, Value};
use faultline_harness::check::{self, CheckOptions};
use faultline_harness::spec::parse_duration;
use faultline_nemesis::FaultKind;
use faultline_reports::results::CheckResults;
use faultline_workloads::transport::ClientKind;

mod txn_check;

/// Exit codes a CI gate can rely on.
pub(crate) const EXIT_VALID: u8 = 0;
pub(crate) const EXIT_INVALID: u8 = 1;
pub(crate) const EXIT_UNKNOWN: u8 = 2;
pub(crate) const EXIT_ERROR: u8 = 3;

#[derive(Parser)]
#[command(name = "faultline", version, about = "A Jepsen-style tester for distributed key-value stores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check histories for linearizability (or any model of the ladder). Exit code: 0 valid, 1 invalid,
    /// 2 unknown, 3 bad input.
    #[command(after_help = "Examples:
  faultline check history.jsonl                     linearizability of a faultline history
  faultline check --consistency all history.jsonl   every model of the consistency ladder
  faultline check jepsen.edn --nil-read any         a Jepsen history, nil reads as Knossos reads them
  faultline check --require sequential --junit junit.xml --markdown summary.md h.jsonl
                                                    a CI gate: exit 0 while sequential consistency holds")]
    Check(CheckArgs),
    /// Run a register workload against a cluster (by default faultline's own reference cluster), record
    /// the history and check it. Exit code as for check.
    #[command(after_help = "Examples:
  faultline test                                    the reference cluster, 20 s, partitions, kills, pauses
                                                    (opening with a kill of the primary)
  faultline test --store-mode unsafe --time-limit 10s   a cluster that loses writes: exit 1
  faultline test --nemesis kill,pause,partition --nemesis-targets kill=primaries,pause=minority,partition=n2
                                                    aim each kind of fault: the primary, a minority, n2
  faultline test --store-mode nosync --nemesis crash --nodes 1   power loss drops unsynced writes: exit 1
  faultline test --target http://10.0.0.1:2379 http://10.0.0.2:2379 --adapter etcd-v3
  faultline test --cluster etcd --nemesis partition,kill    start etcd in the lab and fault it
  faultline test --cluster my-server.toml --require sequential  your own server, from a cluster spec")]
    Test(Box<TestArgs>),
    /// The lab faultline runs clusters in.
    #[command(
        subcommand,
        after_help = "Example:
  faultline lab clean     after a faultline that was killed (kill -9): remove its namespaces, links, nodes,
                          lazy mounts
  faultline lab clean --cluster hosts.toml   the same on the remote hosts of a spec's [remote] table"
    )]
    Lab(LabCommand),
    /// Browse a store of runs in a web browser: a list of runs with their verdicts, and their reports.
    #[command(after_help = "Examples:
  faultline serve                                   the runs in ./store at http://127.0.0.1:8080/
  faultline serve --store /var/ci/store --listen 127.0.0.1:9000")]
    Serve(ServeArgs),
    /// Run one node of the reference cluster. faultline test starts these itself; run it by hand to try
    /// the reference store or to write a cluster spec around it.
    #[command(after_help = "Example, a 3-node cluster on loopback (one command per node, --id 0, 1, 2):
  faultline node --id 0 --listen 127.0.0.1:7000 --data-dir /tmp/n0 \\
                 --peers 0=127.0.0.1:7000,1=127.0.0.1:7001,2=127.0.0.1:7002")]
    Node(faultline_cluster::NodeArgs),
    /// Write a synthetic history with a known verdict (for benchmarks and tests) to stdout: registers, or
    /// list-append transactions (--workload list-append).
    #[command(after_help = "Examples:
  faultline synth --ops 100000 --keys 4 > h.jsonl   a linearizable register history
  faultline synth --workload list-append --ops 1000000 --keys 10 --fail 0.01 --info 0.01 > t.jsonl
                                                    a strict serializable list-append history")]
    Synth(SynthArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// History files (faultline JSONL, Jepsen EDN, or Porcupine logs); `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Model: register, cas-register or kv; or list-append or rw-register (transactions). Default: what
    /// the format or the operation names imply (`f` of `txn`: transactional, see --require).
    #[arg(long)]
    model: Option<txn_check::ModelArg>,
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
    /// How to read an ok read of nil (null): absent (the key had no value; Porcupine, faultline's own runs)
    /// or any (nothing is known of what was read, so it constrains nothing; Knossos's cas-register). Jepsen
    /// histories that Knossos judged may need any.
    #[arg(long, default_value = "absent")]
    nil_read: NilRead,
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
    /// Time explaining invalid keys (longest prefix, minimal counterexample) may take after the verdict, at
    /// least; the budget is the larger of this and 10 times the verdict's time. Past it, the counterexample
    /// is the smallest found so far. E.g. 2s, 500ms.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    explain_budget: Duration,
    /// Print the full results as JSON instead of a summary.
    #[arg(long)]
    json: bool,
    /// linearizable, or all: every model of the consistency ladder (sequential, causal, session
    /// guarantees, eventual), each holds / violated / unknown.
    #[arg(long, default_value = "linearizable")]
    consistency: Consistency,
    /// The model that must hold for exit code 0 (linearizable, sequential, causal, read-your-writes, ...,
    /// eventual). A model other than linearizable runs the ladder. For transactional histories, an
    /// isolation level (read-uncommitted ... serializable, strict-serializable; linearizable means
    /// strict-serializable).
    #[arg(long, default_value = "linearizable", value_parser = |s: &str| txn_check::parse_require(s, parse_level))]
    require: txn_check::Require,
    /// rw-register: assume each process's transactions see each key's versions in order.
    #[arg(long)]
    sequential_keys: bool,
    /// rw-register: assume each key is linearizable (real time orders its versions).
    #[arg(long)]
    linearizable_keys: bool,
    /// Write a self-contained HTML report of the history here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write JUnit XML here (one test case per model and key group).
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a Markdown summary here (for a CI step summary).
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Consistency {
    Linearizable,
    All,
}

#[derive(Args)]
struct TestArgs {
    /// Base URLs of the cluster's nodes, e.g. http://10.0.0.1:2379 (one client port per node). Each must
    /// answer a connection before the run: if none does, the run is unknown at once (exit 2). Without it,
    /// faultline starts its own 3-node reference cluster (in network namespaces as root, else on loopback).
    #[arg(long = "target", num_args = 1.., value_name = "URL")]
    targets: Vec<String>,
    /// The reference cluster's mode, when faultline starts it: linearizable, unsafe, stale-leader,
    /// nosync, sequential or eventual. (A cluster spec says its nodes' options in its command.)
    #[arg(long, default_value = "linearizable", conflicts_with_all = ["targets", "cluster"])]
    store_mode: faultline_cluster::Mode,
    /// Start this server as the cluster, as a cluster spec describes it: a spec file (.toml), or a
    /// shipped spec: etcd, reference. Nodes run in the lab (--lab), as the reference cluster does, or
    /// on the remote hosts of the spec's [remote] table, over SSH.
    #[arg(long, value_name = "FILE|NAME", conflicts_with = "targets")]
    cluster: Option<String>,
    /// native, etcd-v2, etcd-v2-stale, etcd-v3, etcd-v3-stale, or the path of an adapter file (.toml).
    /// Default: the cluster spec's adapter, else native.
    #[arg(long)]
    adapter: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 10, value_parser = parse_positive)]
    clients: usize,
    /// How long the workload runs, e.g. 20s. Ctrl-C or SIGTERM ends it early: what was recorded is checked,
    /// and the run is unknown (exit 2) unless a violation was found (exit 1).
    #[arg(long, default_value = "20s", value_parser = parse_positive_duration)]
    time_limit: Duration,
    /// Stop after this many operations.
    #[arg(long, value_parser = parse_positive_u64, allow_negative_numbers = true)]
    ops: Option<u64>,
    /// Operations per second across all clients (default: as fast as the target answers).
    #[arg(long, value_parser = parse_rate, allow_negative_numbers = true)]
    rate: Option<f64>,
    /// What the clients do: `register` (single-key reads, writes and compare-and-sets on rotating keys,
    /// checked as a compare-and-set register; --mix, --keys, --key-dist and --ops-per-key shape it).
    #[arg(long, default_value = "register")]
    workload: faultline_workloads::workload::WorkloadKind,
    /// Operation weights read:write:cas.
    #[arg(long, default_value = "2:1:1")]
    mix: String,
    /// Keys active at once.
    #[arg(long, default_value_t = 5, value_parser = parse_positive)]
    keys: usize,
    /// uniform, zipf or zipf:S.
    #[arg(long, default_value = "uniform")]
    key_dist: String,
    /// Operations per key before its slot moves on to a fresh key.
    #[arg(long, default_value_t = 200, value_parser = parse_positive)]
    ops_per_key: usize,
    /// Seed of the generator (recorded in the run's config; default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Each client sends its operations to every node in turn (default: client i talks only to node
    /// i mod n, and one silent node stalls only its own clients).
    #[arg(long)]
    spread_clients: bool,
    /// Client i talks only to node i mod n: the default since clients are bound to nodes (kept so that
    /// older command lines still run).
    #[arg(long, hide = true, conflicts_with = "spread_clients")]
    pin_clients: bool,
    /// Give up on a request after this long: it becomes indeterminate.
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration)]
    request_timeout: Duration,
    /// hyper (one keep-alive connection per client and node; the fastest) or reqwest (a pooled client).
    #[arg(long, default_value = "hyper", value_parser = ClientKind::by_name)]
    http_client: ClientKind,
    /// For https:// nodes: trust the certificate authorities in this PEM file instead of the system's.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// For https:// nodes that ask for a client certificate (mutual TLS): the certificate (PEM) to show.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Skip reading every key from every node at the end.
    #[arg(long)]
    no_final_reads: bool,
    /// Quiet time before the final reads, for the cluster to recover and converge.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    settle: Duration,
    /// Where runs are stored: STORE/<name>/<timestamp>/.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// The test's name (its folder in the store).
    #[arg(long, default_value = "register")]
    name: String,
    /// Faults to inject, any of partition, loss, delay, kill, pause, clock, crash (or all, or none). Default:
    /// partition,kill,pause for the reference cluster; none for --target.
    #[arg(long, value_parser = |s: &str| FaultKind::parse_list(s).map(Faults))]
    nemesis: Option<Faults>,
    /// About how long each fault lasts, and the quiet between two faults.
    #[arg(long, default_value = "3s", value_parser = parse_positive_duration)]
    nemesis_interval: Duration,
    /// Fixed intervals and fault kinds in turn (default: random intervals and kinds, from the seed).
    #[arg(long)]
    nemesis_fixed: bool,
    /// Partition shapes to draw from: isolate-one, halves, majorities-ring, bridge, one-way, clients, or a
    /// grudge such as n1:n2,n3;n2:n1 (n1 drops traffic from n2 and n3). Repeatable. Default: all shapes
    /// but clients.
    #[arg(long)]
    partition: Vec<String>,
    /// Which nodes faults act on: one, primaries, minority, majority, all, or node names (n1,n3). For every
    /// fault kind (`minority`), or per kind: `kill=primaries,pause=minority,partition=n1,n2` (node names
    /// continue the list before them; repeat the flag to add more). A partition aimed at nodes isolates
    /// them from the rest (`primaries`: the primary). Who leads is asked of the cluster right before each
    /// such fault (the reference node's GET /status, a cluster spec's [primary]); when no node leads, the
    /// fault is skipped and recorded as such. Default: one node, drawn from the seed, and the default
    /// faults of a cluster faultline starts open with a kill of the primary.
    #[arg(long, value_name = "TARGETS", value_parser = faultline_nemesis::TargetChoice::parse)]
    nemesis_targets: Vec<faultline_nemesis::TargetChoice>,
    /// For --target: a TOML file of shell commands per fault (see the README), so faultline can inject
    /// faults into machines or containers it does not start.
    #[arg(long)]
    nemesis_commands: Option<PathBuf>,
    /// How the reference cluster is networked: netns (a network namespace per node; root), proxy
    /// (loopback, node-to-node traffic through faultline's proxies; anyone), none (no network faults).
    /// Default: netns when root, else proxy.
    #[arg(long)]
    lab: Option<faultline_nemesis::Network>,
    /// Nodes of the cluster faultline starts (the reference cluster, or --cluster) [default: 3; on
    /// remote hosts, one per host of the spec's [remote] table, and another number is refused].
    #[arg(long, value_parser = parse_positive)]
    nodes: Option<usize>,
    /// The reference cluster in sequential mode: how long the primary waits before each shipment to its
    /// followers (makes stale reads likely).
    #[arg(long, default_value = "0ms", value_parser = parse_duration, conflicts_with_all = ["targets", "cluster"])]
    replication_delay: Duration,
    /// The model the run must keep for exit code 0 (every run checks the whole consistency ladder).
    #[arg(long, default_value = "linearizable", value_parser = parse_level)]
    require: Level,
    /// Each checker gives up (unknown) after this long.
    #[arg(long, default_value = "60s", value_parser = parse_positive_duration)]
    check_time_limit: Duration,
    /// The reference cluster in unsafe mode: how often it writes its log out.
    #[arg(long, default_value = "200ms", value_parser = parse_positive_duration, conflicts_with_all = ["targets", "cluster"])]
    flush_interval: Duration,
    /// Keep the nodes' data directories (run/data/) of a valid run too. By default only a run that is not
    /// valid keeps them, as evidence; logs, history and report are always kept.
    #[arg(long)]
    keep_data: bool,
}

/// The fault kinds of `--nemesis` (one value holding a list).
#[derive(Clone)]
struct Faults(Vec<FaultKind>);

#[derive(Subcommand)]
enum LabCommand {
    /// Remove every namespace, link, node process and lazy mount a killed faultline run left behind.
    Clean {
        /// Clean the remote hosts of this cluster spec's [remote] table instead: the processes, working
        /// directories and `inet faultline` tables killed runs left there (live runs are left alone).
        #[arg(long, value_name = "SPEC")]
        cluster: Option<String>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// The store to serve.
    #[arg(long, default_value = "store")]
    store: PathBuf,
    /// Address to listen on (loopback by default: the reports hold the target's data).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
}

#[derive(Args)]
struct SynthArgs {
    /// register, or list-append (transactions of 1 to 4 appends and reads).
    #[arg(long, default_value = "register", value_parser = ["register", "list-append"])]
    workload: String,
    /// Operations (transactions, for list-append) in the history.
    #[arg(long, default_value_t = 1000)]
    ops: usize,
    /// Keys the operations are spread over.
    #[arg(long, default_value_t = 1)]
    keys: usize,
    /// Concurrent client processes.
    #[arg(long, default_value_t = 5)]
    clients: usize,
    /// Share of writes whose outcome is unknown (info), e.g. 0.005.
    #[arg(long, default_value_t = 0.0)]
    info_writes: f64,
    /// Plant one read that returns a provably stale value, making the history not linearizable (not strict
    /// serializable, for list-append).
    #[arg(long)]
    stale_read: bool,
    /// list-append: appends a key takes before a fresh key takes its slot.
    #[arg(long, default_value_t = 32)]
    max_writes_per_key: usize,
    /// list-append: share of transactions that fail, e.g. 0.01.
    #[arg(long, default_value_t = 0.0)]
    fail: f64,
    /// list-append: share of transactions whose outcome is unknown (info), e.g. 0.01.
    #[arg(long, default_value_t = 0.0)]
    info: f64,
    /// Seed of the generator: the same seed, the same history.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Writes a verdict's text to standard output. A reader that went away (`faultline check FILE | head -1`)
/// is not the check's failure: the rest is dropped and the exit code still says the verdict; any other
/// write error is said on stderr.
pub(crate) fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => eprintln!("faultline: writing to stdout: {e}"),
        _ => {}
    }
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
        Command::Test(args) => test(*args),
        Command::Serve(args) => {
            if !args.store.is_dir() {
                eprintln!(
                    "faultline serve: no store at {} (runs of `faultline test` go to ./store; or pass --store DIR)",
                    args.store.display()
                );
                return ExitCode::from(EXIT_ERROR);
            }
            let server = match faultline_reports::serve::Server::bind(&args.store, args.listen) {
                Ok(server) => server,
                Err(e) => {
                    eprintln!("faultline serve: cannot listen on {}: {e}", args.listen);
                    return ExitCode::from(EXIT_ERROR);
                }
            };
            let addr = server.local_addr().map_or(args.listen, |a| a);
            emit(&format!("serving {} at http://{addr}/\n", args.store.display()));
            match server.run() {
                Ok(()) => ExitCode::from(EXIT_VALID),
                Err(e) => {
                    eprintln!("faultline serve: {e}");
                    ExitCode::from(EXIT_ERROR)
                }
            }
        }
        Command::Lab(LabCommand::Clean { cluster: Some(spec) }) => {
            let removed = faultline_harness::spec::ClusterSpec::resolve(&spec)
                .and_then(|spec| faultline_harness::clean_remote(&spec));
            match removed {
                Ok(removed) if removed.is_empty() => emit("nothing to clean\n"),
                Ok(removed) => removed.iter().for_each(|thing| emit(&format!("removed {thing}\n"))),
                Err(e) => {
                    eprintln!("faultline lab clean: {e}");
                    return ExitCode::from(EXIT_ERROR);
                }
            }
            ExitCode::from(EXIT_VALID)
        }
        Command::Lab(LabCommand::Clean { cluster: None }) => {
            let removed = faultline_nemesis::lab::clean();
            if removed.is_empty() {
                emit("nothing to clean\n");
            }
            for thing in removed {
                emit(&format!("removed {thing}\n"));
            }
            ExitCode::from(EXIT_VALID)
        }
        Command::Node(args) => match args.config().and_then(faultline_cluster::run) {
            Ok(()) => ExitCode::from(EXIT_VALID),
            Err(e) => {
                eprintln!("faultline node: {e}");
                ExitCode::from(EXIT_ERROR)
            }
        },
        Command::Synth(args) if args.workload == "list-append" => {
            let spec = faultline_checker::txn::synth::Spec {
                txns: args.ops,
                keys: args.keys,
                max_writes_per_key: args.max_writes_per_key,
                clients: args.clients,
                fail: args.fail,
                info: args.info,
                stale_read: args.stale_read,
                seed: args.seed,
            };
            match faultline_checker::txn::synth::write(std::io::stdout().lock(), &spec) {
                Ok(()) => ExitCode::from(EXIT_VALID),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_VALID),
                Err(e) => {
                    eprintln!("faultline synth: {e}");
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
                // `faultline synth ... | head`: the reader took what it wanted.
                Ok(()) => ExitCode::from(EXIT_VALID),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_VALID),
                Err(e) => {
                    eprintln!("faultline synth: {e}");
                    ExitCode::from(EXIT_ERROR)
                }
            }
        }
    }
}

fn check(args: CheckArgs) -> ExitCode {
    let unsupported = [
        ("--report", args.report.is_some()),
        ("--junit", args.junit.is_some()),
        ("--markdown", args.markdown.is_some()),
        ("--consistency all", args.consistency == Consistency::All),
    ];
    if let Some(code) = txn_check::check(txn_check::TxnArgs {
        files: &args.files,
        format: args.format,
        model: args.model,
        require: args.require,
        json: args.json,
        sequential_keys: args.sequential_keys,
        linearizable_keys: args.linearizable_keys,
        unsupported: unsupported.iter().filter(|(_, given)| *given).map(|(flag, _)| *flag).collect(),
    }) {
        return ExitCode::from(code);
    }
    if let txn_check::Require::Txn(level) = args.require {
        eprintln!("faultline check: --require {level} is an isolation level, for transactional histories (--model list-append or rw-register, or operations with f \"txn\")");
        return ExitCode::from(EXIT_ERROR);
    }
    if args.files.len() > 1 && args.report.is_some() {
        eprintln!("faultline check: --report renders one history; give one file");
        return ExitCode::from(EXIT_ERROR);
    }
    let opts = CheckOptions {
        model: args.model.and_then(txn_check::ModelArg::register),
        format: args.format,
        initial: args.initial,
        cas_fail: args.cas_fail,
        nil_read: args.nil_read,
        time_limit: args.time_limit,
        memory_limit: args.memory_limit << 20,
        threads: args.threads,
        all_keys: args.all_keys,
        explain_time: args.explain_budget,
        ladder: args.consistency == Consistency::All,
        required: args.require.register(),
        ..CheckOptions::new()
    };
    let mut files = Vec::new();
    for path in &args.files {
        match check::check_file(path, &opts) {
            Ok(checked) => {
                if let Some(report) = &args.report {
                    let html =
                        check::html_report(&checked, vec![("history".into(), path.display().to_string())], Vec::new());
                    if let Err(e) = check::write(report, &html) {
                        eprintln!("faultline check: {e}");
                        return ExitCode::from(EXIT_ERROR);
                    }
                }
                files.push(checked.result);
            }
            Err(e) => {
                eprintln!("faultline check: {e}");
                return ExitCode::from(EXIT_ERROR);
            }
        }
    }
    let results = CheckResults::new(files);
    // Rendered only when asked for: each walks every result, a cost on the way to every verdict otherwise.
    let extras: [(&Option<PathBuf>, &dyn Fn() -> String); 2] = [
        (&args.junit, &|| check::junit_report(&results)),
        (&args.markdown, &|| check::markdown_report("faultline check", &results)),
    ];
    for (path, render) in extras {
        if let Some(path) = path {
            if let Err(e) = check::write(path, &render()) {
                eprintln!("faultline check: {e}");
                return ExitCode::from(EXIT_ERROR);
            }
        }
    }
    if args.json {
        emit(&format!("{}\n", results.to_json()));
    } else {
        emit(&faultline_reports::summary::render(&results));
    }
    ExitCode::from(verdict_code(results.verdict))
}

fn test(args: TestArgs) -> ExitCode {
    let cluster = match args.cluster.as_deref().map(faultline_harness::spec::ClusterSpec::resolve).transpose() {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("faultline test: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let plan = faultline_harness::TestPlan {
        targets: args.targets,
        cluster,
        adapter: args.adapter,
        node_options: faultline_cluster::launch::NodeOptions {
            mode: args.store_mode,
            replication_delay: args.replication_delay,
            flush_interval: args.flush_interval,
        },
        node_count: args.nodes,
        lab: args.lab,
        workload: args.workload,
        clients: args.clients,
        time_limit: args.time_limit,
        ops: args.ops,
        rate: args.rate,
        mix: args.mix,
        keys: args.keys,
        key_dist: args.key_dist,
        ops_per_key: args.ops_per_key,
        seed: args.seed,
        client_binding: if args.spread_clients {
            faultline_workloads::runner::ClientBinding::Spread
        } else {
            faultline_workloads::runner::ClientBinding::Bound
        },
        request_timeout: args.request_timeout,
        http_client: args.http_client,
        tls: faultline_workloads::tls::TlsFiles {
            ca_cert: args.ca_cert,
            client_cert: args.client_cert,
            client_key: args.client_key,
        },
        final_reads: !args.no_final_reads,
        settle: args.settle,
        nemesis: args.nemesis.map(|f| f.0),
        nemesis_targets: args.nemesis_targets.into_iter().fold(Default::default(), |mut all, one| {
            faultline_nemesis::TargetChoice::merge(&mut all, one);
            all
        }),
        nemesis_interval: args.nemesis_interval,
        nemesis_fixed: args.nemesis_fixed,
        partitions: args.partition,
        nemesis_commands: args.nemesis_commands,
        store: args.store,
        name: args.name,
        required: args.require,
        check_time_limit: args.check_time_limit,
        keep_data: args.keep_data,
        binary: match std::env::current_exe() {
            Ok(path) => path,
            Err(e) => {
                eprintln!("faultline test: cannot find the faultline executable: {e}");
                return ExitCode::from(EXIT_ERROR);
            }
        },
    };
    let outcome = faultline_harness::prepare(plan).map_err(faultline_harness::RunError::Error);
    match outcome.and_then(faultline_harness::run) {
        Ok(outcome) => {
            emit(&faultline_reports::summary::render(&outcome.results));
            let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
            let failed = match outcome.failed_faults {
                0 => String::new(),
                n => format!(" ({n} failed)"),
            };
            emit(&format!(
                "{} {} (before the final reads) on {} in {:.1} s, {}{failed}; run folder {}{}\n",
                faultline_checker::availability::thousands(outcome.summary.operations),
                if outcome.summary.operations == 1 { "workload operation" } else { "workload operations" },
                plural(outcome.summary.keys.len(), "key", "keys"),
                outcome.summary.elapsed.as_secs_f64(),
                plural(outcome.faults, "fault", "faults"),
                outcome.run_dir.display(),
                if outcome.data_removed { " (nodes' data removed: a valid run; --keep-data keeps it)" } else { "" }
            ));
            if !outcome.unreachable.is_empty() {
                let dead: Vec<String> = outcome.unreachable.iter().map(|u| u.describe()).collect();
                emit(&format!("did not answer before the run: {}\n", dead.join("; ")));
            }
            // An interrupted run's verdict is already unknown, unless it found a violation.
            ExitCode::from(verdict_code(outcome.results.verdict))
        }
        Err(faultline_harness::RunError::Unreachable(e)) => {
            eprintln!("faultline test: {e}");
            ExitCode::from(EXIT_UNKNOWN)
        }
        Err(faultline_harness::RunError::Error(e)) => {
            eprintln!("faultline test: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn verdict_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Valid => EXIT_VALID,
        Verdict::Invalid => EXIT_INVALID,
        Verdict::Unknown => EXIT_UNKNOWN,
    }
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number of at least 1, not {s:?}")),
    }
}

fn parse_positive_u64(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number of at least 1, not {s:?}")),
    }
}

/// A rate of operations per second: a number above 0 (fractions allowed: 0.5 is one every 2 s).
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "expected operations per second, a number above 0 such as 100 or 0.5, not {s:?} (leave --rate out to \
             run as fast as the target answers)"
        )),
    }
}

/// A duration that must be longer than zero (a time limit, a timeout, an interval).
fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("expected a duration above zero, such as 500ms, 20s or 2m, not {s:?}")),
        d => Ok(d),
    }
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::ALL.into_iter().find(|l| serde_json::to_value(l).is_ok_and(|v| v == s)).ok_or_else(|| {
        let names: Vec<String> =
            Level::ALL.iter().filter_map(|l| serde_json::to_value(l).ok()?.as_str().map(String::from)).collect();
        format!("unknown model {s:?}; expected one of {}", names.join(", "))
    })
}

fn parse_json_value(s: &str) -> Result<Value, String> {
    serde_json::from_str::<serde_json::Value>(s)
        .map(|v| Value::from_json(&v))
        .map_err(|e| format!("expected a JSON value such as 0, \"\" or null: {e}"))
}
