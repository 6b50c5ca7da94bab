//! The watch after the switch (issue 24): all traffic on the new color, the old one kept, the gates polled
//! for hours, a breach rolling back while the rollback is armed — driven by one long run, or by short runs
//! every few minutes that each resume it. On virtual time: a 24-hour watch runs in milliseconds.

use bluegreen_core::gate::Verdict;
use bluegreen_core::*;
use bluegreen_testkit::*;
use std::time::Duration;

const APP: &str = "poc/poc-web";
const HOUR: Duration = Duration::from_secs(3600);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The default gradual release, then a watch of `watch` armed for `armed`.
fn watched(watch: Duration, armed: Duration) -> Plan {
    watched_with(watch, armed, WatchKeep::Full, WatchBaseline::Before)
}

/// [`watched`], keeping the old color as `keep` says and comparing with `baseline`.
fn watched_with(
    watch: Duration,
    armed: Duration,
    keep: WatchKeep,
    baseline: WatchBaseline,
) -> Plan {
    let mut steps = Strategy::gradual().compile().unwrap().steps().to_vec();
    steps.push(Step::Watch {
        duration: watch,
        armed,
        keep,
        baseline,
    });
    let mut plan = Plan::new(APP, Schedule::new(steps).unwrap());
    // A full deployment: green raised first, blue scaled down five minutes after the promotion.
    plan.capacity = Some(CapacityPolicy::default());
    plan
}

/// A world whose green starts answering 30 % of requests with 5xx `at` after the start.
fn trouble_at(at: Duration) -> WorldConfig {
    let mut c = WorldConfig::default();
    c.scripts.green = Script::default().at(at, Change::ErrorRate(0.3));
    c
}

fn offset_of(h: &Harness, f: impl Fn(&Event) -> bool) -> Option<Duration> {
    h.events
        .entries()
        .iter()
        .find(|e| f(&e.event))
        .map(|e| h.offset(e.at))
}

/// When the world of `seed` publishes the minute that starts at `minute` (from the start).
fn published_at(seed: u64, minute: Duration) -> Duration {
    let (delay, _) = PublicationDelay::default().draw(seed, EPOCH_2026 + minute);
    minute + secs(60) + Duration::from_secs(delay.as_secs_f64().ceil() as u64)
}

/// The scenario in one long run: promoted to 100 % in the first half hour, the new color's 5xx rise
/// three hours later, inside the armed window → rolled back to the kept old color within one CloudWatch
/// publication of the first bad minute and one poll; the old color never lost its capacity.
#[test]
fn a_breach_hours_after_the_switch_rolls_back_to_the_kept_color() {
    let at = secs(3 * 3600);
    let h = Harness::new(trouble_at(at)).with_capacity();
    let exec = h.executor().watching_through();
    let outcome = run_virtual(
        h.world.clock(),
        exec.run(
            DeploymentId::new("w1").unwrap(),
            watched(24 * HOUR, 4 * HOUR),
        ),
    )
    .unwrap()
    .unwrap();
    let Outcome::RolledBack { reason, split, .. } = &outcome else {
        panic!("{outcome}")
    };
    assert_eq!(*split, TrafficSplit::all_to(Color::Blue));
    assert!(
        matches!(reason, RollbackReason::Gate { report, .. } if report.gate == "5xx-rate"),
        "{reason}"
    );
    let watch_from = offset_of(&h, |e| {
        matches!(
            e,
            Event::StepStarted {
                step: Step::Watch { .. },
                ..
            }
        )
    })
    .unwrap();
    assert!(
        watch_from < secs(40 * 60),
        "the watch began at {watch_from:?}"
    );
    let started = offset_of(&h, |e| matches!(e, Event::RollbackStarted { .. })).unwrap();
    // A watch polls once a minute.
    let limit = published_at(WorldConfig::default().seed, at) + secs(60);
    assert!(
        started > at && started <= limit,
        "the rollback started at {started:?}; the first bad minute was published by {:?}",
        limit - secs(60)
    );
    // Blue kept its capacity through the watch: the rollback had somewhere to go at once.
    assert!(
        h.events
            .entries()
            .iter()
            .all(|e| !matches!(e.event, Event::ScaledDown { .. }))
    );
    assert!(h.world.asg_capacity(Color::Blue).0 > 0);
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
}

