use crate::{DeploymentId, ProviderError, RecordEntry};
use async_trait::async_trait;

/// Where deployment records and per-application locks live.
///
/// A record is append-only: the executor appends each transition before its next action, so a process that
/// dies at any point can resume from the record.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Appends one entry to `deployment`'s record, creating the record on first append. Durable on return.
    async fn append(
        &self,
        deployment: &DeploymentId,
        entry: &RecordEntry,
    ) -> Result<(), ProviderError>;
    /// The whole record, oldest first; [`ProviderError::NotFound`] if there is none.
    async fn load(&self, deployment: &DeploymentId) -> Result<Vec<RecordEntry>, ProviderError>;
    /// The deployments of `application` that have a record, oldest first.
    async fn list(&self, application: &str) -> Result<Vec<DeploymentId>, ProviderError>;
    /// Takes `application`'s lock for `holder`. Taking it again for the same holder succeeds (a resumed
    /// deployment holds its own lock); another holder gets [`ProviderError::Conflict`] naming the holder.
    async fn lock(&self, application: &str, holder: &DeploymentId) -> Result<(), ProviderError>;
    /// Releases the lock if `holder` has it; [`ProviderError::Conflict`] if someone else does.
    async fn unlock(&self, application: &str, holder: &DeploymentId) -> Result<(), ProviderError>;
}
