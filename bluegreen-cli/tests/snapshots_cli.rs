//! Snapshots of `plan`, `status` and `report` in both output formats, on deterministic inputs: a fresh
//! simulated world, and a record made by the testkit on virtual time.

use bluegreen_core::{DeploymentId, Plan, Strategy};
use bluegreen_testkit::{Harness, Scenario};
use std::path::PathBuf;
use std::process::Command;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bluegreen-snap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(dir: &PathBuf, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .current_dir(dir)
        .env_clear()
        .env("BLUEGREEN_ENVIRONMENT", "poc")
        .env("BLUEGREEN_APPLICATION", "poc-web")
        .env("BLUEGREEN_PROVIDER", "sim")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Objects with their keys in sorted order, whatever serde_json's map preserves (its `preserve_order` feature
/// depends on which crates are built together).
fn canonical(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let sorted: std::collections::BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(canonical).collect())
        }
        other => other,
    }
}

fn pretty(json_lines: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json_lines.trim()).unwrap();
    serde_json::to_string_pretty(&canonical(v)).unwrap()
}

#[test]
fn plan_and_status_of_a_fresh_world() {
    let d = dir("fresh");
    insta::assert_snapshot!("plan_human", run(&d, &["plan"]));
    insta::assert_snapshot!(
        "plan_json",
        pretty(&run(
            &d,
            &["--output", "json", "plan", "--strategy", "canary"]
        ))
    );
    insta::assert_snapshot!("status_human", run(&d, &["status"]));
    insta::assert_snapshot!(
        "status_json",
        pretty(&run(&d, &["--output", "json", "status"]))
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn report_of_a_rolled_back_deployment() {
    // A deterministic record: the testkit on virtual time, written where the CLI keeps records.
    let h = Harness::new(Scenario::Green5xx.world(1));
    h.run(
        "poc-web-report",
        Plan::new(
            "poc/poc-web",
            Strategy::Gradual {
                steps: vec![50, 100],
                bake: std::time::Duration::from_secs(300),
            }
            .compile()
            .unwrap(),
        ),
    )
    .unwrap();
    let record = h
        .store
        .record(&DeploymentId::new("poc-web-report").unwrap());
    let d = dir("report");
    let deployments = d.join(".bluegreen/deployments");
    std::fs::create_dir_all(&deployments).unwrap();
    let lines: Vec<String> = record
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    std::fs::write(
        deployments.join("poc-web-report.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    insta::assert_snapshot!("report_text", run(&d, &["report", "poc-web-report"]));
    let json = run(&d, &["report", "poc-web-report", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    insta::assert_snapshot!(
        "report_json_outcome",
        serde_json::to_string_pretty(&canonical(v["data"]["outcome"].clone())).unwrap()
    );
    assert_eq!(v["data"]["record"].as_array().unwrap().len(), record.len());
    let _ = std::fs::remove_dir_all(&d);
}
