use crate::{Color, PerColor, ProviderError, Window};
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
    /// Both colors' metrics over `window` (one call, so a provider can fetch them in one request).
    async fn metrics(&self, window: Window) -> Result<PerColor<Metrics>, ProviderError>;
    /// The states of the named alarms, in the order asked. An unknown name is [`ProviderError::NotFound`].
    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, ProviderError>;
}
