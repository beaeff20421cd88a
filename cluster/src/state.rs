//! What every mode keeps: its log, and the state the log comes to (every entry applied, in order).

use std::collections::HashMap;

use serde_json::Value;
use tracing::info;

use crate::config::{Config, Mode};
use crate::log::{Durability, Entry, Log};

pub struct Core {
    pub log: Log,
    /// Every log entry applied.
    pub state: HashMap<String, Value>,
}

impl Core {
    /// The log in the data directory, as durable as the mode makes it, and its state; says in the
    /// node's log what it found.
    pub fn open(config: &Config) -> Result<Core, String> {
        let durability = match config.mode {
            Mode::Linearizable | Mode::StaleLeader | Mode::Sequential | Mode::Eventual => Durability::Fsync,
            Mode::Unsafe => Durability::Lazy,
            Mode::NoSync => Durability::Unsynced,
        };
        let log = Log::open(&config.data_dir, durability)
            .map_err(|e| format!("cannot open the log in {}: {e}", config.data_dir.display()))?;
        let mut state = HashMap::new();
        apply(&mut state, log.entries());
        let torn = match log.torn() {
            0 => String::new(),
            bytes => format!("; a torn tail of {bytes} bytes dropped"),
        };
        let (entries, keys) = (count(log.len(), "entry", "entries"), count(state.len(), "key", "keys"));
        info!("log restored: {entries} ({keys}) from {}{torn}", config.data_dir.display());
        Ok(Core { log, state })
    }

    /// Rebuilds `state` from the whole log (after its tail was cut).
    pub fn reapply(&mut self) {
        self.state.clear();
        apply(&mut self.state, self.log.entries());
    }
}

/// Applies entries in order, each one's writes at once.
pub fn apply(state: &mut HashMap<String, Value>, entries: &[Entry]) {
    for (key, value) in entries.iter().flat_map(|e| &e.writes) {
        state.insert(key.clone(), value.clone());
    }
}

/// "1 entry", "2 entries".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
