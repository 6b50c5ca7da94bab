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
}

/// 100 % to the stable color now, verified. Works without a record, or with a damaged one; tells a running
/// deployment to stop.
pub async fn rollback(ctx: &Context, a: RollbackArgs) -> Result<u8, Failure> {
    let w = ctx.wire(true, None).await?;
    let renderer = Renderer::new(ctx.output(), w.providers.clock.now()).quiet(ctx.global.quiet);
    let running = current_deployment(&w).await;
    let recorded = match &running {
        Some(id) => replay(&w, id).await.ok().map(|r| r.stable),
        None => None,
    };
    let last = match recorded {
        Some(c) => Some(c),
        None => {
            let ids = bluegreen_core::StateStore::list(&w.store, &w.application)
                .await
                .unwrap_or_default();
            match ids.last() {
                Some(id) => replay(&w, id).await.ok().map(|r| r.stable),
                None => None,
            }
        }
    };
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
