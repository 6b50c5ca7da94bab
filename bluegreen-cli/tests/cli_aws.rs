//! The `bluegreen` command against a local AWS emulator (moto), as `scripts/test` sets it up. Without
//! `BLUEGREEN_TEST_AWS_ENDPOINT` these tests say they are skipped and why.

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

fn seed(endpoint: &str, app: &str) -> Value {
    let python = std::env::var("BLUEGREEN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bluegreen-aws/tests/fixtures/seed_env.py"
    );
    let out = Command::new(python)
        .args([script, endpoint, "cli", app])
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
    endpoint: String,
}

impl Env {
    fn new(endpoint: &str, app: &str) -> Env {
        let dir =
            std::env::temp_dir().join(format!("bluegreen-cli-aws-{app}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("bluegreen.toml"),
            format!(
                "environment = \"cli\"\napplication = \"{app}\"\nprovider = \"aws\"\n\
                 [aws]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n\
                 [deploy]\nscale_down_delay = \"1s\"\n\
                 [gates]\ninterval = \"500ms\"\nwindow = \"2s\"\nmin_requests = 1\nno_data = \"pass\"\n"
            ),
        )
        .unwrap();
        Env {
            dir,
            endpoint: endpoint.into(),
        }
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
fn a_full_deploy_completes_on_the_emulator() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "ok");
    let env = Env::new(&endpoint, "ok");
    let out = env.run(&["deploy", "--bake", "1s"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "not adopted yet: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("adopt"), "{}", text(&out.stderr));
    assert_eq!(env.run(&["adopt"]).status.code(), Some(0));
    let out = env.run(&["deploy", "--bake", "1s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("result: promoted: blue 0% / green 100%; blue scaled down"),
        "{stdout}"
    );
    assert!(stdout.contains("API calls: "), "{stdout}");
    assert_eq!(env.split(), serde_json::json!({"blue": 0, "green": 100}));
    let _ = &env.endpoint;
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

async fn spike(endpoint: String, fixture: Value, stop: Arc<AtomicBool>) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let conf = aws_sdk_cloudwatch::config::Builder::new()
        .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .build();
    let cw = aws_sdk_cloudwatch::Client::from_conf(conf);
    let lb = fixture["load_balancer"]
        .as_str()
        .unwrap()
        .split_once(":loadbalancer/")
        .unwrap()
        .1
        .to_string();
    let tg = format!(
        "targetgroup/{}",
        fixture["target_groups"]["green"]
            .as_str()
            .unwrap()
            .split_once(":targetgroup/")
            .unwrap()
            .1
    );
    while !stop.load(Ordering::Relaxed) {
        // Both datapoints in one call with one timestamp: a window holds both or neither.
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
        let mut put = cw.put_metric_data().namespace("AWS/ApplicationELB");
        for (name, value) in [("RequestCount", 100.0), ("HTTPCode_Target_5XX_Count", 40.0)] {
            let datum = MetricDatum::builder()
                .metric_name(name)
                .dimensions(Dimension::builder().name("TargetGroup").value(&tg).build())
                .dimensions(Dimension::builder().name("LoadBalancer").value(&lb).build())
                .value(value)
                .timestamp(now)
                .build();
            put = put.metric_data(datum);
        }
        let _ = put.send().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_5xx_spike_written_with_put_metric_data_rolls_back() {
    let Some(endpoint) = endpoint() else { return };
    let fixture = seed(&endpoint, "spike");
    let env = Env::new(&endpoint, "spike");
    env.run(&["adopt"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = rt.spawn(spike(endpoint.clone(), fixture, stop.clone()));
    let out = env.run(&["deploy", "--bake", "3s", "--type", "traffic-only"]);
    stop.store(true, Ordering::Relaxed);
    rt.block_on(writer).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("ROLLING BACK: gate 5xx-rate fail minute="),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(env.split(), serde_json::json!({"blue": 100, "green": 0}));
}

#[test]
fn canary_promote_and_abort_kill_resume_and_lock_refusal_on_the_emulator() {
    let Some(endpoint) = endpoint() else { return };
    seed(&endpoint, "multi");
    let env = Env::new(&endpoint, "multi");
    assert_eq!(env.run(&["adopt"]).status.code(), Some(0));
    let green = |s: &Value| s["split"]["green"].as_u64().unwrap();
    let waiting = |s: &Value| s["deployment"]["next_step"] == 2 && s["split"]["green"] == 10;

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
