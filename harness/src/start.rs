//! Starting the cluster faultline tests: the reference cluster or a spec's server in a local lab, or a
//! spec's server on remote hosts over SSH. Each starter leaves nothing behind on an error: the lab it made
//! is dropped, which stops what started and removes the network (or what was made on the hosts).

use std::path::{Path, PathBuf};
use std::time::Duration;

use faultline_nemesis::remote::RemoteLab;
use faultline_nemesis::ssh::Host;
use faultline_nemesis::{FaultKind, Lab, NodeSpec};
use faultline_reports::run_dir::RunDir;

use crate::plan::{Prepared, TestPlan};
use crate::spec::{self, ClusterSpec};

/// Starts the reference cluster in a lab: data in `run/data/nI`, output in `run/nodes/nI.log`.
pub async fn start_reference_cluster(prepared: &Prepared, run_dir: &RunDir) -> Result<Lab, String> {
    let plan = &prepared.plan;
    let mut lab = Lab::create(prepared.network, prepared.node_count, 7000, &run_dir.path).await?;
    mount_lazy_if_crashing(prepared, &mut lab, run_dir)?;
    let logs = run_dir.logs();
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
                    &run_dir.data_dir(&node.name),
                    &spec::cluster_id(&run_dir.path),
                    &plan.node_options,
                ),
                env: Vec::new(),
                log: run_dir.node_log(&node.name),
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
pub async fn start_spec_cluster(prepared: &Prepared, spec: &ClusterSpec, run_dir: &RunDir) -> Result<Lab, String> {
    let (plan, count) = (&prepared.plan, prepared.node_count);
    let mut lab =
        Lab::create_with_peer_port(prepared.network, count, spec.client_port, spec.peer_port, &run_dir.path).await?;
    for dir in [run_dir.logs(), run_dir.data()] {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    mount_lazy_if_crashing(prepared, &mut lab, run_dir)?;
    let ctx = spec::RenderContext { faultline: &plan.binary, run_dir };
    let specs = (0..count).map(|i| spec.node(&lab.nodes, i, &ctx)).collect::<Result<Vec<_>, _>>()?;
    lab.start(specs).await.map_err(|e| format!("cluster spec {}: {e}", spec.source))?;
    Ok(lab)
}

/// A run that may crash nodes mounts the lazy filesystem over each node's data directory (`run/data/NAME`,
/// the `{data_dir}` of a spec) before any node starts: what a node does not sync, a crash drops.
fn mount_lazy_if_crashing(prepared: &Prepared, lab: &mut Lab, run_dir: &RunDir) -> Result<(), String> {
    if !prepared.schedule.kinds.contains(&FaultKind::Crash) {
        return Ok(());
    }
    let dirs: Vec<PathBuf> = lab.nodes.iter().map(|n| run_dir.data_dir(&n.name)).collect();
    lab.mount_lazy(&dirs)
}

/// Connects to every host of a `[remote]` spec and checks that each can take every fault asked for: an
/// unreachable host, a failed authentication, a host without `nft` is refused here, naming host and cause.
pub fn connect_hosts(
    runtime: &tokio::runtime::Runtime,
    prepared: &Prepared,
    spec: &ClusterSpec,
) -> Result<Vec<Host>, String> {
    let remote = spec.remote.as_ref().expect("a [remote] spec");
    let program = prepared.program.as_path();
    let hosts = runtime
        .block_on(faultline_nemesis::ssh::connect_all(&remote.hosts, &remote.ssh))
        .map_err(|e| format!("cluster spec {}: {e}", spec.source))?;
    if let Some(why) = faultline_nemesis::remote::unusable(&hosts) {
        return Err(format!("cluster spec {}: {why}", spec.source));
    }
    let ctx = spec::RenderContext { faultline: &prepared.plan.binary, run_dir: &RunDir::at(Path::new("")) };
    let uploaded = remote.uploads(&ctx)?.iter().any(|u| u == program);
    for kind in &prepared.schedule.kinds {
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
pub async fn start_remote_cluster(
    prepared: &Prepared,
    spec: &ClusterSpec,
    hosts: Vec<Host>,
    run_dir: &RunDir,
) -> Result<RemoteLab, String> {
    let plan = &prepared.plan;
    let remote = spec.remote.as_ref().expect("a [remote] spec");
    let logs = run_dir.logs();
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let ctx = spec::RenderContext { faultline: &plan.binary, run_dir };
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
    format!("{}-{}", plan.name, run_dir.name())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect()
}

/// Removes this faultline's folder of SSH control sockets when dropped (it is empty once every connection
/// to a remote host is closed; a folder still in use stays).
pub struct ControlDirGuard;

impl Drop for ControlDirGuard {
    fn drop(&mut self) {
        faultline_nemesis::ssh::remove_own_control_dir();
    }
}

/// `faultline lab clean --cluster SPEC`: removes from the spec's hosts what killed runs left there (their
/// processes, working directories and, once no run is live there, the `inet faultline` table).
pub fn clean_remote(spec: &ClusterSpec) -> Result<Vec<String>, String> {
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
