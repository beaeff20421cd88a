//! The ladder: one row per consistency model checked on a history, strongest first, each with its verdict,
//! why, and the operations that show it. Every report (HTML, JUnit, Markdown) renders the same rows, so a
//! model added to the checker needs one constructor here to appear everywhere.

use faultline_checker::ladder::{Ladder, Level, Rung, Status};
use faultline_checker::linear::{self, KeyResult};
use faultline_checker::op_ref::OpRef;
use faultline_checker::sequential;
use faultline_checker::Verdict;

/// One model's verdict on one history.
#[derive(Clone, Debug)]
pub struct LadderRow {
    /// "linearizability", "sequential consistency", ...
    pub model: String,
    pub verdict: Verdict,
    /// In plain words: what holds, or what goes wrong.
    pub explanation: String,
    /// The operations the explanation is about (a counterexample), possibly none.
    pub ops: Vec<OpRef>,
    /// The verdict split by key group, for reports with one case per group (JUnit). Per key where the
    /// model is checked per key; one group for the whole history otherwise.
    pub groups: Vec<KeyGroup>,
}

/// A set of keys checked together and their verdict.
#[derive(Clone, Debug)]
pub struct KeyGroup {
    /// "key \"a\"", "3 other keys", "all keys".
    pub name: String,
    pub verdict: Verdict,
    pub explanation: String,
}

impl LadderRow {
    pub fn linearizability(a: &linear::Analysis) -> LadderRow {
        let mut groups: Vec<KeyGroup> = a
            .problems
            .iter()
            .map(|p| KeyGroup { name: key_name(p), verdict: p.verdict, explanation: problem_text(p) })
            .collect();
        if a.valid_keys > 0 || groups.is_empty() {
            let name = match (groups.is_empty(), a.valid_keys) {
                (true, _) => "all keys".to_string(),
                (false, 1) => "1 other key".to_string(),
                (false, n) => format!("{n} other keys"),
            };
            groups.push(KeyGroup { name, verdict: Verdict::Valid, explanation: "linearizable".to_string() });
        }
        let keys = |n: usize| if n == 1 { "key" } else { "keys" };
        let invalid = a.problems.iter().filter(|p| p.verdict == Verdict::Invalid).count();
        let unknown = a.problems.len() - invalid;
        let explanation = match a.verdict {
            Verdict::Valid => format!(
                "Every operation appears to take effect at one instant between its invocation and completion: \
                 {} {} linearizable ({} operations, {} model).",
                a.keys,
                keys(a.keys),
                a.operations,
                a.model
            ),
            Verdict::Invalid => {
                let first = a.problems.iter().find(|p| p.anomaly.is_some());
                let mut text = format!("{invalid} of {} {} not linearizable.", a.keys, keys(a.keys));
                if let Some(p) = first {
                    let story = p.anomaly.as_ref().map(|x| x.explanation.lines().next().unwrap_or("")).unwrap_or("");
                    text.push_str(&format!(" {}: {story}", capitalised(&key_name(p))));
                }
                text
            }
            Verdict::Unknown => format!(
                "{unknown} of {} {} could not be decided: {}",
                a.keys,
                keys(a.keys),
                a.problems.iter().find_map(|p| p.unknown_cause.as_deref()).unwrap_or("undecided")
            ),
        };
        let ops =
            a.problems.iter().find_map(|p| p.anomaly.as_ref()).map(|x| x.counterexample.clone()).unwrap_or_default();
        LadderRow { model: "linearizability".to_string(), verdict: a.verdict, explanation, ops, groups }
    }

    pub fn sequential(a: &sequential::Analysis) -> LadderRow {
        let explanation = match a.verdict {
            Verdict::Valid => format!(
                "One total order of all {} operations respects every process's own order ({} processes).",
                a.operations, a.processes
            ),
            Verdict::Invalid => {
                a.explanation.clone().unwrap_or_else(|| "no total order respects every process's order".into())
            }
            Verdict::Unknown => a.unknown_cause.clone().unwrap_or_else(|| "undecided".into()),
        };
        LadderRow {
            model: "sequential consistency".to_string(),
            verdict: a.verdict,
            groups: vec![KeyGroup { name: "all keys".into(), verdict: a.verdict, explanation: explanation.clone() }],
            explanation,
            ops: Vec::new(),
        }
    }
}

