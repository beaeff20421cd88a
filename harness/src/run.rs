//! Carrying out a [`Prepared`] plan: the run folder, the cluster, the workload and the nemesis side by
//! side, the heal, the final reads, the check, and the files a run leaves. Nothing here decides whether a
//! run may run: [`crate::plan::prepare`] did.
//!
//! Every way out (normal end, error, Ctrl-C, SIGTERM) goes through the same teardown: the nemesis heals,
//! the lab is dropped (nodes killed, namespaces and proxies removed), the history is flushed and kept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_checker::format::Format;
use faultline_checker::nemesis_action::NemesisAction;
use faultline_checker::Verdict;
use faultline_nemesis::primary::PrimaryProbe;
use faultline_nemesis::schedule::{self, Step};
use faultline_nemesis::{FaultTarget, NodeLab};
use faultline_reports::results::CheckResults;
use faultline_reports::run_dir::RunDir;
use faultline_workloads::recorder::Recorder;
use faultline_workloads::runner::{self, Node, RunSpec, RunSummary};
use faultline_workloads::transport;

use crate::check::{self, CheckOptions};
use crate::config::RunConfig;
use crate::plan::{Cluster, Prepared};
use crate::progress::Progress;
use crate::reach;
use crate::spec;
use crate::start::{self, ControlDirGuard};

