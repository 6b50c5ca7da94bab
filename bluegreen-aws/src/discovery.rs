//! Finding the resources: by the naming convention or by explicit names and ARNs; and ownership.

use crate::action::{describe_listener, fetch_actions, forward_weights};
use crate::error::map_sdk;
use crate::resolved::Resolved;
use crate::{AwsError, Naming};
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::Tag;
use bluegreen_core::{Color, PerColor, ProviderError};

/// The tag that marks a listener or rule as managed by one application: its value is
/// `{environment}/{application}`.
pub const OWNER_TAG: &str = "bluegreen:application";

/// Which listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerSpec {
    /// The load balancer's listener on this port.
    Port(u16),
    /// This listener.
    Arn(String),
}

/// Which forward action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSpec {
    /// The listener's default action.
    Default,
    /// The rule with this ARN.
    RuleArn(String),
    /// The listener's rule with this priority.
    RulePriority(u32),
}

/// What to manage: the naming convention, with any name replaced by an explicit one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The convention (and the application key used for locks and ownership).
    pub naming: Naming,
    /// The load balancer's name, if not `{env}-{app}-alb`.
    pub load_balancer: Option<String>,
    /// The target groups' names or ARNs, if not `{env}-{app}-{color}-tg`.
    pub target_groups: Option<PerColor<String>>,
    /// The Auto Scaling groups' names, if not `{env}-{app}-{color}-asg`.
    pub auto_scaling_groups: Option<PerColor<String>>,
    /// The listener.
    pub listener: ListenerSpec,
    /// The forward action.
    pub action: ActionSpec,
}

impl TargetSpec {
    /// Everything by convention: listener on port 80, its default action.
    pub fn by_convention(naming: Naming) -> Self {
        TargetSpec {
            naming,
            load_balancer: None,
            target_groups: None,
            auto_scaling_groups: None,
            listener: ListenerSpec::Port(80),
            action: ActionSpec::Default,
        }
    }
}

/// Resolves `spec` to ARNs and checks that the forward action goes to exactly the two colors' target groups.
pub(crate) async fn resolve(elb: &Client, spec: &TargetSpec) -> Result<Resolved, AwsError> {
    let naming = &spec.naming;
    let (load_balancer_arn, listener_arn) = match &spec.listener {
        ListenerSpec::Arn(arn) => {
            let l = describe_listener(elb, arn).await?;
            (
                l.load_balancer_arn().unwrap_or_default().to_string(),
                arn.clone(),
            )
        }
        ListenerSpec::Port(port) => {
            let name = spec
                .load_balancer
                .clone()
                .unwrap_or_else(|| naming.load_balancer());
            let out = elb
                .describe_load_balancers()
                .names(&name)
                .send()
                .await
                .map_err(|e| {
                    map_sdk("DescribeLoadBalancers", &format!("load balancer {name}"), e)
                })?;
            let lb = out
                .load_balancers()
                .first()
                .and_then(|l| l.load_balancer_arn())
                .ok_or_else(|| not_found(format!("load balancer {name}")))?
                .to_string();
            let mut pages = elb
                .describe_listeners()
                .load_balancer_arn(&lb)
                .into_paginator()
                .send();
            let mut found = None;
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| map_sdk("DescribeListeners", &lb, e))?;
                found = found.or_else(|| {
                    page.listeners()
                        .iter()
                        .find(|l| l.port() == Some(i32::from(*port)))
                        .and_then(|l| l.listener_arn().map(str::to_string))
                });
            }
            let listener = found.ok_or_else(|| {
                not_found(format!("listener on port {port} of load balancer {name}"))
            })?;
            (lb, listener)
        }
    };
    let target_groups = resolve_target_groups(elb, spec).await?;
    let rule_arn = match &spec.action {
        ActionSpec::Default => None,
        ActionSpec::RuleArn(arn) => Some(arn.clone()),
        ActionSpec::RulePriority(p) => {
            let mut pages = elb
                .describe_rules()
                .listener_arn(&listener_arn)
                .into_paginator()
                .send();
            let mut found = None;
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| map_sdk("DescribeRules", &listener_arn, e))?;
                found = found.or_else(|| {
                    page.rules()
                        .iter()
                        .find(|r| r.priority() == Some(p.to_string().as_str()))
                        .and_then(|r| r.rule_arn().map(str::to_string))
                });
            }
            Some(found.ok_or_else(|| {
                not_found(format!("rule with priority {p} on listener {listener_arn}"))
            })?)
        }
    };
    let resolved = Resolved {
        application: naming.application_key(),
        load_balancer_arn,
        listener_arn,
        rule_arn,
        target_groups,
        auto_scaling_groups: spec
            .auto_scaling_groups
            .clone()
            .unwrap_or_else(|| PerColor::from_fn(|c| naming.auto_scaling_group(c))),
    };
    let actions = fetch_actions(elb, &resolved).await?;
    forward_weights(&actions, &resolved.target_groups).map_err(|e| AwsError::UnexpectedAction {
        resource: resolved.action_resource().to_string(),
        found: e.found,
    })?;
    Ok(resolved)
}

