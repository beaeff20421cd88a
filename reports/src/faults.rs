//! The report's fault table: each fault the nemesis started (or skipped), when, on which nodes, how it was
//! aimed, who the primary probe named, how long applying it took, and what went wrong. Read from the
//! history's `process: "nemesis"` completions (`start-<fault>`, `skip-<fault>`), so it shows any history
//! that records faults the way faultline does; other nemesis events are left to the timeline.

use std::fmt::Write;

use faultline_checker::nemesis_action::NemesisAction;
use faultline_checker::{EventKind, History, Process};
use serde_json::Value;

use crate::escape::html as esc;
use crate::timeline::Clock;

/// One row: a fault's start (or its skip) as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRow {
    /// On the report's clock, in its display unit.
    pub at: f64,
    pub name: String,
    pub skipped: bool,
    /// The fault's command or action failed (its completion carries an `error`): it may not have acted.
    pub failed: bool,
    pub nodes: Vec<String>,
    pub targets: Option<String>,
    /// The primaries the probe named, or why it named none.
    pub primary: Option<String>,
    pub applied_ms: Option<u64>,
    /// The error, or why the fault was skipped.
    pub problem: Option<String>,
}

/// Every fault start and skip of the history, in order.
pub fn rows(h: &History, clock: Clock) -> Vec<FaultRow> {
    let mut rows = Vec::new();
    for (pos, e) in h.events.iter().enumerate() {
        if e.process != Process::Nemesis || e.kind != EventKind::Info {
            continue;
        }
        let (name, skipped) = match e.f.parse() {
            Ok(NemesisAction::Start(name)) => (name, false),
            Ok(NemesisAction::Skip(name)) => (name, true),
            _ => continue,
        };
        let v = e.value.to_json();
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_string)).collect()
        };
        let mut nodes = strings(&v["nodes"]);
        if nodes.is_empty() {
            // A partition names its nodes by its grudge.
            if let Some(grudge) = v["grudge"].as_object() {
                nodes = grudge.keys().cloned().collect();
            }
        }
        let probe = &v["primary_probe"];
        let primary = probe.is_object().then(|| match strings(&probe["primaries"]) {
            found if !found.is_empty() => found.join(", "),
            _ => probe["none"].as_str().unwrap_or("none").to_string(),
        });
        rows.push(FaultRow {
            at: clock.display(clock.at(h, pos)),
            name: match v["shape"].as_str() {
                Some(shape) => format!("{name} ({shape})"),
                None => name,
            },
            skipped,
            failed: !skipped && v["error"].is_string(),
            nodes,
            targets: v["targets"].as_str().map(str::to_string),
            primary,
            applied_ms: v["applied_ms"].as_u64(),
            problem: v["skipped"].as_str().or(v["error"].as_str()).map(str::to_string),
        });
    }
    rows
}

/// Faults started, and how many of those failed (`(started, failed)`; skipped faults are neither).
pub fn tally(rows: &[FaultRow]) -> (usize, usize) {
    let started = rows.iter().filter(|r| !r.skipped).count();
    (started, rows.iter().filter(|r| r.failed).count())
}

