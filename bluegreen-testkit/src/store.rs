//! An in-memory [`StateStore`], strict about sequence numbers, with a way to "die" after N appends.

use async_trait::async_trait;
use bluegreen_core::provider::{ensure_current, release_lease, renew_lease, take_lease};
use bluegreen_core::{
    DeploymentId, Event, Lease, LockOwner, ProviderError, RecordEntry, StateStore, Timestamp,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The current lease of each application, with the store contract's rules: what both in-memory stores
/// keep of their locks.
#[derive(Debug, Default)]
struct Leases(BTreeMap<String, Lease>);

impl Leases {
    fn get(&self, application: &str) -> Option<&Lease> {
        self.0.get(application)
    }

    /// Refuses an append under `lease` unless it is the application's current one (fencing).
    fn check(&self, lease: &Lease) -> Result<(), ProviderError> {
        ensure_current(self.get(&lease.application), lease)
    }

    fn lock(
        &mut self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        let lease = take_lease(self.get(application), application, owner, now, ttl)?;
        self.0.insert(application.to_string(), lease.clone());
        Ok(lease)
    }

    fn renew(
        &mut self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        let renewed = renew_lease(self.get(&lease.application), lease, now, ttl)?;
        self.0.insert(lease.application.clone(), renewed.clone());
        Ok(renewed)
    }

    fn unlock(&mut self, lease: &Lease) -> Result<(), ProviderError> {
        if release_lease(self.get(&lease.application), lease)? {
            self.0.remove(&lease.application);
        }
        Ok(())
    }
}

/// Records and locks in memory. Clones share them.
///
/// [`hang_after`](MemoryStore::hang_after) makes every append after the n-th never complete, which is how
/// tests kill a deployment at an exact point of its record.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<DeploymentId, Vec<RecordEntry>>,
    by_app: BTreeMap<String, Vec<DeploymentId>>,
    locks: Leases,
    appends: u64,
    hang_after: Option<u64>,
    ambiguous_next: u32,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock_inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends after the first `n` (counted over the store's life) never complete; `None` lifts it.
    pub fn hang_after(&self, n: Option<u64>) {
        self.lock_inner().hang_after = n;
    }

    /// The next `n` appends land but answer with an error, as a write whose acknowledgement was lost.
    pub fn ambiguous_next(&self, n: u32) {
        self.lock_inner().ambiguous_next = n;
    }

    /// Appends completed so far.
    pub fn appends(&self) -> u64 {
        self.lock_inner().appends
    }

    /// A deployment's record (empty if none).
    pub fn record(&self, id: &DeploymentId) -> Vec<RecordEntry> {
        self.lock_inner()
            .records
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// The deployment holding `application`'s lock (lapsed or not).
    pub fn lock_holder(&self, application: &str) -> Option<DeploymentId> {
        self.lease(application).map(|l| l.owner.deployment)
    }

    /// `application`'s current lease (lapsed or not).
    pub fn lease(&self, application: &str) -> Option<Lease> {
        self.lock_inner().locks.get(application).cloned()
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn append(
        &self,
        lease: &Lease,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        let (hang, ambiguous) = {
            let mut s = self.lock_inner();
            if s.hang_after.is_some_and(|n| s.appends >= n) {
                (true, false)
            } else {
                s.locks.check(lease)?;
                let len = s.records.get(deployment).map_or(0, Vec::len) as u64;
                if entry.seq != len {
                    return Err(ProviderError::Conflict {
                        message: format!(
                            "entry {} appended to {deployment}, whose record has {len} entries",
                            entry.seq
                        ),
                    });
                }
                if len == 0 {
                    let app = match &entry.event {
                        Event::Started { plan, .. } => plan.application.clone(),
                        _ => String::new(),
                    };
                    s.by_app.entry(app).or_default().push(deployment.clone());
                }
                s.records
                    .entry(deployment.clone())
                    .or_default()
                    .push(entry.clone());
                s.appends += 1;
                let ambiguous = s.ambiguous_next > 0;
                s.ambiguous_next = s.ambiguous_next.saturating_sub(1);
                (false, ambiguous)
            }
        };
        if hang {
            futures::future::pending::<()>().await;
        }
        if ambiguous {
            return Err(ProviderError::Unavailable {
                message: "append: the connection dropped before the answer (the entry landed)"
                    .into(),
            });
        }
        Ok(())
    }

    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError> {
        self.lock_inner()
            .records
            .get(deployment)
            .cloned()
            .ok_or_else(|| ProviderError::NotFound {
                resource: format!("deployment {deployment}"),
            })
    }

    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError> {
        Ok(self
            .lock_inner()
            .by_app
            .get(application)
            .cloned()
            .unwrap_or_default())
    }

    async fn lock(
        &self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.lock_inner().locks.lock(application, owner, now, ttl)
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.lock_inner().locks.renew(lease, now, ttl)
    }

    async fn unlock(&self, lease: &Lease) -> Result<(), ProviderError> {
        self.lock_inner().locks.unlock(lease)
    }

    async fn holder(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        Ok(self.lease(application))
    }
}

/// Entries per deployment, and leases per application.
type Counts = (BTreeMap<DeploymentId, u64>, Leases);

/// A store for load tests, where records live elsewhere: it keeps the locks and a count of entries per
/// deployment, checks their order, and drops the entries themselves (so `load` finds nothing).
#[derive(Debug, Clone, Default)]
pub struct CountingStore {
    inner: Arc<Mutex<Counts>>,
}

impl CountingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entries appended to `id`'s record.
    pub fn entries(&self, id: &DeploymentId) -> u64 {
        self.counts().0.get(id).copied().unwrap_or(0)
    }
}

#[async_trait]
impl StateStore for CountingStore {
    async fn append(
        &self,
        lease: &Lease,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        s.1.check(lease)?;
        let n = s.0.entry(deployment.clone()).or_insert(0);
        if entry.seq != *n {
            return Err(ProviderError::Conflict {
                message: format!(
                    "entry {} appended to {deployment}, whose record has {n} entries",
                    entry.seq
                ),
            });
        }
        *n += 1;
        Ok(())
    }

    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError> {
        Err(ProviderError::NotFound {
            resource: format!("deployment {deployment} (records are not kept)"),
        })
    }

    async fn list(&self, _application: &str) -> Result<Vec<DeploymentId>, ProviderError> {
        Ok(Vec::new())
    }

    async fn lock(
        &self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.counts().1.lock(application, owner, now, ttl)
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.counts().1.renew(lease, now, ttl)
    }

    async fn unlock(&self, lease: &Lease) -> Result<(), ProviderError> {
        self.counts().1.unlock(lease)
    }

    async fn holder(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        Ok(self.counts().1.get(application).cloned())
    }
}
