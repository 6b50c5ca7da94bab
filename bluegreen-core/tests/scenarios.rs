//! Scenarios: a strategy, a scripted world, and the expected timeline of events.

use bluegreen_core::gate::{BakeGate, Check, ElbErrorRate, GateMode, NoDataPolicy, Verdict};
use bluegreen_core::*;
use bluegreen_testkit::*;
use std::sync::Arc;
use std::time::Duration;

const APP: &str = "poc/poc-web";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn plan(strategy: Strategy) -> Plan {
    Plan::new(APP, strategy.compile().expect("valid strategy"))
}

/// The plan with the threshold gates alone: for the tests that pin the thresholds' own timing and limits
/// (the sequential judge, on by default where traffic is split, ends bakes early and decides on its own
/// evidence: `tests/sequential.rs`).
fn thresholds_only(strategy: Strategy) -> Plan {
    let mut p = plan(strategy);
    p.gates.sequential = None;
    p
}

fn green_script(script: Script) -> WorldConfig {
    let mut c = WorldConfig::default();
    c.scripts.green = script;
    c
}

/// The verified splits as `(seconds from start, green percent)`.
#[track_caller]
fn check_splits(h: &Harness, expected: &[(u64, u32)]) {
    let got: Vec<(u64, u32)> = h
        .verified_splits()
        .into_iter()
        .map(|(t, s)| (t.as_secs(), s.weight(Color::Green)))
        .collect();
    assert_eq!(got, expected, "verified splits (seconds, green %)");
}

fn events(h: &Harness) -> Vec<(u64, Event)> {
    h.events
        .entries()
        .into_iter()
        .map(|e| (h.offset(e.at).as_secs(), e.event))
        .collect()
}

#[track_caller]
fn rolled_back(outcome: &Outcome) -> (&RollbackReason, Option<usize>) {
    match outcome {
        Outcome::RolledBack {
            reason,
            step,
            split,
        } => {
            assert_eq!(
                *split,
                TrafficSplit::all_to(Color::Blue),
                "a rollback ends at 100% stable"
            );
            (reason, *step)
        }
        other => panic!("expected a rollback, got {other}"),
    }
}

/// When the world of `seed` publishes the minute that starts `minute` seconds after the start (seconds from
/// the start), complete or not.
fn published_at(seed: u64, minute: u64) -> u64 {
    let (delay, _) = PublicationDelay::default().draw(seed, EPOCH_2026 + secs(minute));
    minute + 60 + delay.as_secs_f64().ceil() as u64
}

/// When a healthy bake of `bake` seconds that starts at `start` (its split verified then) ends in the world
/// of `seed`: at its planned end, or later at the first poll after CloudWatch has published every minute of
/// its split that closed by then — at least one.
fn bake_end(seed: u64, start: u64, bake: u64) -> u64 {
    let first = start.div_ceil(60) * 60;
    let last = ((start + bake) / 60 * 60).max(first + 60);
    let published = (first..last)
        .step_by(60)
        .map(|m| published_at(seed, m))
        .max()
        .unwrap_or(0);
    poll_after(start, published).max(start + bake)
}

/// The verified splits of a healthy gradual deployment of `percents` with bakes of `bake` seconds,
/// starting at `start`, and when it ends.
fn gradual_timeline(seed: u64, start: u64, percents: &[u32], bake: u64) -> (Vec<(u64, u32)>, u64) {
    let mut at = start;
    let mut splits = Vec::new();
    for p in percents {
        splits.push((at, *p));
        at = bake_end(seed, at, bake);
    }
    (splits, at)
}

/// The first poll at or after `t` of a bake whose polls fall every 10 s after `bake_start`.
fn poll_after(bake_start: u64, t: u64) -> u64 {
    bake_start + (t.saturating_sub(bake_start)).div_ceil(10) * 10
}

/// Every minute judged lies wholly within one split (no write inside it, after the first write), had closed
/// before the poll that judged it, and is judged once per gate.
#[track_caller]
fn assert_judged_minutes_are_complete_and_post_shift(h: &Harness) {
    let entries = h.events.entries();
    let writes: Vec<Timestamp> = entries
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::SplitWritten { .. } | Event::SplitVerified { .. }
            )
        })
        .map(|e| e.at)
        .collect();
    let first = *writes.first().expect("a split was written");
    let mut seen = std::collections::BTreeSet::new();
    for e in &entries {
        let Event::Polled { reports, .. } = &e.event else {
            continue;
        };
        for r in reports {
            let Some(m) = r.minute else { continue };
            assert!(
                m >= first,
                "minute {m} began before the first shift at {first}"
            );
            assert!(
                !writes.iter().any(|w| m < *w && *w < m + MINUTE),
                "minute {m} straddles a split change"
            );
            assert!(m + MINUTE <= e.at, "minute {m} judged before it closed");
            assert!(seen.insert((m, r.gate.clone())), "minute {m} judged twice");
        }
    }
    assert!(!seen.is_empty(), "some minutes were judged");
}

// ---- happy paths -------------------------------------------------------------------------------------------

#[test]
fn gradual_happy_path_moves_at_each_bake_boundary() {
    let h = Harness::new(WorldConfig::default());
    let outcome = h.run("d1", thresholds_only(Strategy::gradual())).unwrap();
    assert_eq!(
        outcome,
        Outcome::Promoted {
            split: TrafficSplit::all_to(Color::Green),
            scaled_down: None
        }
    );
    // Each bake lasts its 3 minutes, then until CloudWatch has published every minute of it that closed:
    // the guide's rhythm plus about one publication delay per step.
    let (splits, end) = gradual_timeline(1, 0, &[10, 25, 50, 75, 100], 180);
    check_splits(&h, &splits);
    assert_eq!(h.elapsed(), secs(end));
    assert!(h.elapsed() > secs(900 + 5 * 60), "{:?}", h.elapsed());
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Green));
    // 18 polls per 3-minute bake at 10 s (then one every 10 s while the last bake waits), each checking
    // green's target health; GetMetricData only on the polls that have a closed minute still to judge; one
    // write and one read-back per step.
    let calls = h.world.calls();
    let polls: Vec<Option<Window>> = h
        .events
        .entries()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Polled { window, .. } => Some(window),
            _ => None,
        })
        .collect();
    let bakes: u64 = splits
        .iter()
        .zip(splits.iter().skip(1).map(|s| s.0).chain([end]))
        .map(|((from, _), to)| (to - from) / 10)
        .sum();
    assert_eq!(polls.len() as u64, bakes, "a poll every 10 s of every bake");
    let asked = polls.iter().filter(|w| w.is_some()).count();
    assert_eq!(calls.count("GetMetricData"), asked);
    assert!(
        asked < polls.len(),
        "at most one GetMetricData per poll, none before a minute closed"
    );
    for w in polls.iter().flatten() {
        assert_eq!(w.from, w.from.floor_minute(), "whole minutes asked");
        assert_eq!(w.to, w.to.floor_minute(), "whole minutes asked");
    }
    assert_judged_minutes_are_complete_and_post_shift(&h);
    assert_eq!(calls.count("ModifyListener"), 5);
    // The listener is read before each poll, before each write (it must still be where the run left it), and
    // before `promoted`: a change made outside the run is seen within one poll interval.
    assert_eq!(
        calls.count("DescribeListeners"),
        6 + polls.len() + 5 + 1,
        "1 pre-flight read + 5 read-backs + 1 per poll + 5 pre-write reads + 1 before promoting"
    );
    assert_eq!(
        calls.count("DescribeTargetHealth"),
        5 + polls.len(),
        "one pre-step check per weight increase, one per poll"
    );
    assert_eq!(h.store.lock_holder(APP), None, "the lock is released");
}

