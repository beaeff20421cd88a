//! Cluster specs: how to run one node of any server as a cluster faultline starts in its lab
//! (`faultline test --cluster FILE|NAME`). A spec is a TOML file:
//!
//! ```toml
//! command = ["etcd", "--name", "{name}", "--data-dir", "{data_dir}",
//!            "--listen-client-urls", "{client_url}", "--advertise-client-urls", "{client_url}",
//!            "--listen-peer-urls", "{peer_url}", "--initial-advertise-peer-urls", "{peer_url}",
//!            "--initial-cluster", "{initial_cluster}"]
//! adapter = "etcd-v3"            # what the clients speak (--adapter overrides it)
//! client_port = 2379             # in a namespaced lab; loopback labs pick free ports
//! peer_port = 2380               # optional: nodes that serve peers on a port of their own
//! ready = { http = "{client_url}/health", timeout = "20s" }   # or tcp = "{host}:{client_port}"
//! [env]
//! GOMAXPROCS = "1"
//! [refuse]                       # labs (netns, proxy, none) or faults this cluster cannot take, and why
//! proxy = "every member must see the same peer URLs"
//! [tls]                          # optional: clients speak https:// ({client_url} is https://...)
//! ca_cert = "certs/ca.pem"       # the CA of the nodes' certificates (default: the system's CAs)
//! client_cert = "certs/client.pem"   # for mutual TLS: the clients' certificate
//! client_key = "certs/client.key"    # and its key
//! ```
//!
//! A spec may say how to ask a node whether it leads, for faults aimed at `primaries`
//! (`--nemesis-targets kill=primaries`): one request per node, and where its JSON answer says so.
//!
//! ```toml
//! [primary]
//! request = "POST {client_url}/v3/maintenance/status"   # METHOD URL (GET when only a URL is given)
//! body = "{}"                    # optional, sent as is as application/json (no placeholders)
//! pointer = "/leader"            # a JSON pointer into the answer
//! equals_pointer = "/header/member_id"   # the node leads when both are equal; or
//! # equals = "primary"           # the node leads when the value at `pointer` is this
//! ```
//!
//! A `[remote]` table runs the nodes on remote hosts over SSH, one node per host (see the README,
//! "Remote clusters"):
//!
//! ```toml
//! [remote]
//! hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]   # one node per host, in order; {host} is its address
//! user = "root"                  # default: ssh's own
//! port = 22                      # default: ssh's own
//! identity = "~/.ssh/id_ed25519" # default: ssh's own keys and agent
//! known_hosts = "known_hosts"    # default: ssh's own (~/.ssh/known_hosts)
//! accept_new_host_keys = false   # true: accept and remember the key of a host not yet known
//! sudo = false                   # true: nft and tc through `sudo -n`
//! workdir = "/tmp/faultline"     # each run works in WORKDIR/RUN on each host ({host} allowed)
//! upload = ["{faultline}"]       # local files copied to WORKDIR/RUN/bin/ before the nodes start
//! ```
//!
//! `[tls]` paths are relative to the spec file; `--ca-cert`, `--client-cert` and `--client-key` override
//! them.
//!
//! Placeholders, filled in per node: see [`PLACEHOLDERS`]. `{{` and `}}` are literal braces. A spec is
//! checked (every placeholder known and given a value, the program found) before any lab is built.
//! `etcd` and `reference` name the specs shipped in `clusters/`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use faultline_nemesis::primary::{LeaderRule, ProbeRequest};
use faultline_nemesis::remote::RemotePaths;
use faultline_nemesis::ssh::SshOptions;
use faultline_nemesis::{FaultKind, Network, NodeAddress, NodeSpec, Readiness};
use faultline_reports::run_dir::RunDir;
use faultline_workloads::tls::TlsFiles;
use serde::Deserialize;

/// The specs shipped with faultline, by name.
pub const BUILT_IN: [(&str, &str); 2] =
    [("etcd", include_str!("../../clusters/etcd.toml")), ("reference", include_str!("../../clusters/reference.toml"))];

/// Every placeholder, with what it becomes.
pub const PLACEHOLDERS: [(&str, &str); 16] = [
    ("id", "the node's number, from 1"),
    ("index", "the node's number, from 0"),
    ("name", "the node's name: n1, n2, ..."),
    ("host", "the node's IP address"),
    ("client_port", "the port it serves clients on"),
    ("peer_port", "the port it serves peers on (needs peer_port in the spec)"),
    ("listen", "{host}:{client_port}"),
    ("client_url", "http://{host}:{client_port} (https:// with [tls])"),
    ("peer_url", "http://{host}:{peer_port} (needs peer_port in the spec)"),
    ("initial_cluster", "n1=http://PEER1,n2=http://PEER2,...: every node's peer address as this node reaches it"),
    ("peers", "PEER1,PEER2,...: the same, as HOST:PORT"),
    ("indexed_peers", "0=PEER1,1=PEER2,...: the same, numbered from 0"),
    ("data_dir", "the node's data directory, RUN/data/NAME, kept across restarts"),
    ("faultline", "the running faultline executable"),
    ("run", "the run's folder name (unique per run)"),
    ("cluster", "a name for the run's cluster, unique on this machine: the run's folder name and faultline's pid"),
];

