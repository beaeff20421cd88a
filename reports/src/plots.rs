//! Latency and throughput plots, as SVG text to inline in the HTML report (plotters' SVG backend writes
//! text as `<text>`, so no font is loaded and nothing leaves the file).
//!
//! All three share the history's clock ([`Clock`]) and shade its fault periods, so a latency spike or a
//! drop in throughput can be read against the fault that caused it. A history without `time` is plotted
//! against event positions; latencies are then counted in events, which still shows which operations
//! waited.

use std::collections::HashMap;

use faultline_checker::{History, Outcome};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::timeline::{self, Clock, FaultPeriod, Span};

/// One plot: a title, an `<svg>` element, and its legend, which the page shows beside the chart (in HTML,
/// so that it never covers data).
#[derive(Clone, Debug)]
pub struct Plot {
    pub title: String,
    pub svg: String,
    pub legend: Vec<LegendEntry>,
}

/// One series of a plot as its legend shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    pub label: String,
    /// A CSS colour, `#rrggbb`.
    pub colour: String,
    pub mark: Mark,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Dot,
    Cross,
    Triangle,
    Line,
    Band,
}

fn entry(label: impl Into<String>, colour: RGBColor, mark: Mark) -> LegendEntry {
    LegendEntry { label: label.into(), colour: format!("#{:02x}{:02x}{:02x}", colour.0, colour.1, colour.2), mark }
}

/// At most this many points in the scatter plot; past it, every n-th operation in time order is drawn.
pub const MAX_POINTS: usize = 20_000;
/// Time buckets for the quantile and throughput plots.
pub const BUCKETS: usize = 100;

const SIZE: (u32, u32) = (1200, 340);
const FAULT: RGBColor = RGBColor(207, 34, 46);
const PALETTE: [RGBColor; 6] = [
    RGBColor(9, 105, 218),
    RGBColor(45, 164, 78),
    RGBColor(130, 80, 223),
    RGBColor(191, 135, 0),
    RGBColor(27, 124, 131),
    RGBColor(87, 96, 106),
];

/// The three plots of a history: latency scatter, latency quantiles, throughput.
pub fn all(history: &History) -> Vec<Plot> {
    let data = Data::new(history);
    vec![latency_scatter(&data), latency_quantiles(&data), throughput(&data)]
}

/// What the plots are drawn from: each completed operation's completion time, latency, name and outcome.
struct Data {
    clock: Clock,
    faults: Vec<FaultPeriod>,
    /// Display units (seconds or events).
    x_range: (f64, f64),
    /// (completion time, latency in ms or events, f name index, outcome), in completion order.
    points: Vec<(f64, f64, usize, Outcome)>,
    names: Vec<String>,
}

impl Data {
    fn new(h: &History) -> Data {
        let clock = Clock::of(h);
        let spans = timeline::spans(h, clock);
        let faults = timeline::fault_periods(h, clock);
        let first = spans.iter().map(|s| s.start).min().unwrap_or(0);
        let (x0, mut x1) = (clock.display(first), clock.display(clock.end(h)));
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut points: Vec<(f64, f64, usize, Outcome)> = spans
            .iter()
            .filter(|s| timeline::has_latency(s))
            .map(|s: &Span| {
                let op = &h.operations[s.op as usize];
                let f = &*h.invocation(op).f;
                let name = *index.entry(f).or_insert_with(|| {
                    names.push(f.to_string());
                    names.len() - 1
                });
                (clock.display(s.end), latency(clock, s), name, op.outcome)
            })
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Data { clock, faults, x_range: (x0, x1), points, names }
    }

    fn time_label(&self) -> String {
        match self.clock.timed {
            true => "time since start (s)".to_string(),
            false => "event position (the history has no times)".to_string(),
        }
    }

