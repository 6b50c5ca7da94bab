//! The traffic simulator: requests arrive at a rate, split by the listener's weights over time; each color's
//! errors, latency and target health follow a script.

use bluegreen_core::{Color, MINUTE, Metrics, MinuteMetrics, PerColor, Timestamp, Window};
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
    /// Share of requests whose connection to a target fails (the load balancer answers them with a 502 or
    /// 504 itself: `TargetConnectionErrorCount`), 0.0–1.0.
    #[serde(default)]
    pub refused_rate: f64,
}

impl Default for Behavior {
    /// A healthy service: 0.1 % errors, 80 ms average, 250 ms p99.
    fn default() -> Self {
        Behavior {
            error_rate: 0.001,
            latency_avg: Duration::from_millis(80),
            latency_p99: Duration::from_millis(250),
            unhealthy_targets: 0,
            refused_rate: 0.0,
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
    /// Set the share of requests whose connection to a target fails.
    RefusedRate(f64),
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
                Change::RefusedRate(r) => b.refused_rate = r,
            }
        }
        b
    }
}

/// How the world's CloudWatch publishes load balancer metrics.
///
/// AWS publishes one bucket per minute, stamped at the minute's start, some time after the minute closes,
/// omits zero counts, and may revise the newest minute as late data lands. [`Publication::Realistic`] (the
/// default) models all of that; [`Publication::Instant`] publishes each minute the moment it closes and
/// never revises it — for tests that say why they need it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Publication {
    /// Each minute visible as soon as it closes, complete.
    Instant,
    /// Each minute visible after a delay drawn for it from the world's seed.
    Realistic(PublicationDelay),
}

impl Default for Publication {
    fn default() -> Self {
        Publication::Realistic(PublicationDelay::default())
    }
}

/// The distribution of a minute's publication delay (from the minute's end) and of late revisions.
///
/// A minute's delay is `base + U(0, jitter)`, plus `U(0, tail)` with probability `tail_probability`. With
/// probability `revision_probability` a minute first appears with only 50–90 % of its counts, and complete
/// one minute later.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PublicationDelay {
    /// The shortest delay.
    #[serde(with = "humantime_serde")]
    pub base: Duration,
    /// Uniform jitter added to every minute's delay.
    #[serde(with = "humantime_serde")]
    pub jitter: Duration,
    /// Chance that a minute is late beyond the jitter.
    pub tail_probability: f64,
    /// Largest extra lateness of a late minute.
    #[serde(with = "humantime_serde")]
    pub tail: Duration,
    /// Chance that a minute is first published incomplete and revised a minute later.
    pub revision_probability: f64,
}

impl Default for PublicationDelay {
    /// 60–120 s after the minute closes (90 s on average); one minute in ten up to 150 s later still
    /// (at most 4.5 min); one in ten first published incomplete.
    fn default() -> Self {
        PublicationDelay {
            base: Duration::from_secs(60),
            jitter: Duration::from_secs(60),
            tail_probability: 0.1,
            tail: Duration::from_secs(150),
            revision_probability: 0.1,
        }
    }
}

impl PublicationDelay {
    /// The delay of the minute starting at `minute`, and the share of its counts first published (1.0 if
    /// it is not revised), deterministic for `seed`.
    pub fn draw(&self, seed: u64, minute: Timestamp) -> (Duration, f64) {
        let mut rng = SmallRng::seed_from_u64(
            seed.rotate_left(17)
                ^ (minute.as_millis() / 60_000).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let mut delay = self.base + self.jitter.mul_f64(rng.random::<f64>());
        if rng.random::<f64>() < self.tail_probability {
            delay += self.tail.mul_f64(rng.random::<f64>());
        }
        let share = if rng.random::<f64>() < self.revision_probability {
            0.5 + 0.4 * rng.random::<f64>()
        } else {
            1.0
        };
        (delay, share)
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
    /// How metrics become visible.
    #[serde(default)]
    pub publication: Publication,
    /// Whether `TargetResponseTime` p99 is asked for (an extended statistic, only when asked).
    #[serde(default)]
    pub p99: bool,
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

    /// Both colors' published minute buckets within `window` (rounded out to whole minutes) as CloudWatch
    /// answers at `now`: only minutes that closed and whose publication delay passed, zero counts left out,
    /// p99 only if asked, host counts every minute (the load balancer reports them with or without traffic).
    pub fn published(
        &self,
        window: Window,
        now: Timestamp,
        start: Timestamp,
        healthy: impl Fn(Color, Timestamp) -> (u32, u32),
    ) -> PerColor<Vec<MinuteMetrics>> {
        let mut out: PerColor<Vec<MinuteMetrics>> = PerColor::default();
        let mut minute = window.from.floor_minute();
        let end = window.to.ceil_minute();
        while minute < end {
            let closed = minute + MINUTE;
            let (delay, share) = match self.publication {
                Publication::Instant => (Duration::ZERO, 1.0),
                Publication::Realistic(d) => d.draw(self.seed, minute),
            };
            let visible = closed + delay;
            if now < visible {
                minute = closed;
                continue;
            }
            let share = if now < visible + MINUTE { share } else { 1.0 };
            let full = self.metrics(
                Window {
                    from: minute,
                    to: closed,
                },
                start,
                &healthy,
            );
            for c in Color::ALL {
                let mut m = *full.get(c);
                if share < 1.0 {
                    let part = |n: Option<u64>| {
                        n.map(|n| (n as f64 * share).floor() as u64)
                            .filter(|n| *n > 0)
                    };
                    m.requests = part(m.requests);
                    m.errors_5xx = part(m.errors_5xx);
                    m.connection_errors = part(m.connection_errors);
                    if m.requests.is_none() {
                        m.latency_avg = None;
                        m.latency_p99 = None;
                    }
                }
                if !self.p99 {
                    m.latency_p99 = None;
                }
                out.get_mut(c).push(MinuteMetrics {
                    start: minute,
                    metrics: m,
                });
            }
            minute = closed;
        }
        out
    }

    /// Both colors' metrics over `window`, one-second buckets, deterministic for the seed. Like CloudWatch,
    /// a metric with no datapoint is absent: no requests means no request count; no 5xx means no 5xx count.
    pub fn metrics(
        &self,
        window: Window,
        start: Timestamp,
        healthy: &impl Fn(Color, Timestamp) -> (u32, u32),
    ) -> PerColor<Metrics> {
        PerColor::from_fn(|color| {
            let script = self.scripts.get(color);
            let (mut requests, mut errors, mut refused) = (0u64, 0u64, 0u64);
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
                    // Drawn only when the color refuses connections, so that every other world's traffic
                    // (and every recorded timeline) stays the same for its seed.
                    if b.refused_rate > 0.0 {
                        refused += (((n as f64) * b.refused_rate + rng.random::<f64>()).floor()
                            as u64)
                            .min(n);
                    }
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
                connection_errors: (refused > 0).then_some(refused),
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
