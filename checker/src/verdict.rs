//! The verdict every checker gives a history and every report renders: one type, so that what a checker
//! decided, what the exit code says and what a report shows cannot drift apart. (What decides the exit
//! code, from which model's verdict and how much succeeded, is [`crate::judge`].)

use serde::Serialize;

/// Ordered from best to worst, so that the worst of several is their `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Unknown,
    Invalid,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        }
    }
}
