use super::{DeploymentId, Event, Outcome, Plan, RecordEntry, RollbackReason};
use crate::{Color, Timestamp, TrafficSplit};
use std::collections::BTreeSet;

/// A deployment's state, rebuilt from its record. Pure: the executor resumes from it, and status views
/// render it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The deployment.
    pub deployment: DeploymentId,
    /// Its plan.
    pub plan: Plan,
    /// The color that held all traffic at the start.
    pub stable: Color,
    /// When it started.
    pub started_at: Timestamp,
    /// Steps completed (0-based indexes).
    pub completed: BTreeSet<usize>,
    /// The step in progress: started and not completed.
    pub in_progress: Option<usize>,
    /// The last split read back and verified (a completed weight step verified its split).
    pub last_verified: Option<TrafficSplit>,
    /// Whether the deployment ever wrote or verified a split of its own (a record that changed no weight says
    /// nothing about which color is stable). A split found already in place on resume counts: the write of a
    /// run that died before recording it had landed.
    pub wrote: bool,
    /// Approvals granted (step indexes), including timeouts that promote.
    pub approved: BTreeSet<usize>,
    /// When the last approval asked for runs out (`None`: no approval asked, or one without a timeout).
    pub approval_deadline: Option<Timestamp>,
    /// Whether the new color's capacity was confirmed ready.
    pub capacity_ready: bool,
    /// Whether the new color's launch template was set.
    pub launch_template_set: bool,
    /// The new color's capacity was raised from `.1` (to restore after a rollback).
    pub raised: Option<(Color, u32)>,
    /// A watch lowered the old color's group from `.1` ([`crate::WatchKeep::Min`]): restored on a rollback.
    pub kept: Option<(Color, u32)>,
    /// The watch's baseline, once taken ([`Event::BaselineTaken`]).
    pub baseline: Option<crate::Metrics>,
    /// Who started it, when the record says.
    pub started_by: Option<String>,
    /// A rollback in progress or done: why, and at which step.
    pub rollback: Option<(RollbackReason, Option<usize>)>,
    /// Whether every step finished and the final split was verified.
    pub promoted: bool,
    /// When the old color is to be scaled down.
    pub scale_down_at: Option<Timestamp>,
    /// Whether the old color was scaled down.
    pub scaled_down: bool,
    /// The outcome, once finished.
    pub outcome: Option<Outcome>,
    /// Whether the pre-traffic hooks ran and passed (they are not run again on resume).
    pub pre_traffic_passed: bool,
    /// Whether the after-switch hooks ran and passed (before a watch; not run again on resume).
    pub after_switch_passed: bool,
    /// The newest CloudWatch minute a poll judged: a resumed watch judges from the one after it.
    pub last_judged_minute: Option<Timestamp>,
    /// A decision the record already implies but did not act on: a bake whose recorded verdicts reached a
    /// limit, or an approval that was rejected, before the rollback was recorded (a crash in between).
    pub pending_rollback: Option<(RollbackReason, usize)>,
    /// A bake the sequential judge paused ([`Event::JudgePaused`]), waiting for `promote` or `abort`.
    pub paused: Option<usize>,
    /// Every minute the polls judged, in the order they were judged: what rebuilds the sequential judge.
    pub minutes: Vec<crate::gate::RecordedMinute>,
    /// The tally of the step in progress, rebuilt from its recorded polls.
    tally: Option<(usize, crate::gate::BakeTally)>,
    /// Entries in the record.
    pub len: u64,
    /// The last entry's time.
    pub last_at: Timestamp,
}

/// A record that cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// No entries.
    #[error("the record is empty")]
    Empty,
    /// The first entry is not `started`.
    #[error("the record does not begin with a `started` event")]
    NoStart,
    /// Entries out of order.
    #[error("entry {found} is out of order (expected sequence number {expected})")]
    OutOfOrder {
        /// The sequence number expected.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// A step index past the schedule.
    #[error("entry {seq} names step {index}, but the schedule has {len} steps")]
    BadStep {
        /// The entry.
        seq: u64,
        /// The index found.
        index: usize,
        /// The schedule's length.
        len: usize,
    },
}

