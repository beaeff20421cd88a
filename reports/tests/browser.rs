//! The HTML report in a real browser: Debian's headless chromium loads a report with an anomaly and fault
//! periods from a file:// URL, its script runs without an error, the verdict and the anomaly are in the
//! DOM afterwards, and a screenshot is written. Without chromium the test says so and passes; in CI (`CI`
//! set) that fails. `FAULTLINE_SCREENSHOT=path` keeps the screenshot (docs/report.png is made this way).

mod support {
    pub mod chromium;
}

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faultline_checker::format::jsonl;
use faultline_checker::linear::{self, Options};
use faultline_checker::model::{ModelKind, ModelOptions};
use faultline_checker::synth::{self, Spec};
use faultline_checker::Verdict;
use faultline_checker::{sequential, Event, EventKind, Process, Value};
use faultline_reports::html::{render, ReportInput};
use support::chromium;

/// Drives the timeline as a person would, with synthetic events, and reports into `<pre id="probe">`.
const PROBE: &str = r#"
(function () {
  var c = document.getElementById('tl'), r = c.getBoundingClientRect(), out = [];
  var at = function (fx, fy) { return { clientX: r.left + r.width * fx, clientY: r.top + fy, bubbles: true }; };
  c.dispatchEvent(new WheelEvent('wheel', Object.assign(at(0.5, 40), { deltaY: -400, cancelable: true })));
  c.dispatchEvent(new MouseEvent('mousedown', at(0.5, 40)));
  window.dispatchEvent(new MouseEvent('mousemove', at(0.45, 40)));
  window.dispatchEvent(new MouseEvent('mouseup', at(0.45, 40)));
  var lane0 = 20 + 3 + 2;
  for (var fx = 0.3; fx < 0.7 && document.getElementById('tl-detail').textContent.indexOf('process ') !== 0; fx += 0.01) {
    c.dispatchEvent(new MouseEvent('mousedown', at(fx, lane0)));
    window.dispatchEvent(new MouseEvent('mouseup', at(fx, lane0)));
  }
  out.push('clicked: ' + document.getElementById('tl-detail').textContent);
  document.getElementById('tl-anomaly').click();
  out.push('anomaly: ' + document.getElementById('tl-detail').textContent);
  // Labels of a counterexample drawing must not overlap one another, however far apart its operations.
  var overlaps = 0, texts = 0;
  document.querySelectorAll('svg.counterexample').forEach(function (svg) {
    var boxes = Array.prototype.map.call(svg.querySelectorAll('text'), function (t) { return t.getBBox(); });
    texts += boxes.length;
    for (var i = 0; i < boxes.length; i++) for (var j = i + 1; j < boxes.length; j++) {
      var a = boxes[i], b = boxes[j];
      if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) overlaps++;
    }
  });
  out.push('labels: ' + texts + ', overlapping: ' + overlaps);
  // Explanations wrap between words, never inside one ("c ompletion").
  var story = document.querySelector('pre.story');
  out.push('story word-break: ' + (story ? getComputedStyle(story).wordBreak : 'none'));
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = out.join('\n');
  document.body.appendChild(pre);
})();
"#;

/// A stale read in a history with two partitions, as JSON Lines text.
fn history_text() -> String {
    let spec = Spec { ops: 1000, keys: 4, clients: 8, info_writes: 0.03, stale_read: true, seed: 11 };
    let mut events = synth::generate(&spec);
    let end = events.last().and_then(|e| e.time).unwrap_or(0);
    let nemesis = |time: u64, f: &str, value: Value| Event {
        index: 0,
        time: Some(time),
        kind: EventKind::Info,
        process: Process::Nemesis,
        f: f.into(),
        key: None,
        value,
        error: None,
        node: None,
        final_read: false,
        line: 0,
    };
    for (at, f, v) in [
        (end / 5, "start-partition", Value::Json("{\"isolated\":[\"n2\"]}".into())),
        (end * 2 / 5, "stop-partition", Value::Null),
        (end * 3 / 5, "start-kill", Value::Json("{\"nodes\":[\"n1\"]}".into())),
        (end * 4 / 5, "stop-kill", Value::Null),
    ] {
        let pos = events.partition_point(|e| e.time.unwrap_or(0) <= at);
        events.insert(pos, nemesis(at, f, v));
    }
    for (i, e) in events.iter_mut().enumerate() {
        e.index = i as u64;
    }
    let mut out = Vec::new();
    jsonl::write_events(&mut out, &events).unwrap();
    String::from_utf8(out).unwrap()
}

