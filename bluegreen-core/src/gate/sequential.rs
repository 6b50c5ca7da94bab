//! A sequential, anytime-valid comparison of the new color's 5xx rate with the stable color's, minute by
//! minute over the same published minutes (issue 23's first piece; not yet a gate).
//!
//! Within one minute, given how many errors both colors had together (`k`), the new color's share of them
//! is binomial: `x ~ Binomial(k, p(ρ))` with `p(ρ) = ρ·n / (ρ·n + m)`, where `n` and `m` are the colors'
//! requests and `ρ` the ratio of their error rates. The stable color is the concurrent control; the
//! minutes' differences in traffic cancel out of the ratio.
//!
//! Two e-processes (likelihood ratios mixed over a grid of alternatives, multiplied over minutes) answer two
//! questions, each at any minute without inflating its error rate (Ville's inequality):
//! - **regression**: against `ρ ≤ ρ₀` (`ρ₀ = 1 + allowed_increase`), mixing `ρ ∈ ρ₀ × {1.25, 1.5, 2, 3, 5, 10}`.
//!   Once it reaches `1/α`, "the new color's rate is more than the allowed increase above the stable one" is
//!   conclusive: the probability of ever getting there when it is not is at most `α`.
//! - **no material regression**: against `ρ ≥ ρ₁` (`ρ₁ = ρ₀ × material`), mixing `ρ ∈ ρ₁ × {0.8, 0.6, 0.4,
//!   0.2, 0.05}`. Once it reaches `1/β`, "the new color is not `material` times worse than allowed" is
//!   conclusive (wrong with probability at most `β`): a bake may end early.
//!
//! Minutes in which neither color had an error carry no information about the ratio and change neither.
//! Decision record 020 says why a mixture likelihood ratio on the conditional binomial.

use super::{GateMode, GateReport, Unit, Verdict};
use serde::{Deserialize, Serialize};

/// The gate name of the sequential comparison's reports.
pub const SEQUENTIAL_GATE: &str = "5xx-sequential";

/// The alternatives of the regression test, as multiples of `ρ₀`.
const ABOVE: [f64; 6] = [1.25, 1.5, 2.0, 3.0, 5.0, 10.0];
/// The alternatives of the no-regression test, as multiples of `ρ₁`.
const BELOW: [f64; 5] = [0.8, 0.6, 0.4, 0.2, 0.05];

/// What the sequential comparison is asked to tell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialPolicy {
    /// How much higher than the stable color's the new color's error rate may be and still pass, as a
    /// fraction (0.2: up to 1.2 ×).
    pub allowed_increase: f64,
    /// The chance of concluding a regression that is not there (a false rollback), under continuous
    /// monitoring.
    pub alpha: f64,
    /// How many times the allowed ratio a regression must reach to be material: "no material regression"
    /// is concluded against `material × (1 + allowed_increase)`.
    pub material: f64,
    /// The chance of concluding "no material regression" when there is one.
    pub beta: f64,
}

impl Default for SequentialPolicy {
    /// Up to 20 % more errors allowed; false rollbacks at most 1 %; "no regression of 2 × the allowed ratio"
    /// concluded wrongly at most 5 %.
    fn default() -> Self {
        SequentialPolicy {
            allowed_increase: 0.2,
            alpha: 0.01,
            material: 2.0,
            beta: 0.05,
        }
    }
}

/// One published minute of both colors: requests and 5xx errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCounts {
    /// The new color's requests.
    pub new_requests: u64,
    /// The new color's 5xx.
    pub new_errors: u64,
    /// The stable color's requests.
    pub stable_requests: u64,
    /// The stable color's 5xx.
    pub stable_errors: u64,
}

/// Where the evidence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SequentialVerdict {
    /// Not yet conclusive either way.
    Undecided,
    /// A regression beyond the allowed increase is conclusive (at level α).
    Regression,
    /// No material regression is conclusive (at level β): a bake may end early.
    NoMaterialRegression,
}

/// The two e-processes over the minutes seen so far. Pure: feed it minutes in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialRate {
    policy: SequentialPolicy,
    /// The running product of each alternative's likelihood ratio, in logs: above, then below.
    log_above: Vec<f64>,
    log_below: Vec<f64>,
    minutes: u32,
    informative: u32,
}

impl SequentialRate {
    /// Nothing seen yet.
    pub fn new(policy: SequentialPolicy) -> Self {
        SequentialRate {
            policy,
            log_above: vec![0.0; ABOVE.len()],
            log_below: vec![0.0; BELOW.len()],
            minutes: 0,
            informative: 0,
        }
    }

