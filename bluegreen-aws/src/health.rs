//! Target health, CloudWatch metrics and alarms as a [`HealthSource`].

use crate::error::map_sdk;
use crate::resolved::Resolved;
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue,
};
use aws_smithy_types::DateTime;
use bluegreen_core::{
    AlarmState, AlarmStatus, Color, HealthSource, MetricSeries, Metrics, MinuteMetrics, PerColor,
    ProviderError, TargetHealth, Timestamp, Window,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const NAMESPACE: &str = "AWS/ApplicationELB";

/// A query id for a series of a color (`green_requests`), and back: the series themselves, their metric
/// names and statistics are the core's one list ([`MetricSeries::ALL`]).
fn query_id(series: MetricSeries, color: Color) -> String {
    format!("{}_{}", color.as_str(), series.name())
}

/// The series and color of a query id made by [`query_id`].
fn parse_query_id(id: &str) -> Option<(MetricSeries, Color)> {
    let (color, name) = id.split_once('_')?;
    let color = Color::ALL.into_iter().find(|c| c.as_str() == color)?;
    let series = MetricSeries::ALL
        .iter()
        .copied()
        .find(|s| s.name() == name)?;
    Some((series, color))
}

/// Target health from ELBv2, metrics from one `GetMetricData` call per poll for both colors (whole minutes,
/// `Period = 60`, one bucket per minute), alarm states from `DescribeAlarms`. A metric with no datapoint is
/// no data, never zero.
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
        self.queries_with(period, self.p99)
    }

    fn queries_with(&self, period: i32, p99: bool) -> Vec<MetricDataQuery> {
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
            for &series in MetricSeries::ALL {
                if series == MetricSeries::LatencyP99 && !p99 {
                    continue;
                }
                let (name, stat) = (series.metric(), series.statistic());
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
                        .id(query_id(series, color))
                        .metric_stat(stat)
                        .return_data(true)
                        .build(),
                );
            }
        }
        queries
    }
}

/// An endpoint that refuses the extended statistic `p99` (the local emulator answers with an opaque
/// `Unknown` error) gets a message saying so and what to do.
fn percentile_hint(error: ProviderError) -> ProviderError {
    ProviderError::Invalid {
        message: format!(
            "GetMetricData with the p99 statistic failed ({error}): this endpoint may not support percentile statistics; set p99 = false under [gates] to judge average latency only"
        ),
    }
}

impl CloudWatchHealth {
    /// With p99 asked for, a failed `GetMetricData` is asked again once without it: if that works, the
    /// endpoint refuses the extended statistic (the local emulator answers with an opaque `Unknown`), and
    /// the error says so instead of looking like an outage.
    async fn diagnose(
        &self,
        error: ProviderError,
        from: Timestamp,
        to: Timestamp,
    ) -> ProviderError {
        if !self.p99 {
            return error;
        }
        let plain = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(self.queries_with(60, false)))
            .start_time(to_datetime(from))
            .end_time(to_datetime(to))
            .send()
            .await;
        match plain {
            Ok(_) => percentile_hint(error),
            Err(_) => error,
        }
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

    async fn metrics(&self, window: Window) -> Result<PerColor<Vec<MinuteMetrics>>, ProviderError> {
        if window.from >= window.to {
            return Err(ProviderError::Invalid {
                message: format!(
                    "the window's start {} is not before its end {}",
                    window.from, window.to
                ),
            });
        }
        // Whole minutes, as CloudWatch rounds them anyway and recommends for speed; Period = 60 gives one
        // bucket per minute, stamped at its start.
        let from = window.from.floor_minute();
        let to = window.to.ceil_minute();
        let mut buckets: BTreeMap<(Color, u64), Metrics> = BTreeMap::new();
        let mut pages = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(self.queries(60)))
            .start_time(to_datetime(from))
            .end_time(to_datetime(to))
            .scan_by(ScanBy::TimestampAscending)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    let error = map_sdk("GetMetricData", "AWS/ApplicationELB metrics", e);
                    return Err(self.diagnose(error, from, to).await);
                }
            };
            for r in page.metric_data_results() {
                let Some((series, color)) = r.id().and_then(parse_query_id) else {
                    continue;
                };
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    let millis = t.to_millis().unwrap_or(0).max(0) as u64;
                    let minute = Timestamp::from_millis(millis).floor_minute().as_millis();
                    let m = buckets.entry((color, minute)).or_default();
                    series.apply(m, *v);
                }
            }
        }
        let mut out: PerColor<Vec<MinuteMetrics>> = PerColor::default();
        for ((color, minute), metrics) in buckets {
            if !metrics.is_empty() {
                out.get_mut(color).push(MinuteMetrics {
                    start: Timestamp::from_millis(minute),
                    metrics,
                });
            }
        }
        Ok(out)
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
