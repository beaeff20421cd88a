//! Every refusal of [`prepare`], and the defaults it fills in: each on a plan that is valid but for the
//! one thing the test changes, so that the refusal tested is the one that fires.

use std::path::{Path, PathBuf};
use std::time::Duration;

use faultline_checker::ladder::Level;
use faultline_cluster::launch::NodeOptions;
use faultline_nemesis::{FaultKind, Network, TargetChoice, Targets};
use faultline_workloads::tls::TlsFiles;

use super::{prepare, Cluster, TestPlan};
use crate::spec::ClusterSpec;

/// A plan `prepare` accepts: the reference cluster, proxies (any user can have them), default faults.
pub(crate) fn plan() -> TestPlan {
    TestPlan {
        targets: Vec::new(),
        cluster: None,
        adapter: None,
        node_options: NodeOptions::default(),
        node_count: None,
        lab: Some(Network::Proxies),
        workload: Default::default(),
        clients: 4,
        time_limit: Duration::from_secs(1),
        ops: None,
        rate: None,
        mix: "2:1:1".into(),
        keys: 4,
        key_dist: "uniform".into(),
        ops_per_key: 100,
        seed: Some(7),
        client_binding: Default::default(),
        request_timeout: Duration::from_secs(1),
        http_client: Default::default(),
        tls: TlsFiles::default(),
        final_reads: true,
        settle: Duration::ZERO,
        nemesis: None,
        nemesis_interval: Duration::from_secs(1),
        nemesis_fixed: false,
        partitions: Vec::new(),
        nemesis_targets: TargetChoice::default(),
        nemesis_commands: None,
        store: std::env::temp_dir().join("faultline-plan-tests-store"),
        name: "plan".into(),
        required: Level::Linearizable,
        check_time_limit: Duration::from_secs(1),
        binary: PathBuf::from("/bin/sh"),
        keep_data: false,
    }
}

