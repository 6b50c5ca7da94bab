//! Strategies compile to schedules; what people type parses or is refused with a reason.

use bluegreen_core::*;
use std::time::Duration;

#[track_caller]
fn check_steps(input: &str, expected: Result<Vec<u32>, &str>) {
    let got = parse_steps(input).map_err(|e| e.to_string());
    assert_eq!(
        got,
        expected.map_err(str::to_string),
        "parse_steps({input:?})"
    );
}

#[test]
fn steps_parse_or_say_which_step_is_wrong() {
    check_steps("10,25,50,75,100", Ok(vec![10, 25, 50, 75, 100]));
    check_steps(" 5, 50% ,100 ", Ok(vec![5, 50, 100]));
    check_steps("100", Ok(vec![100]));
    check_steps(
        "10,5,100",
        Err("step 2 (5%) is not increasing: it must be above the step before it (10%)"),
    );
    check_steps(
        "10,10,100",
        Err("step 2 (10%) is not increasing: it must be above the step before it (10%)"),
    );
    check_steps(
        "10,150",
        Err("step 2 (150%) is out of range: each step is a percentage from 1 to 100"),
    );
    check_steps(
        "0,100",
        Err("step 1 (0%) is out of range: each step is a percentage from 1 to 100"),
    );
    check_steps(
        "10,50",
        Err("the last weight step is 50%: a schedule must end at 100%"),
    );
    check_steps("10,x,100", Err("step 2 (\"x\") is not a whole percentage"));
    check_steps("-5,100", Err("step 1 (\"-5\") is not a whole percentage"));
    check_steps("", Err("the schedule has no steps"));
}

#[test]
fn durations_parse_as_people_type_them() {
    for (text, secs) in [
        ("3m", 180),
        ("90s", 90),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("500ms", 0),
    ] {
        assert_eq!(
            parse_duration("bake", text).unwrap().as_secs(),
            secs,
            "{text}"
        );
    }
    let err = parse_duration("--bake", "3").unwrap_err().to_string();
    assert!(
        err.starts_with("--bake \"3\" is not a duration (examples: 90s, 3m, 1h30m)"),
        "{err}"
    );
    assert!(parse_duration("--bake", "soon").is_err());
}

#[test]
fn each_strategy_compiles_to_its_schedule() {
    let bake = Duration::from_secs(180);
    let cases: Vec<(Strategy, &str)> = vec![
        (
            Strategy::gradual(),
            "set 10% → bake 3m → set 25% → bake 3m → set 50% → bake 3m → set 75% → bake 3m → set 100% → bake 3m",
        ),
        (Strategy::immediate(), "set 100% → bake 3m"),
        (
            Strategy::Immediate {
                bake: Duration::ZERO,
            },
            "set 100%",
        ),
        (
            Strategy::canary(),
            "set 10% → bake 3m → approval (timeout 1h, then roll back) → set 100% → bake 3m",
        ),
        (
            Strategy::Canary {
                percent: bluegreen_core::Share::percent(5),
                bake,
                approval_timeout: Some(Duration::from_secs(3600)),
                on_timeout: TimeoutAction::Promote,
            },
            "set 5% → bake 3m → approval (timeout 1h, then promote) → set 100% → bake 3m",
        ),
        (
            Strategy::Custom {
                steps: vec![
                    Step::SetWeight {
                        percent: bluegreen_core::Share::percent(1),
                    },
                    Step::Pause {
                        duration: Duration::from_secs(90),
                    },
                    Step::Approval {
                        timeout: None,
                        on_timeout: TimeoutAction::Rollback,
                    },
                    Step::SetWeight {
                        percent: bluegreen_core::Share::percent(100),
                    },
                ],
            },
            "set 1% → pause 1m 30s → approval → set 100%",
        ),
    ];
    for (strategy, expected) in cases {
        let schedule = strategy.compile().unwrap();
        assert_eq!(schedule.to_string(), expected, "{strategy:?}");
        // Plain data: serializes and comes back equal.
        let json = serde_json::to_string(&schedule).unwrap();
        assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), schedule);
        let json = serde_json::to_string(&strategy).unwrap();
        assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), strategy);
    }
    assert_eq!(
        Strategy::gradual().compile().unwrap().nominal_duration(),
        Duration::from_secs(900)
    );
}

#[test]
fn bad_strategies_are_refused() {
    let bake = Duration::from_secs(60);
    let cases: Vec<(Strategy, &str)> = vec![
        (
            Strategy::Gradual {
                steps: vec![10, 5, 100],
                bake,
            },
            "step 2 (5%) is not increasing",
        ),
        (
            Strategy::Gradual {
                steps: vec![],
                bake,
            },
            "the schedule has no steps",
        ),
        (
            Strategy::Canary {
                percent: bluegreen_core::Share::percent(100),
                bake,
                approval_timeout: None,
                on_timeout: TimeoutAction::Rollback,
            },
            "step 1 (100%) is out of range",
        ),
        (
            Strategy::Custom {
                steps: vec![
                    Step::SetWeight {
                        percent: bluegreen_core::Share::percent(100),
                    },
                    Step::Bake {
                        duration: Duration::ZERO,
                    },
                ],
            },
            "step 2 (bake) has a zero duration",
        ),
        (
            Strategy::Custom {
                steps: vec![Step::Pause { duration: bake }],
            },
            "the last weight step is 0%",
        ),
    ];
    for (strategy, expected) in cases {
        let err = strategy.compile().unwrap_err().to_string();
        assert!(err.starts_with(expected), "{strategy:?}: {err}");
    }
    // A serialized schedule is validated when read, too.
    let bad = r#"[{"type":"set-weight","percent":50}]"#;
    assert!(serde_json::from_str::<Schedule>(bad).is_err());
}

