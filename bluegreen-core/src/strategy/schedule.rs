use crate::model::Share;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What to do when an approval times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeoutAction {
    /// Roll back to the stable color (the safe default).
    #[default]
    Rollback,
    /// Go on as if approved.
    Promote,
}

/// What the old color keeps during a watch ([`Step::Watch`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum WatchKeep {
    /// Its capacity from before the switch: a rollback is a weight change, at once and at full strength.
    #[default]
    Full,
    /// Its group's minimum size (at least one instance) once the watch begins; a rollback sends traffic
    /// back to those at once and raises the group to its capacity from before, which serves fully once the
    /// rest have launched (minutes). Cheaper; a rollback is briefly short of instances.
    Min,
}

/// What the new color's minutes are compared with during a watch, when the old color has too little
/// traffic left to be their baseline ([`Step::Watch`]). The absolute limits of the gates apply either way.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum WatchBaseline {
    /// The application's 30 minutes before the deployment started (both colors), fetched once when the
    /// watch begins and recorded: what the new color replaced.
    #[default]
    Before,
    /// The same minutes one day earlier (both colors), fetched with each poll: a daily traffic pattern is
    /// compared with itself.
    PreviousDay,
    /// No baseline: only the absolute limits judge.
    None,
}

impl WatchKeep {
    fn is_default(&self) -> bool {
        *self == WatchKeep::default()
    }
}

impl WatchBaseline {
    fn is_default(&self) -> bool {
        *self == WatchBaseline::default()
    }
}

/// Where a schedule entry sits for a person; see [`Schedule::position`]. Displays as `step 2/5`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPosition {
    /// The entry's 0-based index in the schedule (as events record it).
    pub index: usize,
    /// The traffic step it belongs to, from 1.
    pub number: usize,
    /// How many traffic steps the schedule has.
    pub of: usize,
    /// The entry itself.
    pub step: Option<Step>,
}

impl fmt::Display for StepPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}/{}", self.number, self.of)
    }
}

/// One step of a [`Schedule`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Step {
    /// Send `percent` of traffic to the new color (the rest to the stable color), verified by reading it back.
    /// The pre-step gate runs first.
    SetWeight {
        /// The new color's share, 0.1 to 100 % (a number in percent: `10`, `0.5`).
        percent: Share,
    },
    /// Hold the split for `duration` while the bake gates are polled.
    Bake {
        /// How long to hold.
        #[serde(with = "humantime_serde")]
        duration: Duration,
    },
    /// Wait for a person (or a CI job) to approve or reject.
    Approval {
        /// How long to wait; `None` waits for ever.
        #[serde(with = "humantime_serde", default)]
        timeout: Option<Duration>,
        /// What a timeout means.
        #[serde(default)]
        on_timeout: TimeoutAction,
    },
    /// Wait for `duration` without judging anything.
    Pause {
        /// How long to wait.
        #[serde(with = "humantime_serde")]
        duration: Duration,
    },
    /// After the last weight step, with all traffic on the new color: keep the old color able to take it back
    /// and judge the new one for `duration` (the guide's 24 hours). A breach in the first `armed` of it rolls
    /// back; after that a breach is recorded (and told) but traffic stays. `promote` ends the watch early,
    /// `abort` rolls back. Its end is fixed when it starts: a resumed watch (`bluegreen watch --once` from a
    /// schedule) keeps it. Only the last step of a schedule.
    Watch {
        /// How long to watch.
        #[serde(with = "humantime_serde")]
        duration: Duration,
        /// How long from its start a breach rolls back.
        #[serde(with = "humantime_serde")]
        armed: Duration,
        /// What the old color keeps meanwhile.
        #[serde(default, skip_serializing_if = "WatchKeep::is_default")]
        keep: WatchKeep,
        /// What the new color is compared with.
        #[serde(default, skip_serializing_if = "WatchBaseline::is_default")]
        baseline: WatchBaseline,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::SetWeight { percent } => write!(f, "set {percent}"),
            Step::Bake { duration } => write!(f, "bake {}", humantime::format_duration(*duration)),
            Step::Approval { timeout: None, .. } => write!(f, "approval"),
            Step::Approval {
                timeout: Some(t),
                on_timeout,
            } => write!(
                f,
                "approval (timeout {}, then {})",
                humantime::format_duration(*t),
                match on_timeout {
                    TimeoutAction::Rollback => "roll back",
                    TimeoutAction::Promote => "promote",
                }
            ),
            Step::Pause { duration } => {
                write!(f, "pause {}", humantime::format_duration(*duration))
            }
            Step::Watch {
                duration,
                armed,
                keep,
                baseline,
            } => {
                write!(
                    f,
                    "watch {} (rollback armed {}",
                    humantime::format_duration(*duration),
                    humantime::format_duration(*armed)
                )?;
                if !keep.is_default() {
                    write!(f, ", keep {}", <&str>::from(*keep))?;
                }
                if !baseline.is_default() {
                    write!(f, ", baseline {}", <&str>::from(*baseline))?;
                }
                write!(f, ")")
            }
        }
    }
}

