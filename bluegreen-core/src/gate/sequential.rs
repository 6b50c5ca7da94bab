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

use super::evidence::{Evidence, INTERVAL_GRID, interval, mean_exp};
use super::{GateMode, GateReport, Unit, Verdict};
use serde::{Deserialize, Serialize};

/// The gate name of the sequential comparison's reports.
pub const SEQUENTIAL_GATE: &str = "5xx-sequential";

/// The alternatives of the regression test, as multiples of `ρ₀`.
const ABOVE: [f64; 6] = [1.25, 1.5, 2.0, 3.0, 5.0, 10.0];
/// The interval's tests at each ratio `r` of its grid, as steps of the grid (×1.26 each): `ρ ≤ r` against
/// about `2r` and `5r` (3 and 7 steps up), `ρ ≥ r` against about `r/2` and `r/5` (two alternatives a
/// side: 32 bytes a ratio, 1.3 KiB a deployment).
const INTERVAL_ALTERNATIVES: [isize; 4] = [3, 7, -3, -7];

/// The alternatives of the no-regression test, as multiples of `ρ₁`.
const BELOW: [f64; 5] = [0.8, 0.6, 0.4, 0.2, 0.05];

/// What the sequential comparison is asked to tell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialPolicy {
    /// How much higher than the stable color's the new color's error rate may be and still pass, as a
    /// fraction (0.2: up to 1.2 ×).
    pub allowed_increase: f64,
    /// The chance of concluding a regression that is not there (a false rollback), under continuous
    /// monitoring, over the whole deployment and every metric compared.
    pub alpha: f64,
    /// How many times the allowed ratio a regression must reach to be material: "no material regression"
    /// is concluded against `material × (1 + allowed_increase)`.
    pub material: f64,
    /// The chance of concluding "no material regression" when there is one.
    pub beta: f64,
    /// What the judge's decisions do: roll back (`enforce`), stop and wait for a person on a marginal
    /// score (`pause`), or only be recorded (`observe`).
    #[serde(default)]
    pub mode: JudgeMode,
    /// The comparison of the average response time with the stable color's; `None`: not compared.
    #[serde(default)]
    pub latency: Option<LatencyComparison>,
    /// The score (0–100, the share of compared metrics not conclusively worse) at or above which the judge
    /// passes; below it, down to [`marginal_score`](Self::marginal_score), it is marginal.
    #[serde(default = "default_pass_score")]
    pub pass_score: f64,
    /// The score below which the judge fails whatever its mode (bar `observe`).
    #[serde(default = "default_marginal_score")]
    pub marginal_score: f64,
    /// How long a `pause` waits for `promote` or `abort` before it rolls back.
    #[serde(with = "humantime_serde", default = "default_pause_timeout")]
    pub pause_timeout: std::time::Duration,
}

/// What the sequential judge's decisions do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgeMode {
    /// A conclusive regression, or a score below the pass score, rolls back.
    #[default]
    Enforce,
    /// A score between the marginal and the pass score stops the schedule, traffic kept, and waits for
    /// `promote` (go on) or `abort` (roll back), up to the pause timeout (then rolls back); a critical
    /// metric's conclusive regression or a score below the marginal one still rolls back.
    Pause,
    /// Everything is judged and recorded; nothing rolls back or pauses, no bake ends early.
    Observe,
}

/// The comparison of the new color's average response time with the stable color's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyComparison {
    /// How much slower than the stable color's it may be and still pass, as a fraction (0.2: 1.2 ×).
    pub allowed_increase: f64,
    /// Whether its conclusive regression fails the judge whatever the score.
    #[serde(default)]
    pub critical: bool,
}

fn default_pass_score() -> f64 {
    75.0
}

fn default_marginal_score() -> f64 {
    50.0
}

fn default_pause_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(3600)
}

