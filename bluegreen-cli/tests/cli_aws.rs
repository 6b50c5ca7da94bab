//! The `bluegreen` command against a local AWS emulator (moto), as `scripts/test` sets it up. Without
//! `BLUEGREEN_TEST_AWS_ENDPOINT` these tests say they are skipped and why.

mod common;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn endpoint() -> Option<String> {
    let e = std::env::var("BLUEGREEN_TEST_AWS_ENDPOINT").ok();
    if e.is_none() {
        eprintln!(
            "skipped: BLUEGREEN_TEST_AWS_ENDPOINT is not set (scripts/test starts moto and sets it)"
        );
    }
    e
}

/// The seeded application, its group stickiness and its groups' deregistration delay 1 s: the tests scale
/// the old color down after 1 s, and the scale-down waits for both (clients pinned to the old color, and
/// requests still running there, would hit a scaled-down group).
fn seed(endpoint: &str, app: &str) -> Value {
    fixture_with(
        "seed_env.py",
        endpoint,
        app,
        &["--stickiness", "1", "--deregistration-delay", "1"],
    )
}

/// Runs `bluegreen-aws/tests/fixtures/{script}` for `cli-{app}` on the emulator; returns the names it prints.
fn fixture(script: &str, endpoint: &str, app: &str) -> Value {
    fixture_with(script, endpoint, app, &[])
}

