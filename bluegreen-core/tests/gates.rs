//! Gates judge snapshots; the tally turns verdicts into decisions.

use bluegreen_core::gate::*;
use bluegreen_core::*;
use std::time::Duration;

fn metrics(requests: u64, errors: u64, avg_ms: u64) -> Metrics {
    Metrics {
        requests: (requests > 0).then_some(requests),
        errors_5xx: (errors > 0).then_some(errors),
        latency_avg: (requests > 0).then(|| Duration::from_millis(avg_ms)),
        latency_p99: (requests > 0).then(|| Duration::from_millis(avg_ms * 3)),
        healthy_hosts: Some(2),
        unhealthy_hosts: Some(0),
        connection_errors: None,
    }
}

fn snapshot(blue: Metrics, green: Metrics) -> Snapshot {
    Snapshot {
        metrics: PerColor { blue, green },
        alarms: vec![],
    }
}

fn gate(check: Check, no_data: NoDataPolicy) -> BakeGate {
    BakeGate {
        name: "g".into(),
        mode: GateMode::Enforce,
        no_data,
        check,
    }
}

#[track_caller]
fn check(g: &BakeGate, snap: &Snapshot, verdict: Verdict, value: Option<f64>, limit: Option<f64>) {
    let r = judge_bake_gate(g, snap, Color::Green, 50);
    assert_eq!(
        (r.verdict, r.value, r.limit),
        (verdict, value, limit),
        "{r}"
    );
}

#[test]
fn error_rate_absolute_and_relative() {
    let abs = gate(
        Check::ErrorRate(ErrorRate {
            max: 0.05,
            relative: None,
            min_errors: 0,
        }),
        NoDataPolicy::Fail,
    );
    check(
        &abs,
        &snapshot(metrics(1000, 1, 80), metrics(100, 4, 80)),
        Verdict::Pass,
        Some(0.04),
        Some(0.05),
    );
    check(
        &abs,
        &snapshot(metrics(1000, 1, 80), metrics(100, 6, 80)),
        Verdict::Fail,
        Some(0.06),
        Some(0.05),
    );
    let rel = gate(
        Check::ErrorRate(ErrorRate {
            max: 0.05,
            relative: Some(Relative {
                factor: 2.0,
                epsilon: 0.01,
            }),
            min_errors: 0,
        }),
        NoDataPolicy::Fail,
    );
    // stable 1 % → limit 2 × 1 % + 1 % = 3 %
    check(
        &rel,
        &snapshot(metrics(1000, 10, 80), metrics(100, 3, 80)),
        Verdict::Pass,
        Some(0.03),
        Some(0.03),
    );
    check(
        &rel,
        &snapshot(metrics(1000, 10, 80), metrics(100, 4, 80)),
        Verdict::Fail,
        Some(0.04),
        Some(0.03),
    );
    // stable with too few requests: only the absolute limit applies
    check(
        &rel,
        &snapshot(metrics(10, 0, 80), metrics(100, 4, 80)),
        Verdict::Pass,
        Some(0.04),
        Some(0.05),
    );
    // no 5xx datapoint with requests is a 0 % rate, not no data
    check(
        &rel,
        &snapshot(metrics(1000, 0, 80), metrics(100, 0, 80)),
        Verdict::Pass,
        Some(0.0),
        Some(0.01),
    );
}

#[test]
fn a_breach_needs_enough_errors() {
    let g = gate(
        Check::ErrorRate(ErrorRate {
            max: 0.01,
            relative: None,
            min_errors: 5,
        }),
        NoDataPolicy::Fail,
    );
    // 3 errors in 200 requests is 1.5 %, above 1 %, but three errors do not make a breach.
    let r = judge_bake_gate(
        &g,
        &snapshot(metrics(1000, 1, 80), metrics(200, 3, 80)),
        Color::Green,
        50,
    );
    assert_eq!((r.verdict, r.value), (Verdict::Pass, Some(0.015)));
    assert_eq!(
        r.detail,
        "above the limit with only 3 errors, fewer than the 5 that make a breach"
    );
    check(
        &g,
        &snapshot(metrics(1000, 1, 80), metrics(200, 5, 80)),
        Verdict::Fail,
        Some(0.025),
        Some(0.01),
    );
}