impl Replay {
    /// Rebuilds the state from a record, checking that it is in order and consistent with its plan.
    pub fn new(entries: &[RecordEntry]) -> Result<Replay, ReplayError> {
        let first = entries.first().ok_or(ReplayError::Empty)?;
        let Event::Started {
            deployment,
            stable,
            plan,
            by,
        } = &first.event
        else {
            return Err(ReplayError::NoStart);
        };
        let mut r = Replay {
            deployment: deployment.clone(),
            plan: (**plan).clone(),
            stable: *stable,
            started_at: first.at,
            completed: BTreeSet::new(),
            in_progress: None,
            last_verified: None,
            wrote: false,
            approved: BTreeSet::new(),
            approval_deadline: None,
            capacity_ready: false,
            launch_template_set: false,
            raised: None,
            kept: None,
            baseline: None,
            started_by: by.clone(),
            rollback: None,
            promoted: false,
            scale_down_at: None,
            scaled_down: false,
            outcome: None,
            pre_traffic_passed: false,
            after_switch_passed: false,
            last_judged_minute: None,
            minutes: Vec::new(),
            paused: None,
            pending_rollback: None,
            tally: None,
            len: 0,
            last_at: first.at,
        };
        for (i, entry) in entries.iter().enumerate() {
            if entry.seq != i as u64 {
                return Err(ReplayError::OutOfOrder {
                    expected: i as u64,
                    found: entry.seq,
                });
            }
            r.apply(entry)?;
        }
        Ok(r)
    }

    /// Applies one more entry.
    pub fn apply(&mut self, entry: &RecordEntry) -> Result<(), ReplayError> {
        let steps = self.plan.schedule.steps().len();
        let check = |index: usize| {
            if index < steps {
                Ok(index)
            } else {
                Err(ReplayError::BadStep {
                    seq: entry.seq,
                    index,
                    len: steps,
                })
            }
        };
        match &entry.event {
            Event::StepStarted { index, .. } => self.in_progress = Some(check(*index)?),
            Event::StepCompleted { index } => {
                self.completed.insert(check(*index)?);
                if self.in_progress == Some(*index) {
                    self.in_progress = None;
                }
                // A weight step completes only once its split is verified: a record that lacks the
                // `split-verified` (written by an older version) still knows where traffic stands.
                if let Some(crate::Step::SetWeight { percent }) =
                    self.plan.schedule.steps().get(*index)
                {
                    self.last_verified =
                        Some(TrafficSplit::to_share(self.stable.other(), *percent));
                    self.wrote = true;
                }
            }
            Event::SplitWritten { .. } => self.wrote = true,
            Event::SplitVerified { split } => {
                self.last_verified = Some(*split);
                self.wrote = true;
            }
            Event::ApprovalRequested { deadline, .. } => self.approval_deadline = *deadline,
            Event::JudgePaused { index, .. } => self.paused = Some(check(*index)?),
            Event::ApprovalDecided { index, decision } => {
                let approved = matches!(
                    decision,
                    None | Some(crate::ApprovalDecision::Approved { .. })
                );
                if approved {
                    self.approved.insert(check(*index)?);
                }
                if let Some(crate::ApprovalDecision::Rejected { by, reason }) = decision {
                    self.pending_rollback.get_or_insert((
                        RollbackReason::ApprovalRejected {
                            by: by.clone(),
                            reason: reason.clone(),
                        },
                        check(*index)?,
                    ));
                }
            }
            Event::Polled {
                index,
                reports,
                minutes,
                ..
            } => {
                let index = check(*index)?;
                self.tally_poll(index, reports);
                self.minutes.extend(minutes.iter().copied());
                let newest = reports.iter().filter_map(|r| r.minute).max();
                self.last_judged_minute = self.last_judged_minute.max(newest);
            }
            Event::HooksRan {
                point: crate::HookPoint::AfterSwitch { .. },
                failure: None,
            } => self.after_switch_passed = true,
            Event::HooksRan {
                point: crate::HookPoint::PreTraffic,
                failure: None,
            } => self.pre_traffic_passed = true,
            Event::CapacityReady { .. } => self.capacity_ready = true,
            Event::LaunchTemplateSet { .. } => self.launch_template_set = true,
            Event::CapacityRequested {
                color, previous, ..
            } => {
                self.raised.get_or_insert((*color, *previous));
            }
            Event::CapacityRestored { color, .. } => {
                if self.raised.is_some_and(|(c, _)| c == *color) {
                    self.raised = None;
                }
                if self.kept.is_some_and(|(c, _)| c == *color) {
                    self.kept = None;
                }
            }
            Event::CapacityKept {
                color, previous, ..
            } => self.kept = Some((*color, *previous)),
            Event::BaselineTaken { metrics, .. } => self.baseline = Some(*metrics),
            Event::RollbackStarted { reason, step } => {
                self.rollback = Some((reason.clone(), *step))
            }
            Event::Promoted { .. } => self.promoted = true,
            Event::ScaleDownScheduled { at, .. } => self.scale_down_at = Some(*at),
            Event::ScaledDown { .. } => self.scaled_down = true,
            Event::Finished { outcome } => self.outcome = Some(outcome.clone()),
            _ => {}
        }
        self.len = entry.seq + 1;
        self.last_at = entry.at;
        Ok(())
    }

