//! A test that cannot run here (a tool, a privilege or the shared corpus missing) says so where
//! `cargo test` shows it, and in CI fails instead. Shared by every crate's tests: `tests/common` includes
//! it, and other crates' tests include it by path.

use std::io::Write;

/// Whether this is CI (`CI` set, as CI systems set it, to anything but `false` or `0`), where every
/// prerequisite is installed and nothing may skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Skips the running test with `why`: one line `SKIPPED <test>: <why>` on the process's own stderr, past
/// the test harness's capture of `eprintln!` (so it shows without `--nocapture`; `.ci/run` counts these
/// lines). In CI this panics instead: a skip there would count as a pass that tested nothing.
pub fn skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    assert!(!in_ci(), "{test} cannot run: {why}; CI is set, and CI must provide it (.ci/run)");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}