impl Default for SequentialPolicy {
    /// Up to 20 % more errors and 20 % slower allowed; false rollbacks at most 1 % over a deployment;
    /// "no regression of 2 × the allowed ratio" concluded wrongly at most 5 %; enforced; pass at a score of
    /// 75, marginal from 50; a pause waits an hour.
    fn default() -> Self {
        SequentialPolicy {
            allowed_increase: 0.2,
            alpha: 0.01,
            material: 2.0,
            beta: 0.05,
            mode: JudgeMode::Enforce,
            latency: Some(LatencyComparison {
                allowed_increase: 0.2,
                critical: false,
            }),
            pass_score: default_pass_score(),
            marginal_score: default_marginal_score(),
            pause_timeout: default_pause_timeout(),
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
///
/// The regression test can be a mixture over start times ([`SequentialRate::with_starts`]): one component
/// starts with the first minute, one more at each [`start`](SequentialRate::start) (a new split); the first
/// weighted ½, the others sharing the other ½. A regression that appears only at a later split is then judged on that split's
/// minutes, not diluted by the healthy minutes before it, and the level stays `α` over the whole deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialRate {
    policy: SequentialPolicy,
    /// Both tests' evidence; the regression test at `policy.alpha` unless shared with other metrics.
    evidence: Evidence,
    /// For each ratio of [`INTERVAL_GRID`], the running log likelihood ratios of the tests of `ρ ≤ ratio`
    /// (alternatives above) and `ρ ≥ ratio` (below): inverted, the interval.
    #[serde(default)]
    interval: Vec<[f64; 4]>,
    minutes: u32,
    informative: u32,
    /// Sums over the informative minutes: the new color's errors and requests, then the stable color's.
    totals: [u64; 4],
}

impl SequentialRate {
    /// Nothing seen yet.
    pub fn new(policy: SequentialPolicy) -> Self {
        Self::with_starts(policy, policy.alpha, 1)
    }

    /// Nothing seen yet; the regression test at level `alpha`, mixed over up to `starts` start times.
    pub fn with_starts(policy: SequentialPolicy, alpha: f64, starts: u32) -> Self {
        SequentialRate {
            policy,
            evidence: Evidence::new(alpha, policy.beta, starts, ABOVE.len(), BELOW.len()),
            interval: vec![[0.0; 4]; INTERVAL_GRID],
            minutes: 0,
            informative: 0,
            totals: [0; 4],
        }
    }

    /// Starts one more component of the regression test (a new split begins), if fewer than `starts` have.
    /// The first starts with the first minute.
    pub fn start(&mut self) {
        if self.minutes > 0 {
            self.evidence.start();
        }
    }

    /// The pooled ratio of the new color's error rate to the stable one's over the minutes with errors,
    /// if the stable color had any.
    pub fn ratio(&self) -> Option<f64> {
        let [ne, nr, se, sr] = self.totals.map(|v| v as f64);
        (se > 0.0 && nr > 0.0 && sr > 0.0).then(|| (ne / nr) / (se / sr))
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
        for (t, v) in self.totals.iter_mut().zip([
            m.new_errors,
            m.new_requests,
            m.stable_errors,
            m.stable_requests,
        ]) {
            *t += v;
        }
        let (n, s) = (m.new_requests as f64, m.stable_requests as f64);
        let p = |rho: f64| rho * n / (rho * n + s);
        let (x, y) = (m.new_errors as f64, m.stable_errors as f64);
        let log_lr = |alt: f64, null: f64| {
            let (pa, p0) = (p(alt), p(null));
            x * (pa / p0).ln() + y * ((1.0 - pa) / (1.0 - p0)).ln()
        };
        let rho0 = self.allowed_ratio();
        let rho1 = rho0 * self.policy.material.max(1.0);
        self.evidence.add(
            |i| log_lr(rho0 * ABOVE[i], rho0),
            |i| log_lr(rho1 * BELOW[i], rho1),
        );
        // The grid's alternatives are on the grid extended by seven steps each way: each ratio's binomial
        // logarithms once, then sums.
        const REACH: usize = 7;
        let logs: [(f64, f64); INTERVAL_GRID + 2 * REACH] = std::array::from_fn(|k| {
            let pk = p(10f64.powf((k as f64 - 20.0 - REACH as f64) / 10.0));
            (pk.ln(), (1.0 - pk).ln())
        });
        for (i, l) in self.interval.iter_mut().enumerate() {
            let null = logs[i + REACH];
            for (l, step) in l.iter_mut().zip(INTERVAL_ALTERNATIVES) {
                let a = logs[(i as isize + REACH as isize + step) as usize];
                *l += x * (a.0 - null.0) + y * (a.1 - null.1);
            }
        }
    }

    /// An anytime-valid interval for the ratio of the rates, at level `1 − α` (the regression test's),
    /// on the grid of ratios 0.01 to 100 in steps of ×1.26: the ratios neither test rejects at `α/2`.
    /// `None` before a minute with errors.
    pub fn interval(&self) -> Option<(f64, f64)> {
        if self.informative == 0 {
            return None;
        }
        Some(interval(
            self.evidence.alpha(),
            |i| mean_exp(&self.interval[i][..2]),
            |i| mean_exp(&self.interval[i][2..]),
        ))
    }

    /// The e-value against "no regression beyond the allowed increase": the mean of the alternatives'
    /// likelihood ratios. It reaching `1/α` concludes a regression.
    pub fn regression_evidence(&self) -> f64 {
        self.evidence.regression()
    }

    /// The e-value against "a material regression": it reaching `1/β` concludes there is none.
    pub fn no_regression_evidence(&self) -> f64 {
        self.evidence.no_regression()
    }

    /// The verdict now. Regression wins a tie: a rollback is never lost to an early end.
    pub fn verdict(&self) -> SequentialVerdict {
        self.evidence.verdict()
    }

    /// Its verdict as a gate report (`5xx-sequential`): a failure once a regression is conclusive (it then
    /// rolls back like any failed gate), a pass otherwise; the value is the evidence of a regression, the
    /// limit where it becomes conclusive, the detail both e-values in words.
    pub fn report(&self) -> GateReport {
        let verdict = self.verdict();
        let (up, down) = (self.regression_evidence(), self.no_regression_evidence());
        let (a, b) = (1.0 / self.evidence.alpha(), 1.0 / self.evidence.beta());
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
