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
    /// The group's minimum size (what a watch that keeps the old color at its minimum lowers it to, at
    /// least one instance). 0 from a provider that cannot tell.
    #[serde(default)]
    pub minimum: u32,
}

/// What an Auto Scaling group launches its instances from (read by [`Capacity::launch_source`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LaunchSource {
    /// A launch template, directly or in a mixed instances policy: a new image is a new version of it.
    Template {
        /// The template's id or name.
        template: String,
        /// The version the group uses (`$Latest`, `$Default` or a number).
        version: String,
    },
    /// A launch configuration (as the operations guide's groups have): it cannot take a new image, so
    /// `deploy --ami` needs the group moved to a launch template first.
    LaunchConfiguration {
        /// The launch configuration's name.
        name: String,
    },
    /// The provider cannot tell.
    Unknown,
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
    /// Creates a new version of the launch template `color`'s group uses now, the same but for its image
    /// (`image`, an AMI id), and returns `(template, version)` for [`Capacity::set_launch_template`]. The group
    /// is not changed. [`ProviderError::NotFound`] when the image does not exist. The default refuses: a
    /// provider that cannot create launch template versions says so.
    async fn new_image_version(
        &self,
        color: Color,
        image: &str,
    ) -> Result<(String, String), ProviderError> {
        let _ = color;
        Err(ProviderError::Invalid {
            message: format!(
                "this capacity provider cannot create a launch template version for image {image}"
            ),
        })
    }
    /// What `color`'s group launches from now. Read only: `plan`, `deploy --dry-run` and the start of a
    /// deployment refuse a new image for a group that cannot take one before anything changes. The default
    /// cannot tell ([`LaunchSource::Unknown`]), which refuses nothing.
    async fn launch_source(&self, color: Color) -> Result<LaunchSource, ProviderError> {
        let _ = color;
        Ok(LaunchSource::Unknown)
    }
    /// Whether image `image` exists and can be launched (checked before anything changes). The default
    /// refuses, as [`Capacity::new_image_version`] does.
    async fn image_exists(&self, image: &str) -> Result<bool, ProviderError> {
        Err(ProviderError::Invalid {
            message: format!("this capacity provider cannot look up image {image}"),
        })
    }
}
