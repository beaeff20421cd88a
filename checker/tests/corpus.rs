//! Every history of the Porcupine corpus (`../shared/corpus/porcupine`, beside the project) gets the
//! verdict Porcupine's own test suite asserts for it. The corpus is not part of the project: where it is
//! absent (a user's clone) these tests say so and pass; in CI (`CI` set) its absence is a failure.

use std::path::{Path, PathBuf};

use faultline_checker::format;
use faultline_checker::linear::{self, Options};
use faultline_checker::model::CasFail;
use faultline_checker::Verdict;

#[path = "../../tests/common/skip.rs"]
mod skip;

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/porcupine");
    if dir.join("EXPECTED.tsv").exists() {
        return Some(dir);
    }
    skip::skip(&format!("the Porcupine corpus is not at {} (a clone without ../shared)", dir.display()));
    None
}

fn expected(dir: &Path) -> Vec<(String, Verdict)> {
    let text = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let verdict = match cols[2] {
                "ok" => Verdict::Valid,
                "illegal" => Verdict::Invalid,
                other => panic!("unknown expected verdict {other}"),
            };
            (cols[0].to_string(), verdict)
        })
        .collect()
}

#[test]
fn every_corpus_file_gets_its_expected_verdict() {
    let Some(dir) = corpus() else { return };
    let rows = expected(&dir);
    assert_eq!(rows.len(), 108);
    let mut wrong = Vec::new();
    for (file, want) in &rows {
        let imported = format::load(&dir.join(file), None).unwrap();
        let opts = Options::new(imported.model_options(None, None, CasFail::Observe));
        let analysis = linear::check(&imported.history, &opts).unwrap();
        if analysis.verdict != *want {
            wrong.push(format!("{file}: got {:?}, expected {want:?}", analysis.verdict));
            continue;
        }
        if *want == Verdict::Invalid {
            let anomaly = analysis
                .problems
                .iter()
                .find_map(|p| p.anomaly.as_ref())
                .unwrap_or_else(|| panic!("{file}: no key is explained"));
            assert!(
                !anomaly.counterexample.is_empty() && anomaly.counterexample.len() < imported.history.operations.len()
            );
            assert!(anomaly.first_bad_line.is_some(), "{file}: no prefix");
            assert!(anomaly.explanation.contains("cannot be placed"), "{file}: {}", anomaly.explanation);
        }
    }
    assert!(wrong.is_empty(), "{} of {} files disagree:\n{}", wrong.len(), rows.len(), wrong.join("\n"));
}

/// Dropping failed compare-and-sets (Knossos's reading) only removes constraints: nothing valid becomes
/// invalid, and the files that change verdict are exactly those whose anomaly needs a failed cas.
#[test]
fn dropping_failed_cas_never_invalidates_a_valid_file() {
    let Some(dir) = corpus() else { return };
    let mut changed = 0;
    for (file, want) in expected(&dir).iter().filter(|(f, _)| f.starts_with("jepsen/")) {
        let imported = format::load(&dir.join(file), None).unwrap();
        let opts = Options::new(imported.model_options(None, None, CasFail::Drop));
        let verdict = linear::check(&imported.history, &opts).unwrap().verdict;
        match want {
            Verdict::Valid => assert_eq!(verdict, Verdict::Valid, "{file}"),
            _ => changed += usize::from(verdict == Verdict::Valid),
        }
    }
    eprintln!("{changed} illegal files are valid when failed cas operations are dropped");
}

/// Every corpus file imports with the number of events `EXPECTED.tsv` gives, and survives a round trip
/// through faultline's JSON Lines unchanged.
#[test]
fn imports_count_every_event_and_round_trip_through_jsonl() {
    let Some(dir) = corpus() else { return };
    let text = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let imported = format::load(&dir.join(cols[0]), None).unwrap();
        let want_format =
            if cols[0].starts_with("jepsen/") { format::Format::PorcupineLog } else { format::Format::Edn };
        assert_eq!(imported.format, want_format, "{}", cols[0]);
        assert_eq!(imported.history.events.len(), cols[3].parse::<usize>().unwrap(), "{}", cols[0]);
        let mut out = Vec::new();
        format::jsonl::write_events(&mut out, &imported.history.events).unwrap();
        let again = format::parse("again", std::str::from_utf8(&out).unwrap(), None).unwrap();
        assert_eq!(again.format, format::Format::Jsonl);
        let fields = |e: &faultline_checker::Event| {
            (e.index, e.kind, e.process, e.f.clone(), e.key.clone(), e.value.clone(), e.error.clone())
        };
        assert!(
            imported.history.events.iter().map(fields).eq(again.history.events.iter().map(fields)),
            "{} changed in the round trip",
            cols[0]
        );
    }
}

/// With `--all-keys`, every invalid key of every kv log is decided by its structure (none unknown, none left
/// to the search), among them the 10 keys of c50-bad, two of which Porcupine runs out of memory on and
/// four of which the search could not decide.
#[test]
fn kv_logs_are_decided_by_structure() {
    let Some(dir) = corpus() else { return };
    for (file, _) in expected(&dir).iter().filter(|(f, _)| f.starts_with("kv/")) {
        let imported = format::load(&dir.join(file), None).unwrap();
        let opts = Options { all_keys: true, ..Options::new(imported.model_options(None, None, CasFail::Observe)) };
        let analysis = linear::check(&imported.history, &opts).unwrap();
        for p in &analysis.problems {
            assert_eq!(p.verdict, Verdict::Invalid, "{file}: key {:?} is {:?}", p.key, p.verdict);
        }
        let searched: Vec<_> =
            analysis.problems.iter().filter(|p| p.method != linear::Method::Appends).map(|p| &p.key).collect();
        assert!(searched.is_empty(), "{file}: keys {searched:?} went to the search");
        if file.ends_with("c50-bad.txt") {
            assert_eq!((analysis.keys, analysis.problems.len()), (10, 10));
        }
    }
}
