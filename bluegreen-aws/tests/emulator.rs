//! The AWS providers against a local AWS emulator (moto in server mode), through the real SDK over HTTP.
//!
//! `BLUEGREEN_TEST_AWS_ENDPOINT` names the emulator (`.ci/run` starts one and sets it);
//! `BLUEGREEN_TEST_PYTHON` is the Python that has boto3 (for the fixture script). Without the endpoint
//! these tests say they are skipped and why.

use bluegreen_aws::*;
use bluegreen_core::*;
use bluegreen_testkit::conformance as c;
use bluegreen_testkit::{EventLog, ManualApproval, MemoryStore};
use serde_json::Value;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn endpoint() -> Option<String> {
    let e = std::env::var("BLUEGREEN_TEST_AWS_ENDPOINT").ok();
    if e.is_none() {
        eprintln!(
            "skipped: BLUEGREEN_TEST_AWS_ENDPOINT is not set (CI starts moto and sets it; see .ci/run)"
        );
    }
    e
}

/// Builds the guide's environment for `{env}-{app}` on the emulator.
fn seed(endpoint: &str, env: &str, app: &str) -> Value {
    fixture("seed_env.py", endpoint, env, app)
}

/// Runs `tests/fixtures/{script}` for `{env}-{app}` on the emulator; returns the names it prints.
fn fixture(script: &str, endpoint: &str, env: &str, app: &str) -> Value {
    let python = std::env::var("BLUEGREEN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!("{}/tests/fixtures/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .args([script.as_str(), endpoint, env, app])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "fixture failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("fixture prints JSON")
}

async fn connect(endpoint: &str) -> Connection {
    Connection::connect(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.into()),
        max_attempts: Some(1),
        ..AwsSettings::default()
    })
    .await
}

fn spec(env: &str, app: &str) -> TargetSpec {
    TargetSpec::by_convention(Naming::new(env, app).unwrap())
}

async fn put_metric(
    cw: &aws_sdk_cloudwatch::Client,
    resolved: &Resolved,
    color: Color,
    name: &str,
    value: f64,
) {
    put_metrics_at(cw, resolved, &[(color, name, value)], SystemClock.now()).await
}

async fn put_metrics_at(
    cw: &aws_sdk_cloudwatch::Client,
    resolved: &Resolved,
    datums: &[(Color, &str, f64)],
    at: Timestamp,
) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let mut put = cw.put_metric_data().namespace("AWS/ApplicationELB");
    for (color, name, value) in datums {
        put = put.metric_data(
            MetricDatum::builder()
                .metric_name(*name)
                .dimensions(
                    Dimension::builder()
                        .name("TargetGroup")
                        .value(resolved.target_group_dimension(*color))
                        .build(),
                )
                .dimensions(
                    Dimension::builder()
                        .name("LoadBalancer")
                        .value(resolved.load_balancer_dimension())
                        .build(),
                )
                .value(*value)
                .timestamp(aws_smithy_types::DateTime::from_millis(
                    at.as_millis() as i64
                ))
                .build(),
        );
    }
    put.send().await.expect("PutMetricData");
}