#[test]
fn immediate_happy_path_switches_at_once_then_validates() {
    let h = Harness::new(WorldConfig::default());
    let outcome = h.run("d1", plan(Strategy::immediate())).unwrap();
    assert_eq!(outcome.kind(), "promoted");
    check_splits(&h, &[(0, 100)]);
    // The 3-minute validation bake ends once CloudWatch has published its three minutes.
    assert_eq!(h.elapsed(), secs(bake_end(1, 0, 180)));
}

#[test]
fn canary_happy_path_waits_for_approval() {
    let h = Harness::new(WorldConfig::default());
    let h = {
        let a = ScriptedApproval::approve_after(h.clock(), secs(300));
        h.with_approval(Arc::new(a))
    };
    let outcome = h.run("d1", plan(Strategy::canary())).unwrap();
    assert_eq!(outcome.kind(), "promoted");
    // 10 % at 0, bake 3 min and until its minutes are published, approval 5 min after it was requested,
    // 100 %, bake 3 min and until its minutes are published.
    let asked = bake_end(1, 0, 180);
    check_splits(&h, &[(0, 10), (asked + 300, 100)]);
    assert_eq!(h.elapsed(), secs(bake_end(1, asked + 300, 180)));
    assert_judged_minutes_are_complete_and_post_shift(&h);
    let ev = events(&h);
    assert!(ev.contains(&(
        asked,
        Event::ApprovalRequested {
            index: 2,
            // The default canary waits an hour, then rolls back (issue 21: never for ever).
            deadline: Some(h.world.start() + secs(asked) + secs(3600))
        }
    )));
    assert!(ev.iter().any(|(t, e)| *t == asked + 300
        && matches!(
            e,
            Event::ApprovalDecided {
                index: 2,
                decision: Some(ApprovalDecision::Approved { .. })
            }
        )));
    // The gates keep watching the canary while it waits: one poll every 10 s.
    let polls_while_waiting = ev
        .iter()
        .filter(|(t, e)| {
            (asked..asked + 300).contains(t) && matches!(e, Event::Polled { index: 2, .. })
        })
        .count();
    assert_eq!(polls_while_waiting, 29);
}

#[test]
fn custom_schedule_with_a_pause_judges_nothing_while_paused() {
    let h = Harness::new(WorldConfig::default());
    let schedule = Schedule::new(vec![
        Step::SetWeight {
            percent: bluegreen_core::Share::percent(50),
        },
        Step::Pause { duration: secs(60) },
        Step::SetWeight {
            percent: bluegreen_core::Share::percent(100),
        },
    ])
    .unwrap();
    let outcome = h.run("d1", Plan::new(APP, schedule)).unwrap();
    assert_eq!(outcome.kind(), "promoted");
    check_splits(&h, &[(0, 50), (60, 100)]);
    assert_eq!(h.world.calls().count("GetMetricData"), 0);
}

#[test]
fn deploys_from_green_to_blue_as_well() {
    let h = Harness::new(WorldConfig {
        initial_split: TrafficSplit::all_to(Color::Green),
        ..WorldConfig::default()
    });
    let outcome = h.run("d1", plan(Strategy::immediate())).unwrap();
    assert_eq!(outcome.kind(), "promoted");
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
}

// ---- rollback at each step, for each trigger ---------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Trigger {
    Errors,
    Latency,
    HealthyHosts,
    Alarm,
}

const ALARM: &str = "poc-web-high-latency";

fn world_with_trouble(trigger: Trigger, at: Duration) -> WorldConfig {
    let mut config = match trigger {
        // Severe enough that 5 s of it breaches a 60-second window even at 100 %, where there is no stable
        // traffic to compare with and only the absolute limits apply.
        Trigger::Errors => green_script(Script::default().at(at, Change::ErrorRate(0.9))),
        Trigger::Latency => green_script(Script::default().at(at, Change::LatencyAvg(secs(15)))),
        Trigger::HealthyHosts => {
            green_script(Script::default().at(at, Change::UnhealthyTargets(2)))
        }
        Trigger::Alarm => WorldConfig::default(),
    };
    config.alarms.insert(ALARM.into(), vec![]);
    if let Trigger::Alarm = trigger {
        config
            .alarms
            .insert(ALARM.into(), vec![(at, AlarmState::Alarm)]);
    }
    config
}

#[test]
fn gradual_rolls_back_at_every_step_for_every_trigger() {
    for trigger in [
        Trigger::Errors,
        Trigger::Latency,
        Trigger::HealthyHosts,
        Trigger::Alarm,
    ] {
        for step in 0..5u64 {
            // 65 s into the step's bake (the steps before it are healthy, so they keep the healthy
            // timeline).
            let (healthy, _) = gradual_timeline(1, 0, &[10, 25, 50, 75, 100], 180);
            let step_start = healthy[step as usize].0;
            let trouble = secs(step_start + 65);
            let h = Harness::new(world_with_trouble(trigger, trouble));
            let mut p = plan(Strategy::gradual());
            p.gates = GatePolicy::default().with_alarms(&[ALARM.to_string()]);
            let outcome = h.run("d1", p).unwrap();
            let (reason, at_step) = rolled_back(&outcome);
            let expected_gate = match trigger {
                Trigger::Errors => "5xx-rate",
                Trigger::Latency => "latency-avg",
                Trigger::HealthyHosts => "healthy-hosts",
                Trigger::Alarm => "alarms",
            };
            let RollbackReason::Gate { report, .. } = reason else {
                panic!("{trigger:?} at step {step}: expected a gate rollback, got {reason}");
            };
            assert_eq!(report.gate, expected_gate, "{trigger:?} at step {step}");
            assert_eq!(report.verdict, Verdict::Fail);
            let fast = matches!(trigger, Trigger::HealthyHosts | Trigger::Alarm);
            let (value, limit) = (
                report.value.expect("a measured value"),
                report.limit.expect("a limit"),
            );
            match trigger {
                Trigger::HealthyHosts => assert!(value < limit, "{report}"),
                _ => assert!(value > limit, "{report}"),
            }
            if fast {
                // Target health and alarms are checked on every poll: the first poll after the trouble
                // starts catches it (polls every 10 s), in the bake where it started.
                assert_eq!(report.minute, None);
                assert_eq!(
                    at_step,
                    Some(step as usize * 2 + 1),
                    "{trigger:?}: rolled back during bake {step}"
                );
                assert_eq!(
                    h.elapsed(),
                    trouble + secs(5),
                    "{trigger:?} at step {step}: reaction time"
                );
            } else {
                // Metrics: the first minute holding the trouble fails as soon as CloudWatch publishes
                // it, within the same bake (which waits for all of its minutes).
                let minute = (EPOCH_2026 + trouble).floor_minute();
                let minute = if minute < EPOCH_2026 + secs(step_start) {
                    minute + MINUTE
                } else {
                    minute
                };
                assert_eq!(report.minute, Some(minute), "{trigger:?} at step {step}");
                let offset = minute.since(EPOCH_2026).as_secs();
                assert_eq!(
                    h.elapsed(),
                    secs(poll_after(step_start, published_at(1, offset))),
                    "{trigger:?} at step {step}: reaction time"
                );
                assert_eq!(
                    at_step,
                    Some(step as usize * 2 + 1),
                    "{trigger:?}: rolled back during bake {step}"
                );
            }
            assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
            let last = h
                .verified_splits()
                .last()
                .copied()
                .expect("a verified split");
            assert_eq!(
                last.1,
                TrafficSplit::all_to(Color::Blue),
                "the rollback is verified"
            );
        }
    }
}

