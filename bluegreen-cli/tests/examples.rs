//! The examples cannot rot: the CI files use flags the command has, with every parameter combination they
//! can produce; the CloudFormation template passes cfn-lint (`BLUEGREEN_TEST_CFN_LINT`, set by scripts/test).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

#[test]
fn the_ci_examples_use_flags_that_exist_for_every_parameter_combination() {
    let jenkins = read("examples/Jenkinsfile");
    let actions = read("examples/github/deploy.yml");
    for file in [&jenkins, &actions] {
        for needle in [
            "bluegreen plan",
            "bluegreen deploy",
            "--strategy",
            "--type",
            "--skip-tests",
            "--dry-run",
            "bluegreen rollback",
        ] {
            assert!(file.contains(needle), "{needle}");
        }
        for name in ["gradual", "immediate", "canary", "full", "traffic-only"] {
            assert!(file.contains(name), "{name}");
        }
    }
    assert!(jenkins.contains("--launch-template-version") && jenkins.contains("--format html"));
    assert!(
        jenkins.contains("--ami ${params.AMI_ID}") && actions.contains("--ami ${{ inputs.ami }}")
    );
    let dir = std::env::temp_dir().join(format!("bluegreen-examples-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bluegreen"))
            .current_dir(&dir)
            .env_clear()
            .env("BLUEGREEN_ENVIRONMENT", "poc")
            .env("BLUEGREEN_APPLICATION", "poc-web")
            .env("BLUEGREEN_PROVIDER", "sim")
            .env("BLUEGREEN_OUTPUT", "json")
            .args(args)
            .output()
            .unwrap()
    };
    for strategy in ["gradual", "immediate", "canary"] {
        for kind in ["full", "traffic-only"] {
            let out = run(&["plan", "--strategy", strategy, "--type", kind]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            let mut args = vec![
                "deploy",
                "--strategy",
                strategy,
                "--type",
                kind,
                "--skip-tests",
                "--dry-run",
            ];
            // The AMI parameter, with the type that brings the new color up from it.
            if kind == "full" {
                args.extend(["--ami", bluegreen_testkit::IMAGES[1]]);
            }
            let out = run(&args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
    assert_eq!(run(&["rollback"]).status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cloudformation_template_follows_the_convention_and_lints() {
    let template = read("examples/cloudformation/bluegreen.yaml");
    for name in [
        "${Environment}-${Application}-alb",
        "${Environment}-${Application}-blue-tg",
        "${Environment}-${Application}-green-tg",
        "${Environment}-${Application}-blue-asg",
        "${Environment}-${Application}-green-asg",
        "Threshold: 5.0",
        "Period: 300",
        "EvaluationPeriods: 2",
    ] {
        assert!(template.contains(name), "{name}");
    }
    // The shared state table has the layout DynamoStore expects.
    let table = read("examples/cloudformation/state-table.yaml");
    for key in [
        "AttributeName: pk, KeyType: HASH",
        "AttributeName: sk, KeyType: RANGE",
        "SSEEnabled: true",
    ] {
        assert!(table.contains(key), "{key}");
    }
    let Ok(lint) = std::env::var("BLUEGREEN_TEST_CFN_LINT") else {
        eprintln!(
            "skipped cfn-lint: BLUEGREEN_TEST_CFN_LINT is not set (scripts/test installs cfn-lint and sets it)"
        );
        return;
    };
    let out = Command::new(lint)
        .arg(root().join("examples/cloudformation/bluegreen.yaml"))
        .arg(root().join("examples/cloudformation/state-table.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
