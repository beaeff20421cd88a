//! One `faultline test` run, start to finish: the run folder and its configuration, the cluster (the
//! reference cluster in a lab, or the user's targets), the workload and the nemesis side by side, the heal,
//! the final reads, the check, and the files a run leaves. The binary only turns flags into a [`TestPlan`].
//!
//! Every way out (normal end, error, Ctrl-C, SIGTERM) goes through the same teardown: the nemesis heals,
//! the lab is dropped (nodes killed, namespaces and proxies removed), the history is flushed and kept.

pub mod check;
pub mod reach;
pub mod spec;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_checker::format::Format;
use faultline_checker::ladder::Level;
use faultline_checker::model::ModelKind;
use faultline_checker::nemesis_action::NemesisAction;
use faultline_checker::Verdict;
use faultline_checker::{EventKind, Process, Value};
use faultline_cluster::launch::NodeOptions;
use faultline_nemesis::command::CommandBackend;
use faultline_nemesis::primary::PrimaryProbe;
use faultline_nemesis::remote::RemoteLab;
use faultline_nemesis::schedule::{self, Schedule, Step};
use faultline_nemesis::{
    FaultKind, FaultTarget, Lab, Network, NodeLab, NodeSpec, PartitionShape, TargetChoice, Targets,
};
use faultline_reports::results::CheckResults;

use crate::check::CheckOptions;
use faultline_workloads::adapter::Adapter;
use faultline_workloads::generator::{KeyDistribution, Mix, RegisterWorkload};
use faultline_workloads::recorder::{Record, Recorder};
use faultline_workloads::runner::{self, Node, RunSpec, RunSummary};
use faultline_workloads::store::RunDir;
use faultline_workloads::tls::{Tls, TlsFiles};
use faultline_workloads::transport::{self, ClientKind};

/// Everything a run needs to know, as the user gave it.
#[derive(Clone, Debug)]
pub struct TestPlan {
    /// The nodes' base URLs; empty to start the reference cluster (or `cluster`).
    pub targets: Vec<String>,
    /// A cluster spec: the server faultline starts in its lab instead of the reference cluster.
    pub cluster: Option<spec::ClusterSpec>,
    pub adapter: String,
    /// The reference cluster, when faultline starts it.
    pub node_options: NodeOptions,
    pub node_count: usize,
    /// `node_count` was asked for (`--nodes`), not the default: a cluster on remote hosts refuses one
    /// that disagrees with its host list.
    pub node_count_chosen: bool,
    /// How the reference cluster is networked; `None` picks namespaces when root, proxies otherwise.
    pub lab: Option<Network>,
    pub clients: usize,
    pub time_limit: Duration,
    pub ops: Option<u64>,
    pub rate: Option<f64>,
    pub mix: String,
    pub keys: usize,
    pub key_dist: String,
    pub ops_per_key: usize,
    pub seed: Option<u64>,
    /// Which node each client talks to (`--spread-clients`; bound by default).
    pub client_binding: faultline_workloads::runner::ClientBinding,
    pub request_timeout: Duration,
    pub http_client: ClientKind,
    /// For `https://` nodes (flags; a cluster spec's `[tls]` fills in what they leave out).
    pub tls: TlsFiles,
    pub final_reads: bool,
    /// The quiet time between the end of the workload (and the heal) and the final reads.
    pub settle: Duration,
    pub nemesis: Vec<FaultKind>,
    pub nemesis_interval: Duration,
    pub nemesis_fixed: bool,
    pub partitions: Vec<String>,
    /// Which nodes each kind of fault acts on (`--nemesis-targets`).
    pub nemesis_targets: TargetChoice,
    /// Open the schedule with a kill of the primary (plain `faultline test`: its default faults), when
    /// kills are among the faults, not aimed otherwise, and the cluster can say who leads.
    pub open_with_primary_kill: bool,
    /// Faults for targets faultline does not start, as shell commands.
    pub nemesis_commands: Option<PathBuf>,
    pub store: PathBuf,
    pub name: String,
    /// The model the run must keep to pass.
    pub required: Level,
    /// Each of the checkers gives up (unknown) after this long.
    pub check_time_limit: Duration,
    /// The `faultline` executable, to start reference nodes.
    pub binary: PathBuf,
    /// Keep the nodes' data directories (`run/data/`) of a valid run too; by default only a run that is
    /// not valid keeps them, as evidence (logs, history and report are always kept).
    pub keep_data: bool,
}

/// What a run produced.
pub struct TestOutcome {
    pub results: CheckResults,
    pub summary: RunSummary,
    pub run_dir: PathBuf,
    /// Ctrl-C or SIGTERM ended the run early: "interrupted after 6.2 s of 30 s".
    pub interrupted: Option<String>,
    /// Faults started during the run, and how many of those failed (their command or action erred).
    pub faults: usize,
    pub failed_faults: usize,
    /// Targets that did not answer before the run (it ran against the others).
    pub unreachable: Vec<reach::Unreachable>,
    /// Whether the nodes' data directories were removed (a valid run, without `--keep-data`).
    pub data_removed: bool,
}

