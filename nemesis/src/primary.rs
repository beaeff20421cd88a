//! Who the primary is, asked of the cluster itself right before a fault aimed at `primaries`: one HTTP
//! request per node, and a rule saying where in each JSON answer the node tells whether it leads. The
//! reference node answers `GET /status` with its role; etcd's `POST /v3/maintenance/status` names the
//! leader's member id beside the node's own. What the probe found (which nodes lead, or why none did) is
//! recorded with the fault.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where an answer says that its node leads.
#[derive(Clone, Debug, PartialEq)]
pub enum LeaderRule {
    /// The value at the JSON pointer equals this value (the reference node: `/role` = `"primary"`).
    Equals { pointer: String, value: Value },
    /// The value at `pointer` equals the value at `own` in the same answer (etcd: `/leader` equals
    /// `/header/member_id`).
    SameAs { pointer: String, own: String },
}

impl LeaderRule {
    /// Whether the answer says its node leads; the error says what the answer held instead.
    fn leads(&self, answer: &Value) -> Result<bool, String> {
        let at = |pointer: &str| {
            answer.pointer(pointer).ok_or_else(|| format!("the answer has nothing at {pointer}: {}", short(answer)))
        };
        match self {
            LeaderRule::Equals { pointer, value } => Ok(at(pointer)? == value),
            LeaderRule::SameAs { pointer, own } => Ok(at(pointer)? == at(own)?),
        }
    }

    /// The rule as the record shows it.
    fn describe(&self) -> String {
        match self {
            LeaderRule::Equals { pointer, value } => format!("{pointer} = {value}"),
            LeaderRule::SameAs { pointer, own } => format!("{pointer} = {own}"),
        }
    }
}

/// The request that asks one node whether it leads.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeRequest {
    pub node: String,
    pub method: String,
    pub url: String,
    /// Sent as `application/json` when present.
    pub body: Option<String>,
}

/// A cluster's primary probe: a request per node, the rule, and the client that sends them (built by the
/// run, so that it speaks the cluster's TLS).
#[derive(Clone, Debug)]
pub struct PrimaryProbe {
    pub requests: Vec<ProbeRequest>,
    pub rule: LeaderRule,
    pub client: reqwest::Client,
    /// Each node's answer may take this long.
    pub timeout: Duration,
}

/// What one asking found.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The nodes that said they lead, in node order.
    pub primaries: Vec<String>,
    /// Each node's answer: `primary`, `not primary (...)` or why it could not say.
    pub answers: BTreeMap<String, String>,
    pub took: Duration,
    /// The rule, for the record.
    pub rule: String,
}

impl Finding {
    /// Why no primary was found, naming each node's answer; `None` when one was.
    pub fn none_because(&self) -> Option<String> {
        if !self.primaries.is_empty() {
            return None;
        }
        let answers: Vec<String> = self.answers.iter().map(|(n, a)| format!("{n}: {a}")).collect();
        Some(format!("no node answered as primary ({})", answers.join("; ")))
    }

    /// The finding as the history records it with the fault.
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "primaries": self.primaries,
            "answers": self.answers,
            "rule": self.rule,
            "asked_ms": self.took.as_millis() as u64,
        });
        if let Some(why) = self.none_because() {
            value["none"] = json!(why);
        }
        value
    }
}

impl PrimaryProbe {
    /// Asks every node at once; a node that does not answer in time is not a primary, and says why.
    pub async fn find(&self) -> Finding {
        let started = Instant::now();
        let mut asks = tokio::task::JoinSet::new();
        for (i, request) in self.requests.iter().enumerate() {
            let (client, request, rule, timeout) =
                (self.client.clone(), request.clone(), self.rule.clone(), self.timeout);
            asks.spawn(async move { (i, ask(&client, &request, &rule, timeout).await) });
        }
        let mut answers: Vec<Option<Result<bool, String>>> = vec![None; self.requests.len()];
        while let Some(joined) = asks.join_next().await {
            if let Ok((i, answer)) = joined {
                answers[i] = Some(answer);
            }
        }
        let mut finding = Finding {
            primaries: Vec::new(),
            answers: BTreeMap::new(),
            took: Duration::ZERO,
            rule: self.rule.describe(),
        };
        for (request, answer) in self.requests.iter().zip(answers) {
            let said = match answer.unwrap_or_else(|| Err("the probe task failed".into())) {
                Ok(true) => {
                    finding.primaries.push(request.node.clone());
                    "primary".to_string()
                }
                Ok(false) => "not primary".to_string(),
                Err(e) => e,
            };
            finding.answers.insert(request.node.clone(), said);
        }
        finding.took = started.elapsed();
        finding
    }
}

async fn ask(
    client: &reqwest::Client,
    request: &ProbeRequest,
    rule: &LeaderRule,
    timeout: Duration,
) -> Result<bool, String> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = client.request(method, &request.url).timeout(timeout);
    if let Some(body) = &request.body {
        builder = builder.header("content-type", "application/json").body(body.clone());
    }
    let what = format!("{} {}", request.method, request.url);
    let response = builder.send().await.map_err(|e| format!("{what}: no answer ({})", root_cause(&e)))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| format!("{what}: the answer broke off ({})", root_cause(&e)))?;
    if !status.is_success() {
        return Err(format!("{what}: status {}", status.as_u16()));
    }
    let answer: Value = serde_json::from_slice(&bytes).map_err(|e| {
        format!("{what}: not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(120)]))
    })?;
    rule.leads(&answer).map_err(|e| format!("{what}: {e}"))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(160) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_the_answers_of_the_reference_node_and_etcd() {
        let role = LeaderRule::Equals { pointer: "/role".into(), value: json!("primary") };
        assert_eq!(role.leads(&json!({"role": "primary", "leader": 0})), Ok(true));
        assert_eq!(role.leads(&json!({"role": "follower", "leader": 0})), Ok(false));
        assert!(role.leads(&json!({"ok": true})).unwrap_err().contains("nothing at /role"));
        // etcd 3.4's maintenance status (ids are strings there).
        let etcd = LeaderRule::SameAs { pointer: "/leader".into(), own: "/header/member_id".into() };
        let status = |own: &str| json!({"header": {"member_id": own}, "leader": "13668033151171901709"});
        assert_eq!(etcd.leads(&status("13668033151171901709")), Ok(true));
        assert_eq!(etcd.leads(&status("42")), Ok(false));
    }

    #[test]
    fn a_finding_without_a_primary_says_why_for_each_node() {
        let finding = Finding {
            primaries: vec![],
            answers: BTreeMap::from([
                ("n1".to_string(), "GET http://x/status: no answer (connection refused)".to_string()),
                ("n2".to_string(), "not primary".to_string()),
            ]),
            took: Duration::from_millis(3),
            rule: "/role = \"primary\"".into(),
        };
        let why = finding.none_because().unwrap();
        assert!(why.contains("n1: GET http://x/status: no answer") && why.contains("n2: not primary"), "{why}");
        assert_eq!(finding.to_json()["none"], json!(why));
    }
}
