//! The traffic simulator: requests arrive at a rate, split by the listener's weights over time; each color's
//! errors, latency and target health follow a script.

use bluegreen_core::{Color, Metrics, PerColor, Timestamp, Window};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a color behaves at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Behavior {
    /// Share of requests that get a 5xx, 0.0–1.0.
    pub error_rate: f64,
    /// Mean response time.
    pub latency_avg: Duration,
    /// 99th percentile response time.
    pub latency_p99: Duration,
    /// How many of the color's otherwise healthy targets fail their health checks.
    pub unhealthy_targets: u32,
}

impl Default for Behavior {
    /// A healthy service: 0.1 % errors, 80 ms average, 250 ms p99.
    fn default() -> Self {
        Behavior {
            error_rate: 0.001,
            latency_avg: Duration::from_millis(80),
            latency_p99: Duration::from_millis(250),
            unhealthy_targets: 0,
        }
    }
}

/// One change of behavior in a [`Script`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Set the 5xx rate.
    ErrorRate(f64),
    /// Set the average latency.
    LatencyAvg(Duration),
    /// Set the p99 latency.
    LatencyP99(Duration),
    /// Make this many targets fail health checks.
    UnhealthyTargets(u32),
}

/// A color's behavior over time: a baseline and changes at offsets from the world's start.
///
/// ```
/// use bluegreen_testkit::{Change, Script};
/// use std::time::Duration;
/// // "green returns 5xx for 20 % of requests from minute 4"
/// let script = Script::default().at(Duration::from_secs(240), Change::ErrorRate(0.2));
/// assert_eq!(script.behavior_at(Duration::from_secs(300)).error_rate, 0.2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Script {
    /// The behavior before any change.
    pub baseline: Behavior,
    /// Changes, applied in order of their offsets.
    pub changes: Vec<(Duration, Change)>,
}

impl Script {
    /// Adds a change at `offset` from the world's start.
    pub fn at(mut self, offset: Duration, change: Change) -> Self {
        self.changes.push((offset, change));
        self.changes.sort_by_key(|(t, _)| *t);
        self
    }

    /// The behavior at `offset` from the world's start.
    pub fn behavior_at(&self, offset: Duration) -> Behavior {
        let mut b = self.baseline;
        for (t, change) in &self.changes {
            if *t > offset {
                break;
            }
            match *change {
                Change::ErrorRate(r) => b.error_rate = r,
                Change::LatencyAvg(d) => b.latency_avg = d,
                Change::LatencyP99(d) => b.latency_p99 = d,
                Change::UnhealthyTargets(n) => b.unhealthy_targets = n,
            }
        }
        b
    }
}

/// The traffic model of a world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Traffic {
    pub seed: u64,
    pub rate_per_sec: f64,
    pub scripts: PerColor<Script>,
    /// `(when, blue weight, green weight)`, in time order: the history of the listener's weights.
    pub weights: Vec<(Timestamp, u32, u32)>,
}

impl Traffic {
    fn share_at(&self, t: Timestamp, color: Color) -> f64 {
        let idx = self.weights.partition_point(|(at, _, _)| *at <= t);
        let Some((_, b, g)) = idx.checked_sub(1).map(|i| self.weights[i]) else {
            return 0.0;
        };
        let total = f64::from(b + g);
        if total == 0.0 {
            return 0.0;
        }
        f64::from(if color == Color::Blue { b } else { g }) / total
    }

    /// Both colors' metrics over `window`, one-second buckets, deterministic for the seed. Like CloudWatch,
    /// a metric with no datapoint is absent: no requests means no request count; no 5xx means no 5xx count.
    pub fn metrics(
        &self,
        window: Window,
        start: Timestamp,
        healthy: impl Fn(Color, Timestamp) -> (u32, u32),
    ) -> PerColor<Metrics> {
        PerColor::from_fn(|color| {
            let script = self.scripts.get(color);
            let (mut requests, mut errors) = (0u64, 0u64);
            let (mut lat_sum, mut p99_sum) = (0.0f64, 0.0f64);
            let mut sec = window.from.as_millis() / 1000;
            let end = window.to.as_millis().div_ceil(1000);
            while sec < end {
                let t = Timestamp::from_millis(sec * 1000);
                let share = self.share_at(t, color);
                if share > 0.0 {
                    let mut rng = SmallRng::seed_from_u64(self.seed ^ (sec << 1) ^ color as u64);
                    let n = (self.rate_per_sec * share + rng.random::<f64>()).floor() as u64;
                    let b = script.behavior_at(t.since(start));
                    let e = ((n as f64) * b.error_rate + rng.random::<f64>()).floor() as u64;
                    let jitter = 0.9 + 0.2 * rng.random::<f64>();
                    requests += n;
                    errors += e.min(n);
                    lat_sum += n as f64 * b.latency_avg.as_secs_f64() * jitter;
                    p99_sum += n as f64 * b.latency_p99.as_secs_f64() * jitter;
                }
                sec += 1;
            }
            let (h_from, u_from) = healthy(color, window.from);
            let last = Timestamp::from_millis(
                window
                    .to
                    .as_millis()
                    .saturating_sub(1)
                    .max(window.from.as_millis()),
            );
            let (h_to, u_to) = healthy(color, last);
            Metrics {
                requests: (requests > 0).then_some(requests),
                errors_5xx: (errors > 0).then_some(errors),
                latency_avg: (requests > 0)
                    .then(|| Duration::from_secs_f64(lat_sum / requests as f64)),
                latency_p99: (requests > 0)
                    .then(|| Duration::from_secs_f64(p99_sum / requests as f64)),
                healthy_hosts: Some(h_from.min(h_to)),
                unhealthy_hosts: Some(u_from.max(u_to)),
            }
        })
    }
}
