//! The `bluegreen` command. It parses, wires and renders; the deployment logic lives in `bluegreen-core`.

mod commands;
mod config;
mod context;
mod hooks;
mod html;
mod render;
mod sim;
mod simulate;
mod state;
mod webhook;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use commands::{deploy, inspect, manual, setup};
use context::{Context, Global};
use std::process::ExitCode;

/// Exit codes, decided here and only here.
mod exit {
    /// Done: promoted (or nothing to do).
    pub const OK: u8 = 0;
    /// A gate (or approval, or a pre-traffic hook) stopped the deployment; traffic is on the stable color.
    pub const ROLLED_BACK: u8 = 1;
    /// Bad input or configuration; nothing was changed.
    pub const BAD_INPUT: u8 = 2;
    /// A provider failed, or the deployment was aborted and needs a person.
    pub const PROVIDER: u8 = 3;
    /// Refused: the lock is held, or the resource is not owned.
    pub const REFUSED: u8 = 4;
    /// Interrupted (Ctrl-C); the deployment stopped at a safe point.
    pub const INTERRUPTED: u8 = 130;
    /// Terminated (SIGTERM): stopped at a safe point and rolled back (or left the split, per on_cancel).
    pub const TERMINATED: u8 = 143;
    /// Hung up (SIGHUP): the same, for a terminal that went away.
    pub const HUNG_UP: u8 = 129;
    /// A local file (a report, `init`'s template, the state directory) could not be written.
    pub const LOCAL_IO: u8 = 5;

    /// Every exit code, for the documentation test.
    #[cfg(test)]
    pub const ALL: [u8; 9] = [
        OK,
        ROLLED_BACK,
        BAD_INPUT,
        PROVIDER,
        REFUSED,
        INTERRUPTED,
        TERMINATED,
        HUNG_UP,
        LOCAL_IO,
    ];
}

/// Blue-green and canary deployments on AWS Application Load Balancers.
#[derive(Parser, Debug)]
#[command(name = "bluegreen", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines for people.
    Human,
    /// JSON Lines for machines.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The split, target health and capacity per color, alarms, and the deployment in progress.
    Status(inspect::StatusArgs),
    /// Deploy: pre-flight, hooks, traffic per strategy with gates, validation, cleanup of the old color.
    Deploy(deploy::DeployArgs),
    /// Send a share of traffic to a color, gated and verified (the guide's traffic manager).
    Shift(deploy::ShiftArgs),
    /// Emergency: all traffic to the stable color now, verified. Works without a deployment record.
    Rollback(manual::RollbackArgs),
    /// Approve a canary waiting for approval (or, with --pre-approve, one that will wait).
    Promote(PromoteArgs),
    /// Stop a running deployment and roll it back.
    Abort(IdArgs),
    /// Pick up a deployment whose process died.
    Resume(deploy::ResumeArgs),
    /// Release the application's lock when its holder is gone (refused while it lives).
    Unlock(manual::UnlockArgs),
    /// The schedule, the gates and the exact changes a deployment would make; changes nothing.
    Plan(deploy::StrategyArgs),
    /// Past deployments.
    History,
    /// One deployment's every step and gate verdict with the measured values.
    Report(inspect::ReportArgs),
    /// Write a commented bluegreen.toml.
    Init(setup::InitArgs),
    /// Tag the listener (or rule) as managed by this application (refused if another owns it, unless --force).
    Adopt(setup::AdoptArgs),
    /// Print the least-privilege IAM policy.
    IamPolicy(setup::IamArgs),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `bluegreen man > bluegreen.1`.
    Man,
    /// Run a whole deployment against a simulated world on virtual time and print its timeline.
    /// Needs no AWS account; a 15-minute strategy takes milliseconds.
    Simulate(simulate::Args),
}

/// A deployment id, defaulting to the one in progress, and who acts.
#[derive(clap::Args, Debug)]
struct IdArgs {
    /// The deployment (default: the one in progress).
    #[arg(long)]
    id: Option<String>,
    /// Who approves or aborts, recorded (default: BLUEGREEN_ACTOR, the CI's user, or the OS user).
    #[arg(long)]
    by: Option<String>,
}

