//! What a person sets for a strategy, from any source — a configuration file, command-line flags, the
//! simulator — layered, then turned into a [`Strategy`] in this one place.

use super::{
    DEFAULT_BAKE, DEFAULT_CANARY_PERCENT, DEFAULT_GRADUAL_STEPS, Strategy, StrategyKind,
    TimeoutAction,
};
use crate::model::Share;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Strategy settings, each optional: what is not set takes its default. Every front end (the CLI's
/// `bluegreen.toml` and flags, `simulate`) fills one of these and calls [`StrategySettings::strategy`], so
/// a new strategy is a [`StrategyKind`] and a [`Strategy`] variant, and one arm here.
///
/// ```
/// use bluegreen_core::{StrategyKind, StrategySettings};
/// use std::time::Duration;
/// let file = StrategySettings { strategy: Some(StrategyKind::Canary), ..Default::default() };
/// let flags = StrategySettings { bake: Some(Duration::from_secs(60)), ..Default::default() };
/// let schedule = file.overlaid(flags).strategy()?.compile()?;
/// assert_eq!(schedule.to_string(), "set 10% → bake 1m → approval (timeout 1h, then roll back) → set 100% → bake 1m");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySettings {
    /// Which strategy (default gradual).
    pub strategy: Option<StrategyKind>,
    /// Gradual: the weights of the new color, increasing, ending at 100 (default 10, 25, 50, 75, 100).
    pub steps: Option<Vec<u32>>,
    /// The bake after each weight change (default 3 minutes).
    #[serde(default, with = "humantime_serde")]
    pub bake: Option<Duration>,
    /// Canary: the share of the canary step, 0.1 to 99.9 % (default 10 %).
    pub canary_percent: Option<Share>,
    /// Linear: the share each step adds, in whole percent (default 20: 20, 40, 60, 80, 100).
    pub linear_step: Option<u32>,
    /// Canary: how long to wait for an approval (default 1 hour, [`super::DEFAULT_APPROVAL_TIMEOUT`]).
    #[serde(default, with = "humantime_serde")]
    pub approval_timeout: Option<Duration>,
    /// Canary: what an approval timeout does (default roll back).
    pub on_timeout: Option<TimeoutAction>,
}

/// Settings that name no strategy a front end can build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the custom strategy is built from steps in code (Strategy::Custom); use gradual, immediate, canary or linear"
)]
pub struct CustomNeedsSteps;

impl StrategySettings {
    /// These settings with every one that `over` sets replaced by it (flags over a file, say).
    pub fn overlaid(self, over: StrategySettings) -> StrategySettings {
        StrategySettings {
            strategy: over.strategy.or(self.strategy),
            steps: over.steps.or(self.steps),
            bake: over.bake.or(self.bake),
            canary_percent: over.canary_percent.or(self.canary_percent),
            linear_step: over.linear_step.or(self.linear_step),
            approval_timeout: over.approval_timeout.or(self.approval_timeout),
            on_timeout: over.on_timeout.or(self.on_timeout),
        }
    }

    /// The strategy these settings describe, defaults applied. Its values are checked when it is compiled.
    pub fn strategy(&self) -> Result<Strategy, CustomNeedsSteps> {
        let bake = self.bake.unwrap_or(DEFAULT_BAKE);
        Ok(match self.strategy.unwrap_or(StrategyKind::Gradual) {
            StrategyKind::Gradual => Strategy::Gradual {
                steps: self
                    .steps
                    .clone()
                    .unwrap_or_else(|| DEFAULT_GRADUAL_STEPS.to_vec()),
                bake,
            },
            StrategyKind::Immediate => Strategy::Immediate { bake },
            StrategyKind::Canary => Strategy::Canary {
                percent: self.canary_percent.unwrap_or(DEFAULT_CANARY_PERCENT),
                bake,
                approval_timeout: Some(
                    self.approval_timeout
                        .unwrap_or(super::DEFAULT_APPROVAL_TIMEOUT),
                ),
                on_timeout: self.on_timeout.unwrap_or_default(),
            },
            StrategyKind::Linear => Strategy::Linear {
                step: self.linear_step.unwrap_or(super::DEFAULT_LINEAR_STEP),
                bake,
            },
            StrategyKind::Custom => return Err(CustomNeedsSteps),
        })
    }
}
