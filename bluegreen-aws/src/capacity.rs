//! The colors' Auto Scaling groups as a [`Capacity`] provider.

use crate::error::map_sdk;
use async_trait::async_trait;
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LaunchTemplateSpecification, LifecycleState};
use bluegreen_core::{Capacity, CapacityStatus, Color, LaunchSource, PerColor, ProviderError};

/// Each color's Auto Scaling group, by name.
pub struct AsgCapacity {
    autoscaling: Client,
    groups: PerColor<String>,
    #[cfg(feature = "ami")]
    ec2: Option<aws_sdk_ec2::Client>,
}

impl AsgCapacity {
    /// A provider over the named groups.
    pub fn new(autoscaling: Client, groups: PerColor<String>) -> Self {
        AsgCapacity {
            autoscaling,
            groups,
            #[cfg(feature = "ami")]
            ec2: None,
        }
    }

    /// With EC2, so that it can make launch template versions from a new image (`deploy --ami`).
    #[cfg(feature = "ami")]
    pub fn with_ec2(mut self, ec2: aws_sdk_ec2::Client) -> Self {
        self.ec2 = Some(ec2);
        self
    }

    #[cfg(feature = "ami")]
    fn ec2(&self) -> Result<&aws_sdk_ec2::Client, ProviderError> {
        self.ec2.as_ref().ok_or_else(|| ProviderError::Invalid {
            message: "this capacity provider was built without EC2 (AsgCapacity::with_ec2)".into(),
        })
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
            minimum: g.min_size().unwrap_or(0).max(0) as u32,
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

    /// A group's own launch template, or its launch configuration; a mixed instances policy is `Unknown`
    /// (a new image is made only from a group's own template).
    async fn launch_source(&self, color: Color) -> Result<LaunchSource, ProviderError> {
        let g = self.describe(color).await?;
        if let Some(lt) = g.launch_template() {
            return Ok(LaunchSource::Template {
                template: lt
                    .launch_template_id()
                    .or(lt.launch_template_name())
                    .unwrap_or_default()
                    .to_string(),
                version: lt.version().unwrap_or("$Default").to_string(),
            });
        }
        Ok(match g.launch_configuration_name() {
            Some(name) => LaunchSource::LaunchConfiguration {
                name: name.to_string(),
            },
            None => LaunchSource::Unknown,
        })
    }

    #[cfg(feature = "ami")]
    async fn new_image_version(
        &self,
        color: Color,
        image: &str,
    ) -> Result<(String, String), ProviderError> {
        use aws_sdk_ec2::types::RequestLaunchTemplateData;
        let ec2 = self.ec2()?;
        let group = self.describe(color).await?;
        let name = self.groups.get(color);
        let lt = group.launch_template().ok_or_else(|| ProviderError::Invalid {
            message: format!(
                "auto scaling group {name} has no launch template (a launch configuration?): a new image needs one"
            ),
        })?;
        let template = lt
            .launch_template_id()
            .or(lt.launch_template_name())
            .unwrap_or_default()
            .to_string();
        // `$Latest` / `$Default` (or none) resolve to a number: the new version starts from exactly the one
        // the group launches now.
        let source = lt.version().unwrap_or("$Default").to_string();
        let by_id = template.starts_with("lt-");
        let described = ec2.describe_launch_template_versions().versions(&source);
        let described = if by_id {
            described.launch_template_id(&template)
        } else {
            described.launch_template_name(&template)
        };
        let number = described
            .send()
            .await
            .map_err(|e| map_sdk("DescribeLaunchTemplateVersions", &template, e))?
            .launch_template_versions()
            .first()
            .and_then(|v| v.version_number())
            .ok_or_else(|| ProviderError::NotFound {
                resource: format!("launch template {template} version {source}"),
            })?;
        let create = ec2
            .create_launch_template_version()
            .source_version(number.to_string())
            .version_description(format!("bluegreen: image {image}"))
            .launch_template_data(RequestLaunchTemplateData::builder().image_id(image).build());
        let create = if by_id {
            create.launch_template_id(&template)
        } else {
            create.launch_template_name(&template)
        };
        let created = create
            .send()
            .await
            .map_err(|e| map_sdk("CreateLaunchTemplateVersion", &template, e))?;
        let version = created
            .launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| ProviderError::Invalid {
                message: format!("CreateLaunchTemplateVersion on {template} returned no version"),
            })?;
        Ok((template, version.to_string()))
    }

    #[cfg(feature = "ami")]
    async fn image_exists(&self, image: &str) -> Result<bool, ProviderError> {
        match self.ec2()?.describe_images().image_ids(image).send().await {
            Ok(out) => Ok(!out.images().is_empty()),
            Err(e) => match map_sdk("DescribeImages", image, e) {
                // `InvalidAMIID.NotFound`, `InvalidAMIID.Malformed`: it does not exist.
                ProviderError::NotFound { .. } => Ok(false),
                ProviderError::Invalid { message } if message.contains("InvalidAMIID") => Ok(false),
                other => Err(other),
            },
        }
    }
}
