//! When faults happen: a loop that, every interval, starts a fault drawn from the chosen kinds, lets it
//! act for an interval, stops it, and at the end heals everything, recording each step. As in Jepsen's
//! combined nemesis packages, the kinds take turns (fixed) or are drawn at random, and the targets are
//! drawn from the seed, so a run can be repeated. A fault aimed at `primaries` asks the cluster who leads
//! right before it starts; when no node does, the fault is skipped and recorded as `skip-<fault>` with
//! the probe's answers, never turned into a random one.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_checker::nemesis_action::NemesisAction;
use faultline_rng::Rng;
use serde_json::{json, Value};

use crate::fault::{complete, ClockSkew, Fault, FaultKind, PartitionShape, TargetChoice, Targets};
use crate::primary::PrimaryProbe;
use crate::target::{FaultTarget, APPLIED_MS, ROUND_TRIPS};

/// What a schedule may do, and how often.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub kinds: Vec<FaultKind>,
    /// A fault lasts about this long, and so does the quiet between two faults.
    pub interval: Duration,
    /// Draw each interval uniformly from half to one and a half times `interval`, and the fault kind at
    /// random; otherwise fixed intervals and kinds in turn.
    pub random: bool,
    pub seed: u64,
    /// The partition shapes to draw from.
    pub shapes: Vec<PartitionShape>,
    pub loss_percent: u32,
    pub delay: Duration,
    pub jitter: Duration,
    /// Largest clock offset, either way.
    pub clock_offset: Duration,
    /// Which nodes each kind of fault acts on (`--nemesis-targets`); a kind given nothing acts on one
    /// node, and a partition then takes one of `shapes`.
    pub targets: TargetChoice,
    /// The first fault, if set: its kind and targets. Plain `faultline test` opens with a kill of the
    /// primary, so that every default run puts the primary's durability to the test.
    pub opening: Option<(FaultKind, Targets)>,
    /// Who leads, asked right before each fault aimed at `primaries`.
    pub primary_probe: Option<Arc<PrimaryProbe>>,
}

impl Schedule {
    pub fn new(kinds: Vec<FaultKind>, seed: u64) -> Schedule {
        Schedule {
            kinds,
            interval: Duration::from_secs(3),
            random: true,
            seed,
            shapes: PartitionShape::random_shapes(),
            loss_percent: 30,
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            clock_offset: Duration::from_secs(10),
            targets: TargetChoice::default(),
            opening: None,
            primary_probe: None,
        }
    }
}

/// Checks up front that the backend can apply every kind asked for: a fault a mode cannot apply is
/// refused before the run, never silently skipped.
pub fn check_supported(schedule: &Schedule, backend: &dyn FaultTarget) -> Result<(), String> {
    for kind in &schedule.kinds {
        if let Some(why) = backend.refuses(*kind) {
            return Err(format!("cannot inject {kind} faults: {why}"));
        }
    }
    Ok(())
}

/// Whether a nemesis event marks the moment a step began (`invoke`) or what it did (`info`), as Jepsen's
/// nemesis records each step: an invocation, then a completion with what happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Invoke,
    Done,
}

