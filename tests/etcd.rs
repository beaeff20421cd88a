//! `faultline test` against a real etcd (Debian's `etcd-server`): a single node on loopback, started by
//! the test in a fresh data directory. Every etcd adapter must record a valid history, twice in a row on
//! the same cluster. Without etcd installed the test says so and passes; in CI (`CI` set) that fails.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{etcd_installed, Etcd};

fn start_etcd() -> Option<Etcd> {
    if !etcd_installed() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("faultline-etcd-{}", std::process::id()));
    let etcd = Etcd::start(dir, "http", &["--enable-v2=true"], Stdio::null());
    let started = Instant::now();
    while !healthy(&etcd.url) {
        assert!(started.elapsed() < Duration::from_secs(20), "etcd did not become ready in 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(etcd)
}

/// The v2 API answers once the single node has elected itself.
fn healthy(url: &str) -> bool {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--target", url, "--adapter", "etcd-v2", "--ops", "1", "--no-final-reads", "--store"])
        .arg(std::env::temp_dir().join(format!("faultline-etcd-probe-{}", std::process::id())))
        .output()
        .unwrap();
    out.status.code() == Some(0) && String::from_utf8_lossy(&out.stdout).contains("1 workload operation ")
}

#[test]
fn every_etcd_adapter_records_a_valid_history() {
    let Some(etcd) = start_etcd() else { return };
    let store = std::env::temp_dir().join(format!("faultline-etcd-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store); // (left by a test process of the same pid)
    let files = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("adapters/etcd-v2.toml");
    for adapter in ["etcd-v2", "etcd-v3", "etcd-v2-stale", "etcd-v3-stale", files.to_str().unwrap(), "etcd-v3"] {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["test", "--target", &etcd.url, "--adapter", adapter, "--ops", "500", "--clients", "5"])
            .args(["--time-limit", "30s", "--store", store.to_str().unwrap()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{adapter}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("VALID") && stdout.contains("500 workload operations"), "{adapter}: {stdout}");
        let history = std::fs::read_to_string(store.join("latest/history.jsonl")).unwrap();
        assert!(
            history.contains(r#""f":"cas","key""#) && history.contains(r#""type":"fail""#),
            "{adapter}: no cas mismatch recorded"
        );
    }
    let _ = std::fs::remove_dir_all(&store);
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("faultline-etcd-probe-{}", std::process::id())));
}