/// Why a run has no outcome.
#[derive(Debug)]
pub enum RunError {
    /// A refusal (bad flags, a spec that cannot run) or a failure on the way, with the cause: exit 3.
    Error(String),
    /// No target answered, so nothing was tested: unknown (exit 2), with each target's error.
    Unreachable(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Error(e) | RunError::Unreachable(e) => f.write_str(e),
        }
    }
}

/// Runs the test; errors are for the user, with the cause.
pub fn run(plan: &TestPlan) -> Result<TestOutcome, RunError> {
    // The run's errors are the user's sentences; the one that means nothing could be tested (no target
    // answered) is flagged on the way out, for its exit code.
    let untested = std::cell::Cell::new(false);
    run_flagging(plan, &untested)
        .map_err(|e| if untested.get() { RunError::Unreachable(e) } else { RunError::Error(e) })
}

fn run_flagging(plan: &TestPlan, untested: &std::cell::Cell<bool>) -> Result<TestOutcome, String> {
    // Declared first, dropped last: once every remote connection is closed, on every way out.
    let _control = ControlDirGuard;
    // A cluster on remote hosts has one node per host; a --nodes that says otherwise is refused.
    let remote = plan.cluster.as_ref().and_then(|c| c.remote.clone());
    let adjusted;
    let plan = match &remote {
        Some(r) => {
            if plan.lab.is_some() {
                return Err("--lab does not apply to a cluster on remote hosts ([remote] in the spec): faults are \
                            applied on the hosts"
                    .into());
            }
            if plan.node_count_chosen && plan.node_count != r.hosts.len() {
                return Err(format!(
                    "--nodes {} disagrees with cluster spec {}: its [remote] table lists {} hosts, one node each \
                     (leave --nodes out, or list {} hosts)",
                    plan.node_count,
                    plan.cluster.as_ref().map_or("", |c| c.source.as_str()),
                    r.hosts.len(),
                    plan.node_count
                ));
            }
            adjusted = TestPlan { node_count: r.hosts.len(), ..plan.clone() };
            &adjusted
        }
        None => plan,
    };
    let seed = plan.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    // Every flag is checked before anything is created.
    let adapter = Adapter::by_name_or_file(&plan.adapter)?;
    let (mix, distribution) = (Mix::parse(&plan.mix)?, KeyDistribution::parse(&plan.key_dist)?);
    let external = !plan.targets.is_empty();
    let mut commands = plan.nemesis_commands.as_deref().map(CommandBackend::load).transpose()?;
    if external && !plan.nemesis.is_empty() && commands.is_none() {
        return Err("faults against a cluster faultline does not start need --nemesis-commands FILE (shell \
                    commands per fault); without it, run with --nemesis none"
            .into());
    }
    let mut schedule = Schedule::new(plan.nemesis.clone(), seed);
    schedule.interval = plan.nemesis_interval;
    schedule.random = !plan.nemesis_fixed;
    // The nodes' names in the history: a commands file's, else n1, n2, ... for each target or started node.
    let count = if external { plan.targets.len() } else { plan.node_count.max(1) };
    let names: Vec<String> = match &commands {
        Some(c) if external => c.node_names(),
        _ => (1..=count).map(|i| format!("n{i}")).collect(),
    };
    if !plan.partitions.is_empty() {
        schedule.shapes = plan.partitions.iter().map(|s| PartitionShape::parse(s, &names)).collect::<Result<_, _>>()?;
    }
    plan.nemesis_targets.check(&names, &schedule.kinds)?;
    if !plan.partitions.is_empty()
        && plan.nemesis_targets.explicit(FaultKind::Partition).is_some()
        && schedule.shapes != [PartitionShape::Clients]
    {
        return Err("--partition draws the shape of each partition and --nemesis-targets aims partitions at nodes \
                    (isolating them): give one of them (or --partition clients, to cut the clients off from the \
                    aimed nodes)"
            .into());
    }
    // Who leads is asked of the cluster: faultline knows how for the reference cluster and for a spec
    // with [primary]; a cluster it does not start cannot be asked, so aiming at its primary is refused.
    let probe_template = match &plan.cluster {
        Some(spec) => spec.primary.clone(),
        None if external => None,
        None => spec::ClusterSpec::resolve("reference")?.primary,
    };
    if plan.nemesis_targets.wants_primaries(&schedule.kinds) && probe_template.is_none() {
        let aimed: Vec<&str> = schedule
            .kinds
            .iter()
            .filter(|k| plan.nemesis_targets.of(**k) == Targets::Primaries)
            .map(|k| k.as_str())
            .collect();
        return Err(match &plan.cluster {
            Some(spec) => format!(
                "--nemesis-targets aims {} at the primaries, but the cluster spec {} has no [primary] probe saying \
                 who leads (see the README); aim at named nodes instead (e.g. kill=n1)",
                aimed.join(", "),
                spec.source
            ),
            None => format!(
                "--nemesis-targets aims {} at the primaries, but faultline cannot ask a cluster it does not start \
                 who leads; aim at named nodes instead (e.g. kill=n1), or start the cluster with --cluster and a \
                 spec with [primary]",
                aimed.join(", ")
            ),
        });
    }
    schedule.targets = plan.nemesis_targets.clone();
    if plan.open_with_primary_kill
        && probe_template.is_some()
        && schedule.kinds.contains(&FaultKind::Kill)
        && plan.nemesis_targets.explicit(FaultKind::Kill).is_none()
    {
        schedule.opening = Some((FaultKind::Kill, Targets::Primaries));
    }
    if external && plan.cluster.is_some() {
        return Err("--cluster starts a cluster and --target names one already running: give one of them".into());
    }
    let tls_files = plan.tls.clone().or(&plan.cluster.as_ref().and_then(|c| c.tls.clone()).unwrap_or_default());
    let https = match &plan.cluster {
        Some(spec) => spec.tls.is_some(),
        None => plan.targets.iter().any(|t| t.starts_with("https://")),
    };
    let tls = Tls::for_run(&tls_files, https)?;
    // Every refusal comes before anything exists: no run folder, lab or node for a run that cannot run.
    let network = if external {
        Network::Loopback
    } else if remote.is_some() {
        Network::Remote
    } else {
        choose_lab(plan.lab)?
    };
    if let Some(spec) = &plan.cluster {
        if let Some(why) = spec.refuses_lab(network) {
            let how = if plan.lab.is_none() { " (the default lab here; choose one with --lab)" } else { "" };
            return Err(format!("{why}{how}"));
        }
    }
    // A spec is checked (placeholders, program, faults) on made-up addresses and the folder the run will get.
    let program = match &plan.cluster {
        Some(spec) => {
            let would_be = RunDir::would_be(&plan.store, &plan.name)
                .map_err(|e| format!("cannot create a run folder in {}: {e}", plan.store.display()))?;
            let ctx = spec::RenderContext { faultline: &plan.binary, run_dir: &would_be };
            spec.check(plan.node_count.max(1), &plan.nemesis, &ctx)?
        }
        None => plan.binary.clone(),
    };
    for kind in &schedule.kinds {
        let refusal = match &commands {
            Some(c) if external => c.refuses(*kind),
            _ if external => None,
            _ => faultline_nemesis::lab::refuses(network, *kind, &program),
        };
        if let Some(why) = refusal {
            return Err(format!("cannot inject {kind} faults: {why}"));
        }
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // A certificate problem would turn every request into a `fail` (never sent), a history any checker
    // calls valid: it is an error before the run instead. Targets faultline does not start are probed
    // before anything is created; a cluster it starts, once it is up.
    let probe_timeout = plan.request_timeout.max(Duration::from_secs(5));
    // Remote hosts are reached, and asked whether they can take the faults, before anything is created.
    let mut hosts = match (&remote, &plan.cluster) {
        (Some(r), Some(spec)) => Some(connect_hosts(&runtime, r, spec, plan, &program, &schedule.kinds)?),
        _ => None,
    };
    // Targets faultline does not start must answer at all: a run against none that does would spend its
    // time limit recording nothing but failures. Some dead: the run goes on against the rest, and says so.
    let mut unreachable = Vec::new();
    if external {
        let named: Vec<(String, String)> = plan
            .targets
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let name = names.get(i).cloned().unwrap_or_else(|| format!("n{}", i + 1));
                (name, url.trim_end_matches('/').to_string())
            })
            .collect();
        unreachable = runtime.block_on(reach::probe(&named, probe_timeout));
        let lines = || unreachable.iter().map(|u| format!("\n  {}", u.describe())).collect::<String>();
        if unreachable.len() == named.len() {
            untested.set(true);
            return Err(format!("no target answered, so nothing was tested (unknown):{}", lines()));
        }
        if !unreachable.is_empty() {
            eprintln!(
                "faultline test: {} of {} targets did not answer; running against the others (operations sent to \
                 these fail):{}",
                unreachable.len(),
                named.len(),
                lines()
            );
        }
        runtime.block_on(async {
            for (_, url) in named.iter().filter(|(name, _)| !unreachable.iter().any(|u| &u.name == name)) {
                transport::probe(url, tls.as_ref(), probe_timeout).await?;
            }
            Ok::<(), String>(())
        })?;
    }

    let run_dir = RunDir::create(&plan.store, &plan.name)
        .map_err(|e| format!("cannot create a run folder in {}: {e}", plan.store.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let run_id = run_dir.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().to_string());

    let (summary, faults, failed_faults) = runtime.block_on(async {
        watch_signals(stop.clone());
        // The lab lives until the end of this block: dropping it stops every node and removes the network.
        let mut lab = None;
        let targets: Vec<String> = if external {
            plan.targets.iter().map(|t| t.trim_end_matches('/').to_string()).collect()
        } else {
            // The one place that picks a lab; from here on, any lab is a NodeLab (and so a FaultTarget).
            let started: Box<dyn NodeLab> = match (&plan.cluster, hosts.take()) {
                (Some(spec), Some(hosts)) => Box::new(start_remote_cluster(plan, spec, hosts, &run_dir).await?),
                (Some(spec), None) => Box::new(start_spec_cluster(plan, spec, network, &run_dir).await?),
                (None, _) => Box::new(start_reference_cluster(plan, network, &run_dir).await?),
            };
            let url = |n: &faultline_nemesis::NodeAddress| {
                plan.cluster.as_ref().map_or(n.client_url.clone(), |s| s.client_url(n))
            };
            let urls = started.nodes().iter().map(url).collect();
            lab = Some(started);
            urls
        };
        if !external {
            for url in &targets {
                transport::probe(url, tls.as_ref(), probe_timeout).await?;
            }
        }
        if let (Some(template), Some(lab)) = (&probe_template, &lab) {
            let requests = match &plan.cluster {
                Some(spec) => spec.primary_requests(
                    lab.nodes(),
                    &spec::RenderContext { faultline: &plan.binary, run_dir: &run_dir.path },
                )?,
                None => {
                    let reference = spec::ClusterSpec::resolve("reference")?;
                    reference.primary_requests(
                        lab.nodes(),
                        &spec::RenderContext { faultline: &plan.binary, run_dir: &run_dir.path },
                    )?
                }
            };
            // Quick, so that asking delays the fault little: a node that cannot say within it is not a primary.
            let timeout = Duration::from_millis(500);
            schedule.primary_probe = Some(Arc::new(PrimaryProbe {
                requests,
                rule: template.rule.clone(),
                client: transport::reqwest_pool(timeout, tls.as_ref()),
                timeout,
            }));
        }
        let has_commands = commands.is_some();
        let mut backend: Option<&mut dyn FaultTarget> = match (&mut lab, &mut commands) {
            (Some(lab), _) => Some(lab.as_mut()),
            (None, Some(c)) => Some(c),
            (None, None) => None,
        };
        if let Some(backend) = &backend {
            schedule::check_supported(&schedule, &**backend)?;
        }
        if external && names.len() != targets.len() && has_commands {
            return Err(format!(
                "{} names {} nodes but {} targets were given",
                plan.nemesis_commands.as_ref().map_or(String::new(), |p| p.display().to_string()),
                names.len(),
                targets.len()
            ));
        }
        let spec = RunSpec {
            nodes: targets
                .iter()
                .zip(&names)
                .map(|(url, name)| Node { name: name.clone(), url: url.clone() })
                .collect(),
            adapter,
            workload: RegisterWorkload {
                mix,
                keys: plan.keys,
                distribution,
                ops_per_key: plan.ops_per_key,
                seed,
                // Keys carry the run's name and seed, so that no run sees what another one left in the store.
                key_prefix: format!("{run_id}-{:06x}-", seed & 0xff_ffff),
            },
            clients: plan.clients,
            rate: plan.rate,
            time_limit: plan.time_limit,
            op_limit: plan.ops,
            request_timeout: plan.request_timeout,
            binding: plan.client_binding,
            // Final reads come after the heal, below.
            final_reads: false,
            threads: None,
            http_client: plan.http_client,
            tls,
        };
        write_config(plan, &schedule, &run_dir, &targets, network, seed)?;
        let recorder = Recorder::create(&run_dir.history())
            .map_err(|e| format!("cannot create {}: {e}", run_dir.history().display()))?;
        // The fault in force, for the progress line: set once a fault has started, cleared as it stops.
        let in_force = Arc::new(std::sync::Mutex::new(String::new()));
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        // The nemesis's completions are recorded as `info` events; the progress line counts operations.
        let nemesis_infos = Arc::new(AtomicU64::new(0));
        {
            let (recorder, in_force, nemesis_infos) = (recorder.clone(), in_force.clone(), nemesis_infos.clone());
            // A terminal gets a live line; a CI log one line every 5 s, so a long run shows life.
            let every = Duration::from_secs(if terminal { 1 } else { 5 });
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let fault = in_force.lock().map(|f| f.clone()).unwrap_or_default();
                    let fault = if fault.is_empty() { "none".to_string() } else { fault };
                    let (elapsed, all) = (recorder.elapsed(), recorder.counts());
                    let counts = (all.ok, all.fail, all.info.saturating_sub(nemesis_infos.load(Ordering::Relaxed)));
                    if terminal {
                        eprint!("\r{}", faultline_reports::summary::progress(elapsed, counts, &fault));
                    } else {
                        eprintln!(
                            "faultline test: {}",
                            faultline_reports::summary::progress_line(elapsed, counts, &fault)
                        );
                    }
                }
            });
        }
        let (mut faults, mut failed_faults) = (0, 0);
        let mut record = |step: Step, action: &NemesisAction, value: serde_json::Value| {
            let starts = matches!(action, NemesisAction::Start(_));
            faults += usize::from(step == Step::Invoke && starts);
            // A fault whose command or action erred is counted as failed: it may never have acted.
            let failed = step == Step::Done && starts && value.get("error").is_some();
            failed_faults += usize::from(failed);
            if let Ok(mut current) = in_force.lock() {
                match (step, action) {
                    (Step::Done, NemesisAction::Start(kind)) if !failed => *current = describe_fault(kind, &value),
                    (Step::Invoke, _) if !starts => current.clear(),
                    _ => {}
                }
            }
            if step != Step::Invoke {
                nemesis_infos.fetch_add(1, Ordering::Relaxed);
            }
            recorder.record(Record {
                kind: if step == Step::Invoke { EventKind::Invoke } else { EventKind::Info },
                process: Process::Nemesis,
                f: &action.to_string(),
                key: None,
                value: Value::from_json(&value),
                error: None,
                node: None,
            });
        };
        let until = Instant::now() + plan.time_limit;
        let workload = runner::run(&spec, &recorder, stop.clone());
        let summary = match &mut backend {
            Some(backend) if !schedule.kinds.is_empty() => {
                let nemesis = schedule::run(&schedule, &mut **backend, until, &stop, &mut record);
                let (summary, ()) = tokio::join!(workload, nemesis);
                summary
            }
            _ => workload.await,
        };
        if plan.final_reads && !stop.load(Ordering::Relaxed) {
            // The cluster gets a quiet moment (healed, no load) to recover and converge before everything
            // is read back: the final reads judge convergence, not replication lag.
            tokio::time::sleep(plan.settle).await;
            runner::final_reads(&spec, &recorder, &summary.keys).await;
        }
        recorder.finish().map_err(|e| format!("writing {}: {e}", run_dir.history().display()))?;
        if terminal {
            eprintln!();
        }
        drop(lab);
        Ok::<_, String>((summary, faults, failed_faults))
    })?;
    runtime.shutdown_background();
    let interrupted = stop
        .load(Ordering::Relaxed)
        .then(|| format!("interrupted after {:.1} s of {}", summary.elapsed.as_secs_f64(), seconds(plan.time_limit)));

    let check_opts = CheckOptions {
        format: Some(Format::Jsonl),
        model: Some(ModelKind::CasRegister),
        time_limit: Some(plan.check_time_limit),
        ladder: true,
        required: plan.required,
        availability: faultline_checker::availability::Rule::EveryKind,
        ..CheckOptions::new()
    };
    let mut checked = check::check_file(&run_dir.history(), &check_opts)?;
    checked.result.interrupted = interrupted.clone();
    let results = CheckResults::new(vec![checked.result.clone()]);
    // A valid run's node data is no evidence of anything: it goes, unless kept (it can be hundreds of MB).
    let data = run_dir.file("data");
    let data_removed = results.verdict == Verdict::Valid && !plan.keep_data && data.is_dir();
    if data_removed {
        if let Err(e) = std::fs::remove_dir_all(&data) {
            eprintln!("faultline test: cannot remove the nodes' data {}: {e}", data.display());
        }
    }
    let mut parameters =
        run_parameters(plan, network, seed, &summary, (faults, failed_faults), schedule.opening.as_ref());
    if !unreachable.is_empty() {
        let dead: Vec<String> = unreachable.iter().map(reach::Unreachable::describe).collect();
        parameters.push(("did not answer before the run".into(), dead.join("; ")));
    }
    if let Some(why) = &interrupted {
        parameters.push(("interrupted".into(), why.clone()));
    }
    check::write(&run_dir.file("results.json"), &results.to_json())?;
    let report = check::html_report(&checked, parameters, node_logs(&run_dir.path));
    check::write(&run_dir.file("report.html"), &report)?;
    check::write(&run_dir.file("junit.xml"), &check::junit_report(&results))?;
    let summary_md = check::markdown_report(&format!("faultline test {}", plan.name), &results)
        + &faultline_reports::markdown::faults(&checked.history);
    check::write(&run_dir.file("summary.md"), &summary_md)?;
    // Only a run that ran to its end and was checked becomes the store's latest.
    if interrupted.is_none() {
        run_dir.mark_latest().map_err(|e| format!("cannot point {}/latest at the run: {e}", plan.store.display()))?;
    }
    Ok(TestOutcome {
        results,
        summary,
        run_dir: run_dir.path,
        interrupted,
        faults,
        failed_faults,
        unreachable,
        data_removed,
    })
}