    fn latency_label(&self) -> &'static str {
        match self.clock.timed {
            true => "latency (ms)",
            false => "latency (events)",
        }
    }

    /// Shades fault periods over the whole height of a chart.
    fn shade<DB: DrawingBackend>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, impl Ranged<ValueType = f64>>>,
        y: (f64, f64),
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let shown = self.faults.iter().map(|f| (self.clock.display(f.start), self.clock.display(f.end)));
        chart.draw_series(shown.map(|(a, b)| {
            let b = if b - a < (self.x_range.1 - self.x_range.0) / 800.0 {
                a + (self.x_range.1 - self.x_range.0) / 800.0
            } else {
                b
            };
            Rectangle::new([(a, y.0), (b, y.1)], FAULT.mix(0.12).filled())
        }))?;
        // Each band says which fault it is, at its top left (a log axis's top is its upper bound too).
        let font = ("sans-serif", 13).into_font().color(&FAULT.mix(0.9));
        chart.draw_series(
            self.faults
                .iter()
                .map(|f| Text::new(format!(" {}", f.name), (self.clock.display(f.start), y.1), font.clone())),
        )?;
        Ok(())
    }
}

fn latency(clock: Clock, s: &Span) -> f64 {
    match clock.timed {
        true => (s.end - s.start) as f64 / 1e6,
        false => (s.end - s.start) as f64,
    }
}

/// A log axis needs positive bounds.
fn latency_range(points: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for y in points {
        lo = lo.min(y);
        hi = hi.max(y);
    }
    if !lo.is_finite() || hi <= 0.0 {
        return (0.001, 1.0);
    }
    let lo = (lo.max(hi * 1e-6).max(1e-6)) * 0.8;
    (lo, (hi * 1.25).max(lo * 10.0))
}

fn style_mesh<'a, DB: DrawingBackend, Y: Ranged<ValueType = f64> + plotters::coord::ranged1d::ValueFormatter<f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    x_desc: &str,
    y_desc: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| number(*v))
        .y_label_formatter(&|v| number(*v))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .label_style(("sans-serif", 13))
        .draw()
}

/// An axis label as a person writes it: `45,000`, `2.5`, `0.012` (never `45000.0`).
fn number(v: f64) -> String {
    if v.abs() >= 1000.0 || (v.fract() == 0.0 && v.abs() < 1e15) {
        let rounded = v.round();
        let digits = faultline_checker::availability::thousands(rounded.abs() as u64);
        return if rounded < 0.0 { format!("-{digits}") } else { digits };
    }
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A chart over the run's time, as the three plots draw it: `y` on the vertical axis (a range, or a log
/// range, whose bounds are `y_bounds`), the mesh, the fault periods shaded, then what `draw` adds, then
/// the legend. A drawing error becomes a note in place of the plot.
fn plot<Y>(
    d: &Data,
    title: String,
    y: Y,
    y_bounds: (f64, f64),
    y_desc: &str,
    draw: impl FnOnce(&mut Chart<'_, '_, Y::CoordDescType>) -> Result<Vec<LegendEntry>, String>,
) -> Plot
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut svg = String::new();
    let result = (|| -> Result<Vec<LegendEntry>, String> {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(d.x_range.0..d.x_range.1, y)
            .map_err(|e| e.to_string())?;
        style_mesh(&mut chart, &d.time_label(), y_desc).map_err(|e| e.to_string())?;
        d.shade(&mut chart, y_bounds).map_err(|e| e.to_string())?;
        let mut legend = draw(&mut chart)?;
        if !d.faults.is_empty() {
            legend.push(entry("fault (named at its top)", FAULT, Mark::Band));
        }
        root.present().map_err(|e| e.to_string())?;
        Ok(legend)
    })();
    match result {
        Ok(legend) => Plot { title, svg, legend },
        Err(e) => Plot {
            title,
            svg: format!("<p class=\"note\">This plot could not be drawn: {}</p>", crate::escape::html(&e)),
            legend: Vec::new(),
        },
    }
}

