//! The verbs. Each parses its flags, wires providers, calls the core, and renders.

pub mod deploy;
pub mod inspect;
pub mod manual;
pub mod setup;

use crate::context::Wired;
use crate::{Failure, exit};
use bluegreen_core::{DeploymentId, Event, Replay, StateStore};

/// The deployment of `application` that holds its lock, or the last unfinished one.
pub async fn current_deployment(w: &Wired) -> Option<DeploymentId> {
    if let Some(holder) = w.store.lock_holder(&w.application) {
        return Some(holder);
    }
    let ids = w.store.list(&w.application).await.ok()?;
    for id in ids.into_iter().rev() {
        let record = w.store.load(&id).await.ok()?;
        if !record
            .iter()
            .any(|e| matches!(e.event, Event::Finished { .. }))
        {
            return Some(id);
        }
    }
    None
}

/// The replayed record of `id`.
pub async fn replay(w: &Wired, id: &DeploymentId) -> Result<Replay, Failure> {
    let record = w
        .store
        .load(id)
        .await
        .map_err(crate::context::provider_failure)?;
    Replay::new(&record).map_err(|e| Failure {
        code: exit::BAD_INPUT,
        message: format!("the record of {id} cannot be read: {e}"),
    })
}

/// Who is acting, for approvals and aborts.
pub fn actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
