//! `[gates]`: the keys that override the core's default gate policy, and the policy they make. The keys of
//! the checks themselves (`max_5xx_rate`, `max_latency_avg`, …) are the core's: each check declares its
//! own ([`CheckSettings::keys`]); the keys here are the policy's.

use super::{SettingsError, duration};
use bluegreen_core::GatePolicy;
use bluegreen_core::gate::{Check, CheckSettings, GateMode, NoDataPolicy};
use serde::Deserialize;

/// `[gates]`: each key overrides one default of the gate policy. An unknown key is an error naming its line.
#[derive(Debug, Default, Clone)]
pub struct GatesSection {
    /// `enforce` (a failing gate rolls back) or `observe` (it is only reported).
    pub mode: Option<GateMode>,
    /// What a minute without enough data is: `fail`, `inconclusive`, `extend-bake` or `pass`.
    pub no_data: Option<NoDataPolicy>,
    /// How often the gates are polled during a bake.
    pub interval: Option<String>,
    /// How many minutes one verdict covers.
    pub window: Option<String>,
    /// Requests a minute needs before its rates are judged.
    pub min_requests: Option<u64>,
    /// Healthy targets a color needs before its share rises (the pre-step gate).
    pub min_healthy_targets: Option<u32>,
    /// CloudWatch alarms that must not be in ALARM.
    pub alarms: Option<Vec<String>>,
    /// Failed verdicts in one bake that roll back.
    pub failures: Option<u32>,
    /// Failed verdicts in a row that roll back.
    pub consecutive_failures: Option<u32>,
    /// Inconclusive minutes in a row that roll back.
    pub inconclusive: Option<u32>,
    /// Passing CloudWatch minutes a bake needs before it may end.
    pub min_minutes: Option<u32>,
    /// How long to wait for CloudWatch to publish a minute.
    pub publication_timeout: Option<String>,
    /// How far past its planned length a bake may run while minutes are awaited.
    pub max_extension: Option<String>,
    /// Turns on the sequential 5xx comparison with the stable color (`5xx-sequential`): a conclusive
    /// regression rolls back, conclusive evidence of none ends a bake early.
    pub sequential: Option<bool>,
    /// The sequential comparison's allowed increase of the 5xx rate over stable's, as a fraction (0.2).
    pub allowed_increase: Option<f64>,
    /// The sequential comparison's false-rollback rate under continuous monitoring (0.01).
    pub alpha: Option<f64>,
    /// The checks' own keys, read by the core.
    pub checks: CheckSettings,
}

/// `[gates]`' own keys, beside the checks'.
pub const POLICY_KEYS: &[&str] = &[
    "mode",
    "no_data",
    "interval",
    "window",
    "min_requests",
    "min_healthy_targets",
    "alarms",
    "failures",
    "consecutive_failures",
    "inconclusive",
    "min_minutes",
    "publication_timeout",
    "max_extension",
    "sequential",
    "allowed_increase",
    "alpha",
];

impl GatesSection {
    /// Every key of `[gates]`: the policy's, then each check's.
    pub fn keys() -> impl Iterator<Item = &'static str> {
        POLICY_KEYS
            .iter()
            .copied()
            .chain(CheckSettings::keys().map(|k| k.key))
    }
}

