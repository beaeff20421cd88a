//! What became of an operation, as the history records it, and the errors that say why: the words the
//! adapters (which classify answers) and the transport (which classifies requests that got none) share.

use std::fmt;

use faultline_checker::Value;

/// The `error` of a compare-and-set whose comparison failed: the checker reads it as an observation.
pub const CAS_MISMATCH: &str = "cas-mismatch";
/// The prefix of the `error` of an operation that never reached the store (see
/// `faultline_checker::history::NOT_SENT`).
pub const NOT_SENT: &str = faultline_checker::history::NOT_SENT;
/// The prefix of the `error` of an operation the store refused without comparing anything (see
/// `faultline_checker::history::NOT_APPLIED`).
pub const NOT_APPLIED: &str = faultline_checker::history::NOT_APPLIED;

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It happened; for a read, the value read (null: the key does not exist).
    Ok(Value),
    /// It certainly did not happen; `error` says why.
    Fail { error: String },
    /// It may or may not have happened; `error` says why faultline cannot tell.
    Info { error: String },
}

impl Outcome {
    pub(crate) fn fail(error: impl Into<String>) -> Outcome {
        Outcome::Fail { error: error.into() }
    }

    pub(crate) fn info(error: impl Into<String>) -> Outcome {
        Outcome::Info { error: error.into() }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(v) => write!(f, "ok {v}"),
            Outcome::Fail { error } => write!(f, "fail ({error})"),
            Outcome::Info { error } => write!(f, "info ({error})"),
        }
    }
}
