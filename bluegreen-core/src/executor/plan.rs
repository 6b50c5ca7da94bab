use crate::{Color, GatePolicy, Schedule};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The name of one deployment: letters, digits, `.`, `_` and `-`, 1 to 128 characters (it names files).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeploymentId(String);

/// A deployment id with characters other than letters, digits, `.`, `_`, `-`, or of a bad length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid deployment id {0:?}: use 1 to 128 letters, digits, '.', '_' or '-'")]
pub struct InvalidDeploymentId(pub String);

impl DeploymentId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidDeploymentId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 128
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(DeploymentId(id))
        } else {
            Err(InvalidDeploymentId(id))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeploymentId {
    type Error = InvalidDeploymentId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DeploymentId::new(s)
    }
}

impl From<DeploymentId> for String {
    fn from(d: DeploymentId) -> String {
        d.0
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a cancellation (Ctrl-C, `abort`) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CancelPolicy {
    /// Roll back to the stable color.
    #[default]
    Rollback,
    /// Leave the split as it is and stop.
    Leave,
}

/// How a written split is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyPolicy {
    /// Reads before the write is declared failed (a stale read is retried).
    pub attempts: u32,
    /// Wait between reads.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        VerifyPolicy {
            attempts: 5,
            interval: Duration::from_secs(1),
        }
    }
}

/// How transient provider errors (throttling, unavailability) are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Calls in all, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubles each time.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest wait between calls.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// Capacity management (R8), used when the executor has a [`Capacity`](crate::Capacity) provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityPolicy {
    /// Before the first shift, bring the new color to the stable color's desired capacity and wait until its
    /// instances are in service and its targets healthy.
    pub scale_up: bool,
    /// How long to wait for that.
    #[serde(with = "humantime_serde")]
    pub ready_timeout: Duration,
    /// How often to check while waiting.
    #[serde(with = "humantime_serde")]
    pub poll: Duration,
    /// After promotion, scale the old color to 0.
    pub scale_down: bool,
    /// How long to keep the old color after promotion before scaling it down (a fast way back meanwhile).
    #[serde(with = "humantime_serde")]
    pub scale_down_delay: Duration,
    /// After a rollback, keep the new color's group at the capacity it was raised to (to debug it), instead
    /// of returning it, after [`scale_down_delay`](Self::scale_down_delay), to its capacity from before.
    #[serde(default)]
    pub keep_failed: bool,
    /// Before scaling up, point the new color's group at this launch template version (a new golden
    /// image), as `(template, version)`. Done after the lock is taken, and recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template: Option<(String, String)>,
    /// Before scaling up, create a new version of the launch template the new color's group uses, with this
    /// image (a new golden AMI), and point the group at it. Done after the lock is taken, and recorded.
    /// Exclusive with [`launch_template`](Self::launch_template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// What the load balancer holds on the old color after its weight is 0, read before the deployment
    /// starts ([`Drain`]); the scale-down waits for it ([`drain_wait`](Self::drain_wait)). `None`: not read
    /// (a provider that cannot tell, or a plan made without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drain>,
}

/// What keeps sending an old color traffic after its weight is 0, as the load balancer was configured when
/// the deployment was planned: the listener's group stickiness (clients holding the `AWSALBTG` cookie keep
/// reaching the color for its duration) and the old color's target group's deregistration delay (the
/// longest a request may run there, as the team declared it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Drain {
    /// The listener's group stickiness, when on.
    #[serde(with = "humantime_serde", default)]
    pub stickiness: Option<Duration>,
    /// The old color's target group's attributes.
    #[serde(default)]
    pub old_group: Option<crate::GroupTimings>,
}

/// How long after the switch the old color is kept for what the load balancer still sends it, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DrainWait {
    /// How long after the old color's weight reached 0.
    #[serde(with = "humantime_serde")]
    pub after_switch: Duration,
    /// What sets it: `group stickiness` or `deregistration delay`.
    pub cause: &'static str,
    /// The stickiness as configured, when it is longer than [`CapacityPolicy::STICKINESS_CAP`] (the wait is
    /// capped: clients pinned longer reach a scaled-down group).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub capped_from: Option<Duration>,
}

impl CapacityPolicy {
    /// The longest group stickiness the scale-down waits for (ALB allows 7 days): a longer one is capped, and
    /// `plan` warns.
    pub const STICKINESS_CAP: Duration = Duration::from_secs(24 * 3600);

