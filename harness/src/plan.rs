//! A run's plan, checked: [`TestPlan`] is what the user asked for, [`prepare`] makes every check, refusal
//! and default of a run into a [`Prepared`] plan, and [`crate::run::run`] only carries a prepared plan out.
//!
//! Preparing creates nothing (no run folder, lab, node, runtime or connection): a run that cannot run is
//! refused here, before anything exists. It reads what the flags name (an adapter file, a commands file,
//! TLS files) and asks the machine what it can do (network namespaces, netem, libfaketime), but it never
//! reaches the network: remote hosts and the targets are asked once the run starts.

use std::path::PathBuf;
use std::time::Duration;

use faultline_checker::ladder::Level;
use faultline_cluster::launch::NodeOptions;
use faultline_nemesis::command::CommandBackend;
use faultline_nemesis::schedule::Schedule;
use faultline_nemesis::{FaultKind, Network, PartitionShape, TargetChoice, Targets};
use faultline_reports::run_dir::RunDir;
use faultline_workloads::adapter::Adapter;
use faultline_workloads::generator::{KeyDistribution, Mix, RegisterWorkload};
use faultline_workloads::runner::ClientBinding;
use faultline_workloads::tls::{Tls, TlsFiles};
use faultline_workloads::transport::ClientKind;
use faultline_workloads::workload::{Workload, WorkloadKind};

use crate::spec::{self, ClusterSpec};

