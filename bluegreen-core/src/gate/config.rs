use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Whether a gate's failure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateMode {
    /// A failure counts towards the limits and can roll back.
    #[default]
    Enforce,
    /// The verdict is recorded and reported, and never rolls back.
    Observe,
}

/// What a gate says when it has no data (no requests, too few requests, a missing datapoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoDataPolicy {
    /// No data is a failure.
    Fail,
    /// No data is inconclusive; too many inconclusive polls roll back.
    #[default]
    Inconclusive,
    /// No data extends the bake by one poll interval, up to [`GatePolicy::max_extension`].
    ExtendBake,
    /// No data passes.
    Pass,
}

/// A comparison with the stable color in the same window: the new color's value must be at most
/// `factor × stable + epsilon` (epsilon in the gate's unit: a ratio for error rates, seconds for latency).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Relative {
    /// Multiplier of the stable color's value.
    pub factor: f64,
    /// Allowance added on top.
    pub epsilon: f64,
}

/// What a bake gate checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum Check {
    /// The new color's 5xx rate (0.0–1.0) at most `max`, and relative to stable if set. A rate above the limit
    /// counts as a breach only with at least `min_errors` errors in the window, so that two or three chance
    /// errors in a small window do not roll a healthy release back.
    ErrorRate {
        /// Highest rate allowed, e.g. 0.01 for 1 %.
        max: f64,
        /// Comparison with the stable color.
        #[serde(default)]
        relative: Option<Relative>,
        /// Fewest errors that make a breach (0: any).
        #[serde(default)]
        min_errors: u64,
    },
    /// The new color's average response time at most `max`, and relative to stable if set.
    LatencyAvg {
        /// Highest average allowed.
        #[serde(with = "humantime_serde")]
        max: Duration,
        /// Comparison with the stable color.
        #[serde(default)]
        relative: Option<Relative>,
    },
    /// The new color's p99 response time at most `max`, and relative to stable if set.
    LatencyP99 {
        /// Highest p99 allowed.
        #[serde(with = "humantime_serde")]
        max: Duration,
        /// Comparison with the stable color.
        #[serde(default)]
        relative: Option<Relative>,
    },
    /// The new color keeps at least `min` healthy hosts throughout the window.
    HealthyHosts {
        /// Fewest healthy hosts allowed.
        min: u32,
    },
    /// None of the named alarms is in `ALARM`. `INSUFFICIENT_DATA` is no data.
    Alarms {
        /// Alarm names.
        names: Vec<String>,
    },
}

/// A gate judged on every poll of a bake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BakeGate {
    /// A name for reports, e.g. `5xx-rate`.
    pub name: String,
    /// Enforce or observe.
    #[serde(default)]
    pub mode: GateMode,
    /// What no data means.
    #[serde(default)]
    pub no_data: NoDataPolicy,
    /// What to check.
    #[serde(flatten)]
    pub check: Check,
}

/// The gate judged before every weight increase: the receiving color has at least `min_healthy` healthy
/// targets and none unhealthy, and no named alarm is in `ALARM` (R7). A failed pre-step gate moves no weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreStepGate {
    /// Enforce or observe.
    #[serde(default)]
    pub mode: GateMode,
    /// Fewest healthy targets.
    pub min_healthy: u32,
    /// Alarms that must not be in `ALARM`.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// How long to keep re-checking (every poll interval) before the gate fails; zero checks once.
    #[serde(with = "humantime_serde", default)]
    pub wait: Duration,
}

/// How many bad polls a bake tolerates. Each count is per bake step; reaching a limit rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Failed polls in one bake that roll back (1: the first failure rolls back).
    pub failures: u32,
    /// Consecutive failed polls that roll back.
    pub consecutive_failures: u32,
    /// Inconclusive polls in one bake that roll back.
    pub inconclusive: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            failures: 1,
            consecutive_failures: 1,
            inconclusive: 6,
        }
    }
}

