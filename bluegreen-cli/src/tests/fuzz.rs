//! Fuzzing of what a person or a CI system can type: arguments and configuration files.

use super::super::*;
use proptest::prelude::*;

const VERBS: &[&str] = &[
    "status",
    "deploy",
    "shift",
    "rollback",
    "promote",
    "abort",
    "resume",
    "plan",
    "history",
    "report",
    "init",
    "adopt",
    "iam-policy",
    "unlock",
    "simulate",
    "completions",
    "man",
];
const FLAGS: &[&str] = &[
    "--strategy",
    "--steps",
    "--bake",
    "--canary-percent",
    "--linear-step",
    "--approval-timeout",
    "--on-timeout",
    "--type",
    "--id",
    "--target",
    "--percentage",
    "--validation-minutes",
    "--to",
    "--force",
    "--output",
    "--time-scale",
    "--scenario",
    "--account",
    "--by",
    "--rollback",
    "--dry-run",
    "--skip-tests",
    "--format",
    "--seed",
    "--environment",
    "--application",
    "--provider",
    "-5",
];
/// Values beside the strategy names, which come from the core's one list (`StrategyKind::ALL`).
const VALUES: &[&str] = &[
    "10,5",
    "10,25,100",
    "3m",
    "-5m",
    "0s",
    "99999999h",
    "1e300",
    "1e-300",
    "NaN",
    "abc",
    "",
    "\u{0}",
    "💥",
    "150",
    "0.5",
    "0.05",
    "-1",
    "0",
    "green",
    "red",
    "json",
    "human",
    "html",
    "1h30m",
    "123456789012",
    "poc",
    "x/y",
    "..",
    "a b",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(VERBS).prop_map(String::from),
        proptest::sample::select(FLAGS).prop_map(String::from),
        proptest::sample::select(VALUES).prop_map(String::from),
        proptest::sample::select(bluegreen_core::StrategyKind::ALL).prop_map(|k| k.to_string()),
        "\\PC{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any arguments: the parser never panics, and a refusal is one non-empty line.
    #[test]
    fn arguments_never_panic(verb in proptest::sample::select(VERBS), rest in proptest::collection::vec(token(), 0..8)) {
        let argv: Vec<String> = ["bluegreen".to_string(), verb.to_string()].into_iter().chain(rest).collect();
        match Cli::try_parse_from(&argv) {
            Ok(_) => {}
            Err(e) => {
                let line = error_line(&e);
                prop_assert!(!line.trim().is_empty());
                prop_assert!(!line.contains('\n'));
            }
        }
    }

    /// Any configuration built from the real keys and hostile values: loading, the gate policy and the
    /// plan's validation never panic; every refusal is one line.
    #[test]
    fn configuration_never_panics(
        entries in proptest::collection::vec(
            (
                proptest::sample::select(
                    bluegreen::settings::GatesSection::keys().collect::<Vec<_>>()
                ),
                prop_oneof![
                    Just("0".to_string()), Just("-3.0".to_string()), Just("nan".to_string()),
                    Just("inf".to_string()), Just("1e308".to_string()), Just("18446744073709551615".to_string()),
                    Just("\"0s\"".to_string()), Just("\"99999999h\"".to_string()), Just("\"-5m\"".to_string()),
                    Just("\"3m\"".to_string()), Just("\"fail\"".to_string()), Just("\"observe\"".to_string()),
                    Just("true".to_string()), Just("[1, 2]".to_string()),
                    any::<i64>().prop_map(|n| n.to_string()),
                    any::<f64>().prop_map(|f| format!("{f:?}")),
                    "\"\\PC{0,8}\"",
                ],
            ),
            0..6,
        ),
        p99 in any::<bool>(),
    ) {
        let mut text = String::from("[gates]\n");
        let mut seen = std::collections::BTreeSet::new();
        for (k, v) in entries {
            if seen.insert(k) {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        let parsed = config::Settings::from_toml(&text);
        let Ok(file) = parsed else { return Ok(()) };
        match file.gates.policy(p99) {
            Err(e) => prop_assert!(!e.to_string().contains('\n'), "{e}"),
            Ok(gates) => {
                let mut plan = bluegreen_core::Plan::new(
                    "poc/poc-web",
                    bluegreen_core::Strategy::gradual().compile().expect("valid"),
                );
                plan.gates = gates;
                if let Err(e) = plan.validate() {
                    prop_assert!(!e.to_string().contains('\n'), "{e}");
                }
            }
        }
    }
}
