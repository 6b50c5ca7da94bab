use super::{DeploymentId, Outcome, Plan, RollbackReason};
use crate::gate::GateReport;
use crate::{ApprovalDecision, Color, ProviderError, Step, Timestamp, TrafficSplit, Window};
use serde::{Deserialize, Serialize};

/// One transition of a deployment. Each is appended to the deployment record before the next action and
/// then sent to the [`Observer`]. The variants are declared in the order they can occur: that order is
/// [`Event::TYPES`], and each variant's name in kebab case is its `type` (serde and strum derive both from
/// this one declaration).
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// The deployment took the lock and found `stable` holding all traffic.
    Started {
        /// The deployment's id (also the record's name).
        deployment: DeploymentId,
        /// The color holding all traffic at the start.
        stable: Color,
        /// The plan, in full.
        plan: Box<Plan>,
        /// Who started it, when the front end said ([`Executor::with_actor`](crate::Executor::with_actor)):
        /// `BLUEGREEN_ACTOR`, the CI's user or the OS user, in the command.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A process picked the deployment up again from its record.
    Resumed {
        /// Whether it continues or rolls back.
        action: ResumeAction,
        /// The step it resumes at.
        step: usize,
    },
    /// The new color's group now launches a new launch template version.
    LaunchTemplateSet {
        /// The new color, whose group was changed.
        color: Color,
        /// The launch template (id or name).
        template: String,
        /// Its version.
        version: String,
        /// The image (AMI) the version was created with, when the plan named one (`deploy --ami`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<String>,
    },
    /// The new color's desired capacity was raised.
    CapacityRequested {
        /// The new color, whose group was raised.
        color: Color,
        /// Its new desired capacity.
        desired: u32,
        /// Its desired capacity before (restored after a rollback).
        #[serde(default)]
        previous: u32,
    },
    /// The new color's instances are in service and healthy.
    CapacityReady {
        /// The new color, now ready.
        color: Color,
        /// Instances in service.
        in_service: u32,
        /// Healthy targets.
        healthy: u32,
    },
    /// User hooks ran at a point.
    HooksRan {
        /// Which point of the deployment (pre-traffic, after a step, after the switch).
        point: crate::HookPoint,
        /// The failure, if one failed.
        failure: Option<crate::HookFailure>,
    },
    /// A schedule step began.
    StepStarted {
        /// 0-based index in the plan's schedule ([`Schedule::position`](crate::Schedule::position) numbers it
        /// for a person).
        index: usize,
        /// The step, as the schedule has it.
        step: Step,
    },
    /// The pre-step gate's verdicts.
    PreStepChecked {
        /// 0-based index.
        index: usize,
        /// One report per check.
        reports: Vec<GateReport>,
    },
    /// A split was written (not yet verified).
    SplitWritten {
        /// The split written.
        split: TrafficSplit,
    },
    /// A split was read back and matched.
    SplitVerified {
        /// The split read.
        split: TrafficSplit,
    },
    /// One poll of the bake gates.
    Polled {
        /// 0-based index.
        index: usize,
        /// The whole minutes asked of CloudWatch, if any complete post-change minute was still to judge.
        #[serde(default)]
        window: Option<Window>,
        /// The checks of the current state (target health, alarms), then one report per metric gate for
        /// each minute judged on this poll (tagged with the minute).
        reports: Vec<GateReport>,
        /// The oldest complete post-change minute CloudWatch had not yet published (or settled).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        awaiting: Option<Timestamp>,
        /// Each minute judged on this poll with both colors' metrics of that minute alone: what
        /// `bluegreen judge` judges again under other gates. (Records written before it have none.)
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        minutes: Vec<crate::gate::RecordedMinute>,
    },
    /// A bake was lengthened: a gate had no data under `extend-bake`, or the bake reached its planned end
    /// before CloudWatch published the minutes it must judge (`until` is then the latest it may run).
    BakeExtended {
        /// 0-based index.
        index: usize,
        /// The new end.
        until: Timestamp,
    },
    /// A watch took its baseline ([`crate::WatchBaseline::Before`]): the application's minutes before the
    /// deployment, both colors added up, fetched once and kept here so that every later run of the watch
    /// compares with the same.
    BaselineTaken {
        /// The minutes fetched.
        window: Window,
        /// What they add up to (no requests: no baseline, only the absolute limits judge).
        metrics: crate::Metrics,
    },
    /// The sequential judge's score was marginal in `pause` mode: the schedule stopped, traffic kept, and
    /// waits for `promote` (go on) or `abort` (roll back) up to its pause timeout (an approval follows).
    JudgePaused {
        /// The bake step.
        index: usize,
        /// The judge's score report.
        report: GateReport,
    },
    /// A watch that keeps the old color at its minimum ([`crate::WatchKeep::Min`]) lowered its group.
    CapacityKept {
        /// The old color.
        color: Color,
        /// Its desired capacity during the watch.
        desired: u32,
        /// Its desired capacity before (restored on a rollback).
        previous: u32,
    },
    /// An approval was requested.
    ApprovalRequested {
        /// 0-based index.
        index: usize,
        /// When it times out, if it does.
        deadline: Option<Timestamp>,
    },
    /// An approval was decided (or timed out into a promotion).
    ApprovalDecided {
        /// 0-based index.
        index: usize,
        /// The decision; `None` means it timed out and the timeout action is `promote`.
        decision: Option<ApprovalDecision>,
    },
    /// A schedule step finished.
    StepCompleted {
        /// 0-based index.
        index: usize,
    },
    /// The deployment is rolling back.
    RollbackStarted {
        /// Why: the gate and its values, the rejection, the cancellation, the provider error.
        reason: RollbackReason,
        /// The step it happened at, if any.
        step: Option<usize>,
    },
    /// All traffic is back on the stable color, verified.
    RolledBack {
        /// The split read back.
        split: TrafficSplit,
    },
    /// Every step is done and the final split verified.
    Promoted {
        /// The final split.
        split: TrafficSplit,
    },
    /// The old color will be scaled down at `at`.
    ScaleDownScheduled {
        /// The old color.
        color: Color,
        /// When, on the executor's clock (after the plan's `scale_down_delay`).
        at: Timestamp,
    },
    /// The old color was scaled to 0.
    ScaledDown {
        /// The old color.
        color: Color,
    },
    /// After a rollback, the new color's group went back to its capacity from before the deployment; or, at
    /// a rollback during a watch that kept the old color at its minimum, the old color's group went back to
    /// its capacity.
    CapacityRestored {
        /// The color returned to its capacity from before.
        color: Color,
        /// Its desired capacity now.
        desired: u32,
    },
    /// The listener (or the stable color's capacity) was found changed by someone else: the run stops
    /// without writing, and leaves traffic as found.
    ChangedOutside {
        /// What this run last verified (or set), in words.
        expected: String,
        /// What it found, in words (every route).
        found: String,
    },
    /// The deployment ended.
    Finished {
        /// How it ended: promoted, rolled back (why, where) or aborted.
        outcome: Outcome,
    },
}

