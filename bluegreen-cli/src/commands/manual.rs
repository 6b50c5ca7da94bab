//! `rollback`: the emergency path.

use super::actor_on_host;
use crate::context::Context;
use crate::render::Renderer;
use crate::{Ended, Failure};
use bluegreen_core::{Color, EmergencyError, EmergencyRequest, Executor};
use bluegreen_store::Control;
use clap::Args;
use std::sync::Arc;
use std::time::Duration;

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
            EmergencyError::Undecided(message) => Failure::bad_input(message),
            EmergencyError::Unhealthy { .. } => Failure::refused(e.to_string()),
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
    let store = ctx.store().await?;
    let application = ctx.naming()?.application_key();
    let w = ctx.wire(false, None).await?;
    let now = w.providers().clock.now();
    let renderer = Renderer::new(ctx.output(), now);
    let lease = match store.read_lease(&application).await {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            renderer.result(
                "unlocked",
                &format!("{application} is not locked"),
                serde_json::json!({"application": application, "released": null}),
            );
            return Ok(Ended::Done);
        }
        Err(e) if a.force => {
            // Unreadable, so its holder is unknown: a deployment whose record is still being written is
            // alive, and removing its lock would let a `resume` drive it at the same time.
            if let Some((id, age)) = recent_activity(&store, &application, now).await {
                return Err(Failure::refused(format!(
                    "the lock of {application} is unreadable ({e}), but deployment {id} recorded an entry {} ago and has not finished: its run may be alive. Stop it (bluegreen abort), or wait until its record has been quiet for {}, then unlock --force",
                    humantime::format_duration(Duration::from_secs(age.as_secs())),
                    humantime::format_duration(bluegreen_core::DEFAULT_LEASE_TTL)
                )));
            }
            store.remove_lock(&application).await.map_err(|io| {
                Failure::local_io(format!(
                    "cannot remove the lock of {application}: {io} ({e})"
                ))
            })?;
            renderer.result(
                "unlocked",
                &format!("removed the unreadable lock of {application}"),
                serde_json::json!({"application": application, "released": "unreadable"}),
            );
            return Ok(Ended::Done);
        }
        Err(e) => {
            return Err(Failure::refused(format!(
                "{e}; or `bluegreen unlock --force`"
            )));
        }
    };
    let state = bluegreen_store::liveness(&lease, now);
    if state == bluegreen_store::Liveness::Live {
        return Err(Failure::refused(format!(
            "{lease}: its holder is alive; stop it (bluegreen abort) or wait for its lease to lapse"
        )));
    }
    // Take the lapsed lease over, then release it: atomic with respect to a holder renewing at this moment.
    let owner = bluegreen_core::LockOwner {
        deployment: lease.owner.deployment.clone(),
        run: format!(
            "unlock:{}:{}",
            bluegreen_store::host_name(),
            std::process::id()
        ),
        host: format!("{}:{}", bluegreen_store::host_name(), std::process::id()),
    };
    let taken = bluegreen_core::StateStore::lock(
        &store,
        &application,
        &owner,
        now,
        std::time::Duration::from_secs(60),
    )
    .await
    .map_err(|e| Failure::refused(e.to_string()))?;
    bluegreen_core::StateStore::unlock(&store, &taken)
        .await
        .map_err(crate::context::provider_failure)?;
    renderer.result(
        "unlocked",
        &format!(
            "released the lock of {application} held by {} ({}); if that deployment did not finish, resume it or resume --rollback",
            lease.owner,
            match state {
                bluegreen_store::Liveness::Dead => "its process is gone",
                _ => "its lease lapsed",
            }
        ),
        serde_json::json!({"application": application, "released": lease}),
    );
    Ok(Ended::Done)
}

/// The unfinished deployment of `application` whose record has an entry younger than a lease, and how old
/// that entry is: a run that may still be alive (a live run records a poll every few seconds).
async fn recent_activity(
    store: &bluegreen::Store,
    application: &str,
    now: bluegreen_core::Timestamp,
) -> Option<(bluegreen_core::DeploymentId, Duration)> {
    use bluegreen_core::StateStore;
    let ids = store.list(application).await.ok()?;
    for id in ids.iter().rev().take(3) {
        let Ok(record) = store.load(id).await else {
            continue;
        };
        let Some(last) = record.last() else { continue };
        let finished = matches!(last.event, bluegreen_core::Event::Finished { .. });
        let age = now.since(last.at);
        if !finished && age < bluegreen_core::DEFAULT_LEASE_TTL {
            return Some((id.clone(), age));
        }
    }
    None
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