/// Past the armed window a breach is recorded, in observe mode, and traffic stays; the watch ends on time
/// and the deployment is promoted, then the old color is scaled down.
#[test]
fn past_the_armed_window_a_breach_is_told_not_acted_on() {
    let h = Harness::new(trouble_at(secs(3 * 3600))).with_capacity();
    let exec = h.executor().watching_through();
    let outcome = run_virtual(
        h.world.clock(),
        exec.run(DeploymentId::new("w2").unwrap(), watched(6 * HOUR, HOUR)),
    )
    .unwrap()
    .unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Promoted {
                scaled_down: Some(Color::Blue),
                ..
            }
        ),
        "{outcome}"
    );
    let observed_failures = h
        .events
        .entries()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Polled { reports, .. } => Some(reports.clone()),
            _ => None,
        })
        .flatten()
        .filter(|r| r.verdict == Verdict::Fail)
        .inspect(|r| assert_eq!(r.mode, gate::GateMode::Observe, "{r}"))
        .count();
    assert!(observed_failures > 0, "the breach was recorded");
    let watch_from = offset_of(&h, |e| {
        matches!(
            e,
            Event::StepStarted {
                step: Step::Watch { .. },
                ..
            }
        )
    })
    .unwrap();
    let promoted = offset_of(&h, |e| matches!(e, Event::Promoted { .. })).unwrap();
    assert!(
        promoted >= watch_from + 6 * HOUR && promoted < watch_from + 6 * HOUR + secs(20),
        "promoted at {promoted:?}, the watch began at {watch_from:?}"
    );
}

