//! The contract every provider implementation must pass.
//!
//! Each check is an ordinary `pub async fn` over a trait object that panics (with a message naming the
//! contract) when the provider breaks it. The testkit's fakes run these in this crate's tests; the AWS
//! provider runs the same functions against a local AWS emulator. Checks that change state restore it.

use bluegreen_core::{
    Capacity, Clock, Color, DeploymentId, Event, HealthSource, LockOwner, Plan, ProviderError,
    RecordEntry, Schedule, Share, StateStore, Step, Timestamp, TrafficRouter, TrafficSplit, Window,
};
use std::time::Duration;

fn assert_not_found<T: std::fmt::Debug>(r: Result<T, ProviderError>, what: &str) {
    match r {
        Err(ProviderError::NotFound { resource }) => {
            assert!(
                !resource.is_empty(),
                "{what}: a not-found error must name the resource"
            );
        }
        other => panic!("{what}: expected a not-found error, got {other:?}"),
    }
}

/// A written split reads back exactly, for the extremes and for splits in between; the split found at the
/// start is restored at the end.
pub async fn router_round_trip(router: &dyn TrafficRouter) {
    let initial = router.read_split().await.expect("read_split works");
    for (blue, green) in [
        (90, 10),
        (75, 25),
        (50, 50),
        (1, 99),
        (0, 100),
        (100, 0),
        (33, 67),
    ] {
        let split = TrafficSplit::new(blue, green).expect("valid split");
        router.write_split(split).await.expect("write_split works");
        let read = router.read_split().await.expect("read_split works");
        assert_eq!(read, split, "a written split must read back");
    }
    // Tenths of a percent (a canary below 1 %): the weights themselves read back, not only the shares.
    for tenths in ["0.5", "0.1", "99.9", "12.5"] {
        let split = TrafficSplit::to_share(Color::Green, tenths.parse().expect("a share"));
        router.write_split(split).await.expect("write_split works");
        let read = router.read_split().await.expect("read_split works");
        assert_eq!(read, split, "a written split of {tenths}% must read back");
        assert_eq!(
            (read.alb_weight(Color::Blue), read.alb_weight(Color::Green)),
            (
                split.alb_weight(Color::Blue),
                split.alb_weight(Color::Green)
            ),
            "the weights of {tenths}% read back as written"
        );
    }
    router
        .write_split(initial)
        .await
        .expect("write_split works");
    assert_eq!(
        router.read_split().await.expect("read_split works"),
        initial,
        "the initial split is restored"
    );
}

/// Writing the split that is already there succeeds and changes nothing.
pub async fn router_idempotent_write(router: &dyn TrafficRouter) {
    let initial = router.read_split().await.expect("read_split works");
    router
        .write_split(initial)
        .await
        .expect("rewriting the same split works");
    router
        .write_split(initial)
        .await
        .expect("rewriting the same split works");
    assert_eq!(
        router.read_split().await.expect("read_split works"),
        initial
    );
}

/// A router that carries marks ([`RouteMark`](bluegreen_core::RouteMark)) reads back the one written, a
/// second write replaces it (a renewal), and a cleared mark reads as none; the split is untouched.
pub async fn router_mark_round_trip(router: &dyn TrafficRouter) {
    use bluegreen_core::{DeploymentId, RouteMark, Timestamp};
    let split = router.read_split().await.expect("read_split works");
    router.clear_mark().await.expect("clear_mark works");
    assert_eq!(router.read_mark().await.expect("read_mark works"), None);
    let mut mark = RouteMark {
        deployment: DeploymentId::new("conformance-1").expect("valid id"),
        host: "ci-7:4711".into(),
        expires: Timestamp::from_millis(1_700_000_060_000),
    };
    router.write_mark(&mark).await.expect("write_mark works");
    assert_eq!(
        router.read_mark().await.expect("read_mark works"),
        Some(mark.clone()),
        "a written mark must read back"
    );
    mark.expires = Timestamp::from_millis(1_700_000_090_000);
    router.write_mark(&mark).await.expect("write_mark works");
    assert_eq!(
        router.read_mark().await.expect("read_mark works"),
        Some(mark),
        "a renewed mark must replace the old one"
    );
    router.clear_mark().await.expect("clear_mark works");
    assert_eq!(
        router.read_mark().await.expect("read_mark works"),
        None,
        "a cleared mark is gone"
    );
    assert_eq!(
        router.read_split().await.expect("read_split works"),
        split,
        "marks do not touch the split"
    );
}

