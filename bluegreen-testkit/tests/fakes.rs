//! The fakes pass the conformance suite (directly, as `Box<dyn _>` and as `Arc<dyn _>`) and are as strict as
//! AWS where the suite cannot reach.

use bluegreen_core::*;
use bluegreen_testkit::conformance as c;
use bluegreen_testkit::*;
use std::sync::Arc;
use std::time::Duration;

fn block<F: std::future::Future>(world: &SimWorld, f: F) -> F::Output {
    run_virtual(world.clock(), f).expect("does not stall")
}

#[test]
fn the_fakes_pass_the_conformance_suite() {
    let mut config = WorldConfig::default();
    config.alarms.insert("a".into(), vec![]);
    config.alarms.insert("b".into(), vec![]);
    let world = SimWorld::new(config);
    let start = world.clock().now();
    block(&world, async {
        // An hour ago nothing existed: no traffic.
        let quiet = Window {
            from: start - Duration::from_secs(3600),
            to: start - Duration::from_secs(3000),
        };
        world.clock().advance(Duration::from_secs(120));
        let busy = Window {
            from: start,
            to: world.clock().now(),
        };

        c::clock_contract(world.clock(), Duration::from_secs(90)).await;
        let router: Box<dyn TrafficRouter> = Box::new(world.router());
        c::router_round_trip(&*router).await;
        c::router_idempotent_write(&*router).await;
        c::router_mark_round_trip(&*router).await;
        c::router_group_timings(&*router, Some(Duration::from_secs(300))).await;
        let health: Arc<dyn HealthSource> = Arc::new(world.health());
        c::health_target_counts(&*health, Color::Blue, 2).await;
        c::health_metrics_contract(&*health, busy).await;
        c::health_no_data_is_absent(&*health, quiet).await;
        c::health_rejects_empty_window(&*health, start).await;
        c::health_alarms(&*health, &["b".to_string(), "a".to_string()], "missing").await;
        let capacity: Arc<dyn Capacity> = Arc::new(world.capacity());
        c::capacity_round_trip(&*capacity, Color::Green).await;
        let store: Box<dyn StateStore> = Box::new(MemoryStore::new());
        c::store_contract(&*store, "memory", world.clock().now()).await;
        // The fault decorator is a store too, and keeps the contract when no fault is set.
        let clock: Arc<dyn Clock> = Arc::new(world.clock().clone());
        let faulty = Faulty::new(MemoryStore::new(), clock.clone(), FaultHandle::new(1));
        c::store_contract(&faulty, "faulty", world.clock().now()).await;
        // So are its router, health source and capacity: with no fault set, each keeps its contract.
        let faults = FaultHandle::new(2);
        let router = Faulty::new(world.router(), clock.clone(), faults.clone());
        c::router_round_trip(&router).await;
        c::router_idempotent_write(&router).await;
        c::router_mark_round_trip(&router).await;
        c::router_group_timings(&router, Some(Duration::from_secs(300))).await;
        let health = Faulty::new(world.health(), clock.clone(), faults.clone());
        c::health_target_counts(&health, Color::Blue, 2).await;
        c::health_metrics_contract(&health, busy).await;
        c::health_no_data_is_absent(&health, quiet).await;
        c::health_rejects_empty_window(&health, start).await;
        c::health_alarms(&health, &["a".to_string()], "missing").await;
        let capacity = Faulty::new(world.capacity(), clock, faults);
        c::capacity_round_trip(&capacity, Color::Green).await;
    });
}

#[test]
fn missing_resources_are_not_found() {
    let world = SimWorld::new(WorldConfig::default());
    let gone = PerColor::from_fn(|c| {
        format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x-{c}-tg/0")
    });
    block(&world, async {
        c::router_missing_resource(&world.router_for("arn:nope", ActionRef::Default, gone.clone()))
            .await;
        c::router_missing_resource(&world.router_for(
            &world.listener_arn(),
            ActionRef::Rule(7),
            gone.clone(),
        ))
        .await;
        c::router_missing_resource(&world.router_for(
            &world.listener_arn(),
            ActionRef::Default,
            gone.clone(),
        ))
        .await;
        c::health_missing_resource(&world.health_for(gone)).await;
        c::capacity_missing_resource(
            &world.capacity_for(PerColor::from_fn(|c| format!("x-{c}-asg"))),
        )
        .await;
    });
}

