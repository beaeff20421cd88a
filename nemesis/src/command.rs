//! The command backend: faults for clusters faultline does not start (real machines, containers), as
//! shell command templates from a TOML file. faultline still schedules, records and heals; the commands
//! are the user's mechanism.
//!
//! ```toml
//! [nodes]                      # the name each target has in the history -> its host, for {host}
//! n1 = "10.0.0.1"
//! n2 = "10.0.0.2"
//!
//! [partition]                  # run once per node that drops traffic; {sources} are the hosts it drops
//! start = "ssh {host} nft add rule inet filter input ip saddr '{ {sources|,} }' drop"
//! stop = "ssh {host} nft flush chain inet filter input"
//!
//! [kill]                       # run once per target node
//! start = "ssh {host} pkill -KILL etcd"
//! stop = "ssh {host} systemctl start etcd"
//! ```
//!
//! Sections: `partition`, `loss` ({percent}), `delay` ({delay_ms}, {jitter_ms}), `kill`, `pause`, `clock`
//! ({offset_ms}); each has `start` and `stop`. Every template may use {node} and {host}. A command that
//! fails (non-zero exit) fails the fault, and its output is recorded.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::fault::{ClockSkew, Fault, FaultKind};
use crate::target::FaultTarget;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Commands {
    start: String,
    stop: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    nodes: BTreeMap<String, String>,
    partition: Option<Commands>,
    loss: Option<Commands>,
    delay: Option<Commands>,
    kill: Option<Commands>,
    pause: Option<Commands>,
    clock: Option<Commands>,
}

#[derive(Debug)]
pub struct CommandBackend {
    source: String,
    nodes: BTreeMap<String, String>,
    commands: BTreeMap<FaultKind, Commands>,
}

const PLACEHOLDERS: [&str; 8] =
    ["node", "host", "sources", "sources|,", "percent", "delay_ms", "jitter_ms", "offset_ms"];

impl CommandBackend {
    pub fn load(path: &Path) -> Result<CommandBackend, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        CommandBackend::parse(&path.display().to_string(), &text)
    }

    pub fn parse(source: &str, text: &str) -> Result<CommandBackend, String> {
        let file: File = toml::from_str(text).map_err(|e| format!("{source}: {e}"))?;
        if file.nodes.is_empty() {
            return Err(format!("{source}: [nodes] names no node"));
        }
        let mut commands = BTreeMap::new();
        for (kind, c) in [
            (FaultKind::Partition, file.partition),
            (FaultKind::Loss, file.loss),
            (FaultKind::Delay, file.delay),
            (FaultKind::Kill, file.kill),
            (FaultKind::Pause, file.pause),
            (FaultKind::Clock, file.clock),
        ] {
            if let Some(c) = c {
                for template in [&c.start, &c.stop] {
                    check_template(template).map_err(|e| format!("{source}: [{kind}]: {e}"))?;
                }
                commands.insert(kind, c);
            }
        }
        Ok(CommandBackend { source: source.to_string(), nodes: file.nodes, commands })
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    pub fn refuses(&self, kind: FaultKind) -> Option<String> {
        if kind == FaultKind::Crash {
            return Some(
                "a crash drops the writes a node had not synced, which needs faultline's lazy filesystem \
                         under the node's data directory: only clusters faultline starts (--cluster, or the \
                         reference cluster) can crash"
                    .into(),
            );
        }
        (!self.commands.contains_key(&kind)).then(|| format!("{} has no [{kind}] section", self.source))
    }

    pub async fn start_fault(&self, fault: &Fault) -> Result<Value, String> {
        self.run(fault, true).await
    }

    pub async fn stop_fault(&self, fault: &Fault) -> Result<Value, String> {
        self.run(fault, false).await
    }

    async fn run(&self, fault: &Fault, start: bool) -> Result<Value, String> {
        let kind = fault.kind();
        if matches!(fault, Fault::IsolateClients { .. }) {
            return Err("the command backend cannot cut clients off; use a grudge".into());
        }
        let commands = self.commands.get(&kind).ok_or_else(|| self.refuses(kind).unwrap_or_default())?;
        let template = if start { &commands.start } else { &commands.stop };
        let mut ran = Vec::new();
        let targets: Vec<(String, Vec<String>)> = match fault {
            Fault::Partition { grudge, .. } => {
                grudge.iter().map(|(victim, sources)| (victim.clone(), sources.iter().cloned().collect())).collect()
            }
            other => other.nodes().into_iter().map(|n| (n, Vec::new())).collect(),
        };
        for (node, sources) in targets {
            let host = self.nodes.get(&node).ok_or_else(|| format!("{}: [nodes] has no {node}", self.source))?;
            let source_hosts: Vec<&str> =
                sources.iter().filter_map(|s| self.nodes.get(s).map(String::as_str)).collect();
            let mut vars: BTreeMap<&str, String> = BTreeMap::new();
            vars.insert("node", node.clone());
            vars.insert("host", host.clone());
            vars.insert("sources", source_hosts.join(" "));
            vars.insert("sources|,", source_hosts.join(", "));
            match fault {
                Fault::Loss { percent, .. } => {
                    vars.insert("percent", percent.to_string());
                }
                Fault::Delay { delay, jitter, .. } => {
                    vars.insert("delay_ms", delay.as_millis().to_string());
                    vars.insert("jitter_ms", jitter.as_millis().to_string());
                }
                Fault::Clock { skew, .. } => {
                    let offset = match skew {
                        ClockSkew::Bump { offset_ms } | ClockSkew::Strobe { offset_ms, .. } => *offset_ms,
                    };
                    vars.insert("offset_ms", if start { offset } else { 0 }.to_string());
                }
                _ => {}
            }
            let command = fill(template, &vars);
            let out = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .map_err(|e| format!("cannot run sh: {e}"))?;
            let text = |b: &[u8]| String::from_utf8_lossy(b).trim().chars().take(500).collect::<String>();
            if !out.status.success() {
                return Err(format!("`{command}` failed ({}): {}", out.status, text(&out.stderr)));
            }
            ran.push(json!({"node": node, "command": command, "output": text(&out.stdout)}));
        }
        Ok(json!({ "commands": ran }))
    }
}

fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        // Braces that hold spaces are the command's own (e.g. an nft set), not placeholders.
        if !name.contains(char::is_whitespace) && !name.is_empty() && !PLACEHOLDERS.contains(&name) {
            return Err(format!("unknown placeholder {{{name}}} in {template:?}; known: {}", PLACEHOLDERS.join(", ")));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

fn fill(template: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = template.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

impl FaultTarget for CommandBackend {
    fn node_names(&self) -> Vec<String> {
        CommandBackend::node_names(self)
    }

    fn refuses(&self, kind: FaultKind) -> Option<String> {
        CommandBackend::refuses(self, kind)
    }

    fn start_fault<'a>(&'a mut self, fault: &'a Fault) -> LocalBoxFuture<'a, Result<Value, String>> {
        Box::pin(CommandBackend::start_fault(self, fault))
    }

    fn stop_fault<'a>(&'a mut self, fault: &'a Fault) -> LocalBoxFuture<'a, Result<Value, String>> {
        Box::pin(CommandBackend::stop_fault(self, fault))
    }

    /// The commands file's stop commands are the heal: there is nothing more to undo.
    fn heal_all(&mut self) -> Option<LocalBoxFuture<'_, Result<Value, String>>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[tokio::test]
    async fn runs_the_templates_for_each_target() {
        let dir = std::env::temp_dir().join(format!("faultline-command-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let text = format!(
            "[nodes]\nn1 = \"h1\"\nn2 = \"h2\"\nn3 = \"h3\"\n[partition]\nstart = \"echo cut {{host}} from {{sources|,}} >> {log}\"\nstop = \"echo heal {{host}} >> {log}\"\n[kill]\nstart = \"echo kill {{node}} >> {log}\"\nstop = \"exit 3\"\n",
            log = log.display()
        );
        let backend = CommandBackend::parse("test.toml", &text).unwrap();
        assert_eq!(backend.node_names(), vec!["n1", "n2", "n3"]);
        assert!(backend.refuses(FaultKind::Pause).unwrap().contains("no [pause] section"));
        let mut grudge = crate::fault::Grudge::new();
        grudge.insert("n1".into(), BTreeSet::from(["n2".into(), "n3".into()]));
        let partition = Fault::Partition { shape: "explicit".into(), grudge };
        backend.start_fault(&partition).await.unwrap();
        backend.stop_fault(&partition).await.unwrap();
        let kill = Fault::Kill { nodes: vec!["n2".into()] };
        backend.start_fault(&kill).await.unwrap();
        let e = backend.stop_fault(&kill).await.unwrap_err();
        assert!(e.contains("`exit 3` failed"), "{e}");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "cut h1 from h2, h3\nheal h1\nkill n2\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let e = CommandBackend::parse("f.toml", "[nodes]\nn1 = \"h\"\n[kill]\nstart = \"kill {pid}\"\nstop = \"x\"\n")
            .unwrap_err();
        assert!(e.contains("unknown placeholder {pid}"), "{e}");
        let e = CommandBackend::parse("f.toml", "[nodes]\n[kill]\nstart = \"x\"\nstop = \"y\"\n").unwrap_err();
        assert!(e.contains("names no node"), "{e}");
        let e = CommandBackend::parse("f.toml", "[nodes]\nn1 = \"h\"\n[flood]\nstart = \"x\"\n").unwrap_err();
        assert!(e.contains("unknown field `flood`"), "{e}");
    }
}
