//! AWS API calls per operation, per step and per poll, for each strategy, against a local AWS emulator.
//! Run through `benches/api-economy.sh` (which starts moto). Budgets: at most 1 write + 1 read-back per step,
//! at most 2 calls per poll (metrics for both colors, alarms).

use bluegreen_aws::{AwsSettings, Connection, Naming, SystemClock, TargetSpec};
use bluegreen_core::gate::NoDataPolicy;
use bluegreen_core::{DeploymentId, Event, Executor, Plan, Providers, Strategy, TimeoutAction};
use bluegreen_testkit::{EventLog, MemoryStore, ScriptedApproval};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn seed(endpoint: &str, app: &str) -> String {
    let python = std::env::var("BLUEGREEN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed_env.py");
    let out = Command::new(python)
        .args([script, endpoint, "econ", app])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["alarm"].as_str().unwrap_or_default().to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let endpoint = std::env::var("BLUEGREEN_TEST_AWS_ENDPOINT")
        .expect("run me through benches/api-economy.sh");
    let bake = Duration::from_secs(2);
    let strategies = [
        (
            "gradual",
            Strategy::Gradual {
                steps: vec![10, 25, 50, 75, 100],
                bake,
            },
        ),
        ("immediate", Strategy::Immediate { bake }),
        (
            "canary",
            Strategy::Canary {
                percent: bluegreen_core::Share::percent(10),
                bake,
                approval_timeout: None,
                on_timeout: TimeoutAction::Rollback,
            },
        ),
    ];
    println!(
        "| strategy | alarms | steps | polls | writes/step | read-backs/step | calls/poll | all calls |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, strategy) in strategies {
        for with_alarm in [false, true] {
            let app = format!("{name}{}", if with_alarm { "-alarm" } else { "" });
            let alarm = seed(&endpoint, &app);
            let conn = Connection::connect(&AwsSettings {
                region: Some("us-east-1".into()),
                endpoint_url: Some(endpoint.clone()),
                ..AwsSettings::default()
            })
            .await;
            let spec = TargetSpec::by_convention(Naming::new("econ", &app).expect("valid"));
            conn.adopt(&spec).await.expect("adopt");
            let p = conn.providers(&spec).await.expect("providers");
            conn.counter().reset();
            let clock = Arc::new(SystemClock);
            let events = EventLog::default();
            let providers = Providers {
                router: p.router.clone(),
                health: Arc::new(p.health),
                capacity: None,
                approval: Arc::new(ScriptedApproval::approve_after(
                    clock.clone(),
                    Duration::from_secs(1),
                )),
                clock,
                store: Arc::new(MemoryStore::new()),
                hooks: None,
            };
            let mut plan = Plan::new(format!("econ/{app}"), strategy.compile().expect("valid"));
            plan.gates.interval = Duration::from_millis(500);
            plan.gates.window = Some(Duration::from_secs(2));
            for g in &mut plan.gates.bake {
                g.no_data = NoDataPolicy::Pass;
            }
            if with_alarm {
                plan.gates = plan.gates.with_alarms(&[alarm]);
            }
            let exec = Executor::new(providers).with_observer(Arc::new(events.clone()));
            let outcome = exec
                .run(DeploymentId::new(app.clone()).expect("valid"), plan)
                .await
                .expect("runs");
            assert_eq!(outcome.kind(), "promoted", "{outcome}");
            let entries = events.entries();
            let count = |f: fn(&Event) -> bool| entries.iter().filter(|e| f(&e.event)).count();
            let steps = count(|e| matches!(e, Event::SplitWritten { .. }));
            let polls = count(|e| matches!(e, Event::Polled { .. }));
            let calls = conn.counter().counts();
            let n = |op: &str| calls.get(op).copied().unwrap_or(0);
            let per_poll = (n("GetMetricData") + n("DescribeAlarms")
                - if with_alarm { steps } else { 0 }) as f64
                / polls as f64;
            println!(
                "| {name} | {} | {steps} | {polls} | {:.2} | {:.2} | {per_poll:.2} | {calls:?} |",
                if with_alarm { "1" } else { "none" },
                n("ModifyListener") as f64 / steps as f64,
                (n("DescribeListeners") - 1) as f64 / steps as f64,
            );
        }
    }
}
