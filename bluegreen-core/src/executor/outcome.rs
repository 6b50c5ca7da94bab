use crate::gate::GateReport;
use crate::{Color, Timestamp, TrafficSplit};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// How a deployment ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// Every step done; the new color holds all traffic.
    Promoted {
        /// The final split, verified.
        split: TrafficSplit,
        /// The old color, if it was scaled down.
        scaled_down: Option<Color>,
    },
    /// Traffic went back to the stable color, verified.
    RolledBack {
        /// Why.
        reason: RollbackReason,
        /// The schedule step it happened at (0-based), if any.
        step: Option<usize>,
        /// The split read back.
        split: TrafficSplit,
    },
    /// Stopped without reaching either end: cancelled with the `leave` policy, or a rollback that could not be
    /// completed. Needs a person.
    Aborted {
        /// Why.
        reason: String,
        /// The last split known, if any.
        split: Option<TrafficSplit>,
    },
    /// Stopped because the listener (or the stable color's capacity) was changed outside this deployment —
    /// by a person in an incident, another process, another machine. The run wrote nothing after it saw the
    /// change: traffic is left as found, and a person decides what comes next.
    Interrupted {
        /// What was found changed, in words.
        reason: String,
        /// The split found, when every route agrees on one.
        split: Option<TrafficSplit>,
    },
    /// Not an end: the deployment watches the new color ([`Step::Watch`](crate::Step::Watch)) with all traffic
    /// on it and the old color kept; this run judged what was published and stopped. The deployment stays in
    /// progress (its record says so and holds the application), and a later run resumes the watch. Never
    /// recorded as a `finished` event.
    Watching {
        /// When the watch ends (and the deployment is promoted).
        until: Timestamp,
        /// Until when a breach rolls back.
        armed_until: Timestamp,
        /// The color a rollback goes back to, kept at its capacity.
        kept: Color,
    },
}

impl Outcome {
    /// `promoted`, `rolled-back`, `aborted`, `interrupted` or `watching`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Watching { .. } => "watching",
            Outcome::Promoted { .. } => "promoted",
            Outcome::RolledBack { .. } => "rolled-back",
            Outcome::Aborted { .. } => "aborted",
            Outcome::Interrupted { .. } => "interrupted",
        }
    }

    /// The outcome in words, with the step of `schedule` it happened at as a person counts it
    /// (`rolled back at step 2/5 (bake 3m): ...`), and a manual shift's end as `shifted`, not `promoted`.
    /// [`fmt::Display`] leaves the step out, having no schedule.
    pub fn describe(&self, schedule: &crate::Schedule) -> String {
        match self {
            Outcome::RolledBack {
                reason,
                step: Some(index),
                split,
            } => {
                let position = schedule.position(*index);
                match &position.step {
                    Some(step) => format!("rolled back at {position} ({step}): {reason}; {split}"),
                    None => format!("rolled back at {position}: {reason}; {split}"),
                }
            }
            Outcome::Promoted { split, .. } if schedule.is_shift() => format!("shifted: {split}"),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Promoted { split, scaled_down } => {
                write!(f, "promoted: {split}")?;
                if let Some(c) = scaled_down {
                    write!(f, "; {c} scaled down")?;
                }
                Ok(())
            }
            Outcome::RolledBack { reason, split, .. } => {
                write!(f, "rolled back: {reason}; {split}")
            }
            Outcome::Aborted { reason, split } => {
                write!(f, "aborted: {reason}")?;
                if let Some(s) = split {
                    write!(f, "; {s}")?;
                }
                Ok(())
            }
            Outcome::Interrupted { reason, split } => {
                write!(f, "interrupted: {reason}")?;
                if let Some(s) = split {
                    write!(f, "; {s} left as found")?;
                }
                Ok(())
            }
            Outcome::Watching {
                until,
                armed_until,
                kept,
            } => write!(
                f,
                "watching until {until}; rollback to {kept} armed until {armed_until}"
            ),
        }
    }
}