/// `promote`: the deployment and who approves.
#[derive(clap::Args, Debug)]
struct PromoteArgs {
    #[command(flatten)]
    target: IdArgs,
    /// Approve the deployment's next approval step before it is reached (recorded as pre-approved); without
    /// it, a deployment that is not waiting for an approval refuses the request.
    #[arg(long)]
    pre_approve: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::from(exit::OK);
            }
            let line = error_line(&e);
            // The arguments did not parse, so look for the output format by hand.
            // (`args_os`: an argument that is not UTF-8 is a bad argument, not a panic.)
            let args: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let json = args
                .windows(2)
                .any(|w| w[0] == "--output" && w[1] == "json")
                || args.iter().any(|a| a == "--output=json")
                || (std::env::var("BLUEGREEN_OUTPUT").as_deref() == Ok("json")
                    && !args.iter().any(|a| a.starts_with("--output")));
            let output = if json { Output::Json } else { Output::Human };
            render::error(output, &line);
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let output = cli.global.output;
    let result = run(cli);
    if let Err(failure) = &result {
        render::error(output, &failure.to_string());
    }
    ExitCode::from(exit_code(&result))
}

/// A parse error as one line: clap's first line without `error: `, with the names it lists on the following
/// lines (e.g. the missing required arguments) joined to it, and without the usage block.
fn error_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim()
        .trim_start_matches("error: ")
        .to_string();
    if !first.ends_with(':') {
        return first;
    }
    let listed: Vec<&str> = lines
        .take_while(|l| l.starts_with(' ') || l.starts_with('\t'))
        .map(str::trim)
        .collect();
    format!("{} {}", first, listed.join(", "))
}

fn run(cli: Cli) -> Result<Ended, Failure> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "bluegreen",
            &mut std::io::stdout(),
        );
        return Ok(Ended::Done);
    }
    if let Command::Man = cli.command {
        return clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map(|()| Ended::Done)
            .map_err(|e| Failure::local_io(format!("cannot write the man page: {e}")));
    }
    if let Command::Simulate(args) = cli.command {
        return simulate::run(args, cli.global.output);
    }
    let ctx = Context::load(cli.global)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::provider(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        match cli.command {
            Command::Status(a) => inspect::status(&ctx, a).await,
            Command::Deploy(a) => deploy::deploy(&ctx, a).await,
            Command::Shift(a) => deploy::shift(&ctx, a).await,
            Command::Rollback(a) => manual::rollback(&ctx, a).await,
            Command::Unlock(a) => manual::unlock(&ctx, a).await,
            Command::Promote(a) => {
                deploy::control(
                    &ctx,
                    a.target.id,
                    state::Control::Approve {
                        by: a.target.by.unwrap_or_else(commands::actor),
                        pre_approved: a.pre_approve,
                    },
                )
                .await
            }
            Command::Abort(a) => {
                deploy::control(
                    &ctx,
                    a.id,
                    state::Control::Abort {
                        by: a.by.unwrap_or_else(commands::actor),
                    },
                )
                .await
            }
            Command::Resume(a) => deploy::resume(&ctx, a).await,
            Command::Plan(a) => deploy::plan_command(&ctx, a).await,
            Command::History => inspect::history(&ctx).await,
            Command::Report(a) => inspect::report(&ctx, a).await,
            Command::Init(a) => setup::init(&ctx, a),
            Command::Adopt(a) => setup::adopt(&ctx, a).await,
            Command::IamPolicy(a) => setup::iam_policy(&ctx, a),
            Command::Completions { .. } | Command::Simulate(_) | Command::Man => Ok(Ended::Done),
        }
    })
}

/// How a command ended without failing. Its exit code is decided in [`exit_code`], here only.
#[derive(Debug)]
pub enum Ended {
    /// Did its job (a read, a write, a request sent).
    Done,
    /// A deployment (or shift, or resume) ran to an outcome.
    Deployment(bluegreen_core::Outcome),
    /// A signal stopped the deployment at a safe point; `outcome` is where it ended.
    Stopped {
        /// Which signal.
        signal: Signal,
        /// The deployment's outcome.
        outcome: bluegreen_core::Outcome,
    },
}

/// The signals a deployment stops for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (a CI job cancelled).
    Terminate,
    /// SIGHUP (the terminal went away).
    HangUp,
}