async fn resolve_target_groups(
    elb: &Client,
    spec: &TargetSpec,
) -> Result<PerColor<String>, AwsError> {
    let given = spec
        .target_groups
        .clone()
        .unwrap_or_else(|| PerColor::from_fn(|c| spec.naming.target_group(c)));
    let by_arn = given.blue.starts_with("arn:");
    let mut req = elb.describe_target_groups();
    for c in Color::ALL {
        req = if by_arn {
            req.target_group_arns(given.get(c))
        } else {
            req.names(given.get(c))
        };
    }
    let what = format!("target groups {} and {}", given.blue, given.green);
    let out = req
        .send()
        .await
        .map_err(|e| map_sdk("DescribeTargetGroups", &what, e))?;
    let mut arns = PerColor::<String>::default();
    for c in Color::ALL {
        let want = given.get(c);
        let tg = out
            .target_groups()
            .iter()
            .find(|t| {
                t.target_group_arn() == Some(want.as_str())
                    || t.target_group_name() == Some(want.as_str())
            })
            .and_then(|t| t.target_group_arn())
            .ok_or_else(|| not_found(format!("target group {want}")))?;
        *arns.get_mut(c) = tg.to_string();
    }
    Ok(arns)
}

fn not_found(resource: String) -> AwsError {
    AwsError::Provider(ProviderError::NotFound { resource })
}

/// The application the listener or rule is tagged as owned by, if any.
async fn owner(elb: &Client, resource: &str) -> Result<Option<String>, AwsError> {
    let out = elb
        .describe_tags()
        .resource_arns(resource)
        .send()
        .await
        .map_err(|e| map_sdk("DescribeTags", resource, e))?;
    Ok(out
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .find(|t| t.key() == Some(OWNER_TAG))
        .and_then(|t| t.value())
        .map(str::to_string))
}

/// Refuses unless the listener or rule carries [`OWNER_TAG`] = the application.
pub(crate) async fn ensure_owned(elb: &Client, resolved: &Resolved) -> Result<(), AwsError> {
    let resource = resolved.action_resource();
    let value = owner(elb, resource).await?;
    let value = value.as_deref();
    if value == Some(resolved.application.as_str()) {
        return Ok(());
    }
    Err(AwsError::NotOwned {
        resource: resource.to_string(),
        application: resolved.application.clone(),
        tag: OWNER_TAG,
        found: value.map_or("missing".into(), |v| format!("{v:?}")),
    })
}

/// Tags the listener or rule as the application's. One owned by another application is refused unless
/// `force`; returns the previous owner, if another.
pub(crate) async fn adopt(
    elb: &Client,
    resolved: &Resolved,
    force: bool,
) -> Result<Option<String>, AwsError> {
    let resource = resolved.action_resource();
    let previous = owner(elb, resource)
        .await?
        .filter(|o| *o != resolved.application);
    if let Some(other) = &previous
        && !force
    {
        return Err(AwsError::OwnedByOther {
            resource: resource.to_string(),
            owner: other.clone(),
            application: resolved.application.clone(),
        });
    }
    let tag = Tag::builder()
        .key(OWNER_TAG)
        .value(&resolved.application)
        .build();
    elb.add_tags()
        .resource_arns(resource)
        .tags(tag)
        .send()
        .await
        .map_err(|e| map_sdk("AddTags", resource, e))?;
    Ok(previous)
}