#[test]
fn latency_gates_compare_seconds() {
    let avg = gate(
        Check::LatencyAvg(LatencyAvg {
            max: Duration::from_secs(1),
            relative: Some(Relative {
                factor: 2.0,
                epsilon: 0.1,
            }),
        }),
        NoDataPolicy::Fail,
    );
    check(
        &avg,
        &snapshot(metrics(1000, 0, 100), metrics(100, 0, 300)),
        Verdict::Pass,
        Some(0.3),
        Some(0.30000000000000004),
    );
    check(
        &avg,
        &snapshot(metrics(1000, 0, 100), metrics(100, 0, 350)),
        Verdict::Fail,
        Some(0.35),
        Some(0.30000000000000004),
    );
    let p99 = gate(
        Check::LatencyP99(LatencyP99 {
            max: Duration::from_secs(5),
            relative: None,
        }),
        NoDataPolicy::Fail,
    );
    check(
        &p99,
        &snapshot(metrics(0, 0, 0), metrics(100, 0, 2000)),
        Verdict::Fail,
        Some(6.0),
        Some(5.0),
    );
}

#[test]
fn too_few_requests_is_no_data_and_the_policy_decides() {
    let few = snapshot(metrics(1000, 0, 80), metrics(49, 49, 80));
    for (policy, verdict) in [
        (NoDataPolicy::Fail, Verdict::Fail),
        (NoDataPolicy::Inconclusive, Verdict::Inconclusive),
        (NoDataPolicy::ExtendBake, Verdict::Extend),
        (NoDataPolicy::Pass, Verdict::Pass),
    ] {
        let g = gate(
            Check::ErrorRate(ErrorRate {
                max: 0.05,
                relative: None,
                min_errors: 0,
            }),
            policy,
        );
        let r = judge_bake_gate(&g, &few, Color::Green, 50);
        assert_eq!(r.verdict, verdict, "{policy:?}");
        assert_eq!(r.value, None, "no value is reported from too few requests");
        assert_eq!(r.detail, "49 requests, fewer than the 50 needed");
    }
}

#[test]
fn host_floor_and_alarms() {
    let hosts = gate(
        Check::HealthyHosts(HealthyHosts { min: 2 }),
        NoDataPolicy::Fail,
    );
    let mut green = metrics(100, 0, 80);
    green.healthy_hosts = Some(1);
    check(
        &hosts,
        &snapshot(metrics(100, 0, 80), green),
        Verdict::Fail,
        Some(1.0),
        Some(2.0),
    );
    green.healthy_hosts = None;
    check(
        &hosts,
        &snapshot(metrics(100, 0, 80), green),
        Verdict::Fail,
        None,
        Some(2.0),
    );

    let alarms = gate(
        Check::Alarms(Alarms {
            names: vec!["a".into(), "b".into()],
        }),
        NoDataPolicy::Pass,
    );
    let mut snap = snapshot(metrics(100, 0, 80), metrics(100, 0, 80));
    snap.alarms = vec![
        AlarmStatus {
            name: "a".into(),
            state: AlarmState::Ok,
        },
        AlarmStatus {
            name: "b".into(),
            state: AlarmState::Alarm,
        },
    ];
    let r = judge_bake_gate(&alarms, &snap, Color::Green, 50);
    assert_eq!(
        (r.verdict, r.detail.as_str()),
        (Verdict::Fail, "in ALARM: b")
    );
    snap.alarms[1].state = AlarmState::InsufficientData;
    let r = judge_bake_gate(&alarms, &snap, Color::Green, 50);
    assert_eq!(
        (r.verdict, r.detail.as_str()),
        (Verdict::Pass, "insufficient data: b")
    );
}