/// [`fixture`] with more arguments for the script.
fn fixture_with(script: &str, endpoint: &str, app: &str, extra: &[&str]) -> Value {
    let python = std::env::var("BLUEGREEN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!(
        "{}/../bluegreen-aws/tests/fixtures/{script}",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new(python)
        .args([script.as_str(), endpoint, "cli", app])
        .args(extra)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "fixture: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Env {
    dir: PathBuf,
}

impl Env {
    /// An application whose tests are about processes, capacity or input, not metrics: the emulator has no
    /// load balancer metrics unless a test publishes them, so its bakes judge no minutes (`min_minutes = 0`).
    fn new(endpoint: &str, app: &str) -> Env {
        Env::with_gates(
            endpoint,
            app,
            "interval = \"500ms\"\nmin_requests = 1\nno_data = \"pass\"\nmin_minutes = 0\n",
        )
    }

    /// An application with `gates` as its `[gates]` section.
    fn with_gates(endpoint: &str, app: &str, gates: &str) -> Env {
        Env::on_machine(endpoint, app, gates, app, "")
    }

    /// The application as one machine (its own directory) sees it, with `extra` appended to its
    /// configuration (e.g. a shared `[state]` backend).
    fn on_machine(endpoint: &str, app: &str, gates: &str, machine: &str, extra: &str) -> Env {
        let dir = std::env::temp_dir().join(format!(
            "bluegreen-cli-aws-{machine}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("bluegreen.toml"),
            format!(
                "environment = \"cli\"\napplication = \"{app}\"\nprovider = \"aws\"\n\
                 [aws]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n\
                 [deploy]\nscale_down_delay = \"1s\"\n\
                 [gates]\n{gates}{extra}"
            ),
        )
        .unwrap();
        Env { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bluegreen"))
            .current_dir(&self.dir)
            .env_remove("BLUEGREEN_PROVIDER")
            .env_remove("BLUEGREEN_ENVIRONMENT")
            .env_remove("BLUEGREEN_APPLICATION")
            .args(args)
            .output()
            .expect("runs")
    }

    fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_bluegreen"))
            .current_dir(&self.dir)
            .env_remove("BLUEGREEN_PROVIDER")
            .env_remove("BLUEGREEN_ENVIRONMENT")
            .env_remove("BLUEGREEN_APPLICATION")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starts")
    }

    fn status(&self) -> Value {
        let out = self.run(&["--output", "json", "status"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["data"].clone()
    }

    fn wait_for(&self, what: &str, f: impl Fn(&Value) -> bool) {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if f(&self.status()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}: {}", self.status());
    }

    fn split(&self) -> Value {
        let out = self.run(&["--output", "json", "status"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["data"]["split"].clone()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn bad_input_on_aws_changes_nothing() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "bad");
    let env = Env::new(&endpoint, "bad");
    env.run(&["adopt"]);
    let missing = env.run(&["-a", "nothing-here", "deploy"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = text(&missing.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: not found: LoadBalancerNotFound from DescribeLoadBalancers on load balancer cli-nothing-here-alb"), "{err}");
    let out = env.run(&["shift", "--target", "green", "--percentage", "150"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        env.split(),
        serde_json::json!({"blue": 100, "green": 0}),
        "nothing moved"
    );
}

/// What the publisher sends for the new color.
#[derive(Clone, Copy)]
enum Green {
    Healthy,
    Failing(f64),
    NoTraffic,
}

/// Publishes load balancer metrics the way CloudWatch does, in real time: one bucket per minute, stamped
/// at the minute's start, `delay` after the minute closes, zero counts left out, host counts every minute
/// for both target groups. 5,400 requests a minute to blue and 600 to green (none at all with `NoTraffic`).
async fn publish_minutes(
    endpoint: String,
    fixture: Value,
    green: Green,
    delay: Duration,
    stop: Arc<AtomicBool>,
) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let conf = aws_sdk_cloudwatch::config::Builder::new()
        .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatch::config::Region::new(
            fixture["region"]
                .as_str()
                .unwrap_or("us-east-1")
                .to_string(),
        ))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .build();
    let cw = aws_sdk_cloudwatch::Client::from_conf(conf);
    let arn_tail = |arn: &Value, kind: &str| {
        arn.as_str()
            .unwrap()
            .split_once(&format!(":{kind}/"))
            .unwrap()
            .1
            .to_string()
    };
    let lb = arn_tail(&fixture["load_balancer"], "loadbalancer");
    let tg = |c: &str| {
        format!(
            "targetgroup/{}",
            arn_tail(&fixture["target_groups"][c], "targetgroup")
        )
    };
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let mut next = now_ms() / 60_000 * 60_000;
    while !stop.load(Ordering::Relaxed) {
        while next + 60_000 + delay.as_millis() as i64 <= now_ms() {
            let stamp = aws_smithy_types::DateTime::from_millis(next);
            let mut put = cw.put_metric_data().namespace("AWS/ApplicationELB");
            for (color, requests) in [("blue", 5400.0), ("green", 600.0)] {
                let mut values = vec![("HealthyHostCount", 2.0)];
                let traffic = color == "blue" || !matches!(green, Green::NoTraffic);
                if traffic {
                    values.push(("RequestCount", requests));
                    values.push(("TargetResponseTime", 0.08));
                }
                if let (Green::Failing(rate), "green") = (green, color) {
                    values.push(("HTTPCode_Target_5XX_Count", (requests * rate).round()));
                }
                for (name, value) in values {
                    put = put.metric_data(
                        MetricDatum::builder()
                            .metric_name(name)
                            .dimensions(
                                Dimension::builder()
                                    .name("TargetGroup")
                                    .value(tg(color))
                                    .build(),
                            )
                            .dimensions(
                                Dimension::builder().name("LoadBalancer").value(&lb).build(),
                            )
                            .value(value)
                            .timestamp(stamp)
                            .build(),
                    );
                }
            }
            put.send().await.expect("PutMetricData");
            next += 60_000;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `args` for an application on the emulator while its metrics are published minute by minute;
/// returns the output and the wall time.
fn deploy_with_minutes(
    endpoint: &str,
    env: &Env,
    fixture: Value,
    green: Green,
    args: &[&str],
) -> (Output, Duration) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = rt.spawn(publish_minutes(
        endpoint.to_string(),
        fixture,
        green,
        Duration::from_secs(5),
        stop.clone(),
    ));
    let start = std::time::Instant::now();
    let out = env.run(args);
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    rt.block_on(writer).unwrap();
    (out, took)
}

/// The command end to end on the emulator with metrics published as CloudWatch publishes them (minute
/// buckets, after the minute closes, zero counts omitted; 5 s late here, since the emulator proves API
/// shapes and the testkit proves timing). Three applications at once, each in its own thread:
/// - a healthy gradual deployment is promoted (exit 0, green 100 %, blue scaled down);
/// - a green returning 20 % 5xx is rolled back by the 5xx gate failing (exit 1);
/// - with no traffic at all, the no-data policy decides (`fail` here: exit 1, "no request data").
///
/// Each waits for whole minutes, so each takes one to four minutes of wall time (printed).
#[test]
fn deployments_judge_published_minutes_on_the_emulator() {
    let Some(endpoint) = endpoint() else { return };
    let gates = "interval = \"2s\"\nmin_requests = 10\n";
    std::thread::scope(|scope| {
        let healthy = scope.spawn(|| {
            let fixture = seed(&endpoint, "ok");
            let env = Env::with_gates(&endpoint, "ok", gates);
            let out = env.run(&["deploy", "--bake", "1s"]);
            assert_eq!(
                out.status.code(),
                Some(4),
                "not adopted yet: {}",
                text(&out.stderr)
            );
            assert!(text(&out.stderr).contains("adopt"), "{}", text(&out.stderr));
            assert_eq!(env.run(&["adopt"]).status.code(), Some(0));
            let args = [
                "deploy",
                "--strategy",
                "gradual",
                "--steps",
                "50,100",
                "--bake",
                "1s",
            ];
            let (out, took) = deploy_with_minutes(&endpoint, &env, fixture, Green::Healthy, &args);
            let stdout = text(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
            assert!(
                stdout.contains("result: promoted: blue 0% / green 100%; blue scaled down"),
                "{stdout}"
            );
            assert!(
                stdout.contains("CloudWatch minutes judged; last: 5xx-rate pass minute="),
                "{stdout}"
            );
            assert_eq!(env.split(), serde_json::json!({"blue": 0, "green": 100}));
            eprintln!("healthy gradual deployment on the emulator: promoted in {took:.1?}");
        });
        let failing = scope.spawn(|| {
            let fixture = seed(&endpoint, "spike");
            let env = Env::with_gates(&endpoint, "spike", gates);
            env.run(&["adopt"]);
            let args = [
                "deploy",
                "--strategy",
                "gradual",
                "--steps",
                "50,100",
                "--bake",
                "1s",
                "--type",
                "traffic-only",
            ];
            let (out, took) =
                deploy_with_minutes(&endpoint, &env, fixture, Green::Failing(0.2), &args);
            let stdout = text(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
            assert!(
                stdout.contains("ROLLING BACK: gate 5xx-rate fail minute="),
                "{stdout}"
            );
            assert!(stdout.contains("value=20.00%"), "{stdout}");
            assert_eq!(env.split(), serde_json::json!({"blue": 100, "green": 0}));
            eprintln!("20 % 5xx on the emulator: rolled back in {took:.1?}");
        });
        let quiet = scope.spawn(|| {
            let fixture = seed(&endpoint, "quiet");
            let gates = format!("{gates}no_data = \"fail\"\n");
            let env = Env::with_gates(&endpoint, "quiet", &gates);
            env.run(&["adopt"]);
            let args = [
                "deploy",
                "--strategy",
                "immediate",
                "--bake",
                "1s",
                "--type",
                "traffic-only",
            ];
            let (out, took) =
                deploy_with_minutes(&endpoint, &env, fixture, Green::NoTraffic, &args);
            let stdout = text(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
            assert!(
                stdout.contains("ROLLING BACK: gate 5xx-rate fail minute="),
                "{stdout}"
            );
            assert!(stdout.contains("(no request data)"), "{stdout}");
            assert_eq!(env.split(), serde_json::json!({"blue": 100, "green": 0}));
            eprintln!("no traffic on the emulator, no_data = fail: rolled back in {took:.1?}");
        });
        for t in [healthy, failing, quiet] {
            if let Err(panic) = t.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

#[test]
fn canary_promote_and_abort_kill_resume_and_lock_refusal_on_the_emulator() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "multi");
    let env = Env::new(&endpoint, "multi");
    assert_eq!(env.run(&["adopt"]).status.code(), Some(0));
    let green = |s: &Value| s["split"]["green"].as_u64().unwrap();
    let waiting =
        |s: &Value| s["deployment"]["waiting_for_approval"] == 2 && s["split"]["green"] == 10;

    // A canary promoted from a second process.
    let deploy = env.spawn(&[
        "deploy",
        "--strategy",
        "canary",
        "--bake",
        "1s",
        "--type",
        "traffic-only",
    ]);
    env.wait_for("the canary to wait for approval", waiting);
    let refused = env.run(&["deploy", "--type", "traffic-only"]);
    assert_eq!(
        refused.status.code(),
        Some(4),
        "a second deploy is refused: {}",
        text(&refused.stderr)
    );
    assert_eq!(env.run(&["promote"]).status.code(), Some(0));
    let out = deploy.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(green(&env.status()), 100);

    // Back to blue, then a canary aborted from a second process.
    assert_eq!(
        env.run(&["rollback", "--to", "blue"]).status.code(),
        Some(0)
    );
    let deploy = env.spawn(&[
        "deploy",
        "--strategy",
        "canary",
        "--bake",
        "1s",
        "--type",
        "traffic-only",
    ]);
    env.wait_for("the canary to wait for approval", waiting);
    assert_eq!(env.run(&["abort"]).status.code(), Some(0));
    let out = deploy.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(green(&env.status()), 0);

    // A deploy killed mid-bake, then resumed.
    let mut deploy = env.spawn(&[
        "deploy",
        "--steps",
        "50,100",
        "--bake",
        "30s",
        "--type",
        "traffic-only",
    ]);
    env.wait_for("the first step", |s| green(s) == 50);
    deploy.kill().unwrap();
    deploy.wait().unwrap();
    let out = env.run(&["resume", "--rollback"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "resumed into a rollback: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(green(&env.status()), 0);
}

/// Read-only verbs reuse the resolved names (kept in the state directory) instead of discovering them
/// again; names that no longer match the world are forgotten and resolved afresh, transparently.
#[test]
fn status_reuses_resolved_names_and_recovers_from_stale_ones() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = seed(&endpoint, "cache");
    let env = Env::new(&endpoint, "cache");
    assert_eq!(env.run(&["adopt"]).status.code(), Some(0));
    let cache = env.dir.join(".bluegreen/resolved/cli-cache-alb.json");
    assert_eq!(env.status()["split"]["blue"], 100);
    let cached: Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(
        cached["resolved"]["target_groups"]["green"],
        fixture["target_groups"]["green"]
    );
    // Stale: target groups that the listener does not forward to. The read notices, and status still
    // answers from the world, rewriting the cache.
    let mut stale = cached.clone();
    stale["resolved"]["target_groups"]["green"] = Value::from(
        fixture["target_groups"]["green"]
            .as_str()
            .unwrap()
            .replace("green", "gone"),
    );
    std::fs::write(&cache, stale.to_string()).unwrap();
    let status = env.status();
    assert_eq!(status["split"]["blue"], 100, "{status}");
    let rewritten: Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(rewritten, cached);
}

/// Issue 13: three machines (three state directories) sharing one DynamoDB backend see one lock, one
/// deployment and one history: a second deploy is refused while the first runs, `status` elsewhere shows the
/// canary waiting, `promote` from a third machine approves it, and the history and report read anywhere.
#[test]
fn machines_sharing_a_dynamodb_backend_share_the_lock_the_deployment_and_the_history() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "shared");
    let table = shared_table(&endpoint, "share");
    let gates = "interval = \"500ms\"\nmin_requests = 1\nno_data = \"pass\"\nmin_minutes = 0\n";
    let state = format!("[state]\nbackend = \"dynamodb\"\ntable = \"{table}\"\nprefix = \"ci/\"\n");
    let machine = |name: &str| Env::on_machine(&endpoint, "shared", gates, name, &state);
    let (a, b, c) = (machine("agent-a"), machine("agent-b"), machine("agent-c"));
    assert_eq!(a.run(&["adopt"]).status.code(), Some(0));
    let deploy = a.spawn(&[
        "deploy",
        "--strategy",
        "canary",
        "--bake",
        "1s",
        "--type",
        "traffic-only",
    ]);
    b.wait_for(
        "the canary, seen from another machine, to wait for approval",
        |s| s["deployment"]["waiting_for_approval"] == 2 && s["split"]["green"] == 10,
    );
    let status = b.status();
    assert_eq!(status["lock"]["state"], "live", "{status}");
    let refused = b.run(&["deploy", "--type", "traffic-only"]);
    assert_eq!(
        refused.status.code(),
        Some(4),
        "a deploy on another machine is refused: {}",
        text(&refused.stderr)
    );
    let id = status["deployment"]["id"].as_str().unwrap().to_string();
    assert!(
        text(&refused.stderr).contains(&id),
        "{}",
        text(&refused.stderr)
    );
    let promoted = c.run(&["promote", "--by", "agent-c"]);
    assert_eq!(
        promoted.status.code(),
        Some(0),
        "{}",
        text(&promoted.stderr)
    );
    let out = deploy.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("agent-c"),
        "{}",
        text(&out.stdout)
    );
    // The history and the report, from machines that did not run it.
    let history = text(&c.run(&["history"]).stdout);
    assert!(
        history.contains(&id) && history.contains("promoted"),
        "{history}"
    );
    let report = b.run(&["report", &id]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report.stderr));
    assert!(
        text(&report.stdout).contains("promoted"),
        "{}",
        text(&report.stdout)
    );
    // Nothing of it in the machines' own directories.
    for m in [&a, &b, &c] {
        let records = m.dir.join(".bluegreen/deployments");
        assert!(
            std::fs::read_dir(&records).map_or(true, |mut d| d.next().is_none()),
            "no local record in {}",
            records.display()
        );
    }
}

/// A DynamoDB table for the shared state backend, created on the emulator.
fn shared_table(endpoint: &str, name: &str) -> String {
    shared_table_in(endpoint, name, "us-east-1")
}

/// [`shared_table`] in `region` (DynamoDB tables are regional: a release's targets each use their region's).
fn shared_table_in(endpoint: &str, name: &str, region: &str) -> String {
    let table = format!("bluegreen-cli-{name}-{}", std::process::id());
    let python = std::env::var("BLUEGREEN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let created = Command::new(python)
        .args([
            "-c",
            "import sys, boto3\n\
             c = boto3.client('dynamodb', endpoint_url=sys.argv[1], region_name=sys.argv[3])\n\
             c.create_table(TableName=sys.argv[2], BillingMode='PAY_PER_REQUEST',\n\
               AttributeDefinitions=[{'AttributeName': 'pk', 'AttributeType': 'S'}, {'AttributeName': 'sk', 'AttributeType': 'S'}],\n\
               KeySchema=[{'AttributeName': 'pk', 'KeyType': 'HASH'}, {'AttributeName': 'sk', 'KeyType': 'RANGE'}])",
            endpoint,
            &table,
            region,
        ])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created.stderr));
    table
}

/// Issue 13: the agent running a canary dies (SIGKILL); once its lease (3 s here) lapses another machine
/// sees it, resumes it from the shared record, and a third approves it: the same end as an uninterrupted
/// run.
#[test]
fn a_dead_agent_s_deployment_is_resumed_on_another_machine() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "handover");
    let table = shared_table(&endpoint, "handover");
    let gates = "interval = \"500ms\"\nmin_requests = 1\nno_data = \"pass\"\nmin_minutes = 0\n";
    let state = format!("[state]\nbackend = \"dynamodb\"\ntable = \"{table}\"\nlease = \"3s\"\n");
    let machine = |name: &str| Env::on_machine(&endpoint, "handover", gates, name, &state);
    let (a, b, c) = (machine("dies"), machine("takes-over"), machine("approves"));
    assert_eq!(a.run(&["adopt"]).status.code(), Some(0));
    let waiting =
        |s: &Value| s["deployment"]["waiting_for_approval"] == 2 && s["split"]["green"] == 10;
    let mut deploy = a.spawn(&[
        "deploy",
        "--strategy",
        "canary",
        "--bake",
        "1s",
        "--type",
        "traffic-only",
    ]);
    b.wait_for("the canary to wait for approval", waiting);
    deploy.kill().unwrap();
    deploy.wait().unwrap();
    let status = b.status();
    assert_eq!(
        status["lock"]["state"], "dead",
        "its process is gone: {status}"
    );
    let id = status["deployment"]["id"].as_str().unwrap().to_string();
    // Until the lease lapses, nobody else may take the lock; then another machine may.
    std::thread::sleep(Duration::from_secs(4));
    let resume = b.spawn(&["resume"]);
    c.wait_for("the resumed canary to wait for approval", |s| {
        waiting(s) && s["lock"]["holder"]["host"] != status["lock"]["holder"]["host"]
    });
    assert_eq!(
        c.run(&["promote", "--by", "agent-c"]).status.code(),
        Some(0)
    );
    let out = resume.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let end = c.status();
    assert_eq!(end["split"]["green"], 100, "{end}");
    let report = text(&a.run(&["--output", "json", "report", &id]).stdout);
    assert!(report.contains("\"result\":\"promoted\""), "{report}");
    assert!(report.contains("\"type\":\"resumed\""), "{report}");
}

/// Issue 14: on AWS, `deploy --ami` refuses an image the account does not have before anything changes, and
/// the plan of a real one shows the new launch template version first.
#[test]
fn deploy_from_an_image_checks_it_on_aws_first() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = seed(&endpoint, "image");
    let env = Env::new(&endpoint, "image");
    assert_eq!(env.run(&["adopt"]).status.code(), Some(0));
    let before = env.split();
    let out = env.run(&["deploy", "--ami", "ami-00000000000000000"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("error: image ami-00000000000000000 does not exist"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(env.split(), before, "nothing changed");
    let history = text(&env.run(&["history"]).stdout);
    assert!(
        history.starts_with("no deployments of cli/image"),
        "nothing recorded: {history}"
    );
    let image = fixture["images"][1].as_str().unwrap();
    let plan = env.run(&["deploy", "--ami", image, "--dry-run"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    assert!(
        text(&plan.stdout).contains(&format!(
            "1. create a version of green's launch template with image {image}"
        )),
        "{}",
        text(&plan.stdout)
    );
}

/// Builds the example CloudFormation templates' environment (CreateStack; the two listeners through the API,
/// since the emulator's CloudFormation cannot create a weighted forward) for `cli-{app}`.
fn cfn_env(endpoint: &str, app: &str) -> Value {
    fixture("cfn_env.py", endpoint, app)
}

/// What boto3 says: `expression` evaluated with `ec2`, `asg` and `elb` clients of the emulator.
fn boto(endpoint: &str, expression: &str) -> String {
    let python = std::env::var("BLUEGREEN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, json, boto3\n\
             kw = dict(endpoint_url=sys.argv[1], region_name='us-east-1')\n\
             ec2, asg, elb = (boto3.client(s, **kw) for s in ('ec2', 'autoscaling', 'elbv2'))\n\
             print(eval(sys.argv[2]))",
            endpoint,
            expression,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// Issue 14: the guide's pipeline end to end on the template's own shape. The example CloudFormation stacks
/// (ALB with HTTP and HTTPS listeners, two target groups, two Auto Scaling groups on one launch template, the
/// alarm, the shared state table) are created on the emulator; then the binary `adopt`s the listeners (both),
/// plans and runs `deploy --ami` with a newly registered image — a gradual deployment whose gates judge
/// published minutes, a post-switch validation hook, and the old color scaled down after the delay — with its
/// records in the stack's DynamoDB table.
#[test]
fn the_guide_s_pipeline_from_a_new_image_to_a_cleaned_up_old_color() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = cfn_env(&endpoint, "pipe");
    let table = fixture["table"].as_str().unwrap();
    let image = fixture["new_image"].as_str().unwrap();
    let extra = format!(
        "[hooks]\nafter_switch = [\"echo validated $BLUEGREEN_WEIGHT_GREEN >> validation.log\"]\n\
         [state]\nbackend = \"dynamodb\"\ntable = \"{table}\"\n"
    );
    let env = Env::on_machine(
        &endpoint,
        "pipe",
        "interval = \"2s\"\nmin_requests = 10\n",
        "pipe",
        &extra,
    );

    // Both listeners that forward to the two target groups are the application's, tagged in one adopt.
    let out = env.run(&["--output", "json", "adopt"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let adopted: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    let listeners = &fixture["listeners"];
    assert_eq!(
        adopted["data"]["resources"],
        serde_json::json!([listeners["HTTP:80"], listeners["HTTPS:443"]]),
        "{adopted}"
    );
    let status = env.status();
    assert_eq!(
        status["routes"],
        serde_json::json!([
            {"route": "HTTP:80", "split": {"blue": 100, "green": 0}},
            {"route": "HTTPS:443", "split": {"blue": 100, "green": 0}},
        ]),
        "{status}"
    );

    // The dry run names both routes and the new launch template version first.
    let plan = env.run(&["deploy", "--ami", image, "--dry-run"]);
    let plan_text = text(&plan.stdout);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    assert!(
        plan_text.contains("routes (moved together): HTTP:80, HTTPS:443"),
        "{plan_text}"
    );
    assert!(
        plan_text.contains(&format!(
            "1. create a version of green's launch template with image {image}"
        )),
        "{plan_text}"
    );
    // The template's target groups drain for 30 s (issue 24 item 4): read, and the scale-down waits for it.
    assert!(
        plan_text.contains(
            "1s after promotion and no sooner than 30s after the switch (the deregistration delay of blue's target group"
        ),
        "{plan_text}"
    );

    let args = [
        "deploy",
        "--ami",
        image,
        "--strategy",
        "gradual",
        "--steps",
        "50,100",
        "--bake",
        "1s",
    ];
    let (out, took) = deploy_with_minutes(&endpoint, &env, fixture.clone(), Green::Healthy, &args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("result: promoted: blue 0% / green 100%; blue scaled down"),
        "{stdout}"
    );
    assert!(
        stdout.contains("CloudWatch minutes judged; last: 5xx-rate pass minute="),
        "{stdout}"
    );
    eprintln!("the guide's pipeline on the emulator: promoted in {took:.1?}");

    // Every route moved; green runs the new image; blue is cleaned up; the hook validated at 100 %.
    let status = env.status();
    for route in status["routes"].as_array().unwrap() {
        assert_eq!(
            route["split"],
            serde_json::json!({"blue": 0, "green": 100}),
            "{status}"
        );
    }
    assert_eq!(
        status["colors"]["blue"]["capacity"]["desired"], 0,
        "{status}"
    );
    let green_version = boto(
        &endpoint,
        "asg.describe_auto_scaling_groups(AutoScalingGroupNames=['cli-pipe-green-asg'])['AutoScalingGroups'][0]['LaunchTemplate']['Version']",
    );
    let template = fixture["launch_template"].as_str().unwrap();
    let green_image = boto(
        &endpoint,
        &format!(
            "ec2.describe_launch_template_versions(LaunchTemplateId='{template}', Versions=['{green_version}'])['LaunchTemplateVersions'][0]['LaunchTemplateData']['ImageId']"
        ),
    );
    assert_eq!(green_image, image, "green runs the new image");
    let blue_version = boto(
        &endpoint,
        "asg.describe_auto_scaling_groups(AutoScalingGroupNames=['cli-pipe-blue-asg'])['AutoScalingGroups'][0]['LaunchTemplate']['Version']",
    );
    assert_ne!(blue_version, green_version, "blue keeps its version");
    let validation = std::fs::read_to_string(env.dir.join("validation.log")).unwrap();
    assert_eq!(validation.trim(), "validated 100");
    // The record lives in the stack's table: history reads it from there.
    let history = text(&env.run(&["history"]).stdout);
    assert!(history.contains("promoted"), "{history}");

    // Someone moves the HTTPS listener by hand: the routes disagree. A deployment refuses to start from
    // that (exit 2, naming each), status shows each, and the emergency rollback brings both back to the
    // promoted color.
    let https = listeners["HTTPS:443"].as_str().unwrap();
    let tg = |c: &str| fixture["target_groups"][c].as_str().unwrap().to_string();
    boto(
        &endpoint,
        &format!(
            "elb.modify_listener(ListenerArn='{https}', DefaultActions=[{{'Type': 'forward', 'ForwardConfig':              {{'TargetGroups': [{{'TargetGroupArn': '{}', 'Weight': 50}}, {{'TargetGroupArn': '{}', 'Weight': 50}}]}}}}])",
            tg("blue"),
            tg("green")
        ),
    );
    let out = env.run(&["deploy", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: the routes disagree (HTTP:80 blue 0% / green 100%, HTTPS:443 blue 50% / green 50%): \
         a deployment moves them together from one split; roll back or shift first"
    );
    let shown = text(&env.run(&["status"]).stdout);
    assert!(
        shown.contains("split: the routes disagree")
            && shown.contains("HTTPS:443        blue 50% / green 50%"),
        "{shown}"
    );
    let out = env.run(&["rollback"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status = env.status();
    assert_eq!(status["routes_agree"], true, "{status}");
    assert_eq!(
        status["split"],
        serde_json::json!({"blue": 0, "green": 100})
    );
}

/// Issue 21: a state store that cannot be read is never "no deployment". With the shared table misnamed,
/// `promote` and `abort` said "no deployment is in progress" (exit 2), `resume` "nothing to resume", `status`
/// exit 0 "no deployment in progress" — while a canary could be waiting on the real table.
#[test]
fn a_state_store_that_cannot_be_read_is_an_error_not_an_empty_answer() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "nostore");
    let state = "[state]\nbackend = \"dynamodb\"\ntable = \"no-such-table\"\n";
    let env = Env::on_machine(&endpoint, "nostore", "", "agent", state);
    let adopted = env.run(&["adopt"]);
    assert_eq!(adopted.status.code(), Some(0), "{}", text(&adopted.stderr));
    for verb in [&["status"][..], &["promote"], &["abort"], &["resume"]] {
        let out = env.run(verb);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{verb:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("state store cannot be read"),
            "{verb:?}: {err}"
        );
        assert!(!err.contains("no deployment"), "{verb:?}: {err}");
    }
}

/// Issue 21 item 3: the operations guide's groups launch from a launch configuration. `deploy --ami …
/// --dry-run` passed, and the real deploy raised the new color, then exited 1 ("rolled back by a gate") with
/// `new_image_version failed: … has no launch template`: CI reported a failed release. Now the dry run and
/// the deploy both refuse before any change: exit 2, one line, "nothing was changed", and how to fix it.
#[test]
fn a_new_image_for_a_group_on_a_launch_configuration_is_refused_before_any_change() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = fixture_with(
        "seed_env.py",
        &endpoint,
        "lcfg",
        &["--launch-configuration"],
    );
    let env = Env::new(&endpoint, "lcfg");
    assert_eq!(env.run(&["adopt"]).status.code(), Some(0));
    let image = fixture["images"][1].as_str().unwrap();
    let template = fixture["launch_template"].as_str().unwrap();
    let versions = || {
        boto(
            &endpoint,
            &format!(
                "len(ec2.describe_launch_template_versions(LaunchTemplateId='{template}')['LaunchTemplateVersions'])"
            ),
        )
    };
    let before = (env.status(), versions());
    for args in [
        vec!["deploy", "--ami", image, "--dry-run"],
        vec!["deploy", "--ami", image],
    ] {
        let out = env.run(&args);
        let err = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}{err}",
            text(&out.stdout)
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(
            err.contains(
                "green's auto scaling group launches from launch configuration cli-lcfg-lc"
            ) && err.contains("nothing was changed")
                && err.contains("launch template"),
            "{args:?}: {err}"
        );
        assert_eq!(
            (env.status(), versions()),
            before,
            "{args:?}: nothing changed"
        );
    }
    let history = text(&env.run(&["history"]).stdout);
    assert!(
        !history.contains("lcfg-"),
        "no deployment was recorded: {history}"
    );
}

/// Issue 21 item 8: `--profile` follows the AWS CLI. A profile that does not exist was silently ignored when
/// key variables were set; now it is refused (exit 2, one line naming it and the profiles that exist) before
/// any call. A profile that exists wins over the key variables: its `credential_process` is what signs.
#[test]
fn a_named_profile_wins_over_key_variables_and_a_missing_one_is_refused() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "prof");
    let env = Env::new(&endpoint, "prof");
    let marker = env.dir.join("profile-used");
    let config = env.dir.join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile deploy]\nregion = us-east-1\ncredential_process = sh -c 'touch {} && echo \
             {{\\\"Version\\\":1,\\\"AccessKeyId\\\":\\\"test\\\",\\\"SecretAccessKey\\\":\\\"test\\\"}}'\n",
            marker.display()
        ),
    )
    .unwrap();
    let credentials = env.dir.join("aws-credentials");
    std::fs::write(&credentials, "").unwrap();
    let run = |profile: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
        c.current_dir(&env.dir)
            .env_remove("BLUEGREEN_PROVIDER")
            .env_remove("BLUEGREEN_ENVIRONMENT")
            .env_remove("BLUEGREEN_APPLICATION")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            // Keys in the environment, as CI agents often have.
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .args(["--profile", profile, "status"]);
        c.output().unwrap()
    };
    let out = run("nosuch");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("AWS profile nosuch: not found") && err.contains("(profiles: deploy)"),
        "{err}"
    );
    assert!(!marker.exists());
    let out = run("deploy");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        marker.exists(),
        "the profile's credentials signed, not the key variables"
    );
}

/// Issue 21 item 2: two machines with their own state (no shared table) on one load balancer. While A's
/// canary waits, B's `status` names A's deployment from the listener's mark, and B's `deploy` (and its
/// `--dry-run`) are refused before any change (exit 4); once A ends, the mark is gone. On the old main B saw
/// "no deployment in progress" beside a 90/10 split, and nothing named what drove it.
#[test]
fn a_deployment_on_another_machine_is_named_by_the_listener_s_mark_and_refuses_a_second() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "marked");
    let gates = "interval = \"500ms\"\nmin_requests = 1\nno_data = \"pass\"\nmin_minutes = 0\n";
    let a = Env::on_machine(&endpoint, "marked", gates, "marks-a", "");
    let b = Env::on_machine(&endpoint, "marked", gates, "marks-b", "");
    assert_eq!(a.run(&["adopt"]).status.code(), Some(0));
    let deploy = a.spawn(&[
        "deploy",
        "--strategy",
        "canary",
        "--bake",
        "1s",
        "--type",
        "traffic-only",
    ]);
    a.wait_for("the canary to wait for approval", |s| {
        s["deployment"]["waiting_for_approval"] == 2 && s["split"]["green"] == 10
    });
    let id = a.status()["deployment"]["id"].as_str().unwrap().to_string();
    let seen = b.status();
    assert_eq!(seen["deployment"], Value::Null, "B records nothing: {seen}");
    assert_eq!(seen["mark"]["deployment"], id.as_str(), "{seen}");
    assert_eq!(seen["mark"]["live"], true, "{seen}");
    let human = text(&b.run(&["status"]).stdout);
    assert!(
        human.contains(&format!("the listener is marked by deployment {id}"))
            && human.contains("another directory or machine"),
        "{human}"
    );
    for args in [
        &["deploy", "--type", "traffic-only", "--dry-run"][..],
        &["deploy", "--type", "traffic-only"][..],
    ] {
        let refused = b.run(args);
        let stderr = text(&refused.stderr);
        assert_eq!(refused.status.code(), Some(4), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&id) && stderr.contains("nothing was changed"),
            "{stderr}"
        );
    }
    assert_eq!(b.split()["green"], 10, "B changed nothing");
    assert_eq!(a.run(&["promote"]).status.code(), Some(0));
    let out = deploy.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = b.status();
    assert_eq!(after["mark"], Value::Null, "removed at the end: {after}");
    assert_eq!(after["split"]["green"], 100);
}

/// Issue 20: across machines on one DynamoDB table, run A is frozen (SIGSTOP) past its 3 s lease while its
/// canary waits; B resumes the deployment and waits in turn; C sends `abort`; A wakes (SIGCONT) and is
/// fenced out. On the old main A's ending deleted the control queue B was reading, so the abort was lost and
/// B promoted. Now B rolls back, and A stops without touching traffic.
#[cfg(unix)]
#[test]
fn a_fenced_out_run_on_another_machine_leaves_its_successor_s_abort() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "fenced");
    let table = shared_table(&endpoint, "fenced");
    let gates = "interval = \"500ms\"\nmin_requests = 1\nno_data = \"pass\"\nmin_minutes = 0\n";
    let state = format!("[state]\nbackend = \"dynamodb\"\ntable = \"{table}\"\nlease = \"3s\"\n");
    let machine = |name: &str| Env::on_machine(&endpoint, "fenced", gates, name, &state);
    let (a, b, c) = (machine("frozen"), machine("resumes"), machine("aborts"));
    assert_eq!(a.run(&["adopt"]).status.code(), Some(0));
    let waiting =
        |s: &Value| s["deployment"]["waiting_for_approval"] == 2 && s["split"]["green"] == 10;
    let deploy = a.spawn(&[
        "deploy",
        "--strategy",
        "canary",
        "--bake",
        "1s",
        "--type",
        "traffic-only",
    ]);
    c.wait_for("the canary to wait for approval", waiting);
    let first = c.status()["lock"]["holder"]["host"].clone();
    let signal = |sig: &str| {
        let sent = Command::new("kill")
            .args([sig, &deploy.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {sig}");
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_secs(4));
    let resume = b.spawn(&["resume"]);
    c.wait_for("the resumed canary to wait for approval", |s| {
        waiting(s) && s["lock"]["holder"]["host"] != first
    });
    assert_eq!(c.run(&["abort", "--by", "carol"]).status.code(), Some(0));
    signal("-CONT");
    let a_out = deploy.wait_with_output().unwrap();
    let b_out = resume.wait_with_output().unwrap();
    let (a_text, b_text) = (
        format!("{}{}", text(&a_out.stdout), text(&a_out.stderr)),
        format!("{}{}", text(&b_out.stdout), text(&b_out.stderr)),
    );
    assert_eq!(b_out.status.code(), Some(1), "B rolls back: {b_text}");
    assert!(b_text.contains("abort by carol"), "{b_text}");
    assert_ne!(a_out.status.code(), Some(0), "A does not promote: {a_text}");
    assert!(
        a_text.contains("without touching traffic"),
        "A is fenced out: {a_text}"
    );
    assert_eq!(c.status()["split"]["green"], 0);
}

/// Issue 21 item 8: a credential or endpoint failure printed kilobytes of the SDK's `Debug` after its
/// message. Each is one line naming the cause (and, for credentials, what to give), exit 3. Needs no
/// emulator: nothing listens on the endpoint.
#[test]
fn a_credential_or_endpoint_failure_is_one_line_naming_the_cause() {
    let env = Env::on_machine("http://127.0.0.1:1", "nocreds", "", "nocreds", "");
    let run = |keys: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
        c.current_dir(&env.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &env.dir)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["status"]);
        if keys {
            c.env("AWS_ACCESS_KEY_ID", "x")
                .env("AWS_SECRET_ACCESS_KEY", "y");
        }
        c.output().expect("runs")
    };
    for (keys, cause) in [
        (false, "AWS credentials could not be loaded"),
        (true, "Connection refused"),
    ] {
        let out = run(keys);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(cause), "{err}");
        assert!(
            !err.contains("DispatchFailure(") && !err.contains(" { ") && err.len() < 600,
            "no Debug output: {err}"
        );
    }
    assert!(text(&run(false).stderr).contains("--profile"));
    // A malformed endpoint is a setting's error, before any call: exit 2, naming it.
    for (url, problem) in [
        ("::not a url", "not a URL"),
        ("ftp://host", "the scheme must be http or https"),
    ] {
        let bad = Env::on_machine(url, "badurl", "", "badurl", "");
        let out = bad.run(&["status"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("endpoint URL {url:?}: {problem}")),
            "{err}"
        );
    }
}

/// Issue 24: a release with a watch on the emulator, the state shared in DynamoDB: the agent that deployed
/// exits 0 once the watch has begun; another machine's `status` says it watches with the rollback to blue
/// armed; a third machine drives it with `watch --once` (a schedule's command) — watching, exit 0 — until
/// green's 5xx rise in published minutes, when the next run rolls back to the kept blue (exit 1) and tells
/// the SNS topic of its `[notify]` (delivered by moto to an HTTP subscription).
#[test]
fn a_watch_driven_by_short_runs_on_other_machines_rolls_back_a_late_breach() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = seed(&endpoint, "watched");
    let table = shared_table(&endpoint, "watched");
    let (sink, delivered) = common::webhook_server();
    let python = std::env::var("BLUEGREEN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let topic = Command::new(python)
        .args([
            "-c",
            "import boto3, sys\n\
             sns = boto3.client('sns', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')\n\
             arn = sns.create_topic(Name='watched-deployments')['TopicArn']\n\
             sns.subscribe(TopicArn=arn, Protocol='http', Endpoint=sys.argv[2])\n\
             print(arn)\n",
            &endpoint,
            &sink,
        ])
        .output()
        .unwrap();
    assert!(topic.status.success(), "{}", text(&topic.stderr));
    let topic = text(&topic.stdout).trim().to_string();
    let gates = "interval = \"500ms\"\nmin_requests = 1\nno_data = \"pass\"\nmin_minutes = 0\n";
    let state = format!("[state]\nbackend = \"dynamodb\"\ntable = \"{table}\"\nlease = \"3s\"\n");
    let notified = format!("{state}[notify]\nsns = \"{topic}\"\nsns_events = [\"rolled-back\"]\n");
    let machine =
        |name: &str, extra: &str| Env::on_machine(&endpoint, "watched", gates, name, extra);
    let (a, b, c) = (
        machine("deploys", &state),
        machine("watches", &notified),
        machine("looks", &state),
    );
    assert_eq!(a.run(&["adopt"]).status.code(), Some(0));
    let out = a.run(&[
        "deploy",
        "--strategy",
        "immediate",
        "--bake",
        "1s",
        "--type",
        "traffic-only",
        "--watch",
        "1h",
        "--watch-armed",
        "1h",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("result: watching until"),
        "{}",
        text(&out.stdout)
    );
    let status = c.status();
    assert_eq!(status["split"]["green"], 100);
    assert_eq!(status["deployment"]["watching"]["kept"], "blue", "{status}");
    let once = b.run(&["watch", "--once"]);
    assert_eq!(once.status.code(), Some(0), "{}", text(&once.stderr));
    assert!(
        text(&once.stdout).contains("result: watching until"),
        "{}",
        text(&once.stdout)
    );
    // Green starts failing; minutes are published 5 s after they close, as CloudWatch does (later).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = rt.spawn(publish_minutes(
        endpoint.clone(),
        fixture,
        Green::Failing(0.3),
        Duration::from_secs(5),
        stop.clone(),
    ));
    let start = std::time::Instant::now();
    let outcome = loop {
        std::thread::sleep(Duration::from_secs(10));
        let once = b.run(&["watch", "--once"]);
        match once.status.code() {
            Some(0) if start.elapsed() < Duration::from_secs(240) => continue,
            _ => break once,
        }
    };
    stop.store(true, Ordering::Relaxed);
    rt.block_on(writer).unwrap();
    let said = format!("{}{}", text(&outcome.stdout), text(&outcome.stderr));
    assert_eq!(outcome.status.code(), Some(1), "{said}");
    assert!(said.contains("5xx-rate"), "{said}");
    assert_eq!(c.status()["split"]["green"], 0);
    eprintln!("breach rolled back after {:?}", start.elapsed());
    // Told once, as SNS delivers it: the rollback, with its reason.
    let mut told = Vec::new();
    for _ in 0..50 {
        told = delivered
            .lock()
            .unwrap()
            .iter()
            .filter_map(|b| serde_json::from_str::<Value>(b).ok())
            .filter(|v| v["Type"] == "Notification")
            .collect();
        if !told.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(
        told[0]["Subject"], "cli/watched: rolled back",
        "{}",
        told[0]
    );
    assert!(
        told[0]["Message"].as_str().unwrap().contains("5xx-rate"),
        "{}",
        told[0]
    );
}

/// Issue 25 on the emulator: a release of two waves over two regions of one moto — `cli/rel-a` in
/// us-east-1, `cli/rel-b` in eu-west-1, whose new color fails — with each region's DynamoDB table as the
/// targets' state. The machine running the release dies (SIGKILL) while wave 2 bakes; another machine, its
/// own state directory, sees the release's state in `release status`, runs it again: the unfinished target
/// is resumed (after its lease lapses), rolled back by its gate, the release halts, and `rollback-all`
/// takes wave 1 back (exit 1). Wave 1's records say promoted; its routes say where traffic is now.
#[test]
fn a_release_over_two_regions_resumes_on_another_machine_and_halts() {
    let Some(endpoint) = endpoint() else { return };
    let (us, eu) = ("us-east-1", "eu-west-1");
    let extra = ["--stickiness", "1", "--deregistration-delay", "1"];
    let a = fixture_with(
        "seed_env.py",
        &endpoint,
        "rel-a",
        &[&extra[..], &["--region", us]].concat(),
    );
    let b = fixture_with(
        "seed_env.py",
        &endpoint,
        "rel-b",
        &[&extra[..], &["--region", eu]].concat(),
    );
    let table = shared_table_in(&endpoint, "release", us);
    assert_eq!(shared_table_in(&endpoint, "release", eu), table);
    let base = format!(
        "provider = \"aws\"\n[aws]\nendpoint_url = \"{endpoint}\"\n\
         [deploy]\nstrategy = \"immediate\"\nbake = \"1s\"\ntype = \"traffic-only\"\n\
         [gates]\ninterval = \"500ms\"\nmin_requests = 1\nno_data = \"pass\"\nmin_minutes = 0\n\
         [state]\nbackend = \"dynamodb\"\ntable = \"{table}\"\nlease = \"3s\"\n"
    );
    let release = format!(
        "[release]\nname = \"rel-{}\"\nbake_between = \"1s\"\non_failure = \"rollback-all\"\n\
         [[wave]]\nname = \"first\"\ntargets = [{{ environment = \"cli\", application = \"rel-a\", region = \"{us}\" }}]\n\
         [[wave]]\nname = \"second\"\ntargets = [{{ environment = \"cli\", application = \"rel-b\", region = \"{eu}\", gates = {{ min_minutes = 1 }} }}]\n",
        std::process::id()
    );
    let machine = |name: &str| {
        let dir =
            std::env::temp_dir().join(format!("bluegreen-cli-aws-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bluegreen.toml"), &base).unwrap();
        std::fs::write(dir.join("release.toml"), &release).unwrap();
        Env { dir }
    };
    let (first, second) = (machine("releases"), machine("takes-over"));
    // Each target's listener is adopted in its own region.
    for (app, region) in [("rel-a", us), ("rel-b", eu)] {
        let out = first.run(&[
            "--environment",
            "cli",
            "--application",
            app,
            "--region",
            region,
            "adopt",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let plan = first.run(&["release", "plan", "release.toml"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stderr));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = [
        rt.spawn(publish_minutes(
            endpoint.clone(),
            a,
            Green::Healthy,
            Duration::from_secs(5),
            stop.clone(),
        )),
        rt.spawn(publish_minutes(
            endpoint.clone(),
            b,
            Green::Failing(0.3),
            Duration::from_secs(5),
            stop.clone(),
        )),
    ];
    // The first machine runs the release and dies once wave 2's target has started.
    let mut running = first.spawn(&["release", "run", "release.toml"]);
    let started = std::time::Instant::now();
    loop {
        let status = second.run(&["--output", "json", "release", "status", "release.toml"]);
        let v: Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
        if v["data"]["targets"][1]["state"] == "in progress" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "wave 2 never started: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    running.kill().unwrap();
    let _ = running.wait();
    // Another machine, its own state directory, the same tables: it continues the release.
    let status = text(&second.run(&["release", "status", "release.toml"]).stdout);
    assert!(
        status.contains("cli/rel-a@us-east-1")
            && status.contains(": promoted")
            && status.contains("in progress"),
        "{status}"
    );
    std::thread::sleep(Duration::from_secs(4));
    let out = second.run(&["release", "run", "release.toml"]);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        rt.block_on(w).unwrap();
    }
    let said = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}{}", text(&out.stderr));
    assert!(said.contains("cli/rel-b@eu-west-1: resuming"), "{said}");
    assert!(
        said.contains("HALTED: cli/rel-b@eu-west-1: rolled back"),
        "{said}"
    );
    assert!(
        said.contains("cli/rel-a@us-east-1: rolled back with the release"),
        "{said}"
    );
    let v: Value = serde_json::from_slice(
        &first
            .run(&["--output", "json", "release", "status", "release.toml"])
            .stdout,
    )
    .unwrap();
    assert_eq!(
        v["data"]["targets"][0]["traffic"], "blue 100% / green 0%",
        "{v}"
    );
    assert!(
        v["data"]["targets"][1]["state"]
            .as_str()
            .unwrap()
            .starts_with("rolled back"),
        "{v}"
    );
}

/// Issue 25 item 3: a target in another account — `[aws] role_arn` — is reached through `sts:AssumeRole`
/// with the chain's credentials. moto keeps each account's resources apart and knows the account by the
/// credentials: with a role of the account the fixture seeded, `status` finds the load balancer; with a role
/// of another account, the same call finds nothing there (the role was assumed); an ARN that is not a role's
/// is refused before any call.
#[test]
fn a_role_to_assume_reaches_the_account_it_names() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "roles");
    let env = Env::on_machine(&endpoint, "roles", "", "roles", "");
    let with_role = |arn: &str| {
        let text = std::fs::read_to_string(env.dir.join("bluegreen.toml")).unwrap();
        let text = match text.split_once("[aws]\n") {
            Some((a, b)) => {
                let b = b
                    .lines()
                    .filter(|l| !l.starts_with("role_arn"))
                    .collect::<Vec<_>>()
                    .join("\n");
                format!("{a}[aws]\nrole_arn = \"{arn}\"\n{b}\n")
            }
            None => unreachable!(),
        };
        std::fs::write(env.dir.join("bluegreen.toml"), text).unwrap();
        env.run(&["status"])
    };
    let same = with_role("arn:aws:iam::123456789012:role/bluegreen-deployer");
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stderr));
    let other = with_role("arn:aws:iam::222222222222:role/bluegreen-deployer");
    assert_ne!(other.status.code(), Some(0), "{}", text(&other.stdout));
    assert!(
        text(&other.stderr).contains("cli-roles-alb"),
        "{}",
        text(&other.stderr)
    );
    let bad = with_role("deployer");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("role_arn \"deployer\": expected an IAM role's ARN"),
        "{}",
        text(&bad.stderr)
    );
}
