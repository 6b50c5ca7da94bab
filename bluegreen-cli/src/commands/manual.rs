//! `rollback`: the emergency path.

use super::actor_on_host;
use crate::context::Context;
use crate::render::Renderer;
use crate::{Ended, Failure};
use bluegreen_core::{Color, EmergencyError, EmergencyRequest, Executor};
use bluegreen_store::Control;
use clap::Args;
use std::sync::Arc;

/// `rollback`.
#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The color to send all traffic to (default: the stable color of the last deployment).
    #[arg(long)]
    pub to: Option<Color>,
    /// Send traffic there even if it has no healthy targets.
    #[arg(long)]
    pub force: bool,
}

/// 100 % to the stable color now, verified. The core decides the color (from a readable record, else from
/// the world) and refuses rather than guess; this tells a running deployment to stop and renders.
pub async fn rollback(ctx: &Context, a: RollbackArgs) -> Result<Ended, Failure> {
    // A signal must not stop the emergency rollback half-way (a write that reached some routes and not
    // others, no result line): SIGINT, SIGTERM and SIGHUP are noted, and the rollback finishes (kill -9
    // still stops it). Installed before anything is read or written.
    let _signals = FinishFirst::install();
    let w = ctx.wire(true, None).await?;
    let renderer = Renderer::new(ctx.output(), w.providers().clock.now()).quiet(ctx.global.quiet);
    let exec = Executor::new(w.providers().clone()).with_observer(Arc::new(renderer.clone()));
    let request = EmergencyRequest {
        to: a.to,
        force: a.force,
    };
    let decision = exec
        .decide_rollback(&w.application(), request)
        .await
        .map_err(|e| match e {
            EmergencyError::Undecided(why) => {
                Failure::bad_input(format!("{why}; pass --to blue|green"))
            }
            EmergencyError::Unhealthy { .. } => {
                Failure::refused(format!("{e}; pass --force to do it anyway"))
            }
            EmergencyError::Exec(e) => {
                Failure::provider(format!("rollback failed before writing: {e}"))
            }
            other => Failure::provider(other.to_string()),
        })?;
    renderer.progress(&format!(
        "rolling back to {} ({})",
        decision.to.color, decision.to.basis
    ));
    if let Some(id) = &decision.running {
        // Best effort: the rollback goes on; a deployment that does not hear it is overruled by the split.
        let by = actor_on_host("emergency rollback");
        let _ = w.store().send(id, &Control::Abort { by }).await;
        renderer.progress(&format!("asked deployment {id} to stop"));
    }
    let split = exec
        .emergency_rollback(&decision)
        .await
        .map_err(|e| Failure::provider(format!("rollback failed: {e}")))?;
    renderer.result(
        "rolled-back",
        &format!("rolled back: {split} (verified)"),
        serde_json::json!({"split": split, "to": decision.to.color, "basis": decision.to.basis, "from": decision.split}),
    );
    Ok(Ended::Done)
}

/// `unlock`.
#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Remove a lock file that cannot be read (e.g. written by an older version). Only when no deployment
    /// of the application runs anywhere.
    #[arg(long)]
    pub force: bool,
}

/// Releases the application's lock when its holder is gone: refused (exit 4) while the holder lives.
/// Traffic is not touched; an unfinished deployment stays unfinished (resume it, or resume --rollback).
pub async fn unlock(ctx: &Context, a: UnlockArgs) -> Result<Ended, Failure> {
    let application = ctx.naming()?.application_key();
    let w = ctx.wire(false, None).await?;
    let renderer = Renderer::new(ctx.output(), w.providers().clock.now());
    // The rules are the library's (`bluegreen::unlock`); the words to type next are the command's.
    use bluegreen::{UnlockError, Unlocked};
    match w.unlock(a.force).await {
        Ok(Unlocked::NotLocked) => renderer.result(
            "unlocked",
            &format!("{application} is not locked"),
            serde_json::json!({"application": application, "released": null}),
        ),
        Ok(Unlocked::RemovedUnreadable) => renderer.result(
            "unlocked",
            &format!("removed the unreadable lock of {application}"),
            serde_json::json!({"application": application, "released": "unreadable"}),
        ),
        Ok(Unlocked::Released { lease, liveness }) => renderer.result(
            "unlocked",
            &format!(
                "released the lock of {application} held by {} ({}); if that deployment did not finish, resume it or resume --rollback",
                lease.owner,
                match liveness {
                    bluegreen_store::Liveness::Dead => "its process is gone",
                    _ => "its lease lapsed",
                }
            ),
            serde_json::json!({"application": application, "released": lease}),
        ),
        Ok(other) => renderer.result(
            "unlocked",
            &format!("{other:?}"),
            serde_json::json!({"application": application}),
        ),
        Err(e @ UnlockError::MayBeAlive { quiet, .. }) => {
            return Err(Failure::refused(format!(
                "{e}. Stop it (bluegreen abort), or wait until its record has been quiet for {}, then unlock --force",
                humantime::format_duration(quiet)
            )));
        }
        Err(e @ UnlockError::Live { .. }) => {
            return Err(Failure::refused(format!(
                "{e}; stop it (bluegreen abort) or wait for its lease to lapse"
            )));
        }
        Err(e @ UnlockError::Unreadable { .. }) => {
            return Err(Failure::refused(format!(
                "{e}; or `bluegreen unlock --force`"
            )));
        }
        Err(e @ UnlockError::TakeOver(_)) => return Err(Failure::refused(e)),
        Err(e @ UnlockError::Remove { .. }) => return Err(Failure::local_io(e)),
        Err(UnlockError::Release(source)) => {
            return Err(crate::context::provider_failure(source));
        }
        Err(e) => return Err(Failure::refused(e)),
    }
    Ok(Ended::Done)
}

/// Signal handlers that let the emergency rollback finish: each signal is told on stderr, none stops it.
struct FinishFirst(Option<tokio::task::JoinHandle<()>>);

impl FinishFirst {
    fn install() -> FinishFirst {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return FinishFirst(None);
        };
        FinishFirst(Some(tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = int.recv() => "interrupted",
                    _ = term.recv() => "terminated (SIGTERM)",
                    _ = hup.recv() => "hung up (SIGHUP)",
                };
                eprintln!(
                    "{name}: the emergency rollback finishes first (stopping half-way could leave routes apart)"
                );
            }
        })))
    }
}

impl Drop for FinishFirst {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}
