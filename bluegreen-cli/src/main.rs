//! The `bluegreen` command. It parses, wires and renders; the deployment logic lives in `bluegreen-core`.

mod render;
mod simulate;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Exit codes, decided here and only here.
mod exit {
    /// Done: promoted (or nothing to do).
    pub const OK: u8 = 0;
    /// A gate (or approval) rolled the deployment back.
    pub const ROLLED_BACK: u8 = 1;
    /// Bad input or configuration; nothing was changed.
    pub const BAD_INPUT: u8 = 2;
    /// A provider failed, or the deployment was aborted and needs a person.
    pub const PROVIDER: u8 = 3;
    /// Refused: the lock is held, or the resource is not owned.
    pub const REFUSED: u8 = 4;
}

/// Blue-green and canary deployments on AWS Application Load Balancers.
#[derive(Parser, Debug)]
#[command(name = "bluegreen", version, about, propagate_version = true)]
struct Cli {
    /// Output format: `human` (progress on stderr, results on stdout) or `json` (JSON Lines on stdout).
    #[arg(long, global = true, value_enum, default_value_t = Output::Human, env = "BLUEGREEN_OUTPUT")]
    output: Output,
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
    /// Run a whole deployment against a simulated world on virtual time and print its timeline.
    /// Needs no AWS account; a 15-minute strategy takes milliseconds.
    Simulate(simulate::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Simulate(args) => simulate::run(args, cli.output),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            render::error(cli.output, &failure.message);
            ExitCode::from(failure.code)
        }
    }
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
        E::Locked { .. } => exit::REFUSED,
        E::Provider { .. } => exit::PROVIDER,
        _ => exit::BAD_INPUT,
    }
}
