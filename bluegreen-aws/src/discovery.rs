//! Finding the resources: by the naming convention or by explicit names and ARNs; and ownership.

use crate::action::{describe_listener, fetch_actions, forward_weights};
use crate::error::map_sdk;
use crate::resolved::{Resolved, Route};
use crate::{AwsError, Naming};
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::Tag;
use bluegreen_core::{Color, PerColor, ProviderError};

/// The tag that marks a listener or rule as managed by one application: its value is
/// `{environment}/{application}`.
pub const OWNER_TAG: &str = "bluegreen:application";

/// Which listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerSpec {
    /// Every listener of the load balancer whose forward action (the default one, or the rule of
    /// [`ActionSpec::RulePriority`]) goes to the two target groups: they move together. Listeners with
    /// other actions (e.g. HTTP redirecting to HTTPS) are left alone. At least one must match.
    Forwarding,
    /// The load balancer's listener on this port.
    Port(u16),
    /// The load balancer's listeners on these ports, which move together.
    Ports(Vec<u16>),
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
    /// Everything by convention: every listener whose default action forwards to the two target groups.
    pub fn by_convention(naming: Naming) -> Self {
        TargetSpec {
            naming,
            load_balancer: None,
            target_groups: None,
            auto_scaling_groups: None,
            listener: ListenerSpec::Forwarding,
            action: ActionSpec::Default,
        }
    }
}

/// A listener found: its ARN and its name for people (`HTTPS:443`).
struct FoundListener {
    arn: String,
    name: String,
}

fn listener_name(l: &aws_sdk_elasticloadbalancingv2::types::Listener) -> String {
    format!(
        "{}:{}",
        l.protocol().map_or("?", |p| p.as_str()),
        l.port().unwrap_or_default()
    )
}

/// Resolves `spec` to ARNs and checks that each forward action goes to exactly the two colors' target
/// groups (with [`ListenerSpec::Forwarding`], keeps the listeners whose action does).
pub(crate) async fn resolve(elb: &Client, spec: &TargetSpec) -> Result<Resolved, AwsError> {
    let naming = &spec.naming;
    let lb_name = spec
        .load_balancer
        .clone()
        .unwrap_or_else(|| naming.load_balancer());
    let (load_balancer_arn, listeners) = match &spec.listener {
        ListenerSpec::Arn(arn) => {
            let l = describe_listener(elb, arn).await?;
            (
                l.load_balancer_arn().unwrap_or_default().to_string(),
                vec![FoundListener {
                    arn: arn.clone(),
                    name: listener_name(&l),
                }],
            )
        }
        other => {
            let out = elb
                .describe_load_balancers()
                .names(&lb_name)
                .send()
                .await
                .map_err(|e| {
                    map_sdk(
                        "DescribeLoadBalancers",
                        &format!("load balancer {lb_name}"),
                        e,
                    )
                })?;
            let lb = out
                .load_balancers()
                .first()
                .and_then(|l| l.load_balancer_arn())
                .ok_or_else(|| not_found(format!("load balancer {lb_name}")))?
                .to_string();
            let mut pages = elb
                .describe_listeners()
                .load_balancer_arn(&lb)
                .into_paginator()
                .send();
            let mut all = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| map_sdk("DescribeListeners", &lb, e))?;
                all.extend(page.listeners().iter().cloned());
            }
            all.sort_by_key(|l| l.port());
            let ports: Option<Vec<u16>> = match other {
                ListenerSpec::Port(p) => Some(vec![*p]),
                ListenerSpec::Ports(ps) => Some(ps.clone()),
                _ => None,
            };
            let mut found = Vec::new();
            match ports {
                Some(ports) => {
                    for port in ports {
                        let l = all
                            .iter()
                            .find(|l| l.port() == Some(i32::from(port)))
                            .ok_or_else(|| {
                                not_found(format!(
                                    "listener on port {port} of load balancer {lb_name}"
                                ))
                            })?;
                        found.push(FoundListener {
                            arn: l.listener_arn().unwrap_or_default().to_string(),
                            name: listener_name(l),
                        });
                    }
                }
                None => found.extend(all.iter().map(|l| FoundListener {
                    arn: l.listener_arn().unwrap_or_default().to_string(),
                    name: listener_name(l),
                })),
            }
            (lb, found)
        }
    };
    // A rule ARN names its listener (`listener-rule/app/{lb}/{id}/{listener}/{rule}`): with
    // `Forwarding`, that listener only.
    let listeners: Vec<FoundListener> = match (&spec.action, &spec.listener) {
        (ActionSpec::RuleArn(rule), ListenerSpec::Forwarding) => {
            let owner = rule
                .replacen(":listener-rule/", ":listener/", 1)
                .rsplit_once('/')
                .map(|(l, _)| l.to_string())
                .unwrap_or_default();
            listeners.into_iter().filter(|l| l.arn == owner).collect()
        }
        _ => listeners,
    };
    let target_groups = resolve_target_groups(elb, spec).await?;
    let mut routes = Vec::new();
    let mut skipped = Vec::new();
    for listener in &listeners {
        let route = match &spec.action {
            ActionSpec::Default => Some(Route {
                name: listener.name.clone(),
                listener_arn: listener.arn.clone(),
                rule_arn: None,
            }),
            ActionSpec::RuleArn(arn) => Some(Route {
                name: format!("{} rule", listener.name),
                listener_arn: listener.arn.clone(),
                rule_arn: Some(arn.clone()),
            }),
            ActionSpec::RulePriority(p) => {
                let rule = rule_with_priority(elb, &listener.arn, *p).await?;
                if rule.is_none() && spec.listener == ListenerSpec::Forwarding {
                    skipped.push(format!("{} (no rule with priority {p})", listener.name));
                    continue;
                }
                let rule = rule.ok_or_else(|| {
                    not_found(format!(
                        "rule with priority {p} on listener {}",
                        listener.arn
                    ))
                })?;
                Some(Route {
                    name: format!("{} rule {p}", listener.name),
                    listener_arn: listener.arn.clone(),
                    rule_arn: Some(rule),
                })
            }
        };
        let Some(route) = route else { continue };
        let actions = fetch_actions(elb, &route).await?;
        match forward_weights(&actions, &target_groups) {
            Ok(_) => routes.push(route),
            Err(e) if spec.listener == ListenerSpec::Forwarding => {
                skipped.push(format!("{} ({})", route.name, e.found));
            }
            Err(e) => {
                return Err(AwsError::UnexpectedAction {
                    resource: route.resource().to_string(),
                    found: e.found,
                });
            }
        }
    }
    if routes.is_empty() {
        return Err(AwsError::UnexpectedAction {
            resource: format!("load balancer {lb_name}"),
            found: if skipped.is_empty() {
                "no listener".into()
            } else {
                format!(
                    "no listener forwarding to {} and {}: {}",
                    target_groups.blue,
                    target_groups.green,
                    skipped.join("; ")
                )
            },
        });
    }
    if matches!(spec.action, ActionSpec::RuleArn(_)) && routes.len() > 1 {
        return Err(AwsError::UnexpectedAction {
            resource: format!("load balancer {lb_name}"),
            found:
                "a rule ARN names one rule, but several listeners were selected: name the listener \
                    (listener_arn or listener_port) or use rule_priority"
                    .into(),
        });
    }
    Ok(Resolved {
        application: naming.application_key(),
        load_balancer_arn,
        routes,
        target_groups,
        auto_scaling_groups: spec
            .auto_scaling_groups
            .clone()
            .unwrap_or_else(|| PerColor::from_fn(|c| naming.auto_scaling_group(c))),
    })
}

