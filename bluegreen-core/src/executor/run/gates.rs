//! Bakes: polling the gates, judging CloudWatch's minutes, and deciding when a bake has seen enough.

use super::*;

impl Run<'_> {
    /// One poll of the bake gates: checks the current state (the new color's target health, alarms),
    /// judges every CloudWatch minute that became final since the last poll, records the poll and counts
    /// its verdicts. `minutes_count` is false while waiting for an approval, where only failures count.
    pub(super) async fn poll(
        &mut self,
        index: usize,
        tally: &mut BakeTally,
        limits: &Limits,
        can_extend: bool,
    ) -> Result<PollDecision, Stop> {
        let gates = self.gates.clone();
        let new = self.new_color();
        let health = &self.p().health;
        let state_gates: Vec<_> = gates
            .bake
            .iter()
            .filter(|g| !g.check.is_minute_based())
            .collect();
        let mut state = PerColor::<crate::Metrics>::default();
        if state_gates
            .iter()
            .any(|g| matches!(g.check, Check::HealthyHosts(_)))
        {
            let th = self
                .call("target_health", || health.target_health(new))
                .await?;
            let m = state.get_mut(new);
            m.healthy_hosts = Some(th.healthy);
            m.unhealthy_hosts = Some(th.unhealthy);
        }
        let names = gates.bake_alarm_names();
        let alarms = if names.is_empty() {
            Vec::new()
        } else {
            self.call("alarm_states", || health.alarm_states(&names))
                .await?
        };
        let snapshot = Snapshot {
            metrics: state,
            alarms,
        };
        let mut reports: Vec<GateReport> = state_gates
            .iter()
            .map(|g| judge_bake_gate(g, &snapshot, new, gates.min_requests))
            .collect();
        let needs_minutes = gates.bake.iter().any(|g| g.check.is_minute_based());
        let window = self.book.fetch_window(self.now()).filter(|_| needs_minutes);
        let mut progress = MinuteProgress::default();
        if let Some(window) = window {
            let series = self.call("metrics", || health.metrics(window)).await?;
            // A watch's baseline of earlier minutes: the same window, that long before.
            let earlier = match self.book.earlier_window(window) {
                Some(w) => Some(self.call("metrics", || health.metrics(w)).await?),
                None => None,
            };
            let now = self.now();
            progress = self
                .book
                .advance_with(&gates, new, &series, earlier.as_ref(), now);
        }
        let current_from = self.book.first_minute();
        let state_reports = reports.clone();
        for judged in &progress.judged {
            if let Some(r) = judged.reports.iter().find(|r| {
                r.mode == crate::gate::GateMode::Enforce
                    && matches!(r.verdict, Verdict::Inconclusive | Verdict::Extend)
            }) {
                self.last_unsure = Some(r.clone());
            }
            reports.extend(judged.reports.iter().cloned());
        }
        // The sequential judge adds up every judged minute of the deployment; its reports are recorded when
        // what it knows changed, and its decision is its own (a conclusion at its level, not a verdict to
        // count against the limits).
        let mut judged_rollback = None;
        if let Some(judge) = self.judge.as_mut() {
            let before = judge.told();
            for j in &progress.judged {
                judge.add(&crate::gate::RecordedMinute {
                    minute: j.minute,
                    segment: j.segment,
                    metrics: j.metrics,
                });
            }
            if judge.told() != before {
                let (judged, verdict) = judge.judgement();
                judged_rollback = crate::gate::judge_rollback(&judged).cloned();
                if judge.policy().mode == crate::gate::JudgeMode::Pause
                    && verdict == crate::gate::JudgeVerdict::Marginal
                    && !self.pause_accepted
                {
                    self.pause_asked = judged
                        .iter()
                        .find(|r| r.gate == crate::gate::SCORE_GATE)
                        .cloned();
                }
                reports.extend(judged);
            }
        }
        let mut decision = tally.record_state(&state_reports, limits);
        if decision == PollDecision::Continue {
            for judged in &progress.judged {
                // A late minute of an earlier split counts against the release, but only the current
                // split's minutes count towards this bake's passing minutes.
                let d = if judged.minute >= current_from {
                    tally.record_minute(&judged.reports, limits, can_extend)
                } else {
                    tally.record(&judged.reports, limits, false)
                };
                match d {
                    PollDecision::Continue => {}
                    d => {
                        decision = d;
                        if matches!(decision, PollDecision::Rollback { .. }) {
                            break;
                        }
                    }
                }
            }
        }
        if let Some(report) = judged_rollback
            && !matches!(decision, PollDecision::Rollback { .. })
        {
            decision = PollDecision::Rollback {
                limit: crate::gate::JUDGE_LIMIT.into(),
                report,
            };
        }
        let minutes = progress
            .judged
            .iter()
            .map(|j| crate::gate::RecordedMinute {
                minute: j.minute,
                segment: j.segment,
                metrics: j.metrics,
            })
            .collect();
        self.record(Event::Polled {
            index,
            window,
            reports,
            awaiting: progress.awaiting,
            minutes,
        })
        .await?;
        Ok(decision)
    }

    /// Bakes for `duration`, then for as long as it takes CloudWatch to publish every minute that closed
    /// before the planned end, and at least the plan's `min_minutes` (up to its `max_extension`): no step
    /// moves more traffic, and no promotion happens, before every closed minute of this split is judged.
    pub(super) async fn bake(&mut self, index: usize, duration: Duration) -> Result<(), Stop> {
        let gates = self.gates.clone();
        self.last_unsure = None;
        // A pause is asked by this bake's polls only (an approval's wait already has a person deciding).
        self.pause_asked = None;
        if self.book.is_idle() {
            // No split change in this run yet (a schedule that starts with a bake): judge from now on.
            self.split_changed();
        }
        let mut tally = BakeTally::default();
        let mut next = self.now() + gates.interval;
        self.bake_loop(index, duration, &mut tally, &mut next).await
    }

    async fn bake_loop(
        &mut self,
        index: usize,
        duration: Duration,
        tally: &mut BakeTally,
        next: &mut Timestamp,
    ) -> Result<(), Stop> {
        let gates = self.gates.clone();
        let interval = gates.interval;
        let limits = gates.limits;
        let needs_minutes = gates.bake.iter().any(|g| g.check.is_minute_based());
        let min_minutes = if needs_minutes { gates.min_minutes } else { 0 };
        let planned_end = self.now() + duration;
        let deadline = planned_end + gates.max_extension;
        let mut end = planned_end;
        let mut extended = Duration::ZERO;
        let mut announced = false;
        let more_weight_steps = self.plan.schedule.steps()[index + 1..]
            .iter()
            .any(|s| matches!(s, Step::SetWeight { .. }));
        loop {
            let at = if self.now() < end {
                (*next).min(end)
            } else {
                *next
            };
            self.sleep_until(at).await?;
            self.ensure_untouched().await?;
            let can_extend = extended + MINUTE <= gates.max_extension;
            match self.poll(index, tally, &limits, can_extend).await? {
                PollDecision::Continue => {}
                PollDecision::Extend => {
                    end = end + MINUTE;
                    extended += MINUTE;
                    if !announced {
                        self.record(Event::BakeExtended { index, until: end })
                            .await?;
                    }
                }
                PollDecision::Rollback { limit, report } => {
                    return Err(Stop::Rollback(RollbackReason::Gate { limit, report }));
                }
            }
            if let Some(report) = self.pause_asked.take() {
                // A marginal score in `pause` mode: the schedule stops, traffic kept, until a person lets it
                // go on (the bake ends) or rolls it back, up to the pause timeout.
                let timeout = self
                    .gates
                    .sequential
                    .map(|s| s.pause_timeout)
                    .unwrap_or_default();
                self.record(Event::JudgePaused { index, report }).await?;
                let deadline = self.now() + timeout;
                self.decide_pause(index, deadline, timeout).await?;
                self.pause_accepted = true;
                return Ok(());
            }
            let now = self.now();
            // Conclusive evidence of no material regression ends the bake once it has judged its minimum
            // of passing minutes: before its planned end, or without waiting for the rest of its minutes —
            // which the next bakes still judge (the minute book keeps every split's minutes). Before the
            // promotion there is no next bake: every closed minute of the last split is judged first.
            let caught_up_now =
                !needs_minutes || self.book.next_minute() >= now.min(planned_end).floor_minute();
            if tally.passed_minutes >= min_minutes
                && (more_weight_steps || caught_up_now)
                && self.judge.as_ref().is_some_and(|j| {
                    j.policy().mode != crate::gate::JudgeMode::Observe
                        && j.verdict() == crate::gate::JudgeVerdict::Pass
                })
            {
                return Ok(());
            }
            if now >= end {
                let caught_up =
                    !needs_minutes || self.book.next_minute() >= planned_end.floor_minute();
                if tally.passed_minutes >= min_minutes && (caught_up || now >= deadline) {
                    return Ok(());
                }
                if now >= deadline {
                    let limit = format!(
                        "{} of the {} passing minutes needed judged by the end of the bake and its {} extension",
                        tally.passed_minutes,
                        min_minutes,
                        humantime::format_duration(gates.max_extension)
                    );
                    if let Some(report) = self.last_unsure.take() {
                        return Err(Stop::Rollback(RollbackReason::Gate {
                            limit,
                            report: GateReport {
                                verdict: Verdict::Inconclusive,
                                ..report
                            },
                        }));
                    }
                    return Err(Stop::Rollback(RollbackReason::Gate {
                        limit,
                        report: GateReport {
                            gate: "minutes-judged".into(),
                            mode: crate::gate::GateMode::Enforce,
                            verdict: Verdict::Inconclusive,
                            value: Some(f64::from(tally.passed_minutes)),
                            stable: None,
                            limit: Some(f64::from(min_minutes)),
                            unit: crate::gate::Unit::Count,
                            detail: format!(
                                "CloudWatch had not published the minute starting {}",
                                self.book.next_minute()
                            ),
                            minute: None,
                        },
                    }));
                }
                if !announced {
                    announced = true;
                    self.record(Event::BakeExtended {
                        index,
                        until: deadline,
                    })
                    .await?;
                }
            }
            *next = at + interval;
        }
    }
}