/// Each color's target group attributes read within AWS's bounds (deregistration delay 0–3,600 s, slow
/// start 30–900 s when on), or `None` from a router that cannot tell; `expected`, when given, is what the
/// test set up (both groups' deregistration delay).
pub async fn router_group_timings(router: &dyn TrafficRouter, expected: Option<Duration>) {
    for color in Color::ALL {
        let t = router
            .group_timings(color)
            .await
            .expect("group_timings works");
        let Some(t) = t else {
            assert!(expected.is_none(), "{color}: group_timings told nothing");
            continue;
        };
        assert!(
            t.deregistration_delay <= Duration::from_secs(3600),
            "{color}: deregistration delay {t:?} is out of AWS's bounds"
        );
        assert!(
            t.slow_start
                .is_none_or(|s| (30..=900).contains(&s.as_secs())),
            "{color}: slow start {t:?} is out of AWS's bounds"
        );
        if let Some(d) = expected {
            assert_eq!(t.deregistration_delay, d, "{color}: deregistration delay");
        }
    }
}

/// A router whose listener, rule or target group does not exist gives not-found errors naming it.
pub async fn router_missing_resource(router: &dyn TrafficRouter) {
    assert_not_found(
        router.read_split().await,
        "read_split on a missing resource",
    );
    assert_not_found(
        router.write_split(TrafficSplit::all_to(Color::Blue)).await,
        "write_split on a missing resource",
    );
}

/// Target health counts are consistent: `color` has at least `min_healthy` healthy targets.
pub async fn health_target_counts(health: &dyn HealthSource, color: Color, min_healthy: u32) {
    let h = health
        .target_health(color)
        .await
        .expect("target_health works");
    assert!(
        h.healthy >= min_healthy,
        "{color} should have at least {min_healthy} healthy targets, has {h:?}"
    );
}

/// Metrics over `window` keep the contract: one bucket per whole minute (stamped at the minute's start,
/// within `window` rounded out to minutes), oldest first, no minute twice; errors never exceed requests; a
/// count that is present is never zero (no data is absent, never zero); no latency without requests;
/// latencies are finite.
pub async fn health_metrics_contract(health: &dyn HealthSource, window: Window) {
    let m = health.metrics(window).await.expect("metrics works");
    for c in Color::ALL {
        let series = m.get(c);
        for pair in series.windows(2) {
            assert!(
                pair[0].start < pair[1].start,
                "{c}: minutes come oldest first, each once"
            );
        }
        for minute in series {
            let at = minute.start;
            assert_eq!(
                at.as_millis() % 60_000,
                0,
                "{c}: a bucket is stamped at a whole minute, got {at}"
            );
            assert!(
                at >= window.from.floor_minute() && at < window.to.ceil_minute(),
                "{c}: the minute {at} lies outside the window asked"
            );
            let m = minute.metrics;
            assert_ne!(
                m.requests,
                Some(0),
                "{c} {at}: no requests must be absent, not zero"
            );
            assert_ne!(
                m.errors_5xx,
                Some(0),
                "{c} {at}: no 5xx must be absent, not zero"
            );
            if let (Some(r), Some(e)) = (m.requests, m.errors_5xx) {
                assert!(e <= r, "{c} {at}: {e} errors cannot exceed {r} requests");
            }
            if m.requests.is_none() {
                assert!(
                    m.latency_avg.is_none(),
                    "{c} {at}: no latency without requests"
                );
            }
            if let (Some(avg), Some(p99)) = (m.latency_avg, m.latency_p99) {
                assert!(
                    avg < Duration::from_secs(3600) && p99 < Duration::from_secs(3600),
                    "{c} {at}: latencies are sane"
                );
            }
        }
    }
}