#[tokio::test]
async fn the_aws_providers_pass_the_conformance_suite() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = seed(&endpoint, "t", "conf");
    let conn = connect(&endpoint).await;
    conn.adopt(&spec("t", "conf")).await.expect("adopt");
    let p = conn.providers(&spec("t", "conf")).await.expect("owned now");

    c::router_round_trip(&*p.router).await;
    c::router_idempotent_write(&*p.router).await;
    c::router_mark_round_trip(&*p.router).await;
    // AWS's default deregistration delay, as the fixture leaves it.
    c::router_group_timings(&*p.router, Some(Duration::from_secs(300))).await;
    c::health_target_counts(&p.health, Color::Blue, 2).await;
    c::health_target_counts(&p.health, Color::Green, 2).await;
    let now = SystemClock.now();
    let writer = connect(&endpoint).await; // the test's own writes stay out of the providers' count
    put_metric(
        writer.cloudwatch(),
        &p.resolved,
        Color::Blue,
        "RequestCount",
        120.0,
    )
    .await;
    put_metric(
        writer.cloudwatch(),
        &p.resolved,
        Color::Blue,
        "HTTPCode_Target_5XX_Count",
        3.0,
    )
    .await;
    put_metric(
        writer.cloudwatch(),
        &p.resolved,
        Color::Blue,
        "TargetResponseTime",
        0.08,
    )
    .await;
    // The `elb-5xx-rate` gate's series: requests the load balancer answered itself (issue 22).
    put_metric(
        writer.cloudwatch(),
        &p.resolved,
        Color::Blue,
        "TargetConnectionErrorCount",
        2.0,
    )
    .await;
    let busy = Window {
        from: now - Duration::from_secs(5),
        to: SystemClock.now() + Duration::from_secs(1),
    };
    c::health_metrics_contract(&p.health, busy).await;
    let m = p.health.metrics(busy).await.unwrap();
    // One bucket per minute, stamped at the minute's start (the datapoints were put at `now`).
    assert_eq!(m.blue.len(), 1, "{m:?}");
    assert_eq!(m.blue[0].start, now.floor_minute());
    let blue = m.blue[0].metrics;
    assert_eq!((blue.requests, blue.errors_5xx), (Some(120), Some(3)));
    assert_eq!(blue.connection_errors, Some(2), "{blue:?}");
    assert_eq!(blue.latency_avg, Some(Duration::from_millis(80)));
    assert!(
        m.green.iter().all(|x| x.metrics.requests.is_none()),
        "no datapoint is no data, never zero"
    );
    let quiet = Window {
        from: now - Duration::from_secs(7200),
        to: now - Duration::from_secs(3600),
    };
    c::health_no_data_is_absent(&p.health, quiet).await;
    c::health_rejects_empty_window(&p.health, now).await;
    let alarm = fixture["alarm"].as_str().unwrap().to_string();
    c::health_alarms(&p.health, &[alarm], "t-conf-no-such-alarm").await;
    c::capacity_round_trip(&p.capacity, Color::Green).await;
    // The new image arrives through the capacity provider (the executor calls it under the lock).
    let template = fixture["launch_template"].as_str().unwrap();
    p.capacity
        .set_launch_template(Color::Green, template, "1")
        .await
        .expect("set_launch_template");
    let asg = writer
        .autoscaling()
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("t-conf-green-asg")
        .send()
        .await
        .unwrap();
    let lt = asg.auto_scaling_groups()[0].launch_template().unwrap();
    assert_eq!(
        (lt.launch_template_id(), lt.version()),
        (Some(template), Some("1"))
    );
    // Beyond the group's maximum: the provider raises it (UpdateAutoScalingGroup).
    p.capacity.set_desired(Color::Green, 11).await.unwrap();
    assert_eq!(p.capacity.capacity(Color::Green).await.unwrap().desired, 11);
    p.capacity.set_desired(Color::Green, 2).await.unwrap();

    // The same contract on a listener rule.
    let mut by_rule = spec("t", "conf");
    by_rule.action = ActionSpec::RulePriority(10);
    conn.adopt(&by_rule).await.unwrap();
    let rule = conn.providers(&by_rule).await.unwrap();
    c::router_round_trip(&*rule.router).await;

    // Missing resources are not found, naming them.
    let bogus = Arc::new(Resolved {
        routes: vec![Route {
            name: "HTTP:80".into(),
            listener_arn: format!(
                "{}/0000000000000000",
                fixture["listener"]
                    .as_str()
                    .unwrap()
                    .rsplit_once('/')
                    .unwrap()
                    .0
            ),
            rule_arn: None,
        }],
        target_groups: PerColor::from_fn(|c| {
            format!(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t-none-{c}-tg/0000000000000000"
            )
        }),
        auto_scaling_groups: PerColor::from_fn(|c| format!("t-none-{c}-asg")),
        ..(*p.resolved).clone()
    });
    let missing = conn.providers_for(bogus);
    c::router_missing_resource(&*missing.router).await;
    c::health_missing_resource(&missing.health).await;
    c::capacity_missing_resource(&missing.capacity).await;

    // A new image (feature `ami`): looked up, and made a version of the group's template.
    #[cfg(feature = "ami")]
    {
        let image = fixture["image"].as_str().unwrap();
        assert!(p.capacity.image_exists(image).await.unwrap());
        p.capacity
            .new_image_version(Color::Blue, image)
            .await
            .expect("a version is made");
    }
    // The IAM policy's actions are exactly the operations the providers called.
    let called: Vec<String> = conn.counter().counts().into_keys().collect();
    let policy: Vec<String> = iam::operations().into_iter().map(String::from).collect();
    assert_eq!(called, policy, "IAM actions vs operations called");
}

#[tokio::test]
async fn an_endpoint_without_percentiles_is_named_as_such() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "t", "pct");
    let conn = Connection::connect(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.clone()),
        max_attempts: Some(1),
        p99: true,
        ..AwsSettings::default()
    })
    .await;
    conn.adopt(&spec("t", "pct")).await.unwrap();
    let p = conn.providers(&spec("t", "pct")).await.unwrap();
    let now = SystemClock.now();
    put_metric(
        conn.cloudwatch(),
        &p.resolved,
        Color::Blue,
        "TargetResponseTime",
        0.08,
    )
    .await;
    let window = Window {
        from: now - Duration::from_secs(120),
        to: now + Duration::from_secs(60),
    };
    match p.health.metrics(window).await {
        // The emulator refuses the extended statistic: the error says what to do.
        Err(ProviderError::Invalid { message }) => {
            assert!(message.contains("percentile"), "{message}");
            assert!(message.contains("p99 = false"), "{message}");
        }
        // An emulator that learns percentiles is welcome: then the answer keeps the contract.
        Ok(_) => c::health_metrics_contract(&p.health, window).await,
        Err(other) => panic!("expected an explained refusal, got {other}"),
    }
}