/// Runs the schedule until `until` or `stop`, then heals everything. `record(step, f, value)` receives
/// every step for the history, before (`Invoke`, the fault and its targets) and after (`Done`, with the
/// probe's finding or the error): `start-<fault>`, `stop-<fault>`, and a final `heal`.
pub async fn run(
    schedule: &Schedule,
    backend: &mut dyn FaultTarget,
    until: Instant,
    stop: &Arc<AtomicBool>,
    record: &mut dyn FnMut(Step, &NemesisAction, Value),
) {
    let mut rng = Rng(schedule.seed ^ 0x006e_656d_6573_6973);
    let nodes = backend.node_names();
    let mut turn = 0usize;
    while !schedule.kinds.is_empty() {
        if !pause(next_interval(schedule, &mut rng), until, stop).await {
            break;
        }
        // A fault starts only if it has time to act before the workload ends.
        if until.saturating_duration_since(Instant::now()) < least_time_to_act(schedule) {
            break;
        }
        let (kind, aimed) = match schedule.opening.clone().filter(|_| turn == 0) {
            Some((kind, targets)) => (kind, Some(targets)),
            None => {
                let kind = if schedule.random {
                    schedule.kinds[rng.below(schedule.kinds.len() as u64) as usize]
                } else {
                    schedule.kinds[turn % schedule.kinds.len()]
                };
                (kind, schedule.targets.explicit(kind).cloned())
            }
        };
        turn += 1;
        // The primary is asked right before the fault: who led a moment ago may not lead now.
        let finding = match (&aimed, &schedule.primary_probe) {
            (Some(Targets::Primaries), Some(probe)) => Some(probe.find().await),
            _ => None,
        };
        let fault = match &aimed {
            None => Some(draw(kind, schedule, &nodes, &mut rng, turn - 1)),
            Some(targets) => {
                let primaries = finding.as_ref().map_or(&[][..], |f| &f.primaries[..]);
                let chosen = targets.pick(&nodes, primaries, &mut rng);
                aim(kind, schedule, &nodes, targets, &chosen, &mut rng, turn - 1)
            }
        };
        // The targets go with every step of an aimed fault; the probe's finding with its start.
        let aim_record = |mut value: Value, starting: bool| {
            if let (Some(targets), Value::Object(map)) = (&aimed, &mut value) {
                map.insert("targets".into(), json!(targets.name()));
                if let Some(finding) = finding.as_ref().filter(|_| starting) {
                    map.insert("primary_probe".into(), finding.to_json());
                }
            }
            value
        };
        let Some(fault) = fault else {
            // Nothing to aim at (no node leads, or the targets cut nothing): the fault is skipped, with why,
            // and its turn passes quietly.
            let skip = NemesisAction::Skip(kind.to_string());
            let why = match (&aimed, &finding) {
                (Some(Targets::Primaries), Some(finding)) => {
                    finding.none_because().unwrap_or_else(|| "no primary to aim at".into())
                }
                (Some(Targets::Primaries), None) => "no primary probe for this cluster".into(),
                (targets, _) => format!(
                    "the targets {} leave no other node to cut them from",
                    targets.as_ref().map_or(String::new(), |t| t.name())
                ),
            };
            record(Step::Invoke, &skip, aim_record(json!({ "nodes": [] }), true));
            record(Step::Done, &skip, aim_record(json!({ "nodes": [], "skipped": why }), true));
            pause(next_interval(schedule, &mut rng), until, stop).await;
            continue;
        };
        let (start, stop_name) = (NemesisAction::Start(fault.name().into()), NemesisAction::Stop(fault.name().into()));
        record(Step::Invoke, &start, aim_record(fault.describe(), true));
        let applying = Instant::now();
        let started = backend.start_fault(&fault).await;
        record(Step::Done, &start, aim_record(outcome(&fault, started, applying.elapsed()), true));
        pause(next_interval(schedule, &mut rng), until, stop).await;
        record(Step::Invoke, &stop_name, aim_record(fault.describe(), false));
        let applying = Instant::now();
        let stopped = backend.stop_fault(&fault).await;
        record(Step::Done, &stop_name, aim_record(outcome(&fault, stopped, applying.elapsed()), false));
    }
    if let Some(healing) = backend.heal_all() {
        record(Step::Invoke, &NemesisAction::Heal, Value::Null);
        let healed = healing.await;
        record(Step::Done, &NemesisAction::Heal, healed.unwrap_or_else(|e| json!({ "error": e })));
    }
}

/// The least time a fault must have before the workload ends to be worth starting: half an interval,
/// at most a second.
fn least_time_to_act(schedule: &Schedule) -> Duration {
    (schedule.interval / 2).min(Duration::from_secs(1))
}

