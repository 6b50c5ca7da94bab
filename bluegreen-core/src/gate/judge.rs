use super::checks::Context;
use super::{BakeGate, GateMode, GateReport, NoDataPolicy, PreStepGate, Relative, Unit, Verdict};
use crate::{AlarmState, AlarmStatus, Color, Metrics, PerColor, TargetHealth};

/// What one poll of a bake saw: both colors' metrics over the same window, and alarm states.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Both colors' metrics.
    pub metrics: PerColor<Metrics>,
    /// States of the alarms the gates name.
    pub alarms: Vec<AlarmStatus>,
}

/// Judges one bake gate against a snapshot. `new` is the color receiving traffic; `min_requests` is the
/// fewest requests to it before rates and latencies are judged.
///
/// ```
/// use bluegreen_core::gate::{judge_bake_gate, BakeGate, Check, ErrorRate, GateMode, NoDataPolicy, Snapshot, Verdict};
/// use bluegreen_core::{Color, Metrics, PerColor};
/// let gate = BakeGate {
///     name: "5xx".into(), mode: GateMode::Enforce, no_data: NoDataPolicy::Fail,
///     check: Check::ErrorRate(ErrorRate { max: 0.01, relative: None, min_errors: 0 }),
/// };
/// let green = Metrics { requests: Some(1000), errors_5xx: Some(50), ..Metrics::default() };
/// let snap = Snapshot { metrics: PerColor { blue: Metrics::default(), green }, alarms: vec![] };
/// let report = judge_bake_gate(&gate, &snap, Color::Green, 20);
/// assert_eq!(report.verdict, Verdict::Fail);
/// assert_eq!(report.value, Some(0.05));
/// ```
pub fn judge_bake_gate(
    gate: &BakeGate,
    snapshot: &Snapshot,
    new: Color,
    min_requests: u64,
) -> GateReport {
    let cx = Context {
        new,
        new_m: snapshot.metrics.get(new),
        stable_m: snapshot.metrics.get(new.other()),
        alarms: &snapshot.alarms,
        min_requests,
    };
    let raw = gate.check.judge(&cx);
    raw.into_report(gate.name.clone(), gate.mode, gate.no_data)
}

/// Judges the pre-step gate for the color about to receive more traffic: one report for healthy targets,
/// one for unhealthy targets, and one for alarms if any are named.
pub fn judge_pre_step(
    gate: &PreStepGate,
    receiving: Color,
    health: TargetHealth,
    alarms: &[AlarmStatus],
) -> Vec<GateReport> {
    let mut reports = vec![
        Raw {
            ok: Some(health.healthy >= gate.min_healthy),
            value: Some(f64::from(health.healthy)),
            stable: None,
            limit: Some(f64::from(gate.min_healthy)),
            unit: Unit::Count,
            detail: if health.healthy >= gate.min_healthy {
                String::new()
            } else {
                format!(
                    "{receiving} has {} healthy targets, fewer than {} ({} unhealthy, {} other)",
                    health.healthy, gate.min_healthy, health.unhealthy, health.other
                )
            },
        }
        .into_report("pre-step-healthy".into(), gate.mode, NoDataPolicy::Fail),
        Raw {
            ok: Some(health.unhealthy == 0),
            value: Some(f64::from(health.unhealthy)),
            stable: None,
            limit: Some(0.0),
            unit: Unit::Count,
            detail: if health.unhealthy == 0 {
                String::new()
            } else {
                format!("{receiving} has {} unhealthy targets", health.unhealthy)
            },
        }
        .into_report("pre-step-unhealthy".into(), gate.mode, NoDataPolicy::Fail),
    ];
    if !gate.alarms.is_empty() {
        reports.push(judge_alarms(&gate.alarms, alarms).into_report(
            "pre-step-alarms".into(),
            gate.mode,
            NoDataPolicy::Pass,
        ));
    }
    reports
}

pub(crate) fn judge_alarms(names: &[String], states: &[AlarmStatus]) -> Raw {
    let state_of = |name: &String| states.iter().find(|a| &a.name == name).map(|a| a.state);
    let firing: Vec<&str> = names
        .iter()
        .filter(|n| state_of(n) == Some(AlarmState::Alarm))
        .map(String::as_str)
        .collect();
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| matches!(state_of(n), None | Some(AlarmState::InsufficientData)))
        .map(String::as_str)
        .collect();
    let value = Some(firing.len() as f64);
    if !firing.is_empty() {
        Raw {
            ok: Some(false),
            value,
            stable: None,
            limit: Some(0.0),
            unit: Unit::Count,
            detail: format!("in ALARM: {}", firing.join(", ")),
        }
    } else if !unknown.is_empty() {
        Raw::no_data(
            Unit::Count,
            Some(0.0),
            format!("insufficient data: {}", unknown.join(", ")),
        )
    } else {
        Raw {
            ok: Some(true),
            value,
            stable: None,
            limit: Some(0.0),
            unit: Unit::Count,
            detail: String::new(),
        }
    }
}

pub(crate) fn compare_max(
    new: Option<f64>,
    stable: Option<f64>,
    max: f64,
    relative: Option<Relative>,
    unit: Unit,
    no_data_detail: impl FnOnce() -> String,
) -> Raw {
    let relative_limit = match (relative, stable) {
        (Some(r), Some(s)) => Some(r.factor * s + r.epsilon),
        _ => None,
    };
    let limit = relative_limit.map_or(max, |r| r.min(max));
    let Some(value) = new else {
        return Raw::no_data(unit, Some(limit), no_data_detail());
    };
    let ok = value <= limit;
    let detail = if ok {
        String::new()
    } else if value > max {
        format!("above the maximum {}", unit.show(max))
    } else {
        format!(
            "above {} × stable + {}",
            relative.map_or(0.0, |r| r.factor),
            unit.show(relative.map_or(0.0, |r| r.epsilon))
        )
    };
    Raw {
        ok: Some(ok),
        value: Some(value),
        stable,
        limit: Some(limit),
        unit,
        detail,
    }
}

/// A verdict before the no-data policy: `ok` is `None` when there was no data.
pub(crate) struct Raw {
    pub ok: Option<bool>,
    pub value: Option<f64>,
    pub stable: Option<f64>,
    pub limit: Option<f64>,
    pub unit: Unit,
    pub detail: String,
}

impl Raw {
    pub(crate) fn no_data(unit: Unit, limit: Option<f64>, detail: String) -> Raw {
        Raw {
            ok: None,
            value: None,
            stable: None,
            limit,
            unit,
            detail,
        }
    }

    fn into_report(self, gate: String, mode: GateMode, no_data: NoDataPolicy) -> GateReport {
        let verdict = match self.ok {
            Some(true) => Verdict::Pass,
            Some(false) => Verdict::Fail,
            None => match no_data {
                NoDataPolicy::Fail => Verdict::Fail,
                NoDataPolicy::Inconclusive => Verdict::Inconclusive,
                NoDataPolicy::ExtendBake => Verdict::Extend,
                NoDataPolicy::Pass => Verdict::Pass,
            },
        };
        GateReport {
            gate,
            mode,
            verdict,
            value: self.value,
            stable: self.stable,
            limit: self.limit,
            unit: self.unit,
            detail: self.detail,
            minute: None,
        }
    }
}