/// Every gate of a deployment and how they are polled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatePolicy {
    /// Checked before every weight increase.
    pub pre_step: PreStepGate,
    /// Checked on every poll of every bake.
    pub bake: Vec<BakeGate>,
    /// Time between polls of a bake.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// The length of the metrics window judged on each poll (it never starts before the split changed).
    /// `None`: the poll interval.
    #[serde(with = "humantime_serde", default)]
    pub window: Option<Duration>,
    /// Fewest requests to the new color in a window before its rates and latencies are judged.
    pub min_requests: u64,
    /// When to roll back.
    pub limits: Limits,
    /// How far `extend-bake` may lengthen one bake in total.
    #[serde(with = "humantime_serde")]
    pub max_extension: Duration,
}

/// The default metrics window: 60 s, CloudWatch's resolution for load balancer metrics. Polls every 10 s
/// judge the last 60 s (never reaching back before the split changed).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// The default poll interval: 10 s.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);

impl Default for GatePolicy {
    /// The defaults: at least one healthy target and none unhealthy before each step; during bakes, 5xx rate
    /// ≤ 5 % and ≤ 2 × stable + 1 % (a breach needs at least 5 errors), average latency ≤ 1 s and ≤ 2 × stable + 100 ms, p99 ≤ 5 s (the seed's
    /// alarm threshold), at least one healthy host; polls every 10 s over the last 60 s; at least 50 requests
    /// to the new color per window before rates are judged.
    fn default() -> Self {
        GatePolicy {
            pre_step: PreStepGate {
                mode: GateMode::Enforce,
                min_healthy: 1,
                alarms: Vec::new(),
                wait: Duration::ZERO,
            },
            bake: vec![
                BakeGate {
                    name: "5xx-rate".into(),
                    mode: GateMode::Enforce,
                    no_data: NoDataPolicy::Inconclusive,
                    check: Check::ErrorRate {
                        max: 0.05,
                        relative: Some(Relative {
                            factor: 2.0,
                            epsilon: 0.01,
                        }),
                        min_errors: 5,
                    },
                },
                BakeGate {
                    name: "latency-avg".into(),
                    mode: GateMode::Enforce,
                    no_data: NoDataPolicy::Inconclusive,
                    check: Check::LatencyAvg {
                        max: Duration::from_secs(1),
                        relative: Some(Relative {
                            factor: 2.0,
                            epsilon: 0.1,
                        }),
                    },
                },
                BakeGate {
                    name: "latency-p99".into(),
                    mode: GateMode::Enforce,
                    no_data: NoDataPolicy::Pass,
                    check: Check::LatencyP99 {
                        max: Duration::from_secs(5),
                        relative: None,
                    },
                },
                BakeGate {
                    name: "healthy-hosts".into(),
                    mode: GateMode::Enforce,
                    no_data: NoDataPolicy::Inconclusive,
                    check: Check::HealthyHosts { min: 1 },
                },
            ],
            interval: DEFAULT_POLL_INTERVAL,
            window: Some(DEFAULT_WINDOW),
            min_requests: 50,
            limits: Limits::default(),
            max_extension: Duration::from_secs(300),
        }
    }
}

impl GatePolicy {
    /// Every alarm name the bake gates need, without duplicates, in first-seen order.
    pub fn bake_alarm_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for gate in &self.bake {
            if let Check::Alarms { names: n } = &gate.check {
                for name in n {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            }
        }
        names
    }

    /// The metrics window length: [`GatePolicy::window`] or the poll interval.
    pub fn window_length(&self) -> Duration {
        self.window.unwrap_or(self.interval)
    }

    /// Adds an alarm gate over `names` to the bake gates and the pre-step gate.
    pub fn with_alarms(mut self, names: &[String]) -> Self {
        if names.is_empty() {
            return self;
        }
        self.pre_step.alarms.extend(names.iter().cloned());
        self.bake.push(BakeGate {
            name: "alarms".into(),
            mode: GateMode::Enforce,
            no_data: NoDataPolicy::Pass,
            check: Check::Alarms {
                names: names.to_vec(),
            },
        });
        self
    }
}