/// Writes the page to a fresh folder, loads it with --dump-dom and checks that its script ran without an
/// error. Returns the folder, the page's path, the DOM after scripts ran, and the seconds it took.
fn load(name: &str, page: &str) -> (PathBuf, PathBuf, String, f64) {
    let dir: PathBuf = std::env::temp_dir().join(format!("faultline-browser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    std::fs::write(&html, page).unwrap();
    // A probe, run after the report's own script in a copy of the page: zoom with the wheel, pan by
    // dragging, click an operation, then the anomaly button; it writes what the detail panel showed.
    let probed = dir.join("probed.html");
    std::fs::write(&probed, page.replace("</body>", &format!("<script>{PROBE}</script></body>"))).unwrap();
    let dump = ["--dump-dom".to_string(), format!("file://{}", probed.display())];
    let started = Instant::now();
    let (dom, stderr) = chromium::run(&dir.join("profile-dom"), &dump);
    let elapsed = started.elapsed().as_secs_f64();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("Uncaught") || l.contains("CONSOLE")).collect();
    assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
    assert!(dom.contains("data-timeline=\"ready\""), "the timeline script did not finish; stderr:\n{stderr}");
    assert!(dom.contains("id=\"tl-status\">Drawing "), "the canvas status was not written");
    let probe = dom.split("id=\"probe\">").nth(1).and_then(|s| s.split("</pre>").next()).unwrap_or("");
    assert!(probe.contains("clicked: process "), "a click on the canvas showed no operation:\n{probe}");
    assert!(probe.contains("anomaly: process ") && probe.contains("cannot be placed"), "{probe}");
    assert!(probe.contains(r#""type":"invoke""#), "the lines were not shown:\n{probe}");
    assert!(probe.contains(", overlapping: 0") && !probe.contains("labels: 0,"), "labels overlap:\n{probe}");
    assert!(probe.contains("story word-break: normal"), "words may break inside:\n{probe}");
    (dir, html, dom, elapsed)
}

#[test]
fn the_report_loads_in_chromium_without_errors() {
    if !chromium::available() {
        return;
    }
    let text = history_text();
    let h = jsonl::parse("partitions.jsonl", &text).unwrap();
    let a = linear::check(&h, &Options::new(ModelOptions::new(ModelKind::Register))).unwrap();
    assert_eq!(a.verdict, Verdict::Invalid);
    // Sequential consistency has no per-key split; bounded, it says "unknown" rather than take the machine.
    let seq_opts = sequential::Options {
        memory_limit: 64 << 20,
        time_limit: Some(Duration::from_secs(2)),
        ..sequential::Options::new(ModelOptions::new(ModelKind::Register))
    };
    let seq = sequential::check(&h, &seq_opts).unwrap();
    let mut input = ReportInput::new("faultline test: register, partitions (synthetic stale read)", &h, &a);
    input.parameters = vec![
        ("target".into(), "synthetic history (faultline_checker::synth), 8 clients".into()),
        ("workload".into(), "register: read/write on 4 keys".into()),
        ("nemesis".into(), "partition, kill".into()),
        ("seed".into(), "11".into()),
        ("duration".into(), format!("{:.2} s", h.events.last().and_then(|e| e.time).unwrap_or(0) as f64 / 1e9)),
    ];
    input.sequential = Some(&seq);
    input.source = Some(&text);
    let page = render(&input);

    let (dir, html, dom, elapsed) = load("anomaly", &page);
    assert!(dom.contains(">INVALID</div>"), "no verdict in the DOM");
    assert!(dom.contains("cannot be placed"), "no anomaly text in the DOM");
    eprintln!("report with {} operations: loaded in {elapsed:.1} s", h.operations.len());

    let shot = dir.join("report.png");
    let url = format!("file://{}", html.display());
    let (_, stderr) = chromium::run(&dir.join("profile-shot"), &[format!("--screenshot={}", shot.display()), url]);
    let png =
        std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}; stderr:\n{stderr}", shot.display()));
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
    if let Ok(keep) = std::env::var("FAULTLINE_SCREENSHOT") {
        std::fs::copy(&shot, &keep).unwrap();
        std::fs::copy(&html, Path::new(&keep).with_extension("html")).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_million_operations_load_in_chromium() {
    if !chromium::available() {
        return;
    }
    let spec = Spec { ops: 1_000_000, keys: 100, clients: 16, info_writes: 0.02, stale_read: true, seed: 7 };
    let h = faultline_checker::History::new("synth-1m", synth::generate(&spec)).unwrap();
    let a = linear::check(&h, &Options::new(ModelOptions::new(ModelKind::Register))).unwrap();
    let page = render(&ReportInput::new("a million operations", &h, &a));
    let (dir, _, dom, elapsed) = load("million", &page);
    let script_ms =
        dom.split("data-timeline-ms=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("?").to_string();
    let status = dom.split("id=\"tl-status\">").nth(1).and_then(|s| s.split('<').next()).unwrap_or("").to_string();
    eprintln!(
        "1,000,000 operations: {:.1} MB page loaded by chromium in {elapsed:.1} s (timeline script {script_ms} ms); {status}",
        page.len() as f64 / 1e6
    );
    let _ = std::fs::remove_dir_all(&dir);
}
