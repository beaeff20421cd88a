//! `eventual` mode: leaderless, last writer wins. Every node accepts reads, writes and compare-and-sets
//! on its own state. A write is stamped with the node's wall clock (nanoseconds since the epoch) and its
//! id; a node keeps, per key, the write with the greatest stamp, persists every write it keeps (fsynced),
//! and sends its whole state to every peer every 100 ms. Nodes converge once they can talk; a node whose
//! clock runs behind loses its writes to older ones, acknowledged or not.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::log::{Entry, Log};

/// A write as kept: the value and its stamp (wall-clock nanoseconds, node id).
#[derive(Clone, Debug, PartialEq)]
pub struct Stamped {
    pub value: Value,
    pub stamp: (u128, usize),
}

pub struct Store {
    pub keys: HashMap<String, Stamped>,
}

impl Store {
    /// Rebuilds the state from a log of stamped writes.
    pub fn recover(log: &Log) -> Store {
        let mut store = Store { keys: HashMap::new() };
        for entry in log.entries() {
            if let Some(stamped) = decode(&entry.value) {
                store.merge(&entry.key, stamped);
            }
        }
        store
    }

    /// Keeps `write` if it is newer than what the key holds; true if it was kept.
    pub fn merge(&mut self, key: &str, write: Stamped) -> bool {
        match self.keys.get(key) {
            Some(current) if current.stamp >= write.stamp => false,
            _ => {
                self.keys.insert(key.to_string(), write);
                true
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.keys.get(key).map(|s| &s.value)
    }

    /// Everything, as gossip.
    pub fn gossip(&self) -> Value {
        let entries: Vec<Value> = self.keys.iter().map(|(k, s)| json!({"key": k, "write": encode(s)})).collect();
        json!({ "entries": entries })
    }
}

pub fn now_stamp(node: usize) -> (u128, usize) {
    (SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()), node)
}

/// How a stamped write is stored in a log entry's value.
pub fn encode(s: &Stamped) -> Value {
    json!({"value": s.value, "ns": s.stamp.0.to_string(), "node": s.stamp.1})
}

pub fn decode(v: &Value) -> Option<Stamped> {
    let ns = v.get("ns")?.as_str()?.parse().ok()?;
    let node = v.get("node")?.as_u64()? as usize;
    Some(Stamped { value: v.get("value")?.clone(), stamp: (ns, node) })
}

pub fn entry(key: &str, s: &Stamped) -> Entry {
    Entry { term: 0, key: key.to_string(), value: encode(s) }
}

/// The writes in a gossip message.
pub fn parse_gossip(body: &[u8]) -> Option<Vec<(String, Stamped)>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("entries")?
        .as_array()?
        .iter()
        .map(|e| Some((e.get("key")?.as_str()?.to_string(), decode(e.get("write")?)?)))
        .collect()
}