#[test]
fn observe_mode_records_failures_and_never_rolls_back() {
    let h = Harness::new(Scenario::Green5xx.world(1));
    let mut p = plan(Strategy::gradual());
    for g in &mut p.gates.bake {
        g.mode = GateMode::Observe;
    }
    if let Some(judge) = p.gates.sequential.as_mut() {
        judge.mode = gate::JudgeMode::Observe;
    }
    let outcome = h.run("d1", p).unwrap();
    assert_eq!(outcome.kind(), "promoted");
    // Every minute judged from 4:00 on (green at 20 % 5xx) failed, and none before; each was recorded.
    let trouble = EPOCH_2026 + TROUBLE_AT;
    let mut failed = 0;
    for e in h.events.entries() {
        let Event::Polled { reports, .. } = &e.event else {
            continue;
        };
        for r in reports.iter().filter(|r| r.gate == "5xx-rate") {
            let m = r.minute.expect("the 5xx gate judges minutes");
            assert_eq!(r.verdict == Verdict::Fail, m >= trouble, "{r}");
            failed += usize::from(r.verdict == Verdict::Fail);
        }
    }
    assert!(failed >= 8, "observed failures are recorded ({failed})");
}

#[test]
fn consecutive_failure_limit_tolerates_isolated_failures() {
    // 5xx only for 5 s: one failing minute. With limits of 3 failures / 2 consecutive, no rollback.
    let script = Script::default()
        .at(secs(65), Change::ErrorRate(0.5))
        .at(secs(70), Change::ErrorRate(0.001));
    let h = Harness::new(green_script(script));
    // The judge takes a burst on the new color alone as evidence, whatever the limits: thresholds only.
    let mut p = thresholds_only(Strategy::gradual());
    p.gates.window = Some(secs(10));
    p.gates.limits.failures = 3;
    p.gates.limits.consecutive_failures = 2;
    let outcome = h.run("d1", p).unwrap();
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
}

// ---- failures users of today's tools report -----------------------------------------------------------------

#[test]
fn no_healthy_targets_moves_no_weight() {
    // argo-rollouts #2864: traffic shifted to a color with no healthy targets.
    let h = Harness::new(WorldConfig {
        instances: PerColor { blue: 2, green: 0 },
        ..WorldConfig::default()
    });
    let outcome = h.run("d1", plan(Strategy::gradual())).unwrap();
    let (reason, step) = rolled_back(&outcome);
    assert!(
        matches!(reason, RollbackReason::PreStep { report } if report.gate == "pre-step-healthy" && report.value == Some(0.0))
    );
    assert_eq!(step, Some(0));
    assert!(
        h.world.writes().is_empty(),
        "a failed pre-step gate writes nothing, not even the unchanged weights: {:?}",
        h.world.writes()
    );
}

#[test]
fn unhealthy_targets_fail_the_pre_step_gate() {
    let h = Harness::new(green_script(
        Script::default().at(Duration::ZERO, Change::UnhealthyTargets(1)),
    ));
    let outcome = h.run("d1", plan(Strategy::gradual())).unwrap();
    let (reason, _) = rolled_back(&outcome);
    assert!(
        matches!(reason, RollbackReason::PreStep { report } if report.gate == "pre-step-unhealthy")
    );
    assert_eq!(
        h.world.calls().count("ModifyListener"),
        0,
        "nothing moved, so nothing is written: the rollback only reads the split back"
    );
}

#[test]
fn a_stale_read_is_retried_until_it_matches() {
    let h = Harness::new(WorldConfig::default());
    h.faults.update(|f| f.stale_reads = 2);
    let outcome = h.run("d1", plan(Strategy::immediate())).unwrap();
    assert_eq!(outcome.kind(), "promoted");
    let stale = h
        .events
        .notices()
        .iter()
        .filter(|(_, n)| matches!(n, Notice::StaleRead { .. }))
        .count();
    assert_eq!(stale, 2);
    // Two stale reads cost two 1-second waits before the split is verified.
    check_splits(&h, &[(2, 100)]);
}

#[test]
fn a_write_that_never_reads_back_rolls_back() {
    let h = Harness::new(WorldConfig::default());
    h.faults.update(|f| f.stale_reads = 4);
    let mut p = plan(Strategy::gradual());
    p.verify.attempts = 3;
    let outcome = h.run("d1", p).unwrap();
    let (reason, step) = rolled_back(&outcome);
    assert_eq!(
        *reason,
        RollbackReason::VerificationFailed {
            expected: TrafficSplit::new(90, 10).unwrap(),
            read: TrafficSplit::all_to(Color::Blue)
        }
    );
    assert_eq!(step, Some(0));
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
}

#[test]
fn no_traffic_is_decided_by_the_no_data_policy() {
    // flagger #1689: an analysis with no traffic must not silently pass. CloudWatch publishes every minute
    // (host counts) with no request count: each settled minute is judged as no data.
    let settled = |m: u64| published_at(1, m).max(published_at(1, m + 60));
    let cases = [
        // Three inconclusive minutes roll back: the third (2:00) is settled once 3:00 is published.
        (
            NoDataPolicy::Inconclusive,
            "rolled-back",
            Some(poll_after(0, settled(120))),
        ),
        // The first minute fails as soon as it is settled.
        (
            NoDataPolicy::Fail,
            "rolled-back",
            Some(poll_after(0, settled(0))),
        ),
        // No minute is settled by the bake's planned end (3:00): it is extended to its bound (8:00);
        // each no-data minute then extends it within that bound, and at the bound it rolls back.
        (NoDataPolicy::ExtendBake, "rolled-back", Some(480)),
        (NoDataPolicy::Pass, "promoted", None),
    ];
    for (policy, kind, rollback_at) in cases {
        let h = Harness::new(Scenario::NoTraffic.world(1));
        let mut p = plan(Strategy::gradual());
        for g in &mut p.gates.bake {
            g.no_data = policy;
        }
        let outcome = h.run("d1", p).unwrap();
        assert_eq!(outcome.kind(), kind, "{policy:?}: {outcome}");
        if let Some(at) = rollback_at {
            assert_eq!(h.elapsed(), secs(at), "{policy:?}");
        }
        if kind == "rolled-back" {
            let (RollbackReason::Gate { report, .. }, Some(1)) = rolled_back(&outcome) else {
                panic!("{policy:?}: a gate rolls back the first bake: {outcome}");
            };
            assert_eq!(report.detail, "no request data", "{policy:?}");
            assert!(report.minute.is_some(), "{policy:?}");
        }
        if policy == NoDataPolicy::ExtendBake {
            let extended: Vec<u64> = events(&h)
                .iter()
                .filter_map(|(_, e)| match e {
                    Event::BakeExtended { until, .. } => Some(h.offset(*until).as_secs()),
                    _ => None,
                })
                .collect();
            assert_eq!(extended, [480]);
        }
    }
}