    /// How long after the switch the old color must still serve: the longer of the listener's group
    /// stickiness (capped at [`STICKINESS_CAP`](Self::STICKINESS_CAP)) and the old group's deregistration
    /// delay; `None` when neither was read or both are zero. The scale-down happens no sooner than this
    /// after the switch, and no sooner than [`scale_down_delay`](Self::scale_down_delay) after promotion.
    ///
    /// ```
    /// use bluegreen_core::{CapacityPolicy, Drain, GroupTimings};
    /// use std::time::Duration;
    /// let mut c = CapacityPolicy::default();
    /// c.drain = Some(Drain {
    ///     stickiness: Some(Duration::from_secs(3600)),
    ///     old_group: Some(GroupTimings { deregistration_delay: Duration::from_secs(300), slow_start: None }),
    /// });
    /// let w = c.drain_wait().unwrap();
    /// assert_eq!((w.after_switch, w.cause), (Duration::from_secs(3600), "group stickiness"));
    /// ```
    pub fn drain_wait(&self) -> Option<DrainWait> {
        let drain = self.drain?;
        let sticky = drain.stickiness.unwrap_or_default();
        let capped = sticky.min(Self::STICKINESS_CAP);
        let delay = drain
            .old_group
            .map(|g| g.deregistration_delay)
            .unwrap_or_default();
        let (after_switch, cause) = if capped >= delay {
            (capped, "group stickiness")
        } else {
            (delay, "deregistration delay")
        };
        (!after_switch.is_zero()).then_some(DrainWait {
            after_switch,
            cause,
            capped_from: (sticky > Self::STICKINESS_CAP).then_some(sticky),
        })
    }
}

impl Default for CapacityPolicy {
    fn default() -> Self {
        CapacityPolicy {
            scale_up: true,
            ready_timeout: Duration::from_secs(600),
            poll: Duration::from_secs(15),
            scale_down: true,
            scale_down_delay: Duration::from_secs(300),
            keep_failed: false,
            launch_template: None,
            image: None,
            drain: None,
        }
    }
}

/// Everything a deployment needs to know, recorded in full at its start so that it can be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The application (`{environment}/{application}`); one deployment per application at a time.
    pub application: String,
    /// The steps.
    pub schedule: Schedule,
    /// The gates.
    pub gates: GatePolicy,
    /// Capacity management; `None` leaves capacity alone even when a provider is given.
    #[serde(default)]
    pub capacity: Option<CapacityPolicy>,
    /// What cancellation does.
    #[serde(default)]
    pub on_cancel: CancelPolicy,
    /// Read-back of writes.
    #[serde(default)]
    pub verify: VerifyPolicy,
    /// Retries of transient errors.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The color expected to hold all traffic at the start; `None` takes whichever does.
    #[serde(default)]
    pub expected_stable: Option<Color>,
    /// Continue a rollout from the split as it is (moved by hand with a shift) rather than from one at
    /// rest: the stable color is [`expected_stable`](Self::expected_stable) (required), and the schedule
    /// starts after the weight steps the split already passed ([`Schedule::continuing_from`]); the next
    /// weight step goes through the pre-step gate as every one does. The record holds the schedule as run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_current: bool,
}

/// What makes a plan impossible to run safely or sensibly ([`Plan::validate`]), naming the bad value. The
/// names are the settings' own (`gates.failures`, `ready_timeout`): the plan's fields carry the same names.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The application key is empty.
    #[error("the application name is empty")]
    EmptyApplication,
    /// A watch that keeps the old color at its minimum in a deployment that does not manage capacity.
    #[error(
        "watch_keep min lowers the old color's group during the watch, but this deployment does not manage capacity (type traffic-only): deploy with type full, or keep full"
    )]
    KeepMinWithoutCapacity,
    /// The gates would be polled continuously.
    #[error("the gate poll interval must be above zero")]
    ZeroPollInterval,
    /// Both a new image and a launch template version.
    #[error("a new image and a launch template version: give one (the image creates the version)")]
    ImageAndTemplate,
    /// An image id that is not an AMI id.
    #[error("image {image:?}: an AMI id looks like ami-0123456789abcdef0")]
    BadImage {
        /// The id given.
        image: String,
    },
    /// A pre-step gate that accepts a color with no healthy target.
    #[error(
        "the pre-step gate must require at least one healthy target (min_healthy 0 would send traffic to a color with none)"
    )]
    NoHealthyTargetRequired,
    /// A limit of zero verdicts.
    #[error("gates.{limit} 0: a limit counts at least one verdict")]
    ZeroLimit {
        /// `failures`, `consecutive_failures` or `inconclusive`.
        limit: &'static str,
    },
    /// A gate's maximum that is negative or not a number.
    #[error("gate {gate}: the maximum {max} is not a number ≥ 0")]
    BadMaximum {
        /// The gate.
        gate: String,
        /// Its maximum.
        max: f64,
    },
    /// A relative limit with a negative or non-finite factor or epsilon.
    #[error("gate {gate}: relative factor {factor} and epsilon {epsilon} must be numbers ≥ 0")]
    BadRelative {
        /// The gate.
        gate: String,
        /// Its factor.
        factor: f64,
        /// Its epsilon.
        epsilon: f64,
    },
    /// No read-back of a written split.
    #[error("verification needs at least one read")]
    NoVerifyRead,
    /// The capacity would be polled continuously.
    #[error("the capacity poll interval must be above zero")]
    ZeroCapacityPoll,
    /// A wait longer than [`MAX_WAIT`].
    #[error("{what}: {} is longer than the {} a deployment may wait", humantime::format_duration(*wait), humantime::format_duration(MAX_WAIT))]
    TooLong {
        /// Which wait (`gates.max_extension`, `step 3`, ...).
        what: String,
        /// How long.
        wait: Duration,
    },
}

