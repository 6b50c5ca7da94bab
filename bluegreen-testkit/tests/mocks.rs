//! The `mocks` feature gives users mockall mocks of every provider trait, usable with the executor.

use bluegreen_core::provider::{MockApproval, MockHealthSource, MockStateStore, MockTrafficRouter};
use bluegreen_core::*;
use bluegreen_testkit::{ManualClock, run_virtual};
use std::sync::Arc;

#[test]
fn an_executor_runs_on_mocks() {
    let mut router = MockTrafficRouter::new();
    let mut reads = vec![
        TrafficSplit::all_to(Color::Green),
        TrafficSplit::all_to(Color::Green),
        TrafficSplit::all_to(Color::Blue),
        TrafficSplit::all_to(Color::Blue),
    ];
    // The executor reads every route (one here) through `read_routes`: before it starts, before it writes
    // (nobody moved it since), to verify the write, and before it records `promoted`.
    router.expect_read_routes().times(4).returning(move || {
        Ok(Routing::single(
            "listener",
            reads.pop().expect("four reads"),
        ))
    });
    router
        .expect_write_split()
        .withf(|s| *s == TrafficSplit::all_to(Color::Green))
        .times(1)
        .returning(|_| Ok(()));
    // The run's mark: none before it starts, written once before its first change, found and removed at its
    // end (the lease is renewed within the mark's life: no renewal of it in a run this short).
    let written: Arc<std::sync::Mutex<Option<RouteMark>>> = Arc::default();
    let mut mark_reads = 0;
    let seen = written.clone();
    router.expect_read_mark().times(2).returning(move || {
        mark_reads += 1;
        Ok(if mark_reads == 1 {
            None
        } else {
            seen.lock().unwrap().clone()
        })
    });
    let into = written.clone();
    router
        .expect_write_mark()
        .withf(|m| m.deployment.as_str() == "m1")
        .times(1)
        .returning(move |m| {
            *into.lock().unwrap() = Some(m.clone());
            Ok(())
        });
    router.expect_clear_mark().times(1).returning(|| Ok(()));
    let mut health = MockHealthSource::new();
    health.expect_target_health().returning(|_| {
        Ok(TargetHealth {
            healthy: 2,
            unhealthy: 0,
            other: 0,
        })
    });
    let mut store = MockStateStore::new();
    store.expect_load().returning(|id| {
        Err(ProviderError::NotFound {
            resource: id.to_string(),
        })
    });
    store
        .expect_lock()
        .times(1)
        .returning(|application, owner, now, ttl| {
            Ok(Lease {
                application: application.to_string(),
                owner: owner.clone(),
                since: now,
                expires: now + ttl,
                fence: 1,
            })
        });
    store.expect_renew().returning(|lease, now, ttl| {
        Ok(Lease {
            expires: now + ttl,
            ..lease.clone()
        })
    });
    store.expect_append().returning(|_, _, _| Ok(()));
    store.expect_list().returning(|_| Ok(Vec::new()));
    store.expect_unlock().times(1).returning(|_| Ok(()));
    let clock = ManualClock::default();
    let providers = Providers {
        router: Arc::new(router),
        health: Arc::new(health),
        capacity: None,
        clock: Arc::new(clock.clone()),
        approval: Arc::new(MockApproval::new()),
        store: Arc::new(store),
        hooks: None,
    };
    let plan = Plan::new(
        "app",
        Strategy::Immediate {
            bake: std::time::Duration::ZERO,
        }
        .compile()
        .unwrap(),
    );
    let exec = Executor::new(providers);
    let outcome = run_virtual(&clock, exec.run(DeploymentId::new("m1").unwrap(), plan))
        .unwrap()
        .unwrap();
    assert_eq!(outcome.kind(), "promoted");
}
