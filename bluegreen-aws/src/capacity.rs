//! The colors' Auto Scaling groups as a [`Capacity`] provider.

use crate::error::map_sdk;
use async_trait::async_trait;
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LaunchTemplateSpecification, LifecycleState};
use bluegreen_core::{Capacity, CapacityStatus, Color, PerColor, ProviderError};

/// Each color's Auto Scaling group, by name.
pub struct AsgCapacity {
    autoscaling: Client,
    groups: PerColor<String>,
}

impl AsgCapacity {
    /// A provider over the named groups.
    pub fn new(autoscaling: Client, groups: PerColor<String>) -> Self {
        AsgCapacity {
            autoscaling,
            groups,
        }
    }

    async fn describe(&self, color: Color) -> Result<AutoScalingGroup, ProviderError> {
        let name = self.groups.get(color);
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| map_sdk("DescribeAutoScalingGroups", name, e))?;
        out.auto_scaling_groups()
            .first()
            .cloned()
            .ok_or_else(|| ProviderError::NotFound {
                resource: format!("auto scaling group {name}"),
            })
    }

    /// Points `color`'s group at a launch template version (how a new golden AMI arrives, R9). New
    /// instances use it; running ones are not replaced.
    async fn update_launch_template(
        &self,
        color: Color,
        template: &str,
        version: &str,
    ) -> Result<(), ProviderError> {
        let name = self.groups.get(color);
        let spec = if template.starts_with("lt-") {
            LaunchTemplateSpecification::builder().launch_template_id(template)
        } else {
            LaunchTemplateSpecification::builder().launch_template_name(template)
        }
        .version(version)
        .build();
        self.autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(spec)
            .send()
            .await
            .map_err(|e| map_sdk("UpdateAutoScalingGroup", name, e))?;
        Ok(())
    }
}

#[async_trait]
impl Capacity for AsgCapacity {
    async fn capacity(&self, color: Color) -> Result<CapacityStatus, ProviderError> {
        let g = self.describe(color).await?;
        let in_service = g
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
            .count() as u32;
        Ok(CapacityStatus {
            desired: g.desired_capacity().unwrap_or(0).max(0) as u32,
            in_service,
        })
    }

    async fn set_desired(&self, color: Color, desired: u32) -> Result<(), ProviderError> {
        let name = self.groups.get(color);
        let g = self.describe(color).await?;
        let (min, max) = (
            g.min_size().unwrap_or(0).max(0) as u32,
            g.max_size().unwrap_or(0).max(0) as u32,
        );
        let n = desired as i32;
        if desired < min || desired > max {
            self.autoscaling
                .update_auto_scaling_group()
                .auto_scaling_group_name(name)
                .min_size(min.min(desired) as i32)
                .max_size(max.max(desired) as i32)
                .desired_capacity(n)
                .send()
                .await
                .map_err(|e| map_sdk("UpdateAutoScalingGroup", name, e))?;
        } else {
            self.autoscaling
                .set_desired_capacity()
                .auto_scaling_group_name(name)
                .desired_capacity(n)
                .honor_cooldown(false)
                .send()
                .await
                .map_err(|e| map_sdk("SetDesiredCapacity", name, e))?;
        }
        Ok(())
    }

    async fn set_launch_template(
        &self,
        color: Color,
        template: &str,
        version: &str,
    ) -> Result<(), ProviderError> {
        self.update_launch_template(color, template, version).await
    }
}
