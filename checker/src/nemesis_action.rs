//! What the nemesis did, as a history names it: the `f` of a `process: "nemesis"` event. One grammar, so
//! that the nemesis that writes these names, the harness that follows them during a run and the reports
//! that read them back agree by type rather than by string prefixes: `start-<fault>` and `stop-<fault>`
//! around each fault, `skip-<fault>` for a fault that had nothing to aim at, and a final `heal`.
//!
//! Histories from elsewhere (Jepsen's `start`/`stop`, custom nemeses) use other names; [`NemesisAction`]
//! parses faultline's own only, and a reader that shows any history keeps its own looser reading.

use std::fmt;
use std::str::FromStr;

/// One nemesis step, by the fault's name (`partition`, `kill`, `clock`, ...): the nemesis owns the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NemesisAction {
    Start(String),
    Stop(String),
    /// The fault's turn passed without it: nothing to aim at (the value says why).
    Skip(String),
    /// Everything healed, at the end of the run.
    Heal,
}

impl NemesisAction {
    /// The fault it names (none for `heal`).
    pub fn fault(&self) -> Option<&str> {
        match self {
            NemesisAction::Start(f) | NemesisAction::Stop(f) | NemesisAction::Skip(f) => Some(f),
            NemesisAction::Heal => None,
        }
    }
}

impl fmt::Display for NemesisAction {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NemesisAction::Start(fault) => write!(out, "start-{fault}"),
            NemesisAction::Stop(fault) => write!(out, "stop-{fault}"),
            NemesisAction::Skip(fault) => write!(out, "skip-{fault}"),
            NemesisAction::Heal => out.write_str("heal"),
        }
    }
}

impl FromStr for NemesisAction {
    type Err = String;

    fn from_str(f: &str) -> Result<NemesisAction, String> {
        if f == "heal" {
            return Ok(NemesisAction::Heal);
        }
        let (step, fault) = f.split_once('-').filter(|(_, fault)| !fault.is_empty()).ok_or_else(|| {
            format!("{f:?} is not a nemesis step: expected start-<fault>, stop-<fault>, skip-<fault> or heal")
        })?;
        let fault = fault.to_string();
        match step {
            "start" => Ok(NemesisAction::Start(fault)),
            "stop" => Ok(NemesisAction::Stop(fault)),
            "skip" => Ok(NemesisAction::Skip(fault)),
            _ => Err(format!("{f:?} is not a nemesis step: it starts with {step:?}, not start, stop or skip")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NemesisAction;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for (f, action) in [
            ("start-partition", NemesisAction::Start("partition".into())),
            ("stop-clock-skew", NemesisAction::Stop("clock-skew".into())),
            ("skip-pause", NemesisAction::Skip("pause".into())),
            ("heal", NemesisAction::Heal),
        ] {
            assert_eq!(f.parse::<NemesisAction>(), Ok(action.clone()));
            assert_eq!(action.to_string(), f);
        }
        assert_eq!("start-kill".parse::<NemesisAction>().unwrap().fault(), Some("kill"));
        assert_eq!(NemesisAction::Heal.fault(), None);
        for f in ["start", "stop-", "kill", "start_kill", "heal-all", ""] {
            let err = f.parse::<NemesisAction>().unwrap_err();
            assert!(err.contains("is not a nemesis step"), "{f:?}: {err}");
        }
    }
}
