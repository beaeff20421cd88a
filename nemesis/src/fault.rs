//! What a fault is: its kind, its targets, and how a schedule picks them. Nothing here touches the
//! machine; the backends (`lab`, `command`) apply what is described here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use faultline_rng::Rng;
use serde_json::{json, Value};

/// The kinds of fault a schedule can choose from (`--nemesis partition,kill,...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Partition,
    Loss,
    Delay,
    Kill,
    Pause,
    Clock,
    /// A power loss: SIGKILL, then every write the node had not synced is dropped ([`crate::lazyfs`]).
    Crash,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Partition,
        FaultKind::Loss,
        FaultKind::Delay,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Clock,
        FaultKind::Crash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Loss => "loss",
            FaultKind::Delay => "delay",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Clock => "clock",
            FaultKind::Crash => "crash",
        }
    }

    /// Parses a comma-separated list such as `partition,kill`; `none` or empty is no fault at all.
    pub fn parse_list(s: &str) -> Result<Vec<FaultKind>, String> {
        let mut kinds = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty() && *p != "none") {
            let kind = if part == "all" {
                kinds.extend(FaultKind::ALL);
                continue;
            } else {
                FaultKind::ALL.into_iter().find(|k| k.as_str() == part).ok_or_else(|| {
                    format!(
                        "unknown fault {part:?}; expected any of partition, loss, delay, kill, pause, clock, crash, all, \
                         none"
                    )
                })?
            };
            kinds.push(kind);
        }
        kinds.sort();
        kinds.dedup();
        Ok(kinds)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which nodes a fault acts on, as Jepsen's node specs (`--nemesis-targets`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// One node, drawn from the seed.
    One,
    /// The nodes that lead, as the cluster's primary probe answers right before the fault.
    Primaries,
    /// The largest minority, (n-1)/2 nodes (at least one), drawn from the seed.
    Minority,
    /// The smallest majority, n/2+1 nodes, drawn from the seed.
    Majority,
    /// Every node.
    All,
    /// These nodes, by name.
    Nodes(Vec<String>),
}

impl Targets {
    /// Parses `one`, `primaries`, `minority`, `majority`, `all`, or node names `n1,n3`.
    pub fn parse(s: &str) -> Result<Targets, String> {
        let s = s.trim();
        Ok(match s {
            "one" => Targets::One,
            "primaries" | "primary" => Targets::Primaries,
            "minority" => Targets::Minority,
            "majority" => Targets::Majority,
            "all" => Targets::All,
            "" => return Err("empty target; expected one, primaries, minority, majority, all, or node names".into()),
            _ => Targets::Nodes(s.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect()),
        })
    }

    /// As `--nemesis-targets` spells it.
    pub fn name(&self) -> String {
        match self {
            Targets::One => "one".into(),
            Targets::Primaries => "primaries".into(),
            Targets::Minority => "minority".into(),
            Targets::Majority => "majority".into(),
            Targets::All => "all".into(),
            Targets::Nodes(nodes) => nodes.join(","),
        }
    }

    /// The nodes these targets pick from `nodes` (`primaries` given by the probe), drawn from `rng`.
    pub fn pick(&self, nodes: &[String], primaries: &[String], rng: &mut Rng) -> Vec<String> {
        let n = nodes.len();
        let drawn = |count: usize, rng: &mut Rng| {
            let mut shuffled = nodes.to_vec();
            shuffle(&mut shuffled, rng);
            shuffled.truncate(count.min(n));
            shuffled.sort();
            shuffled
        };
        match self {
            Targets::One => drawn(1, rng),
            Targets::Minority => drawn(((n.saturating_sub(1)) / 2).max(1), rng),
            Targets::Majority => drawn(n / 2 + 1, rng),
            Targets::All => nodes.to_vec(),
            Targets::Primaries => primaries.to_vec(),
            Targets::Nodes(named) => named.clone(),
        }
    }
}

