//! faultline's reports: what a person or a CI job reads after a check. Reports render verdicts; they
//! decide nothing about validity.

pub mod escape;
pub mod html;
pub mod junit;
pub mod ladder;
pub mod markdown;
pub mod plots;
pub mod results;
pub mod serve;
pub mod summary;
pub mod timeline;
