//! Retro judgement (issue 23 item 4): the minutes a deployment's record holds, judged again under other
//! gates — what they would have decided, and when — so that a team tunes its gates on its own releases.
//!
//! A record keeps each judged minute with both colors' metrics of that minute alone and the first minute of
//! its split ([`RecordedMinute`](super::RecordedMinute)); [`rejudge`] rebuilds each minute's window from them
//! (never reaching before its split), judges it with [`judge_minute`] — the function
//! the executor judges with — and counts the verdicts step by step with the gates' limits. Under the
//! record's own gates it reproduces the recorded verdicts exactly. The sequential judge is rebuilt from the
//! same minutes in the same order ([`SequentialJudge`](super::SequentialJudge)): its reports are set beside
//! the last minute of the poll that made them. The checks of the current state (target health, alarms) are
//! taken as recorded: they are not minutes.

use super::{
    BakeTally, GatePolicy, GateReport, PollDecision, RecordedMinute, Verdict, judge_minute,
};
use crate::executor::ReplayError;
use crate::{Color, Event, Metrics, PerColor, RecordEntry, Replay, Step, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

/// One minute judged again, beside what the record says of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejudgedMinute {
    /// The schedule step it was judged in (0-based).
    pub step: usize,
    /// The minute.
    pub minute: Timestamp,
    /// What the gates make of it now.
    pub reports: Vec<GateReport>,
    /// What the record says the gates made of it then.
    pub recorded: Vec<GateReport>,
}

impl RejudgedMinute {
    /// Whether some gate's verdict differs from the recorded one (a gate only one side has counts too).
    pub fn differs(&self) -> bool {
        self.reports.len() != self.recorded.len()
            || self
                .reports
                .iter()
                .zip(&self.recorded)
                .any(|(a, b)| a.gate != b.gate || a.verdict != b.verdict)
    }
}

/// What the gates would have decided over a recorded deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejudgement {
    /// Every recorded minute, judged again, in the order the record judged them (up to the first
    /// rollback the gates would have made).
    pub minutes: Vec<RejudgedMinute>,
    /// The first rollback they would have made: the step, the minute, the limit reached and the report.
    pub rollback: Option<(usize, Timestamp, String, GateReport)>,
    /// Minutes the record judged that carry no metrics (written before records kept them): not judged.
    pub without_metrics: usize,
}

/// Judges minutes as a deployment would, in order: each minute's window rebuilt from the minutes seen
/// (never reaching before its split), judged by [`judge_minute`], counted by a tally; the sequential judge
/// fed the same minutes. One place for [`rejudge`] and [`judge_history`].
struct Judging<'g> {
    gates: &'g GatePolicy,
    new: Color,
    window: u32,
    seen: BTreeMap<Timestamp, (Timestamp, PerColor<Metrics>)>,
    judge: Option<super::SequentialJudge>,
}

/// What one batch of minutes (one poll's) came to.
struct Batch {
    minutes: Vec<RejudgedMinute>,
    decision: PollDecision,
}

impl<'g> Judging<'g> {
    fn new(gates: &'g GatePolicy, new: Color, judge: Option<super::SequentialJudge>) -> Self {
        Judging {
            gates,
            new,
            window: gates.window_length().as_secs().div_ceil(60).max(1) as u32,
            seen: BTreeMap::new(),
            judge,
        }
    }

    /// Judges `minutes` (one poll's, in order) at step `step`, counting into `tally` with `limits` after
    /// `decision` (the poll's state checks). `baseline`: a watch's stand-in for the stable color;
    /// `observed`: every verdict observed (past a watch's armed window).
    #[allow(clippy::too_many_arguments)]
    fn batch(
        &mut self,
        step: usize,
        minutes: &[RecordedMinute],
        baseline: Option<Metrics>,
        observed: bool,
        tally: &mut BakeTally,
        limits: &super::Limits,
        mut decision: PollDecision,
    ) -> Batch {
        let mut out = Vec::new();
        for rm in minutes {
            self.seen.insert(rm.minute, (rm.segment, rm.metrics));
            let from = rm
                .segment
                .max(rm.minute - crate::MINUTE * (self.window - 1));
            let combined = PerColor::from_fn(|c: Color| {
                let parts: Vec<&Metrics> = self
                    .seen
                    .range(from..=rm.minute)
                    .filter(|(_, (segment, _))| *segment == rm.segment)
                    .map(|(_, (_, m))| m.get(c))
                    .collect();
                Metrics::combine(parts)
            });
            let published = Color::ALL.iter().any(|c| !rm.metrics.get(*c).is_empty());
            let mut now = judge_minute(
                self.gates,
                self.new,
                combined,
                baseline.map(|b| (b, "the application before the deployment".into())),
                rm.minute,
                published,
            );
            if observed {
                for r in &mut now {
                    r.mode = super::GateMode::Observe;
                }
            }
            if decision == PollDecision::Continue {
                decision = tally.record(&now, limits, true);
            }
            out.push(RejudgedMinute {
                step,
                minute: rm.minute,
                reports: now,
                recorded: Vec::new(),
            });
        }
        // The judge's reports, beside the batch's last minute; its rollback after the minutes', as in a run.
        if let Some(judge) = self.judge.as_mut() {
            let before = judge.told();
            for rm in minutes {
                judge.add(rm);
            }
            if judge.told() != before {
                let now = judge.reports();
                if !matches!(decision, PollDecision::Rollback { .. })
                    && let Some(report) = super::judge_rollback(&now).cloned()
                {
                    decision = PollDecision::Rollback {
                        limit: super::JUDGE_LIMIT.into(),
                        report,
                    };
                }
                if let Some(last) = out.last_mut() {
                    last.reports.extend(now);
                }
            }
        }
        Batch {
            minutes: out,
            decision,
        }
    }
}