/// What a run produced.
pub struct TestOutcome {
    pub results: CheckResults,
    pub summary: RunSummary,
    pub run_dir: std::path::PathBuf,
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

/// Runs a prepared test; errors are for the user, with the cause.
pub fn run(prepared: Prepared) -> Result<TestOutcome, RunError> {
    // The run's errors are the user's sentences; the one that means nothing could be tested (no target
    // answered) is flagged on the way out, for its exit code.
    let untested = std::cell::Cell::new(false);
    run_flagging(prepared, &untested).map_err(|e| {
        if untested.get() {
            RunError::Unreachable(e)
        } else {
            RunError::Error(e)
        }
    })
}

fn run_flagging(mut prepared: Prepared, untested: &std::cell::Cell<bool>) -> Result<TestOutcome, String> {
    // Declared first, dropped last: once every remote connection is closed, on every way out.
    let _control = ControlDirGuard;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // A certificate problem would turn every request into a `fail` (never sent), a history any checker
    // calls valid: it is an error before the run instead. Targets faultline does not start are probed
    // before anything is created; a cluster it starts, once it is up.
    let probe_timeout = prepared.plan.request_timeout.max(Duration::from_secs(5));
    // Remote hosts are reached, and asked whether they can take the faults, before anything is created.
    let mut hosts = match &prepared.cluster {
        Cluster::Remote(spec) => Some(start::connect_hosts(&runtime, &prepared, spec)?),
        _ => None,
    };
    let unreachable = match prepared.cluster {
        Cluster::External => probe_targets(&runtime, &prepared, probe_timeout, untested)?,
        _ => Vec::new(),
    };

    let run_dir = RunDir::create(&prepared.plan.store, &prepared.plan.name)
        .map_err(|e| format!("cannot create a run folder in {}: {e}", prepared.plan.store.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let run_id = run_dir.name();

    let (summary, faults, failed_faults) = runtime.block_on(async {
        watch_signals(stop.clone());
        let plan = &prepared.plan;
        // The lab lives until the end of this block: dropping it stops every node and removes the network.
        // The one place that picks a lab; from here on, any lab is a NodeLab (and so a FaultTarget).
        let lab: Option<Box<dyn NodeLab>> = match &prepared.cluster {
            Cluster::External => None,
            Cluster::Reference => Some(Box::new(start::start_reference_cluster(&prepared, &run_dir).await?)),
            Cluster::Spec(spec) => Some(Box::new(start::start_spec_cluster(&prepared, spec, &run_dir).await?)),
            Cluster::Remote(spec) => {
                let hosts = hosts.take().expect("remote hosts are connected before the run");
                Some(Box::new(start::start_remote_cluster(&prepared, spec, hosts, &run_dir).await?))
            }
        };
        let mut lab = lab;
        let targets: Vec<String> = match (&lab, prepared.cluster.spec()) {
            (None, _) => plan.targets.iter().map(|t| t.trim_end_matches('/').to_string()).collect(),
            (Some(lab), Some(spec)) => lab.nodes().iter().map(|n| spec.client_url(n)).collect(),
            (Some(lab), None) => lab.nodes().iter().map(|n| n.client_url.clone()).collect(),
        };
        if lab.is_some() {
            for url in &targets {
                transport::probe(url, prepared.tls.as_ref(), probe_timeout).await?;
            }
        }
        if let (Some(leader_spec), Some(lab)) = (&prepared.leader_spec, &lab) {
            let ctx = spec::RenderContext { faultline: &plan.binary, run_dir: &run_dir };
            let requests = leader_spec.primary_requests(lab.nodes(), &ctx)?;
            let template = leader_spec.primary.as_ref().expect("a leader spec has [primary]");
            // Quick, so that asking delays the fault little: a node that cannot say within it is not a primary.
            let timeout = Duration::from_millis(500);
            prepared.schedule.primary_probe = Some(Arc::new(PrimaryProbe {
                requests,
                rule: template.rule.clone(),
                client: transport::reqwest_pool(timeout, prepared.tls.as_ref()),
                timeout,
            }));
        }
        // The lab as it is now says what it can take: it knows its nodes' programs, which a lab about to
        // be made could only guess at. A commands file was asked when the plan was prepared.
        if let Some(lab) = &lab {
            schedule::check_supported(&prepared.schedule, lab.as_ref())?;
        }
        let spec = RunSpec {
            nodes: targets
                .iter()
                .zip(&prepared.names)
                .map(|(url, name)| Node { name: name.clone(), url: url.clone() })
                .collect(),
            adapter: prepared.adapter.clone(),
            workload: {
                let mut workload = prepared.workload.clone();
                // Keys carry the run's name and seed, so that no run sees what another one left in the store.
                workload.set_key_prefix(format!("{run_id}-{:06x}-", prepared.seed & 0xff_ffff));
                workload
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
            tls: prepared.tls.clone(),
        };
        check::write(&run_dir.config(), &RunConfig::new(&prepared, &targets).to_json())?;
        let recorder = Recorder::create(&run_dir.history())
            .map_err(|e| format!("cannot create {}: {e}", run_dir.history().display()))?;
        let progress = Progress::start(&recorder);
        let mut nemesis = progress.nemesis(&recorder);
        let mut backend: Option<&mut dyn FaultTarget> = match (&mut lab, &mut prepared.commands) {
            (Some(lab), _) => Some(lab.as_mut()),
            (None, Some(c)) => Some(c),
            (None, None) => None,
        };
        let until = Instant::now() + plan.time_limit;
        let workload = runner::run(&spec, &recorder, stop.clone());
        let summary = match &mut backend {
            Some(backend) if !prepared.schedule.kinds.is_empty() => {
                let mut record =
                    |step: Step, action: &NemesisAction, value: serde_json::Value| nemesis.record(step, action, value);
                let faults = schedule::run(&prepared.schedule, &mut **backend, until, &stop, &mut record);
                let (summary, ()) = tokio::join!(workload, faults);
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
        progress.finish();
        drop(lab);
        Ok::<_, String>((summary, nemesis.faults, nemesis.failed_faults))
    })?;
    runtime.shutdown_background();
    let plan = &prepared.plan;
    let interrupted = stop
        .load(Ordering::Relaxed)
        .then(|| format!("interrupted after {:.1} s of {}", summary.elapsed.as_secs_f64(), seconds(plan.time_limit)));

    let check_opts = CheckOptions {
        format: Some(Format::Jsonl),
        model: Some(prepared.workload.model()),
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
    let data = run_dir.data();
    let data_removed = results.verdict == Verdict::Valid && !plan.keep_data && data.is_dir();
    if data_removed {
        if let Err(e) = std::fs::remove_dir_all(&data) {
            eprintln!("faultline test: cannot remove the nodes' data {}: {e}", data.display());
        }
    }
    let mut parameters = run_parameters(&prepared, &summary, (faults, failed_faults));
    if !unreachable.is_empty() {
        let dead: Vec<String> = unreachable.iter().map(reach::Unreachable::describe).collect();
        parameters.push(("did not answer before the run".into(), dead.join("; ")));
    }
    if let Some(why) = &interrupted {
        parameters.push(("interrupted".into(), why.clone()));
    }
    check::write(&run_dir.results(), &results.to_json())?;
    let report = check::html_report(&checked, parameters, run_dir.node_logs());
    check::write(&run_dir.report(), &report)?;
    check::write(&run_dir.junit(), &check::junit_report(&results))?;
    let summary_md = check::markdown_report(&format!("faultline test {}", plan.name), &results)
        + &faultline_reports::markdown::faults(&checked.history);
    check::write(&run_dir.summary(), &summary_md)?;
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

/// Targets faultline does not start must answer at all: a run against none that does would spend its time
/// limit recording nothing but failures. Some dead: the run goes on against the rest, and says so. Those that
/// answer must also take the run's TLS. Returns the targets that did not answer.
fn probe_targets(
    runtime: &tokio::runtime::Runtime,
    prepared: &Prepared,
    probe_timeout: Duration,
    untested: &std::cell::Cell<bool>,
) -> Result<Vec<reach::Unreachable>, String> {
    let named: Vec<(String, String)> = prepared
        .plan
        .targets
        .iter()
        .enumerate()
        .map(|(i, url)| {
            let name = prepared.names.get(i).cloned().unwrap_or_else(|| format!("n{}", i + 1));
            (name, url.trim_end_matches('/').to_string())
        })
        .collect();
    let unreachable = runtime.block_on(reach::probe(&named, probe_timeout));
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
            transport::probe(url, prepared.tls.as_ref(), probe_timeout).await?;
        }
        Ok::<(), String>(())
    })?;
    Ok(unreachable)
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
    prepared: &Prepared,
    summary: &RunSummary,
    (faults, failed): (usize, usize),
) -> Vec<(String, String)> {
    let plan = &prepared.plan;
    let (network, nodes) = (prepared.network.as_str(), prepared.node_count);
    let target = match &prepared.cluster {
        Cluster::Spec(spec) | Cluster::Remote(spec) => {
            format!("cluster spec {}, {nodes} nodes, lab {network} ({})", spec.source, prepared.adapter_name)
        }
        Cluster::Reference => {
            format!("reference cluster, {nodes} nodes, {} mode, lab {network}", plan.node_options.mode.as_str())
        }
        Cluster::External => format!("{} ({})", plan.targets.join(" "), prepared.adapter_name),
    };
    let kinds = &prepared.schedule.kinds;
    let nemesis = if kinds.is_empty() {
        "none".to_string()
    } else {
        let kinds: Vec<String> = kinds
            .iter()
            .map(|k| match plan.nemesis_targets.explicit(*k) {
                Some(targets) => format!("{k} ({targets})"),
                None => k.as_str().to_string(),
            })
            .collect();
        let opening = match &prepared.schedule.opening {
            Some((kind, targets)) => format!("; opens with {kind} ({targets})"),
            None => String::new(),
        };
        let failed = if failed > 0 { format!(" ({failed} failed)") } else { String::new() };
        format!("{}, every ~{:?}{opening}; {faults} faults{failed}", kinds.join(", "), plan.nemesis_interval)
    };
    vec![
        ("target".into(), target),
        ("workload".into(), format!("{}, {} clients", prepared.workload.describe(), plan.clients)),
        ("nemesis".into(), nemesis),
        ("seed".into(), prepared.seed.to_string()),
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
