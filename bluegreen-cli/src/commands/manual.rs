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
