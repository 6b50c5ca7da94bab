//! The sequential 5xx comparison (issue 23's first piece): its error rates hold under continuous monitoring,
//! it catches real regressions within minutes, and it ends healthy bakes early — on seeded simulated
//! minutes (Poisson errors, fixed traffic), deterministic.

use bluegreen_core::gate::{MinuteCounts, SequentialPolicy, SequentialRate, SequentialVerdict};

/// A small deterministic generator (xorshift64*), enough for Poisson draws.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Knuth's method: fine for the small means here.
    fn poisson(&mut self, mean: f64) -> u64 {
        let limit = (-mean).exp();
        let (mut k, mut p) = (0u64, 1.0);
        loop {
            p *= self.unit();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
}

/// 600 requests a minute to the new color (a 10 % canary), 5,400 to the stable one; the stable error rate
/// `base`, the new one `ratio` times it.
fn minute(rng: &mut Rng, base: f64, ratio: f64) -> MinuteCounts {
    MinuteCounts {
        new_requests: 600,
        new_errors: rng.poisson(600.0 * base * ratio),
        stable_requests: 5400,
        stable_errors: rng.poisson(5400.0 * base),
    }
}

/// For `runs` seeded sequences of up to `minutes` minutes: how many reached each verdict, and after how
/// many minutes (sorted).
fn run(runs: u64, minutes: u32, base: f64, ratio: f64) -> (Vec<u32>, Vec<u32>) {
    let (mut regressions, mut passes) = (Vec::new(), Vec::new());
    for seed in 1..=runs {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut s = SequentialRate::new(SequentialPolicy::default());
        for t in 1..=minutes {
            s.add(minute(&mut rng, base, ratio));
            match s.verdict() {
                SequentialVerdict::Regression => {
                    regressions.push(t);
                    break;
                }
                SequentialVerdict::NoMaterialRegression => {
                    passes.push(t);
                    break;
                }
                SequentialVerdict::Undecided => {}
            }
        }
    }
    regressions.sort_unstable();
    passes.sort_unstable();
    (regressions, passes)
}

fn median(v: &[u32]) -> u32 {
    v.get(v.len() / 2).copied().unwrap_or(u32::MAX)
}

/// At the boundary of "no regression" (the new color exactly 1.2 × the stable one, the allowed increase),
/// watched every minute for an hour, a regression is concluded in at most α = 1 % of runs (the bound holds
/// at any stopping time; 2,000 runs: within three standard errors).
#[test]
fn false_regressions_stay_below_alpha_under_continuous_monitoring() {
    let (regressions, _) = run(2000, 60, 0.01, 1.2);
    let rate = regressions.len() as f64 / 2000.0;
    eprintln!("false regressions at the boundary: {rate:.4}");
    assert!(
        rate <= 0.01 + 3.0 * (0.01f64 * 0.99 / 2000.0).sqrt(),
        "{rate}"
    );
}

/// A healthy release (the same error rate as stable) is never called a regression here, and "no material
/// regression" is concluded early: in half the runs within a few minutes.
#[test]
fn a_healthy_release_ends_early_and_is_never_called_a_regression() {
    let (regressions, passes) = run(1000, 30, 0.01, 1.0);
    eprintln!(
        "healthy: {} of 1000 passed early, median minute {}",
        passes.len(),
        median(&passes)
    );
    assert!(regressions.len() <= 2, "{}", regressions.len());
    assert!(passes.len() >= 990, "{}", passes.len());
    assert!(median(&passes) <= 5, "{}", median(&passes));
}

/// At the material regression (2 × the allowed ratio: 2.4 ×), "no material regression" is concluded in at
/// most β = 5 % of runs.
#[test]
fn a_material_regression_is_rarely_passed() {
    let (_, passes) = run(2000, 60, 0.01, 2.4);
    let rate = passes.len() as f64 / 2000.0;
    eprintln!("material regression passed early: {rate:.4}");
    assert!(
        rate <= 0.05 + 3.0 * (0.05f64 * 0.95 / 2000.0).sqrt(),
        "{rate}"
    );
}

/// Regressions are caught within minutes: 5xx at 2.5 × and 5 × the stable rate (1 %).
#[test]
fn regressions_are_caught_within_minutes() {
    for (ratio, within) in [(2.5, 6), (5.0, 2)] {
        let (regressions, _) = run(1000, 30, 0.01, ratio);
        eprintln!(
            "{ratio} ×: {} of 1000 caught, median minute {}",
            regressions.len(),
            median(&regressions)
        );
        assert!(regressions.len() >= 990, "{ratio}: {}", regressions.len());
        assert!(
            median(&regressions) <= within,
            "{ratio}: {}",
            median(&regressions)
        );
    }
}

/// Scripted minutes pin the decisions: minutes without errors decide nothing; a burst on the new color
/// alone is a regression at once; steady equal rates end early.
#[test]
fn scripted_minutes_pin_the_decisions() {
    let quiet = MinuteCounts {
        new_requests: 600,
        new_errors: 0,
        stable_requests: 5400,
        stable_errors: 0,
    };
    let mut s = SequentialRate::new(SequentialPolicy::default());
    for _ in 0..120 {
        s.add(quiet);
    }
    assert_eq!(s.verdict(), SequentialVerdict::Undecided);
    assert_eq!(s.minutes(), (120, 0));
    s.add(MinuteCounts {
        new_errors: 30,
        stable_errors: 10,
        ..quiet
    });
    assert_eq!(s.verdict(), SequentialVerdict::Regression);
    let mut s = SequentialRate::new(SequentialPolicy::default());
    let equal = MinuteCounts {
        new_errors: 6,
        stable_errors: 54,
        ..quiet
    };
    let mut at = None;
    for t in 1..=10 {
        s.add(equal);
        if s.verdict() == SequentialVerdict::NoMaterialRegression {
            at = Some(t);
            break;
        }
    }
    assert_eq!(at, Some(2), "{:?}", s.no_regression_evidence());
}

mod in_bakes {
    use bluegreen_core::gate::{SEQUENTIAL_GATE, SequentialPolicy};
    use bluegreen_core::*;
    use bluegreen_testkit::*;
    use std::time::Duration;

    fn plan(sequential: bool) -> Plan {
        let mut p = Plan::new("poc/poc-web", Strategy::gradual().compile().unwrap());
        // The judge is the default for gradual: the thresholds alone are the other side.
        p.gates.sequential = sequential.then(SequentialPolicy::default);
        p
    }

    fn green(change: Change) -> WorldConfig {
        let mut c = WorldConfig::default();
        c.scripts.green = Script::default().at(Duration::ZERO, change);
        c
    }

    /// Both colors answering `rate` of their requests with a 5xx.
    fn both(rate: f64) -> WorldConfig {
        let mut c = WorldConfig::default();
        c.scripts.blue = Script::default().at(Duration::ZERO, Change::ErrorRate(rate));
        c.scripts.green = Script::default().at(Duration::ZERO, Change::ErrorRate(rate));
        c
    }

    /// A healthy release with the sequential judge (both colors at 1 % 5xx, 200 requests a second): promoted,
    /// sooner than with fixed bakes, no bake ending before its first judged minute. At the simulated
    /// world's default 0.1 %, a 10 % canary sees about one error a minute: too little evidence to end a
    /// 3-minute bake early, and the bakes run their length (measured, printed).
    #[test]
    fn a_healthy_release_with_the_sequential_judge_is_promoted_sooner() {
        let quiet = Harness::new(WorldConfig::default());
        let o = quiet.run("quiet", plan(true)).unwrap();
        assert!(matches!(o, Outcome::Promoted { .. }), "{o}");
        let fixed = Harness::new(both(0.01));
        let o = fixed.run("fixed", plan(false)).unwrap();
        assert!(matches!(o, Outcome::Promoted { .. }), "{o}");
        let early = Harness::new(both(0.01));
        let o = early.run("early", plan(true)).unwrap();
        assert!(matches!(o, Outcome::Promoted { .. }), "{o}");
        eprintln!(
            "healthy gradual at 1 % 5xx: fixed bakes {:?}, sequential {:?}; at 0.1 % with the sequential judge {:?}",
            fixed.elapsed(),
            early.elapsed(),
            quiet.elapsed()
        );
        assert!(early.elapsed() < fixed.elapsed());
        // Every bake judged at least one minute of its split before it ended.
        let entries = early.events.entries();
        let mut judged = 0;
        for e in &entries {
            match &e.event {
                Event::StepStarted {
                    step: Step::Bake { .. },
                    ..
                } => judged = 0,
                Event::Polled { reports, .. } => {
                    judged += reports.iter().filter(|r| r.minute.is_some()).count()
                }
                Event::StepCompleted { index } if *index % 2 == 1 => {
                    assert!(judged > 0, "bake {index} ended without a judged minute")
                }
                _ => {}
            }
        }
    }

    /// A regression the thresholds let through (0.6 % 5xx against stable's 0.1 %: under 5 % and under
    /// 2 × stable + 1 %) is promoted with fixed bakes and rolled back by the sequential judge.
    #[test]
    fn a_regression_under_the_thresholds_is_caught_by_the_sequential_judge() {
        let fixed = Harness::new(green(Change::ErrorRate(0.006)));
        let o = fixed.run("fixed", plan(false)).unwrap();
        assert!(matches!(o, Outcome::Promoted { .. }), "{o}");
        let judged = Harness::new(green(Change::ErrorRate(0.006)));
        let o = judged.run("judged", plan(true)).unwrap();
        let Outcome::RolledBack { reason, .. } = &o else {
            panic!("{o}")
        };
        assert!(
            matches!(reason, RollbackReason::Gate { report, .. } if report.gate == SEQUENTIAL_GATE),
            "{reason}"
        );
        eprintln!("regression caught after {:?}", judged.elapsed());
    }
}

/// The sequential judge (5xx and latency, classified, scored) on scripted minutes: pass early, fail early,
/// marginal, no data; and what each mode does with a marginal score.
mod judge_scenarios {
    use bluegreen_core::gate::{
        Classification, JudgeMode, JudgeVerdict, LATENCY_SEQUENTIAL_GATE, RecordedMinute,
        SCORE_GATE, SEQUENTIAL_GATE, SequentialJudge, SequentialPolicy,
    };
    use bluegreen_core::{Color, Metrics, PerColor, Timestamp};
    use std::time::Duration;

    /// Minute `t` of a split starting at minute `segment`: green (new) 600 requests with `errors` 5xx and
    /// `latency_ms`; blue 5,400 with 54 errors at 80 ms.
    fn minute(t: u64, segment: u64, errors: u64, latency_ms: u64) -> RecordedMinute {
        let at = |m: u64| Timestamp::from_millis(m * 60_000);
        let colored = |requests, errors, ms| Metrics {
            requests: Some(requests),
            errors_5xx: Some(errors),
            latency_avg: Some(Duration::from_millis(ms)),
            ..Metrics::default()
        };
        RecordedMinute {
            minute: at(t),
            segment: at(segment),
            metrics: PerColor::from_fn(|c| match c {
                Color::Green => colored(600, errors, latency_ms),
                Color::Blue => colored(5400, 54, 80),
            }),
        }
    }

    fn judge(mode: JudgeMode) -> SequentialJudge {
        let policy = SequentialPolicy {
            mode,
            ..SequentialPolicy::default()
        };
        SequentialJudge::new(policy, Color::Green, 50, 4)
    }

    /// The first minute at which the judge's verdict is not undecided, and that verdict.
    fn first_decision(
        j: &mut SequentialJudge,
        minutes: impl Iterator<Item = RecordedMinute>,
    ) -> (u32, JudgeVerdict) {
        for (i, m) in minutes.enumerate() {
            j.add(&m);
            let v = j.verdict();
            if v != JudgeVerdict::Undecided {
                return (i as u32 + 1, v);
            }
        }
        (u32::MAX, JudgeVerdict::Undecided)
    }

    /// Equal error rates and equal latency: both metrics pass within a few minutes (the latency sign
    /// test needs about six: one bit a minute), the score is 100, nothing rolls back.
    #[test]
    fn a_healthy_new_color_passes_early() {
        let mut j = judge(JudgeMode::Enforce);
        let (at, verdict) = first_decision(&mut j, (1..=30).map(|t| minute(t, 1, 6, 80)));
        assert_eq!(verdict, JudgeVerdict::Pass);
        assert!(at <= 7, "{at}");
        assert_eq!(j.score(), Some(100.0));
        let classes: Vec<_> = j.metrics().iter().map(|m| m.class).collect();
        assert_eq!(classes, [Classification::Pass, Classification::Pass]);
        // Each metric's interval holds the true ratio (1) and, with 20 minutes more, excludes the material
        // one (it is at level 1 − α/2 on each side: wider than the early pass, which is at β).
        for t in 31..=50 {
            j.add(&minute(t, 1, 6, 80));
        }
        for m in j.metrics() {
            let (low, high) = m.interval.expect("an interval");
            assert!(low <= 1.0 && 1.0 <= high, "{}: [{low}, {high}]", m.gate);
            assert!(high < 2.4, "{}: [{low}, {high}]", m.gate);
        }
        assert_eq!(j.rollback_report(), None);
    }

    /// Five times the stable 5xx rate: the critical metric is high within two minutes and the judge fails
    /// on its report, whatever the mode bar `observe`.
    #[test]
    fn a_5xx_regression_fails_early_on_the_critical_metric() {
        for mode in [JudgeMode::Enforce, JudgeMode::Pause] {
            let mut j = judge(mode);
            let (at, verdict) = first_decision(&mut j, (1..=30).map(|t| minute(t, 1, 30, 80)));
            assert_eq!(
                (verdict, at <= 2),
                (JudgeVerdict::Fail, true),
                "{mode:?} {at}"
            );
            let report = j.rollback_report().expect("rolls back");
            assert_eq!(report.gate, SEQUENTIAL_GATE);
            let (low, high) = j.metrics()[0].interval.unwrap();
            assert!(1.2 < low && low <= 5.0 && 5.0 <= high, "[{low}, {high}]");
            let effect = report.value.unwrap();
            assert!((effect - 5.0).abs() < 1.5, "{effect}");
        }
        let mut j = judge(JudgeMode::Observe);
        let (_, verdict) = first_decision(&mut j, (1..=30).map(|t| minute(t, 1, 30, 80)));
        assert_eq!(verdict, JudgeVerdict::Fail);
        assert_eq!(j.rollback_report(), None, "observe never rolls back");
    }

    /// 60 % slower (non-critical), errors equal: latency is high, the score 50 — marginal. Enforce rolls
    /// back on the score; pause and observe do not roll back (pause stops the schedule instead).
    #[test]
    fn a_latency_regression_is_marginal() {
        for (mode, rolls_back) in [
            (JudgeMode::Enforce, true),
            (JudgeMode::Pause, false),
            (JudgeMode::Observe, false),
        ] {
            let mut j = judge(mode);
            let mut verdicts = Vec::new();
            for t in 1..=30 {
                j.add(&minute(t, 1, 6, 128));
                verdicts.push(j.verdict());
            }
            let at = verdicts
                .iter()
                .position(|v| *v == JudgeVerdict::Marginal)
                .expect("marginal");
            assert!(at < 12, "{mode:?}: marginal at minute {}", at + 1);
            // Between the allowed ratio and twice it, latency is never passed early (its "no regression"
            // is tested against the allowed ratio itself).
            assert!(
                !verdicts.contains(&JudgeVerdict::Pass),
                "{mode:?}: {verdicts:?}"
            );
            assert_eq!(j.score(), Some(50.0));
            let latency = &j.metrics()[1];
            assert_eq!(
                (latency.gate.as_str(), latency.class),
                (LATENCY_SEQUENTIAL_GATE, Classification::High)
            );
            let hl = latency.effect.unwrap();
            assert!((hl - 1.6).abs() < 0.01, "{hl}");
            assert_eq!(
                j.rollback_report().map(|r| r.gate),
                rolls_back.then(|| SCORE_GATE.to_string()),
                "{mode:?}"
            );
        }
    }

    /// Where p99 is fetched the judge compares it too, a third metric: a p99 regression alone (the average
    /// unchanged) makes it `high` and the score 67 — marginal; healthy, all three pass. `for_gates` turns it
    /// on exactly where the gates judge p99.
    #[test]
    fn p99_is_a_third_metric_where_it_is_fetched() {
        use bluegreen_core::gate::{GatePolicy, LATENCY_P99_SEQUENTIAL_GATE};
        let with_p99 = |p99_ms: u64| {
            let mut j = SequentialJudge::with_p99(SequentialPolicy::default(), Color::Green, 50, 4);
            for t in 1..=30 {
                let mut m = minute(t, 1, 6, 80);
                for c in Color::ALL {
                    let ms = if c == Color::Green { p99_ms } else { 250 };
                    m.metrics.get_mut(c).latency_p99 = Some(Duration::from_millis(ms));
                }
                j.add(&m);
            }
            j
        };
        let healthy = with_p99(250);
        let gates: Vec<_> = healthy
            .metrics()
            .iter()
            .map(|m| (m.gate.clone(), m.class))
            .collect();
        assert_eq!(gates.len(), 3);
        assert_eq!(
            gates[2],
            (
                LATENCY_P99_SEQUENTIAL_GATE.to_string(),
                Classification::Pass
            )
        );
        assert_eq!(healthy.verdict(), JudgeVerdict::Pass);
        let slow = with_p99(500);
        assert_eq!(slow.metrics()[2].class, Classification::High);
        assert_eq!(slow.metrics()[1].class, Classification::Pass);
        assert!((slow.score().unwrap() - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(slow.verdict(), JudgeVerdict::Marginal);
        // Gates without the p99 gate (p99 not fetched): two metrics; with it: three.
        let mut gates = GatePolicy {
            sequential: Some(SequentialPolicy::default()),
            ..GatePolicy::default()
        };
        let count = |g: &GatePolicy| {
            SequentialJudge::for_gates(g, Color::Green, 1)
                .unwrap()
                .metrics()
                .len()
        };
        assert_eq!(count(&gates), 3, "the default gates judge p99");
        gates
            .bake
            .retain(|g| !matches!(g.check, bluegreen_core::gate::Check::LatencyP99(_)));
        assert_eq!(count(&gates), 2);
    }

    /// No requests, or requests without errors and without latency on the stable color: nothing is
    /// compared, no score, no verdict, no rollback; the reports say `no-data`.
    #[test]
    fn no_data_decides_nothing() {
        let mut j = judge(JudgeMode::Enforce);
        for t in 1..=60 {
            let mut m = minute(t, 1, 0, 80);
            m.metrics = PerColor::from_fn(|_| Metrics::default());
            j.add(&m);
        }
        assert_eq!(j.verdict(), JudgeVerdict::Undecided);
        assert_eq!(j.score(), None);
        let reports = j.reports();
        assert_eq!(reports.len(), 2, "one per metric, no score: {reports:?}");
        assert!(reports.iter().all(|r| r.detail.starts_with("no-data")));
        assert_eq!(j.rollback_report(), None);
    }

    /// A regression that appears at a later split is judged on that split's minutes: after 20 healthy
    /// minutes at the first split, five times the errors at the second is caught as fast as at the start
    /// (the regression test's component that starts with the split), not diluted by the healthy minutes.
    #[test]
    fn a_regression_at_a_later_split_is_not_diluted() {
        let mut j = judge(JudgeMode::Enforce);
        // Latency off: the first split's minutes would conclude its pass (which does not matter here).
        for t in 1..=20 {
            j.add(&minute(t, 1, 6, 80));
        }
        assert_eq!(j.verdict(), JudgeVerdict::Pass);
        let (at, verdict) = first_decision(&mut j, (21..=40).map(|t| minute(t, 21, 30, 80)));
        assert_eq!(verdict, JudgeVerdict::Fail);
        assert!(at <= 3, "caught {at} minutes into the split");
    }
}

/// The judge's `pause` mode in a deployment: a marginal score (green 3 × slower than blue — under the
/// latency thresholds' 2 × stable + 100 ms — with equal errors) stops the schedule, traffic kept, and
/// waits for a person: approved, the deployment goes on and is promoted; rejected, it rolls back; nobody
/// answering, it rolls back when the pause times out. In `enforce` mode the same release rolls back on
/// the score.
mod pause {
    use bluegreen_core::gate::{JudgeMode, SCORE_GATE, SequentialPolicy};
    use bluegreen_core::*;
    use bluegreen_testkit::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn slow_green() -> WorldConfig {
        let mut c = WorldConfig::default();
        c.scripts.green = Script::default().at(
            Duration::ZERO,
            Change::LatencyAvg(Duration::from_millis(240)),
        );
        c
    }

    fn plan(mode: JudgeMode) -> Plan {
        let strategy = Strategy::Gradual {
            steps: vec![25, 50, 100],
            bake: Duration::from_secs(900),
        };
        let mut p = Plan::new("poc/poc-web", strategy.compile().unwrap());
        p.gates.sequential = Some(SequentialPolicy {
            mode,
            pause_timeout: Duration::from_secs(1800),
            ..SequentialPolicy::default()
        });
        p
    }

    fn paused(h: &Harness) -> Vec<usize> {
        h.events
            .entries()
            .iter()
            .filter_map(|e| match &e.event {
                Event::JudgePaused { index, report } => {
                    assert_eq!(report.gate, SCORE_GATE);
                    Some(*index)
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn approved_it_goes_on_and_is_promoted() {
        let h = Harness::new(slow_green());
        let clock = h.clock();
        let h = h.with_approval(Arc::new(ScriptedApproval::approve_after(
            clock,
            Duration::from_secs(120),
        )));
        let o = h.run("p1", plan(JudgeMode::Pause)).unwrap();
        assert!(matches!(o, Outcome::Promoted { .. }), "{o}");
        assert_eq!(paused(&h), [1], "paused once, in the first bake");
    }

    #[test]
    fn rejected_it_rolls_back() {
        let h = Harness::new(slow_green());
        let clock = h.clock();
        let h = h.with_approval(Arc::new(ScriptedApproval::after(
            clock,
            Duration::from_secs(60),
            ApprovalDecision::Rejected {
                by: "oncall".into(),
                reason: None,
            },
        )));
        let o = h.run("p2", plan(JudgeMode::Pause)).unwrap();
        let Outcome::RolledBack { reason, .. } = &o else {
            panic!("{o}")
        };
        assert!(
            matches!(reason, RollbackReason::ApprovalRejected { .. }),
            "{reason}"
        );
        assert_eq!(paused(&h), [1]);
    }

    #[test]
    fn unanswered_it_rolls_back_at_the_pause_timeout() {
        let h = Harness::new(slow_green());
        let clock = h.clock();
        let h = h.with_approval(Arc::new(ScriptedApproval::never(clock)));
        let o = h.run("p3", plan(JudgeMode::Pause)).unwrap();
        let Outcome::RolledBack { reason, .. } = &o else {
            panic!("{o}")
        };
        assert!(
            matches!(reason, RollbackReason::ApprovalTimedOut { after } if *after == Duration::from_secs(1800)),
            "{reason}"
        );
    }

    #[test]
    fn enforced_it_rolls_back_on_the_score() {
        let h = Harness::new(slow_green());
        let o = h.run("p4", plan(JudgeMode::Enforce)).unwrap();
        let Outcome::RolledBack { reason, .. } = &o else {
            panic!("{o}")
        };
        assert!(
            matches!(reason, RollbackReason::Gate { report, .. } if report.gate == SCORE_GATE),
            "{reason}"
        );
        assert!(paused(&h).is_empty());
        let observed = Harness::new(slow_green());
        let o = observed.run("p5", plan(JudgeMode::Observe)).unwrap();
        assert!(matches!(o, Outcome::Promoted { .. }), "observe: {o}");
    }
}

/// A crash does not cost the judge its evidence: the resumed run rebuilds it from the record's minutes (in
/// the order they were judged), so its first report counts every minute told before the crash.
mod resumed {
    use bluegreen_core::gate::SEQUENTIAL_GATE;
    use bluegreen_core::*;
    use bluegreen_testkit::*;
    use std::time::Duration;

    /// How many minutes a judge report says told it something.
    fn told(detail: &str) -> u32 {
        let end = detail.find(" minute").expect("minutes told");
        let start = detail[..end].rfind(' ').map_or(0, |i| i + 1);
        detail[start..end].parse().expect("a number")
    }

    /// The minutes told of the 5xx report a poll recorded, if it recorded one.
    fn reported(event: &Event) -> Option<u32> {
        match event {
            Event::Polled { reports, .. } => reports
                .iter()
                .find(|r| r.gate == SEQUENTIAL_GATE)
                .map(|r| told(&r.detail)),
            _ => None,
        }
    }

    #[test]
    fn a_resumed_run_keeps_the_judge_s_evidence() {
        let world = || {
            let mut c = WorldConfig {
                request_rate: 1000.0,
                ..WorldConfig::default()
            };
            c.scripts.blue = Script::default().at(Duration::ZERO, Change::ErrorRate(0.001));
            c.scripts.green = Script::default().at(Duration::ZERO, Change::ErrorRate(0.002));
            c
        };
        let plan = || Plan::new("poc/poc-web", Strategy::gradual().compile().unwrap());
        // Crash on the append after the second poll whose minutes told the judge something (the same run
        // uncrashed concludes later).
        let h = Harness::new(world());
        h.run("d0", plan()).unwrap();
        let at = h
            .store
            .record(&DeploymentId::new("d0").unwrap())
            .iter()
            .filter(|e| {
                matches!(&e.event, Event::Polled { reports, .. }
                    if reports.iter().any(|r| r.gate == SEQUENTIAL_GATE && r.detail.starts_with("undecided")))
            })
            .nth(1)
            .expect("two undecided reports before the conclusion")
            .seq
            + 1;
        let h = Harness::new(world());
        h.store.hang_after(Some(at));
        let exec = h.executor();
        let died = run_virtual_until(
            h.world.clock(),
            exec.run(DeploymentId::new("d1").unwrap(), plan()),
            || false,
        );
        assert!(matches!(died, Some(Err(_))));
        h.store.hang_after(None);
        h.world.clock().advance(DEFAULT_LEASE_TTL);
        let before: u32 = h
            .store
            .record(&DeploymentId::new("d1").unwrap())
            .iter()
            .filter_map(|e| reported(&e.event))
            .max()
            .expect("the judge told of minutes before the crash");
        assert!(before > 0);
        let outcome = h.resume("d1", ResumeAction::Continue).unwrap();
        let record = h.store.record(&DeploymentId::new("d1").unwrap());
        let resumed = record
            .iter()
            .position(|e| matches!(e.event, Event::Resumed { .. }))
            .expect("resumed");
        let first_after = record[resumed..]
            .iter()
            .find_map(|e| reported(&e.event))
            .expect("the judge reports after the resume");
        assert!(
            first_after > before,
            "the first report after the resume counts the {before} minutes before it: {first_after}"
        );
        let Outcome::RolledBack { reason, .. } = &outcome else {
            panic!("{outcome}")
        };
        assert!(
            matches!(reason, RollbackReason::Gate { report, .. } if report.gate == SEQUENTIAL_GATE),
            "{reason}"
        );
    }
}

/// The Hodges–Lehmann estimate is the median of the pairwise means of the minutes' log ratios: for log
/// ratios 0, 1, 2 the means are 0, ½, 1, 1, 1½, 2 (median 1); for 0 and 3 they are 0, 1½, 3 (median 1½).
#[test]
fn the_hodges_lehmann_estimate_is_the_median_of_walsh_averages() {
    use bluegreen_core::gate::SignTest;
    let estimate = |logs: &[f64]| {
        let mut t = SignTest::new(0.2, 1.0, 0.01, 0.05, 1);
        for l in logs {
            t.add(l.exp(), 1.0);
        }
        t.ratio().unwrap().ln()
    };
    assert!((estimate(&[0.0, 1.0, 2.0]) - 1.0).abs() < 1e-12);
    assert!((estimate(&[0.0, 3.0]) - 1.5).abs() < 1e-12);
    assert!((estimate(&[2.0, 0.0, 3.0, 1.0]) - 1.5).abs() < 1e-12);
}

/// The judge's α holds for a whole deployment: at the boundary of both metrics (5xx at exactly 1.2 × the
/// stable rate; latency above 1.2 × stable in exactly half the minutes), watched every minute over four
/// splits of 15 minutes, the judge rolls back (fails, or is marginal in `enforce`) in at most α = 1 % of
/// 2,000 deployments (within three standard errors).
#[test]
fn the_judge_s_false_rollbacks_stay_below_alpha_over_a_deployment() {
    use bluegreen_core::gate::{JudgeVerdict, RecordedMinute, SequentialJudge, SequentialPolicy};
    use bluegreen_core::{Color, Metrics, PerColor, Timestamp};
    use std::time::Duration;
    let runs = 2000u64;
    let mut rolled_back = 0;
    for seed in 1..=runs {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut judge = SequentialJudge::new(SequentialPolicy::default(), Color::Green, 50, 4);
        let mut failed = false;
        for t in 0..60u64 {
            // Latency: 1.2 × stable times a symmetric factor, so each minute is above the boundary half
            // the time.
            let u = rng.unit();
            let factor = if u < 0.5 {
                1.0 - u / 10.0
            } else {
                1.0 + (u - 0.5) / 10.0
            };
            let colored = |requests, errors, ms: f64| Metrics {
                requests: Some(requests),
                errors_5xx: Some(errors),
                latency_avg: Some(Duration::from_secs_f64(ms / 1000.0)),
                ..Metrics::default()
            };
            let green = colored(600, rng.poisson(600.0 * 0.01 * 1.2), 96.0 * factor);
            let blue = colored(5400, rng.poisson(5400.0 * 0.01), 80.0);
            judge.add(&RecordedMinute {
                minute: Timestamp::from_millis(t * 60_000),
                segment: Timestamp::from_millis(t / 15 * 15 * 60_000),
                metrics: PerColor::from_fn(|c| match c {
                    Color::Green => green,
                    Color::Blue => blue,
                }),
            });
            if matches!(judge.verdict(), JudgeVerdict::Fail | JudgeVerdict::Marginal) {
                failed = true;
                break;
            }
        }
        rolled_back += u64::from(failed);
    }
    let rate = rolled_back as f64 / runs as f64;
    eprintln!("judge at the boundary: {rolled_back} of {runs} deployments rolled back ({rate:.4})");
    assert!(
        rate <= 0.01 + 3.0 * (0.01f64 * 0.99 / runs as f64).sqrt(),
        "{rate}"
    );
}
