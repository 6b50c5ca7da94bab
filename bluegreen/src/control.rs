//! Requests to a running deployment from outside it (approve, pre-approve, reject, abort) and the release of
//! a lock whose holder is gone: the rules, in one place for the command and any program embedding the library.
//! Each answer is data; the words a person reads (and the command to type next) are the caller's.

use crate::store::Store;
use bluegreen_core::{
    ControlAsk, ControlRefusal, DEFAULT_LEASE_TTL, DeploymentId, Event, Lease, LockOwner,
    ProviderError, Replay, StateStore, Timestamp,
};
use bluegreen_store::{Control, Liveness};
use std::time::Duration;

/// Why a request was not sent. Nothing was left for the deployment in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The lock could not be read, so whether a deployment is in progress is unknown.
    #[error(
        "the state store cannot be read ({source}): nothing was sent; whether a deployment of {application} is in progress is unknown"
    )]
    StoreUnreadable {
        /// The application.
        application: String,
        /// Why.
        source: ProviderError,
    },
    /// No deployment id was given and none holds the lock.
    #[error("no deployment of {application} is in progress")]
    NoneInProgress {
        /// The application.
        application: String,
    },
    /// The deployment named has no record.
    #[error("no deployment {id} of {application}")]
    NoSuchDeployment {
        /// The deployment.
        id: DeploymentId,
        /// The application.
        application: String,
    },
    /// The deployment's record could not be read.
    #[error("the record of deployment {id} cannot be read: {source}")]
    Unreadable {
        /// The deployment.
        id: DeploymentId,
        /// Why.
        source: ProviderError,
    },
    /// The deployment's record does not replay.
    #[error("the record of deployment {id} is damaged: {reason}")]
    Damaged {
        /// The deployment.
        id: DeploymentId,
        /// Why.
        reason: String,
    },
    /// The deployment does not accept the request now.
    #[error(transparent)]
    Refused(#[from] ControlRefusal),
    /// The request could not be left in the store.
    #[error("cannot reach deployment {id}: {source}")]
    Unreachable {
        /// The deployment.
        id: DeploymentId,
        /// Why.
        source: ProviderError,
    },
}

/// What a request asks, in the core's terms.
pub fn ask_of(request: &Control) -> ControlAsk {
    match request {
        Control::Approve {
            pre_approved: true, ..
        } => ControlAsk::PreApprove,
        Control::Approve { .. } => ControlAsk::Approve,
        Control::Reject { .. } => ControlAsk::Reject,
        Control::Abort { .. } => ControlAsk::Abort,
    }
}

/// The deployment of `application` that holds its lock, or else the newest one that never finished (a run
/// that died, or a watch between two runs): the one a person's request is meant for. A record that does not
/// parse counts as unfinished.
pub async fn current_deployment(
    store: &Store,
    application: &str,
) -> Result<Option<DeploymentId>, ProviderError> {
    if let Some(holder) = store.lock_holder(application).await? {
        return Ok(Some(holder));
    }
    let ids = StateStore::list(store, application).await?;
    for id in ids.into_iter().rev() {
        let record = match StateStore::load(store, &id).await {
            Ok(record) => record,
            Err(ProviderError::Invalid { .. }) => return Ok(Some(id)),
            Err(e) => return Err(e),
        };
        if !record
            .iter()
            .any(|e| matches!(e.event, bluegreen_core::Event::Finished { .. }))
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Sends `request` to deployment `id` of `application` (default: [`current_deployment`]) once its record
/// says it accepts it now ([`Replay::accepts`]); returns the deployment it was sent to.
pub async fn send_control(
    store: &Store,
    application: &str,
    id: Option<DeploymentId>,
    request: &Control,
) -> Result<DeploymentId, ControlError> {
    let id = match id {
        Some(id) => id,
        None => current_deployment(store, application)
            .await
            .map_err(|source| ControlError::StoreUnreadable {
                application: application.to_string(),
                source,
            })?
            .ok_or_else(|| ControlError::NoneInProgress {
                application: application.to_string(),
            })?,
    };
    // A request must be meant for what the deployment is doing now: nothing is left behind for later.
    let record = match StateStore::load(store, &id).await {
        Ok(r) => r,
        Err(ProviderError::NotFound { .. }) => {
            return Err(ControlError::NoSuchDeployment {
                id,
                application: application.to_string(),
            });
        }
        Err(source) => return Err(ControlError::Unreadable { id, source }),
    };
    let replay = Replay::new(&record).map_err(|e| ControlError::Damaged {
        id: id.clone(),
        reason: e.to_string(),
    })?;
    let aborting = match ask_of(request) {
        ControlAsk::Abort => None,
        _ => match store.received(&id).await {
            Some(Control::Abort { by }) => Some(by),
            _ => None,
        },
    };
    replay.accepts(ask_of(request), aborting.as_deref())?;
    store
        .send(&id, request)
        .await
        .map_err(|source| ControlError::Unreachable {
            id: id.clone(),
            source,
        })?;
    Ok(id)
}

/// What [`unlock`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Unlocked {
    /// There was no lock.
    NotLocked,
    /// An unreadable lock was removed (`force`).
    RemovedUnreadable,
    /// The lease of a holder that is gone was taken over and released.
    Released {
        /// The lease as it was.
        lease: Lease,
        /// Whether its process is known gone ([`Liveness::Dead`]) or its lease lapsed.
        liveness: Liveness,
    },
}

/// Why a lock was not released. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlockError {
    /// The holder's lease is live.
    #[error("{lease}: its holder is alive")]
    Live {
        /// The lease.
        lease: Lease,
    },
    /// The lock cannot be read; only `force` removes it.
    #[error("{source}")]
    Unreadable {
        /// Why.
        source: ProviderError,
    },
    /// The lock cannot be read, and an unfinished deployment recorded an entry less than a lease ago: its
    /// run may be alive.
    #[error(
        "the lock of {application} is unreadable ({source}), but deployment {id} recorded an entry {} ago and has not finished: its run may be alive",
        humantime::format_duration(*age)
    )]
    MayBeAlive {
        /// The application.
        application: String,
        /// Why the lock is unreadable.
        source: ProviderError,
        /// The deployment.
        id: DeploymentId,
        /// How long ago it recorded its last entry (whole seconds).
        age: Duration,
        /// How long its record must be quiet before `force` removes the lock: a lease.
        quiet: Duration,
    },
    /// The lapsed lease could not be taken over (its holder renewed it at this moment, say).
    #[error("{0}")]
    TakeOver(ProviderError),
    /// The unreadable lock could not be removed (`force`).
    #[error("cannot remove the lock of {application}: {source}")]
    Remove {
        /// The application.
        application: String,
        /// Why.
        source: ProviderError,
    },
    /// The lease taken over could not be released.
    #[error("{0}")]
    Release(ProviderError),
}

