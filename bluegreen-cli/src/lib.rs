//! The `bluegreen` command as a library: its arguments ([`Cli`]), the verbs ([`run`]) and what they end
//! with ([`Ended`], [`Failure`]). It parses, wires and renders; the deployment logic lives in
//! `bluegreen-core`. The binary (`main.rs`) only turns a result into an exit code.

#![deny(missing_docs)]

pub mod commands;
pub mod config;
pub mod context;
pub mod html;
pub mod notify;
pub mod render;
pub mod simulate;

/// The advisory file locks of the state directory (from `bluegreen-store`).
pub use bluegreen_store::flock;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use commands::{control, deploy, inspect, manual, setup};
use context::{Context, Global};

/// Blue-green and canary deployments on AWS Application Load Balancers.
#[derive(Parser, Debug)]
#[command(name = "bluegreen", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// The output format asked for (errors are rendered in it too).
    pub fn output(&self) -> Output {
        self.global.output
    }

    /// The verb asked for, with its arguments.
    pub fn verb(&self) -> &Command {
        &self.command
    }
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines for people.
    Human,
    /// JSON Lines for machines.
    Json,
}

/// The verbs.
#[derive(Subcommand, Debug)]
pub enum Command {
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
    /// Judge the new color after its switch (`[deploy] watch`), rolling back while armed: `--once` from a
    /// schedule, or to the end.
    Watch(deploy::WatchArgs),
    /// Release the application's lock when its holder is gone (refused while it lives).
    Unlock(manual::UnlockArgs),
    /// The schedule, the gates and the exact changes a deployment would make; changes nothing.
    Plan(deploy::StrategyArgs),
    /// Past deployments.
    History,
    /// One deployment's every step and gate verdict with the measured values.
    Report(inspect::ReportArgs),
    /// A recorded deployment's minutes judged again under other gates: what they would have decided, and
    /// when (its own gates reproduce its verdicts).
    Judge(commands::judge::JudgeArgs),
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
    /// One version through many targets (environments, applications, regions) in waves, halted and rolled
    /// back as one: `release run|plan|status|abort FILE`.
    Release(commands::release::ReleaseArgs),
    /// Run a whole deployment against a simulated world on virtual time and print its timeline.
    /// Needs no AWS account; a 15-minute strategy takes milliseconds.
    Simulate(simulate::Args),
}

/// A deployment id, defaulting to the one in progress, and who acts.
#[derive(clap::Args, Debug)]
pub struct IdArgs {
    /// The deployment (default: the one in progress).
    #[arg(long)]
    id: Option<String>,
    /// Who approves or aborts, recorded (default: BLUEGREEN_ACTOR, the CI's user, or the OS user): one line
    /// of at most 128 characters.
    #[arg(long)]
    by: Option<String>,
}

/// `--by`, checked ([`actor_name`]), else who runs the command. The bad value is shown escaped: a newline in
/// it must not reach the log as a line of its own.
pub(crate) fn by_or_actor(by: Option<String>) -> Result<String, Failure> {
    match by {
        None => Ok(commands::actor()),
        Some(text) => actor_name(&text)
            .map_err(|why| Failure::bad_input(format!("--by \"{}\": {why}", text.escape_debug()))),
    }
}

/// The longest `--by` accepted: a name, not a message.
pub const MAX_ACTOR_CHARS: usize = 128;

/// A `--by` value: one line of printable text, at most [`MAX_ACTOR_CHARS`] characters. A newline would let a
/// name forge lines in a CI log (`result: promoted`), so it is refused, not cleaned.
pub fn actor_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err("empty: name who acts".into());
    }
    if name.chars().any(char::is_control) {
        return Err("holds a newline or another control character: one line only".into());
    }
    if name.chars().count() > MAX_ACTOR_CHARS {
        return Err(format!(
            "{} characters: at most {MAX_ACTOR_CHARS}",
            name.chars().count()
        ));
    }
    Ok(name.to_string())
}

/// `promote`: the deployment and who approves.
#[derive(clap::Args, Debug)]
pub struct PromoteArgs {
    #[command(flatten)]
    target: IdArgs,
    /// Approve the deployment's next approval step before it is reached (recorded as pre-approved); without
    /// it, a deployment that is not waiting for an approval refuses the request.
    #[arg(long)]
    pre_approve: bool,
}

/// A parse error as one line: clap's first line without `error: `, with the names it lists on the following
/// lines (e.g. the missing required arguments) joined to it, and without the usage block.
pub fn error_line(e: &clap::Error) -> String {
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

/// Runs the command `cli` asks for.
pub fn run(cli: Cli) -> Result<Ended, Failure> {
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
            Command::Release(a) => commands::release::release(&ctx, a).await,
            Command::Judge(a) => commands::judge::judge(&ctx, a).await,
            Command::Rollback(a) => manual::rollback(&ctx, a).await,
            Command::Unlock(a) => manual::unlock(&ctx, a).await,
            Command::Promote(a) => {
                control::control(
                    &ctx,
                    a.target.id,
                    bluegreen_store::Control::Approve {
                        by: by_or_actor(a.target.by)?,
                        pre_approved: a.pre_approve,
                    },
                )
                .await
            }
            Command::Abort(a) => {
                control::control(
                    &ctx,
                    a.id,
                    bluegreen_store::Control::Abort {
                        by: by_or_actor(a.by)?,
                    },
                )
                .await
            }
            Command::Resume(a) => deploy::resume(&ctx, a).await,
            Command::Watch(a) => deploy::watch(&ctx, a).await,
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
    /// A release ran: whether every target is on the new version, and the signal that stopped it, if one
    /// did.
    Release {
        /// Every target on the new version.
        complete: bool,
        /// The signal that halted it.
        signal: Option<Signal>,
    },
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
    /// Every kind, as [`Failure::kind`] names it in JSON errors.
    pub const KINDS: &[&str] = &["bad-input", "provider", "refused", "local-io"];

    /// The kind, as JSON errors name it: `bad-input`, `provider`, `refused` or `local-io`.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::BadInput(_) => "bad-input",
            Failure::Provider(_) => "provider",
            Failure::Refused(_) => "refused",
            Failure::LocalIo(_) => "local-io",
        }
    }

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
            E::Unfinished(_) => Failure::refused(format!(
                "{e}; if it is watching its new color (`bluegreen status`), `bluegreen promote` ends the watch, \
                 or `deploy --end-watch` ends it first"
            )),
            E::Locked { .. } | E::Marked { .. } => Failure::refused(e),
            E::Provider { .. } => Failure::provider(e),
            _ => Failure::bad_input(e),
        }
    }
}