impl fmt::Display for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// `--nemesis-targets`: the targets of every fault kind, or of some kinds. `kill=primaries,pause=minority`
/// aims kills at the primary and pauses at a minority; a spec without `KIND=` applies to every kind not
/// named; node names continue a list (`pause=n1,n3`). Kinds given nothing act on one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetChoice {
    pub every: Option<Targets>,
    pub by_kind: BTreeMap<FaultKind, Targets>,
}

impl TargetChoice {
    /// Parses one `--nemesis-targets` value; several values (the flag repeated) are [`TargetChoice::merge`]d.
    pub fn parse(s: &str) -> Result<TargetChoice, String> {
        let mut choice = TargetChoice::default();
        // Each entry: the kind it is for (None: every kind) and its words.
        let mut entries: Vec<(Option<FaultKind>, Vec<String>)> = Vec::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word.split_once('=') {
                Some((kind, spec)) => {
                    let kind = FaultKind::ALL.into_iter().find(|k| k.as_str() == kind.trim()).ok_or_else(|| {
                        format!(
                            "unknown fault {:?} before `=`; expected one of {}",
                            kind.trim(),
                            FaultKind::ALL.map(|k| k.as_str()).join(", "),
                        )
                    })?;
                    entries.push((Some(kind), vec![spec.trim().to_string()]));
                }
                None => match entries.last_mut() {
                    // A node name continues the list before it (`pause=n1,n3`); anything else starts anew.
                    Some((_, words)) if !is_node_spec_word(word) && !is_node_spec_word(&words[0]) => {
                        words.push(word.to_string())
                    }
                    Some((kind, words)) => {
                        return Err(format!(
                            "{word:?} after {}{:?}: one, primaries, minority, majority and all \
                             stand alone; node names are listed together (kill=n1,n3)",
                            kind.map_or(String::new(), |k| format!("{k}=")),
                            words.join(",")
                        ))
                    }
                    None => entries.push((None, vec![word.to_string()])),
                },
            }
        }
        if entries.is_empty() {
            return Err(format!("--nemesis-targets {s:?} names no target"));
        }
        for (kind, words) in entries {
            let targets = Targets::parse(&words.join(","))?;
            let slot = match kind {
                Some(kind) => choice.by_kind.insert(kind, targets),
                None => choice.every.replace(targets),
            };
            if slot.is_some() {
                return Err(format!(
                    "--nemesis-targets {s:?}: {} is given twice",
                    kind.map_or("every kind", |k| k.as_str())
                ));
            }
        }
        Ok(choice)
    }

    /// Adds another value of the flag; a later value wins for what both name.
    pub fn merge(&mut self, other: TargetChoice) {
        if other.every.is_some() {
            self.every = other.every;
        }
        self.by_kind.extend(other.by_kind);
    }

    /// What faults of `kind` act on: as chosen, else one node.
    pub fn of(&self, kind: FaultKind) -> Targets {
        self.explicit(kind).cloned().unwrap_or(Targets::One)
    }

    /// The targets given for `kind` (its own, else those for every kind), if any were.
    pub fn explicit(&self, kind: FaultKind) -> Option<&Targets> {
        self.by_kind.get(&kind).or(self.every.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.every.is_none() && self.by_kind.is_empty()
    }

    /// Checks the choice against the cluster's nodes and the kinds the schedule draws: every named node
    /// exists, and every kind named is one the schedule injects.
    pub fn check(&self, nodes: &[String], kinds: &[FaultKind]) -> Result<(), String> {
        for kind in self.by_kind.keys() {
            if !kinds.contains(kind) {
                let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                return Err(format!(
                    "--nemesis-targets aims {kind} faults, but --nemesis does not inject them (it injects {})",
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                ));
            }
        }
        for targets in self.every.iter().chain(self.by_kind.values()) {
            if let Targets::Nodes(named) = targets {
                for node in named {
                    if !nodes.contains(node) {
                        return Err(format!(
                            "--nemesis-targets names the node {node:?}, which this cluster does not have; its nodes are {}",
                            nodes.join(", ")
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a fault among `kinds` is aimed at the primaries (and so needs a primary probe).
    pub fn wants_primaries(&self, kinds: &[FaultKind]) -> bool {
        kinds.iter().any(|k| self.of(*k) == Targets::Primaries)
    }
}

/// One of the words that stand alone in `--nemesis-targets` (not a node name).
fn is_node_spec_word(word: &str) -> bool {
    let spec = word.split_once('=').map_or(word, |(_, s)| s).trim();
    ["one", "primaries", "primary", "minority", "majority", "all"].contains(&spec)
}

/// Who drops whose packets: `grudge[a]` holds the nodes whose traffic `a` no longer receives. One-way cuts
/// are grudges held on one side only, as in Jepsen.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// The shapes of partition a schedule draws from, as in Jepsen's `nemesis.combined`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionShape {
    /// One node cut off from all others.
    IsolateOne,
    /// Two random halves.
    Halves,
    /// Every node sees a majority, no two the same majority.
    MajoritiesRing,
    /// Two halves that share one node, which sees both.
    Bridge,
    /// One node stops hearing one other node; the other direction still flows.
    OneWay,
    /// A grudge given by the user.
    Explicit(Grudge),
    /// One node cut off from the clients; node-to-node traffic flows.
    Clients,
}

impl PartitionShape {
    pub fn name(&self) -> &'static str {
        match self {
            PartitionShape::IsolateOne => "isolate-one",
            PartitionShape::Halves => "halves",
            PartitionShape::MajoritiesRing => "majorities-ring",
            PartitionShape::Bridge => "bridge",
            PartitionShape::OneWay => "one-way",
            PartitionShape::Explicit(_) => "explicit",
            PartitionShape::Clients => "clients",
        }
    }

    /// The shapes a schedule cycles through when none is given.
    pub fn random_shapes() -> Vec<PartitionShape> {
        vec![
            PartitionShape::IsolateOne,
            PartitionShape::Halves,
            PartitionShape::MajoritiesRing,
            PartitionShape::Bridge,
            PartitionShape::OneWay,
        ]
    }

    /// Parses `isolate-one`, `halves`, `majorities-ring`, `bridge`, `one-way`, or an explicit grudge
    /// `n1:n2,n3;n2:n1` (n1 drops traffic from n2 and n3; n2 drops traffic from n1).
    pub fn parse(s: &str, nodes: &[String]) -> Result<PartitionShape, String> {
        let shape = match s {
            "isolate-one" => PartitionShape::IsolateOne,
            "halves" => PartitionShape::Halves,
            "majorities-ring" => PartitionShape::MajoritiesRing,
            "bridge" => PartitionShape::Bridge,
            "one-way" => PartitionShape::OneWay,
            "clients" => PartitionShape::Clients,
            _ if s.contains(':') => {
                let mut grudge = Grudge::new();
                for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let (victim, sources) = part
                        .split_once(':')
                        .ok_or_else(|| format!("in grudge {s:?}: expected NODE:NODE,NODE, not {part:?}"))?;
                    let known = |n: &str| {
                        if nodes.iter().any(|m| m == n) {
                            Ok(n.to_string())
                        } else {
                            Err(format!("in grudge {s:?}: no node {n:?}; the nodes are {}", nodes.join(", ")))
                        }
                    };
                    let victim = known(victim.trim())?;
                    for source in sources.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let source = known(source)?;
                        if source == victim {
                            return Err(format!("in grudge {s:?}: {victim} cannot drop its own traffic"));
                        }
                        grudge.entry(victim.clone()).or_default().insert(source);
                    }
                }
                if grudge.is_empty() {
                    return Err(format!("grudge {s:?} cuts nothing"));
                }
                PartitionShape::Explicit(grudge)
            }
            _ => {
                return Err(format!(
                    "unknown partition {s:?}; expected isolate-one, halves, majorities-ring, bridge, one-way, clients, or a \
                     grudge such as n1:n2,n3;n2:n1"
                ))
            }
        };
        Ok(shape)
    }

    /// The grudge this shape gives over `nodes`, drawing randomness from `rng`.
    pub fn grudge(&self, nodes: &[String], rng: &mut Rng) -> Grudge {
        let mut shuffled = nodes.to_vec();
        shuffle(&mut shuffled, rng);
        let n = shuffled.len();
        match self {
            PartitionShape::Explicit(g) => g.clone(),
            PartitionShape::Clients => Grudge::new(),
            _ if n < 2 => Grudge::new(),
            PartitionShape::IsolateOne => complete(&shuffled[..1], &shuffled[1..]),
            PartitionShape::Halves => complete(&shuffled[..n / 2], &shuffled[n / 2..]),
            PartitionShape::Bridge if n >= 3 => {
                // The bridge node is in both halves: it hears everyone, and everyone hears it.
                let bridge = n / 2;
                complete(&shuffled[..bridge], &shuffled[bridge + 1..])
            }
            PartitionShape::Bridge => complete(&shuffled[..1], &shuffled[1..]),
            PartitionShape::MajoritiesRing => {
                // Around a ring, node i hears the window of a majority that starts at itself: each window is
                // a majority, and no two are the same.
                let majority = n / 2 + 1;
                let mut grudge = Grudge::new();
                for i in 0..n {
                    let window: BTreeSet<usize> = (0..majority).map(|k| (i + k) % n).collect();
                    let dropped: BTreeSet<String> =
                        (0..n).filter(|j| !window.contains(j)).map(|j| shuffled[j].clone()).collect();
                    if !dropped.is_empty() {
                        grudge.insert(shuffled[i].clone(), dropped);
                    }
                }
                grudge
            }
            PartitionShape::OneWay => {
                let mut grudge = Grudge::new();
                grudge.insert(shuffled[0].clone(), BTreeSet::from([shuffled[1].clone()]));
                grudge
            }
        }
    }
}

/// Both sides drop each other's traffic.
pub fn complete(a: &[String], b: &[String]) -> Grudge {
    let mut grudge = Grudge::new();
    for x in a {
        grudge.entry(x.clone()).or_default().extend(b.iter().cloned());
    }
    for y in b {
        grudge.entry(y.clone()).or_default().extend(a.iter().cloned());
    }
    grudge
}

pub fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// A clock fault: a fixed offset, or an offset switched on and off every `period` (a strobe).
#[derive(Clone, Debug, PartialEq)]
pub enum ClockSkew {
    Bump { offset_ms: i64 },
    Strobe { offset_ms: i64, period: Duration },
}

/// One concrete fault with its targets, ready to apply.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Cut node-to-node traffic by a grudge; `clients` also cuts the clients from the grudging nodes.
    Partition { shape: String, grudge: Grudge },
    /// Cut the clients off from these nodes (node-to-node traffic flows).
    IsolateClients { nodes: Vec<String> },
    /// Drop this share of the packets these nodes receive from their peers.
    Loss { nodes: Vec<String>, percent: u32 },
    /// Delay what these nodes exchange with their peers.
    Delay { nodes: Vec<String>, delay: Duration, jitter: Duration },
    /// SIGKILL, and on stop, restart with the same data directory.
    Kill { nodes: Vec<String> },
    /// SIGSTOP, and on stop, SIGCONT.
    Pause { nodes: Vec<String> },
    /// SIGKILL, then drop every write to the node's data directory that it had not synced; on stop,
    /// restart it with what survived.
    Crash { nodes: Vec<String> },
    /// Move these nodes' wall clocks.
    Clock { nodes: Vec<String>, skew: ClockSkew },
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Partition { .. } | Fault::IsolateClients { .. } => FaultKind::Partition,
            Fault::Loss { .. } => FaultKind::Loss,
            Fault::Delay { .. } => FaultKind::Delay,
            Fault::Kill { .. } => FaultKind::Kill,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::Clock { .. } => FaultKind::Clock,
            Fault::Crash { .. } => FaultKind::Crash,
        }
    }

    /// The name of the fault in the history (see `NemesisAction`): `start-<name>` and `stop-<name>`.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::IsolateClients { .. } => "partition-clients",
            other => other.kind().as_str(),
        }
    }

    /// The nodes the fault acts on.
    pub fn nodes(&self) -> Vec<String> {
        match self {
            Fault::Partition { grudge, .. } => {
                let mut all: BTreeSet<String> = grudge.keys().cloned().collect();
                all.extend(grudge.values().flatten().cloned());
                all.into_iter().collect()
            }
            Fault::IsolateClients { nodes }
            | Fault::Loss { nodes, .. }
            | Fault::Delay { nodes, .. }
            | Fault::Kill { nodes }
            | Fault::Pause { nodes }
            | Fault::Crash { nodes }
            | Fault::Clock { nodes, .. } => nodes.clone(),
        }
    }

    /// The fault as the history's `value`: what it does to whom.
    pub fn describe(&self) -> Value {
        match self {
            Fault::Partition { shape, grudge } => json!({ "shape": shape, "grudge": grudge }),
            Fault::IsolateClients { nodes } => json!({ "nodes": nodes }),
            Fault::Loss { nodes, percent } => json!({ "nodes": nodes, "percent": percent }),
            Fault::Delay { nodes, delay, jitter } => {
                json!({ "nodes": nodes, "delay_ms": delay.as_millis() as u64, "jitter_ms": jitter.as_millis() as u64 })
            }
            Fault::Kill { nodes } | Fault::Pause { nodes } | Fault::Crash { nodes } => json!({ "nodes": nodes }),
            Fault::Clock { nodes, skew: ClockSkew::Bump { offset_ms } } => {
                json!({ "nodes": nodes, "bump_ms": offset_ms })
            }
            Fault::Clock { nodes, skew: ClockSkew::Strobe { offset_ms, period } } => {
                json!({ "nodes": nodes, "strobe_ms": offset_ms, "period_ms": period.as_millis() as u64 })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn hears(g: &Grudge, a: &str, b: &str) -> bool {
        !g.get(a).is_some_and(|s| s.contains(b))
    }

    #[test]
    fn shapes_cut_what_they_say() {
        let mut rng = Rng(7);
        for n in [3, 5] {
            let ns = nodes(n);
            for _ in 0..20 {
                let g = PartitionShape::IsolateOne.grudge(&ns, &mut rng);
                let isolated: Vec<&String> =
                    ns.iter().filter(|a| g.get(*a).is_some_and(|s| s.len() == n - 1)).collect();
                assert_eq!(isolated.len(), 1, "{g:?}");
                let g = PartitionShape::MajoritiesRing.grudge(&ns, &mut rng);
                let mut windows = BTreeSet::new();
                for a in &ns {
                    let heard: BTreeSet<&String> = ns.iter().filter(|b| hears(&g, a, b)).collect();
                    assert_eq!(heard.len(), n / 2 + 1, "{a} in {g:?}");
                    assert!(windows.insert(heard), "two nodes hear the same majority: {g:?}");
                }
                let g = PartitionShape::Bridge.grudge(&ns, &mut rng);
                let bridges: Vec<&String> = ns.iter().filter(|a| ns.iter().all(|b| hears(&g, a, b))).collect();
                assert_eq!(bridges.len(), 1, "{g:?}");
                let g = PartitionShape::OneWay.grudge(&ns, &mut rng);
                assert_eq!(g.values().map(BTreeSet::len).sum::<usize>(), 1);
                let (a, b) = g.iter().next().map(|(a, s)| (a.clone(), s.iter().next().unwrap().clone())).unwrap();
                assert!(hears(&g, &b, &a) && !hears(&g, &a, &b));
                let g = PartitionShape::Halves.grudge(&ns, &mut rng);
                for (a, dropped) in &g {
                    for b in dropped {
                        assert!(!hears(&g, b, a), "halves are symmetric: {g:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn parses_targets_for_every_kind_and_per_kind() {
        let c = TargetChoice::parse("kill=primaries,pause=minority,partition=n1,n3").unwrap();
        assert_eq!(c.of(FaultKind::Kill), Targets::Primaries);
        assert_eq!(c.of(FaultKind::Pause), Targets::Minority);
        assert_eq!(c.of(FaultKind::Partition), Targets::Nodes(vec!["n1".into(), "n3".into()]));
        assert_eq!(c.of(FaultKind::Clock), Targets::One);
        assert_eq!(c.explicit(FaultKind::Clock), None);
        let c = TargetChoice::parse("majority,kill=n2").unwrap();
        assert_eq!(
            (c.of(FaultKind::Pause), c.of(FaultKind::Kill)),
            (Targets::Majority, Targets::Nodes(vec!["n2".into()]))
        );
        assert_eq!(TargetChoice::parse("n1,n3").unwrap().every, Some(Targets::Nodes(vec!["n1".into(), "n3".into()])));
        let mut merged = TargetChoice::parse("kill=one").unwrap();
        merged.merge(TargetChoice::parse("kill=all,pause=n2").unwrap());
        assert_eq!((merged.of(FaultKind::Kill), merged.of(FaultKind::Pause).name()), (Targets::All, "n2".into()));
        assert!(TargetChoice::parse("flood=one").unwrap_err().contains("unknown fault \"flood\""));
        assert!(TargetChoice::parse("kill=primaries,minority").unwrap_err().contains("stand alone"));
        assert!(TargetChoice::parse("kill=one,kill=all").unwrap_err().contains("kill is given twice"));
        assert!(TargetChoice::parse(",").unwrap_err().contains("names no target"));
        let nodes = nodes(3);
        let e = TargetChoice::parse("kill=n1,n7").unwrap().check(&nodes, &[FaultKind::Kill]).unwrap_err();
        assert!(e.contains("\"n7\"") && e.contains("n1, n2, n3"), "{e}");
        let e = TargetChoice::parse("pause=one").unwrap().check(&nodes, &[FaultKind::Kill]).unwrap_err();
        assert!(e.contains("does not inject them"), "{e}");
    }

    #[test]
    fn targets_pick_the_sizes_they_name() {
        let mut rng = Rng(11);
        for n in 1..=7 {
            let ns = nodes(n);
            for _ in 0..20 {
                assert_eq!(Targets::One.pick(&ns, &[], &mut rng).len(), 1);
                let minority = Targets::Minority.pick(&ns, &[], &mut rng);
                assert_eq!(minority.len(), ((n - 1) / 2).max(1), "{n} nodes: {minority:?}");
                let majority = Targets::Majority.pick(&ns, &[], &mut rng);
                assert_eq!(majority.len(), n / 2 + 1);
                assert!(majority.iter().all(|m| ns.contains(m)));
                assert_eq!(majority.iter().collect::<BTreeSet<_>>().len(), majority.len(), "distinct");
            }
            assert_eq!(Targets::All.pick(&ns, &[], &mut rng), ns);
            assert_eq!(Targets::Primaries.pick(&ns, &["n1".into()], &mut rng), ["n1"]);
            assert!(Targets::Primaries.pick(&ns, &[], &mut rng).is_empty());
        }
    }

    #[test]
    fn parses_lists_and_grudges() {
        assert_eq!(FaultKind::parse_list("kill, partition,kill").unwrap(), vec![FaultKind::Partition, FaultKind::Kill]);
        assert_eq!(FaultKind::parse_list("none").unwrap(), vec![]);
        assert!(FaultKind::parse_list("partition,flood").unwrap_err().contains("unknown fault \"flood\""));
        let ns = nodes(3);
        match PartitionShape::parse("n1:n2,n3;n2:n1", &ns).unwrap() {
            PartitionShape::Explicit(g) => {
                assert_eq!(g["n1"], BTreeSet::from(["n2".to_string(), "n3".to_string()]));
                assert_eq!(g["n2"], BTreeSet::from(["n1".to_string()]));
            }
            other => panic!("{other:?}"),
        }
        assert!(PartitionShape::parse("n1:n9", &ns).unwrap_err().contains("no node \"n9\""));
        assert!(PartitionShape::parse("n1:n1", &ns).unwrap_err().contains("its own traffic"));
        assert!(PartitionShape::parse("sideways", &ns).unwrap_err().contains("unknown partition"));
    }
}
