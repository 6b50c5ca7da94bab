use crate::{ProviderError, TrafficSplit};
use async_trait::async_trait;

/// Reads and writes the listener's weighted forward action (R1).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// The split as the load balancer has it now.
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError>;
    /// Sets the split. A successful return does not promise that the next read sees it (reads may be stale);
    /// the executor reads back and verifies.
    async fn write_split(&self, split: TrafficSplit) -> Result<(), ProviderError>;
}
