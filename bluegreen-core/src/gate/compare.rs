//! The sequential judge (issue 23): the new color against the stable one over the same published minutes,
//! per metric, decided as soon as the evidence allows.
//!
//! Two metrics are compared, each with an anytime-valid test that may be read after every judged minute:
//! - **5xx**: the errors' rate ratio ([`SequentialRate`], decision record 020);
//! - **latency**: the average `TargetResponseTime` of both colors in each minute, by a sequential sign test
//!   ([`SignTest`]) on `new > (1 + allowed) × stable`, with the Hodges–Lehmann estimate of the ratio as its
//!   effect (decision record 022).
//!
//! Each metric is classified after every minute: `high` (a regression beyond its allowed increase is
//! conclusive, at level `α / metrics`), `pass` (no material regression is conclusive, at level `β`), `low`
//! (a pass whose estimate is below `1 / (1 + allowed)`: the new color is better), `undecided`, or `no-data`
//! (no minute has told anything yet). The score is `100 × (metrics with data not high) / (metrics with
//! data)`. The judge **fails** when a critical metric is high or the score is below the marginal score, is
//! **marginal** below the pass score, **passes** (a bake may end early) when every metric with data passed,
//! and is otherwise undecided.
//!
//! The evidence accumulates over the whole deployment. The regression tests mix components started at the
//! first minute of each of the first `starts` splits (the first weighted ½, the others sharing ½), so a regression that appears
//! only at a later split is judged on its own minutes while `α` holds for the deployment as a whole.

use super::evidence::{Evidence, INTERVAL_GRID, grid_ratio, interval, mean_exp};
use super::sequential::SEQUENTIAL_GATE;
use super::{
    GateMode, GateReport, JudgeMode, MinuteCounts, RecordedMinute, SequentialPolicy,
    SequentialRate, SequentialVerdict, Unit, Verdict,
};
use crate::{Color, Timestamp};
use serde::{Deserialize, Serialize};

/// The gate name of the latency comparison's reports.
pub const LATENCY_SEQUENTIAL_GATE: &str = "latency-sequential";
/// The gate name of the p99 latency comparison's reports (where p99 is fetched: `[aws] p99 = true`).
pub const LATENCY_P99_SEQUENTIAL_GATE: &str = "latency-p99-sequential";
/// The gate name of the judge's score reports.
pub const SCORE_GATE: &str = "judge-score";

/// The limit a rollback by the judge names.
pub const JUDGE_LIMIT: &str = "the sequential judge's conclusion";

/// Whether `report` is one of the judge's (a metric's or the score's).
pub fn is_judge_report(report: &GateReport) -> bool {
    [
        SEQUENTIAL_GATE,
        LATENCY_SEQUENTIAL_GATE,
        LATENCY_P99_SEQUENTIAL_GATE,
        SCORE_GATE,
    ]
    .contains(&report.gate.as_str())
}

/// The alternatives of the sign tests: the chance that a minute is on the alternative's side.
const Q: [f64; 2] = [0.8, 0.97];

/// A sequential sign test on per-minute ratios `new / stable` (one bit a minute, whatever the noise).
///
/// Regression: against "in each minute, `new ≤ (1 + allowed) × stable` at least half the time", mixing
/// alternatives in which it is exceeded with chance `q ∈ {0.8, 0.97}`. No material regression: against
/// "`new ≥ (1 + allowed) × material × stable` at least half the time", mirrored (the judge uses
/// `material = 1`: the same ratio on both sides). Each minute's likelihood
/// ratio has expectation at most 1 under its null, so each mixture is a nonnegative supermartingale
/// (Ville's inequality bounds the chance it ever crosses `1/level`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignTest {
    allowed: f64,
    material: f64,
    evidence: Evidence,
    /// `ln(new / stable)` of every minute added.
    shifts: Vec<f64>,
    /// For each ratio of the interval's grid: the minutes above it and below it.
    sides: Vec<(u32, u32)>,
}

