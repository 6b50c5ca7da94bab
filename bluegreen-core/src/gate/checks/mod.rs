//! The bake checks, one file each, and the one list of them ([`checks!`] below, [`Check::KINDS`]).
//!
//! A check's file holds everything about it: its parameters, its `[gates]` keys and what they do, how it
//! is judged, how a person reads it, and the report panel it draws. To add a gate: a file here, its line
//! in the list below, and — for a gate on a new CloudWatch series — the series' line in `metric_series!`
//! and how the simulated world produces it (docs/architecture.md, "How to add a gate").

use super::judge::Raw;
use super::{BakeGate, GateMode, NoDataPolicy, Relative, Unit};
use crate::strategy::ScheduleError;
use crate::{AlarmStatus, Color, Metrics};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod alarms;
mod elb_error_rate;
mod error_rate;
mod healthy_hosts;
mod latency;

pub use alarms::Alarms;
pub use elb_error_rate::ElbErrorRate;
pub use error_rate::ErrorRate;
pub use healthy_hosts::HealthyHosts;
pub use latency::{LatencyAvg, LatencyP99};

/// What the registry knows of a kind of check: its gate's name, whether it reads CloudWatch's minutes, its
/// unit, its `[gates]` keys and the report panel it draws.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckKind {
    /// The gate's name in reports and the settings' default (`5xx-rate`).
    pub name: &'static str,
    /// What it checks, for people.
    pub summary: &'static str,
    /// Whether it reads CloudWatch's minute buckets (judged once per published minute) rather than the
    /// current state (judged on every poll).
    pub per_minute: bool,
    /// The unit of its values.
    pub unit: Unit,
    /// The `[gates]` keys it reads, each declared by one check only.
    pub keys: &'static [GateKey],
    /// The report's panel for its values, if it draws one.
    pub panel: Option<Panel>,
}

/// A panel of the HTML report: the check's value, the stable color's and the limit over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Panel {
    /// Its title.
    pub title: &'static str,
    /// The least top of its scale, in the unit as shown ([`Unit::scale`]).
    pub floor: f64,
    /// Drawn in every report (true) or only where the deployment judged the check.
    pub always: bool,
}

/// What a `[gates]` key of a check takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// A share, 0.0 to 1.0 (checked when the policy is made).
    Rate,
    /// A number, e.g. a factor.
    Number,
    /// A whole number up to `max`.
    Count {
        /// The largest value.
        max: u64,
    },
    /// A duration as text (`500ms`).
    Duration,
}

/// A `[gates]` key that a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateKey {
    /// The key (`max_5xx_rate`).
    pub key: &'static str,
    /// What its value is.
    pub ty: KeyType,
    /// What it sets, for people.
    pub help: &'static str,
}

/// A value set for a check's key, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    /// A number (a rate or a factor).
    Number(f64),
    /// A whole number.
    Count(u64),
    /// A duration's text.
    Duration(String),
}

/// A check key's value that cannot be used. Its text names the key without its section (`max_5xx_rate
/// 1.5: a rate is between 0.0 and 1.0`); a front end puts its own prefix before it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckSettingError {
    /// A rate outside 0.0–1.0.
    #[error("{key} {value}: a rate is between 0.0 and 1.0")]
    Rate {
        /// The key.
        key: &'static str,
        /// Its value.
        value: f64,
    },
    /// A duration that does not parse.
    #[error("{0}")]
    Duration(ScheduleError),
}

/// The values set for the checks' keys (`[gates] max_5xx_rate = 0.02`), applied to a policy's bake gates
/// by [`CheckSettings::apply`]. Which keys exist is the checks' own declaration ([`CheckSettings::keys`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckSettings {
    values: BTreeMap<&'static str, KeyValue>,
}