#[test]
fn pre_step_gate_needs_healthy_targets_none_unhealthy_and_quiet_alarms() {
    let g = PreStepGate {
        mode: GateMode::Enforce,
        min_healthy: 2,
        alarms: vec!["x".into()],
        wait: Duration::ZERO,
    };
    let ok = [AlarmStatus {
        name: "x".into(),
        state: AlarmState::Ok,
    }];
    let firing = [AlarmStatus {
        name: "x".into(),
        state: AlarmState::Alarm,
    }];
    let verdicts = |h: TargetHealth, a: &[AlarmStatus]| -> Vec<(String, Verdict)> {
        judge_pre_step(&g, Color::Green, h, a)
            .into_iter()
            .map(|r| (r.gate, r.verdict))
            .collect()
    };
    let healthy = TargetHealth {
        healthy: 2,
        unhealthy: 0,
        other: 1,
    };
    let v = |a, b, c| {
        vec![
            ("pre-step-healthy".to_string(), a),
            ("pre-step-unhealthy".to_string(), b),
            ("pre-step-alarms".to_string(), c),
        ]
    };
    assert_eq!(
        verdicts(healthy, &ok),
        v(Verdict::Pass, Verdict::Pass, Verdict::Pass)
    );
    assert_eq!(
        verdicts(
            TargetHealth {
                healthy: 1,
                ..healthy
            },
            &ok
        ),
        v(Verdict::Fail, Verdict::Pass, Verdict::Pass)
    );
    assert_eq!(
        verdicts(
            TargetHealth {
                unhealthy: 1,
                ..healthy
            },
            &ok
        ),
        v(Verdict::Pass, Verdict::Fail, Verdict::Pass)
    );
    assert_eq!(
        verdicts(healthy, &firing),
        v(Verdict::Pass, Verdict::Pass, Verdict::Fail)
    );
}

fn report(verdict: Verdict, mode: GateMode) -> GateReport {
    GateReport {
        gate: "g".into(),
        mode,
        verdict,
        value: None,
        stable: None,
        limit: None,
        unit: Unit::Count,
        detail: String::new(),
        minute: None,
    }
}

#[test]
fn tally_applies_the_limits() {
    use Verdict::*;
    let limits = Limits {
        failures: 3,
        consecutive_failures: 2,
        inconclusive: 2,
    };
    let run = |polls: &[Verdict]| -> Vec<&'static str> {
        let mut t = BakeTally::default();
        polls
            .iter()
            .map(
                |v| match t.record(&[report(*v, GateMode::Enforce)], &limits, true) {
                    PollDecision::Continue => "continue",
                    PollDecision::Extend => "extend",
                    PollDecision::Rollback { .. } => "rollback",
                },
            )
            .collect()
    };
    assert_eq!(
        run(&[Fail, Pass, Fail, Pass]),
        ["continue", "continue", "continue", "continue"]
    );
    assert_eq!(run(&[Fail, Fail]), ["continue", "rollback"]);
    assert_eq!(
        run(&[Fail, Pass, Fail, Pass, Fail]),
        ["continue", "continue", "continue", "continue", "rollback"]
    );
    assert_eq!(
        run(&[Inconclusive, Pass, Inconclusive]),
        ["continue", "continue", "rollback"]
    );
    assert_eq!(run(&[Extend, Extend]), ["extend", "extend"]);
    // Observe-mode failures never count.
    let mut t = BakeTally::default();
    for _ in 0..10 {
        assert_eq!(
            t.record(&[report(Fail, GateMode::Observe)], &limits, true),
            PollDecision::Continue
        );
    }
    // An extension that is no longer allowed counts as inconclusive.
    let mut t = BakeTally::default();
    assert_eq!(
        t.record(&[report(Extend, GateMode::Enforce)], &limits, false),
        PollDecision::Continue
    );
    assert_eq!(t.inconclusive, 1);
}