/// Everything a run needs to know, as the user gave it. `None` leaves a choice to [`prepare`].
#[derive(Clone, Debug)]
pub struct TestPlan {
    /// The nodes' base URLs; empty to start the reference cluster (or `cluster`).
    pub targets: Vec<String>,
    /// A cluster spec: the server faultline starts in its lab instead of the reference cluster.
    pub cluster: Option<ClusterSpec>,
    /// The adapter's name or file; `None` takes the cluster spec's, else `native`.
    pub adapter: Option<String>,
    /// The reference cluster, when faultline starts it.
    pub node_options: NodeOptions,
    /// `--nodes`; `None` is 3, or one per host of a cluster on remote hosts (which refuses any other count).
    pub node_count: Option<usize>,
    /// How the reference cluster is networked; `None` picks namespaces when root, proxies otherwise.
    pub lab: Option<Network>,
    /// What the clients do (`--workload`); `mix`, `keys`, `key_dist` and `ops_per_key` are the register
    /// workload's settings.
    pub workload: WorkloadKind,
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
    pub client_binding: ClientBinding,
    pub request_timeout: Duration,
    pub http_client: ClientKind,
    /// For `https://` nodes (flags; a cluster spec's `[tls]` fills in what they leave out).
    pub tls: TlsFiles,
    pub final_reads: bool,
    /// The quiet time between the end of the workload (and the heal) and the final reads.
    pub settle: Duration,
    /// The faults asked for; `None` is the default: partition, kill and pause for a cluster faultline
    /// starts, opening with a kill of the primary, and none for targets it does not start.
    pub nemesis: Option<Vec<FaultKind>>,
    pub nemesis_interval: Duration,
    pub nemesis_fixed: bool,
    pub partitions: Vec<String>,
    /// Which nodes each kind of fault acts on (`--nemesis-targets`).
    pub nemesis_targets: TargetChoice,
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

/// Which cluster a run tests, decided once.
#[derive(Debug)]
pub enum Cluster {
    /// Targets already running (`--target`): faults only through a commands file.
    External,
    /// The built-in reference cluster, started in a local lab.
    Reference,
    /// A cluster spec's server, started in a local lab (`--cluster`).
    Spec(ClusterSpec),
    /// A cluster spec with `[remote]`: one node per host, over SSH.
    Remote(ClusterSpec),
}

impl Cluster {
    /// The spec faultline starts the cluster from, if any.
    pub fn spec(&self) -> Option<&ClusterSpec> {
        match self {
            Cluster::Spec(spec) | Cluster::Remote(spec) => Some(spec),
            Cluster::External | Cluster::Reference => None,
        }
    }
}

/// A plan every check has passed, with every default filled in and every string parsed: what
/// [`crate::run::run`] carries out without deciding anything more.
#[derive(Debug)]
pub struct Prepared {
    /// The plan as the user gave it (for the run's config and report); the fields below win over it.
    pub plan: TestPlan,
    pub cluster: Cluster,
    /// Nodes the run has: one per target, per remote host, or `--nodes`.
    pub node_count: usize,
    /// The nodes' names in the history: a commands file's, else n1, n2, ...
    pub names: Vec<String>,
    pub adapter_name: String,
    pub adapter: Adapter,
    /// What the clients send, and what the history is checked against (its keys' prefix is set once the
    /// run folder exists).
    pub workload: Workload,
    pub seed: u64,
    /// The faults, their shapes, targets and opening; its primary probe is set once the cluster is up.
    pub schedule: Schedule,
    /// The faults for targets faultline does not start.
    pub commands: Option<CommandBackend>,
    /// The spec whose `[primary]` says who leads (the cluster's, or the built-in reference spec), parsed
    /// once; `None` when no one can be asked.
    pub leader_spec: Option<ClusterSpec>,
    /// What `https://` nodes are spoken to with.
    pub tls: Option<Tls>,
    /// The lab the cluster runs in (`Loopback` for targets, `Remote` for remote hosts).
    pub network: Network,
    /// The program the nodes run (a spec's, checked; else the `faultline` executable).
    pub program: PathBuf,
}

/// Checks a plan and fills in its defaults; the error is for the user, with the cause.
pub fn prepare(plan: TestPlan) -> Result<Prepared, String> {
    let external = !plan.targets.is_empty();
    if external && plan.cluster.is_some() {
        return Err("--cluster starts a cluster and --target names one already running: give one of them".into());
    }
    let cluster = match plan.cluster.clone() {
        None if external => Cluster::External,
        None => Cluster::Reference,
        Some(spec) if spec.remote.is_some() => Cluster::Remote(spec),
        Some(spec) => Cluster::Spec(spec),
    };
    // A cluster on remote hosts has one node per host; a --nodes that says otherwise is refused.
    let node_count = match &cluster {
        Cluster::Remote(spec) => {
            let hosts = spec.remote.as_ref().map_or(0, |r| r.hosts.len());
            if plan.lab.is_some() {
                return Err("--lab does not apply to a cluster on remote hosts ([remote] in the spec): faults are \
                            applied on the hosts"
                    .into());
            }
            if let Some(asked) = plan.node_count.filter(|n| *n != hosts) {
                return Err(format!(
                    "--nodes {asked} disagrees with cluster spec {}: its [remote] table lists {hosts} hosts, one node \
                     each (leave --nodes out, or list {asked} hosts)",
                    spec.source
                ));
            }
            hosts
        }
        Cluster::External => plan.targets.len(),
        _ => plan.node_count.unwrap_or(3).max(1),
    };
    // The run folder's name is checked now; the folder itself is made when the run starts.
    let would_be = RunDir::would_be(&plan.store, &plan.name)
        .map_err(|e| format!("cannot create a run folder in {}: {e}", plan.store.display()))?;
    let seed = plan.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let adapter_name = plan
        .adapter
        .clone()
        .or_else(|| cluster.spec().and_then(|c| c.adapter.clone()))
        .unwrap_or_else(|| "native".to_string());
    let adapter = Adapter::by_name_or_file(&adapter_name)?;
    let workload = match plan.workload {
        WorkloadKind::Register => Workload::Register(RegisterWorkload {
            mix: Mix::parse(&plan.mix)?,
            keys: plan.keys,
            distribution: KeyDistribution::parse(&plan.key_dist)?,
            ops_per_key: plan.ops_per_key,
            seed,
            key_prefix: String::new(),
        }),
    };

    // The main job injects faults by default; a cluster faultline does not start gets none unless asked.
    let nemesis = match &plan.nemesis {
        Some(kinds) => kinds.clone(),
        None if external => Vec::new(),
        None => vec![FaultKind::Partition, FaultKind::Kill, FaultKind::Pause],
    };
    let commands = plan.nemesis_commands.as_deref().map(CommandBackend::load).transpose()?;
    if external && !nemesis.is_empty() && commands.is_none() {
        return Err("faults against a cluster faultline does not start need --nemesis-commands FILE (shell \
                    commands per fault); without it, run with --nemesis none"
            .into());
    }
    let names: Vec<String> = match &commands {
        Some(c) if external => c.node_names(),
        _ => (1..=node_count).map(|i| format!("n{i}")).collect(),
    };
    if external && commands.is_some() && names.len() != plan.targets.len() {
        return Err(format!(
            "{} names {} nodes but {} targets were given",
            plan.nemesis_commands.as_ref().map_or(String::new(), |p| p.display().to_string()),
            names.len(),
            plan.targets.len()
        ));
    }
    let mut schedule = schedule(&plan, nemesis, seed, &names)?;
    let leader_spec = leader_spec(&plan, &cluster, &schedule)?;
    // Plain `faultline test` opens with a kill of the primary, when kills are among its faults, not aimed
    // otherwise, and the cluster can say who leads.
    if plan.nemesis.is_none()
        && leader_spec.is_some()
        && schedule.kinds.contains(&FaultKind::Kill)
        && plan.nemesis_targets.explicit(FaultKind::Kill).is_none()
    {
        schedule.opening = Some((FaultKind::Kill, Targets::Primaries));
    }

    let tls_files = plan.tls.clone().or(&cluster.spec().and_then(|c| c.tls.clone()).unwrap_or_default());
    let https = match cluster.spec() {
        Some(spec) => spec.tls.is_some(),
        None => plan.targets.iter().any(|t| t.starts_with("https://")),
    };
    let tls = Tls::for_run(&tls_files, https)?;
    let network = match &cluster {
        Cluster::External => Network::Loopback,
        Cluster::Remote(_) => Network::Remote,
        Cluster::Reference | Cluster::Spec(_) => choose_lab(plan.lab)?,
    };
    if let Some(spec) = cluster.spec() {
        if let Some(why) = spec.refuses_lab(network) {
            let how = if plan.lab.is_none() { " (the default lab here; choose one with --lab)" } else { "" };
            return Err(format!("{why}{how}"));
        }
    }
    // A spec is checked (placeholders, program, faults) on made-up addresses and the folder the run will get.
    let program = match cluster.spec() {
        Some(spec) => {
            let ctx = spec::RenderContext { faultline: &plan.binary, run_dir: &would_be };
            spec.check(node_count, &schedule.kinds, &ctx)?
        }
        None => plan.binary.clone(),
    };
    // Which faults the cluster can take, asked once of the backend that will apply them (remote hosts are
    // asked as they are reached, when the run starts: only they know what they have).
    for kind in &schedule.kinds {
        let refusal = match (&cluster, &commands) {
            (Cluster::External, Some(c)) => c.refuses(*kind),
            (Cluster::External, None) | (Cluster::Remote(_), _) => None,
            (Cluster::Reference | Cluster::Spec(_), _) => faultline_nemesis::lab::refuses(network, *kind, &program),
        };
        if let Some(why) = refusal {
            return Err(format!("cannot inject {kind} faults: {why}"));
        }
    }
    Ok(Prepared {
        plan,
        cluster,
        node_count,
        names,
        adapter_name,
        adapter,
        workload,
        seed,
        schedule,
        commands,
        leader_spec,
        tls,
        network,
        program,
    })
}

/// The nemesis's schedule: its faults, the shapes of its partitions, whom each kind aims at, and whether it
/// opens with a kill of the primary (the default faults do, when kills are not aimed otherwise).
fn schedule(plan: &TestPlan, kinds: Vec<FaultKind>, seed: u64, names: &[String]) -> Result<Schedule, String> {
    let mut schedule = Schedule::new(kinds, seed);
    schedule.interval = plan.nemesis_interval;
    schedule.random = !plan.nemesis_fixed;
    if !plan.partitions.is_empty() {
        schedule.shapes = plan.partitions.iter().map(|s| PartitionShape::parse(s, names)).collect::<Result<_, _>>()?;
    }
    plan.nemesis_targets.check(names, &schedule.kinds)?;
    if !plan.partitions.is_empty()
        && plan.nemesis_targets.explicit(FaultKind::Partition).is_some()
        && schedule.shapes != [PartitionShape::Clients]
    {
        return Err("--partition draws the shape of each partition and --nemesis-targets aims partitions at nodes \
                    (isolating them): give one of them (or --partition clients, to cut the clients off from the \
                    aimed nodes)"
            .into());
    }
    schedule.targets = plan.nemesis_targets.clone();
    Ok(schedule)
}

/// The spec that says who leads, if faultline can ask: the cluster spec's `[primary]`, or the built-in
/// reference spec's for the reference cluster; a cluster faultline does not start cannot be asked, so aiming
/// at its primary is refused.
fn leader_spec(plan: &TestPlan, cluster: &Cluster, schedule: &Schedule) -> Result<Option<ClusterSpec>, String> {
    let spec = match cluster {
        Cluster::Spec(spec) | Cluster::Remote(spec) => Some(spec.clone()),
        Cluster::External => None,
        Cluster::Reference => Some(ClusterSpec::resolve("reference")?),
    }
    .filter(|spec| spec.primary.is_some());
    if plan.nemesis_targets.wants_primaries(&schedule.kinds) && spec.is_none() {
        let aimed: Vec<&str> = schedule
            .kinds
            .iter()
            .filter(|k| plan.nemesis_targets.of(**k) == Targets::Primaries)
            .map(|k| k.as_str())
            .collect();
        return Err(match cluster.spec() {
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
    Ok(spec)
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

#[cfg(test)]
pub(crate) mod tests;
