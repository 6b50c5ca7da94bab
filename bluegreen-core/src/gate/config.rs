use super::checks::{Alarms, Check, ErrorRate, HealthyHosts, LatencyAvg, LatencyP99};
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
    /// No data is inconclusive; too many inconclusive minutes roll back.
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

/// How many bad verdicts a bake tolerates. Each count is per bake step; reaching a limit rolls back. A
/// verdict is one poll for the checks of the current state (target health, alarms) and one CloudWatch
/// minute for the checks on metrics (5xx rate, latency): a minute is counted once, when it is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Failed verdicts in one bake that roll back (1: the first failure rolls back).
    pub failures: u32,
    /// Consecutive failed verdicts that roll back.
    pub consecutive_failures: u32,
    /// Inconclusive minutes in one bake that roll back (published minutes with too few requests, or minutes
    /// never published). A minute not yet published is awaited, never counted.
    pub inconclusive: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            failures: 1,
            consecutive_failures: 1,
            inconclusive: 3,
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
    /// The length of the metrics window behind each minute's verdict, in whole minutes (rounded up): 1 judges
    /// each minute alone; 5 judges each minute together with the four before it (never reaching before the
    /// split changed), for applications with few requests. `None`: one minute.
    #[serde(with = "humantime_serde", default)]
    pub window: Option<Duration>,
    /// Fewest requests to the new color in a window before its rates and latencies are judged.
    pub min_requests: u64,
    /// When to roll back.
    pub limits: Limits,
    /// How far one bake may run past its planned end: while it waits for CloudWatch to publish the minutes
    /// it must judge, and for `extend-bake` verdicts. Past it, a bake short of judged minutes rolls back.
    #[serde(with = "humantime_serde")]
    pub max_extension: Duration,
    /// Complete minutes after the split changed that a bake must judge (and pass) before it can end. A
    /// minute judged with no data passes only under the `pass` no-data policy. 0 lets a bake end on time
    /// with no metric evidence at all.
    #[serde(default = "default_min_minutes")]
    pub min_minutes: u32,
    /// How long after a minute closes CloudWatch may still publish it. A minute absent for longer is judged
    /// as no data; until then it is awaited, never counted against the release.
    #[serde(with = "humantime_serde", default = "default_publication_timeout")]
    pub publication_timeout: Duration,
    /// The sequential comparison of the new color's 5xx rate with the stable color's
    /// ([`super::SequentialRate`]), judged on each bake's minutes: a conclusive regression rolls back (gate
    /// `5xx-sequential`), and conclusive evidence of no material regression ends the bake early, once it has
    /// judged its `min_minutes`. `None`: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<super::SequentialPolicy>,
}

/// The delay with which CloudWatch usually publishes a load balancer's minute after it closes: what
/// [`Plan::timing_warnings`](crate::Plan::timing_warnings) assumes before anything was observed.
pub const TYPICAL_PUBLICATION_DELAY: Duration = Duration::from_secs(90);

/// The default fewest errors in a window that make an error-rate breach (`5xx-rate`, `elb-5xx-rate`): two
/// or three chance errors in a small window do not roll a healthy release back.
pub const DEFAULT_MIN_ERRORS: u64 = 5;

/// The default [`GatePolicy::min_minutes`]: one complete post-change minute per bake.
pub const DEFAULT_MIN_MINUTES: u32 = 1;

/// The default [`GatePolicy::publication_timeout`]: 5 minutes, above the one to three minutes that load
/// balancer metrics usually take.
pub const DEFAULT_PUBLICATION_TIMEOUT: Duration = Duration::from_secs(300);

fn default_min_minutes() -> u32 {
    DEFAULT_MIN_MINUTES
}

fn default_publication_timeout() -> Duration {
    DEFAULT_PUBLICATION_TIMEOUT
}

/// The default metrics window: 60 s, CloudWatch's resolution for load balancer metrics: each published
/// minute is judged on its own.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// The default poll interval: 10 s. Every poll checks target health and alarms, and judges any minute that
/// CloudWatch has published since the last.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);