/// Why a list of steps is not a valid schedule. Step numbers in messages count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// No step at all.
    #[error("the schedule has no steps")]
    Empty,
    /// A step that is not a whole number.
    #[error("step {step} ({text:?}) is not a whole percentage")]
    NotANumber {
        /// 1-based position.
        step: usize,
        /// What was typed.
        text: String,
    },
    /// A weight outside 1..=100.
    #[error("step {step} ({percent}) is out of range: each step is a percentage from 1 to 100")]
    OutOfRange {
        /// 1-based position.
        step: usize,
        /// The share given.
        percent: Share,
    },
    /// A whole percentage above 100.
    #[error("step {step} ({percent}%) is out of range: each step is a percentage from 1 to 100")]
    AboveAll {
        /// 1-based position.
        step: usize,
        /// The percentage given.
        percent: u32,
    },
    /// A linear step of 0 or above 100 %.
    #[error("linear step {step}% is out of range: each step adds 1 to 100 % of the traffic")]
    LinearStepOutOfRange {
        /// The step given.
        step: u32,
    },
    /// A canary share of 0 or 100 %.
    #[error("step {step} ({percent}) is out of range: a canary takes 0.1% to 99.9% of the traffic")]
    CanaryOutOfRange {
        /// 1-based position.
        step: usize,
        /// The share given.
        percent: Share,
    },
    /// A weight that does not increase.
    #[error(
        "step {step} ({percent}) is not increasing: it must be above the step before it ({previous})"
    )]
    NotIncreasing {
        /// 1-based position.
        step: usize,
        /// The share given.
        percent: Share,
        /// The share of the weight step before it.
        previous: Share,
    },
    /// A schedule whose last weight is not 100.
    #[error("the last weight step is {last}: a schedule must end at 100%")]
    DoesNotEndAt100 {
        /// The last share (0 when there is no weight step).
        last: Share,
    },
    /// A bake or pause of zero length.
    #[error("step {step} ({kind}) has a zero duration")]
    ZeroDuration {
        /// 1-based position.
        step: usize,
        /// `bake` or `pause`.
        kind: &'static str,
    },
    /// A watch that is not the last step, or that does not follow the last weight step's 100 %.
    #[error("step {step} (watch) must be the last step, after all traffic is on the new color")]
    WatchNotLast {
        /// 1-based position.
        step: usize,
    },
    /// A watch armed for longer than it lasts.
    #[error(
        "step {step} (watch {watch}) cannot keep the rollback armed for {armed}, longer than it watches"
    )]
    WatchArmedTooLong {
        /// 1-based position.
        step: usize,
        /// The watch's length, as a person reads it.
        watch: String,
        /// The armed length, as a person reads it.
        armed: String,
    },
    /// A duration that cannot be parsed.
    #[error("{what} {text:?} is not a duration (examples: 90s, 3m, 1h30m): {reason}")]
    BadDuration {
        /// Which setting.
        what: String,
        /// What was typed.
        text: String,
        /// The parser's reason.
        reason: String,
    },
}

/// A validated sequence of steps: weights only increase, each in 1..=100, and the last weight is 100.
///
/// Schedules are plain data: printable (`Display`), serializable and comparable.
///
/// ```
/// use bluegreen_core::{Schedule, Share, Step};
/// use std::time::Duration;
/// let s = Schedule::new(vec![
///     Step::SetWeight { percent: Share::percent(50) },
///     Step::Bake { duration: Duration::from_secs(60) },
///     Step::SetWeight { percent: Share::ALL },
/// ])?;
/// assert_eq!(s.to_string(), "set 50% → bake 1m → set 100%");
/// # Ok::<(), bluegreen_core::ScheduleError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawSchedule", into = "RawSchedule")]
pub struct Schedule {
    steps: Vec<Step>,
    shift: bool,
}