/// What a resumed deployment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResumeAction {
    /// Go on from the first unfinished step.
    Continue,
    /// Roll back to the stable color.
    Rollback,
}

/// An event as stored: its position in the record and when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordEntry {
    /// 0-based position in the record.
    pub seq: u64,
    /// When, on the executor's clock.
    pub at: Timestamp,
    /// The transition.
    pub event: Event,
}

impl Event {
    /// Every event type, as `type` names it in the record's JSON, in the order they can occur.
    pub const TYPES: &[&str] = <Event as strum::VariantNames>::VARIANTS;

    /// The event's type, as `type` names it in the record's JSON (e.g. `split-verified`).
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

/// Something worth telling a person that is not a transition and is not recorded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notice {
    /// A transient error; the call will be retried.
    Retrying {
        /// The operation, e.g. `write_split`.
        operation: &'static str,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The error.
        error: ProviderError,
    },
    /// A rollback round failed; the executor keeps trying until the stable color holds all traffic.
    RollbackRetrying {
        /// The round that failed (1-based).
        round: u32,
        /// Why.
        error: String,
        /// When the next round starts.
        next_in: std::time::Duration,
    },
    /// The old color was not scaled down because it holds traffic again (someone moved it back).
    ScaleDownSkipped {
        /// The old color.
        color: Color,
        /// The split read before scaling down.
        split: TrafficSplit,
    },
    /// A transition happened but could not be appended to the record (the store failed or the lock was
    /// lost). The run went on where traffic safety asks it to (a rollback, a scale-down already done); the
    /// record is behind the world by this entry.
    NotRecorded {
        /// The event's type, e.g. `rolled-back`.
        event: String,
        /// Why.
        error: String,
    },
    /// The end of a run (a rollback's entries, `finished`) is not in the record yet: the store keeps failing.
    /// The entries are kept, in order, and appended again every round until the store takes them or shows
    /// that another run holds the lock. Traffic is already where the run left it.
    RecordPending {
        /// The event types waiting, oldest first.
        events: Vec<String>,
        /// The round that failed (1-based).
        round: u32,
        /// Why.
        error: String,
        /// When the next round starts.
        next_in: std::time::Duration,
    },
    /// The run's mark on the routes ([`RouteMark`](crate::RouteMark)) could not be written, renewed or
    /// removed. The mark only shows the run to other machines: the run goes on.
    MarkFailed {
        /// `write`, `renew` or `remove`.
        operation: &'static str,
        /// The error.
        error: ProviderError,
    },
    /// A read-back did not match the write yet.
    StaleRead {
        /// What was written.
        expected: TrafficSplit,
        /// What was read.
        read: TrafficSplit,
        /// The read that did not match (1-based).
        attempt: u32,
    },
}

impl Notice {
    /// Whether a person must look: a rollback that keeps failing, an old color left running, or a record
    /// behind the world.
    pub fn is_alarming(&self) -> bool {
        matches!(
            self,
            Notice::RollbackRetrying { .. }
                | Notice::ScaleDownSkipped { .. }
                | Notice::NotRecorded { .. }
                | Notice::RecordPending { .. }
        )
    }
}

/// Receives a deployment's progress: every recorded transition, and notices.
pub trait Observer: Send + Sync {
    /// A transition, after it has been recorded.
    fn on_event(&self, entry: &RecordEntry);
    /// A notice (retries, stale reads). Ignored unless implemented.
    fn on_notice(&self, _at: Timestamp, _notice: &Notice) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {
    fn on_event(&self, _entry: &RecordEntry) {}
}
