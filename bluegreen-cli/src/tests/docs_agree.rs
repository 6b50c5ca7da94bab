//! Documentation and program agree, by test: every flag, the exit codes.

use super::super::*;
use std::collections::BTreeSet;

const CLI_MD: &str = include_str!("../../../docs/cli.md");
const README: &str = include_str!("../../../README.md");

/// Every long flag of every verb, with the verbs that take it.
fn program_flags() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, out: &mut BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long()
                && !matches!(long, "help" | "version")
            {
                out.insert(format!("--{long}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&Cli::command(), &mut out);
    out
}

/// Every `--flag` written in `text`.
fn written_flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("--") {
        let start = i + at;
        let mut end = start + 2;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'-')
        {
            end += 1;
        }
        let before_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'-');
        if before_ok && end > start + 2 && bytes[start + 2].is_ascii_lowercase() {
            out.insert(text[start..end].trim_end_matches('-').to_string());
        }
        i = end.max(start + 2);
    }
    out
}

#[test]
fn every_flag_is_documented_and_every_documented_flag_exists() {
    let program = program_flags();
    let documented = written_flags(CLI_MD);
    let missing: Vec<_> = program.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "flags missing from docs/cli.md: {missing:?}"
    );
    // Flags of other programs that the page quotes (cargo, the AWS CLI).
    let others: BTreeSet<String> = ["--release", "--bin", "--package", "--features", "--query"]
        .map(String::from)
        .into();
    let unknown: Vec<_> = documented
        .difference(&program)
        .filter(|f| !others.contains(*f))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/cli.md documents flags the program does not have: {unknown:?}"
    );
    // The README's `bluegreen` invocations (not its cargo commands).
    let invocations: String = README
        .lines()
        .filter_map(|l| match l.split_once("bluegreen-cli -- ") {
            Some((_, args)) => Some(args),
            None => (!l.contains("cargo ")).then_some(l),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let in_readme: Vec<_> = written_flags(&invocations)
        .into_iter()
        .filter(|f| !program.contains(f) && !others.contains(f))
        .collect();
    assert!(
        in_readme.is_empty(),
        "README.md uses flags the program does not have: {in_readme:?}"
    );
}

/// The rows of docs/cli.md's exit-code table.
fn documented_codes() -> BTreeSet<u8> {
    let section = CLI_MD
        .split("## Exit codes")
        .nth(1)
        .expect("docs/cli.md has an exit-code section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect()
}

/// Issue 22: the strategy settings are declared once, in the core: each is a flag of `deploy`, `plan`
/// and `simulate`, and docs/cli.md names it.
#[test]
fn every_strategy_setting_is_a_flag_of_each_verb_that_plans() {
    let cli = Cli::command();
    for verb in ["deploy", "plan", "simulate"] {
        let sub = cli.find_subcommand(verb).expect("the verb exists");
        for s in bluegreen_core::StrategySettings::SETTINGS {
            let flag = s.flag();
            assert!(
                sub.get_arguments()
                    .any(|a| a.get_long() == Some(flag.as_str())),
                "{verb} --{flag}"
            );
            assert!(
                CLI_MD.contains(&format!("--{flag}")),
                "docs/cli.md: --{flag}"
            );
        }
    }
}

/// Issue 22: docs/cli.md offers every strategy a person can choose (the core's one list), and
/// `init`'s template names them in its comment.
#[test]
fn the_docs_and_the_template_name_every_strategy() {
    let names: Vec<&str> = bluegreen_core::StrategyKind::selectable()
        .map(|k| k.name())
        .collect();
    let flag = format!("`--strategy {}`", names.join("\\|"));
    assert!(CLI_MD.contains(&flag), "docs/cli.md has {flag}");
    let comment = format!("# {}", names.join(" | "));
    assert!(
        bluegreen::settings::TEMPLATE
            .lines()
            .any(|l| l.starts_with("strategy = ") && l.ends_with(&comment)),
        "the template's strategy line ends with {comment}"
    );
}

/// Issue 22: a JSON error names its kind; docs/cli.md says which exit code each kind ends with, and it
/// is the one the program gives.
#[test]
fn each_failure_kind_is_documented_with_its_exit_code() {
    for failure in [
        Failure::bad_input("x"),
        Failure::provider("x"),
        Failure::refused("x"),
        Failure::local_io("x"),
    ] {
        let kind = failure.kind();
        assert!(Failure::KINDS.contains(&kind), "{kind}");
        let code = exit_code(&Err(failure));
        assert!(
            CLI_MD.contains(&format!("`{kind}` ({code})")),
            "docs/cli.md names `{kind}` ({code})"
        );
    }
}

#[test]
fn the_exit_code_table_is_the_program_s() {
    let program: BTreeSet<u8> = exit::ALL.into_iter().collect();
    assert_eq!(documented_codes(), program, "docs/cli.md's exit-code table");
    // The README's summary names each code once.
    let summary = README
        .split("Exit codes:")
        .nth(1)
        .expect("README.md summarises the exit codes");
    let summary = summary.split("\n\n").next().unwrap_or(summary);
    let said: BTreeSet<u8> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(said, program, "README.md's exit-code summary: {summary}");
}

/// Issue 21 item 3: after a change, a failure that is not a verdict on the release is never exit 1 (a
/// launch template that could not be made rolled back as "rolled back by a gate", exit 1).
#[test]
fn a_rollback_forced_by_aws_is_not_a_gate_s_verdict() {
    use bluegreen_core::{Color, Outcome, RollbackReason, TrafficSplit};
    let rolled_back = |reason| {
        Ok(Ended::Deployment(Outcome::RolledBack {
            reason,
            step: Some(0),
            split: TrafficSplit::all_to(Color::Blue),
        }))
    };
    let provider = RollbackReason::Provider {
        operation: "new_image_version".into(),
        error: "auto scaling group poc-web-green-asg has no launch template".into(),
    };
    assert_eq!(exit_code(&rolled_back(provider)), exit::PROVIDER);
    let unverified = RollbackReason::VerificationFailed {
        expected: TrafficSplit::new(90, 10).unwrap(),
        read: TrafficSplit::all_to(Color::Blue),
    };
    assert_eq!(exit_code(&rolled_back(unverified)), exit::PROVIDER);
    for verdict in [
        RollbackReason::Cancelled {
            by: Some("abort by oncall".into()),
        },
        RollbackReason::Requested,
        RollbackReason::ApprovalRejected {
            by: "oncall".into(),
            reason: None,
        },
    ] {
        assert_eq!(exit_code(&rolled_back(verdict)), exit::ROLLED_BACK);
    }
}

/// docs/security.md names every action `iam-policy` grants (it once omitted the three EC2 ones), and the
/// one write on launch templates is limited to the application's own by its ownership tag.
#[test]
fn the_security_page_names_every_action_of_the_policy() {
    let security = include_str!("../../../docs/security.md");
    let naming = bluegreen_aws::Naming::new("poc", "poc-web").unwrap();
    let policy = bluegreen_aws::iam::policy("aws", "ap-northeast-1", "123456789012", &naming);
    let statements = policy["Statement"].as_array().unwrap();
    for action in statements
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
    {
        let op = action.as_str().unwrap().split(':').nth(1).unwrap();
        assert!(
            security.contains(&format!("`{op}`")),
            "docs/security.md does not name {action}"
        );
    }
    let create = statements
        .iter()
        .find(|s| s["Action"][0] == "ec2:CreateLaunchTemplateVersion")
        .expect("the ami feature is on in the binary");
    assert_eq!(
        create["Condition"]["StringEquals"]["aws:ResourceTag/bluegreen:application"],
        "poc/poc-web"
    );
}

/// The CI examples handle every exit code by name: a Groovy `case N:` in the Jenkinsfile, a shell
/// `N)` (or `N|`) branch in the GitHub workflow.
#[test]
fn the_ci_examples_handle_every_exit_code() {
    let jenkins = include_str!("../../../examples/Jenkinsfile");
    let actions = include_str!("../../../examples/github/deploy.yml");
    for code in exit::ALL {
        assert!(
            jenkins.contains(&format!("case {code}:")),
            "the Jenkinsfile does not handle exit code {code}"
        );
        let branch = actions.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("{code})"))
                || l.split(')').next().is_some_and(|alts| {
                    alts.split('|').any(|a| a == code.to_string()) && !alts.contains(' ')
                })
        });
        assert!(
            branch,
            "the GitHub workflow does not handle exit code {code}"
        );
    }
}