#[test]
fn bake_extension_is_bounded() {
    let h = Harness::new(WorldConfig::default());
    let mut p = plan(Strategy::immediate());
    p.gates.min_requests = 1_000_000; // no minute ever has enough: every judged minute extends
    for g in &mut p.gates.bake {
        g.no_data = NoDataPolicy::ExtendBake;
    }
    p.gates.max_extension = secs(120);
    let outcome = h.run("d1", p).unwrap();
    // The bake reaches its planned end (3:00) with no minute passed: it is extended to the latest it may
    // run (5:00); the no-data minutes extend it within that bound, and it never runs past it.
    let (RollbackReason::Gate { limit, report }, _) = rolled_back(&outcome) else {
        panic!("{outcome}");
    };
    assert_eq!(report.verdict, Verdict::Inconclusive);
    assert!(
        report.detail.contains("fewer than the 1000000 needed"),
        "{report}"
    );
    let extensions: Vec<u64> = events(&h)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::BakeExtended { until, .. } => Some(h.offset(*until).as_secs()),
            _ => None,
        })
        .collect();
    assert_eq!(extensions, [300], "{limit}");
    assert!(h.elapsed() <= secs(300), "{:?}", h.elapsed());
}

#[test]
fn a_rejected_canary_rolls_back() {
    let h = Harness::new(WorldConfig::default());
    let reject = ApprovalDecision::Rejected {
        by: "alice".into(),
        reason: Some("error budget".into()),
    };
    let h = {
        let a = ScriptedApproval::after(h.clock(), secs(120), reject);
        h.with_approval(Arc::new(a))
    };
    let outcome = h.run("d1", plan(Strategy::canary())).unwrap();
    let (reason, step) = rolled_back(&outcome);
    assert_eq!(
        *reason,
        RollbackReason::ApprovalRejected {
            by: "alice".into(),
            reason: Some("error budget".into())
        }
    );
    assert_eq!(step, Some(2));
    // Rejected 2 minutes after the approval was asked for.
    assert_eq!(h.elapsed(), secs(bake_end(1, 0, 180) + 120));
}

#[test]
fn an_approval_timeout_does_what_it_says() {
    // Approval requested after the 10 % bake, times out 10 minutes later; promoting adds a 3-minute bake
    // at 100 %, which waits for CloudWatch's minutes.
    let timeout = bake_end(1, 0, 180) + 600;
    for (action, kind, end) in [
        (TimeoutAction::Rollback, "rolled-back", timeout),
        (
            TimeoutAction::Promote,
            "promoted",
            bake_end(1, timeout, 180),
        ),
    ] {
        let h = Harness::new(WorldConfig::default());
        let strategy = Strategy::Canary {
            percent: bluegreen_core::Share::percent(10),
            bake: secs(180),
            approval_timeout: Some(secs(600)),
            on_timeout: action,
        };
        let outcome = h.run("d1", plan(strategy)).unwrap();
        assert_eq!(outcome.kind(), kind, "{action:?}");
        assert_eq!(h.elapsed(), secs(end), "{action:?}");
        if action == TimeoutAction::Rollback {
            assert_eq!(
                *rolled_back(&outcome).0,
                RollbackReason::ApprovalTimedOut { after: secs(600) }
            );
        }
    }
}

#[test]
fn a_second_concurrent_deployment_is_refused() {
    let h = Harness::new(WorldConfig::default());
    let first = h.executor();
    let second = h.executor();
    let clock = h.world.clock().clone();
    let (a, b) = run_virtual(&clock, async {
        let a = first.run(
            DeploymentId::new("first").unwrap(),
            plan(Strategy::gradual()),
        );
        let b = async {
            clock.sleep(secs(60)).await;
            let writes_before = h.world.calls().count("ModifyListener");
            let r = second
                .run(
                    DeploymentId::new("second").unwrap(),
                    plan(Strategy::immediate()),
                )
                .await;
            assert_eq!(
                h.world.calls().count("ModifyListener"),
                writes_before,
                "the refused one wrote nothing"
            );
            r
        };
        futures::join!(a, b)
    })
    .unwrap();
    assert_eq!(a.unwrap().kind(), "promoted");
    match b {
        Err(ExecError::Locked { message }) => assert!(message.contains("first"), "{message}"),
        other => panic!("expected the lock to refuse, got {other:?}"),
    }
    assert!(
        h.store
            .record(&DeploymentId::new("second").unwrap())
            .is_empty(),
        "no record for the refused one"
    );
}

#[test]
fn a_split_that_is_not_at_rest_is_refused_without_changes() {
    let h = Harness::new(WorldConfig {
        initial_split: TrafficSplit::new(60, 40).unwrap(),
        ..WorldConfig::default()
    });
    let err = h.run("d1", plan(Strategy::gradual())).unwrap_err();
    assert!(matches!(err, ExecError::NotAtRest { .. }), "{err}");
    assert_eq!(h.world.calls().count("ModifyListener"), 0);
    assert_eq!(h.store.lock_holder(APP), None, "the lock is released");
}

#[test]
fn a_reused_deployment_id_is_refused() {
    let h = Harness::new(WorldConfig::default());
    h.run("d1", plan(Strategy::immediate())).unwrap();
    assert_eq!(
        h.run("d1", plan(Strategy::immediate())).unwrap_err(),
        ExecError::DuplicateId(DeploymentId::new("d1").unwrap())
    );
}

#[test]
fn transient_errors_are_retried() {
    let h = Harness::new(WorldConfig::default());
    h.faults.update(|f| {
        f.throttle_next = 2;
        f.unavailable_next = 1;
    });
    let outcome = h.run("d1", plan(Strategy::immediate())).unwrap();
    assert_eq!(outcome.kind(), "promoted");
    let retries = h
        .events
        .notices()
        .iter()
        .filter(|(_, n)| matches!(n, Notice::Retrying { .. }))
        .count();
    assert_eq!(retries, 3);
}

#[test]
fn persistent_provider_errors_roll_back() {
    let h = Harness::new(WorldConfig::default());
    let exec = h.executor();
    let clock = h.world.clock().clone();
    let faults = h.faults.clone();
    let outcome = run_virtual(&clock, async {
        let run = exec.run(DeploymentId::new("d1").unwrap(), plan(Strategy::gradual()));
        let chaos = async {
            clock.sleep(secs(30)).await;
            faults.update(|f| f.unavailable_next = 5); // one call exhausts its 5 attempts
        };
        futures::join!(run, chaos).0
    })
    .unwrap()
    .unwrap();
    let (reason, _) = rolled_back(&outcome);
    // The poll at 0:30 reads the listener first (it must still be where the run left it).
    assert!(
        matches!(reason, RollbackReason::Provider { operation, .. } if operation == "read_split"),
        "{reason}"
    );
}

