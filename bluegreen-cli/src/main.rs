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
    /// Approve a canary waiting for approval.
    Promote(IdArgs),
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

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::from(exit::OK);
            }
            // One line: clap's first line, without the usage block.
            let text = e.to_string();
            let line = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
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
            render::error(output, line.trim_start_matches("error: "));
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let output = cli.global.output;
    let result = run(cli);
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            render::error(output, &failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Failure> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "bluegreen",
            &mut std::io::stdout(),
        );
        return Ok(exit::OK);
    }
    if let Command::Man = cli.command {
        return clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map(|()| exit::OK)
            .map_err(|e| Failure {
                code: exit::PROVIDER,
                message: e.to_string(),
            });
    }
    if let Command::Simulate(args) = cli.command {
        return simulate::run(args, cli.global.output);
    }
    let ctx = Context::load(cli.global)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: exit::PROVIDER,
            message: format!("cannot start the runtime: {e}"),
        })?;
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
                    a.id,
                    state::Control::Approve {
                        by: a.by.unwrap_or_else(commands::actor),
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
            Command::Completions { .. } | Command::Simulate(_) | Command::Man => Ok(exit::OK),
        }
    })
}

/// A command that could not do its job: a one-line message and an exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// One line.
    pub message: String,
}

impl Failure {
    /// Bad input: exit 2.
    pub fn bad_input(message: impl std::fmt::Display) -> Self {
        Failure {
            code: exit::BAD_INPUT,
            message: message.to_string(),
        }
    }
}

/// The exit code of a finished deployment.
pub fn outcome_code(outcome: &bluegreen_core::Outcome) -> u8 {
    match outcome {
        bluegreen_core::Outcome::Promoted { .. } => exit::OK,
        bluegreen_core::Outcome::RolledBack { .. } => exit::ROLLED_BACK,
        bluegreen_core::Outcome::Aborted { .. } => exit::PROVIDER,
    }
}

/// The exit code of an executor error.
pub fn exec_error_code(e: &bluegreen_core::ExecError) -> u8 {
    use bluegreen_core::ExecError as E;
    match e {
        E::Locked { .. } | E::Unfinished(_) => exit::REFUSED,
        E::Provider { .. } => exit::PROVIDER,
        _ => exit::BAD_INPUT,
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

    /// The error line the program prints for arguments that do not parse (as `main` does).
    fn first_line(e: &clap::Error) -> String {
        e.to_string()
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid arguments")
            .to_string()
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
                    let line = first_line(&e);
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
                Err(e) => prop_assert!(!e.contains('\n'), "{e}"),
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