/// A command that could not do its job, by kind; each carries its one-line message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Bad input or configuration; nothing was changed.
    #[error("{0}")]
    BadInput(String),
    /// A provider (AWS, the simulated world, the state store) failed.
    #[error("{0}")]
    Provider(String),
    /// Refused: the lock is held, the resource is owned by another, an unsafe request.
    #[error("{0}")]
    Refused(String),
    /// A local file (a report, the configuration template, the state directory) could not be written.
    #[error("{0}")]
    LocalIo(String),
}

impl Failure {
    /// Bad input.
    pub fn bad_input(message: impl std::fmt::Display) -> Self {
        Failure::BadInput(message.to_string())
    }

    /// A provider failed.
    pub fn provider(message: impl std::fmt::Display) -> Self {
        Failure::Provider(message.to_string())
    }

    /// Refused.
    pub fn refused(message: impl std::fmt::Display) -> Self {
        Failure::Refused(message.to_string())
    }

    /// A local file could not be read or written.
    pub fn local_io(message: impl std::fmt::Display) -> Self {
        Failure::LocalIo(message.to_string())
    }

    /// An executor error by kind: the lock or an unfinished deployment refuses, a provider failure is a
    /// provider's, the rest (an invalid plan, a bad or duplicate id, a damaged record) is bad input.
    pub fn from_exec(e: &bluegreen_core::ExecError) -> Self {
        use bluegreen_core::ExecError as E;
        match e {
            E::Locked { .. } | E::Unfinished(_) => Failure::refused(e),
            E::Provider { .. } => Failure::provider(e),
            _ => Failure::bad_input(e),
        }
    }
}

/// The exit code of a command's result: decided here and nowhere else.
fn exit_code(result: &Result<Ended, Failure>) -> u8 {
    use bluegreen_core::Outcome;
    match result {
        Ok(Ended::Done) => exit::OK,
        Ok(Ended::Deployment(outcome)) => match outcome {
            Outcome::Promoted { .. } => exit::OK,
            Outcome::RolledBack { .. } => exit::ROLLED_BACK,
            Outcome::Aborted { .. } => exit::PROVIDER,
        },
        Ok(Ended::Stopped { signal, .. }) => match signal {
            Signal::Interrupt => exit::INTERRUPTED,
            Signal::Terminate => exit::TERMINATED,
            Signal::HangUp => exit::HUNG_UP,
        },
        Err(Failure::BadInput(_)) => exit::BAD_INPUT,
        Err(Failure::Provider(_)) => exit::PROVIDER,
        Err(Failure::Refused(_)) => exit::REFUSED,
        Err(Failure::LocalIo(_)) => exit::LOCAL_IO,
    }
}

/// Fuzzing of what a person or a CI system can type: arguments and configuration files.
#[cfg(test)]
mod fuzz {
    use super::*;
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
    const VALUES: &[&str] = &[
        "gradual",
        "canary",
        "immediate",
        "custom",
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
                    proptest::sample::select(&[
                        "mode", "no_data", "interval", "window", "min_requests", "min_minutes",
                        "publication_timeout", "max_extension", "max_5xx_rate", "relative_5xx_factor",
                        "relative_5xx_epsilon", "min_errors", "max_latency_avg", "max_latency_p99",
                        "min_healthy_hosts", "min_healthy_targets", "failures", "consecutive_failures",
                        "inconclusive",
                    ][..]),
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
            let parsed: Result<config::FileConfig, _> = toml::from_str(&text);
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
                        prop_assert!(!e.contains('\n'), "{e}");
                    }
                }
            }
        }
    }
}

/// Documentation and program agree, by test: every flag, the exit codes.
#[cfg(test)]
mod docs_agree {
    use super::*;
    use std::collections::BTreeSet;

    const CLI_MD: &str = include_str!("../../docs/cli.md");
    const README: &str = include_str!("../../README.md");

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
            let before_ok = start == 0
                || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'-');
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
        let cli = Cli::try_parse_from(["bluegreen", "deploy", "--bake", "-5m"]).expect("parses");
        let Command::Deploy(a) = cli.command else {
            panic!("deploy")
        };
        assert_eq!(a.strategy.bake.as_deref(), Some("-5m"));
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
}