impl CheckSettings {
    /// Every key of every check, in the registry's order.
    pub fn keys() -> impl Iterator<Item = &'static GateKey> {
        Check::KINDS.iter().flat_map(|k| k.keys.iter())
    }

    /// The key named `key`, if a check declares it.
    pub fn key(key: &str) -> Option<&'static GateKey> {
        Self::keys().find(|k| k.key == key)
    }

    /// Sets `key` to `value`. `Err` names an unknown key.
    pub fn set(&mut self, key: &str, value: KeyValue) -> Result<(), UnknownGateKey> {
        let spec = Self::key(key).ok_or_else(|| UnknownGateKey(key.to_string()))?;
        self.values.insert(spec.key, value);
        Ok(())
    }

    /// Reads `key`'s value from a deserializer (a TOML value, so that errors name their line); `named` is
    /// how the key is named in an error (`gates.min_healthy_hosts`).
    pub fn set_value<'de, D: serde::Deserializer<'de>>(
        &mut self,
        key: &str,
        value: D,
        named: &str,
    ) -> Result<(), D::Error> {
        use serde::de::Error;
        let spec = Self::key(key).ok_or_else(|| D::Error::custom(UnknownGateKey(key.into())))?;
        let v = match spec.ty {
            KeyType::Rate | KeyType::Number => KeyValue::Number(f64::deserialize(value)?),
            KeyType::Count { max } => {
                let n = u64::deserialize(value)?;
                if n > max {
                    return Err(D::Error::custom(format!("{named} {n}: at most {max}")));
                }
                KeyValue::Count(n)
            }
            KeyType::Duration => KeyValue::Duration(String::deserialize(value)?),
        };
        self.values.insert(spec.key, v);
        Ok(())
    }

    /// Whether `key` is set.
    pub fn is_set(&self, key: &GateKey) -> bool {
        self.values.contains_key(key.key)
    }

    /// `key`'s number, checked as its type says (a rate within 0.0–1.0).
    fn number(&self, key: &GateKey) -> Result<Option<f64>, CheckSettingError> {
        let Some(KeyValue::Number(v)) = self.values.get(key.key) else {
            return Ok(None);
        };
        if key.ty == KeyType::Rate && !(0.0..=1.0).contains(v) {
            return Err(CheckSettingError::Rate {
                key: key.key,
                value: *v,
            });
        }
        Ok(Some(*v))
    }

    fn count(&self, key: &GateKey) -> Option<u64> {
        match self.values.get(key.key) {
            Some(KeyValue::Count(n)) => Some(*n),
            _ => None,
        }
    }

    fn duration(&self, key: &GateKey) -> Result<Option<std::time::Duration>, CheckSettingError> {
        match self.values.get(key.key) {
            Some(KeyValue::Duration(text)) => crate::strategy::parse_duration(key.key, text)
                .map(Some)
                .map_err(CheckSettingError::Duration),
            _ => Ok(None),
        }
    }

    /// Applies these keys to `bake`: each gate takes its check's keys, and a check that is off by default
    /// and turned on by a key (`max_elb_5xx_rate`) is added after the gates of the checks listed before it.
    pub fn apply(&self, bake: &mut Vec<BakeGate>) -> Result<(), CheckSettingError> {
        for new in Check::enabled_by(self)? {
            let rank = |c: &Check| Check::KINDS.iter().position(|k| k.name == c.kind().name);
            let at = bake
                .iter()
                .rposition(|g| rank(&g.check) < rank(&new))
                .map_or(0, |i| i + 1);
            bake.insert(
                at,
                BakeGate {
                    name: new.kind().name.into(),
                    mode: GateMode::Enforce,
                    no_data: NoDataPolicy::Inconclusive,
                    check: new,
                },
            );
        }
        for g in bake.iter_mut() {
            g.check.configure(self)?;
        }
        Ok(())
    }
}

/// A `[gates]` key that no check declares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown gate key {0:?}")]
pub struct UnknownGateKey(pub String);

/// What a check is judged with: both colors' metrics over the window, the alarm states, and the fewest
/// requests to judge a rate.
pub(crate) struct Context<'a> {
    pub new: Color,
    pub new_m: &'a Metrics,
    pub stable_m: &'a Metrics,
    pub alarms: &'a [AlarmStatus],
    pub min_requests: u64,
}

impl Context<'_> {
    /// Whether `m` had enough requests to be judged.
    pub fn enough(&self, m: &Metrics) -> bool {
        m.requests.is_some_and(|r| r >= self.min_requests.max(1))
    }

    /// Why the new color could not be judged for want of requests.
    pub fn too_few(&self) -> String {
        match self.new_m.requests {
            None => "no request data".to_string(),
            Some(r) => format!(
                "{r} requests, fewer than the {} needed",
                self.min_requests.max(1)
            ),
        }
    }
}