/// Driven by short runs — `bluegreen watch --once` every 5 minutes — the same breach is caught by the
/// first run after its minute is published: each run resumes the watch, judges every minute published
/// since the last run judged (none skipped, none twice), and stops, leaving the deployment in progress.
#[test]
fn short_runs_every_five_minutes_catch_the_breach() {
    let at = secs(3 * 3600);
    let h = Harness::new(trouble_at(at)).with_capacity();
    // The release itself stops at the watch after its first poll.
    let first = h.run("w3", watched(24 * HOUR, 4 * HOUR)).unwrap();
    let Outcome::Watching {
        until,
        armed_until,
        kept,
    } = first
    else {
        panic!("{first}")
    };
    assert_eq!(kept, Color::Blue);
    assert_eq!(until.since(armed_until), 20 * HOUR);
    // Another release is refused meanwhile: the deployment is in progress.
    let refused = h.run("other", watched(HOUR, HOUR)).unwrap_err();
    assert!(matches!(refused, ExecError::Unfinished(_)), "{refused}");
    let mut runs = 0;
    let outcome = loop {
        h.world.clock().advance(secs(300));
        runs += 1;
        match h.resume("w3", ResumeAction::Continue).unwrap() {
            Outcome::Watching { until: u, .. } => assert_eq!(u, until, "the end is kept"),
            other => break other,
        }
        assert!(runs < 100, "no breach caught");
    };
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome}");
    // The baseline was taken by the first run and read from the record by every later one.
    let taken = h
        .events
        .entries()
        .iter()
        .filter(|e| matches!(e.event, Event::BaselineTaken { .. }))
        .count();
    assert_eq!(taken, 1, "the baseline is taken once, over {runs} runs");
    let started = offset_of(&h, |e| matches!(e, Event::RollbackStarted { .. })).unwrap();
    let published = published_at(WorldConfig::default().seed, at);
    assert!(
        started >= published && started <= published + secs(300),
        "rolled back at {started:?}: the first run after the bad minute was published ({published:?})"
    );
    // Every minute of the watch judged once, in order, across all the runs.
    let mut minutes: Vec<Timestamp> = h
        .events
        .entries()
        .iter()
        .filter_map(|e| match &e.event {
            Event::Polled { reports, .. } => Some(
                reports
                    .iter()
                    .filter(|r| r.gate == "5xx-rate")
                    .filter_map(|r| r.minute)
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    let judged = minutes.len();
    minutes.dedup();
    assert_eq!(minutes.len(), judged, "no minute judged twice");
    assert!(minutes.windows(2).all(|w| w[1] > w[0]));
    let watch_minutes: Vec<&Timestamp> = minutes
        .iter()
        .filter(|m| h.offset(**m) > secs(40 * 60))
        .collect();
    assert!(
        watch_minutes
            .windows(2)
            .all(|w| w[1].since(*w[0]) == secs(60)),
        "no minute skipped between runs"
    );
}

/// `promote` ends a watch early (the deployment is promoted); `abort` rolls it back.
#[test]
fn a_person_ends_the_watch_or_rolls_it_back() {
    for (decision, promoted) in [
        (ApprovalDecision::Approved { by: "alice".into() }, true),
        (
            ApprovalDecision::Rejected {
                by: "bob".into(),
                reason: Some("support tickets".into()),
            },
            false,
        ),
    ] {
        let h = Harness::new(WorldConfig::default()).with_capacity();
        let approval = std::sync::Arc::new(ScriptedApproval::after(
            std::sync::Arc::new(h.world.clock().clone()),
            HOUR,
            decision.clone(),
        ));
        let h = h.with_approval(approval);
        let outcome = run_virtual(
            h.world.clock(),
            h.executor().watching_through().run(
                DeploymentId::new("w4").unwrap(),
                watched(24 * HOUR, 4 * HOUR),
            ),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            matches!(outcome, Outcome::Promoted { .. }),
            promoted,
            "{decision:?}: {outcome}"
        );
        assert!(h.elapsed() < 2 * HOUR, "ended at once, not after 24 h");
    }
}

/// A watch is the last step, after all traffic moved, armed for no longer than it lasts.
#[test]
fn a_watch_is_the_last_step() {
    let bake = Step::Bake { duration: secs(60) };
    let watch = Step::Watch {
        duration: HOUR,
        armed: HOUR,
        keep: WatchKeep::Full,
        baseline: WatchBaseline::Before,
    };
    let all = Step::SetWeight {
        percent: Share::ALL,
    };
    assert_eq!(
        Schedule::new(vec![all.clone(), watch.clone(), bake.clone()])
            .unwrap_err()
            .to_string(),
        "step 2 (watch) must be the last step, after all traffic is on the new color"
    );
    assert_eq!(
        Schedule::new(vec![
            all.clone(),
            Step::Watch {
                duration: HOUR,
                armed: 2 * HOUR,
                keep: WatchKeep::Min,
                baseline: WatchBaseline::None,
            }
        ])
        .unwrap_err()
        .to_string(),
        "step 2 (watch 1h) cannot keep the rollback armed for 2h, longer than it watches"
    );
    let s = Schedule::new(vec![all, bake, watch]).unwrap();
    assert_eq!(
        s.to_string(),
        "set 100% → bake 1m → watch 1h (rollback armed 1h)"
    );
}

/// What a watch costs (docs/after-the-switch.md): the provider calls of one hour of a long-running watch,
/// and of one hour driven by `watch --once` every 5 minutes, counted on the simulated world. A budget, not
/// a timing: a change that makes a watch chattier fails here.
#[test]
fn a_watch_hour_costs_a_bounded_number_of_calls() {
    // One long run, watching through: count the calls of the watch's second hour.
    let h = Harness::new(WorldConfig::default()).with_capacity();
    let exec = h.executor().watching_through();
    let started = h.world.clock().now();
    let _ = run_virtual(
        h.world.clock(),
        exec.run(DeploymentId::new("cost").unwrap(), watched(3 * HOUR, HOUR)),
    )
    .unwrap()
    .unwrap();
    let watch_from = started
        + offset_of(&h, |e| {
            matches!(
                e,
                Event::StepStarted {
                    step: Step::Watch { .. },
                    ..
                }
            )
        })
        .unwrap();
    let hour: Vec<_> = h
        .world
        .calls()
        .calls()
        .into_iter()
        .filter(|c| c.at >= watch_from + HOUR && c.at < watch_from + 2 * HOUR)
        .collect();
    let count = |op: &str| hour.iter().filter(|c| c.operation == op).count();
    let mut per_op = std::collections::BTreeMap::new();
    for c in &hour {
        *per_op.entry(c.operation).or_insert(0) += 1;
    }
    eprintln!(
        "long-running watch, one hour: {} calls: {per_op:?}",
        hour.len()
    );
    // A poll a minute: the listener, target health, the stable color's group and one metrics query; and
    // the lease (the listener's mark) renewed every 20 s.
    for op in ["GetMetricData", "DescribeTargetHealth", "DescribeListeners"] {
        assert!(count(op) <= 62, "{op}: {}", count(op));
    }
    assert!(count("AddTags") <= 182, "{}", count("AddTags"));
    assert!(hour.len() <= 400, "{}", hour.len());

    // Short runs every 5 minutes.
    let h = Harness::new(WorldConfig::default()).with_capacity();
    let _ = h.run("cost", watched(3 * HOUR, HOUR)).unwrap();
    h.world.calls().clear();
    for _ in 0..12 {
        h.world.clock().advance(secs(300));
        let _ = h.resume("cost", ResumeAction::Continue).unwrap();
    }
    let total = h.world.calls().len();
    eprintln!(
        "watch --once every 5 minutes, one hour: {total} calls: {:?}",
        h.world.calls().counts()
    );
    assert!(h.world.calls().count("GetMetricData") <= 24 + 2);
    assert!(total <= 12 * 12, "{total}");

    // The previous day's baseline: one more metrics query per poll, nothing else.
    let h = Harness::new(WorldConfig::default()).with_capacity();
    let started = h.world.clock().now();
    h.world.clock().advance(25 * HOUR);
    let plan = watched_with(3 * HOUR, HOUR, WatchKeep::Full, WatchBaseline::PreviousDay);
    let outcome = run_virtual(
        h.world.clock(),
        h.executor()
            .watching_through()
            .run(DeploymentId::new("cost-day").unwrap(), plan),
    )
    .unwrap()
    .unwrap();
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome}");
    let watch_from = started
        + offset_of(&h, |e| {
            matches!(
                e,
                Event::StepStarted {
                    step: Step::Watch { .. },
                    ..
                }
            )
        })
        .unwrap();
    let hour: Vec<_> = h
        .world
        .calls()
        .calls()
        .into_iter()
        .filter(|c| c.at >= watch_from + HOUR && c.at < watch_from + 2 * HOUR)
        .collect();
    let metrics = hour
        .iter()
        .filter(|c| c.operation == "GetMetricData")
        .count();
    eprintln!(
        "long-running watch with the previous day's baseline, one hour: {} calls, {metrics} GetMetricData",
        hour.len()
    );
    assert!(metrics <= 2 * 62, "{metrics}");
    assert!(hour.len() <= 400 + 62, "{}", hour.len());
}

/// A signal to the process running a watch (a CI job cancelled, a watcher service stopped) stops the run
/// and leaves the deployment watching — the release is complete — while an `abort` rolls it back.
#[test]
fn a_signal_leaves_the_watch_an_abort_rolls_back() {
    for (interrupt, watching) in [(true, true), (false, false)] {
        let h = Harness::new(WorldConfig::default()).with_capacity();
        let exec = h.executor().watching_through();
        let token = exec.cancel_token();
        let clock = h.world.clock().clone();
        let run = exec.run(
            DeploymentId::new("w5").unwrap(),
            watched(24 * HOUR, 4 * HOUR),
        );
        let stop = async {
            // Two hours into the release: well into its watch.
            clock.sleep(2 * HOUR).await;
            if interrupt {
                token.interrupt("SIGTERM on host ci-7");
            } else {
                token.cancel_because("abort by oncall");
            }
        };
        let (outcome, ()) = run_virtual(h.world.clock(), futures::future::join(run, stop)).unwrap();
        let outcome = outcome.unwrap();
        assert_eq!(
            matches!(outcome, Outcome::Watching { .. }),
            watching,
            "{interrupt}: {outcome}"
        );
        if !watching {
            assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome}");
            assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
        } else {
            assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Green));
            let record = h.events.entries();
            assert!(
                record
                    .iter()
                    .all(|e| !matches!(e.event, Event::Finished { .. }))
            );
        }
    }
}