/// Metrics over a window with no traffic at all (e.g. before the resources existed) have no request data.
pub async fn health_no_data_is_absent(health: &dyn HealthSource, quiet: Window) {
    let m = health.metrics(quiet).await.expect("metrics works");
    for c in Color::ALL {
        for minute in m.get(c) {
            assert_eq!(
                minute.metrics.requests, None,
                "{c}: a window without traffic has no request count"
            );
            assert_eq!(
                minute.metrics.error_rate(),
                None,
                "{c}: a window without traffic has no error rate"
            );
        }
    }
}

/// A window whose start is not before its end is invalid.
pub async fn health_rejects_empty_window(health: &dyn HealthSource, at: Timestamp) {
    match health.metrics(Window { from: at, to: at }).await {
        Err(ProviderError::Invalid { .. }) => {}
        other => panic!("an empty window must be invalid, got {other:?}"),
    }
}

/// Alarm states come back in the order asked; an unknown alarm is not found.
pub async fn health_alarms(health: &dyn HealthSource, known: &[String], unknown: &str) {
    let states = health
        .alarm_states(known)
        .await
        .expect("alarm_states works");
    let names: Vec<&String> = states.iter().map(|s| &s.name).collect();
    assert_eq!(
        names,
        known.iter().collect::<Vec<_>>(),
        "alarm states in the order asked"
    );
    let mut with_unknown = known.to_vec();
    with_unknown.push(unknown.to_string());
    assert_not_found(health.alarm_states(&with_unknown).await, "an unknown alarm");
}

/// A health source whose target groups do not exist gives not-found errors.
pub async fn health_missing_resource(health: &dyn HealthSource) {
    assert_not_found(
        health.target_health(Color::Blue).await,
        "target_health of a missing target group",
    );
}

/// Setting `color`'s desired capacity reads back; the original capacity is restored.
pub async fn capacity_round_trip(capacity: &dyn Capacity, color: Color) {
    let before = capacity.capacity(color).await.expect("capacity works");
    capacity
        .set_desired(color, before.desired + 1)
        .await
        .expect("set_desired works");
    let after = capacity.capacity(color).await.expect("capacity works");
    assert_eq!(
        after.desired,
        before.desired + 1,
        "a desired capacity reads back"
    );
    capacity
        .set_desired(color, before.desired)
        .await
        .expect("set_desired works");
    assert_eq!(
        capacity
            .capacity(color)
            .await
            .expect("capacity works")
            .desired,
        before.desired
    );
}

/// A capacity provider whose groups do not exist gives not-found errors.
pub async fn capacity_missing_resource(capacity: &dyn Capacity) {
    assert_not_found(
        capacity.capacity(Color::Green).await,
        "capacity of a missing group",
    );
    assert_not_found(
        capacity.set_desired(Color::Green, 1).await,
        "set_desired of a missing group",
    );
}

fn started(id: &DeploymentId, application: &str) -> RecordEntry {
    let schedule = Schedule::new(vec![Step::SetWeight {
        percent: Share::ALL,
    }])
    .expect("valid schedule");
    RecordEntry {
        seq: 0,
        at: Timestamp::from_millis(1),
        event: Event::Started {
            deployment: id.clone(),
            stable: Color::Blue,
            plan: Box::new(Plan::new(application, schedule)),
            by: None,
        },
    }
}

fn owner(deployment: &DeploymentId, run: &str) -> LockOwner {
    LockOwner {
        deployment: deployment.clone(),
        run: run.to_string(),
        host: "conformance:1".into(),
    }
}