#[test]
fn cancellation_rolls_back_or_leaves_the_split() {
    for (policy, kind) in [
        (CancelPolicy::Rollback, "rolled-back"),
        (CancelPolicy::Leave, "aborted"),
    ] {
        let h = Harness::new(WorldConfig::default());
        let exec = h.executor();
        let token = exec.cancel_token();
        let clock = h.world.clock().clone();
        let mut p = plan(Strategy::gradual());
        p.on_cancel = policy;
        let outcome = run_virtual(&clock, async {
            let run = exec.run(DeploymentId::new("d1").unwrap(), p);
            // Cancelled 65 s into the 25 % step's bake.
            let cancel_at = bake_end(1, 0, 180) + 65;
            let ctrl_c = async {
                clock.sleep(secs(cancel_at)).await;
                token.cancel();
            };
            futures::join!(run, ctrl_c).0
        })
        .unwrap()
        .unwrap();
        assert_eq!(outcome.kind(), kind, "{policy:?}");
        assert_eq!(h.elapsed(), secs(bake_end(1, 0, 180) + 65), "stops at once");
        let expected = match policy {
            CancelPolicy::Rollback => TrafficSplit::all_to(Color::Blue),
            CancelPolicy::Leave => TrafficSplit::new(75, 25).unwrap(),
        };
        assert_eq!(h.world.split(), expected, "{policy:?}");
    }
}

// ---- capacity (R8) -----------------------------------------------------------------------------------------

fn capacity_world() -> WorldConfig {
    WorldConfig {
        instances: PerColor { blue: 3, green: 0 },
        ..WorldConfig::default()
    }
}

#[test]
fn capacity_comes_up_before_traffic_and_the_old_color_goes_after() {
    let h = Harness::new(capacity_world()).with_capacity();
    let mut p = thresholds_only(Strategy::gradual());
    p.capacity = Some(CapacityPolicy::default());
    let outcome = h.run("d1", p).unwrap();
    assert_eq!(
        outcome,
        Outcome::Promoted {
            split: TrafficSplit::all_to(Color::Green),
            scaled_down: Some(Color::Blue)
        }
    );
    let ev = events(&h);
    assert!(ev.contains(&(
        0,
        Event::CapacityRequested {
            color: Color::Green,
            desired: 3,
            previous: 0
        }
    )));
    // 90 s pending + 150 s of health checks (5 × 30 s), checked every 15 s: ready at 4:00.
    assert!(ev.contains(&(
        240,
        Event::CapacityReady {
            color: Color::Green,
            in_service: 3,
            healthy: 3
        }
    )));
    // Each step waits at least its 3-minute bake, longer when CloudWatch is late with the bake's first
    // minute (with this seed, minute 4:00 appears after 7:30), never more than 5 minutes longer.
    let splits: Vec<(u64, u32)> = h
        .verified_splits()
        .into_iter()
        .map(|(t, s)| (t.as_secs(), s.weight(Color::Green)))
        .collect();
    let percents: Vec<u32> = splits.iter().map(|s| s.1).collect();
    assert_eq!(percents, [10, 25, 50, 75, 100]);
    assert_eq!(splits[0].0, 240);
    assert!(published_at(1, 240) > 420);
    for pair in splits.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!((180..=480).contains(&gap), "{splits:?}");
    }
    // Promoted once the last bake's last closed minute is published; the old color is kept 5 minutes,
    // then scaled down.
    let last = splits[4].0;
    let last_minute = (last + 180) / 60 * 60 - 60;
    let promoted = poll_after(last, published_at(1, last_minute)).max(last + 180);
    assert!(ev.contains(&(
        promoted,
        Event::Promoted {
            split: TrafficSplit::all_to(Color::Green)
        }
    )));
    assert!(ev.contains(&(promoted + 300, Event::ScaledDown { color: Color::Blue })));
    assert_eq!(h.world.asg_capacity(Color::Blue).0, 0);
    assert_eq!(h.world.asg_capacity(Color::Green), (3, 3));
}

#[test]
fn the_old_color_is_never_scaled_down_before_the_final_split_is_verified() {
    // argo-rollouts #3333: the stable ReplicaSet was scaled down before traffic had moved.
    // Here the final write does not read back (stale reads outlast verification): no scale-down at all.
    let h = Harness::new(capacity_world()).with_capacity();
    let mut p = plan(Strategy::immediate());
    p.capacity = Some(CapacityPolicy::default());
    p.verify.attempts = 2;
    h.faults.update(|f| f.stale_reads = 3);
    let outcome = h.run("d1", p).unwrap();
    assert_eq!(outcome.kind(), "rolled-back");
    assert_eq!(
        h.world.asg_capacity(Color::Blue).0,
        3,
        "blue keeps its capacity"
    );
    assert!(!events(&h).iter().any(|(_, e)| matches!(
        e,
        Event::ScaledDown { .. } | Event::ScaleDownScheduled { .. }
    )));
}

#[test]
fn scale_down_happens_only_after_promotion_is_recorded() {
    let h = Harness::new(capacity_world()).with_capacity();
    let mut p = plan(Strategy::gradual());
    p.capacity = Some(CapacityPolicy {
        scale_down_delay: Duration::ZERO,
        ..CapacityPolicy::default()
    });
    h.run("d1", p).unwrap();
    let ev = events(&h);
    let pos =
        |f: &dyn Fn(&Event) -> bool| ev.iter().position(|(_, e)| f(e)).expect("event present");
    let final_verified =
        pos(&|e| matches!(e, Event::SplitVerified { split } if split.weight(Color::Green) == 100));
    let promoted = pos(&|e| matches!(e, Event::Promoted { .. }));
    let scaled = pos(&|e| matches!(e, Event::ScaledDown { .. }));
    assert!(final_verified < promoted && promoted < scaled);
}

#[test]
fn capacity_that_never_becomes_healthy_rolls_back_without_moving_traffic() {
    let mut config = capacity_world();
    config.scripts.green = Script::default().at(Duration::ZERO, Change::UnhealthyTargets(3));
    let h = Harness::new(config).with_capacity();
    let mut p = plan(Strategy::gradual());
    p.capacity = Some(CapacityPolicy::default());
    let outcome = h.run("d1", p).unwrap();
    let (reason, _) = rolled_back(&outcome);
    assert_eq!(
        *reason,
        RollbackReason::CapacityNotReady {
            color: Color::Green,
            desired: 3,
            in_service: 3,
            healthy: 0
        }
    );
    // Rolled back when the 10-minute ready timeout ran out; green's group goes back to 0 five minutes later.
    let record = h.store.record(&DeploymentId::new("d1").unwrap());
    let rolled = record
        .iter()
        .find(|e| matches!(e.event, Event::RolledBack { .. }))
        .unwrap();
    assert_eq!(h.offset(rolled.at), secs(600));
    assert_eq!(h.elapsed(), secs(900));
    assert_eq!(h.world.asg_capacity(Color::Green).0, 0);
    assert!(
        h.verified_splits()
            .iter()
            .all(|(_, s)| s.weight(Color::Green) == 0)
    );
}

// ---- crash and resume ----------------------------------------------------------------------------------------

