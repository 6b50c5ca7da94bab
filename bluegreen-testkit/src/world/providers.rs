//! The core's provider traits on a [`SimWorld`].

use super::{ActionRef, SimWorld};
use async_trait::async_trait;
use bluegreen_core::{
    AlarmStatus, Capacity, CapacityStatus, Clock, Color, HealthSource, LaunchSource, MinuteMetrics,
    PerColor, ProviderError, RouteMark, Routing, TargetHealth, TrafficRouter, TrafficSplit, Window,
};

/// The images (AMIs) the simulated world knows: the golden image of version 1 and a newer one. Any other id
/// is not found, as in an account that does not have it.
pub const IMAGES: [&str; 2] = ["ami-0123456789abcdef0", "ami-0fedcba9876543210"];

/// The listener's weighted forward action as a [`TrafficRouter`]. Weights are read as AWS returns them
/// (0..=999 each) and turned into a percentage split; both zero is an error, as the listener would serve 503s.
#[derive(Clone)]
pub struct SimRouter {
    world: SimWorld,
    listener: String,
    action: ActionRef,
    target_groups: PerColor<String>,
}

impl SimRouter {
    pub(crate) fn new(
        world: SimWorld,
        listener: String,
        action: ActionRef,
        target_groups: PerColor<String>,
    ) -> Self {
        SimRouter {
            world,
            listener,
            action,
            target_groups,
        }
    }
}

#[async_trait]
impl TrafficRouter for SimRouter {
    async fn read_split(&self) -> Result<TrafficSplit, ProviderError> {
        let fwd = self.world.describe_forward(&self.listener, self.action)?;
        let weight = |c: Color| {
            let arn = self.target_groups.get(c);
            fwd.target_groups
                .iter()
                .find(|(a, _)| a == arn)
                .map(|(_, w)| *w)
                .ok_or_else(|| ProviderError::NotFound {
                    resource: format!(
                        "target group {arn} in the forward action of {}",
                        self.listener
                    ),
                })
        };
        let (b, g) = (weight(Color::Blue)?, weight(Color::Green)?);
        TrafficSplit::from_weights(b, g).ok_or_else(|| ProviderError::Invalid {
            message: format!(
                "weights blue {b} / green {g}: not a split (both 0, or one above 999)"
            ),
        })
    }

    async fn write_split(&self, split: TrafficSplit) -> Result<(), ProviderError> {
        let weights: Vec<(String, u32)> = Color::ALL
            .iter()
            .map(|c| (self.target_groups.get(*c).clone(), split.alb_weight(*c)))
            .collect();
        self.world
            .modify_forward(&self.listener, self.action, &weights)
    }

    /// One route, named as the AWS provider names it: `HTTP:80`, or `HTTP:80 rule 10`.
    async fn read_routes(&self) -> Result<Routing, ProviderError> {
        let split = self.read_split().await?;
        let port = self.world.lock().listener(&self.listener)?.port;
        let name = match self.action {
            ActionRef::Default => format!("HTTP:{port}"),
            ActionRef::Rule(p) => format!("HTTP:{port} rule {p}"),
        };
        Ok(Routing::single(name, split))
    }

    /// The forward action's group stickiness (`DescribeListeners`).
    async fn stickiness(&self) -> Result<Option<std::time::Duration>, ProviderError> {
        Ok(self
            .world
            .describe_forward(&self.listener, self.action)?
            .stickiness)
    }

    /// Both groups have the world's attributes (`DescribeTargetGroupAttributes`).
    async fn group_timings(
        &self,
        color: Color,
    ) -> Result<Option<bluegreen_core::GroupTimings>, ProviderError> {
        Ok(Some(self.world.group_timings(color)))
    }

