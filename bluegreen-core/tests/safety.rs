//! The executor's promises under crashes, outside changes, ambiguous outcomes, concurrency and clock steps:
//! one test per counterexample of issue 10, named after what it proves. `docs/safety.md` lists the
//! invariants and how each is checked.

use bluegreen_core::gate::Verdict;
use bluegreen_core::*;
use bluegreen_testkit::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP: &str = "poc/poc-web";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn plan(strategy: Strategy) -> Plan {
    Plan::new(APP, strategy.compile().expect("valid strategy"))
}

fn id(s: &str) -> DeploymentId {
    DeploymentId::new(s).unwrap()
}

fn capacity_world() -> WorldConfig {
    WorldConfig {
        instances: PerColor { blue: 3, green: 0 },
        ..WorldConfig::default()
    }
}

/// Invariant 1: no write ever gave weight to a color without healthy targets.
#[track_caller]
fn assert_no_weight_on_unhealthy(h: &Harness) {
    for w in h.world.writes() {
        for c in Color::ALL {
            let tg = h.world.target_group_arn(c);
            let weight = w
                .weights
                .iter()
                .find(|(arn, _)| *arn == tg)
                .map_or(0, |(_, w)| *w);
            assert!(
                weight == 0 || *w.healthy.get(c) > 0,
                "a write at {} gave {c} weight {weight} with no healthy target",
                w.at
            );
        }
    }
}

/// The position in the record of the first event matching `pred`, in a run of `plan` on `config`.
fn seq_of(config: WorldConfig, plan: Plan, capacity: bool, pred: impl Fn(&Event) -> bool) -> u64 {
    let mut h = Harness::new(config);
    h.manage_capacity = capacity;
    h.run("d1", plan).unwrap();
    h.store
        .record(&id("d1"))
        .iter()
        .find(|e| pred(&e.event))
        .expect("the event happens")
        .seq
}

/// Runs `plan` until its append number `n` (0-based), which never completes: a crash while writing it.
fn crash_at(config: WorldConfig, plan: Plan, capacity: bool, n: u64) -> Harness {
    let mut h = Harness::new(config);
    h.manage_capacity = capacity;
    h.store.hang_after(Some(n));
    let exec = h.executor();
    let died = run_virtual_until(h.world.clock(), exec.run(id("d1"), plan), || false);
    assert!(matches!(died, Some(Err(_))), "the run stalls at append {n}");
    h.store.hang_after(None);
    h
}

fn write(h: &Harness, split: TrafficSplit) {
    run_virtual(h.world.clock(), h.world.router().write_split(split))
        .unwrap()
        .unwrap();
}

// 1 ---------------------------------------------------------------------------------------------------------

#[test]
fn c01_a_shift_back_checks_the_color_that_receives_weight() {
    // After a promotion: 100 % green, blue scaled to 0. `shift --target green --percentage 10` would give
    // blue 90 % with no healthy target.
    let h = Harness::new(WorldConfig {
        instances: PerColor { blue: 0, green: 2 },
        initial_split: TrafficSplit::all_to(Color::Green),
        ..WorldConfig::default()
    });
    let mut p = Plan::new(APP, Schedule::shift(10, None).unwrap());
    p.expected_stable = Some(Color::Blue);
    let outcome = h.run("s1", p).unwrap();
    assert_ne!(outcome.kind(), "promoted", "{outcome}");
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Green));
    assert!(h.world.writes().is_empty(), "no weight moved");
    assert_no_weight_on_unhealthy(&h);
}

// 2 ---------------------------------------------------------------------------------------------------------

#[test]
fn c02_resume_puts_weight_back_only_through_the_pre_step_gate() {
    let config = WorldConfig::default;
    let first_poll = seq_of(config(), plan(Strategy::gradual()), false, |e| {
        matches!(e, Event::Polled { index: 1, .. })
    });
    let h = crash_at(config(), plan(Strategy::gradual()), false, first_poll);
    // While no process runs: an operator sends everything back to blue, and green loses its targets.
    write(&h, TrafficSplit::all_to(Color::Blue));
    h.world.set_script(
        Color::Green,
        Script::default().at(Duration::ZERO, Change::UnhealthyTargets(2)),
    );
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    let outcome = h.resume("d1", ResumeAction::Continue).unwrap();
    let Outcome::RolledBack { reason, .. } = &outcome else {
        panic!("expected a rollback, got {outcome}");
    };
    assert!(matches!(reason, RollbackReason::PreStep { .. }), "{reason}");
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    assert_no_weight_on_unhealthy(&h);
}

// 3 ---------------------------------------------------------------------------------------------------------

#[test]
fn c03_resume_with_rollback_after_the_old_color_was_scaled_down_is_refused() {
    let mut p = plan(Strategy::Immediate { bake: secs(60) });
    p.capacity = Some(CapacityPolicy::default());
    let finished = seq_of(capacity_world(), p.clone(), true, |e| {
        matches!(e, Event::Finished { .. })
    });
    let h = crash_at(capacity_world(), p, true, finished);
    assert_eq!(
        h.world.asg_capacity(Color::Blue).0,
        0,
        "blue was scaled down"
    );
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    assert_eq!(
        h.resume("d1", ResumeAction::Rollback),
        Err(ExecError::AlreadyPromoted(id("d1")))
    );
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Green));
    assert_no_weight_on_unhealthy(&h);
}

// 4 ---------------------------------------------------------------------------------------------------------

#[test]
fn c04_scale_down_never_takes_a_color_that_holds_traffic() {
    let mut p = plan(Strategy::Immediate { bake: secs(60) });
    p.capacity = Some(CapacityPolicy::default());
    let mut h = Harness::new(capacity_world());
    h.manage_capacity = true;
    let exec = h.executor();
    // Crash one minute into the 5-minute scale-down delay.
    let store = h.store.clone();
    let clock = h.world.clock().clone();
    let stopped = run_virtual_until(h.world.clock(), exec.run(id("d1"), p), || {
        store.record(&id("d1")).iter().any(|e| {
            matches!(e.event, Event::ScaleDownScheduled { .. }) && clock.now() >= e.at + secs(60)
        })
    });
    assert!(stopped.is_none(), "stopped during the delay");
    // The operator moves all traffic back to blue; a new process resumes.
    write(&h, TrafficSplit::all_to(Color::Blue));
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    let outcome = h.resume("d1", ResumeAction::Continue).unwrap();
    assert_eq!(
        outcome,
        Outcome::Promoted {
            split: TrafficSplit::all_to(Color::Green),
            scaled_down: None
        }
    );
    assert_eq!(h.world.asg_capacity(Color::Blue).0, 3, "blue keeps serving");
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
}