/// A step's completion: the fault, how long applying (or removing) it took, and the probe or the error.
/// A backend that measures applying apart from its probe (the remote lab: [`APPLIED_MS`],
/// with the round trips each host took) says so in its finding: its figures are the step's `applied_ms`
/// and `round_trips`, and the whole step, probe included, is `step_ms`.
fn outcome(fault: &Fault, result: Result<Value, String>, took: Duration) -> Value {
    let mut value = fault.describe();
    if let Value::Object(map) = &mut value {
        map.insert("applied_ms".into(), json!(took.as_millis() as u64));
        match result {
            Ok(mut probe) => {
                if let Some(found) = probe.as_object_mut() {
                    if let Some(applied) = found.remove(APPLIED_MS) {
                        map.insert("step_ms".into(), json!(took.as_millis() as u64));
                        map.insert("applied_ms".into(), applied);
                    }
                    if let Some(trips) = found.remove(ROUND_TRIPS) {
                        map.insert("round_trips".into(), trips);
                    }
                }
                map.insert("probe".into(), probe)
            }
            Err(e) => map.insert("error".into(), Value::String(e)),
        };
    }
    value
}

fn next_interval(schedule: &Schedule, rng: &mut Rng) -> Duration {
    if schedule.random {
        schedule.interval.mul_f64(0.5 + rng.unit())
    } else {
        schedule.interval
    }
}

/// Sleeps `d`, waking early on `stop` or at `until`; false if the schedule should end.
async fn pause(d: Duration, until: Instant, stop: &AtomicBool) -> bool {
    let end = (Instant::now() + d).min(until);
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        tokio::time::sleep((end - Instant::now()).min(Duration::from_millis(50))).await;
    }
    Instant::now() < until && !stop.load(Ordering::Relaxed)
}

/// A concrete fault of `kind` aimed at `chosen` (picked by `targets`); `None` if there is nothing to aim
/// at. A partition isolates the chosen nodes from the others (`all`: every node from every other), or,
/// when the only shape asked for is `clients`, cuts the clients off from them.
pub fn aim(
    kind: FaultKind,
    schedule: &Schedule,
    nodes: &[String],
    targets: &Targets,
    chosen: &[String],
    rng: &mut Rng,
    turn: usize,
) -> Option<Fault> {
    if chosen.is_empty() {
        return None;
    }
    let chosen = chosen.to_vec();
    Some(match kind {
        FaultKind::Partition if schedule.shapes == [PartitionShape::Clients] => Fault::IsolateClients { nodes: chosen },
        FaultKind::Partition => {
            let grudge = if *targets == Targets::All {
                // Every node drops every other's traffic.
                let others = |a: &String| nodes.iter().filter(|b| *b != a).cloned().collect();
                nodes.iter().map(|a| (a.clone(), others(a))).filter(|(_, o): &(_, BTreeSet<_>)| !o.is_empty()).collect()
            } else {
                let rest: Vec<String> = nodes.iter().filter(|n| !chosen.contains(n)).cloned().collect();
                if rest.is_empty() {
                    return None;
                }
                complete(&chosen, &rest)
            };
            if grudge.is_empty() {
                return None;
            }
            Fault::Partition { shape: format!("isolate-{}", targets.name()), grudge }
        }
        FaultKind::Loss => Fault::Loss { nodes: chosen, percent: schedule.loss_percent },
        FaultKind::Delay => Fault::Delay { nodes: chosen, delay: schedule.delay, jitter: schedule.jitter },
        FaultKind::Kill => Fault::Kill { nodes: chosen },
        FaultKind::Crash => Fault::Crash { nodes: chosen },
        FaultKind::Pause => Fault::Pause { nodes: chosen },
        FaultKind::Clock => Fault::Clock { nodes: chosen, skew: clock_skew(schedule, rng, turn) },
    })
}

/// A clock offset drawn from `rng`, between half and all of the largest, either way; bumps and strobes
/// take turns.
fn clock_skew(schedule: &Schedule, rng: &mut Rng, turn: usize) -> ClockSkew {
    let max = schedule.clock_offset.as_millis().max(1) as u64;
    let magnitude = (max / 2 + rng.below(max / 2 + 1)) as i64;
    let offset_ms = if rng.below(2) == 0 { magnitude } else { -magnitude };
    if turn % 2 == 0 {
        ClockSkew::Bump { offset_ms }
    } else {
        ClockSkew::Strobe { offset_ms, period: Duration::from_millis(200) }
    }
}