/// A world whose green answers `rate` of requests with 5xx from `at` after the start, whose clock has run
/// `before` when the deployment starts (traffic all on blue meanwhile: the history a baseline reads).
fn regression_after(before: Duration, at: Duration, rate: f64) -> Harness {
    let mut c = WorldConfig::default();
    c.scripts.green = Script::default().at(before + at, Change::ErrorRate(rate));
    let h = Harness::new(c).with_capacity();
    h.world.clock().advance(before);
    h
}

fn watch_outcome(h: &Harness, id: &str, plan: Plan) -> Outcome {
    run_virtual(
        h.world.clock(),
        h.executor()
            .watching_through()
            .run(DeploymentId::new(id).unwrap(), plan),
    )
    .unwrap()
    .unwrap()
}

/// Issue 24 item 1, baselines after the switch: green's 5xx rise from blue's 0.1 % to 2 % two hours into
/// the watch — under the absolute limit (5 %), so the watch on the absolute limits alone (the only judge
/// before this) promoted it. Against the application's 30 minutes before the deployment (fetched once,
/// recorded), the relative limit (2 × 0.1 % + 1 %) catches it and rolls back, saying what it compared with;
/// against the same minutes a day earlier, too.
#[test]
fn a_regression_under_the_absolute_limits_is_caught_against_a_baseline() {
    let (before, at) = (secs(40 * 60), 2 * HOUR);
    // No baseline: promoted (the regression is under every absolute limit).
    let h = regression_after(before, at, 0.02);
    let plain = watch_outcome(
        &h,
        "b0",
        watched_with(4 * HOUR, 4 * HOUR, WatchKeep::Full, WatchBaseline::None),
    );
    assert!(matches!(plain, Outcome::Promoted { .. }), "{plain}");

    let cases = [
        (
            WatchBaseline::Before,
            before,
            "stable: the application before the deployment",
        ),
        (
            WatchBaseline::PreviousDay,
            25 * HOUR,
            "stable: the same minutes 1day earlier",
        ),
    ];
    for (baseline, before, said) in cases {
        let h = regression_after(before, at, 0.02);
        let start = h.world.clock().now();
        let outcome = watch_outcome(
            &h,
            "b1",
            watched_with(4 * HOUR, 4 * HOUR, WatchKeep::Full, baseline),
        );
        let Outcome::RolledBack { reason, .. } = &outcome else {
            panic!("{baseline:?}: {outcome}")
        };
        let RollbackReason::Gate { report, .. } = reason else {
            panic!("{reason}")
        };
        assert_eq!(report.gate, "5xx-rate");
        assert!(report.detail.contains(said), "{baseline:?}: {report}");
        let value = report.value.unwrap();
        assert!(value < 0.05 && value > 0.012, "{report}");
        let rolled = offset_of(&h, |e| matches!(e, Event::RollbackStarted { .. })).unwrap();
        assert!(
            rolled > before + at && rolled < before + at + secs(10 * 60),
            "{baseline:?}: rolled back at {rolled:?}"
        );
        let taken: Vec<_> = h
            .events
            .entries()
            .into_iter()
            .filter_map(|e| match e.event {
                Event::BaselineTaken { window, metrics } => Some((window, metrics)),
                _ => None,
            })
            .collect();
        if baseline == WatchBaseline::Before {
            assert_eq!(taken.len(), 1, "taken once");
            let (window, metrics) = taken[0];
            assert_eq!(window.to, start.floor_minute());
            assert_eq!(window.to.since(window.from), secs(30 * 60));
            let rate = metrics.error_rate().unwrap();
            assert!(rate < 0.003, "blue's rate before: {rate}");
        } else {
            assert!(taken.is_empty());
        }
    }
}