/// What each check's file implements.
pub(crate) trait CheckSpec: Sized {
    /// Its registry entry.
    const KIND: CheckKind;
    /// Its verdict on one window.
    fn judge(&self, cx: &Context<'_>) -> Raw;
    /// Its parameters as a person reads them, naming the keys that set them.
    fn describe(&self) -> String;
    /// Its maximum and comparison with stable, checked by [`crate::Plan::validate`].
    fn bounds(&self) -> (Option<f64>, Option<Relative>) {
        (None, None)
    }
    /// Takes the keys set for it.
    fn configure(&mut self, _keys: &CheckSettings) -> Result<(), CheckSettingError> {
        Ok(())
    }
    /// The check that the keys turn on, for a check off by default.
    fn enabled_by(_keys: &CheckSettings) -> Result<Option<Self>, CheckSettingError> {
        Ok(None)
    }
}

macro_rules! checks {
    ($($(#[$doc:meta])* $variant:ident($ty:ty),)*) => {
        /// What a bake gate checks: one variant per check, each defined in its own file of `gate/checks/`.
        /// Records keep the check's parameters beside its kebab-case tag (`"check": "error-rate"`).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "check", rename_all = "kebab-case")]
        pub enum Check {
            $($(#[$doc])* $variant($ty),)*
        }

        impl Check {
            /// Every kind of check, in the order of the default gates and of the report's panels.
            pub const KINDS: &'static [CheckKind] = &[$(<$ty as CheckSpec>::KIND,)*];

            /// This check's registry entry.
            pub fn kind(&self) -> &'static CheckKind {
                match self {
                    $(Check::$variant(_) => &<$ty as CheckSpec>::KIND,)*
                }
            }

            /// Its parameters as a person reads them, naming the `[gates]` keys that set them.
            pub fn describe(&self) -> String {
                match self {
                    $(Check::$variant(c) => c.describe(),)*
                }
            }

            /// Its maximum and its comparison with the stable color, where it has them.
            pub fn bounds(&self) -> (Option<f64>, Option<Relative>) {
                match self {
                    $(Check::$variant(c) => c.bounds(),)*
                }
            }

            pub(crate) fn judge(&self, cx: &Context<'_>) -> Raw {
                match self {
                    $(Check::$variant(c) => c.judge(cx),)*
                }
            }

            fn configure(&mut self, keys: &CheckSettings) -> Result<(), CheckSettingError> {
                match self {
                    $(Check::$variant(c) => c.configure(keys),)*
                }
            }

            fn enabled_by(keys: &CheckSettings) -> Result<Vec<Check>, CheckSettingError> {
                let mut on = Vec::new();
                $(if let Some(c) = <$ty as CheckSpec>::enabled_by(keys)? {
                    on.push(Check::$variant(c));
                })*
                Ok(on)
            }
        }
    };
}

checks! {
    /// The new color's 5xx rate.
    ErrorRate(ErrorRate),
    /// The share of the new color's requests the load balancer answered itself.
    ElbErrorRate(ElbErrorRate),
    /// The new color's average response time.
    LatencyAvg(LatencyAvg),
    /// The new color's p99 response time.
    LatencyP99(LatencyP99),
    /// The new color's healthy hosts.
    HealthyHosts(HealthyHosts),
    /// CloudWatch alarms.
    Alarms(Alarms),
}

impl Check {
    /// Whether this check reads CloudWatch's minute buckets (5xx rates, latency). The others — healthy
    /// hosts (from the load balancer's current target health) and alarms — are judged on every poll.
    pub fn is_minute_based(&self) -> bool {
        self.kind().per_minute
    }

    /// The kind whose gate is named `name` (as the settings name gates), if any.
    pub fn kind_named(name: &str) -> Option<&'static CheckKind> {
        Check::KINDS.iter().find(|k| k.name == name)
    }
}

/// A relative comparison as a person reads it: `, and at most 2 × stable + 0.01`.
pub(crate) fn describe_relative(r: &Option<Relative>, unit: &str) -> String {
    match r {
        Some(r) => format!(", and at most {} × stable + {}{unit}", r.factor, r.epsilon),
        None => String::new(),
    }
}
