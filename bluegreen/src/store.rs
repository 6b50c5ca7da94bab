//! Where deployments keep their state: the state directory ([`FileStore`], one machine) or a DynamoDB table
//! shared by every machine ([`bluegreen_aws::DynamoStore`]), as one [`Store`] chosen by `[state]`. The
//! durable pieces themselves live in `bluegreen-store` (and `bluegreen-aws`).

use async_trait::async_trait;
use bluegreen_core::{
    DeploymentId, Lease, LockOwner, ProviderError, RecordEntry, StateStore, Timestamp,
};
use bluegreen_store::{Control, ControlQueue, FileStore};
use std::time::Duration;

/// Approvals that arrive as control requests (`bluegreen promote`, or an `abort` which rejects) through
/// the configured store.
pub type StoreApproval = bluegreen_store::QueueApproval<Store>;

/// Where records, locks and control requests live: the local state directory (one machine), or a shared
/// DynamoDB table that every machine deploying the application uses (`[state] backend = "dynamodb"`).
#[derive(Debug, Clone)]
pub enum Store {
    /// The state directory.
    File(FileStore),
    /// A DynamoDB table shared by a team.
    Shared(bluegreen_aws::DynamoStore),
}

/// The state directory's file store, created owner-only if missing; a path that is not a directory is a
/// wrong setting.
pub fn open_state_dir(dir: &std::path::Path) -> Result<FileStore, crate::Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(crate::SettingsError::new(format!(
            "state directory {}: exists and is not a directory (--state-dir, BLUEGREEN_STATE_DIR or state_dir)",
            dir.display()
        ))
        .into());
    }
    FileStore::open(dir).map_err(|source| crate::Error::StateDir {
        path: dir.to_path_buf(),
        source,
    })
}

impl Store {
    /// The store `[state]` names: the team's DynamoDB table through `connection` (required for it), else the
    /// state directory. The state directory is opened (created owner-only) either way: it also holds the
    /// simulated world and the cache of resolved names.
    pub fn open(
        settings: &crate::Settings,
        connection: Option<&bluegreen_aws::Connection>,
    ) -> Result<Store, crate::Error> {
        let shared = settings.shared_state()?;
        let file = open_state_dir(&settings.state_dir())?;
        match (shared, connection) {
            (None, _) => Ok(Store::File(file)),
            (Some((table, prefix)), Some(conn)) => Ok(Store::Shared(conn.store(&table, &prefix))),
            (Some((table, _)), None) => Err(crate::SettingsError::new(format!(
                "the dynamodb state backend (table {table}) needs an AWS connection"
            ))
            .into()),
        }
    }

    /// The backend as the core's store.
    fn inner(&self) -> &dyn StateStore {
        match self {
            Store::File(f) => f,
            Store::Shared(d) => d,
        }
    }

    /// The backend as a control queue.
    fn queue(&self) -> &dyn ControlQueue {
        match self {
            Store::File(f) => f,
            Store::Shared(d) => d,
        }
    }
}

#[async_trait]
impl StateStore for Store {
    async fn append(
        &self,
        lease: &Lease,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError> {
        self.inner().append(lease, deployment, entry).await
    }
    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError> {
        self.inner().load(deployment).await
    }
    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError> {
        self.inner().list(application).await
    }
    async fn lock(
        &self,
        application: &str,
        owner: &LockOwner,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.inner().lock(application, owner, now, ttl).await
    }
    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Lease, ProviderError> {
        self.inner().renew(lease, now, ttl).await
    }
    async fn unlock(&self, lease: &Lease) -> Result<(), ProviderError> {
        self.inner().unlock(lease).await
    }
    async fn holder(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        self.inner().holder(application).await
    }
}

impl Store {
    /// The deployment holding `application`'s lock (lapsed or not), if any. A store that cannot be read is
    /// an error, never "nobody": an operator's `abort` must not be told there is nothing to abort while a
    /// deployment runs on a table that is throttled or misnamed.
    pub async fn lock_holder(
        &self,
        application: &str,
    ) -> Result<Option<DeploymentId>, ProviderError> {
        Ok(self
            .read_lease(application)
            .await?
            .map(|l| l.owner.deployment))
    }

    /// `application`'s current lease; an unreadable one is an error saying how to clear it.
    pub async fn read_lease(&self, application: &str) -> Result<Option<Lease>, ProviderError> {
        match self {
            Store::File(f) => f.read_lease(application),
            Store::Shared(d) => d.holder(application).await,
        }
    }

    /// How often a running deployment looks for a control request: a file read every 250 ms; one
    /// consistent DynamoDB read a second on the shared backend (an abort or approval waits at most a
    /// second; 3,600 reads an hour, well within any table's capacity).
    pub fn control_poll(&self) -> Duration {
        self.queue().poll_interval()
    }

    /// Leaves a request for deployment `id`.
    pub async fn send(&self, id: &DeploymentId, control: &Control) -> Result<(), ProviderError> {
        self.queue().send(id, control).await
    }

    /// The request left for deployment `id`, if any (none when the backend cannot be read: asked again).
    pub async fn received(&self, id: &DeploymentId) -> Option<Control> {
        self.queue().received(id).await
    }

    /// Consumes `control` if it is still the request left for `id`.
    pub async fn consume(&self, id: &DeploymentId, control: &Control) {
        self.queue().consume(id, control).await
    }

    /// Forgets the request left for deployment `id`, if any.
    pub async fn clear_control(&self, id: &DeploymentId) {
        self.queue().clear(id).await
    }

    /// Removes `application`'s lock whatever it holds (`unlock --force`).
    pub async fn remove_lock(&self, application: &str) -> Result<(), ProviderError> {
        match self {
            Store::File(f) => {
                f.remove_lock_file(application)
                    .map_err(|e| ProviderError::Unavailable {
                        message: e.to_string(),
                    })
            }
            Store::Shared(d) => d.remove_lock(application).await,
        }
    }
}

#[async_trait]
impl ControlQueue for Store {
    async fn send(&self, id: &DeploymentId, control: &Control) -> Result<(), ProviderError> {
        Store::send(self, id, control).await
    }
    async fn received(&self, id: &DeploymentId) -> Option<Control> {
        Store::received(self, id).await
    }
    async fn consume(&self, id: &DeploymentId, control: &Control) {
        Store::consume(self, id, control).await
    }
    async fn clear(&self, id: &DeploymentId) {
        self.clear_control(id).await
    }
    fn poll_interval(&self) -> Duration {
        self.control_poll()
    }
}
