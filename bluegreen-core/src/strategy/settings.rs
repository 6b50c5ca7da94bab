//! What a person sets for a strategy, from any source — a configuration file, command-line flags, the
//! simulator — layered, then turned into a [`Strategy`] in this one place.

use super::{
    DEFAULT_BAKE, DEFAULT_CANARY_PERCENT, DEFAULT_GRADUAL_STEPS, Strategy, StrategyKind,
    TimeoutAction, WatchBaseline, WatchKeep,
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
    /// After the switch: watch the new color this long with the old one kept (default: no watch).
    #[serde(default, with = "humantime_serde")]
    pub watch: Option<Duration>,
    /// How long from the watch's start a breach rolls back (default [`DEFAULT_WATCH_ARMED`], at most the
    /// watch).
    #[serde(default, with = "humantime_serde")]
    pub watch_armed: Option<Duration>,
    /// What the old color keeps during the watch (default [`WatchKeep::Full`]).
    pub watch_keep: Option<WatchKeep>,
    /// What the new color is compared with during the watch (default [`WatchBaseline::Before`]).
    pub watch_baseline: Option<WatchBaseline>,
}

/// How long a watch keeps the rollback armed unless told: its first hour (or all of a shorter watch).
pub const DEFAULT_WATCH_ARMED: Duration = Duration::from_secs(3600);

/// Settings that make no schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleSettingsError {
    /// No strategy a front end can build.
    #[error(transparent)]
    Custom(#[from] CustomNeedsSteps),
    /// A strategy's values that are wrong.
    #[error(transparent)]
    Schedule(#[from] super::ScheduleError),
    /// An armed length with no watch to arm.
    #[error("watch_armed {} is set, but no watch is: set watch (e.g. 24h) too", humantime::format_duration(*.0))]
    ArmedWithoutWatch(Duration),
    /// Another watch setting with no watch.
    #[error("{key} is set, but no watch is: set watch (e.g. 24h) too")]
    WithoutWatch {
        /// The setting.
        key: &'static str,
    },
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
            watch: over.watch.or(self.watch),
            watch_armed: over.watch_armed.or(self.watch_armed),
            watch_keep: over.watch_keep.or(self.watch_keep),
            watch_baseline: over.watch_baseline.or(self.watch_baseline),
        }
    }

    /// The schedule these settings describe: the strategy's, compiled, then the watch if one is set.
    ///
    /// ```
    /// use bluegreen_core::{StrategyKind, StrategySettings};
    /// use std::time::Duration;
    /// let s = StrategySettings {
    ///     strategy: Some(StrategyKind::Immediate),
    ///     watch: Some(Duration::from_secs(24 * 3600)),
    ///     ..Default::default()
    /// };
    /// assert_eq!(s.schedule()?.to_string(), "set 100% → bake 3m → watch 1day (rollback armed 1h)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn schedule(&self) -> Result<crate::Schedule, ScheduleSettingsError> {
        let schedule = self.strategy()?.compile()?;
        let Some(duration) = self.watch else {
            if let Some(armed) = self.watch_armed {
                return Err(ScheduleSettingsError::ArmedWithoutWatch(armed));
            }
            if self.watch_keep.is_some() {
                return Err(ScheduleSettingsError::WithoutWatch { key: "watch_keep" });
            }
            if self.watch_baseline.is_some() {
                return Err(ScheduleSettingsError::WithoutWatch {
                    key: "watch_baseline",
                });
            }
            return Ok(schedule);
        };
        let armed = self
            .watch_armed
            .unwrap_or(DEFAULT_WATCH_ARMED.min(duration));
        let mut steps = schedule.steps().to_vec();
        steps.push(crate::Step::Watch {
            duration,
            armed,
            keep: self.watch_keep.unwrap_or_default(),
            baseline: self.watch_baseline.unwrap_or_default(),
        });
        Ok(crate::Schedule::new(steps)?)
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