#[test]
fn the_listener_is_as_strict_as_aws() {
    let world = SimWorld::new(WorldConfig::default());
    let l = world.listener_arn();
    let (blue, green) = (
        world.target_group_arn(Color::Blue),
        world.target_group_arn(Color::Green),
    );
    // Weights up to 999 are fine and read back as a percentage split.
    world
        .modify_forward(
            &l,
            ActionRef::Default,
            &[(blue.clone(), 999), (green.clone(), 333)],
        )
        .unwrap();
    let router = world.router();
    assert_eq!(
        block(&world, router.read_split()).unwrap(),
        TrafficSplit::new(75, 25).unwrap()
    );
    // 1000 is not.
    let err = world
        .modify_forward(&l, ActionRef::Default, &[(blue.clone(), 1000)])
        .unwrap_err();
    assert!(matches!(err, ProviderError::Invalid { .. }), "{err}");
    // Unknown target groups are rejected.
    let err = world
        .modify_forward(&l, ActionRef::Default, &[("arn:tg/none".into(), 1)])
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound { .. }), "{err}");
    // Both at zero: the router refuses to call that a split.
    world
        .modify_forward(&l, ActionRef::Default, &[(blue, 0), (green, 0)])
        .unwrap();
    assert!(matches!(
        block(&world, router.read_split()),
        Err(ProviderError::Invalid { .. })
    ));
}

#[test]
fn listener_rules_are_routed_separately_from_the_default_action() {
    let world = SimWorld::new(WorldConfig {
        rule_priorities: vec![10],
        ..WorldConfig::default()
    });
    let tgs = PerColor::from_fn(|c| world.target_group_arn(c));
    let rule = world.router_for(&world.listener_arn(), ActionRef::Rule(10), tgs);
    block(&world, rule.write_split(TrafficSplit::new(40, 60).unwrap())).unwrap();
    assert_eq!(
        block(&world, rule.read_split()).unwrap(),
        TrafficSplit::new(40, 60).unwrap()
    );
    assert_eq!(
        world.split(),
        TrafficSplit::all_to(Color::Blue),
        "the default action is untouched"
    );
}

#[test]
fn targets_go_through_aws_states() {
    let world = SimWorld::new(WorldConfig {
        instances: PerColor { blue: 2, green: 0 },
        ..WorldConfig::default()
    });
    let capacity = world.capacity();
    block(&world, capacity.set_desired(Color::Green, 2)).unwrap();
    let states = |w: &SimWorld| {
        w.target_states(Color::Green)
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        states(&world),
        vec![],
        "not registered before the instances are in service"
    );
    // Pending for the launch time (90 s by default)...
    world.clock().advance(Duration::from_secs(89));
    assert_eq!(world.asg_capacity(Color::Green), (2, 0), "still pending");
    assert_eq!(states(&world), vec![]);
    world.clock().advance(Duration::from_secs(1));
    assert_eq!(
        states(&world),
        vec![TargetState::Initial, TargetState::Initial]
    );
    assert_eq!(world.asg_capacity(Color::Green), (2, 2));
    // ...then `initial` for 5 health checks × 30 s...
    world.clock().advance(Duration::from_secs(149));
    assert_eq!(
        states(&world),
        vec![TargetState::Initial, TargetState::Initial]
    );
    world.clock().advance(Duration::from_secs(1));
    assert_eq!(
        states(&world),
        vec![TargetState::Healthy, TargetState::Healthy]
    );
    // ...and a deregistered target drains for the deregistration delay (300 s by default).
    block(&world, capacity.set_desired(Color::Green, 1)).unwrap();
    assert_eq!(
        states(&world),
        vec![TargetState::Healthy, TargetState::Draining]
    );
    world.clock().advance(Duration::from_secs(299));
    assert_eq!(
        states(&world),
        vec![TargetState::Healthy, TargetState::Draining]
    );
    world.clock().advance(Duration::from_secs(1));
    assert_eq!(states(&world), vec![TargetState::Healthy]);
    world.set_script(
        Color::Green,
        Script::default().at(Duration::ZERO, Change::UnhealthyTargets(1)),
    );
    assert_eq!(states(&world), vec![TargetState::Unhealthy]);
    // Desired capacity stays within the group's size, as SetDesiredCapacity does; the provider raises the
    // maximum first, as the AWS provider does.
    block(&world, capacity.set_desired(Color::Green, 12)).unwrap();
    assert_eq!(world.calls().count("UpdateAutoScalingGroup"), 1);
}

