//! `cargo bench -p faultline-checker`: the linearizability checker on every file of the Porcupine corpus
//! and on synthetic histories, as a Markdown table of medians.
//!
//! For each history: the median time to decide the verdict (what Porcupine's `CheckOperations` measures),
//! the median time of the full check with the explanation (prefix, minimal counterexample, narrative), the
//! median time to parse the file, and, beside them, Porcupine's parse + check of the same file measured in
//! the same run by `../shared/peers/porcupine/bench.sh` (where Go is installed; else "-"). Pass a substring to bench only matching rows, e.g.
//! `cargo bench -p faultline-checker -- etcd_00`.
//!
//! A second table times every checker of the consistency ladder (linearizability, sequential, causal with
//! CC, CM and CCv together, session guarantees, eventual) on synthetic histories of 10k to 1M operations
//! (rows named "consistency: ..."; synthetic histories are linearizable, so every model must hold, or be
//! unknown where a checker gives up at its limits), with the peak memory each checker allocated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use faultline_checker::causal::{self, Status};
use faultline_checker::format;
use faultline_checker::linear::{self, Options};
use faultline_checker::model::CasFail;
use faultline_checker::model::{ModelKind, ModelOptions};
use faultline_checker::synth::{self, Spec};
use faultline_checker::Verdict;
use faultline_checker::{eventual, sequential, session, History};

/// The system allocator, counting bytes in use and their peak, so that each checker's peak memory can be
/// told apart within one process.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only the counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                let now = IN_USE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`; also returns the most memory it had allocated at once, in MiB.
fn peak_mib<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let base = IN_USE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let v = f();
    (v, (PEAK.load(Ordering::Relaxed) - base) as f64 / (1 << 20) as f64)
}

/// Runs `f` at least `MIN_RUNS` times and until `MIN_TIME` has passed (at most `MAX_RUNS`); the median.
fn median<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    const MIN_RUNS: usize = 5;
    const MAX_RUNS: usize = 101;
    const MIN_TIME: Duration = Duration::from_millis(300);
    let started = Instant::now();
    let mut times = Vec::new();
    let mut last;
    loop {
        let t = Instant::now();
        last = f();
        times.push(t.elapsed());
        if times.len() >= MAX_RUNS || (times.len() >= MIN_RUNS && started.elapsed() >= MIN_TIME) {
            break;
        }
    }
    times.sort();
    (times[times.len() / 2], last)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Row {
    name: String,
    events: usize,
    verdict: Verdict,
    expected: Option<String>,
    parse: Duration,
    decide: Duration,
    full: Duration,
}