/// The fault table as an HTML section; nothing when the history records no fault.
pub fn render(h: &History, clock: Clock) -> String {
    let rows = rows(h, clock);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section id=\"faults\"><h2>Faults</h2>\n<table class=\"faults\"><tr><th>at</th><th>fault</th>\
         <th>nodes</th><th>aimed at</th><th>primary probe</th><th>applied in</th><th>problem</th></tr>\n",
    );
    for r in &rows {
        let at = if clock.timed { format!("{:.2} s", r.at) } else { format!("event {}", r.at) };
        let _ = writeln!(
            out,
            "<tr{}><td>{at}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            match (r.skipped, r.failed) {
                (true, _) => " class=\"skipped\"",
                (_, true) => " class=\"failed\"",
                _ => "",
            },
            esc(&r.name),
            match (r.skipped, r.failed) {
                (true, _) => " <b>skipped</b>",
                (_, true) => " <b>failed</b>",
                _ => "",
            },
            esc(&r.nodes.join(" ")),
            esc(r.targets.as_deref().unwrap_or("")),
            esc(r.primary.as_deref().unwrap_or("")),
            r.applied_ms.map_or(String::new(), |ms| format!("{ms} ms")),
            esc(r.problem.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</table></section>\n");
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn rows_say_where_a_fault_was_aimed_and_what_the_probe_named() {
        let text = concat!(
            r#"{"index":0,"time":1000000000,"type":"invoke","process":"nemesis","f":"start-kill","value":{"nodes":["n1"]}}"#,
            "\n",
            r#"{"index":1,"time":1500000000,"type":"info","process":"nemesis","f":"start-kill","value":{"nodes":["n1"],"targets":"primaries","applied_ms":6,"primary_probe":{"primaries":["n1"]}}}"#,
            "\n",
            r#"{"index":2,"time":2000000000,"type":"info","process":"nemesis","f":"skip-pause","value":{"nodes":[],"targets":"primaries","skipped":"no node answered as primary (n1: not primary)","primary_probe":{"primaries":[],"none":"no node answered as primary (n1: not primary)"}}}"#,
            "\n",
            r#"{"index":3,"time":2500000000,"type":"info","process":"nemesis","f":"start-partition","value":{"shape":"isolate-one","grudge":{"n2":["n1"],"n1":["n2"]},"applied_ms":3}}"#,
            "\n",
            r#"{"index":4,"time":3000000000,"type":"info","process":"nemesis","f":"stop-kill","value":{"nodes":["n1"]}}"#,
            "\n",
        );
        let h = faultline_checker::format::jsonl::parse("h.jsonl", text).unwrap();
        let rows = rows(&h, Clock::of(&h));
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!((rows[0].at, rows[0].name.as_str(), rows[0].nodes.clone()), (1.5, "kill", vec!["n1".to_string()]));
        assert_eq!(
            (rows[0].targets.as_deref(), rows[0].primary.as_deref(), rows[0].applied_ms),
            (Some("primaries"), Some("n1"), Some(6))
        );
        assert!(rows[1].skipped && rows[1].primary.as_deref().unwrap().starts_with("no node answered"));
        assert_eq!((rows[2].name.as_str(), rows[2].nodes.len()), ("partition (isolate-one)", 2));
        let html = render(&h, Clock::of(&h));
        assert!(html.contains("<td>kill</td><td>n1</td><td>primaries</td><td>n1</td><td>6 ms</td>"), "{html}");
        assert!(html.contains("pause <b>skipped</b>"), "{html}");
    }

    #[test]
    fn a_fault_whose_command_failed_is_counted_and_shown_as_failed() {
        let h = a_failed_fault();
        let rows = rows(&h, Clock::of(&h));
        assert_eq!(
            rows.iter().map(|r| (r.failed, r.skipped)).collect::<Vec<_>>(),
            [(true, false), (false, false), (false, true)]
        );
        assert_eq!(tally(&rows), (2, 1), "two started, one of them failed; the skip is neither");
        let html = render(&h, Clock::of(&h));
        assert!(html.contains("<tr class=\"failed\"><td>1.00 s</td><td>kill <b>failed</b></td>"), "{html}");
    }

    /// A kill whose command failed, a pause that worked and a kill skipped (also `markdown`'s test).
    pub(crate) fn a_failed_fault() -> faultline_checker::History {
        let text = concat!(
            r#"{"type":"info","time":1000000000,"process":"nemesis","f":"start-kill","value":{"nodes":["n1"],"applied_ms":4,"error":"command exited with 7"}}"#,
            "\n",
            r#"{"type":"info","time":2000000000,"process":"nemesis","f":"start-pause","value":{"nodes":["n2"],"applied_ms":2}}"#,
            "\n",
            r#"{"type":"info","time":3000000000,"process":"nemesis","f":"skip-kill","value":{"nodes":[],"skipped":"no primary to aim at"}}"#,
            "\n",
        );
        faultline_checker::format::jsonl::parse("h.jsonl", text).unwrap()
    }
}
