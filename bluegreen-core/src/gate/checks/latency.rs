//! `latency-avg` and `latency-p99`: the new color's response time, alone and against the stable color's.

use super::{
    CheckKind, CheckSettingError, CheckSettings, CheckSpec, Context, GateKey, KeyType, Panel,
};
use crate::Metrics;
use crate::gate::judge::{Raw, compare_max};
use crate::gate::{Relative, Unit};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The new color's average response time at most `max`, and relative to stable if set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyAvg {
    /// Highest average allowed.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// Comparison with the stable color.
    #[serde(default)]
    pub relative: Option<Relative>,
}

/// The new color's p99 response time at most `max`, and relative to stable if set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyP99 {
    /// Highest p99 allowed.
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// Comparison with the stable color.
    #[serde(default)]
    pub relative: Option<Relative>,
}

const MAX_AVG: GateKey = GateKey {
    key: "max_latency_avg",
    ty: KeyType::Duration,
    help: "the highest average response time, e.g. 500ms",
};
const MAX_P99: GateKey = GateKey {
    key: "max_latency_p99",
    ty: KeyType::Duration,
    help: "the highest p99 response time (needs [aws] p99 = true)",
};

/// Judges one latency series: `series` picks it from a color's metrics.
fn judge(
    cx: &Context<'_>,
    max: Duration,
    relative: Option<Relative>,
    series: fn(&Metrics) -> Option<Duration>,
    missing: &str,
) -> Raw {
    let pick = |m: &Metrics| {
        if cx.enough(m) {
            series(m).map(|d| d.as_secs_f64())
        } else {
            None
        }
    };
    compare_max(
        pick(cx.new_m),
        pick(cx.stable_m),
        max.as_secs_f64(),
        relative,
        Unit::Seconds,
        || {
            if cx.enough(cx.new_m) {
                missing.into()
            } else {
                cx.too_few()
            }
        },
    )
}

fn describe(key: &GateKey, max: Duration, relative: &Option<Relative>) -> String {
    format!(
        "{} {}{}",
        key.key,
        humantime::format_duration(max),
        super::describe_relative(relative, "s")
    )
}

impl CheckSpec for LatencyAvg {
    const KIND: CheckKind = CheckKind {
        name: "latency-avg",
        summary: "the new color's average response time, alone and against the stable color's",
        per_minute: true,
        unit: Unit::Seconds,
        keys: &[MAX_AVG],
        panel: Some(Panel {
            title: "average latency",
            floor: 50.0,
            always: true,
        }),
    };

    fn judge(&self, cx: &Context<'_>) -> Raw {
        judge(
            cx,
            self.max,
            self.relative,
            |m| m.latency_avg,
            "no latency data",
        )
    }

    fn describe(&self) -> String {
        describe(&MAX_AVG, self.max, &self.relative)
    }

    fn bounds(&self) -> (Option<f64>, Option<Relative>) {
        (Some(self.max.as_secs_f64()), self.relative)
    }

    fn configure(&mut self, keys: &CheckSettings) -> Result<(), CheckSettingError> {
        if let Some(v) = keys.duration(&MAX_AVG)? {
            self.max = v;
        }
        Ok(())
    }
}

impl CheckSpec for LatencyP99 {
    const KIND: CheckKind = CheckKind {
        name: "latency-p99",
        summary: "the new color's p99 response time, alone and against the stable color's",
        per_minute: true,
        unit: Unit::Seconds,
        keys: &[MAX_P99],
        panel: None,
    };

    fn judge(&self, cx: &Context<'_>) -> Raw {
        judge(
            cx,
            self.max,
            self.relative,
            |m| m.latency_p99,
            "no p99 data",
        )
    }

    fn describe(&self) -> String {
        describe(&MAX_P99, self.max, &self.relative)
    }

    fn bounds(&self) -> (Option<f64>, Option<Relative>) {
        (Some(self.max.as_secs_f64()), self.relative)
    }

    fn configure(&mut self, keys: &CheckSettings) -> Result<(), CheckSettingError> {
        if let Some(v) = keys.duration(&MAX_P99)? {
            self.max = v;
        }
        Ok(())
    }
}
