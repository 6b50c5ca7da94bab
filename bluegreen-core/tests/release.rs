//! Releases (issue 25): one version through many targets in waves, on one virtual timeline — 60 simulated
//! load balancers in 4 regions, each with its own world, store and executor, released in milliseconds.

use bluegreen_core::release::{
    OnFailure, Release, ReleaseEvent, ReleaseTarget, TargetResult, Wave,
};
use bluegreen_core::*;
use bluegreen_testkit::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-northeast-1", "sa-east-1"];

/// A target's world: healthy, or with a new color that fails 30 % of its requests from the start.
fn world(failing: bool) -> WorldConfig {
    let mut c = WorldConfig::default();
    if failing {
        c.scripts.green = Script::default().at(Duration::ZERO, Change::ErrorRate(0.3));
    }
    c
}

/// An immediate release of the new color with a two-minute bake (traffic only: the old color stays up).
fn plan(app: &str) -> Plan {
    let schedule = Strategy::Immediate {
        bake: Duration::from_secs(120),
    }
    .compile()
    .unwrap();
    Plan::new(app, schedule)
}

struct Fleet {
    clock: ManualClock,
    /// Per wave, per target: its harness.
    harnesses: Vec<Vec<Harness>>,
}

/// `waves` × `per_wave` targets spread over the four regions; `failing` is (wave, index) of the target
/// whose new color fails.
fn fleet(waves: usize, per_wave: usize, failing: Option<(usize, usize)>) -> Fleet {
    let clock = ManualClock::default();
    let harnesses = (0..waves)
        .map(|w| {
            (0..per_wave)
                .map(|i| Harness::with_clock(world(failing == Some((w, i))), clock.clone()))
                .collect()
        })
        .collect();
    Fleet { clock, harnesses }
}

fn release(f: &Fleet, on_failure: OnFailure) -> Release {
    let waves = f
        .harnesses
        .iter()
        .enumerate()
        .map(|(w, hs)| Wave {
            name: format!("wave-{}", w + 1),
            targets: hs
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let region = REGIONS[i % REGIONS.len()];
                    ReleaseTarget {
                        name: format!("prod/app-{}-{}@{region}", w + 1, i + 1),
                        region: region.into(),
                        executor: h.executor(),
                        plan: plan(&format!("prod/app-{}-{}", w + 1, i + 1)),
                    }
                })
                .collect(),
        })
        .collect();
    Release {
        name: "web-1.4.2".into(),
        waves,
        bake_between: Duration::from_secs(600),
        on_failure,
        per_region: 1,
        alarms: Vec::new(),
        alarm_source: None,
        alarm_poll: Duration::from_secs(60),
        approval: None,
    }
}

/// Runs `r` on the fleet's clock; the events with their virtual times.
fn run(
    f: &Fleet,
    r: &Release,
) -> (
    release::ReleaseOutcome,
    Vec<(Timestamp, ReleaseEvent)>,
    Duration,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let kept = events.clone();
    let clock = f.clock.clone();
    let observer = move |e: &ReleaseEvent| kept.lock().unwrap().push((clock.now(), e.clone()));
    let wall = Instant::now();
    let outcome = run_virtual(
        &f.clock,
        r.run(Arc::new(f.clock.clone()), CancelToken::new(), &observer),
    )
    .unwrap();
    let took = wall.elapsed();
    let events = events.lock().unwrap().clone();
    (outcome, events, took)
}

