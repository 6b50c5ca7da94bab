//! Several routes that forward to the same two target groups (an HTTP and an HTTPS listener, or a default
//! action and a rule) move together: one split, every write verified on each, a partial failure rolls every
//! one back, and a deployment refuses to start from routes that disagree.

use async_trait::async_trait;
use bluegreen_core::*;
use bluegreen_testkit::*;
use std::sync::{Arc, Mutex};

const APP: &str = "poc/poc-web";

fn plan(strategy: Strategy) -> Plan {
    Plan::new(APP, strategy.compile().expect("valid strategy"))
}

/// A world whose listener has one rule (priority 10) forwarding to both target groups as well.
fn world() -> WorldConfig {
    WorldConfig {
        rule_priorities: vec![10],
        ..WorldConfig::default()
    }
}

/// A route that misbehaves on one split: refuses it (an error after nothing changed) or ignores it (answers
/// success and changes nothing).
struct Misbehaving {
    inner: SimRouter,
    on: TrafficSplit,
    ignore: bool,
    writes: Mutex<Vec<TrafficSplit>>,
}

#[async_trait]
impl TrafficRouter for Misbehaving {
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError> {
        self.inner.read_split().await
    }
    async fn write_split(&self, split: TrafficSplit) -> Result<(), ProviderError> {
        self.writes.lock().unwrap().push(split);
        if split == self.on {
            return if self.ignore {
                Ok(())
            } else {
                Err(ProviderError::Invalid {
                    message: "the rule cannot take it".into(),
                })
            };
        }
        self.inner.write_split(split).await
    }
}

fn rule(h: &Harness) -> SimRouter {
    h.world.router_for(
        &h.world.listener_arn(),
        ActionRef::Rule(10),
        PerColor::from_fn(|c| h.world.target_group_arn(c)),
    )
}

fn rule_split(h: &Harness) -> TrafficSplit {
    let f = h
        .world
        .describe_forward(&h.world.listener_arn(), ActionRef::Rule(10))
        .unwrap();
    let w = |c: Color| {
        f.target_groups
            .iter()
            .find(|(arn, _)| *arn == h.world.target_group_arn(c))
            .unwrap()
            .1
    };
    TrafficSplit::new(w(Color::Blue), w(Color::Green)).unwrap()
}

fn two_routes(h: &mut Harness, second: Arc<dyn TrafficRouter>) {
    let set = RouteSet::new(vec![
        (
            "HTTP:80".into(),
            Arc::new(h.world.router()) as Arc<dyn TrafficRouter>,
        ),
        ("HTTP:80 rule 10".into(), second),
    ])
    .unwrap();
    h.custom.router = Some(Arc::new(set));
}

#[test]
fn every_route_moves_and_is_verified_at_every_step() {
    let mut h = Harness::new(world());
    let r = rule(&h);
    two_routes(&mut h, Arc::new(r));
    let outcome = h.run("d1", plan(Strategy::gradual())).unwrap();
    assert!(matches!(outcome, Outcome::Promoted { .. }), "{outcome}");
    let verified: Vec<u32> = h
        .verified_splits()
        .into_iter()
        .map(|(_, s)| s.weight(Color::Green))
        .collect();
    assert_eq!(verified, [10, 25, 50, 75, 100]);
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Green));
    assert_eq!(rule_split(&h), TrafficSplit::all_to(Color::Green));
    // Each verification read both routes: the executor sees them as named routes.
    let routing = run_virtual(h.world.clock(), h.providers().router.read_routes())
        .unwrap()
        .unwrap();
    let names: Vec<&str> = routing.routes().iter().map(|r| r.route.as_str()).collect();
    assert_eq!(names, ["HTTP:80", "HTTP:80 rule 10"]);
    // The cost: one write per route per step (5 steps, 2 routes), and every read-back reads both.
    assert_eq!(h.world.calls().count("ModifyListener"), 10);
}

#[test]
fn a_write_that_reaches_only_some_routes_rolls_every_route_back() {
    let mut h = Harness::new(world());
    let refusing = Arc::new(Misbehaving {
        inner: rule(&h),
        on: TrafficSplit::shifted(Color::Green, 25).unwrap(),
        ignore: false,
        writes: Mutex::default(),
    });
    two_routes(&mut h, refusing.clone());
    let outcome = h.run("d1", plan(Strategy::gradual())).unwrap();
    let Outcome::RolledBack {
        reason,
        step,
        split,
    } = &outcome
    else {
        panic!("expected a rollback, got {outcome}");
    };
    assert_eq!(*split, TrafficSplit::all_to(Color::Blue));
    assert_eq!(
        *step,
        Some(2),
        "the 25 % step (steps 0, 2, 4 set weights; bakes between)"
    );
    assert!(
        matches!(reason, RollbackReason::Provider { operation, error }
            if operation == "write_split" && error.contains("the rule cannot take it")),
        "{reason:?}"
    );
    // The listener had taken 25 %; the rollback put both back.
    assert!(
        h.world
            .writes()
            .iter()
            .any(|w| w.action == ActionRef::Default
                && w.weights
                    .contains(&(h.world.target_group_arn(Color::Green), 25))),
        "the first route moved before the second refused"
    );
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    assert_eq!(rule_split(&h), TrafficSplit::all_to(Color::Blue));
    assert_eq!(
        refusing.writes.lock().unwrap().last(),
        Some(&TrafficSplit::all_to(Color::Blue))
    );
}

