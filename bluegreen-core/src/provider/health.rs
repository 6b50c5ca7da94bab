use crate::{Color, PerColor, ProviderError, Timestamp, Window};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Target health counts of one color's target group (R7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TargetHealth {
    /// Targets in state `healthy`.
    pub healthy: u32,
    /// Targets in state `unhealthy`.
    pub unhealthy: u32,
    /// Targets in any other state (`initial`, `draining`, `unused`, `unavailable`).
    pub other: u32,
}

/// One color's metrics over a window (R6). Every value may be absent: absent means no data, never zero.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Requests served (`RequestCount`, sum).
    pub requests: Option<u64>,
    /// Responses with a 5xx status from targets (`HTTPCode_Target_5XX_Count`, sum).
    pub errors_5xx: Option<u64>,
    /// Connections the load balancer could not establish to the targets (`TargetConnectionErrorCount`,
    /// sum): requests the load balancer itself answered with a 502 or 504 on this color's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_errors: Option<u64>,
    /// Average response time (`TargetResponseTime`, average).
    #[serde(with = "humantime_serde", default)]
    pub latency_avg: Option<Duration>,
    /// 99th percentile response time (`TargetResponseTime`, p99).
    #[serde(with = "humantime_serde", default)]
    pub latency_p99: Option<Duration>,
    /// Fewest healthy hosts seen in the window (`HealthyHostCount`, minimum).
    pub healthy_hosts: Option<u32>,
    /// Most unhealthy hosts seen in the window (`UnHealthyHostCount`, maximum).
    pub unhealthy_hosts: Option<u32>,
}

impl Metrics {
    /// The 5xx rate (errors ÷ requests), if there were requests. No reported errors with requests counts as 0.
    pub fn error_rate(&self) -> Option<f64> {
        match self.requests {
            Some(r) if r > 0 => Some(self.errors_5xx.unwrap_or(0) as f64 / r as f64),
            _ => None,
        }
    }
}

impl Metrics {
    /// Several datapoints (e.g. consecutive minutes) combined as CloudWatch would over their union: counts
    /// add up, the average latency is weighted by requests, p99 and unhealthy hosts take the maximum, healthy
    /// hosts the minimum. A value absent from every part stays absent.
    pub fn combine<'m>(parts: impl IntoIterator<Item = &'m Metrics>) -> Metrics {
        let mut out = Metrics::default();
        let mut weighted = 0.0f64;
        let mut weight = 0u64;
        let mut plain: Vec<f64> = Vec::new();
        for m in parts {
            out.requests = add(out.requests, m.requests);
            out.errors_5xx = add(out.errors_5xx, m.errors_5xx);
            out.connection_errors = add(out.connection_errors, m.connection_errors);
            if let Some(avg) = m.latency_avg {
                match m.requests {
                    Some(r) if r > 0 => {
                        weighted += avg.as_secs_f64() * r as f64;
                        weight += r;
                    }
                    _ => plain.push(avg.as_secs_f64()),
                }
            }
            out.latency_p99 = max_of(out.latency_p99, m.latency_p99);
            out.healthy_hosts = match (out.healthy_hosts, m.healthy_hosts) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            out.unhealthy_hosts = max_of(out.unhealthy_hosts, m.unhealthy_hosts);
        }
        out.latency_avg = if weight > 0 {
            Some(Duration::from_secs_f64(weighted / weight as f64))
        } else if !plain.is_empty() {
            Some(Duration::from_secs_f64(
                plain.iter().sum::<f64>() / plain.len() as f64,
            ))
        } else {
            None
        };
        out
    }

    /// The share of requests the load balancer answered with a 5xx itself because it could not connect to a
    /// target (connection errors ÷ requests), if there were requests. None reported counts as 0.
    pub fn connection_error_rate(&self) -> Option<f64> {
        match self.requests {
            Some(r) if r > 0 => Some(self.connection_errors.unwrap_or(0) as f64 / r as f64),
            _ => None,
        }
    }

    /// Whether any value is present: a minute with none was not published (or had nothing to publish).
    pub fn is_empty(&self) -> bool {
        *self == Metrics::default()
    }
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.saturating_add(y)),
        (x, y) => x.or(y),
    }
}

