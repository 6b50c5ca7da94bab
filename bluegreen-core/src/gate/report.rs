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
    /// A ratio of the new color's value to the stable color's (the sequential judge's effects).
    Factor,
}

impl Unit {
    /// A value of this unit as a person reads it: a ratio as a percentage, seconds as milliseconds.
    ///
    /// ```
    /// use bluegreen_core::gate::Unit;
    /// assert_eq!(Unit::Ratio.show(0.0119), "1.19%");
    /// assert_eq!(Unit::Seconds.show(0.081), "81 ms");
    /// assert_eq!(Unit::Count.show(2.0), "2");
    /// assert_eq!(Unit::Factor.show(1.1666), "1.17×");
    /// ```
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Ratio => format!("{:.2}%", v * 100.0),
            Unit::Seconds => format!("{:.0} ms", v * 1000.0),
            Unit::Count => format!("{v}"),
            Unit::Factor => format!("{v:.2}×"),
        }
    }

    /// The unit a person reads this one in, and the factor from it: a ratio in percent, seconds in
    /// milliseconds.
    ///
    /// ```
    /// use bluegreen_core::gate::Unit;
    /// assert_eq!(Unit::Ratio.scale(), ("%", 100.0));
    /// assert_eq!(Unit::Seconds.scale(), ("ms", 1000.0));
    /// ```
    pub fn scale(self) -> (&'static str, f64) {
        match self {
            Unit::Ratio => ("%", 100.0),
            Unit::Seconds => ("ms", 1000.0),
            Unit::Count | Unit::Factor => ("", 1.0),
        }
    }
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
        let show = |v: f64| self.unit.show(v);
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