fn only(series: &[MinuteMetrics]) -> Metrics {
    assert_eq!(series.len(), 1, "one minute asked, one bucket: {series:?}");
    series[0].metrics
}

#[test]
fn metrics_follow_the_weights_and_the_script() {
    // Instant publication: this test is about the counts, not about when they appear.
    let mut config = WorldConfig {
        publication: Publication::Instant,
        ..WorldConfig::default()
    };
    config.scripts.green = Script::default().at(Duration::from_secs(60), Change::ErrorRate(0.5));
    let world = SimWorld::new(config);
    let start = world.clock().now();
    let router = world.router();
    block(
        &world,
        router.write_split(TrafficSplit::new(75, 25).unwrap()),
    )
    .unwrap();
    world.clock().advance(Duration::from_secs(120));
    let health = world.health();
    let window = |from: u64, to: u64| Window {
        from: start + Duration::from_secs(from),
        to: start + Duration::from_secs(to),
    };
    let m = block(&world, health.metrics(window(0, 60))).unwrap();
    let (b, g) = (
        only(&m.blue).requests.unwrap() as f64,
        only(&m.green).requests.unwrap() as f64,
    );
    assert!(
        (g / (b + g) - 0.25).abs() < 0.01,
        "25 % of requests reach green: {b} / {g}"
    );
    assert!(
        (b + g - 12_000.0).abs() < 60.0,
        "200 req/s for 60 s: {}",
        b + g
    );
    assert!(only(&m.green).error_rate().unwrap() < 0.01);
    let m = block(&world, health.metrics(window(60, 120))).unwrap();
    assert!(
        (only(&m.green).error_rate().unwrap() - 0.5).abs() < 0.02,
        "green fails half from minute 1"
    );
    // Same seed, same numbers.
    let again = block(&world, health.metrics(window(60, 120))).unwrap();
    assert_eq!(m, again);
}