/// "30 s", "1.5 s": a duration as the run's messages say it.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// The run's parameters as the report shows them.
fn run_parameters(
    plan: &TestPlan,
    network: Network,
    seed: u64,
    summary: &RunSummary,
    (faults, failed): (usize, usize),
    opening: Option<&(FaultKind, Targets)>,
) -> Vec<(String, String)> {
    let target = if let Some(spec) = &plan.cluster {
        format!("cluster spec {}, {} nodes, lab {} ({})", spec.source, plan.node_count, network.as_str(), plan.adapter)
    } else if plan.targets.is_empty() {
        format!(
            "reference cluster, {} nodes, {} mode, lab {}",
            plan.node_count,
            format!("{:?}", plan.node_options.mode).to_lowercase(),
            network.as_str()
        )
    } else {
        format!("{} ({})", plan.targets.join(" "), plan.adapter)
    };
    let nemesis = if plan.nemesis.is_empty() {
        "none".to_string()
    } else {
        let kinds: Vec<String> = plan
            .nemesis
            .iter()
            .map(|k| match plan.nemesis_targets.explicit(*k) {
                Some(targets) => format!("{k} ({targets})"),
                None => k.as_str().to_string(),
            })
            .collect();
        let opening = match opening {
            Some((kind, targets)) => format!("; opens with {kind} ({targets})"),
            None => String::new(),
        };
        let failed = if failed > 0 { format!(" ({failed} failed)") } else { String::new() };
        format!("{}, every ~{:?}{opening}; {faults} faults{failed}", kinds.join(", "), plan.nemesis_interval)
    };
    vec![
        ("target".into(), target),
        (
            "workload".into(),
            format!("register, mix {}, {} clients, {} keys ({})", plan.mix, plan.clients, plan.keys, plan.key_dist),
        ),
        ("nemesis".into(), nemesis),
        ("seed".into(), seed.to_string()),
        (
            "duration".into(),
            format!(
                "{:.1} s, {} operations by the workload (the final reads come after)",
                summary.elapsed.as_secs_f64(),
                faultline_checker::availability::thousands(summary.operations)
            ),
        ),
        ("required model".into(), plan.required.name().to_string()),
    ]
}