/// A schedule as serialized: a list of steps, or `{"shift": [...]}` for a manual shift.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawSchedule {
    Steps(Vec<Step>),
    Shift { shift: Vec<Step> },
}

impl TryFrom<RawSchedule> for Schedule {
    type Error = ScheduleError;
    fn try_from(raw: RawSchedule) -> Result<Self, ScheduleError> {
        match raw {
            RawSchedule::Steps(steps) => Schedule::new(steps),
            RawSchedule::Shift { shift } => Schedule::validate_shift(shift),
        }
    }
}

impl From<Schedule> for RawSchedule {
    fn from(s: Schedule) -> Self {
        if s.shift {
            RawSchedule::Shift { shift: s.steps }
        } else {
            RawSchedule::Steps(s.steps)
        }
    }
}

impl Schedule {
    /// Whether some step sends traffic to both colors (a share below 100 % that a bake or an approval
    /// holds): what the sequential judge compares.
    pub fn shares_traffic(&self) -> bool {
        self.steps()
            .iter()
            .any(|s| matches!(s, Step::SetWeight { percent } if *percent < Share::ALL))
    }

    /// Validates `steps` into a schedule, or says which step is wrong and why.
    pub fn new(steps: Vec<Step>) -> Result<Self, ScheduleError> {
        if steps.is_empty() {
            return Err(ScheduleError::Empty);
        }
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Bake { duration } if duration.is_zero() => {
                    return Err(ScheduleError::ZeroDuration {
                        step: i + 1,
                        kind: "bake",
                    });
                }
                Step::Pause { duration } if duration.is_zero() => {
                    return Err(ScheduleError::ZeroDuration {
                        step: i + 1,
                        kind: "pause",
                    });
                }
                Step::Watch { duration, .. } if duration.is_zero() => {
                    return Err(ScheduleError::ZeroDuration {
                        step: i + 1,
                        kind: "watch",
                    });
                }
                Step::Watch { .. } if i + 1 != steps.len() || i == 0 => {
                    return Err(ScheduleError::WatchNotLast { step: i + 1 });
                }
                Step::Watch {
                    duration, armed, ..
                } if armed > duration => {
                    return Err(ScheduleError::WatchArmedTooLong {
                        step: i + 1,
                        watch: humantime::format_duration(*duration).to_string(),
                        armed: humantime::format_duration(*armed).to_string(),
                    });
                }
                _ => {}
            }
        }
        check_weight_sequence(steps.iter().enumerate().filter_map(|(i, s)| match s {
            Step::SetWeight { percent } => Some((i + 1, *percent)),
            _ => None,
        }))?;
        Ok(Schedule {
            steps,
            shift: false,
        })
    }

    /// A manual shift (the operations guide's traffic manager): `percent` (0 to 100) to the target color,
    /// then, if `validation` is set, a bake of that length with the gates. It need not end at 100 %.
    ///
    /// ```
    /// use bluegreen_core::Schedule;
    /// use std::time::Duration;
    /// let s = Schedule::shift(10, Some(Duration::from_secs(300)))?;
    /// assert_eq!(s.to_string(), "set 10% → bake 5m");
    /// assert!(s.is_shift());
    /// # Ok::<(), bluegreen_core::ScheduleError>(())
    /// ```
    pub fn shift(percent: u32, validation: Option<Duration>) -> Result<Self, ScheduleError> {
        let Some(percent) = Share::checked_percent(percent) else {
            return Err(ScheduleError::AboveAll { step: 1, percent });
        };
        let mut steps = vec![Step::SetWeight { percent }];
        if let Some(duration) = validation {
            steps.push(Step::Bake { duration });
        }
        Self::validate_shift(steps)
    }

    fn validate_shift(steps: Vec<Step>) -> Result<Self, ScheduleError> {
        for (i, step) in steps.iter().enumerate() {
            match (i, step) {
                (0, Step::SetWeight { .. }) => {}
                (_, Step::Bake { duration }) if !duration.is_zero() => {}
                (_, Step::Bake { .. }) => {
                    return Err(ScheduleError::ZeroDuration {
                        step: i + 1,
                        kind: "bake",
                    });
                }
                _ => return Err(ScheduleError::Empty),
            }
        }
        if steps.is_empty() {
            return Err(ScheduleError::Empty);
        }
        Ok(Schedule { steps, shift: true })
    }

    /// The rest of this schedule for a rollout whose new color already has `per_mille` (0–1000) of the
    /// traffic (moved there by hand, with `shift`): the weight steps at or below it are done. When the split
    /// is exactly at a step's weight, that step's own bake and approval stay (it was moved there, never
    /// judged); a step passed by the split goes with its waits. `None` when the new color already has all
    /// the traffic, or for a manual shift.
    ///
    /// ```
    /// use bluegreen_core::Strategy;
    /// let gradual = Strategy::gradual().compile().unwrap();
    /// assert_eq!(gradual.continuing_from(100).unwrap().to_string(),
    ///            "bake 3m → set 25% → bake 3m → set 50% → bake 3m → set 75% → bake 3m → set 100% → bake 3m");
    /// assert_eq!(gradual.continuing_from(300).unwrap().to_string(),
    ///            "set 50% → bake 3m → set 75% → bake 3m → set 100% → bake 3m");
    /// assert!(gradual.continuing_from(1000).is_none());
    /// ```
    pub fn continuing_from(&self, per_mille: u32) -> Option<Schedule> {
        if self.shift {
            return None;
        }
        let mut keep_from = 0;
        for (i, step) in self.steps.iter().enumerate() {
            let Step::SetWeight { percent } = step else {
                continue;
            };
            let at = percent.per_mille();
            if at < per_mille {
                // Passed: its waits go too, up to the next weight step.
                keep_from = self.steps[i + 1..]
                    .iter()
                    .position(|s| matches!(s, Step::SetWeight { .. }))
                    .map_or(self.steps.len(), |p| i + 1 + p);
            } else if at == per_mille {
                keep_from = i + 1;
            }
        }
        // A schedule ends at 100 %: below it, its last weight step is always left.
        (per_mille < 1000).then(|| Schedule {
            steps: self.steps[keep_from..].to_vec(),
            shift: false,
        })
    }

    /// Whether this is a manual shift, which may end anywhere and never scales anything down.
    pub fn is_shift(&self) -> bool {
        self.shift
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Where entry `index` sits for a person: the traffic step it belongs to (a bake or an approval belongs to
    /// the weight set before it), numbered from 1, out of the schedule's weight changes. Text and JSON show
    /// this same number (`step 2/5`); events keep the 0-based `index` of the entry.
    pub fn position(&self, index: usize) -> StepPosition {
        let upto = index.min(self.steps.len().saturating_sub(1));
        let number = self.steps[..=upto]
            .iter()
            .filter(|s| matches!(s, Step::SetWeight { .. }))
            .count()
            .max(1);
        StepPosition {
            index,
            number,
            of: self.weights().len().max(1),
            step: self.steps.get(index).cloned(),
        }
    }

    /// The shares the new color takes, in order.
    pub fn weights(&self) -> Vec<Share> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::SetWeight { percent } => Some(*percent),
                _ => None,
            })
            .collect()
    }

    /// The time the schedule takes when every gate passes and approvals come at once
    /// (approval timeouts are not counted).
    pub fn nominal_duration(&self) -> Duration {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Bake { duration } | Step::Pause { duration } => *duration,
                _ => Duration::ZERO,
            })
            .sum()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(" → ")?;
            }
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

/// Checks `(step number, share)` pairs: each share above 0, strictly increasing, the last one 100 %.
pub(crate) fn check_weight_sequence(
    weights: impl IntoIterator<Item = (usize, Share)>,
) -> Result<(), ScheduleError> {
    let mut previous: Option<Share> = None;
    for (step, percent) in weights {
        if percent.is_none() {
            return Err(ScheduleError::OutOfRange { step, percent });
        }
        if let Some(prev) = previous
            && percent <= prev
        {
            return Err(ScheduleError::NotIncreasing {
                step,
                percent,
                previous: prev,
            });
        }
        previous = Some(percent);
    }
    match previous {
        Some(last) if last.is_all() => Ok(()),
        other => Err(ScheduleError::DoesNotEndAt100 {
            last: other.unwrap_or(Share::NONE),
        }),
    }
}