/// One strategy setting as every front end names it: the key of `bluegreen.toml`'s `[deploy]`
/// (`canary_percent`), whose flag is the key with dashes (`--canary-percent`). [`StrategySettings::SETTINGS`]
/// lists them all: the file's keys, the command's flags and their help follow from that one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingSpec {
    /// The key (`canary_percent`).
    pub key: &'static str,
    /// What its value looks like, for help (`PERCENT`).
    pub value: &'static str,
    /// What it sets, for help.
    pub help: &'static str,
    /// Whether a command line checks it as it is parsed (a bad value is the flag's error), rather than when
    /// the plan is made.
    pub eager: bool,
}

impl SettingSpec {
    /// The flag, without its dashes: `canary-percent`.
    pub fn flag(&self) -> String {
        self.key.replace('_', "-")
    }

    /// Its help for a person; the strategy's names the strategies there are (from [`StrategyKind::ALL`]).
    pub fn describe(&self) -> String {
        if self.key != "strategy" {
            return self.help.to_string();
        }
        let names: Vec<&str> = StrategyKind::selectable().map(|k| k.name()).collect();
        format!("{}: {}", self.help, names.join(", "))
    }
}

/// A strategy setting's value that cannot be used, naming the setting as its front end calls it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// A key no strategy setting has.
    #[error("unknown strategy setting {0:?}")]
    Unknown(String),
    /// A strategy name that is not known.
    #[error(transparent)]
    Strategy(#[from] super::UnknownStrategy),
    /// A value that does not parse: the message names the setting and the value.
    #[error("{0}")]
    Value(String),
}