#[test]
fn metrics_are_published_as_aws_publishes_them() {
    let delay = PublicationDelay::default();
    let world = SimWorld::new(WorldConfig {
        seed: 7,
        ..WorldConfig::default()
    });
    let start = world.clock().now();
    let health = world.health();
    let minute0 = Window {
        from: start,
        to: start + MINUTE,
    };
    // The minute is not there while it runs, nor right after it closes.
    world.clock().advance(Duration::from_secs(30));
    let m = block(&world, health.metrics(minute0)).unwrap();
    assert!(m.blue.is_empty() && m.green.is_empty(), "{m:?}");
    world.clock().advance(Duration::from_secs(31));
    let m = block(&world, health.metrics(minute0)).unwrap();
    assert!(m.blue.is_empty(), "published the instant it closed: {m:?}");
    // It appears after its own delay, stamped at the minute's start.
    let (d, share) = delay.draw(7, start);
    world.clock().advance_to(start + MINUTE + d + MINUTE);
    let m = block(&world, health.metrics(minute0)).unwrap();
    assert_eq!(m.blue.len(), 1);
    assert_eq!(m.blue[0].start, start);
    assert!(share == 1.0 || share < 0.9);
    // GetMetricData rounds the start down: a window from mid-minute returns the whole bucket.
    let mid = Window {
        from: start + Duration::from_secs(30),
        to: start + Duration::from_secs(45),
    };
    assert_eq!(block(&world, health.metrics(mid)).unwrap(), m);
    // Green has no traffic: host counts every minute, no request or 5xx count (zero is omitted).
    let g = m.green[0].metrics;
    assert_eq!(
        (g.requests, g.errors_5xx, g.latency_avg),
        (None, None, None)
    );
    assert_eq!(g.healthy_hosts, Some(2));
    // p99 is an extended statistic: absent unless asked.
    assert_eq!(m.blue[0].metrics.latency_p99, None);
    assert!(m.blue[0].metrics.latency_avg.is_some());

    // Over 1,000 minutes: delays centred near 90 s, most minutes within 2 min, none beyond 4.5 min,
    // about one in ten revised.
    let draws: Vec<(Duration, f64)> = (0..1000u64)
        .map(|i| delay.draw(7, start + MINUTE * i as u32))
        .collect();
    let mean = draws.iter().map(|(d, _)| d.as_secs_f64()).sum::<f64>() / 1000.0;
    assert!((90.0..110.0).contains(&mean), "mean delay {mean}");
    let late = draws.iter().filter(|(d, _)| d.as_secs() > 120).count();
    assert!((50..150).contains(&late), "{late} minutes beyond 2 min");
    assert!(draws.iter().all(|(d, _)| d.as_secs() <= 270));
    let revised = draws.iter().filter(|(_, s)| *s < 1.0).count();
    assert!((60..140).contains(&revised), "{revised} revised");
}

#[test]
fn a_revised_minute_first_shows_part_of_its_counts() {
    let delay = PublicationDelay {
        revision_probability: 1.0,
        ..PublicationDelay::default()
    };
    let world = SimWorld::new(WorldConfig {
        publication: Publication::Realistic(delay),
        ..WorldConfig::default()
    });
    let start = world.clock().now();
    let health = world.health();
    let minute0 = Window {
        from: start,
        to: start + MINUTE,
    };
    let (d, share) = delay.draw(1, start);
    world.clock().advance_to(start + MINUTE + d);
    let first = block(&world, health.metrics(minute0)).unwrap();
    world.clock().advance_to(start + MINUTE + d + MINUTE);
    let revised = block(&world, health.metrics(minute0)).unwrap();
    let (a, b) = (
        first.blue[0].metrics.requests.unwrap(),
        revised.blue[0].metrics.requests.unwrap(),
    );
    assert_eq!(a, (b as f64 * share).floor() as u64);
    assert!(a < b, "first {a}, revised {b}");
}

#[test]
fn faults_are_injected_and_can_be_changed_while_running() {
    let world = SimWorld::new(WorldConfig::default());
    let faults = FaultHandle::new(3);
    let clock: Arc<dyn Clock> = Arc::new(world.clock().clone());
    let router = Faulty::new(world.router(), clock.clone(), faults.clone());
    block(&world, async {
        faults.update(|f| f.throttle_next = 1);
        assert!(matches!(
            router.read_split().await,
            Err(ProviderError::Throttled { .. })
        ));
        faults.update(|f| f.unavailable_next = 1);
        assert!(matches!(
            router.read_split().await,
            Err(ProviderError::Unavailable { .. })
        ));
        let t0 = world.clock().now();
        faults.update(|f| {
            f.timeout_next = 1;
            f.timeout = Duration::from_secs(30);
        });
        assert!(matches!(
            router.read_split().await,
            Err(ProviderError::Unavailable { .. })
        ));
        assert_eq!(
            world.clock().now().since(t0),
            Duration::from_secs(30),
            "a timeout hangs first"
        );
        faults.update(|f| f.latency = Duration::from_millis(250));
        let t1 = world.clock().now();
        let before = router.read_split().await.unwrap();
        assert_eq!(world.clock().now().since(t1), Duration::from_millis(250));
        faults.update(|f| {
            f.latency = Duration::ZERO;
            f.stale_reads = 2;
        });
        let next = TrafficSplit::new(50, 50).unwrap();
        router.write_split(next).await.unwrap();
        assert_eq!(router.read_split().await.unwrap(), before, "stale read 1");
        assert_eq!(router.read_split().await.unwrap(), before, "stale read 2");
        assert_eq!(router.read_split().await.unwrap(), next, "then the truth");
    });
    assert_eq!(faults.injected(), 5);
    // The world saw only the calls that got through; the log counts them.
    assert_eq!(world.calls().count("ModifyListener"), 1);
    assert_eq!(world.calls().count("DescribeListeners"), 4);
}