#[test]
fn a_route_that_ignores_a_write_fails_verification_and_every_route_goes_back() {
    let mut h = Harness::new(world());
    let ignoring = Arc::new(Misbehaving {
        inner: rule(&h),
        on: TrafficSplit::shifted(Color::Green, 50).unwrap(),
        ignore: true,
        writes: Mutex::default(),
    });
    two_routes(&mut h, ignoring);
    let outcome = h.run("d1", plan(Strategy::gradual())).unwrap();
    let Outcome::RolledBack { reason, step, .. } = &outcome else {
        panic!("expected a rollback, got {outcome}");
    };
    assert_eq!(
        *step,
        Some(4),
        "the 50 % step (steps 0, 2, 4 set weights; bakes between)"
    );
    // The listener has 50 %, the rule still 25 %: the route that is not there is the one reported.
    assert_eq!(
        *reason,
        RollbackReason::VerificationFailed {
            expected: TrafficSplit::shifted(Color::Green, 50).unwrap(),
            read: TrafficSplit::shifted(Color::Green, 25).unwrap(),
        }
    );
    assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
    assert_eq!(rule_split(&h), TrafficSplit::all_to(Color::Blue));
}

#[test]
fn a_deployment_refuses_routes_that_disagree_and_writes_nothing() {
    let mut h = Harness::new(world());
    let r = rule(&h);
    run_virtual(
        h.world.clock(),
        r.write_split(TrafficSplit::shifted(Color::Green, 10).unwrap()),
    )
    .unwrap()
    .unwrap();
    two_routes(&mut h, Arc::new(r));
    let writes = h.world.writes().len();
    let err = h.run("d1", plan(Strategy::gradual())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the routes disagree (HTTP:80 blue 100% / green 0%, HTTP:80 rule 10 blue 90% / green 10%): \
         a deployment moves them together from one split; roll back or shift first"
    );
    assert_eq!(h.world.writes().len(), writes, "nothing written");
    // An emergency rollback sees green's traffic on the rule and brings both routes to blue.
    let exec = h.executor();
    let decision = run_virtual(
        h.world.clock(),
        exec.decide_rollback(
            APP,
            EmergencyRequest {
                to: Some(Color::Blue),
                force: false,
            },
        ),
    )
    .unwrap()
    .unwrap();
    assert!(
        decision.split.weight(Color::Green) > 0,
        "{}",
        decision.split
    );
    let done = run_virtual(h.world.clock(), exec.emergency_rollback(&decision)).unwrap();
    assert_eq!(done.unwrap(), TrafficSplit::all_to(Color::Blue));
    assert_eq!(rule_split(&h), TrafficSplit::all_to(Color::Blue));
}

/// A run that dies at any append, one route moved by hand (or not) while no process runs, then resumed:
/// every route ends at the outcome's split; without the outside change, the deployment is promoted.
#[test]
fn a_resume_after_a_crash_anywhere_brings_every_route_to_one_split() {
    let strategy = Strategy::Gradual {
        steps: vec![50, 100],
        bake: std::time::Duration::from_secs(60),
    };
    let mut crashes = 0;
    for moved in [false, true] {
        // From the first append on (a run that dies before it recorded anything has nothing to resume).
        for n in 1.. {
            let mut h = Harness::new(world());
            let r = rule(&h);
            two_routes(&mut h, Arc::new(r));
            h.store.hang_after(Some(n));
            let exec = h.executor();
            let died = run_virtual_until(
                h.world.clock(),
                exec.run(DeploymentId::new("d1").unwrap(), plan(strategy.clone())),
                || false,
            );
            if !matches!(died, Some(Err(_))) {
                // The run finished before its n-th append: every crash point was tried.
                assert!(n > 10, "a gradual run appends more than {n} times");
                break;
            }
            crashes += 1;
            h.store.hang_after(None);
            let promoted_before = h
                .events
                .entries()
                .iter()
                .any(|e| matches!(e.event, Event::Promoted { .. }));
            if moved {
                run_virtual(
                    h.world.clock(),
                    rule(&h).write_split(TrafficSplit::new(50, 50).unwrap()),
                )
                .unwrap()
                .unwrap();
            }
            h.world.clock().advance(DEFAULT_LEASE_TTL);
            let outcome = h.resume("d1", ResumeAction::Continue).unwrap();
            let end = match &outcome {
                Outcome::Promoted { split, .. } | Outcome::RolledBack { split, .. } => *split,
                other => panic!("crash at {n}, moved {moved}: {other}"),
            };
            assert_eq!(
                h.world.split(),
                end,
                "crash at {n}, moved {moved}: {outcome}"
            );
            if moved && promoted_before {
                // The deployment was over: a resume finishes its cleanup and leaves traffic as a person set it
                // (as with one listener).
                assert_eq!(rule_split(&h), TrafficSplit::new(50, 50).unwrap());
            } else {
                assert_eq!(
                    rule_split(&h),
                    end,
                    "crash at {n}, moved {moved}: {outcome}"
                );
            }
            if !moved {
                assert_eq!(outcome.kind(), "promoted", "crash at {n}: {outcome}");
            }
        }
    }
    assert!(crashes > 20, "{crashes}");
}
