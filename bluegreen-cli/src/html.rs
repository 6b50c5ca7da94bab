//! The run report as one self-contained HTML file: how it ended first, then a timeline chart (SVG) of the
//! split, each color's 5xx rate and latency against the gates' limits, approvals and the rollback marker, on
//! a clock-time axis with a legend; then the sequential judge's classification of each metric, its effect
//! and interval, and the score, after every minute that told it something; then the events, with runs of
//! passing polls collapsed into one row. No network.

use crate::render::{clock_time, describe};
use bluegreen_core::gate::{Check, CheckKind, GateReport, Panel as PanelSpec, Verdict};
use bluegreen_core::{Color, Event, RecordEntry, Replay, Timestamp};
use std::fmt::Write;

const W: f64 = 900.0;
const PAD: f64 = 60.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A named line: (key, legend text, CSS class, points as (seconds since the start, value)).
type Series = (&'static str, String, &'static str, Vec<(f64, f64)>);

struct Panel {
    title: &'static str,
    unit: &'static str,
    height: f64,
    max: f64,
    series: Vec<Series>,
    marks: Vec<(f64, f64, &'static str, String)>,
}

/// Clock-time ticks for `t_max` seconds from `start`: about six, on round intervals.
fn ticks(start: Timestamp, t_max: f64) -> Vec<(f64, String)> {
    let step = [
        10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ]
    .into_iter()
    .find(|s| t_max / s <= 6.0)
    .unwrap_or(14_400.0);
    // The first round instant at or after the start.
    let start_s = start.as_millis() as f64 / 1000.0;
    let first = (start_s / step).ceil() * step - start_s;
    let mut out = Vec::new();
    let mut t = first;
    while t <= t_max {
        let at = start + std::time::Duration::from_millis((t * 1000.0) as u64);
        let label = clock_time(at);
        // Whole minutes read as HH:MM.
        let label = if step >= 60.0 {
            label[..5].to_string()
        } else {
            label
        };
        out.push((t, label));
        t += step;
    }
    out
}

impl Panel {
    fn svg(
        &self,
        id: &str,
        start: Timestamp,
        t_max: f64,
        vlines: &[(f64, &'static str, String)],
    ) -> String {
        let x = |t: f64| PAD + (W - 2.0 * PAD) * if t_max > 0.0 { t / t_max } else { 0.0 };
        let y = |v: f64| 40.0 + (self.height - 64.0) * (1.0 - (v / self.max).clamp(0.0, 1.0));
        let mut s = format!(
            r#"<svg id="{id}" class="panel" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="{t}">"#,
            h = self.height,
            t = self.title
        );
        let _ = write!(
            s,
            r##"<text x="{PAD}" y="14" class="title">{} ({})</text>"##,
            self.title, self.unit
        );
        // The legend: one swatch per series, in the panel's top line.
        let mut lx = PAD;
        for (_, name, class, _) in &self.series {
            let _ = write!(
                s,
                r##"<g class="legend"><line x1="{lx}" y1="28" x2="{}" y2="28" class="{class}"/><text x="{}" y="31" class="tick">{}</text></g>"##,
                lx + 18.0,
                lx + 22.0,
                esc(name)
            );
            lx += 30.0 + 6.5 * name.len() as f64;
        }
        let _ = write!(
            s,
            r##"<line x1="{PAD}" y1="{b}" x2="{r}" y2="{b}" class="axis"/>"##,
            b = y(0.0),
            r = W - PAD
        );
        let top = if self.max >= 10.0 {
            format!("{:.0}", self.max)
        } else {
            format!("{:.2}", self.max)
        };
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" class="tick" text-anchor="end">{top}</text>"##,
            PAD - 4.0,
            y(self.max) + 4.0
        );
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" class="tick" text-anchor="end">0</text>"##,
            PAD - 4.0,
            y(0.0) + 4.0
        );
        for (t, label) in ticks(start, t_max) {
            let _ = write!(
                s,
                r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="axis"/><text x="{0}" y="{3}" class="tick clock" text-anchor="middle">{label}</text>"##,
                x(t),
                y(0.0),
                y(0.0) + 4.0,
                y(0.0) + 15.0
            );
        }
        for (t, class, label) in vlines {
            let _ = write!(
                s,
                r##"<line x1="{0}" y1="36" x2="{0}" y2="{1}" class="{class}"><title>{2}</title></line>"##,
                x(*t),
                y(0.0),
                esc(label)
            );
        }
        for (key, _, class, points) in &self.series {
            if points.is_empty() {
                continue;
            }
            let pts: Vec<String> = points
                .iter()
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect();
            let _ = write!(
                s,
                r##"<polyline class="{class}" data-series="{key}" points="{}"/>"##,
                pts.join(" ")
            );
            // A line of one or two points (a rollback soon after the start) is easy to miss: dot each.
            if points.len() <= 2 {
                for (t, v) in points {
                    let _ = write!(
                        s,
                        r##"<circle cx="{:.1}" cy="{:.1}" r="3" class="dot {class}"/>"##,
                        x(*t),
                        y(*v)
                    );
                }
            }
        }
        for (t, v, class, label) in &self.marks {
            let _ = write!(
                s,
                r##"<circle cx="{:.1}" cy="{:.1}" r="4" class="{class}"><title>{}</title></circle>"##,
                x(*t),
                y(*v),
                esc(label)
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// A metric panel's values: each color's, the limit's, the failures marked, and the largest value.
struct Metric {
    new: Vec<(f64, f64)>,
    stable: Vec<(f64, f64)>,
    limit: Vec<(f64, f64)>,
    marks: Vec<(f64, f64, &'static str, String)>,
    max: f64,
}

impl Metric {
    fn new(floor: f64) -> Self {
        Metric {
            new: vec![],
            stable: vec![],
            limit: vec![],
            marks: vec![],
            max: floor,
        }
    }

    /// Adds a report, its values scaled by `scale` (to percent or milliseconds).
    fn add(&mut self, t: f64, r: &GateReport, scale: f64) {
        if let Some(v) = r.value {
            self.new.push((t, v * scale));
            self.max = self.max.max(v * scale * 1.1);
            if r.verdict == Verdict::Fail {
                self.marks.push((t, v * scale, "fail", r.to_string()));
            }
        }
        if let Some(v) = r.stable {
            self.stable.push((t, v * scale));
            self.max = self.max.max(v * scale * 1.1);
        }
        if let Some(l) = r.limit {
            self.limit.push((t, l * scale));
            self.max = self.max.max(l * scale * 1.1);
        }
    }
}

/// The report of one deployment.
pub fn report(id: &str, replay: &Replay, record: &[RecordEntry]) -> String {
    let start = replay.started_at;
    let new = replay.target();
    let stable_color = new.other();
    let schedule = Some(&replay.plan.schedule);
    let t = |e: &RecordEntry| e.at.since(start).as_secs_f64();
    let t_max = record.last().map(t).unwrap_or(0.0).max(1.0);
    let mut split = vec![(0.0, 0.0)];
    // One panel per check that draws one (the core's registry), in its order.
    let mut metrics: Vec<(&CheckKind, &PanelSpec, Metric)> = Check::KINDS
        .iter()
        .filter_map(|k| k.panel.as_ref().map(|p| (k, p, Metric::new(p.floor))))
        .collect();
    let mut vlines = Vec::new();
    for e in record {
        match &e.event {
            Event::SplitVerified { split: s } => {
                let last = split.last().map(|p| p.1).unwrap_or(0.0);
                split.push((t(e), last));
                split.push((t(e), s.share(new) * 100.0));
            }
            Event::Polled { reports, .. } => {
                for r in reports {
                    if let Some((k, _, m)) = metrics.iter_mut().find(|(k, _, _)| k.name == r.gate) {
                        m.add(t(e), r, k.unit.scale().1);
                    }
                }
            }
            Event::ApprovalRequested { .. } => {
                vlines.push((t(e), "approval", "approval requested".to_string()))
            }
            Event::ApprovalDecided { .. } => {
                vlines.push((t(e), "approval", describe(&e.event, start, schedule)))
            }
            Event::RollbackStarted { .. } => {
                vlines.push((t(e), "rollback", describe(&e.event, start, schedule)))
            }
            _ => {}
        }
    }
    split.push((t_max, split.last().map(|p| p.1).unwrap_or(0.0)));
    let metric = |title, unit, m: Metric| Panel {
        title,
        unit,
        height: 180.0,
        max: m.max,
        series: vec![
            ("new", format!("{new} (new)"), new_class(new), m.new),
            (
                "stable",
                format!("{stable_color} (stable)"),
                new_class(stable_color),
                m.stable,
            ),
            ("limit", "limit".to_string(), "limit", m.limit),
        ],
        marks: m.marks,
    };
    let mut panels = vec![Panel {
        title: "traffic to the new color",
        unit: "%",
        height: 180.0,
        max: 100.0,
        series: vec![("split", format!("{new} (new)"), new_class(new), split)],
        marks: vec![],
    }];
    for (k, p, m) in metrics {
        // A panel that is not always drawn only where the deployment judged its check.
        let judged = !m.new.is_empty() || !m.limit.is_empty();
        if p.always || judged {
            panels.push(metric(p.title, k.unit.scale().0, m));
        }
    }
    let outcome = replay
        .outcome
        .as_ref()
        .map_or("in progress".to_string(), |o| {
            o.describe(&replay.plan.schedule)
        });
    let mut html = String::new();
    let _ = write!(
        html,
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bluegreen report {id}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; }} .outcome {{ font-weight: bold; font-size: 16px; }}
svg.panel {{ display: block; margin: 8px 0; background: #fafafa; border: 1px solid #ddd; }}
.title {{ font-size: 12px; fill: #333; }} .tick {{ font-size: 10px; fill: #555; }}
.axis {{ stroke: #999; }} polyline, .legend line {{ fill: none; stroke-width: 2; }}
.blue {{ stroke: #1f6feb; }} .green {{ stroke: #2da44e; }} .dot.blue {{ fill: #1f6feb; }} .dot.green {{ fill: #2da44e; }}
.limit {{ stroke: #d1242f; stroke-width: 1; stroke-dasharray: 6 3; }}
.fail {{ fill: #d1242f; }} .rollback {{ stroke: #d1242f; stroke-width: 2; stroke-dasharray: 4 2; }}
.approval {{ stroke: #8250df; stroke-dasharray: 2 2; }}
.key span {{ margin-right: 16px; }}
table {{ border-collapse: collapse; font-size: 12px; }} td {{ border-bottom: 1px solid #eee; padding: 2px 8px; vertical-align: top; }}
tr.passes td {{ color: #666; }}
td.high {{ color: #d1242f; font-weight: bold; }} td.pass, td.low {{ color: #2da44e; }}
</style></head><body>
<h1>Deployment {id}</h1>
<p class="outcome" id="outcome">{outcome}</p>
<p>{app}: {stable} → {new}, {schedule}; started {started} (times are UTC)</p>
<p class="key" id="key"><span style="color:#d1242f">- - rollback started</span><span style="color:#8250df">· · approval</span><span style="color:#d1242f">- - - limit (each gate's, as judged)</span><span style="color:#d1242f">● failed verdict</span></p>
"##,
        id = esc(id),
        app = esc(&replay.plan.application),
        stable = stable_color,
        new = new,
        schedule = esc(&replay.plan.schedule.to_string()),
        outcome = esc(&outcome),
        started = start,
    );
    for (i, p) in panels.iter().enumerate() {
        html.push_str(&p.svg(&format!("chart-{i}"), start, t_max, &vlines));
        html.push('\n');
    }
    html.push_str(&judge_table(replay, record, start));
    html.push_str(
        "<h2>Events</h2>\n<table id=\"events\"><tr><th>time</th><th></th><th>event</th></tr>\n",
    );
    for row in rows(record, start, schedule) {
        html.push_str(&row);
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

/// The sequential judge, minute by minute: rebuilt from the record's minutes in the order they were judged
/// (as `bluegreen judge` does), one row per poll that told it something: each metric's classification,
/// effect and interval, then the score and the verdict. Empty when the plan has no judge.
fn judge_table(replay: &Replay, record: &[RecordEntry], start: Timestamp) -> String {
    use bluegreen_core::gate::{SequentialJudge, show_interval};
    let Some(mut judge) = SequentialJudge::for_plan(&replay.plan, replay.target()) else {
        return String::new();
    };
    let mut rows = String::new();
    for e in record {
        let Event::Polled { minutes, .. } = &e.event else {
            continue;
        };
        let before = judge.told();
        for m in minutes {
            judge.add(m);
        }
        if judge.told() == before {
            continue;
        }
        let (_, verdict) = judge.judgement();
        let cells: Vec<String> = judge
            .metrics()
            .iter()
            .map(|m| {
                format!(
                    "<td class=\"{}\">{}</td><td>{}</td><td>{}</td>",
                    m.class,
                    m.class,
                    m.effect.map_or("—".into(), |e| format!("{e:.2}×")),
                    esc(&m.interval.map_or("—".into(), show_interval))
                )
            })
            .collect();
        let newest = minutes.last().map_or(e.at, |m| m.minute);
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>+{:.0}s</td><td>{}</td>{}<td>{}</td><td>{}</td></tr>",
            clock_time(e.at),
            e.at.since(start).as_secs_f64(),
            clock_time(newest),
            cells.join(""),
            judge.score().map_or("—".into(), |s| format!("{s:.0}")),
            serde_json::to_value(verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        );
    }
    if rows.is_empty() {
        return "<h2>Sequential judge</h2>\n<p id=\"judge\">No minute told the judge anything (no errors on either color, too few requests for latency).</p>\n".into();
    }
    let heads: String = judge
        .metrics()
        .iter()
        .map(|m| format!("<th colspan=\"3\">{}</th>", esc(&m.gate)))
        .collect();
    let sub: String = judge
        .metrics()
        .iter()
        .map(|_| "<th>class</th><th>effect</th><th>interval</th>")
        .collect();
    format!(
        "<h2>Sequential judge</h2>\n<p>Each metric of the new color against the stable one over every minute judged so far: its class, the estimated ratio and an anytime-valid interval for it; the score (pass at {:.0}, marginal from {:.0}). docs/gates.md says how to read them.</p>\n<table id=\"judge\"><tr><th>time</th><th></th><th>newest minute</th>{heads}<th>score</th><th>verdict</th></tr>\n<tr><th></th><th></th><th></th>{sub}<th></th><th></th></tr>\n{rows}</table>\n",
        judge.policy().pass_score,
        judge.policy().marginal_score,
    )
}

/// The event table's rows: one per event, except that consecutive polls where every check passed are one
/// row (`18 polls passed`, from the first to the last, with the last values).
fn rows(
    record: &[RecordEntry],
    start: Timestamp,
    schedule: Option<&bluegreen_core::Schedule>,
) -> Vec<String> {
    let passed = |e: &RecordEntry| match &e.event {
        Event::Polled { reports, .. } => reports.iter().all(|r| r.verdict == Verdict::Pass),
        _ => false,
    };
    let offset = |e: &RecordEntry| format!("+{:.0}s", e.at.since(start).as_secs_f64());
    let mut out = Vec::new();
    let mut i = 0;
    while i < record.len() {
        let e = &record[i];
        if passed(e) {
            let run = record[i..].iter().take_while(|e| passed(e)).count();
            if run > 1 {
                let last = &record[i + run - 1];
                out.push(format!(
                    "<tr class=\"passes\"><td>{}–{}</td><td>{}–{}</td><td>{run} polls passed; last: {}</td></tr>\n",
                    clock_time(e.at),
                    clock_time(last.at),
                    offset(e),
                    offset(last),
                    esc(&describe(&last.event, start, schedule))
                ));
                i += run;
                continue;
            }
        }
        out.push(format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            clock_time(e.at),
            offset(e),
            esc(&describe(&e.event, start, schedule))
        ));
        i += 1;
    }
    out
}

fn new_class(c: Color) -> &'static str {
    match c {
        Color::Blue => "blue",
        Color::Green => "green",
    }
}