#[test]
fn the_manual_clock_wakes_sleepers_in_deadline_order() {
    let clock = ManualClock::default();
    let order = std::sync::Mutex::new(Vec::new());
    let start = clock.now();
    run_virtual(&clock, async {
        let sleeper = |secs: u64| {
            let (clock, order) = (&clock, &order);
            async move {
                clock.sleep(Duration::from_secs(secs)).await;
                order
                    .lock()
                    .unwrap()
                    .push((secs, clock.now().since(start).as_secs()));
            }
        };
        futures::join!(sleeper(30), sleeper(10), sleeper(20), sleeper(10));
    })
    .unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        vec![(10, 10), (10, 10), (20, 20), (30, 30)]
    );
    assert_eq!(clock.sleepers(), 0);
    // A future that waits for something other than the clock stalls instead of hanging the test.
    let approval = ManualApproval::new();
    let request = ApprovalRequest {
        deployment: DeploymentId::new("d").unwrap(),
        step: 0,
        percent: bluegreen_core::Share::percent(10),
        watch: false,
    };
    assert_eq!(
        run_virtual(&clock, approval.wait(&request)).map(|_| ()),
        Err(Stalled)
    );
    approval.approve("bob");
    assert_eq!(
        run_virtual(&clock, approval.wait(&request))
            .unwrap()
            .unwrap(),
        ApprovalDecision::Approved { by: "bob".into() }
    );
    assert_eq!(approval.requests().len(), 2);
}

#[test]
fn the_memory_store_refuses_out_of_order_entries() {
    let world = SimWorld::new(WorldConfig::default());
    let store = MemoryStore::new();
    let id = DeploymentId::new("d").unwrap();
    let owner = LockOwner {
        deployment: id.clone(),
        run: "r".into(),
        host: "h".into(),
    };
    let now = world.clock().now();
    let lease = block(
        &world,
        store.lock("app", &owner, now, Duration::from_secs(60)),
    )
    .unwrap();
    let entry = RecordEntry {
        seq: 3,
        at: now,
        event: Event::StepCompleted { index: 0 },
    };
    assert!(matches!(
        block(&world, store.append(&lease, &id, &entry)),
        Err(ProviderError::Conflict { .. })
    ));
}

/// Issue 21 item 3: a group on a launch configuration (the operations guide's) says so, read only, so that a
/// new image is refused before anything changes; the image call itself refuses as AWS's provider does.
#[test]
fn a_group_on_a_launch_configuration_says_so_and_cannot_take_a_new_image() {
    let world = SimWorld::new(WorldConfig::default());
    let cap = world.capacity();
    assert!(matches!(
        block(&world, cap.launch_source(Color::Green)).unwrap(),
        LaunchSource::Template { .. }
    ));
    world.use_launch_configuration(Color::Green, "guide-lc");
    assert_eq!(
        block(&world, cap.launch_source(Color::Green)).unwrap(),
        LaunchSource::LaunchConfiguration {
            name: "guide-lc".into()
        }
    );
    let err = block(&world, cap.new_image_version(Color::Green, IMAGES[1])).unwrap_err();
    assert!(
        err.to_string().contains("launch configuration guide-lc"),
        "{err}"
    );
    block(&world, cap.set_launch_template(Color::Green, "lt-1", "3")).unwrap();
    assert_eq!(
        block(&world, cap.launch_source(Color::Green)).unwrap(),
        LaunchSource::Template {
            template: "lt-1".into(),
            version: "3".into()
        }
    );
}
