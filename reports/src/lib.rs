//! faultline's reports: what a person or a CI job reads after a check. Reports render verdicts; they
//! decide nothing about validity.

pub mod results;
pub mod summary;