    /// The mark, from the listener's tags (`DescribeTags`).
    async fn read_mark(&self) -> Result<Option<RouteMark>, ProviderError> {
        self.world
            .calls()
            .record(self.world.clock().now(), "DescribeTags");
        let s = self.world.lock();
        let tags = &s.listener(&self.listener)?.tags;
        Ok(RouteMark::from_tags(
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }

    /// Tags the listener with the mark (`AddTags`).
    async fn write_mark(&self, mark: &RouteMark) -> Result<(), ProviderError> {
        self.world
            .calls()
            .record(self.world.clock().now(), "AddTags");
        let mut s = self.world.lock();
        let listener = s.listener_mut(&self.listener)?;
        for (k, v) in mark.tags() {
            listener.tags.insert(k.to_string(), v);
        }
        Ok(())
    }

    /// Removes the mark's tags (`RemoveTags`).
    async fn clear_mark(&self) -> Result<(), ProviderError> {
        self.world
            .calls()
            .record(self.world.clock().now(), "RemoveTags");
        let mut s = self.world.lock();
        let listener = s.listener_mut(&self.listener)?;
        for k in RouteMark::TAG_KEYS {
            listener.tags.remove(k);
        }
        Ok(())
    }
}

/// Target health, traffic-simulator metrics and alarms as a [`HealthSource`].
#[derive(Clone)]
pub struct SimHealth {
    world: SimWorld,
    target_groups: PerColor<String>,
}

impl SimHealth {
    pub(crate) fn new(world: SimWorld, target_groups: PerColor<String>) -> Self {
        SimHealth {
            world,
            target_groups,
        }
    }
}

#[async_trait]
impl HealthSource for SimHealth {
    async fn target_health(&self, color: Color) -> Result<TargetHealth, ProviderError> {
        let now = self.world.clock().now();
        self.world.calls().record(now, "DescribeTargetHealth");
        let s = self.world.lock();
        let tg = s.target_group(self.target_groups.get(color))?;
        Ok(s.health_of(tg, now))
    }

    async fn metrics(&self, window: Window) -> Result<PerColor<Vec<MinuteMetrics>>, ProviderError> {
        let now = self.world.clock().now();
        self.world.calls().record(now, "GetMetricData");
        if window.from >= window.to {
            return Err(ProviderError::Invalid {
                message: format!(
                    "the window's start {} is not before its end {}",
                    window.from, window.to
                ),
            });
        }
        let s = self.world.lock();
        for c in Color::ALL {
            s.target_group(self.target_groups.get(c))?;
        }
        let health = |c: Color, t| {
            let h = s.health_of_color(c, t);
            (h.healthy, h.unhealthy)
        };
        Ok(s.traffic.published(window, now, s.start, health))
    }

    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmStatus>, ProviderError> {
        let now = self.world.clock().now();
        self.world.calls().record(now, "DescribeAlarms");
        let s = self.world.lock();
        names
            .iter()
            .map(|n| {
                Ok(AlarmStatus {
                    name: n.clone(),
                    state: s.alarm_state(n, now)?,
                })
            })
            .collect()
    }
}

/// Both Auto Scaling groups as a [`Capacity`] provider. Raises a group's maximum when the desired capacity
/// needs it, as the AWS provider does with `UpdateAutoScalingGroup`.
#[derive(Clone)]
pub struct SimCapacity {
    world: SimWorld,
    groups: PerColor<String>,
}

impl SimCapacity {
    pub(crate) fn new(world: SimWorld, groups: PerColor<String>) -> Self {
        SimCapacity { world, groups }
    }
}

#[async_trait]
impl Capacity for SimCapacity {
    async fn capacity(&self, color: Color) -> Result<CapacityStatus, ProviderError> {
        let now = self.world.clock().now();
        self.world.calls().record(now, "DescribeAutoScalingGroups");
        let mut s = self.world.lock();
        let asg = s.asg_mut(self.groups.get(color))?.clone();
        Ok(CapacityStatus {
            desired: asg.desired,
            in_service: s.in_service(&asg, now),
            minimum: asg.min,
        })
    }

    async fn set_desired(&self, color: Color, desired: u32) -> Result<(), ProviderError> {
        let now = self.world.clock().now();
        let mut s = self.world.lock();
        let asg = s.asg_mut(self.groups.get(color))?;
        if desired > asg.max {
            self.world.calls().record(now, "UpdateAutoScalingGroup");
            asg.max = desired;
        }
        self.world.calls().record(now, "SetDesiredCapacity");
        s.set_desired(now, self.groups.get(color), desired)
    }

    async fn set_launch_template(
        &self,
        color: Color,
        template: &str,
        version: &str,
    ) -> Result<(), ProviderError> {
        let now = self.world.clock().now();
        self.world.calls().record(now, "UpdateAutoScalingGroup");
        let mut s = self.world.lock();
        let asg = s.asg_mut(self.groups.get(color))?;
        asg.launch_template = Some((template.to_string(), version.to_string()));
        asg.launch_configuration = None;
        Ok(())
    }

    async fn new_image_version(
        &self,
        color: Color,
        image: &str,
    ) -> Result<(String, String), ProviderError> {
        let now = self.world.clock().now();
        self.world.calls().record(now, "DescribeImages");
        if !IMAGES.contains(&image) {
            return Err(ProviderError::NotFound {
                resource: format!("image {image}"),
            });
        }
        self.world.calls().record(now, "DescribeAutoScalingGroups");
        self.world
            .calls()
            .record(now, "CreateLaunchTemplateVersion");
        let mut s = self.world.lock();
        let group = self.groups.get(color).clone();
        let asg = s.asg_mut(&group)?;
        if let (None, Some(lc)) = (&asg.launch_template, &asg.launch_configuration) {
            return Err(ProviderError::Invalid {
                message: format!(
                    "auto scaling group {group} has no launch template (launch configuration {lc}): a new image needs one"
                ),
            });
        }
        let template = s
            .asg_mut(&group)?
            .launch_template
            .as_ref()
            .map_or_else(|| format!("{group}-lt"), |(t, _)| t.clone());
        let version = 1
            + s.template_images
                .keys()
                .filter(|k| k.starts_with(&format!("{template}:")))
                .count()
            + 1;
        s.template_images
            .insert(format!("{template}:{version}"), image.to_string());
        Ok((template, version.to_string()))
    }

    async fn image_exists(&self, image: &str) -> Result<bool, ProviderError> {
        self.world
            .calls()
            .record(self.world.clock().now(), "DescribeImages");
        Ok(IMAGES.contains(&image))
    }

    async fn launch_source(&self, color: Color) -> Result<LaunchSource, ProviderError> {
        let now = self.world.clock().now();
        self.world.calls().record(now, "DescribeAutoScalingGroups");
        let group = self.groups.get(color).clone();
        let mut s = self.world.lock();
        let asg = s.asg_mut(&group)?;
        Ok(match (&asg.launch_template, &asg.launch_configuration) {
            (Some((template, version)), _) => LaunchSource::Template {
                template: template.clone(),
                version: version.clone(),
            },
            (None, Some(name)) => LaunchSource::LaunchConfiguration { name: name.clone() },
            // A fresh simulated group launches from its template `{group}-lt`, version 1.
            (None, None) => LaunchSource::Template {
                template: format!("{group}-lt"),
                version: "1".into(),
            },
        })
    }
}