/// Why a deployment rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "trigger", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RollbackReason {
    /// A bake gate reached a limit.
    Gate {
        /// The limit reached, in words.
        limit: String,
        /// The report that tipped it, with the measured values.
        report: GateReport,
    },
    /// The pre-step gate failed: no weight was moved.
    PreStep {
        /// The failing report.
        report: GateReport,
    },
    /// An approver said no.
    ApprovalRejected {
        /// Who.
        by: String,
        /// Why, if given.
        reason: Option<String>,
    },
    /// Nobody approved in time.
    ApprovalTimedOut {
        /// The timeout.
        #[serde(with = "humantime_serde")]
        after: Duration,
    },
    /// Cancelled (Ctrl-C, a signal, `abort`, an emergency rollback).
    Cancelled {
        /// Who or what stopped it, in words (`abort by oncall`, `SIGTERM on host ci-7 (pid 4242)`), when
        /// known. Records written before it existed have none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A written split did not read back.
    VerificationFailed {
        /// Written.
        expected: TrafficSplit,
        /// Read last.
        read: TrafficSplit,
    },
    /// The new color did not reach capacity in time.
    CapacityNotReady {
        /// The new color.
        color: Color,
        /// Desired capacity.
        desired: u32,
        /// Instances in service at the deadline.
        in_service: u32,
        /// Healthy targets at the deadline.
        healthy: u32,
    },
    /// A provider call failed for good.
    Provider {
        /// The operation.
        operation: String,
        /// The error.
        error: String,
    },
    /// A user hook failed.
    Hook {
        /// Where it ran.
        point: crate::HookPoint,
        /// What failed.
        failure: crate::HookFailure,
    },
    /// Asked for on resume.
    Requested,
}

impl RollbackReason {
    /// Whether the rollback is a verdict on the release (a gate, the pre-step gate, an approver, a hook, the
    /// new color not becoming ready) or a person's request (`abort`, `resume --rollback`) — as opposed to the
    /// tooling failing around it (a provider call failed for good, a written split did not read back), where
    /// the release itself was never judged. A CI job must not report the second as a failed release.
    ///
    /// ```
    /// use bluegreen_core::RollbackReason;
    /// assert!(RollbackReason::Cancelled { by: None }.is_verdict());
    /// let failed = RollbackReason::Provider { operation: "new_image_version".into(), error: "no launch template".into() };
    /// assert!(!failed.is_verdict());
    /// ```
    pub fn is_verdict(&self) -> bool {
        !matches!(
            self,
            RollbackReason::Provider { .. } | RollbackReason::VerificationFailed { .. }
        )
    }
}

impl fmt::Display for RollbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollbackReason::Gate { limit, report } => write!(f, "gate {report}: {limit}"),
            RollbackReason::PreStep { report } => write!(f, "pre-step gate {report}"),
            RollbackReason::ApprovalRejected { by, reason } => {
                write!(f, "approval rejected by {by}")?;
                if let Some(r) = reason {
                    write!(f, ": {r}")?;
                }
                Ok(())
            }
            RollbackReason::ApprovalTimedOut { after } => {
                write!(
                    f,
                    "approval timed out after {}",
                    humantime::format_duration(*after)
                )
            }
            RollbackReason::Cancelled { by: None } => f.write_str("cancelled"),
            RollbackReason::Cancelled { by: Some(by) } => write!(f, "cancelled: {by}"),
            RollbackReason::VerificationFailed { expected, read } => {
                write!(f, "wrote {expected} but read back {read}")
            }
            RollbackReason::CapacityNotReady {
                color,
                desired,
                in_service,
                healthy,
            } => write!(
                f,
                "{color} not ready: {in_service} in service and {healthy} healthy of {desired} desired"
            ),
            RollbackReason::Provider { operation, error } => {
                write!(f, "{operation} failed: {error}")
            }
            RollbackReason::Hook { point, failure } => write!(f, "{point}: {failure}"),
            RollbackReason::Requested => f.write_str("rollback requested"),
        }
    }
}