/// Issue 24 item 1, `keep = "min"`: when the watch begins the old color's group goes to its minimum (at
/// least one instance), recorded first; a breach sends traffic back to those at once and raises the group
/// to its capacity from before (recorded before the traffic moves); without a breach the watch ends, the
/// deployment is promoted and the old color scaled down as usual.
#[test]
fn a_watch_that_keeps_the_old_color_at_its_minimum_raises_it_back_on_a_rollback() {
    let at = 2 * HOUR;
    let h = regression_after(Duration::ZERO, at, 0.3);
    let blue_before = h.world.asg_capacity(Color::Blue).0;
    assert!(blue_before > 1);
    let outcome = watch_outcome(
        &h,
        "k1",
        watched_with(4 * HOUR, 4 * HOUR, WatchKeep::Min, WatchBaseline::Before),
    );
    assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome}");
    let entries = h.events.entries();
    let position = |f: &dyn Fn(&Event) -> bool| entries.iter().position(|e| f(&e.event)).unwrap();
    let kept = position(
        &|e| matches!(e, Event::CapacityKept { color: Color::Blue, desired: 1, previous } if *previous == blue_before),
    );
    let restored = position(
        &|e| matches!(e, Event::CapacityRestored { color: Color::Blue, desired } if *desired == blue_before),
    );
    let rollback = position(&|e| matches!(e, Event::RollbackStarted { .. }));
    let back = position(
        &|e| matches!(e, Event::SplitWritten { split } if *split == TrafficSplit::all_to(Color::Blue)),
    );
    assert!(kept < rollback && rollback < restored && restored < back);
    assert_eq!(h.world.asg_capacity(Color::Blue).0, blue_before);
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));

    // No breach: kept at one instance through the watch, then scaled down after the promotion.
    let h = Harness::new(WorldConfig::default()).with_capacity();
    let outcome = watch_outcome(
        &h,
        "k2",
        watched_with(2 * HOUR, HOUR, WatchKeep::Min, WatchBaseline::Before),
    );
    assert!(
        matches!(
            outcome,
            Outcome::Promoted {
                scaled_down: Some(Color::Blue),
                ..
            }
        ),
        "{outcome}"
    );
    assert_eq!(h.world.asg_capacity(Color::Blue).0, 0);
}

