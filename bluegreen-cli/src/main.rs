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
    /// Tag the listener (or rule) as managed by this application.
    Adopt,
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
            Command::Adopt => setup::adopt(&ctx).await,
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
