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
    /// The sequential judge (5xx and latency against the stable color): on by default for strategies that
    /// split traffic (gradual, canary, linear), off for immediate; `false` turns it off, `true` on.
    pub sequential: Option<bool>,
    /// The judge's allowed increase of the 5xx rate over stable's, as a fraction (0.2).
    pub allowed_increase: Option<f64>,
    /// The judge's false-rollback rate under continuous monitoring, per deployment (0.01).
    pub alpha: Option<f64>,
    /// The judge's mode: `enforce`, `pause` or `observe`.
    pub judge_mode: Option<bluegreen_core::gate::JudgeMode>,
    /// The judge's allowed increase of the average latency over stable's, as a fraction (0.2); a negative
    /// value is refused, and `compare_latency = false` leaves latency to the thresholds.
    pub allowed_latency_increase: Option<f64>,
    /// Whether the judge compares latency (true).
    pub compare_latency: Option<bool>,
    /// Whether a conclusive latency regression fails the judge whatever the score (false).
    pub latency_critical: Option<bool>,
    /// The score at or above which the judge passes (75).
    pub pass_score: Option<f64>,
    /// The score below which it fails (50).
    pub marginal_score: Option<f64>,
    /// How long a `pause` waits for a person (1h).
    pub pause_timeout: Option<String>,
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
    "judge_mode",
    "compare_latency",
    "allowed_latency_increase",
    "latency_critical",
    "pass_score",
    "marginal_score",
    "pause_timeout",
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
                        "judge_mode" => out.judge_mode = Some(m.next_value()?),
                        "compare_latency" => out.compare_latency = Some(m.next_value()?),
                        "allowed_latency_increase" => {
                            out.allowed_latency_increase = Some(m.next_value()?)
                        }
                        "latency_critical" => out.latency_critical = Some(m.next_value()?),
                        "pass_score" => out.pass_score = Some(m.next_value()?),
                        "marginal_score" => out.marginal_score = Some(m.next_value()?),
                        "pause_timeout" => out.pause_timeout = Some(m.next_value()?),
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
    /// The sequential judge's policy: the defaults with every judge key applied; `None` with
    /// `sequential = false` (a judge key beside it is refused). Whether a plan keeps it depends on its
    /// strategy ([`GatesSection::judges`]).
    fn judge(&self) -> Result<Option<bluegreen_core::gate::SequentialPolicy>, SettingsError> {
        if self.sequential == Some(false) {
            let set = self.judge_keys_set();
            if let Some(first) = set.first() {
                return Err(SettingsError::new(format!(
                    "gates.{first} sets the sequential judge, which gates.sequential = false turns off"
                )));
            }
            return Ok(None);
        }
        let mut s = bluegreen_core::gate::SequentialPolicy::default();
        let fraction = |key: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(SettingsError::new(format!(
                    "gates.{key} {v}: a fraction of 0 or more (0.2: up to 1.2 × stable)"
                )))
            }
        };
        if let Some(v) = self.allowed_increase {
            s.allowed_increase = fraction("allowed_increase", v)?;
        }
        if let Some(v) = self.alpha {
            if !(v > 0.0 && v <= 0.5) {
                return Err(SettingsError::new(format!(
                    "gates.alpha {v}: a probability above 0 and at most 0.5 (0.01: 1 %)"
                )));
            }
            s.alpha = v;
        }
        if let Some(m) = self.judge_mode {
            s.mode = m;
        }
        if let Some(l) = s.latency.as_mut() {
            if let Some(v) = self.allowed_latency_increase {
                l.allowed_increase = fraction("allowed_latency_increase", v)?;
            }
            if let Some(v) = self.latency_critical {
                l.critical = v;
            }
        }
        if self.compare_latency == Some(false) {
            if let Some(k) = self
                .judge_keys_set()
                .into_iter()
                .find(|k| matches!(*k, "allowed_latency_increase" | "latency_critical"))
            {
                return Err(SettingsError::new(format!(
                    "gates.{k} sets the judge's latency comparison, which gates.compare_latency = false turns off"
                )));
            }
            s.latency = None;
        }
        let score = |key: &str, v: f64| {
            if (0.0..=100.0).contains(&v) {
                Ok(v)
            } else {
                Err(SettingsError::new(format!(
                    "gates.{key} {v}: a score from 0 to 100"
                )))
            }
        };
        if let Some(v) = self.pass_score {
            s.pass_score = score("pass_score", v)?;
        }
        if let Some(v) = self.marginal_score {
            s.marginal_score = score("marginal_score", v)?;
        }
        if s.marginal_score > s.pass_score {
            return Err(SettingsError::new(format!(
                "gates.marginal_score {}: above gates.pass_score {} (marginal is the band below the pass score)",
                s.marginal_score, s.pass_score
            )));
        }
        if let Some(v) = &self.pause_timeout {
            s.pause_timeout = duration("gates.pause_timeout", v)?;
        }
        Ok(Some(s))
    }

    /// The keys that set the sequential judge (refused with `sequential = false`) that this section sets,
    /// in the order of [`POLICY_KEYS`].
    fn judge_keys_set(&self) -> Vec<&'static str> {
        [
            ("allowed_increase", self.allowed_increase.is_some()),
            ("alpha", self.alpha.is_some()),
            ("judge_mode", self.judge_mode.is_some()),
            ("compare_latency", self.compare_latency.is_some()),
            (
                "allowed_latency_increase",
                self.allowed_latency_increase.is_some(),
            ),
            ("latency_critical", self.latency_critical.is_some()),
            ("pass_score", self.pass_score.is_some()),
            ("marginal_score", self.marginal_score.is_some()),
            ("pause_timeout", self.pause_timeout.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }

    /// Whether a plan of `schedule` keeps the judge: `sequential = true`, or unset and the schedule splits
    /// traffic between both colors.
    pub fn judges(&self, schedule: &bluegreen_core::Schedule) -> bool {
        self.sequential.unwrap_or_else(|| schedule.shares_traffic())
    }

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
        p.sequential = self.judge()?;
        // `mode = "observe"` observes the judge too, unless its own mode is set.
        if let (Some(judge), Some(GateMode::Observe), None) =
            (p.sequential.as_mut(), self.mode, self.judge_mode)
        {
            judge.mode = bluegreen_core::gate::JudgeMode::Observe;
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
