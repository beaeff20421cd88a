//! The register workload's generator: which operation a client runs next.
//!
//! Keys rotate as in Jepsen's independent generator: a fixed number of key *slots* is active, and a slot
//! whose key has had `ops_per_key` operations moves on to a fresh key, so every key's history stays short
//! and cheap to check whatever the length of the run. Written values are unique and increasing per key,
//! which lets the checker decide each key in polynomial time. A compare-and-set compares against the
//! last value written to its key, so that many succeed.

use faultline_checker::Value;
use faultline_rng::Rng;

use crate::adapter::Op;

#[derive(Clone, Debug)]
pub struct Mix {
    pub read: u32,
    pub write: u32,
    pub cas: u32,
}

impl Mix {
    /// Parses `read:write:cas` weights, e.g. `2:1:1`.
    pub fn parse(s: &str) -> Result<Mix, String> {
        let parts: Vec<u32> = s
            .split(':')
            .map(|p| p.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("expected operation weights read:write:cas such as 2:1:1, not {s:?}"))?;
        match parts[..] {
            [read, write, cas] if read + write + cas > 0 => Ok(Mix { read, write, cas }),
            _ => Err(format!("expected three weights read:write:cas, not all zero, such as 2:1:1, not {s:?}")),
        }
    }
}

/// `2:1:1`, as `--mix` takes it.
impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.read, self.write, self.cas)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDistribution {
    Uniform,
    /// Slot `i` (from 1) is chosen with probability proportional to 1 / i^s.
    Zipf(f64),
}

impl KeyDistribution {
    /// `uniform`, `zipf` (s = 1) or `zipf:S`.
    pub fn parse(s: &str) -> Result<KeyDistribution, String> {
        match s.split_once(':') {
            None if s == "uniform" => Ok(KeyDistribution::Uniform),
            None if s == "zipf" => Ok(KeyDistribution::Zipf(1.0)),
            Some(("zipf", e)) => match e.parse::<f64>() {
                Ok(e) if e > 0.0 && e.is_finite() => Ok(KeyDistribution::Zipf(e)),
                _ => Err(format!("the zipf exponent must be a positive number, not {e:?}")),
            },
            _ => Err(format!("expected a key distribution uniform, zipf or zipf:S, not {s:?}")),
        }
    }
}

/// `uniform` or `zipf:S`, as `--key-dist` takes it.
impl std::fmt::Display for KeyDistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyDistribution::Uniform => f.write_str("uniform"),
            KeyDistribution::Zipf(s) => write!(f, "zipf:{s}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RegisterWorkload {
    pub mix: Mix,
    /// Keys active at once.
    pub keys: usize,
    pub distribution: KeyDistribution,
    /// Operations a key gets before its slot moves on to a fresh key.
    pub ops_per_key: usize,
    pub seed: u64,
    /// Put before every key's name. Stores keep keys between runs, and a key a previous run wrote does not
    /// start empty, so each run should use its own prefix.
    pub key_prefix: String,
}

struct Slot {
    key: u64,
    ops: usize,
    last_written: Option<i64>,
    next_value: i64,
}

/// The generator's state; one per run, shared by the clients.
pub struct Generator {
    spec: RegisterWorkload,
    rng: Rng,
    slots: Vec<Slot>,
    next_key: u64,
    cdf: Vec<f64>,
    /// Every key that has been used, for the final reads.
    used: Vec<u64>,
}

impl Generator {
    pub fn new(spec: RegisterWorkload) -> Generator {
        let slots = spec.keys.max(1);
        let weights: Vec<f64> = match spec.distribution {
            KeyDistribution::Uniform => vec![1.0; slots],
            KeyDistribution::Zipf(s) => (1..=slots).map(|i| 1.0 / (i as f64).powf(s)).collect(),
        };
        let total: f64 = weights.iter().sum();
        let cdf = weights.iter().scan(0.0, |acc, w| {
            *acc += w / total;
            Some(*acc)
        });
        Generator {
            rng: Rng(spec.seed),
            slots: (0..slots as u64).map(|key| Slot { key, ops: 0, last_written: None, next_value: 1 }).collect(),
            next_key: slots as u64,
            cdf: cdf.collect(),
            used: Vec::new(),
            spec,
        }
    }

