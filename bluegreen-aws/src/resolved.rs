//! The resources found for an application, by ARN: what every provider works on.

use bluegreen_core::{Color, PerColor};

/// The resources found, by ARN.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resolved {
    /// `{environment}/{application}`.
    pub application: String,
    /// The load balancer.
    pub load_balancer_arn: String,
    /// The routes that move together: a listener's default action or a rule each, in the order they are
    /// written. Never empty.
    pub routes: Vec<Route>,
    /// Each color's target group.
    pub target_groups: PerColor<String>,
    /// Each color's Auto Scaling group (by name; checked when used).
    pub auto_scaling_groups: PerColor<String>,
}

impl Resolved {
    /// Each listener or rule that holds a forward action to the two target groups, by ARN.
    pub fn action_resources(&self) -> Vec<&str> {
        self.routes.iter().map(Route::resource).collect()
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

/// One listener's default action, or one rule, that forwards to the two colors' target groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    /// For people: the listener's protocol and port, and the rule's priority (`HTTPS:443`,
    /// `HTTP:80 rule 10`).
    pub name: String,
    /// The listener.
    pub listener_arn: String,
    /// The rule, when the forward action is a rule's.
    pub rule_arn: Option<String>,
}

impl Route {
    /// The listener or rule that holds the forward action.
    pub fn resource(&self) -> &str {
        self.rule_arn.as_deref().unwrap_or(&self.listener_arn)
    }
}

fn arn_resource(arn: &str, marker: &str) -> String {
    arn.split_once(marker)
        .map_or(arn, |(_, rest)| rest)
        .to_string()
}