/// The store's contract: records, the lock with its lease and fence, exactly-once appends.
///
/// - Records append and load in order; an unknown record is not found; a deployment is listed under its
///   application; an entry out of sequence is refused (so an append retried after it landed is not written
///   twice).
/// - The lock is exclusive: another run — even of the same deployment — is refused while the lease lives,
///   and the refusal names the holder; only the holder renews or unlocks it; a lapsed lease is taken over
///   with a higher fence; the run that lost it can no longer append, renew or unlock.
///
/// `unique` keeps names apart from other runs on the same store; `now` is the store's notion of the time
/// (a store may compare leases with its own clock, so pass the current time for real backends).
pub async fn store_contract(store: &dyn StateStore, unique: &str, now: Timestamp) {
    let app = format!("conformance/{unique}");
    let a = DeploymentId::new(format!("{unique}-a")).expect("valid id");
    let b = DeploymentId::new(format!("{unique}-b")).expect("valid id");
    let ttl = Duration::from_secs(60);
    assert_not_found(store.load(&a).await, "load of an unknown deployment");
    assert_eq!(store.holder(&app).await.expect("holder works"), None);

    let run1 = owner(&a, "run-1");
    let lease = store
        .lock(&app, &run1, now, ttl)
        .await
        .expect("a free lock can be taken");
    assert_eq!(lease.owner, run1);
    assert_eq!(lease.expires, now + ttl);
    assert_eq!(
        store.holder(&app).await.expect("holder works").as_ref(),
        Some(&lease)
    );
    for (other, what) in [
        (owner(&a, "run-2"), "another run of the same deployment"),
        (owner(&b, "run-3"), "another deployment"),
    ] {
        match store.lock(&app, &other, now, ttl).await {
            Err(ProviderError::Conflict { message }) => assert!(
                message.contains(a.as_str()),
                "the conflict names the holder: {message}"
            ),
            r => panic!("a held lock must refuse {what}, got {r:?}"),
        }
    }

    let first = started(&a, &app);
    let second = RecordEntry {
        seq: 1,
        at: Timestamp::from_millis(2),
        event: Event::StepStarted {
            index: 0,
            step: Step::SetWeight {
                percent: Share::ALL,
            },
        },
    };
    store
        .append(&lease, &a, &first)
        .await
        .expect("append works");
    store
        .append(&lease, &a, &second)
        .await
        .expect("append works");
    assert!(
        matches!(
            store.append(&lease, &a, &second).await,
            Err(ProviderError::Conflict { .. })
        ),
        "an entry already written is refused, not written twice"
    );
    assert_eq!(
        store.load(&a).await.expect("load works"),
        vec![first, second.clone()],
        "entries load in order"
    );
    assert!(
        store.list(&app).await.expect("list works").contains(&a),
        "a deployment is listed under its application"
    );

    let renewed = store
        .renew(&lease, now + Duration::from_secs(30), ttl)
        .await
        .expect("the holder renews");
    assert_eq!(renewed.expires, now + Duration::from_secs(90));
    assert_eq!(renewed.fence, lease.fence, "a renewal keeps the fence");

    // The lease lapses: another run takes over, with a higher fence, and the first run is fenced off.
    let later = now + Duration::from_secs(200);
    let run2 = owner(&a, "run-2");
    let taken = store
        .lock(&app, &run2, later, ttl)
        .await
        .expect("a lapsed lease can be taken over");
    assert!(taken.fence > renewed.fence, "a takeover raises the fence");
    let third = RecordEntry {
        seq: 2,
        at: Timestamp::from_millis(3),
        event: Event::StepCompleted { index: 0 },
    };
    assert!(
        matches!(
            store.append(&renewed, &a, &third).await,
            Err(ProviderError::Conflict { .. })
        ),
        "a run that lost its lease cannot append"
    );
    assert!(
        matches!(
            store.renew(&renewed, later, ttl).await,
            Err(ProviderError::Conflict { .. })
        ),
        "a run that lost its lease cannot renew"
    );
    assert!(
        matches!(
            store.unlock(&renewed).await,
            Err(ProviderError::Conflict { .. })
        ),
        "only the holder unlocks"
    );
    store
        .append(&taken, &a, &third)
        .await
        .expect("the new holder appends");
    store.unlock(&taken).await.expect("the holder unlocks");
    assert_eq!(store.holder(&app).await.expect("holder works"), None);
    store
        .unlock(&taken)
        .await
        .expect("unlocking a free lock changes nothing");
    let again = store
        .lock(&app, &owner(&b, "run-3"), later, ttl)
        .await
        .expect("a released lock can be taken");
    store.unlock(&again).await.expect("the holder unlocks");
}

