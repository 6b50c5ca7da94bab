//! Retro judgement (issue 23 item 4): a recorded deployment's minutes judged again under other gates. Under
//! its own gates the record's verdicts come back exactly; under stricter ones, the rollback they would
//! have made, and when.

use bluegreen_core::gate::{Relative, Verdict, differences, rejudge};
use bluegreen_core::*;
use bluegreen_testkit::*;
use std::time::Duration;

/// A gradual release whose green answers `rate` of its requests with 5xx (blue: 0.1 %).
fn recorded(rate: f64, id: &str) -> (Vec<RecordEntry>, Outcome, GatePolicy) {
    recorded_with(rate, id, None)
}

/// The same, with the sequential judge's policy `sequential`.
fn recorded_with(
    rate: f64,
    id: &str,
    sequential: Option<gate::SequentialPolicy>,
) -> (Vec<RecordEntry>, Outcome, GatePolicy) {
    let mut c = WorldConfig::default();
    c.scripts.green = Script::default().at(Duration::ZERO, Change::ErrorRate(rate));
    let h = Harness::new(c);
    let mut plan = Plan::new("poc/poc-web", Strategy::gradual().compile().unwrap());
    plan.gates.sequential = sequential;
    let gates = plan.gates.clone();
    let outcome = h.run(id, plan).unwrap();
    (h.events.entries(), outcome, gates)
}

/// Under its own gates — the thresholds alone, and with the sequential judge (whose reports are rebuilt
/// from the same minutes in the same order) — a record's verdicts, and its rollback, come back exactly.
#[test]
fn under_its_own_gates_a_record_s_verdicts_come_back_exactly() {
    let judged = Some(gate::SequentialPolicy::default());
    let mut judge_reports = 0;
    for (rate, id, sequential) in [
        (0.008, "r1", None),
        (0.3, "r2", None),
        (0.001, "r4", judged),
        (0.008, "r5", judged),
        (0.3, "r6", judged),
    ] {
        let (record, outcome, gates) = recorded_with(rate, id, sequential);
        if sequential.is_some() {
            let rejudged = rejudge(&gates, &record).unwrap();
            judge_reports += rejudged
                .minutes
                .iter()
                .flat_map(|m| &m.recorded)
                .filter(|r| r.gate == gate::SCORE_GATE || r.gate == gate::SEQUENTIAL_GATE)
                .count();
        }
        let again = rejudge(&gates, &record).unwrap();
        assert_eq!(again.without_metrics, 0);
        assert!(!again.minutes.is_empty());
        for m in &again.minutes {
            assert_eq!(m.reports.len(), m.recorded.len(), "{m:?}");
            for (now, then) in m.reports.iter().zip(&m.recorded) {
                assert_eq!(
                    (&now.gate, now.verdict, now.value, now.limit, now.minute),
                    (
                        &then.gate,
                        then.verdict,
                        then.value,
                        then.limit,
                        then.minute
                    ),
                    "minute {}",
                    m.minute
                );
            }
        }
        assert!(differences(&again.minutes).is_empty());
        match &outcome {
            Outcome::Promoted { .. } => assert!(again.rollback.is_none(), "{again:?}"),
            Outcome::RolledBack {
                reason: RollbackReason::Gate { report, .. },
                step,
                ..
            } => {
                let (at_step, minute, _, r) = again.rollback.clone().expect("a rollback");
                assert_eq!(Some(at_step), *step);
                assert_eq!(minute, report.minute.unwrap_or(minute));
                assert_eq!((&r.gate, r.verdict), (&report.gate, report.verdict));
            }
            other => panic!("{other}"),
        }
    }
    assert!(judge_reports > 0, "the judge's reports were compared");
}

/// Green's 5xx at 0.8 % against blue's 0.1 % passed the defaults (at most 2 × stable + 1 %): promoted.
/// Judged again with the relative allowance at 0.5 %, the same minutes fail: the first bake would have
/// rolled back, at its first judged minute.
#[test]
fn stricter_gates_say_when_they_would_have_rolled_back() {
    let (record, outcome, gates) = recorded(0.008, "r3");
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome}");
    let mut strict = gates.clone();
    for g in &mut strict.bake {
        if let gate::Check::ErrorRate(e) = &mut g.check {
            e.relative = Some(Relative {
                factor: 2.0,
                epsilon: 0.005,
            });
        }
    }
    let again = rejudge(&strict, &record).unwrap();
    let (step, minute, limit, report) = again.rollback.clone().expect("would have rolled back");
    assert_eq!(step, 1, "the first bake");
    assert_eq!(report.gate, "5xx-rate");
    assert_eq!(report.verdict, Verdict::Fail);
    assert!(limit.contains("failed verdicts"), "{limit}");
    let first_judged = again.minutes.first().unwrap().minute;
    assert_eq!(minute, first_judged);
    assert!(!differences(&again.minutes).is_empty());
}

/// Judging CloudWatch's history (no record): a split of 50 % held for 40 minutes on the simulated world,
/// green's 5xx at `ratio` × blue's 0.5 %; both colors' minutes fetched as CloudWatch publishes them and
/// judged under the default gates with the judge.
fn history(ratio: f64) -> gate::Rejudgement {
    let mut c = WorldConfig {
        initial_split: TrafficSplit::new(50, 50).unwrap(),
        ..WorldConfig::default()
    };
    c.scripts.blue = Script::default().at(Duration::ZERO, Change::ErrorRate(0.005));
    c.scripts.green = Script::default().at(Duration::ZERO, Change::ErrorRate(0.005 * ratio));
    let h = Harness::new(c);
    let from = h.world.clock().now();
    // 40 minutes, and long enough after for CloudWatch to publish every one of them.
    h.world.clock().advance(Duration::from_secs(50 * 60));
    let window = Window {
        from,
        to: from + Duration::from_secs(40 * 60),
    };
    let health = h.providers().health;
    let series = run_virtual(h.world.clock(), health.metrics(window))
        .unwrap()
        .unwrap();
    let mut gates = Plan::new("poc/poc-web", Strategy::gradual().compile().unwrap()).gates;
    gates.min_minutes = 1;
    gate::judge_history(&gates, Color::Green, window, &series)
}

/// Issue 23 item 4: a regression under the thresholds (3 × stable's 0.5 %: 1.5 %, under 2 × + 1 %) is
/// caught by the judge within minutes of history, and the minute it would have rolled back is named; a
/// healthy history is judged minute by minute and rolled back nowhere.
#[test]
fn cloudwatch_history_is_judged_without_a_record() {
    let bad = history(3.0);
    let (_, minute, limit, report) = bad.rollback.clone().expect("caught");
    assert_eq!(report.gate, gate::SEQUENTIAL_GATE, "{report}");
    assert_eq!(limit, gate::JUDGE_LIMIT);
    let judged_until_then = bad.minutes.len();
    assert!(
        judged_until_then <= 5,
        "caught after {judged_until_then} minutes"
    );
    assert_eq!(bad.minutes.last().unwrap().minute, minute);
    // The thresholds alone pass every one of those minutes.
    assert!(
        bad.minutes
            .iter()
            .flat_map(|m| &m.reports)
            .filter(|r| r.gate == "5xx-rate")
            .all(|r| r.verdict == Verdict::Pass)
    );
    let good = history(1.0);
    assert!(good.rollback.is_none(), "{:?}", good.rollback);
    assert_eq!(good.minutes.len(), 40);
    assert!(
        good.minutes
            .iter()
            .flat_map(|m| &m.reports)
            .any(|r| r.gate == gate::SCORE_GATE && r.verdict == Verdict::Pass)
    );
}