impl Plan {
    /// A plan with default gates and policies, no capacity management. A schedule that splits traffic
    /// between both colors (gradual, canary, linear) gets the sequential judge with its defaults
    /// ([`GatePolicy::sequential`]); one that switches at once has no stable traffic to compare with.
    pub fn new(application: impl Into<String>, schedule: Schedule) -> Self {
        let mut gates = GatePolicy::default();
        if schedule.shares_traffic() {
            gates.sequential = Some(crate::gate::SequentialPolicy::default());
        }
        Plan {
            application: application.into(),
            schedule,
            gates,
            capacity: None,
            on_cancel: CancelPolicy::default(),
            verify: VerifyPolicy::default(),
            retry: RetryPolicy::default(),
            expected_stable: None,
            from_current: false,
        }
    }

    /// Checks what the executor cannot run safely or sensibly, naming the bad value: zero poll intervals,
    /// windows or reads; a pre-step gate that accepts no healthy target; limits of zero (which would roll
    /// back on nothing, or never count); negative or non-finite thresholds; waits longer than
    /// [`MAX_WAIT`] (a typo's `99999999h` would hold the lock for years). [`Executor::run`](crate::Executor)
    /// refuses an invalid plan before it takes the lock; callers can check earlier, before any change.
    pub fn validate(&self) -> Result<(), PlanError> {
        let g = &self.gates;
        let fail = Err;
        if self.application.trim().is_empty() {
            return fail(PlanError::EmptyApplication);
        }
        if g.interval.is_zero() {
            return fail(PlanError::ZeroPollInterval);
        }
        if let Some(c) = &self.capacity {
            if c.image.is_some() && c.launch_template.is_some() {
                return fail(PlanError::ImageAndTemplate);
            }
            if let Some(image) = &c.image
                && !(image.starts_with("ami-")
                    && image.len() > 4
                    && image[4..].chars().all(|ch| ch.is_ascii_hexdigit()))
            {
                return fail(PlanError::BadImage {
                    image: image.clone(),
                });
            }
        }
        if g.pre_step.min_healthy == 0 {
            return fail(PlanError::NoHealthyTargetRequired);
        }
        for (name, v) in [
            ("failures", g.limits.failures),
            ("consecutive_failures", g.limits.consecutive_failures),
            ("inconclusive", g.limits.inconclusive),
        ] {
            if v == 0 {
                return fail(PlanError::ZeroLimit { limit: name });
            }
        }
        for gate in &g.bake {
            let (max, relative) = gate.check.bounds();
            if let Some(m) = max
                && !(m.is_finite() && m >= 0.0)
            {
                return fail(PlanError::BadMaximum {
                    gate: gate.name.clone(),
                    max: m,
                });
            }
            if let Some(r) = relative
                && !(r.factor.is_finite()
                    && r.factor >= 0.0
                    && r.epsilon.is_finite()
                    && r.epsilon >= 0.0)
            {
                return fail(PlanError::BadRelative {
                    gate: gate.name.clone(),
                    factor: r.factor,
                    epsilon: r.epsilon,
                });
            }
        }
        if self.verify.attempts == 0 {
            return fail(PlanError::NoVerifyRead);
        }
        if let Some(c) = &self.capacity
            && c.poll.is_zero()
        {
            return fail(PlanError::ZeroCapacityPoll);
        }
        if self.capacity.is_none()
            && self.schedule.steps().iter().any(|s| {
                matches!(
                    s,
                    crate::Step::Watch {
                        keep: crate::WatchKeep::Min,
                        ..
                    }
                )
            })
        {
            return fail(PlanError::KeepMinWithoutCapacity);
        }
        let mut waits: Vec<(String, Duration)> = vec![
            ("gates.max_extension".into(), g.max_extension),
            ("gates.publication_timeout".into(), g.publication_timeout),
            ("gates.window".into(), g.window_length()),
        ];
        if let Some(c) = &self.capacity {
            waits.push(("ready_timeout".into(), c.ready_timeout));
            waits.push(("scale_down_delay".into(), c.scale_down_delay));
        }
        for (i, step) in self.schedule.steps().iter().enumerate() {
            match step {
                crate::Step::Bake { duration } | crate::Step::Pause { duration } => {
                    waits.push((format!("step {}", i + 1), *duration))
                }
                crate::Step::Approval {
                    timeout: Some(t), ..
                } => waits.push((format!("step {} (approval timeout)", i + 1), *t)),
                _ => {}
            }
        }
        for (what, d) in waits {
            if d > MAX_WAIT {
                return fail(PlanError::TooLong { what, wait: d });
            }
        }
        Ok(())
    }

