//! The HTML report: one self-contained file a person can open from a CI artifact or mail to a colleague.
//!
//! No network at all: CSS, JavaScript and plots are inline, and the history rides along as JSON data. The
//! page reads top down: the verdict, the ladder of models, each anomaly told in words and drawn as a small
//! timeline of its counterexample, then the whole history on a canvas one can zoom and pan (at a million
//! operations too: the data is columnar and only what is visible is drawn), then latency and throughput plots.
//!
//! Everything from the target (keys, values, errors, node and fault names, the history's own lines) is
//! untrusted: it is escaped in markup and inside the embedded JSON ([`crate::escape`]), and the script only
//! ever puts it into the page as text.

use std::collections::HashMap;
use std::fmt::Write;

use faultline_checker::availability::{thousands, Availability};
use faultline_checker::format::jsonl;
use faultline_checker::history::FINAL_READ_PROCESS_BASE;
use faultline_checker::judge::judge;
use faultline_checker::ladder::Level;
use faultline_checker::linear::{self, Anomaly};
use faultline_checker::op_ref::OpRef;
use faultline_checker::Verdict;
use faultline_checker::{sequential, History, Outcome, Value};

use crate::escape::{html as esc, json_in_script};
use crate::ladder::{self, LadderRow, Role};
use crate::timeline::{self, Clock, FaultPeriod, Span};

/// Past this many bytes of history text, the page does not carry the history's own lines; clicking an
/// operation then shows lines rebuilt from the timeline's data (same fields, same values).
pub const SOURCE_LINES_BUDGET: usize = 8 << 20;

/// What a report is made of.
pub struct ReportInput<'a> {
    pub title: String,
    /// The run's parameters as shown: target, workload, nemesis, seed, duration, ...
    pub parameters: Vec<(String, String)>,
    /// Links to the nodes' logs, relative to the report (`nodes/n1.log`, ...).
    pub node_logs: Vec<String>,
    pub history: &'a History,
    pub linearizability: &'a linear::Analysis,
    pub sequential: Option<&'a sequential::Analysis>,
    /// Further models' rows, shown below the built-in ones.
    pub more: Vec<LadderRow>,
    /// The history file's text, so that clicking an operation shows its own lines (events carry their line).
    pub source: Option<&'a str>,
    /// The model the history must keep: the badge shows its verdict.
    pub required: Level,
    /// What succeeded per kind and node; a history that shows too little is never badged valid.
    pub availability: Option<&'a Availability>,
    /// Why the run stopped before its end, when it did: the page says so under the badge, which is never
    /// valid then.
    pub interrupted: Option<&'a str>,
}

impl<'a> ReportInput<'a> {
    pub fn new(title: impl Into<String>, history: &'a History, linearizability: &'a linear::Analysis) -> Self {
        ReportInput {
            title: title.into(),
            parameters: Vec::new(),
            node_logs: Vec::new(),
            history,
            linearizability,
            sequential: None,
            more: Vec::new(),
            source: None,
            required: Level::Linearizable,
            availability: None,
            interrupted: None,
        }
    }

    /// The models' rows, strongest first.
    pub fn ladder(&self) -> Vec<LadderRow> {
        let mut rows = vec![LadderRow::linearizability(self.linearizability)];
        rows.extend(self.sequential.map(LadderRow::sequential));
        rows.extend(self.more.iter().cloned());
        rows
    }

    /// The verdict the exit code gives: the required model's, unknown where too little succeeded.
    pub fn verdict(&self) -> Verdict {
        judge(ladder::required_verdict(&self.ladder(), self.required), self.availability, self.interrupted.is_some())
    }
}