    /// Counts a recorded poll as the executor did, and notes a limit it reached.
    fn tally_poll(&mut self, index: usize, reports: &[crate::gate::GateReport]) {
        use crate::gate::PollDecision;
        let approval = matches!(
            self.plan.schedule.steps().get(index),
            Some(crate::Step::Approval { .. } | crate::Step::Watch { .. })
        );
        let mut limits = self.plan.gates.limits;
        if approval {
            limits.inconclusive = u32::MAX;
        }
        let tally = match &mut self.tally {
            Some((i, t)) if *i == index => t,
            other => &mut other.insert((index, crate::gate::BakeTally::default())).1,
        };
        // The judge's reports decide after the minutes, as in the run (`Run::poll`).
        let judge = crate::gate::is_judge_report;
        let state: Vec<_> = reports
            .iter()
            .filter(|r| r.minute.is_none() && !judge(r))
            .cloned()
            .collect();
        let mut decision = tally.record_state(&state, &limits);
        let mut minutes: Vec<Timestamp> = reports.iter().filter_map(|r| r.minute).collect();
        minutes.dedup();
        for m in minutes {
            if decision != PollDecision::Continue {
                break;
            }
            let of: Vec<_> = reports
                .iter()
                .filter(|r| r.minute == Some(m))
                .cloned()
                .collect();
            decision = match tally.record(&of, &limits, true) {
                PollDecision::Extend => PollDecision::Continue,
                d => d,
            };
        }
        let judged = crate::gate::judge_rollback(reports);
        if let (Some(report), false) = (judged, matches!(decision, PollDecision::Rollback { .. })) {
            decision = PollDecision::Rollback {
                limit: crate::gate::JUDGE_LIMIT.into(),
                report: report.clone(),
            };
        }
        if let PollDecision::Rollback { limit, report } = decision {
            self.pending_rollback
                .get_or_insert((RollbackReason::Gate { limit, report }, index));
        }
    }

    /// The approval step the deployment waits on now, if it does: in progress, not decided, and no rollback
    /// under way or implied. A person's approval is meant for this step only.
    pub fn waiting_for_approval(&self) -> Option<usize> {
        let i = self.in_progress?;
        // A watch waits for a decision too: `promote` ends it, `abort` rolls back; so does a bake the
        // sequential judge paused.
        let is_approval = matches!(
            self.plan.schedule.steps().get(i),
            Some(crate::Step::Approval { .. } | crate::Step::Watch { .. })
        ) || self.paused == Some(i);
        (is_approval
            && !self.approved.contains(&i)
            && self.rollback.is_none()
            && self.pending_rollback.is_none()
            && self.outcome.is_none())
        .then_some(i)
    }

    /// The watch step the deployment is in now, if it is watching ([`crate::Step::Watch`]): in progress, not
    /// ended by a decision, and no rollback under way or implied. Only such a deployment is driven by
    /// `bluegreen watch`.
    pub fn watching(&self) -> Option<usize> {
        let i = self.waiting_for_approval()?;
        matches!(
            self.plan.schedule.steps().get(i),
            Some(crate::Step::Watch { .. })
        )
        .then_some(i)
    }

    /// Whether the deployment is a manual shift.
    pub fn schedule_is_shift(&self) -> bool {
        self.plan.schedule.is_shift()
    }

    /// The color an emergency rollback should send all traffic to: the new color once a (non-shift) deployment
    /// was promoted, since it is then the stable one; the stable color otherwise.
    pub fn fallback_color(&self) -> Color {
        match self.outcome {
            Some(Outcome::Promoted { .. }) if !self.plan.schedule.is_shift() => self.target(),
            _ => self.stable,
        }
    }

    /// The color receiving the release.
    pub fn target(&self) -> Color {
        self.stable.other()
    }

    /// The first step not completed, or `None` when all are.
    pub fn next_step(&self) -> Option<usize> {
        (0..self.plan.schedule.steps().len()).find(|i| !self.completed.contains(i))
    }
}