/// A plan against targets faultline does not start.
fn external() -> TestPlan {
    TestPlan { targets: vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2/".into()], lab: None, ..plan() }
}

fn refusal(plan: TestPlan) -> String {
    match prepare(plan) {
        Ok(prepared) => panic!("prepared, not refused: {prepared:?}"),
        Err(e) => e,
    }
}

fn kinds(list: &str) -> Option<Vec<FaultKind>> {
    Some(FaultKind::parse_list(list).unwrap())
}

/// A file of this test's own, removed with its folder by [`Scratch`]'s drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("faultline-plan-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const TWO_NODES: &str = "[nodes]\nn1 = \"10.0.0.1\"\nn2 = \"10.0.0.2\"\n[kill]\nstart = \"true\"\nstop = \"true\"\n";

fn spec(text: &str) -> ClusterSpec {
    ClusterSpec::parse(text, "t.toml").unwrap()
}

fn remote_spec() -> ClusterSpec {
    spec("command = \"x\"\n[remote]\nhosts = [\"a\", \"b\"]\n")
}

#[test]
fn the_reference_cluster_gets_the_default_faults_opening_with_a_primary_kill() {
    let prepared = prepare(plan()).unwrap();
    assert!(matches!(prepared.cluster, Cluster::Reference));
    assert_eq!(prepared.node_count, 3);
    assert_eq!(prepared.names, ["n1", "n2", "n3"]);
    assert_eq!(prepared.adapter_name, "native");
    assert_eq!(prepared.schedule.kinds, [FaultKind::Partition, FaultKind::Kill, FaultKind::Pause]);
    assert_eq!(prepared.schedule.opening, Some((FaultKind::Kill, Targets::Primaries)));
    assert!(prepared.leader_spec.as_ref().is_some_and(|s| s.primary.is_some()), "the reference spec, parsed once");
    assert_eq!((prepared.network, prepared.program.as_path()), (Network::Proxies, Path::new("/bin/sh")));
    assert_eq!(prepared.seed, 7);
}

#[test]
fn faults_asked_for_do_not_open_with_a_kill() {
    let prepared = prepare(TestPlan { nemesis: kinds("kill,pause"), node_count: Some(5), ..plan() }).unwrap();
    assert_eq!(prepared.schedule.kinds, [FaultKind::Kill, FaultKind::Pause]);
    assert_eq!(prepared.schedule.opening, None);
    assert_eq!(prepared.names.len(), 5);
}

#[test]
fn targets_get_no_faults_by_default_and_are_named_in_order() {
    let prepared = prepare(external()).unwrap();
    assert!(matches!(prepared.cluster, Cluster::External));
    assert!(prepared.schedule.kinds.is_empty() && prepared.schedule.opening.is_none());
    assert_eq!(prepared.names, ["n1", "n2"]);
    assert_eq!(prepared.network, Network::Loopback);
    assert!(prepared.leader_spec.is_none(), "no one can be asked who leads a cluster faultline does not start");
}

#[test]
fn targets_and_a_cluster_are_refused_together() {
    let e = refusal(TestPlan { cluster: Some(remote_spec()), ..external() });
    assert!(e.contains("--cluster starts a cluster and --target names one already running"), "{e}");
}

#[test]
fn a_remote_cluster_has_one_node_per_host_and_no_lab() {
    let remote = || TestPlan { cluster: Some(remote_spec()), lab: None, ..plan() };
    let prepared = prepare(remote()).unwrap();
    assert!(matches!(prepared.cluster, Cluster::Remote(_)));
    assert_eq!((prepared.node_count, prepared.network), (2, Network::Remote));
    assert_eq!(prepare(TestPlan { node_count: Some(2), ..remote() }).unwrap().node_count, 2);

    let e = refusal(TestPlan { node_count: Some(3), ..remote() });
    assert!(e.contains("--nodes 3 disagrees with cluster spec t.toml: its [remote] table lists 2 hosts"), "{e}");
    let e = refusal(TestPlan { lab: Some(Network::Proxies), ..remote() });
    assert!(e.starts_with("--lab does not apply to a cluster on remote hosts"), "{e}");
}

#[test]
fn a_name_that_cannot_name_a_folder_is_refused_before_the_cluster_starts() {
    let e = refusal(TestPlan { name: "../escape".into(), ..plan() });
    assert!(e.starts_with("cannot create a run folder in") && e.contains("\"../escape\" cannot name a test folder"));
}

#[test]
fn an_unknown_adapter_is_refused() {
    let e = refusal(TestPlan { adapter: Some("no-such-adapter".into()), ..plan() });
    assert!(e.contains("no-such-adapter"), "{e}");
}

#[test]
fn a_spec_names_the_adapter_unless_the_flag_does() {
    let etcd = || TestPlan { cluster: Some(spec("command = \"/bin/sh\"\nadapter = \"etcd-v3\"\n")), ..plan() };
    assert_eq!(prepare(etcd()).unwrap().adapter_name, "etcd-v3");
    assert_eq!(prepare(TestPlan { adapter: Some("native".into()), ..etcd() }).unwrap().adapter_name, "native");
}

#[test]
fn a_bad_mix_or_key_distribution_is_refused() {
    let e = refusal(TestPlan { mix: "0:0:0".into(), ..plan() });
    assert!(e.contains("read:write:cas"), "{e}");
    let e = refusal(TestPlan { key_dist: "zipf:-1".into(), ..plan() });
    assert!(e.contains("the zipf exponent must be a positive number"), "{e}");
}

#[test]
fn faults_on_targets_need_a_commands_file_that_exists() {
    let e = refusal(TestPlan { nemesis: kinds("kill"), ..external() });
    assert!(e.starts_with("faults against a cluster faultline does not start need --nemesis-commands FILE"), "{e}");
    let missing = PathBuf::from("/no/such/commands.toml");
    let e = refusal(TestPlan { nemesis: kinds("kill"), nemesis_commands: Some(missing), ..external() });
    assert!(e.starts_with("/no/such/commands.toml"), "{e}");
}

#[test]
fn a_commands_file_names_one_node_per_target_before_anything_starts() {
    let dir = Scratch::new("names");
    let commands = dir.file("c.toml", TWO_NODES);
    let three = TestPlan {
        targets: vec!["http://a:1".into(), "http://b:1".into(), "http://c:1".into()],
        nemesis: kinds("kill"),
        nemesis_commands: Some(commands.clone()),
        ..external()
    };
    let e = refusal(three);
    assert_eq!(e, format!("{} names 2 nodes but 3 targets were given", commands.display()));
    let prepared = prepare(TestPlan { nemesis: kinds("kill"), nemesis_commands: Some(commands), ..external() });
    assert_eq!(prepared.unwrap().names, ["n1", "n2"]);
}

#[test]
fn a_fault_the_commands_file_has_no_section_for_is_refused() {
    let dir = Scratch::new("section");
    let commands = dir.file("c.toml", TWO_NODES);
    let e = refusal(TestPlan { nemesis: kinds("pause"), nemesis_commands: Some(commands), ..external() });
    assert!(e.starts_with("cannot inject pause faults:") && e.contains("has no [pause] section"), "{e}");
}

#[test]
fn a_partition_shape_is_parsed_against_the_nodes() {
    let e = refusal(TestPlan { partitions: vec!["n1:n9".into()], ..plan() });
    assert!(e.contains("n9"), "{e}");
}

#[test]
fn targets_naming_an_unknown_node_are_refused() {
    let e = refusal(TestPlan { nemesis_targets: TargetChoice::parse("kill=n7").unwrap(), ..plan() });
    assert!(e.contains("n7"), "{e}");
}

#[test]
fn partition_shapes_and_aimed_partitions_are_refused_together() {
    let aimed = || TestPlan { nemesis_targets: TargetChoice::parse("partition=n1").unwrap(), ..plan() };
    let e = refusal(TestPlan { partitions: vec!["halves".into()], ..aimed() });
    assert!(e.starts_with("--partition draws the shape of each partition and --nemesis-targets aims"), "{e}");
    assert!(prepare(TestPlan { partitions: vec!["clients".into()], ..aimed() }).is_ok(), "clients is allowed");
}

#[test]
fn aiming_at_primaries_needs_someone_to_ask() {
    let primaries = || TargetChoice::parse("kill=primaries").unwrap();
    let dir = Scratch::new("primaries");
    let commands = dir.file("c.toml", TWO_NODES);
    let e = refusal(TestPlan {
        nemesis: kinds("kill"),
        nemesis_targets: primaries(),
        nemesis_commands: Some(commands),
        ..external()
    });
    assert!(e.contains("faultline cannot ask a cluster it does not start who leads"), "{e}");
    let e = refusal(TestPlan { cluster: Some(spec("command = \"/bin/sh\"")), nemesis_targets: primaries(), ..plan() });
    assert!(e.contains("the cluster spec t.toml has no [primary] probe"), "{e}");
    assert!(prepare(TestPlan { nemesis_targets: primaries(), ..plan() }).is_ok(), "the reference cluster can say");
}

#[test]
fn https_targets_need_their_tls_files() {
    let tls = TlsFiles { ca_cert: Some("/no/such/ca.pem".into()), ..TlsFiles::default() };
    let e = refusal(TestPlan { targets: vec!["https://127.0.0.1:1".into()], tls, ..external() });
    assert!(e.contains("/no/such/ca.pem"), "{e}");
}

#[test]
fn a_spec_that_refuses_the_lab_is_refused() {
    let refusing = spec("command = \"/bin/sh\"\n[refuse]\nproxy = \"peers must see one address\"\n");
    let e = refusal(TestPlan { cluster: Some(refusing), ..plan() });
    assert_eq!(e, "the cluster spec t.toml cannot run in a proxy lab: peers must see one address");
}

#[test]
fn a_spec_whose_program_is_missing_is_refused() {
    let missing = spec("command = \"no-such-server-xyz --port {client_port}\"");
    let e = refusal(TestPlan { cluster: Some(missing), ..plan() });
    assert!(e.starts_with("node n1: cluster spec t.toml: the program \"no-such-server-xyz\" was not found"), "{e}");
}

#[test]
fn a_fault_the_lab_cannot_take_is_refused() {
    let e = refusal(TestPlan { lab: Some(Network::Loopback), ..plan() });
    assert_eq!(
        e,
        "cannot inject partition faults: the partition fault needs a lab network (--lab netns or --lab proxy)"
    );
    assert!(prepare(TestPlan { lab: Some(Network::Loopback), nemesis: kinds("kill,pause"), ..plan() }).is_ok());
}

#[test]
fn a_namespaced_lab_is_refused_where_namespaces_cannot_be_made() {
    let result = prepare(TestPlan { lab: Some(Network::Namespaces), ..plan() });
    match faultline_nemesis::netns::unavailable() {
        Some(why) => assert_eq!(result.unwrap_err(), format!("--lab netns: {why}; use --lab proxy")),
        None => assert_eq!(result.unwrap().network, Network::Namespaces),
    }
}