impl<'de> Deserialize<'de> for GatesSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{DeserializeSeed, MapAccess, Visitor};
        use std::fmt;

        /// A check's key's value, read by the core.
        struct CheckValue<'a> {
            settings: &'a mut CheckSettings,
            key: &'a str,
        }
        impl<'de> DeserializeSeed<'de> for CheckValue<'_> {
            type Value = ();
            fn deserialize<V: serde::Deserializer<'de>>(self, v: V) -> Result<(), V::Error> {
                let named = format!("gates.{}", self.key);
                self.settings.set_value(self.key, v, &named)
            }
        }

        struct Section;
        impl<'de> Visitor<'de> for Section {
            type Value = GatesSection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the [gates] table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<GatesSection, A::Error> {
                let mut out = GatesSection::default();
                let keys = super::KnownKey {
                    table: "[gates]",
                    keys: GatesSection::keys().collect(),
                };
                while let Some(key) = m.next_key_seed(keys.clone())? {
                    match key.as_str() {
                        "mode" => out.mode = Some(m.next_value()?),
                        "no_data" => out.no_data = Some(m.next_value()?),
                        "interval" => out.interval = Some(m.next_value()?),
                        "window" => out.window = Some(m.next_value()?),
                        "min_requests" => out.min_requests = Some(m.next_value()?),
                        "min_healthy_targets" => out.min_healthy_targets = Some(m.next_value()?),
                        "alarms" => out.alarms = Some(m.next_value()?),
                        "failures" => out.failures = Some(m.next_value()?),
                        "consecutive_failures" => out.consecutive_failures = Some(m.next_value()?),
                        "inconclusive" => out.inconclusive = Some(m.next_value()?),
                        "min_minutes" => out.min_minutes = Some(m.next_value()?),
                        "publication_timeout" => out.publication_timeout = Some(m.next_value()?),
                        "max_extension" => out.max_extension = Some(m.next_value()?),
                        "sequential" => out.sequential = Some(m.next_value()?),
                        "allowed_increase" => out.allowed_increase = Some(m.next_value()?),
                        "alpha" => out.alpha = Some(m.next_value()?),
                        check => m.next_value_seed(CheckValue {
                            settings: &mut out.checks,
                            key: check,
                        })?,
                    }
                }
                Ok(out)
            }
        }

        d.deserialize_map(Section)
    }
}

impl GatesSection {
    /// The gate policy: the defaults with every key that is set applied. Without `p99` (the provider does
    /// not fetch the p99 statistic) there is no p99 gate: it could never have data.
    pub fn policy(&self, p99: bool) -> Result<GatePolicy, SettingsError> {
        let mut p = GatePolicy::default();
        if !p99 {
            p.bake.retain(|g| !matches!(g.check, Check::LatencyP99(_)));
        }
        // Parsed by serde as the core's own enums: a bad value is refused when the file is read, with its line.
        let mode = self.mode.unwrap_or_default();
        let no_data = self.no_data;
        if let Some(v) = &self.interval {
            p.interval = duration("gates.interval", v)?;
        }
        if let Some(v) = &self.window {
            p.window = Some(duration("gates.window", v)?);
        }
        if let Some(v) = self.min_requests {
            p.min_requests = v;
        }
        if let Some(v) = self.min_healthy_targets {
            p.pre_step.min_healthy = v;
        }
        if let Some(v) = self.failures {
            p.limits.failures = v;
        }
        if let Some(v) = self.consecutive_failures {
            p.limits.consecutive_failures = v;
        }
        if let Some(v) = self.inconclusive {
            p.limits.inconclusive = v;
        }
        if let Some(v) = self.min_minutes {
            p.min_minutes = v;
        }
        if let Some(v) = &self.publication_timeout {
            p.publication_timeout = duration("gates.publication_timeout", v)?;
        }
        if let Some(v) = &self.max_extension {
            p.max_extension = duration("gates.max_extension", v)?;
        }
        match self.sequential {
            Some(true) => {
                let mut s = bluegreen_core::gate::SequentialPolicy::default();
                if let Some(v) = self.allowed_increase {
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(SettingsError::new(format!(
                            "gates.allowed_increase {v}: a fraction of 0 or more (0.2: up to 1.2 × stable)"
                        )));
                    }
                    s.allowed_increase = v;
                }
                if let Some(v) = self.alpha {
                    if !(v > 0.0 && v <= 0.5) {
                        return Err(SettingsError::new(format!(
                            "gates.alpha {v}: a probability above 0 and at most 0.5 (0.01: 1 %)"
                        )));
                    }
                    s.alpha = v;
                }
                p.sequential = Some(s);
            }
            _ if self.allowed_increase.is_some() || self.alpha.is_some() => {
                return Err(SettingsError::new(
                    "gates.allowed_increase and gates.alpha set the sequential comparison: set gates.sequential = true too",
                ));
            }
            _ => {}
        }
        // The core names the key alone; this is its section.
        self.checks
            .apply(&mut p.bake)
            .map_err(|e| SettingsError::new(format!("gates.{e}")))?;
        for g in &mut p.bake {
            g.mode = mode;
            if let Some(n) = no_data {
                g.no_data = n;
            }
        }
        p.pre_step.mode = mode;
        if let Some(alarms) = &self.alarms {
            p = p.with_alarms(alarms);
        }
        Ok(p)
    }
}