fn max_of<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Declares [`MetricSeries`] from one list: each CloudWatch series the gates read, its metric and statistic in
/// `AWS/ApplicationELB` (per target group), its short name, and the [`Metrics`] field it fills. A provider
/// asks for every series of this list, a simulated world produces them; a new gate's data is one line here.
macro_rules! metric_series {
    ($($(#[doc = $doc:literal])* $variant:ident => $metric:literal, $stat:literal, $name:literal, $field:ident: $kind:ident;)+) => {
        /// One CloudWatch series a gate reads, per target group.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MetricSeries {
            $($(#[doc = $doc])* $variant,)+
        }

        impl MetricSeries {
            /// Every series, in the order a provider asks for them.
            pub const ALL: &'static [MetricSeries] = &[$(MetricSeries::$variant),+];

            /// The CloudWatch metric name, e.g. `RequestCount`.
            pub const fn metric(self) -> &'static str {
                match self {
                    $(MetricSeries::$variant => $metric,)+
                }
            }

            /// The statistic asked for, e.g. `Sum` or `p99`.
            pub const fn statistic(self) -> &'static str {
                match self {
                    $(MetricSeries::$variant => $stat,)+
                }
            }

            /// A short name (letters, digits and `_`), usable in a query id.
            pub const fn name(self) -> &'static str {
                match self {
                    $(MetricSeries::$variant => $name,)+
                }
            }

            /// Puts one datapoint of this series into a minute's metrics. Zero counts are no datapoint (AWS
            /// omits them; an emulator or a custom publisher may not); a negative or non-finite value is
            /// ignored.
            pub fn apply(self, m: &mut Metrics, v: f64) {
                if !v.is_finite() || v < 0.0 {
                    return;
                }
                match self {
                    $(MetricSeries::$variant => m.$field = series_value!($kind, v),)+
                }
            }
        }
    };
}

macro_rules! series_value {
    (count, $v:expr) => {
        (($v).round() as u64 > 0).then_some(($v).round() as u64)
    };
    (seconds, $v:expr) => {
        Some(Duration::from_secs_f64($v))
    };
    (hosts, $v:expr) => {
        Some($v as u32)
    };
}

metric_series! {
    /// Requests to the target group (`RequestCount`, sum).
    Requests => "RequestCount", "Sum", "requests", requests: count;
    /// 5xx responses from its targets (`HTTPCode_Target_5XX_Count`, sum).
    Errors5xx => "HTTPCode_Target_5XX_Count", "Sum", "errors", errors_5xx: count;
    /// Connections the load balancer could not establish to its targets (`TargetConnectionErrorCount`, sum):
    /// each such request is answered by the load balancer itself with a 502 or 504.
    ConnectionErrors => "TargetConnectionErrorCount", "Sum", "connection_errors", connection_errors: count;
    /// Average response time (`TargetResponseTime`, average).
    LatencyAvg => "TargetResponseTime", "Average", "latency_avg", latency_avg: seconds;
    /// 99th percentile response time (`TargetResponseTime`, p99): asked for only where percentiles are.
    LatencyP99 => "TargetResponseTime", "p99", "latency_p99", latency_p99: seconds;
    /// Fewest healthy hosts (`HealthyHostCount`, minimum).
    Healthy => "HealthyHostCount", "Minimum", "healthy", healthy_hosts: hosts;
    /// Most unhealthy hosts (`UnHealthyHostCount`, maximum).
    Unhealthy => "UnHealthyHostCount", "Maximum", "unhealthy", unhealthy_hosts: hosts;
}

/// One color's CloudWatch datapoints of one minute (a `Period = 60` bucket, stamped at the minute's start).
///
/// CloudWatch publishes a minute only after it closes, one to several minutes late, and omits zero counts:
/// a minute missing from a series was not published (yet), and a minute present without `requests` had none.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MinuteMetrics {
    /// The minute's start (a whole minute since the epoch).
    pub start: Timestamp,
    /// The datapoints of that minute; absent values had no datapoint.
    pub metrics: Metrics,
}

/// The length of a CloudWatch bucket of load balancer metrics.
pub const MINUTE: Duration = Duration::from_secs(60);

/// The state of a CloudWatch alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    /// Within threshold.
    Ok,
    /// Breaching.
    Alarm,
    /// Not enough data to decide.
    InsufficientData,
}

/// A named alarm and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStatus {
    /// The alarm's name.
    pub name: String,
    /// Its state.
    pub state: AlarmState,
}

/// Where health comes from: target health, metrics, alarms (R6, R7).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait HealthSource: Send + Sync {
    /// Target health of `color`'s target group now.
    async fn target_health(&self, color: Color) -> Result<TargetHealth, ProviderError>;
    /// Both colors' published minute buckets that start within `window` (whole minutes: a provider rounds
    /// `from` down and `to` up to the minute, as `GetMetricData` does), oldest first, one call for both
    /// colors. A minute that has no datapoint at all for a color is left out of that color's series.
    async fn metrics(&self, window: Window) -> Result<PerColor<Vec<MinuteMetrics>>, ProviderError>;
    /// The states of the named alarms, in the order asked. An unknown name is [`ProviderError::NotFound`].
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, ProviderError>;
}