/// An emergency rollback (`bluegreen rollback`, another process, no lock) of a watch that keeps the old
/// color at its minimum raises that color back before sending it all traffic: otherwise its one instance
/// would carry the application until someone noticed.
#[test]
fn an_emergency_rollback_during_a_kept_at_minimum_watch_raises_the_old_color() {
    let h = Harness::new(WorldConfig::default()).with_capacity();
    let blue_before = h.world.asg_capacity(Color::Blue).0;
    let first = h
        .run(
            "k3",
            watched_with(24 * HOUR, 4 * HOUR, WatchKeep::Min, WatchBaseline::Before),
        )
        .unwrap();
    assert!(matches!(first, Outcome::Watching { .. }), "{first}");
    assert_eq!(
        h.world.asg_capacity(Color::Blue).0,
        1,
        "kept at one instance"
    );
    let exec = h.executor();
    let decision = run_virtual(
        h.world.clock(),
        exec.decide_rollback(
            APP,
            EmergencyRequest {
                to: None,
                force: false,
            },
        ),
    )
    .unwrap()
    .unwrap();
    assert_eq!(decision.to.color, Color::Blue);
    assert_eq!(decision.raise, Some(blue_before));
    let split = run_virtual(h.world.clock(), exec.emergency_rollback(&decision))
        .unwrap()
        .unwrap();
    assert_eq!(split, TrafficSplit::all_to(Color::Blue));
    assert_eq!(h.world.asg_capacity(Color::Blue).0, blue_before);
}