// 5 ---------------------------------------------------------------------------------------------------------

#[test]
fn c05_a_failing_verdict_recorded_before_a_crash_still_rolls_back() {
    let config = || Scenario::Green5xx.world(1);
    let started = seq_of(config(), plan(Strategy::gradual()), false, |e| {
        matches!(e, Event::RollbackStarted { .. })
    });
    // Crash while writing `rollback-started`: the failing poll is in the record, the rollback is not.
    let h = crash_at(config(), plan(Strategy::gradual()), false, started);
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    let outcome = h.resume("d1", ResumeAction::Continue).unwrap();
    let Outcome::RolledBack {
        reason: RollbackReason::Gate { report, .. },
        ..
    } = &outcome
    else {
        panic!("expected a gate rollback, got {outcome}");
    };
    assert_eq!(
        (report.gate.as_str(), report.verdict),
        ("5xx-rate", Verdict::Fail)
    );
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
}

// 6 ---------------------------------------------------------------------------------------------------------

#[test]
fn c06_an_append_that_landed_but_answered_an_error_is_recognised() {
    let h = Harness::new(WorldConfig::default());
    h.store.ambiguous_next(1); // `started` lands, the answer is lost
    let exec = h.executor();
    let store = h.store.clone();
    let clock = h.world.clock().clone();
    let outcome = run_virtual(h.world.clock(), async {
        let chaos = async {
            clock.sleep(secs(200)).await;
            store.ambiguous_next(3);
            clock.sleep(secs(300)).await;
            store.ambiguous_next(2);
        };
        futures::join!(exec.run(id("d1"), plan(Strategy::gradual())), chaos).0
    })
    .unwrap()
    .unwrap();
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
    let record = h.store.record(&id("d1"));
    let replay = Replay::new(&record).expect("one entry per sequence number, in order");
    assert_eq!(replay.outcome, Some(outcome.clone()));
    assert_eq!(h.resume("d1", ResumeAction::Continue).unwrap(), outcome);
}

// 7 ---------------------------------------------------------------------------------------------------------

#[test]
fn c07_resume_of_a_deployment_whose_run_lives_is_refused() {
    let h = Harness::new(WorldConfig::default());
    let (first, second) = (h.executor(), h.executor());
    let clock = h.world.clock().clone();
    let (outcome, resumed) = run_virtual(h.world.clock(), async {
        let resume = async {
            clock.sleep(secs(30)).await;
            second.resume(&id("d1"), ResumeAction::Continue).await
        };
        futures::join!(first.run(id("d1"), plan(Strategy::gradual())), resume)
    })
    .unwrap();
    assert!(
        matches!(resumed, Err(ExecError::Locked { .. })),
        "{resumed:?}"
    );
    assert_eq!(outcome.unwrap().kind(), "promoted");
    let record = h.store.record(&id("d1"));
    assert!(
        Replay::new(&record).is_ok(),
        "one writer: the record is whole"
    );
}

// 8 ---------------------------------------------------------------------------------------------------------

#[test]
fn c08_two_starts_of_the_same_id_never_both_run_and_never_free_each_others_lock() {
    let h = Harness::new(WorldConfig::default());
    let (a, b, c) = (h.executor(), h.executor(), h.executor());
    let clock = h.world.clock().clone();
    let (ra, rb, rc) = run_virtual(h.world.clock(), async {
        let third = async {
            clock.sleep(secs(60)).await;
            c.run(id("d3"), plan(Strategy::gradual())).await
        };
        futures::join!(
            a.run(id("d1"), plan(Strategy::gradual())),
            b.run(id("d1"), plan(Strategy::gradual())),
            third
        )
    })
    .unwrap();
    let kinds = [ra.is_ok(), rb.is_ok()];
    assert_eq!(kinds.iter().filter(|ok| **ok).count(), 1, "{ra:?} / {rb:?}");
    assert!(matches!(rc, Err(ExecError::Locked { .. })), "{rc:?}");
    assert_eq!(
        h.store.lock_holder(APP),
        None,
        "released by its holder at the end"
    );
}

// 9 ---------------------------------------------------------------------------------------------------------

#[test]
fn c09_a_crash_between_the_lock_and_the_first_entry_frees_the_lock_when_its_lease_lapses() {
    let h = crash_at(WorldConfig::default(), plan(Strategy::gradual()), false, 0);
    assert_eq!(
        h.resume("d1", ResumeAction::Continue),
        Err(ExecError::NoRecord(id("d1")))
    );
    assert!(matches!(
        h.run("d2", plan(Strategy::gradual())),
        Err(ExecError::Locked { .. })
    ));
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    assert_eq!(
        h.run("d2", plan(Strategy::gradual())).unwrap().kind(),
        "promoted"
    );
}

// 10 --------------------------------------------------------------------------------------------------------

#[test]
fn c10_no_traffic_and_a_short_bake_is_never_called_healthy() {
    let h = Harness::new(Scenario::NoTraffic.world(1));
    let outcome = h
        .run("d1", plan(Strategy::Immediate { bake: secs(50) }))
        .unwrap();
    assert_eq!(outcome.kind(), "rolled-back", "{outcome}");
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
}

// 11 --------------------------------------------------------------------------------------------------------

#[test]
fn c11_a_forward_clock_step_does_not_skip_the_bake() {
    let mut config = WorldConfig::default();
    config.scripts.green = Script::default().at(Duration::ZERO, Change::ErrorRate(0.3));
    let h = Harness::new(config);
    let exec = h.executor();
    let (clock, wall) = (h.world.clock().clone(), h.wall.clone());
    let outcome = run_virtual(h.world.clock(), async {
        let ntp = async {
            clock.sleep(secs(20)).await;
            wall.step(secs(300), false);
        };
        futures::join!(
            exec.run(id("d1"), plan(Strategy::Immediate { bake: secs(180) })),
            ntp
        )
        .0
    })
    .unwrap()
    .unwrap();
    assert_eq!(outcome.kind(), "rolled-back", "{outcome}");
    assert!(
        h.elapsed() >= secs(60),
        "judged, not skipped: {:?}",
        h.elapsed()
    );
}

// 12 --------------------------------------------------------------------------------------------------------

