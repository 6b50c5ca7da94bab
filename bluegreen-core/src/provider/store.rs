use crate::{DeploymentId, ProviderError, RecordEntry, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Who asks for an application's deployment lock: one *run* of one deployment (a process executing it).
/// Two processes running the same deployment are two runs, and only one of them can hold the lock.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LockOwner {
    /// The deployment.
    pub deployment: DeploymentId,
    /// A token unique to this run (e.g. random, or host + process id + start time).
    pub run: String,
    /// Where the run is, for people and for stores that can tell a dead local process (`host:pid`).
    pub host: String,
}

impl fmt::Display for LockOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "deployment {} (run {} on {})",
            self.deployment, self.run, self.host
        )
    }
}

/// A held lock: its owner, until when it holds without renewal, and its fencing token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The application locked (`{environment}/{application}`).
    pub application: String,
    /// Who holds it.
    pub owner: LockOwner,
    /// When the owner took it.
    pub since: Timestamp,
    /// When it lapses unless renewed; after that anyone may take it over.
    pub expires: Timestamp,
    /// Grows each time the lock is taken (fresh or over): every append carries it, and the store refuses an
    /// append whose fence is not the lock's current one, so a run that lost its lease cannot write.
    pub fence: u64,
}

impl Lease {
    /// Whether the lease has lapsed at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.expires
    }
}

impl fmt::Display for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} holds {} since {}, lease until {}",
            self.owner, self.application, self.since, self.expires
        )
    }
}

/// Where deployment records and per-application locks live.
///
/// The contract (checked by `bluegreen_testkit::conformance` for every implementation):
/// - **The lock** is created only if absent, or taken over only once its lease has lapsed, atomically; it
///   is held by one [`LockOwner`] (a run), never shared by two runs of the same deployment. The holder
///   renews it while running; a renewal, an unlock or an append by a run that lost it is refused with
///   [`ProviderError::Conflict`].
/// - **The record** is append-only: entry `n` is appended only to a record of `n` entries, and only under
///   the current lease (its fence). A store never writes an entry twice; the executor recognises an append
///   whose outcome was ambiguous by reading the record back.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Appends one entry to `deployment`'s record under `lease`, creating the record on the first append.
    /// Durable on return. [`ProviderError::Conflict`] if `lease` is not the application's current lease or
    /// the record does not have `entry.seq` entries.
    async fn append(
        &self,
        lease: &Lease,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError>;
    /// The whole record, oldest first; [`ProviderError::NotFound`] if there is none.
    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError>;
    /// The deployments of `application` that have a record, oldest first.
    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError>;
    /// Takes `application`'s lock for `owner` until `now + ttl`: if nobody holds it, or the current lease
    /// lapsed before `now` (a takeover, with a higher fence). Otherwise [`ProviderError::Conflict`] naming
    /// the holder — also for another run of the same deployment.
    async fn lock(
        &self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError>;
    /// Extends `lease` to `now + ttl`; [`ProviderError::Conflict`] if it is no longer the current lease.
    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError>;
    /// Releases `lease`; [`ProviderError::Conflict`] if another lease holds the lock; nothing if none does.
    async fn unlock(&self, lease: &Lease) -> Result<(), ProviderError>;
    /// The current lease of `application`, lapsed or not, if any.
    async fn holder(&self, application: &str) -> Result<Option<Lease>, ProviderError>;
}

/// The lock, lease and fence rules, for stores that keep the current lease as plain data: what
/// [`StateStore::lock`] does given the lease found (if any). `Ok` is the new lease to store.
pub fn take_lease(
    current: Option<&Lease>,
    application: &str,
    owner: &LockOwner,
    now: Timestamp,
    ttl: Duration,
) -> Result<Lease, ProviderError> {
    match current {
        Some(held) if !held.expired(now) => Err(ProviderError::Conflict {
            message: format!("{application} is locked: {held}"),
        }),
        _ => Ok(Lease {
            application: application.to_string(),
            owner: owner.clone(),
            since: now,
            expires: now + ttl,
            fence: current.map_or(1, |l| l.fence + 1),
        }),
    }
}

/// What [`StateStore::renew`] does given the lease found: `lease` extended to `now + ttl` if it is still
/// the current one, else the refusal.
pub fn renew_lease(
    current: Option<&Lease>,
    lease: &Lease,
    now: Timestamp,
    ttl: Duration,
) -> Result<Lease, ProviderError> {
    ensure_current(current, lease)?;
    Ok(Lease {
        expires: now + ttl,
        ..lease.clone()
    })
}

/// The fencing rule of [`StateStore::append`]: refused unless `lease` is the current lease `current`.
pub fn ensure_current(current: Option<&Lease>, lease: &Lease) -> Result<(), ProviderError> {
    if is_current(current, lease) {
        Ok(())
    } else {
        Err(lost_lease(current, lease))
    }
}

/// What [`StateStore::unlock`] does given the lease found: `Ok(true)` to remove it (it is `lease`),
/// `Ok(false)` when nobody holds the lock, the refusal when another lease does.
pub fn release_lease(current: Option<&Lease>, lease: &Lease) -> Result<bool, ProviderError> {
    match current {
        None => Ok(false),
        Some(_) if is_current(current, lease) => Ok(true),
        Some(_) => Err(lost_lease(current, lease)),
    }
}

/// Whether `lease` is still the current lease `current`: same owner and fence.
pub fn is_current(current: Option<&Lease>, lease: &Lease) -> bool {
    current.is_some_and(|c| c.owner == lease.owner && c.fence == lease.fence)
}

/// The refusal of an operation under a lease that is no longer current.
pub fn lost_lease(current: Option<&Lease>, lease: &Lease) -> ProviderError {
    ProviderError::Conflict {
        message: match current {
            Some(c) => format!(
                "the lock of {} was lost by {} (fence {}): {c} (fence {})",
                lease.application, lease.owner, lease.fence, c.fence
            ),
            None => format!(
                "the lock of {} was lost by {}: nobody holds it",
                lease.application, lease.owner
            ),
        },
    }
}