/// A chart of [`plot`]: time against `Y`.
type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// Every completed operation's latency against its completion time, by name and outcome.
fn latency_scatter(d: &Data) -> Plot {
    let stride = d.points.len().div_ceil(MAX_POINTS).max(1);
    let title = match stride {
        1 => "Latency of each operation, by operation and outcome".to_string(),
        n => format!("Latency of each operation, by operation and outcome (1 in {n} of {} shown)", d.points.len()),
    };
    let shown: Vec<&(f64, f64, usize, Outcome)> = d.points.iter().step_by(stride).collect();
    let y = latency_range(shown.iter().map(|p| p.1));
    plot(d, title, (y.0..y.1).log_scale(), y, d.latency_label(), |chart| {
        let mut legend = Vec::new();
        // Name beyond the palette share "other".
        let groups = d.names.len().min(PALETTE.len());
        for (name, &colour) in PALETTE.iter().enumerate().take(groups) {
            for outcome in [Outcome::Ok, Outcome::Fail, Outcome::Info] {
                let mine = |p: &&&(f64, f64, usize, Outcome)| p.2.min(groups - 1) == name && p.3 == outcome;
                if !shown.iter().any(|p| mine(&p)) {
                    continue;
                }
                let label = match name == groups - 1 && d.names.len() > groups {
                    true => format!("other {}", timeline::outcome_name(outcome)),
                    false => format!("{} {}", d.names[name], timeline::outcome_name(outcome)),
                };
                let points = shown.iter().filter(|p| mine(p)).map(|p| (p.0, p.1.max(y.0)));
                match outcome {
                    Outcome::Ok => chart.draw_series(points.map(|c| Circle::new(c, 2, colour.mix(0.6).filled()))),
                    Outcome::Fail => chart.draw_series(points.map(|c| Cross::new(c, 3, FAULT.stroke_width(1)))),
                    Outcome::Info => {
                        chart.draw_series(points.map(|c| TriangleMarker::new(c, 4, colour.mix(0.9).filled())))
                    }
                }
                .map_err(|e| e.to_string())?;
                legend.push(match outcome {
                    Outcome::Ok => entry(label, colour, Mark::Dot),
                    Outcome::Fail => entry(label, FAULT, Mark::Cross),
                    Outcome::Info => entry(label, colour, Mark::Triangle),
                });
            }
        }
        Ok(legend)
    })
}

/// Completed operations in equal time buckets (by completion time).
fn buckets(d: &Data) -> Vec<Vec<&(f64, f64, usize, Outcome)>> {
    let (x0, x1) = d.x_range;
    let mut out: Vec<Vec<&(f64, f64, usize, Outcome)>> = vec![Vec::new(); BUCKETS];
    for p in &d.points {
        let b = (((p.0 - x0) / (x1 - x0)) * BUCKETS as f64) as usize;
        out[b.min(BUCKETS - 1)].push(p);
    }
    out
}

fn bucket_middle(d: &Data, b: usize) -> f64 {
    d.x_range.0 + (b as f64 + 0.5) * (d.x_range.1 - d.x_range.0) / BUCKETS as f64
}