/// Starts the reference cluster in a lab: data in `run/data/nI`, output in `run/nodes/nI.log`.
async fn start_reference_cluster(plan: &TestPlan, network: Network, run_dir: &RunDir) -> Result<Lab, String> {
    let count = plan.node_count.max(1);
    let mut lab = Lab::create(network, count, 7000, &run_dir.path).await?;
    mount_lazy_if_crashing(plan, &mut lab, run_dir)?;
    let logs = run_dir.path.join("nodes");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let specs = lab
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let peers: Vec<String> = node.peers.iter().enumerate().map(|(j, a)| format!("{j}={a}")).collect();
            NodeSpec {
                program: plan.binary.clone(),
                args: faultline_cluster::launch::node_args(
                    i,
                    &node.listen.to_string(),
                    &peers.join(","),
                    &run_dir.path.join("data").join(&node.name),
                    &spec::cluster_id(&run_dir.path),
                    &plan.node_options,
                ),
                env: Vec::new(),
                log: logs.join(format!("{}.log", node.name)),
                ready_timeout: Duration::from_secs(10),
                ready: faultline_nemesis::Readiness::Listen,
            }
        })
        .collect();
    lab.start(specs).await?;
    Ok(lab)
}

/// Starts the cluster a spec describes in a lab: data in `run/data/nI`, output in `run/nodes/nI.log`.
/// On an error the lab is dropped here, which stops what started and removes the network.
async fn start_spec_cluster(
    plan: &TestPlan,
    spec: &spec::ClusterSpec,
    network: Network,
    run_dir: &RunDir,
) -> Result<Lab, String> {
    let count = plan.node_count.max(1);
    let mut lab = Lab::create_with_peer_port(network, count, spec.client_port, spec.peer_port, &run_dir.path).await?;
    for dir in ["nodes", "data"] {
        let dir = run_dir.path.join(dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    mount_lazy_if_crashing(plan, &mut lab, run_dir)?;
    let ctx = spec::RenderContext { faultline: &plan.binary, run_dir: &run_dir.path };
    let specs = (0..count).map(|i| spec.node(&lab.nodes, i, &ctx)).collect::<Result<Vec<_>, _>>()?;
    lab.start(specs).await.map_err(|e| format!("cluster spec {}: {e}", spec.source))?;
    Ok(lab)
}

/// A run that may crash nodes mounts the lazy filesystem over each node's data directory (`run/data/NAME`,
/// the `{data_dir}` of a spec) before any node starts: what a node does not sync, a crash drops.
fn mount_lazy_if_crashing(plan: &TestPlan, lab: &mut Lab, run_dir: &RunDir) -> Result<(), String> {
    if !plan.nemesis.contains(&FaultKind::Crash) {
        return Ok(());
    }
    let dirs: Vec<PathBuf> = lab.nodes.iter().map(|n| run_dir.path.join("data").join(&n.name)).collect();
    lab.mount_lazy(&dirs)
}

/// Connects to every host of a `[remote]` spec and checks that each can take every fault asked for: an
/// unreachable host, a failed authentication, a host without `nft` is refused here, naming host and cause.
fn connect_hosts(
    runtime: &tokio::runtime::Runtime,
    remote: &spec::RemoteSpec,
    spec: &spec::ClusterSpec,
    plan: &TestPlan,
    program: &std::path::Path,
    kinds: &[FaultKind],
) -> Result<Vec<faultline_nemesis::ssh::Host>, String> {
    let hosts = runtime
        .block_on(faultline_nemesis::ssh::connect_all(&remote.hosts, &remote.ssh))
        .map_err(|e| format!("cluster spec {}: {e}", spec.source))?;
    if let Some(why) = faultline_nemesis::remote::unusable(&hosts) {
        return Err(format!("cluster spec {}: {why}", spec.source));
    }
    let ctx = spec::RenderContext { faultline: &plan.binary, run_dir: std::path::Path::new("") };
    let uploaded = remote.uploads(&ctx)?.iter().any(|u| u == program);
    for kind in kinds {
        let program = uploaded.then_some(program);
        if let Some(why) = faultline_nemesis::remote::refuses(hosts.iter(), *kind, program) {
            return Err(format!("cannot inject {kind} faults: {why}"));
        }
    }
    Ok(hosts)
}

/// Starts the cluster a `[remote]` spec describes, one node per host: a working directory per host for
/// the run, the uploads, then the nodes; their logs come back to `run/nodes/nI.log`. On an error the lab
/// is dropped here, which stops what started and removes what was made on the hosts.
async fn start_remote_cluster(
    plan: &TestPlan,
    spec: &spec::ClusterSpec,
    hosts: Vec<faultline_nemesis::ssh::Host>,
    run_dir: &RunDir,
) -> Result<RemoteLab, String> {
    let remote = spec.remote.as_ref().expect("a [remote] spec");
    let logs = run_dir.path.join("nodes");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let ctx = spec::RenderContext { faultline: &plan.binary, run_dir: &run_dir.path };
    let run = remote_run_name(plan, run_dir);
    let uploads = remote.uploads(&ctx)?;
    let mut lab = RemoteLab::create(hosts, &remote.roots(), &run, spec.client_port, spec.peer_port, &uploads)
        .await
        .map_err(|e| format!("cluster spec {}: {e}", spec.source))?;
    let specs = (0..lab.nodes.len())
        .map(|i| spec.node_in(&lab.nodes, i, &ctx, Some(lab.paths(i))))
        .collect::<Result<Vec<_>, _>>()?;
    lab.start(specs).await.map_err(|e| format!("cluster spec {}: {e}", spec.source))?;
    Ok(lab)
}

/// The run's working directory name on remote hosts: the test's name and the run folder's, so that two
/// runs never share one.
fn remote_run_name(plan: &TestPlan, run_dir: &RunDir) -> String {
    let folder = run_dir.path.file_name().map_or_else(String::new, |n| n.to_string_lossy().to_string());
    format!("{}-{folder}", plan.name)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect()
}

/// Removes this faultline's folder of SSH control sockets when dropped (it is empty once every connection
/// to a remote host is closed; a folder still in use stays).
struct ControlDirGuard;

impl Drop for ControlDirGuard {
    fn drop(&mut self) {
        faultline_nemesis::ssh::remove_own_control_dir();
    }
}

/// `faultline lab clean --cluster SPEC`: removes from the spec's hosts what killed runs left there (their
/// processes, working directories and, once no run is live there, the `inet faultline` table).
pub fn clean_remote(spec: &spec::ClusterSpec) -> Result<Vec<String>, String> {
    let remote = spec.remote.as_ref().ok_or_else(|| {
        format!("cluster spec {} has no [remote] table: nothing of it is on remote hosts", spec.source)
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let _control = ControlDirGuard;
    let mut removed = faultline_nemesis::ssh::clean_control_dirs();
    removed.extend(runtime.block_on(async {
        let hosts = faultline_nemesis::ssh::connect_all(&remote.hosts, &remote.ssh)
            .await
            .map_err(|e| format!("cluster spec {}: {e}", spec.source))?;
        faultline_nemesis::remote::clean(&hosts, &remote.roots()).await
    })?);
    Ok(removed)
}

fn write_config(
    plan: &TestPlan,
    schedule: &Schedule,
    run_dir: &RunDir,
    targets: &[String],
    network: Network,
    seed: u64,
) -> Result<(), String> {
    let config = serde_json::json!({
        "name": plan.name, "targets": targets, "adapter": plan.adapter,
        "cluster": plan.cluster.as_ref().map(|c| serde_json::json!({
            "spec": c.source, "nodes": plan.node_count, "lab": network.as_str(),
            "hosts": c.remote.as_ref().map(|r| r.hosts.clone()),
        })),
        "reference_cluster": (plan.targets.is_empty() && plan.cluster.is_none()).then(|| serde_json::json!({
            "mode": format!("{:?}", plan.node_options.mode).to_lowercase(), "nodes": plan.node_count,
            "lab": network.as_str(),
            "replication_delay_ms": plan.node_options.replication_delay.as_millis() as u64,
            "flush_interval_ms": plan.node_options.flush_interval.as_millis() as u64,
        })),
        "clients": plan.clients, "time_limit_ms": plan.time_limit.as_millis() as u64, "ops": plan.ops,
        "rate": plan.rate, "mix": plan.mix, "keys": plan.keys, "key_dist": plan.key_dist,
        "ops_per_key": plan.ops_per_key, "seed": seed, "client_binding": plan.client_binding.as_str(),
        "request_timeout_ms": plan.request_timeout.as_millis() as u64,
        "http_client": plan.http_client.as_str(), "tls": tls_config(&plan.tls), "final_reads": plan.final_reads, "settle_ms": plan.settle.as_millis() as u64,
        "nemesis": plan.nemesis.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "nemesis_interval_ms": plan.nemesis_interval.as_millis() as u64, "nemesis_fixed": plan.nemesis_fixed,
        "partitions": plan.partitions,
        "nemesis_targets": target_config(&plan.nemesis_targets),
        "nemesis_opening": schedule.opening.as_ref().map(|(kind, targets)| format!("{kind}={targets}")),
        "nemesis_commands": plan.nemesis_commands.as_ref().map(|p| p.display().to_string()),
    });
    let path = run_dir.file("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).expect("JSON"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `--nemesis-targets` as the run's config records it: `{"every": "one", "kill": "primaries"}`.
fn target_config(choice: &TargetChoice) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    if let Some(every) = &choice.every {
        map.insert("every".into(), serde_json::json!(every.name()));
    }
    for (kind, targets) in &choice.by_kind {
        map.insert(kind.as_str().into(), serde_json::json!(targets.name()));
    }
    serde_json::Value::Object(map)
}

/// "partition (halves)", "kill n2", "delay n1 n3": a fault as the progress line names it.
fn describe_fault(kind: &str, value: &serde_json::Value) -> String {
    if let Some(shape) = value["shape"].as_str() {
        return format!("{kind} ({shape})");
    }
    let nodes: Vec<&str> = value["nodes"].as_array().into_iter().flatten().filter_map(|n| n.as_str()).collect();
    if nodes.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} {}", nodes.join(" "))
    }
}

/// The lab the reference cluster (or a spec's cluster) runs in: the one asked for, which must be possible
/// here, or the best this machine allows, said on stderr with the reason.
fn choose_lab(asked: Option<Network>) -> Result<Network, String> {
    match asked {
        Some(Network::Namespaces) => match faultline_nemesis::netns::unavailable() {
            Some(why) => Err(format!("--lab netns: {why}; use --lab proxy")),
            None => Ok(Network::Namespaces),
        },
        Some(network) => Ok(network),
        None => {
            let (network, why) = Network::best_available();
            eprintln!("faultline test: lab {} ({why}; choose one with --lab)", network.as_str());
            Ok(network)
        }
    }
}

/// The logs of the nodes faultline started (`nodes/n1.log`, ...), relative to the run folder.
fn node_logs(run_dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("nodes")) else { return Vec::new() };
    let mut logs: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".log"))
        .map(|name| format!("nodes/{name}"))
        .collect();
    logs.sort();
    logs
}

/// The TLS files a run was given on its command line, for its config.json.
fn tls_config(files: &TlsFiles) -> serde_json::Value {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    serde_json::json!({
        "ca_cert": path(&files.ca_cert), "client_cert": path(&files.client_cert), "client_key": path(&files.client_key),
    })
}

/// Ctrl-C and SIGTERM end the run early, through the normal teardown.
fn watch_signals(stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match terminate.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {}
        }
        eprintln!("\nfaultline test: interrupted; healing, stopping the cluster and keeping the history");
        stop.store(true, Ordering::Relaxed);
    });
}