/// The ARN of `listener`'s rule with priority `priority`, if any.
async fn rule_with_priority(
    elb: &Client,
    listener: &str,
    priority: u32,
) -> Result<Option<String>, AwsError> {
    let mut pages = elb
        .describe_rules()
        .listener_arn(listener)
        .into_paginator()
        .send();
    let mut found = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| map_sdk("DescribeRules", listener, e))?;
        found = found.or_else(|| {
            page.rules()
                .iter()
                .find(|r| r.priority() == Some(priority.to_string().as_str()))
                .and_then(|r| r.rule_arn().map(str::to_string))
        });
    }
    Ok(found)
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

/// Refuses unless every listener or rule carries [`OWNER_TAG`] = the application.
pub(crate) async fn ensure_owned(elb: &Client, resolved: &Resolved) -> Result<(), AwsError> {
    for resource in resolved.action_resources() {
        let value = owner(elb, resource).await?;
        let value = value.as_deref();
        if value == Some(resolved.application.as_str()) {
            continue;
        }
        return Err(AwsError::NotOwned {
            resource: resource.to_string(),
            application: resolved.application.clone(),
            tag: OWNER_TAG,
            found: value.map_or("missing".into(), |v| format!("{v:?}")),
        });
    }
    Ok(())
}

/// Tags every listener or rule as the application's. One owned by another application is refused unless
/// `force` (before anything is tagged); returns the previous owner, if another.
pub(crate) async fn adopt(
    elb: &Client,
    resolved: &Resolved,
    force: bool,
) -> Result<Option<String>, AwsError> {
    let mut previous = None;
    for resource in resolved.action_resources() {
        let other = owner(elb, resource)
            .await?
            .filter(|o| *o != resolved.application);
        if let Some(other) = other {
            if !force {
                return Err(AwsError::OwnedByOther {
                    resource: resource.to_string(),
                    owner: other,
                    application: resolved.application.clone(),
                });
            }
            previous.get_or_insert(other);
        }
    }
    let tag = Tag::builder()
        .key(OWNER_TAG)
        .value(&resolved.application)
        .build();
    let resources: Vec<String> = resolved
        .action_resources()
        .into_iter()
        .map(str::to_string)
        .collect();
    elb.add_tags()
        .set_resource_arns(Some(resources.clone()))
        .tags(tag)
        .send()
        .await
        .map_err(|e| map_sdk("AddTags", &resources.join(", "), e))?;
    Ok(previous)
}