/// Issue 22: `elb-5xx-rate` judges the share of the new color's requests that the load balancer answered
/// itself (its connections to the targets failed), a breach only with `min_errors` of them; no requests is
/// no data. The stable color's value plays no part (the load balancer's own errors have no baseline there).
#[test]
fn load_balancer_errors_for_the_new_color() {
    let refused = |requests: u64, errors: u64| Metrics {
        connection_errors: (errors > 0).then_some(errors),
        ..metrics(requests, 0, 80)
    };
    let g = gate(
        Check::ElbErrorRate(ElbErrorRate {
            max: 0.01,
            min_errors: 5,
        }),
        NoDataPolicy::Inconclusive,
    );
    let bad_blue = refused(1000, 500);
    check(
        &g,
        &snapshot(bad_blue, refused(1000, 5)),
        Verdict::Pass,
        Some(0.005),
        Some(0.01),
    );
    check(
        &g,
        &snapshot(bad_blue, refused(1000, 30)),
        Verdict::Fail,
        Some(0.03),
        Some(0.01),
    );
    // Above the rate with too few errors to be more than chance.
    check(
        &g,
        &snapshot(bad_blue, refused(100, 4)),
        Verdict::Pass,
        Some(0.04),
        Some(0.01),
    );
    // None reported with requests is 0; too few requests is no data.
    check(
        &g,
        &snapshot(bad_blue, refused(1000, 0)),
        Verdict::Pass,
        Some(0.0),
        Some(0.01),
    );
    check(
        &g,
        &snapshot(bad_blue, refused(10, 5)),
        Verdict::Inconclusive,
        None,
        Some(0.01),
    );
    let r = judge_bake_gate(&g, &snapshot(bad_blue, refused(1000, 30)), Color::Green, 50);
    assert!(
        r.detail
            .contains("30 requests to green answered by the load balancer"),
        "{r}"
    );
}

/// docs/gates.md names every series the providers ask CloudWatch for, with its statistic (issue 22: one
/// list, `MetricSeries::ALL`, and the docs agree with it by test).
#[test]
fn the_docs_name_every_series_asked_for() {
    let docs = include_str!("../../docs/gates.md");
    let sentence = docs
        .split("**What each poll asks CloudWatch.**")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("docs/gates.md says what each poll asks");
    let sentence = sentence.replace('\n', " ");
    for series in MetricSeries::ALL {
        let named = match series.statistic() {
            "p99" => sentence.contains(&format!("{} (Average, and p99", series.metric())),
            stat => {
                sentence.contains(&format!("{} ({stat})", series.metric()))
                    || sentence.contains(&format!("{} ({stat},", series.metric()))
            }
        };
        assert!(
            named,
            "docs/gates.md names {} ({})",
            series.metric(),
            series.statistic()
        );
    }
}

/// Issue 22: docs/gates.md's table has one row per check of the registry (`Check::KINDS`), named as the
/// settings name its gate, and no row for a check that does not exist.
#[test]
fn the_docs_table_has_a_row_per_check() {
    let docs = include_str!("../../docs/gates.md");
    let rows: Vec<&str> = docs
        .lines()
        .take_while(|l| !l.starts_with("##"))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let kinds: Vec<&str> = Check::KINDS.iter().map(|k| k.name).collect();
    assert_eq!(rows, kinds);
}

/// Issue 22: a `[gates]` key belongs to one check only, and every check's default gate judges and
/// describes itself with the keys it declares.
#[test]
fn every_check_key_is_declared_once_and_named_by_its_check() {
    let keys: Vec<&str> = CheckSettings::keys().map(|k| k.key).collect();
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(keys.len(), unique.len(), "{keys:?}");
    let policy = GatePolicy::default().with_alarms(&["a".to_string()]);
    for gate in &policy.bake {
        let kind = gate.check.kind();
        assert_eq!(gate.name, kind.name);
        let text = gate.check.describe();
        for key in kind.keys {
            assert!(text.contains(key.key), "{}: {text}", kind.name);
        }
    }
}