impl SignTest {
    /// Nothing seen yet: regression beyond `1 + allowed_increase` at level `alpha` (mixed over up to
    /// `starts` start times), no regression of `material ×` that at level `beta`.
    pub fn new(allowed_increase: f64, material: f64, alpha: f64, beta: f64, starts: u32) -> Self {
        SignTest {
            allowed: 1.0 + allowed_increase.max(0.0),
            material: material.max(1.0),
            evidence: Evidence::new(alpha, beta, starts, Q.len(), Q.len()),
            shifts: Vec::new(),
            sides: vec![(0, 0); INTERVAL_GRID],
        }
    }

    /// Starts one more component of the regression test, if fewer than `starts` have.
    pub fn start(&mut self) {
        if !self.shifts.is_empty() {
            self.evidence.start();
        }
    }

    /// Adds one minute's values of both colors (any positive unit, the same for both); a value that is not
    /// positive and finite adds nothing.
    pub fn add(&mut self, new: f64, stable: f64) {
        if !(new.is_finite() && stable.is_finite() && new > 0.0 && stable > 0.0) {
            return;
        }
        self.shifts.push((new / stable).ln());
        let up = new > self.allowed * stable;
        let down = new < self.allowed * self.material * stable;
        let lr = |hit: bool, q: f64| {
            if hit {
                (2.0 * q).ln()
            } else {
                (2.0 * (1.0 - q)).ln()
            }
        };
        self.evidence.add(|i| lr(up, Q[i]), |i| lr(down, Q[i]));
        for (i, (above, below)) in self.sides.iter_mut().enumerate() {
            let r = grid_ratio(i);
            *above += u32::from(new > r * stable);
            *below += u32::from(new < r * stable);
        }
    }

    /// An anytime-valid interval for the median ratio `new / stable`, at level `1 − α`, on the grid of
    /// ratios 0.01 to 100 in steps of ×1.26: the ratios neither sign test rejects at `α/2`. `None` before
    /// a minute.
    pub fn interval(&self) -> Option<(f64, f64)> {
        let n = self.shifts.len() as f64;
        if n == 0.0 {
            return None;
        }
        // The sign test's mixture depends only on how many minutes were on the alternative's side.
        let evidence = |k: u32| {
            let k = f64::from(k);
            mean_exp(&Q.map(|q| k * (2.0 * q).ln() + (n - k) * (2.0 * (1.0 - q)).ln()))
        };
        Some(interval(
            self.evidence.alpha(),
            |i| evidence(self.sides[i].0),
            |i| evidence(self.sides[i].1),
        ))
    }

    /// The e-value against "no regression beyond the allowed increase".
    pub fn regression_evidence(&self) -> f64 {
        self.evidence.regression()
    }

    /// The e-value against "a material regression".
    pub fn no_regression_evidence(&self) -> f64 {
        self.evidence.no_regression()
    }

    /// The verdict now; regression wins a tie.
    pub fn verdict(&self) -> SequentialVerdict {
        self.evidence.verdict()
    }

    /// The Hodges–Lehmann estimate of the ratio `new / stable`: `exp` of the median of the pairwise means
    /// (Walsh averages) of the minutes' log ratios.
    pub fn ratio(&self) -> Option<f64> {
        let d = &self.shifts;
        if d.is_empty() {
            return None;
        }
        let mut walsh = Vec::with_capacity(d.len() * (d.len() + 1) / 2);
        for i in 0..d.len() {
            for j in i..d.len() {
                walsh.push((d[i] + d[j]) / 2.0);
            }
        }
        // The median by selection: linear in the pairs, where sorting them would not be.
        let n = walsh.len();
        let (below, middle, _) = walsh.select_nth_unstable_by(n / 2, f64::total_cmp);
        let upper = *middle;
        let median = if n % 2 == 1 {
            upper
        } else {
            let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lower + upper) / 2.0
        };
        Some(median.exp())
    }

    /// Minutes added.
    pub fn minutes(&self) -> u32 {
        self.shifts.len() as u32
    }
}