#[tokio::test]
async fn discovery_refuses_what_it_cannot_manage() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = seed(&endpoint, "t", "disc");
    let conn = connect(&endpoint).await;

    let err = conn.resolve(&spec("t", "nothing")).await.unwrap_err();
    assert!(
        matches!(&err, AwsError::Provider(ProviderError::NotFound { resource }) if resource.contains("t-nothing-alb")),
        "{err}"
    );

    let err = conn
        .providers(&spec("t", "disc"))
        .await
        .err()
        .expect("not owned yet");
    assert!(matches!(err, AwsError::NotOwned { .. }), "{err}");
    assert!(err.to_string().contains("adopt"), "{err}");

    // By listener ARN, the same resources as by convention.
    let mut by_arn = spec("t", "disc");
    by_arn.listener = ListenerSpec::Arn(fixture["listener"].as_str().unwrap().to_string());
    assert_eq!(
        conn.resolve(&by_arn).await.unwrap(),
        conn.resolve(&spec("t", "disc")).await.unwrap()
    );

    let mut wrong_port = spec("t", "disc");
    wrong_port.listener = ListenerSpec::Port(8443);
    let err = conn.resolve(&wrong_port).await.unwrap_err();
    assert!(err.to_string().contains("listener on port 8443"), "{err}");

    // A listener that forwards to one target group is not a blue-green split.
    let lb = fixture["load_balancer"].as_str().unwrap();
    let blue = fixture["target_groups"]["blue"].as_str().unwrap();
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ProtocolEnum};
    conn.elb()
        .create_listener()
        .load_balancer_arn(lb)
        .protocol(ProtocolEnum::Http)
        .port(81)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(blue)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut single = spec("t", "disc");
    single.listener = ListenerSpec::Port(81);
    let err = conn.resolve(&single).await.unwrap_err();
    assert!(matches!(err, AwsError::UnexpectedAction { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("expected a forward action to the blue and green target groups"),
        "{err}"
    );

    // A write keeps the rest of the action: stickiness stays on.
    conn.adopt(&spec("t", "disc")).await.unwrap();
    let p = conn.providers(&spec("t", "disc")).await.unwrap();
    p.router.read_split().await.unwrap();
    p.router
        .write_split(TrafficSplit::new(90, 10).unwrap())
        .await
        .unwrap();
    let out = conn
        .elb()
        .describe_listeners()
        .listener_arns(fixture["listener"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let fwd = out.listeners()[0].default_actions()[0]
        .forward_config()
        .unwrap();
    let sticky = fwd.target_group_stickiness_config().unwrap();
    assert_eq!(
        (sticky.enabled(), sticky.duration_seconds()),
        (Some(true), Some(300))
    );
    // And the router reads it (pre-flight compares it with the scale-down delay).
    assert_eq!(
        p.router.stickiness().await.unwrap(),
        Some(std::time::Duration::from_secs(300))
    );
}

/// Simulated time on the real one, [`SPEED`] × faster: the emulator keeps whatever timestamps it is given, so a
/// deployment that waits for whole CloudWatch minutes runs in seconds. The executor and the publisher below
/// share one.
#[derive(Clone, Copy)]
struct FastClock {
    base_virtual: Timestamp,
    base_real: std::time::Instant,
}

/// 30 × real time: a virtual minute is two real seconds, enough for the publisher to keep up on a loaded
/// machine.
const SPEED: u32 = 30;

impl FastClock {
    fn new() -> Self {
        FastClock {
            base_virtual: SystemClock.now().floor_minute() - Duration::from_secs(3600),
            base_real: std::time::Instant::now(),
        }
    }
}

#[async_trait::async_trait]
impl Clock for FastClock {
    fn now(&self) -> Timestamp {
        self.base_virtual + self.base_real.elapsed() * SPEED
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration / SPEED).await;
    }
}

/// Issue 11: `adopt` of a listener that another application owns is refused, naming the owner, and changes
/// nothing; forced, it takes it over and says from whom.
#[tokio::test]
async fn adopting_a_listener_owned_by_another_application_is_refused_unless_forced() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = seed(&endpoint, "t", "own");
    let conn = connect(&endpoint).await;
    conn.adopt(&spec("t", "own")).await.expect("adopt");
    // Another application naming the same resources.
    let mut other = spec("t", "intruder");
    other.load_balancer = Some("t-own-alb".into());
    other.target_groups = Some(PerColor {
        blue: fixture["target_groups"]["blue"].as_str().unwrap().into(),
        green: fixture["target_groups"]["green"].as_str().unwrap().into(),
    });
    let err = conn.adopt(&other).await.unwrap_err();
    assert!(
        matches!(&err, AwsError::OwnedByOther { owner, application, .. } if owner == "t/own" && application == "t/intruder"),
        "{err}"
    );
    assert!(err.to_string().contains("adopt --force"), "{err}");
    // Nothing changed: the owner still deploys, the other is still refused.
    conn.providers(&spec("t", "own"))
        .await
        .expect("still owned");
    assert!(matches!(
        conn.providers(&other).await.err().expect("not owned"),
        AwsError::NotOwned { .. } | AwsError::OwnedByOther { .. }
    ));
    let (_, previous) = conn.adopt_forced(&other).await.expect("forced");
    assert_eq!(previous.as_deref(), Some("t/own"));
    conn.providers(&other)
        .await
        .expect("owned by the other now");
    assert!(
        conn.providers(&spec("t", "own")).await.is_err(),
        "taken over"
    );
}

/// Publishes the metrics an ALB would, the way CloudWatch does: one bucket per minute, stamped at the
/// minute's start, `delay` after the minute closes, zero counts left out, host counts every minute.
/// Requests follow the listener's weights during the minute (sampled with a client of its own): 1,000 a
/// minute in all; green returns 5xx for `spike` of its requests once it has at least `spike_from` percent.
async fn publish_minutes(
    endpoint: String,
    resolved: Resolved,
    clock: FastClock,
    delay: Duration,
    spike: f64,
    spike_from: u32,
    stop: Arc<AtomicBool>,
) {
    let conn = connect(&endpoint).await;
    let resolved = Arc::new(resolved);
    let p = conn.providers_for(resolved.clone());
    // (virtual time, green weight) samples, and the next minute to publish.
    let mut samples: Vec<(Timestamp, u32)> = Vec::new();
    let mut next = clock.now().floor_minute();
    while !stop.load(Ordering::Relaxed) {
        if let Ok(split) = p.router.read_split().await {
            samples.push((clock.now(), split.weight(Color::Green)));
        }
        while next + MINUTE + delay <= clock.now() {
            let inside: Vec<u32> = samples
                .iter()
                .filter(|(t, _)| *t >= next && *t < next + MINUTE)
                .map(|(_, w)| *w)
                .collect();
            if !inside.is_empty() {
                let green = inside.iter().sum::<u32>() as f64 / inside.len() as f64;
                // One PutMetricData per minute, with every datapoint of both colors.
                let mut datums = Vec::new();
                for c in Color::ALL {
                    let share = if c == Color::Green {
                        green
                    } else {
                        100.0 - green
                    };
                    datums.push((c, "HealthyHostCount", 2.0));
                    let requests = (10.0 * share).round();
                    if requests == 0.0 {
                        continue;
                    }
                    datums.push((c, "RequestCount", requests));
                    datums.push((c, "TargetResponseTime", 0.08));
                    let failing = c == Color::Green && inside.iter().any(|w| *w >= spike_from);
                    if failing && spike > 0.0 {
                        datums.push((c, "HTTPCode_Target_5XX_Count", (requests * spike).round()));
                    }
                }
                put_metrics_at(conn.cloudwatch(), &resolved, &datums, next).await;
            }
            next = next + MINUTE;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deploy(
    endpoint: &str,
    app: &str,
    spike: f64,
) -> (
    Outcome,
    Vec<RecordEntry>,
    std::collections::BTreeMap<String, usize>,
) {
    seed(endpoint, "t", app);
    let conn = connect(endpoint).await;
    conn.adopt(&spec("t", app)).await.unwrap();
    let p = conn.providers(&spec("t", app)).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let clock = FastClock::new();
    let writer = tokio::spawn(publish_minutes(
        endpoint.to_string(),
        (*p.resolved).clone(),
        clock,
        Duration::from_secs(90),
        spike,
        50,
        stop.clone(),
    ));
    conn.counter().reset();
    let events = EventLog::default();
    let providers = Providers {
        router: p.router.clone(),
        health: Arc::new(p.health),
        capacity: None,
        clock: Arc::new(clock),
        approval: Arc::new(ManualApproval::new()),
        store: Arc::new(MemoryStore::new()),
        hooks: None,
    };
    let schedule = Strategy::Gradual {
        steps: vec![10, 25, 50, 75, 100],
        bake: Duration::from_secs(60),
    }
    .compile()
    .unwrap();
    let mut plan = Plan::new("t/".to_string() + app, schedule);
    plan.gates.min_requests = 10;
    // The publisher runs on real time beside the fast clock: if the machine is slow, a minute may appear a
    // few virtual minutes late. Allow for it rather than judge it as missing.
    plan.gates.publication_timeout = Duration::from_secs(1200);
    plan.gates.max_extension = Duration::from_secs(1200);
    let exec = Executor::new(providers).with_observer(Arc::new(events.clone()));
    let outcome = exec
        .run(DeploymentId::new(app).unwrap(), plan)
        .await
        .expect("runs");
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    (outcome, events.entries(), conn.counter().counts())
}

fn count(entries: &[RecordEntry], f: impl Fn(&Event) -> bool) -> usize {
    entries.iter().filter(|e| f(&e.event)).count()
}

/// Reads the split with a client of its own.
async fn split_seen_by_another_client(endpoint: &str, app: &str) -> TrafficSplit {
    let conn = connect(endpoint).await;
    let p = conn.providers(&spec("t", app)).await.unwrap();
    p.router.read_split().await.unwrap()
}

#[tokio::test]
async fn a_gradual_deployment_runs_on_the_emulator_within_its_api_budget() {
    let Some(endpoint) = endpoint() else { return };
    let (outcome, entries, calls) = deploy(&endpoint, "dep", 0.0).await;
    assert_eq!(outcome.kind(), "promoted", "{outcome}");
    assert_eq!(
        split_seen_by_another_client(&endpoint, "dep").await,
        TrafficSplit::all_to(Color::Green)
    );
    let writes = count(&entries, |e| matches!(e, Event::SplitWritten { .. }));
    let polls = count(&entries, |e| matches!(e, Event::Polled { .. }));
    let asked = count(&entries, |e| {
        matches!(
            e,
            Event::Polled {
                window: Some(_),
                ..
            }
        )
    });
    let checks = count(&entries, |e| matches!(e, Event::PreStepChecked { .. }));
    // Every metric gate judged minutes that CloudWatch (the publisher) had published, each once.
    let minutes: Vec<Timestamp> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::Polled { reports, .. } => Some(reports.iter().filter(|r| r.gate == "5xx-rate")),
            _ => None,
        })
        .flatten()
        .map(|r| {
            assert_eq!(r.verdict, gate::Verdict::Pass, "{r}");
            r.minute.expect("minute-tagged")
        })
        .collect();
    assert!(
        minutes.len() >= 5,
        "at least one minute per bake: {minutes:?}"
    );
    let unique: std::collections::BTreeSet<_> = minutes.iter().collect();
    assert_eq!(unique.len(), minutes.len(), "each minute judged once");
    eprintln!("API calls for {writes} steps and {polls} polls: {calls:?}");
    assert_eq!(writes, 5);
    assert_eq!(calls["ModifyListener"], writes, "one write per step");
    // The listener is also read before each poll, each write and `promoted`: a change made outside the run
    // (by hand, by another machine) is seen within one poll.
    assert_eq!(
        calls["DescribeListeners"],
        writes + 1 + polls + writes + 1,
        "one read-back per step, one pre-flight read, one per poll, one before each write and promoting"
    );
    assert_eq!(
        calls["GetMetricData"], asked,
        "one metrics call for both colors per poll with a closed minute to judge"
    );
    assert!(asked <= polls);
    assert_eq!(
        calls["DescribeTargetHealth"],
        checks + polls,
        "one target-health call per pre-step check and per poll"
    );
    // The listener's mark: read before the start and at the end, written at the start and with every
    // renewal of the lease (once half of the 60 s lease has passed, at the next poll: at most one per 30 s,
    // at least one per 60 s), removed at the end.
    let elapsed = entries.last().unwrap().at.since(entries[0].at).as_secs();
    assert_eq!(calls["DescribeTags"], 2, "{calls:?}");
    assert_eq!(calls["RemoveTags"], 1, "{calls:?}");
    let renewals = calls["AddTags"] as u64 - 1;
    assert!(
        elapsed / 60 <= renewals && renewals <= elapsed / 30 + 1,
        "one renewal of the mark per 30 to 60 s of {elapsed} s: {calls:?}"
    );
    assert_eq!(calls.len(), 7, "nothing else: {calls:?}");
}

#[tokio::test]
async fn a_5xx_spike_rolls_back_on_the_emulator() {
    let Some(endpoint) = endpoint() else { return };
    let (outcome, entries, _) = deploy(&endpoint, "rb", 0.3).await;
    let Outcome::RolledBack {
        reason: RollbackReason::Gate { report, .. },
        step,
        ..
    } = &outcome
    else {
        panic!("expected a gate rollback, got {outcome}");
    };
    assert_eq!(report.gate, "5xx-rate");
    assert_eq!(report.verdict, gate::Verdict::Fail);
    assert!(report.minute.is_some(), "judged on a published minute");
    assert_eq!(*step, Some(5), "during the bake after the 50 % step");
    assert!(report.value.unwrap() > report.limit.unwrap());
    assert!(
        entries
            .iter()
            .any(|e| matches!(e.event, Event::RolledBack { .. }))
    );
    assert_eq!(
        split_seen_by_another_client(&endpoint, "rb").await,
        TrafficSplit::all_to(Color::Blue)
    );
}

/// One retry policy (decision 007): the SDK makes one attempt per call, so the executor's retries — on its
/// injected clock, each reported — are the only ones. (Needs the emulator's test credentials only: the calls
/// go to a closed port, where every attempt fails at once with a dispatch failure that the SDK's standard
/// mode would retry.)
#[tokio::test]
async fn the_sdk_makes_one_attempt_per_call_unless_told_otherwise() {
    if endpoint().is_none() {
        return;
    }
    let attempts = |max_attempts| async move {
        let conn = Connection::connect(&AwsSettings {
            region: Some("us-east-1".into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            max_attempts,
            ..AwsSettings::default()
        })
        .await;
        let err = conn
            .elb()
            .describe_load_balancers()
            .send()
            .await
            .expect_err("nothing listens there");
        assert!(
            matches!(
                err,
                aws_sdk_elasticloadbalancingv2::error::SdkError::DispatchFailure(_)
            ),
            "{err:?}"
        );
        conn.counter().count("DescribeLoadBalancers")
    };
    assert_eq!(attempts(None).await, 1, "the default: no SDK retry");
    assert_eq!(
        attempts(Some(3)).await,
        3,
        "asked for: the SDK's standard mode"
    );
}

/// Issue 13: the shared state backend (DynamoDB) keeps the store contract on the emulator, through the
/// fault decorator too, and two machines racing for one lock get one lease and one refusal.
#[tokio::test]
async fn the_dynamodb_store_keeps_the_store_contract() {
    let Some(endpoint) = endpoint() else { return };
    let conn = connect(&endpoint).await;
    let table = format!("bluegreen-state-{}", std::process::id());
    let store = conn.store(&table, "team-a/");
    store.create_table().await.expect("the table is created");
    let now = SystemClock.now();
    c::store_contract(&store, "dynamodb", now).await;
    // The table is the control queue of the shared backend, with the file store's contract.
    bluegreen_store::conformance::control_queue_contract(&store, "dynamodb").await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    bluegreen_store::conformance::queue_approval_contract(
        Arc::new(store.clone()),
        clock.clone(),
        "dynamodb",
    )
    .await;
    let faulty = bluegreen_testkit::Faulty::new(
        conn.store(&table, "team-b/"),
        clock,
        bluegreen_testkit::FaultHandle::new(1),
    );
    c::store_contract(&faulty, "dynamodb-faulty", now).await;
    // Under faults: a throttled append writes nothing and its retry lands once; an ambiguous one (it landed,
    // the answer was lost) is there exactly once, its retry refused, and the record goes on.
    let app = "faults/app".to_string();
    let id = DeploymentId::new("faults-1").unwrap();
    let owner = LockOwner {
        deployment: id.clone(),
        run: "run-f".into(),
        host: "test".into(),
    };
    let lease = faulty
        .lock(&app, &owner, now, Duration::from_secs(60))
        .await
        .unwrap();
    let entry = |seq: u64| RecordEntry {
        seq,
        at: Timestamp::from_millis(seq),
        event: if seq == 0 {
            Event::Started {
                deployment: id.clone(),
                stable: Color::Blue,
                plan: Box::new(Plan::new(&app, Strategy::immediate().compile().unwrap())),
                by: None,
            }
        } else {
            Event::StepCompleted { index: 0 }
        },
    };
    let script = |kind| {
        faulty.handle().update(|f| {
            f.script = vec![bluegreen_testkit::ScriptedFault {
                operation: "append".into(),
                kind,
                count: 1,
            }]
        })
    };
    script(bluegreen_testkit::FaultKind::Throttle);
    assert!(matches!(
        faulty.append(&lease, &id, &entry(0)).await,
        Err(ProviderError::Throttled { .. })
    ));
    faulty
        .append(&lease, &id, &entry(0))
        .await
        .expect("the retry lands");
    script(bluegreen_testkit::FaultKind::Ambiguous);
    assert!(
        faulty.append(&lease, &id, &entry(1)).await.is_err(),
        "the answer was lost"
    );
    assert!(
        matches!(
            faulty.append(&lease, &id, &entry(1)).await,
            Err(ProviderError::Conflict { .. })
        ),
        "a retry of an entry that landed is refused, not written twice"
    );
    assert_eq!(faulty.load(&id).await.unwrap(), vec![entry(0), entry(1)]);
    faulty
        .append(&lease, &id, &entry(2))
        .await
        .expect("the record goes on");
    assert_eq!(faulty.load(&id).await.unwrap().len(), 3);
    // The IAM statement allows exactly what the store called (a transaction needs the permissions of what
    // it does: putting an item and checking conditions), beyond creating the table.
    let statement = bluegreen_aws::iam::state_statement("aws", "r", "a", &table, "");
    let allowed: std::collections::BTreeSet<String> = statement["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .trim_start_matches("dynamodb:")
                .to_string()
        })
        .collect();
    let mut used = std::collections::BTreeSet::new();
    for op in conn.counter().counts().into_keys() {
        match op.as_str() {
            "CreateTable" | "DescribeTable" => {}
            "TransactWriteItems" => {
                used.insert("PutItem".to_string());
                used.insert("ConditionCheckItem".to_string());
            }
            other => {
                used.insert(other.to_string());
            }
        }
    }
    assert_eq!(
        used, allowed,
        "the policy grants what the store uses, no more"
    );
    // Two machines (two connections) take one free lock at the same moment: exactly one gets it.
    let other = connect(&endpoint).await;
    let (a, b) = (conn.store(&table, "race/"), other.store(&table, "race/"));
    let owner = |run: &str| LockOwner {
        deployment: DeploymentId::new("race-1").unwrap(),
        run: run.into(),
        host: "test".into(),
    };
    let ttl = Duration::from_secs(60);
    for round in 0..10 {
        let app = format!("race/app-{round}");
        let (oa, ob) = (owner("machine-a"), owner("machine-b"));
        let (x, y) = tokio::join!(a.lock(&app, &oa, now, ttl), b.lock(&app, &ob, now, ttl));
        assert!(
            x.is_ok() != y.is_ok(),
            "round {round}: one lease and one refusal, got {x:?} and {y:?}"
        );
        for refused in [x, y].into_iter().filter_map(Result::err) {
            assert!(
                matches!(refused, ProviderError::Conflict { .. }),
                "{refused}"
            );
        }
    }
}

/// Issue 14: a new image becomes a new version of the group's launch template, made from the version the
/// group launches now; an image that does not exist is seen not to.
#[cfg(feature = "ami")]
#[tokio::test]
async fn a_new_image_becomes_a_launch_template_version() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = seed(&endpoint, "t", "ami");
    let conn = connect(&endpoint).await;
    conn.adopt(&spec("t", "ami")).await.expect("adopt");
    let p = conn.providers(&spec("t", "ami")).await.expect("owned");
    let template = fixture["launch_template"].as_str().unwrap();
    let newer = fixture["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .find(|i| *i != fixture["image"].as_str().unwrap())
        .expect("the emulator has a second image");
    assert!(p.capacity.image_exists(newer).await.unwrap());
    assert!(
        !p.capacity
            .image_exists("ami-00000000000000000")
            .await
            .unwrap()
    );
    // The fixture's groups launch `$Latest` of the template: the new version starts from that one.
    let (t, version) = p
        .capacity
        .new_image_version(Color::Green, newer)
        .await
        .expect("a version is made");
    assert_eq!(t, template);
    assert_ne!(version, "1");
    p.capacity
        .set_launch_template(Color::Green, &t, &version)
        .await
        .unwrap();
    let asg = conn
        .autoscaling()
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("t-ami-green-asg")
        .send()
        .await
        .unwrap();
    let lt = asg.auto_scaling_groups()[0].launch_template().unwrap();
    assert_eq!(lt.version(), Some(version.as_str()));
}

/// The example CloudFormation templates' environment (see `fixtures/cfn_env.py`).
fn cfn_env(endpoint: &str, env: &str, app: &str) -> Value {
    fixture("cfn_env.py", endpoint, env, app)
}

/// Issue 14: an HTTP and an HTTPS listener forwarding to the same two target groups are found together (a
/// redirecting listener is left alone), owned together, written and read together; a list of ports that
/// names a listener that does not forward is refused, naming it.
#[tokio::test]
async fn several_listeners_are_found_owned_and_moved_together() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = cfn_env(&endpoint, "t", "routes");
    let conn = connect(&endpoint).await;
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ProtocolEnum, RedirectActionConfig,
    };
    let redirect = conn
        .elb()
        .create_listener()
        .load_balancer_arn(fixture["load_balancer"].as_str().unwrap())
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .protocol("HTTPS")
                        .port("443")
                        .status_code(
                            aws_sdk_elasticloadbalancingv2::types::RedirectActionStatusCodeEnum::Http301,
                        )
                        .build()
                        ,
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let redirect = redirect.listeners()[0].listener_arn().unwrap().to_string();
    let listeners = &fixture["listeners"];
    let resolved = conn.resolve(&spec("t", "routes")).await.unwrap();
    let found: Vec<(&str, &str)> = resolved
        .routes
        .iter()
        .map(|r| (r.name.as_str(), r.listener_arn.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("HTTP:80", listeners["HTTP:80"].as_str().unwrap()),
            ("HTTPS:443", listeners["HTTPS:443"].as_str().unwrap()),
        ]
    );
    let mut ports = spec("t", "routes");
    ports.listener = ListenerSpec::Ports(vec![80, 8080]);
    let err = conn.resolve(&ports).await.unwrap_err();
    assert!(
        matches!(&err, AwsError::UnexpectedAction { resource, .. } if *resource == redirect),
        "{err}"
    );
    ports.listener = ListenerSpec::Ports(vec![443]);
    assert_eq!(conn.resolve(&ports).await.unwrap().routes.len(), 1);

    // Ownership covers every route: one untagged listener refuses the providers, naming it.
    conn.adopt(&spec("t", "routes")).await.unwrap();
    conn.elb()
        .remove_tags()
        .resource_arns(listeners["HTTPS:443"].as_str().unwrap())
        .tag_keys(OWNER_TAG)
        .send()
        .await
        .unwrap();
    let err = conn.providers(&spec("t", "routes")).await.err().unwrap();
    assert!(
        matches!(&err, AwsError::NotOwned { resource, .. } if resource == listeners["HTTPS:443"].as_str().unwrap()),
        "{err}"
    );
    conn.adopt(&spec("t", "routes")).await.unwrap();
    let p = conn.providers(&spec("t", "routes")).await.unwrap();
    c::router_round_trip(&*p.router).await;
    p.router
        .write_split(TrafficSplit::new(75, 25).unwrap())
        .await
        .unwrap();
    let routing = p.router.read_routes().await.unwrap();
    assert_eq!(
        routing
            .routes()
            .iter()
            .map(|r| (r.route.as_str(), r.split))
            .collect::<Vec<_>>(),
        [
            ("HTTP:80", TrafficSplit::new(75, 25).unwrap()),
            ("HTTPS:443", TrafficSplit::new(75, 25).unwrap()),
        ]
    );
    // Someone moves one listener by hand: the routes disagree, and a deployment refuses to start.
    let https = ElbRouter::new(
        conn.elb().clone(),
        p.resolved.target_groups.clone(),
        p.resolved.routes[1].clone(),
    );
    https
        .write_split(TrafficSplit::all_to(Color::Blue))
        .await
        .unwrap();
    let routing = p.router.read_routes().await.unwrap();
    assert_eq!(routing.uniform(), None, "{routing}");
    let err = p.router.read_split().await.unwrap_err();
    assert!(
        err.to_string().contains(
            "the routes disagree: HTTP:80 blue 75% / green 25%, HTTPS:443 blue 100% / green 0%"
        ),
        "{err}"
    );
}

