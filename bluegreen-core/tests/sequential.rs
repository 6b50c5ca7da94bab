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
        if sequential {
            p.gates.sequential = Some(SequentialPolicy::default());
        }
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
