//! `[gates]`: the keys that override the core's default gate policy, and the policy they make.

use super::{SettingsError, duration};
use bluegreen_core::GatePolicy;
use bluegreen_core::gate::{BakeGate, Check, DEFAULT_MIN_ERRORS, GateMode, NoDataPolicy, Relative};
use serde::Deserialize;

/// `[gates]`: each key overrides one default of the gate policy.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The highest share of 5xx responses the new color may have, 0.0 to 1.0.
    pub max_5xx_rate: Option<f64>,
    /// The new color's 5xx share may be at most this times the stable color's (plus the epsilon).
    pub relative_5xx_factor: Option<f64>,
    /// The allowance added to the relative 5xx limit.
    pub relative_5xx_epsilon: Option<f64>,
    /// 5xx responses a minute needs before its 5xx share can fail (the load balancer's too, with
    /// `max_elb_5xx_rate`).
    pub min_errors: Option<u64>,
    /// Turns on the `elb-5xx-rate` gate: the highest share of the new color's requests the load balancer may
    /// answer with a 5xx itself because it could not connect to a target, 0.0 to 1.0 (off by default).
    pub max_elb_5xx_rate: Option<f64>,
    /// The highest average response time, e.g. `500ms`.
    pub max_latency_avg: Option<String>,
    /// The highest p99 response time (needs `[aws] p99 = true`).
    pub max_latency_p99: Option<String>,
    /// Healthy targets the new color keeps during a bake.
    pub min_healthy_hosts: Option<u32>,
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
}

impl GatesSection {
    /// The gate policy: the defaults with every key that is set applied. Without `p99` (the provider does
    /// not fetch the p99 statistic) there is no p99 gate: it could never have data.
    pub fn policy(&self, p99: bool) -> Result<GatePolicy, SettingsError> {
        let mut p = GatePolicy::default();
        if !p99 {
            p.bake
                .retain(|g| !matches!(g.check, Check::LatencyP99 { .. }));
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
        if let Some(v) = self.max_elb_5xx_rate {
            if !(0.0..=1.0).contains(&v) {
                return Err(SettingsError::new(format!(
                    "gates.max_elb_5xx_rate {v}: a rate is between 0.0 and 1.0"
                )));
            }
            let at = p
                .bake
                .iter()
                .position(|g| matches!(g.check, Check::ErrorRate { .. }));
            p.bake.insert(
                at.map_or(0, |i| i + 1),
                BakeGate {
                    name: "elb-5xx-rate".into(),
                    mode: GateMode::Enforce,
                    no_data: NoDataPolicy::Inconclusive,
                    check: Check::ElbErrorRate {
                        max: v,
                        min_errors: DEFAULT_MIN_ERRORS,
                    },
                },
            );
        }
        for g in &mut p.bake {
            match &mut g.check {
                Check::ErrorRate {
                    max,
                    relative,
                    min_errors,
                } => {
                    if let Some(v) = self.max_5xx_rate {
                        if !(0.0..=1.0).contains(&v) {
                            return Err(SettingsError::new(format!(
                                "gates.max_5xx_rate {v}: a rate is between 0.0 and 1.0"
                            )));
                        }
                        *max = v;
                    }
                    if self.relative_5xx_factor.is_some() || self.relative_5xx_epsilon.is_some() {
                        let r = relative.get_or_insert(Relative {
                            factor: 2.0,
                            epsilon: 0.01,
                        });
                        r.factor = self.relative_5xx_factor.unwrap_or(r.factor);
                        r.epsilon = self.relative_5xx_epsilon.unwrap_or(r.epsilon);
                    }
                    if let Some(v) = self.min_errors {
                        *min_errors = v;
                    }
                }
                Check::ElbErrorRate { min_errors, .. } => {
                    if let Some(v) = self.min_errors {
                        *min_errors = v;
                    }
                }
                Check::LatencyAvg { max, .. } => {
                    if let Some(v) = &self.max_latency_avg {
                        *max = duration("gates.max_latency_avg", v)?;
                    }
                }
                Check::LatencyP99 { max, .. } => {
                    if let Some(v) = &self.max_latency_p99 {
                        *max = duration("gates.max_latency_p99", v)?;
                    }
                }
                Check::HealthyHosts { min } => {
                    if let Some(v) = self.min_healthy_hosts {
                        *min = v;
                    }
                }
                Check::Alarms { .. } => {}
            }
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