/// What the judge makes of one metric so far.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Classification {
    /// No material regression is conclusive.
    Pass,
    /// A regression beyond the allowed increase is conclusive.
    High,
    /// No material regression is conclusive, and the estimate says the new color is better.
    Low,
    /// Not yet conclusive either way.
    Undecided,
    /// No minute has told anything about it yet (no errors on either color; no latency with enough
    /// requests on both).
    NoData,
}

/// One metric's judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricJudgement {
    /// The metric's gate name (`5xx-sequential`, `latency-sequential`).
    pub gate: String,
    /// Its classification.
    pub class: Classification,
    /// Whether its conclusive regression fails the judge whatever the score.
    pub critical: bool,
    /// The estimated ratio of the new color's value to the stable color's (errors: the pooled rate ratio;
    /// latency: the Hodges–Lehmann estimate).
    pub effect: Option<f64>,
    /// An anytime-valid interval for the ratio at level `1 − α/metrics` (on a grid of ×1.26 steps; 0 and
    /// infinity where the evidence bounds nothing yet).
    pub interval: Option<(f64, f64)>,
    /// The ratio it may reach and still pass (`1 + allowed_increase`).
    pub allowed: f64,
    /// The e-value of a regression, and where it is conclusive.
    pub regression: (f64, f64),
    /// The e-value of no material regression, and where it is conclusive.
    pub no_regression: (f64, f64),
    /// Minutes that told something about it.
    pub minutes: u32,
}

/// The judge's decision now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgeVerdict {
    /// Not conclusive: the bake runs its planned length.
    Undecided,
    /// Every metric with data passed: a bake may end early.
    Pass,
    /// The score is below the pass score and at or above the marginal one.
    Marginal,
    /// A critical metric is high, or the score is below the marginal one.
    Fail,
}

/// The sequential judge of a deployment: every judged minute in, a classification per metric, a score and
/// a verdict out. Pure and deterministic: the same minutes in the same order give the same verdicts, so a
/// record's minutes rebuild it (on resume, and in [`rejudge`](super::rejudge)).
#[derive(Debug, Clone, PartialEq)]
pub struct SequentialJudge {
    policy: SequentialPolicy,
    new: Color,
    min_requests: u64,
    errors: SequentialRate,
    latency: Option<SignTest>,
    /// The same comparison on the p99 latency, where it is fetched.
    latency_p99: Option<SignTest>,
    segment: Option<Timestamp>,
    minutes: u32,
}

impl SequentialJudge {
    /// A judge of `new` against the other color, counting a minute's latency only with at least
    /// `min_requests` on each color, with up to `starts` start times of its regression tests (the
    /// deployment's splits that send traffic to both colors).
    pub fn new(policy: SequentialPolicy, new: Color, min_requests: u64, starts: u32) -> Self {
        Self::build(policy, new, min_requests, starts, false)
    }

    /// The same, comparing the p99 latency too (a third metric, like the average and with its settings):
    /// for gates that fetch it.
    pub fn with_p99(policy: SequentialPolicy, new: Color, min_requests: u64, starts: u32) -> Self {
        Self::build(policy, new, min_requests, starts, true)
    }

    fn build(
        policy: SequentialPolicy,
        new: Color,
        min_requests: u64,
        starts: u32,
        p99: bool,
    ) -> Self {
        let latencies = if policy.latency.is_some() {
            1.0 + f64::from(u8::from(p99))
        } else {
            0.0
        };
        let alpha = policy.alpha / (1.0 + latencies);
        let sign = |l: super::LatencyComparison| {
            SignTest::new(l.allowed_increase, 1.0, alpha, policy.beta, starts)
        };
        SequentialJudge {
            policy,
            new,
            min_requests,
            errors: SequentialRate::with_starts(policy, alpha, starts),
            // The sign test's "no regression" is concluded against the allowed ratio itself: each minute
            // says only which side of one ratio it is on, so a material margin above it would let a ratio
            // between the two (1.6 × with 1.2 allowed) be passed as soon as it is caught.
            latency: policy.latency.map(sign),
            latency_p99: policy.latency.filter(|_| p99).map(sign),
            segment: None,
            minutes: 0,
        }
    }