pub fn render(input: &ReportInput) -> String {
    let h = input.history;
    let clock = Clock::of(h);
    let spans = timeline::spans(h, clock);
    let faults = timeline::fault_periods(h, clock);
    let rows = input.ladder();
    let verdict = input.verdict();
    let lines = SourceLines::new(input.source);

    let mut out = String::with_capacity(64 * h.operations.len() + (64 << 10));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — {}</title>\n<style>{CSS}</style></head>\n<body>\n",
        esc(&input.title),
        verdict.as_str()
    );
    let _ = writeln!(
        out,
        "<header><h1>{}</h1><div id=\"verdict\" class=\"verdict\" style=\"background:{}\">{}</div></header>",
        esc(&input.title),
        ladder::colour(verdict),
        verdict.as_str().to_uppercase()
    );
    if let Some(why) = input.interrupted {
        let _ = writeln!(
            out,
            "<p id=\"interrupted\" class=\"interrupted\"><b>{}</b>: what was recorded was checked, but a run cut \
             short is not judged valid.</p>",
            esc(why)
        );
    }
    render_overview(&mut out, input, clock, &faults);
    if let Some(a) = input.availability {
        render_availability(&mut out, a);
    }
    out.push_str(&crate::faults::render(h, clock));
    render_ladder(&mut out, &rows, input.required);
    render_anomalies(&mut out, input, clock, &spans, &faults, &lines);
    render_timeline(&mut out, input, clock, &spans, &faults, &lines);
    out.push_str("<section id=\"plots\"><h2>Latency and throughput</h2>\n");
    for plot in crate::plots::all(h) {
        let _ = writeln!(
            out,
            "<figure><figcaption>{}</figcaption><div class=\"plot\">{}{}</div></figure>",
            esc(&plot.title),
            plot.svg,
            plot_legend(&plot.legend)
        );
    }
    out.push_str("</section>\n");
    let _ = write!(
        out,
        "<footer>faultline {}</footer>\n<script>{SCRIPT}</script>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

fn render_overview(out: &mut String, input: &ReportInput, clock: Clock, faults: &[FaultPeriod]) {
    let h = input.history;
    let (ok, fail, info) = h.outcome_counts();
    out.push_str("<section id=\"overview\"><table class=\"params\">\n");
    for (name, value) in &input.parameters {
        let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(name), esc(value));
    }
    let logs: Vec<String> = input.node_logs.iter().map(|l| format!("<a href=\"{0}\">{0}</a>", esc(l))).collect();
    if !logs.is_empty() {
        let _ = writeln!(out, "<tr><th>node logs</th><td>{}</td></tr>", logs.join(" "));
    }
    let span = if clock.timed {
        format!("{:.3} s", clock.display(clock.end(h)))
    } else {
        "no times recorded (the timeline uses event positions)".to_string()
    };
    let _ = writeln!(out, "<tr><th>history</th><td>{} ({} events; {span})</td></tr>", esc(&h.source), h.events.len());
    let _ = writeln!(out, "<tr><th>faults</th><td>{}</td></tr>", fault_summary(faults));
    out.push_str("</table>\n<div class=\"counts\">");
    // One count of operations, and how many of them are the final reads (run parameters count the
    // workload's alone).
    let finals = h.operations.iter().filter(|o| h.is_final(o, FINAL_READ_PROCESS_BASE)).count();
    let of_which = match finals {
        0 => String::new(),
        n => format!(" <small>({} by the workload, {} final reads)</small>", t(h.operations.len() - n), t(n)),
    };
    let _ = write!(
        out,
        "<span class=\"count\"><b>{}</b> operations{of_which}</span>\
         <span class=\"count ok\"><b>{}</b> ok</span><span class=\"count fail\"><b>{}</b> fail</span>\
         <span class=\"count info\"><b>{}</b> info</span><span class=\"count\"><b>{}</b> {}</span>",
        t(h.operations.len()),
        t(ok),
        t(fail),
        t(info),
        t(input.linearizability.keys),
        if input.linearizability.keys == 1 { "key" } else { "keys" }
    );
    out.push_str("</div></section>\n");
}

/// A plot's legend beside it, each entry drawn as the plot draws its series.
fn plot_legend(entries: &[crate::plots::LegendEntry]) -> String {
    use crate::plots::Mark;
    let mut out = String::from("<ul class=\"plot-legend\">");
    for e in entries {
        let c = esc(&e.colour);
        let mark = match e.mark {
            Mark::Dot => format!("<circle cx=\"7\" cy=\"6\" r=\"4\" fill=\"{c}\"/>"),
            Mark::Cross => format!("<path d=\"M3 2L11 10M11 2L3 10\" stroke=\"{c}\" stroke-width=\"1.5\"/>"),
            Mark::Triangle => format!("<path d=\"M7 1L12 11L2 11Z\" fill=\"{c}\"/>"),
            Mark::Line => format!("<path d=\"M0 6H14\" stroke=\"{c}\" stroke-width=\"2\"/>"),
            Mark::Band => {
                format!("<rect x=\"0\" y=\"1\" width=\"14\" height=\"10\" fill=\"{c}\" fill-opacity=\"0.25\"/>")
            }
        };
        let _ = write!(out, "<li><svg width=\"14\" height=\"12\">{mark}</svg> {}</li>", esc(&e.label));
    }
    out.push_str("</ul>");
    out
}