fn bench_history(name: String, history: &History, opts: &Options, expected: Option<String>, parse: Duration) -> Row {
    let verdict_only = Options { explain_keys: 0, ..opts.clone() };
    let (decide, analysis) = median(|| linear::check(history, &verdict_only).expect("prepared"));
    let (full, _) = median(|| linear::check(history, opts).expect("prepared"));
    Row { name, events: history.events.len(), verdict: analysis.verdict, expected, parse, decide, full }
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_ref().is_none_or(|f| name.contains(f.as_str()));
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/porcupine");
    let mut rows = Vec::new();
    let mut porcupine_files = Vec::new();
    match std::fs::read_to_string(corpus.join("EXPECTED.tsv")) {
        Ok(expected) => {
            for line in expected.lines().skip(1) {
                let cols: Vec<&str> = line.split('\t').collect();
                let [file, _, verdict, _] = cols[..] else { continue };
                if !wanted(file) {
                    continue;
                }
                let path: PathBuf = corpus.join(file);
                porcupine_files.push((file.to_string(), path.clone()));
                let text = std::fs::read_to_string(&path).expect("corpus file readable");
                let (parse, imported) = median(|| format::parse(file, &text, None).expect("corpus parses"));
                let model = imported.model_options(None, None, CasFail::Observe);
                let opts = Options::new(model);
                rows.push(bench_history(file.to_string(), &imported.history, &opts, Some(verdict.to_string()), parse));
            }
        }
        Err(_) => println!("corpus not found at {}; benching synthetic histories only", corpus.display()),
    }

    let synthetic = [
        (
            "synth: 1,000,000 ops, 1,000 keys, 20 clients, 0.5% info writes",
            Spec { ops: 1_000_000, keys: 1000, clients: 20, info_writes: 0.005, stale_read: false, seed: 1 },
        ),
        (
            "synth: 5,000 ops, 1 key, 50 clients",
            Spec { ops: 5000, keys: 1, clients: 50, info_writes: 0.0, stale_read: false, seed: 2 },
        ),
        (
            "synth: 5,000 ops, 1 key, 50 clients, stale read",
            Spec { ops: 5000, keys: 1, clients: 50, info_writes: 0.0, stale_read: true, seed: 2 },
        ),
        (
            "synth: 20,000 ops, 1 key, 20 clients, 1% info writes",
            Spec { ops: 20_000, keys: 1, clients: 20, info_writes: 0.01, stale_read: false, seed: 3 },
        ),
        (
            "synth: 20,000 ops, 1 key, 20 clients, 1% info writes, stale read",
            Spec { ops: 20_000, keys: 1, clients: 20, info_writes: 0.01, stale_read: true, seed: 3 },
        ),
    ];
    for (name, spec) in synthetic {
        if !wanted(name) {
            continue;
        }
        let mut text = Vec::new();
        synth::write(&mut text, &spec).expect("in memory");
        let text = String::from_utf8(text).expect("JSON is UTF-8");
        let (parse, imported) = median(|| format::parse(name, &text, None).expect("synthetic parses"));
        let opts = Options::new(imported.model_options(None, None, CasFail::Observe));
        let expected = if spec.stale_read { "illegal" } else { "ok" };
        rows.push(bench_history(name.to_string(), &imported.history, &opts, Some(expected.to_string()), parse));
    }

    let porcupine = porcupine(&corpus, &porcupine_files);
    println!(
        "| history | events | verdict | expected | decide (ms) | with explanation (ms) | parse (ms) | Porcupine parse + check (ms) |"
    );
    println!("|---|---:|---|---|---:|---:|---:|---:|");
    let mut mismatches = 0;
    for r in &rows {
        let agrees = matches!(
            (r.expected.as_deref(), r.verdict),
            (Some("ok"), Verdict::Valid) | (Some("illegal"), Verdict::Invalid) | (None, _)
        );
        mismatches += usize::from(!agrees);
        println!(
            "| {} | {} | {}{} | {} | {:.3} | {:.3} | {:.3} | {} |",
            r.name,
            r.events,
            r.verdict.as_str(),
            if agrees { "" } else { " (MISMATCH)" },
            r.expected.as_deref().unwrap_or("-"),
            ms(r.decide),
            ms(r.full),
            ms(r.parse),
            porcupine.get(&r.name).map_or("-".to_string(), |p| format!("{p:.3}"))
        );
    }
    let corpus_rows: Vec<&Row> = rows.iter().filter(|r| !r.name.starts_with("synth")).collect();
    if !corpus_rows.is_empty() {
        let sum = |f: fn(&Row) -> Duration| corpus_rows.iter().map(|r| ms(f(r))).sum::<f64>();
        let porcupine_sum: Option<f64> = corpus_rows.iter().map(|r| porcupine.get(&r.name)).sum();
        println!(
            "| **corpus total ({} files)** | {} | | | **{:.3}** | **{:.3}** | **{:.3}** | **{}** |",
            corpus_rows.len(),
            corpus_rows.iter().map(|r| r.events).sum::<usize>(),
            sum(|r| r.decide),
            sum(|r| r.full),
            sum(|r| r.parse),
            porcupine_sum.map_or("-".to_string(), |p| format!("{p:.3}"))
        );
    }
    mismatches += bench_consistency(&wanted);
    if mismatches > 0 {
        eprintln!("{mismatches} verdicts differ from the expected ones");
        std::process::exit(1);
    }
}

/// Porcupine's median parse + check time (ms) per corpus file, from its bench harness, if Go is installed.
fn porcupine(corpus: &Path, files: &[(String, PathBuf)]) -> std::collections::HashMap<String, f64> {
    let script = corpus.join("../../peers/porcupine/bench.sh");
    let has_go = std::process::Command::new("go").arg("version").output().is_ok_and(|o| o.status.success());
    if files.is_empty() || !script.exists() || !has_go {
        println!("(Porcupine not measured: needs Go and {})", script.display());
        return Default::default();
    }
    let output = std::process::Command::new(&script).args(["-n", "5"]).args(files.iter().map(|(_, p)| p)).output();
    let Ok(output) = output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()) else {
        return Default::default();
    };
    // "ZZ file kind expected verdict events runs parse_ms check_ms total_ms ...", file as an absolute path.
    let by_path: std::collections::HashMap<PathBuf, &str> =
        files.iter().filter_map(|(name, p)| Some((p.canonicalize().ok()?, name.as_str()))).collect();
    output
        .lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let name = by_path.get(Path::new(cols.get(1)?))?;
            Some((name.to_string(), cols.get(9)?.parse().ok()?))
        })
        .collect()
}