    /// Where CloudWatch's timing will stretch the plan: each bake too short to judge its
    /// [`min_minutes`](GatePolicy::min_minutes) at a publication delay of `delay` (use
    /// [`TYPICAL_PUBLICATION_DELAY`](crate::gate::TYPICAL_PUBLICATION_DELAY) before anything was
    /// observed), with how long it will likely run. Empty when the metric gates are off.
    pub fn timing_warnings(&self, delay: Duration) -> Vec<BakeWarning> {
        self.schedule
            .steps()
            .iter()
            .enumerate()
            .filter_map(|(index, _)| {
                let e = self.bake_expectation(index, delay)?;
                (e.likely > e.bake).then_some(e)
            })
            .collect()
    }

    /// How long bake step `index` will run at a publication delay of `delay`: planned, likely (it runs until
    /// its [`min_minutes`](GatePolicy::min_minutes) are judged, and waits for its own last closed minute
    /// to be published), and at most (planned + `max_extension`, then it rolls back for want of data).
    /// `None` for a step that is not a bake. Without metric gates a bake runs as planned.
    pub fn bake_expectation(&self, index: usize, delay: Duration) -> Option<BakeWarning> {
        let crate::Step::Bake { duration } = self.schedule.steps().get(index)? else {
            return None;
        };
        let duration = *duration;
        if !self.gates.bake.iter().any(|g| g.check.is_minute_based()) {
            return Some(BakeWarning {
                index,
                bake: duration,
                likely: duration,
                at_most: duration,
                early: None,
            });
        }
        let needed = self.gates.time_to_judge(delay);
        let likely = if duration < needed {
            needed.max(duration + delay.min(crate::MINUTE * 2))
        } else {
            duration
        };
        // The judge ends a bake once its minimum minutes are judged and its evidence is conclusive.
        let judging = self
            .gates
            .sequential
            .is_some_and(|s| s.mode != crate::gate::JudgeMode::Observe);
        Some(BakeWarning {
            index,
            bake: duration,
            likely,
            at_most: duration + self.gates.max_extension,
            early: judging.then(|| needed.min(likely)),
        })
    }
}

/// The longest any single wait of a plan may be (a bake, a pause, an approval timeout, a delay): 30 days.
pub const MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long a bake will run (see [`Plan::bake_expectation`]); in [`Plan::timing_warnings`], a bake that cannot
/// judge its minimum of complete CloudWatch minutes within its planned length, so it will run longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BakeWarning {
    /// The bake's step (0-based).
    pub index: usize,
    /// Its planned length.
    #[serde(with = "humantime_serde")]
    pub bake: Duration,
    /// How long it will likely run: up to a minute until the first whole minute, the minutes to judge,
    /// then the publication delay.
    #[serde(with = "humantime_serde")]
    pub likely: Duration,
    /// The longest it may run before it rolls back for want of data (planned length + `max_extension`).
    #[serde(with = "humantime_serde")]
    pub at_most: Duration,
    /// With the sequential judge, the earliest it can end: once its minimum minutes are judged, if the
    /// judge's evidence of no material regression is conclusive by then.
    #[serde(
        with = "humantime_serde",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub early: Option<Duration>,
}

impl fmt::Display for BakeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {}: a {} bake ends before CloudWatch can publish a complete minute of it (a minute appears a minute or more after it closes); the bake runs until its minutes are judged: likely {}, at most {}",
            self.index + 1,
            humantime::format_duration(self.bake),
            humantime::format_duration(self.likely),
            humantime::format_duration(self.at_most)
        )
    }
}
