//! Target health, CloudWatch metrics and alarms as a [`HealthSource`].

use crate::discovery::Resolved;
use crate::error::map_sdk;
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue,
};
use aws_smithy_types::DateTime;
use bluegreen_core::{
    AlarmState, AlarmStatus, Color, HealthSource, Metrics, PerColor, ProviderError, TargetHealth,
    Window,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const NAMESPACE: &str = "AWS/ApplicationELB";

/// What one metrics query asks for, and how its datapoints combine.
#[derive(Clone, Copy)]
enum Series {
    Requests,
    Errors,
    LatencyAvg,
    LatencyP99,
    Healthy,
    Unhealthy,
}

impl Series {
    const ALL: [Series; 6] = [
        Series::Requests,
        Series::Errors,
        Series::LatencyAvg,
        Series::LatencyP99,
        Series::Healthy,
        Series::Unhealthy,
    ];

    fn metric_and_stat(self) -> (&'static str, &'static str) {
        match self {
            Series::Requests => ("RequestCount", "Sum"),
            Series::Errors => ("HTTPCode_Target_5XX_Count", "Sum"),
            Series::LatencyAvg => ("TargetResponseTime", "Average"),
            Series::LatencyP99 => ("TargetResponseTime", "p99"),
            Series::Healthy => ("HealthyHostCount", "Minimum"),
            Series::Unhealthy => ("UnHealthyHostCount", "Maximum"),
        }
    }

    fn id(self, color: Color) -> String {
        let s = match self {
            Series::Requests => "requests",
            Series::Errors => "errors",
            Series::LatencyAvg => "latency_avg",
            Series::LatencyP99 => "latency_p99",
            Series::Healthy => "healthy",
            Series::Unhealthy => "unhealthy",
        };
        format!("{}_{s}", color.as_str())
    }
}

/// Target health from ELBv2, metrics from one `GetMetricData` call per window for both colors, alarm states
/// from `DescribeAlarms`. A metric with no datapoint is no data, never zero.
pub struct CloudWatchHealth {
    elb: aws_sdk_elasticloadbalancingv2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    resolved: Arc<Resolved>,
    p99: bool,
}

impl CloudWatchHealth {
    /// A health source for `resolved`'s target groups. `p99` asks CloudWatch for the p99 response time too.
    pub fn new(
        elb: aws_sdk_elasticloadbalancingv2::Client,
        cloudwatch: aws_sdk_cloudwatch::Client,
        resolved: Arc<Resolved>,
        p99: bool,
    ) -> Self {
        CloudWatchHealth {
            elb,
            cloudwatch,
            resolved,
            p99,
        }
    }

    fn queries(&self, period: i32) -> Vec<MetricDataQuery> {
        let lb = Dimension::builder()
            .name("LoadBalancer")
            .value(self.resolved.load_balancer_dimension())
            .build();
        let mut queries = Vec::new();
        for color in Color::ALL {
            let tg = Dimension::builder()
                .name("TargetGroup")
                .value(self.resolved.target_group_dimension(color))
                .build();
            for series in Series::ALL {
                if matches!(series, Series::LatencyP99) && !self.p99 {
                    continue;
                }
                let (name, stat) = series.metric_and_stat();
                let metric = Metric::builder()
                    .namespace(NAMESPACE)
                    .metric_name(name)
                    .dimensions(tg.clone())
                    .dimensions(lb.clone())
                    .build();
                let stat = MetricStat::builder()
                    .metric(metric)
                    .period(period)
                    .stat(stat)
                    .build();
                queries.push(
                    MetricDataQuery::builder()
                        .id(series.id(color))
                        .metric_stat(stat)
                        .return_data(true)
                        .build(),
                );
            }
        }
        queries
    }
}

fn to_datetime(t: bluegreen_core::Timestamp) -> DateTime {
    DateTime::from_millis(t.as_millis() as i64)
}

#[async_trait]
impl HealthSource for CloudWatchHealth {
    async fn target_health(&self, color: Color) -> Result<TargetHealth, ProviderError> {
        let arn = self.resolved.target_groups.get(color);
        let out = self
            .elb
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| map_sdk("DescribeTargetHealth", arn, e))?;
        let mut h = TargetHealth::default();
        for d in out.target_health_descriptions() {
            match d
                .target_health()
                .and_then(|t| t.state())
                .map(|s| s.as_str())
            {
                Some("healthy") => h.healthy += 1,
                Some("unhealthy") => h.unhealthy += 1,
                _ => h.other += 1,
            }
        }
        Ok(h)
    }

    async fn metrics(&self, window: Window) -> Result<PerColor<Metrics>, ProviderError> {
        if window.from >= window.to {
            return Err(ProviderError::Invalid {
                message: format!(
                    "the window's start {} is not before its end {}",
                    window.from, window.to
                ),
            });
        }
        // CloudWatch works in whole seconds: widen the window to them (never to an empty one).
        let from = window.from.as_millis() / 1000;
        let to = window.to.as_millis().div_ceil(1000).max(from + 1);
        let window = Window {
            from: bluegreen_core::Timestamp::from_millis(from * 1000),
            to: bluegreen_core::Timestamp::from_millis(to * 1000),
        };
        // One period covering the window: standard-resolution metrics need a multiple of 60 s.
        let secs = window.duration().as_secs().max(1);
        let period = (secs.div_ceil(60) * 60) as i32;
        let mut values: HashMap<String, Vec<f64>> = HashMap::new();
        let mut pages = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(self.queries(period)))
            .start_time(to_datetime(window.from))
            .end_time(to_datetime(window.to))
            .scan_by(ScanBy::TimestampAscending)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| map_sdk("GetMetricData", "AWS/ApplicationELB metrics", e))?;
            for r in page.metric_data_results() {
                if let Some(id) = r.id() {
                    values
                        .entry(id.to_string())
                        .or_default()
                        .extend_from_slice(r.values());
                }
            }
        }
        let get = |s: Series, c: Color| values.get(&s.id(c)).filter(|v| !v.is_empty());
        Ok(PerColor::from_fn(|c| {
            let sum = |s| get(s, c).map(|v| v.iter().sum::<f64>());
            let count = |s| sum(s).map(|x| x.round() as u64).filter(|n| *n > 0);
            let mean = |s| get(s, c).map(|v| v.iter().sum::<f64>() / v.len() as f64);
            let max = |s| get(s, c).map(|v| v.iter().cloned().fold(f64::MIN, f64::max));
            let min = |s| get(s, c).map(|v| v.iter().cloned().fold(f64::MAX, f64::min));
            let secs = |x: Option<f64>| {
                x.filter(|v| v.is_finite() && *v >= 0.0)
                    .map(Duration::from_secs_f64)
            };
            Metrics {
                requests: count(Series::Requests),
                errors_5xx: count(Series::Errors),
                latency_avg: secs(mean(Series::LatencyAvg)),
                latency_p99: secs(max(Series::LatencyP99)),
                healthy_hosts: min(Series::Healthy).map(|v| v.max(0.0) as u32),
                unhealthy_hosts: max(Series::Unhealthy).map(|v| v.max(0.0) as u32),
            }
        }))
    }

    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, ProviderError> {
        let mut found: HashMap<String, AlarmState> = HashMap::new();
        // DescribeAlarms takes at most 100 names per call.
        for chunk in names.chunks(100) {
            let mut pages = self
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| map_sdk("DescribeAlarms", &chunk.join(", "), e))?;
                for a in page.metric_alarms() {
                    let state = match a.state_value() {
                        Some(StateValue::Alarm) => AlarmState::Alarm,
                        Some(StateValue::Ok) => AlarmState::Ok,
                        _ => AlarmState::InsufficientData,
                    };
                    if let Some(n) = a.alarm_name() {
                        found.insert(n.to_string(), state);
                    }
                }
            }
        }
        names
            .iter()
            .map(|n| {
                let state = found
                    .get(n)
                    .copied()
                    .ok_or_else(|| ProviderError::NotFound {
                        resource: format!("alarm {n}"),
                    })?;
                Ok(AlarmStatus {
                    name: n.clone(),
                    state,
                })
            })
            .collect()
    }
}
