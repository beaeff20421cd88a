//! The causal and session checkers run directly on the Jepsen etcd logs of the Porcupine corpus
//! (`../shared/corpus/porcupine/jepsen`, beside the project): cas-registers with values written many times
//! and many failed cas, so each log has far more ways of being read than the exact search tries. Every one
//! of these logs is sequentially consistent, so no weaker model may be violated; the likeliest world and
//! the second guess must decide most of them (an `unknown` is allowed: it says the search's bound).

use std::path::Path;

use faultline_checker::causal::{self, Status};
use faultline_checker::format;
use faultline_checker::model::CasFail;
use faultline_checker::session;

#[test]
fn the_jepsen_etcd_logs_violate_no_weak_model_and_are_mostly_decided() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/porcupine/jepsen");
    if !dir.exists() {
        assert!(std::env::var_os("CI").is_none(), "corpus not found at {} and CI is set", dir.display());
        eprintln!("corpus not found at {}; skipping (a user's clone)", dir.display());
        return;
    }
    let (mut logs, mut causal_decided, mut sessions_decided) = (0, 0, 0);
    for i in 0..200 {
        let path = dir.join(format!("etcd_{i:03}.log"));
        if !path.exists() {
            continue;
        }
        let imported = format::load(&path, None).unwrap();
        let model = imported.model_options(None, None, CasFail::Observe);
        let c = causal::check(&imported.history, &causal::Options::new(model.clone())).unwrap();
        let s = session::check(&imported.history, &model).unwrap();
        for r in [&c.cc, &c.cm, &c.ccv] {
            assert_ne!(r.status, Status::Violated, "{}: {:?}", path.display(), r.anomalies);
        }
        for g in &s.guarantees {
            assert_eq!(g.violations, 0, "{}: {:?}", path.display(), g.examples);
        }
        logs += 1;
        causal_decided += usize::from([&c.cc, &c.cm, &c.ccv].iter().all(|r| r.status == Status::Holds));
        sessions_decided += usize::from(s.holds());
    }
    eprintln!(
        "{logs} logs: CC, CM and CCv all decided on {causal_decided}, every session guarantee on {sessions_decided}"
    );
    assert!(logs >= 100, "only {logs} etcd logs found");
    assert!(causal_decided * 2 > logs && sessions_decided * 10 > logs * 8, "{causal_decided}, {sessions_decided}");
}