/// The name of the cluster a run in `run_dir` starts (`{cluster}`): its nodes refuse peer requests that
/// name another, so that a node of another run reaching one of its ports cannot take part in it.
pub fn cluster_id(run_dir: &Path) -> String {
    format!("{}-{}", run_name(run_dir), std::process::id())
}

/// The run's folder name (`{run}`), without colons.
fn run_name(run_dir: &Path) -> String {
    run_dir.file_name().map_or_else(|| "run".into(), |n| n.to_string_lossy().replace(':', ""))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    command: Command,
    #[serde(default)]
    env: BTreeMap<String, String>,
    ready: Option<ReadyFile>,
    adapter: Option<String>,
    client_port: Option<u16>,
    peer_port: Option<u16>,
    #[serde(default)]
    refuse: BTreeMap<String, String>,
    tls: Option<TlsFile>,
    primary: Option<PrimaryFile>,
    remote: Option<RemoteFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrimaryFile {
    request: String,
    body: Option<String>,
    pointer: String,
    equals: Option<toml::Value>,
    equals_pointer: Option<String>,
}

/// How to ask a node whether it leads, before its placeholders are filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct PrimaryTemplate {
    pub method: String,
    pub url: String,
    pub body: Option<String>,
    pub rule: LeaderRule,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteFile {
    hosts: Vec<String>,
    user: Option<String>,
    port: Option<u16>,
    identity: Option<String>,
    known_hosts: Option<String>,
    #[serde(default)]
    accept_new_host_keys: bool,
    #[serde(default)]
    sudo: bool,
    workdir: Option<String>,
    #[serde(default)]
    upload: Vec<String>,
    connect_timeout: Option<String>,
}

/// The `[remote]` table: the cluster's nodes run on these hosts, one node per host, over SSH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSpec {
    pub hosts: Vec<String>,
    pub ssh: SshOptions,
    /// Each host's root for run working directories; `{host}` is the host as `hosts` names it.
    pub workdir: String,
    /// Local files copied to each host before the nodes start (templates: `{faultline}`).
    pub upload: Vec<String>,
}

impl RemoteSpec {
    /// The working directory root on each host, in host order.
    pub fn roots(&self) -> Vec<String> {
        self.hosts.iter().map(|h| self.workdir.replace("{host}", h)).collect()
    }

    /// The files to upload, as local paths (`{faultline}` filled in), each checked to be a file.
    pub fn uploads(&self, ctx: &RenderContext<'_>) -> Result<Vec<PathBuf>, String> {
        let vars: BTreeMap<&'static str, String> =
            [("faultline", ctx.faultline.display().to_string())].into_iter().collect();
        self.upload
            .iter()
            .map(|u| {
                let path = PathBuf::from(render(u, &vars).map_err(|e| format!("remote.upload: {e}"))?);
                if path.is_file() {
                    Ok(path)
                } else {
                    Err(format!("remote.upload: {} is not a file here", path.display()))
                }
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    ca_cert: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Command {
    Words(Vec<String>),
    Line(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadyFile {
    http: Option<String>,
    tcp: Option<String>,
    timeout: Option<String>,
}

/// How to readiness-check a node, before its placeholders are filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadyTemplate {
    Http(String),
    Tcp(String),
}

/// A parsed cluster spec.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// The built-in name or the file's path, for messages.
    pub source: String,
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub ready: ReadyTemplate,
    pub ready_timeout: Duration,
    pub adapter: Option<String>,
    pub client_port: u16,
    pub peer_port: Option<u16>,
    /// Labs and fault kinds the cluster cannot take, with the reason.
    pub refuse: BTreeMap<String, String>,
    /// Clients speak `https://` to the nodes, trusting and presenting these files (paths resolved).
    pub tls: Option<TlsFiles>,
    /// How to ask a node whether it leads (`[primary]`).
    pub primary: Option<PrimaryTemplate>,
    /// The nodes run on remote hosts (`[remote]`).
    pub remote: Option<RemoteSpec>,
}

/// What a node's placeholders are filled from, besides its lab address.
pub struct RenderContext<'a> {
    pub faultline: &'a Path,
    /// The run's folder: data in `data/NAME`, logs in `nodes/NAME.log`.
    pub run_dir: &'a RunDir,
}

impl ClusterSpec {
    /// A built-in name (`etcd`, `reference`) or the path of a spec file. An existing file wins.
    pub fn resolve(name_or_path: &str) -> Result<ClusterSpec, String> {
        let path = Path::new(name_or_path);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name_or_path}: {e}"))?;
            let mut spec = ClusterSpec::parse(&text, name_or_path)?;
            // The spec's TLS files are where the spec is, wherever faultline runs from.
            if let (Some(tls), Some(dir)) = (&mut spec.tls, path.parent()) {
                for file in [&mut tls.ca_cert, &mut tls.client_cert, &mut tls.client_key].into_iter().flatten() {
                    *file = dir.join(&*file);
                }
            }
            // So are the SSH files and the uploads (a placeholder such as {faultline} stays as it is).
            if let (Some(remote), Some(dir)) = (&mut spec.remote, path.parent()) {
                for file in [&mut remote.ssh.identity, &mut remote.ssh.known_hosts].into_iter().flatten() {
                    *file = dir.join(&*file);
                }
                for upload in &mut remote.upload {
                    if !upload.starts_with('{') {
                        *upload = dir.join(&*upload).display().to_string();
                    }
                }
            }
            return Ok(spec);
        }
        match BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            Some((name, text)) => ClusterSpec::parse(text, name),
            None => Err(format!(
                "--cluster {name_or_path:?}: no such file, and not a built-in cluster spec ({})",
                BUILT_IN.map(|(n, _)| n).join(", ")
            )),
        }
    }

