use super::{GateMode, GateReport, Limits, Verdict};

/// Counts a bake's polls against its [`Limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BakeTally {
    /// Failed polls so far.
    pub failures: u32,
    /// Failed polls in a row, ending with the last.
    pub consecutive_failures: u32,
    /// Inconclusive verdicts so far.
    pub inconclusive: u32,
    /// CloudWatch minutes judged so far whose every enforced gate passed.
    pub passed_minutes: u32,
}

/// What a bake does after a poll.
#[derive(Debug, Clone, PartialEq)]
pub enum PollDecision {
    /// Keep baking.
    Continue,
    /// Lengthen the bake by one interval (a gate had no data and its policy is `extend-bake`).
    Extend,
    /// Roll back: the limit that was reached, and the report that tipped it.
    Rollback {
        /// Which limit, in words.
        limit: String,
        /// The enforced report that failed (or was inconclusive) last.
        report: GateReport,
    },
}

impl BakeTally {
    /// Counts one poll's checks of the current state (target health, alarms): only failures count, since
    /// the same state is checked again on the next poll.
    pub fn record_state(&mut self, reports: &[GateReport], limits: &Limits) -> PollDecision {
        let failed = reports
            .iter()
            .any(|r| r.mode == GateMode::Enforce && r.verdict == Verdict::Fail);
        if failed {
            self.record(reports, limits, false)
        } else {
            PollDecision::Continue
        }
    }

    /// Counts one judged CloudWatch minute: like [`record`](Self::record), and a minute whose enforced
    /// gates all passed adds to [`passed_minutes`](Self::passed_minutes).
    pub fn record_minute(
        &mut self,
        reports: &[GateReport],
        limits: &Limits,
        can_extend: bool,
    ) -> PollDecision {
        let passed = reports
            .iter()
            .filter(|r| r.mode == GateMode::Enforce)
            .all(|r| r.verdict == Verdict::Pass);
        let decision = self.record(reports, limits, can_extend);
        if passed {
            self.passed_minutes += 1;
        }
        decision
    }

    /// Counts one poll's reports (observe-mode reports are ignored) and decides. `can_extend` says whether
    /// the bake may still be extended; when it may not, an `extend` verdict counts as inconclusive.
    pub fn record(
        &mut self,
        reports: &[GateReport],
        limits: &Limits,
        can_extend: bool,
    ) -> PollDecision {
        let enforced = || reports.iter().filter(|r| r.mode == GateMode::Enforce);
        if let Some(failed) = enforced().find(|r| r.verdict == Verdict::Fail) {
            self.failures += 1;
            self.consecutive_failures += 1;
            if self.failures >= limits.failures.max(1) {
                return PollDecision::Rollback {
                    limit: format!(
                        "{} failed verdicts (limit {})",
                        self.failures, limits.failures
                    ),
                    report: failed.clone(),
                };
            }
            if self.consecutive_failures >= limits.consecutive_failures.max(1) {
                return PollDecision::Rollback {
                    limit: format!(
                        "{} consecutive failed verdicts (limit {})",
                        self.consecutive_failures, limits.consecutive_failures
                    ),
                    report: failed.clone(),
                };
            }
            return PollDecision::Continue;
        }
        self.consecutive_failures = 0;
        let extend = enforced().find(|r| r.verdict == Verdict::Extend);
        if extend.is_some() && can_extend {
            return PollDecision::Extend;
        }
        if let Some(unsure) =
            enforced().find(|r| matches!(r.verdict, Verdict::Inconclusive | Verdict::Extend))
        {
            self.inconclusive += 1;
            if self.inconclusive >= limits.inconclusive.max(1) {
                return PollDecision::Rollback {
                    limit: format!(
                        "{} inconclusive verdicts (limit {})",
                        self.inconclusive, limits.inconclusive
                    ),
                    report: unsure.clone(),
                };
            }
        }
        PollDecision::Continue
    }
}