    /// The judge of `plan`'s deployment of `new`, if its gates ask for one: its regression tests start
    /// afresh at each split that sends traffic to both colors.
    pub fn for_plan(plan: &crate::Plan, new: Color) -> Option<Self> {
        let starts = plan
            .schedule
            .steps()
            .iter()
            .filter(
                |s| matches!(s, crate::Step::SetWeight { percent } if *percent < crate::Share::ALL),
            )
            .count();
        Self::for_gates(&plan.gates, new, starts.max(1) as u32)
    }

    /// The judge `gates` ask for, if any, with `starts` start times: it compares the p99 latency too where
    /// the gates judge it (the p99 gate exists only where p99 is fetched).
    pub fn for_gates(gates: &super::GatePolicy, new: Color, starts: u32) -> Option<Self> {
        let policy = gates.sequential?;
        let p99 = gates
            .bake
            .iter()
            .any(|g| matches!(g.check, super::Check::LatencyP99(_)));
        Some(Self::build(policy, new, gates.min_requests, starts, p99))
    }

    /// Its policy.
    pub fn policy(&self) -> &SequentialPolicy {
        &self.policy
    }

    /// Adds one judged minute (any split's, in the order they are judged). A minute of a split not seen
    /// before starts the regression tests' next component.
    pub fn add(&mut self, minute: &RecordedMinute) {
        if self.segment.is_some_and(|s| s != minute.segment) {
            self.errors.start();
            for l in [self.latency.as_mut(), self.latency_p99.as_mut()]
                .into_iter()
                .flatten()
            {
                l.start();
            }
        }
        self.segment = Some(minute.segment);
        self.minutes += 1;
        let (n, s) = (
            minute.metrics.get(self.new),
            minute.metrics.get(self.new.other()),
        );
        self.errors.add(MinuteCounts {
            new_requests: n.requests.unwrap_or(0),
            new_errors: n.errors_5xx.unwrap_or(0),
            stable_requests: s.requests.unwrap_or(0),
            stable_errors: s.errors_5xx.unwrap_or(0),
        });
        let enough = |m: &crate::Metrics| m.requests.unwrap_or(0) >= self.min_requests.max(1);
        if enough(n) && enough(s) {
            if let (Some(l), Some(a), Some(b)) =
                (self.latency.as_mut(), n.latency_avg, s.latency_avg)
            {
                l.add(a.as_secs_f64(), b.as_secs_f64());
            }
            if let (Some(l), Some(a), Some(b)) =
                (self.latency_p99.as_mut(), n.latency_p99, s.latency_p99)
            {
                l.add(a.as_secs_f64(), b.as_secs_f64());
            }
        }
    }

    /// Minutes added.
    pub fn minutes(&self) -> u32 {
        self.minutes
    }