#[test]
fn c12_a_backward_clock_step_does_not_fail_a_healthy_release() {
    let h = Harness::new(WorldConfig::default());
    let exec = h.executor();
    let (clock, wall) = (h.world.clock().clone(), h.wall.clone());
    let outcome = run_virtual(h.world.clock(), async {
        let ntp = async {
            clock.sleep(secs(95)).await;
            wall.step(secs(20), true);
        };
        futures::join!(
            exec.run(id("d1"), plan(Strategy::Immediate { bake: secs(180) })),
            ntp
        )
        .0
    })
    .unwrap()
    .unwrap();
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
}

// 13 --------------------------------------------------------------------------------------------------------

#[test]
fn c13_an_abort_at_the_moment_of_the_last_approval_is_not_lost() {
    let h = Harness::new(WorldConfig::default());
    let h = {
        let a = ScriptedApproval::approve_after(h.clock(), secs(300));
        h.with_approval(Arc::new(a))
    };
    let exec = h.executor();
    let token = exec.cancel_token();
    let store = h.store.clone();
    let clock = h.world.clock().clone();
    let outcome = run_virtual(h.world.clock(), async {
        let abort = async {
            // Wait for the approval request, then abort at the instant the approval arrives.
            loop {
                let asked = store
                    .record(&id("d1"))
                    .iter()
                    .find(|e| matches!(e.event, Event::ApprovalRequested { .. }))
                    .map(|e| e.at);
                if let Some(at) = asked {
                    clock.sleep((at + secs(300)).since(clock.now())).await;
                    token.cancel();
                    return;
                }
                clock.sleep(secs(1)).await;
            }
        };
        futures::join!(exec.run(id("d1"), plan(Strategy::canary())), abort).0
    })
    .unwrap()
    .unwrap();
    let Outcome::RolledBack { reason, .. } = &outcome else {
        panic!("expected a rollback, got {outcome}");
    };
    assert_eq!(*reason, RollbackReason::Cancelled { by: None });
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
}

// 14 --------------------------------------------------------------------------------------------------------

#[derive(Default)]
struct Counting(Mutex<Vec<HookPoint>>, AtomicU32);