impl StrategySettings {
    /// Every strategy setting, in the order help lists them.
    pub const SETTINGS: &'static [SettingSpec] = &[
        SettingSpec {
            key: "strategy",
            value: "STRATEGY",
            help: "Which strategy (default: the file's, or gradual)",
            eager: false,
        },
        SettingSpec {
            key: "steps",
            value: "STEPS",
            help: "Gradual steps, percent to the new color, e.g. 10,25,50,75,100",
            eager: false,
        },
        SettingSpec {
            key: "bake",
            value: "BAKE",
            help: "Bake after each step, e.g. 3m, 90s, 1h30m",
            eager: false,
        },
        SettingSpec {
            key: "canary_percent",
            value: "CANARY_PERCENT",
            help: "Canary share, percent: 0.1 to 99.9, tenths allowed (0.5)",
            eager: true,
        },
        SettingSpec {
            key: "linear_step",
            value: "LINEAR_STEP",
            help: "Linear: the share each step adds, whole percent (20: 20, 40, 60, 80, 100)",
            eager: true,
        },
        SettingSpec {
            key: "approval_timeout",
            value: "APPROVAL_TIMEOUT",
            help: "Canary: how long to wait for `bluegreen promote`",
            eager: false,
        },
        SettingSpec {
            key: "on_timeout",
            value: "ON_TIMEOUT",
            help: "What an approval timeout does: rollback or promote",
            eager: false,
        },
        SettingSpec {
            key: "watch",
            value: "WATCH",
            help: "After the switch, watch the new color this long with the old one kept (e.g. 24h); off by default",
            eager: false,
        },
        SettingSpec {
            key: "watch_armed",
            value: "WATCH_ARMED",
            help: "How long from the watch's start a breach rolls back (default 1h)",
            eager: false,
        },
        SettingSpec {
            key: "watch_keep",
            value: "WATCH_KEEP",
            help: "What the old color keeps during the watch: full (its capacity) or min (its group's minimum, at least 1)",
            eager: false,
        },
        SettingSpec {
            key: "watch_baseline",
            value: "WATCH_BASELINE",
            help: "What the watch compares the new color with: before (the 30 minutes before the deployment), previous-day, or none",
            eager: false,
        },
    ];

    /// Sets `key` from its value as typed on a command line; `named` is how the setting is named in an
    /// error (`--bake`).
    ///
    /// ```
    /// use bluegreen_core::StrategySettings;
    /// let mut s = StrategySettings::default();
    /// s.set_text("canary_percent", "0.5", "--canary-percent")?;
    /// assert_eq!(s.canary_percent.map(|p| p.per_mille()), Some(5));
    /// assert_eq!(
    ///     s.set_text("bake", "3", "--bake").unwrap_err().to_string(),
    ///     "--bake \"3\" is not a duration (examples: 90s, 3m, 1h30m): time unit needed, for example 3sec or 3ms"
    /// );
    /// # Ok::<(), bluegreen_core::strategy::SettingError>(())
    /// ```
    pub fn set_text(&mut self, key: &str, text: &str, named: &str) -> Result<(), SettingError> {
        let value = |e: &dyn std::fmt::Display| SettingError::Value(e.to_string());
        match key {
            "strategy" => self.strategy = Some(text.parse()?),
            "steps" => {
                let steps = super::parse_steps(text)
                    .map_err(|e| SettingError::Value(format!("{named}: {e}")))?;
                self.steps = Some(steps);
            }
            "bake" => self.bake = Some(super::parse_duration(named, text).map_err(|e| value(&e))?),
            "approval_timeout" => {
                self.approval_timeout =
                    Some(super::parse_duration(named, text).map_err(|e| value(&e))?)
            }
            "watch" => {
                self.watch = Some(super::parse_duration(named, text).map_err(|e| value(&e))?)
            }
            "watch_armed" => {
                self.watch_armed = Some(super::parse_duration(named, text).map_err(|e| value(&e))?)
            }
            "watch_keep" => {
                self.watch_keep = Some(text.trim().parse().map_err(|_| {
                    SettingError::Value(format!("{named} {text:?}: expected full or min"))
                })?)
            }
            "watch_baseline" => {
                self.watch_baseline = Some(text.trim().parse().map_err(|_| {
                    SettingError::Value(format!(
                        "{named} {text:?}: expected before, previous-day or none"
                    ))
                })?)
            }
            "canary_percent" => {
                let share: Share = text.parse().map_err(|e| value(&e))?;
                if share.is_none() || share.is_all() {
                    return Err(SettingError::Value(format!(
                        "a canary of {share}: a canary takes a share strictly between 0 and 100% (0.1 to 99.9)"
                    )));
                }
                self.canary_percent = Some(share);
            }
            "linear_step" => match text.trim().parse::<u32>() {
                Ok(step @ 1..=100) => self.linear_step = Some(step),
                _ => {
                    return Err(SettingError::Value(format!(
                        "{named} {text:?}: a step is a whole percentage from 1 to 100"
                    )));
                }
            },
            "on_timeout" => {
                self.on_timeout = Some(match text.trim() {
                    "rollback" => TimeoutAction::Rollback,
                    "promote" => TimeoutAction::Promote,
                    _ => {
                        return Err(SettingError::Value(format!(
                            "on-timeout {text:?}: expected rollback or promote"
                        )));
                    }
                })
            }
            other => return Err(SettingError::Unknown(other.to_string())),
        }
        Ok(())
    }

    /// Sets `key` from a configuration file's value (`bluegreen.toml`'s `[deploy]`): typed values as TOML
    /// has them (`steps = [10, 50, 100]`, `canary_percent = 0.5`), durations as text (`bake = "3m"`).
    /// `named` is how the setting is named in an error (`deploy.bake`). An unknown key is an error.
    pub fn set_value<'de, D: serde::Deserializer<'de>>(
        &mut self,
        key: &str,
        value: D,
        named: &str,
    ) -> Result<(), D::Error> {
        use serde::de::Error;
        let text = |v: D| String::deserialize(v);
        match key {
            "steps" => self.steps = Some(Vec::<u32>::deserialize(value)?),
            "canary_percent" => self.canary_percent = Some(Share::deserialize(value)?),
            "linear_step" => self.linear_step = Some(u32::deserialize(value)?),
            "on_timeout" => self.on_timeout = Some(TimeoutAction::deserialize(value)?),
            "strategy" => self.strategy = Some(StrategyKind::deserialize(value)?),
            "bake" | "approval_timeout" | "watch" | "watch_armed" | "watch_keep"
            | "watch_baseline" => {
                let t = text(value)?;
                self.set_text(key, &t, named).map_err(D::Error::custom)?;
            }
            other => return Err(D::Error::custom(SettingError::Unknown(other.to_string()))),
        }
        Ok(())
    }
}