impl LadderRow {
    /// Every model of a consistency ladder, strongest first. Linearizability and sequential consistency
    /// keep their own rows (per-key groups, the counterexample); the others are told from their rung.
    pub fn from_ladder(ladder: &Ladder, linearizability: &linear::Analysis) -> Vec<LadderRow> {
        ladder
            .rungs
            .iter()
            .map(|rung| match (rung.level, &ladder.sequential) {
                (Level::Linearizable, _) => LadderRow::linearizability(linearizability),
                (Level::Sequential, Some(a)) if rung.implied_by.is_none() => LadderRow::sequential(a),
                _ => LadderRow::rung(rung),
            })
            .collect()
    }

    /// A row from a rung of the ladder: its status, its summary, and its anomalies in words.
    pub fn rung(rung: &Rung) -> LadderRow {
        let verdict = rung.status.into();
        let mut explanation = capitalised(&rung.summary);
        if !explanation.ends_with('.') {
            explanation.push('.');
        }
        for anomaly in &rung.anomalies {
            explanation.push('\n');
            explanation.push_str(anomaly);
        }
        LadderRow {
            model: rung.level.name().to_string(),
            verdict,
            groups: vec![KeyGroup { name: "all keys".into(), verdict, explanation: explanation.clone() }],
            explanation,
            ops: Vec::new(),
        }
    }
}

/// The model a history must keep, and what each other model's verdict is to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The required model: its verdict is the history's (with availability).
    Required,
    /// A model that implies the required one: its violation is information, not a failure.
    Stronger,
    /// Any other model (weaker, or not comparable): information too.
    Other,
}

impl Role {
    pub fn of(row: &LadderRow, required: Level) -> Role {
        match Level::ALL.into_iter().find(|l| l.name() == row.model) {
            Some(level) if level == required => Role::Required,
            Some(level) if implies(level, required) => Role::Stronger,
            _ => Role::Other,
        }
    }

    /// How a violation of a model in this role is described.
    pub fn violation_note(self) -> &'static str {
        match self {
            Role::Required => "",
            Role::Stronger => "stronger than the required model: information, not a failure",
            Role::Other => "not the required model: information, not a failure",
        }
    }
}

/// True if `a` holding implies that `b` holds (`a` is `b` or stronger), by the ladder's implications.
pub fn implies(a: Level, b: Level) -> bool {
    a == b || b.implied_by().iter().any(|&by| implies(a, by))
}

/// The strongest models that hold: every model that holds and is implied by no other that holds. The
/// models form a partial order (read-your-writes and monotonic reads are not comparable), so there may
/// be several.
pub fn strongest_holding(ladder: &Ladder) -> Vec<Level> {
    let holding: Vec<Level> = ladder.rungs.iter().filter(|r| r.status == Status::Holds).map(|r| r.level).collect();
    holding.iter().copied().filter(|&l| !holding.iter().any(|&other| other != l && implies(other, l))).collect()
}

/// The verdict of the required model among a history's rows (linearizability's when it has no row).
pub fn required_verdict(rows: &[LadderRow], required: Level) -> Verdict {
    rows.iter()
        .find(|r| Role::of(r, required) == Role::Required)
        .or_else(|| rows.first())
        .map_or(Verdict::Valid, |r| r.verdict)
}

/// True for a key group left undecided because the history was already shown invalid (its search was not
/// started or was stopped): not a failure to decide, a choice (`--all-keys` decides it). A group's
/// explanation is its key's cause ([`linear::KeyResult::left_undecided`] says the same of the key).
pub fn not_decided(group: &KeyGroup) -> bool {
    group.verdict == Verdict::Unknown && group.explanation.starts_with(linear::LEFT_UNDECIDED)
}

/// "key \"a\"", or "the register" for a history without keys.
pub fn key_name(p: &KeyResult) -> String {
    p.key.as_ref().map_or_else(|| "the register".to_string(), |k| format!("key {k}"))
}

fn problem_text(p: &KeyResult) -> String {
    match (&p.anomaly, &p.unknown_cause) {
        (Some(a), _) => a.explanation.clone(),
        (None, Some(cause)) => cause.clone(),
        (None, None) => format!("not linearizable ({} operations; not explained)", p.operations),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

/// The colour a verdict is shown in, everywhere.
pub fn colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "#1a7f37",
        Verdict::Invalid => "#cf222e",
        Verdict::Unknown => "#9a6700",
    }
}
