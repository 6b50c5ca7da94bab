//! Strategies and the schedules they compile to.
//!
//! A [`Strategy`] is what a person asks for ("gradual, 3-minute bakes"); a [`Schedule`] is the exact list of
//! steps the executor runs. Compiling is a plain function, so a plan can be printed, compared and tested
//! without touching anything.

mod parse;
mod schedule;
mod settings;

pub use parse::{check_weights, parse_duration, parse_steps};
pub use schedule::{
    Schedule, ScheduleError, Step, StepPosition, TimeoutAction, WatchBaseline, WatchKeep,
};
pub use settings::{
    CustomNeedsSteps, DEFAULT_WATCH_ARMED, ScheduleSettingsError, SettingError, SettingSpec,
    StrategySettings,
};

use crate::model::Share;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The default bake after each step: 3 minutes (R2).
pub const DEFAULT_BAKE: Duration = Duration::from_secs(180);
/// The default gradual steps (R2).
pub const DEFAULT_GRADUAL_STEPS: [u32; 5] = [10, 25, 50, 75, 100];
/// The default step of `linear`: 20 % (20, 40, 60, 80, 100).
pub const DEFAULT_LINEAR_STEP: u32 = 20;
/// The default canary share (R4).
pub const DEFAULT_CANARY_PERCENT: Share = Share::percent(10);
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
        /// The canary share, 0.1 % to 99.9 %.
        percent: Share,
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
    /// Equal steps of `step` % of the traffic (the last one ends at 100 %), a bake after each: `20` is
    /// 20, 40, 60, 80, 100 %; `30` is 30, 60, 90, 100 %.
    Linear {
        /// The share each step adds, in whole percent, 1 to 100 (100 is an immediate switch with a bake).
        step: u32,
        /// Bake after each step.
        #[serde(with = "humantime_serde")]
        bake: Duration,
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
            Strategy::Linear { .. } => StrategyKind::Linear,
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
                    .flat_map(|&percent| {
                        [
                            Some(Step::SetWeight {
                                percent: Share::percent(percent),
                            }),
                            bake_step(*bake),
                        ]
                    })
                    .flatten()
                    .collect()
            }
            Strategy::Immediate { bake } => [
                Some(Step::SetWeight {
                    percent: Share::ALL,
                }),
                bake_step(*bake),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Strategy::Canary {
                percent,
                bake,
                approval_timeout,
                on_timeout,
            } => {
                if percent.is_none() || percent.is_all() {
                    return Err(ScheduleError::CanaryOutOfRange {
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
                    Some(Step::SetWeight {
                        percent: Share::ALL,
                    }),
                    bake_step(*bake),
                ]
                .into_iter()
                .flatten()
                .collect()
            }
            Strategy::Linear { step, bake } => {
                if *step == 0 || *step > 100 {
                    return Err(ScheduleError::LinearStepOutOfRange { step: *step });
                }
                (1..=100_u32.div_ceil(*step))
                    .flat_map(|n| {
                        [
                            Some(Step::SetWeight {
                                percent: Share::percent(n * step),
                            }),
                            bake_step(*bake),
                        ]
                    })
                    .flatten()
                    .collect()
            }
            Strategy::Custom { steps } => steps.clone(),
        };
        Schedule::new(steps)
    }
}

/// Declares [`StrategyKind`] from one list: each strategy's variant, its name as typed, and its summary. Its
/// name, parsing, the list in errors and in help all follow from this one line per strategy.
macro_rules! strategy_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal, $summary:literal;)+) => {
        /// The name of a strategy, as typed on a command line.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum StrategyKind {
            $($(#[doc = $doc])* $variant,)+
        }

        impl StrategyKind {
            /// Every strategy, in the order help and errors list them.
            pub const ALL: &'static [StrategyKind] = &[$(StrategyKind::$variant),+];

            /// The name as typed: `gradual`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(StrategyKind::$variant => $name,)+
                }
            }

            /// One line for a person: what the strategy does.
            pub const fn summary(self) -> &'static str {
                match self {
                    $(StrategyKind::$variant => $summary,)+
                }
            }
        }
    };
}

strategy_kinds! {
    /// See [`Strategy::Gradual`].
    Gradual => "gradual", "steps of increasing weight (10, 25, 50, 75, 100 %), a bake after each";
    /// See [`Strategy::Immediate`].
    Immediate => "immediate", "all traffic at once, then a post-switch bake";
    /// See [`Strategy::Canary`].
    Canary => "canary", "a small share (down to 0.1 %), a bake, a manual approval, then all traffic";
    /// See [`Strategy::Linear`].
    Linear => "linear", "equal steps of `linear_step` % (20: 20, 40, 60, 80, 100 %), a bake after each";
    /// See [`Strategy::Custom`].
    Custom => "custom", "any steps, built in code";
}

impl StrategyKind {
    /// The strategies a person can choose by name (all but `custom`, which is built from steps in code).
    pub fn selectable() -> impl Iterator<Item = StrategyKind> {
        Self::ALL
            .iter()
            .copied()
            .filter(|k| *k != StrategyKind::Custom)
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A strategy name that is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStrategy(pub String);

impl fmt::Display for UnknownStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown strategy {:?}: expected ", self.0)?;
        let names = StrategyKind::ALL;
        for (i, kind) in names.iter().enumerate() {
            let sep = match i {
                0 => "",
                i if i + 1 == names.len() => " or ",
                _ => ", ",
            };
            write!(f, "{sep}{kind}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownStrategy {}

impl FromStr for StrategyKind {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Self, UnknownStrategy> {
        let name = s.trim().to_ascii_lowercase();
        StrategyKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| UnknownStrategy(s.to_string()))
    }
}