/// Kills the deployment after every possible number of recorded transitions, resumes it, and checks that
/// the end state equals an uninterrupted run's and that no completed step ran again.
fn crash_everywhere(
    config: impl Fn() -> WorldConfig,
    strategy: Strategy,
    action: ResumeAction,
    expected: &str,
) {
    let reference = Harness::new(config());
    let outcome = reference.run("d1", plan(strategy.clone())).unwrap();
    let total = reference.store.appends();
    assert!(total > 5);
    let expected_split = reference.world.split();
    let id = DeploymentId::new("d1").unwrap();
    for n in 1..total {
        let h = Harness::new(config());
        h.store.hang_after(Some(n));
        let exec = h.executor();
        let died = run_virtual_until(
            h.world.clock(),
            exec.run(id.clone(), plan(strategy.clone())),
            || false,
        );
        assert_eq!(
            died.map(|r| r.is_err()),
            Some(true),
            "the run stalls on its {}th append",
            n + 1
        );
        h.store.hang_after(None);
        let promoted = h
            .store
            .record(&id)
            .iter()
            .any(|e| matches!(e.event, Event::Promoted { .. }));
        if promoted && action == ResumeAction::Rollback {
            // Rolling back a promoted deployment could send all traffic to a scaled-down color.
            assert_eq!(
                h.resume("d1", action),
                Err(ExecError::AlreadyPromoted(id.clone())),
                "crash after {n}"
            );
            h.world.clock().advance(DEFAULT_LEASE_TTL);
            let resumed = h.resume("d1", ResumeAction::Continue).unwrap();
            assert_eq!(resumed.kind(), "promoted", "crash after {n}");
            continue;
        }
        // The dead run's lease still holds the lock: a resume now is refused (it cannot tell a dead run
        // from a live one)...
        assert!(
            matches!(h.resume("d1", action), Err(ExecError::Locked { .. })),
            "crash after {n}: the lock is held until its lease lapses"
        );
        // ...and once the lease has lapsed, the resume takes the lock over.
        h.world.clock().advance(DEFAULT_LEASE_TTL);
        let resumed = h.resume("d1", action).unwrap();
        let record = h.store.record(&id);
        let finished = record
            .iter()
            .filter(|e| matches!(e.event, Event::Finished { .. }))
            .count();
        assert_eq!(finished, 1, "crash after {n}: one outcome recorded");
        match action {
            ResumeAction::Continue => {
                assert_eq!(resumed.kind(), outcome.kind(), "crash after {n}: {resumed}");
                assert_eq!(h.world.split(), expected_split, "crash after {n}");
            }
            ResumeAction::Rollback => {
                assert_eq!(resumed.kind(), expected, "crash after {n}: {resumed}");
                assert_eq!(
                    h.world.split(),
                    TrafficSplit::all_to(Color::Blue),
                    "crash after {n}"
                );
            }
        }
        // No completed step ran again.
        let resumed_at = record
            .iter()
            .position(|e| matches!(e.event, Event::Resumed { .. }))
            .unwrap();
        let completed_before: Vec<usize> = record[..resumed_at]
            .iter()
            .filter_map(|e| match e.event {
                Event::StepCompleted { index } => Some(index),
                _ => None,
            })
            .collect();
        for e in &record[resumed_at..] {
            if let Event::StepStarted { index, .. } = e.event {
                assert!(
                    !completed_before.contains(&index),
                    "crash after {n}: step {index} ran twice"
                );
            }
        }
        // Resuming a finished deployment changes nothing.
        let calls = h.world.calls().len();
        assert_eq!(h.resume("d1", ResumeAction::Continue).unwrap(), resumed);
        assert_eq!(h.world.calls().len(), calls);
    }
}

#[test]
fn a_crash_at_any_point_resumes_to_the_same_end() {
    crash_everywhere(
        WorldConfig::default,
        Strategy::gradual(),
        ResumeAction::Continue,
        "promoted",
    );
}

#[test]
fn a_crash_during_a_failing_deployment_still_rolls_back() {
    crash_everywhere(
        || Scenario::Green5xx.world(1),
        Strategy::gradual(),
        ResumeAction::Continue,
        "rolled-back",
    );
}

#[test]
fn a_crash_then_resume_with_rollback_rolls_back() {
    let strategy = Strategy::Gradual {
        steps: vec![50, 100],
        bake: secs(60),
    };
    crash_everywhere(
        WorldConfig::default,
        strategy,
        ResumeAction::Rollback,
        "rolled-back",
    );
}

#[test]
fn a_crash_with_capacity_resumes_to_the_same_end() {
    let strategy = Strategy::Immediate { bake: secs(60) };
    let reference = Harness::new(capacity_world()).with_capacity();
    let mut p = plan(strategy);
    p.capacity = Some(CapacityPolicy::default());
    reference.run("d1", p.clone()).unwrap();
    let total = reference.store.appends();
    for n in 1..total {
        let h = Harness::new(capacity_world()).with_capacity();
        h.store.hang_after(Some(n));
        let exec = h.executor();
        let _ = run_virtual_until(
            h.world.clock(),
            exec.run(DeploymentId::new("d1").unwrap(), p.clone()),
            || false,
        );
        h.store.hang_after(None);
        h.world.clock().advance(DEFAULT_LEASE_TTL);
        let outcome = h.resume("d1", ResumeAction::Continue).unwrap();
        assert_eq!(outcome.kind(), "promoted", "crash after {n}");
        assert_eq!(
            h.world.asg_capacity(Color::Blue).0,
            0,
            "crash after {n}: blue scaled down"
        );
        assert_eq!(
            h.world.asg_capacity(Color::Green).0,
            3,
            "crash after {n}: green at capacity"
        );
    }
}

#[test]
fn resume_without_a_record_is_an_error() {
    let h = Harness::new(WorldConfig::default());
    assert_eq!(
        h.resume("nope", ResumeAction::Continue).unwrap_err(),
        ExecError::NoRecord(DeploymentId::new("nope").unwrap())
    );
}

#[test]
fn healthy_releases_are_not_rolled_back_by_noise() {
    // The default gates over 1,000 differently seeded healthy worlds: chance errors in small windows right
    // after a shift must not look like a breach (see docs/decisions/002-default-gates.md).
    let rolled_back: Vec<u64> = (0..1000)
        .filter(|seed| {
            let h = Harness::new(WorldConfig {
                seed: *seed,
                ..WorldConfig::default()
            });
            h.run("d1", plan(Strategy::gradual())).unwrap().kind() != "promoted"
        })
        .collect();
    assert_eq!(rolled_back, Vec::<u64>::new(), "seeds rolled back");
}

// ---- manual shift and emergency rollback (R5) ---------------------------------------------------------------

fn shift_plan(target: Color, percent: u32, validation: Option<u64>) -> Plan {
    let mut p = Plan::new(APP, Schedule::shift(percent, validation.map(secs)).unwrap());
    p.expected_stable = Some(target.other());
    p
}

#[test]
fn a_manual_shift_moves_gates_and_validates() {
    let h = Harness::new(WorldConfig::default());
    let outcome = h
        .run("s1", shift_plan(Color::Green, 10, Some(300)))
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Promoted {
            split: TrafficSplit::new(90, 10).unwrap(),
            scaled_down: None
        }
    );
    // The 5-minute validation ends once CloudWatch has published its last minute (4:00–5:00).
    assert_eq!(h.elapsed(), secs(poll_after(0, published_at(1, 240))));
    assert_judged_minutes_are_complete_and_post_shift(&h);
    // From a split that is not at rest, onwards and back.
    assert_eq!(
        h.run("s2", shift_plan(Color::Green, 25, None))
            .unwrap()
            .kind(),
        "promoted"
    );
    assert_eq!(h.world.split(), TrafficSplit::new(75, 25).unwrap());
    let checks_before = h.world.calls().count("DescribeTargetHealth");
    assert_eq!(
        h.run("s3", shift_plan(Color::Green, 0, None))
            .unwrap()
            .kind(),
        "promoted"
    );
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    assert_eq!(
        h.world.calls().count("DescribeTargetHealth"),
        checks_before + 1,
        "moving weight back checks the color that receives it (blue) once"
    );
    // The record of a shift replays.
    let record = h.store.record(&DeploymentId::new("s1").unwrap());
    assert!(Replay::new(&record).unwrap().schedule_is_shift());
}

