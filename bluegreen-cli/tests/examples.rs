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
            // A killed run's recovery rolls back this build's own deployment, not whatever runs now.
            "bluegreen resume --id \"$DEPLOYMENT_ID\" --rollback",
            // Agents share one lock and one history (issue 21 item 10).
            "BLUEGREEN_STATE_BACKEND",
            "dynamodb",
            // The whole record as JSON, beside the human console.
            "bluegreen report \"$DEPLOYMENT_ID\" --format json > deploy.json",
        ] {
            assert!(file.contains(needle), "{needle}");
        }
        // The console shows the deployment as a person reads it: no JSON output for the deploy itself.
        assert!(
            !file.contains("BLUEGREEN_OUTPUT"),
            "human output in the console"
        );
        assert!(
            !file
                .lines()
                .any(|l| l.trim_start().starts_with("sh 'bluegreen rollback")
                    || l.trim_start().starts_with("run: bluegreen rollback")),
            "no bare rollback of whatever deployment runs now"
        );
        // Every strategy a person can choose is offered (a new one is offered by the core's one list).
        let strategies = bluegreen_core::StrategyKind::selectable().map(|k| k.name());
        for name in strategies.chain(["full", "traffic-only"]) {
            assert!(file.contains(name), "{name}");
        }
    }
    assert!(jenkins.contains("--launch-template-version") && jenkins.contains("--format html"));
    // One build or run at a time per job/environment: a cancel's recovery cannot stop another's deploy.
    assert!(jenkins.contains("disableConcurrentBuilds()"));
    assert!(actions.contains(
        "concurrency: { group: \"bluegreen-${{ inputs.environment }}\", cancel-in-progress: false }"
    ));
    assert!(jenkins.contains("--ami ${ami}") && actions.contains("--ami $AMI"));
    // The AMI comes from the image build: each file's awk program finds it in Packer's machine-readable
    // output (the Jenkinsfile's is escaped for Groovy).
    let packer_log = "1764201600,,ui,say,==> Builds finished.\n\
         1764201600,amazon-ebs.golden,artifact-count,1\n\
         1764201600,amazon-ebs.golden,artifact,0,builder-id,mitchellh.amazonebs\n\
         1764201600,amazon-ebs.golden,artifact,0,id,ap-northeast-1:ami-0fedcba9876543210\n\
         1764201600,amazon-ebs.golden,artifact,0,string,AMIs were created:\n";
    let awk_program = |file: &str, groovy: bool| {
        let start = file.find("awk -F, '").expect("an awk program") + "awk -F, '".len();
        let end = start + file[start..].find("' packer.log").unwrap();
        let program = &file[start..end];
        if groovy {
            program.replace("\\$", "$").replace("\\\"", "\"")
        } else {
            program.to_string()
        }
    };
    for program in [awk_program(&jenkins, true), awk_program(&actions, false)] {
        let mut child = Command::new("awk")
            .args(["-F,", &program])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(packer_log.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ami-0fedcba9876543210",
            "{program}"
        );
    }
    // Each run has its own deployment id, and the report of it is archived whatever the outcome.
    assert!(
        jenkins.contains("--id ${env.DEPLOYMENT_ID}") && actions.contains("--id $DEPLOYMENT_ID")
    );
    for file in [&jenkins, &actions] {
        assert!(
            file.contains("bluegreen report \"$DEPLOYMENT_ID\" --format html --out report.html"),
            "{file}"
        );
    }
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
            // The simulated world's clock, fixed when the first command creates it: 20 minutes in 2 s.
            .env("BLUEGREEN_TIME_SCALE", "600")
            .args(args)
            .output()
            .unwrap()
    };
    for strategy in bluegreen_core::StrategyKind::selectable().map(|k| k.name()) {
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
    // A real run as the files make it (gradual, full, the built image, its own id), then its report.
    let image = bluegreen_testkit::IMAGES[1];
    let out = run(&[
        "deploy",
        "--id",
        "poc-build-7",
        "--strategy",
        "gradual",
        "--type",
        "full",
        "--ami",
        image,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&[
        "report",
        "poc-build-7",
        "--format",
        "html",
        "--out",
        "report.html",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("poc-build-7") && html.contains("promoted"),
        "{html}"
    );
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

/// Issue 24: the scheduled watch runs a command that exists and handles what it can exit with: 0 (watching,
/// promoted, nothing to watch), 1 (rolled back), 4 (another run holds it), the rest as failures.
#[test]
fn the_scheduled_watch_example_runs_the_watch_and_handles_its_exits() {
    let file = read("examples/github/watch.yml");
    assert!(file.contains("cron: \"*/5 * * * *\""));
    assert!(file.contains("bluegreen watch --once"));
    assert!(file.contains("BLUEGREEN_STATE_BACKEND: dynamodb"));
    for code in ["0)", "1)", "4)", "*)"] {
        assert!(file.contains(code), "exit {code}");
    }
    let jenkins = read("examples/Jenkinsfile.watch");
    assert!(jenkins.contains("cron('H/5 * * * *')"));
    assert!(
        jenkins.contains("bluegreen watch --once") && jenkins.contains("disableConcurrentBuilds()")
    );
    for code in ["case 0:", "case 1:", "case 4:", "default:"] {
        assert!(jenkins.contains(code), "exit {code}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["watch", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--once"));
}

/// Issue 25: the release example parses as the command reads it — six targets in three waves, in the regions
/// it names, each with its own settings merged over the base — and its CI jobs plan first, run, show the
/// status, and handle each exit code of `release run`.
#[test]
fn the_release_example_parses_and_its_ci_jobs_handle_every_exit_code() {
    let file = bluegreen::release::ReleaseFile::load(
        &root().join("examples/release/bluegreen-release.toml"),
    )
    .expect("the example parses");
    let names: Vec<Vec<&str>> = file
        .waves
        .iter()
        .map(|(_, targets)| targets.iter().map(|t| t.name.as_str()).collect())
        .collect();
    assert_eq!(
        names,
        [
            vec!["prod/web@us-east-1"],
            vec!["prod/web@eu-west-1"],
            vec![
                "prod/web@ap-northeast-1",
                "prod/web@us-west-2",
                "prod/api@us-west-2",
                "prod/web@sa-east-1"
            ],
        ]
    );
    let one_box = &file.waves[0].1[0].settings;
    assert_eq!(
        one_box
            .plan(bluegreen_core::StrategySettings::default(), None)
            .unwrap()
            .schedule
            .to_string(),
        "set 0.5% → bake 3m → approval (timeout 1h, then roll back) → set 100% → bake 3m"
    );
    assert_eq!(
        file.waves[2].1[3].settings.aws.profile.as_deref(),
        Some("sao-paulo")
    );
    assert_eq!(file.bake_between, std::time::Duration::from_secs(3600));
    for ci in [
        read("examples/Jenkinsfile.release"),
        read("examples/github/release.yml"),
    ] {
        for needle in [
            "bluegreen release plan",
            "bluegreen release run",
            "bluegreen release status",
        ] {
            assert!(ci.contains(needle), "{needle}");
        }
        for code in [0, 1, 2, 4, 130, 143, 129] {
            assert!(
                ci.contains(&format!("case {code}:"))
                    || ci.lines().any(|l| {
                        let l = l.trim_start();
                        l.split(')').next().is_some_and(|alts| {
                            !alts.contains(' ') && alts.split('|').any(|a| a == code.to_string())
                        })
                    }),
                "exit code {code}"
            );
        }
    }
}
