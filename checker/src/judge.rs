//! What a history's check comes to, as the exit code and every report say it: the verdict of the model
//! that must hold (its rung of the consistency ladder, or linearizability's own), which a history that
//! shows too little to judge (see [`Availability`]) can only make `unknown`. Reports render this verdict;
//! they decide nothing.

use crate::availability::Availability;
use crate::ladder::{Ladder, Level, Status};
use crate::verdict::Verdict;

/// A rung's status as a verdict: a model holds, is violated, or is not decided.
impl From<Status> for Verdict {
    fn from(status: Status) -> Verdict {
        match status {
            Status::Holds => Verdict::Valid,
            Status::Violated => Verdict::Invalid,
            Status::Unknown => Verdict::Unknown,
        }
    }
}

/// The required model's own verdict: its rung of `ladder` when it is not linearizability and the ladder
/// was checked; else linearizability's verdict.
pub fn required_verdict(required: Level, ladder: Option<&Ladder>, linearizability: Verdict) -> Verdict {
    match ladder {
        Some(ladder) if required != Level::Linearizable => ladder.rung(required).status.into(),
        _ => linearizability,
    }
}

/// A history's verdict from its required model's: availability and an interruption can only take "valid"
/// away (a counterexample proves a violation however little else succeeded, and however early the run
/// stopped).
pub fn judge(required: Verdict, availability: Option<&Availability>, interrupted: bool) -> Verdict {
    match (required, availability) {
        (Verdict::Valid, _) if interrupted => Verdict::Unknown,
        (Verdict::Valid, Some(a)) if !a.is_available() => Verdict::Unknown,
        (v, _) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::{check, Options, Rule};
    use crate::History;

    #[test]
    fn too_little_success_takes_only_valid_away() {
        // An empty history shows nothing: it cannot be judged valid, but a proof stands.
        let empty = check(&History::new("empty", Vec::new()).unwrap(), &Options::new(Rule::AnyOk));
        assert!(!empty.is_available());
        assert_eq!(judge(Verdict::Valid, Some(&empty), false), Verdict::Unknown);
        assert_eq!(judge(Verdict::Invalid, Some(&empty), false), Verdict::Invalid);
        assert_eq!(judge(Verdict::Unknown, Some(&empty), false), Verdict::Unknown);
        // Without an availability check (an imported history judged as given), the verdict stands.
        for v in [Verdict::Valid, Verdict::Invalid, Verdict::Unknown] {
            assert_eq!(judge(v, None, false), v);
        }
    }

    #[test]
    fn an_interrupted_run_is_never_valid_but_its_violations_stand() {
        assert_eq!(judge(Verdict::Valid, None, true), Verdict::Unknown);
        assert_eq!(judge(Verdict::Invalid, None, true), Verdict::Invalid);
        assert_eq!(judge(Verdict::Unknown, None, true), Verdict::Unknown);
    }

    #[test]
    fn the_required_model_is_linearizabilitys_without_a_ladder() {
        for v in [Verdict::Valid, Verdict::Invalid, Verdict::Unknown] {
            assert_eq!(required_verdict(Level::Linearizable, None, v), v);
            assert_eq!(required_verdict(Level::Sequential, None, v), v);
        }
        assert_eq!(Verdict::from(Status::Holds), Verdict::Valid);
        assert_eq!(Verdict::from(Status::Violated), Verdict::Invalid);
        assert_eq!(Verdict::from(Status::Unknown), Verdict::Unknown);
    }
}