/// The scenario: 3 waves × 20 targets in 4 regions, a regression in wave 2's third target. No target
/// of wave 3 starts (its load balancers never see a write); wave 2's targets still running are cancelled
/// within one gate poll of the verdict and roll back; with `rollback-all` every target of waves 1 and 2
/// that was promoted is rolled back too, while its old color is kept. Virtual time: the release's hours
/// run in well under a second.
#[test]
fn a_regression_in_wave_two_stops_wave_three_and_rolls_waves_one_and_two_back() {
    let f = fleet(3, 20, Some((1, 2)));
    let r = release(&f, OnFailure::RollbackAll);
    r.validate().unwrap();
    let (outcome, events, took) = run(&f, &r);
    eprintln!("3 × 20 targets in 4 regions: {took:?} of real time");

    let halted = outcome.halted.clone().expect("halted");
    assert!(
        halted.starts_with("prod/app-2-3@ap-northeast-1: rolled back"),
        "{halted}"
    );
    // Wave 3: nothing started, nothing written.
    for (i, (name, result)) in outcome.targets[2].iter().enumerate() {
        assert_eq!(*result, TargetResult::NotStarted, "{name}");
        assert!(f.harnesses[2][i].world.writes().is_empty(), "{name}");
    }
    // The failing target rolled back by its gate.
    assert!(matches!(
        &outcome.targets[1][2].1,
        TargetResult::Deployed {
            outcome: Outcome::RolledBack {
                reason: RollbackReason::Gate { .. },
                ..
            }
        }
    ));
    // Every target of waves 1 and 2 ends with all traffic on blue.
    for (w, wave) in outcome.targets[..2].iter().enumerate() {
        for (i, (name, result)) in wave.iter().enumerate() {
            assert_eq!(
                f.harnesses[w][i].world.split(),
                TrafficSplit::all_to(Color::Blue),
                "{name}: {result:?}"
            );
        }
    }
    // Wave 1 was all promoted, then rolled back with the release.
    assert!(
        outcome.targets[0]
            .iter()
            .all(|(_, r)| matches!(r, TargetResult::RolledBackWithRelease { .. }))
    );
    // The targets of wave 2 running at the verdict were cancelled within one gate poll (10 s).
    let halt_at = events
        .iter()
        .find(|(_, e)| matches!(e, ReleaseEvent::Halted { .. }))
        .unwrap()
        .0;
    let mut cancelled = 0;
    for (i, h) in f.harnesses[1].iter().enumerate() {
        let started = h.events.entries().iter().find_map(|e| match &e.event {
            Event::RollbackStarted {
                reason: RollbackReason::Cancelled { .. },
                ..
            } => Some(e.at),
            _ => None,
        });
        if let Some(at) = started {
            cancelled += 1;
            assert!(
                at >= halt_at && at.since(halt_at) <= Duration::from_secs(10),
                "target {i} rolled back {:?} after the verdict",
                at.since(halt_at)
            );
        }
    }
    assert!(
        cancelled >= 3,
        "the other regions' running targets were cancelled: {cancelled}"
    );
    // At most one target of a region at a time: the starts of a region never overlap its ends.
    assert!(!outcome.complete());
}

/// Without `rollback-all` the promoted targets stay on the new version; a healthy release completes, wave
/// after wave, with the bake between waves and one target per region at a time.
#[test]
fn a_healthy_release_runs_its_waves_in_order_one_target_per_region_at_a_time() {
    let f = fleet(2, 8, None);
    let r = release(&f, OnFailure::Halt);
    let (outcome, events, _) = run(&f, &r);
    assert!(outcome.complete(), "{outcome:?}");
    // Wave 2 starts after wave 1's last target ended and the 10-minute bake.
    let wave2 = events
        .iter()
        .find(|(_, e)| matches!(e, ReleaseEvent::WaveStarted { wave: 1, .. }))
        .unwrap()
        .0;
    let last_of_wave1 = events
        .iter()
        .filter(|(_, e)| matches!(e, ReleaseEvent::TargetEnded { target, .. } if target.starts_with("prod/app-1-")))
        .map(|(t, _)| *t)
        .max()
        .unwrap();
    assert!(wave2.since(last_of_wave1) >= Duration::from_secs(600));
    // Per region, one at a time: each target starts after the previous one of its region ended.
    for region in REGIONS {
        let mut open = 0i32;
        for (_, e) in &events {
            match e {
                ReleaseEvent::TargetStarted { target, .. } if target.ends_with(region) => open += 1,
                ReleaseEvent::TargetEnded { target, .. } if target.ends_with(region) => open -= 1,
                _ => {}
            }
            assert!(open <= 1, "{region}: two targets at once");
        }
    }
    // Each region's two targets of a wave ran side by side with the other regions'.
    let starts: Vec<Timestamp> = events
        .iter()
        .filter(|(_, e)| matches!(e, ReleaseEvent::TargetStarted { .. }))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(starts.iter().filter(|t| **t == starts[0]).count(), 4);
}

/// Run again — after a crash, from another machine sharing the state — a release skips what its targets'
/// records show done and stays halted where one failed: no target of a later wave starts.
#[test]
fn a_release_run_again_skips_what_is_done_and_stays_halted() {
    let f = fleet(2, 4, Some((0, 1)));
    let r = release(&f, OnFailure::Halt);
    let (first, _, _) = run(&f, &r);
    assert!(first.halted.is_some());
    let writes: Vec<usize> = f.harnesses[0]
        .iter()
        .map(|h| h.world.writes().len())
        .collect();
    let (again, events, _) = run(&f, &r);
    assert!(
        again.halted.clone().unwrap().contains("prod/app-1-2"),
        "{again:?}"
    );
    assert!(
        !events
            .iter()
            .any(|(_, e)| matches!(e, ReleaseEvent::TargetStarted { .. })),
        "nothing ran again: {events:?}"
    );
    let after: Vec<usize> = f.harnesses[0]
        .iter()
        .map(|h| h.world.writes().len())
        .collect();
    assert_eq!(writes, after);
    assert!(
        again.targets[1]
            .iter()
            .all(|(_, r)| *r == TargetResult::NotStarted)
    );
}