/// A [`Clock`]: `now` never goes back; `sleep(step)` returns with `now` at least `step` later (a clock that
/// runs faster than real time included: the step is in its own time); a zero sleep returns. `step` should be
/// small on a real-time clock.
pub async fn clock_contract(clock: &dyn Clock, step: Duration) {
    let mut last = clock.now();
    for _ in 0..3 {
        let now = clock.now();
        assert!(now >= last, "clock: now went back from {last:?} to {now:?}");
        last = now;
    }
    let before = clock.now();
    clock.sleep(step).await;
    let after = clock.now();
    assert!(
        after.since(before) >= step,
        "clock: a sleep of {step:?} returned after {:?}",
        after.since(before)
    );
    clock.sleep(Duration::ZERO).await;
    assert!(
        clock.now() >= after,
        "clock: now went back after a zero sleep"
    );
}

/// [`Hooks`](bluegreen_core::Hooks): `make` builds the implementation under test with its hooks as scripted
/// per kind of point (a [`ScriptedHooks`](crate::ScriptedHooks) in memory, commands that succeed or fail
/// for shell hooks). Checked: a point with no hooks or only passing ones succeeds; a failing hook fails
/// its point, naming the hook and saying what happened, and only its point; a failure is the same when run
/// again (a hook is not remembered as done); and a failure survives the record (serde round trip).
pub async fn hooks_contract<H: bluegreen_core::Hooks>(
    make: impl Fn(crate::HookScript, crate::HookScript, crate::HookScript) -> H,
) {
    use crate::HookScript::{Fail, None, Pass};
    use bluegreen_core::HookPoint;
    let split = TrafficSplit::shifted(Color::Green, 25).expect("25 % is a split");
    let points = [
        HookPoint::PreTraffic,
        HookPoint::AfterStep { index: 0, split },
        HookPoint::AfterSwitch {
            split: TrafficSplit::all_to(Color::Green),
        },
    ];
    for script in [None, Pass] {
        let hooks = make(script, script, script);
        for p in &points {
            assert_eq!(
                hooks.run(p).await,
                Ok(()),
                "hooks: {p} with {script:?} hooks must pass"
            );
        }
    }
    for failing in 0..points.len() {
        let pick = |i: usize| if i == failing { Fail } else { Pass };
        let hooks = make(pick(0), pick(1), pick(2));
        for (i, p) in points.iter().enumerate() {
            let got = hooks.run(p).await;
            if i != failing {
                assert_eq!(
                    got,
                    Ok(()),
                    "hooks: {p} must pass when only another point fails"
                );
                continue;
            }
            let failure = got.expect_err("hooks: a failing hook must fail its point");
            assert!(
                !failure.hook.trim().is_empty() && !failure.detail.trim().is_empty(),
                "hooks: a failure names the hook and what happened: {failure:?}"
            );
            assert_eq!(
                hooks.run(p).await.as_ref().err(),
                Some(&failure),
                "hooks: {p} fails the same way when run again"
            );
            let json = serde_json::to_string(&failure).expect("a failure serializes");
            let back: bluegreen_core::HookFailure =
                serde_json::from_str(&json).expect("a failure reads back");
            assert_eq!(back, failure, "hooks: a failure survives the record");
        }
    }
}
