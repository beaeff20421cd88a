//! The report of a real run of the reference cluster, in headless Chromium: it loads without console
//! errors, the verdict, the ladder and an anomaly are on the page, and a screenshot lands in the run's
//! folder. (reports/tests/browser.rs drives the timeline itself on synthetic and corpus histories.)

use std::path::Path;
use std::process::{Command, Stdio};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[String]) -> (String, String) {
    let child = Command::new(CHROMIUM)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--enable-logging=stderr", "--v=0", "--window-size=1400,1000"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Chromium must not hang the suite: a watchdog kills it after 90 s, while this thread drains its output.
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(90) {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_run_report_with_an_anomaly_loads_in_chromium() {
    if !Path::new(CHROMIUM).exists() {
        assert!(std::env::var_os("CI").is_none(), "{CHROMIUM} not found and CI is set: install chromium");
        eprintln!("{CHROMIUM} not found; skipping the browser test");
        return;
    }
    // The sequential mode serves stale reads: the report has a linearizability anomaly to show.
    let store = std::env::temp_dir().join(format!("faultline-report-browser-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", store.to_str().unwrap(), "--store-mode", "sequential", "--pin-clients"])
        .args(["--replication-delay", "20ms", "--ops", "600", "--nemesis", "none", "--lab", "none"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let run = std::fs::canonicalize(store.join("latest")).unwrap();
    let url = format!("file://{}", run.join("report.html").display());
    let profile = |name: &str| format!("--user-data-dir={}", store.join(name).display());

    let (dom, stderr) = chromium(&[profile("dom"), "--dump-dom".into(), url.clone()]);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("Uncaught") || l.contains("CONSOLE")).collect();
    assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
    assert!(dom.contains("data-timeline=\"ready\""), "the timeline script did not finish:\n{stderr}");
    for text in ["INVALID", "linearizability", "sequential consistency", "cannot be placed"] {
        assert!(dom.contains(text), "{text:?} is not on the page");
    }
    let shot = run.join("screenshot.png");
    let (_, stderr) = chromium(&[profile("shot"), format!("--screenshot={}", shot.display()), url]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{stderr}", shot.display()));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "not a real screenshot ({} bytes)", png.len());
    std::fs::remove_dir_all(&store).unwrap();
}
