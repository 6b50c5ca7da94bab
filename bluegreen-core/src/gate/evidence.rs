//! The two running evidences every sequential test of the judge keeps ([`SequentialRate`] for 5xx,
//! [`SignTest`] for latency), their mixture over start times, and the inversion of a grid of tests into
//! an interval: one place for what the tests share, each test saying only what a minute's likelihood
//! ratios are.
//!
//! [`SequentialRate`]: super::SequentialRate
//! [`SignTest`]: super::SignTest

use super::SequentialVerdict;
use serde::{Deserialize, Serialize};

/// The evidence of a regression (a mixture of alternatives, per start time) and of no material regression
/// (a mixture of alternatives from the first minute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Evidence {
    /// The level of the regression test.
    alpha: f64,
    /// The level of the no-regression test.
    beta: f64,
    /// How many components of the regression test may start.
    starts: u32,
    /// Each started component's running log likelihood ratios, one per alternative.
    above: Vec<Vec<f64>>,
    /// The no-regression test's running log likelihood ratios, one per alternative.
    below: Vec<f64>,
}

impl Evidence {
    /// Nothing seen: `above` alternatives for the regression test, `below` for the other.
    pub(super) fn new(alpha: f64, beta: f64, starts: u32, above: usize, below: usize) -> Self {
        Evidence {
            alpha,
            beta,
            starts: starts.max(1),
            above: vec![vec![0.0; above]],
            below: vec![0.0; below],
        }
    }

    /// The regression test's level.
    pub(super) fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The no-regression test's level.
    pub(super) fn beta(&self) -> f64 {
        self.beta
    }

    /// Starts one more component of the regression test (a new split), if fewer than `starts` have.
    pub(super) fn start(&mut self) {
        if (self.above.len() as u32) < self.starts {
            let alternatives = self.above[0].len();
            self.above.push(vec![0.0; alternatives]);
        }
    }

    /// Adds one minute: `above(i)` and `below(i)` are its log likelihood ratios for the `i`th alternative of
    /// each test.
    pub(super) fn add(&mut self, above: impl Fn(usize) -> f64, below: impl Fn(usize) -> f64) {
        let minute: Vec<f64> = (0..self.above[0].len()).map(above).collect();
        for component in &mut self.above {
            for (l, m) in component.iter_mut().zip(&minute) {
                *l += m;
            }
        }
        for (i, l) in self.below.iter_mut().enumerate() {
            *l += below(i);
        }
    }

    /// The e-value against "no regression beyond the allowed increase": the components' mixtures, weighted
    /// by [`start_weight`].
    pub(super) fn regression(&self) -> f64 {
        self.above
            .iter()
            .enumerate()
            .map(|(i, c)| start_weight(i, self.starts) * mean_exp(c))
            .sum()
    }

    /// The e-value against "a material regression".
    pub(super) fn no_regression(&self) -> f64 {
        mean_exp(&self.below)
    }

    /// The verdict now. Regression wins a tie: a rollback is never lost to an early end.
    pub(super) fn verdict(&self) -> SequentialVerdict {
        if self.regression() >= 1.0 / self.alpha {
            SequentialVerdict::Regression
        } else if self.no_regression() >= 1.0 / self.beta {
            SequentialVerdict::NoMaterialRegression
        } else {
            SequentialVerdict::Undecided
        }
    }
}

/// How many ratios the intervals are computed on: `10^(k/10)` for `k` in −20..=20.
pub(super) const INTERVAL_GRID: usize = 41;

/// The `i`th ratio of the intervals' grid.
pub(super) fn grid_ratio(i: usize) -> f64 {
    10f64.powf((i as f64 - 20.0) / 10.0)
}

/// An interval inverted from a test per ratio of the grid and side: the ratios that neither test rejects
/// at `alpha/2`. `rejects_below(i)` is the evidence against "the ratio is at most the `i`th" (a rejection
/// raises the lower bound), `rejects_above(i)` against "at least the `i`th".
pub(super) fn interval(
    alpha: f64,
    rejects_below: impl Fn(usize) -> f64,
    rejects_above: impl Fn(usize) -> f64,
) -> (f64, f64) {
    let conclusive = 2.0 / alpha;
    let lower = (0..INTERVAL_GRID)
        .filter(|i| rejects_below(*i) >= conclusive)
        .map(grid_ratio)
        .fold(0.0, f64::max);
    let upper = (0..INTERVAL_GRID)
        .filter(|i| rejects_above(*i) >= conclusive)
        .map(grid_ratio)
        .fold(f64::INFINITY, f64::min);
    (lower, upper)
}

/// The weight of the regression test's component started at the `i`th split of `starts`: half for the first
/// (a regression present from the start — the usual bad build — is judged at nearly the full level), the
/// other half shared by the rest. The weights add up to one, so the mixture keeps its level α.
pub(super) fn start_weight(i: usize, starts: u32) -> f64 {
    match (i, starts) {
        (_, 0 | 1) => 1.0,
        (0, _) => 0.5,
        _ => 0.5 / f64::from(starts - 1),
    }
}

/// The mean of `exp(l)` over `logs`, computed without overflow.
pub(super) fn mean_exp(logs: &[f64]) -> f64 {
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return if top > 0.0 { f64::INFINITY } else { 0.0 };
    }
    let sum: f64 = logs.iter().map(|l| (l - top).exp()).sum();
    (top + (sum / logs.len() as f64).ln()).exp()
}
