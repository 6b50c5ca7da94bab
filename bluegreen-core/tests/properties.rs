//! Properties over thousands of random strategies, worlds and fault schedules.

use bluegreen_core::gate::Verdict;
use bluegreen_core::*;
use bluegreen_testkit::*;
use proptest::prelude::{
    Just, ProptestConfig, any, prop_assert, prop_assert_eq, prop_oneof, proptest,
};
use proptest::strategy::Strategy as _;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
struct Case {
    strategy: Strategy,
    approve_after: Option<u64>,
    green_instances: u32,
    trouble: Vec<(u64, Change)>,
    error_probability: f64,
    stale_reads: u32,
    latency_ms: u64,
    seed: u64,
    capacity: bool,
}

fn change() -> impl proptest::strategy::Strategy<Value = Change> {
    prop_oneof![
        (0.0f64..0.6).prop_map(Change::ErrorRate),
        (50u64..3000).prop_map(|ms| Change::LatencyAvg(Duration::from_millis(ms))),
        (0u32..3).prop_map(Change::UnhealthyTargets),
    ]
}

fn strategy() -> impl proptest::strategy::Strategy<Value = (Strategy, Option<u64>)> {
    let bake = (1u64..6).prop_map(|m| Duration::from_secs(m * 60));
    prop_oneof![
        (
            proptest::collection::btree_set(1u32..100, 0..5),
            bake.clone()
        )
            .prop_map(|(s, bake)| (
                Strategy::Gradual {
                    steps: s.into_iter().chain([100]).collect(),
                    bake
                },
                None
            )),
        bake.clone()
            .prop_map(|bake| (Strategy::Immediate { bake }, None)),
        (
            // Tenths of a percent: canaries below 1 % (issue 21) run through the same invariants.
            1u32..1000,
            bake,
            proptest::option::of(1u64..900),
            proptest::option::of(60u64..1200),
            any::<bool>()
        )
            .prop_map(|(percent, bake, approve, timeout, promote)| {
                let strategy = Strategy::Canary {
                    percent: Share::from_per_mille(percent).expect("below 1000"),
                    bake,
                    approval_timeout: timeout.map(Duration::from_secs),
                    on_timeout: if promote {
                        TimeoutAction::Promote
                    } else {
                        TimeoutAction::Rollback
                    },
                };
                (
                    strategy,
                    approve.or(if timeout.is_none() { Some(30) } else { None }),
                )
            }),
    ]
}

fn case() -> impl proptest::strategy::Strategy<Value = Case> {
    (
        strategy(),
        0u32..4,
        proptest::collection::vec((0u64..1800, change()), 0..4),
        prop_oneof![Just(0.0), 0.0f64..0.1],
        0u32..3,
        prop_oneof![Just(0u64), 0u64..2000],
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                (strategy, approve_after),
                green_instances,
                trouble,
                error_probability,
                stale_reads,
                latency_ms,
                seed,
                capacity,
            )| Case {
                strategy,
                approve_after,
                green_instances,
                trouble,
                error_probability,
                stale_reads,
                latency_ms,
                seed,
                capacity,
            },
        )
}