/// A count with thousands separators.
fn t(n: usize) -> String {
    thousands(n as u64)
}

fn fault_summary(faults: &[FaultPeriod]) -> String {
    if faults.is_empty() {
        return "none recorded".to_string();
    }
    let mut by_name: Vec<(&str, usize)> = Vec::new();
    for f in faults {
        match by_name.iter_mut().find(|(n, _)| *n == f.name) {
            Some((_, c)) => *c += 1,
            None => by_name.push((&f.name, 1)),
        }
    }
    by_name.iter().map(|(n, c)| format!("{} × {c}", esc(n))).collect::<Vec<_>>().join(", ")
}

/// Why the history cannot be judged (if so), its warnings, and outcomes per kind of operation and per node.
fn render_availability(out: &mut String, a: &Availability) {
    out.push_str("<section id=\"availability\"><h2>What succeeded</h2>\n");
    if !a.is_available() {
        let _ = writeln!(
            out,
            "<p class=\"unavailable\"><b>Too little succeeded to judge this history.</b> {}</p>",
            esc(Availability::ADVICE)
        );
        for problem in &a.problems {
            let _ = writeln!(out, "<p class=\"problem\">{}</p>", esc(problem));
        }
    }
    for warning in &a.warnings {
        let _ = writeln!(out, "<p class=\"warning\">Warning: {}</p>", esc(warning));
    }
    out.push_str("<table class=\"outcomes\"><tr><th></th><th>ok</th><th>fail</th><th>info</th></tr>\n");
    let rows =
        a.kinds.iter().map(|t| (t.name.clone(), t)).chain(a.nodes.iter().map(|t| (format!("node {}", t.name), t)));
    for (name, t) in rows {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&name),
            thousands(t.ok),
            thousands(t.fail),
            thousands(t.info)
        );
    }
    out.push_str("</table></section>\n");
}

fn render_ladder(out: &mut String, rows: &[LadderRow], required: Level) {
    out.push_str(
        "<section id=\"ladder\"><h2>Models</h2>\n<table class=\"ladder\"><tr><th>model</th><th>verdict</th>\
         <th>why</th><th>operations involved</th></tr>\n",
    );
    for row in rows {
        let role = Role::of(row, required);
        let note = match (role, row.verdict) {
            (Role::Required, _) => " <small>(required)</small>".to_string(),
            (_, Verdict::Invalid) => format!(" <small>({})</small>", role.violation_note()),
            _ => String::new(),
        };
        let ops = if row.ops.is_empty() {
            "—".to_string()
        } else {
            row.ops.iter().map(|o| esc(&o.lines())).collect::<Vec<_>>().join("; ")
        };
        let _ = writeln!(
            out,
            "<tr><td>{}{note}</td><td><span class=\"badge\" style=\"background:{}\">{}</span></td>\
             <td class=\"why\">{}</td><td>{ops}</td></tr>",
            esc(&row.model),
            ladder::colour(row.verdict),
            row.verdict.as_str(),
            esc(&row.explanation)
        );
    }
    out.push_str("</table></section>\n");
}

