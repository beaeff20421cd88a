//! The report of a real run of the reference cluster, in headless Chromium: it loads without console
//! errors, the verdict, the ladder and an anomaly are on the page, and a screenshot lands in the run's
//! folder. (reports/tests/browser.rs drives the timeline itself on synthetic and corpus histories.)

#[path = "../reports/tests/support/chromium.rs"]
mod chromium;

#[test]
fn a_run_report_with_an_anomaly_loads_in_chromium() {
    if !chromium::available() {
        return;
    }
    // The sequential mode serves stale reads: the report has a linearizability anomaly to show.
    let store = std::env::temp_dir().join(format!("faultline-report-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store); // (left by a test process of the same pid)
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--store", store.to_str().unwrap(), "--store-mode", "sequential", "--pin-clients"])
        .args(["--replication-delay", "20ms", "--ops", "600", "--nemesis", "none", "--lab", "none"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let run = std::fs::canonicalize(store.join("latest")).unwrap();
    let url = format!("file://{}", run.join("report.html").display());

    let (dom, stderr) = chromium::run(&store.join("dom"), &["--dump-dom".into(), url.clone()]);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("Uncaught") || l.contains("CONSOLE")).collect();
    assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
    assert!(dom.contains("data-timeline=\"ready\""), "the timeline script did not finish:\n{stderr}");
    for text in ["INVALID", "linearizability", "sequential consistency", "cannot be placed"] {
        assert!(dom.contains(text), "{text:?} is not on the page");
    }
    let shot = run.join("screenshot.png");
    let (_, stderr) = chromium::run(&store.join("shot"), &[format!("--screenshot={}", shot.display()), url]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{stderr}", shot.display()));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "not a real screenshot ({} bytes)", png.len());
    std::fs::remove_dir_all(&store).unwrap();
}