    pub fn parse(text: &str, source: &str) -> Result<ClusterSpec, String> {
        let file: SpecFile = toml::from_str(text).map_err(|e| format!("cluster spec {source}: {e}"))?;
        let command = match file.command {
            Command::Words(words) => words,
            // Split as a POSIX shell would (quotes and backslashes), so an argument may hold a space.
            Command::Line(line) => shell_words::split(&line)
                .map_err(|e| format!("cluster spec {source}: `command` {line:?}: {e} (a quote is not closed)"))?,
        };
        if command.is_empty() {
            return Err(format!("cluster spec {source}: `command` is empty; it needs at least the program"));
        }
        let (ready, ready_timeout) = match file.ready {
            None => (ReadyTemplate::Tcp("{listen}".into()), Duration::from_secs(10)),
            Some(r) => {
                let ready = match (r.http, r.tcp) {
                    (Some(url), None) => ReadyTemplate::Http(url),
                    (None, Some(addr)) => ReadyTemplate::Tcp(addr),
                    (None, None) => ReadyTemplate::Tcp("{listen}".into()),
                    (Some(_), Some(_)) => {
                        return Err(format!("cluster spec {source}: `ready` takes http or tcp, not both"))
                    }
                };
                let timeout = match r.timeout {
                    Some(t) => parse_duration(&t).map_err(|e| format!("cluster spec {source}: ready.timeout: {e}"))?,
                    None => Duration::from_secs(10),
                };
                (ready, timeout)
            }
        };
        for key in file.refuse.keys() {
            let known = ["netns", "proxy", "none", "remote"].contains(&key.as_str())
                || FaultKind::ALL.iter().any(|k| k.as_str() == key);
            if !known {
                return Err(format!(
                    "cluster spec {source}: refuse.{key}: expected a lab (netns, proxy, none, remote) or a fault \
                     (partition, loss, delay, kill, pause, clock, crash)"
                ));
            }
        }
        let primary = file.primary.map(|p| parse_primary(p, source)).transpose()?;
        let remote = file.remote.map(|r| parse_remote(r, source)).transpose()?;
        Ok(ClusterSpec {
            primary,
            remote,
            source: source.to_string(),
            command,
            env: file.env.into_iter().collect(),
            ready,
            ready_timeout,
            adapter: file.adapter,
            client_port: file.client_port.unwrap_or(7000),
            peer_port: file.peer_port,
            refuse: file.refuse,
            tls: file.tls.map(|t| TlsFiles {
                ca_cert: t.ca_cert,
                client_cert: t.client_cert,
                client_key: t.client_key,
            }),
        })
    }

    /// Why the cluster cannot run in `network`, if it cannot.
    pub fn refuses_lab(&self, network: Network) -> Option<String> {
        self.refuse
            .get(network.as_str())
            .map(|why| format!("the cluster spec {} cannot run in a {} lab: {why}", self.source, network.as_str()))
    }