fn run(case: &Case) -> (Harness, Plan, Outcome) {
    let mut config = WorldConfig {
        seed: case.seed,
        instances: PerColor {
            blue: 2,
            green: case.green_instances,
        },
        ..WorldConfig::default()
    };
    let mut script = Script::default();
    for (at, change) in &case.trouble {
        script = script.at(Duration::from_secs(*at), *change);
    }
    config.scripts.green = script;
    let mut h = Harness::new(config);
    h.manage_capacity = case.capacity;
    let approval: Arc<dyn Approval> = match case.approve_after {
        Some(s) => Arc::new(ScriptedApproval::approve_after(
            h.clock(),
            Duration::from_secs(s),
        )),
        None => Arc::new(ScriptedApproval::never(h.clock())),
    };
    let h = h.with_approval(approval);
    h.faults.update(|f| {
        f.error_probability = case.error_probability;
        f.stale_reads = case.stale_reads;
        f.latency = Duration::from_millis(case.latency_ms);
    });
    let mut plan = Plan::new(
        "poc/poc-web",
        case.strategy
            .compile()
            .expect("generated strategies are valid"),
    );
    if case.capacity {
        plan.capacity = Some(CapacityPolicy::default());
    }
    let outcome = h.run("p", plan.clone()).expect("the deployment starts");
    (h, plan, outcome)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn deployments_keep_their_invariants(case in case()) {
        let (h, plan, outcome) = run(&case);
        let entries = h.events.entries();
        // Shares in tenths of a percent, as the load balancer's weights carry them.
        let allowed: BTreeSet<u32> =
            plan.schedule.weights().into_iter().map(Share::per_mille).chain([0]).collect();
        let blue_arn = h.world.target_group_arn(Color::Blue);
        let green_arn = h.world.target_group_arn(Color::Green);

        // 1. No weight goes to a color without healthy targets: every increase of green's weight follows a
        //    passing pre-step check that saw at least one healthy target, and, when no time can pass between
        //    that check and the write (no latency, no retries), the world agrees at the moment of the write.
        let mut last_check_ok = false;
        let mut green_weight = 0;
        for e in &entries {
            match &e.event {
                Event::PreStepChecked { reports, .. } => {
                    last_check_ok = reports.iter().all(|r| r.verdict == Verdict::Pass)
                        && reports.iter().any(|r| r.gate == "pre-step-healthy" && r.value.unwrap_or(0.0) >= 1.0);
                }
                Event::SplitWritten { split } => {
                    let w = split.weight(Color::Green);
                    if w > green_weight {
                        prop_assert!(last_check_ok, "green raised to {w}% without a passing pre-step check");
                        last_check_ok = false;
                    }
                    green_weight = w;
                }
                _ => {}
            }
        }
        if case.latency_ms == 0 && case.error_probability == 0.0 {
            let mut before = 0;
            for w in h.world.writes() {
                let g = w.weights.iter().find(|(a, _)| *a == green_arn).map_or(0, |(_, w)| *w);
                if g > before {
                    prop_assert!(w.healthy.green > 0, "green got {g}% with no healthy targets: {w:?}");
                }
                before = g;
            }
        }

        // 2. Splits only take the plan's values or the rollback's, in the record and in the world.
        for e in &entries {
            if let Event::SplitWritten { split } | Event::SplitVerified { split } = &e.event {
                prop_assert!(allowed.contains(&split.per_mille(Color::Green)), "unplanned split {split}");
            }
        }
        for w in h.world.writes() {
            let weight = |arn: &str| w.weights.iter().find(|(a, _)| *a == arn).map_or(0, |(_, w)| *w);
            let written = TrafficSplit::from_weights(weight(&blue_arn), weight(&green_arn));
            let g = written.map_or(0, |s| s.per_mille(Color::Green));
            prop_assert!(allowed.contains(&g), "unplanned weights {:?} written", w.weights);
        }

        // 3. A failed deployment ends at 100 % stable, verified; a promoted one at 100 % new.
        match &outcome {
            Outcome::RolledBack { split, .. } => {
                prop_assert_eq!(*split, TrafficSplit::all_to(Color::Blue));
                prop_assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Blue));
                let started = entries.iter().position(|e| matches!(e.event, Event::RollbackStarted { .. }));
                let verified = entries.iter().rposition(|e| matches!(&e.event,
                    Event::SplitVerified { split } if *split == TrafficSplit::all_to(Color::Blue)));
                prop_assert!(matches!((started, verified), (Some(s), Some(v)) if v > s), "the rollback is verified");
            }
            Outcome::Promoted { split, .. } => {
                prop_assert_eq!(*split, TrafficSplit::all_to(Color::Green));
                prop_assert_eq!(h.world.split(), TrafficSplit::all_to(Color::Green));
            }
            Outcome::Aborted { reason, .. } => prop_assert!(false, "aborted: {}", reason),
            Outcome::Interrupted { reason, .. } => prop_assert!(false, "interrupted: {}", reason),
            Outcome::Watching { .. } => prop_assert!(false, "watching, with no watch in the schedule"),
        }

        // 4. The old color is scaled down only after the promotion was recorded, and never while it holds
        //    traffic; a deployment that did not promote never scales anything down.
        let promoted_at = entries.iter().position(|e| matches!(e.event, Event::Promoted { .. }));
        let scaled_at = entries.iter().position(|e| matches!(e.event, Event::ScaledDown { .. }));
        if let Some(s) = scaled_at {
            prop_assert!(promoted_at.is_some_and(|p| p < s), "scaled down before the promotion");
            prop_assert_eq!(h.world.split().weight(Color::Blue), 0);
        }
        if !matches!(outcome, Outcome::Promoted { .. }) {
            prop_assert!(h.world.asg_capacity(Color::Blue).0 > 0, "blue scaled down after {}", outcome);
        }

        // 5. The record is whole (one entry per sequence number, in order) and replays to the outcome.
        let record = h.store.record(&DeploymentId::new("p").unwrap());
        let replay = Replay::new(&record);
        prop_assert!(replay.is_ok(), "the record replays: {:?}", replay.err());
        prop_assert_eq!(replay.unwrap().outcome, Some(outcome.clone()));

        // 6. One deployment per application: the lock (and its lease) is released.
        prop_assert_eq!(h.store.lock_holder("poc/poc-web"), None);

        // 7. No false promotion, against the ground truth of the traffic script: once green returns 5xx for
        //    at least 20 % of its requests for good, every bake that ends at least two minutes later has a
        //    whole minute of it to judge (it waits for its minutes, up to 5 minutes past its end), so a
        //    promotion 450 s or more after the breach (and after green got traffic) is a false one.
        let mut trouble = case.trouble.clone();
        trouble.sort_by_key(|(t, _)| *t);
        let last_rate = trouble
            .iter()
            .rev()
            .find_map(|(t, c)| match c { Change::ErrorRate(r) => Some((*t, *r)), _ => None });
        let first_shift = entries
            .iter()
            .find(|e| matches!(e.event, Event::SplitVerified { .. }))
            .map(|e| h.offset(e.at).as_secs());
        let promoted_at = entries
            .iter()
            .find(|e| matches!(e.event, Event::Promoted { .. }))
            .map(|e| h.offset(e.at).as_secs());
        if let (Some((t, r)), Some(shift), Some(p)) = (last_rate, first_shift, promoted_at)
            && r >= 0.2
        {
            let breach = t.max(shift);
            prop_assert!(
                p < breach + 450,
                "promoted at {}s although green failed {:.0}% from {}s",
                p,
                r * 100.0,
                breach
            );
        }
    }
}
