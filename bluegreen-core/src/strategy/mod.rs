//! Strategies and the schedules they compile to.
//!
//! A [`Strategy`] is what a person asks for ("gradual, 3-minute bakes"); a [`Schedule`] is the exact list of
//! steps the executor runs. Compiling is a plain function, so a plan can be printed, compared and tested
//! without touching anything.

mod parse;
mod schedule;
mod settings;

pub use parse::{check_weights, parse_duration, parse_steps};
pub use schedule::{Schedule, ScheduleError, Step, StepPosition, TimeoutAction};
pub use settings::{CustomNeedsSteps, StrategySettings};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The default bake after each step: 3 minutes (R2).
pub const DEFAULT_BAKE: Duration = Duration::from_secs(180);
/// The default gradual steps (R2).
pub const DEFAULT_GRADUAL_STEPS: [u32; 5] = [10, 25, 50, 75, 100];
/// The default canary share (R4).
pub const DEFAULT_CANARY_PERCENT: u32 = 10;
/// How long a canary waits for its approval by default: one hour, then `on_timeout` (roll back by
/// default). A canary that waits for ever holds the application's lock for ever.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(3600);

/// A deployment strategy, as a person chooses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "kebab-case")]
pub enum Strategy {
    /// Step through increasing weights with a bake after each (R2).
    Gradual {
        /// Percentages for the new color, increasing, ending at 100.
        steps: Vec<u32>,
        /// Bake after each step.
        #[serde(with = "humantime_serde")]
        bake: Duration,
    },
    /// 0 → 100 % at once (R3), then a post-switch bake (skipped when zero).
    Immediate {
        /// Post-switch validation; zero skips it.
        #[serde(with = "humantime_serde")]
        bake: Duration,
    },
    /// A small share, a bake, a manual approval, then 100 % and a post-switch bake (R4).
    Canary {
        /// The canary share, 1 to 99.
        percent: u32,
        /// Bake after the canary step and after the switch.
        #[serde(with = "humantime_serde")]
        bake: Duration,
        /// How long to wait for approval; `None` waits for ever.
        #[serde(with = "humantime_serde", default)]
        approval_timeout: Option<Duration>,
        /// What an approval timeout means.
        #[serde(default)]
        on_timeout: TimeoutAction,
    },
    /// Any steps.
    Custom {
        /// The steps, validated when compiled.
        steps: Vec<Step>,
    },
}

impl Strategy {
    /// Gradual with the default steps and bake.
    pub fn gradual() -> Self {
        Strategy::Gradual {
            steps: DEFAULT_GRADUAL_STEPS.to_vec(),
            bake: DEFAULT_BAKE,
        }
    }

    /// Immediate with the default post-switch bake.
    pub fn immediate() -> Self {
        Strategy::Immediate { bake: DEFAULT_BAKE }
    }

    /// Canary with the default share and bake, waiting for approval for [`DEFAULT_APPROVAL_TIMEOUT`]
    /// and then rolling back.
    pub fn canary() -> Self {
        Strategy::Canary {
            percent: DEFAULT_CANARY_PERCENT,
            bake: DEFAULT_BAKE,
            approval_timeout: Some(DEFAULT_APPROVAL_TIMEOUT),
            on_timeout: TimeoutAction::Rollback,
        }
    }

    /// The strategy's kind.
    pub fn kind(&self) -> StrategyKind {
        match self {
            Strategy::Gradual { .. } => StrategyKind::Gradual,
            Strategy::Immediate { .. } => StrategyKind::Immediate,
            Strategy::Canary { .. } => StrategyKind::Canary,
            Strategy::Custom { .. } => StrategyKind::Custom,
        }
    }

    /// Compiles the strategy into the exact steps to run, or says which setting is wrong.
    ///
    /// ```
    /// use bluegreen_core::Strategy;
    /// let schedule = Strategy::gradual().compile()?;
    /// assert_eq!(schedule.weights(), vec![10, 25, 50, 75, 100]);
    /// assert_eq!(schedule.nominal_duration().as_secs(), 15 * 60);
    /// # Ok::<(), bluegreen_core::ScheduleError>(())
    /// ```
    pub fn compile(&self) -> Result<Schedule, ScheduleError> {
        let bake_step = |bake: Duration| (!bake.is_zero()).then_some(Step::Bake { duration: bake });
        let steps = match self {
            Strategy::Gradual { steps, bake } => {
                check_weights(steps)?;
                steps
                    .iter()
                    .flat_map(|&percent| [Some(Step::SetWeight { percent }), bake_step(*bake)])
                    .flatten()
                    .collect()
            }
            Strategy::Immediate { bake } => {
                [Some(Step::SetWeight { percent: 100 }), bake_step(*bake)]
                    .into_iter()
                    .flatten()
                    .collect()
            }
            Strategy::Canary {
                percent,
                bake,
                approval_timeout,
                on_timeout,
            } => {
                if *percent == 0 || *percent >= 100 {
                    return Err(ScheduleError::OutOfRange {
                        step: 1,
                        percent: *percent,
                    });
                }
                [
                    Some(Step::SetWeight { percent: *percent }),
                    bake_step(*bake),
                    Some(Step::Approval {
                        timeout: *approval_timeout,
                        on_timeout: *on_timeout,
                    }),
                    Some(Step::SetWeight { percent: 100 }),
                    bake_step(*bake),
                ]
                .into_iter()
                .flatten()
                .collect()
            }
            Strategy::Custom { steps } => steps.clone(),
        };
        Schedule::new(steps)
    }
}

/// The name of a strategy, as typed on a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// See [`Strategy::Gradual`].
    Gradual,
    /// See [`Strategy::Immediate`].
    Immediate,
    /// See [`Strategy::Canary`].
    Canary,
    /// See [`Strategy::Custom`].
    Custom,
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StrategyKind::Gradual => "gradual",
            StrategyKind::Immediate => "immediate",
            StrategyKind::Canary => "canary",
            StrategyKind::Custom => "custom",
        })
    }
}

/// A strategy name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy {0:?}: expected gradual, immediate, canary or custom")]
pub struct UnknownStrategy(pub String);

impl FromStr for StrategyKind {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Self, UnknownStrategy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gradual" => Ok(StrategyKind::Gradual),
            "immediate" => Ok(StrategyKind::Immediate),
            "canary" => Ok(StrategyKind::Canary),
            "custom" => Ok(StrategyKind::Custom),
            _ => Err(UnknownStrategy(s.to_string())),
        }
    }
}
