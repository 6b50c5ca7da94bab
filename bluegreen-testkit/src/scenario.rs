//! Named worlds for demos, the CLI's `sim` provider and tests.

use crate::{Change, Script, WorldConfig};
use bluegreen_core::{Color, PerColor};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// When a scenario's trouble starts: minute 4, during the second step of a default gradual deployment.
pub const TROUBLE_AT: Duration = Duration::from_secs(240);

/// A scripted world: the stable color (blue) is healthy; the new color (green) behaves as named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Green behaves like blue.
    Healthy,
    /// Green returns 5xx for 20 % of requests from minute 4.
    Green5xx,
    /// Green's average latency rises to 1.5 s (p99 6 s) from minute 4.
    GreenSlow,
    /// Both of green's targets fail health checks from minute 4.
    GreenUnhealthy,
    /// Green answers 60 % slower than blue (128 ms against 80 ms) from the start: under the latency
    /// thresholds, seen by the sequential judge.
    GreenSlower,
    /// No requests arrive at all.
    NoTraffic,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 6] = [
        Scenario::Healthy,
        Scenario::Green5xx,
        Scenario::GreenSlow,
        Scenario::GreenUnhealthy,
        Scenario::GreenSlower,
        Scenario::NoTraffic,
    ];

    /// The scenario's name, as typed (`green-5xx`).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::Green5xx => "green-5xx",
            Scenario::GreenSlow => "green-slow",
            Scenario::GreenUnhealthy => "green-unhealthy",
            Scenario::GreenSlower => "green-slower",
            Scenario::NoTraffic => "no-traffic",
        }
    }

    /// What happens, in words.
    pub fn description(self) -> &'static str {
        match self {
            Scenario::Healthy => "green behaves like blue",
            Scenario::Green5xx => "green returns 5xx for 20% of requests from minute 4",
            Scenario::GreenSlow => "green's average latency rises to 1.5 s (p99 6 s) from minute 4",
            Scenario::GreenUnhealthy => "green's targets fail health checks from minute 4",
            Scenario::GreenSlower => {
                "green answers 60% slower than blue from the start (under the latency thresholds)"
            }
            Scenario::NoTraffic => "no requests arrive",
        }
    }

    /// Green's script, with the trouble [`TROUBLE_AT`] after `offset` from the world's start.
    pub fn green_script(self, offset: Duration) -> Script {
        let at = offset + TROUBLE_AT;
        match self {
            Scenario::Healthy | Scenario::NoTraffic => Script::default(),
            Scenario::Green5xx => Script::default().at(at, Change::ErrorRate(0.2)),
            Scenario::GreenSlow => Script::default()
                .at(at, Change::LatencyAvg(Duration::from_millis(1500)))
                .at(at, Change::LatencyP99(Duration::from_secs(6))),
            Scenario::GreenUnhealthy => Script::default().at(at, Change::UnhealthyTargets(2)),
            Scenario::GreenSlower => Script::default().at(
                Duration::ZERO,
                Change::LatencyAvg(Duration::from_millis(128)),
            ),
        }
    }

    /// The world: the default [`WorldConfig`] with green scripted as named.
    pub fn world(self, seed: u64) -> WorldConfig {
        let green = self.green_script(Duration::ZERO);
        WorldConfig {
            seed,
            request_rate: if self == Scenario::NoTraffic {
                0.0
            } else {
                200.0
            },
            scripts: PerColor {
                blue: Script::default(),
                green,
            },
            initial_split: bluegreen_core::TrafficSplit::all_to(Color::Blue),
            ..WorldConfig::default()
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A scenario name that is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScenario(pub String);

impl fmt::Display for UnknownScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        write!(
            f,
            "unknown scenario {:?}: expected one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownScenario {}

impl FromStr for Scenario {
    type Err = UnknownScenario;
    fn from_str(s: &str) -> Result<Self, UnknownScenario> {
        Scenario::ALL
            .into_iter()
            .find(|x| x.name() == s.trim())
            .ok_or_else(|| UnknownScenario(s.to_string()))
    }
}
