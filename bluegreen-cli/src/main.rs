//! The `bluegreen` binary: runs [`bluegreen_cli::run`] and decides the exit code, here and only here.

#[cfg(test)]
use bluegreen_cli::config;
use bluegreen_cli::{Cli, Ended, Failure, Output, Signal, error_line, render, run};
#[cfg(test)]
use clap::CommandFactory;
use clap::Parser;
use std::process::ExitCode;

/// Exit codes, decided here and only here.
mod exit {
    /// Done: promoted (or nothing to do), or watching the new color with the rollback armed.
    pub const OK: u8 = 0;
    /// A gate (or approval, or a pre-traffic hook) stopped the deployment; traffic is on the stable color.
    pub const ROLLED_BACK: u8 = 1;
    /// Bad input or configuration; nothing was changed.
    pub const BAD_INPUT: u8 = 2;
    /// A provider failed (before a change; or after one, rolled back to the stable color without a verdict on
    /// the release), or the deployment was aborted and needs a person.
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
    /// The listener (or the stable color's capacity) was changed outside the deployment while it ran: the
    /// run stopped without writing again, traffic is left as found, a person decides.
    pub const CHANGED_OUTSIDE: u8 = 6;

    /// Every exit code, for the documentation test.
    #[cfg(test)]
    pub const ALL: [u8; 10] = [
        OK,
        ROLLED_BACK,
        BAD_INPUT,
        PROVIDER,
        REFUSED,
        INTERRUPTED,
        TERMINATED,
        HUNG_UP,
        LOCAL_IO,
        CHANGED_OUTSIDE,
    ];
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
            render::error(output, "bad-input", exit::BAD_INPUT, &line);
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let output = cli.output();
    let result = run(cli);
    let code = exit_code(&result);
    if let Err(failure) = &result {
        render::error(output, failure.kind(), code, &failure.to_string());
    }
    ExitCode::from(code)
}

/// The exit code of a command's result: decided here and nowhere else.
fn exit_code(result: &Result<Ended, Failure>) -> u8 {
    use bluegreen_core::Outcome;
    match result {
        Ok(Ended::Done) => exit::OK,
        Ok(Ended::Deployment(outcome)) => match outcome {
            Outcome::Promoted { .. } => exit::OK,
            // All traffic on the new color, judged so far and watched on: the release did its part.
            Outcome::Watching { .. } => exit::OK,
            // Rolled back because AWS failed, not because the release was judged: not a failed release.
            Outcome::RolledBack { reason, .. } if !reason.is_verdict() => exit::PROVIDER,
            Outcome::RolledBack { .. } => exit::ROLLED_BACK,
            Outcome::Aborted { .. } => exit::PROVIDER,
            Outcome::Interrupted { .. } => exit::CHANGED_OUTSIDE,
        },
        // A release that did not complete stopped at a failure (a rollback, a refusal, an alarm, an abort).
        Ok(Ended::Release {
            signal: None,
            complete,
        }) => {
            if *complete {
                exit::OK
            } else {
                exit::ROLLED_BACK
            }
        }
        Ok(
            Ended::Stopped { signal, .. }
            | Ended::Release {
                signal: Some(signal),
                ..
            },
        ) => match signal {
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

#[cfg(test)]
mod tests;