/// Judges the minutes of `record` again under `gates` (see the module).
pub fn rejudge(gates: &GatePolicy, record: &[RecordEntry]) -> Result<Rejudgement, ReplayError> {
    let replay = Replay::new(record)?;
    let new = replay.stable.other();
    let steps = replay.plan.schedule.steps();
    let mut baseline: Option<Metrics> = None;
    let mut armed_until: Option<Timestamp> = None;
    let mut tallies: BTreeMap<usize, BakeTally> = BTreeMap::new();
    let judged_plan = crate::Plan {
        gates: gates.clone(),
        ..replay.plan.clone()
    };
    let mut judging = Judging::new(
        gates,
        new,
        super::SequentialJudge::for_plan(&judged_plan, new),
    );
    let is_judge = super::is_judge_report;
    let mut out = Rejudgement {
        minutes: Vec::new(),
        rollback: None,
        without_metrics: 0,
    };
    for entry in record {
        match &entry.event {
            Event::BaselineTaken { metrics, .. } => baseline = Some(*metrics),
            // A watch's armed window ends at a time fixed when it starts: later breaches are observed.
            Event::ApprovalRequested {
                index,
                deadline: Some(deadline),
            } => {
                if let Some(Step::Watch {
                    duration, armed, ..
                }) = steps.get(*index)
                {
                    armed_until = Some(*deadline - *duration + *armed);
                }
            }
            Event::Polled {
                index,
                reports,
                minutes,
                ..
            } => {
                let step = steps.get(*index);
                let waiting = matches!(step, Some(Step::Approval { .. } | Step::Watch { .. }));
                let watch_baseline = match step {
                    Some(Step::Watch {
                        baseline: crate::WatchBaseline::Before,
                        ..
                    }) => baseline,
                    _ => None,
                };
                let mut limits = gates.limits;
                if waiting {
                    limits.inconclusive = u32::MAX;
                }
                let tally = tallies.entry(*index).or_default();
                let state: Vec<GateReport> = reports
                    .iter()
                    .filter(|r| r.minute.is_none() && !is_judge(r))
                    .cloned()
                    .collect();
                let decision = tally.record_state(&state, &limits);
                let recorded_minutes: Vec<Timestamp> = {
                    let mut m: Vec<Timestamp> = reports.iter().filter_map(|r| r.minute).collect();
                    m.dedup();
                    m
                };
                out.without_metrics += recorded_minutes
                    .iter()
                    .filter(|m| !minutes.iter().any(|x| x.minute == **m))
                    .count();
                let observed = armed_until.is_some_and(|t| entry.at >= t);
                let batch = judging.batch(
                    *index,
                    minutes,
                    watch_baseline,
                    observed,
                    tally,
                    &limits,
                    decision,
                );
                let count = batch.minutes.len();
                for (i, mut m) in batch.minutes.into_iter().enumerate() {
                    m.recorded = reports
                        .iter()
                        .filter(|r| r.minute == Some(m.minute))
                        .cloned()
                        .collect();
                    if i + 1 == count {
                        m.recorded
                            .extend(reports.iter().filter(|r| is_judge(r)).cloned());
                    }
                    out.minutes.push(m);
                }
                if let PollDecision::Rollback { limit, report } = batch.decision {
                    let minute = report.minute.unwrap_or(entry.at);
                    out.rollback = Some((*index, minute, limit, report));
                    return Ok(out);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Judges CloudWatch's history of both colors — `series` as [`HealthSource::metrics`] answers for `window`
/// — under `gates`, with `new` as the new color, as if one bake of a split that sends traffic to both had
/// held over the whole window: each minute judged on its own poll, in order, by the thresholds and the
/// sequential judge (one split: its regression tests start once). What a team learns from its past
/// releases when no record of them is at hand (a release made by another tool, say).
///
/// [`HealthSource::metrics`]: crate::HealthSource::metrics
pub fn judge_history(
    gates: &GatePolicy,
    new: Color,
    window: crate::Window,
    series: &PerColor<Vec<crate::MinuteMetrics>>,
) -> Rejudgement {
    let from = window.from.floor_minute();
    let judge = super::SequentialJudge::for_gates(gates, new, 1);
    let mut judging = Judging::new(gates, new, judge);
    let mut tally = BakeTally::default();
    let mut out = Rejudgement {
        minutes: Vec::new(),
        rollback: None,
        without_metrics: 0,
    };
    let mut minute = from;
    while minute < window.to {
        let metrics = PerColor::from_fn(|c: Color| {
            series
                .get(c)
                .iter()
                .find(|m| m.start == minute)
                .map(|m| m.metrics)
                .unwrap_or_default()
        });
        let rm = RecordedMinute {
            minute,
            segment: from,
            metrics,
        };
        let batch = judging.batch(
            0,
            &[rm],
            None,
            false,
            &mut tally,
            &gates.limits,
            PollDecision::Continue,
        );
        out.minutes.extend(batch.minutes);
        if let PollDecision::Rollback { limit, report } = batch.decision {
            out.rollback = Some((0, minute, limit, report));
            return out;
        }
        minute = minute + crate::MINUTE;
    }
    out
}

/// The verdicts of `minutes` that differ from the record's, as `(minute, gate, recorded, now)`.
pub fn differences(minutes: &[RejudgedMinute]) -> Vec<(Timestamp, String, Verdict, Verdict)> {
    minutes
        .iter()
        .flat_map(|m| {
            m.reports.iter().filter_map(move |r| {
                let before = m.recorded.iter().find(|x| x.gate == r.gate)?;
                (before.verdict != r.verdict)
                    .then(|| (m.minute, r.gate.clone(), before.verdict, r.verdict))
            })
        })
        .collect()
}