impl Default for GatePolicy {
    /// The defaults: at least one healthy target and none unhealthy before each step; during bakes, 5xx rate
    /// ≤ 5 % and ≤ 2 × stable + 1 % (a breach needs at least 5 errors), average latency ≤ 1 s and
    /// ≤ 2 × stable + 100 ms, p99 ≤ 5 s (the seed's alarm threshold), each judged per published minute with
    /// at least 50 requests to the new color; at least one healthy target on every 10 s poll; each bake
    /// judges at least one complete post-change minute, waiting up to 5 minutes past its end for
    /// CloudWatch; 3 inconclusive minutes roll back. Decision record 006 says why.
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
                    check: Check::ErrorRate(ErrorRate {
                        max: 0.05,
                        relative: Some(Relative {
                            factor: 2.0,
                            epsilon: 0.01,
                        }),
                        min_errors: DEFAULT_MIN_ERRORS,
                    }),
                },
                BakeGate {
                    name: "latency-avg".into(),
                    mode: GateMode::Enforce,
                    no_data: NoDataPolicy::Inconclusive,
                    check: Check::LatencyAvg(LatencyAvg {
                        max: Duration::from_secs(1),
                        relative: Some(Relative {
                            factor: 2.0,
                            epsilon: 0.1,
                        }),
                    }),
                },
                BakeGate {
                    name: "latency-p99".into(),
                    mode: GateMode::Enforce,
                    no_data: NoDataPolicy::Pass,
                    check: Check::LatencyP99(LatencyP99 {
                        max: Duration::from_secs(5),
                        relative: None,
                    }),
                },
                BakeGate {
                    name: "healthy-hosts".into(),
                    mode: GateMode::Enforce,
                    no_data: NoDataPolicy::Inconclusive,
                    check: Check::HealthyHosts(HealthyHosts { min: 1 }),
                },
            ],
            interval: DEFAULT_POLL_INTERVAL,
            window: Some(DEFAULT_WINDOW),
            min_requests: 50,
            limits: Limits::default(),
            max_extension: Duration::from_secs(300),
            min_minutes: DEFAULT_MIN_MINUTES,
            publication_timeout: DEFAULT_PUBLICATION_TIMEOUT,
            sequential: None,
        }
    }
}

impl GatePolicy {
    /// Every alarm the gates watch (the pre-step gate's and the bake's), each once, in order: what must
    /// exist before a deployment starts.
    pub fn alarms(&self) -> Vec<String> {
        let bake = self.bake.iter().filter_map(|g| match &g.check {
            Check::Alarms(a) => Some(a.names.iter()),
            _ => None,
        });
        let mut all: Vec<String> = Vec::new();
        for name in self.pre_step.alarms.iter().chain(bake.flatten()) {
            if !all.contains(name) {
                all.push(name.clone());
            }
        }
        all
    }

    /// Every alarm name the bake gates need, without duplicates, in first-seen order.
    pub fn bake_alarm_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for gate in &self.bake {
            if let Check::Alarms(a) = &gate.check {
                for name in &a.names {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            }
        }
        names
    }

    /// The metrics window length: [`GatePolicy::window`] rounded up to whole minutes, at least one.
    pub fn window_length(&self) -> Duration {
        let secs = self.window.unwrap_or(DEFAULT_WINDOW).as_secs();
        Duration::from_secs(secs.div_ceil(60).max(1) * 60)
    }

    /// The earliest a bake that starts right after a split change can have judged its
    /// [`min_minutes`](Self::min_minutes) at a publication delay of `delay`: up to a minute until the
    /// first whole minute starts, the minutes themselves, then the delay.
    pub fn time_to_judge(&self, delay: Duration) -> Duration {
        if self.min_minutes == 0 {
            return Duration::ZERO;
        }
        DEFAULT_WINDOW * (self.min_minutes + 1) + delay
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
            check: Check::Alarms(Alarms {
                names: names.to_vec(),
            }),
        });
        self
    }
}
