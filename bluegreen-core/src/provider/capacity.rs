use crate::{Color, ProviderError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One color's Auto Scaling group capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CapacityStatus {
    /// Desired capacity.
    pub desired: u32,
    /// Instances in service.
    pub in_service: u32,
}

/// Each color's compute capacity (R8).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Capacity: Send + Sync {
    /// `color`'s desired and in-service capacity.
    async fn capacity(&self, color: Color) -> Result<CapacityStatus, ProviderError>;
    /// Sets `color`'s desired capacity (raising its maximum or lowering its minimum if needed).
    async fn set_desired(&self, color: Color, desired: u32) -> Result<(), ProviderError>;
    /// Points `color`'s group at launch template `template` version `version` (how a new golden image
    /// arrives, R9): new instances use it, running ones are not replaced.
    async fn set_launch_template(
        &self,
        color: Color,
        template: &str,
        version: &str,
    ) -> Result<(), ProviderError>;
}