    /// Why the cluster cannot take `kind` of fault, if it cannot: the spec says so, or (clock) the program
    /// is one libfaketime cannot reach.
    pub fn refuses_fault(&self, kind: FaultKind, program: &Path) -> Option<String> {
        if let Some(why) = self.refuse.get(kind.as_str()) {
            return Some(format!("the cluster spec {} refuses {kind} faults: {why}", self.source));
        }
        // On remote hosts the hosts decide (faultline_nemesis::remote::refuses), once reached.
        if kind == FaultKind::Clock && self.remote.is_none() {
            return faultline_nemesis::clock::unsupported(program)
                .map(|why| format!("cannot inject clock faults into the cluster spec {}: {why}", self.source));
        }
        None
    }

    /// Checks the spec before any lab exists: fills in every placeholder for `count` nodes on made-up
    /// addresses, finds the program, and checks the faults asked for. Returns the program's path.
    pub fn check(&self, count: usize, faults: &[FaultKind], ctx: &RenderContext<'_>) -> Result<PathBuf, String> {
        let (count, remote) = match &self.remote {
            Some(r) => (r.hosts.len(), Some(RemotePaths::new("/FAULTLINE-WORKDIR".into(), &r.uploads(ctx)?))),
            None => (count, None),
        };
        let fake: Vec<SocketAddr> =
            (0..count).map(|i| SocketAddr::from((Ipv4Addr::new(10, 0, 0, i as u8 + 2), self.client_port))).collect();
        let peer: Vec<SocketAddr> =
            fake.iter().map(|a| SocketAddr::new(a.ip(), self.peer_port.unwrap_or(a.port()))).collect();
        let nodes: Vec<NodeAddress> = (0..count)
            .map(|i| NodeAddress {
                name: format!("n{}", i + 1),
                listen: fake[i],
                client_url: format!("http://{}", fake[i]),
                peer_listen: peer[i],
                peers: peer.clone(),
            })
            .collect();
        let mut program = PathBuf::new();
        for i in 0..count {
            program = self.node_in(&nodes, i, ctx, remote.as_ref())?.program;
        }
        // For remote hosts, the local file the program is uploaded from (if it is).
        if let Some(local) = remote.as_ref().and_then(|r| r.uploads.iter().find(|(_, c)| Path::new(c) == program)) {
            program = local.0.clone();
        }
        for kind in faults {
            if let Some(why) = self.refuses_fault(*kind, &program) {
                return Err(why);
            }
        }
        if self.primary.is_some() {
            self.primary_requests(&nodes, ctx)?;
        }
        Ok(program)
    }

    /// The primary probe's request to each node, placeholders filled in; none without `[primary]`.
    pub fn primary_requests(
        &self,
        nodes: &[NodeAddress],
        ctx: &RenderContext<'_>,
    ) -> Result<Vec<ProbeRequest>, String> {
        let Some(primary) = &self.primary else { return Ok(Vec::new()) };
        (0..nodes.len())
            .map(|i| {
                let url = render(&primary.url, &self.variables(nodes, i, ctx)).map_err(|e| {
                    format!("node {}: cluster spec {}: primary.request: {e}", nodes[i].name, self.source)
                })?;
                Ok(ProbeRequest {
                    node: nodes[i].name.clone(),
                    method: primary.method.clone(),
                    url,
                    body: primary.body.clone(),
                })
            })
            .collect()
    }

    /// The spec of node `i` of a lab: every placeholder filled in, the program found.
    pub fn node(&self, nodes: &[NodeAddress], i: usize, ctx: &RenderContext<'_>) -> Result<NodeSpec, String> {
        self.node_in(nodes, i, ctx, None)
    }