/// A loopback HTTP server that keeps each request's body (one request per connection is enough here).
fn http_sink() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sns", listener.local_addr().unwrap());
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut stream = stream;
            let mut length = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                kept.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).to_string());
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
}

/// Issue 24: a notification to SNS is one `Publish` to the topic with its subject, as SNS delivers it to a
/// subscriber (moto delivers to an HTTP subscription at once); a topic that does not exist is an error.
#[tokio::test]
async fn notifications_publish_to_an_sns_topic() {
    let Some(endpoint) = endpoint() else { return };
    let (sink, bodies) = http_sink();
    let python = std::env::var("BLUEGREEN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import boto3, sys\n\
        sns = boto3.client('sns', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')\n\
        arn = sns.create_topic(Name='bluegreen-notify-test')['TopicArn']\n\
        sns.subscribe(TopicArn=arn, Protocol='http', Endpoint=sys.argv[2])\n\
        print(arn)\n";
    let out = Command::new(python)
        .args(["-c", script, &endpoint, &sink])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let topic = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let conn = connect(&endpoint).await;
    let before = conn.counter().counts().get("Publish").copied().unwrap_or(0);
    let id = conn
        .sns()
        .publish(
            &topic,
            "poc/poc-web: promoted\nat once",
            "the new color holds all traffic",
            "promoted",
        )
        .await
        .expect("published");
    assert!(!id.is_empty());
    assert_eq!(
        conn.counter().counts().get("Publish").copied(),
        Some(before + 1)
    );
    let mut delivered = None;
    for _ in 0..50 {
        delivered = bodies
            .lock()
            .unwrap()
            .iter()
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .find(|v| v["Type"] == "Notification");
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n = delivered.expect("moto delivered the notification to the subscription");
    assert_eq!(n["TopicArn"], topic.as_str());
    assert_eq!(n["Subject"], "poc/poc-web: promoted at once");
    assert_eq!(n["Message"], "the new color holds all traffic");
    let missing = topic.replace("bluegreen-notify-test", "no-such-topic");
    assert!(
        conn.sns()
            .publish(&missing, "s", "m", "promoted")
            .await
            .is_err(),
        "a missing topic is an error"
    );
}
