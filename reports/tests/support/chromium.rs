//! Headless Chromium for the report tests of two crates (reports/tests/browser.rs, and the binary's
//! tests/report_browser.rs, which includes this file by path): where it is, whether to skip, and one run
//! with the flags a test needs, bounded by a watchdog.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../tests/common/skip.rs"]
mod skip;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether Chromium is here; without it a test says so and passes, except in CI (`CI` set), where that
/// fails.
pub fn available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    skip::skip(&format!("{CHROMIUM} not found (apt-get install chromium)"));
    false
}

/// Runs headless Chromium with its profile in `profile` (a fresh folder per run, so runs do not share
/// state) and `args`; returns its stdout and stderr (console messages are logged to stderr).
pub fn run(profile: &Path, args: &[String]) -> (String, String) {
    let child = Command::new(CHROMIUM)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--hide-scrollbars", "--enable-logging=stderr", "--v=0", "--window-size=1400,1000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Chromium must not hang the suite: a watchdog kills it after 90 s, while this thread drains its output.
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(90) {
            std::thread::sleep(Duration::from_millis(100));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    let out = child.wait_with_output().expect("chromium runs");
    let _ = watchdog.join();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}