    /// Each compared metric's judgement, 5xx first.
    pub fn metrics(&self) -> Vec<MetricJudgement> {
        let classify = |verdict, minutes: u32, effect: Option<f64>, allowed: f64| match verdict {
            _ if minutes == 0 => Classification::NoData,
            SequentialVerdict::Regression => Classification::High,
            SequentialVerdict::NoMaterialRegression
                if effect.is_some_and(|e| e < 1.0 / allowed) =>
            {
                Classification::Low
            }
            SequentialVerdict::NoMaterialRegression => Classification::Pass,
            SequentialVerdict::Undecided => Classification::Undecided,
        };
        let p = &self.policy;
        let metrics = 1.0
            + f64::from(u8::from(self.latency.is_some()))
            + f64::from(u8::from(self.latency_p99.is_some()));
        let (a, b) = (metrics / p.alpha, 1.0 / p.beta);
        let allowed = self.errors.allowed_ratio();
        let (_, informative) = self.errors.minutes();
        let effect = self.errors.ratio();
        let mut out = vec![MetricJudgement {
            gate: SEQUENTIAL_GATE.into(),
            class: classify(self.errors.verdict(), informative, effect, allowed),
            critical: true,
            effect,
            interval: self.errors.interval(),
            allowed,
            regression: (self.errors.regression_evidence(), a),
            no_regression: (self.errors.no_regression_evidence(), b),
            minutes: informative,
        }];
        let latencies = [
            (LATENCY_SEQUENTIAL_GATE, &self.latency),
            (LATENCY_P99_SEQUENTIAL_GATE, &self.latency_p99),
        ];
        for (gate, l) in latencies {
            let (Some(l), Some(c)) = (l, p.latency) else {
                continue;
            };
            let allowed = 1.0 + c.allowed_increase.max(0.0);
            let effect = l.ratio();
            out.push(MetricJudgement {
                gate: gate.into(),
                class: classify(l.verdict(), l.minutes(), effect, allowed),
                critical: c.critical,
                effect,
                interval: l.interval(),
                allowed,
                regression: (l.regression_evidence(), a),
                no_regression: (l.no_regression_evidence(), b),
                minutes: l.minutes(),
            });
        }
        out
    }

    /// The score, 0–100: the share of the metrics with data that are not conclusively worse. `None` while
    /// no metric has data.
    pub fn score(&self) -> Option<f64> {
        score(&self.metrics())
    }

    /// The decision now (see the module).
    pub fn verdict(&self) -> JudgeVerdict {
        verdict(&self.metrics(), &self.policy)
    }

    /// The reports of the judge now, for a poll's record: one per metric, and the score's once a metric has
    /// data. A report is enforced when its failure rolls back: a critical metric's `high`, a score below the
    /// marginal one, or (in `enforce` mode) below the pass one. In `observe` mode, and for a `pause`'s
    /// marginal score, they are observed.
    pub fn reports(&self) -> Vec<GateReport> {
        self.judgement().0
    }