    /// The spec of node `i` on a remote host: `{data_dir}` in its working directory there, `{faultline}`
    /// and every command word naming an uploaded file the host's copy, the program looked up on the
    /// host when it starts (not here). The log is still `RUN/nodes/NAME.log`, fetched from the host.
    pub fn node_in(
        &self,
        nodes: &[NodeAddress],
        i: usize,
        ctx: &RenderContext<'_>,
        remote: Option<&RemotePaths>,
    ) -> Result<NodeSpec, String> {
        let node = &nodes[i];
        let context = |e: String| format!("node {}: cluster spec {}: {e}", node.name, self.source);
        let mut vars = self.variables(nodes, i, ctx);
        if let Some(paths) = remote {
            vars.insert("data_dir", paths.data_dir(&node.name));
            if let Some(copy) = paths.uploaded(ctx.faultline) {
                vars.insert("faultline", copy.to_string());
            }
        }
        let fill = |what: &str, template: &str| render(template, &vars).map_err(|e| context(format!("{what}: {e}")));
        let mut words = Vec::new();
        for (k, word) in self.command.iter().enumerate() {
            words.push(fill(&format!("command word {} ({word:?})", k + 1), word)?);
        }
        let program = match remote {
            Some(paths) => {
                for word in &mut words {
                    if let Some(copy) = paths.uploaded(Path::new(word.as_str())) {
                        *word = copy.to_string();
                    }
                }
                PathBuf::from(&words[0])
            }
            None => find_program(&words[0]).map_err(context)?,
        };
        let env = self
            .env
            .iter()
            .map(|(k, v)| Ok((k.clone(), fill(&format!("env.{k}"), v)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let ready = match &self.ready {
            ReadyTemplate::Http(url) => {
                let url = fill("ready.http", url)?;
                if !url.starts_with("http://") {
                    return Err(context(format!(
                        "ready.http: {url:?}: the readiness check speaks plain http:// only; with [tls], use \
                         ready = {{ tcp = \"{{listen}}\" }} or a plain health URL (etcd: --listen-metrics-urls)"
                    )));
                }
                Readiness::Http(url)
            }
            ReadyTemplate::Tcp(addr) => {
                let addr = fill("ready.tcp", addr)?;
                Readiness::Tcp(addr.parse().map_err(|_| context(format!("ready.tcp: {addr:?} is not IP:PORT")))?)
            }
        };
        Ok(NodeSpec {
            program,
            args: words[1..].to_vec(),
            env,
            log: ctx.run_dir.node_log(&node.name),
            ready_timeout: self.ready_timeout,
            ready,
        })
    }

    /// Where clients reach `node`: the lab's URL, or its `https://` form with `[tls]`.
    pub fn client_url(&self, node: &NodeAddress) -> String {
        match self.tls {
            Some(_) => format!("https://{}", node.listen),
            None => node.client_url.clone(),
        }
    }

    fn variables(&self, nodes: &[NodeAddress], i: usize, ctx: &RenderContext<'_>) -> BTreeMap<&'static str, String> {
        let node = &nodes[i];
        let mut vars = BTreeMap::new();
        vars.insert("id", (i + 1).to_string());
        vars.insert("index", i.to_string());
        vars.insert("name", node.name.clone());
        vars.insert("host", node.listen.ip().to_string());
        vars.insert("client_port", node.listen.port().to_string());
        vars.insert("listen", node.listen.to_string());
        vars.insert("client_url", self.client_url(node));
        if self.peer_port.is_some() {
            vars.insert("peer_port", node.peer_listen.port().to_string());
            vars.insert("peer_url", format!("http://{}", node.peer_listen));
        }
        let peers = |f: &dyn Fn(usize, &SocketAddr) -> String| -> String {
            node.peers.iter().enumerate().map(|(j, a)| f(j, a)).collect::<Vec<_>>().join(",")
        };
        vars.insert("initial_cluster", peers(&|j, a| format!("{}=http://{a}", nodes[j].name)));
        vars.insert("peers", peers(&|_, a| a.to_string()));
        vars.insert("indexed_peers", peers(&|j, a| format!("{j}={a}")));
        vars.insert("data_dir", ctx.run_dir.data_dir(&node.name).display().to_string());
        vars.insert("faultline", ctx.faultline.display().to_string());
        vars.insert("run", run_name(&ctx.run_dir.path));
        vars.insert("cluster", cluster_id(&ctx.run_dir.path));
        vars
    }
}

/// Reads `[primary]`: `request` is `METHOD URL` or a URL (GET); the rule is `pointer` with exactly one of
/// `equals` and `equals_pointer`.
fn parse_primary(p: PrimaryFile, source: &str) -> Result<PrimaryTemplate, String> {
    let bad = |what: String| format!("cluster spec {source}: primary.{what}");
    let words: Vec<&str> = p.request.split_whitespace().collect();
    let (method, url) = match words[..] {
        [url] => ("GET".to_string(), url.to_string()),
        [method, url] if method.chars().all(|c| c.is_ascii_uppercase()) => (method.to_string(), url.to_string()),
        _ => {
            return Err(bad(format!(
                "request: {:?}: expected \"METHOD URL\" or a URL, e.g. \"GET {{client_url}}/status\"",
                p.request
            )))
        }
    };
    if !p.pointer.is_empty() && !p.pointer.starts_with('/') {
        return Err(bad(format!("pointer: {:?} is not a JSON pointer (it starts with /, e.g. /role)", p.pointer)));
    }
    let rule = match (p.equals, p.equals_pointer) {
        (Some(value), None) => LeaderRule::Equals {
            pointer: p.pointer,
            value: serde_json::to_value(value).map_err(|e| bad(format!("equals: {e}")))?,
        },
        (None, Some(own)) if own.starts_with('/') => LeaderRule::SameAs { pointer: p.pointer, own },
        (None, Some(own)) => {
            return Err(bad(format!("equals_pointer: {own:?} is not a JSON pointer (it starts with /)")))
        }
        _ => {
            return Err(bad(
                "pointer: give exactly one of `equals` (a value) and `equals_pointer` (another JSON pointer)".into(),
            ))
        }
    };
    Ok(PrimaryTemplate { method, url, body: p.body, rule })
}

/// The `[remote]` table, checked: at least one host, durations and paths as a person writes them.
fn parse_remote(r: RemoteFile, source: &str) -> Result<RemoteSpec, String> {
    if r.hosts.is_empty() {
        return Err(format!("cluster spec {source}: remote.hosts is empty; it needs one host per node"));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = r.hosts.iter().find(|h| !seen.insert(h.as_str())) {
        return Err(format!("cluster spec {source}: remote.hosts names {twice} twice; one node runs per host"));
    }
    let connect_timeout = match r.connect_timeout {
        Some(t) => parse_duration(&t).map_err(|e| format!("cluster spec {source}: remote.connect_timeout: {e}"))?,
        None => Duration::from_secs(10),
    };
    let home = |p: String| -> PathBuf {
        match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            _ => PathBuf::from(p),
        }
    };
    Ok(RemoteSpec {
        hosts: r.hosts,
        ssh: SshOptions {
            user: r.user,
            port: r.port,
            identity: r.identity.map(home),
            known_hosts: r.known_hosts.map(home),
            accept_new_host_keys: r.accept_new_host_keys,
            sudo: r.sudo,
            connect_timeout,
        },
        workdir: r.workdir.unwrap_or_else(|| "/tmp/faultline".into()),
        upload: r.upload,
    })
}

/// Fills `{name}` placeholders from `vars`; `{{` and `}}` are literal braces.
pub fn render(template: &str, vars: &BTreeMap<&'static str, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
            out.push_str(&tail[..1]);
            rest = after;
            continue;
        }
        if tail.starts_with('}') {
            return Err(format!("a lone `}}` in {template:?} (write `}}}}` for a literal brace)"));
        }
        let end = tail.find('}').ok_or_else(|| format!("`{{` without its `}}` in {template:?}"))?;
        let name = &tail[1..end];
        match vars.get(name) {
            Some(value) => out.push_str(value),
            None if PLACEHOLDERS.iter().any(|(p, _)| *p == name) => {
                return Err(format!("the placeholder {{{name}}} needs `peer_port` in the spec"));
            }
            None => {
                let known: Vec<String> = PLACEHOLDERS.iter().map(|(p, _)| format!("{{{p}}}")).collect();
                return Err(format!("unknown placeholder {{{name}}}; known: {}", known.join(" ")));
            }
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The program's path: as given if it names a path, else the first executable of that name in PATH.
fn find_program(program: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let path = PathBuf::from(program);
        return if executable(&path) {
            Ok(path)
        } else if path.exists() {
            Err(format!("the program {program} is not an executable file"))
        } else {
            Err(format!("the program {program} does not exist"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
        .ok_or_else(|| format!("the program {program:?} was not found in PATH ({})", path.to_string_lossy()))
}

/// A duration as a person writes it on the command line or in a spec: `500ms`, `20s`, `2m`, `1h` (a bare
/// number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<&'static str, String> {
        [("name", "n1".to_string()), ("client_port", "2379".to_string())].into_iter().collect()
    }

    #[test]
    fn placeholders_are_filled_and_errors_say_which() {
        assert_eq!(render("--name={name} :{client_port} {{x}}", &vars()).unwrap(), "--name=n1 :2379 {x}");
        assert!(render("{nmae}", &vars()).unwrap_err().contains("unknown placeholder {nmae}"));
        assert!(render("{peer_port}", &vars()).unwrap_err().contains("needs `peer_port` in the spec"));
        assert!(render("{name", &vars()).unwrap_err().contains("without its"));
    }

    #[test]
    fn a_command_string_is_split_as_a_shell_would() {
        let spec = |command: &str| ClusterSpec::parse(&format!("command = {command:?}\n"), "t.toml");
        match spec("server --name 'my node' --flag=\"a b\" plain") {
            Ok(s) => assert_eq!(s.command, ["server", "--name", "my node", "--flag=a b", "plain"]),
            Err(e) => panic!("{e}"),
        }
        let Err(err) = spec("server --name 'unclosed") else { panic!("an unclosed quote is refused") };
        assert!(err.contains("t.toml") && err.contains("not closed"), "{err}");
    }

    #[test]
    fn the_built_in_specs_parse_and_render() {
        for (name, _) in BUILT_IN {
            let spec = ClusterSpec::resolve(name).unwrap();
            let dir = std::env::temp_dir();
            let ctx = RenderContext { faultline: Path::new("/bin/sh"), run_dir: &RunDir::at(&dir) };
            // The program may be missing here (etcd): only placeholders are checked then.
            if let Err(e) = spec.check(3, &[], &ctx) {
                assert!(e.contains("not found in PATH"), "{name}: {e}");
            }
        }
        let etcd = ClusterSpec::resolve("etcd").unwrap();
        assert!(etcd.refuses_lab(Network::Proxies).is_some());
        assert!(etcd.refuses_lab(Network::Namespaces).is_none());
        assert!(ClusterSpec::resolve("no-such-spec").unwrap_err().contains("etcd, reference"));
    }

    /// Node n1 of a one-node cluster, serving clients and peers at `listen`.
    fn lone_node(listen: SocketAddr) -> NodeAddress {
        NodeAddress {
            name: "n1".into(),
            listen,
            client_url: format!("http://{listen}"),
            peer_listen: listen,
            peers: vec![listen],
        }
    }

    #[test]
    fn tls_makes_client_urls_https_and_resolves_files_beside_the_spec() {
        let dir = std::env::temp_dir().join(format!("faultline-spec-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tls.toml");
        std::fs::write(
            &file,
            "command = \"/bin/sh {client_url}\"\nready = { tcp = \"{listen}\" }\n\
             [tls]\nca_cert = \"certs/ca.pem\"\nclient_cert = \"/abs/client.pem\"\nclient_key = \"k.pem\"\n",
        )
        .unwrap();
        let spec = ClusterSpec::resolve(file.to_str().unwrap()).unwrap();
        let tls = spec.tls.clone().unwrap();
        assert_eq!(tls.ca_cert, Some(dir.join("certs/ca.pem")));
        assert_eq!(tls.client_cert, Some(PathBuf::from("/abs/client.pem")));
        assert_eq!(tls.client_key, Some(dir.join("k.pem")));
        let ctx = RenderContext { faultline: Path::new("/bin/sh"), run_dir: &RunDir::at(&dir) };
        let listen = SocketAddr::from(([10, 0, 0, 2], 2379));
        let node = lone_node(listen);
        assert_eq!(spec.node(std::slice::from_ref(&node), 0, &ctx).unwrap().args, ["https://10.0.0.2:2379"]);
        assert_eq!(spec.client_url(&node), "https://10.0.0.2:2379");
        // The readiness check cannot speak TLS: an https:// health URL is refused before anything starts.
        let https_ready =
            ClusterSpec::parse("command = \"/bin/sh\"\nready = { http = \"{client_url}/health\" }\n[tls]\n", "t.toml")
                .unwrap();
        let e = https_ready.check(1, &[], &ctx).unwrap_err();
        assert!(e.contains("ready.http") && e.contains("plain http:// only"), "{e}");
        assert!(ClusterSpec::parse("command = \"x\"\n[tls]\nca = \"x\"\n", "t.toml").unwrap_err().contains("ca"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn primary_probes_parse_render_and_say_what_is_wrong() {
        let etcd = ClusterSpec::resolve("etcd").unwrap();
        let primary = etcd.primary.clone().unwrap();
        assert_eq!((primary.method.as_str(), primary.body.as_deref()), ("POST", Some("{}")));
        assert_eq!(primary.rule, LeaderRule::SameAs { pointer: "/leader".into(), own: "/header/member_id".into() });
        let reference = ClusterSpec::resolve("reference").unwrap().primary.unwrap();
        assert_eq!(reference.rule, LeaderRule::Equals { pointer: "/role".into(), value: serde_json::json!("primary") });
        let dir = std::env::temp_dir();
        let ctx = RenderContext { faultline: Path::new("/bin/sh"), run_dir: &RunDir::at(&dir) };
        let listen = SocketAddr::from(([10, 0, 0, 2], 2379));
        let node = lone_node(listen);
        let requests = etcd.primary_requests(std::slice::from_ref(&node), &ctx).unwrap();
        assert_eq!(requests[0].url, "http://10.0.0.2:2379/v3/maintenance/status");
        assert_eq!(requests[0].node, "n1");
        let spec =
            |primary: &str| ClusterSpec::parse(&format!("command = \"/bin/sh\"\n[primary]\n{primary}"), "t.toml");
        assert_eq!(
            spec("request = \"{client_url}/s\"\npointer = \"/leads\"\nequals = true\n")
                .unwrap()
                .primary
                .unwrap()
                .method,
            "GET"
        );
        let e = spec("request = \"GET {client_url}/s\"\npointer = \"/a\"\n").unwrap_err();
        assert!(e.contains("primary.pointer: give exactly one of `equals`"), "{e}");
        let e = spec("request = \"GET {client_url}/s\"\npointer = \"role\"\nequals = 1\n").unwrap_err();
        assert!(e.contains("not a JSON pointer"), "{e}");
        let e = spec("request = \"get it now\"\npointer = \"/a\"\nequals = 1\n").unwrap_err();
        assert!(e.contains("primary.request"), "{e}");
        let e =
            spec("request = \"{nope}/s\"\npointer = \"/a\"\nequals = 1\n").unwrap().check(1, &[], &ctx).unwrap_err();
        assert!(e.contains("node n1: cluster spec t.toml: primary.request: unknown placeholder {nope}"), "{e}");
    }

    #[test]
    fn a_remote_table_parses_and_renders_paths_on_the_hosts() {
        let dir = std::env::temp_dir().join(format!("faultline-spec-remote-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hosts.toml");
        std::fs::write(
            &file,
            "command = [\"{faultline}\", \"node\", \"--data-dir\", \"{data_dir}\", \"--listen\", \"{listen}\"]\n\
             [remote]\nhosts = [\"10.0.0.1\", \"10.0.0.2\"]\nuser = \"admin\"\nport = 2222\nidentity = \"keys/id\"\n\
             sudo = true\nworkdir = \"/srv/fl/{host}\"\nupload = [\"{faultline}\"]\nconnect_timeout = \"3s\"\n",
        )
        .unwrap();
        let spec = ClusterSpec::resolve(file.to_str().unwrap()).unwrap();
        let remote = spec.remote.clone().unwrap();
        assert_eq!(remote.ssh.user.as_deref(), Some("admin"));
        assert_eq!(remote.ssh.port, Some(2222));
        assert_eq!(remote.ssh.identity, Some(dir.join("keys/id")), "relative to the spec");
        assert!(remote.ssh.sudo && !remote.ssh.accept_new_host_keys);
        assert_eq!(remote.ssh.connect_timeout, Duration::from_secs(3));
        assert_eq!(remote.roots(), ["/srv/fl/10.0.0.1", "/srv/fl/10.0.0.2"]);
        // {faultline} and {data_dir} are the host's copies; the program is not looked up here.
        let ctx = RenderContext { faultline: Path::new("/bin/sh"), run_dir: &RunDir::at(&dir) };
        assert_eq!(spec.check(5, &[FaultKind::Clock], &ctx).unwrap(), PathBuf::from("/bin/sh"), "the local original");
        let paths = RemotePaths::new("/srv/fl/10.0.0.1/run1".into(), &remote.uploads(&ctx).unwrap());
        let listen = SocketAddr::from(([10, 0, 0, 1], 7000));
        let node = lone_node(listen);
        let rendered = spec.node_in(std::slice::from_ref(&node), 0, &ctx, Some(&paths)).unwrap();
        assert_eq!(rendered.program, PathBuf::from("/srv/fl/10.0.0.1/run1/bin/sh"));
        assert_eq!(rendered.args, ["node", "--data-dir", "/srv/fl/10.0.0.1/run1/data/n1", "--listen", "10.0.0.1:7000"]);
        std::fs::remove_dir_all(&dir).unwrap();

        let bad =
            |remote: &str| ClusterSpec::parse(&format!("command = \"x\"\n[remote]\n{remote}\n"), "t.toml").unwrap_err();
        assert!(bad("hosts = []").contains("remote.hosts is empty"));
        assert!(bad("hosts = [\"a\", \"a\"]").contains("names a twice"));
        assert!(bad("hosts = [\"a\"]\nconnect_timeout = \"soon\"").contains("remote.connect_timeout"));
        assert!(bad("hosts = [\"a\"]\npasword = \"x\"").contains("pasword"));
        let missing =
            ClusterSpec::parse("command = \"x\"\n[remote]\nhosts = [\"a\"]\nupload = [\"/no/such/file\"]\n", "t.toml");
        let ctx = RenderContext { faultline: Path::new("/bin/sh"), run_dir: &RunDir::at(Path::new("/tmp")) };
        assert!(missing.unwrap().check(1, &[], &ctx).unwrap_err().contains("/no/such/file is not a file here"));
    }

    #[test]
    fn a_missing_program_names_the_node() {
        let spec = ClusterSpec::parse(r#"command = "no-such-server-xyz --port {client_port}""#, "t.toml").unwrap();
        let dir = std::env::temp_dir();
        let ctx = RenderContext { faultline: Path::new("/bin/sh"), run_dir: &RunDir::at(&dir) };
        let e = spec.check(3, &[], &ctx).unwrap_err();
        assert!(e.starts_with("node n1: cluster spec t.toml: the program \"no-such-server-xyz\" was not found"), "{e}");
    }
}