/// Times `f` once (for histories too large to repeat), or as [`median`] does.
fn timed<T>(once: bool, mut f: impl FnMut() -> T) -> (Duration, T) {
    if once {
        let t = Instant::now();
        let v = f();
        (t.elapsed(), v)
    } else {
        median(f)
    }
}

/// The causal, session and eventual checkers on synthetic histories; returns how many verdicts were wrong.
fn bench_consistency(wanted: &dyn Fn(&str) -> bool) -> usize {
    let rows = [
        ("consistency: 10,000 ops, 100 keys, 20 clients", 10_000, 100, 0.0, false, 5),
        ("consistency: 10,000 ops, 100 keys, 20 clients, 0.5% info writes", 10_000, 100, 0.005, false, 5),
        ("consistency: 100,000 ops, 1,000 keys, 20 clients", 100_000, 1000, 0.0, false, 5),
        ("consistency: 100,000 ops, 1,000 keys, 20 clients, 0.5% info writes", 100_000, 1000, 0.005, false, 5),
        ("consistency: 1,000,000 ops, 10,000 keys, 20 clients", 1_000_000, 10_000, 0.0, false, 5),
        // The history of issue 14 (`faultline synth --ops 1000000 --keys 1000 --clients 20 --info-writes 0.005
        // --seed 3 --stale-read`): every indeterminate write retires a process, 2,410 processes in all.
        (
            "consistency: 1,000,000 ops, 1,000 keys, 20 clients, 0.5% info writes, stale read",
            1_000_000,
            1000,
            0.005,
            true,
            3,
        ),
    ];
    let mut printed = false;
    let mut wrong = 0;
    for (name, ops, keys, info, stale_read, seed) in rows {
        if !wanted(name) {
            continue;
        }
        if !printed {
            println!();
            println!(
                "| history | linearizability ms (MiB) | sequential | ms (MiB) | CC / CM / CCv | causal ms (MiB) | \
                 sessions | session ms (MiB) | eventual | eventual ms (MiB) |"
            );
            println!("|---|---:|---|---:|---|---:|---|---:|---|---:|");
            printed = true;
        }
        let spec = Spec { ops, keys, clients: 20, info_writes: info, stale_read, seed };
        let history = History::new(name, synth::generate(&spec)).expect("synthetic history pairs");
        let model = ModelOptions::new(ModelKind::Register);
        let once = ops >= 100_000;
        let ((tl, l), ml) =
            peak_mib(|| timed(once, || linear::check(&history, &Options::new(model.clone())).expect("linear")));
        let sequential_opts = sequential::Options {
            time_limit: Some(Duration::from_secs(60)),
            ..sequential::Options::new(model.clone())
        };
        let ((tq, q), mq) =
            peak_mib(|| timed(once, || sequential::check(&history, &sequential_opts).expect("sequential")));
        let ((tc, c), mc) =
            peak_mib(|| timed(once, || causal::check(&history, &causal::Options::new(model.clone())).expect("causal")));
        let ((ts, s), ms_) = peak_mib(|| timed(once, || session::check(&history, &model).expect("session")));
        let ((te, e), me) = peak_mib(|| {
            timed(once, || eventual::check(&history, &eventual::Options::new(model.clone())).expect("eventual"))
        });
        let word = |st: Status| match st {
            Status::Holds => "holds",
            Status::Violated => "VIOLATED",
            Status::Unknown => "unknown",
        };
        wrong += [c.cc.status, c.cm.status, c.ccv.status].iter().filter(|&&x| x == Status::Violated).count();
        // Synthetic histories have no final reads: eventual consistency is rightly unknown on them (it
        // judges convergence by the final reads); only a violation would be wrong.
        wrong += usize::from(!s.holds()) + usize::from(e.verdict == Verdict::Invalid);
        // The planted stale read is not linearizable, and only that (a fresh process reads an old value).
        wrong +=
            usize::from((l.verdict == Verdict::Invalid) != stale_read) + usize::from(q.verdict == Verdict::Invalid);
        println!(
            "| {name} | {:.1} ({ml:.0}) | {} | {:.1} ({mq:.0}) | {} / {} / {} | {:.1} ({mc:.0}) | {} | {:.1} ({ms_:.0}) | {} | {:.1} ({me:.0}) |",
            ms(tl),
            q.verdict.as_str(),
            ms(tq),
            word(c.cc.status),
            word(c.cm.status),
            word(c.ccv.status),
            ms(tc),
            if s.holds() { "hold" } else { "VIOLATED" },
            ms(ts),
            e.verdict.as_str(),
            ms(te)
        );
    }
    wrong
}