fn render_anomalies(
    out: &mut String,
    input: &ReportInput,
    clock: Clock,
    spans: &[Span],
    faults: &[FaultPeriod],
    lines: &SourceLines,
) {
    let a = input.linearizability;
    if a.problems.is_empty() {
        return;
    }
    out.push_str("<section id=\"anomalies\"><h2>Anomalies</h2>\n");
    let mut undecided = 0;
    for p in &a.problems {
        let key = ladder::key_name(p);
        match (&p.anomaly, p.verdict) {
            (Some(anomaly), _) => {
                let _ = writeln!(
                    out,
                    "<article class=\"anomaly\"><h3>{}: not linearizable <small>({} operations)</small></h3>",
                    esc(&key),
                    p.operations
                );
                if let (Some(through), Some(bad)) = (anomaly.linearizable_through_line, anomaly.first_bad_line) {
                    let _ = writeln!(
                        out,
                        "<p>The key's history is linearizable through line {through}; line {bad} makes it impossible.</p>"
                    );
                }
                let _ = writeln!(out, "<pre class=\"story\">{}</pre>", esc(&anomaly.explanation));
                let _ = writeln!(
                    out,
                    "<p>{} ({} operations; {}):</p>",
                    if anomaly.minimal { "The minimal counterexample" } else { "A counterexample" },
                    anomaly.counterexample.len(),
                    if anomaly.minimal {
                        "removing any one makes it linearizable"
                    } else {
                        "not shrunk to a minimal one within the explanation's time; --explain-budget gives it more"
                    }
                );
                out.push_str(&anomaly_svg(input.history, clock, spans, faults, anomaly));
                out.push_str(
                    "<details><summary>The counterexample's lines in the history</summary><pre class=\"lines\">",
                );
                for op in &anomaly.counterexample {
                    let mark = if op.id == anomaly.culprit.id { "*" } else { "-" };
                    let _ = writeln!(out, "{mark} {} ({})", esc(&op.describe()), esc(&op.lines()));
                    let o = &input.history.operations[op.id as usize];
                    for pos in std::iter::once(o.invoke).chain(o.complete) {
                        let _ = writeln!(out, "    {}", esc(&lines.get(input.history, pos as usize)));
                    }
                }
                out.push_str("</pre></details></article>\n");
            }
            (None, Verdict::Invalid) => {
                let _ = writeln!(
                    out,
                    "<article class=\"anomaly\"><h3>{}: not linearizable</h3><p>Not explained (only the first \
                     keys get a counterexample).</p></article>",
                    esc(&key)
                );
            }
            (None, _) => {
                let cause = p.unknown_cause.as_deref().unwrap_or("undecided");
                if p.left_undecided() {
                    undecided += 1;
                } else {
                    let _ = writeln!(
                        out,
                        "<article class=\"unknown\"><h3>{}: unknown</h3><p>{}</p></article>",
                        esc(&key),
                        esc(cause)
                    );
                }
            }
        }
    }
    if undecided > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">{undecided} more {} not decided once the history was invalid (--all-keys decides every key).</p>",
            if undecided == 1 { "key was" } else { "keys were" }
        );
    }
    out.push_str("</section>\n");
}

