//! `rollback`: the emergency path.

use super::{actor, current_deployment, replay};
use crate::context::Context;
use crate::render::Renderer;
use crate::state::Control;
use crate::{Failure, exit};
use bluegreen_core::{Color, Executor, TrafficSplit};
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

/// 100 % to the stable color now, verified. Works without a record, or with a damaged one; tells a running
/// deployment to stop.
pub async fn rollback(ctx: &Context, a: RollbackArgs) -> Result<u8, Failure> {
    let w = ctx.wire(true, None).await?;
    let renderer = Renderer::new(ctx.output(), w.providers.clock.now()).quiet(ctx.global.quiet);
    let running = current_deployment(&w).await;
    // The last deployment whose record can be read says which color is good; a damaged record is skipped.
    let ids = bluegreen_core::StateStore::list(&w.store, &w.application)
        .await
        .unwrap_or_default();
    let mut last = None;
    for id in running.iter().chain(ids.iter().rev()) {
        if let Ok(r) = replay(&w, id).await {
            last = Some(r.fallback_color());
            break;
        }
    }
    let to = match (a.to, last) {
        (Some(c), _) => c,
        (None, Some(c)) => c,
        (None, None) => {
            let split = w
                .providers
                .router
                .read_split()
                .await
                .map_err(crate::context::provider_failure)?;
            match (split.weight(Color::Blue), split.weight(Color::Green)) {
                (b, g) if b > g => Color::Blue,
                (b, g) if g > b => Color::Green,
                _ => {
                    return Err(Failure::bad_input(format!(
                        "no deployment record says which color is stable and the split is {split}: pass --to blue|green"
                    )));
                }
            }
        }
    };
    if !a.force {
        let health = w
            .providers
            .health
            .target_health(to)
            .await
            .map_err(crate::context::provider_failure)?;
        if health.healthy == 0 {
            return Err(Failure {
                code: exit::REFUSED,
                message: format!(
                    "{to} has no healthy targets ({} unhealthy, {} other): sending all traffic there would be an outage; pass --force to do it anyway",
                    health.unhealthy, health.other
                ),
            });
        }
    }
    if let Some(id) = &running {
        let _ = w.store.send(id, &Control::Abort { by: actor() });
        renderer.progress(&format!("asked deployment {id} to stop"));
    }
    let exec = Executor::new(w.providers.clone()).with_observer(Arc::new(renderer.clone()));
    let split = exec
        .set_split(TrafficSplit::all_to(to))
        .await
        .map_err(|e| Failure {
            code: exit::PROVIDER,
            message: format!("rollback failed: {e}"),
        })?;
    renderer.result(
        "rolled-back",
        &format!("rolled back: {split} (verified)"),
        serde_json::json!({"split": split, "to": to}),
    );
    Ok(exit::OK)
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
pub async fn unlock(ctx: &Context, a: UnlockArgs) -> Result<u8, Failure> {
    let store = ctx.store()?;
    let application = ctx.naming()?.application_key();
    let w = ctx.wire(false, None).await?;
    let now = w.providers.clock.now();
    let renderer = Renderer::new(ctx.output(), now);
    let lease = match store.read_lease(&application) {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            renderer.result(
                "unlocked",
                &format!("{application} is not locked"),
                serde_json::json!({"application": application, "released": null}),
            );
            return Ok(exit::OK);
        }
        Err(e) if a.force => {
            store.remove_lock_file(&application).map_err(|io| Failure {
                code: exit::PROVIDER,
                message: format!("cannot remove the lock of {application}: {io} ({e})"),
            })?;
            renderer.result(
                "unlocked",
                &format!("removed the unreadable lock of {application}"),
                serde_json::json!({"application": application, "released": "unreadable"}),
            );
            return Ok(exit::OK);
        }
        Err(e) => {
            return Err(Failure {
                code: exit::REFUSED,
                message: format!("{e}; or `bluegreen unlock --force`"),
            });
        }
    };
    let state = crate::state::liveness(&lease, now);
    if state == crate::state::Liveness::Live {
        return Err(Failure {
            code: exit::REFUSED,
            message: format!(
                "{lease}: its holder is alive; stop it (bluegreen abort) or wait for its lease to lapse"
            ),
        });
    }
    // Take the lapsed lease over, then release it: atomic with respect to a holder renewing at this moment.
    let owner = bluegreen_core::LockOwner {
        deployment: lease.owner.deployment.clone(),
        run: format!(
            "unlock:{}:{}",
            crate::state::host_name(),
            std::process::id()
        ),
        host: format!("{}:{}", crate::state::host_name(), std::process::id()),
    };
    let taken = bluegreen_core::StateStore::lock(
        &store,
        &application,
        &owner,
        now,
        std::time::Duration::from_secs(60),
    )
    .await
    .map_err(|e| Failure {
        code: exit::REFUSED,
        message: e.to_string(),
    })?;
    bluegreen_core::StateStore::unlock(&store, &taken)
        .await
        .map_err(crate::context::provider_failure)?;
    renderer.result(
        "unlocked",
        &format!(
            "released the lock of {application} held by {} ({}); if that deployment did not finish, resume it or resume --rollback",
            lease.owner,
            match state {
                crate::state::Liveness::Dead => "its process is gone",
                _ => "its lease lapsed",
            }
        ),
        serde_json::json!({"application": application, "released": lease}),
    );
    Ok(exit::OK)
}