/// Issue 22: a check's keys are applied by the core: set through `CheckSettings`, a key turns an optional
/// check on after the checks listed before it, and a rate outside 0–1 is refused naming the key.
#[test]
fn check_keys_apply_to_the_policy_in_the_registry_order() {
    let mut keys = CheckSettings::default();
    keys.set("max_elb_5xx_rate", KeyValue::Number(0.02))
        .unwrap();
    keys.set("min_errors", KeyValue::Count(3)).unwrap();
    keys.set("max_latency_avg", KeyValue::Duration("250ms".into()))
        .unwrap();
    let mut bake = GatePolicy::default().bake;
    keys.apply(&mut bake).unwrap();
    let names: Vec<&str> = bake.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "5xx-rate",
            "elb-5xx-rate",
            "latency-avg",
            "latency-p99",
            "healthy-hosts"
        ]
    );
    assert_eq!(
        bake[1].check,
        Check::ElbErrorRate(ElbErrorRate {
            max: 0.02,
            min_errors: 3
        })
    );
    assert!(matches!(
        bake[0].check,
        Check::ErrorRate(ErrorRate { min_errors: 3, .. })
    ));
    assert!(matches!(
        bake[2].check,
        Check::LatencyAvg(LatencyAvg { max, .. }) if max == Duration::from_millis(250)
    ));
    assert_eq!(
        keys.set("max_5xx_rat", KeyValue::Number(0.1)).unwrap_err(),
        UnknownGateKey("max_5xx_rat".into())
    );
    keys.set("max_5xx_rate", KeyValue::Number(1.5)).unwrap();
    assert_eq!(
        keys.apply(&mut GatePolicy::default().bake)
            .unwrap_err()
            .to_string(),
        "max_5xx_rate 1.5: a rate is between 0.0 and 1.0"
    );
}

/// Issue 22: records written before the checks were one file each read the same, and are written the same:
/// a gate is flat, its check a kebab-case tag beside its parameters.
#[test]
fn gates_in_records_keep_their_shape() {
    let old = r#"[
        {"name":"5xx-rate","mode":"enforce","no_data":"inconclusive","check":"error-rate","max":0.05,"relative":{"factor":2.0,"epsilon":0.01},"min_errors":5},
        {"name":"elb-5xx-rate","mode":"enforce","no_data":"inconclusive","check":"elb-error-rate","max":0.02,"min_errors":5},
        {"name":"latency-avg","mode":"enforce","no_data":"inconclusive","check":"latency-avg","max":"1s","relative":{"factor":2.0,"epsilon":0.1}},
        {"name":"latency-p99","mode":"observe","no_data":"pass","check":"latency-p99","max":"5s","relative":null},
        {"name":"healthy-hosts","mode":"enforce","no_data":"inconclusive","check":"healthy-hosts","min":1},
        {"name":"alarms","mode":"enforce","no_data":"pass","check":"alarms","names":["a","b"]}
    ]"#;
    let gates: Vec<BakeGate> = serde_json::from_str(old).unwrap();
    assert_eq!(
        gates[1].check,
        Check::ElbErrorRate(ElbErrorRate {
            max: 0.02,
            min_errors: 5
        })
    );
    assert_eq!(
        gates[2].check,
        Check::LatencyAvg(LatencyAvg {
            max: Duration::from_secs(1),
            relative: Some(Relative {
                factor: 2.0,
                epsilon: 0.1
            })
        })
    );
    let again: serde_json::Value = serde_json::to_value(&gates).unwrap();
    let before: serde_json::Value = serde_json::from_str(old).unwrap();
    assert_eq!(again, before);
    // A record from before `min_errors` existed still reads (0: any error makes a breach).
    let older: BakeGate = serde_json::from_str(
        r#"{"name":"5xx-rate","check":"error-rate","max":0.05,"relative":null}"#,
    )
    .unwrap();
    assert!(matches!(
        older.check,
        Check::ErrorRate(ErrorRate { min_errors: 0, .. })
    ));
}