#[test]
fn a_failing_manual_shift_rolls_back_to_the_other_color() {
    let h = Harness::new(Scenario::Green5xx.world(1));
    let outcome = h
        .run("s1", shift_plan(Color::Green, 10, Some(600)))
        .unwrap();
    let (reason, _) = rolled_back(&outcome);
    assert!(
        matches!(reason, RollbackReason::Gate { report, .. } if report.gate == "5xx-rate"),
        "{reason}"
    );
    let h = Harness::new(WorldConfig {
        instances: PerColor { blue: 2, green: 0 },
        ..WorldConfig::default()
    });
    let outcome = h.run("s1", shift_plan(Color::Green, 10, None)).unwrap();
    assert!(matches!(
        rolled_back(&outcome).0,
        RollbackReason::PreStep { .. }
    ));
    assert_eq!(
        h.run("s2", Plan::new(APP, Schedule::shift(10, None).unwrap()))
            .unwrap_err()
            .to_string(),
        "invalid plan: a shift needs the stable color (the one to roll back to)"
    );
}

#[test]
fn the_emergency_path_sets_and_verifies_a_split_without_a_lock() {
    let h = Harness::new(WorldConfig {
        initial_split: TrafficSplit::new(40, 60).unwrap(),
        ..WorldConfig::default()
    });
    h.faults.update(|f| {
        f.stale_reads = 2;
        f.throttle_next = 1;
    });
    h.store.hang_after(Some(0)); // the store is not touched at all
    let exec = h.executor();
    let split = run_virtual(
        h.world.clock(),
        exec.set_split(TrafficSplit::all_to(Color::Blue)),
    )
    .unwrap()
    .unwrap();
    assert_eq!(split, TrafficSplit::all_to(Color::Blue));
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
}

// ---- hooks (R9 stage 4) ---------------------------------------------------------------------------------------

/// Fails at one point; records every point it is called at.
struct FailAt(Option<&'static str>, std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl Hooks for FailAt {
    async fn run(&self, point: &HookPoint) -> Result<(), HookFailure> {
        self.1.lock().unwrap().push(point.to_string());
        match self.0 {
            Some(p) if p == point.to_string() => Err(HookFailure {
                hook: "./smoke.sh".into(),
                detail: "exited with 1".into(),
            }),
            _ => Ok(()),
        }
    }
}

#[test]
fn hooks_run_at_their_points_and_a_failure_rolls_back() {
    let mut h = Harness::new(WorldConfig::default());
    let hooks = Arc::new(FailAt(None, Default::default()));
    h.hooks = Some(hooks.clone());
    let strategy = Strategy::Gradual {
        steps: vec![50, 100],
        bake: secs(60),
    };
    assert_eq!(
        h.run("d1", plan(strategy.clone())).unwrap().kind(),
        "promoted"
    );
    assert_eq!(
        *hooks.1.lock().unwrap(),
        [
            "pre-traffic",
            "after step 1",
            "after step 3",
            "after the switch"
        ]
    );

    for (point, moved) in [
        ("pre-traffic", false),
        ("after step 3", true),
        ("after the switch", true),
    ] {
        let mut h = Harness::new(WorldConfig::default());
        h.hooks = Some(Arc::new(FailAt(Some(point), Default::default())));
        let outcome = h.run("d1", plan(strategy.clone())).unwrap();
        let (reason, _) = rolled_back(&outcome);
        assert!(
            matches!(reason, RollbackReason::Hook { failure, .. } if failure.detail == "exited with 1"),
            "{reason}"
        );
        assert_eq!(
            h.verified_splits()
                .iter()
                .any(|(_, s)| s.weight(Color::Green) > 0),
            moved,
            "{point}"
        );
    }
}

#[test]
fn the_fallback_color_follows_the_outcome() {
    let fallback = |config: WorldConfig, strategy: Strategy| {
        let h = Harness::new(config);
        h.run("d1", plan(strategy)).unwrap();
        Replay::new(&h.store.record(&DeploymentId::new("d1").unwrap()))
            .unwrap()
            .fallback_color()
    };
    assert_eq!(
        fallback(WorldConfig::default(), Strategy::immediate()),
        Color::Green,
        "promoted: green is stable now"
    );
    assert_eq!(
        fallback(Scenario::Green5xx.world(1), Strategy::gradual()),
        Color::Blue,
        "rolled back: blue"
    );
}

#[test]
fn the_testing_guides_example_holds() {
    // docs/testing.md, verbatim but for the names.
    let strategy = Strategy::Custom {
        steps: vec![
            Step::SetWeight {
                percent: bluegreen_core::Share::percent(5),
            },
            Step::Bake {
                duration: Duration::from_secs(300),
            },
            Step::SetWeight {
                percent: bluegreen_core::Share::percent(100),
            },
            Step::Bake {
                duration: Duration::from_secs(300),
            },
        ],
    };
    let h = Harness::new(Scenario::Green5xx.world(1));
    let outcome = h
        .run("t1", Plan::new("app", strategy.compile().unwrap()))
        .unwrap();
    assert_eq!(outcome.kind(), "rolled-back");
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    assert!(h.elapsed() <= Duration::from_secs(300 + 270 + 10));
}

#[test]
fn after_a_rollback_the_failed_color_goes_back_to_its_capacity_unless_kept() {
    for keep in [false, true] {
        let mut config = capacity_world();
        config.scripts.green = Scenario::Green5xx.green_script(Duration::ZERO);
        let h = Harness::new(config).with_capacity();
        let mut p = plan(Strategy::gradual());
        p.capacity = Some(CapacityPolicy {
            keep_failed: keep,
            ..CapacityPolicy::default()
        });
        let outcome = h.run("d1", p).unwrap();
        assert_eq!(outcome.kind(), "rolled-back");
        let record = h.store.record(&DeploymentId::new("d1").unwrap());
        let rolled = record
            .iter()
            .find(|e| matches!(e.event, Event::RolledBack { .. }))
            .unwrap()
            .at;
        let restored = record.iter().find_map(|e| match e.event {
            Event::CapacityRestored { color, desired } => Some((e.at, color, desired)),
            _ => None,
        });
        if keep {
            assert_eq!(restored, None);
            assert_eq!(
                h.world.asg_capacity(Color::Green).0,
                3,
                "kept for debugging"
            );
        } else {
            // Five minutes after the rollback (a fast way forward meanwhile), back to 0.
            assert_eq!(restored, Some((rolled + secs(300), Color::Green, 0)));
            assert_eq!(h.world.asg_capacity(Color::Green).0, 0);
        }
        assert_eq!(h.world.asg_capacity(Color::Blue).0, 3, "blue untouched");
    }
}

/// `Event::kind` is the record's JSON `type`, and `Event::TYPES` lists every kind a run writes.
#[test]
fn event_kinds_are_the_record_s_types() {
    let mut seen = std::collections::BTreeSet::new();
    for (strategy, config) in [
        (Strategy::gradual(), WorldConfig::default()),
        (
            Strategy::gradual(),
            green_script(Script::default().at(secs(200), Change::ErrorRate(0.2))),
        ),
    ] {
        let h = Harness::new(config);
        let mut p = plan(strategy);
        p.capacity = Some(CapacityPolicy::default());
        let _ = h.run("d1", p);
        for e in h.events.entries() {
            let json = serde_json::to_value(&e.event).unwrap();
            assert_eq!(json["type"], e.event.kind(), "{json}");
            assert!(Event::TYPES.contains(&e.event.kind()), "{}", e.event.kind());
            seen.insert(e.event.kind());
        }
    }
    assert!(seen.len() >= 12, "{seen:?}");
}