/// The counterexample as a small timeline: one row per operation (in order of invocation, named by its
/// process), each a bar from invocation to completion, the culprit in red, the end of the longest
/// linearizable prefix and the line that breaks it marked. A row each keeps every label clear of the
/// others however far apart the operations are.
fn anomaly_svg(h: &History, clock: Clock, spans: &[Span], faults: &[FaultPeriod], a: &Anomaly) -> String {
    let mut ops: Vec<(&OpRef, Span)> = a.counterexample.iter().map(|o| (o, spans[o.id as usize])).collect();
    ops.sort_by_key(|(o, s)| (s.start, o.id));
    let at_line =
        |line: Option<u32>| line.and_then(|l| h.events.iter().position(|e| e.line == l)).map(|pos| clock.at(h, pos));
    let (through, bad) = (at_line(a.linearizable_through_line), at_line(a.first_bad_line));
    let completed_end = ops.iter().filter(|(_, s)| s.completed).map(|(_, s)| s.end);
    let t0 = ops.iter().map(|(_, s)| s.start).chain(through).min().unwrap_or(0);
    let mut t1 = ops.iter().map(|(_, s)| s.start).chain(completed_end).chain(through).chain(bad).max().unwrap_or(0);
    let open_end = t1 + (t1 - t0).max(1) / 8;
    if ops.iter().any(|(_, s)| !s.completed) {
        t1 = open_end;
    }
    let (left, width, lane, top) = (110.0, 860.0, 36.0, 40.0);
    let height = top + lane * ops.len() as f64 + 24.0;
    let x = |t: u64| left + (t.saturating_sub(t0)) as f64 / (t1 - t0).max(1) as f64 * (width - 20.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"counterexample\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" \
         viewBox=\"0 0 {} {height}\" role=\"img\">",
        left + width,
        left + width
    );
    for f in faults.iter().filter(|f| f.end >= t0 && f.start <= t1) {
        let (a, b) = (x(f.start.max(t0)), x(f.end.min(t1)));
        let _ = write!(
            svg,
            "<rect class=\"fault\" x=\"{a:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\"><title>{}</title></rect>",
            top - 8.0,
            (b - a).max(1.0),
            height - top - 12.0,
            esc(&f.name)
        );
    }
    for (i, (op, _)) in ops.iter().enumerate() {
        let y = top + lane * i as f64;
        let _ = write!(svg, "<text class=\"lane\" x=\"8\" y=\"{:.1}\">process {}</text>", y + 22.0, op.process);
        let _ = write!(
            svg,
            "<line class=\"lane\" x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
            left + width,
            y + lane,
            y + lane
        );
    }
    let mut marker = |t: Option<u64>, class: &str, label: String, row: f64| {
        if let Some(t) = t {
            let mx = x(t);
            let _ = write!(
                svg,
                "<line class=\"{class}\" x1=\"{mx:.1}\" x2=\"{mx:.1}\" y1=\"{}\" y2=\"{:.1}\"/>\
                 <text class=\"{class}\" x=\"{:.1}\" y=\"{row}\" text-anchor=\"{}\">{}</text>",
                top - 10.0,
                height - 16.0,
                mx,
                if mx > left + width * 0.6 { "end" } else { "start" },
                esc(&label)
            );
        }
    };
    marker(through, "through", format!("linearizable through line {}", a.linearizable_through_line.unwrap_or(0)), 12.0);
    marker(bad, "bad", format!("line {} breaks it", a.first_bad_line.unwrap_or(0)), 26.0);
    for (i, (op, span)) in ops.iter().enumerate() {
        let y = top + lane * i as f64 + 18.0;
        let (a0, a1) = (x(span.start), if span.completed { x(span.end) } else { x(open_end) });
        let class = match (op.id == a.culprit.id, op.outcome) {
            (true, _) => "op culprit",
            (false, Outcome::Info) => "op info",
            (false, Outcome::Fail) => "op fail",
            (false, Outcome::Ok) => "op",
        };
        let _ = write!(
            svg,
            "<g><title>{} ({})</title><rect class=\"{class}\" x=\"{a0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"12\" rx=\"3\"/>",
            esc(&op.describe()),
            esc(&op.lines()),
            (a1 - a0).max(if op.id == a.culprit.id { 8.0 } else { 3.0 })
        );
        let anchor = if a0 > left + width * 0.55 { ("end", a1) } else { ("start", a0) };
        let _ = write!(
            svg,
            "<text class=\"op\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{}\">{}</text></g>",
            anchor.1,
            y - 4.0,
            anchor.0,
            esc(&op.describe())
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Each event's own text, for the detail of a clicked operation: the history file's line where the report
/// has the file, else the event written as a faultline JSON line.
struct SourceLines<'a> {
    lines: Option<Vec<&'a str>>,
}

impl<'a> SourceLines<'a> {
    fn new(source: Option<&'a str>) -> SourceLines<'a> {
        SourceLines { lines: source.map(|s| s.lines().collect()) }
    }

    fn get(&self, h: &History, pos: usize) -> String {
        let e = &h.events[pos];
        match &self.lines {
            Some(lines) if e.line >= 1 && (e.line as usize) <= lines.len() => lines[e.line as usize - 1].to_string(),
            _ => jsonl::event_line(e),
        }
    }
}

fn render_timeline(
    out: &mut String,
    input: &ReportInput,
    clock: Clock,
    spans: &[Span],
    faults: &[FaultPeriod],
    lines: &SourceLines,
) {
    // The zoom to an anomaly is offered only where there is one.
    let anomaly = input.linearizability.problems.iter().any(|p| p.anomaly.is_some());
    let zoom = if anomaly { " <button id=\"tl-anomaly\">zoom to the first anomaly</button>" } else { "" };
    let _ = write!(
        out,
        "<section id=\"history\"><h2>The whole history</h2>\n<p class=\"note\">Wheel to zoom, drag to pan, click \
         an operation to see its lines. Lanes are client slots: a process that gave up after an indeterminate \
         result continues under a new number in the same lane. <button id=\"tl-reset\">whole history</button>{zoom}</p>\n\
         <div class=\"legend\"><span class=\"sw ok\"></span>ok <span class=\"sw fail\"></span>fail \
         <span class=\"sw info\"></span>info <span class=\"sw never\"></span>never completed \
         <span class=\"sw mark\"></span>in a counterexample <span class=\"sw fault\"></span>fault</div>\n\
         <canvas id=\"tl\" width=\"1200\" height=\"300\"></canvas>\n<div id=\"tl-status\"></div>\n\
         <pre id=\"tl-detail\">Click an operation.</pre>\n</section>\n"
    );
    let data = timeline_data(input, clock, spans, faults, lines);
    let _ = writeln!(out, "<script type=\"application/json\" id=\"timeline-data\">{}</script>", json_in_script(&data));
}

/// Interns strings and values into a dictionary, index 0 meaning "absent".
struct Dict {
    index: HashMap<String, usize>,
    json: String,
}

impl Dict {
    fn new() -> Dict {
        Dict { index: HashMap::new(), json: "[null".to_string() }
    }

    fn id(&mut self, json_text: String) -> usize {
        let next = self.index.len() + 1;
        *self.index.entry(json_text).or_insert_with_key(|k| {
            self.json.push(',');
            self.json.push_str(k);
            next
        })
    }

    fn finish(mut self) -> String {
        self.json.push(']');
        self.json
    }
}

fn value_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        v => out.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".into())),
    }
}

/// The history as columns, one array per field, operations in order of invocation time: `s` start (delta
/// from the previous), `d` duration, `l` lane, `q` process, `f` name, `o` outcome (0 ok, 1 fail, 2 info,
/// 3 never completed), `k` key, `v` invocation value, `r` completion value, `e` error, `n` node (dictionary
/// indices, 0 for none), `p` invocation's event position (delta), `c` completion's position minus the
/// invocation's (0 for none). Arrays of numbers rather than objects keep a million operations near 40 MB.
fn timeline_data(
    input: &ReportInput,
    clock: Clock,
    spans: &[Span],
    faults: &[FaultPeriod],
    lines: &SourceLines,
) -> String {
    let h = input.history;
    let mut order: Vec<u32> = (0..spans.len() as u32).collect();
    order.sort_by_key(|&i| (spans[i as usize].start, i));
    let lanes = assign_lanes(h, spans);
    let n = order.len();
    let mut cols: Vec<String> = (0..13).map(|_| String::with_capacity(n * 4)).collect();
    let (mut fs, mut keys, mut errors, mut nodes) = (Dict::new(), Dict::new(), Dict::new(), Dict::new());
    let (mut prev_start, mut prev_pos) = (0u64, 0i64);
    for (rank, &i) in order.iter().enumerate() {
        let (span, op) = (spans[i as usize], &h.operations[i as usize]);
        let inv = h.invocation(op);
        let done = h.completion(op);
        if rank > 0 {
            for c in cols.iter_mut() {
                c.push(',');
            }
        }
        let outcome = match (op.outcome, done) {
            (Outcome::Ok, _) => 0,
            (Outcome::Fail, _) => 1,
            (Outcome::Info, Some(_)) => 2,
            (Outcome::Info, None) => 3,
        };
        let key = inv.key.as_ref().map_or(0, |k| keys.id(serde_json::to_string(k).unwrap_or_default()));
        let error =
            done.and_then(|d| d.error.as_ref()).map_or(0, |e| errors.id(serde_json::to_string(e).unwrap_or_default()));
        let node = done
            .and_then(|d| d.node.as_ref())
            .or(inv.node.as_ref())
            .map_or(0, |n| nodes.id(serde_json::to_string(&**n).unwrap_or_default()));
        let f = fs.id(serde_json::to_string(&*inv.f).unwrap_or_default());
        let _ = write!(cols[0], "{}", span.start - prev_start);
        let _ = write!(cols[1], "{}", span.end - span.start);
        let _ = write!(cols[2], "{}", lanes[i as usize]);
        let _ = write!(cols[3], "{}", op.process);
        let _ = write!(cols[4], "{f}");
        let _ = write!(cols[5], "{outcome}");
        let _ = write!(cols[6], "{key}");
        value_json(&mut cols[7], &inv.value);
        match done {
            Some(d) => value_json(&mut cols[8], &d.value),
            None => cols[8].push_str("null"),
        }
        let _ = write!(cols[9], "{error}");
        let _ = write!(cols[10], "{node}");
        let _ = write!(cols[11], "{}", op.invoke as i64 - prev_pos);
        let _ = write!(cols[12], "{}", op.complete.map_or(0, |c| c - op.invoke));
        prev_start = span.start;
        prev_pos = op.invoke as i64;
    }
    let mut rank = vec![0u32; n];
    for (r, &i) in order.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    let mut marks = Vec::new();
    for p in &input.linearizability.problems {
        if let Some(a) = &p.anomaly {
            for o in &a.counterexample {
                marks.push(format!("[{},{}]", rank[o.id as usize], u8::from(o.id == a.culprit.id)));
            }
        }
    }
    let mut fault_names = Dict::new();
    let fault_list: Vec<String> = faults
        .iter()
        .map(|f| {
            format!("[{},{},{}]", f.start, f.end, fault_names.id(serde_json::to_string(&f.name).unwrap_or_default()))
        })
        .collect();
    let lane_count = lanes.iter().max().map_or(0, |m| m + 1);
    let mut out = String::with_capacity(cols.iter().map(String::len).sum::<usize>() + 4096);
    let _ = write!(
        out,
        "{{\"unit\":\"{}\",\"end\":{},\"lanes\":{lane_count},\"faults\":[{}],\"faultNames\":{},\"marks\":[{}],\
         \"F\":{},\"K\":{},\"E\":{},\"N\":{}",
        if clock.timed { "ns" } else { "event" },
        clock.end(h),
        fault_list.join(","),
        fault_names.finish(),
        marks.join(","),
        fs.finish(),
        keys.finish(),
        errors.finish(),
        nodes.finish()
    );
    for (name, col) in ["s", "d", "l", "q", "f", "o", "k", "v", "r", "e", "n", "p", "c"].iter().zip(&cols) {
        let _ = write!(out, ",\"{name}\":[{col}]");
    }
    let source_size: usize = input.source.map_or(h.events.len() * 100, str::len);
    if source_size <= SOURCE_LINES_BUDGET {
        out.push_str(",\"lines\":[");
        for pos in 0..h.events.len() {
            if pos > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(&lines.get(h, pos)).unwrap_or_default());
        }
        out.push(']');
    }
    out.push('}');
    out
}

