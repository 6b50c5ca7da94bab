//! The run report as one self-contained HTML file: a timeline chart (SVG) of the split, each color's 5xx rate
//! and latency, every gate verdict, approvals and the rollback marker; then the event table. No network.

use crate::render::describe;
use bluegreen_core::gate::Verdict;
use bluegreen_core::{Color, Event, RecordEntry, Replay};
use std::fmt::Write;

const W: f64 = 900.0;
const PAD: f64 = 50.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A named line: (name, CSS class, points).
type Series = (&'static str, &'static str, Vec<(f64, f64)>);

struct Panel {
    title: &'static str,
    unit: &'static str,
    height: f64,
    max: f64,
    series: Vec<Series>,
    marks: Vec<(f64, f64, &'static str, String)>,
}

impl Panel {
    fn svg(&self, id: &str, t_max: f64, vlines: &[(f64, &'static str, String)]) -> String {
        let x = |t: f64| PAD + (W - 2.0 * PAD) * if t_max > 0.0 { t / t_max } else { 0.0 };
        let y = |v: f64| 24.0 + (self.height - 44.0) * (1.0 - (v / self.max).clamp(0.0, 1.0));
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
        let _ = write!(
            s,
            r##"<line x1="{PAD}" y1="{b}" x2="{r}" y2="{b}" class="axis"/>"##,
            b = y(0.0),
            r = W - PAD
        );
        let top = if self.max >= 10.0 {
            format!("{:.0}", self.max)
        } else {
            format!("{:.3}", self.max)
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
        for (t, class, label) in vlines {
            let _ = write!(
                s,
                r##"<line x1="{0}" y1="20" x2="{0}" y2="{1}" class="{class}"><title>{2}</title></line>"##,
                x(*t),
                y(0.0),
                esc(label)
            );
        }
        for (name, class, points) in &self.series {
            if points.is_empty() {
                continue;
            }
            let pts: Vec<String> = points
                .iter()
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect();
            let _ = write!(
                s,
                r##"<polyline class="{class}" data-series="{name}" points="{}"/>"##,
                pts.join(" ")
            );
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
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" class="tick">{:.0}s</text></svg>"##,
            W - PAD - 20.0,
            self.height - 4.0,
            t_max
        );
        s
    }
}

/// The report of one deployment.
pub fn report(id: &str, replay: &Replay, record: &[RecordEntry]) -> String {
    let start = replay.started_at;
    let new = replay.target();
    let t = |e: &RecordEntry| e.at.since(start).as_secs_f64();
    let t_max = record.last().map(t).unwrap_or(0.0).max(1.0);
    let mut split = vec![(0.0, 0.0)];
    let (mut err_new, mut err_stable, mut lat_new, mut lat_stable) =
        (vec![], vec![], vec![], vec![]);
    let (mut err_marks, mut lat_marks) = (vec![], vec![]);
    let mut vlines = Vec::new();
    let (mut err_max, mut lat_max) = (0.01f64, 0.1f64);
    for e in record {
        match &e.event {
            Event::SplitVerified { split: s } => {
                let last = split.last().map(|p| p.1).unwrap_or(0.0);
                split.push((t(e), last));
                split.push((t(e), s.share(new) * 100.0));
            }
            Event::Polled { reports, .. } => {
                for r in reports {
                    let series = match r.gate.as_str() {
                        "5xx-rate" => {
                            Some((&mut err_new, &mut err_stable, &mut err_marks, &mut err_max))
                        }
                        "latency-avg" => {
                            Some((&mut lat_new, &mut lat_stable, &mut lat_marks, &mut lat_max))
                        }
                        _ => None,
                    };
                    if let Some((n, st, marks, max)) = series {
                        if let Some(v) = r.value {
                            n.push((t(e), v));
                            *max = max.max(v * 1.1);
                            if r.verdict == Verdict::Fail {
                                marks.push((t(e), v, "fail", r.to_string()));
                            }
                        }
                        if let Some(v) = r.stable {
                            st.push((t(e), v));
                            *max = max.max(v * 1.1);
                        }
                    }
                }
            }
            Event::ApprovalRequested { .. } => {
                vlines.push((t(e), "approval", "approval requested".to_string()))
            }
            Event::ApprovalDecided { .. } => vlines.push((
                t(e),
                "approval",
                describe(&e.event, start, Some(&replay.plan.schedule)),
            )),
            Event::RollbackStarted { .. } => vlines.push((
                t(e),
                "rollback",
                describe(&e.event, start, Some(&replay.plan.schedule)),
            )),
            _ => {}
        }
    }
    split.push((t_max, split.last().map(|p| p.1).unwrap_or(0.0)));
    let stable_color = new.other();
    let panels = [
        Panel {
            title: "traffic to the new color",
            unit: "%",
            height: 160.0,
            max: 100.0,
            series: vec![("split", new_class(new), split)],
            marks: vec![],
        },
        Panel {
            title: "5xx rate",
            unit: "ratio",
            height: 160.0,
            max: err_max,
            series: vec![
                ("new", new_class(new), err_new),
                ("stable", new_class(stable_color), err_stable),
            ],
            marks: err_marks,
        },
        Panel {
            title: "average latency",
            unit: "seconds",
            height: 160.0,
            max: lat_max,
            series: vec![
                ("new", new_class(new), lat_new),
                ("stable", new_class(stable_color), lat_stable),
            ],
            marks: lat_marks,
        },
    ];
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
h1 {{ font-size: 20px; }} .outcome {{ font-weight: bold; }}
svg.panel {{ display: block; margin: 8px 0; background: #fafafa; border: 1px solid #ddd; }}
.title {{ font-size: 12px; fill: #333; }} .tick {{ font-size: 10px; fill: #777; }}
.axis {{ stroke: #999; }} polyline {{ fill: none; stroke-width: 2; }}
.blue {{ stroke: #1f6feb; }} .green {{ stroke: #2da44e; }}
.fail {{ fill: #d1242f; }} .rollback {{ stroke: #d1242f; stroke-width: 2; stroke-dasharray: 4 2; }}
.approval {{ stroke: #8250df; stroke-dasharray: 2 2; }}
table {{ border-collapse: collapse; font-size: 12px; }} td {{ border-bottom: 1px solid #eee; padding: 2px 8px; vertical-align: top; }}
</style></head><body>
<h1>Deployment {id}</h1>
<p>{app}: {stable} → {new}, {schedule}</p>
<p class="outcome" id="outcome">{outcome}</p>
"##,
        id = esc(id),
        app = esc(&replay.plan.application),
        stable = stable_color,
        new = new,
        schedule = esc(&replay.plan.schedule.to_string()),
        outcome = esc(&outcome),
    );
    for (i, p) in panels.iter().enumerate() {
        html.push_str(&p.svg(&format!("chart-{i}"), t_max, &vlines));
        html.push('\n');
    }
    html.push_str("<h2>Events</h2>\n<table id=\"events\"><tr><th>time</th><th>event</th></tr>\n");
    for e in record {
        let _ = writeln!(
            html,
            "<tr><td>+{:.0}s</td><td>{}</td></tr>",
            t(e),
            esc(&describe(&e.event, start, Some(&replay.plan.schedule)))
        );
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

fn new_class(c: Color) -> &'static str {
    match c {
        Color::Blue => "blue",
        Color::Green => "green",
    }
}