#[test]
fn strategy_names_parse() {
    assert_eq!(
        "Canary".parse::<StrategyKind>().unwrap(),
        StrategyKind::Canary
    );
    assert_eq!(
        "blue-green"
            .parse::<StrategyKind>()
            .unwrap_err()
            .to_string(),
        "unknown strategy \"blue-green\": expected gradual, immediate, canary, linear or custom"
    );
}

#[test]
fn splits_are_validated() {
    assert_eq!(TrafficSplit::new(90, 10).unwrap().weight(Color::Green), 10);
    assert_eq!(
        TrafficSplit::new(90, 20).unwrap_err().to_string(),
        "weights blue 90 + green 20 = 110 must sum to 100"
    );
    assert_eq!(
        TrafficSplit::new(150, 0).unwrap_err(),
        SplitError::OutOfRange {
            color: Color::Blue,
            weight: 150
        }
    );
    assert!(TrafficSplit::shifted(Color::Green, 101).is_err());
    assert_eq!(
        TrafficSplit::all_to(Color::Green),
        TrafficSplit::new(0, 100).unwrap()
    );
    assert_eq!(
        TrafficSplit::all_to(Color::Blue).sole_color(),
        Some(Color::Blue)
    );
    assert_eq!(TrafficSplit::new(50, 50).unwrap().sole_color(), None);
    // A record keeps load balancer weights (0–999 each, not both 0) as read: 60/60 is the ALB's 50/50, and
    // what cannot be on a listener is refused (issue 21 item 7; this asserted percentages before).
    assert_eq!(
        serde_json::from_str::<TrafficSplit>(r#"{"blue":60,"green":60}"#).unwrap(),
        TrafficSplit::new(50, 50).unwrap()
    );
    assert!(serde_json::from_str::<TrafficSplit>(r#"{"blue":0,"green":0}"#).is_err());
    assert!(serde_json::from_str::<TrafficSplit>(r#"{"blue":1000,"green":1}"#).is_err());
    assert_eq!("GREEN".parse::<Color>().unwrap(), Color::Green);
    assert!("red".parse::<Color>().is_err());
    assert!(DeploymentId::new("../etc").is_err());
    assert!(DeploymentId::new("poc-web-2026.11.26_1").is_ok());
}

/// A person counts traffic steps: the gradual schedule's bake after 25 % is "step 2/5", and a rolled-back
/// outcome says so (its record keeps the 0-based entry index 3).
#[test]
fn steps_are_numbered_as_a_person_counts_them() {
    let s = Strategy::gradual().compile().unwrap();
    let labels: Vec<String> = (0..s.steps().len())
        .map(|i| s.position(i).to_string())
        .collect();
    assert_eq!(
        labels,
        [
            "step 1/5", "step 1/5", "step 2/5", "step 2/5", "step 3/5", "step 3/5", "step 4/5",
            "step 4/5", "step 5/5", "step 5/5"
        ]
    );
    let canary = Strategy::canary().compile().unwrap();
    let last = canary.steps().len() - 1;
    assert_eq!(canary.position(last).to_string(), "step 2/2");
    let outcome = Outcome::RolledBack {
        reason: RollbackReason::Requested,
        step: Some(3),
        split: TrafficSplit::all_to(Color::Blue),
    };
    let text = outcome.describe(&s);
    assert!(
        text.starts_with("rolled back at step 2/5 (bake 3m): "),
        "{text}"
    );
    assert!(!outcome.to_string().contains("step"), "{outcome}");
}

/// Issue 22: `linear` — equal steps with a bake each, the last one ending at 100 %.
#[test]
fn linear_steps_are_equal_and_end_at_all_traffic() {
    let bake = Duration::from_secs(60);
    let weights = |step| {
        Strategy::Linear { step, bake }
            .compile()
            .map(|s| s.weights())
    };
    assert_eq!(weights(20).unwrap(), vec![20, 40, 60, 80, 100]);
    assert_eq!(weights(30).unwrap(), vec![30, 60, 90, 100]);
    assert_eq!(weights(100).unwrap(), vec![100]);
    assert_eq!(weights(1).unwrap().len(), 100);
    let schedule = Strategy::Linear { step: 50, bake }.compile().unwrap();
    assert_eq!(
        schedule.to_string(),
        "set 50% → bake 1m → set 100% → bake 1m"
    );
    for step in [0, 101] {
        assert_eq!(
            Strategy::Linear { step, bake }
                .compile()
                .unwrap_err()
                .to_string(),
            format!(
                "linear step {step}% is out of range: each step adds 1 to 100 % of the traffic"
            )
        );
    }
    // Chosen by name, with its default step, as every front end does.
    let settings = StrategySettings {
        strategy: Some("linear".parse().unwrap()),
        ..Default::default()
    };
    let schedule = settings.strategy().unwrap().compile().unwrap();
    assert_eq!(schedule.weights(), vec![20, 40, 60, 80, 100]);
    assert_eq!(schedule.nominal_duration(), Duration::from_secs(5 * 180));
    // Every named strategy parses back from its name and says what it does.
    for kind in StrategyKind::ALL {
        assert_eq!(kind.name().parse::<StrategyKind>().unwrap(), *kind);
        assert!(!kind.summary().is_empty());
    }
}
