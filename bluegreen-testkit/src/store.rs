//! An in-memory [`StateStore`], strict about sequence numbers, with a way to "die" after N appends.

use async_trait::async_trait;
use bluegreen_core::{DeploymentId, Event, ProviderError, RecordEntry, StateStore};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

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
    locks: BTreeMap<String, DeploymentId>,
    appends: u64,
    hang_after: Option<u64>,
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

    /// Who holds `application`'s lock.
    pub fn lock_holder(&self, application: &str) -> Option<DeploymentId> {
        self.lock_inner().locks.get(application).cloned()
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn append(
        &self,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        let hang = {
            let mut s = self.lock_inner();
            if s.hang_after.is_some_and(|n| s.appends >= n) {
                true
            } else {
                let len = s.records.get(deployment).map_or(0, Vec::len) as u64;
                if entry.seq != len {
                    return Err(ProviderError::Invalid {
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
                false
            }
        };
        if hang {
            futures::future::pending::<()>().await;
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

    async fn lock(&self, application: &str, holder: &DeploymentId) -> Result<(), ProviderError> {
        let mut s = self.lock_inner();
        match s.locks.get(application) {
            Some(h) if h != holder => Err(ProviderError::Conflict {
                message: format!("{application} is locked by deployment {h}"),
            }),
            _ => {
                s.locks.insert(application.to_string(), holder.clone());
                Ok(())
            }
        }
    }

    async fn unlock(&self, application: &str, holder: &DeploymentId) -> Result<(), ProviderError> {
        let mut s = self.lock_inner();
        match s.locks.get(application) {
            Some(h) if h != holder => Err(ProviderError::Conflict {
                message: format!("{application} is locked by deployment {h}, not {holder}"),
            }),
            _ => {
                s.locks.remove(application);
                Ok(())
            }
        }
    }
}

/// Entries per deployment, and lock holders per application.
type Counts = (BTreeMap<DeploymentId, u64>, BTreeMap<String, DeploymentId>);

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

    /// Entries appended to `id`'s record.
    pub fn entries(&self, id: &DeploymentId) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .get(id)
            .copied()
            .unwrap_or(0)
    }
}

#[async_trait]
impl StateStore for CountingStore {
    async fn append(
        &self,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let n = s.0.entry(deployment.clone()).or_insert(0);
        if entry.seq != *n {
            return Err(ProviderError::Invalid {
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

    async fn lock(&self, application: &str, holder: &DeploymentId) -> Result<(), ProviderError> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match s.1.get(application) {
            Some(h) if h != holder => Err(ProviderError::Conflict {
                message: format!("{application} is locked by deployment {h}"),
            }),
            _ => {
                s.1.insert(application.to_string(), holder.clone());
                Ok(())
            }
        }
    }

    async fn unlock(&self, application: &str, holder: &DeploymentId) -> Result<(), ProviderError> {
        let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if s.1.get(application).is_some_and(|h| h == holder) {
            s.1.remove(application);
        }
        Ok(())
    }
}
