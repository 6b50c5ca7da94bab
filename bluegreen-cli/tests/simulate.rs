//! `bluegreen simulate` end to end: exit codes, one-line errors, JSON Lines.

use std::process::{Command, Output};

fn bluegreen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_healthy_gradual_deployment_is_promoted() {
    let out = bluegreen(&["simulate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // Seed 1 of the testkit's realistic world: each 3-minute bake lasts until CloudWatch has published its
    // minutes (1 to 4.5 minutes after each closes), so the steps come at 0:00, 5:00, 9:50; by then the
    // sequential judge has conclusive evidence of no regression (both metrics pass), and the 50 % and 75 %
    // bakes end once their first minute is judged: 13:10, 16:40 (with fixed bakes: 13:10, 17:50, promoted
    // at 21:30).
    for line in [
        "  0:00  split verified: blue 90% / green 10%",
        "  5:00  split verified: blue 75% / green 25%",
        " 16:40  split verified: blue 0% / green 100%",
        " 20:50  result: promoted",
        "CloudWatch minutes judged",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
}

#[test]
fn a_5xx_spike_rolls_back_with_exit_1() {
    let out = bluegreen(&["simulate", "--scenario", "green-5xx"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ROLLING BACK: gate 5xx-rate fail minute="),
        "{stdout}"
    );
    assert!(
        stdout.contains("rolled back: blue 100% / green 0%"),
        "{stdout}"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for (args, message) in [
        (
            vec!["simulate", "--steps", "10,5"],
            "error: --steps: step 2 (5%) is not increasing: it must be above the step before it (10%)\n",
        ),
        (
            vec!["simulate", "--strategy", "bluegreen"],
            "error: unknown strategy \"bluegreen\": expected gradual, immediate, canary, linear or custom\n",
        ),
        (
            vec!["simulate", "--bake", "3"],
            "error: --bake \"3\" is not a duration (examples: 90s, 3m, 1h30m): time unit needed, for example 3sec or 3ms\n",
        ),
        (
            vec!["simulate", "--scenario", "red"],
            "error: unknown scenario \"red\": expected one of healthy, green-5xx, green-slow, green-unhealthy, green-slower, no-traffic\n",
        ),
    ] {
        let out = bluegreen(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr), message, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing ran");
    }
    let out = bluegreen(&["simulate", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn json_output_is_one_object_per_line() {
    let out = bluegreen(&["--output", "json", "simulate", "--strategy", "immediate"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.first().unwrap()["type"], "intro");
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["data"]["outcome"]["result"], "promoted");
    // A 3-minute validation bake, then until CloudWatch has published its three minutes (seed 1).
    assert_eq!(last["data"]["simulated_seconds"], 300);
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "event" && l["data"]["event"]["type"] == "split-verified")
    );
    let out = bluegreen(&["--output", "json", "simulate", "--steps", "150"]);
    assert_eq!(out.status.code(), Some(2));
    let err: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(err["type"], "error");
}