/// The `type` column of docs/cli.md's JSON Lines table, cell by cell.
#[test]
fn every_json_line_type_is_documented() {
    let section = CLI_MD
        .split("| `type` | `data` |")
        .nth(1)
        .expect("docs/cli.md has the JSON Lines table");
    let documented: BTreeSet<&str> = section
        .lines()
        .skip(2) // the rest of the header line, and the separator
        .take_while(|l| l.starts_with('|'))
        .flat_map(|l| l.split('|').nth(1).unwrap_or_default().split(','))
        .map(|c| c.trim().trim_matches('`'))
        .collect();
    let program: BTreeSet<&str> = render::JSON_TYPES.iter().copied().collect();
    assert_eq!(documented, program);
}

/// docs/cli.md's paragraph of event types names exactly the core's, in its order.
#[test]
fn every_event_type_is_documented() {
    let paragraph = CLI_MD
        .split("Event types (`event.type`)")
        .nth(1)
        .expect("docs/cli.md lists the event types");
    let paragraph = paragraph.split("\n\n").next().unwrap_or(paragraph);
    let documented: Vec<&str> = paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| t.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect();
    assert_eq!(documented, bluegreen_core::Event::TYPES);
}

#[test]
fn a_missing_required_argument_is_named_and_a_negative_duration_is_a_bad_value() {
    let e = Cli::try_parse_from(["bluegreen", "shift"]).expect_err("refused");
    let line = error_line(&e);
    assert!(
        line.contains("--target") && line.contains("--percentage"),
        "{line}"
    );
    // A negative number or duration is the flag's (bad) value, refused by name, not an unknown flag `-5`.
    // (`-5m` reaches the duration parser, which names it: tests/cli_sim.rs checks the message.)
    let cli = Cli::try_parse_from(["bluegreen", "deploy", "--bake", "-5m"]).expect("parses");
    let settings = match cli.verb() {
        bluegreen_cli::Command::Deploy(a) => a.strategy_args().settings(),
        other => panic!("{other:?}"),
    };
    let err = settings.expect_err("-5m is not a duration").to_string();
    assert!(err.contains("--bake \"-5m\""), "{err}");
    let e = Cli::try_parse_from([
        "bluegreen",
        "shift",
        "--target",
        "green",
        "--percentage",
        "-5",
    ])
    .expect_err("refused");
    let line = error_line(&e);
    assert!(
        line.contains("'-5'") && line.contains("--percentage"),
        "{line}"
    );
}