/// An aggregate alarm in ALARM halts the release: no target starts after it.
#[test]
fn an_aggregate_alarm_halts_the_release() {
    let f = fleet(2, 4, None);
    let mut r = release(&f, OnFailure::Halt);
    let source = Arc::new(f.harnesses[0][0].world.health());
    r.alarms = vec!["fleet-5xx".into()];
    r.alarm_source = Some(source);
    // The alarm fires during wave 1's targets.
    f.harnesses[0][0]
        .world
        .set_alarm("fleet-5xx", AlarmState::Ok);
    let clock = f.clock.clone();
    let world = f.harnesses[0][0].world.clone();
    let fire = async move {
        clock.sleep(Duration::from_secs(60)).await;
        world.set_alarm("fleet-5xx", AlarmState::Alarm);
    };
    let observer = |_: &ReleaseEvent| {};
    let (outcome, ()) = run_virtual(
        &f.clock,
        futures::future::join(
            r.run(Arc::new(f.clock.clone()), CancelToken::new(), &observer),
            fire,
        ),
    )
    .unwrap();
    assert!(
        outcome
            .halted
            .clone()
            .unwrap()
            .contains("aggregate alarm in ALARM: fleet-5xx"),
        "{outcome:?}"
    );
    assert!(
        outcome.targets[1]
            .iter()
            .all(|(_, r)| *r == TargetResult::NotStarted)
    );
}

/// With an approval between waves, the next wave waits after the bake until a person decides: approved an
/// hour later, it starts then; rejected, the release halts and the wave never starts.
#[test]
fn a_wave_waits_for_its_approval_and_a_rejection_halts() {
    for approve in [true, false] {
        let f = fleet(2, 4, None);
        let mut r = release(&f, OnFailure::Halt);
        let decision = if approve {
            ApprovalDecision::Approved { by: "alice".into() }
        } else {
            ApprovalDecision::Rejected {
                by: "bob".into(),
                reason: Some("error budget".into()),
            }
        };
        r.approval = Some(Arc::new(ScriptedApproval::after(
            Arc::new(f.clock.clone()),
            Duration::from_secs(3 * 3600),
            decision,
        )));
        let (outcome, events, _) = run(&f, &r);
        let asked = events
            .iter()
            .find(|(_, e)| matches!(e, ReleaseEvent::WaitingForApproval { wave: 1, .. }))
            .expect("asked")
            .0;
        if approve {
            assert!(outcome.complete(), "{outcome:?}");
            let started = events
                .iter()
                .find(|(_, e)| matches!(e, ReleaseEvent::WaveStarted { wave: 1, .. }))
                .unwrap()
                .0;
            assert!(started > asked, "wave 2 started after its approval");
            assert!(events.iter().any(
                |(_, e)| matches!(e, ReleaseEvent::Approved { wave: 1, by } if by == "alice")
            ));
        } else {
            assert_eq!(
                outcome.halted.as_deref(),
                Some("wave 2 (wave-2) rejected by bob: error budget")
            );
            assert!(
                outcome.targets[1]
                    .iter()
                    .all(|(_, r)| *r == TargetResult::NotStarted)
            );
        }
    }
}

/// `release rollback` after a release that halted with `halt`: the targets its records show promoted are
/// rolled back while their old colors are kept; the failed one is left as its gate left it.
#[test]
fn a_halted_release_is_rolled_back_on_request() {
    let f = fleet(2, 4, Some((1, 0)));
    let r = release(&f, OnFailure::Halt);
    let (first, _, _) = run(&f, &r);
    assert!(first.halted.is_some());
    assert!(
        f.harnesses[0]
            .iter()
            .all(|h| h.world.split() == TrafficSplit::all_to(Color::Green))
    );
    let observer = |_: &ReleaseEvent| {};
    let back = run_virtual(&f.clock, r.roll_back(&observer)).unwrap();
    assert!(
        back.targets[0]
            .iter()
            .all(|(_, r)| matches!(r, TargetResult::RolledBackWithRelease { .. })),
        "{back:?}"
    );
    for h in f.harnesses.iter().flatten() {
        assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    }
}