    /// The reports and the verdict at once (each metric's judgement computed once).
    pub fn judgement(&self) -> (Vec<GateReport>, JudgeVerdict) {
        let metrics = self.metrics();
        let p = &self.policy;
        let verdict = verdict(&metrics, p);
        let enforcing = p.mode != JudgeMode::Observe;
        let mut out: Vec<GateReport> = metrics
            .iter()
            .map(|m| GateReport {
                gate: m.gate.clone(),
                mode: if enforcing && m.critical {
                    GateMode::Enforce
                } else {
                    GateMode::Observe
                },
                verdict: if m.class == Classification::High {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                },
                value: m.effect,
                stable: None,
                limit: Some(m.allowed),
                unit: Unit::Factor,
                detail: describe(m),
                minute: None,
            })
            .collect();
        if let Some(score) = score(&metrics) {
            let rolls_back = match verdict {
                JudgeVerdict::Fail => enforcing,
                JudgeVerdict::Marginal => p.mode == JudgeMode::Enforce,
                _ => false,
            };
            out.push(GateReport {
                gate: SCORE_GATE.into(),
                mode: if rolls_back {
                    GateMode::Enforce
                } else {
                    GateMode::Observe
                },
                verdict: match verdict {
                    JudgeVerdict::Fail | JudgeVerdict::Marginal => Verdict::Fail,
                    _ => Verdict::Pass,
                },
                value: Some(score),
                stable: None,
                limit: Some(p.pass_score),
                unit: Unit::Count,
                detail: format!(
                    "{}: score {score:.0} (pass at {:.0}, marginal from {:.0}); {}",
                    match verdict {
                        JudgeVerdict::Fail => "fail",
                        JudgeVerdict::Marginal => "marginal",
                        JudgeVerdict::Pass => "pass",
                        JudgeVerdict::Undecided => "undecided",
                    },
                    p.pass_score,
                    p.marginal_score,
                    metrics
                        .iter()
                        .map(|m| format!("{} {}", m.gate, m.class))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                minute: None,
            });
        }
        (out, verdict)
    }

    /// How many minutes told something about each metric (5xx, latency, p99 latency): cheap, for knowing
    /// whether a minute added changed anything.
    pub fn told(&self) -> [Option<u32>; 3] {
        [
            Some(self.errors.minutes().1),
            self.latency.as_ref().map(SignTest::minutes),
            self.latency_p99.as_ref().map(SignTest::minutes),
        ]
    }

    /// The report that makes the judge roll back now, if any: a critical metric's `high` first, then the
    /// score's (see [`reports`](Self::reports)).
    pub fn rollback_report(&self) -> Option<GateReport> {
        judge_rollback(&self.reports()).cloned()
    }
}

/// Among a poll's reports, the judge's that rolls back, if any: a critical metric's `high` first, then the
/// score's.
pub fn judge_rollback(reports: &[GateReport]) -> Option<&GateReport> {
    let failing = |r: &&GateReport| is_judge_report(r) && r.is_enforced_failure();
    reports
        .iter()
        .filter(failing)
        .find(|r| r.gate != SCORE_GATE)
        .or_else(|| reports.iter().find(failing))
}

fn score(metrics: &[MetricJudgement]) -> Option<f64> {
    let with_data: Vec<_> = metrics
        .iter()
        .filter(|m| m.class != Classification::NoData)
        .collect();
    if with_data.is_empty() {
        return None;
    }
    let ok = with_data
        .iter()
        .filter(|m| m.class != Classification::High)
        .count();
    Some(100.0 * ok as f64 / with_data.len() as f64)
}

fn verdict(metrics: &[MetricJudgement], policy: &SequentialPolicy) -> JudgeVerdict {
    let Some(score) = score(metrics) else {
        return JudgeVerdict::Undecided;
    };
    if metrics
        .iter()
        .any(|m| m.critical && m.class == Classification::High)
        || score < policy.marginal_score
    {
        return JudgeVerdict::Fail;
    }
    if score < policy.pass_score {
        return JudgeVerdict::Marginal;
    }
    let passed = |m: &&MetricJudgement| {
        matches!(
            m.class,
            Classification::Pass | Classification::Low | Classification::NoData
        )
    };
    if metrics.iter().all(|m| passed(&m)) {
        JudgeVerdict::Pass
    } else {
        JudgeVerdict::Undecided
    }
}

fn describe(m: &MetricJudgement) -> String {
    let effect = m
        .effect
        .map_or("no estimate".to_string(), |e| format!("{e:.2}× stable"));
    let effect = match m.interval {
        Some(i) if m.effect.is_some() => format!("{effect}, interval {}", show_interval(i)),
        _ => effect,
    };
    format!(
        "{}: {effect} (allowed {:.2}×); evidence of a regression {} (conclusive at {:.0}), of none {} (conclusive at {:.0}); {} minute{} told{}",
        m.class,
        m.allowed,
        evidence(m.regression.0),
        m.regression.1,
        evidence(m.no_regression.0),
        m.no_regression.1,
        m.minutes,
        if m.minutes == 1 { "" } else { "s" },
        if m.critical { "; critical" } else { "" }
    )
}

/// An interval of ratios as a person reads it: `[0.80×, 1.26×]`, `[0, 2.51×]`, `[1.58×, ∞)`.
pub fn show_interval((lower, upper): (f64, f64)) -> String {
    let low = if lower > 0.0 {
        format!("[{lower:.2}×")
    } else {
        "[0".to_string()
    };
    let high = if upper.is_finite() {
        format!("{upper:.2}×]")
    } else {
        "∞)".to_string()
    };
    format!("{low}, {high}")
}

/// An e-value as a person reads it: two decimals, or a power of ten once it is huge.
fn evidence(e: f64) -> String {
    if e.is_infinite() {
        "beyond 1e300".into()
    } else if e >= 1e6 {
        format!("{e:.1e}")
    } else {
        format!("{e:.2}")
    }
}