#[async_trait::async_trait]
impl Hooks for Counting {
    async fn run(&self, point: &HookPoint) -> Result<(), HookFailure> {
        if *point == HookPoint::PreTraffic {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
        self.0.lock().unwrap().push(point.clone());
        Ok(())
    }
}

#[test]
fn c14_the_pre_traffic_hook_runs_once_across_a_crash() {
    let reference = {
        let mut h = Harness::new(WorldConfig::default());
        h.hooks = Some(Arc::new(Counting::default()));
        h.run("d1", plan(Strategy::gradual())).unwrap();
        h.store
            .record(&id("d1"))
            .iter()
            .find(|e| {
                matches!(
                    e.event,
                    Event::HooksRan {
                        point: HookPoint::PreTraffic,
                        ..
                    }
                )
            })
            .unwrap()
            .seq
    };
    let hooks = Arc::new(Counting::default());
    let mut h = Harness::new(WorldConfig::default());
    h.hooks = Some(hooks.clone());
    h.store.hang_after(Some(reference + 1));
    let exec = h.executor();
    let _ = run_virtual_until(
        h.world.clock(),
        exec.run(id("d1"), plan(Strategy::gradual())),
        || false,
    );
    h.store.hang_after(None);
    assert_eq!(hooks.1.load(Ordering::SeqCst), 1);
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    assert_eq!(
        h.resume("d1", ResumeAction::Continue).unwrap().kind(),
        "promoted"
    );
    assert_eq!(hooks.1.load(Ordering::SeqCst), 1, "not run again");
}

// 15 --------------------------------------------------------------------------------------------------------

/// Starts a burst of throttling the moment the rollback is recorded, and keeps the timeline.
struct ThrottleOnRollback(FaultHandle, EventLog);

impl Observer for ThrottleOnRollback {
    fn on_event(&self, entry: &RecordEntry) {
        if matches!(entry.event, Event::RollbackStarted { .. }) {
            // 60 throttled calls in a row: 12 rounds of 5 attempts each fail.
            self.0.update(|f| f.throttle_next = 60);
        }
        self.1.on_event(entry);
    }
    fn on_notice(&self, at: Timestamp, notice: &Notice) {
        self.1.on_notice(at, notice);
    }
}

#[test]
fn c15_a_rollback_keeps_converging_under_sustained_throttling() {
    let h = Harness::new(Scenario::Green5xx.world(1));
    let exec = Executor::new(h.providers()).with_observer(Arc::new(ThrottleOnRollback(
        h.faults.clone(),
        h.events.clone(),
    )));
    let outcome = run_virtual(
        h.world.clock(),
        exec.run(id("d1"), plan(Strategy::gradual())),
    )
    .unwrap()
    .unwrap();
    assert_eq!(outcome.kind(), "rolled-back", "{outcome}");
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    let retried = h
        .events
        .notices()
        .iter()
        .filter(|(_, n)| matches!(n, Notice::RollbackRetrying { .. }))
        .count();
    assert!(retried >= 5, "every failed round is reported: {retried}");
}

// Issue 12's first seam, closed here: the new image is set under the lock ----------------------------------

#[test]
fn the_launch_template_is_set_under_the_lock_and_recorded() {
    let mut h = Harness::new(WorldConfig {
        instances: PerColor { blue: 2, green: 0 },
        ..WorldConfig::default()
    });
    h.manage_capacity = true;
    let mut p = plan(Strategy::Immediate { bake: secs(60) });
    p.capacity = Some(CapacityPolicy {
        launch_template: Some(("lt-0abc".into(), "7".into())),
        ..CapacityPolicy::default()
    });
    let (first, second) = (h.executor(), h.executor());
    let clock = h.world.clock().clone();
    let mut other = p.clone();
    other.capacity.as_mut().unwrap().launch_template = Some(("lt-0abc".into(), "8".into()));
    let (a, b) = run_virtual(h.world.clock(), async {
        let late = async {
            // While the first deployment brings green up, a second one tries another image.
            clock.sleep(secs(30)).await;
            second.run(id("d2"), other).await
        };
        futures::join!(first.run(id("d1"), p), late)
    })
    .unwrap();
    assert_eq!(a.unwrap().kind(), "promoted");
    assert!(matches!(b, Err(ExecError::Locked { .. })), "{b:?}");
    assert_eq!(
        h.world.launch_template(Color::Green),
        Some(("lt-0abc".to_string(), "7".to_string())),
        "the refused deployment changed nothing"
    );
    let record = h.store.record(&id("d1"));
    let set = record
        .iter()
        .position(|e| matches!(e.event, Event::LaunchTemplateSet { .. }))
        .expect("recorded");
    let raised = record
        .iter()
        .position(|e| matches!(e.event, Event::CapacityRequested { .. }))
        .expect("green brought up");
    assert!(
        0 < set && set < raised,
        "after the start, before the capacity"
    );
}

/// A hook that takes five minutes (of the clock) after the first weight step.
struct SlowHook(Arc<dyn Clock>);

#[async_trait::async_trait]
impl Hooks for SlowHook {
    async fn run(&self, point: &HookPoint) -> Result<(), HookFailure> {
        if matches!(point, HookPoint::AfterStep { index: 0, .. }) {
            self.0.sleep(secs(300)).await;
        }
        Ok(())
    }
}

#[test]
fn a_run_keeps_its_lock_through_an_action_longer_than_its_lease() {
    let mut h = Harness::new(WorldConfig::default());
    h.hooks = Some(Arc::new(SlowHook(h.clock())));
    let (first, second) = (h.executor(), h.executor());
    let clock = h.world.clock().clone();
    let (outcome, taken) = run_virtual(h.world.clock(), async {
        let late = async {
            // Three minutes into the five-minute hook: well past one lease without renewal.
            clock.sleep(secs(180)).await;
            second.run(id("d2"), plan(Strategy::gradual())).await
        };
        futures::join!(first.run(id("d1"), plan(Strategy::gradual())), late)
    })
    .unwrap();
    assert!(matches!(taken, Err(ExecError::Locked { .. })), "{taken:?}");
    assert_eq!(outcome.unwrap().kind(), "promoted");
}

// A shared store is a network service: every call of it can be throttled, fail, or land with its answer
// lost. Found by the front door's test of a whole deployment on a faulty DynamoDB table. ---------------------

/// A harness whose executor's store is the memory store behind the fault decorator, with `script`.
fn faulty_store(h: &mut Harness, script: Vec<(&str, FaultKind, u32)>) -> FaultHandle {
    let handle = FaultHandle::new(3);
    handle.update(|f| {
        f.script = script
            .into_iter()
            .map(|(operation, kind, count)| ScriptedFault {
                operation: operation.into(),
                kind,
                count,
            })
            .collect()
    });
    h.custom.store = Some(Arc::new(Faulty::new(
        h.store.clone(),
        h.clock(),
        handle.clone(),
    )));
    handle
}

#[test]
fn c16_store_calls_before_the_first_entry_are_retried_like_every_other_call() {
    // A throttled or failing read of the records, or a throttled lock, before anything is written: retried
    // on the executor's clock, as provider calls are (decision 007), not a failed deployment.
    for (op, kind) in [
        ("load", FaultKind::Throttle),
        ("load", FaultKind::Error),
        ("list", FaultKind::Throttle),
        ("lock", FaultKind::Throttle),
        ("lock", FaultKind::Error),
    ] {
        let mut h = Harness::new(WorldConfig::default());
        let faults = faulty_store(&mut h, vec![(op, kind, 2)]);
        let outcome = h.run("d1", plan(Strategy::immediate()));
        assert_eq!(faults.injected(), 2, "{op} {kind:?}");
        let outcome = outcome.unwrap_or_else(|e| panic!("{op} {kind:?}: {e}"));
        assert_eq!(outcome.kind(), "promoted", "{op} {kind:?}: {outcome}");
    }
}

#[test]
fn c17_a_lock_that_landed_but_answered_an_error_is_recognised_as_this_run_s() {
    // The lock was taken, the answer lost: the retry finds the lock held — by this very run. It is ours:
    // the deployment runs (on main it was refused as locked by itself, and the lock stayed until its lease
    // lapsed), and releases it at the end.
    let mut h = Harness::new(WorldConfig::default());
    faulty_store(&mut h, vec![("lock", FaultKind::Ambiguous, 1)]);
    let outcome = h
        .run("d1", plan(Strategy::immediate()))
        .expect("runs, not refused as locked by itself");
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
    let held = run_virtual(h.world.clock(), h.store.holder("poc/poc-web"))
        .unwrap()
        .unwrap();
    assert!(held.is_none(), "released: {held:?}");
}

#[test]
fn c18_an_unreadable_history_never_lets_a_deployment_pass_an_unfinished_one() {
    // The application's last deployment is unfinished (its run died). A new one must refuse; a store that
    // cannot list or load the history at that moment must not be taken as "no unfinished deployment".
    // Crashed after its first entry: the split is still at rest, so nothing but the history tells.
    let mut h = crash_at(WorldConfig::default(), plan(Strategy::gradual()), false, 1);
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    for op in ["list", "load"] {
        // Fails beyond the retries: the start is refused as a provider error, never run.
        faulty_store(&mut h, vec![(op, FaultKind::Error, 100)]);
        let err = h
            .run("d2", plan(Strategy::gradual()))
            .expect_err("not started");
        assert!(
            matches!(err, ExecError::Provider { .. } | ExecError::Unfinished(_)),
            "{op}: {err:?}"
        );
        assert!(
            h.store.record(&id("d2")).is_empty(),
            "{op}: nothing recorded"
        );
    }
    // Transient: retried, and the unfinished deployment is found.
    faulty_store(&mut h, vec![("list", FaultKind::Throttle, 2)]);
    let err = h.run("d2", plan(Strategy::gradual())).expect_err("refused");
    assert!(matches!(err, ExecError::Unfinished(_)), "{err:?}");
}

/// Once `kind` is recorded, scripts the next append to land with its answer lost and the read that would
/// tell to be throttled.
struct AmbiguousAfter(&'static str, FaultHandle);

impl Observer for AmbiguousAfter {
    fn on_event(&self, entry: &RecordEntry) {
        if entry.event.kind() == self.0 && self.1.injected() == 0 {
            self.1.update(|f| {
                f.script = vec![
                    ScriptedFault {
                        operation: "append".into(),
                        kind: FaultKind::Ambiguous,
                        count: 1,
                    },
                    ScriptedFault {
                        operation: "load".into(),
                        kind: FaultKind::Throttle,
                        count: 1,
                    },
                ]
            });
        }
    }
}

#[test]
fn c19_an_ambiguous_append_is_recognised_even_when_the_read_back_is_throttled() {
    // The entry landed, the answer was lost (its retry is refused: the entry exists), and the read that
    // would tell is throttled once: read again rather than stop the deployment as if it had lost its lock.
    let mut h = Harness::new(WorldConfig::default());
    let faults = faulty_store(&mut h, vec![]);
    let exec = Executor::new(h.providers())
        .with_observer(Arc::new(AmbiguousAfter("split-verified", faults.clone())));
    let outcome = run_virtual(
        h.world.clock(),
        exec.run(id("d1"), plan(Strategy::gradual())),
    )
    .unwrap()
    .expect("runs");
    assert_eq!(faults.injected(), 2, "the append, the read back");
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
    let record = h.store.record(&id("d1"));
    let replay = Replay::new(&record).expect("one entry per sequence number, in order");
    assert_eq!(replay.outcome, Some(outcome));
}

#[test]
fn c20_an_emergency_rollback_reads_a_throttled_record_again_rather_than_calling_it_damaged() {
    // A deployment died with green at 10 %. The record says blue is stable; a throttled read of it must not
    // make the emergency rollback decide without it (with both colors healthy and no history, it could not
    // tell, and would refuse).
    let seq = seq_of(
        WorldConfig::default(),
        plan(Strategy::gradual()),
        false,
        |e| matches!(e, Event::SplitVerified { .. }),
    );
    let mut h = crash_at(
        WorldConfig::default(),
        plan(Strategy::gradual()),
        false,
        seq + 1,
    );
    assert_eq!(h.world.split().weight(Color::Green), 10);
    let faults = faulty_store(&mut h, vec![("load", FaultKind::Throttle, 2)]);
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
    .expect("decided from the record");
    assert_eq!(faults.injected(), 2);
    assert_eq!(decision.to.color, Color::Blue, "{}", decision.to.basis);
    assert_eq!(decision.running, Some(id("d1")));
}

#[test]
fn c21_a_long_wait_for_capacity_keeps_the_lease() {
    // Instances that take five minutes to warm up: the run waits for them, polling every 15 s (less than a
    // third of the lease, so each sleep ends at its poll). It must keep renewing its one-minute lease: on
    // the old main it did not, the lease lapsed after a minute, a second deployment took the lock over,
    // and the first one stopped as having lost it.
    let config = WorldConfig {
        warmup: secs(300),
        ..capacity_world()
    };
    let h = Harness::new(config).with_capacity();
    let first = h.executor();
    let second = h.executor();
    let clock = h.world.clock().clone();
    let mut with_capacity = plan(Strategy::immediate());
    with_capacity.capacity = Some(CapacityPolicy::default());
    let (outcome, refused) = run_virtual(h.world.clock(), async {
        let later = async {
            clock.sleep(secs(180)).await;
            second.run(id("d2"), with_capacity.clone()).await
        };
        futures::join!(first.run(id("d1"), with_capacity.clone()), later)
    })
    .unwrap();
    let outcome = outcome.expect("runs");
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
    assert!(
        matches!(refused, Err(ExecError::Locked { .. })),
        "the second deployment finds the lock held: {refused:?}"
    );
    let record = h.store.record(&id("d1"));
    let ready = record
        .iter()
        .find(|e| matches!(e.event, Event::CapacityReady { .. }))
        .expect("capacity became ready");
    assert!(
        ready.at.since(h.world.start()) >= secs(240),
        "the wait was long"
    );
}

#[test]
fn c22_a_renewal_that_fails_while_the_lease_still_holds_is_tried_again_not_given_up() {
    // One round of renewal fails (five attempts, the shared store unreachable for ~8 s): the lease still
    // has half its time, so the run goes on and renews at its next chance. On the old main it stopped as
    // having lost the lock, leaving the deployment half-done for a person.
    let mut h = Harness::new(WorldConfig::default());
    let faults = faulty_store(&mut h, vec![("renew", FaultKind::Error, 5)]);
    let outcome = h.run("d1", plan(Strategy::gradual())).expect("runs");
    assert_eq!(faults.injected(), 5);
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
    let told = h
        .events
        .notices()
        .iter()
        .filter(|(_, n)| {
            matches!(
                n,
                Notice::Retrying {
                    operation: "renew the lock",
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        told, 5,
        "every failed attempt is told, the last one as well"
    );
}

// Issue 20: the third round. Two crashes, a hand on the listener while the run lives, a store that stays
// down, a record that changed no weight. ------------------------------------------------------------------

/// The green weight of every write to the listener, in order.
fn green_writes(h: &Harness) -> Vec<u32> {
    let tg = h.world.target_group_arn(Color::Green);
    h.world
        .writes()
        .iter()
        .map(|w| {
            w.weights
                .iter()
                .find(|(arn, _)| *arn == tg)
                .map_or(0, |(_, x)| *x)
        })
        .collect()
}

#[test]
fn c23_two_crashes_never_move_the_listener_back_to_an_older_split() {
    // Crash 1 while recording `split-verified` of 25 % (the write landed); the resume finds 25 % on the
    // listener and completes the step; crash 2 during the bake after it. On the old main the first resume
    // recorded no `split-verified`, so the second restored the stale 10 % and moved traffic back.
    let verified_25 = seq_of(
        WorldConfig::default(),
        plan(Strategy::gradual()),
        false,
        |e| matches!(e, Event::SplitVerified { split } if split.weight(Color::Green) == 25),
    );
    let h = crash_at(
        WorldConfig::default(),
        plan(Strategy::gradual()),
        false,
        verified_25,
    );
    assert_eq!(h.world.split().weight(Color::Green), 25);
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    // The first resume dies a few entries into the bake after the 25 % step.
    h.store.hang_after(Some(h.store.appends() + 6));
    let exec = h.executor();
    let died = run_virtual_until(
        h.world.clock(),
        exec.resume(&id("d1"), ResumeAction::Continue),
        || false,
    );
    assert!(matches!(died, Some(Err(_))), "the first resume stalls");
    h.store.hang_after(None);
    let record = h.store.record(&id("d1"));
    assert!(
        record
            .iter()
            .any(|e| matches!(e.event, Event::Polled { index: 3, .. })),
        "the first resume reached the bake after 25 %"
    );
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    let outcome = h.resume("d1", ResumeAction::Continue).unwrap();
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
    let writes = green_writes(&h);
    assert!(
        writes.windows(2).all(|w| w[0] <= w[1]),
        "traffic never moved back: {writes:?}"
    );
}

#[test]
fn c24_a_shift_that_changed_nothing_does_not_decide_the_emergency_rollback() {
    // Blue holds all traffic with 2 instances, green has none. `shift --target blue --percentage 10` would
    // give green 90 %: its pre-step gate refuses and nothing is written. Green is then scaled to 2. On the
    // old main the emergency rollback trusted the shift's record ("moved traffic away from green") and sent
    // all traffic to green.
    let h = Harness::new(WorldConfig {
        instances: PerColor { blue: 2, green: 0 },
        ..WorldConfig::default()
    });
    let mut p = Plan::new(APP, Schedule::shift(10, None).unwrap());
    p.expected_stable = Some(Color::Green);
    let shifted = h.run("s1", p).unwrap();
    assert_ne!(shifted.kind(), "promoted", "{shifted}");
    assert!(h.world.writes().is_empty(), "the shift wrote nothing");
    run_virtual(
        h.world.clock(),
        h.world.capacity().set_desired(Color::Green, 2),
    )
    .unwrap()
    .unwrap();
    h.world.clock().advance(secs(600));
    assert!(h.world.target_health(Color::Green).healthy > 0);
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
    .unwrap();
    match decision {
        Ok(d) => assert_eq!(d.to.color, Color::Blue, "{}", d.to.basis),
        Err(e) => panic!("refused: {e}"),
    }
}

#[test]
fn c25_an_emergency_rollback_by_another_process_stops_the_run_and_is_never_undone() {
    // A gradual deployment bakes at 25 % green; at 390 s a person runs the emergency rollback from another
    // process (its own executor, the same world): all traffic to blue, verified. On the old main the run
    // kept polling, then wrote green 50 %, 75 %, 100 % and promoted.
    let h = Harness::new(WorldConfig::default());
    let run = h.executor();
    let person = h.executor();
    let clock = h.world.clock().clone();
    let (outcome, rolled_back) = run_virtual(h.world.clock(), async {
        let hand = async {
            clock.sleep(secs(390)).await;
            let decision = person
                .decide_rollback(APP, EmergencyRequest::default())
                .await
                .expect("decides");
            assert_eq!(decision.to.color, Color::Blue);
            person.emergency_rollback(&decision).await
        };
        futures::join!(run.run(id("d1"), plan(Strategy::gradual())), hand)
    })
    .unwrap();
    assert_eq!(
        rolled_back.expect("verified"),
        TrafficSplit::all_to(Color::Blue)
    );
    let outcome = outcome.expect("runs");
    assert_eq!(outcome.kind(), "interrupted", "{outcome}");
    assert_eq!(
        h.world.split(),
        TrafficSplit::all_to(Color::Blue),
        "left as found"
    );
    // The run's writes (10 %, 25 %) and the person's (0 %): nothing after.
    assert_eq!(green_writes(&h), [10, 25, 0]);
    let record = h.store.record(&id("d1"));
    let seen = record
        .iter()
        .find(|e| matches!(e.event, Event::ChangedOutside { .. }))
        .expect("the change is recorded");
    // Within one poll interval, and the re-reads that tell a change from a stale read.
    let p = plan(Strategy::gradual());
    let bound = secs(390) + p.gates.interval + p.verify.interval * (p.verify.attempts - 1);
    assert!(
        seen.at.since(h.world.start()) <= bound,
        "seen within {bound:?}: at {}",
        seen.at
    );
    assert!(
        !record
            .iter()
            .any(|e| matches!(e.event, Event::Promoted { .. }))
    );
    assert!(matches!(
        record.last().map(|e| &e.event),
        Some(Event::Finished { .. })
    ));
    assert_eq!(h.store.lock_holder(APP), None, "the lock is released");
}

#[test]
fn c26_a_route_moved_by_hand_during_the_last_bake_is_not_promoted_over() {
    // Two routes (the default action and rule 10). During the last bake (100 % green), a person moves the
    // rule back to blue. On the old main the run recorded `promoted: green 100 %` without reading the routes.
    let mut h = Harness::new(WorldConfig {
        rule_priorities: vec![10],
        ..WorldConfig::default()
    });
    let set = RouteSet::new(vec![
        (
            "HTTP:80".into(),
            Arc::new(h.world.router()) as Arc<dyn TrafficRouter>,
        ),
        (
            "HTTP:80 rule 10".into(),
            Arc::new(h.world.router_for(
                &h.world.listener_arn(),
                ActionRef::Rule(10),
                PerColor::from_fn(|c| h.world.target_group_arn(c)),
            )) as Arc<dyn TrafficRouter>,
        ),
    ])
    .unwrap();
    h.custom.router = Some(Arc::new(set));
    let rule = h.world.router_for(
        &h.world.listener_arn(),
        ActionRef::Rule(10),
        PerColor::from_fn(|c| h.world.target_group_arn(c)),
    );
    let exec = h.executor();
    let clock = h.world.clock().clone();
    let mut p = plan(Strategy::immediate());
    p.schedule = Schedule::new(vec![
        Step::SetWeight {
            percent: bluegreen_core::Share::percent(100),
        },
        Step::Bake {
            duration: secs(180),
        },
    ])
    .unwrap();
    let outcome = run_virtual(h.world.clock(), async {
        let hand = async {
            clock.sleep(secs(100)).await;
            rule.write_split(TrafficSplit::all_to(Color::Blue))
                .await
                .unwrap();
        };
        futures::join!(exec.run(id("d1"), p), hand).0
    })
    .unwrap()
    .expect("runs");
    assert_eq!(outcome.kind(), "interrupted", "{outcome}");
    let Outcome::Interrupted { reason, split } = &outcome else {
        unreachable!()
    };
    assert!(reason.contains("rule 10"), "names the route: {reason}");
    assert_eq!(*split, None, "the routes disagree");
    let record = h.store.record(&id("d1"));
    assert!(
        !record
            .iter()
            .any(|e| matches!(e.event, Event::Promoted { .. }))
    );
    // The rule stays where the person put it.
    let f = h
        .world
        .describe_forward(&h.world.listener_arn(), ActionRef::Rule(10))
        .unwrap();
    let blue = f
        .target_groups
        .iter()
        .find(|(arn, _)| *arn == h.world.target_group_arn(Color::Blue))
        .unwrap()
        .1;
    assert!(
        blue > 0
            && f.target_groups
                .iter()
                .all(|(arn, w)| arn == &h.world.target_group_arn(Color::Blue) || *w == 0)
    );
}

#[test]
fn c27_a_store_down_for_ten_minutes_during_a_rollback_still_gets_the_whole_end_of_it() {
    // At 100 s the shared store starts throttling every call, for ten minutes; at 101 s the run is
    // cancelled and rolls back. Traffic converges to 100 % blue while the store is down. On the old main the
    // rollback's entries got one round of retries and were dropped, a renewal failing with under a quarter
    // of the lease left marked it lost, and `finished` was never attempted: the record stayed unfinished.
    let mut h = Harness::new(WorldConfig::default());
    let faults = faulty_store(&mut h, vec![]);
    let exec = h.executor();
    let token = exec.cancel_token();
    let clock = h.world.clock().clone();
    let outcome = run_virtual(h.world.clock(), async {
        let chaos = async {
            clock.sleep(secs(100)).await;
            faults.update(|f| f.throttle_next = u32::MAX);
            clock.sleep(secs(1)).await;
            token.cancel();
            clock.sleep(secs(600)).await;
            faults.update(|f| f.throttle_next = 0);
        };
        futures::join!(exec.run(id("d1"), plan(Strategy::gradual())), chaos).0
    })
    .unwrap()
    .expect("runs");
    assert_eq!(outcome.kind(), "rolled-back", "{outcome}");
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    let record = h.store.record(&id("d1"));
    let kinds: Vec<&str> = record.iter().map(|e| e.event.kind()).collect();
    let end = kinds
        .iter()
        .rposition(|k| *k == "rollback-started")
        .expect("the rollback is recorded");
    assert_eq!(
        kinds[end..],
        [
            "rollback-started",
            "split-written",
            "split-verified",
            "rolled-back",
            "finished"
        ],
        "the end of the rollback, each entry once, in order"
    );
    // The entries carry when they happened (during the outage), in order.
    let times: Vec<_> = record.iter().map(|e| e.at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in order");
    assert!(
        record[end + 3].at.since(h.world.start()) < secs(200),
        "rolled back during the outage: at {}",
        record[end + 3].at
    );
    assert!(
        h.elapsed() >= secs(700),
        "finished only once the store took it"
    );
    assert!(
        h.events
            .notices()
            .iter()
            .any(|(_, n)| matches!(n, Notice::RecordPending { .. })),
        "a person is told the record is behind"
    );
    assert_eq!(h.store.lock_holder(APP), None, "the lock is released");
}

#[test]
fn c28_the_stable_color_scaled_to_zero_by_hand_stops_the_run_before_it_moves_more_traffic() {
    // Capacity managed: green is raised, then the gradual release bakes at 10 %. At 900 s (in a bake) a
    // person scales blue, the stable color, to zero. On the old main the run never looked: it moved on to
    // 100 % green with nothing left to roll back to.
    let h = Harness::new(capacity_world()).with_capacity();
    let exec = h.executor();
    let cap = h.world.capacity();
    let clock = h.world.clock().clone();
    let mut p = plan(Strategy::gradual());
    p.capacity = Some(CapacityPolicy::default());
    let outcome = run_virtual(h.world.clock(), async {
        let hand = async {
            clock.sleep(secs(900)).await;
            cap.set_desired(Color::Blue, 0).await.unwrap();
        };
        futures::join!(exec.run(id("d1"), p), hand).0
    })
    .unwrap()
    .expect("runs");
    assert_eq!(outcome.kind(), "interrupted", "{outcome}");
    assert!(outcome.to_string().contains("capacity"), "{outcome}");
    let record = h.store.record(&id("d1"));
    let seen = record
        .iter()
        .position(|e| matches!(e.event, Event::ChangedOutside { .. }))
        .expect("recorded");
    assert!(
        !record[seen..]
            .iter()
            .any(|e| matches!(e.event, Event::SplitWritten { .. } | Event::Promoted { .. })),
        "nothing written after it"
    );
    let before = green_writes(&h);
    assert!(
        !before.contains(&100),
        "never all traffic to green: {before:?}"
    );
    assert!(
        h.world.asg_capacity(Color::Green).0 > 0,
        "green keeps its capacity"
    );
}

#[test]
fn c29_a_listener_set_by_hand_to_one_in_a_thousand_is_not_taken_for_one_at_rest() {
    // Issue 21 item 7: ALB weights are 0–999. A listener left by hand at blue 1 / green 999 (0.1 % still to
    // blue) was read, rounded to whole percents, as "all on green": at rest, so a deployment started with
    // blue as the idle color while blue still served traffic.
    for (blue, green) in [(1, 999), (999, 1)] {
        let by_hand = TrafficSplit::from_weights(blue, green).unwrap();
        let h = Harness::new(WorldConfig {
            initial_split: by_hand,
            ..WorldConfig::default()
        });
        assert_eq!(
            h.world.split().alb_weight(Color::Blue),
            blue,
            "kept exactly"
        );
        let err = h.run("d1", plan(Strategy::gradual())).unwrap_err();
        match &err {
            ExecError::NotAtRest { split } => assert_eq!(*split, by_hand),
            other => panic!("expected not-at-rest for {blue}/{green}, got {other}"),
        }
        let text = err.to_string();
        assert!(text.contains("0.1%") && text.contains("99.9%"), "{text}");
        assert_eq!(
            h.world.calls().count("ModifyListener"),
            0,
            "nothing written"
        );
        assert_eq!(h.store.lock_holder(APP), None, "the lock is released");
    }
}

/// The executor of a second machine: the same load balancer and groups, its own state store (one that
/// does not share the first machine's state).
fn other_machine(h: &Harness) -> (Executor, MemoryStore) {
    let store = MemoryStore::new();
    let mut providers = h.providers();
    providers.store = Arc::new(store.clone());
    let exec = Executor::new(providers).with_run("run-b", "machine-b:2");
    (exec, store)
}

#[test]
fn c30_a_deployment_from_a_machine_without_shared_state_refuses_while_the_listener_is_marked() {
    // Issue 21 item 2: machine A deploys (capacity managed: green scales up first, with all traffic still
    // on blue); at 30 s machine B, whose state store does not see A's lock, starts a deployment of the same
    // application. On the old main the listener was at rest, so B took blue as stable too and both drove
    // green. Now A's mark names it, B refuses before any change, and A ends normally and removes its mark.
    let h = Harness::new(WorldConfig {
        warmup: secs(120),
        ..capacity_world()
    })
    .with_capacity();
    let mut with_capacity = plan(Strategy::gradual());
    with_capacity.capacity = Some(CapacityPolicy::default());
    let a = h.executor().with_run("run-a", "machine-a:1");
    let (b, b_store) = other_machine(&h);
    let clock = h.world.clock().clone();
    let router = h.world.router();
    let (a_outcome, (mark, at_rest, b_result, renewed)) = run_virtual(h.world.clock(), async {
        let other = async {
            clock.sleep(secs(30)).await;
            let mark = router.read_mark().await.expect("reads");
            let at_rest = router.read_split().await.expect("reads").sole_color();
            let b_result = b.run(id("d2"), with_capacity.clone()).await;
            // Ten minutes in, the mark is renewed with A's lease.
            clock.sleep(secs(570)).await;
            let renewed = router.read_mark().await.expect("reads");
            (mark, at_rest, b_result, renewed)
        };
        futures::join!(a.run(id("d1"), with_capacity.clone()), other)
    })
    .unwrap();
    assert_eq!(
        at_rest,
        Some(Color::Blue),
        "the listener is at rest at 30 s"
    );
    let mark = mark.expect("the listener is marked while A runs");
    assert_eq!(mark.deployment, id("d1"));
    assert_eq!(mark.host, "machine-a:1");
    assert!(mark.expires > h.world.start() + secs(30), "{mark}");
    let renewed = renewed.expect("still marked at 600 s");
    assert!(
        renewed.expires > h.world.start() + secs(600),
        "renewed with the lease: {renewed}"
    );
    match b_result {
        Err(ExecError::Marked { mark }) => assert_eq!(mark.deployment, id("d1")),
        other => panic!("B must refuse while A's mark is live, got {other:?}"),
    }
    assert!(b_store.record(&id("d2")).is_empty(), "B recorded nothing");
    assert_eq!(b_store.lock_holder(APP), None, "B released its lock");
    assert_eq!(a_outcome.expect("runs").kind(), "promoted");
    // Every write was A's: 10, 25, 50, 75, 100 % green.
    assert_eq!(green_writes(&h), [10, 25, 50, 75, 100]);
    assert_eq!(
        run_virtual(h.world.clock(), h.world.router().read_mark())
            .unwrap()
            .unwrap(),
        None,
        "the mark is removed at the end"
    );
}

#[test]
fn c31_a_mark_left_by_a_run_that_died_lapses_with_its_lease() {
    // A's run dies after it began (its mark stays on the listener). Machine B is refused while the mark's
    // lease holds, and starts once it lapsed; A's own resume replaces its mark rather than refusing.
    let h = crash_at(WorldConfig::default(), plan(Strategy::gradual()), false, 1);
    let left = run_virtual(h.world.clock(), h.world.router().read_mark())
        .unwrap()
        .unwrap()
        .expect("the dead run's mark stays");
    assert_eq!(left.deployment, id("d1"));
    let (b, _) = other_machine(&h);
    let refused = run_virtual(h.world.clock(), b.run(id("d2"), plan(Strategy::gradual()))).unwrap();
    assert!(
        matches!(refused, Err(ExecError::Marked { .. })),
        "{refused:?}"
    );
    h.world.clock().advance(DEFAULT_LEASE_TTL);
    // A's own deployment resumes over its mark (on its own store).
    let resumed = h.resume("d1", ResumeAction::Rollback).expect("resumes");
    assert_eq!(resumed.kind(), "rolled-back", "{resumed}");
    assert_eq!(
        run_virtual(h.world.clock(), h.world.router().read_mark())
            .unwrap()
            .unwrap(),
        None,
        "removed at the end of the resumed run"
    );
    // A mark that lapsed stops nothing: B's deployment of its own starts.
    let crashed = crash_at(WorldConfig::default(), plan(Strategy::gradual()), false, 1);
    crashed.world.clock().advance(DEFAULT_LEASE_TTL);
    let (b, _) = other_machine(&crashed);
    let started = run_virtual(
        crashed.world.clock(),
        b.run(id("d2"), plan(Strategy::immediate())),
    )
    .unwrap();
    assert_eq!(started.expect("starts").kind(), "promoted");
}

/// A capacity provider whose `set_launch_template` answers success and changes nothing (an API that
/// accepted the call but did not apply it, or a group another tool set back).
struct TemplateNotApplied(SimCapacity);

#[async_trait::async_trait]
impl Capacity for TemplateNotApplied {
    async fn capacity(&self, color: Color) -> Result<CapacityStatus, ProviderError> {
        self.0.capacity(color).await
    }
    async fn set_desired(&self, color: Color, desired: u32) -> Result<(), ProviderError> {
        self.0.set_desired(color, desired).await
    }
    async fn set_launch_template(&self, _: Color, _: &str, _: &str) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn launch_source(&self, color: Color) -> Result<LaunchSource, ProviderError> {
        self.0.launch_source(color).await
    }
}

#[test]
fn c32_a_launch_template_is_recorded_as_set_only_once_the_group_reads_it_back() {
    // Issue 21 item 7 ("say what was read back"): the run recorded `launch-template-set` ("green now
    // launches version 7") on the call's success alone, then raised green from the old version and
    // promoted it. Now the group is read back; one that still says otherwise stops the run before any
    // traffic, and nothing claims version 7.
    let mut h = Harness::new(WorldConfig {
        instances: PerColor { blue: 2, green: 0 },
        ..WorldConfig::default()
    });
    h.manage_capacity = true;
    h.custom.capacity = Some(Arc::new(TemplateNotApplied(h.world.capacity())));
    let mut p = plan(Strategy::Immediate { bake: secs(60) });
    p.capacity = Some(CapacityPolicy {
        launch_template: Some(("lt-0abc".into(), "7".into())),
        ..CapacityPolicy::default()
    });
    let outcome = h.run("d1", p).unwrap();
    match &outcome {
        Outcome::RolledBack {
            reason: RollbackReason::Provider { error, .. },
            ..
        } => assert!(
            error.contains("pointed at launch template lt-0abc version 7 but reads back"),
            "{error}"
        ),
        other => panic!("expected a rollback for the read-back, got {other}"),
    }
    let Outcome::RolledBack { reason, .. } = &outcome else {
        unreachable!()
    };
    assert!(!reason.is_verdict(), "exit 3, not a gate's verdict");
    let record = h.store.record(&id("d1"));
    assert!(
        !record
            .iter()
            .any(|e| matches!(e.event, Event::LaunchTemplateSet { .. })),
        "nothing claims version 7"
    );
    assert_eq!(
        h.world.calls().count("ModifyListener"),
        0,
        "no traffic moved"
    );
}