/// A concrete fault of `kind` with targets drawn from `rng`.
pub fn draw(kind: FaultKind, schedule: &Schedule, nodes: &[String], rng: &mut Rng, turn: usize) -> Fault {
    let one = |rng: &mut Rng| vec![nodes[rng.below(nodes.len().max(1) as u64) as usize].clone()];
    match kind {
        FaultKind::Partition => {
            let shapes =
                if schedule.shapes.is_empty() { PartitionShape::random_shapes() } else { schedule.shapes.clone() };
            // A shape that cuts nothing on this many nodes (a majorities ring of two) gives way to the next.
            let first = rng.below(shapes.len() as u64) as usize;
            for k in 0..shapes.len() {
                let shape = &shapes[(first + k) % shapes.len()];
                if *shape == PartitionShape::Clients {
                    return Fault::IsolateClients { nodes: one(rng) };
                }
                let grudge = shape.grudge(nodes, rng);
                if !grudge.is_empty() {
                    return Fault::Partition { shape: shape.name().to_string(), grudge };
                }
            }
            Fault::Partition { shape: shapes[first].name().to_string(), grudge: Default::default() }
        }
        FaultKind::Loss => Fault::Loss { nodes: one(rng), percent: schedule.loss_percent },
        FaultKind::Delay => Fault::Delay { nodes: one(rng), delay: schedule.delay, jitter: schedule.jitter },
        FaultKind::Kill => Fault::Kill { nodes: one(rng) },
        FaultKind::Crash => Fault::Crash { nodes: one(rng) },
        FaultKind::Pause => Fault::Pause { nodes: one(rng) },
        FaultKind::Clock => {
            let skew = clock_skew(schedule, rng, turn);
            Fault::Clock { nodes: one(rng), skew }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aimed_partitions_isolate_the_chosen_nodes() {
        let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let schedule = Schedule::new(vec![FaultKind::Partition], 1);
        let mut rng = Rng(5);
        let two = ["n2".to_string(), "n4".to_string()];
        let fault = aim(FaultKind::Partition, &schedule, &nodes, &Targets::Minority, &two, &mut rng, 0).unwrap();
        let Fault::Partition { shape, grudge } = fault else { panic!() };
        assert_eq!(shape, "isolate-minority");
        assert_eq!(grudge["n2"], BTreeSet::from(["n1", "n3", "n5"].map(String::from)));
        assert_eq!(grudge["n1"], BTreeSet::from(two.clone()));
        assert!(!grudge["n2"].contains("n4"), "the chosen nodes still hear each other");
        let Some(Fault::Partition { grudge, .. }) =
            aim(FaultKind::Partition, &schedule, &nodes, &Targets::All, &nodes, &mut rng, 0)
        else {
            panic!()
        };
        assert!(nodes.iter().all(|a| grudge[a].len() == 4), "all: every node alone: {grudge:?}");
        // Nothing to aim at is no fault at all (the schedule records a skip), never a random one.
        assert_eq!(aim(FaultKind::Kill, &schedule, &nodes, &Targets::Primaries, &[], &mut rng, 0), None);
        assert_eq!(aim(FaultKind::Partition, &schedule, &nodes, &Targets::Majority, &nodes, &mut rng, 0), None);
        let clients = Schedule { shapes: vec![PartitionShape::Clients], ..schedule.clone() };
        assert_eq!(
            aim(FaultKind::Partition, &clients, &nodes, &Targets::One, &two[..1], &mut rng, 0),
            Some(Fault::IsolateClients { nodes: vec!["n2".into()] })
        );
    }

    #[test]
    fn every_drawn_partition_cuts_something() {
        let two = vec!["n1".to_string(), "n2".to_string()];
        let schedule = Schedule::new(vec![FaultKind::Partition], 1);
        let mut rng = Rng(3);
        for turn in 0..200 {
            match draw(FaultKind::Partition, &schedule, &two, &mut rng, turn) {
                Fault::Partition { grudge, shape } => assert!(!grudge.is_empty(), "{shape} cut nothing"),
                other => panic!("{other:?}"),
            }
        }
    }
}
