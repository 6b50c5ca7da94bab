use super::GateMode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A gate's verdict on one poll, after its no-data policy has been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within limits.
    Pass,
    /// Breached.
    Fail,
    /// Could not judge.
    Inconclusive,
    /// Could not judge; the bake is extended.
    Extend,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Extend => "extend",
        })
    }
}

/// The unit of a gate's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// A fraction, 0.0–1.0.
    Ratio,
    /// Seconds.
    Seconds,
    /// A count.
    Count,
}

/// One gate's verdict with the values it measured: what reports and rollback reasons show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// The gate's name (`pre-step-healthy`, `5xx-rate`, ...).
    pub gate: String,
    /// Enforce or observe.
    pub mode: GateMode,
    /// The verdict.
    pub verdict: Verdict,
    /// The new color's value, if there was data.
    pub value: Option<f64>,
    /// The stable color's value in the same window, where compared.
    pub stable: Option<f64>,
    /// The limit applied (a maximum, or a minimum for host counts).
    pub limit: Option<f64>,
    /// The values' unit.
    pub unit: Unit,
    /// Why, in words: the breach, or why there was no data.
    pub detail: String,
    /// For a gate on CloudWatch's minute buckets: the start of the minute judged (the newest minute of the
    /// window). `None` for checks of the current state (target health, alarms) and the pre-step gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<crate::Timestamp>,
}

impl GateReport {
    /// Whether this verdict counts against the limits (an enforced gate that did not pass).
    pub fn is_enforced_failure(&self) -> bool {
        self.mode == GateMode::Enforce && self.verdict == Verdict::Fail
    }
}

impl fmt::Display for GateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: f64| match self.unit {
            Unit::Ratio => format!("{:.2}%", v * 100.0),
            Unit::Seconds => format!("{:.3}s", v),
            Unit::Count => format!("{v}"),
        };
        write!(f, "{} {}", self.gate, self.verdict)?;
        if let Some(m) = self.minute {
            write!(f, " minute={m}")?;
        }
        if let Some(v) = self.value {
            write!(f, " value={}", show(v))?;
        }
        if let Some(s) = self.stable {
            write!(f, " stable={}", show(s))?;
        }
        if let Some(l) = self.limit {
            write!(f, " limit={}", show(l))?;
        }
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        if self.mode == GateMode::Observe {
            f.write_str(" [observe]")?;
        }
        Ok(())
    }
}