    pub fn key_name(&self, key: u64) -> String {
        format!("{}k{key}", self.spec.key_prefix)
    }

    /// The next operation: its key and what to do.
    pub fn next_op(&mut self) -> (String, Op) {
        let u = self.rng.unit();
        let s = self.cdf.partition_point(|&c| c < u).min(self.slots.len() - 1);
        if self.slots[s].ops >= self.spec.ops_per_key.max(1) {
            self.slots[s] = Slot { key: self.next_key, ops: 0, last_written: None, next_value: 1 };
            self.next_key += 1;
        }
        let slot = &mut self.slots[s];
        if slot.ops == 0 {
            self.used.push(slot.key);
        }
        slot.ops += 1;
        let Mix { read, write, cas } = self.spec.mix;
        let pick = self.rng.below(u64::from(read + write + cas)) as u32;
        let op = if pick < read {
            Op::Read
        } else {
            let value = slot.next_value;
            slot.next_value += 1;
            if pick < read + write {
                slot.last_written = Some(value);
                Op::Write(Value::Int(value))
            } else {
                let from = slot.last_written.map_or(Value::Null, Value::Int);
                slot.last_written = Some(value);
                Op::Cas(from, Value::Int(value))
            }
        };
        let key = slot.key;
        (self.key_name(key), op)
    }

    /// Every key that received an operation, in the order they were first used.
    pub fn used_keys(&self) -> Vec<String> {
        self.used.iter().map(|&k| self.key_name(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(keys: usize, distribution: KeyDistribution) -> RegisterWorkload {
        RegisterWorkload {
            mix: Mix::parse("1:1:1").unwrap(),
            keys,
            distribution,
            ops_per_key: 10,
            seed: 5,
            key_prefix: String::new(),
        }
    }

    #[test]
    fn keys_rotate_and_written_values_are_unique_per_key() {
        let mut g = Generator::new(spec(3, KeyDistribution::Uniform));
        let mut per_key: std::collections::HashMap<String, Vec<i64>> = Default::default();
        let mut counts: std::collections::HashMap<String, usize> = Default::default();
        for _ in 0..300 {
            let (key, op) = g.next_op();
            *counts.entry(key.clone()).or_default() += 1;
            match op {
                Op::Write(Value::Int(v)) | Op::Cas(_, Value::Int(v)) => per_key.entry(key).or_default().push(v),
                Op::Read => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(counts.values().all(|&c| c <= 10), "a key got more than ops_per_key operations");
        assert!(counts.len() >= 30, "keys did not rotate: {}", counts.len());
        for values in per_key.values() {
            assert!(values.windows(2).all(|w| w[0] < w[1]), "values not unique and increasing: {values:?}");
        }
        assert_eq!(g.used_keys().len(), counts.len());
    }

    #[test]
    fn zipf_prefers_the_first_slots() {
        let mut g =
            Generator::new(RegisterWorkload { ops_per_key: usize::MAX, ..spec(10, KeyDistribution::Zipf(1.5)) });
        let mut hits = [0usize; 10];
        for _ in 0..5000 {
            let (key, _) = g.next_op();
            hits[key[1..].parse::<usize>().unwrap()] += 1;
        }
        assert!(hits[0] > 3 * hits[3] && hits[3] > hits[9], "{hits:?}");
    }

    #[test]
    fn bad_options_say_what_was_expected() {
        assert!(Mix::parse("1:x:1").unwrap_err().contains("read:write:cas"));
        assert!(Mix::parse("0:0:0").unwrap_err().contains("not all zero"));
        assert!(KeyDistribution::parse("zipf:-1").unwrap_err().contains("positive"));
        assert_eq!(KeyDistribution::parse("zipf:1.2"), Ok(KeyDistribution::Zipf(1.2)));
    }

    #[test]
    fn options_print_as_they_parse() {
        assert_eq!(Mix::parse("3:0:1").unwrap().to_string(), "3:0:1");
        for dist in ["uniform", "zipf:1.5"] {
            assert_eq!(KeyDistribution::parse(dist).unwrap().to_string(), dist);
        }
        assert_eq!(KeyDistribution::parse("zipf").unwrap().to_string(), "zipf:1");
    }
}
