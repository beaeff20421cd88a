//! A run's `config.json`: the effective configuration of a prepared plan, so that a run can be read back
//! and repeated with the same seed. It is serialized from the [`Prepared`] plan, with each name as the
//! command line spells it (`--store-mode stale-leader` is `"stale-leader"` here too).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::{Cluster, Prepared};

#[derive(Serialize)]
pub struct RunConfig<'a> {
    name: &'a str,
    /// The nodes' base URLs the clients spoke to.
    targets: &'a [String],
    adapter: &'a str,
    workload: &'static str,
    cluster: Option<SpecCluster<'a>>,
    reference_cluster: Option<ReferenceCluster>,
    clients: usize,
    time_limit_ms: u64,
    ops: Option<u64>,
    rate: Option<f64>,
    mix: &'a str,
    keys: usize,
    key_dist: &'a str,
    ops_per_key: usize,
    seed: u64,
    client_binding: &'static str,
    request_timeout_ms: u64,
    http_client: &'static str,
    tls: TlsConfig,
    final_reads: bool,
    settle_ms: u64,
    nemesis: Vec<&'static str>,
    nemesis_interval_ms: u64,
    nemesis_fixed: bool,
    partitions: &'a [String],
    /// `--nemesis-targets`: `{"every": "one", "kill": "primaries"}`.
    nemesis_targets: BTreeMap<&'static str, String>,
    /// `kill=primaries`, when the schedule opens with a fault.
    nemesis_opening: Option<String>,
    nemesis_commands: Option<String>,
}

/// A cluster started from a spec.
#[derive(Serialize)]
struct SpecCluster<'a> {
    spec: &'a str,
    nodes: usize,
    lab: &'static str,
    hosts: Option<&'a [String]>,
}

/// The reference cluster.
#[derive(Serialize)]
struct ReferenceCluster {
    mode: &'static str,
    nodes: usize,
    lab: &'static str,
    replication_delay_ms: u64,
    flush_interval_ms: u64,
}

/// The TLS files a run was given on its command line.
#[derive(Serialize)]
struct TlsConfig {
    ca_cert: Option<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
}

impl<'a> RunConfig<'a> {
    /// The configuration of `prepared`, run against `targets`.
    pub fn new(prepared: &'a Prepared, targets: &'a [String]) -> RunConfig<'a> {
        let plan = &prepared.plan;
        let lab = prepared.network.as_str();
        let millis = |d: std::time::Duration| d.as_millis() as u64;
        let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let mut nemesis_targets = BTreeMap::new();
        if let Some(every) = &plan.nemesis_targets.every {
            nemesis_targets.insert("every", every.name());
        }
        for (kind, targets) in &plan.nemesis_targets.by_kind {
            nemesis_targets.insert(kind.as_str(), targets.name());
        }
        RunConfig {
            name: &plan.name,
            targets,
            adapter: &prepared.adapter_name,
            workload: prepared.workload.kind().as_str(),
            cluster: prepared.cluster.spec().map(|spec| SpecCluster {
                spec: &spec.source,
                nodes: prepared.node_count,
                lab,
                hosts: spec.remote.as_ref().map(|r| r.hosts.as_slice()),
            }),
            reference_cluster: matches!(prepared.cluster, Cluster::Reference).then(|| ReferenceCluster {
                mode: plan.node_options.mode.as_str(),
                nodes: prepared.node_count,
                lab,
                replication_delay_ms: millis(plan.node_options.replication_delay),
                flush_interval_ms: millis(plan.node_options.flush_interval),
            }),
            clients: plan.clients,
            time_limit_ms: millis(plan.time_limit),
            ops: plan.ops,
            rate: plan.rate,
            mix: &plan.mix,
            keys: plan.keys,
            key_dist: &plan.key_dist,
            ops_per_key: plan.ops_per_key,
            seed: prepared.seed,
            client_binding: plan.client_binding.as_str(),
            request_timeout_ms: millis(plan.request_timeout),
            http_client: plan.http_client.as_str(),
            tls: TlsConfig {
                ca_cert: path(&plan.tls.ca_cert),
                client_cert: path(&plan.tls.client_cert),
                client_key: path(&plan.tls.client_key),
            },
            final_reads: plan.final_reads,
            settle_ms: millis(plan.settle),
            nemesis: prepared.schedule.kinds.iter().map(|k| k.as_str()).collect(),
            nemesis_interval_ms: millis(plan.nemesis_interval),
            nemesis_fixed: plan.nemesis_fixed,
            partitions: &plan.partitions,
            nemesis_targets,
            nemesis_opening: prepared.schedule.opening.as_ref().map(|(kind, targets)| format!("{kind}={targets}")),
            nemesis_commands: path(&plan.nemesis_commands),
        }
    }

    /// The configuration as `config.json` holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a run's configuration is plain JSON")
    }
}

#[cfg(test)]
mod tests {
    use faultline_cluster::launch::NodeOptions;

    use super::RunConfig;
    use crate::plan::tests::plan;
    use crate::plan::{prepare, TestPlan};

    #[test]
    fn the_config_spells_names_as_the_command_line_does() {
        let options = NodeOptions { mode: faultline_cluster::Mode::StaleLeader, ..NodeOptions::default() };
        let prepared = prepare(TestPlan { node_options: options, ..plan() }).unwrap();
        let targets = ["http://127.0.0.1:1".to_string()];
        let config: serde_json::Value = serde_json::from_str(&RunConfig::new(&prepared, &targets).to_json()).unwrap();
        assert_eq!(config["reference_cluster"]["mode"], "stale-leader", "{config}");
        assert_eq!(config["reference_cluster"]["lab"], "proxy");
        assert_eq!(config["workload"], "register");
        assert_eq!(config["nemesis"], serde_json::json!(["partition", "kill", "pause"]));
        assert_eq!(config["nemesis_opening"], "kill=primaries");
        assert_eq!((config["seed"].as_u64(), config["cluster"].is_null()), (Some(7), true));
    }
}