/// Lanes for the canvas: a process keeps one lane from its first invocation to its last completion, and a
/// lane is reused once its process is done, so there are about as many lanes as concurrent clients however
/// many process numbers indeterminate results used up.
fn assign_lanes(h: &History, spans: &[Span]) -> Vec<u32> {
    let mut life: HashMap<u64, (u64, u64)> = HashMap::new();
    for s in spans {
        let p = h.operations[s.op as usize].process;
        let e = life.entry(p).or_insert((s.start, s.end));
        e.0 = e.0.min(s.start);
        e.1 = e.1.max(s.end);
    }
    let mut by_start: Vec<(u64, u64, u64)> = life.iter().map(|(&p, &(a, b))| (a, p, b)).collect();
    by_start.sort_unstable();
    let mut free_at: Vec<u64> = Vec::new();
    let mut lane_of: HashMap<u64, u32> = HashMap::with_capacity(by_start.len());
    for (start, p, end) in by_start {
        let lane = match free_at.iter().position(|&f| f < start) {
            Some(l) => l,
            None => {
                free_at.push(0);
                free_at.len() - 1
            }
        };
        free_at[lane] = end;
        lane_of.insert(p, lane as u32);
    }
    h.operations.iter().map(|o| lane_of[&o.process]).collect()
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1320px;padding:16px 24px;color:#1f2328;background:#fff}
header{display:flex;align-items:center;gap:20px;border-bottom:1px solid #d0d7de;padding-bottom:10px}
h1{font-size:22px;margin:0;flex:1;overflow-wrap:anywhere}
h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid #eaeef2;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}
.interrupted{background:#fff4d6;border-left:4px solid #b7791f;padding:6px 12px}
.verdict{color:#fff;font-weight:700;font-size:22px;padding:6px 22px;border-radius:6px;letter-spacing:.05em}
.badge{color:#fff;font-weight:600;padding:1px 8px;border-radius:10px}
table{border-collapse:collapse}
.params th{text-align:left;padding:2px 14px 2px 0;color:#57606a;font-weight:500;vertical-align:top}
.params td{overflow-wrap:anywhere}
.counts{margin-top:10px;display:flex;gap:10px;flex-wrap:wrap}
.count{border:1px solid #d0d7de;border-radius:6px;padding:3px 10px}
.count.ok b{color:#1a7f37}.count.fail b{color:#cf222e}.count.info b{color:#9a6700}
.ladder td,.ladder th{border:1px solid #d0d7de;padding:5px 8px;text-align:left;vertical-align:top}
.ladder .why{max-width:720px;white-space:pre-wrap;word-break:break-word}
.plot{display:flex;align-items:flex-start;gap:8px}
.plot-legend{list-style:none;margin:8px 0 0;padding:0;font-size:12.5px;min-width:170px}
.plot-legend li{white-space:nowrap;margin:2px 0}
.outcomes td,.outcomes th{border:1px solid #d0d7de;padding:3px 10px;text-align:right}
.faults td,.faults th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
.faults td:last-child{max-width:520px;overflow-wrap:anywhere}.faults tr.skipped{color:#57606a}.faults tr.failed{color:#b42318}
.outcomes th:first-child{text-align:left;font-weight:500}
.unavailable,.problem{color:#9a6700}.warning{color:#9a6700}
.anomaly{border-left:4px solid #cf222e;padding:2px 14px;margin:12px 0;background:#fff8f8}
.unknown{border-left:4px solid #9a6700;padding:2px 14px;margin:12px 0}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:8px;border-radius:6px;font-size:12.5px}
pre.story{font:14px/1.5 system-ui,sans-serif;background:none;padding:0}
svg.counterexample{max-width:100%;height:auto;background:#fff;border:1px solid #eaeef2;border-radius:6px}
svg.counterexample text{font:12px system-ui,sans-serif;fill:#1f2328}
svg.counterexample text.lane{fill:#57606a}
svg.counterexample line.lane{stroke:#eaeef2}
svg.counterexample rect.op{fill:#0969da;opacity:.85}
svg.counterexample rect.op.info{fill:#d4a72c}
svg.counterexample rect.op.fail{fill:#8c959f}
svg.counterexample rect.op.culprit{fill:#cf222e;opacity:1}
svg.counterexample rect.fault{fill:#cf222e;opacity:.08}
svg.counterexample line.through{stroke:#1a7f37;stroke-width:2;stroke-dasharray:5 3}
svg.counterexample text.through{fill:#1a7f37}
svg.counterexample line.bad{stroke:#cf222e;stroke-width:2;stroke-dasharray:2 3}
svg.counterexample text.bad{fill:#cf222e}
#tl{width:100%;height:300px;border:1px solid #d0d7de;border-radius:6px;cursor:grab;display:block}
#tl-status{color:#57606a;font-size:12.5px;margin:4px 0}
.legend{font-size:12.5px;color:#57606a;margin:4px 0}
.sw{display:inline-block;width:12px;height:10px;margin:0 3px 0 10px;vertical-align:middle;border-radius:2px}
.sw.ok{background:#2da44e}.sw.fail{background:#cf222e}.sw.info{background:#d4a72c}.sw.never{background:#8c959f}
.sw.mark{background:#fff;outline:2px solid #1f2328}.sw.fault{background:rgba(207,34,46,.15)}
figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}
figure svg{max-width:100%;height:auto}
.note{color:#57606a}
footer{margin-top:30px;color:#8c959f;font-size:12px}
button{font:inherit;font-size:12.5px}
"#;

const SCRIPT: &str = include_str!("timeline.js");