    /// The ratio the regression test holds as "no regression" (`ρ₀`).
    pub fn allowed_ratio(&self) -> f64 {
        1.0 + self.policy.allowed_increase.max(0.0)
    }

    /// Adds one published minute. A minute in which either color had no request, or neither had an
    /// error, changes nothing (it says nothing about the ratio).
    pub fn add(&mut self, m: MinuteCounts) {
        self.minutes += 1;
        let k = m.new_errors + m.stable_errors;
        if m.new_requests == 0 || m.stable_requests == 0 || k == 0 {
            return;
        }
        self.informative += 1;
        let (n, s) = (m.new_requests as f64, m.stable_requests as f64);
        let p = |rho: f64| rho * n / (rho * n + s);
        let (x, y) = (m.new_errors as f64, m.stable_errors as f64);
        let log_lr = |alt: f64, null: f64| {
            let (pa, p0) = (p(alt), p(null));
            x * (pa / p0).ln() + y * ((1.0 - pa) / (1.0 - p0)).ln()
        };
        let rho0 = self.allowed_ratio();
        for (l, f) in self.log_above.iter_mut().zip(ABOVE) {
            *l += log_lr(rho0 * f, rho0);
        }
        let rho1 = rho0 * self.policy.material.max(1.0);
        for (l, f) in self.log_below.iter_mut().zip(BELOW) {
            *l += log_lr(rho1 * f, rho1);
        }
    }

    /// The e-value against "no regression beyond the allowed increase": the mean of the alternatives'
    /// likelihood ratios. It reaching `1/α` concludes a regression.
    pub fn regression_evidence(&self) -> f64 {
        mean_exp(&self.log_above)
    }

    /// The e-value against "a material regression": it reaching `1/β` concludes there is none.
    pub fn no_regression_evidence(&self) -> f64 {
        mean_exp(&self.log_below)
    }

    /// The verdict now. Regression wins a tie: a rollback is never lost to an early end.
    pub fn verdict(&self) -> SequentialVerdict {
        if self.regression_evidence() >= 1.0 / self.policy.alpha {
            SequentialVerdict::Regression
        } else if self.no_regression_evidence() >= 1.0 / self.policy.beta {
            SequentialVerdict::NoMaterialRegression
        } else {
            SequentialVerdict::Undecided
        }
    }

    /// Its verdict as a gate report (`5xx-sequential`): a failure once a regression is conclusive (it then
    /// rolls back like any failed gate), a pass otherwise; the value is the evidence of a regression, the
    /// limit where it becomes conclusive, the detail both e-values in words.
    pub fn report(&self) -> GateReport {
        let verdict = self.verdict();
        let (up, down) = (self.regression_evidence(), self.no_regression_evidence());
        let (a, b) = (1.0 / self.policy.alpha, 1.0 / self.policy.beta);
        let (minutes, informative) = (self.minutes, self.informative);
        GateReport {
            gate: SEQUENTIAL_GATE.into(),
            mode: GateMode::Enforce,
            verdict: match verdict {
                SequentialVerdict::Regression => Verdict::Fail,
                _ => Verdict::Pass,
            },
            value: Some(up),
            stable: None,
            limit: Some(a),
            unit: Unit::Count,
            detail: format!(
                "{}: evidence of a 5xx regression beyond {:.0}% more than stable {up:.2} (conclusive at {a:.0}), of none {:.1}× that {down:.2} (conclusive at {b:.0}); {informative} of {minutes} minutes had errors",
                match verdict {
                    SequentialVerdict::Regression => "regression",
                    SequentialVerdict::NoMaterialRegression => "no material regression",
                    SequentialVerdict::Undecided => "undecided",
                },
                self.policy.allowed_increase * 100.0,
                self.policy.material,
            ),
            minute: None,
        }
    }

    /// Minutes added, and of those the ones with an error on either color.
    pub fn minutes(&self) -> (u32, u32) {
        (self.minutes, self.informative)
    }
}

/// The mean of `exp(l)` over `logs`, computed without overflow.
fn mean_exp(logs: &[f64]) -> f64 {
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return if top > 0.0 { f64::INFINITY } else { 0.0 };
    }
    let sum: f64 = logs.iter().map(|l| (l - top).exp()).sum();
    (top + (sum / logs.len() as f64).ln()).exp()
}