/// p50, p95, p99 and maximum latency per time bucket.
fn latency_quantiles(d: &Data) -> Plot {
    let title = format!("Latency quantiles over time ({BUCKETS} buckets)");
    let mut lines: [Vec<(f64, f64)>; 4] = Default::default();
    for (b, ops) in buckets(d).into_iter().enumerate() {
        if ops.is_empty() {
            continue;
        }
        let mut lat: Vec<f64> = ops.iter().map(|p| p.1).collect();
        lat.sort_by(f64::total_cmp);
        let q = |q: f64| lat[((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1];
        let x = bucket_middle(d, b);
        for (line, v) in lines.iter_mut().zip([q(0.5), q(0.95), q(0.99), lat[lat.len() - 1]]) {
            line.push((x, v));
        }
    }
    let y = latency_range(lines.iter().flatten().map(|p| p.1));
    plot(d, title, (y.0..y.1).log_scale(), y, d.latency_label(), |chart| {
        for (line, colour) in lines.iter().zip(PALETTE) {
            chart
                .draw_series(LineSeries::new(line.iter().map(|&(x, v)| (x, v.max(y.0))), colour.stroke_width(2)))
                .map_err(|e| e.to_string())?;
        }
        Ok(["p50", "p95", "p99", "max"].iter().zip(PALETTE).map(|(name, c)| entry(*name, c, Mark::Line)).collect())
    })
}

/// Completions per second (or per bucket of events) by outcome.
fn throughput(d: &Data) -> Plot {
    let width = (d.x_range.1 - d.x_range.0) / BUCKETS as f64;
    let (per, title) = match d.clock.timed {
        true => (width, "Throughput: completions per second by outcome".to_string()),
        false => (1.0, format!("Throughput: completions per bucket of {width:.0} events, by outcome")),
    };
    let mut lines: [Vec<(f64, f64)>; 3] = Default::default();
    for (b, ops) in buckets(d).into_iter().enumerate() {
        let x = bucket_middle(d, b);
        for (line, outcome) in lines.iter_mut().zip([Outcome::Ok, Outcome::Fail, Outcome::Info]) {
            line.push((x, ops.iter().filter(|p| p.3 == outcome).count() as f64 / per));
        }
    }
    let top = lines.iter().flatten().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.15;
    let y_desc = if d.clock.timed { "operations / s" } else { "operations / bucket" };
    plot(d, title, 0.0..top, (0.0, top), y_desc, |chart| {
        let colours = [RGBColor(45, 164, 78), FAULT, RGBColor(191, 135, 0)];
        for (line, colour) in lines.iter().zip(colours) {
            chart
                .draw_series(LineSeries::new(line.iter().copied(), colour.stroke_width(2)))
                .map_err(|e| e.to_string())?;
        }
        Ok(["ok", "fail", "info"].iter().zip(colours).map(|(name, c)| entry(*name, c, Mark::Line)).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checker::format::jsonl;
    use faultline_checker::synth::{self, Spec};

    #[test]
    fn empty_and_untimed_histories_plot() {
        let empty = History::default();
        for p in all(&empty) {
            assert!(p.svg.starts_with("<svg"), "{}: {}", p.title, p.svg);
        }
        let text = "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":1}\n\
                    {\"type\":\"info\",\"process\":\"nemesis\",\"f\":\"start-partition\"}\n";
        let h = jsonl::parse("t", text).unwrap();
        let plots = all(&h);
        assert!(plots.iter().all(|p| p.svg.starts_with("<svg")));
        assert!(plots[0].svg.contains("event position"));
    }

    #[test]
    fn faults_are_shaded_and_names_escaped() {
        let mut events =
            synth::generate(&Spec { ops: 500, keys: 2, clients: 4, info_writes: 0.1, stale_read: false, seed: 1 });
        let mid = events.len() / 2;
        let t = events[mid].time;
        let mut fault = events[mid].clone();
        fault.process = faultline_checker::Process::Nemesis;
        fault.kind = faultline_checker::EventKind::Info;
        fault.f = "start-<b>".into();
        fault.time = t;
        events.insert(mid, fault);
        let h = History::new("t", events).unwrap();
        let plots = all(&h);
        assert!(plots
            .iter()
            .all(|p| p.svg.contains("fill=\"#CF222E\" fill-opacity=\"0.12\"") || p.svg.contains("opacity=\"0.12\"")));
        assert!(plots.iter().all(|p| !p.svg.contains("<b>")));
        assert!(plots[0].legend.iter().any(|e| e.label == "write info" && e.mark == Mark::Triangle));
        assert!(plots.iter().all(|p| p.legend.last().is_some_and(|e| e.mark == Mark::Band)));
        // The band is named where it is drawn, escaped.
        assert!(plots[0].svg.contains("&lt;b&gt;"), "the fault's name at its band");
    }
}
