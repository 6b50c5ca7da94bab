//! The resources found for an application, by ARN: what every provider works on.

use bluegreen_core::{Color, PerColor};

/// The resources found, by ARN.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resolved {
    /// `{environment}/{application}`.
    pub application: String,
    /// The load balancer.
    pub load_balancer_arn: String,
    /// The listener.
    pub listener_arn: String,
    /// The rule, when the forward action is a rule's.
    pub rule_arn: Option<String>,
    /// Each color's target group.
    pub target_groups: PerColor<String>,
    /// Each color's Auto Scaling group (by name; checked when used).
    pub auto_scaling_groups: PerColor<String>,
}

impl Resolved {
    /// The listener or rule that holds the forward action.
    pub fn action_resource(&self) -> &str {
        self.rule_arn.as_deref().unwrap_or(&self.listener_arn)
    }

    /// The `LoadBalancer` dimension of CloudWatch metrics: `app/{name}/{id}`.
    pub fn load_balancer_dimension(&self) -> String {
        arn_resource(&self.load_balancer_arn, "loadbalancer/")
    }

    /// The `TargetGroup` dimension of `color`'s metrics: `targetgroup/{name}/{id}`.
    pub fn target_group_dimension(&self, color: Color) -> String {
        format!(
            "targetgroup/{}",
            arn_resource(self.target_groups.get(color), "targetgroup/")
        )
    }
}

fn arn_resource(arn: &str, marker: &str) -> String {
    arn.split_once(marker)
        .map_or(arn, |(_, rest)| rest)
        .to_string()
}
