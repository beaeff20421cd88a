//! faultline's reports: what a person or a CI job reads after a check. Reports render verdicts; they
//! decide nothing about validity.
//!
//! [`summary`] for the terminal, [`results`] as JSON, [`html`] a self-contained page (with [`plots`] and the
//! [`faults`] table),
//! [`junit`] and [`markdown`] for CI, [`serve`] to browse a store of runs, each a [`run_dir`] whose files
//! are named there once. The [`ladder`] of models and the
//! [`timeline`] clock are shared, so every report says the same thing; [`escape`] keeps the target's text
//! text.

pub mod escape;
pub mod faults;
pub mod html;
pub mod junit;
pub mod ladder;
pub mod markdown;
pub mod plots;
pub mod results;
pub mod run_dir;
pub mod serve;
pub mod summary;
pub mod timeline;