/// Issue 14: a plan with a new image makes a launch template version with it, points the new color's group
/// at it before raising it, and records which image; an id that is not an AMI is refused by validation.
#[test]
fn a_new_image_becomes_the_new_color_s_launch_template_before_it_is_raised() {
    let h = Harness::new(WorldConfig::default()).with_capacity();
    let mut p = plan(Strategy::immediate());
    p.capacity = Some(CapacityPolicy {
        image: Some(IMAGES[1].into()),
        ..CapacityPolicy::default()
    });
    let outcome = h.run("d1", p.clone()).unwrap();
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome:?}");
    assert_eq!(h.world.image(Color::Green).as_deref(), Some(IMAGES[1]));
    let kinds: Vec<&str> = h.events.entries().iter().map(|e| e.event.kind()).collect();
    let set = kinds
        .iter()
        .position(|k| *k == "launch-template-set")
        .expect("recorded");
    let raised = kinds
        .iter()
        .position(|k| *k == "capacity-ready")
        .expect("brought up");
    assert!(set < raised, "{kinds:?}");
    assert!(h.events.entries().iter().any(|e| matches!(
        &e.event,
        Event::LaunchTemplateSet { image: Some(i), .. } if i == IMAGES[1]
    )));
    p.capacity.as_mut().unwrap().image = Some("golden".into());
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("an AMI id looks like")
    );
}

/// A program without an approval channel: a canary's approval step is rejected at once, saying why, and the
/// deployment rolls back (a gradual one never asks).
#[test]
fn without_an_approval_channel_a_canary_rolls_back_saying_why() {
    let h = Harness::new(WorldConfig::default()).with_approval(Arc::new(NoApprovalChannel));
    let outcome = h.run("d1", plan(Strategy::canary())).unwrap();
    let (reason, _) = rolled_back(&outcome);
    assert!(
        matches!(reason, RollbackReason::ApprovalRejected { reason: Some(r), .. } if r.contains("no approval channel")),
        "{reason:?}"
    );
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
}

/// A gradual rollout continued from the split a person left with a manual shift.
fn from_current(stable: Color) -> Plan {
    let mut p = plan(Strategy::gradual());
    p.expected_stable = Some(stable);
    p.from_current = true;
    p
}

#[test]
fn a_rollout_continues_from_a_split_moved_by_hand() {
    // Issue 21 item 6: a person shifted green to 10 % by hand (the guide's `--action shift`); `deploy`
    // refused ("finish or roll back first"), so the rollout could not be continued by the tool. Continued
    // from the current split, it judges 10 % (that step's bake: it was never judged), then goes on from 25 %,
    // each weight through the pre-step gate.
    let h = Harness::new(WorldConfig {
        initial_split: TrafficSplit::new(90, 10).unwrap(),
        ..WorldConfig::default()
    });
    let outcome = h.run("c1", from_current(Color::Blue)).unwrap();
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
    let green: Vec<u32> = h
        .verified_splits()
        .into_iter()
        .map(|(_, s)| s.weight(Color::Green))
        .collect();
    assert_eq!(green, [10, 25, 50, 75, 100], "where it stood, then onward");
    assert_eq!(
        h.world.calls().count("ModifyListener"),
        4,
        "10 % was not written again"
    );
    let record = h.store.record(&DeploymentId::new("c1").unwrap());
    let Event::Started { plan, stable, .. } = &record[0].event else {
        panic!("started first")
    };
    assert_eq!(*stable, Color::Blue);
    assert!(
        plan.schedule.to_string().starts_with("bake 3m → set 25%"),
        "the schedule as run: {}",
        plan.schedule
    );
    assert_eq!(
        record
            .iter()
            .filter(|e| matches!(e.event, Event::PreStepChecked { .. }))
            .count(),
        4,
        "every weight step through the pre-step gate"
    );
    // From 30 %, past 25 %: the next step is 50 %.
    let h = Harness::new(WorldConfig {
        initial_split: TrafficSplit::new(70, 30).unwrap(),
        ..WorldConfig::default()
    });
    h.run("c2", from_current(Color::Blue)).unwrap();
    let first = h.world.writes()[0].clone();
    let green_tg = h.world.target_group_arn(Color::Green);
    assert_eq!(
        first
            .weights
            .iter()
            .find(|(a, _)| *a == green_tg)
            .map(|(_, w)| *w),
        Some(50),
        "green 50 of 100: {first:?}"
    );
}

#[test]
fn a_continued_rollout_rolls_back_to_the_stable_color_and_refuses_what_it_cannot_continue() {
    // Green fails health checks: the next weight step's pre-step gate stops it, and the rollback sends all
    // traffic to blue (the 10 % set by hand included).
    let h = Harness::new(WorldConfig {
        initial_split: TrafficSplit::new(90, 10).unwrap(),
        ..Scenario::GreenUnhealthy.world(1)
    });
    let outcome = h.run("c3", from_current(Color::Blue)).unwrap();
    assert_eq!(outcome.kind(), "rolled-back", "{outcome}");
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    // Nothing to continue when the new color already has everything; a stable color is required.
    let h = Harness::new(WorldConfig {
        initial_split: TrafficSplit::all_to(Color::Green),
        ..WorldConfig::default()
    });
    let err = h.run("c4", from_current(Color::Blue)).unwrap_err();
    assert!(
        matches!(&err, ExecError::InvalidPlan(m) if m.contains("already has all the traffic")),
        "{err}"
    );
    let mut no_stable = from_current(Color::Blue);
    no_stable.expected_stable = None;
    let err = h.run("c5", no_stable).unwrap_err();
    assert!(matches!(err, ExecError::InvalidPlan(_)), "{err}");
    assert_eq!(
        h.world.calls().count("ModifyListener"),
        0,
        "nothing written"
    );
}

/// Issue 22: a new color whose targets refuse connections (the load balancer answers 3 % of its requests
/// with a 502 itself, and the targets' own 5xx stay normal) passes the default gates, and is rolled back by
/// `elb-5xx-rate` when it is on.
#[test]
fn refused_connections_roll_back_only_with_the_load_balancer_gate() {
    let world = || green_script(Script::default().at(secs(0), Change::RefusedRate(0.03)));
    let h = Harness::new(world());
    let outcome = h.run("d1", plan(Strategy::immediate())).unwrap();
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome}");

    let h = Harness::new(world());
    let mut p = plan(Strategy::immediate());
    p.gates.bake.push(BakeGate {
        name: "elb-5xx-rate".into(),
        mode: GateMode::Enforce,
        no_data: NoDataPolicy::Inconclusive,
        check: Check::ElbErrorRate(ElbErrorRate {
            max: 0.01,
            min_errors: 5,
        }),
    });
    let outcome = h.run("d2", p).unwrap();
    let (reason, _) = rolled_back(&outcome);
    match reason {
        RollbackReason::Gate { report, .. } => {
            assert_eq!(report.gate, "elb-5xx-rate", "{report}");
            assert!(report.value.is_some_and(|v| v > 0.01), "{report}");
        }
        other => panic!("{other}"),
    }
}
