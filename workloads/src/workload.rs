//! The workload of a run, as one value: which operations its clients send through an adapter, the
//! generator that picks each client's next one, and the model the checker holds the history to. The
//! runner and the harness ask a [`Workload`] for these and know nothing else of it.
//!
//! Only the register workload exists today. A new one (list-append or rw-register transactions, whose
//! checker and list-append generator of histories are `faultline_checker::txn`) plugs in here:
//!
//! 1. a [`WorkloadKind`] variant, with its `--workload` name in [`WorkloadKind::as_str`];
//! 2. a [`Workload`] variant holding its settings, built by the harness's `prepare` from the flags;
//! 3. its generator (a sibling of [`crate::generator`]) behind [`Workload::generator`], its operations
//!    in [`Workload::operations`] (and in [`crate::adapter::Op`], for the adapters to send), and its model
//!    in [`Workload::model`].
//!
//! The run flow (`faultline_harness::run`) does not change: it builds the run's [`Workload`] once and
//! hands it to the runner and the checker.

use faultline_checker::model::ModelKind;

use crate::generator::{Generator, RegisterWorkload};

/// The workloads `faultline test --workload` knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkloadKind {
    /// Single-key reads, writes and compare-and-sets on rotating keys, checked as a CAS register.
    #[default]
    Register,
}

impl WorkloadKind {
    /// Every workload, for messages.
    pub const ALL: [WorkloadKind; 1] = [WorkloadKind::Register];

    /// Its name on the command line and in a run's `config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
        }
    }
}

impl std::str::FromStr for WorkloadKind {
    type Err = String;

    fn from_str(s: &str) -> Result<WorkloadKind, String> {
        WorkloadKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = WorkloadKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown workload {s:?}; expected one of {}", names.join(", "))
        })
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One run's workload, with its settings.
#[derive(Clone, Debug)]
pub enum Workload {
    Register(RegisterWorkload),
}

impl Workload {
    pub fn kind(&self) -> WorkloadKind {
        match self {
            Workload::Register(_) => WorkloadKind::Register,
        }
    }

    /// The operations its clients send through the adapter (their `f` in the history).
    pub fn operations(&self) -> &'static [&'static str] {
        match self {
            Workload::Register(_) => &["read", "write", "cas"],
        }
    }

    /// A fresh generator of its operations; one per run, shared by the clients.
    pub fn generator(&self) -> Generator {
        match self {
            Workload::Register(register) => Generator::new(register.clone()),
        }
    }

    /// The model its history is checked against.
    pub fn model(&self) -> ModelKind {
        match self {
            Workload::Register(_) => ModelKind::CasRegister,
        }
    }

    /// The seed its generator draws from (the clients' backoff derives from it too).
    pub fn seed(&self) -> u64 {
        match self {
            Workload::Register(register) => register.seed,
        }
    }

    /// Its settings as a run's report shows them: "register, mix 2:1:1, 5 keys (uniform)".
    pub fn describe(&self) -> String {
        match self {
            Workload::Register(r) => format!("register, mix {}, {} keys ({})", r.mix, r.keys, r.distribution),
        }
    }

    /// Puts `prefix` before every key it uses: stores keep keys between runs, so each run uses its own.
    pub fn set_key_prefix(&mut self, prefix: String) {
        match self {
            Workload::Register(register) => register.key_prefix = prefix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::Op;
    use crate::generator::{KeyDistribution, Mix};

    #[test]
    fn names_round_trip_and_an_unknown_one_lists_the_known() {
        for kind in WorkloadKind::ALL {
            assert_eq!(kind.as_str().parse::<WorkloadKind>(), Ok(kind));
        }
        assert_eq!(WorkloadKind::default(), WorkloadKind::Register);
        assert_eq!("bank".parse::<WorkloadKind>().unwrap_err(), "unknown workload \"bank\"; expected one of register");
    }

    #[test]
    fn the_register_workload_generates_only_the_operations_it_names() {
        let mut workload = Workload::Register(RegisterWorkload {
            mix: Mix::parse("1:1:1").unwrap(),
            keys: 2,
            distribution: KeyDistribution::Uniform,
            ops_per_key: 10,
            seed: 3,
            key_prefix: String::new(),
        });
        workload.set_key_prefix("run-".into());
        assert_eq!(
            (workload.kind(), workload.model(), workload.seed()),
            (WorkloadKind::Register, ModelKind::CasRegister, 3)
        );
        assert_eq!(workload.describe(), "register, mix 1:1:1, 2 keys (uniform)");
        let mut generator = workload.generator();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let (key, op): (String, Op) = generator.next_op();
            assert!(key.starts_with("run-"), "{key}");
            assert!(workload.operations().contains(&op.f()), "{op:?}");
            seen.insert(op.f());
        }
        assert_eq!(seen.len(), workload.operations().len(), "every operation it names is sent");
    }
}