/// Releases `application`'s lock when its holder is gone: refused while the holder's lease is live. With
/// `force`, a lock that cannot be read is removed, unless an unfinished deployment recorded an entry less
/// than a lease ago (`lease_ttl`, at least [`DEFAULT_LEASE_TTL`]). Traffic is not touched; an unfinished deployment stays unfinished.
pub async fn unlock(
    store: &Store,
    application: &str,
    now: Timestamp,
    force: bool,
    lease_ttl: Duration,
) -> Result<Unlocked, UnlockError> {
    let lease = match store.read_lease(application).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return Ok(Unlocked::NotLocked),
        Err(source) if force => {
            // Unreadable, so its holder is unknown: a deployment whose record is still being written is
            // alive, and removing its lock would let a `resume` drive it at the same time.
            // A run records a poll every few seconds; quiet for a lease (never less than the default one)
            // means none is alive.
            let quiet = lease_ttl.max(DEFAULT_LEASE_TTL);
            if let Some((id, age)) = recent_activity(store, application, now, quiet).await {
                return Err(UnlockError::MayBeAlive {
                    application: application.to_string(),
                    source,
                    id,
                    age: Duration::from_secs(age.as_secs()),
                    quiet,
                });
            }
            store
                .remove_lock(application)
                .await
                .map_err(|e| UnlockError::Remove {
                    application: application.to_string(),
                    source: ProviderError::Unavailable {
                        message: format!("{e} ({source})"),
                    },
                })?;
            return Ok(Unlocked::RemovedUnreadable);
        }
        Err(source) => return Err(UnlockError::Unreadable { source }),
    };
    let liveness = bluegreen_store::liveness(&lease, now);
    if liveness == Liveness::Live {
        return Err(UnlockError::Live { lease });
    }
    // Take the lapsed lease over, then release it: atomic with respect to a holder renewing at this moment.
    let owner = LockOwner {
        deployment: lease.owner.deployment.clone(),
        run: format!(
            "unlock:{}:{}",
            bluegreen_store::host_name(),
            std::process::id()
        ),
        host: format!("{}:{}", bluegreen_store::host_name(), std::process::id()),
    };
    let taken = StateStore::lock(store, application, &owner, now, lease_ttl)
        .await
        .map_err(UnlockError::TakeOver)?;
    StateStore::unlock(store, &taken)
        .await
        .map_err(UnlockError::Release)?;
    Ok(Unlocked::Released { lease, liveness })
}

/// The unfinished deployment of `application` whose record has an entry younger than a lease, and how old
/// that entry is: a run that may still be alive (a live run records a poll every few seconds).
async fn recent_activity(
    store: &Store,
    application: &str,
    now: Timestamp,
    quiet: Duration,
) -> Option<(DeploymentId, Duration)> {
    let ids = store.list(application).await.ok()?;
    for id in ids.iter().rev().take(3) {
        let Ok(record) = store.load(id).await else {
            continue;
        };
        let Some(last) = record.last() else { continue };
        let finished = matches!(last.event, Event::Finished { .. });
        let age = now.since(last.at);
        if !finished && age < quiet {
            return Some((id.clone(), age));
        }
    }
    None
}
